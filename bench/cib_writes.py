#!/usr/bin/python3
"""CIB updates per evacuated instance on the end-to-end lab: this tree vs an earlier revision.

Every node attribute write is a CIB update: the CIB manager sends it to every cluster node and
the controller runs the scheduler again; a permanent attribute is also a configuration change
that every node writes to its disk. The CIB's version counts them: ``epoch`` goes up by one
with each configuration change (``num_updates`` then restarts at 0), ``num_updates`` by one
with each status-section change (transient attributes, resource history, node state), and a
write that changes nothing counts nothing.

Each round boots ``--instances`` protected servers on comp1 (one SHUTOFF), crashes comp1
(every process killed, its BMC still "on": Pacemaker fences it) and waits until its
evacuation is done, with :class:`labs.timeline.Observer`. Meanwhile a sampler reads the
version (``cibadmin --query --xpath=/cib --no-children``, the root element alone) every
``--interval`` seconds. Counted over the round's window, from the crash until
``--settle`` seconds after the request went ``done`` (the failure record is closed a pass
later):

* configuration updates: the sum of the epoch steps (exact);
* all updates: those plus the num_updates steps within one epoch and the num_updates value
  after each epoch step: a lower bound, since status updates made between a sample and an
  epoch step in the same interval are lost (rare at a 0.05 s interval);
* the writers of single-update intervals (the root's ``update-client``).

Both variants run in the same lab, rounds alternating (A B B A ...): "after" is this working
tree (what ``E2ELab`` installs), "before" is ``--before REV`` (default: the last revision
with the old write pattern), installed with ``make install`` from ``git archive REV``, then
NovaEvacuate is restarted so that its worker runs the installed code. The tree is installed
again at the end. The rest of the cluster's activity in the window (fencing, the host coming
back online and NovaCompute starting) is the same for both; configuration updates in it are
instanceha's (fence_nova's request, the evacuator's attributes).

Run as root: ``bench/cib_writes.py [--instances 20] [--rounds 2] [--before REV|none]
[--no-write]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lib"), str(ROOT / "tests"), str(ROOT / "bench")]

from benchlib import write_section  # noqa: E402
from labs.agents import install_project  # noqa: E402
from labs.cluster_lab import ClusterLab  # noqa: E402
from labs.e2e_lab import E2ELab, nova_host  # noqa: E402
from labs.nova_lab import NovaLab  # noqa: E402
from labs.timeline import ALL_INSTANCES, DONE, EVACUATING, Observer, Timeline, Watched  # noqa: E402
from recovery import boot  # noqa: E402

PROGRESS = "instanceha-evacuation-progress"
#: The last revision whose evacuator wrote progress every 2 s, the journal before every
#: evacuate call and the claim on every pass, all as permanent attributes.
BEFORE = "309a82cd4b0c"
AFTER = "after"


@dataclass(frozen=True)
class Version:
    """The CIB's version as one sample saw it."""

    at: float
    admin_epoch: int
    epoch: int
    num_updates: int
    client: str


@dataclass
class Sampler:
    """Reads the CIB's version in a thread until stopped."""

    cluster: ClusterLab
    interval: float = 0.05
    node: str = "comp1"
    samples: list[Version] = field(default_factory=list)
    progress: list[tuple[float, str, str]] = field(default_factory=list)  # (at, where, value)
    #: (at, attribute names whose permanent value changed since the previous epoch seen)
    changed: list[tuple[float, list[str]]] = field(default_factory=list)
    errors: int = 0
    _nodes: dict[tuple[str, str], str] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def read(self) -> Version | None:
        done = self.cluster.run(["cibadmin", "--query", "--xpath=/cib", "--no-children"],
                                timeout=30, check=False)  # fmt: skip
        if done.returncode != 0:
            self.errors += 1
            return None
        root = ET.fromstring(done.stdout)
        return Version(time.time(), int(root.get("admin_epoch", "0")), int(root.get("epoch", "0")),
                       int(root.get("num_updates", "0")), root.get("update-client", "?"))

    def read_nodes(self) -> dict[tuple[str, str], str] | None:
        """Permanent node attributes: (node, name) -> value."""
        done = self.cluster.run(["cibadmin", "--query", "--scope=nodes"], timeout=30,
                                check=False)  # fmt: skip
        if done.returncode != 0:
            return None
        return {
            (node.get("uname", ""), nv.get("name", "")): nv.get("value", "")
            for node in ET.fromstring(done.stdout).iter("node")
            for nv in node.iterfind("instance_attributes/nvpair")
        }

    def note_configuration(self) -> None:
        """Which permanent attributes changed since the last look (after an epoch step)."""
        nodes = self.read_nodes()
        if nodes is None:
            return
        if self._nodes is not None:
            names = sorted({key[1] for key in set(nodes) | set(self._nodes)
                            if nodes.get(key) != self._nodes.get(key)})
            self.changed.append((time.time(), names))
        self._nodes = nodes

    def read_progress(self) -> None:
        """The progress attribute of :attr:`node` as the CIB holds it, transient or permanent."""
        xpath = (f"//node[@uname='{self.node}']//nvpair[@name='{PROGRESS}']"
                 f"|//node_state[@uname='{self.node}']//nvpair[@name='{PROGRESS}']")
        done = self.cluster.run(["cibadmin", "--query", f"--xpath={xpath}"], timeout=30,
                                check=False)  # fmt: skip
        if done.returncode != 0:
            return  # none (rc 105), or busy
        text = done.stdout.strip()
        root = ET.fromstring(f"<r>{text}</r>")
        for nv in root.iter("nvpair"):
            where = "transient" if nv.get("id", "").startswith("status-") else "permanent"
            value = nv.get("value", "")
            if not any(p[1:] == (where, value) for p in self.progress):
                self.progress.append((time.time(), where, value))

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cib-version", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        n = 0
        self.note_configuration()
        while True:
            version = self.read()
            if version is not None:
                last = self.samples[-1] if self.samples else None
                self.samples.append(version)
                if last is not None and (last.admin_epoch, last.epoch) != (
                        version.admin_epoch, version.epoch):
                    self.note_configuration()
            n += 1
            if n % 5 == 0:
                self.read_progress()
            if self._stop.wait(self.interval):
                return


@dataclass(frozen=True)
class Counts:
    """CIB updates in one window."""

    config: int
    status: int  # at least
    writers: dict[str, int]  # update-client of single configuration updates
    attributes: dict[str, int] = field(default_factory=dict)  # permanent ones seen changing

    @property
    def total(self) -> int:
        return self.config + self.status


def count(samples: list[Version], start: float, end: float,
          changed: Sequence[tuple[float, list[str]]] = ()) -> Counts:
    """Updates between the last sample before ``start`` and the last one before ``end``;
    ``changed``: the permanent attributes seen changing, counted once per look."""
    before = [s for s in samples if s.at <= start]
    window = [s for s in samples if start < s.at <= end]
    series = before[-1:] + window
    config = status = 0
    writers: Counter[str] = Counter()
    for prev, cur in zip(series, series[1:], strict=False):
        if (cur.admin_epoch, cur.epoch) != (prev.admin_epoch, prev.epoch):
            steps = cur.epoch - prev.epoch if cur.admin_epoch == prev.admin_epoch else 1
            config += steps
            status += cur.num_updates
            if steps == 1:  # the root names the client of the last configuration change
                writers[cur.client] += 1
        else:
            status += cur.num_updates - prev.num_updates
    attributes: Counter[str] = Counter()
    for at, names in changed:
        if start < at <= end:
            attributes.update(names)
    return Counts(config, status, dict(writers), dict(attributes))


@dataclass(frozen=True)
class Round:
    variant: str
    instances: int
    counts: Counts
    claimed: float  # seconds after the crash
    back: float  # all instances back
    done: float  # request done
    window: float
    progress: dict[str, int]  # progress values seen in the CIB in the window, by lifetime


def installed_variant() -> str:
    """Which write pattern the installed evacuator has (``claim_renewal`` came with the change)."""
    done = subprocess.run(
        ["/usr/bin/python3", "-c", "import instanceha.evacuator.worker as w; print(w.__file__)"],
        capture_output=True, text=True, timeout=60, check=True, cwd="/",
    )  # fmt: skip
    source = Path(done.stdout.strip()).read_text()
    return AFTER if "claim_renewal" in source else "before"


def install_revision(rev: str) -> None:
    """``make install`` from ``git archive rev``."""
    with tempfile.TemporaryDirectory(prefix="cib-writes-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev],
                                 capture_output=True, timeout=120, check=True)  # fmt: skip
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, timeout=120, check=True)
        done = subprocess.run(["make", "-s", "-C", tmp, "install"], capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"make install of {rev} failed: {done.stderr.strip()[-1000:]}")


def switch(lab: E2ELab, variant: str, before: str) -> None:
    """Install ``variant`` and restart NovaEvacuate so that its worker runs it."""
    if installed_variant() == variant:
        return
    if variant == AFTER:
        install_project()
    else:
        install_revision(before)
    lab.cluster.run(["crm_resource", "--restart", "--resource", "nova-evacuate",
                     "--timeout=120s"], timeout=180)  # fmt: skip
    lab.cluster.wait_for(lambda: bool(lab.cluster.crm_mon().running_on("nova-evacuate")), 120,
                         "NovaEvacuate running")  # fmt: skip
    if installed_variant() != variant:
        raise RuntimeError(f"wanted the {variant} evacuator, {installed_variant()} is installed")


def request_done(timeline: Timeline) -> float | None:
    for event in sorted(timeline.events, key=lambda e: e.at):
        if event.kind == DONE and "=done:" in event.text:
            return event.at
    return None


def crash_round(lab: E2ELab, variant: str, count_: int, settle: float, interval: float) -> Round:
    servers = boot(lab.nova, count_)
    # a permanent progress left by the before variant: the after one would withdraw it (an
    # upgrade's one-off update), not part of its steady write pattern
    lab.cluster.run(["crm_attribute", "--node", "comp1", "--name", PROGRESS, "--lifetime",
                     "forever", "--delete"], check=False)  # fmt: skip
    watched = Watched(lab.cluster.host("comp1"), nova_host(1), servers)
    observer = Observer(lab.cluster, lab.nova, [watched])
    sampler = Sampler(lab.cluster, interval)
    sampler.start()
    time.sleep(1.0)  # a few samples of the quiet cluster first
    observer.start("crash")
    lab.cluster.kill_host("comp1")
    try:
        observer.wait(lambda t: request_done(t) is not None and bool(t.first(ALL_INSTANCES)),
                      300, "evacuation done")  # fmt: skip
        time.sleep(settle)
    finally:
        timeline = observer.stop()
        sampler.stop()
    t0 = timeline.t0
    done = request_done(timeline) or time.time()
    counts = count(sampler.samples, t0, done + settle, sampler.changed)
    print(f"{variant}: {counts} ({sampler.errors} failed samples, {len(sampler.samples)} taken)",
          flush=True)  # fmt: skip
    print(timeline.render(), flush=True)
    for at, where, value in sampler.progress:
        print(f"  +{at - t0:7.2f}s  progress ({where}): {value}", flush=True)
    lab.wait_ready(timeout=180)
    lab.nova.delete_all_servers()
    lab.nova.wait_schedulable(1)
    seen = Counter(where for at, where, _ in sampler.progress if t0 < at <= done + settle)
    return Round(variant, count_, counts, timeline.since(EVACUATING) or 0.0,
                 timeline.since(ALL_INSTANCES) or 0.0, done - t0, done + settle - t0,
                 dict(seen))


def order(rounds: int, before: str | None) -> list[str]:
    """A B B A ... (one install per switch), or only the tree."""
    if before is None:
        return [AFTER] * rounds
    pairs = [[AFTER, "before"] if i % 2 == 0 else ["before", AFTER] for i in range(rounds)]
    return [v for pair in pairs for v in pair]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="rounds per variant")
    parser.add_argument("--before", default=BEFORE, help="revision to compare with, or 'none'")
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    before = None if args.before == "none" else args.before
    started = time.monotonic()

    nova = NovaLab(ncompute=3)
    rounds: list[Round] = []
    with nova.exclusive():
        nova.ensure_running()
        nova.reset()
        lab = E2ELab(nova, hosts=3)
        with lab.running():
            try:
                for variant in order(args.rounds, before):
                    switch(lab, variant, before or "")
                    rounds.append(crash_round(lab, variant, args.instances, args.settle,
                                              args.interval))  # fmt: skip
            finally:
                if installed_variant() != AFTER:
                    install_project()
            inventory = lab.inventory()
    body = report(rounds, before, args, inventory, time.monotonic() - started)
    print(body)
    if not args.no_write:
        write_section("cib_writes", body)
    return 0


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(rounds: list[Round], before: str | None, args: argparse.Namespace,
           inventory: dict[str, object], wall: float) -> str:
    rows = []
    for i, r in enumerate(rounds, 1):
        c = r.counts
        rows.append(
            f"| {i} | {r.variant} | {c.config} | {c.total} | {c.config / r.instances:.2f} "
            f"| {c.total / r.instances:.2f} | {r.claimed:.1f} | {r.back:.1f} | {r.done:.1f} "
            f"| {r.window:.1f} |"
        )
    variants = [v for v in (AFTER, "before") if any(r.variant == v for r in rounds)]
    by = {v: [r for r in rounds if r.variant == v] for v in variants}
    medians = {
        v: (_med([r.counts.config / r.instances for r in by[v]]),
            _med([r.counts.total / r.instances for r in by[v]]),
            _med([r.back for r in by[v]]))
        for v in variants
    }
    summary = [
        f"| {v} | {medians[v][0]:.2f} | {medians[v][1]:.2f} | {medians[v][2]:.1f} |"
        for v in variants
    ]
    names = sorted({n for r in rounds for n in r.counts.attributes},
                   key=lambda n: -max(r.counts.attributes.get(n, 0) for r in rounds))
    per_attribute = [
        f"| `{n}` | " + " | ".join(
            " / ".join(str(r.counts.attributes.get(n, 0)) for r in by[v]) for v in variants
        ) + " |"
        for n in names
    ]
    writers: dict[str, Counter[str]] = {v: Counter() for v in variants}
    progress: dict[str, Counter[str]] = {v: Counter() for v in variants}
    for r in rounds:
        writers[r.variant].update(r.counts.writers)
        progress[r.variant].update(r.progress)
    writer_lines = [
        f"- {v}: " + ", ".join(f"{name} {n}" for name, n in writers[v].most_common())
        for v in variants
    ]
    progress_lines = [
        f"- {v}: " + (", ".join(f"{n} {where}" for where, n in progress[v].most_common())
                      or "none")
        for v in variants
    ]
    ratio = ""
    if "before" in medians and medians["before"][0]:
        a, b = medians[AFTER], medians["before"]
        ratio = (f"After / before, per instance: configuration updates {a[0] / b[0]:.2f}x, "
                 f"all updates {a[1] / b[1]:.2f}x.")
    return "\n".join([
        "## CIB updates per evacuated instance (end-to-end lab, `bench/cib_writes.py`)",
        "",
        f"`bench/cib_writes.py --instances {args.instances} --rounds {args.rounds}`: "
        f"{args.instances} protected instances on comp1 ({args.instances - 1} ACTIVE, 1 "
        "SHUTOFF), comp1 crashed (every process killed, BMC still on). CIB updates counted "
        f"from the crash until {args.settle:.0f} s after the request went `done`, from the "
        f"CIB's version sampled every {args.interval} s (`cibadmin --query --xpath=/cib "
        "--no-children`): configuration updates = epoch steps (exact: permanent attributes), "
        "all updates = those plus the status section's num_updates steps (a lower bound). "
        f"after = this tree; before = `{before or '-'}` (the last revision with the old write "
        "pattern: progress every 2 s, the journal before every evacuate call, the claim "
        "renewed every pass, all permanent), installed with `make install` in the same lab, "
        "NovaEvacuate restarted; rounds alternate. Seconds are from the crash.",
        "",
        "| round | variant | configuration updates | all updates | configuration / instance "
        "| all / instance | claimed (s) | all instances back (s) | done (s) | window (s) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "| variant | configuration updates / instance (median) | all updates / instance "
        "(median) | all instances back (s, median) |",
        "|---|---:|---:|---:|",
        *summary,
        "",
        ratio,
        "",
        "Permanent attributes seen changing, per round (the nodes section read after each "
        "epoch step; several changes of one attribute between two looks count once):",
        "",
        "| attribute | " + " | ".join(f"{v} (rounds)" for v in variants) + " |",
        "|---|" + "---:|" * len(variants),
        *per_attribute,
        "",
        "Clients of the configuration updates (the CIB root's `update-client` after a single "
        "epoch step):",
        "",
        *writer_lines,
        "",
        "Distinct progress values seen in the CIB during the windows (sampled every "
        f"{5 * args.interval:.2f} s), by lifetime:",
        "",
        *progress_lines,
        "",
        "NovaEvacuate poll_interval=1 s, max_parallel=20, takeover_after=60 s; the window "
        "also holds the cluster's own updates (fencing, the host coming back online at about "
        "11 s, NovaCompute starting after `done`), the same for both variants; remote "
        f"connection {inventory.get('remote')}. Bench wall time {wall:.0f} s.",
    ])


if __name__ == "__main__":
    sys.exit(main())
