"""``synthwatch assess demo`` at a reduced size (issue 16 item 6): the platforms' assessments are
at the stages asked for, built through the service's code paths; every finalised report is in
OUT as <platform>.html/.pdf/.pdf.sig and verifies (one altered byte does not); the regulator's
inbox holds exactly the filed ones; the README says what was simulated and names the rules copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthwatch.cli import app
from synthwatch.models.store import ModelStore


def test_demo_at_reduced_size(tmp_path: Path, model_store: ModelStore) -> None:
    if not model_store.is_installed("silero-vad"):
        pytest.skip("silero-vad could not be installed here (synthwatch models setup installs it from its wheel)")
    pytest.importorskip("weasyprint", reason="the demo writes PDF reports: pip install '.[pdf]'")
    out = tmp_path / "demo"
    runner = CliRunner()
    r = runner.invoke(app, ["assess", "demo", "--out", str(out), "--stages", "remediated,finalised,filed",
                            "--models", str(model_store.root), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    by_stage = {p["stage"]: p for p in res["platforms"]}
    assert set(by_stage) == {"remediated", "finalised", "filed"}
    rem = by_stage["remediated"]
    assert rem["assessment_state"] == "draft" and rem["findings"] >= 1 and rem["open_findings"] == 0
    assert by_stage["finalised"]["filing_id"] is None and by_stage["filed"]["filing_state"] == "filed"
    for p in res["platforms"]:  # real activity: scans, a live-room alert from the cloned voice, cases decided
        assert p["figures"]["scans"] == 4 and p["figures"]["alerts"] >= 1 and p["figures"]["decided"] >= 1

    # exactly the finalised reports are written, and they verify against the demo's key
    finalised = sorted(p["name"] for p in res["platforms"] if p["assessment_state"] == "finalised")
    written = sorted(f.name for f in out.iterdir() if f.suffix in (".html", ".pdf", ".sig"))
    assert written == sorted(f"{n}{s}" for n in finalised for s in (".html", ".pdf", ".pdf.sig"))
    key = out / "audit-public-key.pem"
    for name in finalised:
        pdf = out / f"{name}.pdf"
        assert pdf.read_bytes()[:5] == b"%PDF-"
        v = runner.invoke(app, ["assess", "verify", str(pdf), "--public-key", str(key)])
        assert v.exit_code == 0, v.output
    bad = tmp_path / "altered.pdf"
    data = bytearray((out / f"{finalised[0]}.pdf").read_bytes())
    data[len(data) // 2] ^= 1
    bad.write_bytes(bytes(data))
    (tmp_path / "altered.pdf.sig").write_bytes((out / f"{finalised[0]}.pdf.sig").read_bytes())
    assert runner.invoke(app, ["assess", "verify", str(bad), "--public-key", str(key)]).exit_code == 1

    # the regulator sees exactly the filed reports, through the API of the demo's own store
    from fastapi.testclient import TestClient

    from synthwatch.config import get_settings
    from synthwatch.service.app import create_app
    from synthwatch.service.settings import ServiceSettings

    keys = json.loads((out / "store" / "demo-keys.json").read_text())
    regulator = f"{res['regulator']}:regulator"
    application = create_app(ServiceSettings(home=out / "store"), core_settings=get_settings(home=out / "store"))
    with TestClient(application) as client:
        box = client.get("/v1/inbox", headers={"Authorization": f"Bearer {keys[regulator]}"}).json()["data"]
        assert sorted(f["platform"] for f in box) == [by_stage["filed"]["name"]]
        pdf = client.get(f"/v1/inbox/{box[0]['id']}/report.pdf", headers={"Authorization": f"Bearer {keys[regulator]}"})
        assert pdf.content == (out / f"{by_stage['filed']['name']}.pdf").read_bytes()
        # the filed report records the rules copy, and A1.coverage needs attention on the hours measured
        doc = client.get(f"/v1/inbox/{box[0]['id']}/report.json",
                         headers={"Authorization": f"Bearer {keys[regulator]}"}).json()
        assert doc["rules"]["name"] == "provisions-2018-demo.yaml" and doc["rules"]["sha256"] == res["rules"]["sha256"]
        cov = next(c for i in doc["items"] for c in i["criteria"] if c["id"] == "A1.coverage")
        assert cov["basis"] == "measured" and cov["status"] == "warn" and 1 <= cov["value"] < 16
        # a platform's admin sees its own filings only (this one filed nothing)
        admin = keys[f"{by_stage['finalised']['name']}:admin"]
        assert client.get("/v1/filings", headers={"Authorization": f"Bearer {admin}"}).json()["data"] == []
    application.state.core.db.dispose()

    readme = (out / "README.md").read_text(encoding="utf-8")
    rules = res["rules"]
    assert rules["version"].endswith("+demo-a1-coverage-warn-1h") and rules["sha256"] in readme
    assert "What is simulated" in readme and "debug-voice" in readme and "A1.coverage" in readme


def test_demo_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["assess", "demo", "--out", str(tmp_path / "d"), "--stages", "draft,bogus"])
    assert r.exit_code == 2 and "bogus" in r.output and not (tmp_path / "d").exists()
    (tmp_path / "used" / "store").mkdir(parents=True)
    r = runner.invoke(app, ["assess", "demo", "--out", str(tmp_path / "used")])
    assert r.exit_code == 2 and "exists" in r.output
    r = runner.invoke(app, ["assess", "demo", "--out", str(tmp_path / "d"), "--platforms", "12"])
    assert r.exit_code == 2
