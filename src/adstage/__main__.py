"""``python -m adstage``: the ``adstage`` command."""

from adstage.cli import main

main()
