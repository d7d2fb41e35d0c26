"""The local model store: ``<home>/models/<name>/`` holds a model's files, ``card.yaml`` (the
packaged card with the installed sha256 filled in) and ``installed.json`` (how and when it got
there, and the sha256 of every file). The sha256 of the file the runtime loads is checked on every
load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ModelIntegrityError, ModelNotInstalled
from .card import ModelCard, packaged_card, packaged_card_names

__all__ = ["sha256_file", "InstalledModel", "ModelStore"]

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class InstalledModel:
    name: str
    folder: Path
    card: ModelCard
    resolver: str
    origin: str
    installed_at: str
    files: dict[str, str]  # file name -> sha256

    @property
    def path(self) -> Path:
        return self.folder / self.card.file


class ModelStore:
    """A folder of installed models. Safe to share between threads (reads only, installs locked)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- queries
    def folder(self, name: str) -> Path:
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ModelNotInstalled(name, "invalid model name")
        return self.root / name

    def is_installed(self, name: str) -> bool:
        return (self.folder(name) / "installed.json").is_file()

    def installed(self, name: str) -> InstalledModel:
        folder = self.folder(name)
        meta_path = folder / "installed.json"
        if not meta_path.is_file():
            raise ModelNotInstalled(name, self.install_hint(name))
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        card = ModelCard.from_yaml(folder / "card.yaml")
        return InstalledModel(name=name, folder=folder, card=card, resolver=meta.get("resolver", "?"),
                              origin=meta.get("origin", ""), installed_at=meta.get("installed_at", ""),
                              files=dict(meta.get("files", {})))

    def list_installed(self) -> list[InstalledModel]:
        if not self.root.is_dir():
            return []
        out = []
        for p in sorted(self.root.iterdir()):
            if (p / "installed.json").is_file():
                out.append(self.installed(p.name))
        return out

    def install_hint(self, name: str) -> str:
        try:
            card = packaged_card(name)
        except ModelNotInstalled:
            return ""
        return card.install_hint or f"synthwatch models pull {name}"

    def known_names(self) -> list[str]:
        return packaged_card_names()

    def verified_path(self, name: str, file: str | None = None) -> Path:
        """Path of an installed model file after checking its sha256 (on every call)."""
        inst = self.installed(name)
        fname = file or inst.card.file
        path = inst.folder / fname
        if not path.is_file():
            raise ModelNotInstalled(name, self.install_hint(name) + f" (file {fname} is missing)")
        expected = inst.files.get(fname)
        if expected is None:
            raise ModelIntegrityError(f"model {name!r}: no recorded sha256 for {fname}")
        actual = sha256_file(path)
        if actual != expected:
            raise ModelIntegrityError(
                f"model {name!r}: {fname} has sha256 {actual}, expected {expected}; "
                f"reinstall with: {self.install_hint(name)}")
        return path

    # ----------------------------------------------------------------- writes
    def install(self, name: str, files: dict[str, Path], *, resolver: str, origin: str,
                card: ModelCard | None = None, extra: dict[str, Any] | None = None) -> InstalledModel:
        """Move ``files`` (store file name -> temp path) into place atomically and record them.

        The card's pinned ``sha256`` (if any) must match the main file.
        """
        card = card or packaged_card(name)
        if card.file not in files:
            raise ModelNotInstalled(name, f"installation did not produce {card.file}")
        hashes = {fname: sha256_file(Path(p)) for fname, p in files.items()}
        if card.sha256 and hashes[card.file] != card.sha256:
            raise ModelIntegrityError(
                f"model {name!r}: {card.file} has sha256 {hashes[card.file]}, the card pins {card.sha256}")
        card = replace(card, sha256=hashes[card.file])
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.root))
            try:
                for fname, p in files.items():
                    shutil.copyfile(p, staging / fname)
                (staging / "card.yaml").write_text(card.to_yaml(), encoding="utf-8")
                meta = {"name": name, "resolver": resolver, "origin": origin,
                        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                        "files": hashes, **(extra or {})}
                (staging / "installed.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
                target = self.folder(name)
                old = None
                if target.exists():
                    old = target.with_name(f".{name}-old-{os.getpid()}")
                    if old.exists():
                        shutil.rmtree(old)
                    target.rename(old)
                staging.rename(target)
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return self.installed(name)

    def remove(self, name: str) -> bool:
        folder = self.folder(name)
        if not folder.exists():
            return False
        with self._lock:
            shutil.rmtree(folder)
        return True
