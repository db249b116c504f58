"""Schema discovery and validation, against a tiny schema of our own."""

from __future__ import annotations

from pathlib import Path

import pytest

from instanceha.cib.schema import SchemaError, installed_schemas, newest_schema, validate

RNG = """<grammar xmlns="http://relaxng.org/ns/structure/1.0">
  <start><element name="cib"><attribute name="validate-with"/><empty/></element></start>
</grammar>"""


def test_newest_is_by_version_not_by_name(tmp_path: Path) -> None:
    for name in ("pacemaker-2.10.rng", "pacemaker-2.9.rng", "pacemaker-3.1.rng",
                 "pacemaker-next.rng", "pacemaker.rng", "pacemaker-3.10.rng"):
        (tmp_path / name).write_text(RNG)
    assert installed_schemas(tmp_path) == ["pacemaker-2.9", "pacemaker-2.10", "pacemaker-3.1",
                                           "pacemaker-3.10"]
    assert newest_schema(tmp_path) == "pacemaker-3.10"


def test_no_schema_installed(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="is pacemaker installed"):
        newest_schema(tmp_path)
    with pytest.raises(SchemaError, match="not installed"):
        validate("<cib/>", "pacemaker-3.9", tmp_path)


def test_validate_reports_lines(tmp_path: Path) -> None:
    pytest.importorskip("lxml")
    (tmp_path / "pacemaker-9.9.rng").write_text(RNG)
    assert validate('<cib validate-with="x"/>', "pacemaker-9.9", tmp_path).valid
    report = validate("<cib>\n<extra/></cib>", "pacemaker-9.9", tmp_path)
    assert not report.valid and report.errors[0].startswith("line ")
    assert validate("<cib", "pacemaker-9.9", tmp_path).errors[0].startswith("not well-formed")
