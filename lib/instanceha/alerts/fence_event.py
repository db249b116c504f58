"""The post-fence alert agent: record the evacuation request after any successful fencing.

Configured as a Pacemaker alert with ``select_fencing``; it runs for every
fencing event, whatever device did it (fence_ipmi, fence_ipmilan,
fence_redfish ...), so evacuation works without fence_nova in the topology.
Pacemaker passes the event in ``CRM_alert_*`` variables; Pacemaker 2.1 sets
``CRM_alert_task`` to the notification type (``st_notify_fence``) and names
the fencing action only in ``CRM_alert_desc`` ("Operation reboot of comp1 by
ctl1 for ...: OK"), so the action is read from there. Alerts are
fire-and-forget, so the evacuator also reconciles against the fencing
history and catches a missed alert.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping

from instanceha.cluster import ClusterError, EvacuationRequests
from instanceha.cluster.evacuation import record_fenced

__all__ = ["handle", "main"]

_LOG = logging.getLogger("instanceha.alert")
_KILLING_TASKS = frozenset({"reboot", "off"})
_DESCRIPTION = re.compile(r"^Operation (?P<action>\S+) of (?P<target>\S+) by ")


def _action(env: Mapping[str, str]) -> str:
    """The fencing action (reboot, off, on), from the task or else the description."""
    task = env.get("CRM_alert_task", "")
    if task in _KILLING_TASKS or task == "on":
        return task
    match = _DESCRIPTION.match(env.get("CRM_alert_desc", ""))
    if match and match.group("target") == env.get("CRM_alert_node"):
        return match.group("action")
    return task


def handle(env: Mapping[str, str], requests: EvacuationRequests | None = None) -> int:
    """Act on one alert; returns the exit code (0 also for events we ignore)."""
    if env.get("CRM_alert_kind") != "fencing":
        return 0
    node, task = env.get("CRM_alert_node", ""), _action(env)
    if env.get("CRM_alert_rc", "1") != "0" or task not in _KILLING_TASKS or not node:
        _LOG.info("ignoring fencing event %s of %s (rc=%s)", task, node,
                  env.get("CRM_alert_rc"))
        return 0
    try:
        record_fenced(node, requests)
    except (ClusterError, ValueError) as error:
        _LOG.error("could not record the evacuation request of %s: %s", node, error)
        return 1
    return 0


def main() -> None:
    """Entry point of the alert shim: the alert's runtime, the one place here that reads the
    environment (Pacemaker's ``CRM_alert_*`` variables) and exits."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="instanceha-alert: %(levelname)s: %(message)s")
    sys.exit(handle(os.environ))  # noqa: TID251 - the alert runtime passes its environment on
