"""Entry script of the isolated provenance worker (see :mod:`synthwatch.provenance.isolation`).

:class:`synthwatch.media.sandbox.Sandbox` starts this file as a script in a fresh interpreter
(``python -P _isolated_worker.py FD PPID``): nothing is forked from the caller and the caller's
``__main__`` is never re-imported. It serves the decoder worker's protocol
(:func:`synthwatch.media._worker.serve`: one task at a time under an ``RLIMIT_AS`` cap, the parent
enforcing the wall-clock limit) with the provenance tasks of
:data:`synthwatch.provenance.isolation.TASKS` instead of the decoders'. Unlike the decoder worker it
imports synthwatch: the writers' own code (drawing the notice, mixing the cue) runs here.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from synthwatch.media import _worker
    from synthwatch.provenance import (  # noqa: F401  (imported before any memory cap applies)
        audible,
        perth_watermark,
        security_data,
        visible,
        visible_video,
        watermark,
    )
    from synthwatch.provenance.isolation import PROCESS_NAME, TASKS

    return _worker.main(argv, tasks=TASKS, process_name=PROCESS_NAME)


def _use_this_synthwatch() -> None:
    """Import the synthwatch this file belongs to (the caller's), wherever it is installed."""
    import importlib.util

    here = Path(__file__).resolve().parents[1]
    spec = importlib.util.find_spec("synthwatch")
    if spec is None or spec.origin is None or Path(spec.origin).resolve().parent != here:
        sys.path.insert(0, str(here.parent))


if __name__ == "__main__":
    _use_this_synthwatch()
    sys.exit(main(sys.argv))
