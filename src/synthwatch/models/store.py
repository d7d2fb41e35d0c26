"""The local model store: ``<home>/models/<name>/`` holds a model's files, ``card.yaml`` (the
card with the installed sha256 filled in) and ``installed.json`` (how and when it got there, and
the sha256 of every file). The sha256 of a file is checked every time it is handed out
(:meth:`ModelStore.verified_path`, :meth:`ModelStore.verified_bytes`).

Installs are atomic: files are staged in a hidden folder beside the target, hashed there, checked
against the card's pins and renamed into place; a failed install leaves the previous one intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._hashing import sha256_file
from ..errors import ConfigError, ModelIntegrityError, ModelNotInstalled
from .card import ModelCard, load_card, load_cards, valid_name

try:
    import fcntl
except ImportError:  # Windows: installs are serialised within one process only
    fcntl = None  # type: ignore[assignment]

__all__ = ["sha256_file", "sha256_bytes", "InstalledModel", "ModelStore"]

_RESERVED = ("card.yaml", "installed.json")
#: the store-wide lock file (installs and removals from several processes are serialised on it)
LOCK_FILE = ".lock"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class InstalledModel:
    name: str
    folder: Path
    card: ModelCard
    resolver: str
    origin: str
    installed_at: str
    files: dict[str, str]  # file name -> sha256
    meta: dict[str, Any] | None = None  # everything installed.json records (forced, source_sha256, ...)

    @property
    def path(self) -> Path:
        return self.folder / self.card.file

    @property
    def forced(self) -> bool:
        """True when the source file's sha256 did not match the card and ``--force`` installed it."""
        return bool((self.meta or {}).get("forced"))


class ModelStore:
    """A folder of installed models. Safe to share between threads (reads only, installs locked).

    ``cards_dir`` (optional) holds extra or overriding model cards (``NAME.yaml``); without it the
    cards packaged with synthwatch are used.
    """

    def __init__(self, root: Path, *, cards_dir: Path | None = None) -> None:
        self.root = Path(root)
        self.cards_dir = Path(cards_dir) if cards_dir is not None else None
        self._lock = threading.Lock()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the store's write lock: a thread lock plus an advisory file lock (POSIX) so that two
        processes (the CLI and the service, say) never install into the same store at once."""
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the flock

    # ----------------------------------------------------------------- cards
    def card(self, name: str) -> ModelCard:
        """The card that says how to install ``name`` (not the installed copy)."""
        return load_card(name, self.cards_dir)

    def cards(self) -> dict[str, ModelCard]:
        return load_cards(self.cards_dir)

    def known_names(self) -> list[str]:
        return sorted(self.cards())

    def install_hint(self, name: str) -> str:
        try:
            card = self.card(name)
        except (ModelNotInstalled, ConfigError):
            return ""
        return card.install_command()

    # ----------------------------------------------------------------- queries
    def folder(self, name: str) -> Path:
        if not valid_name(name):
            raise ModelNotInstalled(name, "invalid model name")
        return self.root / name

    def is_installed(self, name: str) -> bool:
        try:
            return (self.folder(name) / "installed.json").is_file()
        except ModelNotInstalled:
            return False

    def installed(self, name: str) -> InstalledModel:
        folder = self.folder(name)
        meta_path = folder / "installed.json"
        if not meta_path.is_file():
            raise ModelNotInstalled(name, self.install_hint(name))
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict) or not isinstance(meta.get("files", {}), dict):
                raise ValueError("installed.json is not a mapping with a 'files' mapping")
            card = ModelCard.from_yaml(folder / "card.yaml")
        except (OSError, ValueError, ConfigError) as exc:
            raise ModelIntegrityError(
                f"model {name!r}: the store record is damaged ({exc}); reinstall with: "
                f"{self.install_hint(name)}") from exc
        return InstalledModel(name=name, folder=folder, card=card, resolver=meta.get("resolver", "?"),
                              origin=meta.get("origin", ""), installed_at=meta.get("installed_at", ""),
                              files=dict(meta.get("files", {})), meta=meta)

    def list_installed(self) -> list[InstalledModel]:
        if not self.root.is_dir():
            return []
        out = []
        for p in sorted(self.root.iterdir()):
            if p.name.startswith(".") or not (p / "installed.json").is_file():
                continue
            try:
                out.append(self.installed(p.name))
            except ModelIntegrityError:
                continue  # a damaged record shows up as such in :meth:`verify`
        return out

    def _checked(self, name: str, file: str | None) -> tuple[InstalledModel, str, Path, str]:
        inst = self.installed(name)
        fname = file or inst.card.file
        if not valid_name(fname) or fname in _RESERVED:
            raise ModelNotInstalled(name, f"invalid file name {fname!r}")
        path = inst.folder / fname
        if not path.is_file():
            raise ModelNotInstalled(name, self.install_hint(name) + f" (file {fname} is missing)")
        expected = inst.files.get(fname)
        if expected is None:
            raise ModelIntegrityError(f"model {name!r}: no recorded sha256 for {fname}")
        return inst, fname, path, expected

    def _mismatch(self, name: str, fname: str, actual: str, expected: str) -> ModelIntegrityError:
        return ModelIntegrityError(
            f"model {name!r}: {fname} has sha256 {actual}, expected {expected}; "
            f"reinstall with: {self.install_hint(name)}")

    def verified_path(self, name: str, file: str | None = None) -> Path:
        """Path of an installed model file after checking its sha256 (on every call)."""
        _, fname, path, expected = self._checked(name, file)
        actual = sha256_file(path)
        if actual != expected:
            raise self._mismatch(name, fname, actual, expected)
        return path

    def verified_bytes(self, name: str, file: str | None = None) -> bytes:
        """Contents of an installed model file, read once and checked against its sha256, so that
        what is used is exactly what was hashed (no window for the file to change in between)."""
        _, fname, path, expected = self._checked(name, file)
        data = path.read_bytes()
        actual = sha256_bytes(data)
        if actual != expected:
            raise self._mismatch(name, fname, actual, expected)
        return data

    def verify(self, name: str) -> dict[str, str]:
        """Check every recorded file of an installed model. Returns file name -> problem
        (empty when all is well). Raises :class:`ModelNotInstalled` when it is not installed."""
        try:
            inst = self.installed(name)
        except ModelIntegrityError as exc:
            return {"installed.json": str(exc)}
        problems: dict[str, str] = {}
        for fname in inst.card.files:
            if fname not in inst.files:
                problems[fname] = "no recorded sha256"
        for fname, expected in inst.files.items():
            path = inst.folder / fname
            if not valid_name(fname) or not path.is_file():
                problems[fname] = "missing"
                continue
            actual = sha256_file(path)
            if actual != expected:
                problems[fname] = f"sha256 {actual} != recorded {expected}"
        return problems

    # ----------------------------------------------------------------- writes
    def install(self, name: str, files: dict[str, Path], *, resolver: str, origin: str,
                card: ModelCard | None = None, extra: dict[str, Any] | None = None,
                move: bool = False) -> InstalledModel:
        """Put ``files`` (store file name -> source path) into place atomically and record them.

        Every file the card names (``file`` and ``extra_files``) must be given; the hashes are
        taken from the staged copies and must match the card's pins. ``move=True`` moves the
        sources (temporary files) instead of copying them.
        """
        card = card or self.card(name)
        if card.name != name:
            raise ConfigError(f"card {card.name!r} used to install model {name!r}")
        for fname in card.files:
            if fname not in files:
                raise ModelNotInstalled(name, f"installation did not produce {fname}")
        for fname in files:
            if not valid_name(fname) or fname in _RESERVED:
                raise ConfigError(f"invalid store file name {fname!r}")
        with self._writing():
            staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.root))
            try:
                staging.chmod(0o755)  # mkdtemp makes it private; model files are not secrets
                hashes: dict[str, str] = {}
                for fname, p in files.items():
                    dst = staging / fname
                    if move:
                        shutil.move(os.fspath(p), dst)
                    else:
                        shutil.copyfile(p, dst)
                    hashes[fname] = sha256_file(dst)
                for fname, pin in card.pinned.items():
                    if hashes[fname] != pin:
                        raise ModelIntegrityError(
                            f"model {name!r}: {fname} has sha256 {hashes[fname]}, the card pins {pin}")
                card = replace(card, sha256=hashes[card.file],
                               extra_files={f: hashes[f] for f in card.extra_files})
                (staging / "card.yaml").write_text(card.to_yaml(), encoding="utf-8")
                meta = {"name": name, "resolver": resolver, "origin": origin,
                        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                        "files": hashes, **(extra or {})}
                (staging / "installed.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
                target = self.folder(name)
                old = None
                if target.exists():
                    old = Path(tempfile.mkdtemp(prefix=f".{name}-old-", dir=self.root))
                    old.rmdir()
                    target.rename(old)
                try:
                    staging.rename(target)
                except BaseException:
                    if old is not None:
                        old.rename(target)  # put the previous install back
                    raise
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            return self.installed(name)  # read under the lock: this install, not a later one

    def update_card(self, name: str, card: ModelCard) -> InstalledModel:
        """Replace the installed card of ``name`` (e.g. a threshold fitted by ``synthwatch eval``).

        Model files and their recorded sha256 are untouched; the card is validated and written
        atomically under the store's write lock."""
        card.validate()
        with self._writing():
            folder = self.installed(name).folder
            tmp = folder / f".card-{os.getpid()}.yaml"
            tmp.write_text(card.to_yaml(), encoding="utf-8")
            os.replace(tmp, folder / "card.yaml")
        return self.installed(name)

    def remove(self, name: str) -> bool:
        folder = self.folder(name)
        if not folder.exists():
            return False
        with self._writing():
            if not folder.exists():
                return False
            trash = Path(tempfile.mkdtemp(prefix=f".{name}-rm-", dir=self.root))
            trash.rmdir()
            folder.rename(trash)  # atomic: readers see it installed or gone, never half-deleted
            shutil.rmtree(trash, ignore_errors=True)
        return True

    def workdir(self, name: str) -> Path:
        """A fresh scratch folder inside the store (same file system, so installs can move files).
        The caller removes it."""
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".work-{name}-", dir=self.root))
