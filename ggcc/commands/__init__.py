"""ggcc's subcommands: cli.py reads the command line and dispatches to the others."""
