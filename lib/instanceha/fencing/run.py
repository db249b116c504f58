"""Dispatch one fence agent invocation: the only place that reads argv/stdin/environ and exits.

Order of work, cheapest first, so ``metadata``, ``manpage``, ``--help`` and
``validate-all`` never touch the device (nor import its client library):

1. options from argv, or from stdin when there are no arguments;
2. logging (``verbose``, ``quiet``, ``debug_file``), unknown stdin names logged;
3. ``--help``, ``--version``, ``metadata``, ``manpage``;
4. typed parameters (non-UTF-8, overlong, out-of-range values and unparsable
   ``password_script`` refused by :mod:`instanceha.spec`), the agent's own
   checks: ``validate-all`` stops here;
5. ``password_script``, ``delay`` (off/reboot only, counted from the start),
   ``connect``, the action, ``close``.

Every outcome is an exit code: a :class:`FenceError` is logged as one line; any
other exception is reported as one line too (its traceback goes only to
``debug_file``). Nothing ever prints a traceback to the user.

Under pacemaker-fenced (``PCMK_service=pacemaker-fenced``) fence-agents turns
its own timeouts off and relies on the fencer's; this runtime keeps them, so
a dead device ends in a clear message before the fencer kills the agent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn, TextIO

from instanceha import __version__
from instanceha.clock import Clock, SystemClock
from instanceha.fencing.actions import ActionRunner, Timing
from instanceha.fencing.agent import FenceAgentSpec, PlugUse
from instanceha.fencing.codes import ExitCode, FenceError, UsageError
from instanceha.fencing.device import FenceDevice, FenceRequest
from instanceha.fencing.log import TRACE, SecretMask, open_private, setup_logging
from instanceha.fencing.options import RawOptions, parse_argv, parse_stdin
from instanceha.spec import ParamError, Params, parse_bool

__all__ = ["Connect", "FenceAgent", "Validate", "ValidateEnviron", "main", "run"]

Connect = Callable[[FenceRequest], FenceDevice]
Validate = Callable[[Params], None]
ValidateEnviron = Callable[[Params, Mapping[str, str]], None]

_LOG = logging.getLogger("instanceha.fencing")
_ALIASES = {"meta-data": "metadata", "enable": "on", "disable": "off"}
#: Largest standard input read (pacemaker-fenced writes a few KiB).
MAX_STDIN_BYTES = 4 << 20


@dataclass(frozen=True)
class FenceAgent:
    """A declaration plus the agent's code.

    ``connect`` builds the device for a request (import heavy client libraries
    inside it, never at module level); ``validate`` checks parameter
    combinations the table cannot express (raise :class:`UsageError` or
    :class:`~instanceha.spec.ParamError`); ``validate_environ`` does the same for
    checks that need the environment the runtime was given (credentials from
    ``OS_*`` variables), which agents never read themselves.
    """

    spec: FenceAgentSpec
    connect: Connect
    validate: Validate | None = None
    validate_environ: ValidateEnviron | None = None


@dataclass
class _Streams:
    stdout: TextIO
    stderr: TextIO

    def out(self, line: str) -> None:
        self.stdout.write(line + "\n")
        self.stdout.flush()


def _stdin_text(stdin: TextIO) -> str:
    """Standard input, at most :data:`MAX_STDIN_BYTES`; bytes that are not UTF-8 are kept
    (as surrogates) for the parameter they belong to to refuse them by name."""
    buffer = getattr(stdin, "buffer", None)
    data = buffer.read(MAX_STDIN_BYTES + 1) if buffer is not None else None
    if data is None:
        text = stdin.read(MAX_STDIN_BYTES + 1)
        size = len(text)
    else:
        text, size = data.decode("utf-8", "surrogateescape"), len(data)
    if size > MAX_STDIN_BYTES:
        raise UsageError(f"options on standard input exceed {MAX_STDIN_BYTES // (1 << 20)} MiB")
    return text


def _read_options(spec: FenceAgentSpec, argv: Sequence[str], stdin: TextIO | None) -> RawOptions:
    if len(argv) > 1:
        return parse_argv(spec.all_params, argv[1:])
    if stdin is None or stdin.closed or stdin.isatty():
        raise UsageError("no options: give them on the command line or as name=value lines "
                         "on stdin (see --help)")
    return parse_stdin(spec.all_params, _stdin_text(stdin))


def _flag(raw: RawOptions, name: str) -> bool:
    try:
        return parse_bool(name, raw.values.get(name, ""))
    except ParamError:
        return False


def _action(spec: FenceAgentSpec, raw: RawOptions) -> str:
    action = raw.values.get("action", "").strip().lower() or spec.default_action
    action = _ALIASES.get(action, action)
    if action == "reboot" and spec.fabric_fencing:
        # fabric devices cannot power a host back on: a reboot request only cuts it off
        action = "off"
    if action not in spec.actions:
        raise UsageError(f"Unrecognised action '{action}'")
    return action


def _setup_logging(raw: RawOptions, stderr: TextIO, mask: SecretMask) -> None:
    debug_path = raw.values.get("debug_file", "")
    debug_file = None
    if debug_path:
        try:
            debug_file = open_private(debug_path)
        except OSError as bad:
            setup_logging(stderr, mask=mask)
            raise UsageError(f"Unable to open debug_file {debug_path}: {bad.strerror}") from None
    setup_logging(stderr, verbose=_flag(raw, "verbose"), quiet=_flag(raw, "quiet"),
                  debug_file=debug_file, mask=mask)
    for name in raw.ignored:
        _LOG.warning("Parse error: Ignoring unknown option '%s'", name)
    if raw.extra_args:
        _LOG.warning("Unused arguments on command line: %s", " ".join(raw.extra_args))


def _answer_locally(spec: FenceAgentSpec, raw: RawOptions, action: str,
                    streams: _Streams) -> bool:
    # docs and metadata are imported only here: they need ElementTree and textwrap
    if _flag(raw, "help"):
        from instanceha.fencing.metadata import render_usage

        streams.stdout.write(render_usage(spec))
    elif _flag(raw, "version"):
        streams.out(f"{spec.name} {__version__}")
    elif action == "metadata":
        from instanceha.fencing.metadata import render_metadata

        streams.stdout.write(render_metadata(spec))
    elif action == "manpage":
        from instanceha.manpages.fence import render_manpage

        streams.stdout.write(render_manpage(spec))
    else:
        return False
    streams.stdout.flush()
    return True


def _check(agent: FenceAgent, raw: RawOptions, action: str,
           environ: Mapping[str, str]) -> Params:
    spec = agent.spec
    params = spec.all_params.parse(raw.values)
    if spec.password and not (params.text("password") or params.text("password_script")):
        raise UsageError("Failed: You have to enter password or password script")
    if spec.password and not params.text("password"):
        command = shlex.split(params.text("password_script"))  # parsable: spec checked it
        if not command or not command[0]:
            raise UsageError("password_script is empty: give a command printing the password")
    needs_plug = action in spec.power_actions or action == "status"
    if spec.plug is PlugUse.REQUIRED and needs_plug and not params.text("plug"):
        raise UsageError("Failed: You have to enter plug number or machine identification")
    if spec.plug is PlugUse.IGNORED and params.text("plug"):
        _LOG.debug("plug '%s' ignored: the device controls one host", params.text("plug"))
    if agent.validate is not None:
        agent.validate(params)
    if agent.validate_environ is not None:
        agent.validate_environ(params, environ)
    return params


def _delay(params: Params, action: str, clock: Clock, started: float) -> None:
    if action not in ("off", "reboot"):
        return
    left = params.integer("delay") - (clock.monotonic() - started)
    if left > 0:
        _LOG.info("Delay %.1f second(s) before fencing", left)
        clock.sleep(left)


@dataclass
class _Invocation:
    """One run: the agent, where output goes, and the clock started with the process."""

    agent: FenceAgent
    streams: _Streams
    clock: Clock
    started: float
    mask: SecretMask

    def steps(self, argv: Sequence[str], stdin: TextIO | None,
              environ: Mapping[str, str]) -> int:
        spec = self.agent.spec
        raw = _read_options(spec, argv, stdin)
        self.mask = spec.all_params.secret_mask(raw.values)
        _setup_logging(raw, self.streams.stderr, self.mask)
        if environ.get("PCMK_service"):
            _LOG.debug("run by %s, options from %s", environ["PCMK_service"], raw.source)
        action = _action(spec, raw)
        if _answer_locally(spec, raw, action, self.streams):
            return ExitCode.OK
        params = _check(self.agent, raw, action, environ)
        if action == "validate-all":
            return ExitCode.OK
        return self.perform(params, action, environ)

    def perform(self, params: Params, action: str, environ: Mapping[str, str]) -> int:
        password: str | None = None
        if self.agent.spec.password:
            password = params.text("password")
            if not password:
                from instanceha.fencing.password import run_password_script

                password = run_password_script(params.text("password_script"))
                self.mask.add(password)
        _delay(params, action, self.clock, self.started)
        plug = params.text("plug")
        device = self.agent.connect(
            FenceRequest(action, plug, params, self.clock, password, environ))
        try:
            runner = ActionRunner(
                device, plug, Timing.from_params(params), self.clock, self.streams.out,
                separator=params.text("separator") or ",",
                cycle=self.agent.spec.cycle and params.text("method") == "cycle",
            )
            return int(runner.run(action))
        finally:
            try:
                device.close()
            except Exception:  # closing is best effort; the action's outcome stands
                _LOG.debug("closing the device failed", exc_info=True)


def run(agent: FenceAgent, argv: Sequence[str], stdin: TextIO | None,
        environ: Mapping[str, str], *, stdout: TextIO, stderr: TextIO,
        clock: Clock | None = None) -> int:
    """Run one invocation and return its exit code (never raises, never prints a traceback)."""
    clock = clock or SystemClock()
    mask = SecretMask()
    setup_logging(stderr, mask=mask)
    invocation = _Invocation(agent, _Streams(stdout, stderr), clock, clock.monotonic(), mask)
    try:
        return invocation.steps(argv, stdin, environ)
    except (ParamError, FenceError) as failed:
        code = failed.code if isinstance(failed, FenceError) else ExitCode.GENERIC_ERROR
        _LOG.error("%s", failed)
        return int(code)
    except BrokenPipeError:
        return int(ExitCode.GENERIC_ERROR)
    except Exception as unexpected:  # the one catch-all: one line, the traceback only in debug_file
        _LOG.log(TRACE, "unexpected failure", exc_info=True)
        _LOG.error("%s failed unexpectedly: %s: %s", agent.spec.name,
                   type(unexpected).__name__, unexpected)
        return int(ExitCode.GENERIC_ERROR)
    except KeyboardInterrupt:
        _LOG.error("interrupted")
        return int(ExitCode.GENERIC_ERROR)


def main(agent: FenceAgent) -> NoReturn:
    """Entry point for fence shims: run with the real process state and exit.

    Exits with ``os._exit`` after flushing: an abandoned device call (a BMC
    that never answered) may still hold a thread, and must not delay the exit.
    """
    code = run(agent, sys.argv, sys.stdin, os.environ, stdout=sys.stdout, stderr=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    logging.shutdown()
    os._exit(code)
