"""The review queue: cases opened by policy from real scans (debug detectors), the lifecycle with
four-eyes and appeals, the label action through the library, user reports, webhooks, policy
validation, SLA and the dashboard figures."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from synthwatch.provenance.aigc_label import apply_label, read_labels
from synthwatch.service.review import cases as rc
from synthwatch.service.review.policy import PolicyError, default_policy_text, parse_policy
from synthwatch.service.review.triggers import findings, label_findings
from synthwatch.service.webhooks import verify
from synthwatch.testing import samples

from .conftest import Env, LoopbackServer

POLICY = default_policy_text().replace("propagator: null", "propagator: PLATFORM0001")


def gray(path: Path, level: float) -> Path:
    """A face-free picture whose debug-image score is about ``level`` (its mean brightness)."""
    rng = np.random.default_rng(int(level * 1000))
    px = np.clip(level * 255 + rng.normal(0, 3, (96, 128, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(px).save(path)
    return path


@pytest.fixture
def face_env(tmp_path: Path, model_store: Any) -> Any:
    """A service whose model folder has the face detector (CenterFace), so faces are found."""
    from .conftest import make_env

    if not model_store.is_installed("centerface"):
        pytest.skip("CenterFace is not installed here (synthwatch models setup)")
    home = tmp_path / "fe" / "home"
    home.mkdir(parents=True)
    (home / "models").symlink_to(Path(model_store.root).resolve(), target_is_directory=True)
    e = make_env(tmp_path / "fe", f"sqlite:///{tmp_path / 'fe.sqlite'}")
    yield e
    e.client.close()
    e.core.db.dispose()


def cases_of(env: Env, **params: Any) -> list[dict[str, Any]]:
    r = env.client.get("/v1/cases", params=params, headers=env.auth("reviewer"))
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


def set_policy(env: Env, text: str = POLICY) -> dict[str, Any]:
    r = env.client.put("/v1/review/policy", content=text.encode(), headers={**env.auth("admin"),
                                                                           "Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_policy_validation_and_versions(env: Env) -> None:
    p = parse_policy(default_policy_text())
    assert p.trigger("face_forgery") is not None and p.four_eyes("remove") and not p.four_eyes("dismiss")
    for bad, where in [("format: synthwatch.review/1\nversion: x\n", "open_cases"),
                       (default_policy_text().replace("urgent: {sla_hours: 1}", ""), "priorities"),
                       (default_policy_text().replace("min_score: 0.35", "min_score: 1.5"), "min_score"),
                       (default_policy_text() + "\nsurprise: 1\n", "surprise"),
                       ("[1, 2", "YAML")]:
        with pytest.raises(PolicyError, match=where):
            parse_policy(bad)
    r = env.client.put("/v1/review/policy", content=b"version: [", headers={**env.auth("admin"),
                                                                            "Content-Type": "application/yaml"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_policy"
    assert env.client.get("/v1/review/policy", headers=env.auth("reviewer")).json()["revision"] == 0
    first = set_policy(env)
    second = set_policy(env, POLICY.replace('version: "default-2026-12"', 'version: "acme-2"'))
    assert (first["revision"], second["revision"], second["version"]) == (1, 2, "acme-2")
    got = env.client.get("/v1/review/policy", headers=env.auth("auditor")).json()
    assert got["version"] == "acme-2" and got["text"].startswith("# synthwatch review policy")
    entries = env.client.get("/v1/audit", params={"action": "review.policy_changed"}, headers=env.auth("auditor"))
    assert len(entries.json()["data"]) == 2


def test_scans_open_cases_by_policy(face_env: Env, tmp_path: Path) -> None:
    env = face_env
    set_policy(env, POLICY.replace("min_score: 0.35", "min_score: 0.40"))
    dark = env.upload(gray(tmp_path / "dark.png", 0.20)).json()          # likely_authentic: no case
    middling = env.upload(gray(tmp_path / "mid.png", 0.37)).json()       # inconclusive under min_score
    grey = env.upload(gray(tmp_path / "grey.png", 0.44)).json()          # inconclusive over min_score
    face = env.upload(samples.make_image(tmp_path / "face.jpg", size=(160, 120), seed=1)).json()
    env.drain()
    verdicts = [env.client.get(f"/v1/scans/{s['id']}", headers=env.auth()).json()["verdict"]["label"]
                for s in (dark, middling, grey, face)]
    assert verdicts == ["likely_authentic", "inconclusive", "inconclusive", "likely_synthetic"]
    by_scan = {c["scan_id"]: c for c in cases_of(env, state="active")}
    assert dark["id"] not in by_scan and middling["id"] not in by_scan
    assert by_scan[grey["id"]]["triggers"] == ["inconclusive"] and by_scan[grey["id"]]["priority"] == "normal"
    fc = by_scan[face["id"]]
    assert set(fc["triggers"]) == {"likely_synthetic", "face_forgery"} and fc["priority"] == "urgent"
    assert fc["policy_version"] == "default-2026-12" and fc["sla"]["state"] in ("on_track", "due_soon")
    detail = env.client.get(f"/v1/cases/{fc['id']}", headers=env.auth("reviewer")).json()
    faces = next(r for r in detail["reasons"] if r["trigger"] == "face_forgery")["faces"]
    assert faces and all(s >= 0.5 for f in faces for s in f["scores"].values())
    assert detail["evidence"][0]["kind"] == "scan" and detail["scans"][0]["report"]["verdict"]["label"] == \
        "likely_synthetic"
    assert [h["entry"]["action"] for h in detail["history"]][:3] == ["scan.created", "scan.completed", "case.opened"]
    # the same bytes again join the open case instead of opening another
    again = env.upload(tmp_path / "face.jpg").json()
    env.drain()
    assert len([c for c in cases_of(env) if c["media"] and c["media"]["sha256"] == fc["media"]["sha256"]]) == 1
    evidence = env.client.get(f"/v1/cases/{fc['id']}", headers=env.auth("reviewer")).json()["evidence"]
    assert {e["scan_id"] for e in evidence} == {face["id"], again["id"]}
    # media a case refers to outlives the scan retention
    with env.core.db.read() as conn:
        m = env.core.stores.media.get(conn, env.core.tenant_by_name("acme").id, fc["media"]["sha256"])
    assert m is not None and m.expires_at > time.time() + 150 * 86400
    # filters: overdue, priority, trigger, assignee
    assert [c["id"] for c in cases_of(env, trigger="face_forgery")] == [fc["id"]]
    assert cases_of(env, overdue="true") == [] and len(cases_of(env, priority="urgent")) == 1


def test_label_removed_between_versions_opens_a_case(env: Env, tmp_path: Path) -> None:
    original = gray(tmp_path / "orig.png", 0.2)
    labelled = tmp_path / "labelled.png"
    apply_label(original, labelled, producer="GENERATOR01", label="1")
    assert read_labels(labelled)
    first = env.upload(labelled, external_id="post-9").json()
    env.drain()
    assert cases_of(env) == []  # a valid label, dark picture: nothing to review
    stripped = gray(tmp_path / "stripped.png", 0.21)  # the same post re-uploaded without its label
    second = env.upload(stripped, external_id="post-9").json()
    env.drain()
    [case] = cases_of(env)
    assert case["scan_id"] == second["id"] and case["triggers"] == ["label_violation"]
    [finding] = case["reasons"][0]["labels"]
    assert finding["status"] == "removed" and finding["previous_scan"] == first["id"]
    # forged and altered labels from the report itself
    rep = {"provenance": {"aigc": {"present": True, "count": 2, "label": {"security": {"verified": False,
                                                                                      "reason": "bad sig"}}},
                          "c2pa": {"present": True, "state": "Invalid", "failures": [{"code": "assertion.dataHash.mismatch"}]}}}
    assert {f["status"] for f in label_findings(rep)} == {"forged", "duplicated", "altered"}
    assert findings({"verdict": {"label": "likely_authentic", "score": 0.1}}, parse_policy(POLICY)) == []


def test_lifecycle_four_eyes_appeal_and_webhooks(env: Env, tmp_path: Path, http_server: LoopbackServer) -> None:
    http_server.routes["/hook"] = lambda req: (204, {}, b"")
    assert env.client.patch("/v1/tenant", json={"callback_url": http_server.url("/hook")},
                            headers=env.auth("admin")).status_code == 200
    env.upload(samples.make_image(tmp_path / "face.jpg", size=(160, 120), seed=1))
    env.drain()
    [case] = cases_of(env)
    cid = case["id"]
    rev1, rev2 = env.auth("reviewer"), {"Authorization": "Bearer " + env.core.create_key(
        env.core.tenant_by_name("acme"), "reviewer", "second reviewer")[1]}
    post = env.client.post
    assert post(f"/v1/cases/{cid}/decision", json={"action": "remove", "reason_code": "authentic"},
                headers=rev1).json()["code"] == "validation_error"  # authentic justifies dismiss only
    assert post(f"/v1/cases/{cid}/decision", json={"action": "delete", "reason_code": "authentic"},
                headers=rev1).status_code == 422
    assert post(f"/v1/cases/{cid}/assign", json={"version": 99}, headers=rev1).json()["code"] == "stale_case"
    assert post(f"/v1/cases/{cid}/assign", json={}, headers=rev1).json()["state"] == "assigned"
    assert post(f"/v1/cases/{cid}/appeal", json={"text": "x"}, headers=rev1).json()["code"] == "invalid_state"
    r = post(f"/v1/cases/{cid}/decision", json={"action": "remove", "reason_code": "deepfake_real_person",
                                                 "note": "face swap of a politician"}, headers=rev1).json()
    assert r["state"] == "awaiting_second" and r["decision_made"]["status"] == "proposed"
    again = post(f"/v1/cases/{cid}/decision", json={"action": "remove", "reason_code": "deepfake_real_person"},
                 headers=rev1)
    assert again.status_code == 409 and again.json()["code"] == "four_eyes_required"
    r = post(f"/v1/cases/{cid}/decision", json={"action": "remove", "reason_code": "deepfake_real_person"},
             headers=rev2).json()
    assert r["state"] == "decided" and r["decision"] == "remove" and r["decision_made"]["second_actor"]
    r = post(f"/v1/cases/{cid}/appeal", json={"text": "This is me, filmed at home.", "appellant": "user-7"},
             headers=rev1).json()
    assert (r["state"], r["round"]) == ("appealed", 2) and r["sla"]["state"] == "on_track"
    r = post(f"/v1/cases/{cid}/decision", json={"action": "dismiss", "reason_code": "authentic"}, headers=rev2).json()
    assert r["state"] == "closed" and r["decision"] == "dismiss"
    assert post(f"/v1/cases/{cid}/appeal", json={"text": "again"}, headers=rev1).json()["code"] == "invalid_state"
    doc = env.client.get(f"/v1/cases/{cid}", headers=rev1).json()
    assert [(d["action"], d["status"], d["round"]) for d in doc["decisions"]] == [("remove", "final", 1),
                                                                                 ("dismiss", "final", 2)]
    actions = [h["entry"]["action"] for h in doc["history"] if h["entry"]["object_id"] == cid]
    assert actions == ["case.opened", "case.assigned", "case.decision_proposed", "case.decided", "case.appealed",
                       "case.decided", "case.closed"]
    # every state change went out as a signed webhook
    from synthwatch.service.webhooks import deliver_due

    while deliver_due(env.core.stores.webhooks, env.core.stores.tenants, env.core.db, env.core.opts):
        pass
    with env.core.db.read() as conn:
        secret = env.core.stores.tenants.by_name(conn, "acme").webhook_secret  # type: ignore[union-attr]
    got = [(req.headers["synthwatch-event"], json.loads(req.body)) for req in http_server.received
           if verify(secret, req.body, req.headers["synthwatch-signature"])]
    assert len(got) == len(http_server.received)
    events = [e for e, body in got if body["data"].get("id") == cid]
    assert events == ["case.opened", "case.assigned", "case.decision_proposed", "case.decided", "case.appealed",
                      "case.decided"]


def test_label_action_writes_and_reads_back_the_platform_label(env: Env, tmp_path: Path) -> None:
    set_policy(env, POLICY.replace("visible: false", "visible: true"))
    scan = env.upload(samples.make_image(tmp_path / "face.jpg", size=(320, 240), seed=1)).json()
    env.drain()
    [case] = cases_of(env)
    r = env.client.post(f"/v1/cases/{case['id']}/decision", json={"action": "label", "reason_code": "ai_unlabelled"},
                        headers=env.auth("reviewer")).json()
    assert r["decision_made"]["label"]["state"] == "queued"
    assert env.drain() == 1  # the worker runs the case_label job
    doc = env.client.get(f"/v1/cases/{case['id']}", headers=env.auth("reviewer")).json()
    label = doc["decisions"][0]["label"]
    assert label["state"] == "written", label
    assert label["propagator"] == "PLATFORM0001" and label["label"] == "3" and label["visible"]["medium"] == "image"
    copy = next(e for e in doc["evidence"] if e["kind"] == "labelled_copy")
    got = env.client.get(f"/v1/cases/{case['id']}/evidence/{copy['id']}", headers=env.auth("reviewer"))
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    out = tmp_path / "labelled.jpg"
    out.write_bytes(got.content)
    [reading] = read_labels(out)
    assert reading.label.fields()["ContentPropagator"] == "PLATFORM0001" and reading.label.label == "3"
    original = env.client.get(f"/v1/scans/{scan['id']}/media", headers=env.auth("reviewer")).content
    assert original != got.content  # the original stays as uploaded
    assert "case.label_written" in [h["entry"]["action"] for h in doc["history"]]


def test_user_reports_open_and_join_cases(env: Env, tmp_path: Path) -> None:
    scan = env.upload(gray(tmp_path / "dark.png", 0.2), external_id="post-1").json()
    env.drain()
    assert cases_of(env) == []
    up = env.auth("uploader")
    bad = env.client.post("/v1/reports", json={"reason": "no_such_reason", "scan_id": scan["id"]}, headers=up)
    assert bad.status_code == 422 and "synthetic_media" in bad.json()["detail"]
    assert env.client.post("/v1/reports", json={"reason": "other"}, headers=up).status_code == 422
    text = "<script>alert('x')</script> this is a deepfake of me"
    first = env.client.post("/v1/reports", json={"reason": "deepfake_of_me", "text": text, "reporter": "u-1",
                                                 "external_id": "post-1"}, headers=up)
    assert first.status_code == 201 and "case_id" not in first.json()  # an uploader key never sees cases
    second = env.client.post("/v1/reports", json={"reason": "synthetic_media", "scan_id": scan["id"]},
                             headers=env.auth("reviewer")).json()
    [case] = cases_of(env)
    assert case["source"] == "report" and case["report_count"] == 2 and second["case_id"] == case["id"]
    assert case["scan_id"] == scan["id"] and case["triggers"] == ["user_report", "user_report"]
    orphan = env.client.post("/v1/reports", json={"reason": "other", "url": "https://example.com/v/1"},
                             headers=up).json()
    assert len(cases_of(env)) == 2 and orphan["status"] == "in_review"
    env.client.post(f"/v1/cases/{case['id']}/decision", json={"action": "dismiss", "reason_code": "authentic"},
                    headers=env.auth("reviewer"))
    status = env.client.get(f"/v1/reports/{first.json()['id']}", headers=up).json()
    assert (status["status"], status["outcome"]) == ("handled", "no_action") and status["text"] == text
    stats = env.client.get("/v1/review/stats", headers=env.auth("auditor")).json()
    assert stats["reports"]["received"] == 3 and stats["reports"]["handled"] == 2
    assert stats["review_latency_s"]["n"] == 1 and stats["review_latency_s"]["p95"] >= 0


def test_open_case_for_other_sources_and_sla(env: Env, tmp_path: Path) -> None:
    """The entry point the live-audio-room monitor calls: evidence files are copied into the media
    store with their real type; alerts of the same room join one case."""
    env.key("reviewer")  # the tenant and a reviewer
    flac = tmp_path / "seg.flac"
    samples.make_speech(tmp_path / "seg.wav", seconds=1.0, seed=3)
    import soundfile as sf

    data, sr = sf.read(tmp_path / "seg.wav")
    sf.write(flac, data, sr, format="FLAC")
    case, opened = rc.open_case(env.core, "acme", source="live_room", join_key="room:r1", title="room r1",
                                reasons=[{"trigger": "live_room", "basis": "cloned voice at 812 s", "score": 0.91}],
                                evidence=[rc.Evidence("audio_segment", path=flac, filename="segment.flac"),
                                          rc.Evidence("report", data=b'{"alert": 1}', content_type="application/json",
                                                      filename="alert.json")])
    assert opened and case.priority == "urgent" and case.kind == "audio"
    joined, opened = rc.open_case(env.core, "acme", source="live_room", join_key="room:r1",
                                  reasons=[{"trigger": "live_room", "basis": "second alert"}])
    assert not opened and joined.id == case.id and len(joined.reasons) == 2
    doc = env.client.get(f"/v1/cases/{case.id}", headers=env.auth("reviewer")).json()
    seg = next(e for e in doc["evidence"] if e["kind"] == "audio_segment")
    assert seg["content_type"] == "audio/flac"
    got = env.client.get(f"/v1/cases/{case.id}/evidence/{seg['id']}", headers=env.auth("reviewer"))
    assert got.headers["content-type"] == "audio/flac" and got.content == flac.read_bytes()
    rep = next(e for e in doc["evidence"] if e["kind"] == "report")
    got = env.client.get(f"/v1/cases/{case.id}/evidence/{rep['id']}", headers=env.auth("reviewer"))
    assert got.headers["content-type"] == "application/octet-stream"  # not inline: only media plays inline
    assert got.headers["content-disposition"].startswith("attachment")
    # SLA: past due -> overdue, notified once by the maintenance tick
    from synthwatch.service.review.maintenance import tick

    later = case.due_at + 10
    assert tick(env.core, at=later)["overdue"] == 1 and tick(env.core, at=later)["overdue"] == 0
    with env.core.db.read() as conn:
        rec = rc.get_case(conn, case.tenant_id, case.id)
    from synthwatch.service.review.records import sla_state

    assert rec is not None and sla_state(rec, later) == "overdue"
    with pytest.raises(rc.ReviewError, match="does not open cases"):
        set_policy(env, POLICY.replace("live_room: {enabled: true", "live_room: {enabled: false"))
        rc.open_case(env.core, "acme", source="live_room")


def test_appeal_window_closes_decided_cases(env: Env) -> None:
    from synthwatch.service.review.maintenance import tick

    env.key("reviewer")
    case, _ = rc.open_case(env.core, "acme", source="manual", priority="low")
    rc.decide(env.core, case.tenant_id, case.id, rc.Actor("k1", "reviewer"), action="dismiss", reason_code="authentic")
    assert tick(env.core, at=time.time() + 13 * 86400)["closed"] == 0
    assert tick(env.core, at=time.time() + 15 * 86400)["closed"] == 1
    with env.core.db.read() as conn:
        assert rc.get_case(conn, case.tenant_id, case.id).state == "closed"  # type: ignore[union-attr]


def test_a_case_that_cannot_open_never_costs_the_scan(env: Env, tmp_path: Path) -> None:
    """A stored policy that no longer parses: the scan still completes (the case attempt is rolled
    back alone, in a savepoint, and logged)."""
    import sqlalchemy as sa

    from synthwatch.service.storage import review_tables as rt

    env.key("uploader")
    tid = env.core.tenant_by_name("acme").id
    with env.core.db.write() as conn:
        conn.execute(sa.insert(rt.review_policies).values(id="pol_broken", tenant_id=tid, revision=1, version="x",
                                                          digest="0" * 64, text="format: nope", created_at=time.time(),
                                                          created_by="test"))
    scan = env.upload(samples.make_image(tmp_path / "face.jpg", size=(160, 120), seed=1)).json()
    env.drain()
    got = env.client.get(f"/v1/scans/{scan['id']}", headers=env.auth()).json()
    assert got["status"] == "done" and got["verdict"]["label"] == "likely_synthetic"
    assert cases_of(env) == []
    from synthwatch.service.audit import audit_of

    assert audit_of(env.core).verify([tid]).ok  # the rolled-back case left no half entry
