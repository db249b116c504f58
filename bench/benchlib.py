"""Shared helpers for benchmarks: timing child processes, medians, docs/benchmarks.md sections."""

from __future__ import annotations

import os
import re
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Sample:
    """Median wall time (ms) and peak RSS (MB) of repeated runs, with the exit code seen."""

    wall_ms: float
    rss_mb: float
    rc: int


def measure(argv: Sequence[str], env: Mapping[str, str], runs: int) -> Sample:
    """Run ``argv`` ``runs`` times; median wall time and peak RSS from wait4."""
    walls, rsss, rcs = [], [], []
    for _ in range(runs):
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # child: silence output, exec
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.execve(argv[0], list(argv), dict(env))
        _, status, usage = os.wait4(pid, 0)
        walls.append((time.perf_counter() - started) * 1000)
        rsss.append(usage.ru_maxrss / 1024)
        rcs.append(os.waitstatus_to_exitcode(status))
    return Sample(statistics.median(walls), statistics.median(rsss), max(set(rcs), key=rcs.count))


def write_section(name: str, body: str) -> None:
    """Replace (or append) the ``<!-- bench:name -->`` section of docs/benchmarks.md."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = f"{text.rstrip()}\n\n{block}\n"
    BENCHMARKS_MD.parent.mkdir(parents=True, exist_ok=True)
    BENCHMARKS_MD.write_text(text)
