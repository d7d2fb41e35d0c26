"""The audit log: every event is chained; verification names the first altered, deleted, inserted
or reordered entry; checkpoints make a truncated tail detectable; purge respects the floor and legal
holds; a case export verifies offline and any change to it is found. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from synthwatch.service.audit import audit_of
from synthwatch.service.audit.export import export_case, verify_export
from synthwatch.service.audit.log import GENESIS, chain_hash
from synthwatch.service.audit.purge import purge
from synthwatch.service.review import cases as rc
from synthwatch.service.storage import review_tables as rt

from .conftest import Env, cli_env, synthwatch_cmd


def _activity(env: Env, n_cases: int = 3) -> tuple[str, list[str]]:
    """Keys, settings, cases decided: a chain of a few dozen entries; returns (tenant id, case ids)."""
    admin = env.auth("admin")
    env.client.post("/v1/keys", json={"role": "uploader", "name": "ci"}, headers=admin)
    env.client.patch("/v1/tenant", json={"retention_days": 45}, headers=admin)
    tenant = env.core.tenant_by_name("acme")
    ids = []
    for i in range(n_cases):
        case, _ = rc.open_case(env.core, tenant, source="manual", priority="normal", title=f"item {i}")
        rc.assign(env.core, tenant.id, case.id, rc.Actor(env.core.create_key(tenant, "reviewer", f"r{i}")[0].id,
                                                         "reviewer"))
        rc.decide(env.core, tenant.id, case.id, rc.Actor("key_r", "reviewer"), action="dismiss",
                  reason_code="authentic", note=f"looked at it {i}")
        ids.append(case.id)
    return tenant.id, ids


def _rows(env: Env, chain: str) -> list[Any]:
    with env.core.db.read() as conn:
        return list(conn.execute(sa.select(rt.audit_log).where(rt.audit_log.c.chain == chain)
                                 .order_by(rt.audit_log.c.seq)).mappings())


def _exec(env: Env, stmt: Any) -> None:
    with env.core.db.write() as conn:
        conn.execute(stmt)


def test_every_event_is_chained_and_verifies(env: Env) -> None:
    tid, _ = _activity(env)
    rows = _rows(env, tid)
    actions = [json.loads(r["body"])["action"] for r in rows]
    assert actions[0] == "tenant.created" and "key.created" in actions and "tenant.settings_changed" in actions
    assert {"case.opened", "case.assigned", "case.decided"} <= set(actions)
    prev = GENESIS
    for r in rows:  # the chain, recomputed here from the definition
        assert r["prev_hash"] == prev and chain_hash(prev, r["body"].encode()) == r["hash"]
        body = json.loads(r["body"])
        assert set(body) >= {"actor", "role", "tenant", "at", "action", "object_id", "source_ip", "before", "after"}
        prev = r["hash"]
    settings = next(json.loads(r["body"]) for r in rows if json.loads(r["body"])["action"] == "tenant.settings_changed")
    assert settings["before"] != settings["after"] and len(settings["after"]) == 64
    assert "looked at it" not in "".join(r["body"] for r in rows)  # free text is digested, never copied
    res = audit_of(env.core).verify()
    assert res.ok and {c.chain for c in res.chains} >= {tid}


@pytest.mark.parametrize("tamper", ["alter", "delete", "insert", "reorder", "columns"])
def test_tampering_is_found_and_named(env_factory: Any, db_url: str, tamper: str) -> None:
    env = env_factory(db_url)
    tid, _ = _activity(env)
    rows = _rows(env, tid)
    victim = rows[5]
    t, c = rt.audit_log, rt.audit_log.c
    where = (c.chain == tid) & (c.seq == victim["seq"])
    if tamper == "alter":
        body = json.loads(victim["body"])
        body["actor"] = "someone_else"
        _exec(env, t.update().where(where).values(body=json.dumps(body, sort_keys=True, separators=(",", ":"))))
        expect = (victim["seq"], "altered")
    elif tamper == "delete":
        _exec(env, t.delete().where(where))
        expect = (victim["seq"], "missing")
    elif tamper == "insert":  # shift the tail up by one and slip a forged entry in
        for r in reversed(rows[5:]):
            _exec(env, t.update().where((c.chain == tid) & (c.seq == r["seq"])).values(seq=r["seq"] + 1))
        forged = dict(victim)
        forged.update(seq=victim["seq"], id="aud_forged", hash="f" * 64)
        _exec(env, t.insert().values(**forged))
        expect = (victim["seq"], "altered")
    elif tamper == "reorder":
        other = rows[6]
        for r, body in ((victim, other["body"]), (other, victim["body"])):
            _exec(env, t.update().where((c.chain == tid) & (c.seq == r["seq"])).values(body=body))
        expect = (victim["seq"], "")
    else:  # the queried columns no longer match the hashed entry
        _exec(env, t.update().where(where).values(object_id="case_other"))
        expect = (victim["seq"], "columns differ")
    res = audit_of(env.core).verify([tid])
    assert not res.ok
    chain, bad = res.first_bad  # type: ignore[misc]
    assert chain == tid and bad["seq"] == expect[0] and expect[1] in bad["problem"], bad


def test_checkpoints_make_truncation_detectable(env_factory: Any, db_url: str) -> None:
    env = env_factory(db_url)
    tid, _ = _activity(env)
    log = audit_of(env.core)
    [ck] = log.checkpoint([tid])
    assert log.checkpoint([tid]) == []  # nothing moved since
    rows = _rows(env, tid)
    assert ck.seq == rows[-1]["seq"]
    # drop the last three entries and put the head back: without the checkpoint this would pass
    c = rt.audit_log.c
    _exec(env, rt.audit_log.delete().where((c.chain == tid) & (c.seq > ck.seq - 3)))
    _exec(env, rt.audit_heads.update().where(rt.audit_heads.c.chain == tid)
          .values(seq=ck.seq - 3, hash=rows[-4]["hash"]))
    res = log.verify([tid])
    assert not res.ok and "truncated" in res.first_bad[1]["problem"]  # type: ignore[index]
    # deleting the checkpoint rows as well does not help: the checkpoint file keeps them
    _exec(env, rt.audit_checkpoints.delete())
    res = log.verify([tid])
    assert not res.ok and any("truncated" in p or "deleted from the database" in p for p in res.chains[0].problems)
    # a rewritten chain (hashes recomputed by the forger) no longer matches the signed checkpoint
    env2 = env_factory(db_url)
    tid2, _ = _activity(env2)
    log2 = audit_of(env2.core)
    [ck2] = log2.checkpoint([tid2])
    rows = _rows(env2, tid2)
    prev = rows[3]["prev_hash"]
    for r in rows[3:]:
        body = json.loads(r["body"])
        if r is rows[3]:
            body["source_ip"] = "203.0.113.9"
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        h = chain_hash(prev, text.encode())
        _exec(env2, rt.audit_log.update().where((c.chain == tid2) & (c.seq == r["seq"]))
              .values(body=text, prev_hash=prev, hash=h))
        prev = h
    res = log2.verify([tid2])
    assert not res.ok and "checkpoint" in res.first_bad[1]["problem"] and res.first_bad[1]["seq"] == ck2.seq  # type: ignore[index]
    # a checkpoint signed by another key does not count
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from synthwatch.service.audit.log import load_public_pem

    other = Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.PEM,
                                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
    kid, key = load_public_pem(other)
    res = audit_of(env.core).verify([tid], pinned_keys={kid: key})
    assert not res.ok


def test_purge_floor_anchor_and_legal_hold(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import time as _time

    from synthwatch.errors import ConfigError
    from synthwatch.service.audit import log as audit_log

    old = _time.time() - 400 * 86400
    monkeypatch.setattr(audit_log, "_now_us", lambda: int(old * 1e6))
    env.key("admin")
    tenant = env.core.tenant_by_name("acme")
    first, _ = rc.open_case(env.core, tenant, source="manual", priority="low")
    held, _ = rc.open_case(env.core, tenant, source="manual", priority="low")
    rc.set_legal_hold(env.core, tenant.id, held.id, rc.Actor("key_admin", "admin"), True, "court order")
    monkeypatch.undo()
    rc.open_case(env.core, tenant, source="manual", priority="low")  # young
    with pytest.raises(ConfigError, match="183"):
        purge(env.core, older_than_days=30)
    dry = purge(env.core, older_than_days=200, dry_run=True)
    assert dry.entries[tenant.id] >= 2 and tenant.id in dry.stopped_by_hold
    before = _rows(env, tenant.id)
    done = purge(env.core, older_than_days=200)
    after = _rows(env, tenant.id)
    held_seq = done.stopped_by_hold[tenant.id]
    assert after[0]["seq"] == held_seq and json.loads(after[0]["body"])["object_id"] == held.id
    assert len(after) == len(before) - done.entries[tenant.id] + 1  # + the audit.purged entry
    assert json.loads(after[-1]["body"])["action"] == "audit.purged"
    res = audit_of(env.core).verify([tenant.id])
    assert res.ok, res.to_dict()  # the signed anchor links the remaining chain
    with env.core.db.read() as conn:
        assert rc.get_case(conn, tenant.id, first.id) is not None  # open cases are never purged


def test_export_verifies_offline_and_changes_are_found(env: Env, tmp_path: Path) -> None:
    tid, ids = _activity(env, n_cases=1)
    out = tmp_path / "case.zip"
    manifest = export_case(env.core, tid, ids[0], out)
    assert manifest["audit"]["case_entries"]
    res = verify_export(out)
    assert res["ok"], res
    assert res["checks"]["key"]["pinned"] is False and res["checks"]["case_entries"] >= 3
    pem = audit_of(env.core).signer.public_pem()
    assert verify_export(out, public_key_pem=pem)["ok"]

    def rewrite(name: str, change: Any) -> Path:
        target = tmp_path / f"bad-{name.replace('/', '_')}.zip"
        with zipfile.ZipFile(out) as src, zipfile.ZipFile(target, "w") as dst:
            for item in src.namelist():
                data = src.read(item)
                dst.writestr(item, change(data) if item == name else data)
        return target

    # an altered decision note, with the manifest's hash recomputed to match
    def note(data: bytes) -> bytes:
        doc = json.loads(data)
        doc["decisions"][0]["record"]["note"] = "changed afterwards"
        return json.dumps(doc).encode()

    bad = rewrite("case.json", note)
    r = verify_export(bad)
    assert not r["ok"] and any("case.json was altered" in p for p in r["problems"])
    # the same change with the manifest's hash recomputed: the audit log's digest still catches it
    import hashlib

    with zipfile.ZipFile(bad) as z:
        man = json.loads(z.read("manifest.json"))
        man["files"]["case.json"] = hashlib.sha256(z.read("case.json")).hexdigest()
        both = tmp_path / "both.zip"
        with zipfile.ZipFile(both, "w") as dst:
            for item in z.namelist():
                dst.writestr(item, json.dumps(man).encode() if item == "manifest.json" else z.read(item))
    r = verify_export(both)
    assert not r["ok"] and any("not the one the audit log recorded" in p for p in r["problems"]), r
    # a forged checkpoint or a different key
    r = verify_export(rewrite("audit/checkpoint.json", lambda d: d.replace(b'"signature": "', b'"signature": "AA')))
    assert not r["ok"]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.PEM,
                                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
    assert not verify_export(out, public_key_pem=other)["ok"]
    # the export is audited
    with env.core.db.read() as conn:
        actions = [e.fields["action"] for e in audit_of(env.core).entries(conn, tid, object_ids=[ids[0]], limit=50)]
    assert "case.exported" in actions


def test_cli_verify_export_checkpoint_purge(env: Env, tmp_path: Path) -> None:
    tid, ids = _activity(env, n_cases=1)
    e = cli_env(env.home, env.settings.db_url)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(synthwatch_cmd("audit", *args), env=e, capture_output=True, text=True, timeout=120)

    ok = run("verify")
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout
    key = run("checkpoint", "--public-key")
    assert key.returncode == 0 and key.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "key.pem").write_text(key.stdout)
    made = run("checkpoint", "--json")
    assert made.returncode == 0 and json.loads(made.stdout)[0]["chain"] == tid
    zip_path = tmp_path / "case.zip"
    exp = run("export", "--case", ids[0], "--out", str(zip_path))
    assert exp.returncode == 0, exp.stderr
    ver = run("verify", "--export", str(zip_path), "--public-key", str(tmp_path / "key.pem"))
    assert ver.returncode == 0 and "verifies" in ver.stdout, ver.stderr
    assert run("export", "--case", "case_nope", "--out", str(tmp_path / "x.zip")).returncode == 2
    assert run("purge", "--older-than", "30").returncode == 2
    assert run("purge", "--older-than", "200", "--dry-run").returncode == 0
    # alter one entry: exit 1, the entry named
    rows = _rows(env, tid)
    victim = rows[4]
    _exec(env, rt.audit_log.update().where((rt.audit_log.c.chain == tid) & (rt.audit_log.c.seq == victim["seq"]))
          .values(body=victim["body"].replace('"v":1', '"v":2')))
    bad = run("verify")
    assert bad.returncode == 1
    assert f"seq {victim['seq']}" in bad.stderr and victim["id"] in bad.stderr
