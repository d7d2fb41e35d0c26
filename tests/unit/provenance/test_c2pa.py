"""C2PA: offline validation (Invalid / Valid / Trusted), tamper detection, signing with a test CA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("c2pa", reason="c2pa-python is not installed")

from synthwatch.provenance import AIGCLabel, inspect, write_label  # noqa: E402
from synthwatch.provenance.c2pa_manifest import (  # noqa: E402
    C2paSigningError,
    classify_source_type,
    read_c2pa,
    sign_c2pa,
)

AI = "trainedAlgorithmicMedia"


@pytest.mark.parametrize("name", ["jpeg", "png"])
def test_sign_validate_trust_and_tamper(name: str, media: dict[str, Path], pki: dict[str, Any],
                                        tmp_path: Path) -> None:
    labelled = tmp_path / f"l{media[name].suffix}"
    write_label(media[name], labelled, AIGCLabel.as_producer("1", "PROD", "i1"))  # label first, then sign
    signed = tmp_path / f"s{media[name].suffix}"
    result = sign_c2pa(labelled, signed, pki["signer"], digital_source_type=AI)
    assert result["state"] == "Valid"  # intact; the signer is not trusted here
    assert {f["code"] for f in result["failures"]} == {"signingCredential.untrusted"}
    assert result["ai"] == "generated" and result["signer"]["common_name"] == "Platform Signer"
    assert result["claim_generator"].startswith("synthwatch")
    assert result["actions"][0]["action"] == "c2pa.created"

    trusted = read_c2pa(signed, trust_anchors=pki["root"])
    assert trusted["state"] == "Trusted" and trusted["failures"] == []

    # the implicit label survived signing
    section = inspect(signed, trust_anchors=pki["root"])
    assert section["aigc"]["valid"] and section["c2pa"]["state"] == "Trusted"
    assert section["decision"]["rule"] == "art6.1-implicit-label"

    # one changed byte in the image data makes the manifest Invalid
    data = bytearray(signed.read_bytes())
    pos = len(data) - 40
    data[pos] ^= 0x01
    tampered = tmp_path / f"t{media[name].suffix}"
    tampered.write_bytes(bytes(data))
    bad = read_c2pa(tampered, trust_anchors=pki["root"])
    assert bad["state"] == "Invalid" and bad["failures"]
    assert any("mismatch" in f["code"] or "hash" in f["code"].lower() for f in bad["failures"]), bad["failures"]


def test_c2pa_alone_decides_case_1_when_trusted_3_otherwise(media: dict[str, Path], pki: dict[str, Any],
                                                              tmp_path: Path) -> None:
    signed = tmp_path / "s.jpg"
    sign_c2pa(media["jpeg"], signed, pki["signer"], digital_source_type=AI)
    # intact and signed, but the signer chains to no configured anchor: a trace, case 3
    section = inspect(signed)
    a = section["c2pa"]["assessment"]
    assert (a["integrity"], a["signature"], a["trust"], a["credential"]) == ("intact", "valid", "untrusted", "valid")
    assert section["decision"]["rule"] == "art6.3-c2pa-untrusted" and section["decision"]["label"] == "3"
    # the platform trusts the test root: case 1
    trusted = inspect(signed, trust_anchors=pki["root"])
    assert trusted["c2pa"]["assessment"]["trust"] == "trusted"
    assert trusted["decision"]["rule"] == "art6.1-c2pa" and trusted["decision"]["label"] == "1"
    # one changed byte of the image data: the content binding breaks, the signature still holds
    data = bytearray(signed.read_bytes())
    data[len(data) - 40] ^= 0x01
    tampered = tmp_path / "t.jpg"
    tampered.write_bytes(bytes(data))
    section = inspect(tampered, trust_anchors=pki["root"])
    assert section["c2pa"]["state"] == "Invalid"
    node = section["c2pa"]["chain"][0]["validation"]
    assert (node["content"], node["integrity"], node["signature"]) == ("broken", "broken", "valid")
    assert section["decision"]["rule"] == "art6.3-c2pa-unverified" and section["decision"]["label"] == "3"


def test_resigning_keeps_the_parent_as_ingredient(media: dict[str, Path], pki: dict[str, Any],
                                                  tmp_path: Path) -> None:
    first = tmp_path / "a.jpg"
    sign_c2pa(media["jpeg"], first, pki["signer"], digital_source_type=AI)
    second = tmp_path / "b.jpg"
    result = sign_c2pa(first, second, pki["signer"], digital_source_type=AI)
    assert result["state"] == "Valid"
    assert [a["action"] for a in result["actions"]] == ["c2pa.opened", "c2pa.published"]
    assert result["ingredients"] and result["ingredients"][0]["relationship"] == "parentOf"
    assert result["manifests"] == 2
    # both manifests are walked; the platform's c2pa.published carries the type again, the parent's
    # c2pa.created is reached through parentOf
    assert [(n["depth"], n["via"]) for n in result["chain"]] == [(0, "derived"), (1, "derived")]
    created = [d for d in result["declarations"] if d["action"] == "c2pa.created"]
    assert len(created) == 1 and created[0]["depth"] == 1 and created[0]["class"] == "generated"
    assert created[0]["path"][0]["relationship"] == "parentOf"
    assert result["chain"][1]["validation"]["ingredient_link"] == "ok"


def test_self_signed_certificates_are_refused(media: dict[str, Path], pki: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(C2paSigningError):
        sign_c2pa(media["jpeg"], tmp_path / "x.jpg", pki["self_signed"], digital_source_type=AI)
    assert not (tmp_path / "x.jpg").exists()


def test_no_manifest_and_unsupported(media: dict[str, Path], tmp_path: Path) -> None:
    assert read_c2pa(media["png"])["present"] is False
    assert read_c2pa(media["mkv"])["reason"].startswith("C2PA is not read")


@pytest.mark.parametrize(("dst", "cls"), [
    ("http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia", "generated"),
    ("compositeWithTrainedAlgorithmicMedia", "composite"),
    ("http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture", "capture"),
    ("unknown", None),
])
def test_classify_source_type(dst: str, cls: str | None) -> None:
    assert classify_source_type(dst) == cls


def test_cli_check_with_trust_anchors(media: dict[str, Path], pki: dict[str, Any], tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from synthwatch.cli.label import app

    signed = tmp_path / "s.png"
    sign_c2pa(media["png"], signed, pki["signer"], digital_source_type=AI)
    roots = tmp_path / "roots.pem"
    roots.write_text(pki["root"])
    r = CliRunner().invoke(app, ["check", str(signed), "--json", "--trust-anchors", str(roots)])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.output)
    assert row["c2pa"]["state"] == "Trusted" and row["decision"]["rule"] == "art6.1-c2pa"
    r = CliRunner().invoke(app, ["check", str(signed), "--trust-anchors", str(tmp_path / "none.pem")])
    assert r.exit_code == 2
