"""Detector registry: built-ins by name plus plugins from the ``synthwatch.detectors`` entry-point
group (value ``module:Class``, the class a :class:`~synthwatch.detectors.base.Detector`)."""

from __future__ import annotations

import importlib
import threading
from importlib.metadata import entry_points

from ..errors import SynthwatchError, UnknownDetector
from ..models.store import ModelStore
from .base import Detector

__all__ = ["BUILTIN", "available", "detector_class", "create", "default_names", "missing_models"]

#: name -> "module:Class" (imported lazily so listing detectors stays cheap)
BUILTIN: dict[str, str] = {
    "aasist": "synthwatch.detectors.audio.aasist:AASIST",
    "aasist-l": "synthwatch.detectors.audio.aasist:AASISTL",
    "rawgat-st": "synthwatch.detectors.audio.rawgat:RawGATST",
    "sw-voice": "synthwatch.detectors.audio.sw_voice:SwVoice",
    "clip-probe": "synthwatch.detectors.image.clip_probe:ClipProbe",
    "sw-image": "synthwatch.detectors.image.sw_image:SwImage",
    "meso4-df": "synthwatch.detectors.face.mesonet:Meso4DF",
    "meso4-f2f": "synthwatch.detectors.face.mesonet:Meso4F2F",
    "mesoinception-df": "synthwatch.detectors.face.mesonet:MesoInceptionDF",
    "mesoinception-f2f": "synthwatch.detectors.face.mesonet:MesoInceptionF2F",
}

_lock = threading.Lock()
_cache: dict[str, type[Detector]] = {}


def _load_ref(ref: str) -> type[Detector]:
    mod_name, _, attr = ref.partition(":")
    cls = getattr(importlib.import_module(mod_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Detector)):
        raise UnknownDetector(f"{ref} is not a synthwatch Detector")
    return cls


def _refs() -> dict[str, str]:
    refs = dict(BUILTIN)
    for ep in entry_points(group="synthwatch.detectors"):
        refs.setdefault(ep.name, ep.value)
    return refs


def available() -> list[str]:
    """Every registered detector name (built-in and plugins), sorted."""
    return sorted(_refs())


def detector_class(name: str) -> type[Detector]:
    with _lock:
        if name in _cache:
            return _cache[name]
        refs = _refs()
        if name not in refs:
            raise UnknownDetector(f"no detector named {name!r}; registered: {', '.join(sorted(refs))}")
        cls = _load_ref(refs[name])
        _cache[name] = cls
        return cls


def create(name: str) -> Detector:
    return detector_class(name)()


def default_names() -> list[str]:
    return [n for n in available() if detector_class(n).info.default]


def missing_models(name: str, store: ModelStore) -> list[str]:
    """The models detector ``name`` needs that are not usable here (its own ``model`` and every
    ``requires`` entry; a model shipped inside synthwatch counts as installed when it verifies)."""
    from ..models.resolvers import model_status

    info = detector_class(name).info
    needed = [m for m in (info.model, *info.requires) if m]
    missing = []
    for m in needed:
        try:
            ok = model_status(store, m, verify=False).ok
        except SynthwatchError:
            ok = False
        if not ok:
            missing.append(m)
    return missing
