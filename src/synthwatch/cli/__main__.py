"""``python -m synthwatch.cli``: the same as the ``synthwatch`` command."""

from . import main

if __name__ == "__main__":  # a process started with "spawn" imports this module as __mp_main__: no CLI there
    main()
