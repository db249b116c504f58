"""The OCF runtime's dispatch: exit codes, exit reasons, probes, logging."""

from __future__ import annotations

from pathlib import Path

from instanceha.ocf import OcfRc

BASE = {"OCF_RESKEY_target": "t1", "OCF_RESOURCE_INSTANCE": "probe-1"}


def test_meta_data_needs_no_parameters(invoke) -> None:  # type: ignore[no-untyped-def]
    outcome = invoke("meta-data", {})
    assert outcome.rc == OcfRc.SUCCESS
    assert outcome.stdout.startswith('<?xml version="1.0"?>\n<!DOCTYPE resource-agent')


def test_unknown_action_is_unimplemented_with_reason(invoke) -> None:  # type: ignore[no-untyped-def]
    outcome = invoke("promote", BASE)
    assert outcome.rc == OcfRc.ERR_UNIMPLEMENTED
    assert outcome.stderr == "ocf-exit-reason:action 'promote' is not implemented by Probe\n"


def test_missing_required_parameter_is_err_configured(invoke) -> None:  # type: ignore[no-untyped-def]
    outcome = invoke("start", {"OCF_RESOURCE_INSTANCE": "probe-1"})
    assert outcome.rc == OcfRc.ERR_CONFIGURED
    assert "ocf-exit-reason:parameter 'target' is required but not set\n" in outcome.stderr


def test_malformed_parameter_is_err_configured(invoke) -> None:  # type: ignore[no-untyped-def]
    outcome = invoke("validate-all", {**BASE, "OCF_RESKEY_tries": "0"})
    assert outcome.rc == OcfRc.ERR_CONFIGURED
    assert "parameter 'tries' must be at least 1, not 0" in outcome.stderr


def test_validate_all_succeeds_on_good_parameters(invoke) -> None:  # type: ignore[no-untyped-def]
    assert invoke("validate-all", BASE).rc == OcfRc.SUCCESS


def test_handler_error_carries_its_code_and_reason(invoke) -> None:  # type: ignore[no-untyped-def]
    outcome = invoke("start", {**BASE, "OCF_RESKEY_behaviour": "configured"})
    assert outcome.rc == OcfRc.ERR_CONFIGURED
    assert "ocf-exit-reason:target is not something we can manage" in outcome.stderr


def test_unexpected_exception_is_generic_error_without_traceback(  # type: ignore[no-untyped-def]
    invoke, tmp_path: Path
) -> None:
    log = tmp_path / "ha.log"
    env = {**BASE, "OCF_RESKEY_behaviour": "crash", "OCF_RESKEY_password": "hunter2",
           "HA_LOGFILE": str(log)}
    outcome = invoke("start", env)
    assert outcome.rc == OcfRc.ERR_GENERIC
    assert "Traceback" not in outcome.stderr
    assert "start failed unexpectedly: RuntimeError: boom with" in outcome.stderr
    text = log.read_text()
    assert "Probe(probe-1)[" in text and "ERROR: start failed unexpectedly" in text
    assert "hunter2" not in text and "****" in text


def test_probe_of_missing_dependency_is_not_running(invoke) -> None:  # type: ignore[no-untyped-def]
    env = {**BASE, "OCF_RESKEY_behaviour": "missing", "OCF_RESKEY_CRM_meta_interval": "0"}
    outcome = invoke("monitor", env)
    assert outcome.rc == OcfRc.NOT_RUNNING
    assert outcome.stderr == ""


def test_recurring_monitor_of_missing_dependency_is_err_installed(  # type: ignore[no-untyped-def]
    invoke,
) -> None:
    env = {**BASE, "OCF_RESKEY_behaviour": "missing", "OCF_RESKEY_CRM_meta_interval": "10000"}
    outcome = invoke("monitor", env)
    assert outcome.rc == OcfRc.ERR_INSTALLED
    assert "ocf-exit-reason:the managed tool is not installed" in outcome.stderr


def test_action_from_environment_when_no_argument(tmp_path: Path) -> None:
    import io

    from instanceha.ocf import run
    from unit.ocf.probe_agent import AGENT

    out, err = io.StringIO(), io.StringIO()
    rc = run(AGENT, ["Probe"], {**BASE, "__OCF_ACTION": "monitor"}, out, err)
    assert rc == OcfRc.NOT_RUNNING


def test_no_action_at_all_prints_usage() -> None:
    import io

    from instanceha.ocf import run
    from unit.ocf.probe_agent import AGENT

    out, err = io.StringIO(), io.StringIO()
    assert run(AGENT, ["Probe"], {}, out, err) == OcfRc.ERR_ARGS
    assert err.getvalue().startswith("usage: Probe {start|stop|monitor|validate-all|meta-data}")
