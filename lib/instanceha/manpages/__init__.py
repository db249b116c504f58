"""Every man page, one module per kind, all on one roff writer.

:mod:`.roff` writes roff; :mod:`.ocf` the OCF agents' pages (section 7), :mod:`.fence` the fence
agents' (section 8), :mod:`.cli` the ``instanceha`` command's (section 8), each from the one
declaration the agent or command runs from; :mod:`.build` writes them all
(``python3 -m instanceha.manpages OUTDIR``, ``make man``).
"""

__all__: list[str] = []
