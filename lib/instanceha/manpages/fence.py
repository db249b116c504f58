"""Man pages (section 8) for fence agents, from their :class:`FenceAgentSpec`."""

from __future__ import annotations

import textwrap

from instanceha.fencing.agent import FenceAgentSpec, PlugUse
from instanceha.fencing.metadata import getopt_text
from instanceha.manpages.roff import ManOption, ManPage
from instanceha.spec import Param

__all__ = ["render_manpage"]

_EXIT_STATUS = (
    "0: success (status: the target is on). "
    "1: failure, including bad options or parameters. "
    "2: status only: the target is off. "
    "3: login to the device denied. "
    "4: connection to the device lost. "
    "5: the device did not answer in time. "
    "6: timed out waiting for the target to power on. "
    "7: timed out waiting for the target to power off. "
    "8: the device could not report the target's state. "
    "10: password_script failed, timed out or printed nothing. "
    "11: the user lacks the privilege for the action."
)


def _facts(param: Param) -> str:
    facts = [param.longdesc, param.describe_values()]
    default = param.default_text()
    if param.required:
        facts.append("Required.")
    elif default:
        facts.append(f"Default: {default}.")
    if param.aliases:
        facts.append("Deprecated alias: " + ", ".join(param.aliases) + ".")
    return " ".join(f for f in facts if f)


def render_manpage(spec: FenceAgentSpec) -> str:
    """The roff source of ``<agent>(8)``."""
    required = " ".join(f"{p.name}=<value>" for p in spec.params if p.required)
    secret = " password_script=<command>" if spec.password else ""
    hosts = " pcmk_host_list=<node>" if spec.plug is PlugUse.IGNORED else ""
    example = f"pcs stonith create <id> {spec.name} {required}{secret}{hosts}".strip()
    stdin_note = (
        "Without arguments the agent reads name=value lines from standard input, as "
        "pacemaker-fenced writes them; unknown names there are logged and ignored, while "
        "an unknown command-line option is an error."
    )
    page = ManPage(
        name=spec.name,
        section=8,
        title=spec.shortdesc,
        synopsis=f"{spec.name} [OPTION]...",
        description="\n".join(
            textwrap.fill(text, 78) for text in (spec.longdesc, stdin_note) if text
        ),
        options_heading="Options",
        options=[
            ManOption(getopt_text(spec, p), p.shortdesc, _facts(p)) for p in spec.all_params
        ],
        extra_sections=[
            ("Actions", ", ".join(spec.actions)),
            ("Exit status", _EXIT_STATUS),
            ("Example", example),
        ],
    )
    return page.render()
