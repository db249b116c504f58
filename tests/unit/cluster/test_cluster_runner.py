"""SubprocessRunner and the XML helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from instanceha.cluster.pcmkxml import parse_result, run_xml, xpath_literal
from instanceha.cluster.runner import (
    CommandError,
    CommandTimeout,
    OutputError,
    SubprocessRunner,
    ToolNotFound,
)
from unit.cluster.cluster_fakes import FakeRunner, pcmk_result


def _tool(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_subprocess_runner_resolves_bare_names_in_its_search_path(tmp_path: Path) -> None:
    _tool(tmp_path, "crm_fake", 'echo "args:$*"; echo err >&2; exit 3\n')
    res = SubprocessRunner([str(tmp_path)]).run(["crm_fake", "--x=1", "a b"], timeout=10)
    assert (res.rc, res.stdout, res.stderr) == (3, "args:--x=1 a b\n", "err\n")
    assert res.argv == ("crm_fake", "--x=1", "a b")


def test_subprocess_runner_does_not_use_a_shell(tmp_path: Path) -> None:
    _tool(tmp_path, "crm_fake", 'printf "%s|" "$@"\n')
    res = SubprocessRunner([str(tmp_path)]).run(["crm_fake", "$(id)", "a;b"], timeout=10)
    assert res.stdout == "$(id)|a;b|"


def test_subprocess_runner_errors(tmp_path: Path) -> None:
    runner = SubprocessRunner([str(tmp_path)])
    with pytest.raises(ToolNotFound):
        runner.run(["crm_absent"], timeout=5)
    with pytest.raises(ToolNotFound):
        runner.run([str(tmp_path / "absent")], timeout=5)
    _tool(tmp_path, "crm_slow", "exec sleep 30\n")
    with pytest.raises(CommandTimeout) as exc:
        runner.run(["crm_slow"], timeout=0.2)
    assert exc.value.argv == ("crm_slow",)
    with pytest.raises(ValueError):
        runner.run([], timeout=1)


def test_subprocess_runner_gives_the_child_no_stdin(tmp_path: Path) -> None:
    _tool(tmp_path, "crm_cat", "cat\n")
    r, w = os.pipe()  # would block forever if the child inherited a pipe as stdin
    try:
        assert SubprocessRunner([str(tmp_path)]).run(["crm_cat"], timeout=5).stdout == ""
    finally:
        os.close(r)
        os.close(w)


def test_parse_result() -> None:
    doc = parse_result(pcmk_result("<x/>", 105, "No such object", ["gone"]), "t")
    assert (doc.code, doc.message, doc.errors) == (105, "No such object", ("gone",))
    assert doc.root.find("x") is not None
    for bad in ("not xml", "<cib/>", "<pacemaker-result/>"):
        with pytest.raises(OutputError):
            parse_result(bad, "t")
    with pytest.raises(OutputError):
        parse_result('<pacemaker-result><status code="x"/></pacemaker-result>', "t")


def test_run_xml_maps_exit_codes() -> None:
    runner = FakeRunner().on("tool", 0, pcmk_result("<a/>"))
    res, doc = run_xml(runner, ["tool"], timeout=3)
    assert res.rc == 0 and doc.root.find("a") is not None
    assert runner.timeouts == [3]

    failing = FakeRunner().on("tool", 102, pcmk_result("", 102, "Not connected", ["no fencer"]))
    with pytest.raises(CommandError) as exc:
        run_xml(failing, ["tool"], timeout=3)
    assert exc.value.rc == 102 and "no fencer" in exc.value.detail

    no_xml = FakeRunner().on("tool", 1, "", "plain failure")
    with pytest.raises(CommandError, match="plain failure"):
        run_xml(no_xml, ["tool"], timeout=3)
    with pytest.raises(OutputError):
        run_xml(FakeRunner().on("tool", 0, ""), ["tool"], timeout=3)
    res, _ = run_xml(
        FakeRunner().on("tool", 105, pcmk_result("", 105)), ["tool"], timeout=3, ok=(0, 105)
    )
    assert res.rc == 105


@pytest.mark.parametrize("value", ["plain", "it's", 'say "hi"', """both ' and " here""", "", "'"])
def test_xpath_literal_selects_exactly_that_value(value: str) -> None:
    # Pacemaker evaluates XPath with libxml2; lxml uses the same engine
    etree = pytest.importorskip("lxml.etree")
    root = etree.Element("r")
    for v in (value, value + "x", "other"):
        etree.SubElement(root, "nvpair", value=v)
    hits = root.xpath(f"nvpair[@value={xpath_literal(value)}]")
    assert [h.get("value") for h in hits] == [value]
