"""Checkpoint converters: turn a published checkpoint (PyTorch ``.pth``, Keras ``.h5``) into ONNX,
once, at import time. Converters need the ``[convert]`` extra (PyTorch, onnx, h5py); scans never do.

A converter is ``convert(src: Path, workdir: Path, card: ModelCard) -> dict[str, Path]``: it writes
the files the store should hold (at least ``card.file``) under ``workdir`` and returns them by
store file name. It must load checkpoints safely (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from ...errors import ModelConversionError
from ..card import ModelCard

__all__ = ["CONVERTERS", "get_converter"]

Converter = Callable[[Path, Path, ModelCard], dict[str, Path]]

#: converter name (a card resolver's ``convert``) -> "module:function"
CONVERTERS: dict[str, str] = {
    "aasist": "synthwatch.models.convert.aasist:convert",
    "rawgat-st": "synthwatch.models.convert.rawgat:convert",
    "mesonet": "synthwatch.models.convert.mesonet:convert",
}


def get_converter(name: str) -> Converter:
    if name not in CONVERTERS:
        raise ModelConversionError(f"no converter named {name!r}")
    mod_name, _, attr = CONVERTERS[name].partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ModelConversionError(
            f"converter {name!r} needs the [convert] extra: pip install 'synthwatch[convert]' ({exc})") from exc
    fn: Converter = getattr(mod, attr)
    return fn
