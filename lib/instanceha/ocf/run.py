"""Dispatch one agent invocation: the only place that reads argv/environ and exits.

``run()`` answers ``meta-data`` and ``usage`` before looking at parameters,
parses ``OCF_RESKEY_*`` through the agent's :class:`~instanceha.spec.ParamSet`,
runs ``validate`` then the action's handler, and turns every outcome into an
OCF exit code. An :class:`OcfError` becomes its code plus an
``ocf-exit-reason:`` line on stderr; any other exception becomes
``OCF_ERR_GENERIC`` with a one-line reason (the traceback only in debug logs).
Every log line and exit reason goes through one :class:`~instanceha.spec.SecretMask`,
built from the raw parameters before they are parsed, so that a parameter error
is masked too.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from instanceha.ocf.agent import AgentSpec
from instanceha.ocf.context import Context, raw_params
from instanceha.ocf.log import setup_logging
from instanceha.ocf.rc import OcfError, OcfRc
from instanceha.spec import ParamError, Params, SecretMask

__all__ = ["Agent", "Handler", "exit_reason", "main", "run"]

Handler = Callable[[Context, Params], OcfRc | None]
Validator = Callable[[Context, Params], None]

_LOG = logging.getLogger("instanceha")
_ALWAYS = ("meta-data", "usage", "help")


@dataclass(frozen=True)
class Agent:
    """A declaration plus the handlers of its actions.

    ``validate`` checks the configuration and the node (raise :class:`OcfError`
    with ``ERR_CONFIGURED`` or ``ERR_INSTALLED``); it runs before every action
    but ``stop`` and ``meta-data``, and is the whole of ``validate-all``.
    """

    spec: AgentSpec
    handlers: Mapping[str, Handler]
    validate: Validator | None = None
    reject_unknown: bool = field(default=True)


def exit_reason(message: str, stream: TextIO, mask: SecretMask | None = None) -> None:
    """Write one ``ocf-exit-reason:`` line (Pacemaker shows it in crm_mon), secrets masked."""
    line = " ".join((mask or SecretMask()).mask(message).split())[:400]
    stream.write(f"ocf-exit-reason:{line}\n")
    stream.flush()


def _usage(agent: Agent) -> str:
    actions = "|".join(agent.spec.action_names())
    return f"usage: {agent.spec.name} {{{actions}}}\n"


def _validate_all(_ctx: Context, _params: Params) -> OcfRc:
    return OcfRc.SUCCESS


def _dispatch(agent: Agent, ctx: Context, params: Params) -> OcfRc:
    if ctx.action == "validate-all":
        handler: Handler = agent.handlers.get("validate-all", _validate_all)
    else:
        handler = agent.handlers[ctx.action]
    if agent.validate and ctx.action != "stop":
        agent.validate(ctx, params)
    result = handler(ctx, params)
    return OcfRc.SUCCESS if result is None else OcfRc(result)


def _probe_answer(ctx: Context, error: OcfError) -> OcfError:
    """On a probe, a missing dependency means "not running here", not a failure."""
    if ctx.is_probe and error.rc is OcfRc.ERR_INSTALLED:
        _LOG.info("probe: %s; reporting not running", error.reason)
        return OcfError(OcfRc.NOT_RUNNING, error.reason)
    return error


def _answer_without_params(agent: Agent, action: str, stdout: TextIO, stderr: TextIO) -> int | None:
    """Actions answered before parameters are read (None: not one of them)."""
    if action == "meta-data":
        from instanceha.ocf.metadata import render_metadata  # ElementTree only when asked

        stdout.write(render_metadata(agent.spec))
        return OcfRc.SUCCESS
    if action in ("usage", "help", "--help", "-h"):
        stdout.write(_usage(agent))
        return OcfRc.SUCCESS
    if not action:
        stderr.write(_usage(agent))
        return OcfRc.ERR_ARGS
    if action not in set(agent.handlers) | {"validate-all"}:
        exit_reason(f"action '{action}' is not implemented by {agent.spec.name}", stderr)
        return OcfRc.ERR_UNIMPLEMENTED
    return None


def run(
    agent: Agent,
    argv: Sequence[str],
    environ: Mapping[str, str],
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Run one invocation and return its exit code (never raises)."""
    action = argv[1] if len(argv) > 1 else environ.get("__OCF_ACTION", "")
    early = _answer_without_params(agent, action, stdout, stderr)
    if early is not None:
        return early
    ctx = Context.from_environ(action, environ)
    raw = raw_params(environ)
    mask = agent.spec.params.secret_mask(raw)
    setup_logging(agent.spec.name, ctx.instance, environ, mask=mask)
    try:
        params = agent.spec.params.parse(raw)
    except ParamError as bad:
        _LOG.error("%s", bad)
        exit_reason(str(bad), stderr, mask)
        return OcfRc.ERR_CONFIGURED
    unknown = agent.spec.params.unknown(raw) if agent.reject_unknown else []
    if unknown:
        _LOG.warning("ignoring unknown parameter(s): %s", ", ".join(sorted(unknown)))
    try:
        return _dispatch(agent, ctx, params)
    except OcfError as raised:
        error = _probe_answer(ctx, raised)
        if error.rc is not OcfRc.NOT_RUNNING:
            _LOG.error("%s: %s", action, error.reason)
            exit_reason(error.reason, stderr, mask)
        return error.rc
    except Exception as unexpected:  # the one catch-all: no traceback ever reaches users
        _LOG.debug("%s failed", action, exc_info=True)
        reason = f"{action} failed unexpectedly: {type(unexpected).__name__}: {unexpected}"
        _LOG.error("%s", reason)
        exit_reason(reason, stderr, mask)
        return OcfRc.ERR_GENERIC


def main(agent: Agent) -> None:
    """Entry point for agent shims: run with the real process state and exit."""
    sys.exit(run(agent, sys.argv, os.environ, sys.stdout, sys.stderr))
