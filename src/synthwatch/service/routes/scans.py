"""Scans: submit (upload or URL), read one, list with filters and a cursor, download the media."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from ...errors import SynthwatchError
from ..auth import Principal
from ..core import LIMIT_KEYS, IdempotencyConflict, ScanRequest, scan_resource
from ..deps import CoreDep, require
from ..fetch import FetchError, FetchPolicy, check_url_syntax
from ..problems import Problem
from ..storage.blobs import BlobWriter
from ..storage.interfaces import ScanFilter
from ..uploads import INLINE_BYTES, filename_from_disposition, read_json_body, read_multipart, read_raw

router = APIRouter(prefix="/v1", tags=["scans"])

STATUSES = ("queued", "running", "done", "failed")
VERDICTS = ("likely_synthetic", "inconclusive", "likely_authentic", "not_applicable")


class ScanCreate(BaseModel):
    """JSON body of ``POST /v1/scans`` for media the worker fetches from a URL."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="http(s) URL of the media; fetched by a worker through the SSRF guard")
    detectors: list[str] | str | None = Field(None, description="detector names (default: the tenant's set)")
    declared_ai: bool = Field(False, description="the uploader declared the item AI-generated")
    callback_url: str | None = Field(None, description="webhook for scan.completed / scan.failed")
    external_id: str | None = Field(None, max_length=200, description="your id for the item")
    limits: dict[str, float] | None = Field(None, description=f"lower limits for this scan: {', '.join(LIMIT_KEYS)}")


_MULTIPART_SCHEMA = {
    "type": "object", "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary"},
        "detectors": {"type": "string", "description": "comma-separated detector names"},
        "declared_ai": {"type": "boolean"},
        "callback_url": {"type": "string"},
        "external_id": {"type": "string"},
        "limits": {"type": "string", "description": "JSON object of lower limits"},
    },
}
_RAW_ONLY = "(raw-body uploads only; a multipart upload sends it as a form field)"
_OPENAPI_SUBMIT = {
    "requestBody": {"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary",
                                                "description": "the file itself; its name in Content-Disposition, "
                                                               "the other fields in the query"}},
        "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
        "application/json": {"schema": ScanCreate.model_json_schema(ref_template="#/components/schemas/{model}")},
    }},
    "parameters": [
        {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
         "description": "the same key with the same request returns the same scan; another request, 409"},
        {"name": "Content-Disposition", "in": "header", "required": False, "schema": {"type": "string"},
         "description": "the file name of a raw-body upload (required there): attachment; filename=\"clip.mp4\", "
                        "or filename*=UTF-8''… for other characters"},
        *({"name": name, "in": "query", "required": False, "schema": {"type": "string"},
           "description": f"{what} {_RAW_ONLY}"} for name, what in (
              ("detectors", "comma-separated detector names"), ("declared_ai", "true or false"),
              ("callback_url", "webhook for scan.completed / scan.failed"), ("external_id", "your id for the item"),
              ("limits", "JSON object of lower limits"))),
    ],
}


def _policy(core: Any) -> FetchPolicy:
    o = core.opts
    return FetchPolicy(allow=tuple(o.fetch_allow), max_bytes=o.fetch_max_bytes, timeout_s=o.fetch_timeout_s,
                       max_redirects=o.fetch_max_redirects)


def _check_url(core: Any, url: str, what: str) -> str:
    """Syntax, scheme and (for literal addresses) the address rule, before anything is queued."""
    import ipaddress

    try:
        _, host, _ = check_url_syntax(url)
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return url
        if not _policy(core).address_allowed(host, ip):
            raise FetchError("url_refused", f"{ip} is not a public address and is not allow-listed")
    except FetchError as exc:
        raise Problem(422, "url_refused", f"{what}: {exc}") from None
    return url


def _limits(value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Problem(422, "validation_error", "limits must be a JSON object")
    out: dict[str, float] = {}
    for k, v in value.items():
        if k not in LIMIT_KEYS:
            raise Problem(422, "validation_error", f"unknown limit {k!r}; limits: {', '.join(LIMIT_KEYS)}")
        if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
            raise Problem(422, "validation_error", f"limit {k} must be a positive number")
        out[k] = float(v) if k.endswith("_s") else int(v)
    return out


def _detectors(value: list[str] | str | None) -> list[str] | None:
    if value is None:
        return None
    names = [n.strip() for n in (value.split(",") if isinstance(value, str) else value) if n.strip()]
    return names or None


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise Problem(422, "validation_error", f"declared_ai must be true or false, not {value[:20]!r}")


_FORM_FIELDS = frozenset({"detectors", "declared_ai", "callback_url", "external_id", "limits"})


def _form_request(fields: Mapping[str, str], filename: str, where: str) -> ScanRequest:
    """A scan request from text fields (multipart form fields, or the query of a raw upload)."""
    unknown = set(fields) - _FORM_FIELDS
    if unknown:
        raise Problem(422, "validation_error", f"unknown {where}(s): {', '.join(sorted(unknown))}")
    try:
        limits = _limits(json.loads(fields["limits"])) if fields.get("limits") else {}
    except json.JSONDecodeError:
        raise Problem(422, "validation_error", "limits must be a JSON object") from None
    req = ScanRequest(detectors=_detectors(fields.get("detectors")), declared_ai=_bool(fields.get("declared_ai", "")),
                      callback_url=fields.get("callback_url") or None, external_id=fields.get("external_id") or None,
                      limits=limits, filename=filename)
    if req.external_id and len(req.external_id) > 200:
        raise Problem(422, "validation_error", "external_id is longer than 200 characters")
    return req


def _raw_request(request: Request) -> ScanRequest:
    """The fields of a raw-body upload: the file name from ``Content-Disposition``, the rest from
    the query string (the multipart form's field names). Checked before the body is read."""
    filename = filename_from_disposition(request.headers.get("content-disposition", ""))
    if not filename:
        raise Problem(422, "validation_error", "a raw upload names its file: Content-Disposition: attachment; "
                      "filename=\"clip.mp4\" (or filename*=UTF-8''… for other characters)")
    query = request.query_params
    repeated = sorted({k for k in query if len(query.getlist(k)) > 1})
    if repeated:
        raise Problem(400, "bad_request", f"the query parameter(s) {', '.join(repeated)} are given twice")
    return _form_request(dict(query), filename, "query parameter")


async def _commit_blob(core: Any, file: BlobWriter) -> str:
    if file.size <= INLINE_BYTES:  # a rename (a sync of a small file is not asked for): cheaper than a thread hop
        return core.blobs.commit(file)  # type: ignore[no-any-return]
    return await run_in_threadpool(core.blobs.commit, file)  # type: ignore[no-any-return]


@router.post("/scans", status_code=202, summary="Submit media for a scan", openapi_extra=_OPENAPI_SUBMIT,
             responses={202: {"description": "queued (or reused: status done)"}, 409: {"description": "idempotency conflict"},
                        413: {"description": "upload too large"}, 429: {"description": "rate limited"}})
async def create_scan(request: Request, core: CoreDep, principal: Annotated[Principal, require("scans:create")],
                      idempotency_key: Annotated[str | None, Header(max_length=255)] = None) -> JSONResponse:
    ctype = request.headers.get("content-type", "").lower()
    file: BlobWriter | None = None
    raw_body = ctype.startswith("application/octet-stream")
    try:
        if raw_body:
            req = _raw_request(request)
            # everything is checked before the body is read
            if req.callback_url:
                _check_url(core, req.callback_url, "callback_url")
            if req.detectors:
                try:
                    core.resolve_detectors(req.detectors)
                except SynthwatchError as exc:
                    raise Problem(422, exc.code, str(exc)) from None
            file = await read_raw(request, core.blobs, core.opts.max_upload_bytes)
        elif ctype.startswith("multipart/form-data"):
            upload = await read_multipart(request, core.blobs, core.opts.max_upload_bytes, core.opts.max_json_bytes)
            file = upload.file
            if file is None:
                raise Problem(422, "validation_error", "the multipart body has no part named 'file'")
            req = _form_request(upload.fields, upload.filename, "form field")
        elif ctype.startswith("application/json"):
            raw = await read_json_body(request, core.opts.max_json_bytes)
            try:
                body = ScanCreate.model_validate_json(raw)
            except ValidationError as exc:
                errors = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
                raise Problem(422, "validation_error", "the JSON body does not match the API", errors=errors) from None
            req = ScanRequest(detectors=_detectors(body.detectors), declared_ai=body.declared_ai,
                              callback_url=body.callback_url, external_id=body.external_id,
                              limits=_limits(body.limits), url=_check_url(core, body.url, "url"),
                              filename=body.url.rsplit("/", 1)[-1].split("?", 1)[0][:300])
        else:
            raise Problem(415, "unsupported_media_type", "send the file as application/octet-stream (its name in "
                          "Content-Disposition), multipart/form-data (field 'file') or JSON {\"url\": …}")
        if req.callback_url and not raw_body:
            _check_url(core, req.callback_url, "callback_url")

        if file is not None:  # into place before the scan that refers to it is committed
            req.size = file.size
            req.sha256 = await _commit_blob(core, file)
        try:  # by the core's submission thread (with SQLite, uploads that arrive together share a commit)
            result = await asyncio.wrap_future(core.submit_later(principal, req, idempotency_key))
        except IdempotencyConflict as exc:
            raise Problem(409, "idempotency_conflict", str(exc), scan_id=exc.scan_id) from None
        except SynthwatchError as exc:  # unknown detector, bad settings
            raise Problem(422, exc.code, str(exc)) from None
    finally:
        if file is not None:
            file.discard()  # nothing to do once committed; the temporary file otherwise
    headers = {"Location": f"/v1/scans/{result.scan.id}"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(scan_resource(result.scan, include_report=False), status_code=202, headers=headers)


@router.get("/scans/{scan_id}", summary="A scan: status, and when done the report and label decision")
def get_scan(scan_id: str, core: CoreDep, principal: Annotated[Principal, require("scans:read")]) -> JSONResponse:
    rec = core.get_scan(principal, scan_id)
    if rec is None:
        raise Problem(404, "not_found", "no such scan")
    return JSONResponse(scan_resource(rec))


def _ts(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(422, "validation_error", f"{name} must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z") from None
    if dt.tzinfo is None:
        raise Problem(422, "validation_error", f"{name} needs a time zone (e.g. Z)")
    return dt.timestamp()


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


_CURSOR = re.compile(r"^[a-z]{1,8}_[0-9A-HJKMNP-TV-Z]{26}$")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        value = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Problem(422, "validation_error", "invalid cursor") from None
    if not _CURSOR.match(value):
        raise Problem(422, "validation_error", "invalid cursor")
    return value


@router.get("/scans", summary="List scans, newest first (filters, cursor pagination)")
def list_scans(core: CoreDep, principal: Annotated[Principal, require("scans:read")],
               status: Annotated[str | None, Query(description=" | ".join(STATUSES))] = None,
               verdict: Annotated[str | None, Query(description=" | ".join(VERDICTS))] = None,
               created_after: Annotated[str | None, Query(description="ISO 8601, inclusive")] = None,
               created_before: Annotated[str | None, Query(description="ISO 8601, exclusive")] = None,
               external_id: str | None = None,
               sha256: str | None = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50,
               cursor: str | None = None) -> JSONResponse:
    if status is not None and status not in STATUSES:
        raise Problem(422, "validation_error", f"status must be one of {', '.join(STATUSES)}")
    if verdict is not None and verdict not in VERDICTS:
        raise Problem(422, "validation_error", f"verdict must be one of {', '.join(VERDICTS)}")
    flt = ScanFilter(status=status, verdict=verdict, created_after=_ts(created_after, "created_after"),
                     created_before=_ts(created_before, "created_before"), external_id=external_id, sha256=sha256)
    with core.db.read() as conn:
        rows = core.stores.scans.list(conn, principal.tenant_id, flt, limit + 1, decode_cursor(cursor))
    more = len(rows) > limit
    rows = rows[:limit]
    return JSONResponse({"object": "list", "data": [scan_resource(r, include_report=False) for r in rows],
                         "next_cursor": encode_cursor(rows[-1].id) if more else None})


@router.get("/scans/{scan_id}/media", summary="Download the scanned media (while retained)",
            response_class=FileResponse)
def get_scan_media(scan_id: str, core: CoreDep, principal: Annotated[Principal, require("media:read")]) -> FileResponse:
    rec = core.get_scan(principal, scan_id)
    if rec is None:
        raise Problem(404, "not_found", "no such scan")
    if rec.sha256 is None:
        raise Problem(404, "not_found", "this scan has no stored media (its URL was not fetched)")
    with core.db.read() as conn:
        media = core.stores.media.get(conn, principal.tenant_id, rec.sha256)
    path = core.blobs.path(rec.sha256)
    if media is None or media.purged_at is not None or not path.is_file():
        raise Problem(410, "media_purged", "the media was deleted when its retention period ended")
    return FileResponse(path, media_type="application/octet-stream",
                        headers={"Content-Disposition": f"attachment; filename=\"{rec.sha256}\"",
                                 "X-Content-SHA256": rec.sha256})
