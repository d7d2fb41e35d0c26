"""Liveness, readiness and metrics (no key needed; put /metrics behind the network you trust)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import CoreDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the API process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database reachable, migrations current, models verified")
def readyz(request: Request, core: CoreDep) -> JSONResponse:
    checks: dict[str, Any] = {}
    ok = True
    try:
        core.db.ping()
        checks["database"] = {"ok": True}
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is "not ready"
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        ok = False
    if ok:
        state = core.db.migration_state()
        checks["migrations"] = {"ok": state.ok, "current": state.current, "head": state.head}
        ok = ok and state.ok
    models = request.app.state.model_check()
    checks["models"] = models
    ok = ok and models["ok"]
    return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
