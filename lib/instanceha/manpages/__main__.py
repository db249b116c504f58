"""``python3 -m instanceha.manpages OUTDIR``: write every man page (see :mod:`.build`)."""

from __future__ import annotations

from instanceha.manpages.build import main

__all__: list[str] = []

if __name__ == "__main__":
    main()
