"""``python -m adstage.cli``: the ``adstage`` command."""

from adstage.cli import main

main()
