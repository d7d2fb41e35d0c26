"""What a caller's input arguments name: files as given, folders walked, globs expanded.

The CLI's ``scan`` and ``batch`` and the library use the same rules. A name that exists is taken as
named even when it holds glob characters (``clip[1].mp4``); anything else with ``* ? [`` is a pattern.
Folders are walked recursively for the media suffixes of :mod:`synthwatch.media.sniff` (the real type
is still read from each file's bytes when it is scanned). A path that does not exist, or cannot be
opened, is *kept*: every command then reports the media layer's one classification of the fault
(no such file, a symbolic link loop, permission denied, not a regular file...) for that item, with
exit code 4, and goes on with the others (:func:`open_error` gives it without scanning). A pattern
that matches nothing is a usage error.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError, MediaError
from ..media.sniff import MEDIA_SUFFIXES
from ..media.source import open_input

__all__ = ["expand_inputs", "open_error"]


def _walk(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            p = Path(root) / name
            if p.suffix.lower() in MEDIA_SUFFIXES and not name.startswith("."):
                found.append(p)
    return found


def expand_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The files ``paths`` name, in order (see the module doc)."""
    found: list[Path] = []
    for raw in paths:
        p = os.fspath(raw)
        literal = Path(p)
        exists = os.path.lexists(p)
        if not exists and glob.has_magic(p):
            matches = [Path(m) for m in sorted(glob.glob(p, recursive=True))]
            if not matches:
                raise ConfigError(f"no files match {p!r}")
        else:
            matches = [literal]
        for m in matches:
            found.extend(_walk(m) if m.is_dir() else [m])
    return found


def open_error(path: str | os.PathLike[str]) -> MediaError | None:
    """The media layer's classification of why ``path`` cannot be opened as a regular file, or
    None when it can (what ``scan`` would report for it, without scanning)."""
    try:
        open_input(path).close()
    except MediaError as exc:
        return exc
    return None
