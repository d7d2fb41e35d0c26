"""The Art. 6 upload decision: rule order, basis, review, and the rule table as data."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from synthwatch.errors import ConfigError
from synthwatch.provenance import RULES, decide, load_rules
from synthwatch.provenance.decision import FACTS, INFORMATIONAL_FACTS, check_rules
from synthwatch.types import DetectorResult, DetectorStatus, Verdict, VerdictLabel


def sig(label: str | None = None, valid: bool = True, **extra: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"aigc": {"present": label is not None, "valid": valid and label is not None,
                                  "label": {"label": label, "valid": valid} if label else None}}
    s.update(extra)
    return s


def c2pa(ai: str | None, *, state: str = "Trusted", ai_in: str = "active", **dims: Any) -> dict[str, Any]:
    """A C2PA reading with its assessment (every dimension at its best unless given)."""
    assessment = {"integrity": "intact", "signature": "valid", "trust": "trusted", "credential": "valid",
                  "timestamp": "trusted", "revocation": "not_checked"}
    flags = {k: dims.pop(k) for k in ("trace", "possibly_ai", "capture") if k in dims}
    assessment.update(dims)
    return {"present": True, "state": state, "ai": ai, "ai_in": ai_in if ai else None, "assessment": assessment,
            **flags}


SYNTH = Verdict(VerdictLabel.LIKELY_SYNTHETIC, 0.9, 0.5, "fusion")
AUTH = Verdict(VerdictLabel.LIKELY_AUTHENTIC, 0.1, 0.5, "fusion")


@pytest.mark.parametrize(
    ("signals", "kwargs", "label", "rule"),
    [
        (sig("1"), {}, "1", "art6.1-implicit-label"),
        (sig("1"), {"declared_ai": True, "verdict": SYNTH}, "1", "art6.1-implicit-label"),
        # readings without the validation dimensions (made before them): the state's meaning
        (sig(c2pa={"present": True, "state": "Trusted", "ai": "generated"}), {}, "1", "art6.1-c2pa"),
        (sig(c2pa={"present": True, "state": "Valid", "ai": "composite"}), {}, "3", "art6.3-c2pa-untrusted"),
        # the dimensions decide, whatever the library's one word
        (sig(c2pa=c2pa("generated", state="Invalid")), {}, "1", "art6.1-c2pa"),
        (sig(c2pa=c2pa("composite", ai_in="ingredient")), {}, "1", "art6.1-c2pa"),
        (sig(c2pa=c2pa("generated", trust="untrusted", credential="expired", timestamp="absent")), {}, "3",
         "art6.3-c2pa-untrusted"),
        (sig(c2pa=c2pa("generated", trust="unknown")), {}, "3", "art6.3-c2pa-untrusted"),
        (sig(c2pa=c2pa("generated", credential="invalid")), {}, "3", "art6.3-c2pa-untrusted"),
        (sig(c2pa=c2pa("generated", revocation="revoked")), {}, "3", "art6.3-c2pa-untrusted"),
        (sig(c2pa=c2pa("generated", integrity="broken")), {}, "3", "art6.3-c2pa-unverified"),
        (sig(c2pa=c2pa("generated", signature="invalid")), {}, "3", "art6.3-c2pa-unverified"),
        (sig(c2pa=c2pa("generated", integrity="unknown")), {}, "3", "art6.3-c2pa-unverified"),
        (sig(c2pa=c2pa(None, trace=True)), {}, "3", "art6.3-c2pa-trace"),
        (sig(c2pa=c2pa(None, possibly_ai=True)), {}, None, "none"),
        (sig(c2pa=c2pa(None, capture=True)), {}, None, "none"),
        (sig(c2pa=c2pa("generated", trust="untrusted")), {"declared_ai": True}, "2", "art6.2-declared"),
        (sig(), {"declared_ai": True}, "2", "art6.2-declared"),
        (sig(), {"declared_ai": True, "verdict": SYNTH}, "2", "art6.2-declared"),
        (sig("2"), {}, "2", "art6.2-upstream-label"),
        (sig("3"), {}, "3", "art6.3-upstream-label"),
        (sig("1", valid=False), {}, "3", "art6.3-nonconforming-label"),
        (sig(c2pa={"state": "Invalid", "ai": "generated"}), {}, "3", "art6.3-c2pa-unverified"),
        (sig(), {"visible_label": True}, "3", "art6.3-visible-label"),
        (sig(watermarks={"found": True}), {}, "3", "art6.3-watermark"),
        (sig(iptc={"class": "ai"}), {}, "3", "art6.3-iptc"),
        (sig(generator_traces=[{"source": "png:text:parameters"}]), {}, "3", "art6.3-generator-trace"),
        (sig(), {"verdict": SYNTH}, "3", "art6.3-detector"),
        (sig(), {"verdict": AUTH}, None, "none"),
        (sig(iptc={"class": "capture"}), {}, None, "none"),
        (None, {}, None, "none"),
    ],
)
def test_decision_table(signals: dict[str, Any] | None, kwargs: dict[str, Any], label: str | None,
                        rule: str) -> None:
    d = decide(signals, **kwargs)
    assert (d.label, d.rule) == (label, rule)
    assert d.basis
    assert d.write_propagator is (label is not None)
    assert (d.notice is not None) is (label is not None)
    json.dumps(d.to_dict())


def test_deepfakes_go_to_review_whatever_the_label() -> None:
    face = DetectorResult("face-x", "1", "face", DetectorStatus.OK, 0.95, 0.5, VerdictLabel.LIKELY_SYNTHETIC)
    d = decide(sig(), detectors=[face])
    assert d.label is None and d.human_review and d.review[0][0] == "deepfake-review"
    d1 = decide(sig("1"), detectors=[face])
    assert d1.label == "1" and d1.human_review
    errored = DetectorResult("face-x", "1", "face", DetectorStatus.ERROR, reason="boom")
    assert not decide(sig(), detectors=[errored]).human_review


def test_rules_can_be_corrected_without_code(tmp_path: Path) -> None:
    table = copy.deepcopy(RULES)
    # a regulator's correction: IPTC trainedAlgorithmicMedia counts as case 1
    table["label_rules"].insert(0, {"id": "local-iptc-1", "label": "1", "notice": "prominent",
                                    "basis": "local policy", "when": {"fact": "iptc.class", "eq": "ai"}})
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(table))
    loaded = load_rules(path)
    assert decide(sig(iptc={"class": "ai"}), rules=loaded).rule == "local-iptc-1"
    import yaml

    ypath = tmp_path / "rules.yaml"
    ypath.write_text(yaml.safe_dump(table, allow_unicode=True))
    assert decide(sig(iptc={"class": "ai"}), rules=load_rules(ypath)).label == "1"


@pytest.mark.parametrize(
    "breakage",
    [
        lambda t: t["label_rules"][0].update(label="4"),
        lambda t: t["label_rules"][0].update(when={"fact": "nonsense", "eq": True}),
        lambda t: t["label_rules"][0].update(when={"fact": "declared_ai"}),
        lambda t: t["label_rules"][1].update(id=t["label_rules"][0]["id"]),
        lambda t: t["label_rules"][0].update(notice="shout"),
        lambda t: t.pop("label_rules"),
        lambda t: t["label_rules"][0].update(when={"all": []}),
    ],
)
def test_broken_tables_are_config_errors(breakage: Any, tmp_path: Path) -> None:
    table = copy.deepcopy(RULES)
    breakage(table)
    with pytest.raises(ConfigError):
        check_rules(table)
    with pytest.raises(ConfigError):
        decide(sig(), rules=table)


def test_shipped_table_is_well_formed_and_uses_known_facts() -> None:
    check_rules(RULES)
    text = json.dumps(RULES)
    for fact in FACTS:
        assert (f'"{fact}"' in text) is (fact not in INFORMATIONAL_FACTS), fact
    assert set(FACTS) >= INFORMATIONAL_FACTS


def test_review_for_revoked_signers_and_truncated_graphs() -> None:
    d = decide(sig(c2pa=c2pa("generated", revocation="revoked")))
    assert d.human_review and [r for r, _ in d.review] == ["c2pa-revoked-review"]
    d = decide(sig(c2pa={**c2pa("generated"), "truncated": ["ingredient graph deeper than 16"]}))
    assert d.label == "1" and [r for r, _ in d.review] == ["c2pa-truncated-review"]


def test_facts_of_a_file_without_c2pa_are_none() -> None:
    facts = dict(decide(sig()).facts)
    assert facts["c2pa.present"] is False
    assert all(facts[f"c2pa.{d}"] is None for d in ("integrity", "signature", "trust", "credential", "revocation"))


def test_a_deployment_accepts_any_intact_signer() -> None:
    """The policy is data: dropping the trust conditions makes an intact untrusted manifest case 1."""
    table = copy.deepcopy(RULES)
    rule = next(r for r in table["label_rules"] if r["id"] == "art6.1-c2pa")
    rule["when"]["all"] = [c for c in rule["when"]["all"]
                           if c.get("fact") not in ("c2pa.trust", "c2pa.credential")]
    untrusted = sig(c2pa=c2pa("generated", trust="untrusted", credential="expired"))
    assert decide(untrusted).label == "3"
    assert decide(untrusted, rules=table).rule == "art6.1-c2pa"
    assert decide(sig(c2pa=c2pa("generated", integrity="broken")), rules=table).label == "3"


def test_load_rules_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_rules(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("label_rules: [unclosed")
    with pytest.raises(ConfigError):
        load_rules(bad)
