"""What happens to an alert: evidence stored, a review case opened (by the tenant's review policy),
a signed ``room.alert`` webhook and an audit event, all in one transaction; then the alert goes to
the speaker's connection with its ``case_id``; then the timeline picture is drawn and added to the
alert and its case.

The flagged segment (FLAC) and the report are kept in the content-addressed media store like
uploads (retention and legal hold apply; a case keeps them at least the case retention period).
An alert is never lost to a failure here: if storing it fails, the client still receives it (with
``case_id: null`` and ``stored: false``) and the failure is logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from ...stream.evidence import alert_flac, alert_report, timeline_png
from ...stream.monitor import Alert
from ..core import iso
from ..events import record
from ..storage.interfaces import Event
from ..webhooks import enqueue as enqueue_webhook
from . import store

if TYPE_CHECKING:
    from .hub import LiveStream, RoomHub

__all__ = ["handle_alert", "alert_resource", "EVIDENCE_FILES", "case_join_key"]

log = logging.getLogger("synthwatch.service.rooms")

#: evidence file name -> (column of room_alerts, content type)
EVIDENCE_FILES = {"segment.flac": ("flac_sha256", "audio/flac"), "report.json": ("report_sha256", "application/json"),
                  "timeline.png": ("timeline_sha256", "image/png")}


def case_join_key(room: str, participant: str) -> str:
    """Alerts of one speaker in one room join one active case."""
    digest = hashlib.sha256(f"{room}\x00{participant}".encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"room:{digest}"


def alert_resource(rec: store.AlertRecord, *, prefix: str = "") -> dict[str, Any]:
    """The API's view of an alert (``GET /v1/rooms/{room}/alerts/{id}``; the ``room.alert`` webhook)."""
    from urllib.parse import quote

    base = f"{prefix}/v1/rooms/{quote(rec.room, safe='')}/alerts/{rec.id}/evidence"
    evidence = {name: (f"{base}/{name}" if getattr(rec, col) else None) for name, (col, _) in EVIDENCE_FILES.items()}
    return {"object": "room_alert", "id": rec.id, "room": rec.room, "participant": rec.participant,
            "stream_id": rec.stream_id, "at": iso(rec.at), "t_start": rec.t_start, "t_end": rec.t_end,
            "score": rec.score, "threshold": rec.threshold, "detector": rec.detector,
            "detector_version": rec.detector_version, "verdict": rec.verdict, "case_id": rec.case_id,
            "clip": {"start_s": rec.clip_start_s, "end_s": rec.clip_end_s},
            "evidence": evidence, "sha256": {name: getattr(rec, col) for name, (col, _) in EVIDENCE_FILES.items()},
            "processing_s": rec.processing_s}


def _store_blob(core: Any, data: bytes) -> str:
    with core.blobs.writing(max(len(data), 1)) as w:
        w.write(data)
        return str(core.blobs.commit(w))


def _review() -> Any:
    """The review module (issue 14) when it is installed in this tree, else None."""
    try:
        from ..review import cases
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("synthwatch.service.review"):
            return None
        raise
    return cases


def _reasons(alert: Alert, stream: LiveStream) -> list[dict[str, Any]]:
    return [{"trigger": "live_room", "basis": f"voice evidence {alert.score:.4f} reached the calibrated threshold "
                                              f"{alert.threshold:g} of {alert.detector}",
             "room": stream.room, "participant": stream.participant, "alert_id": alert.alert_id,
             "start_s": round(alert.t_start, 3), "end_s": round(alert.t_end, 3), "score": round(alert.score, 6)}]


def handle_alert(hub: RoomHub, stream: LiveStream, alert: Alert) -> None:
    core = hub.core
    principal = stream.principal
    event = alert.event(None)
    event["stream_id"] = stream.id
    report_doc: dict[str, Any] | None = None
    case_id: str | None = None
    try:
        monitor = hub.loaded_monitor
        assert monitor is not None
        flac = alert_flac(alert)
        report = alert_report(alert, monitor.kit, flac=flac)
        report_doc = report.to_dict()
        report_bytes = json.dumps(report_doc, ensure_ascii=False, indent=2).encode("utf-8")
        flac_sha = _store_blob(core, flac)
        report_sha = _store_blob(core, report_bytes)
        clip_end = alert.clip_start_s + alert.audio.size / 16_000.0
        values = {"id": alert.alert_id, "tenant_id": principal.tenant_id, "stream_id": stream.id, "room": stream.room,
                  "participant": stream.participant, "at": alert.at, "t_start": alert.t_start, "t_end": alert.t_end,
                  "score": alert.score, "threshold": alert.threshold, "detector": alert.detector,
                  "detector_version": alert.detector_version, "clip_start_s": alert.clip_start_s,
                  "clip_end_s": clip_end, "flac_sha256": flac_sha, "report_sha256": report_sha,
                  "timeline_sha256": None, "verdict": str(report.verdict.label), "case_id": None,
                  "processing_s": time.monotonic() - alert.due_at}
        with core.db.write() as conn:
            tenant = core.stores.tenants.get(conn, principal.tenant_id)
            assert tenant is not None
            retention = core.retention_s(tenant)
            core.stores.media.upsert(conn, tenant.id, flac_sha, len(flac), f"{alert.alert_id}-segment.flac", retention)
            core.stores.media.upsert(conn, tenant.id, report_sha, len(report_bytes), f"{alert.alert_id}-report.json",
                                     retention)
            store.insert_alert(conn, values)
            review = _review() if hub.opts.open_cases else None
            if review is not None:
                case_id = _open_case(review, core, conn, tenant, stream, alert,
                                     [("audio_segment", flac_sha, len(flac), "audio/flac", "segment.flac"),
                                      ("report", report_sha, len(report_bytes), "application/json", "report.json")])
                if case_id:
                    store.set_alert_case(conn, alert.alert_id, case_id)
            rec = store.get_alert(conn, tenant.id, alert.alert_id)
            assert rec is not None
            callback = tenant.settings.get("callback_url")
            if callback:
                enqueue_webhook(core.stores.webhooks, conn, tenant_id=tenant.id, tenant_name=tenant.name,
                                event="room.alert", object_id=alert.alert_id, url=callback,
                                data=alert_resource(rec), max_attempts=core.opts.webhook_max_attempts)
            record(core.stores.events, conn, Event("room.alert", "room_alert", alert.alert_id, tenant.id,
                                                   principal.key_id, principal.role, principal.source_ip,
                                                   {"room": stream.room[:200], "participant": stream.participant[:200],
                                                    "stream_id": stream.id, "t_start": alert.t_start,
                                                    "t_end": alert.t_end, "score": alert.score,
                                                    "threshold": alert.threshold, "case_id": case_id,
                                                    "segment_sha256": flac_sha, "report_sha256": report_sha}))
        event["case_id"] = case_id
        event["stored"] = True
    except Exception:  # noqa: BLE001 - the client must still hear about the alert
        log.exception("live-room alert %s could not be stored", alert.alert_id)
        event["stored"] = False
    finally:
        hub.count("alerts")
        if stream.speaker is not None:
            stream.speaker.set_case(alert.alert_id, case_id)
        stream.alert_handled(event, alert)
    if report_doc is not None and hub.opts.evidence_picture and event.get("stored"):
        with contextlib.suppress(RuntimeError):  # the service is stopping
            hub.picture_pool.submit(_picture, hub, stream, alert, report_doc, case_id)


def _open_case(review: Any, core: Any, conn: Any, tenant: Any, stream: LiveStream, alert: Alert,
               files: list[tuple[str, str, int, str, str]]) -> str | None:
    """Open (or join) the speaker's case by the tenant's review policy, in a savepoint: a policy
    that does not open live-room cases leaves the alert stored without one."""
    stored = [(review.Evidence(kind, sha256=sha, content_type=ctype, filename=name,
                               meta={"alert_id": alert.alert_id, "clip_start_s": alert.clip_start_s}), sha, size, ctype)
              for kind, sha, size, ctype, name in files]
    actor = review.Actor(stream.principal.key_id, stream.principal.role.value, stream.principal.source_ip)
    try:
        with conn.begin_nested():
            case, _ = review.open_case_in(core, conn, tenant, source="live_room", stored=stored,
                                          reasons=_reasons(alert, stream), join_key=case_join_key(stream.room,
                                                                                                 stream.participant),
                                          title=f"live room alert: {stream.participant} in {stream.room}"[:300],
                                          external_id=alert.alert_id, actor=actor)
    except review.ReviewError as exc:
        if getattr(exc, "code", "") != "policy_disabled":
            log.warning("no case for live-room alert %s: %s", alert.alert_id, exc)
        return None
    return str(case.id)


def _picture(hub: RoomHub, stream: LiveStream, alert: Alert, report_doc: dict[str, Any], case_id: str | None) -> None:
    """Draw the alert's timeline, store it, add it to the alert and its case."""
    from ...types import Report

    core = hub.core
    try:
        png = timeline_png(Report.from_dict(report_doc))
        sha = _store_blob(core, png)
        review = _review() if case_id else None
        with core.db.write() as conn:
            tenant = core.stores.tenants.get(conn, stream.principal.tenant_id)
            assert tenant is not None
            core.stores.media.upsert(conn, tenant.id, sha, len(png), f"{alert.alert_id}-timeline.png",
                                     core.retention_s(tenant))
            store.set_alert_timeline(conn, alert.alert_id, sha)
            if review is not None and case_id:
                _attach_to_case(review, core, conn, tenant, stream, alert, case_id, sha, len(png))
    except Exception:  # noqa: BLE001 - the alert and its case stand without the picture
        log.exception("the timeline of live-room alert %s could not be stored", alert.alert_id)


def _attach_to_case(review: Any, core: Any, conn: Any, tenant: Any, stream: LiveStream, alert: Alert, case_id: str,
                    sha: str, size: int) -> None:
    """Add the timeline to the case the alert opened, if that case is still the speaker's active one
    (joining by key; a case decided or closed since is left as it is)."""
    case = review.get_case(conn, tenant.id, case_id)
    if case is None or case.state == "closed":
        return
    ev = review.Evidence("timeline", sha256=sha, content_type="image/png", filename="timeline.png",
                         meta={"alert_id": alert.alert_id})

    class _Other(Exception):
        pass

    try:
        with conn.begin_nested():
            joined, _ = review.open_case_in(core, conn, tenant, source="live_room", stored=[(ev, sha, size, "image/png")],
                                            reasons=_reasons(alert, stream),
                                            join_key=case_join_key(stream.room, stream.participant),
                                            external_id=alert.alert_id, actor=review.Actor("system"))
            if str(joined.id) != case_id:
                raise _Other
    except (_Other, review.ReviewError):
        return
