"""Console sessions: an API key is exchanged once for a random session token (cookie, HttpOnly,
SameSite=Strict, Path=/console, Secure over https); only its sha256 is stored. Every form carries the
session's CSRF token; sessions end on logout, after ``console_session_idle_s`` without a request,
after ``console_session_max_s``, and at once when the key is revoked."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..auth import Principal, Role, hash_key, same_hash, split_key
from ..ids import new_id
from ..storage import review_tables as rt
from ..storage import schema as t

__all__ = ["COOKIE", "LOGIN_CSRF_COOKIE", "ConsoleUser", "LoginFailed", "login", "lookup", "logout", "csrf_ok"]

COOKIE = "sw_console"
LOGIN_CSRF_COOKIE = "sw_console_login"
_TOUCH_EVERY_S = 30.0


class LoginFailed(Exception):
    def __init__(self, message: str, tenant_id: str | None = None, key_id: str | None = None) -> None:
        super().__init__(message)
        self.tenant_id = tenant_id
        self.key_id = key_id


@dataclass(frozen=True)
class ConsoleUser:
    session_id: str
    csrf: str
    principal: Principal
    key_name: str

    def can(self, permission: str) -> bool:
        return self.principal.can(permission)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def login(core: Any, api_key: str, source_ip: str | None) -> tuple[ConsoleUser, str]:
    """Check an API key and open a session; returns (user, session token). Raises LoginFailed."""
    key = api_key.strip()
    prefix = split_key(key)
    if prefix is None:
        raise LoginFailed("that is not an API key")
    with core.db.read() as conn:
        row = core.stores.keys.by_prefix(conn, prefix)
        tenant = core.stores.tenants.get(conn, row.tenant_id) if row else None
    if row is None or tenant is None or not same_hash(row.hash, hash_key(key)):
        raise LoginFailed("unknown API key")
    if row.revoked_at is not None:
        raise LoginFailed("this API key was revoked", tenant.id, row.id)
    principal = Principal(row.id, tenant.id, tenant.name, Role(row.role), source_ip)
    if not principal.can("console:login"):
        raise LoginFailed(f"the {row.role} role has no access to the reviewers' console", tenant.id, row.id)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    at = time.time()
    sid = new_id("ses")
    with core.db.write() as conn:
        conn.execute(rt.console_sessions.insert().values(
            id=sid, token_hash=_token_hash(token), csrf=csrf, key_id=row.id, tenant_id=tenant.id, role=row.role,
            source_ip=source_ip, created_at=at, last_seen_at=at, expires_at=at + core.opts.console_session_max_s,
            ended_at=None))
    return ConsoleUser(sid, csrf, principal, row.name), token


def lookup(core: Any, token: str | None, source_ip: str | None) -> ConsoleUser | None:
    """The live session of a cookie value, or None (expired, idle, ended, key revoked)."""
    if not token or len(token) > 100:
        return None
    at = time.time()
    s, k = rt.console_sessions.c, t.api_keys.c
    with core.db.read() as conn:
        row = conn.execute(sa.select(s.id, s.csrf, s.key_id, s.tenant_id, s.role, s.last_seen_at, s.expires_at,
                                     s.ended_at, k.revoked_at, k.name, t.tenants.c.name.label("tenant_name"))
                           .select_from(rt.console_sessions.join(t.api_keys, s.key_id == k.id)
                                        .join(t.tenants, s.tenant_id == t.tenants.c.id))
                           .where(s.token_hash == _token_hash(token))).first()
    if row is None or row.ended_at is not None or row.revoked_at is not None or at > row.expires_at:
        return None
    if at - row.last_seen_at > core.opts.console_session_idle_s:
        return None
    if at - row.last_seen_at > _TOUCH_EVERY_S:
        with core.db.write() as conn:
            conn.execute(rt.console_sessions.update().where(s.id == row.id).values(last_seen_at=at))
    principal = Principal(row.key_id, row.tenant_id, row.tenant_name, Role(row.role), source_ip)
    return ConsoleUser(row.id, row.csrf, principal, row.name)


def logout(core: Any, user: ConsoleUser) -> None:
    with core.db.write() as conn:
        conn.execute(rt.console_sessions.update().where(rt.console_sessions.c.id == user.session_id)
                     .values(ended_at=time.time()))


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
