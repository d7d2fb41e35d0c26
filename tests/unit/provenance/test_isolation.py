"""Provenance operations that decode user files run in an isolated worker process: hostile files,
crashes, hangs and memory blow-ups give typed errors, leave no file behind, and the same (calling)
process then labels the next, good file."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from prov_media import copy

from synthwatch.errors import DecodeResourceError, DecodeTimeout, MediaError, SynthwatchError
from synthwatch.provenance import isolation, perth_watermark
from synthwatch.provenance.audible import add_audio_cue
from synthwatch.provenance.errors import CorruptContainer, ProvenanceError
from synthwatch.provenance.security_data import _digest_task, content_digest
from synthwatch.provenance.visible import burn_image_label
from synthwatch.provenance.visible_video import burn_video_label
from synthwatch.provenance.watermark import detect_image


@dataclass(frozen=True)
class Op:
    """One isolated operation: ``run(src, out_dir)`` returns something truthy on success."""

    name: str
    kind: str  # "video" | "audio" | "image": which good / hostile files it takes
    transcode: bool  # runs under the transcode limits (else the decode limits)
    run: Callable[[Path, Path], Any]


def _perth_embed_or_decode(src: Path, out: Path) -> Any:
    if perth_watermark.available():
        return perth_watermark.embed_file(src, out / "o.wav")
    return perth_watermark._decode_audio(src, 10.0, mono=False)[0].size  # the part that runs isolated


OPS = [
    Op("visible_video", "video", True, lambda src, out: burn_video_label(src, out / "o.mp4").frames),
    Op("audio_cue", "audio", True, lambda src, out: add_audio_cue(src, out / "o.flac").cue_seconds),
    Op("visible_image", "image", True, lambda src, out: burn_image_label(src, out / "o.png").font_size),
    Op("content_digest", "video", False, lambda src, out: content_digest(src)),
    Op("sd_watermark", "image", False, lambda src, out: detect_image(src)["checked"]),
    Op("perth_decode", "audio", False, _perth_embed_or_decode),
]
IDS = [op.name for op in OPS]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, media: dict[str, Path]) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("isolation_good")
    rng = np.random.default_rng(0)
    image = d / "good.png"
    Image.fromarray(rng.integers(0, 256, (320, 320, 3), dtype=np.uint8)).save(image)
    audio = d / "good.flac"
    t = np.arange(32000) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(t.size)
    sf.write(audio, tone.astype(np.float32), 16000)
    return {"video": media["mp4"], "audio": audio, "image": image}


@pytest.fixture(autouse=True)
def _no_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation, "_FAULT", None)


def _hostile(kind: str, good: Path, d: Path) -> dict[str, Path]:
    """Files that sniff as ``kind`` (or claim to by their name) and cannot be decoded."""
    data = good.read_bytes()
    ext = good.suffix
    files = {
        "truncated": data[: len(data) // 3] if kind == "video" else data[:400],
        "header_then_random": data[:32] + np.random.default_rng(1).bytes(20_000),
        "random_bytes": np.random.default_rng(2).bytes(20_000),
        "zero_bytes": b"",
    }
    out = {}
    for name, body in files.items():
        p = d / f"{name}{ext}"
        p.write_bytes(body)
        out[name] = p
    return out


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir())


def _ready(op: Op, request: pytest.FixtureRequest) -> None:
    if op.name.startswith("visible"):
        request.getfixturevalue("font")  # skips without a CJK font


def _labels_a_good_file(op: Op, good: dict[str, Path], tmp_path: Path) -> None:
    """The same process goes on: the good file is processed, in a healthy worker."""
    out = tmp_path / "next"
    out.mkdir(exist_ok=True)
    assert op.run(good[op.kind], out)
    assert all(not name.startswith(".") for name in _leftovers(out))


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_hostile_files_give_typed_errors(op: Op, good: dict[str, Path], request: pytest.FixtureRequest,
                                         tmp_path: Path) -> None:
    _ready(op, request)
    src_dir = tmp_path / "in"
    src_dir.mkdir()
    for case, path in _hostile(op.kind, good[op.kind], src_dir).items():
        out = tmp_path / f"out-{case}"
        out.mkdir()
        with pytest.raises((MediaError, ProvenanceError)) as err:
            op.run(path, out)
        assert isinstance(err.value, SynthwatchError), case
        assert _leftovers(out) == [], case  # no output, no temporary file
    _labels_a_good_file(op, good, tmp_path)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_a_crash_is_a_typed_error(op: Op, good: dict[str, Path], request: pytest.FixtureRequest,
                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _ready(op, request)
    # as if FFmpeg segfaulted on the file: the worker dies by SIGSEGV, the caller does not
    monkeypatch.setattr(isolation, "_FAULT", "crash")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DecodeResourceError) as err:
        op.run(good[op.kind], out)
    assert "SIGSEGV" in str(err.value) and isolation.ROLE in str(err.value)
    assert "died while" in str(err.value)  # the message names the operation
    assert _leftovers(out) == []  # the temporary output of the killed worker was removed
    monkeypatch.setattr(isolation, "_FAULT", None)
    _labels_a_good_file(op, good, tmp_path)


def _limits(**kw: float):  # type: ignore[no-untyped-def]
    """The caller's provenance scope with these limits (what the scanner and the label commands open
    from the settings; nothing below them reads the environment)."""
    from synthwatch.config import Limits
    from synthwatch.provenance.scope import ProvenanceScope, use

    return use(ProvenanceScope(limits=Limits(**kw)))


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_a_hang_is_cut_by_the_time_limit(op: Op, good: dict[str, Path], request: pytest.FixtureRequest,
                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _ready(op, request)
    # the worker never answers: the caller's wall-clock budget (from the caller's scope) stops it
    monkeypatch.setattr(isolation, "_FAULT", "hang")
    isolation.warm_up()
    before = set(isolation.worker_pids())
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DecodeTimeout) as err, _limits(transcode_timeout_s=0.5, decode_timeout_s=0.5):
        op.run(good[op.kind], out)
    assert "0.5 s" in str(err.value)
    assert _leftovers(out) == []
    assert before - set(isolation.worker_pids())  # the hung worker was stopped
    monkeypatch.setattr(isolation, "_FAULT", None)
    _labels_a_good_file(op, good, tmp_path)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_a_tiny_time_limit_is_enforced(op: Op, good: dict[str, Path], request: pytest.FixtureRequest,
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _ready(op, request)
    # a real file against a budget no worker can meet: the limit comes from the caller's scope
    setting = "transcode_timeout_s" if op.transcode else "decode_timeout_s"
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DecodeTimeout), _limits(**{setting: 1e-6}):
        op.run(good[op.kind], out)
    assert _leftovers(out) == []
    _labels_a_good_file(op, good, tmp_path)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_running_out_of_memory_is_a_typed_error(op: Op, good: dict[str, Path], request: pytest.FixtureRequest,
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _ready(op, request)
    # as if the file made FFmpeg allocate without bound: the cap (RLIMIT_AS) stops the worker
    monkeypatch.setattr(isolation, "_FAULT", "oom")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DecodeResourceError) as err:
        op.run(good[op.kind], out)
    setting = "transcode_memory_mb" if op.transcode else "decode_memory_mb"
    assert "out of memory" in str(err.value) and setting in str(err.value)
    assert _leftovers(out) == []
    monkeypatch.setattr(isolation, "_FAULT", None)
    _labels_a_good_file(op, good, tmp_path)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_a_cap_below_the_worker_is_refused(op: Op, good: dict[str, Path], request: pytest.FixtureRequest,
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _ready(op, request)
    setting = "transcode_memory_mb" if op.transcode else "decode_memory_mb"
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DecodeResourceError) as err, _limits(**{setting: 65}):
        op.run(good[op.kind], out)
    assert setting in str(err.value)
    assert _leftovers(out) == []
    _labels_a_good_file(op, good, tmp_path)


def test_a_real_allocation_over_the_cap(font: str, good: dict[str, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # drawing on a 7000x7000 image needs ~200 MB per RGBA copy; the cap leaves the worker 120 MB
    big = tmp_path / "big.png"
    Image.new("L", (7000, 7000), 128).save(big, compress_level=1)
    cap = int(isolation.worker_vm_mb()) + 120
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DecodeResourceError), _limits(transcode_memory_mb=cap):
        burn_image_label(big, out / "o.png")
    assert _leftovers(out) == []
    assert burn_image_label(good["image"], out / "o.png").font_size > 0


def test_the_worker_is_a_fresh_interpreter(good: dict[str, Path]) -> None:
    assert content_digest(good["image"]).startswith("sm3:")
    pids = isolation.worker_pids()
    assert pids and os.getpid() not in pids
    for pid in pids:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"-P" in argv and argv[argv.index(b"-P") + 3].endswith(b"_isolated_worker.py")


def test_the_digest_is_the_one_computed_in_process(media: dict[str, Path]) -> None:
    for name, fmt in (("mp4", "mp4"), ("wav", "wav"), ("png", "png"), ("webm", "webm")):
        assert content_digest(media[name]) == _digest_task(str(media[name]), fmt)


def test_worker_errors_carry_their_traceback(good: dict[str, Path], tmp_path: Path) -> None:
    from synthwatch.media.sandbox import RemoteTraceback

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(good["video"].read_bytes()[:2000])
    with pytest.raises(CorruptContainer) as err:
        content_digest(bad)
    assert isinstance(err.value.__cause__, RemoteTraceback) and "Traceback" in err.value.__cause__.tb


def test_label_apply_visible_survives_a_crash(font: str, media: dict[str, Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from synthwatch.cli.label import app

    src = copy(media["mp4"], tmp_path / "in.mp4")
    out = tmp_path / "out.mp4"
    monkeypatch.setattr(isolation, "_FAULT", "crash")
    r = CliRunner().invoke(app, ["apply", str(src), "--out", str(out), "--producer", "P", "--visible"])
    assert r.exit_code == 4 and "decode_resource" in r.output and "SIGSEGV" in r.output
    assert _leftovers(tmp_path) == ["in.mp4"]
    monkeypatch.setattr(isolation, "_FAULT", None)
    r = CliRunner().invoke(app, ["apply", str(src), "--out", str(out), "--producer", "P", "--visible"])
    assert r.exit_code == 0, r.output
    assert _leftovers(tmp_path) == ["in.mp4", "out.mp4"]


def test_inspect_degrades_when_the_digest_worker_dies(media: dict[str, Path], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("gmssl", reason="gmssl is not installed")
    from synthwatch.provenance import apply_label, generate_sm2_key, inspect

    signed = tmp_path / "s.wav"
    apply_label(media["wav"], signed, producer="PROD", security_key=generate_sm2_key())
    monkeypatch.setattr(isolation, "_FAULT", "crash")
    section = inspect(signed, audio_watermark=False)  # never raises for a problem with the file
    sec = section["aigc"]["label"]["security"]
    assert sec["verified"] is False and "content digest could not be computed" in sec["reason"]
    monkeypatch.setattr(isolation, "_FAULT", None)
    assert inspect(signed, audio_watermark=False)["aigc"]["label"]["security"]["verified"] is True


def test_c2pa_is_read_in_the_worker_and_a_crash_there_only_costs_that_section(
        media: dict[str, Path], pki: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The C2PA library (native code) parses the file in the isolated worker: if it dies there,
    inspect() records the error in its errors list and every other signal is still read."""
    from synthwatch.provenance import inspect
    from synthwatch.provenance.c2pa_manifest import read_c2pa, sign_c2pa

    signed = tmp_path / "signed.jpg"
    sign_c2pa(media["jpeg"], signed, pki["signer"], digital_source_type="trainedAlgorithmicMedia")
    assert read_c2pa(signed)["present"] is True
    monkeypatch.setattr(isolation, "_FAULT", "crash")
    with pytest.raises(DecodeResourceError, match="reading the C2PA manifest"):
        read_c2pa(signed)
    section = inspect(signed)
    assert section["format"] == "jpeg" and section["c2pa"]["state"] is None  # not validated
    assert section["c2pa"]["present"] is True  # (the JUMBF box itself is seen by the metadata reader)
    c2pa_errors = [e for e in section["errors"] if e["where"] == "c2pa"]
    assert len(c2pa_errors) == 1 and "SIGSEGV" in c2pa_errors[0]["message"]
    assert section["watermarks"].get("error")  # the other isolated check failed the same way, typed
    monkeypatch.setattr(isolation, "_FAULT", None)
    again = inspect(signed)
    assert again["c2pa"]["state"] in ("Valid", "Trusted") and again["errors"] == []


def test_c2pa_signing_runs_in_the_worker_and_a_crash_leaves_no_file(
        media: dict[str, Path], pki: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from synthwatch.provenance.c2pa_manifest import sign_c2pa

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(isolation, "_FAULT", "crash")
    with pytest.raises(DecodeResourceError, match="SIGSEGV"):
        sign_c2pa(media["jpeg"], out / "signed.jpg", pki["signer"], digital_source_type="trainedAlgorithmicMedia")
    assert _leftovers(out) == []
    monkeypatch.setattr(isolation, "_FAULT", None)
    result = sign_c2pa(media["jpeg"], out / "signed.jpg", pki["signer"], digital_source_type="trainedAlgorithmicMedia")
    assert result["present"] is True and _leftovers(out) == ["signed.jpg"]


def test_the_label_commands_take_their_limits_from_the_settings(font: str, good: dict[str, Path], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI is the caller: it reads the settings (environment) once and opens the scope."""
    from typer.testing import CliRunner

    from synthwatch.cli.label import app

    monkeypatch.setenv("SYNTHWATCH_LIMITS__TRANSCODE_TIMEOUT_S", "1e-6")
    out = tmp_path / "o.png"
    r = CliRunner().invoke(app, ["apply", str(good["image"]), "--out", str(out), "--producer", "P", "--visible"])
    assert r.exit_code == 4 and "decode_timeout" in r.output and not out.exists()
    monkeypatch.delenv("SYNTHWATCH_LIMITS__TRANSCODE_TIMEOUT_S")
    r = CliRunner().invoke(app, ["apply", str(good["image"]), "--out", str(out), "--producer", "P", "--visible"])
    assert r.exit_code == 0 and out.exists()
