"""Secret masking, one scrubber for every runtime: values of secret fields, never substrings.

A secret is masked where it stands as a value (a whole token, or the value of a
``password=``/``password:`` field), so that a short password neither garbles
messages nor reveals itself by the letters it replaced. The OCF exit reason, the
OCF parameter-error path and logged tracebacks (the evacuator's
``_LOG.exception``) are masked like every log line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from instanceha.ocf import OcfRc
from instanceha.ocf.log import setup_logging
from unit.fencing.fence_fakes import Harness

BASE = {"OCF_RESKEY_target": "t1", "OCF_RESOURCE_INSTANCE": "probe-1"}


@pytest.fixture(autouse=True)
def _quiet_instanceha_logger() -> Iterator[None]:
    yield
    logger = logging.getLogger("instanceha")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)


def test_a_short_fence_password_neither_garbles_nor_reveals_itself() -> None:
    result = Harness().run("-a", "bmc", "-l", "u", "-p", "o", "-o", "bogus")
    assert result.code == 1
    assert "Unrecognised action 'bogus'" in result.stderr, result.stderr
    assert "****" not in result.stderr


def test_a_short_ocf_password_does_not_garble_log_lines(tmp_path: Path) -> None:
    log = tmp_path / "ha.log"
    logger = setup_logging("Probe", "probe-1", {"HA_LOGFILE": str(log)}, ("o",))
    logger.error("Unrecognised action 'bogus'; the password o is wrong")
    text = log.read_text()
    assert "Unrecognised action 'bogus'; the password **** is wrong" in text, text


def test_a_whole_token_secret_is_masked_next_to_punctuation(tmp_path: Path) -> None:
    log = tmp_path / "ha.log"
    logger = setup_logging("Probe", "probe-1", {"HA_LOGFILE": str(log)}, ("hunter2",))
    logger.error("login refused for 'hunter2'; hunter2.")
    text = log.read_text()
    assert "hunter2" not in text and "login refused for '****'; ****." in text, text


def test_values_of_secret_fields_are_masked_without_knowing_them(tmp_path: Path) -> None:
    log = tmp_path / "ha.log"
    logger = setup_logging("Probe", "probe-1", {"HA_LOGFILE": str(log)})
    logger.warning("auth: password=from-secure-yaml, OS_PASSWORD='two words' "
                   "{'application_credential_secret': 'xyz'} password_script=cat /pw")
    text = log.read_text()
    for secret in ("from-secure-yaml", "two words", "xyz"):
        assert secret not in text, text
    assert "password=****" in text and "password_script=cat /pw" in text


def test_the_ocf_exit_reason_is_masked(invoke: Any) -> None:
    outcome = invoke("start", {**BASE, "OCF_RESKEY_behaviour": "crash",
                               "OCF_RESKEY_password": "hunter2"})
    assert outcome.rc == OcfRc.ERR_GENERIC
    assert "ocf-exit-reason:start failed unexpectedly: RuntimeError: boom with ****" \
        in outcome.stderr
    assert "hunter2" not in outcome.stderr


def test_the_ocf_parameter_error_path_is_masked(invoke: Any, tmp_path: Path) -> None:
    log = tmp_path / "ha.log"
    outcome = invoke("validate-all", {**BASE, "OCF_RESKEY_password": "hunter2",
                                      "OCF_RESKEY_tries": "hunter2", "HA_LOGFILE": str(log)})
    assert outcome.rc == OcfRc.ERR_CONFIGURED
    assert "parameter 'tries'" in outcome.stderr
    assert "hunter2" not in outcome.stderr + log.read_text()


def test_logged_tracebacks_are_masked(tmp_path: Path) -> None:
    """The evacuator logs crashes with ``_LOG.exception`` through the OCF logging."""
    log = tmp_path / "ha.log"
    setup_logging("NovaEvacuate", "evac", {"HA_LOGFILE": str(log)}, ("hunter2",))
    try:
        raise RuntimeError("keystone refused hunter2")
    except RuntimeError:
        logging.getLogger("instanceha.evacuator.worker").exception("pass crashed, retrying")
    text = log.read_text()
    assert "Traceback" in text and "RuntimeError: keystone refused ****" in text
    assert "hunter2" not in text


def test_the_evacuator_masks_the_secret_it_read_from_clouds_yaml(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from instanceha.agents.nova_evacuate import SPEC
    from instanceha.evacuator import __main__ as worker_main

    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  lab:\n    auth:\n      auth_url: http://k:5000/v3\n"
                      "      username: admin\n      project_name: admin\n"
                      "      user_domain_name: Default\n      project_domain_name: Default\n"
                      "      password: Zq8-from-yaml\n")
    clouds.chmod(0o600)
    params = SPEC.params.parse({"cloud": "lab", "clouds_yaml": str(clouds)})
    log = tmp_path / "ha.log"
    mask = worker_main.worker_logging(params, {"HA_LOGFILE": str(log)})
    made: list[object] = []
    factory = worker_main.nova_factory(params, mask, {}, client=made.append)  # type: ignore[arg-type]
    factory()
    assert made
    logging.getLogger("instanceha.evacuator.worker").error("Keystone said: Zq8-from-yaml")
    text = log.read_text()
    assert "Zq8-from-yaml" not in text and "Keystone said: ****" in text
