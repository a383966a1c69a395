"""``python -m app`` runs the mlwb CLI."""

from app.cli import main

main()
