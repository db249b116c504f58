"""The host report's list of servers not evacuated: order, one bounded line, read back."""

from __future__ import annotations

from instanceha.evacuation.outcome import (
    HostReport,
    InstanceOutcome,
    NotEvacuated,
    OutcomeKind,
    decode_not_evacuated,
    encode_not_evacuated,
)


def _outcome(name: str, kind: OutcomeKind, reason: str = "why") -> InstanceOutcome:
    return InstanceOutcome(f"id-{name}", name, kind, reason)


def test_servers_not_evacuated_come_failed_first_and_read_back_as_written() -> None:
    report = HostReport("comp1", (
        _outcome("web", OutcomeKind.EVACUATED),
        _outcome("tpm", OutcomeKind.SKIPPED, "not evacuable: vTPM (flavor f: hw:tpm_version=2)"),
        _outcome("db", OutcomeKind.FAILED, "still ERROR\nafter 3 attempts; giving up"),
        _outcome("big", OutcomeKind.PENDING, "deadline"),
    ), 0.0, 1.0)
    line = encode_not_evacuated(report.not_evacuated())
    assert "\n" not in line
    assert decode_not_evacuated(line) == ([
        NotEvacuated("failed", "db", "id-db", "still ERROR after 3 attempts, giving up"),
        NotEvacuated("pending", "big", "id-big", "deadline"),
        NotEvacuated("skipped", "tpm", "id-tpm",
                     "not evacuable: vTPM (flavor f: hw:tpm_version=2)"),
    ], 0)


def test_the_line_is_bounded_and_counts_what_it_leaves_out() -> None:
    outcomes = [_outcome(f"vm{i}", OutcomeKind.SKIPPED, "x" * 500) for i in range(50)]
    line = encode_not_evacuated(outcomes, limit=1000)
    entries, more = decode_not_evacuated(line)
    assert len(line) <= 1000 and entries and len(entries) + more == 50
    assert all(len(e.reason) <= 200 for e in entries)
    assert encode_not_evacuated([]) == "" and decode_not_evacuated("") == ([], 0)
    assert decode_not_evacuated("hand written") == ([NotEvacuated("?", "", "", "hand written")], 0)
