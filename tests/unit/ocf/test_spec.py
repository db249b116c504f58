"""Parameter declarations: coercion, defaults, aliases, required, errors."""

from __future__ import annotations

import pytest

from instanceha.spec import Param, ParamError, ParamSet, ParamType

PARAMS = ParamSet(
    (
        Param("count", "a count", type=ParamType.INTEGER, default=3, minimum=1, maximum=10),
        Param("mode", "a mode", type=ParamType.SELECT, choices=("a", "b"), default="a"),
        Param("flag", "a flag", type=ParamType.BOOLEAN, default=False),
        Param("password", "a secret", secret=True, aliases=("passwd",)),
        Param("host", "needed", required=True),
    )
)


def test_defaults_fill_unset_values() -> None:
    params = PARAMS.parse({"host": "h"})
    assert params.integer("count") == 3
    assert params.text("mode") == "a"
    assert params.flag("flag") is False
    assert params.text("password") == ""


@pytest.mark.parametrize(("raw", "expected"), [("yes", True), ("On", True), ("0", False)])
def test_booleans_accept_pacemaker_spellings(raw: str, expected: bool) -> None:
    assert PARAMS.parse({"host": "h", "flag": raw}).flag("flag") is expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"host": "h", "count": "x"}, "parameter 'count' must be an integer, not 'x'"),
        ({"host": "h", "count": "11"}, "parameter 'count' must be at most 10, not 11"),
        ({"host": "h", "mode": "c"}, "parameter 'mode' must be one of a, b, not 'c'"),
        ({"host": "h", "flag": "maybe"}, "parameter 'flag' must be a boolean"),
        ({}, "parameter 'host' is required but not set"),
    ],
)
def test_bad_values_name_the_parameter(raw: dict[str, str], message: str) -> None:
    with pytest.raises(ParamError) as caught:
        PARAMS.parse(raw)
    assert str(caught.value).startswith(message)


def test_alias_sets_the_parameter_and_secrets_are_masked_in_repr() -> None:
    params = PARAMS.parse({"host": "h", "passwd": "s3cret"})
    assert params.text("password") == "s3cret"
    assert "s3cret" not in repr(params)
    assert params.secret_values() == ["s3cret"]


def test_unknown_names_are_reported_and_aliases_are_known() -> None:
    assert PARAMS.unknown(["host", "passwd", "bogus"]) == ["bogus"]


def test_declaring_a_name_twice_is_refused() -> None:
    with pytest.raises(TypeError):
        ParamSet((Param("a", "x"), Param("b", "y", aliases=("a",))))


def test_select_without_choices_is_refused() -> None:
    with pytest.raises(TypeError):
        Param("m", "x", type=ParamType.SELECT)


def test_typed_getter_mismatch_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        PARAMS.parse({"host": "h"}).integer("mode")


def test_a_pattern_refuses_a_non_empty_value_that_does_not_match_whole() -> None:
    params = ParamSet((Param("out", "an output file", pattern=r"/.*\.prom",
                             pattern_hint="an absolute path ending in .prom"),))
    assert params.parse({}).text("out") == ""
    assert params.parse({"out": "/var/x.prom"}).text("out") == "/var/x.prom"
    for bad in ("x.prom", "/var/x.prom.txt"):
        with pytest.raises(ParamError, match="'out' must be an absolute path ending in .prom"):
            params.parse({"out": bad})
    with pytest.raises(TypeError, match="pattern_hint"):
        Param("out", "an output file", pattern=r"/.*")
