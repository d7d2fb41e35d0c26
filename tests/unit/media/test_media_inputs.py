"""How user files are opened, named and bounded: names are never URLs, never markup, always valid
Unicode in reports; every input fault has one classification; junk after the media, silence, NaN
samples and images at the pixel limit cost what they should."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from synthwatch.config import Limits
from synthwatch.errors import CorruptMedia, DecodeResourceError, DecodeTimeout, MediaError, UnsupportedMedia
from synthwatch.media import (
    MEDIA_SUFFIXES,
    _worker,
    check_file,
    display_name,
    input_error,
    iter_audio,
    iter_frames,
    kind_of_suffix,
    load_image,
    name_from_display,
    open_input,
    open_source,
    probe,
    read_audio,
    sandbox,
    sniff,
)
from synthwatch.media.items import SILENCE_PEAK, AudioWindow
from synthwatch.media.sniff import FORMATS, SUFFIX_FORMATS
from synthwatch.testing import samples
from synthwatch.types import MediaKind


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return samples.make_video(tmp_path_factory.mktemp("inputs") / "v.mp4", seconds=2.0, size=(96, 64), fps=10)


# ----------------------------------------------------------------------------------------------
# names: one lossless escape, valid Unicode


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=40))
def test_any_posix_name_round_trips(raw: bytes) -> None:
    shown = display_name(raw)
    shown.encode("utf-8")  # always valid UTF-8
    assert os.fsencode(name_from_display(shown)) == raw


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=40))
def test_any_str_name_round_trips(name: str) -> None:
    shown = display_name(name)
    shown.encode("utf-8")
    assert name_from_display(shown) == name


def test_name_escape_examples() -> None:
    assert display_name(b"caf\xe9.jpg") == "caf\\xe9.jpg"
    assert display_name("a\\b.jpg") == "a\\\\b.jpg"
    assert display_name("[link=file:/etc/passwd]x[/link].jpg") == "[link=file:/etc/passwd]x[/link].jpg"
    assert display_name("日本語 :smile:.mp4") == "日本語 :smile:.mp4"
    with pytest.raises(ValueError):
        name_from_display("a\\qb")


def test_a_non_utf8_name_is_reported_escaped_and_decodes(clip: Path, tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/\xff\xfeclip.mp4"
    shutil.copyfile(clip, raw)
    with open_source(Path(os.fsdecode(raw))) as src:  # bytes would be the media itself, not a name
        assert src.name.endswith("/\\xff\\xfeclip.mp4")
        src.name.encode("utf-8")
        assert os.fsencode(name_from_display(src.name)) == raw
        assert probe(src.path).kind is MediaKind.VIDEO
        assert len(list(iter_frames(src.path))) == 2


# ----------------------------------------------------------------------------------------------
# names are never FFmpeg URLs


@pytest.mark.parametrize("name", ["concat:a.mp4|b.mp4", "subfile,,start,0,end,64,,:x.mp4", "http:example.mp4",
                                  "pipe:0", "file:other.mp4", "-i x.mp4", "$(touch pwned).mp4", "`id`;|&<>.mp4"])
def test_protocol_and_shell_names_are_plain_files(clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  name: str) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(clip, tmp_path / name)
    assert probe(name).duration_s == pytest.approx(2.0, abs=0.2)  # a relative name, exactly as a user gives it
    assert len(list(iter_frames(name))) == 2
    assert read_audio(name).size > 0
    assert sorted(os.listdir(tmp_path)) == [name]  # nothing else was read or written


def test_the_worker_never_hands_a_name_to_ffmpeg(clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("a.mp4", "b.mp4", "concat:a.mp4|b.mp4"):
        shutil.copyfile(clip, tmp_path / name)
    with _worker.open_av("concat:a.mp4|b.mp4", "mov") as c:  # one 2 s file, not two concatenated
        assert float(c.duration) / 1e6 == pytest.approx(2.0, abs=0.2)
    assert _worker.file_url("http://x/y.mp4") == "file:" + str(tmp_path / "http:") + "/x/y.mp4"


# ----------------------------------------------------------------------------------------------
# one classification of each input fault


def _faults(tmp_path: Path) -> dict[str, tuple[Path, type[MediaError], str]]:
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    fifo = tmp_path / "fifo.mp4"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    return {
        "missing": (tmp_path / "nope.mp4", MediaError, "no such file"),
        "symlink loop": (loop, MediaError, "symbolic link loop"),
        "fifo": (fifo, UnsupportedMedia, "FIFO"),
        "directory": (folder, UnsupportedMedia, "directory"),
        "device": (Path("/dev/null"), UnsupportedMedia, "character device"),
    }


def test_every_entry_point_classifies_a_fault_the_same_way(tmp_path: Path) -> None:
    for what, (path, cls, words) in _faults(tmp_path).items():
        seen = []
        for fn in (open_input, sniff, lambda p: check_file(p, Limits()), probe, load_image, iter_frames, iter_audio):
            t0 = time.monotonic()
            with pytest.raises(MediaError) as info:
                fn(path)
            assert time.monotonic() - t0 < 5.0, what  # a FIFO is never waited on
            seen.append((type(info.value), info.value.code))
            assert words in str(info.value), (what, str(info.value))
        assert set(seen) == {(cls, cls.code)}, (what, seen)


def test_input_error_table() -> None:
    cases = {errno.ENOENT: "no such file", errno.ELOOP: "symbolic link loop", errno.EACCES: "permission denied",
             errno.EISDIR: "directory", errno.ENAMETOOLONG: "too long", errno.EIO: "cannot read"}
    for code, words in cases.items():
        err = input_error(b"x\xff", OSError(code, os.strerror(code)))
        assert words in str(err) and "x\\xff" in str(err)
        assert isinstance(err, UnsupportedMedia) == (code == errno.EISDIR)


# ----------------------------------------------------------------------------------------------
# one list of suffixes


def test_every_format_has_suffixes_and_suffixes_are_hints_only() -> None:
    assert set(SUFFIX_FORMATS.values()) == set(FORMATS)
    assert {".jpg", ".png", ".wav", ".opus", ".mp4", ".m4v", ".webm"} <= MEDIA_SUFFIXES
    assert kind_of_suffix("a/b.MP4") is MediaKind.VIDEO and kind_of_suffix("x.opus") is MediaKind.AUDIO
    assert kind_of_suffix("dir.mp4/file") is None and kind_of_suffix("noext") is None


# ----------------------------------------------------------------------------------------------
# audio: NaN samples, silence, junk tails


def test_nan_and_infinite_samples_are_corrupt_media(tmp_path: Path) -> None:
    for bad in (np.nan, np.inf, -np.inf):
        x = np.zeros(16_000, np.float32)
        x[8000] = bad
        path = tmp_path / f"bad{bad}.wav"
        sf.write(path, x, 16_000, subtype="FLOAT")
        with pytest.raises(CorruptMedia, match="not finite"):
            list(iter_audio(path))
        with pytest.raises(CorruptMedia, match="not finite"):
            read_audio(path)


def test_nan_pixels_are_corrupt_media(tmp_path: Path) -> None:
    a = np.ones((32, 32), np.float32)
    a[3, 3] = np.nan
    path = tmp_path / "nan.tiff"
    Image.fromarray(a, mode="F").save(path)
    with pytest.raises(CorruptMedia, match="not finite"):
        load_image(path)


def _silence_and_noise(tmp_path: Path, seconds: float, rate: int) -> tuple[Path, Path, Path]:
    n = int(seconds * rate)
    silent = tmp_path / "silent.flac"
    sf.write(silent, np.zeros(n, np.int16), rate, subtype="PCM_16")
    dither = tmp_path / "dither.flac"
    rng = np.random.default_rng(0)
    sf.write(dither, rng.integers(-1, 2, n).astype(np.int16), rate, subtype="PCM_16")
    noise = tmp_path / "noise.flac"
    sf.write(noise, (rng.standard_normal(n) * 3000).astype(np.int16), rate, subtype="PCM_16")
    return silent, dither, noise


def test_silent_windows_are_flagged_with_exact_timing(tmp_path: Path) -> None:
    silent, dither, noise = _silence_and_noise(tmp_path, 30.5, 8000)
    ws, wd, wn = (list(iter_audio(p)) for p in (silent, dither, noise))
    assert [(w.start_s, w.end_s, w.samples.size) for w in ws] == [(w.start_s, w.end_s, w.samples.size) for w in wn]
    assert len(ws) == 8 and ws[-1].end_s == pytest.approx(30.5)
    assert all(w.silent and w.peak == 0.0 and not w.samples.any() and w.samples.dtype == np.float32 for w in ws)
    assert all(w.silent and 0 < w.level <= SILENCE_PEAK for w in wd)  # dither: inaudible, still silent
    assert not any(w.silent for w in wn)
    loud = AudioWindow(0.0, 1.0, np.full(16_000, 0.2, np.float32))  # made by a caller: measured on demand
    assert loud.peak is None and not loud.silent and loud.level == pytest.approx(0.2)


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3", ".ogg"])
def test_a_sparse_tail_costs_nothing(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"speech{suffix}"
    samples.make_speech(path, seconds=3.0)
    clean = [(w.start_s, w.end_s) for w in iter_audio(path)]
    size = path.stat().st_size
    with open(path, "ab") as f:
        f.truncate(size + (2 << 30))  # 2 GiB of zeros that take no disk space
    limits = Limits(max_bytes=4 << 30, decode_timeout_s=60)
    got = [(w.start_s, w.end_s) for w in iter_audio(path, limits)]
    assert got == clean


# ----------------------------------------------------------------------------------------------
# images: inside the pixel limit means decodable under the memory cap


def test_the_default_limits_fit_each_other() -> None:
    lim = Limits()
    side = int(lim.max_pixels ** 0.5)
    worst = _worker._decode_bytes(side, side, "RGBA", oriented=True)  # 4 bytes in Pillow + RGB + a rotated copy
    assert worst + sandbox.worker_vm_mb() * 2**20 < lim.decode_memory_mb * 2**20


@pytest.mark.slow
def test_an_image_at_the_pixel_limit_decodes_under_the_default_cap(tmp_path: Path) -> None:
    side = int(Limits().max_pixels ** 0.5)  # 8944 x 8944 RGBA: 79.99 Mpx
    a = np.zeros((side, side, 4), np.uint8)
    a[..., 0] = np.arange(side, dtype=np.uint32)[None, :] % 256
    a[..., 3] = 255
    a[::97, :, 3] = 0  # transparent rows: composited over white
    path = tmp_path / "limit.png"
    Image.fromarray(a, "RGBA").save(path, compress_level=1)
    del a
    out = load_image(path)
    assert out.shape == (side, side, 3)
    assert out[0, 5].tolist() == [255, 255, 255] and out[1, 5].tolist() == [5, 0, 0]


def test_a_lower_cap_scales_jpeg_down_and_refuses_the_rest(tmp_path: Path) -> None:
    jpg = tmp_path / "big.jpg"
    Image.new("RGB", (6000, 4000), (10, 200, 30)).save(jpg, quality=80)
    png = tmp_path / "big.png"
    Image.new("RGBA", (6000, 4000), (10, 200, 30, 255)).save(png, compress_level=1)
    cap = int(sandbox.worker_vm_mb()) + 180  # room for about 1/4 of the image
    small = load_image(jpg, Limits(decode_memory_mb=cap))
    assert small.shape[0] < 4000 and small.shape[0] * 6000 == small.shape[1] * 4000  # reduced by the decoder
    assert np.abs(small.astype(int) - [10, 200, 30]).max() < 8
    with pytest.raises(DecodeResourceError, match="decode_memory_mb or lower max_pixels"):
        load_image(png, Limits(decode_memory_mb=cap))


# ----------------------------------------------------------------------------------------------
# deadlines


def test_a_deadline_cuts_every_worker_call(clip: Path) -> None:
    past = time.monotonic() - 1
    for fn in (lambda: probe(clip, deadline=past), lambda: list(iter_frames(clip, deadline=past)),
               lambda: list(iter_audio(clip, deadline=past)), lambda: read_audio(clip, deadline=past)):
        with pytest.raises(DecodeTimeout, match="deadline"):
            fn()
    soon = time.monotonic() + 1e-4
    with pytest.raises(DecodeTimeout, match="deadline"):
        list(iter_frames(clip, fps=10.0, deadline=soon))


# ----------------------------------------------------------------------------------------------
# the worker serves a task table it is given (nothing is patched into the module)


def test_serve_uses_the_table_it_is_given() -> None:
    from multiprocessing.connection import Connection

    before = dict(_worker.TASKS)
    a, b = socket.socketpair()
    parent, child = Connection(a.detach()), Connection(b.detach())
    t = threading.Thread(target=_worker.serve, args=(child, {"twice": (lambda x: 2 * x, False)}, "test process"))
    t.start()
    try:
        assert _worker.safe_loads(parent.recv_bytes())[0] == "ready"
        parent.send(("run", "twice", {"x": 21}, 0, 0))
        assert _worker.recv_msg(parent) == ("done", 42)
        parent.send(("run", "image", {}, 0, 0))  # not in this table
        msg = _worker.recv_msg(parent)
        assert msg[0] == "error" and "test process has no task 'image'" in msg[2]
        parent.send(("exit",))
    finally:
        t.join(10)
        parent.close()
        child.close()
    assert before == _worker.TASKS and _worker.PROCESS_NAME == "decoder process"


@pytest.mark.parametrize("channels", [3, 16, 64])
def test_any_channel_count_is_averaged_to_mono(tmp_path: Path, channels: int) -> None:
    t = np.arange(16_000) / 16_000
    x = np.zeros((16_000, channels), np.float32)
    x[:, 0] = 0.5 * np.sin(2 * np.pi * 440 * t)  # one live channel among silent ones
    path = tmp_path / f"c{channels}.wav"
    sf.write(path, x, 16_000, subtype="FLOAT")
    mono = read_audio(path)
    assert mono.shape == (16_000,)
    assert 0.0 < np.abs(mono).max() <= 0.5  # FFmpeg's surround matrix or the plain mean, never silence or noise


def test_check_structure_refuses_pathological_box_counts(clip: Path, tmp_path: Path) -> None:
    from synthwatch.media.sniff import MAX_TOP_LEVEL, check_structure

    check_structure(clip)  # a real file passes
    ftyp = struct.pack(">I4s", 24, b"ftyp") + b"isom\x00\x00\x02\x00isomiso2"
    path = tmp_path / "boxes.mp4"
    path.write_bytes(ftyp + struct.pack(">I4s", 8, b"free") * (MAX_TOP_LEVEL + 10))
    with pytest.raises(CorruptMedia, match="top-level boxes"):
        check_structure(path)
