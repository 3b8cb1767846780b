"""``python -m triochat``: the command line."""

from .cli import run

run()
