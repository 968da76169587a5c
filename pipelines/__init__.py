"""Entry points: options, graph wiring and the ``newsbeam`` command."""
