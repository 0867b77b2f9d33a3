"""``python -m avsb``: the same as the ``avsb`` command."""

from avsb.cli.main import app

app()
