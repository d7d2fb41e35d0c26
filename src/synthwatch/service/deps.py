"""FastAPI dependencies: the service core, the authenticated caller, and permission checks.

Use as ``principal: Annotated[Principal, require("scans:read")]`` or ``core: CoreDep``.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from .auth import Principal, Role, hash_key, same_hash, split_key
from .core import ServiceCore
from .problems import Problem
from .ratelimit import RateLimiter

__all__ = ["get_core", "CoreDep", "authenticate", "require", "Caller"]

_TOUCH_EVERY_S = 60.0
_touched: dict[str, float] = {}
_touch_lock = threading.Lock()


async def get_core(request: Request) -> ServiceCore:  # async: FastAPI runs a plain def in a thread
    return request.app.state.core  # type: ignore[no-any-return]


CoreDep = Annotated[ServiceCore, Depends(get_core)]


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def _lookup(core: ServiceCore, prefix: str) -> tuple[Any, Any]:
    with core.db.read() as conn:
        row = core.stores.keys.by_prefix(conn, prefix)
        tenant = core.stores.tenants.get(conn, row.tenant_id) if row else None
    return row, tenant


def _touch(core: ServiceCore, key_id: str, at: float) -> None:
    with core.db.write() as conn:
        core.stores.keys.touch(conn, key_id, at)


async def authenticate(request: Request, core: CoreDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise _unauthorized("send the API key as 'Authorization: Bearer <key>'")
    prefix = split_key(key)
    if prefix is None:
        raise _unauthorized("the API key is malformed")
    if core.db.dialect == "sqlite":
        # two indexed reads of a local WAL database (readers never wait for writers): a fraction of a
        # millisecond, less than the thread hop they would otherwise cost every request
        row, tenant = _lookup(core, prefix)
    else:  # a database server: the round trips must not hold the event loop
        row, tenant = await run_in_threadpool(_lookup, core, prefix)
    if row is None or tenant is None or not same_hash(row.hash, hash_key(key)):
        raise _unauthorized("unknown API key")
    if row.revoked_at is not None:
        raise _unauthorized("this API key was revoked")
    client = request.client.host if request.client else None
    principal = Principal(key_id=row.id, tenant_id=tenant.id, tenant_name=tenant.name, role=Role(row.role),
                          source_ip=client)
    limiter: RateLimiter = request.app.state.limiter
    ok, retry_after, remaining, limit = limiter.take(row.id, tenant.settings.get("rate_limit_per_minute"))
    request.state.ratelimit = (limit, remaining)
    if not ok:
        raise Problem(429, "rate_limited", f"this key may make {limit} requests a minute",
                      headers={"Retry-After": limiter.retry_after_header(retry_after),
                               "RateLimit-Limit": str(limit), "RateLimit-Remaining": "0"})
    at = time.time()
    with _touch_lock:
        due = at - _touched.get(row.id, 0.0) > _TOUCH_EVERY_S
        if due:
            _touched[row.id] = at
    if due:  # a write (it may wait for the database's write lock): never on the event loop
        await run_in_threadpool(_touch, core, row.id, at)
    request.state.principal = principal
    return principal


Caller = Annotated[Principal, Depends(authenticate)]


def require(permission: str) -> Any:
    async def check(principal: Caller) -> Principal:  # async: no thread hop for a dictionary look-up
        if not principal.can(permission):
            raise Problem(403, "forbidden", f"the {principal.role.value} role may not use this ({permission})")
        return principal

    check.__name__ = f"require_{permission.replace(':', '_')}"
    return Depends(check)
