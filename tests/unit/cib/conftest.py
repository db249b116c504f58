"""Inventory documents for the CIB unit tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "cib"

BASE: dict[str, Any] = {
    "cloud": "overcloud",
    "controllers": ["ctl1", "ctl2"],
    "nova": {"domain": "example.com"},
    "bmc_defaults": {"username": "admin"},
    "computes": [
        {"name": "comp1", "address": "192.0.2.11",
         "bmc": {"address": "10.0.1.11", "password_file": "/etc/ih/comp1"}},
        {"name": "comp2", "address": "192.0.2.12", "nova_host": "other-2.example.org",
         "bmc": {"address": "10.0.1.12", "password_script": "/usr/local/bin/pw comp2"}},
    ],
}


@pytest.fixture
def golden() -> Path:
    """tests/golden/cib."""
    return GOLDEN


@pytest.fixture
def doc() -> dict[str, Any]:
    """A fresh, valid inventory document to mutate."""
    return copy.deepcopy(BASE)
