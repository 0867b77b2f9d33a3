"""``python -m avsb``: the same as the ``avsb`` command."""

from avsb.cli.main import app

app(prog_name="avsb")  # also names the shell-completion variable: _AVSB_COMPLETE
