"""status rows, the evacuate safety rule and the preflight checks, on synthetic data."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from fakes.memory_cib import MemoryAttributes
from instanceha.cib.inventory import load_inventory
from instanceha.cib.preflight import (
    Status,
    check_agents,
    check_bmc_secrets,
    check_controllers_fencing,
    check_credentials,
    check_drift,
    check_stonith_enabled,
    check_tools,
)
from instanceha.cib.render import render_cib
from instanceha.cib.status import ClusterView, compute_rows, gather_cluster
from instanceha.cib.transition import NodeState
from instanceha.cli import evacuate_cmd, status_cmd
from instanceha.cli import main as cli_main
from instanceha.cli.common import CliError, ExitCode, Io, agents_env
from instanceha.cli.evacuate_cmd import why_down
from instanceha.cluster import EvacuationRequests, FenceEvent, FenceState
from instanceha.cluster.runner import RunResult
from instanceha.manpages.cli import manpage
from instanceha.nova.model import ComputeService

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "cib"
T0 = 1_800_000_000.0


def _view(**kw: object) -> ClusterView:
    values: dict[str, object] = {
        "nodes": (NodeState("ctl1", "member", True), NodeState("comp1", "remote", False),
                  NodeState("comp2", "remote", True)),
        "running": {"libvirtd": ("comp2",), "nova-compute": ("comp2",)},
        "attributes": {"comp1": {"instanceha-evacuate": f"in-progress:ctl1:{int(T0) + 5}",
                                 "instanceha-evacuation-progress": "3/5 done"},
                       "comp2": {"instanceha-nova-host": "nova-2"}},
        "fencing": (FenceEvent("comp1", "reboot", FenceState.SUCCESS, T0, delegate="ctl1"),),
        "evacuate_params": {"domain": "example.com"},
    }
    values.update(kw)
    return ClusterView(**values)  # type: ignore[arg-type]


def test_rows_combine_every_source() -> None:
    services = {"comp1.example.com": ComputeService("1", "comp1.example.com", "nova-compute",
                                                    "down", "disabled", True, "instanceha: x")}
    rows = {r.node: r for r in compute_rows(_view(), [], services)}
    one, two = rows["comp1"], rows["comp2"]
    assert (one.nova_host, one.pacemaker, one.services) == (
        "comp1.example.com", "offline", "(nova-compute held back until the evacuation is done)")
    assert one.last_fencing == "reboot ok 2027-01-15 08:00:00Z by ctl1"
    assert one.evacuation == "in-progress by ctl1 since 2027-01-15 08:00:05Z; 3/5 done"
    assert one.nova == "down disabled forced down (instanceha: x)"
    assert (two.nova_host, two.services, two.nova) == ("nova-2", "libvirtd nova-compute",
                                                       "no nova-compute service")
    assert compute_rows(_view(), ["comp9"], None)[0].pacemaker == "not in cluster"
    done = _view(attributes={"comp1": {"instanceha-evacuate": f"done:{int(T0)}"}})
    assert compute_rows(done, ["comp1"], None)[0].services == "none"
    assert compute_rows(_view(), ["comp2"], None)[0].nova == "?"


def test_evacuate_needs_fenced_and_offline_or_forced_down() -> None:
    view = _view(attributes={})
    assert why_down(view, "comp1", None) == "fenced (reboot succeeded)"
    assert why_down(view, "comp2", None) is None  # online
    assert why_down(view, "comp2", True) is None  # online: only with --force
    assert why_down(view, "comp2", True, force=True) == "forced down in Nova (online: --force)"
    handled = _view(attributes={"comp1": {"instanceha-evacuate": f"done:{int(T0) + 60}"}})
    assert why_down(handled, "comp1", False) is None  # that fencing was already evacuated
    assert why_down(_view(fencing=()), "comp1", False) is None


class Runner:
    """Canned answers for the three tools gather_cluster runs."""

    def __init__(self, cib: str) -> None:
        self.cib = cib

    def run(self, argv: Sequence[str], *, timeout: float) -> RunResult:
        out = {
            "crm_mon": """<pacemaker-result><nodes>
              <node name="comp1" online="true" unclean="false" type="remote"/></nodes>
              <resources><clone id="x"><resource id="libvirtd" active="true" failed="false"
              resource_agent="ocf:instanceha:libvirtd"><node name="comp1"/></resource></clone>
              </resources><status code="0" message="OK"/></pacemaker-result>""",
            "cibadmin": self.cib,
            "stonith_admin": """<pacemaker-result><list name="fencing history">
              <fence_event action="reboot" target="comp1" status="success" delegate="ctl1"
               completed="2026-11-20 22:57:33Z"/></list><status code="0"/></pacemaker-result>""",
        }[argv[0]]
        return RunResult(tuple(argv), 0, out, "")


def test_gather_cluster_reads_three_tools() -> None:
    cib = render_cib(load_inventory(GOLDEN / "inventory-small.yaml"))
    view = gather_cluster(Runner(cib))
    assert view.running == {"libvirtd": ("comp1",)}
    assert view.attributes["comp1"]["instanceha-role"] == "compute"
    assert view.evacuate_params["cloud"] == "overcloud"
    row = compute_rows(view, [], None)[0]
    assert (row.node, row.nova_host, row.services) == ("comp1", "comp1.example.com", "libvirtd")


def test_local_checks(tmp_path: Path) -> None:
    assert check_tools(lambda tool: f"/usr/sbin/{tool}").status is Status.PASS
    assert check_tools(lambda tool: None).status is Status.FAIL
    inv = load_inventory(GOLDEN / "inventory-small.yaml")
    missing = check_agents(inv, lambda path: "fence_nova" not in path)
    assert missing.status is Status.FAIL and "/usr/sbin/fence_nova" in missing.detail
    assert check_controllers_fencing(inv).status is Status.PASS

    good = tmp_path / "pw"
    good.write_text("x")
    good.chmod(0o600)

    def lstat_as_root(path: str) -> os.stat_result:
        real = os.lstat(good if path.startswith("/etc/instanceha/") else path)
        fields = list(real)
        fields[4] = 0  # st_uid
        return os.stat_result(fields)

    secrets = check_bmc_secrets(inv, lstat_as_root)
    # comp3 uses a password_script that does not exist on this machine
    assert secrets.status is Status.FAIL and secrets.detail.startswith("comp3: password_script")
    good.chmod(0o644)
    leaky = check_bmc_secrets(inv, lstat_as_root)
    assert "readable by others (chmod 600)" in leaky.detail


def test_live_cib_checks() -> None:
    rendered = render_cib(load_inventory(GOLDEN / "inventory-small.yaml"))
    assert check_stonith_enabled(rendered).status is Status.PASS
    assert check_drift(rendered, rendered).status is Status.PASS
    drifted = rendered.replace('name="max_parallel" value="8"', 'name="max_parallel" value="2"')
    drift = check_drift(rendered, drifted)
    assert drift.status is Status.WARN
    assert drift.detail.startswith("resource nova-evacuate differs (params)")
    disabled = rendered.replace('name="stonith-enabled" value="true"',
                                'name="stonith-enabled" value="false"')
    assert check_stonith_enabled(disabled).status is Status.FAIL


def test_credentials_are_checked_in_the_clouds_yaml_the_agents_use(tmp_path: Path) -> None:
    clouds = tmp_path / "agents-clouds.yaml"
    clouds.write_text("clouds:\n  lab:\n    auth:\n      auth_url: http://192.0.2.1:5000/v3\n"
                      "      username: u\n      password: p\n      project_name: p\n"
                      "      user_domain_name: Default\n      project_domain_name: Default\n")
    env = {"HOME": str(tmp_path)}
    assert check_credentials("lab", env).status is Status.FAIL  # not in the default places
    found = check_credentials("lab", agents_env(env, str(clouds)))
    assert found.status is Status.PASS and "192.0.2.1" in found.detail
    chosen = {**env, "OS_CLIENT_CONFIG_FILE": "/elsewhere.yaml"}
    assert agents_env(chosen, str(clouds)) == chosen  # the admin's choice wins


def _evacuate(monkeypatch: pytest.MonkeyPatch, view: ClusterView, *argv: str,
              forced_down: bool | None = None) -> tuple[int, str, MemoryAttributes]:
    """``instanceha evacuate ARGV`` against ``view``, an in-memory CIB and Nova's verdict."""
    attrs = MemoryAttributes()
    for node, values in view.attributes.items():
        for name, value in values.items():
            attrs.set(node, name, value)
    monkeypatch.setattr(evacuate_cmd, "read_cluster", lambda: view)
    monkeypatch.setattr(evacuate_cmd, "NodeAttributes", lambda: attrs)
    monkeypatch.setattr(evacuate_cmd, "EvacuationRequests", lambda: EvacuationRequests(attrs))

    def services(_view: object, _cloud: object, _env: object) -> dict[str, ComputeService]:
        if forced_down is None:
            raise CliError(ExitCode.UNAVAILABLE, "Nova: no answer")
        return {"comp2.example.com": ComputeService("2", "comp2.example.com", "nova-compute",
                                                    "up", "enabled", forced_down, None)}

    monkeypatch.setattr(evacuate_cmd, "cluster_nova_services", services)
    out, err = io.StringIO(), io.StringIO()
    code = cli_main.run(["evacuate", *argv], Io(out, err, {}))
    return code, err.getvalue(), attrs


def test_release_refuses_a_node_that_is_not_held(monkeypatch: pytest.MonkeyPatch) -> None:
    code, err, attrs = _evacuate(monkeypatch, _view(), "--release", "comp1")
    assert code == ExitCode.REFUSED
    assert err == ("instanceha: error: comp1 is not held (instanceha-fencing-hold: none, "
                   "instanceha-hold: none); nothing to release\n")
    assert attrs.get("comp1", "instanceha-hold") is None
    held = _view(attributes={"comp1": {"instanceha-hold": f"held:{int(T0)}"}})
    code, err, attrs = _evacuate(monkeypatch, held, "--release", "comp1")
    assert code == ExitCode.OK and "comp1 released from the mass-failure hold" in err
    assert (attrs.get("comp1", "instanceha-hold") or "").startswith("released:")


def test_release_lets_a_fencing_hold_through(monkeypatch: pytest.MonkeyPatch) -> None:
    held = _view(attributes={"comp1": {"instanceha-fencing-hold": f"held:{int(T0)}"}})
    code, err, attrs = _evacuate(monkeypatch, held, "--release", "comp1")
    assert code == ExitCode.OK
    assert "comp1 released from the fencing hold (many computes unreachable at once)" in err
    assert (attrs.get("comp1", "instanceha-fencing-hold") or "").startswith("released:")
    assert attrs.get("comp1", "instanceha-hold") is None


def test_an_online_host_is_refused_even_forced_down_unless_forced(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin forced comp2 down in Nova but it is online in the cluster: its instances may
    still run there, so evacuating them would run them twice."""
    view = _view(attributes={})
    code, err, attrs = _evacuate(monkeypatch, view, "comp2", forced_down=True)
    assert code == ExitCode.REFUSED and attrs.get("comp2", "instanceha-evacuate") is None
    assert err.startswith("instanceha: error: comp2 is online in the cluster")
    assert "--force" in err
    code, err, attrs = _evacuate(monkeypatch, view, "comp2", "--force", forced_down=True)
    assert code == ExitCode.OK
    assert (attrs.get("comp2", "instanceha-evacuate") or "").startswith("requested:")
    assert "WARNING: comp2 is online in the cluster" in err
    # --force never replaces Nova's forced down: not forced down, or Nova unknown, is refused
    for forced in (False, None):
        code, err, attrs = _evacuate(monkeypatch, view, "comp2", "--force", forced_down=forced)
        assert code == ExitCode.REFUSED and attrs.get("comp2", "instanceha-evacuate") is None
    assert "\\-\\-force: accept a node online in the cluster" in manpage()  # instanceha(8)


def test_status_names_every_server_left_behind_with_its_reason(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    left = ("skipped tpm-vm (1111-4): not evacuable: vTPM (flavor m1.tpm: hw:tpm_version=2.0); "
            "failed db (1111-1): still ERROR after 3 attempts; +2 more (NovaEvacuate's log "
            "names them all)")
    view = _view(attributes={"comp1": {"instanceha-evacuate": f"done:{int(T0) + 60}",
                                       "instanceha-evacuation-result": "comp1: 3 evacuated",
                                       "instanceha-not-evacuated": left}})
    monkeypatch.setattr(status_cmd, "read_cluster", lambda: view)
    out, err = io.StringIO(), io.StringIO()
    assert cli_main.run(["status", "--no-nova", "--json"], Io(out, err, {})) == ExitCode.OK
    rows = {r["node"]: r for r in json.loads(out.getvalue())}
    assert rows["comp1"]["not_evacuated"] == [
        {"kind": "skipped", "name": "tpm-vm", "server_id": "1111-4",
         "reason": "not evacuable: vTPM (flavor m1.tpm: hw:tpm_version=2.0)"},
        {"kind": "failed", "name": "db", "server_id": "1111-1",
         "reason": "still ERROR after 3 attempts"}]
    assert rows["comp1"]["not_evacuated_more"] == 2
    assert rows["comp2"]["not_evacuated"] == [] and rows["comp2"]["not_evacuated_more"] == 0
    out = io.StringIO()
    assert cli_main.run(["status", "--no-nova"], Io(out, err, {})) == ExitCode.OK
    text = out.getvalue().splitlines()
    line = next(t for t in text if "tpm-vm" in t)
    assert line.split()[:4] == ["comp1", "tpm-vm", "1111-4", "skipped"]
    assert line.endswith("not evacuable: vTPM (flavor m1.tpm: hw:tpm_version=2.0)")
    assert any("db" in t and t.endswith("still ERROR after 3 attempts") for t in text)
    assert any(t.split()[:2] == ["comp1", "+2"] and "more" in t for t in text)


def test_a_malformed_host_map_is_a_configuration_error_not_an_empty_map(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Silently dropping NovaEvacuate's host_map would show (and evacuate) the wrong hosts."""
    from instanceha.nova.hostmap import HostMapError

    with pytest.raises(HostMapError, match="host_map"):
        compute_rows(_view(evacuate_params={"host_map": "comp1"}), [], None)
    view = _view(evacuate_params={"host_map": "comp1"})
    monkeypatch.setattr(status_cmd, "read_cluster", lambda: view)
    out, err = io.StringIO(), io.StringIO()
    assert cli_main.run(["status", "--no-nova"], Io(out, err, {})) == ExitCode.CONFIG
    assert "host_map" in err.getvalue()


def test_status_says_a_held_fencing_loudly_with_what_ends_it() -> None:
    view = _view(attributes={"comp1": {"instanceha-fencing-hold": "held:1764979200"}})
    evacuation = compute_rows(view, ["comp1"], None)[0].evacuation
    assert evacuation.startswith("FENCING HELD since 2025-12-06 00:00:00Z (many computes "
                                 "unreachable at once")
    assert "instanceha evacuate --release" in evacuation
    returned = _view(attributes={"comp1": {"instanceha-fencing-hold": "returned:1764979200"}})
    assert compute_rows(returned, ["comp1"], None)[0].evacuation == (
        "returned to the cluster without fencing at 2025-12-06 00:00:00Z")
