"""The tamper-evident audit log: a sha256 hash chain per tenant, signed checkpoints, verification.

Every entry is one row of ``audit_log`` whose ``body`` is the *canonical JSON* of the entry (keys
sorted, no spaces, UTF-8; see :func:`canonical`)::

    {"action": "case.decided", "actor": "key_01J…", "after": "<sha256 of the state after>",
     "at": "2026-12-03T15:41:13.926250Z", "before": "<sha256 of the state before>", "chain": "ten_01J…",
     "details": {…}, "id": "aud_01J…", "object_id": "case_01J…", "object_type": "case", "role": "reviewer",
     "seq": 42, "source_ip": "10.0.0.7", "tenant": "ten_01J…", "v": 1}

and ``hash = sha256(bytes.fromhex(prev_hash) + body)``, ``prev_hash`` being the previous entry's hash
(64 zeros before the first). Each tenant has its own chain (``chain`` = the tenant id; events of no
tenant go to the ``system`` chain), numbered 1, 2, … without gaps. Appends run inside the caller's
transaction (an entry commits or rolls back with the change it records) and are serialised per
chain by a row lock on ``audit_heads`` (SQLite: the database's single writer).

A *checkpoint* signs (Ed25519) a chain's head: ``{"chain", "seq", "hash", "at", "key_id", "kind"}``.
Checkpoints are written to the database and appended to ``<data dir>/audit/checkpoints.jsonl``;
publish or copy them elsewhere too, because a checkpoint is what makes a truncated tail detectable
(an entry that the checkpoint names is gone, or has another hash). The private key is
``<data dir>/audit/checkpoint-key.pem`` (created on first use, mode 0600); ``synthwatch audit
checkpoint --public-key`` prints the public key to pin.

:func:`verify` re-computes every chain and names the first bad entry: altered (hash), deleted (a
gap in ``seq``), inserted or reordered (the link to the previous hash, or ``seq`` and the columns
disagreeing with the hashed body), rewritten (an entry differs from a signed checkpoint), truncated
(a checkpoint or the head names an entry past the end).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...errors import ConfigError
from ..db import Database
from ..ids import new_id
from ..storage import review_tables as rt

__all__ = ["GENESIS", "SYSTEM_CHAIN", "canonical", "digest", "iso_us", "chain_hash", "AuditEntry", "Checkpoint",
           "Signer", "AuditLog", "ChainStatus", "VerifyResult", "verify_checkpoint_body"]

log = logging.getLogger("synthwatch.service.audit")

GENESIS = "0" * 64
SYSTEM_CHAIN = "system"
CHECKPOINT_TYPE = "synthwatch.audit.checkpoint/1"


def canonical(obj: Any) -> bytes:
    """The canonical JSON of ``obj``: keys sorted, no whitespace, UTF-8 (non-ASCII kept), no NaN."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (an undecodable file name): escape it
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False).encode("ascii")


def digest(obj: Any) -> str | None:
    """sha256 hex of the canonical JSON of ``obj`` (None for None): the before/after digests."""
    if obj is None:
        return None
    return hashlib.sha256(canonical(obj)).hexdigest()


def iso_us(at_us: int) -> str:
    return datetime.fromtimestamp(at_us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    chain: str
    seq: int
    id: str
    at_us: int
    body: str
    prev_hash: str
    hash: str

    @property
    def fields(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    def to_dict(self) -> dict[str, Any]:
        return {"chain": self.chain, "seq": self.seq, "id": self.id, "prev_hash": self.prev_hash, "hash": self.hash,
                "entry": self.fields}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    id: str
    chain: str
    seq: int
    hash: str
    kind: str
    at_us: int
    key_id: str
    body: str
    signature: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "chain": self.chain, "seq": self.seq, "hash": self.hash, "kind": self.kind,
                "at": iso_us(self.at_us), "key_id": self.key_id, "body": self.body, "signature": self.signature}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Checkpoint:
        body = json.loads(d["body"])
        return cls(id=d["id"], chain=body["chain"], seq=int(body["seq"]), hash=body["hash"], kind=body["kind"],
                   at_us=int(body["at_us"]), key_id=body["key_id"], body=d["body"], signature=d["signature"])


# ----------------------------------------------------------------------------------------- keys
def _key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()


def load_public_pem(pem: str | bytes) -> tuple[str, Any]:
    """(key id, Ed25519PublicKey) of a PEM public key; ConfigError when it is not one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise ConfigError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError("the audit public key must be an Ed25519 key")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _key_id(raw), key


def verify_checkpoint_body(body: str, signature_b64: str, public_key: Any) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), body.encode("utf-8"))
    except (InvalidSignature, ValueError):
        return False
    return True


class Signer:
    """The Ed25519 checkpoint key in ``<folder>/checkpoint-key.pem`` (made on first use, 0600)."""

    FILE = "checkpoint-key.pem"

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._key: Any = None

    @property
    def path(self) -> Path:
        return self.folder / self.FILE

    def exists(self) -> bool:
        return self.path.is_file()

    def _load(self) -> Any:
        if self._key is not None:
            return self._key
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.path.is_file():
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first
                pass
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(pem)
        try:
            loaded = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the audit checkpoint key {self.path}: {exc}") from exc
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ConfigError(f"{self.path} is not an Ed25519 private key")
        self._key = loaded
        return loaded

    def public_pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return self._load().public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def key_id(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return _key_id(self._load().public_key().public_bytes(serialization.Encoding.Raw,
                                                              serialization.PublicFormat.Raw))

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self._load().sign(data)).decode("ascii")


# ----------------------------------------------------------------------------------------- verification results
@dataclass
class ChainStatus:
    chain: str
    ok: bool = True
    entries: int = 0
    first_seq: int = 1
    last_seq: int = 0
    head_hash: str = GENESIS
    checkpoints: int = 0
    last_checkpoint: dict[str, Any] | None = None
    first_bad: dict[str, Any] | None = None  # {"seq", "id", "problem"}
    problems: list[str] = field(default_factory=list)

    def fail(self, problem: str, seq: int | None = None, entry_id: str | None = None) -> None:
        self.ok = False
        if self.first_bad is None:
            self.first_bad = {"seq": seq, "id": entry_id, "problem": problem}
        self.problems.append(problem)

    def to_dict(self) -> dict[str, Any]:
        return {"chain": self.chain, "ok": self.ok, "entries": self.entries, "first_seq": self.first_seq,
                "last_seq": self.last_seq, "head_hash": self.head_hash, "checkpoints": self.checkpoints,
                "last_checkpoint": self.last_checkpoint, "first_bad": self.first_bad, "problems": self.problems}


@dataclass
class VerifyResult:
    chains: list[ChainStatus]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.chains)

    @property
    def first_bad(self) -> tuple[str, dict[str, Any]] | None:
        for c in self.chains:
            if c.first_bad is not None:
                return c.chain, c.first_bad
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "chains": [c.to_dict() for c in self.chains], "seconds": round(self.seconds, 3)}


# ----------------------------------------------------------------------------------------- the log
def _now_us() -> int:
    return time.time_ns() // 1000


class AuditLog:
    """Append, checkpoint and verify the audit log of one database (see the module doc)."""

    def __init__(self, db: Database, folder: Path) -> None:
        self.db = db
        self.folder = Path(folder)
        self.signer = Signer(self.folder)

    @property
    def checkpoint_file(self) -> Path:
        return self.folder / "checkpoints.jsonl"

    # ------------------------------------------------------------------ append
    # statements built once: an append is three round trips and no statement construction
    _H = rt.audit_heads.c
    _HEAD = sa.select(_H.seq, _H.hash).where(_H.chain == sa.bindparam("chain"))
    _HEAD_LOCKED = _HEAD.with_for_update()
    _INSERT = rt.audit_log.insert()
    _MOVE = rt.audit_heads.update().where(_H.chain == sa.bindparam("c")).values(
        seq=sa.bindparam("s"), hash=sa.bindparam("h"), updated_us=sa.bindparam("u"))

    def _head(self, conn: Connection, chain: str) -> tuple[int, str]:
        pg = conn.dialect.name == "postgresql"
        q = self._HEAD_LOCKED if pg else self._HEAD
        row = conn.execute(q, {"chain": chain}).first()
        if row is not None:
            return int(row[0]), str(row[1])
        if pg:  # two first appends race: one inserts, both then lock it
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(rt.audit_heads).values(chain=chain, seq=0, hash=GENESIS, first_seq=1,
                                                          updated_us=_now_us()).on_conflict_do_nothing())
            row = conn.execute(q, {"chain": chain}).first()
            assert row is not None
            return int(row[0]), str(row[1])
        conn.execute(rt.audit_heads.insert().values(chain=chain, seq=0, hash=GENESIS, first_seq=1,
                                                    updated_us=_now_us()))
        return 0, GENESIS

    def append(self, conn: Connection, *, action: str, object_type: str, object_id: str,
               tenant_id: str | None = None, actor: str = "system", role: str | None = None,
               source_ip: str | None = None, before: Any = None, after: Any = None,
               details: dict[str, Any] | None = None, before_digest: str | None = None,
               after_digest: str | None = None) -> AuditEntry:
        """Append one entry inside the caller's transaction. ``before`` / ``after`` are states
        (digested here); give ``*_digest`` instead when the caller already has the digest."""
        chain = tenant_id or SYSTEM_CHAIN
        seq, prev = self._head(conn, chain)
        seq += 1
        at_us = _now_us()
        entry_id = new_id("aud")
        fields = {"v": 1, "chain": chain, "seq": seq, "id": entry_id, "at": iso_us(at_us), "tenant": tenant_id,
                  "actor": actor, "role": role, "action": action, "object_type": object_type,
                  "object_id": object_id, "source_ip": source_ip,
                  "before": before_digest if before_digest is not None else digest(before),
                  "after": after_digest if after_digest is not None else digest(after),
                  "details": details or {}}
        body = canonical(fields)
        h = chain_hash(prev, body)
        text = body.decode("utf-8")
        conn.execute(self._INSERT, {"chain": chain, "seq": seq, "id": entry_id, "at_us": at_us,
                                    "tenant_id": tenant_id, "actor": actor[:80], "action": action[:60],
                                    "object_type": object_type[:30], "object_id": object_id[:80],
                                    "body": text, "prev_hash": prev, "hash": h})
        conn.execute(self._MOVE, {"c": chain, "s": seq, "h": h, "u": at_us})
        return AuditEntry(chain, seq, entry_id, at_us, text, prev, h)

    # ------------------------------------------------------------------ reading
    @staticmethod
    def _entry(row: Any) -> AuditEntry:
        return AuditEntry(row.chain, int(row.seq), row.id, int(row.at_us), row.body, row.prev_hash, row.hash)

    def entries(self, conn: Connection, chain: str, *, object_ids: Iterable[str] | None = None,
                action: str | None = None, actor: str | None = None, since_us: int | None = None,
                until_us: int | None = None, before_seq: int | None = None, limit: int = 100,
                ascending: bool = False) -> list[AuditEntry]:
        c = rt.audit_log.c
        q = sa.select(rt.audit_log).where(c.chain == chain)
        if object_ids is not None:
            q = q.where(c.object_id.in_(list(object_ids)))
        if action:
            q = q.where(c.action.like(action.replace("*", "%")) if "*" in action else c.action == action)
        if actor:
            q = q.where(c.actor == actor)
        if since_us is not None:
            q = q.where(c.at_us >= since_us)
        if until_us is not None:
            q = q.where(c.at_us < until_us)
        if before_seq is not None:
            q = q.where(c.seq < before_seq)
        q = q.order_by(c.seq if ascending else c.seq.desc()).limit(limit)
        return [self._entry(r) for r in conn.execute(q)]

    def segment(self, conn: Connection, chain: str, first: int, last: int) -> Iterator[AuditEntry]:
        c = rt.audit_log.c
        q = sa.select(rt.audit_log).where(c.chain == chain, c.seq >= first, c.seq <= last).order_by(c.seq)
        for row in conn.execution_options(yield_per=2000).execute(q):
            yield self._entry(row)

    def head(self, conn: Connection, chain: str) -> dict[str, Any] | None:
        row = conn.execute(sa.select(rt.audit_heads).where(rt.audit_heads.c.chain == chain)).mappings().first()
        return dict(row) if row else None

    def chains(self, conn: Connection) -> list[str]:
        return [r[0] for r in conn.execute(sa.select(rt.audit_heads.c.chain).order_by(rt.audit_heads.c.chain))]

    # ------------------------------------------------------------------ checkpoints
    def public_keys(self, conn: Connection) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for row in conn.execute(sa.select(rt.audit_keys.c.public_pem)):
            with contextlib.suppress(ConfigError):
                kid, key = load_public_pem(row[0])
                out[kid] = key
        return out

    def _register_key(self, conn: Connection) -> str:
        kid = self.signer.key_id()
        if conn.execute(sa.select(rt.audit_keys.c.key_id).where(rt.audit_keys.c.key_id == kid)).first() is None:
            conn.execute(rt.audit_keys.insert().values(key_id=kid, public_pem=self.signer.public_pem(),
                                                       created_at=time.time()))
        return kid

    def checkpoints(self, conn: Connection, chain: str | None = None, limit: int | None = None) -> list[Checkpoint]:
        c = rt.audit_checkpoints.c
        q = sa.select(rt.audit_checkpoints)
        if chain is not None:
            q = q.where(c.chain == chain)
        q = q.order_by(c.at_us.desc(), c.id.desc())
        if limit:
            q = q.limit(limit)
        return [Checkpoint(r.id, r.chain, int(r.seq), r.hash, r.kind, int(r.at_us), r.key_id, r.body, r.signature)
                for r in conn.execute(q)]

    def sign_head(self, conn: Connection, chain: str, seq: int, hash_: str, kind: str = "checkpoint") -> Checkpoint:
        """Sign (chain, seq, hash) inside the caller's write transaction and record it."""
        kid = self._register_key(conn)
        at_us = _now_us()
        cid = new_id("ckp")
        body = canonical({"type": CHECKPOINT_TYPE, "id": cid, "kind": kind, "chain": chain, "seq": seq,
                          "hash": hash_, "at": iso_us(at_us), "at_us": at_us, "key_id": kid}).decode("utf-8")
        sig = self.signer.sign(body.encode("utf-8"))
        conn.execute(rt.audit_checkpoints.insert().values(id=cid, chain=chain, seq=seq, hash=hash_, kind=kind,
                                                          at_us=at_us, key_id=kid, body=body, signature=sig))
        ck = Checkpoint(cid, chain, seq, hash_, kind, at_us, kid, body, sig)
        self._write_file(ck)
        return ck

    def _write_file(self, ck: Checkpoint) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.checkpoint_file, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"id": ck.id, "body": ck.body, "signature": ck.signature}) + "\n")
        except OSError:  # the database copy stands; the file is a second copy
            log.warning("cannot append to %s", self.checkpoint_file, exc_info=True)

    def file_checkpoints(self) -> list[Checkpoint]:
        out: list[Checkpoint] = []
        try:
            lines = self.checkpoint_file.read_text(encoding="utf-8").splitlines()
        except OSError:
            return out
        for line in lines:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                out.append(Checkpoint.from_dict(json.loads(line)))
        return out

    def checkpoint(self, chains: Iterable[str] | None = None, *, force: bool = False) -> list[Checkpoint]:
        """Sign the head of every chain (or of ``chains``) that moved since its last checkpoint."""
        made: list[Checkpoint] = []
        with self.db.write() as conn:
            heads = {r.chain: r for r in conn.execute(sa.select(rt.audit_heads))}
            for chain in (list(chains) if chains is not None else sorted(heads)):
                head = heads.get(chain)
                if head is None or head.seq == 0:
                    continue
                last = self.checkpoints(conn, chain, limit=1)
                if not force and last and last[0].seq == head.seq and last[0].hash == head.hash:
                    continue
                made.append(self.sign_head(conn, chain, int(head.seq), head.hash))
        return made

    def checkpoint_due(self, interval_s: float) -> bool:
        """Whether a chain moved and the last checkpoint is older than ``interval_s``."""
        with self.db.read() as conn:
            newest = conn.execute(sa.select(sa.func.max(rt.audit_checkpoints.c.at_us))).scalar()
            moved = conn.execute(sa.select(sa.func.max(rt.audit_heads.c.updated_us))).scalar()
        if moved is None:
            return False
        if newest is None:
            return True
        return bool(moved > newest and (_now_us() - newest) / 1e6 >= interval_s)

    # ------------------------------------------------------------------ verification
    def verify(self, chains: Iterable[str] | None = None, *, pinned_keys: dict[str, Any] | None = None,
               use_file: bool = True, progress: Any = None) -> VerifyResult:
        """Re-compute every chain (or ``chains``); see the module doc. ``pinned_keys`` (key id ->
        public key): only these keys count for checkpoint signatures (default: the database's and
        the local key)."""
        t0 = time.perf_counter()
        with self.db.read() as conn:
            names = list(chains) if chains is not None else self.chains(conn)
            known = pinned_keys if pinned_keys is not None else self.public_keys(conn)
            if pinned_keys is None and self.signer.exists():
                with contextlib.suppress(ConfigError):
                    known[self.signer.key_id()] = load_public_pem(self.signer.public_pem())[1]
            cks = {ck.id: ck for ck in self.checkpoints(conn)}
        in_db = set(cks)
        if use_file:
            for ck in self.file_checkpoints():
                cks.setdefault(ck.id, ck)
        if chains is None:  # a chain whose every row was deleted still has its checkpoints
            names = sorted(set(names) | {ck.chain for ck in cks.values()})
        results = []
        for chain in names:
            mine = [ck for ck in cks.values() if ck.chain == chain]
            results.append(self._verify_chain(chain, mine, in_db, known, progress))
        return VerifyResult(results, time.perf_counter() - t0)

    def _verify_chain(self, chain: str, cks: list[Checkpoint], in_db: set[str], known: dict[str, Any],
                      progress: Any) -> ChainStatus:
        st = ChainStatus(chain)
        with self.db.read() as conn:
            head = self.head(conn, chain)
        first_seq = int(head["first_seq"]) if head else 1
        st.first_seq = first_seq
        expected_prev = GENESIS
        good_cks: list[Checkpoint] = []
        for ck in sorted(cks, key=lambda c: (c.seq, c.at_us)):
            key = known.get(ck.key_id)
            body_ok = False
            with contextlib.suppress(ValueError, KeyError, TypeError):
                b = json.loads(ck.body)
                body_ok = (b["chain"], b["seq"], b["hash"], b["kind"]) == (ck.chain, ck.seq, ck.hash, ck.kind)
            if key is None:
                st.fail(f"checkpoint {ck.id} (seq {ck.seq}) is signed by an unknown key {ck.key_id[:16]}…", ck.seq)
                continue
            if not body_ok or not verify_checkpoint_body(ck.body, ck.signature, key):
                st.fail(f"checkpoint {ck.id} (seq {ck.seq}) has an invalid signature", ck.seq)
                continue
            if ck.id not in in_db:
                st.fail(f"checkpoint {ck.id} (seq {ck.seq}) is in {self.checkpoint_file.name} but was deleted "
                        "from the database", ck.seq)
            good_cks.append(ck)
        st.checkpoints = len(good_cks)
        if good_cks:
            last_ck = max(good_cks, key=lambda c: (c.at_us, c.seq))
            st.last_checkpoint = {"id": last_ck.id, "seq": last_ck.seq, "at": iso_us(last_ck.at_us),
                                  "key_id": last_ck.key_id}
        if first_seq > 1:  # a purge removed 1..first_seq-1: the signed anchor gives the link
            anchors = [ck for ck in good_cks if ck.kind == "anchor" and ck.seq == first_seq - 1]
            if not anchors:
                st.fail(f"entries before seq {first_seq} were removed without a signed purge anchor", first_seq)
            else:
                expected_prev = anchors[-1].hash
        at_seq: dict[int, list[Checkpoint]] = {}
        for ck in good_cks:
            if ck.seq >= first_seq:
                at_seq.setdefault(ck.seq, []).append(ck)
        last_good_ck = first_seq - 1
        expected_seq = first_seq
        stopped = False
        with self.db.read() as conn:
            c = rt.audit_log.c
            q = sa.select(c.chain, c.seq, c.id, c.at_us, c.tenant_id, c.actor, c.action, c.object_type, c.object_id,
                          c.body, c.prev_hash, c.hash).where(c.chain == chain).order_by(c.seq)
            for row in conn.execution_options(yield_per=5000, stream_results=True).execute(q):
                seq = int(row.seq)
                st.entries += 1
                if progress is not None and st.entries % 10000 == 0:
                    progress(chain, st.entries)
                if stopped:
                    st.last_seq = seq
                    continue
                if seq != expected_seq:
                    if seq > expected_seq:
                        st.fail(f"entry {expected_seq} is missing (deleted): the log jumps from "
                                f"{expected_seq - 1} to {seq}", expected_seq)
                    else:
                        st.fail(f"entry {seq} is out of order", seq, row.id)
                    stopped = True
                    st.last_seq = seq
                    continue
                body = row.body.encode("utf-8")
                if row.prev_hash != expected_prev:
                    st.fail(f"entry {seq} ({row.id}) does not link to the entry before it (inserted, reordered "
                            "or the previous entry was replaced)", seq, row.id)
                    stopped = True
                elif chain_hash(row.prev_hash, body) != row.hash:
                    st.fail(f"entry {seq} ({row.id}) was altered: its hash does not match its contents", seq, row.id)
                    stopped = True
                else:
                    try:
                        f = json.loads(body)
                        same = (f["chain"], f["seq"], f["id"], f["tenant"], f["actor"][:80], f["action"][:60],
                                f["object_type"][:30], f["object_id"][:80]) == (
                            row.chain, seq, row.id, row.tenant_id, row.actor, row.action, row.object_type,
                            row.object_id) and iso_us(int(row.at_us)) == f["at"]
                    except (ValueError, KeyError, TypeError):
                        same = False
                    if not same:
                        st.fail(f"entry {seq} ({row.id}): the stored columns differ from the hashed entry "
                                "(altered or moved)", seq, row.id)
                        stopped = True
                if not stopped:
                    for ck in at_seq.get(seq, []):
                        if ck.hash != row.hash:
                            st.fail(f"entry {seq} ({row.id}) differs from signed checkpoint {ck.id}: the chain was "
                                    f"rewritten after seq {last_good_ck}", seq, row.id)
                            stopped = True
                            break
                    else:
                        if seq in at_seq:
                            last_good_ck = seq
                expected_prev = row.hash
                expected_seq = seq + 1
                st.last_seq = seq
                st.head_hash = row.hash
        ends = expected_seq - 1 if not stopped else st.last_seq
        if not stopped:
            beyond = [ck for ck in good_cks if ck.seq > ends]
            if beyond:
                ck = max(beyond, key=lambda c: c.seq)
                st.fail(f"the log was truncated: checkpoint {ck.id} covers entry {ck.seq} but the log ends at "
                        f"{ends}", ends + 1)
            elif head is not None and int(head["seq"]) != ends:
                st.fail(f"the chain head says {head['seq']} entries but the log ends at {ends} "
                        "(truncated or appended around the head)", ends + 1)
        return st
