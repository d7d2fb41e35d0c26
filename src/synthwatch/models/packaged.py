"""Models whose weights ship inside the synthwatch package (resolver kind ``package``).

synthwatch's own detectors (trained by :mod:`synthwatch.train`) are small enough to ship in the
wheel: their files sit in ``synthwatch/models/weights/<name>/`` and their card pins every file's
sha256. Nothing is installed into the store and nothing is downloaded: the detector reads the bytes
from the installed package with :func:`read_packaged`, which checks the pin on every load.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

from ..errors import ModelIntegrityError, ModelNotInstalled
from .card import ModelCard

__all__ = ["WEIGHTS_ROOT", "packaged_dir", "packaged_path", "read_packaged", "verify_packaged", "is_packaged"]

#: where shipped weights live, relative to the ``synthwatch`` package
WEIGHTS_ROOT = "models/weights"


def is_packaged(card: ModelCard) -> bool:
    """True when the card's model ships inside the package (a ``package`` resolver)."""
    return card.resolver("package") is not None


def _folder(card: ModelCard) -> str:
    """The folder of ``card``'s files relative to the ``synthwatch`` package."""
    r = card.resolver("package")
    return (r.member if r is not None and r.member else f"{WEIGHTS_ROOT}/{card.name}").strip("/")


def packaged_dir(card: ModelCard) -> Any:
    """The package resource folder of ``card``'s files (a Traversable)."""
    root: Any = resources.files("synthwatch")
    for part in _folder(card).split("/"):
        root = root / part
    return root


def packaged_path(card: ModelCard, fname: str = "") -> str:
    """A readable location of the shipped folder, or of one file in it (for messages)."""
    return f"synthwatch/{_folder(card)}" + (f"/{fname}" if fname else "")


def read_packaged(card: ModelCard, fname: str) -> bytes:
    """The bytes of one shipped file of ``card``, checked against the sha256 the card pins.

    Raises :class:`ModelIntegrityError` when the card pins no hash for ``fname`` or the file does
    not match, :class:`ModelNotInstalled` when the installation lacks the file.
    """
    pin = card.pinned.get(fname)
    if pin is None:
        raise ModelIntegrityError(f"model {card.name!r}: the card pins no sha256 for {fname}; refusing to load it")
    res = packaged_dir(card) / fname
    if not res.is_file():
        raise ModelNotInstalled(card.name, f"pip install --force-reinstall synthwatch "
                                           f"(this installation lacks {packaged_path(card, fname)})")
    data = bytes(res.read_bytes())
    actual = hashlib.sha256(data).hexdigest()
    if actual != pin:
        raise ModelIntegrityError(f"model {card.name!r}: {packaged_path(card, fname)} has sha256 {actual}, "
                                  f"the card pins {pin}; reinstall synthwatch")
    return data


def verify_packaged(card: ModelCard) -> dict[str, str]:
    """Problems per file (empty when every shipped file is present and matches its pin)."""
    problems: dict[str, str] = {}
    for fname in card.files:
        try:
            read_packaged(card, fname)
        except (ModelIntegrityError, ModelNotInstalled) as exc:
            problems[fname] = str(exc)
    return problems
