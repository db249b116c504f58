"""instanceha(8): the command's man page, written from its argument parser.

Every subcommand and option appears as ``instanceha COMMAND --help`` shows it,
so the page cannot drift from the command.
"""

from __future__ import annotations

import argparse

from instanceha.cli.common import EXIT_MEANINGS
from instanceha.cli.main import build_parser
from instanceha.manpages.roff import ManOption, ManPage

__all__ = ["manpage"]

_DESCRIPTION = (
    "instanceha renders the whole instance HA configuration of a Pacemaker cluster (remote "
    "compute nodes, fence_ipmi and fence_nova fencing levels, the post-fence alert, the "
    "libvirtd and NovaCompute clones, NovaEvacuate) from an inventory, checks it with "
    "Pacemaker's schema and crm_verify, prints the equivalent pcs script, simulates host "
    "failures with crm_simulate, shows the state of every compute node, runs preflight checks "
    "and requests or releases evacuations.\n"
    "Errors are one line on stderr: \"instanceha: error: what went wrong; what to do\". "
    "Progress and check results also go to stderr, so stdout stays machine-readable."
)
_ENVIRONMENT = (
    "INSTANCEHA_INVENTORY: the inventory used when -i is not given (default "
    "/etc/instanceha/inventory.yaml).\n"
    "OS_CLOUD, OS_CLIENT_CONFIG_FILE: the cloud and the clouds.yaml to ask Nova with; without "
    "them status, check and evacuate use the cloud and clouds_yaml NovaEvacuate is configured "
    "with."
)
_SEE_ALSO = ("ocf_instanceha_NovaEvacuate(7), ocf_instanceha_NovaCompute(7), "
             "ocf_instanceha_libvirtd(7), fence_ipmi(8), fence_nova(8), pcs(8), crm_simulate(8)")


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, help, parser) of each subcommand; empty for a leaf command."""
    for action in parser._actions:  # argparse keeps no public list of subparsers
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            return [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return []


def _option(action: argparse.Action) -> str:
    if not action.option_strings:
        return str(action.metavar or action.dest).upper()
    name = ", ".join(action.option_strings)
    if action.nargs != 0:
        name += f" {action.metavar or action.dest.upper()}"
    return name


def _commands(parser: argparse.ArgumentParser, prefix: str) -> list[ManOption]:
    """One entry per leaf command: its usage line, help, and options."""
    entries = []
    for name, summary, sub in _subcommands(parser):
        if _subcommands(sub):
            entries += _commands(sub, f"{prefix}{name} ")
            continue
        options = [f"{_option(a)}: {a.help}" for a in sub._actions
                   if a.help and a.help != argparse.SUPPRESS and a.dest != "help"]
        usage = " ".join(sub.format_usage().split()[1:])
        entries.append(ManOption(f"{prefix}{name}", summary, "\n".join([usage, *options])))
    return entries


def manpage() -> str:
    """The instanceha(8) page as roff."""
    parser = build_parser()
    exit_status = "\n".join(f"{int(code)}: {text}" for code, text in EXIT_MEANINGS.items())
    return ManPage(
        name="instanceha",
        section=8,
        title="render, check, simulate and operate instance HA on Pacemaker",
        synopsis="instanceha [--debug] COMMAND [OPTIONS]",
        description=_DESCRIPTION,
        options_heading="Commands",
        options=_commands(parser, ""),
        extra_sections=(("Exit status", exit_status), ("Environment", _ENVIRONMENT),
                        ("See also", _SEE_ALSO)),
    ).render()
