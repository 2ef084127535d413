"""``python -m audiotokens`` runs the CLI."""

from audiotokens.cli import main

main()
