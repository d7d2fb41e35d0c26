"""sw-voice: the shipped ONNX and card, integrity checks, the detector contract, and that it scores
generated audio. The last test needs ../shared (LibriSpeech test speakers) and the train extra."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from synthwatch.detectors.audio import sw_voice as sv
from synthwatch.detectors.audio.sw_voice import MODEL, ONNX_FILE, SwVoice
from synthwatch.detectors.registry import create
from synthwatch.errors import DetectorError, ModelIntegrityError, ModelNotInstalled
from synthwatch.models import packaged
from synthwatch.models.card import packaged_card
from synthwatch.models.store import ModelStore
from synthwatch.pipeline import fusion
from synthwatch.types import DetectorResult, DetectorStatus

REPO = Path(__file__).resolve().parents[3]
LIBRI = REPO.parent / "shared" / "data" / "speech-real" / "librispeech-train-clean-100"
WEIGHTS = resources.files("synthwatch.models") / "weights" / "sw-voice"


def _weights_dir() -> Path:
    p = Path(str(WEIGHTS))
    assert p.is_dir(), f"shipped weights folder missing: {p}"
    return p


def _store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "home")


def test_card_is_packaged_pins_every_file_and_is_a_default() -> None:
    card = packaged_card(MODEL)
    assert card.resolver("package") is not None
    assert card.file == ONNX_FILE and card.sha256
    assert set(card.pinned) == set(card.files)
    assert packaged.verify_packaged(card) == {}
    assert card.default is True and create("sw-voice").info.default is True
    assert 0.0 < card.threshold < 1.0 and "validation" in card.threshold_source
    assert "espnet" not in card.threshold_source.replace("Never seen: speech-dev/espnet-tts-sample", "")
    shipped = {p.name for p in _weights_dir().iterdir() if p.is_file()}
    assert shipped == set(card.files), "every shipped file is pinned by the card and nothing else ships"


def test_a_tampered_onnx_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "sw-voice"
    shutil.copytree(_weights_dir(), copy)
    data = bytearray((copy / ONNX_FILE).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / ONNX_FILE).write_bytes(bytes(data))
    monkeypatch.setattr(packaged, "packaged_dir", lambda card: copy)
    with pytest.raises(ModelIntegrityError):
        SwVoice().load(_store(tmp_path))
    (copy / ONNX_FILE).unlink()
    with pytest.raises(ModelNotInstalled):
        SwVoice().load(_store(tmp_path))


def test_loads_without_the_store_and_scores_in_unit_range(tmp_path: Path) -> None:
    det = SwVoice()
    det.load(_store(tmp_path))  # nothing installed: the weights ship in the package
    items = det.examples()
    scores = det.score(items)
    assert scores.shape == (len(items),) and scores.dtype == np.float32
    assert np.all((scores >= 0) & (scores <= 1))
    # preprocess is the documented numpy front end; detect is deterministic
    np.testing.assert_array_equal(det.preprocess(items[0]), sv.voice_features(items[0]))
    np.testing.assert_array_equal(det.score(items), scores)
    with pytest.raises(DetectorError):
        det.detect(np.zeros((1, 3, 3), np.float32))
    with pytest.raises(DetectorError):
        det.preprocess(np.full(100, np.nan, np.float32))


def _ens_result(name: str, score: float, thr: float = 0.5) -> DetectorResult:
    return DetectorResult(name=name, version="1", modality="audio", status=DetectorStatus.OK, score=score,
                          threshold=thr)


def test_ensemble_weights_ship_and_fusion_uses_them() -> None:
    card = packaged_card(MODEL)
    ens = json.loads(packaged.read_packaged(card, "sw_voice_ensemble.json"))
    assert ens["schema"] == "synthwatch.sw-voice.ensemble/1" and ens["combinations"]
    assert fusion.load_ensemble() == ens
    combo_name, combo = next(iter(ens["combinations"].items()))
    members = combo["members"]
    results = [_ens_result(m, 0.9) for m in members] + [_ens_result("sw-image", 0.1)]
    out = fusion.apply_ensemble(results, ens)
    names = [r.name for r in out]
    assert fusion.ENSEMBLE_NAME in names and not set(members) & set(names) and "sw-image" in names
    z = combo["bias"] + sum(w * np.log(0.9 / 0.1) for w in combo["weights"])
    got = next(r for r in out if r.name == fusion.ENSEMBLE_NAME)
    assert got.score == pytest.approx(1 / (1 + np.exp(-z)), rel=1e-6) and got.threshold == combo["threshold"]
    # sw-voice alone, or without weights: members stay as they are
    alone = [_ens_result("sw-voice", 0.7), _ens_result("clip-probe", 0.2)]
    assert fusion.apply_ensemble(alone, ens) == alone
    assert fusion.apply_ensemble(results, {"combinations": {}}) == results


@pytest.mark.shared_data
def test_scores_resyntheses_of_held_out_speakers_above_their_originals(tmp_path: Path) -> None:
    """On LibriSpeech speakers of the TEST split (never trained or calibrated on), Griffin-Lim and
    WORLD re-syntheses made now score higher on average than the same utterances."""
    if not LIBRI.is_dir():
        pytest.skip(f"../shared data is absent: {LIBRI}")
    pytest.importorskip("scipy", reason="the train extra is not installed")
    from synthwatch.train.voice import data, generators
    from synthwatch.train.voice.train import load_audio

    for fam in ("griffinlim", "world"):
        if generators.tool_missing(fam):
            pytest.skip(generators.tool_missing(fam) or "")
    files = sorted(p.relative_to(LIBRI.parent.parent).as_posix() for p in LIBRI.glob("*.flac"))
    split = data.speaker_splits(files)
    test_files = [f for f in files if split[Path(f).name.split("-")[0]] == "test"][:6]
    assert len(test_files) == 6
    det = SwVoice()
    det.load(_store(tmp_path))
    reals = [load_audio(LIBRI.parent.parent / f)[:5 * 16_000] for f in test_files]
    rng = np.random.default_rng(0)
    fakes = [generators.griffinlim(x, rng)[0] for x in reals] + [generators.world(x, rng)[0] for x in reals]
    s_real, s_fake = det.score(reals), det.score(fakes)
    assert float(s_fake.mean()) > float(s_real.mean())
    assert float(np.mean(s_fake[:, None] > s_real[None, :])) > 0.75  # pairwise AUC on these items
