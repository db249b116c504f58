"""Resource operation history from a live CIB: what ran where, with which result, how long.

``cibadmin --query`` shows, under ``status/node_state/lrm/lrm_resources``, one
``<lrm_resource id= class= provider= type=>`` per resource a node has run, and
in it ``<lrm_rsc_op>`` records with ``operation``, ``interval`` (ms),
``rc-code``, ``op-status``, ``call-id``, ``on_node``, ``last-rc-change`` (UNIX
time), ``exec-time`` and ``queue-time`` (ms). Pacemaker 2.1 keeps few records
per resource and node:

* ``<rsc>_last_0``: the most recent non-recurring operation (start, stop or
  probe, whichever ran last; earlier ones are overwritten);
* ``<rsc>_<operation>_<interval>``: each active recurring operation, rewritten
  only when its result changes, so it shows the run that last changed the
  result (usually the first), not every run;
* ``<rsc>_last_failure_0``: the most recent failed operation (a probe that
  finds the resource running counts as one).

An in-flight operation is recorded as pending (``op-status="-1"``, when
``record-pending`` is on, the default) with ``last-rc-change`` its start time
and no meaningful ``exec-time``. A node's history is erased when it is fenced
or its resources are cleaned up. The check level (``OCF_CHECK_LEVEL``) of a
monitor is not in the history: it is read from the matching ``<op>`` of the
configuration section.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from instanceha.cib.durations import DurationError, to_ms
from instanceha.cluster.pcmkxml import parse_xml
from instanceha.cluster.runner import OutputError

__all__ = [
    "LAST_FAILURE_SUFFIX",
    "OP_STATUS_NAMES",
    "OpStatus",
    "OperationRecord",
    "check_levels",
    "parse_operations",
]

#: Suffix of the ``lrm_rsc_op`` id Pacemaker keeps for a resource's last failure on a node.
LAST_FAILURE_SUFFIX = "_last_failure_0"
_CLONE_INSTANCE = re.compile(r":[0-9]+$")


class OpStatus:
    """Pacemaker's execution status (``op-status``; ``enum pcmk_exec_status``)."""

    PENDING = -1
    DONE = 0
    CANCELLED = 1
    TIMEOUT = 2
    NOT_SUPPORTED = 3
    ERROR = 4
    ERROR_HARD = 5
    ERROR_FATAL = 6
    NOT_INSTALLED = 7
    NOT_CONNECTED = 8
    INVALID = 9
    NO_FENCE_DEVICE = 10
    NO_SECRETS = 11


#: ``op-status`` values as the words Pacemaker's logs use.
OP_STATUS_NAMES: dict[int, str] = {
    OpStatus.PENDING: "pending",
    OpStatus.DONE: "complete",
    OpStatus.CANCELLED: "cancelled",
    OpStatus.TIMEOUT: "timed out",
    OpStatus.NOT_SUPPORTED: "not supported",
    OpStatus.ERROR: "error",
    OpStatus.ERROR_HARD: "hard error",
    OpStatus.ERROR_FATAL: "fatal error",
    OpStatus.NOT_INSTALLED: "not installed",
    OpStatus.NOT_CONNECTED: "not connected",
    OpStatus.INVALID: "invalid",
    OpStatus.NO_FENCE_DEVICE: "no fence device",
    OpStatus.NO_SECRETS: "no secrets",
}


@dataclass(frozen=True)
class OperationRecord:
    """One ``lrm_rsc_op``: an operation of ``resource`` on ``node``.

    ``resource`` is the ``lrm_resource`` id (a unique clone instance keeps its
    ``:N``); ``agent_class``/``provider``/``agent_type`` name its agent
    (``provider`` is None for stonith). ``check_level`` is the configured
    ``OCF_CHECK_LEVEL`` of a monitor (0 when none). ``exec_time_ms``,
    ``queue_time_ms`` and ``last_rc_change`` are None when Pacemaker did not
    record them.
    """

    record_id: str
    resource: str
    agent_class: str
    provider: str | None
    agent_type: str
    node: str
    operation: str
    interval_ms: int
    rc: int
    op_status: int
    call_id: int
    exec_time_ms: int | None
    queue_time_ms: int | None = None
    last_rc_change: int | None = None
    check_level: int = 0
    exit_reason: str = ""

    @property
    def agent(self) -> str:
        """The agent as Pacemaker names it: ``ocf:instanceha:libvirtd``, ``stonith:fence_ipmi``."""
        if self.provider:
            return f"{self.agent_class}:{self.provider}:{self.agent_type}"
        return f"{self.agent_class}:{self.agent_type}"

    @property
    def is_probe(self) -> bool:
        """A one-time monitor (interval 0): Pacemaker asking whether the resource runs."""
        return self.operation == "monitor" and self.interval_ms == 0

    @property
    def is_last_failure(self) -> bool:
        """The resource's last-failure record on this node."""
        return self.record_id.endswith(LAST_FAILURE_SUFFIX)

    @property
    def pending(self) -> bool:
        """In flight when the CIB was read."""
        return self.op_status == OpStatus.PENDING

    @property
    def status_name(self) -> str:
        """``op-status`` in words (``complete``, ``timed out``, …)."""
        return OP_STATUS_NAMES.get(self.op_status, f"op-status {self.op_status}")

    @property
    def exec_seconds(self) -> float | None:
        """``exec_time_ms`` in seconds."""
        return None if self.exec_time_ms is None else self.exec_time_ms / 1000


def _int(op: ET.Element, name: str) -> int | None:
    value = op.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise OutputError(f"lrm_rsc_op {op.get('id')!r}: bad {name} {value!r}") from None


def _required(op: ET.Element, name: str) -> int:
    value = _int(op, name)
    if value is None:
        raise OutputError(f"lrm_rsc_op {op.get('id')!r}: no {name}")
    return value


def check_levels(cib: ET.Element) -> dict[tuple[str, str, int], int]:
    """Configured ``OCF_CHECK_LEVEL`` by (primitive id, operation, interval ms), when set."""
    levels: dict[tuple[str, str, int], int] = {}
    for prim in cib.iterfind("configuration/resources//primitive"):
        for op in prim.iterfind("operations/op"):
            for pair in op.iterfind("instance_attributes/nvpair"):
                if pair.get("name") != "OCF_CHECK_LEVEL":
                    continue
                try:
                    key = (prim.get("id", ""), op.get("name", ""), to_ms(op.get("interval", "0")))
                    levels[key] = int(pair.get("value", "0"))
                except (DurationError, ValueError):
                    continue
    return levels


def parse_operations(cib_xml: str) -> list[OperationRecord]:
    """Every ``lrm_rsc_op`` of a CIB (``cibadmin --query``), in document order.

    :raises OutputError: when the text is not a ``<cib>`` document, or a record
        lacks its operation, interval, rc-code, op-status or call-id or has a
        non-numeric one.
    """
    cib = parse_xml(cib_xml, "cibadmin --query")
    if cib.tag != "cib":
        raise OutputError(f"cibadmin --query: root element is <{cib.tag}>, not <cib>")
    levels = check_levels(cib)
    records: list[OperationRecord] = []
    for state in cib.iterfind("status/node_state"):
        state_node = state.get("uname") or state.get("id") or ""
        for rsc in state.iterfind("lrm/lrm_resources/lrm_resource"):
            rsc_id = rsc.get("id", "")
            primitive = _CLONE_INSTANCE.sub("", rsc_id)
            for op in rsc.iterfind("lrm_rsc_op"):
                operation = op.get("operation")
                if not operation:
                    raise OutputError(f"lrm_rsc_op {op.get('id')!r}: no operation")
                interval = _required(op, "interval")
                records.append(
                    OperationRecord(
                        record_id=op.get("id", ""),
                        resource=rsc_id,
                        agent_class=rsc.get("class", ""),
                        provider=rsc.get("provider") or None,
                        agent_type=rsc.get("type", ""),
                        node=state_node or op.get("on_node", ""),
                        operation=operation,
                        interval_ms=interval,
                        rc=_required(op, "rc-code"),
                        op_status=_required(op, "op-status"),
                        call_id=_required(op, "call-id"),
                        exec_time_ms=_int(op, "exec-time"),
                        queue_time_ms=_int(op, "queue-time"),
                        last_rc_change=_int(op, "last-rc-change"),
                        check_level=levels.get((primitive, operation, interval), 0),
                        exit_reason=op.get("exit-reason", ""),
                    )
                )
    return records
