"""Template filling: indentation of blocks, escaping, single-pass substitution."""

from __future__ import annotations

from pathlib import Path

import pytest

from instanceha.cib.templates import TemplateError, Templates, attr, fill, nvset, once


def test_block_placeholders_are_indented_and_vanish_when_empty() -> None:
    template = "<a>\n  ${block}\n  <b v=\"${v}\"/>\n</a>"
    assert fill(template, {"block": "<x>\n  <y/>\n</x>", "v": "1"}) == (
        "<a>\n  <x>\n    <y/>\n  </x>\n  <b v=\"1\"/>\n</a>")
    assert fill(template, {"block": "", "v": "1"}) == "<a>\n  <b v=\"1\"/>\n</a>"


def test_values_are_substituted_once() -> None:
    assert fill('<a v="${v}"/>', {"v": "${v}$x"}) == '<a v="${v}$x"/>'


def test_missing_placeholder_names_template_and_key() -> None:
    with pytest.raises(TemplateError, match=r"t\.xml\.in: placeholder v has no value"):
        fill('<a v="${v}"/>', {}, "t.xml.in")


def test_attribute_escaping_and_nvset_ids() -> None:
    assert attr('a"b<c>&d') == "a&quot;b&lt;c&gt;&amp;d"
    block = nvset("instance_attributes", "r-instance_attributes", [("k", "v&")])
    assert 'id="r-instance_attributes-k" name="k" value="v&amp;"' in block
    assert nvset("meta_attributes", "x", []) == ""


def test_once_keeps_the_first_leading_comment_only() -> None:
    blocks = ["<!-- why -->\n<a/>", "<!-- why -->\n<b/>"]
    assert once(blocks) == ["<!-- why -->\n<a/>", "<b/>"]


def test_missing_template_file_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="pass --templates DIR"):
        Templates(tmp_path).text("nope")


def test_every_shipped_template_is_readable() -> None:
    templates = Templates()
    names = sorted(p.name[: -len(".xml.in")] for p in templates.directory.glob("*.xml.in"))
    assert "cib" in names and "fence-nova" in names
    for name in names:
        assert templates.text(name).strip()
