"""``synthwatch label`` check / apply / diff, through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from synthwatch.cli.label import app
from synthwatch.provenance import AIGCLabel, read_label, write_label

runner = CliRunner()


def test_apply_check_diff(media: dict[str, Path], tmp_path: Path) -> None:
    produced = tmp_path / "p.jpg"
    r = runner.invoke(app, ["apply", str(media["jpeg"]), "--out", str(produced), "--producer", "PRODA"])
    assert r.exit_code == 0, r.output
    assert "Label 1" in r.output
    shared = tmp_path / "s.jpg"
    r = runner.invoke(app, ["apply", str(produced), "--out", str(shared), "--propagator", "PLATB", "--json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["fields"]["ContentProducer"] == "PRODA" and payload["fields"]["ContentPropagator"] == "PLATB"

    r = runner.invoke(app, ["check", str(media["png_xmp"]), str(shared), "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [x["decision"]["label"] for x in rows] == ["3", "1"]
    r = runner.invoke(app, ["check", str(shared), str(media["png_xmp"])])
    assert r.exit_code == 0 and "art6.1-implicit-label" in r.output

    r = runner.invoke(app, ["diff", str(produced), str(shared), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["status"] == "propagated"
    r = runner.invoke(app, ["diff", str(shared), str(media["jpeg"])])
    assert r.exit_code == 1 and "removed" in r.output
    forged = tmp_path / "f.jpg"
    old = read_label(shared)
    assert old is not None
    write_label(shared, forged, AIGCLabel("3", "OTHER", "x", "", "PLATB", "y", ""))
    r = runner.invoke(app, ["diff", str(shared), str(forged)])
    assert r.exit_code == 1 and "altered" in r.output and "ContentProducer" in r.output


def test_check_strict_and_errors(media: dict[str, Path], tmp_path: Path) -> None:
    from mutagen.flac import FLAC
    from prov_media import copy

    wild = copy(media["flac"], tmp_path / "w.flac")
    f = FLAC(wild)
    f.tags.append(("AIGC", '{"AIGC":{"Label":"AIGC","ContentProducer":"P","ProduceID":"1"}}'))  # type: ignore[union-attr]
    f.save()
    assert runner.invoke(app, ["check", str(wild)]).exit_code == 0
    r = runner.invoke(app, ["check", str(wild), "--strict"])
    assert r.exit_code == 1 and "label_value_invalid" in r.output
    r = runner.invoke(app, ["check", str(tmp_path / "missing.jpg")])
    assert r.exit_code == 4
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"nothing" * 10)
    assert runner.invoke(app, ["check", str(junk), "--json"]).exit_code == 4
    bad_rules = tmp_path / "r.yaml"
    bad_rules.write_text("label_rules: 3\n")
    assert runner.invoke(app, ["check", str(wild), "--rules", str(bad_rules)]).exit_code == 2


def test_apply_usage_errors(media: dict[str, Path], tmp_path: Path) -> None:
    out = str(tmp_path / "o.png")
    assert runner.invoke(app, ["apply", str(media["png"]), "--out", out]).exit_code == 2
    assert runner.invoke(app, ["apply", str(media["png"]), "--out", out, "--producer", "A",
                               "--propagator", "B"]).exit_code == 2
    assert runner.invoke(app, ["apply", str(media["png"]), "--out", out, "--producer", "A",
                               "--label", "7"]).exit_code == 2
    r = runner.invoke(app, ["apply", str(media["png"]), "--out", out, "--propagator", "B"])
    assert r.exit_code == 4 and "label_invalid" in r.output
    r = runner.invoke(app, ["apply", str(media["png"]), "--out", out, "--producer", "bad code"])
    assert r.exit_code == 4
    assert not Path(out).exists()
