"""Run Pacemaker's scheduler offline: bring a CIB up, verify it, inject a host failure.

All through ``crm_simulate`` and ``crm_verify`` (argument lists, timeouts, via
:class:`instanceha.cluster.Runner`), never touching a live cluster: ``-L``
only reads the live CIB, and results go to files in a private work directory.

A rendered CIB has no status, so Pacemaker sees every node offline and
unclean. :meth:`Scheduler.bring_up` brings the cluster nodes up with quorum
and lets the scheduler start everything, marking the nodes unfenced as
pacemaker-controld would, until a pass has nothing left to do.

``crm_verify``'s time grows with the square of the CIB's size (1,000 computes:
nearly three minutes, 10,000: hours), so :meth:`Scheduler.verify_configuration`
checks a large configuration in parts that each hold a slice of the remote
nodes with everything that belongs to them alone, plus every shared object
(as :mod:`instanceha.cib.staging` builds them for the bring-up): each part costs
the same, the total grows linearly, and every compute's objects are verified once.

Failures are injected the way Pacemaker would see them: a Pacemaker Remote
node fails through its connection's recurring monitor (``--op-inject
<node>_monitor_<ms>@<host running the connection>=7``; ``--node-fail`` does
nothing for a remote node), a cluster node through ``--node-fail``.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from instanceha.cib.cibquery import (
    CibQueryError,
    cluster_node_names,
    mark_unfenced,
    online_node_names,
    parse_cib,
    remote_connections,
)
from instanceha.cib.staging import merge_status, staged_configuration
from instanceha.cib.transition import (
    Transition,
    TransitionError,
    parse_cluster_status,
    parse_transition,
)
from instanceha.cluster.runner import (
    ClusterError,
    CommandTimeout,
    Runner,
    RunResult,
    SubprocessRunner,
    ToolNotFound,
)

__all__ = [
    "BringUp",
    "Failure",
    "Scheduler",
    "SchedulerError",
    "VerifyReport",
]

#: Passes after the first before a CIB that keeps scheduling actions counts as unsettled.
MAX_SETTLE_PASSES = 4
#: Above this many remote nodes, :meth:`Scheduler.bring_up` brings them up in partial
#: clusters of this many (see :mod:`instanceha.cib.staging`).
STAGE_BATCH = 10
#: Above this many remote nodes, :meth:`Scheduler.verify_configuration` verifies in parts
#: of this many (crm_verify: 0.2 s for 50 computes, 2.2 s for 200, 160 s for 1,000).
VERIFY_BATCH = 50
_VERIFY_LINE = re.compile(r"^(?:\([^)]*\)\s*)?(error|warning):\s*(.*)$")


class SchedulerError(RuntimeError):
    """crm_simulate or crm_verify could not answer; the message says what to do.

    ``tool_missing`` is true when the tool is not installed (and only then does
    the message advise installing pacemaker-cli-utils).
    """

    def __init__(self, message: str, *, tool_missing: bool = False) -> None:
        super().__init__(message)
        self.tool_missing = tool_missing


@dataclass(frozen=True)
class BringUp:
    """A CIB with every node up and everything started, and how it got there."""

    cib_text: str
    first: Transition | None  # None when the CIB was already up
    passes: int


@dataclass(frozen=True)
class VerifyReport:
    """crm_verify's verdict on a brought-up CIB."""

    rc: int
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    parts: int = 1  # how many partial configurations were verified (1: the whole)
    remote_nodes: int = 0

    @property
    def valid(self) -> bool:
        """True when crm_verify exited 0 without errors."""
        return self.rc == 0 and not self.errors


@dataclass(frozen=True)
class Failure:
    """A simulated host failure: how it was injected and the transition it causes."""

    host: str
    kind: str  # "remote" or "member"
    injection: str  # the crm_simulate option used, e.g. --op-inject comp1_monitor_10000@ctl1=7
    connection_host: str | None
    transition: Transition


def _with_sections(root: ET.Element, configuration: ET.Element, status: ET.Element) -> ET.Element:
    """A copy of ``root``'s element and attributes with the two sections replaced."""
    cib = ET.Element(root.tag, dict(root.attrib))
    cib.extend([configuration, status])
    return cib


def _owners(cib: ET.Element, remotes: Collection[str]) -> dict[str, str]:
    """The remote node each per-node resource belongs to, by resource id, in one pass.

    What :func:`~instanceha.cib.staging.per_node_resources` finds for one node (its
    connection, and stonith devices whose ``pcmk_host_list`` is that node alone),
    for every node at once: asked node by node it costs the square of the CIB's size.
    """
    owners = {node: node for node in remotes}
    for prim in cib.iterfind("configuration/resources/primitive"):
        if prim.get("class") != "stonith":
            continue
        hosts = [p.get("value", "") for p in prim.iterfind("instance_attributes/nvpair")
                 if p.get("name") == "pcmk_host_list"]
        targets = {t for h in hosts for t in re.split(r"[\s,]+", h) if t}
        if len(targets) == 1 and (target := next(iter(targets))) in owners:
            owners[prim.get("id", "")] = target
    return owners


def _part(config: ET.Element, owners: Mapping[str, str], remotes: Collection[str],
          keep: Collection[str]) -> ET.Element:
    """``config`` without the remote nodes not in ``keep`` and what is theirs alone."""

    def foreign(rid: str | None) -> bool:
        owner = owners.get(rid or "")
        return owner is not None and owner not in keep

    def other(node: str | None) -> bool:
        return node in remotes and node not in keep

    doomed: dict[str, Callable[[ET.Element], bool]] = {
        "nodes": lambda el: el.get("type") == "remote" and other(el.get("uname")),
        "resources": lambda el: foreign(el.get("id")),
        "fencing-topology": lambda el: other(el.get("target")),
        "constraints": lambda el: other(el.get("node"))
        or any(foreign(el.get(ref)) for ref in ("rsc", "with-rsc", "first", "then")),
    }
    out = ET.Element(config.tag, dict(config.attrib))
    for section in config:
        test = doomed.get(section.tag)
        if test is None:
            out.append(section)
            continue
        pruned = ET.SubElement(out, section.tag, dict(section.attrib))
        pruned.extend(child for child in section if not test(child))
    return out


def _verify_parts(cib: ET.Element, remotes: Sequence[str],
                  batch: int) -> Iterator[ET.Element]:
    """The configuration for each slice of ``batch`` remote nodes.

    The same partial configurations as
    :func:`~instanceha.cib.staging.staged_configuration` (the other remote nodes
    and everything that is theirs alone left out), built in time linear in the
    CIB's size: the parts share the unchanged elements (they are only serialized).
    """
    config = cib.find("configuration")
    assert config is not None  # parse_cib checked it
    owners = _owners(cib, remotes)
    remote_set = set(remotes)
    for start in range(0, len(remotes), batch):
        yield _part(config, owners, remote_set, set(remotes[start:start + batch]))


class Scheduler:
    """crm_simulate/crm_verify on CIB files in ``workdir``."""

    def __init__(
        self, workdir: Path, runner: Runner | None = None, *, timeout: float = 600.0
    ) -> None:
        self.workdir = workdir
        self.runner = runner or SubprocessRunner()
        self.timeout = timeout
        self._serial = 0

    # ---------------------------------------------------------------- tools

    def _run(self, argv: list[str]) -> RunResult:
        try:
            return self.runner.run(argv, timeout=self.timeout)
        except ToolNotFound as err:
            raise SchedulerError(f"{err} (install pacemaker-cli-utils)",
                                 tool_missing=True) from None
        except CommandTimeout as err:
            raise SchedulerError(f"{err} (the CIB given to it is too large or the machine is "
                                 "too busy)") from None
        except ClusterError as err:
            raise SchedulerError(str(err)) from None

    def _file(self, stem: str, text: str | None = None) -> Path:
        self._serial += 1
        path = self.workdir / f"{self._serial:03d}-{stem}.xml"
        if text is not None:
            path.write_text(text, encoding="utf-8")
        return path

    def _simulate(self, source: list[str], extra: list[str], out: Path | None, *,
                  execute: bool = True) -> Transition:
        argv = ["crm_simulate", *source, "-S" if execute else "-R", "--output-as=xml", *extra]
        if out is not None:
            argv += ["-O", str(out)]
        res = self._run(argv)
        if res.rc != 0:
            detail = (res.stderr or res.stdout).strip().splitlines()
            raise SchedulerError(
                f"crm_simulate exited {res.rc}: {detail[-1] if detail else 'no output'}"
            )
        try:
            return parse_transition(res.stdout)
        except TransitionError as err:
            raise SchedulerError(str(err)) from None

    def status(self, source: list[str]) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
        """Node kinds (``member``/``remote``) and resource placements of a CIB or ``-L``."""
        res = self._run(["crm_simulate", *source, "--output-as=xml"])
        if res.rc != 0:
            raise SchedulerError(f"crm_simulate exited {res.rc}: {res.stderr.strip()[-300:]}")
        try:
            nodes, running = parse_cluster_status(res.stdout)
        except TransitionError as err:
            raise SchedulerError(str(err)) from None
        return {n.name: n.kind for n in nodes}, running

    def transition(self, cib_text: str) -> Transition:
        """What the scheduler would do next with ``cib_text`` as it is (one run)."""
        return self._simulate(["-x", str(self._file("input", cib_text))], [], None,
                              execute=False)

    # ------------------------------------------------------------- bring-up

    def nodes_up(self, cib_text: str) -> str:
        """The CIB with its cluster members online and quorate, nothing started.

        What ``crm_verify`` needs to judge a configuration (a status-less CIB has
        no quorum); unlike :meth:`bring_up`, cheap at any size.
        """
        try:
            cib = parse_cib(cib_text)
        except CibQueryError as err:
            raise SchedulerError(f"input: {err}") from None
        if online_node_names(cib):
            return cib_text
        members = cluster_node_names(cib)
        if not members:
            raise SchedulerError("the CIB lists no cluster node in <nodes>: nothing to bring up")
        source, out = self._file("input", cib_text), self._file("nodes-up")
        ups = [arg for name in members for arg in ("-u", name)]
        res = self._run(["crm_simulate", "-x", str(source), *ups, "-q", "1", "-Q",
                         "-O", str(out)])
        if res.rc != 0:
            raise SchedulerError(f"crm_simulate exited {res.rc}: {res.stderr.strip()[-300:]}")
        return out.read_text(encoding="utf-8")

    def bring_up(self, cib_text: str, *, batch: int = STAGE_BATCH) -> BringUp:
        """Bring all cluster nodes up (quorate), mark them unfenced, settle.

        A CIB whose status already shows a member online is only settled. With
        more than ``batch`` remote nodes, each batch is brought up in its own
        partial cluster and the status sections are merged before a final
        settle (:mod:`instanceha.cib.staging`); ``first`` is then None.
        """
        try:
            cib = parse_cib(cib_text)
        except CibQueryError as err:
            raise SchedulerError(f"input: {err}") from None
        remotes = list(remote_connections(cib))
        if not online_node_names(cib) and len(remotes) > batch:
            return self._staged(cib, remotes, batch)
        return self._settle_from(cib_text, cib)

    def _staged(self, cib: ET.Element, remotes: list[str], batch: int) -> BringUp:
        """Bring each batch of remote nodes up in its own partial cluster, merge, settle."""
        statuses = []
        passes = 0
        last: ET.Element | None = None
        for start in range(0, len(remotes), batch):
            part = _with_sections(cib, staged_configuration(cib, remotes[start:start + batch]),
                                  ET.Element("status"))
            step = self._settle_from(ET.tostring(part, encoding="unicode"), part)
            passes += step.passes
            last = ET.fromstring(step.cib_text)
            status = last.find("status")
            statuses.append(status if status is not None else ET.Element("status"))
        assert last is not None  # len(remotes) > batch >= 1
        config = cib.find("configuration")
        assert config is not None  # parse_cib checked it
        # The last part's root carries what crm_simulate set (have-quorum, dc-uuid).
        whole = _with_sections(last, copy.deepcopy(config), merge_status(statuses))
        final = self._settle_from(ET.tostring(whole, encoding="unicode"), whole)
        return BringUp(final.cib_text, None, passes + final.passes)

    def _settle_from(self, cib_text: str, cib: ET.Element) -> BringUp:
        first: Transition | None = None
        current = self._file("input", cib_text)
        if not online_node_names(cib):
            members = cluster_node_names(cib)
            if not members:
                raise SchedulerError(
                    "the CIB lists no cluster node in <nodes>: nothing to bring up"
                )
            up = self._file("up")
            ups = [arg for name in members for arg in ("-u", name)]
            first = self._simulate(["-x", str(current)], [*ups, "-q", "1"], up)
            current = up
        passes = 1 if first else 0
        for _ in range(MAX_SETTLE_PASSES + 1):
            self._mark_unfenced(current)
            nxt = self._file("settle")
            transition = self._simulate(["-x", str(current)], [], nxt)
            if transition.empty:
                return BringUp(current.read_text(encoding="utf-8"), first, passes)
            passes += 1
            current = nxt
        raise SchedulerError(
            f"the cluster does not settle: still scheduling after {passes} passes "
            f"({len(transition.fencing)} fencing, {len(transition.actions)} resource actions)"
        )

    def _mark_unfenced(self, path: Path) -> None:
        tree = ET.parse(path)
        if mark_unfenced(tree.getroot()):
            tree.write(path, encoding="unicode")

    # --------------------------------------------------------------- verify

    def verify(self, up_text: str) -> VerifyReport:
        """``crm_verify -x -V`` on a CIB with nodes up; collects its error and warning lines."""
        path = self._file("verify", up_text)
        res = self._run(["crm_verify", "-x", str(path), "-V"])
        errors: list[str] = []
        warnings: list[str] = []
        for line in (res.stderr + res.stdout).splitlines():
            match = _VERIFY_LINE.match(line.strip())
            if match:
                (errors if match.group(1) == "error" else warnings).append(match.group(2))
        return VerifyReport(res.rc, tuple(errors), tuple(warnings))

    def verify_configuration(self, cib_text: str, *, batch: int = VERIFY_BATCH) -> VerifyReport:
        """``crm_verify`` on ``cib_text``'s configuration with its cluster nodes up.

        Up to ``batch`` remote nodes, the whole CIB at once (as :meth:`verify` on
        :meth:`nodes_up`). Beyond, in parts of ``batch`` remote nodes each, with an
        empty status (:func:`~instanceha.cib.staging.staged_configuration`): every
        part holds all shared objects, each remote node's own objects are in exactly
        one part. Messages repeated by several parts are reported once; the exit
        code is the first non-zero one.
        """
        try:
            cib = parse_cib(cib_text)
        except CibQueryError as err:
            raise SchedulerError(f"input: {err}") from None
        remotes = list(remote_connections(cib))
        if len(remotes) <= batch:
            whole = self.verify(self.nodes_up(cib_text))
            return VerifyReport(whole.rc, whole.errors, whole.warnings, 1, len(remotes))
        rc, errors, warnings, parts = 0, dict[str, None](), dict[str, None](), 0
        for config in _verify_parts(cib, remotes, batch):
            part = _with_sections(cib, config, ET.Element("status"))
            report = self.verify(self.nodes_up(ET.tostring(part, encoding="unicode")))
            parts += 1
            rc = rc or report.rc
            errors.update(dict.fromkeys(report.errors))
            warnings.update(dict.fromkeys(report.warnings))
        return VerifyReport(rc, tuple(errors), tuple(warnings), parts, len(remotes))

    # -------------------------------------------------------------- failure

    def fail(self, host: str, *, cib_text: str | None = None, live: bool = False,
             execute: bool = False) -> Failure:
        """Simulate the failure of ``host`` on a brought-up CIB or the live cluster.

        By default only the transition is computed (``crm_simulate -R``: one
        scheduler run); ``execute`` also simulates running it (``-S``), which
        gives the revised status but costs time proportional to the number of
        actions times the CIB's size (minutes for a controller at 500 computes).

        :raises SchedulerError: for an unknown host, or a remote node whose
            connection is not running (nothing to fail).
        """
        if live == (cib_text is not None):
            raise ValueError("give exactly one of cib_text and live")
        if live:
            source, remotes = ["-L"], None
        else:
            assert cib_text is not None
            source = ["-x", str(self._file("base", cib_text))]
            remotes = remote_connections(parse_cib(cib_text))
        kinds, running = self.status(source)
        if remotes is None:
            live_cib = self._run(["cibadmin", "--query"])
            if live_cib.rc != 0:
                raise SchedulerError(f"cibadmin --query exited {live_cib.rc}: "
                                     f"{live_cib.stderr.strip()[-300:]}")
            remotes = remote_connections(parse_cib(live_cib.stdout))
        if host in remotes:
            conn = remotes[host]
            if conn.monitor_interval_ms is None:
                raise SchedulerError(
                    f"{host}'s connection resource has no recurring monitor to fail"
                )
            where = running.get(host, ())
            if not where:
                raise SchedulerError(
                    f"{host}'s connection is not running (node already down?): nothing to fail"
                )
            spec = f"{host}_monitor_{conn.monitor_interval_ms}@{where[0]}=7"
            transition = self._simulate(source, ["--op-inject", spec], None, execute=execute)
            return Failure(host, "remote", f"--op-inject {spec}", where[0], transition)
        if kinds.get(host) in ("member", "normal"):
            transition = self._simulate(source, ["--node-fail", host], None, execute=execute)
            return Failure(host, "member", f"--node-fail {host}", None, transition)
        known = ", ".join(sorted(kinds)) or "none"
        raise SchedulerError(f"{host} is not a node of this cluster (nodes: {known})")
