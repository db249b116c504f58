"""The evacuator's metrics: the text read back by the Prometheus client library's own parser,
counted once each, written atomically for node_exporter's textfile collector."""

from __future__ import annotations

import io
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from instanceha.agents import nova_evacuate
from instanceha.clock import FakeClock
from instanceha.cluster import EvacuationRequest, FenceEvent, FenceState
from instanceha.evacuation.outcome import HostReport, InstanceOutcome, OutcomeKind
from instanceha.evacuator.__main__ import settings_from
from instanceha.evacuator.metrics import (
    EVACUATION_BUCKETS,
    INSTANCE_BUCKETS,
    EvacuatorMetrics,
    MetricsError,
    write_textfile,
)
from instanceha.ocf import OcfRc, run

#: Prometheus' own reader of the text format (Debian: python3-prometheus-client, which
#: scripts/install-test-deps.sh installs; under make check a skip fails the run).
text_string_to_metric_families = pytest.importorskip(
    "prometheus_client.parser", reason="python3-prometheus-client is not installed",
).text_string_to_metric_families

T0 = 1_800_000_000.0

COUNTERS = {"instanceha_evacuations": ("outcome", {"evacuated", "skipped", "failed", "pending"}),
            "instanceha_evacuation_runs": ("result", {"complete", "incomplete", "error"}),
            "instanceha_fencings": ("", {""})}
HISTOGRAMS = {"instanceha_evacuation_duration_seconds": EVACUATION_BUCKETS,
              "instanceha_evacuation_run_seconds": EVACUATION_BUCKETS,
              "instanceha_instance_evacuation_seconds": INSTANCE_BUCKETS}
GAUGES = {"instanceha_requests": ("state", {"requested", "in_progress"}),
          "instanceha_held_nodes": ("hold", {"evacuation", "fencing"}),
          "instanceha_quorate": ("", {""}),
          "instanceha_worker_start_time_seconds": ("", {""})}


def parse(text: str) -> dict[str, tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]]:
    """``{family: (type, {(sample name, labels): value})}`` as Prometheus' parser reads it."""
    families = {}
    for family in text_string_to_metric_families(text):
        assert family.name not in families, f"{family.name} twice"
        assert family.documentation, f"{family.name} has no HELP"
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
        assert len(samples) == len(family.samples), f"{family.name}: a sample twice"
        families[family.name] = (family.type, samples)
    return families


def value(families: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    family = name.removesuffix("_total")
    return families[family][1][(name, tuple(sorted(labels.items())))]  # type: ignore[no-any-return]


def outcome(server: str, kind: OutcomeKind, duration: float | None = None) -> InstanceOutcome:
    return InstanceOutcome(server, server, kind, "why", duration=duration)


def report(*outcomes: InstanceOutcome, seconds: float = 40.0) -> HostReport:
    return HostReport("comp1", outcomes, started=T0, finished=T0 + seconds)


def failed(metrics: EvacuatorMetrics, node: str, at: float) -> None:
    """A pass that sees ``node``'s request for a failure at ``at``."""
    metrics.pass_seen({node: EvacuationRequest.in_progress("ctl1", int(at))},
                      {node: int(at)}, (), dict)


def test_every_metric_is_read_back_by_prometheus_with_its_type_labels_and_help() -> None:
    metrics = EvacuatorMetrics(FakeClock(T0), "unused.prom")
    families = parse(metrics.render())
    expected = {**{n: "counter" for n in COUNTERS}, **{n: "histogram" for n in HISTOGRAMS},
                **{n: "gauge" for n in GAUGES}}
    assert {n: t for n, (t, _) in families.items()} == expected
    for name, (label, values) in {**COUNTERS, **GAUGES}.items():
        sample = f"{name}_total" if name in COUNTERS else name
        keys = set(families[name][1])
        assert keys == {(sample, ((label, v),) if label else ()) for v in values}, name
        assert name.startswith("instanceha_")
    assert value(families, "instanceha_worker_start_time_seconds") == T0
    assert value(families, "instanceha_quorate") == 1


def histogram(families: dict, name: str) -> tuple[list[tuple[float, float]], float, float]:  # type: ignore[type-arg]
    """(le, cumulative count) in bound order, the sum and the count."""
    samples = families[name][1]
    buckets = sorted((float(dict(labels)["le"]), v) for (sample, labels), v in samples.items()
                     if sample == f"{name}_bucket")
    return buckets, samples[(f"{name}_sum", ())], samples[(f"{name}_count", ())]


def test_histograms_are_cumulative_and_their_inf_bucket_is_the_count() -> None:
    clock = FakeClock(T0)
    metrics = EvacuatorMetrics(clock)
    durations = [0.5, 3.0, 3.0, 45.0, 4000.0]
    failed(metrics, "comp1", T0)
    clock.advance(100)
    metrics.run_finished("comp1", report(*(outcome(f"s{i}", OutcomeKind.EVACUATED, d)
                                           for i, d in enumerate(durations))), done=True)
    families = parse(metrics.render())
    for name, bounds in HISTOGRAMS.items():
        buckets, _total, count = histogram(families, name)
        assert [le for le, _ in buckets] == [*bounds, float("inf")], name
        counts = [n for _, n in buckets]
        assert counts == sorted(counts), f"{name}: not cumulative"
        assert counts[-1] == count, name
    buckets, total, count = histogram(families, "instanceha_instance_evacuation_seconds")
    assert count == len(durations) and total == pytest.approx(sum(durations))
    for le, n in buckets:
        assert n == sum(d <= le for d in durations)
    buckets, total, count = histogram(families, "instanceha_evacuation_duration_seconds")
    assert (count, total) == (1, 100), "from the failure to the request done"
    assert histogram(families, "instanceha_evacuation_run_seconds")[1:] == (40, 1)


def test_a_resumed_run_does_not_count_again_what_the_first_one_did() -> None:
    clock = FakeClock(T0)
    metrics = EvacuatorMetrics(clock)
    failed(metrics, "comp1", T0)
    metrics.run_finished("comp1", report(outcome("a", OutcomeKind.EVACUATED, 5.0),
                                         outcome("b", OutcomeKind.PENDING),
                                         outcome("c", OutcomeKind.SKIPPED)), done=False)
    metrics.run_failed()
    metrics.run_finished("comp1", report(outcome("a", OutcomeKind.EVACUATED, 1.0),
                                         outcome("b", OutcomeKind.EVACUATED, 9.0),
                                         outcome("c", OutcomeKind.SKIPPED)), done=True)
    families = parse(metrics.render())
    counts = {k.value: value(families, "instanceha_evacuations_total", outcome=k.value)
              for k in OutcomeKind}
    assert counts == {"evacuated": 2, "pending": 1, "skipped": 1, "failed": 0}
    runs = {r: value(families, "instanceha_evacuation_runs_total", result=r)
            for r in ("complete", "incomplete", "error")}
    assert runs == {"complete": 1, "incomplete": 1, "error": 1}
    assert histogram(families, "instanceha_instance_evacuation_seconds")[1:] == (14, 2)
    # the same host failing again is a new incident: counted again
    failed(metrics, "comp1", T0 + 3600)
    metrics.run_finished("comp1", report(outcome("a", OutcomeKind.EVACUATED, 2.0)), done=True)
    families = parse(metrics.render())
    assert value(families, "instanceha_evacuations_total", outcome="evacuated") == 3


def test_each_fencing_of_a_compute_is_counted_once_and_only_after_the_start() -> None:
    metrics = EvacuatorMetrics(FakeClock(T0))
    kill = FenceEvent("comp1", "reboot", FenceState.SUCCESS, T0 + 10)
    history = [FenceEvent("comp2", "off", FenceState.SUCCESS, T0 - 60),  # another worker's
               FenceEvent("ctl2", "reboot", FenceState.SUCCESS, T0 + 5),  # not a compute
               FenceEvent("comp3", "on", FenceState.SUCCESS, T0 + 5),  # unfencing
               FenceEvent("comp3", "reboot", FenceState.FAILED, T0 + 5),
               kill]
    for _ in range(3):
        metrics.fencings_seen(history, {"comp1", "comp2", "comp3"})
    metrics.fencings_seen(None, {"comp1"})  # the history unreadable: nothing learnt
    assert value(parse(metrics.render()), "instanceha_fencings_total") == 1
    again = FenceEvent("comp1", "off", FenceState.SUCCESS, T0 + 900)
    metrics.fencings_seen([kill, again], {"comp1"})
    assert value(parse(metrics.render()), "instanceha_fencings_total") == 2


def test_gauges_show_the_last_pass() -> None:
    metrics = EvacuatorMetrics(FakeClock(T0), "x.prom")
    requests = {"comp1": EvacuationRequest.requested(int(T0)),
                "comp2": EvacuationRequest.requested(int(T0)),
                "comp3": EvacuationRequest.in_progress("ctl1", int(T0)),
                "comp4": EvacuationRequest.done(int(T0))}
    holds = {"comp5": "held:1", "comp6": "released:2", "comp7": "returned:3"}
    metrics.pass_seen(requests, {}, {"comp1", "comp2"}, lambda: holds)
    metrics.quorum(False)
    families = parse(metrics.render())
    assert value(families, "instanceha_requests", state="requested") == 2
    assert value(families, "instanceha_requests", state="in_progress") == 1
    assert value(families, "instanceha_held_nodes", hold="evacuation") == 2
    assert value(families, "instanceha_held_nodes", hold="fencing") == 1
    assert value(families, "instanceha_quorate") == 0


def test_the_textfile_is_replaced_whole_with_mode_0644(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "instanceha.prom"
    path.write_text("old\n")
    seen: list[tuple[str, str]] = []
    replace = os.replace

    def watching(src: str, dst: str) -> None:
        seen.append((Path(dst).read_text(), Path(src).read_text()))
        replace(src, dst)

    monkeypatch.setattr(os, "replace", watching)
    umask = os.umask(0o077)
    try:
        write_textfile(str(path), "new 1\nnew 2\n")
    finally:
        os.umask(umask)
    assert seen == [("old\n", "new 1\nnew 2\n")], "readers saw the old file until the rename"
    assert path.read_text() == "new 1\nnew 2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["instanceha.prom"]


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "instanceha.prom"
    path.write_text("old\n")

    def full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(MetricsError, match="No space left"):
        write_textfile(str(path), "new\n")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["instanceha.prom"]


def test_a_missing_directory_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "node-exporter" / "instanceha.prom"
    with pytest.raises(MetricsError) as raised:
        write_textfile(str(path), "x\n")
    assert str(raised.value) == (f"cannot write {path}: directory {path.parent} does not "
                                 "exist (is node_exporter's textfile directory there?)")


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger, handler = logging.getLogger("instanceha.evacuator"), Keep(logging.WARNING)
    logger.addHandler(handler)  # another test's logging setup may stop propagation
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


def test_flush_writes_at_start_soon_after_a_change_and_every_minute(
        tmp_path: Path, warnings: list[str]) -> None:
    clock = FakeClock(T0)
    path = tmp_path / "instanceha.prom"
    metrics = EvacuatorMetrics(clock, str(path), every=5, refresh=60)
    metrics.flush()
    assert path.exists(), "written at start"
    first = path.stat().st_mtime_ns
    metrics.run_failed()
    metrics.flush()
    assert value(parse(path.read_text()), "instanceha_evacuation_runs_total", result="error") == 0
    clock.advance(5)
    metrics.flush()
    assert value(parse(path.read_text()), "instanceha_evacuation_runs_total", result="error") == 1
    os.utime(path, ns=(first, first))
    clock.advance(30)
    metrics.flush()
    assert path.stat().st_mtime_ns == first, "nothing changed: not written"
    clock.advance(30)
    metrics.flush()
    assert path.stat().st_mtime_ns != first, "rewritten every minute: alive"
    metrics.remove()
    assert not path.exists()
    assert warnings == []


def test_a_missing_directory_is_logged_once_and_written_when_it_appears(
        tmp_path: Path, warnings: list[str]) -> None:
    clock = FakeClock(T0)
    path = tmp_path / "node-exporter" / "instanceha.prom"
    metrics = EvacuatorMetrics(clock, str(path))
    for _ in range(5):
        metrics.flush()
        clock.advance(10)
    assert len(warnings) == 1 and "does not exist" in warnings[0]
    path.parent.mkdir()
    metrics.flush()
    assert path.exists()


def test_without_a_file_nothing_is_written(tmp_path: Path) -> None:
    metrics = EvacuatorMetrics(FakeClock(T0))
    metrics.pass_seen({}, {}, (), lambda: pytest.fail("no file: no fencing holds read"))
    metrics.flush()
    metrics.remove()
    assert not metrics.enabled


# ------------------------------------------------------------ NovaEvacuate's parameter

CREDENTIALS = {"auth_url": "http://127.0.0.1:5000/v3", "username": "admin", "password": "pw",
               "project_name": "admin", "user_domain_name": "Default",
               "project_domain_name": "Default"}


def validate_all(tmp_path: Path, metrics_file: str) -> tuple[int, str]:
    env = {"OCF_RESOURCE_INSTANCE": "nova-evacuate", "HA_RSCTMP": str(tmp_path),
           "OCF_RESKEY_metrics_file": metrics_file,
           **{f"OCF_RESKEY_{k}": v for k, v in CREDENTIALS.items()}}
    err = io.StringIO()
    return run(nova_evacuate.AGENT, ["NovaEvacuate", "validate-all"], env, io.StringIO(), err), \
        err.getvalue()


@pytest.mark.parametrize("bad", ["instanceha.prom", "/var/lib/prometheus/node-exporter/x.txt"])
def test_nova_evacuate_refuses_a_metrics_file_node_exporter_would_not_read(
        tmp_path: Path, bad: str) -> None:
    rc, stderr = validate_all(tmp_path, bad)
    assert rc == OcfRc.ERR_CONFIGURED and "metrics_file" in stderr and ".prom" in stderr


def test_the_metrics_file_reaches_the_worker(tmp_path: Path) -> None:
    path = "/var/lib/prometheus/node-exporter/instanceha.prom"
    assert validate_all(tmp_path, path)[0] == OcfRc.SUCCESS
    params = nova_evacuate.SPEC.params.parse({**CREDENTIALS, "metrics_file": path})
    assert settings_from(params, "ctl1", "hb").metrics_file == path
    assert settings_from(nova_evacuate.SPEC.params.parse(CREDENTIALS), "ctl1",
                         "hb").metrics_file == ""


