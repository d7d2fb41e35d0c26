"""Evidence export of one case (``synthwatch audit export --case ID --out FILE.zip``) and its
offline verification (``synthwatch audit verify --export FILE.zip``; needs no database).

The zip holds ``manifest.json`` (every other file with its sha256), ``case.json`` (the case, its
evidence, decisions, appeals and user reports), ``reports/<scan>.json`` (each scan report, byte-exact),
``media/<sha256>.<ext>`` (with ``--media``), ``audit/segment.jsonl`` (the tenant's hash chain from
the case's first entry to the checkpoint made for the export), ``audit/checkpoint.json`` (that signed
checkpoint), ``audit/public-key.pem`` and ``README.txt``.

:func:`verify_export` checks: every file against the manifest; the segment's hash links and each
entry's hash; the checkpoint's Ed25519 signature (under a pinned public key, or the included one,
which it says) and that it signs the segment's last entry; that the case's decisions and reports are
the ones the audit entries digest (``decision_sha256``, ``report_sha256``); media hashes.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ...media.sniff import suffix_for_mime
from .log import GENESIS, chain_hash, digest, iso_us, load_public_pem, verify_checkpoint_body

__all__ = ["export_case", "verify_export", "EXPORT_FORMAT"]

EXPORT_FORMAT = "synthwatch.case-export/1"



def _ext(content_type: str | None) -> str:
    """The file-name suffix of an exported evidence file: the media layer's for a media type it
    sniffs, ``.json`` for reports, else none."""
    if content_type == "application/json":
        return ".json"
    return suffix_for_mime(content_type or "") or ""

README = """This is a synthwatch case export ({fmt}).

Verify it offline (no database, no network):

    synthwatch audit verify --export {name} --public-key audit-public-key.pem

where audit-public-key.pem is the platform's audit public key obtained separately (printed by
`synthwatch audit checkpoint --public-key`, or GET /v1/audit/public-key). Without --public-key the
key inside this file (audit/public-key.pem) is used, which proves integrity but not origin.
docs/review.md ("Verifying an export offline") has a standalone Python version of the check.
"""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export_case(core: Any, tenant_id: str, case_id: str, out: Path, *, include_media: bool = False,
                actor: Any = None) -> dict[str, Any]:
    """Write the export zip of one case; returns its manifest. A checkpoint of the tenant's chain is
    made first, so the segment ends at a signed entry; the export itself is audited afterwards."""
    from ..events import record
    from ..review.cases import SYSTEM, ReviewError, case_detail, get_case
    from ..storage.interfaces import Event
    from . import audit_of

    actor = actor or SYSTEM
    log = audit_of(core)
    with core.db.read() as conn:
        rec = get_case(conn, tenant_id, case_id)
        if rec is None:
            raise ReviewError("no such case", code="not_found", status=404)
    cks = log.checkpoint([tenant_id], force=False)
    with core.db.read() as conn:
        tenant = core.stores.tenants.get(conn, tenant_id)
        rec = get_case(conn, tenant_id, case_id)
        assert rec is not None and tenant is not None
        detail = case_detail(core, conn, rec, history_limit=100000)
        ck = cks[0] if cks else log.checkpoints(conn, tenant_id, limit=1)[0]
        entries = detail["history"]
        case_seqs = [e.seq for e in entries if e.seq <= ck.seq]
        first = min(case_seqs) if case_seqs else ck.seq
        segment = list(log.segment(conn, tenant_id, first, ck.seq))
        key_pem = log.signer.public_pem()
    files: dict[str, bytes] = {}
    case_doc = {"case": detail["resource"], "evidence": [e.to_dict() for e in detail["evidence"]],
                "decisions": [{**d.to_dict(), "record": d.record()} for d in detail["decisions"]],
                "appeals": [a.to_dict() for a in detail["appeals"]],
                "reports": [r.to_dict() for r in detail["reports"]]}
    files["case.json"] = json.dumps(case_doc, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
    for sid, scan in detail["scans"].items():
        if scan.report:
            files[f"reports/{sid}.json"] = scan.report.encode("utf-8", "surrogatepass")
    media_list = []
    for sha, m in detail["media"].items():
        ev = next(e for e in detail["evidence"] if e.sha256 == sha)
        path = core.blobs.path(sha)
        present = m is not None and m.purged_at is None and path.is_file()
        item = {"sha256": sha, "size": m.size if m else ev.size, "content_type": ev.content_type,
                "evidence": [e.id for e in detail["evidence"] if e.sha256 == sha], "included": False,
                "purged": not present}
        if include_media and present:
            name = f"media/{sha}{_ext(ev.content_type)}"
            files[name] = path.read_bytes()
            item.update(included=True, file=name)
        media_list.append(item)
    files["audit/segment.jsonl"] = b"".join(
        json.dumps({"seq": e.seq, "id": e.id, "prev_hash": e.prev_hash, "hash": e.hash, "body": e.body},
                   ensure_ascii=False).encode("utf-8") + b"\n" for e in segment)
    files["audit/checkpoint.json"] = json.dumps({"id": ck.id, "body": ck.body, "signature": ck.signature},
                                                indent=2).encode("utf-8")
    files["audit/public-key.pem"] = key_pem.encode("ascii")
    files["README.txt"] = README.format(fmt=EXPORT_FORMAT, name=out.name).encode("utf-8")
    at_us = time.time_ns() // 1000
    manifest = {"format": EXPORT_FORMAT, "case_id": rec.id, "tenant": {"id": tenant.id, "name": tenant.name},
                "exported_at": iso_us(at_us), "exported_by": actor.id,
                "files": {name: _sha(data) for name, data in sorted(files.items())},
                "media": media_list,
                "audit": {"chain": tenant_id, "first_seq": first, "last_seq": ck.seq, "checkpoint": ck.id,
                          "key_id": ck.key_id, "case_entries": case_seqs}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True))
        for name, data in sorted(files.items()):
            zf.writestr(name, data)
    data = buf.getvalue()
    out = Path(out)
    tmp = out.with_name(f".{out.name}.part")
    tmp.write_bytes(data)
    tmp.replace(out)
    with core.db.write() as conn:
        record(core.stores.events, conn, Event("case.exported", "case", rec.id, tenant_id, actor.id, actor.role,
                                               actor.source_ip, {"zip_sha256": _sha(data), "bytes": len(data),
                                                                 "media_included": include_media,
                                                                 "checkpoint": ck.id, "last_seq": ck.seq}))
    return manifest


def verify_export(path: Path, *, public_key_pem: str | bytes | None = None) -> dict[str, Any]:
    """Verify an export zip offline; ``{"ok": bool, "problems": [...], "checks": {...}}``."""
    problems: list[str] = []
    checks: dict[str, Any] = {}
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path} is not a readable zip file: {exc}") from exc
    with zf:
        names = set(zf.namelist())
        if "manifest.json" not in names:
            return {"ok": False, "problems": ["manifest.json is missing"], "checks": checks}
        if any(n.startswith("/") or ".." in n.split("/") for n in names):
            return {"ok": False, "problems": ["the zip holds a path outside its folder"], "checks": checks}
        manifest = json.loads(zf.read("manifest.json"))
        if manifest.get("format") != EXPORT_FORMAT:
            problems.append(f"unknown export format {manifest.get('format')!r}")
        listed = manifest.get("files") or {}
        data: dict[str, bytes] = {}
        for name, sha in listed.items():
            if name not in names:
                problems.append(f"{name} is listed in the manifest but missing")
                continue
            data[name] = zf.read(name)
            if _sha(data[name]) != sha:
                problems.append(f"{name} was altered (sha256 differs from the manifest)")
        extra = names - set(listed) - {"manifest.json"}
        if extra:
            problems.append(f"files not in the manifest: {', '.join(sorted(extra))}")
    checks["files"] = len(listed)
    # the chain segment
    audit = manifest.get("audit") or {}
    lines = [json.loads(ln) for ln in data.get("audit/segment.jsonl", b"").splitlines() if ln.strip()]
    bodies: list[dict[str, Any]] = []
    prev: str | None = None
    expected = audit.get("first_seq")
    for e in lines:
        if e["seq"] != expected:
            problems.append(f"segment: entry {expected} is missing (found {e['seq']})")
            break
        if prev is not None and e["prev_hash"] != prev:
            problems.append(f"segment: entry {e['seq']} does not link to the entry before it")
            break
        if chain_hash(e["prev_hash"], e["body"].encode("utf-8")) != e["hash"]:
            problems.append(f"segment: entry {e['seq']} was altered (hash mismatch)")
            break
        body = json.loads(e["body"])
        if body.get("seq") != e["seq"] or body.get("chain") != audit.get("chain"):
            problems.append(f"segment: entry {e['seq']} belongs elsewhere (chain or seq differ)")
            break
        bodies.append(body)
        prev = e["hash"]
        expected = e["seq"] + 1
    checks["segment_entries"] = len(lines)
    if lines and lines[-1]["seq"] != audit.get("last_seq"):
        problems.append(f"segment ends at {lines[-1]['seq']}, the manifest says {audit.get('last_seq')}")
    if lines and lines[0]["seq"] == 1 and lines[0]["prev_hash"] != GENESIS:
        problems.append("segment: the first entry of the chain does not start from the genesis hash")
    # the checkpoint
    ck = json.loads(data.get("audit/checkpoint.json", b"{}") or b"{}")
    pinned = public_key_pem is not None
    pem = public_key_pem if pinned else data.get("audit/public-key.pem", b"")
    try:
        kid, key = load_public_pem(pem or b"")
    except ConfigError as exc:
        problems.append(f"public key: {exc}")
        kid, key = "", None
    checks["key"] = {"key_id": kid, "pinned": pinned}
    if key is None or not ck.get("body") or not verify_checkpoint_body(ck["body"], ck.get("signature", ""), key):
        problems.append("the checkpoint's signature does not verify" + ("" if pinned else " (under the included key)"))
    else:
        cb = json.loads(ck["body"])
        checks["checkpoint"] = {"id": cb.get("id"), "seq": cb.get("seq"), "at": cb.get("at")}
        if cb.get("key_id") != kid:
            problems.append("the checkpoint names another key")
        if not lines or cb.get("chain") != audit.get("chain") or cb.get("seq") != lines[-1]["seq"] or \
                cb.get("hash") != lines[-1]["hash"]:
            problems.append("the checkpoint does not sign the segment's last entry")
    # the case's records against the entries that digest them
    case_doc = json.loads(data.get("case.json", b"{}") or b"{}")
    case_id = manifest.get("case_id")
    mine = [b for b in bodies if b.get("object_id") == case_id]
    checks["case_entries"] = len(mine)
    if not mine:
        problems.append(f"the segment holds no entry of case {case_id}")
    digests = {str(b["details"].get("decision_sha256")) for b in mine if b.get("details")}
    for d in case_doc.get("decisions", []):
        if d.get("status") in ("final", "proposed", "escalated") and digest(d.get("record")) not in digests:
            problems.append(f"decision {d.get('id')} is not the one the audit log recorded")
    report_digests = {str(b["details"].get("report_sha256")) for b in mine if b.get("details")}
    for name in data:
        if name.startswith("reports/") and _sha(data[name]) not in report_digests:
            problems.append(f"{name} is not the report the audit log recorded")
    checks["decisions"] = len(case_doc.get("decisions", []))
    for m in manifest.get("media", []):
        if m.get("included") and _sha(data.get(m.get("file", ""), b"")) != m.get("sha256"):
            problems.append(f"media {m.get('sha256')} does not match its hash")
    return {"ok": not problems, "problems": problems, "checks": checks, "case_id": case_id,
            "tenant": (manifest.get("tenant") or {}).get("name")}
