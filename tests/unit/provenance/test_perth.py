"""Resemble Perth audio watermark (optional ``perth`` extra): embed into speech-like audio, detect it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from prov_media import speech_like

from synthwatch.errors import ModelIntegrityError
from synthwatch.provenance import inspect
from synthwatch.provenance import perth_watermark as perth

pytestmark = pytest.mark.skipif(
    not perth.available(),
    reason="the perth extra is not installed (pip install 'synthwatch[perth]': resemble-perth weights + torch)")


@pytest.fixture(scope="module")
def wm() -> perth.PerthWatermarker:
    return perth.get_watermarker()


@pytest.mark.parametrize("rate", [16000, 44100])
def test_embed_then_detect(rate: int, wm: perth.PerthWatermarker) -> None:
    clean = speech_like(rate, 4.0, seed=1)
    marked = wm.embed(clean, rate)
    assert marked.shape == clean.shape and np.abs(marked).max() <= 1.0
    snr = 10 * np.log10(np.sum(clean ** 2) / np.sum((marked - clean) ** 2))
    assert snr > 10  # the mark is a small change to the signal
    assert wm.score(marked, rate) >= 0.9
    assert wm.score(clean, rate) < 0.1
    stereo = wm.embed(np.stack([clean, speech_like(rate, 4.0, seed=2)]), rate)
    assert stereo.shape == (2, len(clean)) and wm.score(stereo, rate) >= 0.9


def test_files_signals_and_decision(tmp_path: Path) -> None:
    src = tmp_path / "speech.wav"
    sf.write(src, speech_like(16000, 4.0, seed=3), 16000, subtype="PCM_16")
    marked = tmp_path / "marked.wav"
    info = perth.embed_file(src, marked)
    assert info["sample_rate"] == 16000 and info["channels"] == 1
    hit = perth.detect_file(marked)
    assert hit["found"] and hit["score"] >= 0.9 and hit["name"] == "resemble-perth"
    assert not perth.detect_file(src)["found"]
    section = inspect(marked)  # a found watermark is Art. 6 case 3 for an unlabelled upload
    assert section["watermarks"]["found"] and section["watermarks"]["names"] == ["resemble-perth"]
    assert section["decision"]["label"] == "3" and section["decision"]["rule"] == "art6.3-watermark"
    clean = inspect(src)
    assert not clean["watermarks"]["found"] and clean["decision"]["label"] is None
    assert inspect(marked, audio_watermark=False)["watermarks"]["found"] is False
    from typer.testing import CliRunner

    from synthwatch.cli.label import app

    r = CliRunner().invoke(app, ["check", str(marked), str(src)])
    assert r.exit_code == 0 and "resemble-perth: FOUND" in r.output and "resemble-perth: not found" in r.output
    flac = tmp_path / "marked.flac"
    perth.embed_file(src, flac)
    assert perth.detect_file(flac)["found"]


def test_tones_are_not_applicable(tmp_path: Path) -> None:
    rate = 16000
    tone = (0.3 * np.sin(2 * np.pi * 100 * np.arange(4 * rate) / rate)).astype(np.float32)
    path = tmp_path / "tone.wav"
    sf.write(path, tone, rate)
    hit = perth.detect_file(path)  # the raw decoder scores a clean 100 Hz tone near 1.0
    assert not hit["found"] and "narrow-band" in hit["not_applicable"]


def test_refusals(tmp_path: Path, media: dict[str, Path]) -> None:
    fake = tmp_path / "weights.pth.tar"
    fake.write_bytes(b"not the weights")
    with pytest.raises(ModelIntegrityError):
        perth.PerthWatermarker(fake)
    from synthwatch.provenance.errors import UnsupportedCarrier

    with pytest.raises(UnsupportedCarrier):
        perth.embed_file(media["wav"], tmp_path / "x.mp3")
    with pytest.raises(UnsupportedCarrier):
        perth.get_watermarker().score(np.zeros(100, np.float32), 16000)
    assert inspect(media["png"])["watermarks"].get("reason", "").startswith("image smaller")
