"""``synthwatch label apply`` with --visible on video and audio, and with C2PA signing (test CA from conftest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prov_media import make_clip
from typer.testing import CliRunner

from synthwatch.cli.label import app
from synthwatch.provenance import read_label

pytest.importorskip("c2pa", reason="c2pa-python is not installed")
runner = CliRunner()
AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


@pytest.fixture()
def creds(pki: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    chain, key, root = tmp_path / "chain.pem", tmp_path / "key.pem", tmp_path / "root.pem"
    chain.write_text(pki["signer"].cert_chain_pem)
    key.write_text(pki["signer"].private_key_pem)
    root.write_text(pki["root"])
    return {"chain": str(chain), "key": str(key), "root": str(root)}


def test_apply_signs_c2pa_for_the_label(media: dict[str, Path], creds: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "o.png"
    r = runner.invoke(app, ["apply", str(media["png"]), "--out", str(out), "--producer", "PROD",
                            "--c2pa-cert", creds["chain"], "--c2pa-key", creds["key"],
                            "--trust-anchors", creds["root"], "--json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["c2pa"]["state"] == "Trusted" and payload["c2pa"]["digital_source_types"] == [AI]
    assert payload["c2pa"]["actions"][0]["action"] == "c2pa.created"
    # the manifest covers the label: both are there and check agrees
    r = runner.invoke(app, ["check", str(out), "--json", "--trust-anchors", creds["root"]])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.output)
    assert row["aigc"]["valid"] and row["aigc"]["label"]["fields"]["ContentProducer"] == "PROD"
    assert row["c2pa"]["state"] == "Trusted" and row["c2pa"]["ai"] == "generated"
    assert row["decision"]["label"] == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chain.pem", "key.pem", "o.png", "root.pem"]


def test_label_3_needs_a_source_type(media: dict[str, Path], creds: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "o.jpg"
    base = ["apply", str(media["jpeg"]), "--out", str(out), "--propagator", "PLAT", "--label", "3",
            "--c2pa-cert", creds["chain"], "--c2pa-key", creds["key"]]
    r = runner.invoke(app, base)
    assert r.exit_code == 2 and "--c2pa-source-type" in r.output and not out.exists()
    r = runner.invoke(app, [*base, "--c2pa-source-type", "compositeSynthetic", "--json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["label"] == "3" and payload["c2pa"]["state"] == "Valid"
    assert payload["c2pa"]["digital_source_types"][0].endswith("compositeSynthetic")


def test_c2pa_usage_errors(media: dict[str, Path], creds: dict[str, str], pki: dict[str, Any],
                           tmp_path: Path) -> None:
    out = str(tmp_path / "o.png")
    r = runner.invoke(app, ["apply", str(media["png"]), "--out", out, "--producer", "P", "--c2pa-cert",
                            creds["chain"]])
    assert r.exit_code == 2
    r = runner.invoke(app, ["apply", str(media["png"]), "--out", out, "--producer", "P", "--c2pa-cert",
                            str(tmp_path / "none.pem"), "--c2pa-key", creds["key"]])
    assert r.exit_code == 2
    self_signed = tmp_path / "self.pem"
    self_signed.write_text(pki["self_signed"].cert_chain_pem)
    r = runner.invoke(app, ["apply", str(media["png"]), "--out", out, "--producer", "P", "--c2pa-cert",
                            str(self_signed), "--c2pa-key", creds["key"]])
    assert r.exit_code == 4 and "c2pa_signing" in r.output
    r = runner.invoke(app, ["apply", str(media["mkv"]), "--out", str(tmp_path / "o.mkv"), "--producer", "P",
                            "--c2pa-cert", creds["chain"], "--c2pa-key", creds["key"]])
    assert r.exit_code == 4 and "label_unsupported_format" in r.output
    assert not Path(out).exists() and not (tmp_path / "o.mkv").exists()


def test_apply_visible_video_with_c2pa(font: str, creds: dict[str, str], tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", "mp4", "libx264", "aac", seconds=2.5, fps=10)
    out = tmp_path / "o.mp4"
    r = runner.invoke(app, ["apply", str(clip), "--out", str(out), "--producer", "PROD", "--visible",
                            "--c2pa-cert", creds["chain"], "--c2pa-key", creds["key"],
                            "--trust-anchors", creds["root"], "--json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    v = payload["visible"]
    assert v["medium"] == "video" and v["seconds"] == 2.0 and v["frames_labelled"] == 20 and v["ratio"] >= 0.05
    assert payload["c2pa"]["state"] == "Trusted"
    reading = read_label(out)
    assert reading is not None and reading.valid and reading.label.content_producer == "PROD"
    r = runner.invoke(app, ["apply", str(clip), "--out", str(tmp_path / "t.mp4"), "--propagator", "PLAT",
                            "--label", "2", "--visible", "--throughout"])
    assert r.exit_code == 0, r.output
    assert "every frame" in r.output


def test_apply_visible_audio(media: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "o.mp3"
    r = runner.invoke(app, ["apply", str(media["mp3"]), "--out", str(out), "--propagator", "PLAT", "--label", "1",
                            "--visible", "--cue-at-end", "--json"])
    assert r.exit_code == 0, r.output
    v = json.loads(r.output)["visible"]
    assert v["medium"] == "audio" and v["at_end"] and v["placement"] == "prepend" and v["codec"] == "libmp3lame"
    reading = read_label(out)
    assert reading is not None and reading.label.content_propagator == "PLAT"
    r = runner.invoke(app, ["apply", str(media["wav"]), "--out", str(tmp_path / "o.wav"), "--producer", "P",
                            "--visible", "--cue-placement", "middle"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["apply", str(media["wav"]), "--out", str(tmp_path / "o.wav"), "--producer", "P",
                            "--visible", "--cue-placement", "mix"])
    assert r.exit_code == 0 and "audible cue" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp3", "o.wav"]
