"""Options from the command line and from pacemaker-fenced's stdin, as fence-agents reads them."""

from __future__ import annotations

import pytest

from instanceha.fencing.codes import UsageError
from instanceha.fencing.options import parse_argv, parse_stdin
from instanceha.spec import ParamError
from unit.fencing.fence_fakes import POWER_SPEC

PARAMS = POWER_SPEC.all_params


@pytest.mark.parametrize(
    "args",
    [
        ["--ip=h1", "--username=u", "--password-script=cat f", "--plug=n1", "--action=off"],
        ["--ip", "h1", "--username", "u", "--password-script", "cat f", "--plug", "n1",
         "-o", "off"],
        ["-a", "h1", "-l", "u", "-S", "cat f", "-n", "n1", "-ooff"],
        ["--ipaddr=h1", "--login=u", "--passwd-script=cat f", "--port=n1", "--action=off"],
        ["--ip=h1", "--username=u", "--password_script=cat f", "--plug=n1", "--action=off"],
    ],
    ids=["long=", "long-space", "short", "aliases", "underscores"],
)
def test_argv_spellings_reach_the_same_parameters(args: list[str]) -> None:
    raw = parse_argv(PARAMS, args)
    assert raw.values == {"ip": "h1", "username": "u", "password_script": "cat f",
                          "plug": "n1", "action": "off"}
    assert raw.source == "argv"


def test_argv_flags_take_no_value_and_stack() -> None:
    raw = parse_argv(PARAMS, ["-vq", "--verbose", "-a", "h"])
    params = PARAMS.parse(raw.values, check_required=False)
    assert params.flag("verbose") and params.flag("quiet")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--bogus=1"], "--bogus"),
        (["-Z"], "-Z"),
        (["--ip"], "--ip"),
        (["--verbose=yes"], "--verbose"),
    ],
)
def test_argv_errors_name_the_option(args: list[str], needle: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_argv(PARAMS, args)
    assert needle in raised.value.message
    assert "\n" not in raised.value.message


def test_argv_leftover_words_are_reported_not_fatal() -> None:
    raw = parse_argv(PARAMS, ["-a", "h", "stray"])
    assert raw.extra_args == ("stray",)


def test_stdin_reads_names_aliases_and_quotes() -> None:
    text = "\n".join([
        "# written by pacemaker-fenced",
        "",
        "action=reboot",
        "ipaddr=10.0.0.1",
        "login=admin",
        'passwd="p w=d"',
        "port=compute-1",
        "nodename=ctl-1",
        "power-timeout=7",
        "  verbose = 1",
    ])
    raw = parse_stdin(PARAMS, text)
    assert raw.values == {"action": "reboot", "ip": "10.0.0.1", "username": "admin",
                          "password": "p w=d", "plug": "compute-1", "power_timeout": "7",
                          "verbose": " 1"}
    assert raw.ignored == ()
    params = PARAMS.parse(raw.values)
    assert params.integer("power_timeout") == 7 and params.flag("verbose")


def test_stdin_unknown_names_are_collected_without_values() -> None:
    raw = parse_stdin(PARAMS, "ip=h\nfoo=secret-value\njunk line\npcmk_host_list=a\n")
    assert raw.values == {"ip": "h"}
    assert "foo" in raw.ignored and "pcmk_host_list" in raw.ignored
    assert not any("secret-value" in name or "junk" in name for name in raw.ignored)


def test_stdin_last_value_wins() -> None:
    raw = parse_stdin(PARAMS, "plug=a\nport=b\n")
    assert raw.values["plug"] == "b"


@pytest.mark.parametrize(
    ("text", "name"),
    [("ipport=abc", "ipport"), ("power_timeout=-1", "power_timeout"),
     ("verbose=maybe", "verbose"), ("method=twice", "method")],
)
def test_bad_values_fail_naming_the_parameter(text: str, name: str) -> None:
    raw = parse_stdin(PARAMS, f"ip=h\nusername=u\n{text}\n")
    with pytest.raises(ParamError) as raised:
        PARAMS.parse(raw.values)
    assert raised.value.name == name
