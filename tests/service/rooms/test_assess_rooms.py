"""A live-audio-room self-assessment measures the rooms' own records (issue 16, A4): streams
monitored through the real WebSocket ingest are the coverage evidence and their alerts the alert
latency; A4.rooms_coverage, a finding on a store without streams (tests/service/test_assess.py),
passes once the room's speech is monitored."""

from __future__ import annotations

from collections.abc import Callable

from stream.conftest import fake_voice, speech
from synthwatch.assess.rules import parse_rules
from synthwatch.service.assessments import workflow as wf

from ..conftest import Env
from ..test_assess import criterion, rules_with, spec
from .conftest import START, settle, stream


def test_live_room_coverage_and_alerts_are_measured_from_the_rooms_records(rooms: Callable[..., Env]) -> None:
    env = rooms()
    events, code, _ = stream(env, "town-hall", "mallory", fake_voice(4.5), start={**START, "scores": True})
    assert code == 1000 and any(e["event"] == "alert" for e in events)
    events2, code2, _ = stream(env, "town-hall", "alice", speech(4.0))
    assert code2 == 1000
    settle(env)
    tenant = env.core.tenant_by_name("acme")
    rules = parse_rules(rules_with("A4"), "a4.yaml")
    rec = wf.create(env.core, tenant.id, spec(kind="live_audio_room"), wf.Actor("cli"), rules=rules)
    cov = rec.evidence["rooms.coverage"]
    assert cov.kind == "measured" and "room_streams" in cov.sources and cov.unavailable is None
    stopped = [e for e in events + events2 if e["event"] == "stopped"]
    assert cov.figures["streams"] == 2 and cov.figures["rooms"] == 1
    assert cov.figures["audio_s"] == round(sum(e["audio_s"] for e in stopped), 3)
    assert cov.figures["skipped_audio_s"] == 0 and cov.figures["speech_monitored_share_min"] == 1.0
    assert criterion(rec, "A4.rooms_coverage").status == "pass"
    alerts = rec.evidence["rooms.alerts"]
    assert alerts.figures["alerts"] == 1 and alerts.figures["with_case"] == 1
    assert alerts.figures["latency_p95_s"] is not None and alerts.figures["latency_p95_s"] >= 0
    assert rec.evidence["detection.quality"].figures["detectors_in_use"] >= 1  # the room's voice detector
