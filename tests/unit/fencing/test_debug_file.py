"""debug_file: a private file of ours, and never a mode change on anything that is not one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from instanceha.fencing.log import open_private


def test_a_new_debug_file_is_private_and_an_open_one_of_ours_is_made_private(
        tmp_path: Path) -> None:
    fresh = tmp_path / "debug.log"
    open_private(str(fresh)).close()
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    shared = tmp_path / "shared.log"
    shared.write_text("")
    shared.chmod(0o644)
    open_private(str(shared)).close()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o600


def test_dev_null_keeps_its_mode() -> None:
    """debug_file=/dev/null once made the machine's /dev/null root-only."""
    before = os.stat("/dev/null").st_mode
    try:
        with open_private("/dev/null") as null:
            null.write("discarded\n")
        assert os.stat("/dev/null").st_mode == before
    finally:
        os.chmod("/dev/null", stat.S_IMODE(before))
