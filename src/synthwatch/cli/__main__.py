"""``python -m synthwatch.cli``: the same as the ``synthwatch`` command."""

from . import main

main()
