"""The ``instanceha`` command line: one module per subcommand, wired up in :mod:`.main`."""

__all__: list[str] = []
