"""application/problem+json (RFC 9457): the one place errors become HTTP responses.

Every error has a stable ``code`` and ``type`` (``urn:synthwatch:problem:<code>``), a ``title``, the
HTTP ``status`` and a human ``detail``; never a stack trace. Unexpected exceptions are logged with
their traceback and answered as ``internal_error``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ConfigError, MediaError, SynthwatchError, UnknownDetector

__all__ = ["Problem", "install_handlers", "problem_response", "PROBLEM_TITLES"]

log = logging.getLogger("synthwatch.service")

PROBLEM_TITLES: dict[str, str] = {
    "bad_request": "Bad request",
    "unauthorized": "Missing or invalid API key",
    "forbidden": "The key's role may not do this",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "conflict": "Conflict",
    "idempotency_conflict": "Idempotency-Key reused with a different request",
    "payload_too_large": "Upload too large",
    "unsupported_media_type": "Unsupported request content type",
    "validation_error": "Invalid request",
    "empty_upload": "The uploaded file is empty",
    "unknown_detector": "Unknown detector",
    "url_refused": "URL refused",
    "rate_limited": "Too many requests",
    "internal_error": "Internal server error",
    "unavailable": "Service unavailable",
}

_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
                 415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
                 503: "unavailable"}


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(self, status: int, code: str, detail: str = "", *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail or code)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(status: int, code: str, detail: str = "", *, headers: dict[str, str] | None = None,
                     instance: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": f"urn:synthwatch:problem:{code}",
                            "title": PROBLEM_TITLES.get(code, code.replace("_", " ").capitalize()),
                            "status": status, "code": code, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")


def _synthwatch_status(exc: SynthwatchError) -> int:
    if isinstance(exc, UnknownDetector | ConfigError):
        return 422
    if isinstance(exc, MediaError):
        return 422
    return 500


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.code, exc.detail, headers=exc.headers,
                                instance=request.url.path, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error")
        detail = exc.detail if isinstance(exc.detail, str) else ""
        return problem_response(exc.status_code, code, detail, headers=dict(exc.headers or {}),
                                instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        return problem_response(422, "validation_error", "the request does not match the API", errors=errors,
                                instance=request.url.path)

    @app.exception_handler(SynthwatchError)
    async def _synthwatch(request: Request, exc: SynthwatchError) -> JSONResponse:
        status = _synthwatch_status(exc)
        if status >= 500:
            log.error("synthwatch error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(status, exc.code, str(exc) if status < 500 else "", instance=request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(500, "internal_error", "the error was logged", instance=request.url.path)
