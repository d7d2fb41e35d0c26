"""Provenance as producers publish it: real ChatGPT, Firefly and Google files, and the wild collection.

* ``../shared/data/provenance-wild/`` (three files, always tested when ``../shared`` is there): what
  synthwatch reads on the whole manifest graph, how it validates each manifest, and what the Art. 6
  policy decides, under the shipped trust lists, none, and a platform's own;
* the gathered collection (``docs/manifests/provenance-wild.csv``, gathered with
  ``python scripts/provenance_wild.py gather`` into ``$SYNTHWATCH_PROVENANCE_WILD`` or the user cache
  folder): every file's reading against the manifest's expectation; skipped with the reason when the
  folder is absent;
* ``label check`` and ``scan`` give the same reading and decision on the real files.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("c2pa", reason="c2pa-python is not installed")

from synthwatch.provenance import RULES, inspect  # noqa: E402
from synthwatch.provenance.c2pa_graph import summary_rows  # noqa: E402
from synthwatch.provenance.c2pa_manifest import read_c2pa  # noqa: E402
from synthwatch.provenance.c2pa_trust import C2paTrust, resolve, shipped_lists  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
MANIFEST = REPO / "docs" / "manifests" / "provenance-wild.csv"
AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
EXPECT = ("expect_c2pa", "expect_ai", "expect_ai_in", "expect_integrity", "expect_signature", "expect_trust",
          "expect_credential", "expect_aigc", "expect_label", "expect_rule")


@pytest.fixture(scope="module")
def wild(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "provenance-wild"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="module")
def readings(wild: Path) -> dict[str, dict[str, Any]]:
    """inspect() of the three shared files under the shipped trust lists (read once: the worker is slow)."""
    return {name: inspect(wild / name, audio_watermark=False)
            for name in ("chatgpt-openai-truepic.png", "google-c2pa.png", "adobe-firefly.jpg")}


def dims(section: dict[str, Any]) -> tuple[Any, ...]:
    a = section["c2pa"]["assessment"]
    return a["integrity"], a["signature"], a["trust"], a["credential"], a["timestamp"], a["revocation"]


def test_chatgpt_ai_declaration_sits_in_the_parent_ingredient(readings: dict[str, dict[str, Any]]) -> None:
    r = readings["chatgpt-openai-truepic.png"]
    c = r["c2pa"]
    assert c["state"] == "Invalid"  # the library's one word: expired and untrusted collapse to it
    assert [a["action"] for a in c["actions"]] == ["c2pa.opened"]  # the active manifest alone says nothing
    assert (c["ai"], c["ai_in"], c["digital_source_types"]) == ("generated", "ingredient", [AI])
    (decl,) = [d for d in c["declarations"] if d["class"]]
    top, parent = c["chain"]
    assert decl["manifest"] == parent["label"] and decl["action"] == "c2pa.created"
    assert decl["softwareAgent"] == "GPT-4o"
    assert [(e["from"], e["relationship"], e["ingredient"]) for e in decl["path"]] == [
        (top["label"], "parentOf", "image.png")]
    assert top["signer"]["issuer"] == "OpenAI" and top["certificate"]["not_after"].startswith("2026-04-15")
    # integrity separate from trust: hashes and signatures hold; the signer is not on the trust
    # lists, its certificate has expired and no timestamp proves when it signed
    assert dims(r) == ("intact", "valid", "untrusted", "expired", "absent", "not_checked")
    v = top["validation"]
    assert (v["content"], v["assertions"], v["structure"]) == ("ok", "ok", "ok")
    assert {c_["code"] for c_ in v["codes"]} >= {"assertion.dataHash.match", "claimSignature.validated",
                                                  "signingCredential.untrusted", "signingCredential.expired"}
    assert parent["validation"]["ingredient_link"] == "ok" and parent["validation"]["signature"] == "valid"
    d = r["decision"]
    assert (d["label"], d["rule"]) == ("3", "art6.3-c2pa-untrusted")
    assert d["facts"]["c2pa.ai"] == "generated" and d["facts"]["c2pa.credential"] == "expired"
    rows = dict(summary_rows(c))
    assert "via parentOf 'image.png'" in rows["C2PA source"]


def test_google_is_trusted_with_the_shipped_lists(readings: dict[str, dict[str, Any]]) -> None:
    r = readings["google-c2pa.png"]
    c = r["c2pa"]
    assert c["state"] == "Trusted" and (c["ai"], c["ai_in"]) == ("generated", "active")
    classes = sorted((d["action"], d["code"], d["class"], d["depth"]) for d in c["declarations"])
    assert classes == [("c2pa.created", "trainedAlgorithmicMedia", "generated", 1),
                       ("c2pa.edited", "composite", "human", 0),
                       ("c2pa.edited", "trainedAlgorithmicMedia", "composite", 0)]
    # the certificate has expired, but a timestamp from a listed authority proves it was valid when
    # signed; a stapled OCSP response says not revoked
    assert dims(r) == ("intact", "valid", "trusted", "valid", "trusted", "not_revoked")
    assert (r["decision"]["label"], r["decision"]["rule"]) == ("1", "art6.1-c2pa")
    assert [x["name"] for x in c["trust_lists"]] == ["C2PA Trust List", "C2PA TSA Trust List"]


def test_firefly_intact_untrusted_signer(readings: dict[str, dict[str, Any]]) -> None:
    r = readings["adobe-firefly.jpg"]
    c = r["c2pa"]
    assert c["state"] == "Valid" and (c["ai"], c["ai_in"]) == ("generated", "active")
    assert dims(r) == ("intact", "valid", "untrusted", "valid", "trusted", "not_checked")
    assert (r["decision"]["label"], r["decision"]["rule"]) == ("3", "art6.3-c2pa-untrusted")
    # a deployment that labels any intact manifest declaring AI as case 1 says so in its table
    table = copy.deepcopy(RULES)
    rule = next(x for x in table["label_rules"] if x["id"] == "art6.1-c2pa")
    rule["when"]["all"] = [x for x in rule["when"]["all"] if x.get("fact") not in ("c2pa.trust", "c2pa.credential")]
    from synthwatch.provenance import decide

    assert decide(r, rules=table).rule == "art6.1-c2pa"


def test_trust_is_configuration_and_offline(wild: Path) -> None:
    google = wild / "google-c2pa.png"
    # no list at all: trust cannot be judged, and without a trusted timestamp the expired
    # certificate reads expired: case 3
    bare = read_c2pa(google, trust_anchors=C2paTrust())
    assert bare["state"] == "Invalid" and bare["trust_lists"] == []
    a = bare["assessment"]
    assert (a["integrity"], a["signature"], a["trust"], a["credential"], a["timestamp"]) == (
        "intact", "valid", "unknown", "expired", "untrusted")
    assert inspect(google, trust_anchors=C2paTrust(), audio_watermark=False)["decision"]["label"] == "3"
    # a platform's own list holding only Google's root, without the shipped lists: trusted again
    shipped = (Path(__file__).resolve().parents[3] / "src/synthwatch/provenance/trust/C2PA-TRUST-LIST.pem").read_text()
    blocks = shipped.split("-----END CERTIFICATE-----")
    root = next(b for b in blocks if "Google C2PA Root CA G3" in b)
    root_pem = root[root.index("-----BEGIN CERTIFICATE-----"):] + "-----END CERTIFICATE-----\n"
    own = read_c2pa(google, trust_anchors=resolve(root_pem, shipped=False))
    assert own["assessment"]["trust"] == "trusted" and own["assessment"]["timestamp"] == "trusted"
    assert [x["kind"] for x in own["trust_lists"]] == ["configured"]


def test_the_shipped_lists_are_as_published() -> None:
    lists = shipped_lists()
    assert [x["name"] for x in lists] == ["C2PA Trust List", "C2PA TSA Trust List"]
    assert all(x["as_published"] and x["licence"] == "CC-BY-4.0" and x["certificates"] > 10 for x in lists)


# ------------------------------------------------------------------------------------------------
# the gathered collection
# ------------------------------------------------------------------------------------------------


def gathered_dir() -> Path:
    env = os.environ.get("SYNTHWATCH_PROVENANCE_WILD")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("synthwatch")) / "provenance-wild"


def manifest_rows(kind: str) -> list[dict[str, str]]:
    with MANIFEST.open(newline="", encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["kind"] == kind]


def gathered(row: dict[str, str]) -> Path:
    folder = gathered_dir()
    path = folder / row["file"]
    if not path.is_file():
        pytest.skip(f"the wild collection is not gathered in {folder} (python scripts/provenance_wild.py gather)")
    if hashlib.sha256(path.read_bytes()).hexdigest() != row["sha256"]:
        pytest.fail(f"{path} is not the file the manifest lists (sha256 differs): gather it again")
    return path


def test_manifest_is_complete() -> None:
    rows = manifest_rows("media") + manifest_rows("trust")
    assert len({r["file"] for r in rows}) == len(rows)
    for r in rows:
        assert len(r["commit"]) == 40 and len(r["sha256"]) == 64 and r["repo"].count("/") == 1 and r["licence"]
    media = manifest_rows("media")
    producers = {r["producer"] for r in media}
    assert {"chatgpt", "firefly", "google", "microsoft-bing-image-creator", "google-pixel-camera", "doubao"} <= producers
    assert all(r[c] for r in media for c in EXPECT)


def _reading(path: Path, trust_anchors: str | None = None) -> dict[str, str]:
    r = inspect(path, trust_anchors=trust_anchors, audio_watermark=False)
    c, a, d = r["c2pa"], r["c2pa"].get("assessment") or {}, r["decision"]
    assert r["errors"] == [], r["errors"]
    return {"expect_c2pa": "yes" if c.get("present") else "no", "expect_ai": c.get("ai") or "-",
            "expect_ai_in": c.get("ai_in") or "-", "expect_integrity": a.get("integrity") or "-",
            "expect_signature": a.get("signature") or "-", "expect_trust": a.get("trust") or "-",
            "expect_credential": a.get("credential") or "-",
            "expect_aigc": (r["aigc"]["label"] or {}).get("label") or "-",
            "expect_label": d["label"] or "-", "expect_rule": d["rule"]}


@pytest.mark.parametrize("row", manifest_rows("media"), ids=lambda r: r["file"])
def test_wild_file_reads_as_expected(row: dict[str, str]) -> None:
    got = _reading(gathered(row))
    for col in EXPECT:
        assert got[col] in row[col].split("|"), (col, row[col], got[col], row["notes"])


def test_a_platform_list_trusts_its_producers() -> None:
    rows = {r["file"]: r for r in manifest_rows("media") + manifest_rows("trust")}
    pem = "".join(gathered(rows[f]).read_text() for f in ("trust/r3l-adobe-firefly.pem", "trust/r3l-openai-truepic.pem"))
    firefly = _reading(gathered(rows["firefly/raw-firefly-1.png"]), trust_anchors=pem)
    assert (firefly["expect_trust"], firefly["expect_label"], firefly["expect_rule"]) == ("trusted", "1", "art6.1-c2pa")
    # OpenAI's CA is on the platform list, but the 2025 certificate has expired and no timestamp
    # proves it was valid when it signed: the chain cannot be trusted now
    chatgpt = _reading(gathered(rows["chatgpt/ai-or-not-primary-3.png"]), trust_anchors=pem)
    assert (chatgpt["expect_trust"], chatgpt["expect_credential"], chatgpt["expect_label"]) == (
        "untrusted", "expired", "3")


# ------------------------------------------------------------------------------------------------
# one reading in every path
# ------------------------------------------------------------------------------------------------


def test_label_check_and_scan_agree(wild: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from synthwatch.cli.label import app
    from synthwatch.config import get_settings
    from synthwatch.models.store import ModelStore
    from synthwatch.pipeline.scan import Scanner

    files = sorted(wild.glob("*.png")) + sorted(wild.glob("*.jpg"))
    r = CliRunner().invoke(app, ["check", "--json", *map(str, files)])
    assert r.exit_code == 0, r.output
    checked = {Path(row["path"]).name: row for row in json.loads(r.output)}
    scanner = Scanner(get_settings(home=tmp_path), store=ModelStore(tmp_path / "no-models"), detectors=["clip-probe"])
    for f in files:
        report = scanner.scan(f)
        assert report.error is None
        prov = report.provenance
        row = checked[f.name]
        assert prov["c2pa"] == row["c2pa"], f.name
        assert (prov["decision"]["label"], prov["decision"]["rule"]) == (row["decision"]["label"],
                                                                         row["decision"]["rule"]), f.name
        facts = {k: v for k, v in prov["decision"]["facts"].items() if k.startswith(("c2pa.", "aigc.", "iptc."))}
        assert facts == {k: v for k, v in row["decision"]["facts"].items() if k in facts}
    # the deployment's trust file reaches both paths the same way (Settings.c2pa_trust_anchors)
    own = tmp_path / "own.pem"
    own.write_text((REPO / "src/synthwatch/provenance/trust/C2PA-TRUST-LIST.pem").read_text())
    monkeypatch.setenv("SYNTHWATCH_C2PA_TRUST_ANCHORS", str(own))
    r = CliRunner().invoke(app, ["check", "--json", str(wild / "google-c2pa.png")])
    (row,) = json.loads(r.output)
    assert [x["kind"] for x in row["c2pa"]["trust_lists"]] == ["shipped", "shipped", "configured"]
    report = Scanner(get_settings(home=tmp_path), store=ModelStore(tmp_path / "no-models"),
                     detectors=["clip-probe"]).scan(wild / "google-c2pa.png")
    assert report.provenance["c2pa"]["trust_lists"] == row["c2pa"]["trust_lists"]
