"""``python -m floe_scaffold`` is the ``floe`` command."""

from floe_scaffold._cli import run

run()
