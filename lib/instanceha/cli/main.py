"""``instanceha``: render and check the instance HA CIB, simulate failures, operate.

The runtime of the command line: the only module that reads ``sys.argv`` and
``os.environ``, prints errors and exits. Every failure ends as one line
``instanceha: error: <what went wrong>; <what to do>`` and an exit code from
:class:`~instanceha.cli.common.ExitCode` (docs/cli.md); ``--debug`` adds the
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from instanceha import __version__
from instanceha.cli import (
    check_cmd,
    cib_cmd,
    evacuate_cmd,
    nova_cmd,
    simulate_cmd,
    status_cmd,
)
from instanceha.cli.common import CliError, ExitCode, Io

__all__ = ["build_parser", "main", "run"]

_COMMANDS = (cib_cmd, simulate_cmd, nova_cmd, status_cmd, check_cmd, evacuate_cmd)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="instanceha",
        description="Instance HA for OpenStack on Pacemaker: CIB, simulation, operations.",
    )
    parser.add_argument("--version", action="version", version=f"instanceha {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _COMMANDS:
        module.register(commands)
    return parser


def run(argv: Sequence[str], io: Io) -> int:
    """Parse ``argv`` and run the subcommand; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(list(argv))
    try:
        code: int = args.func(args, io)
        return code
    except CliError as err:
        print(f"instanceha: error: {err.message}", file=io.err)
        return int(err.code)
    except KeyboardInterrupt:
        print("instanceha: interrupted", file=io.err)
        return 130
    except Exception as err:  # noqa: BLE001 - the last line of defence: one line, no traceback
        if args.debug:
            traceback.print_exc(file=io.err)
        print(f"instanceha: internal error: {type(err).__name__}: {err} "
              "(rerun with --debug and report it)", file=io.err)
        return int(ExitCode.INTERNAL)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Console entry point."""
    io = Io(out=sys.stdout, err=sys.stderr, env=dict(os.environ))
    sys.exit(run(sys.argv[1:] if argv is None else argv, io))
