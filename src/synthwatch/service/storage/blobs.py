"""Content-addressed media files: ``<media_dir>/sha256/<ab>/<abcdef…>``.

Uploads and downloads are written to a temporary file in ``<media_dir>/tmp`` while they are hashed,
then moved into place with an atomic rename; the same bytes are stored once however many tenants
or scans refer to them (the ``media`` table holds each tenant's reference, retention and hold).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["BlobStore", "BlobWriter", "TooLarge"]


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"over the limit of {limit} bytes")
        self.limit = limit


class BlobWriter:
    """A temporary file that hashes what is written and refuses more than ``limit`` bytes."""

    def __init__(self, tmp_dir: Path, limit: int) -> None:
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="up-", suffix=".part")
        self.path = Path(name)
        self._f: BinaryIO = os.fdopen(fd, "wb")
        self._h = hashlib.sha256()
        self.size = 0
        self.limit = limit
        self.committed = False

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise TooLarge(self.limit)
        self._h.update(data)
        self._f.write(data)

    def close(self) -> str:
        """Close the file; returns the sha256 hex digest."""
        if not self._f.closed:
            self._f.close()
        return self._h.hexdigest()

    def discard(self) -> None:
        """Remove the temporary file (nothing to do once :meth:`BlobStore.commit` moved it into place)."""
        if not self._f.closed:
            self._f.close()
        if self.committed:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(ch not in "0123456789abcdef" for ch in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / "sha256" / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def writer(self, limit: int) -> BlobWriter:
        return BlobWriter(self.tmp_dir, limit)

    @contextlib.contextmanager
    def writing(self, limit: int) -> Iterator[BlobWriter]:
        """A writer whose temporary file is removed if the block fails or does not :meth:`commit` it."""
        w = self.writer(limit)
        try:
            yield w
        finally:
            w.discard()

    def commit(self, writer: BlobWriter) -> str:
        """Move a finished upload into place; returns its sha256."""
        digest = writer.close()
        target = self.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_file():
            writer.discard()  # already stored: same bytes
        else:
            os.replace(writer.path, target)
        writer.committed = True
        return digest

    def delete(self, sha256: str) -> bool:
        try:
            self.path(sha256).unlink()
            return True
        except FileNotFoundError:
            return False

    def temp_files(self) -> list[Path]:
        return sorted(self.tmp_dir.glob("*"))
