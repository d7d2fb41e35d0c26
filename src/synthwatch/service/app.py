"""The app factory: ``create_app(settings)`` builds the FastAPI application.

One router per area (``routes/``); every later area (review cases, audit, console, live rooms,
assessments) adds its router in :data:`ROUTERS` and its permissions in ``auth.PERMISSIONS``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..config import Settings
from .core import ServiceCore
from .db import Database
from .metrics import make_registry
from .problems import install_handlers
from .ratelimit import RateLimiter
from .routes import assessments, audit, cases, health, media, reports, rooms, scans, tenant, webhooks
from .settings import ServiceSettings

__all__ = ["create_app", "ROUTERS"]

log = logging.getLogger("synthwatch.service")

ROUTERS = [health.router, scans.router, media.router, tenant.router, webhooks.router,
           cases.router, reports.router, audit.router,  # review queue, complaints, audit log (issue 14)
           rooms.router,  # live audio rooms (issue 15)
           assessments.router]  # security self-assessments (issue 16)


class _Observe:
    """Pure ASGI middleware: request latency histogram, X-Request-Id, RateLimit-* headers."""

    def __init__(self, app: ASGIApp, histogram: Any) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500}
        request_id = uuid.uuid4().hex

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                state = scope.get("state") or {}
                rl = state.get("ratelimit")
                if rl and not any(k.lower() == b"ratelimit-limit" for k, _ in headers):
                    headers.append((b"ratelimit-limit", str(rl[0]).encode()))
                    headers.append((b"ratelimit-remaining", str(rl[1]).encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.histogram.labels(scope.get("method", ""), path, str(status["code"])).observe(time.perf_counter() - t0)


def _model_checker(core: ServiceCore) -> Any:
    """Verify the default detectors' models once (sha256 of every file), in the background."""
    result: dict[str, Any] = {"ok": False, "state": "checking"}

    def run() -> None:
        from ..detectors import registry
        from ..models.store import ModelStore

        store = ModelStore(core.core.model_dir)
        # warm the detector registry so that the first POST /v1/scans does not pay for it (a failure
        # here is reported by the model check below)
        with contextlib.suppress(Exception):
            core.resolve_detectors(core.default_detectors())
        missing: dict[str, list[str]] = {}
        corrupt: dict[str, dict[str, str]] = {}
        try:
            for name in core.default_detectors():
                miss = registry.missing_models(name, store)
                if miss:
                    missing[name] = miss
                info = registry.detector_class(name).info
                for model in (info.model, *info.requires):
                    if model and model not in miss and store.is_installed(model):
                        problems = store.verify(model)
                        if problems:
                            corrupt[model] = problems
        except Exception as exc:  # noqa: BLE001 - reported as not ready
            result.update(ok=False, state="error", error=f"{type(exc).__name__}: {exc}")
            return
        ok = not corrupt and (not missing or not core.opts.require_models)
        result.update(ok=ok, state="verified", missing=missing, corrupt=corrupt)

    thread = threading.Thread(target=run, name="model-check", daemon=True)
    thread.start()
    return lambda: dict(result)


def create_app(settings: ServiceSettings | None = None, *, core_settings: Settings | None = None,
               db: Database | None = None, check_migrations: bool = True) -> FastAPI:
    """Build the API. Raises :class:`~synthwatch.service.db.NotMigrated` when the database schema
    is missing or old (run ``synthwatch db upgrade``)."""
    core = ServiceCore(settings, core=core_settings, db=db)
    if check_migrations:
        core.db.require_migrated()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # SQLite: WAL checkpoints (a disk sync) in a thread, not inside the commit of an upload
        stop_checkpoints = core.db.checkpoint_in_background()
        try:
            yield
        finally:
            stop_checkpoints()
            core.db.dispose()

    app = FastAPI(title="synthwatch", version=__version__, lifespan=lifespan,
                  description="Find and govern synthetic media: scans, reports, labels, webhooks. "
                              "Authenticate with `Authorization: Bearer <key>`; errors are application/problem+json.")
    app.state.core = core
    app.state.limiter = RateLimiter(core.opts.rate_limit_per_minute, core.opts.rate_limit_burst)
    registry, histogram = make_registry(core.stores)
    app.state.metrics_registry = registry
    app.state.model_check = _model_checker(core)
    install_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    from . import console  # the reviewers' console at /console (issue 14)

    app.include_router(console.router)
    console.install(app)
    from .rooms.hub import install as install_rooms  # live audio rooms: monitor, state, /metrics (issue 15)

    install_rooms(app)
    # the console's self-assessment pages and the regulator's inbox (issue 16)
    from .assessments.console import router as assessments_console

    app.include_router(assessments_console)
    app.add_middleware(_Observe, histogram=histogram)
    return app
