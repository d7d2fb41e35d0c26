"""An assessment's declared inputs, its evidence, and the evaluation of the rules against them.

* :class:`AssessmentSpec`: what the platform declares (format ``synthwatch.assessment/1``): the
  trigger(s), the function assessed, the basic facts (attested by a named person on a date) and the
  declarations the checklist asks for (each attested too). :func:`parse_spec` validates a document
  from YAML, JSON or a console form against the rules.
* :class:`Evidence`: one evidence set. ``kind`` is ``measured`` (collected from the store: the
  queries, the time window, the figures) or ``declared`` (the statement, who attested it and when).
  Nothing declared ever carries ``measured``: declared evidence is built only from the spec.
* :func:`evaluate`: every applicable criterion against the evidence; failing criteria are the
  findings.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .rules import Bound, Criterion, Item, Rules, Text, catalogue

__all__ = ["SPEC_FORMAT", "Document", "Declaration", "Facts", "AssessmentSpec", "Artefact", "Evidence",
           "CriterionResult", "ItemResult", "parse_spec", "declared_evidence", "evaluate", "worst"]

SPEC_FORMAT = "synthwatch.assessment/1"
_SHA = re.compile(r"^[0-9a-f]{64}$")
_FIGURE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,60}$")
_RANK = {"pass": 0, "declared": 1, "warn": 2, "fail": 3}
MAX_TEXT = 4000


def worst(statuses: list[str]) -> str:
    live = [s for s in statuses if s in _RANK]
    if not live:
        return "not_applicable"
    top = max(live, key=lambda s: _RANK[s])
    if top == "declared" and "pass" in live:
        return "pass"
    return top


# ------------------------------------------------------------------------------------------ the spec
@dataclass(frozen=True)
class Document:
    title: str
    kind: str | None = None
    date: str | None = None
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "kind": self.kind, "date": self.date, "sha256": self.sha256}


@dataclass(frozen=True)
class Declaration:
    id: str
    statement: Text
    attested_by: str
    attested_at: str
    figures: dict[str, float] = field(default_factory=dict)
    documents: tuple[Document, ...] = ()
    not_applicable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"statement": self.statement.to_dict(), "attested_by": self.attested_by,
                "attested_at": self.attested_at, "figures": dict(self.figures),
                "documents": [d.to_dict() for d in self.documents], "not_applicable": self.not_applicable}


@dataclass(frozen=True)
class Facts:
    values: dict[str, Text]
    attested_by: str
    attested_at: str

    def to_dict(self) -> dict[str, Any]:
        return {**{k: v.to_dict() for k, v in self.values.items()}, "attested_by": self.attested_by,
                "attested_at": self.attested_at}


@dataclass(frozen=True)
class AssessmentSpec:
    function_name: Text
    function_kind: str
    triggers: tuple[str, ...]
    facts: Facts
    declarations: dict[str, Declaration]
    trigger_note: Text | None = None
    window_days: float | None = None
    launch_date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"format": SPEC_FORMAT,
                "function": {"name": self.function_name.to_dict(), "kind": self.function_kind,
                             **({"launch_date": self.launch_date} if self.launch_date else {})},
                "triggers": list(self.triggers),
                **({"trigger_note": self.trigger_note.to_dict()} if self.trigger_note else {}),
                **({"window_days": self.window_days} if self.window_days else {}),
                "facts": self.facts.to_dict(),
                "declarations": {k: v.to_dict() for k, v in self.declarations.items()}}


def _fail(where: str, why: str) -> ConfigError:
    return ConfigError(f"assessment {where}: {why}")


def _unicode(s: str, where: str) -> None:
    """Texts are stored and signed as UTF-8: a lone surrogate or a NUL has no place in them."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(where, "not valid Unicode text (a lone surrogate)") from None
    if "\x00" in s:
        raise _fail(where, "a NUL character is not allowed")


def _str(v: Any, where: str, *, limit: int = 300) -> str:
    if isinstance(v, dt.date):
        return v.isoformat()
    if not isinstance(v, str) or not v.strip():
        raise _fail(where, "a non-empty text is required")
    if len(v) > limit:
        raise _fail(where, f"at most {limit} characters")
    _unicode(v, where)
    return v.strip()


def _date(v: Any, where: str) -> str:
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    s = _str(v, where, limit=40)
    try:
        return dt.date.fromisoformat(s[:10]).isoformat()
    except ValueError:
        raise _fail(where, f"not a date (YYYY-MM-DD): {s!r}") from None


def _text(v: Any, where: str) -> Text:
    if not isinstance(v, dict) or set(v) - {"zh", "en"}:
        raise _fail(where, "a text in both languages: {zh: ..., en: ...}")
    zh, en = v.get("zh"), v.get("en")
    for lang, s in (("zh", zh), ("en", en)):
        if not isinstance(s, str) or not s.strip():
            raise _fail(f"{where}.{lang}", "required: every declared text is given in Chinese and in English")
        if len(s) > MAX_TEXT:
            raise _fail(f"{where}.{lang}", f"at most {MAX_TEXT} characters")
        _unicode(s, f"{where}.{lang}")
    return Text(str(zh).strip(), str(en).strip())


def _mapping(v: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise _fail(where, "expected a mapping")
    unknown = sorted(str(k) for k in v if k not in allowed)
    if unknown:
        raise _fail(where, f"unknown field(s) {', '.join(unknown)} (allowed: {', '.join(allowed)})")
    return v


def _documents(v: Any, where: str) -> tuple[Document, ...]:
    if v is None:
        return ()
    if not isinstance(v, list) or len(v) > 100:
        raise _fail(where, "a list (at most 100)")
    out = []
    kinds = catalogue().documents
    for i, d in enumerate(v):
        m = _mapping(d, f"{where}[{i}]", ("title", "kind", "date", "sha256"))
        kind = m.get("kind")
        if kind is not None and kind not in kinds:
            raise _fail(f"{where}[{i}].kind", f"one of {', '.join(kinds)}")
        sha = m.get("sha256")
        if sha is not None and (not isinstance(sha, str) or not _SHA.match(sha)):
            raise _fail(f"{where}[{i}].sha256", "64 lowercase hex digits")
        out.append(Document(_str(m.get("title"), f"{where}[{i}].title"), kind,
                            _date(m["date"], f"{where}[{i}].date") if m.get("date") is not None else None, sha))
    return tuple(out)


def parse_spec(doc: Any, rules: Rules) -> AssessmentSpec:
    """Validate an assessment document (format ``synthwatch.assessment/1``) against ``rules``;
    raises ConfigError naming the bad field."""
    m = _mapping(doc, "(top)", ("format", "function", "triggers", "trigger_note", "window_days", "facts",
                                "declarations"))
    if m.get("format", SPEC_FORMAT) != SPEC_FORMAT:
        raise _fail("format", f"expected {SPEC_FORMAT!r}")
    fn = _mapping(m.get("function"), "function", ("name", "kind", "launch_date"))
    kind = fn.get("kind", "other")
    if kind not in rules.functions:
        raise _fail("function.kind", f"one of {', '.join(rules.functions)}")
    name = _text(fn.get("name"), "function.name")
    trig = m.get("triggers")
    if not isinstance(trig, list) or not trig:
        raise _fail("triggers", f"at least one of {', '.join(t.id for t in rules.triggers)}")
    triggers: list[str] = []
    for i, t in enumerate(trig):
        if not isinstance(t, str) or rules.trigger(t) is None:
            raise _fail(f"triggers[{i}]", f"unknown trigger {t!r} ({', '.join(x.id for x in rules.triggers)})")
        if t not in triggers:
            triggers.append(t)
    window = m.get("window_days")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int | float)
                               or not 1 <= window <= 3660):
        raise _fail("window_days", "a number of days from 1 to 3660")
    facts_doc = _mapping(m.get("facts"), "facts", (*(f.id for f in rules.facts), "attested_by", "attested_at"))
    values: dict[str, Text] = {}
    for f in rules.facts:
        if f.id not in facts_doc:
            raise _fail(f"facts.{f.id}", f"required ({f.label.en} / {f.label.zh})")
        values[f.id] = _text(facts_doc[f.id], f"facts.{f.id}")
    facts = Facts(values, _str(facts_doc.get("attested_by"), "facts.attested_by"),
                  _date(facts_doc.get("attested_at"), "facts.attested_at"))
    decls_doc = _mapping(m.get("declarations") or {}, "declarations", tuple(rules.declaration_ids))
    declarations: dict[str, Declaration] = {}
    for did, d in decls_doc.items():
        where = f"declarations.{did}"
        dm = _mapping(d, where, ("statement", "attested_by", "attested_at", "figures", "documents", "not_applicable"))
        figures: dict[str, float] = {}
        for k, v in _mapping(dm.get("figures") or {}, f"{where}.figures", tuple(dm.get("figures") or {})).items():
            if not isinstance(k, str) or not _FIGURE.match(k):
                raise _fail(f"{where}.figures", f"a figure name is an identifier (letters, digits, _): {k!r}")
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise _fail(f"{where}.figures.{k}", "a number")
            figures[str(k)] = float(v)
        na = dm.get("not_applicable", False)
        if not isinstance(na, bool):
            raise _fail(f"{where}.not_applicable", "true or false")
        declarations[did] = Declaration(did, _text(dm.get("statement"), f"{where}.statement"),
                                        _str(dm.get("attested_by"), f"{where}.attested_by"),
                                        _date(dm.get("attested_at"), f"{where}.attested_at"), figures,
                                        _documents(dm.get("documents"), f"{where}.documents"), na)
    note = _text(m["trigger_note"], "trigger_note") if m.get("trigger_note") is not None else None
    launch = _date(fn["launch_date"], "function.launch_date") if fn.get("launch_date") is not None else None
    return AssessmentSpec(name, kind, tuple(triggers), facts, declarations, note,
                          float(window) if window is not None else None, launch)


# ------------------------------------------------------------------------------------------ evidence
@dataclass(frozen=True)
class Artefact:
    """An exported artefact the report rests on (a chart, an eval run's files, an export zip …)."""

    name: str
    sha256: str
    size: int
    media_type: str
    description: Text

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "size": self.size, "media_type": self.media_type,
                "description": self.description.to_dict()}


@dataclass
class Evidence:
    """One evidence set. Measured: ``queries`` (the exact statements run), ``sources`` (tables or
    files), ``window`` (UNIX seconds) and ``figures``. Declared: ``statement``, ``attested_by``,
    ``attested_at`` (and declared ``figures`` / ``documents``)."""

    id: str
    kind: str  # measured | declared
    title: Text
    figures: dict[str, Any] = field(default_factory=dict)
    window: tuple[float, float] | None = None
    queries: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    collected_at: float | None = None
    notes: list[Text] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)
    artefacts: list[Artefact] = field(default_factory=list)
    statement: Text | None = None
    attested_by: str | None = None
    attested_at: str | None = None
    documents: list[Document] = field(default_factory=list)
    #: measured evidence the store cannot provide at all (why); its figures are None
    unavailable: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "title": self.title.to_dict(),
                               "figures": self.figures, "unavailable": self.unavailable}
        if self.kind == "measured":
            out.update(window=list(self.window) if self.window else None, queries=self.queries,
                       sources=self.sources, collected_at=self.collected_at, series=self.series)
        else:
            out.update(statement=self.statement.to_dict() if self.statement else None, attested_by=self.attested_by,
                       attested_at=self.attested_at, documents=[d.to_dict() for d in self.documents])
        out["notes"] = [n.to_dict() for n in self.notes]
        out["artefacts"] = [a.to_dict() for a in self.artefacts]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evidence:
        def text(t: Any) -> Text | None:
            return Text(t["zh"], t["en"]) if isinstance(t, dict) else None

        ev = cls(id=d["id"], kind=d["kind"], title=Text(d["title"]["zh"], d["title"]["en"]),
                 figures=dict(d.get("figures") or {}), unavailable=d.get("unavailable"))
        if ev.kind == "measured":
            w = d.get("window")
            ev.window = (float(w[0]), float(w[1])) if w else None
            ev.queries = list(d.get("queries") or [])
            ev.sources = list(d.get("sources") or [])
            ev.collected_at = d.get("collected_at")
            ev.series = dict(d.get("series") or {})
        else:
            ev.statement = text(d.get("statement"))
            ev.attested_by = d.get("attested_by")
            ev.attested_at = d.get("attested_at")
            ev.documents = [Document(x["title"], x.get("kind"), x.get("date"), x.get("sha256"))
                            for x in d.get("documents") or []]
        ev.notes = [Text(n["zh"], n["en"]) for n in d.get("notes") or []]
        ev.artefacts = [Artefact(a["name"], a["sha256"], int(a["size"]), a["media_type"],
                                 Text(a["description"]["zh"], a["description"]["en"])) for a in d.get("artefacts") or []]
        return ev


def declared_evidence(spec: AssessmentSpec) -> dict[str, Evidence]:
    """The declared evidence sets, built only from the spec (never from the store)."""
    cat = catalogue()
    out: dict[str, Evidence] = {}
    for did, d in spec.declarations.items():
        out[did] = Evidence(id=did, kind="declared", title=cat.declarations.get(did, Text(did, did)),
                            figures=dict(d.figures), statement=d.statement, attested_by=d.attested_by,
                            attested_at=d.attested_at, documents=list(d.documents))
    return out


# ------------------------------------------------------------------------------------------ evaluation
@dataclass(frozen=True)
class CriterionResult:
    id: str
    status: str  # pass | declared | warn | fail | not_applicable
    basis: str  # measured | declared
    value: Any
    evidence: str | None
    reason: Text | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "basis": self.basis, "value": self.value,
                "evidence": self.evidence, "reason": self.reason.to_dict() if self.reason else None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CriterionResult:
        r = d.get("reason")
        return cls(d["id"], d["status"], d["basis"], d.get("value"), d.get("evidence"),
                   Text(r["zh"], r["en"]) if r else None)


@dataclass(frozen=True)
class ItemResult:
    id: str
    status: str
    applicable: bool
    criteria: tuple[CriterionResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "applicable": self.applicable,
                "criteria": [c.to_dict() for c in self.criteria]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ItemResult:
        return cls(d["id"], d["status"], bool(d["applicable"]),
                   tuple(CriterionResult.from_dict(c) for c in d["criteria"]))


def _grade(value: Any, passes: Bound | None, warns: Bound | None) -> str:
    if passes is not None and passes.holds(value):
        return "pass"
    if warns is not None and warns.holds(value):
        return "warn"
    return "fail"


_NO_DATA = Text("期间内没有可计算该数值的数据", "no data in the window to compute this figure")
_NOT_AVAILABLE = Text("不可用：本系统未存储该证据", "not available: this installation holds no such evidence")
_NOT_DECLARED = Text("未声明（须由负责人签署声明）", "not declared (an attested declaration is required)")
_NO_FIGURE = Text("声明中缺少该数值", "the declaration does not give this figure")


def _measured(c: Criterion, evidence: dict[str, Evidence]) -> CriterionResult:
    eid = c.evidence_id
    ev = evidence.get(eid or "")
    value = ev.figures.get(c.figure_name or "") if ev is not None and ev.kind == "measured" else None
    if ev is not None and ev.unavailable:
        return CriterionResult(c.id, c.missing, "measured", None, eid, _NOT_AVAILABLE)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return CriterionResult(c.id, c.missing, "measured", None, eid, _NO_DATA)
    return CriterionResult(c.id, _grade(value, c.passes, c.warns), "measured", value, eid)


def _declared(c: Criterion, evidence: dict[str, Evidence]) -> CriterionResult:
    ev = evidence.get(c.declared or "")
    if ev is None or ev.kind != "declared":
        return CriterionResult(c.id, "fail", "declared", None, c.declared, _NOT_DECLARED)
    if c.documents:
        have = {d.kind for d in ev.documents if d.kind and d.date}
        missing = [k for k in c.documents if k not in have]
        if missing:
            cat = catalogue().documents
            zh = "、".join(cat[k].zh for k in missing)
            en = ", ".join(cat[k].en for k in missing)
            return CriterionResult(c.id, "fail", "declared", len(c.documents) - len(missing), c.declared,
                                   Text(f"缺少或未注明日期：{zh}", f"missing or undated: {en}"))
        return CriterionResult(c.id, "declared", "declared", len(c.documents), c.declared)
    if c.figure:
        value = ev.figures.get(c.figure)
        if value is None:
            return CriterionResult(c.id, "fail", "declared", None, c.declared, _NO_FIGURE)
        graded = _grade(value, c.passes, c.warns)
        return CriterionResult(c.id, "declared" if graded == "pass" else graded, "declared", value, c.declared)
    return CriterionResult(c.id, "declared", "declared", None, c.declared)


def evaluate(rules: Rules, spec: AssessmentSpec, evidence: dict[str, Evidence]) -> list[ItemResult]:
    """Every item of ``rules`` against ``evidence``: measured criteria read measured figures only,
    declared criteria read declarations only."""
    out: list[ItemResult] = []
    for item in rules.items:
        out.append(evaluate_item(item, spec, evidence))
    return out


def evaluate_item(item: Item, spec: AssessmentSpec, evidence: dict[str, Evidence]) -> ItemResult:
    if not item.applies(spec.triggers, spec.function_kind):
        return ItemResult(item.id, "not_applicable", False,
                          tuple(CriterionResult(c.id, "not_applicable", c.basis, None, c.evidence_id or c.declared)
                                for c in item.criteria))
    results: list[CriterionResult] = []
    for c in item.criteria:
        if c.functions and spec.function_kind not in c.functions:
            results.append(CriterionResult(c.id, "not_applicable", c.basis, None, c.evidence_id or c.declared))
        elif c.metric:
            results.append(_measured(c, evidence))
        else:
            d = evidence.get(c.declared or "")
            if d is not None and d.kind == "declared" and spec.declarations.get(d.id) is not None and \
                    spec.declarations[d.id].not_applicable:
                results.append(CriterionResult(c.id, "not_applicable", "declared", None, c.declared,
                                               Text("经声明不适用", "declared not applicable")))
            else:
                results.append(_declared(c, evidence))
    return ItemResult(item.id, worst([r.status for r in results]), True, tuple(results))
