"""The console's self-assessment pages for both sides of a filing (issue 16): the platform admin's
assessments (items measured/declared, findings, the declared-facts form with the API's validation,
remediation, finalisation refused while findings are open, report files, filings), and the
regulator's inbox (every platform's filings addressed to it, report files as signed, acknowledge /
rectification / accept forms). Roles, tenant isolation, CSRF and hostile declared strings."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from synthwatch.assess.rules import default_rules
from synthwatch.service.assessments import console as ac
from synthwatch.service.assessments import inbox
from synthwatch.service.assessments import workflow as wf

from .conftest import Env
from .test_assess import FACTS, _finalised
from .test_console import HOSTILE, csrf_of, login


def _form(csrf: str, **over: Any) -> dict[str, Any]:
    """The facts form as a browser posts it (every basic fact filled in)."""
    rules = default_rules()
    data: dict[str, Any] = {"csrf_token": csrf, "function_zh": "语音直播间", "function_en": "Live audio rooms",
                            "function_kind": "live_audio_room", "triggers": ["T1"], "attested_by": "Li Wei",
                            "attested_at": "2026-12-01", "declarations": ""}
    for f in rules.facts:
        data[f"fact_{f.id}_zh"] = FACTS.get(f.id, {"zh": f.id}).get("zh", f.id)
        data[f"fact_{f.id}_en"] = FACTS.get(f.id, {"en": f.id}).get("en", f.id)
    data.update(over)
    return data


def _inert(html: str, shown: bool = True) -> None:
    """Hostile text is never markup; where it is shown (not an editable form value, which keeps the
    exact characters to round-trip), its bidi override is made visible."""
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    text = re.sub(r'value="[^"]*"|<textarea[^>]*>[^<]*</textarea>', "", html)
    assert "\u202e" not in text and (not shown or "\\u202e" in text)


def test_platform_assessment_pages(env: Env) -> None:
    env.key("admin")
    adm = login(env, "admin")
    listing = adm.get("/console/assessments")
    assert listing.status_code == 200 and 'href="/console/assessments"' in listing.text
    assert 'href="/console/inbox"' not in listing.text and "<script" not in listing.text
    csrf = csrf_of(listing.text)

    # the form goes through the API's validation: a missing fact is named, as the API names it
    bad = _form(csrf, fact_licences_zh="", fact_licences_en="", function_en=HOSTILE)
    r = adm.post("/console/assessments", data=bad)
    doc = ac.spec_from_form(default_rules(), bad)
    api = env.client.post("/v1/assessments", json={"spec": doc}, headers=env.auth("admin"))
    assert r.status_code == 422 == api.status_code
    assert api.json()["detail"] in r.text.replace("&#39;", "'") and "facts.licences" in r.text
    _inert(r.text, shown=False)  # the posted value is shown again in its field, escaped
    # CSRF and origin
    assert adm.post("/console/assessments", data={**_form(csrf), "csrf_token": "x"}).status_code == 403
    assert adm.post("/console/assessments", data=_form(csrf), headers={"Origin": "https://evil.example"}
                    ).status_code == 403

    # a valid form creates the draft and collects its evidence from the store
    decl = ("A1.review_team:\n  statement: {zh: '十人三班', en: '" + HOSTILE.replace("'", "''") + "'}\n"
            "  attested_by: Li Wei\n  attested_at: 2026-12-02\n")
    r = adm.post("/console/assessments", data=_form(csrf, declarations=decl, fact_scope_en=HOSTILE),
                 follow_redirects=False)
    assert r.status_code == 303, r.text
    aid = re.search(r"/console/assessments/(asm_\w+)", r.headers["location"]).group(1)  # type: ignore[union-attr]
    rec = wf.get(env.core, env.core.tenant_by_name("acme").id, aid)
    assert rec.spec.facts.values["scope"].en == HOSTILE and rec.spec.declarations["A1.review_team"]
    page = adm.get(r.headers["location"]).text
    assert "The assessment is created" in page
    _inert(page)
    # every criterion is on the page with its basis; findings with their state
    for item in rec.results:
        for c in item.criteria:
            assert f"<code>{c.id}</code>" in page
    assert 'class="basis basis-measured"' in page and 'class="basis basis-declared"' in page
    # values and thresholds read as in the report (the shipped rules: A1.coverage meets at 16 hours)
    assert "meets ≥ 16 / attention ≥ 8" in page and "meets ≤ 24.0 h / attention ≤ 3.0 days" in page
    assert "declared by Li Wei on 2026-12-02" in page
    assert rec.open_findings and all(f"{f['id']} · <code>{f['criterion']}</code>" in page for f in rec.findings)
    assert f'href="/console/assessments/{aid}/report.html"' in page and "report.pdf" not in page  # a draft

    # a bad declaration id in the facts form: named, nothing changed
    r = adm.post(f"/console/assessments/{aid}/facts", data=_form(csrf, declarations="Z9.nope: {}\n"))
    assert r.status_code == 422 and "declarations" in r.text and "Z9.nope" in r.text
    assert wf.get(env.core, rec.tenant_id, aid).version == rec.version
    r = adm.post(f"/console/assessments/{aid}/facts", data=_form(csrf, declarations="a: [unclosed\n"))
    assert r.status_code == 422 and "not valid YAML" in r.text

    # finalising is refused while findings are open (the workflow's reason on the page)
    r = adm.post(f"/console/assessments/{aid}/finalise", data={"csrf_token": csrf, "by": "Zhang San"})
    assert r.status_code == 409 and "not resolved" in r.text and wf.get(env.core, rec.tenant_id, aid).state == "draft"
    # a remediation through the form
    fid = rec.open_findings[0]["id"]
    r = adm.post(f"/console/assessments/{aid}/findings/{fid}/remediation",
                 data={"csrf_token": csrf, "what": HOSTILE + "\nsecond line", "by": "Ops", "evidence_after": "x"},
                 follow_redirects=True)
    assert r.status_code == 200 and "The remediation is recorded." in r.text
    _inert(r.text)
    f = next(x for x in wf.get(env.core, rec.tenant_id, aid).findings if x["id"] == fid)
    assert f["remediations"][0]["what"] == HOSTILE + "\nsecond line" and f["status"] in ("awaiting_check", "resolved")
    r = adm.post(f"/console/assessments/{aid}/collect", data={"csrf_token": csrf}, follow_redirects=True)
    assert r.status_code == 200 and wf.get(env.core, rec.tenant_id, aid).collections == 2

    # roles and tenants: a reviewer has no link and no page; another platform's admin gets 404
    rev = login(env, "reviewer")
    q = rev.get("/console/queue").text
    assert "/console/assessments" not in q and "/console/inbox" not in q
    assert rev.get("/console/assessments").status_code == 403
    assert rev.get(f"/console/assessments/{aid}").status_code == 403
    assert rev.post(f"/console/assessments/{aid}/collect", data={"csrf_token": csrf_of(q)}).status_code == 403
    env.key("admin", "globex")
    other = login(env, "admin", "globex")
    assert other.get(f"/console/assessments/{aid}").status_code == 404
    assert other.get(f"/console/assessments/{aid}/report.json").status_code == 404
    assert aid not in other.get("/console/assessments").text
    gpage = other.get("/console/assessments").text
    assert other.post(f"/console/assessments/{aid}/collect", data={"csrf_token": csrf_of(gpage)}).status_code == 404


def test_both_sides_of_a_filing(env: Env) -> None:
    acme, globex = env.core.create_tenant("acme"), env.core.create_tenant("globex")
    env.key("regulator", "cac")
    env.key("regulator", "cac-beijing")
    env.key("admin")
    env.key("admin", "globex")
    first = _finalised(env, acme.id, "v1")
    theirs = _finalised(env, globex.id, "globex")
    inbox.file_report(env.core, globex.id, theirs, "cac", wf.Actor("cli"))

    # the platform files from its console
    adm = login(env, "admin")
    apage = adm.get(f"/console/assessments/{first}").text
    assert f'href="/console/assessments/{first}/report.html.sig"' in apage and "Not filed." in apage
    r = adm.post(f"/console/assessments/{first}/filing", data={"csrf_token": csrf_of(apage), "regulator": "globex"})
    assert r.status_code == 422 and "no regulator named" in r.text
    r = adm.post(f"/console/assessments/{first}/filing", data={"csrf_token": csrf_of(apage), "regulator": "cac"},
                 follow_redirects=True)
    assert r.status_code == 200 and "The report is filed." in r.text and 'class="st st-filed"' in r.text
    fid = inbox.platform_filings(env.core, acme.id)[0].id

    # the regulator logs in to its inbox, and sees nothing else
    reg = login(env, "regulator", "cac")
    assert reg.last_login.status_code == 303  # type: ignore[attr-defined]
    r = reg.get("/console/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/inbox"
    box = reg.get("/console/inbox")
    assert box.status_code == 200 and "acme" in box.text and "globex" in box.text and fid in box.text
    assert 'href="/console/queue"' not in box.text and 'href="/console/inbox"' in box.text
    for url in ("/console/dashboard", "/console/assessments", f"/console/assessments/{first}", "/console/audit",
                "/console/rooms"):
        assert reg.get(url).status_code == 403, url
    assert adm.get("/console/inbox").status_code == 403 and adm.get(f"/console/inbox/{fid}").status_code == 403
    assert reg.get("/console/inbox?state=bogus").status_code == 422
    other = login(env, "regulator", "cac-beijing")
    assert fid not in other.get("/console/inbox").text and "No filing" in other.get("/console/inbox").text
    assert other.get(f"/console/inbox/{fid}").status_code == 404
    assert other.get(f"/console/inbox/{fid}/report.html").status_code == 404

    # one filing: report files exactly as signed
    fpage = reg.get(f"/console/inbox/{fid}").text
    signed = wf.report_files(env.core, wf.get(env.core, acme.id, first))
    for name in ("report.html", "report.json", "report.json.sig"):
        assert f'href="/console/inbox/{fid}/{name}"' in fpage
        got = reg.get(f"/console/inbox/{fid}/{name}")
        assert got.status_code == 200 and got.content == signed[name]
    csp = reg.get(f"/console/inbox/{fid}/report.html").headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp and "sandbox" in csp
    csrf = csrf_of(fpage)
    # CSRF on the regulator's forms
    assert reg.post(f"/console/inbox/{fid}/acknowledge", data={"csrf_token": "x"}).status_code == 403
    assert reg.post(f"/console/inbox/{fid}/acknowledge", data={"csrf_token": csrf},
                    headers={"Origin": "https://evil.example"}).status_code == 403
    assert inbox.filing_for_platform(env.core, acme.id, fid).state == "filed"
    r = reg.post(f"/console/inbox/{fid}/acknowledge", data={"csrf_token": csrf, "note": "received"},
                 follow_redirects=True)
    assert r.status_code == 200 and "The filing is acknowledged." in r.text
    # rectification: a past deadline is refused, a future one with a hostile note is kept inert
    past = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    r = reg.post(f"/console/inbox/{fid}/rectification", data={"csrf_token": csrf, "note": "fix", "deadline": past})
    assert r.status_code == 422 and "deadline in the future" in r.text
    future = datetime.now(UTC) + timedelta(days=30)
    r = reg.post(f"/console/inbox/{fid}/rectification",
                 data={"csrf_token": csrf, "note": HOSTILE, "deadline": future.strftime("%Y-%m-%dT%H:%M+00:00")},
                 follow_redirects=True)
    assert r.status_code == 200 and 'class="st st-rectification_requested"' in r.text
    _inert(r.text)
    f = inbox.filing_for_platform(env.core, acme.id, fid)
    assert f.state == "rectification_requested" and abs(f.deadline_at - future.replace(second=0, microsecond=0)
                                                        .timestamp()) < 1  # type: ignore[operator]

    # the platform sees the state, deadline and note, and resubmits a new finalised report
    apage = adm.get(f"/console/assessments/{first}").text
    assert 'class="st st-rectification_requested"' in apage and future.strftime("%Y-%m-%d") in apage
    _inert(apage)
    second = _finalised(env, acme.id, "v2")
    spage = adm.get(f"/console/assessments/{second}").text
    assert f'name="filing" value="{fid}"' in spage
    r = adm.post(f"/console/assessments/{second}/resubmit", data={"csrf_token": csrf_of(spage), "filing": fid},
                 follow_redirects=True)
    assert r.status_code == 200 and "The new report is resubmitted." in r.text
    listing = adm.get("/console/assessments").text
    assert 'class="st st-resubmitted"' in listing and "cac" in listing

    # the regulator reads the new report and accepts; an accepted filing takes no more action
    fpage = reg.get(f"/console/inbox/{fid}").text
    assert f"replaces report of <code>{first}</code>" in fpage
    new = wf.report_files(env.core, wf.get(env.core, acme.id, second))
    assert reg.get(f"/console/inbox/{fid}/report.json").content == new["report.json"]
    r = reg.post(f"/console/inbox/{fid}/accept", data={"csrf_token": csrf}, follow_redirects=True)
    assert r.status_code == 200 and "The report is accepted." in r.text and "Accept the report" not in r.text
    r = reg.post(f"/console/inbox/{fid}/accept", data={"csrf_token": csrf})
    assert r.status_code == 409 and "cannot be accepted" in r.text
    history = [h["state"] for h in inbox.filing_for_platform(env.core, acme.id, fid).history]
    assert history == ["filed", "acknowledged", "rectification_requested", "resubmitted", "accepted"]
    box = reg.get("/console/inbox?state=accepted").text
    assert fid in box and theirs not in box
    # audited on both chains with the console user's key as actor
    from synthwatch.service.audit import audit_of

    with env.core.db.read() as conn:
        reg_id = env.core.tenant_by_name("cac").id
        acts = [e.fields["action"] for e in audit_of(env.core).entries(conn, reg_id, limit=50)]
    assert "assessment.filing.accepted" in acts and "assessment.filing.rectification_requested" in acts
