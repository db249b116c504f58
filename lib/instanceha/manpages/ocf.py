"""Man pages (section 7) for OCF agents, from their :class:`AgentSpec`."""

from __future__ import annotations

from instanceha.manpages.roff import ManOption, ManPage
from instanceha.ocf.agent import PROVIDER, AgentSpec
from instanceha.spec import Param

__all__ = ["render_manpage"]


def _detail(param: Param) -> str:
    facts = [param.longdesc, param.describe_values()]
    default = param.default_text()
    facts.append("Required." if param.required else f"Default: {default}." if default else "")
    if param.aliases:
        facts.append("Deprecated aliases: " + ", ".join(param.aliases) + ".")
    return " ".join(f for f in facts if f)


def render_manpage(spec: AgentSpec) -> str:
    """The roff source of ``ocf_instanceha_<Agent>(7)``."""
    actions = "\n".join(
        f"{a.name}: timeout {a.timeout}s"
        + (f", interval {a.interval}s" if a.interval else "")
        + (f", OCF_CHECK_LEVEL {a.depth}" if a.depth else "")
        for a in spec.actions
    )
    example = f"pcs resource create <id> ocf:{PROVIDER}:{spec.name} " + " ".join(
        f"{p.name}=<value>" for p in spec.params if p.required
    )
    page = ManPage(
        name=f"ocf_{PROVIDER}_{spec.name}",
        section=7,
        title=spec.shortdesc,
        synopsis=f"{spec.name} {{{'|'.join(spec.action_names())}}}",
        description=spec.longdesc,
        options_heading="Parameters",
        options=[ManOption(p.name, p.shortdesc, _detail(p)) for p in spec.params],
        extra_sections=[("Actions", actions), ("Example", example.strip())],
    )
    return page.render()
