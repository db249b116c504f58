"""A crashed compute on the live cluster is fenced through our agents and its evacuation recorded.

Real Pacemaker (ctl1), real pacemaker_remote hosts, real ipmi_sim BMCs and the
installed ``fence_ipmi``, ``fence_nova`` and post-fence alert agent (``make
install``). Each test adds its own fence devices, fencing levels for comp1 and
alerts on top of the ``cluster_lab`` configuration, crashes comp1 (its OS
dies, its BMC keeps reporting power on), and checks who fenced it, who
recorded the durable evacuation request, and that comp1 comes back. The
fixture's configuration is put back afterwards.
"""

from __future__ import annotations

import re
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from instanceha.cib.templates import Templates, attr
from instanceha.cluster import (
    EvacuationRequest,
    EvacuationState,
    FenceHistory,
    NodeAttributes,
    successes_since,
)
from instanceha.cluster.attribute_names import EVACUATE_ATTRIBUTE
from labs.agents import ROOT, install_project
from labs.cluster_lab import ClusterLab, LabHost

pytestmark = [pytest.mark.integration, pytest.mark.lab]

ALERT_AGENT = Path("/usr/lib/instanceha/alert_fence_event")
INSTALLED = (Path("/usr/sbin/fence_ipmi"), Path("/usr/sbin/fence_nova"), ALERT_AGENT)
VICTIM = "comp1"
#: Keystone on a closed port: every Nova call is refused at once.
CLOSED_KEYSTONE = "http://127.0.0.1:9/v3"
NOVA_CREDENTIALS = {
    "username": "admin",
    "password": "lab-unused",
    "project_name": "admin",
    "user_domain_name": "Default",
    "project_domain_name": "Default",
}


# -- fixtures -----------------------------------------------------------------------


def _installed_package() -> Path:
    """Where the agents' python3 finds instanceha (a clean environment, as Pacemaker runs them)."""
    out = subprocess.run(
        ["/usr/bin/python3", "-c", "import instanceha; print(instanceha.__file__)"],
        capture_output=True, text=True, cwd="/", env={"PATH": "/usr/sbin:/usr/bin"},
        timeout=30, check=False,
    )  # fmt: skip
    return Path(out.stdout.strip()).parent if out.returncode == 0 else Path("/nonexistent")


def _install_is_current() -> bool:
    if not all(p.exists() for p in INSTALLED):
        return False
    source, installed = ROOT / "lib" / "instanceha", _installed_package()
    return all(
        (installed / f.relative_to(source)).is_file()
        and (installed / f.relative_to(source)).read_bytes() == f.read_bytes()
        for f in source.rglob("*.py")
    )


@pytest.fixture(scope="module")
def installed(cluster_lab: ClusterLab) -> None:
    """The agents Pacemaker runs are this tree's (``make install`` when they are not)."""
    if not _install_is_current():
        install_project()
    assert _install_is_current()


@pytest.fixture
def lab(cluster_lab: ClusterLab, installed: None) -> Iterator[ClusterLab]:
    """The module's lab, every host online; afterwards comp1's request is cleared, comp1 is
    online again and the configuration is the fixture's (devices, levels, alerts removed)."""
    cluster_lab.wait_hosts_online(timeout=60)
    saved = cluster_lab.cib()
    try:
        yield cluster_lab
    finally:
        NodeAttributes(cluster_lab.runner()).delete(VICTIM, EVACUATE_ATTRIBUTE)
        cluster_lab.wait_hosts_online([VICTIM], timeout=60, settle=False)
        cluster_lab.push_cib(saved)
        cluster_lab.wait_hosts_online(timeout=60)


@dataclass
class PacemakerLog:
    """pacemaker.log from the moment the test started."""

    path: Path
    start: int = 0

    @classmethod
    def of(cls, lab: ClusterLab) -> PacemakerLog:
        path = lab.default_controller().pacemaker_log
        return cls(path, path.stat().st_size)

    def text(self) -> str:
        with self.path.open(encoding="utf-8", errors="replace") as log:
            log.seek(self.start)
            return log.read()

    def fence_results(self, target: str) -> list[tuple[str, str, int]]:
        """``(action, device, rc)`` of every device execution against ``target``, in order."""
        pattern = re.compile(
            rf"Operation '(\w+)' \[\d+\] targeting {re.escape(target)} using (\S+) returned (-?\d+)"
        )
        return [(m[1], m[2], int(m[3])) for m in pattern.finditer(self.text())]

    def fencing_completed(self, target: str) -> float | None:
        """When pacemaker-fenced finished the first successful reboot of ``target`` (UNIX
        time, millisecond precision; the fencing history has whole seconds only)."""
        pattern = re.compile(
            rf"^(\w{{3}} +\d+ [\d:.]+) .*\(finalize_op\).*Operation 'reboot' targeting "
            rf"{re.escape(target)} by \S+ for \S+: OK", re.M,
        )  # fmt: skip
        match = pattern.search(self.text())
        if match is None:
            return None
        year = time.localtime().tm_year
        return datetime.strptime(f"{year} {match[1]}", "%Y %b %d %H:%M:%S.%f").timestamp()

    def alert_said(self, what: str) -> bool:
        """Whether our alert agent logged ``what`` (pacemaker-execd logs its stderr)."""
        return any(
            "instanceha-fence-event[" in line and f"instanceha-alert: INFO: {what}" in line
            for line in self.text().splitlines()
        )


@pytest.fixture
def pacemaker_log(lab: ClusterLab) -> PacemakerLog:
    return PacemakerLog.of(lab)


@pytest.fixture
def silent_keystone(lab: ClusterLab) -> Iterator[str]:
    """A Keystone URL whose TCP port accepts connections but never answers (a hung Nova), on
    the loopback of the controller that runs the fence agents."""
    # connections complete in the kernel's backlog; nothing ever reads
    with lab.listen_in(lab.default_controller().name) as sock:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v3"


def agent_log_time(debug_file: Path, text: str) -> float:
    """When a fence agent's debug_file line containing ``text`` was logged (UNIX time)."""
    for line in debug_file.read_text().splitlines():
        if text in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.timestamp()
    raise AssertionError(f"{text!r} not in {debug_file}")


# -- configuration --------------------------------------------------------------------


def _options(opts: Mapping[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in opts.items()]


def ipmi_options(host: LabHost, **overrides: str) -> dict[str, str]:
    """Our fence_ipmi against the host's BMC (password from the lab's password_script)."""
    opts = host.fence_ipmi_options()
    if "password" in overrides:
        del opts["password_script"]
    return {**opts, **overrides}


def nova_options(debug_file: Path, auth_url: str = CLOSED_KEYSTONE, **extra: str) -> dict[str, str]:
    """fence_nova for every compute, with explicit credentials and its own debug log."""
    return {
        "auth_url": auth_url,
        **NOVA_CREDENTIALS,
        "nova_timeout": "3",
        "debug_file": str(debug_file),
        "pcmk_host_list": "comp1,comp2",
        **extra,
    }


def fencing_alert() -> ET.Element:
    """The project's post-fence alert (``select_fencing``), from its CIB template."""
    xml = Templates().fill(
        "alert", path=attr(str(ALERT_AGENT)), timeout="30s", instance_attributes="",
        recipients="",
    )  # fmt: skip
    return ET.fromstring(xml)


def configure_fencing(
    lab: ClusterLab,
    devices: Mapping[str, tuple[str, Mapping[str, str]]],
    levels: Sequence[Sequence[str]],
    *,
    alert: bool = False,
    broken: Sequence[str] = (),
) -> None:
    """Add stonith ``devices`` ({id: (agent, options)}), comp1's fencing ``levels`` (level 1
    first) and optionally the post-fence alert; one push, then wait until every device but
    the ``broken`` ones (whose start, i.e. first monitor, fails) is started.

    pcs validates every device against the installed agent's metadata. The alert is
    added from the project's template: pcs cannot express ``select_fencing``.
    """
    with lab.offline_cib() as cib:
        for rid, (agent, opts) in devices.items():
            lab.pcs("stonith", "create", rid, agent, *_options(opts),
                    "op", "monitor", "interval=60s", cib_file=cib)  # fmt: skip
        for index, level in enumerate(levels, start=1):
            lab.pcs("stonith", "level", "add", str(index), VICTIM, *level, cib_file=cib)
        if alert:
            tree = ET.parse(cib)
            conf = tree.getroot().find("configuration")
            assert conf is not None
            alerts = conf.find("alerts")
            if alerts is None:
                alerts = ET.SubElement(conf, "alerts")
            alerts.append(fencing_alert())
            tree.write(cib, encoding="unicode")
    lab.settle(60)
    status = lab.crm_mon()
    for rid in devices:
        started = status.started(rid)
        assert started != (rid in broken), f"{rid}: {status.resources.get(rid)}"


# -- one crash ------------------------------------------------------------------------


@dataclass
class Crash:
    """comp1 crashed at ``at``; the distinct request values seen since, with when."""

    lab: ClusterLab
    log: PacemakerLog
    host: LabHost
    at: float
    values: list[tuple[float, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, lab: ClusterLab, log: PacemakerLog, name: str = VICTIM) -> Crash:
        """Crash the host's OS: its processes die, its BMC still reports power on."""
        left = NodeAttributes(lab.runner()).get(name, EVACUATE_ATTRIBUTE)
        assert left is None, "a request is left over"
        crash = cls(lab, log, lab.host(name), time.time())
        lab.kill_host(name)
        return crash

    def poll(self) -> str | None:
        value = NodeAttributes(self.lab.runner()).get(self.host.name, EVACUATE_ATTRIBUTE)
        if value is not None and (not self.values or self.values[-1][1] != value):
            self.values.append((time.time(), value))
        return value

    def watch_until(self, predicate: Callable[[], object], what: str, timeout: float = 30) -> None:
        """Wait for ``predicate``, polling the request all along."""
        self.lab.wait_for(lambda: (self.poll(), predicate())[1], timeout, what, interval=0.05)

    def wait_for_request(self, timeout: float = 30) -> EvacuationRequest:
        """The request, once recorded; it is a fresh ``requested`` one."""
        raw = self.lab.wait_for(self.poll, timeout, f"the evacuation request of {self.host.name}",
                                interval=0.05)  # fmt: skip
        self.timings["request recorded"] = self.values[0][0] - self.at
        assert raw is not None
        request = EvacuationRequest.decode(raw)
        assert request.state is EvacuationState.REQUESTED
        assert int(self.at) <= request.since <= time.time() + 1
        return request

    def assert_fenced_through_the_bmc(self) -> None:
        """A successful reboot of the host in the fencing history, and the BMC really
        power-cycled it."""
        history = FenceHistory(self.lab.runner())
        fenced = self.lab.wait_for(
            lambda: [e for e in successes_since(history.events(self.host.name), int(self.at))
                     if e.target == self.host.name and e.action == "reboot"],
            30, f"a successful fencing of {self.host.name}",
        )  # fmt: skip
        assert fenced[-1].delegate == "ctl1"
        self.watch_until(lambda: len(self.power_events()) >= 2, "the BMC power cycle")
        events = self.power_events()
        assert [what for _, what in events[:2]] == ["power-off", "power-on"]
        done = self.lab.wait_for(lambda: self.log.fencing_completed(self.host.name), 10,
                                 "the fencing's completion in pacemaker.log")  # fmt: skip
        self.timings["powered off"] = events[0][0] - self.at
        assert done is not None
        self.timings["fencing complete"] = done - self.at

    def power_events(self) -> list[tuple[float, str]]:
        return [(t, what) for t, what in self.host.power_events() if t >= self.at]

    def recover(self) -> None:
        """The host comes back online after reconnect_interval, its request still there
        (shown by ``crm_mon -A``); then the request is cleared, as the evacuator does once
        done."""
        self.lab.wait_hosts_online([self.host.name], timeout=60, settle=False)
        self.timings["online again"] = time.time() - self.at
        self.poll()
        assert [v for _, v in self.values] == [self.values[0][1]], "one request, never rewritten"
        shown = self.lab.crm_mon().node(self.host.name).attributes
        assert shown.get(EVACUATE_ATTRIBUTE) == self.values[0][1]
        NodeAttributes(self.lab.runner()).delete(self.host.name, EVACUATE_ATTRIBUTE)
        assert NodeAttributes(self.lab.runner()).get(self.host.name, EVACUATE_ATTRIBUTE) is None

    def report(self, scenario: str) -> None:
        """One line of timings, counted from the crash."""
        steps = ", ".join(f"{what} {t:.2f} s" for what, t in sorted(self.timings.items(),
                                                                    key=lambda kv: kv[1]))
        print(f"\n{scenario}: after the crash: {steps}")


# -- the scenarios ----------------------------------------------------------------------


def test_fence_ipmi_then_fence_nova_record_the_request_once_with_the_alert(
    lab: ClusterLab, pacemaker_log: PacemakerLog, tmp_path: Path
) -> None:
    """The product topology: level 1 = power device + fence_nova, and the post-fence alert.

    fence_nova records the request right after the power-off; the alert fires
    for the same fencing, finds it pending and leaves it alone. Keystone is
    unreachable (closed port): Nova cannot be told, fencing succeeds anyway.
    """
    nova_log = tmp_path / "fence_nova.log"
    host = lab.host(VICTIM)
    configure_fencing(
        lab,
        {"fence-ipmi-comp1": ("fence_ipmi", ipmi_options(host)),
         "fence-nova": ("fence_nova", nova_options(nova_log))},
        [("fence-ipmi-comp1", "fence-nova")],
        alert=True,
    )  # fmt: skip

    crash = Crash.of(lab, pacemaker_log)
    crash.wait_for_request()
    crash.assert_fenced_through_the_bmc()

    # the alert ran for this fencing and found the request already pending ...
    crash.watch_until(
        lambda: pacemaker_log.alert_said(f"evacuation of {VICTIM} already pending"),
        "the alert's verdict",
    )
    # ... so the request is fence_nova's, recorded once (one value since the crash)
    assert len(crash.values) == 1
    assert f"INFO: evacuation of {VICTIM} requested" in nova_log.read_text()
    assert not pacemaker_log.alert_said(f"evacuation of {VICTIM} requested")

    # our devices fenced it, in level order: power off first, then fence_nova; the
    # session's fence_ipmilan device (fence-comp1) is not in comp1's topology
    results = pacemaker_log.fence_results(VICTIM)
    assert ("off", "fence-ipmi-comp1", 0) in results and ("off", "fence-nova", 0) in results
    assert results.index(("off", "fence-ipmi-comp1", 0)) < results.index(("off", "fence-nova", 0))
    assert all(device != "fence-comp1" for _, device, _ in results)
    assert "Nova not told (cannot reach Keystone" in nova_log.read_text()

    crash.recover()
    crash.report("fence_ipmi + fence_nova")


def test_without_fence_nova_the_alert_records_the_request(
    lab: ClusterLab, pacemaker_log: PacemakerLog
) -> None:
    """Only the power device in the topology: the post-fence alert records the request."""
    host = lab.host(VICTIM)
    configure_fencing(
        lab, {"fence-ipmi-comp1": ("fence_ipmi", ipmi_options(host))}, [("fence-ipmi-comp1",)],
        alert=True,
    )  # fmt: skip

    crash = Crash.of(lab, pacemaker_log)
    crash.wait_for_request()
    crash.assert_fenced_through_the_bmc()
    crash.watch_until(lambda: pacemaker_log.alert_said(f"evacuation of {VICTIM} requested"),
                      "the alert's log line")  # fmt: skip
    # the alert runs once the fencing is over
    assert crash.timings["request recorded"] > crash.timings["fencing complete"]
    # a one-device level: the device reboots the host itself (no off/on remapping)
    assert set(pacemaker_log.fence_results(VICTIM)) == {("reboot", "fence-ipmi-comp1", 0)}

    crash.recover()
    crash.report("alert only")


def test_a_failing_first_level_falls_through_to_the_next(
    lab: ClusterLab, pacemaker_log: PacemakerLog, tmp_path: Path
) -> None:
    """Level 1's power device has a wrong BMC password; level 2 (the right one) fences.

    The broken device fails its start (the first monitor logs in), yet Pacemaker
    still tries it when fencing, as it would a BMC that broke after its last
    monitor. fence_nova, after the power device in both levels, runs only once
    a level's power device succeeded: the request is recorded once, by level 2.
    """
    nova_log = tmp_path / "fence_nova.log"
    host = lab.host(VICTIM)
    configure_fencing(
        lab,
        {"fence-ipmi-bad-comp1": ("fence_ipmi", ipmi_options(host, password="not-the-password")),
         "fence-ipmi-comp1": ("fence_ipmi", ipmi_options(host)),
         "fence-nova": ("fence_nova", nova_options(nova_log))},
        [("fence-ipmi-bad-comp1", "fence-nova"), ("fence-ipmi-comp1", "fence-nova")],
        broken=["fence-ipmi-bad-comp1"],
    )  # fmt: skip

    crash = Crash.of(lab, pacemaker_log)
    crash.wait_for_request()
    crash.assert_fenced_through_the_bmc()

    results = pacemaker_log.fence_results(VICTIM)
    offs = [(device, rc) for action, device, rc in results if action == "off"]
    assert offs[0][0] == "fence-ipmi-bad-comp1" and offs[0][1] != 0, results
    assert offs[-2:] == [("fence-ipmi-comp1", 0), ("fence-nova", 0)], results
    assert [d for d, _ in offs].count("fence-nova") == 1, "fence_nova ran only in level 2"
    assert nova_log.read_text().count(f"powering {VICTIM} OFF") == 1

    crash.recover()
    crash.report("fallthrough")


def test_a_hung_nova_does_not_hold_up_fencing(
    lab: ClusterLab, pacemaker_log: PacemakerLog, tmp_path: Path, silent_keystone: str
) -> None:
    """Keystone accepts connections but never answers: fence_nova gives Nova
    ``nova_timeout`` seconds, then succeeds with the request recorded."""
    nova_log = tmp_path / "fence_nova.log"
    host = lab.host(VICTIM)
    configure_fencing(
        lab,
        {"fence-ipmi-comp1": ("fence_ipmi", ipmi_options(host)),
         "fence-nova": ("fence_nova", nova_options(nova_log, silent_keystone, nova_timeout="2"))},
        [("fence-ipmi-comp1", "fence-nova")],
    )  # fmt: skip

    crash = Crash.of(lab, pacemaker_log)
    crash.wait_for_request()
    crash.assert_fenced_through_the_bmc()
    assert ("off", "fence-nova", 0) in pacemaker_log.fence_results(VICTIM)
    started, gave_up = (
        agent_log_time(nova_log, f"powering {VICTIM} OFF"),
        agent_log_time(nova_log, "Nova did not answer within 2s"),
    )
    assert 2 <= gave_up - started < 5, "fence_nova waited nova_timeout for Nova, no longer"

    crash.recover()
    crash.report("hung Nova")
