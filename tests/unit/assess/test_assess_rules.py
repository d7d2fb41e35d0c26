"""The self-assessment rules as data (issue 16, item 1): the shipped rules load, every text is
bilingual, every figure a criterion names is one the collectors measure, a corrected copy is
validated field by field (the message names the bad field) and its version and sha256 are what a
report records."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import pytest
import yaml

from synthwatch.assess import rules as R
from synthwatch.errors import ConfigError


def _shipped_text() -> str:
    return (resources.files("synthwatch.assess") / "rules" / "provisions-2018.yaml").read_text(encoding="utf-8")


def _doc() -> dict:
    return yaml.safe_load(_shipped_text())


def _parse(doc: dict) -> R.Rules:
    return R.parse_rules(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "copy.yaml")


def test_shipped_rules_cover_the_provisions() -> None:
    rules = R.default_rules()
    assert rules.version == _doc()["version"]
    assert rules.sha256 == hashlib.sha256(_shipped_text().encode("utf-8")).hexdigest()
    assert [t.id for t in rules.triggers] == [f"T{i}" for i in range(1, 8)]
    assert [i.id for i in rules.items] == ["A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "D1", "D2", "D3", "D4"]
    texts: list[R.Text] = [rules.title, rules.basis, *rules.functions.values()]
    for t in rules.triggers:
        texts += [t.text, t.when]
    texts += [f.label for f in rules.facts]
    for item in rules.items:
        texts += [item.title, item.requirement, *(c.text for c in item.criteria)]
        assert item.criteria
    for t in texts:
        assert t.zh.strip() and t.en.strip()
        assert any("\u4e00" <= ch <= "\u9fff" for ch in t.zh), t  # the Chinese text is Chinese
    cat = R.catalogue()
    for item in rules.items:
        for c in item.criteria:
            if c.metric:
                assert cat.figure(c.metric) is not None
                assert c.passes is not None
            else:
                assert c.declared in cat.declarations


def test_the_deep_synthesis_items_apply_only_to_deep_synthesis() -> None:
    rules = R.default_rules()
    d3 = rules.item("D3")
    assert d3 is not None
    assert not d3.applies(["T1"], "live_audio_room")
    assert d3.applies(["T6"], "live_audio_room")
    assert d3.applies(["T1"], "deep_synthesis")
    a1 = rules.item("A1")
    assert a1 is not None and a1.applies(["T4"], "forum")


def test_bounds_grade_pass_warn_fail() -> None:
    assert R.Bound("ge", 0.95).holds(0.95) and not R.Bound("ge", 0.95).holds(0.9)
    assert R.Bound("le", 86400).holds(100.0) and not R.Bound("le", 86400).holds(90000.0)
    assert R.Bound("eq", True).holds(True) and not R.Bound("eq", True).holds(False)
    assert not R.Bound("ge", 1).holds(True)  # a yes/no figure never passes a numeric bound


def test_a_corrected_copy_is_loaded_and_its_version_recorded(tmp_path: Path) -> None:
    doc = _doc()
    doc["version"] = "2026.12-1+acme.1"
    doc["items"][0]["criteria"][2]["pass"] = {"le": 3600}  # A1.latency: the platform's stricter target
    path = tmp_path / "acme-rules.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    rules = R.load_rules(path)
    assert rules.version == "2026.12-1+acme.1"
    assert rules.name == "acme-rules.yaml"
    assert rules.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() != R.default_rules().sha256
    found = rules.criterion("A1.latency")
    assert found is not None and found[1].passes == R.Bound("le", 3600)
    assert R.load_rules(None) is R.default_rules()


def _break(mutate) -> str:  # type: ignore[no-untyped-def]
    doc = _doc()
    mutate(doc)
    with pytest.raises(ConfigError) as info:
        _parse(doc)
    return str(info.value)


@pytest.mark.parametrize(("mutate", "names"), [
    (lambda d: d["items"][0]["title"].pop("en"), "items.A1.title"),
    (lambda d: d["items"][0]["criteria"][0].update(metric="review.staffing.reviewers_per_moon"),
     "items.A1.criteria[0].metric"),
    (lambda d: d["items"][0]["criteria"][0].pop("pass"), "a measured criterion needs a pass bound"),
    (lambda d: d["items"][0]["criteria"][0].update({"pass": {"ge": 1, "le": 2}}), "items.A1.criteria[0].pass"),
    (lambda d: d["items"][0]["criteria"][0].update({"pass": {"ge": "high"}}), "ge needs a number"),
    (lambda d: d["items"][0]["criteria"][1].update(id="A1.per_items"), "used twice"),
    (lambda d: d["items"][0]["criteria"][0].update(metric="audit.chain.intact"), "does not list evidence"),
    (lambda d: d["items"][0].update(applies={"triggers": ["T9"]}), "unknown trigger 'T9'"),
    (lambda d: d["items"][1]["criteria"][0].update(declared="A9.nothing"), "unknown declaration"),
    (lambda d: d.update(format="synthwatch.assess.rules/9"), "format"),
    (lambda d: d.update(surprise=1), "unknown field(s) surprise"),
    (lambda d: d["triggers"][0].update(id="T 1"), "not an identifier"),
    (lambda d: d.update(window_days=0), "window_days"),
])
def test_a_bad_copy_names_the_bad_field(mutate, names: str) -> None:  # type: ignore[no-untyped-def]
    message = _break(mutate)
    assert message.startswith("copy.yaml: ")
    assert names in message


def test_unreadable_or_invalid_files_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("items: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        R.load_rules(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        R.load_rules(tmp_path / "missing.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"version: \xff\xfe")
    with pytest.raises(ConfigError, match="cannot read"):
        R.load_rules(latin)
    with pytest.raises(ConfigError, match="expected a mapping"):
        R.parse_rules("- a list\n", "list.yaml")


def test_the_report_wording_is_bilingual() -> None:
    strings = yaml.safe_load((resources.files("synthwatch.assess") / "strings.yaml").read_text(encoding="utf-8"))
    assert strings
    for key, value in strings.items():
        assert isinstance(value, dict) and set(value) == {"zh", "en"}, key
        assert isinstance(value["zh"], str) and value["zh"].strip(), key
        assert isinstance(value["en"], str) and value["en"].strip(), key
