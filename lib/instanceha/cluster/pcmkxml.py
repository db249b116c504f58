"""Parsing of Pacemaker's ``--output-as=xml`` documents and XPath literals."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from instanceha.cluster.runner import CommandError, OutputError, Runner, RunResult

__all__ = [
    "PcmkResult",
    "parse_result",
    "parse_xml",
    "run_xml",
    "xpath_literal",
]


@dataclass(frozen=True)
class PcmkResult:
    """A ``<pacemaker-result>`` document: its root, status code and error lines."""

    root: ET.Element
    code: int
    message: str
    errors: tuple[str, ...]


def parse_xml(text: str, what: str) -> ET.Element:
    """Parse ``text`` as XML or raise :class:`OutputError` naming ``what``."""
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise OutputError(f"{what}: not XML ({exc}): {text[:200]!r}") from exc


def parse_result(text: str, what: str) -> PcmkResult:
    """Parse the ``<pacemaker-result>`` a tool prints with ``--output-as=xml``."""
    root = parse_xml(text, what)
    if root.tag != "pacemaker-result":
        raise OutputError(f"{what}: root element is <{root.tag}>, not <pacemaker-result>")
    status = root.find("status")
    if status is None:
        raise OutputError(f"{what}: no <status> element")
    try:
        code = int(status.get("code", ""))
    except ValueError as exc:
        raise OutputError(f"{what}: bad status code {status.get('code')!r}") from exc
    errors = tuple((e.text or "").strip() for e in status.iterfind("errors/error"))
    return PcmkResult(root, code, status.get("message", ""), errors)


def run_xml(
    runner: Runner,
    argv: Sequence[str],
    *,
    timeout: float,
    ok: Collection[int] = (0,),
) -> tuple[RunResult, PcmkResult]:
    """Run a tool that prints ``<pacemaker-result>``; return the raw result and document.

    Exit codes outside ``ok`` raise :class:`CommandError` (with the tool's
    ``<error>`` lines when it printed any); an accepted exit code without a
    parsable document raises :class:`OutputError`.
    """
    res = runner.run(argv, timeout=timeout)
    if res.rc not in ok:
        detail = res.stderr or res.stdout
        try:
            doc = parse_result(res.stdout, argv[0])
            detail = "; ".join(doc.errors) or doc.message or detail
        except OutputError:
            pass
        raise CommandError(argv, res.rc, detail)
    if not res.stdout.strip():
        raise OutputError(f"{argv[0]}: no output (exit {res.rc})")
    return res, parse_result(res.stdout, argv[0])


def xpath_literal(value: str) -> str:
    """``value`` as an XPath 1.0 string literal (``concat()`` when it holds both quotes)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    parts = value.split("'")
    return "concat(" + ', "\'", '.join(f"'{p}'" for p in parts) + ")"
