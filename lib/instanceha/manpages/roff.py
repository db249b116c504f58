"""A small roff (man page) writer shared by every page of :mod:`instanceha.manpages`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ManOption", "ManPage", "escape"]


def escape(text: str) -> str:
    """Escape text for roff: backslashes, leading dots and quotes, hyphens."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.splitlines() or [""]:
        stripped = line.lstrip()
        lines.append("\\&" + stripped if stripped[:1] in (".", "'") else stripped)
    return "\n".join(lines)


@dataclass(frozen=True)
class ManOption:
    """One documented option or parameter."""

    name: str
    summary: str
    detail: str = ""


@dataclass(frozen=True)
class ManPage:
    """A man page with the usual sections, rendered with :meth:`render`."""

    name: str
    section: int
    title: str
    synopsis: str
    description: str
    options_heading: str
    options: Sequence[ManOption]
    extra_sections: Sequence[tuple[str, str]] = ()
    source: str = "instanceha"

    def render(self) -> str:
        """The page as roff source."""
        out = [
            f'.TH {self.name.upper()} {self.section} "" "{self.source}" "{escape(self.title)}"',
            ".SH NAME",
            f"{escape(self.name)} \\- {escape(self.title)}",
            ".SH SYNOPSIS",
            escape(self.synopsis),
            ".SH DESCRIPTION",
            escape(self.description),
            f".SH {self.options_heading.upper()}",
        ]
        for option in self.options:
            out += [".TP", f"\\fB{escape(option.name)}\\fR", escape(option.summary)]
            if option.detail:
                out += [".br", _lines(option.detail)]
        for heading, body in self.extra_sections:
            out += [f".SH {heading.upper()}", _lines(body)]
        return "\n".join(out) + "\n"


def _lines(text: str) -> str:
    """Each line of ``text`` on its own output line (roff would fill them into one)."""
    return "\n.br\n".join(escape(line) for line in text.splitlines())
