"""One module per fence agent: ``SPEC``, ``AGENT_NAME``, ``manpage()`` and ``main()``."""

__all__: list[str] = []
