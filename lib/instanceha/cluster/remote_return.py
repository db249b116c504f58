"""Return a Pacemaker Remote node to the cluster without fencing it.

Pacemaker 2.1 keeps a remote node whose connection failed ``UNCLEAN`` until it
is fenced, and retries that fencing at every transition: with the fencing held,
a node whose link came back never returns by itself, and neither
``crm_resource --cleanup`` nor ``--refresh`` changes that (measured). What does:
deleting the node's resource history from the status section, then cleaning up
its connection resource. Pacemaker then sees nothing recorded on the node, so no
fencing is needed; the connection starts again and the probes find what runs
there, so nothing is restarted (their resources are found running).

The connection is cleaned up first, then the history deleted: until then the node
stays unclean, so a failure between the two leaves Pacemaker retrying its fencing
(and the caller the return). This tells Pacemaker that nothing runs on the node:
done for a node that is really dead, its resources would be started elsewhere while it may still be
running them. Callers do it only for a node proven alive (its pacemaker-remoted
answers, :mod:`instanceha.cluster.reachability`). A returned node reconnects
once no other fencing is pending (its connection requires fencing, Pacemaker's
default, which must stay: see ``cib_templates/remote.xml.in``).
"""

from __future__ import annotations

import re

from instanceha.cluster.attributes import RC_NOSUCH
from instanceha.cluster.runner import CommandError, Runner, SubprocessRunner

__all__ = ["return_to_cluster"]

_TIMEOUT = 20.0
_NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # also safe inside the XPath


def return_to_cluster(node: str, runner: Runner | None = None) -> None:
    """Delete ``node``'s resource history and clean up its connection (resource ``node``).

    :raises instanceha.cluster.ClusterError: when a command fails.
    :raises ValueError: for a name that is not a node name.
    """
    if not _NODE_NAME.match(node):
        raise ValueError(f"invalid node name {node!r}")
    run = runner or SubprocessRunner()
    # the cleanup first: until the history is deleted the node stays unclean, so a failure
    # in between leaves Pacemaker retrying its fencing, and fence_hold the return
    steps = (
        ["crm_resource", "--cleanup", "--resource", node],
        ["cibadmin", "--delete", "--xpath", f"/cib/status/node_state[@uname='{node}']/lrm"],
    )
    for argv in steps:
        done = run.run(argv, timeout=_TIMEOUT)
        # cibadmin --delete of nothing (no such device or address) is not a failure
        if done.rc != 0 and not (argv[0] == "cibadmin" and done.rc == RC_NOSUCH):
            raise CommandError(argv, done.rc, done.stderr.strip())
