"""Signed webhooks delivered to a real receiver on 127.0.0.1; retries, backoff, dead letters."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from synthwatch.service.webhooks import backoff_s, deliver_due, sign, verify

from .conftest import Env, LoopbackServer, Received


def _deliver(env: Env, rounds: int = 20) -> None:
    c = env.core
    for _ in range(rounds):
        deliver_due(c.stores.webhooks, c.stores.tenants, c.db, c.opts)
        with c.db.read() as conn:
            if c.stores.webhooks.counts(conn)["pending"] == 0:
                return
        time.sleep(0.06)


def test_sign_and_verify() -> None:
    body = b'{"a":1}'
    header = sign("whsec_x", body, t=1_700_000_000)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify("whsec_x", body, header, now=1_700_000_100)
    assert not verify("whsec_x", body + b" ", header, now=1_700_000_100)  # altered body
    assert not verify("whsec_y", body, header, now=1_700_000_100)  # wrong secret
    assert not verify("whsec_x", body, header, now=1_700_000_000 + 301)  # replayed too late
    assert not verify("whsec_x", body, "garbage")


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    rng = random.Random(1)
    delays = [backoff_s(n, 10.0, 3600.0, rng) for n in range(1, 12)]
    for n, d in enumerate(delays, start=1):
        full = min(3600.0, 10.0 * 2 ** (n - 1))
        assert full / 2 <= d <= full
    assert len({round(backoff_s(3, 10, 3600), 6) for _ in range(20)}) > 1  # jittered


def test_scan_completion_is_delivered_signed(env: Env, http_server: LoopbackServer, svc_media: dict[str, Path]) -> None:
    http_server.routes["/hook"] = lambda req: (204, {}, b"")
    scan = env.upload(svc_media["image"], callback_url=http_server.url("/hook"), external_id="p-9").json()
    env.drain()
    _deliver(env)
    assert len(http_server.received) == 1
    req: Received = http_server.received[0]
    secret = env.core.tenant_by_name("acme").webhook_secret
    assert verify(secret, req.body, req.headers["synthwatch-signature"])  # signed over the raw bytes
    event = json.loads(req.body)
    assert event["type"] == "scan.completed" == req.headers["synthwatch-event"]
    assert event["id"] == req.headers["synthwatch-delivery"] and event["tenant"] == "acme"
    data = event["data"]
    assert data["id"] == scan["id"] and data["external_id"] == "p-9" and data["status"] == "done"
    assert data["report"]["schema"] == "synthwatch.report/1" and "label_decision" in data
    listing = env.client.get("/v1/webhooks/deliveries", headers=env.auth("admin")).json()["data"]
    assert [(d["status"], d["attempts"], d["last_status"]) for d in listing] == [("delivered", 1, 204)]
    # a rotated secret signs the next delivery; the old one no longer verifies it
    new = env.client.post("/v1/tenant/webhook-secret", headers=env.auth("admin")).json()["webhook_secret"]
    env.client.post("/v1/webhooks/test", json={"url": http_server.url("/hook")}, headers=env.auth("admin"))
    _deliver(env)
    ping = http_server.received[-1]
    assert verify(new, ping.body, ping.headers["synthwatch-signature"])
    assert not verify(secret, ping.body, ping.headers["synthwatch-signature"])


def test_failures_retry_then_dead_letter_then_redeliver(env: Env, http_server: LoopbackServer,
                                                       svc_media: dict[str, Path]) -> None:
    state = {"fail": True}
    http_server.routes["/flaky"] = lambda req: (503, {}, b"down") if state["fail"] else (200, {}, b"ok")
    scan = env.upload(svc_media["image"], callback_url=http_server.url("/flaky")).json()
    env.drain()
    _deliver(env)  # webhook_max_attempts = 3, backoff 0.05 s .. 0.2 s in these tests
    assert len(http_server.received) == 3
    bodies = {r.body for r in http_server.received}
    assert len(bodies) == 1  # every attempt sends the same body (re-signed with a fresh timestamp)
    dead = env.client.get("/v1/webhooks/deliveries", params={"status": "dead"}, headers=env.auth("auditor")).json()
    assert len(dead["data"]) == 1
    d = dead["data"][0]
    assert d["object_id"] == scan["id"] and d["attempts"] == 3 and d["last_status"] == 503 and "503" in d["last_error"]
    detail = env.client.get(f"/v1/webhooks/deliveries/{d['id']}", headers=env.auth("auditor")).json()
    assert detail["body"]["data"]["id"] == scan["id"]
    state["fail"] = False
    r = env.client.post(f"/v1/webhooks/deliveries/{d['id']}/retry", headers=env.auth("admin"))
    assert r.status_code == 200 and r.json()["status"] == "pending"
    _deliver(env)
    assert http_server.received[-1].body == http_server.received[0].body
    final = env.client.get(f"/v1/webhooks/deliveries/{d['id']}", headers=env.auth("admin")).json()
    assert final["status"] == "delivered" and final["attempts"] == 4
    again = env.client.post(f"/v1/webhooks/deliveries/{d['id']}/retry", headers=env.auth("admin"))
    assert again.status_code == 200  # a delivered one may be re-sent on purpose


def test_callback_to_a_private_address_is_refused(env: Env, svc_media: dict[str, Path]) -> None:
    r = env.upload(svc_media["image"], callback_url="http://169.254.169.254/hook")
    assert r.status_code == 422 and r.json()["code"] == "url_refused"
