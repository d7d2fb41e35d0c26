"""A hostile corpus: every file gets its typed error, quickly, and the next call still works."""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthwatch.config import Limits
from synthwatch.errors import (
    CorruptMedia,
    DecodeResourceError,
    DecodeTimeout,
    MediaError,
    MediaTooLarge,
    UnsupportedMedia,
)
from synthwatch.media import iter_audio, iter_frames, load_image, probe, read_audio, sandbox, sniff
from synthwatch.media.sandbox import RemoteTraceback
from synthwatch.testing import samples
from synthwatch.types import MediaKind

QUICK_S = 10.0  # generous on a loaded 2-core machine; typical figures are well under a second


@pytest.fixture(scope="module")
def small_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return samples.make_video(tmp_path_factory.mktemp("hostile") / "v.mp4", seconds=2.0, size=(160, 120), fps=25)


@pytest.fixture(autouse=True)
def _next_call_still_works(small_mp4: Path) -> Iterator[None]:
    """After every hostile case the sandbox must still serve a normal file."""
    yield
    assert probe(small_mp4).kind is MediaKind.VIDEO
    assert len(list(iter_frames(small_mp4))) == 2


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def _raises(exc: type[BaseException], fn: Callable[[], object]) -> BaseException:
    t0 = time.monotonic()
    with pytest.raises(exc) as info:
        fn()
    assert time.monotonic() - t0 < QUICK_S
    return info.value


def _drain(it: Iterator[object]) -> list[object]:
    return list(it)


def _boxes(buf: bytes | bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    pos = start
    while pos + 8 <= end:
        size, typ = struct.unpack(">I4s", buf[pos : pos + 8])
        if size < 8:
            return
        yield typ, pos, pos + size
        if typ in (b"moov", b"trak", b"mdia", b"minf", b"stbl"):
            yield from _boxes(buf, pos + 8, pos + size)
        pos += size


def test_truncated_mp4(small_mp4: Path, tmp_path: Path) -> None:
    data = small_mp4.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) * 6 // 10])  # the moov box (written last) is gone
    assert sniff(path).kind is MediaKind.VIDEO
    err = _raises(CorruptMedia, lambda: probe(path))
    assert isinstance(err.__cause__, RemoteTraceback) or "truncated" in str(err)
    _raises(CorruptMedia, lambda: _drain(iter_frames(path)))
    _raises(CorruptMedia, lambda: _drain(iter_audio(path)))


def test_truncated_faststart_mp4(small_mp4: Path, tmp_path: Path) -> None:
    data = small_mp4.read_bytes()
    boxes = {typ: (a, b) for typ, a, b in _boxes(data, 0, len(data))}
    ftyp, moov, mdat = data[slice(*boxes[b"ftyp"])], data[slice(*boxes[b"moov"])], data[slice(*boxes[b"mdat"])]
    # moov first (chunk offsets are stale, which does not matter: the file is cut in mdat anyway)
    path = tmp_path / "fast.mp4"
    path.write_bytes(ftyp + moov + mdat[: len(mdat) // 2])
    err = _raises(CorruptMedia, lambda: probe(path))
    assert "truncated" in str(err)
    _raises(CorruptMedia, lambda: _drain(iter_frames(path)))


def test_zero_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    for fn in (lambda: sniff(path), lambda: probe(path), lambda: load_image(path), lambda: iter_frames(path),
               lambda: iter_audio(path)):
        _raises(CorruptMedia, fn)


def test_png_named_mp4_is_a_png(sample_png: Path, tmp_path: Path) -> None:
    path = tmp_path / "movie.mp4"
    path.write_bytes(sample_png.read_bytes())
    info = probe(path)
    assert (info.kind, info.format) == (MediaKind.IMAGE, "png")
    assert load_image(path).shape == (240, 320, 3)
    _raises(UnsupportedMedia, lambda: iter_frames(path))


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_png_declaring_100000x100000(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(100_000, 100_000))
    assert path.stat().st_size < 200
    for fn in (lambda: probe(path), lambda: load_image(path)):
        err = _raises(MediaTooLarge, fn)
        assert isinstance(err, MediaTooLarge)
        assert (err.limit, err.value, err.maximum) == ("max_pixels", 10_000_000_000, Limits().max_pixels)
        assert _timed(lambda f=fn: pytest.raises(MediaTooLarge, f)) < 2.0  # type: ignore[misc]
    # Pillow's own guard (a warning above the limit, an error above twice it) is translated too
    err = _raises(MediaTooLarge, lambda: load_image(path, Limits(max_pixels=10_000_000_000 // 3)))
    assert isinstance(err, MediaTooLarge) and err.limit == "max_pixels"


def _patch_durations(data: bytes, boxes: tuple[bytes, ...]) -> bytes:
    buf = bytearray(data)
    for typ, a, _ in list(_boxes(buf, 0, len(buf))):
        if typ in boxes and buf[a + 8] == 0:  # version 0
            # mvhd / mdhd: version+flags, creation, modification, timescale, then duration;
            # tkhd: version+flags, creation, modification, track id, reserved, then duration
            offset = a + 8 + (20 if typ == b"tkhd" else 16)
            struct.pack_into(">I", buf, offset, 0xFFFFFFF0)
    return bytes(buf)


@pytest.mark.parametrize("boxes", [(b"mvhd",), (b"mdhd",), (b"tkhd",), (b"mvhd", b"tkhd", b"mdhd")],
                         ids=["mvhd", "mdhd", "tkhd", "all"])
def test_mp4_declaring_a_huge_duration(small_mp4: Path, tmp_path: Path, boxes: tuple[bytes, ...]) -> None:
    path = tmp_path / "long.mp4"
    path.write_bytes(_patch_durations(small_mp4.read_bytes(), boxes))
    for fn in (lambda: probe(path), lambda: next(iter_frames(path)), lambda: next(iter_audio(path)),
               lambda: read_audio(path)):
        err = _raises(MediaTooLarge, fn)
        assert isinstance(err, MediaTooLarge)
        assert err.limit == "max_duration_s" and err.value > Limits().max_duration_s


def test_polyglots(sample_image: Path, small_mp4: Path, tmp_path: Path) -> None:
    jpeg = sample_image.read_bytes()
    reference = load_image(sample_image)
    zip_tail = b"PK\x03\x04" + bytes(64) + b"PK\x05\x06" + bytes(18)
    for name, data in {"jpeg+zip": jpeg + zip_tail, "jpeg+mp4": jpeg + small_mp4.read_bytes()}.items():
        path = tmp_path / f"{name}.mp4"
        path.write_bytes(data)
        info = probe(path)
        assert (info.kind, info.format) == (MediaKind.IMAGE, "jpeg"), name
        assert np.array_equal(load_image(path), reference), name  # only the JPEG part is decoded
        _raises(UnsupportedMedia, lambda p=path: iter_frames(p))
    prefixed = tmp_path / "mp4-behind-zip.jpg"
    prefixed.write_bytes(zip_tail + small_mp4.read_bytes())
    _raises(UnsupportedMedia, lambda: probe(prefixed))


def test_random_bytes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1234)
    for i, n in enumerate((16, 1000, 100_000)):
        path = tmp_path / f"r{i}.mp4"
        path.write_bytes(rng.bytes(n))
        for fn in (lambda p=path: probe(p), lambda p=path: load_image(p), lambda p=path: iter_frames(p)):
            _raises(UnsupportedMedia, fn)


def test_garbage_after_a_valid_signature(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    cases = {
        "g.png": b"\x89PNG\r\n\x1a\n" + rng.bytes(5000),
        "g.jpg": b"\xff\xd8\xff\xe0" + rng.bytes(5000),
        "g.mkv": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska" + rng.bytes(5000),
        "g.flac": b"fLaC" + rng.bytes(5000),
        "g.wav": b"RIFF\xff\xff\x00\x00WAVE" + rng.bytes(5000),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        _raises(MediaError, lambda p=path: probe(p))


def test_decoder_hang_is_cut_by_the_timeout(small_mp4: Path, tmp_path: Path) -> None:
    # a decode that outlasts its wall-clock budget: the budget is tiny, so the worker cannot answer
    # in time whatever the machine's speed; the parent kills it and raises DecodeTimeout
    tiny = Limits(decode_timeout_s=1e-6, probe_timeout_s=1e-6)
    sandbox.warm_up(1)
    before = set(sandbox.worker_pids())
    err = _raises(DecodeTimeout, lambda: _drain(iter_frames(small_mp4, tiny, fps=25.0)))
    assert "1e-06 s" in str(err)
    assert before - set(sandbox.worker_pids())  # the worker that ran out of time was killed
    _raises(DecodeTimeout, lambda: probe(small_mp4, tiny))
    _raises(DecodeTimeout, lambda: read_audio(small_mp4, tiny))
    # and a real long decode (49 Mpixel image) against a 50 ms budget
    t0 = time.monotonic()
    _raises(DecodeTimeout, lambda: load_image(_png_path(tmp_path, 7000, 7000), Limits(decode_timeout_s=0.05)))
    assert time.monotonic() - t0 < 3.0


def test_memory_cap(tmp_path: Path) -> None:
    # a cap below what the worker already maps is refused up front
    err = _raises(DecodeResourceError, lambda: probe(_png_path(tmp_path, 64, 64), Limits(decode_memory_mb=65)))
    assert "decode_memory_mb" in str(err)
    # a cap that leaves the worker 120 MB is hit by decoding a 7000x7000 image (49 MB grey,
    # 147 MB RGB): a typed error in the parent, never a crash
    big = _png_path(tmp_path, 7000, 7000)
    cap_mb = int(sandbox.worker_vm_mb()) + 120
    err = _raises((DecodeResourceError, MediaTooLarge), lambda: load_image(big, Limits(decode_memory_mb=cap_mb)))
    assert isinstance(err, DecodeResourceError | MediaTooLarge)
    assert load_image(big).shape == (7000, 7000, 3)  # the default cap has room


def _png_path(tmp_path: Path, w: int, h: int) -> Path:
    path = tmp_path / f"flat{w}x{h}.png"
    Image.new("L", (w, h), 128).save(path, compress_level=1)
    return path


def test_worker_killed_mid_stream(small_mp4: Path) -> None:
    it = iter_frames(small_mp4, fps=25.0)
    next(it)
    import os
    import signal

    for pid in sandbox.worker_pids():
        os.kill(pid, signal.SIGKILL)
    err = _raises(DecodeResourceError, lambda: _drain(it))
    assert "SIGKILL" in str(err)


def test_errors_carry_the_worker_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    err = _raises(CorruptMedia, lambda: load_image(path))
    assert isinstance(err.__cause__, RemoteTraceback)
    assert "Traceback" in err.__cause__.tb
