"""The upload decision (Labeling Measures Art. 6): label "1", "2", "3" or none, with its basis.

:func:`decide` turns the provenance signals of a file (what :func:`synthwatch.provenance.read_signals`
returns), the uploader's declaration and the detectors' verdict into *facts* (:data:`FACTS`), then
runs the rule table of :mod:`synthwatch.provenance.rules` (the shipped ``policy/art6-rules.yaml``, or
one loaded with :func:`load_rules`). The C2PA facts come from the whole manifest graph and from
the validation dimensions of :mod:`synthwatch.provenance.c2pa_graph` (integrity, signature, trust,
certificate, timestamp, revocation), never from the library's one-word state alone; a deployment's
table decides what each combination means.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthwatch.errors import ConfigError
from synthwatch.types import DetectorResult, DetectorStatus, Verdict, VerdictLabel

from .label import LABEL_MEANINGS
from .rules import RULES

__all__ = ["Decision", "decide", "facts_from", "load_rules", "check_rules", "FACTS", "INFORMATIONAL_FACTS"]

#: every fact a rule may test, with what it means
FACTS: dict[str, str] = {
    "aigc.present": "an implicit AIGC label was found (readable or not)",
    "aigc.valid": "the label conforms to GB 45438 Annex E (no deviation)",
    "aigc.label": "the label's Label value read leniently: '1', '2', '3' or None",
    "aigc.error": "a label was present but unreadable or hostile",
    "c2pa.present": "a C2PA manifest store was found",
    "c2pa.state": "the C2PA library's one-word state: 'Invalid', 'Valid', 'Trusted' or None (kept for reference; "
                  "the shipped rules use the separate dimensions below)",
    "c2pa.ai": "AI declared anywhere on the counted manifest graph (active manifest and parentOf/componentOf "
               "ingredients): 'generated', 'composite' (AI edits and composites) or None",
    "c2pa.ai_in": "where the AI declaration sits: 'active', 'ingredient' or None",
    "c2pa.possibly_ai": "a digital source type that is possibly AI (algorithmicallyEnhanced, compositeSynthetic...)",
    "c2pa.capture": "C2PA names a camera capture and no AI digital source type",
    "c2pa.trace": "a C2PA manifest names a generator (software agent, claim generator, vendor AI assertion)",
    "c2pa.integrity": "hashes and structure of the manifests the declaration rests on: 'intact', 'broken', "
                      "'unknown' or None",
    "c2pa.signature": "their claim signatures: 'valid', 'invalid', 'unknown' or None",
    "c2pa.trust": "their signers against the trust lists: 'trusted', 'untrusted', 'unknown' or None",
    "c2pa.credential": "their signing certificates: 'valid', 'expired' (no trusted timestamp), 'outside_validity', "
                       "'invalid', 'unknown' or None",
    "c2pa.timestamp": "their timestamps: 'trusted', 'validated', 'untrusted', 'invalid', 'absent' or None",
    "c2pa.revocation": "their revocation status: 'not_revoked', 'revoked', 'unknown', 'not_checked' or None",
    "c2pa.truncated": "the manifest graph exceeded the reading limits",
    "iptc.class": "IPTC DigitalSourceType class: 'ai', 'possibly_ai', 'capture' or None",
    "generator.trace": "generator text chunks or a generator software name were found",
    "watermark.found": "an AI-generator watermark was detected",
    "visible_label.found": "a visible AI label was detected (given by the caller)",
    "declared_ai": "the uploader declared the content AI-generated",
    "detector.synthetic": "the fused detector verdict is likely_synthetic",
    "face.synthetic": "a face-forgery detector scored a face over its threshold",
}


#: facts the shipped table does not test, offered to a deployment's own table
INFORMATIONAL_FACTS: frozenset[str] = frozenset({"c2pa.present", "c2pa.state", "c2pa.ai_in", "c2pa.possibly_ai",
                                                 "c2pa.timestamp"})


@dataclass(frozen=True, slots=True)
class Decision:
    """What the platform must do with an upload."""

    label: str | None  # "1" | "2" | "3" | None
    rule: str  # id of the rule that fired, "none" when none did
    basis: str
    notice: str | None = None  # text of the notice to show, None without a label
    write_propagator: bool = False  # Art. 6 cases 1-3: write the propagator fields after every transcode
    human_review: bool = False
    review: tuple[tuple[str, str], ...] = ()  # (rule id, basis) of every review rule that matched
    facts: tuple[tuple[str, Any], ...] = ()
    rules_version: str = ""

    @property
    def meaning(self) -> str | None:
        return LABEL_MEANINGS.get(self.label) if self.label else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "meaning": self.meaning,
            "rule": self.rule,
            "basis": self.basis,
            "notice": self.notice,
            "write_propagator": self.write_propagator,
            "human_review": self.human_review,
            "review": [{"rule": r, "basis": b} for r, b in self.review],
            "facts": dict(self.facts),
            "rules_version": self.rules_version,
        }


def _get(d: Mapping[str, Any] | None, *path: str) -> Any:
    cur: Any = d
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


#: a reading made before the dimensions existed (only the library's state): what that state implied
_LEGACY_STATE: dict[str, dict[str, str]] = {
    "Trusted": {"integrity": "intact", "signature": "valid", "trust": "trusted", "credential": "valid"},
    "Valid": {"integrity": "intact", "signature": "valid", "trust": "unknown", "credential": "unknown"},
    "Invalid": {"integrity": "unknown", "signature": "unknown", "trust": "unknown", "credential": "unknown"},
}


def _c2pa_facts(c2pa: Mapping[str, Any]) -> dict[str, Any]:
    present = bool(c2pa.get("present"))
    a = c2pa.get("assessment")
    a = a if isinstance(a, Mapping) else {}
    legacy = _LEGACY_STATE.get(str(c2pa.get("state")), {}) if present and not a else {}

    def dim(name: str) -> Any:
        if not present:
            return None
        return a.get(name, legacy.get(name))

    return {
        "c2pa.present": present,
        "c2pa.state": c2pa.get("state"),
        "c2pa.ai": c2pa.get("ai"),
        "c2pa.ai_in": c2pa.get("ai_in"),
        "c2pa.possibly_ai": bool(c2pa.get("possibly_ai")),
        "c2pa.capture": bool(c2pa.get("capture")),
        "c2pa.trace": bool(c2pa.get("trace")),
        "c2pa.integrity": dim("integrity"),
        "c2pa.signature": dim("signature"),
        "c2pa.trust": dim("trust"),
        "c2pa.credential": dim("credential"),
        "c2pa.timestamp": dim("timestamp"),
        "c2pa.revocation": dim("revocation"),
        "c2pa.truncated": bool(c2pa.get("truncated")),
    }


def facts_from(signals: Mapping[str, Any] | None = None, *, declared_ai: bool = False,
               verdict: Verdict | None = None, detectors: Sequence[DetectorResult] = (),
               visible_label: bool = False, watermark: bool | None = None) -> dict[str, Any]:
    """The facts the rules test, from the signals dict of :func:`read_signals` and the caller's inputs."""
    aigc = _get(signals, "aigc") or {}
    label = _get(aigc, "label")
    c2pa = _get(signals, "c2pa") or {}
    wm = _get(signals, "watermarks") or {}
    face_synthetic = any(
        d.modality == "face" and d.status is DetectorStatus.OK and d.label is VerdictLabel.LIKELY_SYNTHETIC
        for d in detectors
    )
    return {
        **_c2pa_facts(c2pa),
        "aigc.present": bool(aigc.get("present")),
        "aigc.valid": bool(aigc.get("valid")),
        "aigc.label": (label.get("label") if label and label.get("label") in LABEL_MEANINGS else None),
        "aigc.error": aigc.get("error") is not None,
        "iptc.class": _get(signals, "iptc", "class"),
        "generator.trace": bool(_get(signals, "generator_traces")),
        "watermark.found": bool(watermark) if watermark is not None else bool(wm.get("found")),
        "visible_label.found": bool(visible_label),
        "declared_ai": bool(declared_ai),
        "detector.synthetic": verdict is not None and verdict.label is VerdictLabel.LIKELY_SYNTHETIC,
        "face.synthetic": face_synthetic,
    }


def _match(cond: Mapping[str, Any], facts: Mapping[str, Any]) -> bool:
    if "all" in cond:
        return all(_match(c, facts) for c in cond["all"])
    if "any" in cond:
        return any(_match(c, facts) for c in cond["any"])
    if "not" in cond:
        return not _match(cond["not"], facts)
    value = facts.get(cond["fact"])
    if "eq" in cond:
        return bool(value == cond["eq"] and type(value) is type(cond["eq"]))
    if "in" in cond:
        return value in cond["in"]
    raise ConfigError(f"rule condition without an operator: {cond!r}")


def _check_cond(cond: Any, where: str) -> None:
    if not isinstance(cond, Mapping):
        raise ConfigError(f"{where}: a condition must be a mapping")
    keys = set(cond)
    if keys in ({"all"}, {"any"}):
        items = cond[next(iter(keys))]
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{where}: 'all'/'any' needs a non-empty list")
        for c in items:
            _check_cond(c, where)
        return
    if keys == {"not"}:
        _check_cond(cond["not"], where)
        return
    if "fact" not in cond or len(keys) != 2 or not ({"eq", "in"} & keys):
        raise ConfigError(f"{where}: expected {{fact, eq|in}}, got {sorted(keys)}")
    if cond["fact"] not in FACTS:
        raise ConfigError(f"{where}: unknown fact {cond['fact']!r}; known: {', '.join(FACTS)}")
    if "in" in cond and not isinstance(cond["in"], list):
        raise ConfigError(f"{where}: 'in' needs a list")


def check_rules(rules: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the first problem in a rule table."""
    if not isinstance(rules.get("label_rules"), list):
        raise ConfigError("rule table needs a 'label_rules' list")
    seen: set[str] = set()
    for kind in ("label_rules", "review_rules"):
        for i, rule in enumerate(rules.get(kind) or []):
            where = f"{kind}[{i}]"
            if not isinstance(rule, Mapping) or not rule.get("id") or not rule.get("basis"):
                raise ConfigError(f"{where}: every rule needs an 'id' and a 'basis'")
            if rule["id"] in seen:
                raise ConfigError(f"{where}: duplicate rule id {rule['id']!r}")
            seen.add(rule["id"])
            if kind == "label_rules" and rule.get("label") not in LABEL_MEANINGS:
                raise ConfigError(f"{where}: label must be '1', '2' or '3'")
            if kind == "label_rules" and rule.get("notice") not in (rules.get("notices") or {}):
                raise ConfigError(f"{where}: notice {rule.get('notice')!r} is not in 'notices'")
            _check_cond(rule.get("when"), where)


def load_rules(path: str | Path) -> dict[str, Any]:
    """A rule table from a YAML or JSON file (same shape as :data:`synthwatch.provenance.rules.RULES`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read rule table {p}: {exc}") from exc
    import yaml

    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"rule table {p} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"rule table {p} must be a mapping")
    check_rules(data)
    return data


def decide(signals: Mapping[str, Any] | None = None, *, declared_ai: bool = False, verdict: Verdict | None = None,
           detectors: Sequence[DetectorResult] = (), visible_label: bool = False, watermark: bool | None = None,
           rules: Mapping[str, Any] | None = None) -> Decision:
    """Art. 6: which label an upload gets, the rule that fired and why.

    ``signals`` is the dict :func:`synthwatch.provenance.read_signals` returns (``inspect(path)``
    minus its ``decision``); ``declared_ai`` is the uploader's declaration; ``verdict`` and
    ``detectors`` come from the scan (the fused verdict and each detector's result; face detectors
    drive the human-review rule). ``visible_label`` / ``watermark`` report checks made elsewhere.
    """
    if rules is None:
        from .scope import current

        rules = current().rules
    table = rules if rules is not None else RULES
    if rules is not None:
        check_rules(table)
    facts = facts_from(signals, declared_ai=declared_ai, verdict=verdict, detectors=detectors,
                       visible_label=visible_label, watermark=watermark)
    review = tuple((r["id"], r["basis"]) for r in table.get("review_rules") or [] if _match(r["when"], facts))
    notices = table.get("notices") or {}
    for rule in table["label_rules"]:
        if _match(rule["when"], facts):
            return Decision(label=rule["label"], rule=rule["id"], basis=rule["basis"],
                            notice=notices.get(rule.get("notice")), write_propagator=True,
                            human_review=bool(review), review=review, facts=tuple(facts.items()),
                            rules_version=str(table.get("version", "")))
    return Decision(label=None, rule="none", basis="no label, declaration, trace or detector finding (Art. 6 case 4)",
                    human_review=bool(review), review=review, facts=tuple(facts.items()),
                    rules_version=str(table.get("version", "")))
