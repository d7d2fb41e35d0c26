"""The published JSON Schema of ``synthwatch.report/1`` and ``Report.from_dict``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthwatch import Scanner
from synthwatch.render.schema import report_schema, validate_report
from synthwatch.testing import samples
from synthwatch.types import REPORT_SCHEMA, Report

PUBLISHED = Path(__file__).resolve().parents[3] / "docs" / "report.schema.json"


def test_the_published_schema_file_is_the_code_schema() -> None:
    assert json.loads(PUBLISHED.read_text(encoding="utf-8")) == report_schema(), \
        "regenerate docs/report.schema.json from synthwatch.render.schema.report_schema()"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> list[Report]:
    d = tmp_path_factory.mktemp("schema")
    scanner = Scanner(detectors=["debug-image", "debug-face", "debug-voice"])
    files = [samples.make_image(d / "face.png", size=(320, 240), seed=1),
             samples.make_speech(d / "speech.wav", seconds=5.0, seed=2),
             samples.make_video(d / "clip.mp4", seconds=2.0, size=(320, 240), fps=25, seed=3)]
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    files.append(d / "broken.jpg")
    return [scanner.scan(f) for f in files]


def test_reports_of_every_kind_validate_and_round_trip(reports: list[Report]) -> None:
    kinds = {r.media.kind.value for r in reports if r.media}
    assert kinds == {"image", "audio", "video"} and any(r.error for r in reports)
    for r in reports:
        doc = r.to_dict()
        validate_report(doc)
        back = Report.from_dict(json.loads(json.dumps(doc)))
        assert back.to_dict() == doc
        assert back.verdict.label == r.verdict.label and len(back.detectors) == len(r.detectors)


def test_a_video_report_keeps_its_faces_and_segments(reports: list[Report]) -> None:
    video = next(r for r in reports if r.media and r.media.kind.value == "video")
    back = Report.from_dict(video.to_dict())
    assert [len(t.boxes) for t in back.faces] == [len(t.boxes) for t in video.faces]
    assert back.segments == tuple(type(s).from_dict(s.to_dict()) for s in video.segments)


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda d: d.update(schema="other/1"), "schema"),
    (lambda d: d["verdict"].update(label="maybe"), "verdict/label"),
    (lambda d: d["detectors"][0].update(score=1.5), "detectors/0/score"),
    (lambda d: d["media"].update(sha256="xyz"), "media/sha256"),
    (lambda d: d.pop("segments"), "(root)"),
])
def test_invalid_documents_are_refused_with_the_place(reports: list[Report], mutate, where: str) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(json.dumps(reports[0].to_dict()))
    if not doc["detectors"] or doc["detectors"][0]["score"] is None:
        doc["detectors"][0]["score"] = 0.5
    mutate(doc)
    with pytest.raises(ValueError, match=where.replace("(", r"\(").replace(")", r"\)")):
        validate_report(doc)


def test_from_dict_refuses_another_schema() -> None:
    with pytest.raises(ValueError, match=REPORT_SCHEMA):
        Report.from_dict({"schema": "x"})
