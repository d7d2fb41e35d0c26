"""Security self-assessments from the service's own evidence (issue 16): the evidence is measured
from the real store (SQLite), outcomes move when the evidence moves, findings block finalisation
until they are remediated and re-measured, the finalised report is signed and audited, the rules
version is recorded, declared strings stay inert in the HTML, and only the tenant's admin may act."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthwatch.assess.rules import parse_rules
from synthwatch.errors import ConfigError
from synthwatch.service.assessments import workflow as wf

from .conftest import Env

FACTS = {k: {"zh": f"{k} 说明", "en": f"{k} statement"} for k in (
    "platform", "functions", "scope", "user_scale", "software_hardware", "deployment_locations", "licences",
    "responsible_officer", "assessor")}


def spec(kind: str = "forum", triggers: tuple[str, ...] = ("T1",), declarations: dict[str, Any] | None = None,
         facts: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"format": "synthwatch.assessment/1",
            "function": {"name": {"zh": "社区论坛", "en": "Community forum"}, "kind": kind},
            "triggers": list(triggers),
            "facts": {**FACTS, **(facts or {}), "attested_by": "Li Wei", "attested_at": "2026-12-01"},
            "declarations": declarations or {}}


def declaration(text: str = "entries on every page", **extra: Any) -> dict[str, Any]:
    return {"statement": {"zh": f"{text}（中文）", "en": text}, "attested_by": "Li Wei", "attested_at": "2026-12-02",
            **extra}


def rules_with(*items: str) -> str:
    """The shipped rules with only ``items`` (a platform's copy: nothing else changed)."""
    doc = yaml.safe_load((resources.files("synthwatch.assess") / "rules" / "provisions-2018.yaml")
                         .read_text(encoding="utf-8"))
    doc["items"] = [i for i in doc["items"] if i["id"] in items]
    doc["version"] = doc["version"] + "+" + "-".join(items)
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def criterion(rec: wf.AssessmentRecord, cid: str) -> Any:
    return next(c for r in rec.results for c in r.criteria if c.id == cid)


def finding(rec: wf.AssessmentRecord, cid: str) -> dict[str, Any]:
    return next(f for f in rec.findings if f["criterion"] == cid)


def _report_on_a_scan(env: Env, image: Path) -> tuple[str, str]:
    """An uploaded, scanned item and a user report about it (which opens a case): (report, case)."""
    scan = env.upload(image).json()
    env.drain()
    r = env.client.post("/v1/reports", json={"reason": "other", "scan_id": scan["id"], "text": "fake?"},
                        headers=env.auth("uploader"))
    assert r.status_code == 201, r.text
    case = env.client.get("/v1/cases?limit=5", headers=env.auth("reviewer")).json()["data"][0]["id"]
    return r.json()["id"], case


def test_findings_block_finalisation_until_fixed_and_re_measured(env_factory: Any, db_url: str,
                                                                  svc_media: dict[str, Path], tmp_path: Path) -> None:
    env = env_factory(db_url)  # SQLite, and PostgreSQL where SYNTHWATCH_TEST_POSTGRES_URL is set
    tenant = env.core.create_tenant("acme")
    _, case_id = _report_on_a_scan(env, svc_media["image"])
    rules = parse_rules(rules_with("A3", "A6"), "acme-rules.yaml")
    logs = {"A3.network_logs": declaration("the gateway keeps port and device logs for 12 months")}
    rec = wf.create(env.core, tenant.id, spec(declarations=logs), wf.Actor("cli"), rules=rules)
    assert rec.rules.version.endswith("+A3-A6") and rec.summary()["rules"]["sha256"] == rules.sha256

    # measured from the store: one report received, none handled; the report entries are not declared
    ch = rec.evidence["reports.channel"]
    assert ch.kind == "measured" and ch.figures["received"] == 1 and ch.figures["handled"] == 0
    assert "user_reports" in ch.sources and any("user_reports" in q for q in ch.queries)
    assert criterion(rec, "A6.handled").status == "fail"
    assert criterion(rec, "A6.entries").status == "fail" and criterion(rec, "A6.entries").basis == "declared"
    assert criterion(rec, "A3.chain").status == "pass" and rec.evidence["audit.chain"].figures["intact"] is True
    assert {f["criterion"] for f in rec.open_findings} == {"A6.handled", "A6.entries"}

    with pytest.raises(wf.AssessmentError) as refused:
        wf.finalise(env.core, tenant.id, rec.id, wf.Actor("cli"), by="Li Wei")
    assert refused.value.code == "open_findings"
    assert {f["criterion"] for f in refused.value.details["open_findings"]} == {"A6.handled", "A6.entries"}

    # a remediation alone does not resolve a finding the evidence still fails
    f1 = finding(rec, "A6.handled")["id"]
    rec = wf.remediate(env.core, tenant.id, rec.id, f1, wf.Actor("cli"), what="reports routed to the queue",
                       by="Ops team", evidence_after="the report's case was decided")
    assert finding(rec, "A6.handled")["status"] == "awaiting_check"
    rec = wf.collect(env.core, tenant.id, rec.id, wf.Actor("cli"))
    assert finding(rec, "A6.handled")["status"] == "open"  # re-measured: still nothing handled

    # the fix: a reviewer decides the case, which handles the report; the evidence changes
    r = env.client.post(f"/v1/cases/{case_id}/decision", json={"action": "dismiss", "reason_code": "authentic"},
                        headers=env.auth("reviewer"))
    assert r.status_code == 200, r.text
    rec = wf.collect(env.core, tenant.id, rec.id, wf.Actor("cli"))
    assert rec.evidence["reports.channel"].figures["handled"] == 1
    assert criterion(rec, "A6.handled").status == "pass"
    assert finding(rec, "A6.handled")["status"] == "resolved"  # remediation recorded earlier + re-measured

    # the declared finding: declare it, then record what was done
    rec = wf.update_spec(env.core, tenant.id, rec.id, spec(declarations={**logs, "A6.report_entries": declaration()}),
                         wf.Actor("cli"))
    assert criterion(rec, "A6.entries").status == "declared"
    assert finding(rec, "A6.entries")["status"] == "awaiting_record"
    with pytest.raises(wf.AssessmentError, match="A6.entries"):
        wf.finalise(env.core, tenant.id, rec.id, wf.Actor("cli"), by="Li Wei")
    rec = wf.remediate(env.core, tenant.id, rec.id, finding(rec, "A6.entries")["id"], wf.Actor("cli"),
                       what="report button added", by="Product", evidence_after="declaration of 2026-12-02")
    assert not rec.open_findings

    printed = db_url.startswith("sqlite")  # the PDF is printed and checked once (it does not touch the database)
    rec = wf.finalise(env.core, tenant.id, rec.id, wf.Actor("cli"), by="Li Wei", pdf=printed)
    assert rec.state == "finalised"
    files = wf.report_files(env.core, rec)
    doc = json.loads(files["report.json"])
    assert doc["rules"] == {**doc["rules"], "version": rules.version, "sha256": rules.sha256}
    assert doc["state"] == "finalised" and doc["finalised_by"] == "Li Wei"
    assert doc["conclusion"]["finalisable"] and doc["conclusion"]["findings"] == 2
    assert all(f["remediations"] for f in doc["findings"])
    # the signed bytes verify; one altered byte does not
    for name in ("report.json", "report.html"):
        sig = json.loads(files[f"{name}.sig"])
        assert wf.verify_signature(files[name], sig) == []
        bad = bytearray(files[name])
        bad[len(bad) // 2] ^= 1
        assert wf.verify_signature(bytes(bad), sig)
    # the report's hash is in the audit log, and the chain still verifies
    entries = env.client.get(f"/v1/audit?object_id={rec.id}", headers=env.auth("admin")).json()["data"]
    final = [e["entry"] for e in entries if e["entry"]["action"] == "assessment.finalised"]
    assert final and final[0]["details"]["report_sha256"] == rec.report_sha256
    from synthwatch.service.audit import audit_of

    assert audit_of(env.core).verify([tenant.id]).ok
    with pytest.raises(wf.AssessmentError, match="finalised"):
        wf.collect(env.core, tenant.id, rec.id, wf.Actor("cli"))
    from synthwatch.assess.pdf import pdf_available

    if not printed:
        return
    if not pdf_available():
        pytest.skip("WeasyPrint or Pango is not installed: the PDF is not checked (extra [pdf])")
    pdf = files["report.pdf"]  # printed at finalisation and signed too
    assert pdf.startswith(b"%PDF") and wf.verify_signature(pdf, json.loads(files["report.pdf.sig"])) == []
    # synthwatch assess verify: exit 0 for the intact file, 1 for one altered byte
    from typer.testing import CliRunner

    from synthwatch.cli import app

    (tmp_path / "report.pdf").write_bytes(pdf)
    (tmp_path / "report.pdf.sig").write_bytes(files["report.pdf.sig"])
    pem = tmp_path / "key.pem"
    pem.write_text(json.loads(files["report.pdf.sig"])["public_key_pem"], encoding="ascii")
    ok = CliRunner().invoke(app, ["assess", "verify", str(tmp_path / "report.pdf"), "--public-key", str(pem)])
    assert ok.exit_code == 0, ok.output
    altered = bytearray(pdf)
    altered[len(altered) // 3] ^= 0x20
    (tmp_path / "altered.pdf").write_bytes(bytes(altered))
    bad = CliRunner().invoke(app, ["assess", "verify", str(tmp_path / "altered.pdf"), "--sig",
                                   str(tmp_path / "report.pdf.sig"), "--json"])
    assert bad.exit_code == 1 and json.loads(bad.stdout_bytes)["ok"] is False
    if not (shutil.which("pdftoppm") and shutil.which("pdftotext")):
        pytest.skip("poppler-utils is not installed: the PDF's pages are not checked")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(tmp_path / "report.pdf"), str(tmp_path / "page")], check=True,
                   timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 4  # cover, basic facts, measures, conclusion and appendices (print styles break pages)
    from PIL import Image

    with Image.open(pages[0]) as im:
        assert im.convert("L").getextrema()[0] < 100  # the cover has text on it
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "report.pdf"), "-"], check=True, timeout=120,
                          capture_output=True, text=True).stdout
    # the figures printed are the store's, in both languages
    assert rules.version in text and "Li Wei" in text
    assert "安全评估报告" in text and "Security Self-Assessment Report" in text
    handled = doc["evidence"]["reports.channel"]["figures"]
    assert handled["received"] == 1 and "100.0%" in text  # share handled, as the PDF prints it
    flat = " ".join(text.split())
    shown = [c["shown"]["en"] for it in doc["items"] for c in it["criteria"]
             if c["basis"] == "measured" and c["value"] is not None]
    assert len(shown) >= 5
    for value in shown:  # every measured result of the report is printed as the document has it
        assert value in flat, value
    assert doc["id"] in flat


def test_measured_figures_equal_the_store_and_move_with_it(env_factory: Any, db_url: str,
                                                           svc_media: dict[str, Path]) -> None:
    env = env_factory(db_url)  # SQLite, and PostgreSQL where SYNTHWATCH_TEST_POSTGRES_URL is set
    tenant = env.core.create_tenant("acme")
    rules = parse_rules(rules_with("A1", "A4"), "a1-a4.yaml")
    empty = wf.create(env.core, tenant.id, spec(), wf.Actor("cli"), rules=rules)
    assert empty.evidence["review.latency"].figures["cases_opened"] == 0
    assert criterion(empty, "A1.latency").status == "warn"  # no data in the window: the rules say warn
    assert criterion(empty, "A1.latency").reason is not None
    # live rooms: not the function assessed, so their criteria do not apply
    assert criterion(empty, "A4.rooms_coverage").status == "not_applicable"

    _, case_id = _report_on_a_scan(env, svc_media["image"])
    r = env.client.post(f"/v1/cases/{case_id}/decision", json={"action": "dismiss", "reason_code": "authentic"},
                        headers=env.auth("reviewer"))
    assert r.status_code == 200
    rec = wf.collect(env.core, tenant.id, empty.id, wf.Actor("cli"))
    case = env.client.get(f"/v1/cases/{case_id}", headers=env.auth("admin")).json()
    lat = rec.evidence["review.latency"].figures
    assert lat["cases_opened"] == 1 and lat["cases_decided"] == 1
    from synthwatch.service.storage import review_tables as rt

    with env.core.db.read() as conn:
        row = conn.execute(rt.cases.select().where(rt.cases.c.id == case["id"])).first()
    assert lat["p95_s"] == round(row.first_decided_at - row.opened_at, 3)
    assert criterion(rec, "A1.latency").status == "pass" and criterion(rec, "A1.latency").value == lat["p95_s"]
    up = rec.evidence["moderation.uploads"].figures
    assert up["submitted"] == 1 and up["scanned"] == 1 and up["coverage"] == 1.0
    q = rec.evidence["detection.quality"].figures
    assert q["detectors_in_use"] == 3 and q["evaluated"] == 0  # the debug detectors, no eval runs imported
    # a live-audio-room assessment needs the rooms' coverage, and this store has no stream: a finding
    rooms = wf.create(env.core, tenant.id, spec(kind="live_audio_room"), wf.Actor("cli"), rules=rules)
    assert criterion(rooms, "A4.rooms_coverage").status == "fail"
    assert rooms.evidence["rooms.coverage"].figures["streams"] == 0
    assert "A4.rooms_coverage" in {f["criterion"] for f in rooms.open_findings}


def test_triggers_choose_the_items(env: Env) -> None:
    tenant = env.core.create_tenant("acme")
    plain = wf.create(env.core, tenant.id, spec(triggers=("T1",)), wf.Actor("cli"))
    synth = wf.create(env.core, tenant.id, spec(triggers=("T1", "T6")), wf.Actor("cli"))
    d = {r.id: r.status for r in plain.results}
    assert {d[i] for i in ("D1", "D2", "D3", "D4")} == {"not_applicable"}
    s = {r.id: r for r in synth.results}
    assert all(s[i].applicable for i in ("D1", "D2", "D3", "D4"))
    assert "labels.conformance" in synth.evidence and "labels.conformance" not in plain.evidence
    assert s["D2"].status == "fail"  # consent not declared
    for ev in synth.evidence.values():  # nothing declared is shown as measured, and the reverse
        assert ev.kind == ("declared" if ev.id[:2] in {"A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "D1", "D2",
                                                        "D3", "D4"} and "." in ev.id and ev.id.split(".")[0] in
                           {"A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "D1", "D2", "D3", "D4"} else "measured")
    # both languages complete: every text of the report document is given in Chinese and English
    doc = wf.report_document(env.core, synth)
    texts = [doc["rules"]["title"], doc["function"]["name"], doc["function"]["kind_label"],
             *(t["text"] for t in doc["triggers"]), *(f["label"] for f in doc["facts"]),
             *(f["value"] for f in doc["facts"])]
    for item in doc["items"]:
        assert item["status"] in ("pass", "declared", "warn", "fail", "not_applicable")
        texts += [item["title"], item["requirement"]]
        for c in item["criteria"]:
            texts += [c["text"], c["shown"], c["threshold"], *([c["reason"]] if c["reason"] else [])]
    for ev in doc["evidence"].values():
        texts += [ev["title"], *ev["notes"]]
    assert [i["id"] for i in doc["items"]] == ["A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "D1", "D2", "D3", "D4"]
    for t in texts:
        assert set(t) == {"zh", "en"} and t["zh"].strip() and t["en"].strip(), t
    with pytest.raises(ConfigError, match="triggers\\[0\\]"):
        wf.create(env.core, tenant.id, spec(triggers=("T9",)), wf.Actor("cli"))
    with pytest.raises(ConfigError, match="facts.scope"):
        bad = spec()
        del bad["facts"]["scope"]
        wf.create(env.core, tenant.id, bad, wf.Actor("cli"))


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">{{ 7*7 }}"><a href="javascript:x">'


def test_hostile_declared_strings_are_inert_and_the_api_is_admin_only(env: Env) -> None:
    admin = env.auth("admin")
    body = {"spec": spec(facts={"platform": {"zh": HOSTILE, "en": HOSTILE}},
                         declarations={"A6.report_entries": declaration(HOSTILE)})}
    body["spec"]["function"]["name"]["en"] = HOSTILE
    r = env.client.post("/v1/assessments", json=body, headers=admin)
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    assert r.headers["location"] == f"/v1/assessments/{aid}"
    page = env.client.get(f"/v1/assessments/{aid}/report.html", headers=admin)
    assert page.status_code == 200 and "script-src" not in page.headers["content-security-policy"]
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    p = _Elements()
    p.feed(page.text)
    assert not [t for t, _ in p.tags if t in ("script", "iframe", "object", "embed", "form", "base", "link")]
    assert all((a.get("href") or "").startswith("#") for t, a in p.tags if t == "a")  # in-page links only
    assert all(not k.startswith("on") for _, a in p.tags for k in a)
    assert all((a.get("src") or "data:").startswith("data:image/svg+xml;base64,") for t, a in p.tags if t == "img")
    assert HOSTILE in "".join(p.text)  # shown literally, as text (and "{{ 7*7 }}" never became 49)
    # the JSON report carries the string unchanged
    doc = env.client.get(f"/v1/assessments/{aid}/report.json", headers=admin).json()
    assert doc["facts"][0]["value"]["en"] == HOSTILE and doc["function"]["name"]["en"] == HOSTILE

    # finalising with open findings: 409 naming them
    r = env.client.post(f"/v1/assessments/{aid}/finalise", json={"by": "Li Wei"}, headers=admin)
    assert r.status_code == 409 and r.json()["code"] == "open_findings" and r.json()["open_findings"]
    fid = r.json()["open_findings"][0]["id"]
    r = env.client.post(f"/v1/assessments/{aid}/findings/{fid}/remediation",
                        json={"what": HOSTILE, "by": "ops", "evidence_after": "see ticket 7"}, headers=admin)
    assert r.status_code == 200 and any(f["remediations"] for f in r.json()["finding_list"])
    assert env.client.get(f"/v1/assessments/{aid}/report.json.sig", headers=admin).status_code == 404  # a draft
    # only the tenant's admin; another tenant's admin sees nothing
    for role in ("uploader", "reviewer", "auditor", "regulator"):
        assert env.client.get(f"/v1/assessments/{aid}", headers=env.auth(role)).status_code == 403
        assert env.client.post("/v1/assessments", json=body, headers=env.auth(role)).status_code == 403
    other = env.auth("admin", "globex")
    assert env.client.get(f"/v1/assessments/{aid}", headers=other).status_code == 404
    assert env.client.get(f"/v1/assessments/{aid}/report.html", headers=other).status_code == 404
    assert env.client.get("/v1/assessments", headers=other).json()["data"] == []
    assert [a["id"] for a in env.client.get("/v1/assessments", headers=admin).json()["data"]] == [aid]
    bad = copy.deepcopy(body)
    bad["spec"]["triggers"] = ["T99"]
    r = env.client.post("/v1/assessments", json=bad, headers=admin)
    assert r.status_code == 422 and "T99" in r.json()["detail"]
    # texts that cannot be stored or signed as UTF-8 are refused, naming the field, never a 500
    for text, where in (('"\\ud800 x"', "facts.scope.en"), ('"a\\u0000b"', "facts.scope.en")):
        raw = json.dumps({"spec": spec()}).replace('"scope statement"', text)
        r = env.client.post("/v1/assessments", content=raw, headers={**admin, "Content-Type": "application/json"})
        assert r.status_code == 422 and where in r.json()["detail"], r.text
    bad = copy.deepcopy(body)
    bad["spec"]["declarations"]["A6.report_entries"]["figures"] = {"<b>": 1}
    r = env.client.post("/v1/assessments", json=bad, headers=admin)
    assert r.status_code == 422 and "figure name" in r.json()["detail"]


def test_cli_end_to_end(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from synthwatch.cli import app

    env.core.create_tenant("acme")
    monkeypatch.setenv("SYNTHWATCH_HOME", str(env.home))
    monkeypatch.setenv("SYNTHWATCH_DATABASE_URL", env.settings.database_url)
    facts = tmp_path / "facts.yaml"
    facts.write_text(yaml.safe_dump(spec(declarations={"A6.report_entries": declaration()}), allow_unicode=True),
                     encoding="utf-8")
    runner = CliRunner()
    r = runner.invoke(app, ["assess", "create", "--tenant", "acme", "--spec", str(facts), "--json"])
    assert r.exit_code == 0, r.output
    created = json.loads(r.stdout_bytes)
    aid = created["id"]
    assert created["rules"]["version"] and created["findings"]["open"] > 0
    r = runner.invoke(app, ["assess", "finalise", aid, "--tenant", "acme", "--by", "Li Wei"])
    assert r.exit_code == 1 and "not resolved" in r.output
    r = runner.invoke(app, ["assess", "report", aid, "--tenant", "acme", "--json"])
    assert r.exit_code == 0
    rec = wf.get(env.core, env.core.tenant_by_name("acme").id, aid)
    again = wf.report_files(env.core, rec)["report.json"]
    # byte-exact JSON (only the chart hashes could differ: they are drawn again; they are deterministic)
    assert r.stdout_bytes == again
    out = tmp_path / "out"
    r = runner.invoke(app, ["assess", "report", aid, "--tenant", "acme", "--out", str(out), "--format", "html,json"])
    assert r.exit_code == 0 and (out / "report.html").is_file() and (out / "report.json").is_file()
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: synthwatch.assessment/1\ntriggers: [T1]\n", encoding="utf-8")
    r = runner.invoke(app, ["assess", "create", "--tenant", "acme", "--spec", str(bad)])
    assert r.exit_code == 2 and "function" in r.output
    r = runner.invoke(app, ["assess", "show", "asm_nope", "--tenant", "acme"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["assess", "remediate", aid, "F99", "--tenant", "acme", "--what", "w", "--by", "b",
                            "--evidence", "e"])
    assert r.exit_code == 2 and "no such finding" in r.output
    r = runner.invoke(app, ["assess", "file", aid, "--tenant", "acme", "--regulator", "cac"])
    assert r.exit_code == 1 and "finalised" in r.output  # a draft cannot be filed
    r = runner.invoke(app, ["assess", "rules", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout_bytes)["version"] == created["rules"]["version"]


def test_every_assessment_route_is_role_checked_and_tenant_scoped(env: Env) -> None:
    """Assessments and filings: the platform's admin only; the inbox: the regulator only."""
    from .test_authz import ASSESS, MATRIX

    routes = [k for k, v in MATRIX.items() if v == ASSESS]
    assert len(routes) == 18
    admin = env.auth("admin")
    aid = env.client.post("/v1/assessments", json={"spec": spec()}, headers=admin).json()["id"]
    ids = {"assessment_id": aid, "finding_id": "F1", "name": "report.json", "filing_id": "fil_nope"}
    bodies = {"/v1/assessments": {"spec": spec()}, "/v1/assessments/{assessment_id}/facts": {"spec": spec()},
              "/v1/assessments/{assessment_id}/findings/{finding_id}/remediation":
                  {"what": "w", "by": "b", "evidence_after": "e"},
              "/v1/assessments/{assessment_id}/finalise": {"by": "Li Wei"},
              "/v1/assessments/{assessment_id}/filing": {"regulator": "cac"},
              "/v1/filings/{filing_id}/resubmit": {"assessment_id": aid},
              "/v1/inbox/{filing_id}/rectification": {"note": "n", "deadline": "2099-01-01T00:00:00Z"}}
    for method, path in routes:
        url = path.format(**ids)
        body = bodies.get(path, {} if method == "POST" else None)
        allowed = "regulator" if path.startswith("/v1/inbox") else "admin"
        assert env.client.request(method, url, json=body).status_code == 401, (method, path)
        for role in ("uploader", "reviewer", "auditor", "admin", "regulator", "ingest"):
            if role == allowed:
                continue
            r = env.client.request(method, url, json=body, headers=env.auth(role))
            assert r.status_code == 403, (method, path, role, r.status_code)
        r = env.client.request(method, url, json=body, headers=env.auth(allowed, "globex"))
        listing = path in ("/v1/assessments", "/v1/filings", "/v1/inbox")
        expected = ({201} if method == "POST" else {200}) if listing else {404}
        assert r.status_code in expected, (method, path, r.status_code)
        r = env.client.request(method, url, json=body, headers=env.auth(allowed))
        assert r.status_code in {200, 201, 404, 409}, (method, path, r.status_code, r.text)


def _finalised(env: Env, tenant_id: str, note: str = "") -> str:
    """A finalised assessment of ``tenant_id`` (rules with only A3, whose evidence this store meets)."""
    rules = parse_rules(rules_with("A3"), "a3.yaml")
    logs = {"A3.network_logs": declaration(f"gateway logs {note}")}
    rec = wf.create(env.core, tenant_id, spec(declarations=logs), wf.Actor("cli"), rules=rules)
    assert not rec.open_findings, rec.findings
    return wf.finalise(env.core, tenant_id, rec.id, wf.Actor("cli"), by="Li Wei", pdf=False).id


def test_the_regulators_inbox(env: Env) -> None:
    acme = env.core.create_tenant("acme")
    admin, reg, other_reg = env.auth("admin"), env.auth("regulator", "cac"), env.auth("regulator", "cac-beijing")
    r = env.client.patch("/v1/tenant", json={"callback_url": "http://127.0.0.1:9/hook"}, headers=admin)
    assert r.status_code == 200, r.text
    draft = wf.create(env.core, acme.id, spec(), wf.Actor("cli"))
    first = _finalised(env, acme.id, "v1")
    # only a finalised report, and only to a regulator
    r = env.client.post(f"/v1/assessments/{draft.id}/filing", json={"regulator": "cac"}, headers=admin)
    assert r.status_code == 409 and r.json()["code"] == "not_finalised"
    env.key("admin", "globex")
    r = env.client.post(f"/v1/assessments/{first}/filing", json={"regulator": "globex"}, headers=admin)
    assert r.status_code == 422 and r.json()["code"] == "unknown_regulator"
    r = env.client.post(f"/v1/assessments/{first}/filing", json={"regulator": "cac"}, headers=admin)
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    assert r.json()["state"] == "filed" and r.json()["platform"] == "acme"
    assert env.client.post(f"/v1/assessments/{first}/filing", json={"regulator": "cac"},
                           headers=admin).status_code == 409

    # the regulator sees the filing and the report as signed, and nothing else of the platform
    box = env.client.get("/v1/inbox", headers=reg).json()["data"]
    assert [f["id"] for f in box] == [fid]
    assert env.client.get("/v1/inbox", headers=other_reg).json()["data"] == []
    assert env.client.get(f"/v1/inbox/{fid}", headers=other_reg).status_code == 404
    signed = env.client.get(f"/v1/inbox/{fid}/report.json", headers=reg)
    sig = env.client.get(f"/v1/inbox/{fid}/report.json.sig", headers=reg).json()
    assert signed.status_code == 200 and wf.verify_signature(signed.content, sig) == []
    assert sig["sha256"] == box[0]["report_sha256"]
    for path in (f"/v1/assessments/{first}", "/v1/assessments", "/v1/cases", "/v1/scans", "/v1/audit"):
        assert env.client.get(path, headers=reg).status_code == 403, path
    assert env.client.get("/v1/inbox", headers=admin).status_code == 403

    # acknowledgement, rectification with a deadline, resubmission, acceptance
    assert env.client.post(f"/v1/inbox/{fid}/acknowledge", json={}, headers=reg).json()["state"] == "acknowledged"
    r = env.client.post(f"/v1/inbox/{fid}/rectification", json={"note": "A3: add device logs",
                                                               "deadline": "2020-01-01T00:00:00+08:00"}, headers=reg)
    assert r.status_code == 422  # a deadline in the past
    r = env.client.post(f"/v1/inbox/{fid}/rectification", json={"note": "A3: add device logs",
                                                               "deadline": "2099-01-31T18:00:00+08:00"}, headers=reg)
    assert r.status_code == 200 and r.json()["state"] == "rectification_requested" and r.json()["deadline_at"]
    mine = env.client.get(f"/v1/filings/{fid}", headers=admin).json()
    assert mine["state"] == "rectification_requested" and mine["history"][-1]["note"] == "A3: add device logs"
    assert env.client.post(f"/v1/inbox/{fid}/accept", json={}, headers=reg).status_code == 409
    r = env.client.post(f"/v1/filings/{fid}/resubmit", json={"assessment_id": first}, headers=admin)
    assert r.status_code == 409  # the same report again
    second = _finalised(env, acme.id, "v2, with device logs")
    r = env.client.post(f"/v1/filings/{fid}/resubmit", json={"assessment_id": second}, headers=admin)
    assert r.status_code == 200 and r.json()["state"] == "resubmitted" and r.json()["assessment_id"] == second
    assert "v2, with device logs" in env.client.get(f"/v1/inbox/{fid}/report.html", headers=reg).text
    assert env.client.post(f"/v1/inbox/{fid}/accept", json={"note": "ok"}, headers=reg).json()["state"] == "accepted"
    assert env.client.post(f"/v1/inbox/{fid}/acknowledge", json={}, headers=reg).status_code == 409
    states = [h["state"] for h in env.client.get(f"/v1/filings/{fid}", headers=admin).json()["history"]]
    assert states == ["filed", "acknowledged", "rectification_requested", "resubmitted", "accepted"]
    assert env.client.get(f"/v1/filings/{fid}", headers=env.auth("admin", "globex")).status_code == 404

    # audited on both sides' chains, and notified to the platform by its signed webhook
    audit = env.client.get(f"/v1/audit?object_id={fid}", headers=admin).json()["data"]
    assert {e["entry"]["action"] for e in audit} >= {"assessment.filing.filed", "assessment.filing.accepted"}
    cac_audit = env.client.get(f"/v1/audit?object_id={fid}", headers=env.auth("auditor", "cac")).json()["data"]
    assert len(cac_audit) == len(audit) == 5
    events = [d["event"] for d in env.client.get("/v1/webhooks/deliveries?limit=50", headers=admin).json()["data"]]
    assert {"assessment.filing.filed", "assessment.filing.rectification_requested",
            "assessment.filing.accepted"} <= set(events)


def test_detector_quality_from_an_imported_eval_run(env: Env, svc_media: dict[str, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    import numpy as np
    from PIL import Image
    from typer.testing import CliRunner

    from synthwatch.cli import app

    tenant = env.core.create_tenant("acme")
    admin = env.auth("admin")
    assert env.client.patch("/v1/tenant", json={"detectors": ["debug-image"]}, headers=admin).status_code == 200
    env.upload(svc_media["image"])
    env.drain()
    rules = parse_rules(rules_with("A4"), "a4.yaml")
    rec = wf.create(env.core, tenant.id, spec(), wf.Actor("cli"), rules=rules)
    q = rec.evidence["detection.quality"].figures
    assert q["detectors_in_use"] == 1 and q["evaluated"] == 0 and q["without_eval"] == 1
    assert criterion(rec, "A4.eval_present").status == "warn" and criterion(rec, "A4.eval_auc").value is None

    # the platform measures the detector on its own labelled sample and imports the run
    rng = np.random.default_rng(5)
    for cls, centre in (("real", 70), ("fake", 185)):
        (tmp_path / "sample" / cls).mkdir(parents=True)
        for i in range(10):
            px = np.clip(rng.normal(centre + rng.integers(-45, 45), 10, (32, 32, 3)), 0, 255).astype("uint8")
            Image.fromarray(px).save(tmp_path / "sample" / cls / f"{i}.png")
    monkeypatch.setenv("SYNTHWATCH_HOME", str(env.home))
    monkeypatch.setenv("SYNTHWATCH_DATABASE_URL", env.settings.database_url)
    runner = CliRunner()
    out = tmp_path / "eval"
    r = runner.invoke(app, ["eval", "--data", f"folder:{tmp_path / 'sample'}", "--detectors", "debug-image", "--out",
                            str(out), "--no-plots", "--bootstrap", "200", "--quiet"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["assess", "import-eval", str(out), "--tenant", "acme", "--own-sample", "--json"])
    assert r.exit_code == 0, r.output
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    auc = results["detectors"][0]["conditions"][0]["item_level"]["auc"]

    rec = wf.collect(env.core, tenant.id, rec.id, wf.Actor("cli"))
    ev = rec.evidence["detection.quality"]
    assert ev.figures["evaluated"] == 1 and ev.figures["own_sample"] == 1 and ev.figures["without_eval"] == 0
    assert ev.figures["min_auc"] == round(auc["value"], 4) and ev.figures["min_auc_ci_low"] == round(auc["ci95"][0], 4)
    assert criterion(rec, "A4.eval_present").status == "pass"
    per = ev.series["detectors"]["debug-image"]
    assert per["own_sample"] and len(per["roc"]["fpr"]) >= 3 and per["n_real"] == per["n_fake"] == 10
    doc = wf.report_document(env.core, rec)
    assert "charts/detector-roc.svg" in {c["name"] for c in doc["charts"]}
    sha = {a["name"]: a["sha256"] for a in doc["artefacts"]}
    run_id = per["run"]
    assert sha[f"eval/{run_id}/results.json"] == hashlib.sha256((out / "results.json").read_bytes()).hexdigest()
    assert sha[f"eval/{run_id}/scores.csv"] == hashlib.sha256((out / "scores.csv").read_bytes()).hexdigest()
    r = runner.invoke(app, ["assess", "import-eval", str(tmp_path / "sample"), "--tenant", "acme"])
    assert r.exit_code == 2 and "results" in r.output  # not an eval run


def test_label_conformance_rereads_the_labelled_copies(env: Env, tmp_path: Path) -> None:
    from synthwatch.service.review.policy import default_policy_text
    from synthwatch.testing import samples

    tenant = env.core.create_tenant("acme")
    policy = default_policy_text().replace("propagator: null", "propagator: PLATFORM0001")
    r = env.client.put("/v1/review/policy", content=policy.encode(),
                       headers={**env.auth("admin"), "Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    scan = env.upload(samples.make_image(tmp_path / "face.jpg", size=(320, 240), seed=1)).json()
    env.drain()
    [case] = env.client.get("/v1/cases", headers=env.auth("reviewer")).json()["data"]
    r = env.client.post(f"/v1/cases/{case['id']}/decision", json={"action": "label", "reason_code": "ai_unlabelled"},
                        headers=env.auth("reviewer"))
    assert r.status_code == 200, r.text
    assert env.drain() == 1  # the worker writes the label
    rules = parse_rules(rules_with("D1", "D3"), "d1-d3.yaml")
    rec = wf.create(env.core, tenant.id, spec(kind="deep_synthesis", triggers=("T6",)), wf.Actor("cli"), rules=rules)
    lab = rec.evidence["labels.conformance"]
    assert lab.figures["label_decisions"] == 1 and lab.figures["sampled"] == 1 and lab.figures["conforming"] == 1
    assert lab.figures["rate"] == 1.0 and criterion(rec, "D3.conformance").status == "pass"
    assert lab.series["checks"][0]["why"] == "conforms"
    assert criterion(rec, "D1.review_policy").status == "pass"  # the platform's own policy, revision 1
    assert rec.evidence["policy.review"].figures["revision"] == 1

    # the stored labelled copy loses its label: re-read, it no longer conforms, and a finding opens
    sha = lab.series["checks"][0]["sha256"]
    original = env.client.get(f"/v1/scans/{scan['id']}/media", headers=env.auth("reviewer")).content
    env.core.blobs.path(sha).write_bytes(original)
    rec = wf.collect(env.core, tenant.id, rec.id, wf.Actor("cli"))
    lab = rec.evidence["labels.conformance"]
    assert lab.figures["conforming"] == 0 and lab.figures["rate"] == 0.0
    assert "0 labels found" in lab.series["checks"][0]["why"]
    assert criterion(rec, "D3.conformance").status == "fail"
    assert "D3.conformance" in {f["criterion"] for f in rec.open_findings}
