"""The thin CLI: parsing and dispatch, one module per subcommand."""
