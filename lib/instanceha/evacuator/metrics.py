"""The evacuator's metrics in Prometheus' text exposition format, as a node_exporter textfile.

NovaEvacuate's ``metrics_file`` names the file (``*.prom`` in the directory of
node_exporter's textfile collector; empty: no file). The worker counts while it
runs, and writes the whole file at start, within ``every`` seconds of a change,
and at least every ``refresh`` seconds (so node_exporter's
``node_textfile_mtime_seconds`` tells a live worker from a dead one's leftover);
a clean stop deletes it (the cluster-wide gauges are the running worker's to
show). A write goes to ``<file>.<pid>`` and is renamed over the file: a reader
sees the previous file or the new one, never part of one. Counters live in the
worker's memory and start at 0 with it, as Prometheus expects of a restarted
process (``rate``/``increase`` handle the reset). What each metric means:
docs/metrics.md.

Counted once each, so that a run resumed after an incomplete one does not count
again what the first one did:

* an instance's outcome, once per outcome per incident (an incident is a node's
  failure as the mass-failure guard records it, ``instanceha-failed-at``): an
  instance a run left ``pending`` and the next one evacuated counts once
  ``pending`` and once ``evacuated``;
* a fencing of a compute node, once per (node, completion time), and only one
  that completed after this worker started (an older one was another worker's
  to count).

The text format is small and written here (no runtime dependency); the tests
read it back with the Prometheus client library's own parser.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from instanceha.clock import Clock
from instanceha.cluster import ClusterError, EvacuationRequest, EvacuationState, FenceEvent
from instanceha.cluster.attribute_names import HELD
from instanceha.evacuation.outcome import HostReport, OutcomeKind

__all__ = [
    "EVACUATION_BUCKETS",
    "INSTANCE_BUCKETS",
    "RUN_RESULTS",
    "EvacuatorMetrics",
    "Histogram",
    "MetricsError",
    "write_textfile",
]

_LOG = logging.getLogger("instanceha.evacuator")

#: Upper bounds (seconds) of a host's evacuation and of one run.
EVACUATION_BUCKETS: tuple[float, ...] = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
#: Upper bounds (seconds) of one instance's evacuation.
INSTANCE_BUCKETS: tuple[float, ...] = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
#: How a run ended: the request done; given back for a retry; the run could not go on.
RUN_RESULTS = ("complete", "incomplete", "error")
_HOLDS = ("evacuation", "fencing")
_REQUEST_STATES = {EvacuationState.REQUESTED: "requested",
                   EvacuationState.IN_PROGRESS: "in_progress"}


class MetricsError(Exception):
    """The metrics file cannot be written; the message names the file and why."""


@dataclass
class Histogram:
    """Cumulative bucket counts, their sum and count (Prometheus' histogram)."""

    bounds: tuple[float, ...]
    buckets: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.buckets = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        """Count ``value`` in every bucket whose bound it does not exceed."""
        for index, bound in enumerate(self.bounds):
            if value <= bound:
                self.buckets[index] += 1
        self.total += value
        self.count += 1


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, value: float, labels: Mapping[str, str] | None = None) -> str:
    text = ",".join(f'{k}="{_label(v)}"' for k, v in (labels or {}).items())
    return f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}"


def _family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> list[str]:
    escaped = help_text.replace("\\", "\\\\").replace("\n", "\\n")
    return [f"# HELP {name} {escaped}", f"# TYPE {name} {kind}", *samples]


def _histogram(name: str, help_text: str, hist: Histogram) -> list[str]:
    samples = [_sample(f"{name}_bucket", n, {"le": _number(b)})
               for b, n in zip(hist.bounds, hist.buckets, strict=True)]
    samples += [_sample(f"{name}_bucket", hist.count, {"le": "+Inf"}),
                _sample(f"{name}_sum", hist.total), _sample(f"{name}_count", hist.count)]
    return _family(name, "histogram", help_text, samples)


def write_textfile(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically, mode 0644 (node_exporter's textfile convention).

    :raises MetricsError: naming the file and the reason (its directory missing, ...).
    """
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise MetricsError(f"cannot write {path}: directory {directory} does not exist "
                           "(is node_exporter's textfile directory there?)")
    tmp = f"{path}.{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        raise MetricsError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        os.fchmod(fd, 0o644)  # whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as error:
        _unlink(tmp)
        raise MetricsError(f"cannot write {path}: {error.strerror or error}") from None


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class EvacuatorMetrics:
    """What the worker counts, and its textfile; every method is thread-safe.

    The worker calls :meth:`quorum` and :meth:`pass_seen` once a pass,
    :meth:`fencings_seen` with the fencing history it read, :meth:`run_finished`
    or :meth:`run_failed` when a run ends, :meth:`flush` at the end of a pass and
    :meth:`remove` when it stops.
    """

    def __init__(self, clock: Clock, path: str = "", *, every: float = 5.0,
                 refresh: float = 60.0) -> None:
        self.path = path
        self._clock = clock
        self._every = every
        self._refresh = refresh
        self.started = clock.time()
        self._lock = threading.Lock()
        self._changed = True
        self._written_at: float | None = None
        self._error = ""
        self._outcomes = dict.fromkeys(OutcomeKind, 0)
        self._runs = dict.fromkeys(RUN_RESULTS, 0)
        self._fencings = 0
        self._host_seconds = Histogram(EVACUATION_BUCKETS)
        self._run_seconds = Histogram(EVACUATION_BUCKETS)
        self._instance_seconds = Histogram(INSTANCE_BUCKETS)
        self._gauges: dict[str, float] = {"quorate": 1.0}
        self._failed_at: dict[str, int] = {}
        self._counted: dict[str, tuple[int | None, set[tuple[str, OutcomeKind]]]] = {}
        self._fenced: set[tuple[str, float]] = set()

    @property
    def enabled(self) -> bool:
        """Whether there is a file to write (the counting goes on either way)."""
        return bool(self.path)

    # ------------------------------------------------------------ what happened

    def _gauge(self, key: str, value: float) -> None:
        if self._gauges.get(key) != value:
            self._gauges[key] = value
            self._changed = True

    def quorum(self, quorate: bool) -> None:
        """This controller's partition has quorum, or not."""
        with self._lock:
            self._gauge("quorate", 1.0 if quorate else 0.0)

    def pass_seen(self, requests: Mapping[str, EvacuationRequest], failed_at: Mapping[str, int],
                  held: Iterable[str], fencing_holds: Callable[[], Mapping[str, str]]) -> None:
        """One pass's view: the requests, when each node failed, the guard's holds, and
        (read only when there is a file) fence_hold's holds; a hold that cannot be read
        keeps its last value."""
        states = [_REQUEST_STATES.get(r.state) for r in requests.values()]
        fencing: int | None = None
        if self.enabled:
            try:
                fencing = sum(v.startswith(HELD) for v in fencing_holds().values())
            except ClusterError as error:
                _LOG.debug("metrics: cannot read the fencing holds: %s", error)
        with self._lock:
            self._failed_at = dict(failed_at)
            for label in _REQUEST_STATES.values():
                self._gauge(f"requests:{label}", float(states.count(label)))
            self._gauge("held:evacuation", float(len(set(held))))
            if fencing is not None:
                self._gauge("held:fencing", float(fencing))

    def fencings_seen(self, events: Sequence[FenceEvent] | None, computes: Iterable[str]) -> None:
        """Count each power-off of a compute node in the history once (see the docstring)."""
        if events is None:
            return
        nodes = set(computes)
        kills = {(e.target, e.completed_at) for e in events
                 if e.target in nodes and e.node_was_killed and e.completed_at is not None
                 and e.completed_at >= int(self.started)}
        with self._lock:
            new = kills - self._fenced
            self._fenced = kills  # the history only drops old entries: they never come back
            if new:
                self._fencings += len(new)
                self._changed = True

    def run_finished(self, node: str, report: HostReport, *, done: bool) -> None:
        """A run ended with ``report``; ``done``: it completed the request."""
        now = self._clock.time()
        with self._lock:
            self._runs["complete" if done else "incomplete"] += 1
            self._run_seconds.observe(max(0.0, report.finished - report.started))
            failed_at = self._failed_at.get(node)
            incident, counted = self._counted.get(node, (None, set()))
            if incident != failed_at:
                counted = set()
            for outcome in report.outcomes:
                key = (outcome.server_id, outcome.kind)
                if key in counted:
                    continue
                counted.add(key)
                self._outcomes[outcome.kind] += 1
                if outcome.kind is OutcomeKind.EVACUATED and outcome.duration is not None:
                    self._instance_seconds.observe(max(0.0, outcome.duration))
            self._counted[node] = (failed_at, counted)
            if done and failed_at is not None:
                self._host_seconds.observe(max(0.0, now - failed_at))
            self._changed = True

    def run_failed(self) -> None:
        """A run could not go on (Nova, the cluster or the host mapping failed it)."""
        with self._lock:
            self._runs["error"] += 1
            self._changed = True

    # ------------------------------------------------------------ the text

    def render(self) -> str:
        """Every metric in the text exposition format (version 0.0.4)."""
        with self._lock:
            gauges = dict(self._gauges)
            lines = _family(
                "instanceha_evacuations_total", "counter",
                "Instances of failed compute hosts by outcome, each counted once per outcome "
                "per host failure.",
                (_sample("instanceha_evacuations_total", self._outcomes[k], {"outcome": k.value})
                 for k in OutcomeKind))
            lines += _family(
                "instanceha_evacuation_runs_total", "counter",
                "Evacuation runs of this worker by result: complete (request done), "
                "incomplete (given back for a retry), error (could not run).",
                (_sample("instanceha_evacuation_runs_total", self._runs[r], {"result": r})
                 for r in RUN_RESULTS))
            lines += _family(
                "instanceha_fencings_total", "counter",
                "Power-offs of compute nodes in the fencing history since this worker started.",
                [_sample("instanceha_fencings_total", self._fencings)])
            lines += _histogram(
                "instanceha_evacuation_duration_seconds",
                "From a compute host's failure (its fencing or request) to its evacuation done.",
                self._host_seconds)
            lines += _histogram(
                "instanceha_evacuation_run_seconds", "One evacuation run of one host.",
                self._run_seconds)
            lines += _histogram(
                "instanceha_instance_evacuation_seconds",
                "One instance's evacuation, from its first evacuate call to its target state "
                "on another host.", self._instance_seconds)
        lines += _family(
            "instanceha_requests", "gauge", "Evacuation requests by state (done ones left out).",
            (_sample("instanceha_requests", gauges.get(f"requests:{s}", 0.0), {"state": s})
             for s in _REQUEST_STATES.values()))
        lines += _family(
            "instanceha_held_nodes", "gauge",
            "Compute nodes held: evacuation by the mass-failure guard, fencing by fence_hold.",
            (_sample("instanceha_held_nodes", gauges.get(f"held:{h}", 0.0), {"hold": h})
             for h in _HOLDS))
        lines += _family("instanceha_quorate", "gauge",
                         "1 when this controller's partition has quorum, else 0.",
                         [_sample("instanceha_quorate", gauges["quorate"])])
        lines += _family("instanceha_worker_start_time_seconds", "gauge",
                         "When this evacuator worker started, seconds since the epoch.",
                         [_sample("instanceha_worker_start_time_seconds", self.started)])
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------ the file

    def flush(self) -> None:
        """Write the file when due (see the module docstring); a failure is logged once."""
        if not self.enabled:
            return
        now = self._clock.monotonic()
        with self._lock:
            last = self._written_at
            due = (last is None or now - last >= self._refresh
                   or (self._changed and now - last >= self._every))
            if not due:
                return
            self._changed = False
            self._written_at = now
        try:
            write_textfile(self.path, self.render())
        except MetricsError as error:
            if str(error) != self._error:
                _LOG.warning("metrics: %s; evacuating on regardless", error)
                self._error = str(error)
            with self._lock:
                self._changed = True
            return
        if self._error:
            _LOG.info("metrics: writing %s again", self.path)
            self._error = ""

    def remove(self) -> None:
        """Delete the file (a stopped worker shows nothing)."""
        if self.enabled:
            _unlink(self.path)
