"""``actool``: build, check and inspect App Container images from the command line.

``main`` parses the global flags and dispatches to one module per sub-command, imported only
when that sub-command runs. Each module has ``add_arguments(parser)`` and ``run(args) -> int``.
Library errors (:class:`appc.errors.AppcError`) are printed here as one line and exit 1;
``--debug`` adds the cause chain.
"""
