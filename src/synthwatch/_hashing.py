"""The one streaming file hash every layer uses (models, media, evaluation, training)."""

from __future__ import annotations

import hashlib
import os

__all__ = ["sha256_file"]


def sha256_file(path: str | os.PathLike[str], chunk: int = 1024 * 1024) -> str:
    """Hex sha256 of a file, read in ``chunk``-byte blocks (never the whole file at once)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
