"""Boolean spellings are declared once per convention (spec.py): Pacemaker's for agent
parameters and the OCF log switches, OpenStack's (oslo.utils) for what Nova and clouds.yaml
carry. Every reader uses one of the two."""

from __future__ import annotations

import pytest

from instanceha.evacuation.policy import parse_marker
from instanceha.nova.credentials import _as_bool
from instanceha.ocf.log import _is_true
from instanceha.spec import (
    FALSE_WORDS,
    OPENSTACK_FALSE_WORDS,
    OPENSTACK_TRUE_WORDS,
    TRUE_WORDS,
    openstack_bool,
    parse_bool,
)


@pytest.mark.parametrize("word", sorted(OPENSTACK_TRUE_WORDS | OPENSTACK_FALSE_WORDS))
def test_openstack_readers_agree(word: str) -> None:
    expected = word in OPENSTACK_TRUE_WORDS
    for spelling in (word, word.upper(), f" {word} "):
        assert openstack_bool(spelling) is expected
        assert parse_marker(spelling) is expected
        assert _as_bool(spelling, "insecure") is expected


@pytest.mark.parametrize("word", sorted(TRUE_WORDS | FALSE_WORDS))
def test_pacemaker_readers_agree(word: str) -> None:
    assert parse_bool("p", word) is (word in TRUE_WORDS)
    assert _is_true(word) is (word in TRUE_WORDS)


def test_a_non_boolean_is_not_guessed() -> None:
    assert openstack_bool("maybe") is None and parse_marker("maybe") is None
