"""tests/conftest.py: under make check (INSTANCEHA_NO_SKIP=1) or CI=true a skip fails the run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

SUITE = '''
import pytest

def test_runs() -> None:
    pass

def test_needs_a_tool() -> None:
    pytest.skip("not installed: crm_simulate (make test-deps installs them)")

@pytest.fixture
def lab() -> None:
    pytest.skip("needs root")

def test_in_the_lab(lab: None) -> None:
    pass

@pytest.mark.xfail(reason="known")
def test_expected_to_fail() -> None:
    raise AssertionError
'''


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """pytest on a small suite with the project's tests/conftest.py, in a clean environment."""
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_suite.py").write_text(SUITE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "INSTANCEHA_NO_SKIP")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "-q", str(tmp_path)], cwd=tmp_path, env={**clean, **env},
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("env", [{"INSTANCEHA_NO_SKIP": "1"}, {"CI": "true"}])
def test_under_make_check_or_ci_a_skip_fails_and_is_named(
    tmp_path: Path, env: dict[str, str]
) -> None:
    done = _run(tmp_path, **env)
    assert done.returncode == 1, done.stdout
    assert "instanceha: 1 passed, 0 failed, 0 errors, 2 skipped" in done.stdout
    assert ("SKIPPED test_suite.py::test_needs_a_tool: not installed: crm_simulate "
            "(make test-deps installs them)") in done.stdout
    assert "SKIPPED test_suite.py::test_in_the_lab: needs root" in done.stdout
    assert "test_expected_to_fail" not in done.stdout.split("instanceha: ")[-1]


@pytest.mark.parametrize("env", [{}, {"CI": "true", "INSTANCEHA_NO_SKIP": "0"}])
def test_a_developer_run_still_allows_skips(tmp_path: Path, env: dict[str, str]) -> None:
    done = _run(tmp_path, **env)
    assert done.returncode == 0, done.stdout
    assert "2 skipped" in done.stdout and "instanceha: " not in done.stdout


def test_make_check_runs_with_skips_failing() -> None:
    """scripts/run-tests.sh (make test, make check) turns the rule on by itself."""
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "INSTANCEHA_NO_SKIP")}
    done = subprocess.run([str(TESTS.parent / "scripts" / "run-tests.sh"), "--collect-only",
                           "-q", "-k", "no_test_has_this_name"], env=clean,
                          capture_output=True, text=True, timeout=300, check=False)
    assert "instanceha: 0 passed, 0 failed, 0 errors" in done.stdout, done.stdout[-2000:]
