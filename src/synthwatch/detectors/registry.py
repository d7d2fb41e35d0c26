"""Detector registry: detectors by name, built-ins and plugins alike from the ``synthwatch.detectors``
entry-point group (value ``module:Class``, the class a :class:`~synthwatch.detectors.base.Detector`).

synthwatch declares its own detectors in that group (``pyproject.toml``), so a plugin package adds
one line to its own metadata and is found the same way. A :class:`Registry` is an object: build one,
:meth:`~Registry.register` into it (a class or a ``"module:Class"`` reference) and hand it to a
:class:`~synthwatch.pipeline.scan.Scanner` or an evaluation, without touching the process-wide
:func:`default_registry` that the module-level functions below use.

Detectors whose ``info.hidden`` is set (the model-free debug detectors of :mod:`synthwatch.testing`)
are left out of :meth:`~Registry.available` and of ``all``; they are selected only by name.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable
from importlib.metadata import entry_points

from ..errors import ConfigError, SynthwatchError, UnknownDetector
from ..models.store import ModelStore
from .base import Detector

__all__ = ["GROUP", "Registry", "default_registry", "available", "detector_class", "create", "default_names",
           "missing_models"]

#: the entry-point group every detector (built-in or plugin) is declared in
GROUP = "synthwatch.detectors"


def _load_ref(ref: str) -> type[Detector]:
    mod_name, _, attr = ref.partition(":")
    try:
        cls = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UnknownDetector(f"cannot import detector {ref}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Detector)):
        raise UnknownDetector(f"{ref} is not a synthwatch Detector")
    return cls


class Registry:
    """Detectors by name. Thread-safe; classes are imported lazily, on first use of each name.

    ``Registry()`` starts with every detector declared in the entry-point group;
    ``Registry(entry_points=False)`` starts empty."""

    def __init__(self, *, entry_points: bool = True) -> None:
        self._lock = threading.RLock()
        self._refs: dict[str, str | type[Detector]] = {}
        self._classes: dict[str, type[Detector]] = {}
        if entry_points:
            for name, ref in discovered().items():
                self._refs.setdefault(name, ref)

    def register(self, name: str, detector: str | type[Detector], *, replace: bool = False) -> None:
        """Add ``detector`` (a class or ``"module:Class"``) under ``name``; ``replace`` to override one."""
        if not name or not isinstance(name, str):
            raise ConfigError("a detector needs a name")
        if isinstance(detector, type):
            if not issubclass(detector, Detector):
                raise UnknownDetector(f"{detector!r} is not a synthwatch Detector")
            if detector.info.name != name:
                raise ConfigError(f"cannot register {detector.__name__} as {name!r}: it calls itself "
                                  f"{detector.info.name!r}")
        with self._lock:
            if name in self._refs and not replace:
                raise ConfigError(f"a detector named {name!r} is already registered")
            self._refs[name] = detector
            self._classes.pop(name, None)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._refs.pop(name, None)
            self._classes.pop(name, None)

    def names(self) -> list[str]:
        """Every registered name, hidden ones included, sorted."""
        with self._lock:
            return sorted(self._refs)

    def available(self) -> list[str]:
        """Every registered detector that is not hidden, sorted."""
        return [n for n in self.names() if not self.detector_class(n).info.hidden]

    def detector_class(self, name: str) -> type[Detector]:
        with self._lock:
            cls = self._classes.get(name)
            if cls is not None:
                return cls
            ref = self._refs.get(name)
            if ref is None:
                shown = [n for n in sorted(self._refs)]
                raise UnknownDetector(f"no detector named {name!r}; registered: {', '.join(shown) or 'none'}")
            cls = ref if isinstance(ref, type) else _load_ref(ref)
            self._classes[name] = cls
            return cls

    def create(self, name: str) -> Detector:
        return self.detector_class(name)()

    def default_names(self) -> list[str]:
        return [n for n in self.available() if self.detector_class(n).info.default]

    def resolve(self, names: Iterable[str] | None, fallback: Iterable[str] | None = None) -> list[str]:
        """The detector names a caller asked for: ``None`` -> ``fallback`` or the defaults, ``["all"]`` ->
        every available detector; each checked (:class:`UnknownDetector` for a name not registered)
        and de-duplicated in order."""
        chosen = list(names) if names is not None else (list(fallback) if fallback else self.default_names())
        if chosen == ["all"]:
            chosen = self.available()
        out: list[str] = []
        for n in chosen:
            info_name = self.detector_class(n).info.name
            if info_name not in out:
                out.append(info_name)
        return out

    def missing_models(self, name: str, store: ModelStore) -> list[str]:
        """The models detector ``name`` needs that are not usable here (its own ``model`` and every
        ``requires`` entry; a model shipped inside synthwatch counts as installed when it verifies)."""
        from ..models.resolvers import model_status

        info = self.detector_class(name).info
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


def discovered() -> dict[str, str]:
    """name -> ``module:Class`` for every detector declared in the entry-point group."""
    found: dict[str, str] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep.value)
    return found


_default_lock = threading.Lock()
_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry (built from the entry points on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            reg = Registry()
            if not reg.names():
                raise ConfigError("no detectors are registered: synthwatch's entry points are missing "
                                  "(install the package: pip install -e .)")
            _default = reg
        return _default


def available() -> list[str]:
    """Every registered detector name (built-in and plugins) that is not hidden, sorted."""
    return default_registry().available()


def detector_class(name: str) -> type[Detector]:
    return default_registry().detector_class(name)


def create(name: str) -> Detector:
    return default_registry().create(name)


def default_names() -> list[str]:
    return default_registry().default_names()


def missing_models(name: str, store: ModelStore) -> list[str]:
    return default_registry().missing_models(name, store)
