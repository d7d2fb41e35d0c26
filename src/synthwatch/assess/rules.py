"""The self-assessment rules as data: triggers, basic facts, checklist items and their criteria.

The rules are YAML (format ``synthwatch.assess.rules/1``) shipped with the package
(``assess/rules/provisions-2018.yaml``); a compliance officer corrects a copy and points
``synthwatch assess create`` at it (``--rules FILE``; the API uses the shipped rules). Every text
is bilingual (``zh`` and ``en``, both required). Every figure a criterion names must be one the
collectors measure (``assess/catalogue.yaml``); :func:`load_rules` checks the whole file and names
the first bad field. A report records the rules' ``version`` and the sha256 of the file's bytes.

A criterion is either *measured* (``metric: <evidence>.<figure>`` with ``pass`` / ``warn``
bounds; ``missing`` says what an absent figure counts as) or *declared* (``declared:
<declaration id>``, optionally checking one declared ``figure`` against bounds, or requiring
dated ``documents`` of the named kinds). Bounds are one comparison: ``{ge: 0.95}``, ``{le: 86400}``,
``{eq: true}``; a value meeting ``pass`` passes, else meeting ``warn`` warns, else fails.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

__all__ = ["RULES_FORMAT", "Text", "Bound", "Criterion", "Item", "Trigger", "Fact", "Rules", "FigureSpec",
           "EvidenceSpec", "Catalogue", "load_rules", "default_rules", "catalogue", "STATUSES"]

RULES_FORMAT = "synthwatch.assess.rules/1"
OPS = ("ge", "gt", "le", "lt", "eq")
#: the outcome of a criterion or an item, best to worst
STATUSES = ("pass", "declared", "warn", "fail", "not_applicable")
UNITS = ("s", "share", "count", "days", "hours", "per10k", "bool", "number", "text")
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,60}$")


@dataclass(frozen=True, slots=True)
class Text:
    """A bilingual text: Chinese (the filing language) and English."""

    zh: str
    en: str

    def to_dict(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}


@dataclass(frozen=True, slots=True)
class Bound:
    op: str
    value: float | bool

    def holds(self, x: float | bool) -> bool:
        if self.op == "eq":
            return x == self.value
        if isinstance(x, bool) or isinstance(self.value, bool):
            return False
        v = float(self.value)
        return {"ge": x >= v, "gt": x > v, "le": x <= v, "lt": x < v}[self.op]

    def to_dict(self) -> dict[str, Any]:
        return {self.op: self.value}


@dataclass(frozen=True, slots=True)
class Criterion:
    id: str
    text: Text
    metric: str | None = None  # "<evidence>.<figure>" (measured)
    declared: str | None = None  # a declaration id (declared)
    figure: str | None = None  # a declared figure checked against the bounds
    passes: Bound | None = None
    warns: Bound | None = None
    missing: str = "warn"
    functions: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()

    @property
    def basis(self) -> str:
        return "measured" if self.metric else "declared"

    @property
    def evidence_id(self) -> str | None:
        return self.metric.rsplit(".", 1)[0] if self.metric else None

    @property
    def figure_name(self) -> str | None:
        return self.metric.rsplit(".", 1)[1] if self.metric else self.figure


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    title: Text
    requirement: Text
    evidence: tuple[str, ...]
    declarations: tuple[str, ...]
    criteria: tuple[Criterion, ...]
    applies_triggers: tuple[str, ...] = ()
    applies_functions: tuple[str, ...] = ()

    def applies(self, triggers: list[str] | tuple[str, ...], function_kind: str) -> bool:
        """Items without ``applies`` always apply; otherwise any named trigger or function kind."""
        if not self.applies_triggers and not self.applies_functions:
            return True
        return bool(set(triggers) & set(self.applies_triggers)) or function_kind in self.applies_functions


@dataclass(frozen=True, slots=True)
class Trigger:
    id: str
    text: Text
    when: Text


@dataclass(frozen=True, slots=True)
class Fact:
    id: str
    label: Text


@dataclass(frozen=True)
class Rules:
    version: str
    title: Text
    basis: Text
    window_days: float
    max_evidence_age_days: float
    timezone_offset_hours: float
    triggers: tuple[Trigger, ...]
    functions: dict[str, Text]
    facts: tuple[Fact, ...]
    items: tuple[Item, ...]
    sha256: str
    name: str
    text: str = field(repr=False)

    def trigger(self, tid: str) -> Trigger | None:
        return next((t for t in self.triggers if t.id == tid), None)

    def item(self, iid: str) -> Item | None:
        return next((i for i in self.items if i.id == iid), None)

    def criterion(self, cid: str) -> tuple[Item, Criterion] | None:
        for item in self.items:
            for c in item.criteria:
                if c.id == cid:
                    return item, c
        return None

    @property
    def declaration_ids(self) -> list[str]:
        seen: list[str] = []
        for item in self.items:
            for d in item.declarations:
                if d not in seen:
                    seen.append(d)
        return seen

    @property
    def evidence_ids(self) -> list[str]:
        seen: list[str] = []
        for item in self.items:
            for e in item.evidence:
                if e not in seen:
                    seen.append(e)
        return seen


# ------------------------------------------------------------------------------------------ catalogue
@dataclass(frozen=True, slots=True)
class FigureSpec:
    label: Text
    unit: str


@dataclass(frozen=True, slots=True)
class EvidenceSpec:
    id: str
    title: Text
    figures: dict[str, FigureSpec]


@dataclass(frozen=True)
class Catalogue:
    evidence: dict[str, EvidenceSpec]
    declarations: dict[str, Text]
    documents: dict[str, Text]

    def figure(self, metric: str) -> FigureSpec | None:
        ev, _, name = metric.rpartition(".")
        spec = self.evidence.get(ev)
        return spec.figures.get(name) if spec else None


class _Reader:
    """Field-by-field validation with the path of the bad field in every message."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, where: str, why: str) -> ConfigError:
        return ConfigError(f"{self.name}: {where}: {why}")

    def mapping(self, v: Any, where: str, keys: tuple[str, ...] | None = None,
                required: tuple[str, ...] = ()) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise self.fail(where, "expected a mapping")
        if keys is not None:
            unknown = sorted(str(k) for k in v if k not in keys)
            if unknown:
                raise self.fail(where, f"unknown field(s) {', '.join(unknown)} (allowed: {', '.join(keys)})")
        for k in required:
            if k not in v:
                raise self.fail(where, f"missing field {k!r}")
        return v

    def text(self, v: Any, where: str) -> Text:
        m = self.mapping(v, where, ("zh", "en"), ("zh", "en"))
        zh, en = m["zh"], m["en"]
        for lang, s in (("zh", zh), ("en", en)):
            if not isinstance(s, str) or not s.strip():
                raise self.fail(f"{where}.{lang}", "a non-empty text is required in both languages")
        return Text(zh.strip(), en.strip())

    def ident(self, v: Any, where: str) -> str:
        if not isinstance(v, str) or not _ID.match(v):
            raise self.fail(where, f"not an identifier: {v!r}")
        return v

    def number(self, v: Any, where: str, lo: float = 0.0) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or v < lo:
            raise self.fail(where, f"expected a number >= {lo:g}")
        return float(v)

    def ids(self, v: Any, where: str) -> tuple[str, ...]:
        if v is None:
            return ()
        if not isinstance(v, list):
            raise self.fail(where, "expected a list")
        return tuple(self.ident(x, f"{where}[{i}]") for i, x in enumerate(v))

    def bound(self, v: Any, where: str) -> Bound:
        m = self.mapping(v, where, OPS)
        if len(m) != 1:
            raise self.fail(where, f"one comparison ({', '.join(OPS)}), e.g. {{ge: 0.95}}")
        op, value = next(iter(m.items()))
        if op == "eq":
            if not isinstance(value, bool | int | float):
                raise self.fail(where, "eq compares with true, false or a number")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"{op} needs a number")
        return Bound(op, value)


def _yaml(text: str, name: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: not valid YAML: {exc}") from exc


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The evidence catalogue shipped with the package (``assess/catalogue.yaml``)."""
    text = (resources.files("synthwatch.assess") / "catalogue.yaml").read_text(encoding="utf-8")
    r = _Reader("catalogue.yaml")
    doc = r.mapping(_yaml(text, r.name), "", ("evidence", "declarations", "documents"),
                    ("evidence", "declarations", "documents"))
    evidence: dict[str, EvidenceSpec] = {}
    for eid, spec in r.mapping(doc["evidence"], "evidence").items():
        where = f"evidence.{eid}"
        m = r.mapping(spec, where, ("title", "figures"), ("title", "figures"))
        figures: dict[str, FigureSpec] = {}
        for fname, f in r.mapping(m["figures"], f"{where}.figures").items():
            fm = r.mapping(f, f"{where}.figures.{fname}", ("zh", "en", "unit"), ("zh", "en", "unit"))
            if fm["unit"] not in UNITS:
                raise r.fail(f"{where}.figures.{fname}.unit", f"one of {', '.join(UNITS)}")
            figures[str(fname)] = FigureSpec(r.text({"zh": fm["zh"], "en": fm["en"]}, f"{where}.figures.{fname}"),
                                             fm["unit"])
        evidence[str(eid)] = EvidenceSpec(str(eid), r.text(m["title"], f"{where}.title"), figures)
    declarations = {str(k): r.text(v, f"declarations.{k}") for k, v in r.mapping(doc["declarations"],
                                                                                  "declarations").items()}
    documents = {str(k): r.text(v, f"documents.{k}") for k, v in r.mapping(doc["documents"], "documents").items()}
    return Catalogue(evidence, declarations, documents)


def _criterion(r: _Reader, c: Any, where: str, cat: Catalogue, functions: dict[str, Text],
               item_decls: tuple[str, ...], item_evidence: tuple[str, ...]) -> Criterion:
    m = r.mapping(c, where, ("id", "text", "metric", "declared", "figure", "pass", "warn", "missing", "functions",
                             "documents"), ("id", "text"))
    cid = r.ident(m["id"], f"{where}.id")
    text = r.text(m["text"], f"{where}.text")
    metric, declared = m.get("metric"), m.get("declared")
    if (metric is None) == (declared is None):
        raise r.fail(where, "a criterion is either measured (metric:) or declared (declared:)")
    passes = r.bound(m["pass"], f"{where}.pass") if "pass" in m else None
    warns = r.bound(m["warn"], f"{where}.warn") if "warn" in m else None
    missing = m.get("missing", "warn")
    if missing not in ("warn", "fail"):
        raise r.fail(f"{where}.missing", "warn or fail")
    fns = r.ids(m.get("functions"), f"{where}.functions")
    for f in fns:
        if f not in functions:
            raise r.fail(f"{where}.functions", f"unknown function kind {f!r}")
    documents = r.ids(m.get("documents"), f"{where}.documents")
    for d in documents:
        if d not in cat.documents:
            raise r.fail(f"{where}.documents", f"unknown document kind {d!r} (catalogue: {', '.join(cat.documents)})")
    if metric is not None:
        if not isinstance(metric, str) or cat.figure(metric) is None:
            raise r.fail(f"{where}.metric", f"{metric!r} is not a figure synthwatch measures (see catalogue.yaml)")
        if metric.rsplit(".", 1)[0] not in item_evidence:
            raise r.fail(f"{where}.metric", f"the item does not list evidence {metric.rsplit('.', 1)[0]!r}")
        if passes is None:
            raise r.fail(where, "a measured criterion needs a pass bound")
        if "figure" in m or documents:
            raise r.fail(where, "figure and documents belong to declared criteria")
        return Criterion(cid, text, metric=metric, passes=passes, warns=warns, missing=missing, functions=fns)
    did = r.ident(declared, f"{where}.declared")
    if did not in cat.declarations:
        raise r.fail(f"{where}.declared", f"unknown declaration {did!r} (catalogue: {', '.join(cat.declarations)})")
    if did not in item_decls:
        raise r.fail(f"{where}.declared", f"the item does not list declaration {did!r}")
    figure = m.get("figure")
    if figure is not None:
        figure = r.ident(figure, f"{where}.figure")
        if passes is None:
            raise r.fail(where, "a declared figure needs a pass bound")
    elif passes is not None or warns is not None:
        raise r.fail(where, "bounds on a declared criterion need a figure")
    return Criterion(cid, text, declared=did, figure=figure, passes=passes, warns=warns, missing="fail",
                     functions=fns, documents=documents)


def parse_rules(text: str, name: str = "rules") -> Rules:
    """Validate a rules document (see the module doc); raises ConfigError naming the bad field."""
    r = _Reader(name)
    cat = catalogue()
    keys = ("format", "version", "title", "basis", "window_days", "max_evidence_age_days", "timezone_offset_hours",
            "triggers", "functions", "facts", "items")
    doc = r.mapping(_yaml(text, name), "(top)", keys, keys)
    if doc["format"] != RULES_FORMAT:
        raise r.fail("format", f"expected {RULES_FORMAT!r}")
    version = doc["version"]
    if not isinstance(version, str) or not version.strip() or len(version) > 60:
        raise r.fail("version", "a version string (at most 60 characters)")
    functions = {r.ident(k, f"functions.{k}"): r.text(v, f"functions.{k}")
                 for k, v in r.mapping(doc["functions"], "functions").items()}
    if "other" not in functions:
        raise r.fail("functions", "the kind 'other' is required")
    triggers: list[Trigger] = []
    for i, t in enumerate(doc["triggers"] if isinstance(doc["triggers"], list) else []):
        m = r.mapping(t, f"triggers[{i}]", ("id", "text", "when"), ("id", "text", "when"))
        triggers.append(Trigger(r.ident(m["id"], f"triggers[{i}].id"), r.text(m["text"], f"triggers[{i}].text"),
                                r.text(m["when"], f"triggers[{i}].when")))
    if not triggers:
        raise r.fail("triggers", "a non-empty list")
    facts: list[Fact] = []
    for i, f in enumerate(doc["facts"] if isinstance(doc["facts"], list) else []):
        m = r.mapping(f, f"facts[{i}]", ("id", "label"), ("id", "label"))
        facts.append(Fact(r.ident(m["id"], f"facts[{i}].id"), r.text(m["label"], f"facts[{i}].label")))
    if not facts:
        raise r.fail("facts", "a non-empty list")
    items: list[Item] = []
    seen: set[str] = set()
    if not isinstance(doc["items"], list) or not doc["items"]:
        raise r.fail("items", "a non-empty list")
    for i, it in enumerate(doc["items"]):
        where = f"items[{i}]"
        m = r.mapping(it, where, ("id", "title", "requirement", "evidence", "declarations", "criteria", "applies"),
                      ("id", "title", "requirement", "criteria"))
        iid = r.ident(m["id"], f"{where}.id")
        where = f"items.{iid}"
        evidence = r.ids(m.get("evidence"), f"{where}.evidence")
        for e in evidence:
            if e not in cat.evidence:
                raise r.fail(f"{where}.evidence", f"unknown evidence {e!r} (catalogue: {', '.join(cat.evidence)})")
        decls = r.ids(m.get("declarations"), f"{where}.declarations")
        for d in decls:
            if d not in cat.declarations:
                raise r.fail(f"{where}.declarations", f"unknown declaration {d!r}")
        if not isinstance(m["criteria"], list) or not m["criteria"]:
            raise r.fail(f"{where}.criteria", "a non-empty list")
        crit = tuple(_criterion(r, c, f"{where}.criteria[{j}]", cat, functions, decls, evidence)
                     for j, c in enumerate(m["criteria"]))
        for c in (iid, *(c.id for c in crit)):
            if c in seen:
                raise r.fail(where, f"id {c!r} is used twice")
            seen.add(c)
        applies = r.mapping(m.get("applies") or {}, f"{where}.applies", ("triggers", "functions"))
        a_trig = r.ids(applies.get("triggers"), f"{where}.applies.triggers")
        a_fn = r.ids(applies.get("functions"), f"{where}.applies.functions")
        for tid in a_trig:
            if tid not in {t.id for t in triggers}:
                raise r.fail(f"{where}.applies.triggers", f"unknown trigger {tid!r}")
        for fn in a_fn:
            if fn not in functions:
                raise r.fail(f"{where}.applies.functions", f"unknown function kind {fn!r}")
        items.append(Item(iid, r.text(m["title"], f"{where}.title"), r.text(m["requirement"], f"{where}.requirement"),
                          evidence, decls, crit, a_trig, a_fn))
    return Rules(version=version.strip(), title=r.text(doc["title"], "title"), basis=r.text(doc["basis"], "basis"),
                 window_days=r.number(doc["window_days"], "window_days", 1.0),
                 max_evidence_age_days=r.number(doc["max_evidence_age_days"], "max_evidence_age_days", 1.0),
                 timezone_offset_hours=r.number(doc["timezone_offset_hours"], "timezone_offset_hours", -14.0),
                 triggers=tuple(triggers), functions=functions, facts=tuple(facts), items=tuple(items),
                 sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), name=name, text=text)


@lru_cache(maxsize=1)
def default_rules() -> Rules:
    """The rules shipped with the package."""
    text = (resources.files("synthwatch.assess") / "rules" / "provisions-2018.yaml").read_text(encoding="utf-8")
    return parse_rules(text, "provisions-2018.yaml")


def load_rules(path: str | Path | None = None) -> Rules:
    """The shipped rules, or a corrected copy at ``path``."""
    if path is None:
        return default_rules()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the assessment rules {p}: {exc}") from exc
    return parse_rules(text, p.name)
