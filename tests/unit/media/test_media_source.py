"""open_source(): paths, bytes and streams become one MediaSource; limits apply while spooling."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from synthwatch.config import Limits
from synthwatch.errors import MediaError, MediaTooLarge, UnsupportedMedia
from synthwatch.media import MediaSource, load_image, open_source, probe, sniff
from synthwatch.types import MediaKind


def test_path_is_used_in_place(sample_png: Path) -> None:
    with open_source(sample_png) as src:
        assert src.path == sample_png
        assert not src.spooled
        assert src.name == str(sample_png)
        assert src.size_bytes == sample_png.stat().st_size
        assert os.fspath(src) == str(sample_png)
    assert sample_png.exists()
    with open_source(str(sample_png), name="upload.png") as src:
        assert src.name == "upload.png"


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview], ids=["bytes", "bytearray", "memoryview"])
def test_bytes_are_spooled_and_removed(sample_png: Path, wrap: type) -> None:
    data = sample_png.read_bytes()
    with open_source(wrap(data)) as src:
        assert src.spooled
        assert src.name == "<bytes>"
        assert src.path.read_bytes() == data
        assert oct(src.path.stat().st_mode & 0o777) == oct(0o600)
        assert sniff(src.path).format == "png"
        spooled = src.path
    assert not spooled.exists()


def test_streams_are_spooled(sample_video: Path) -> None:
    data = sample_video.read_bytes()
    with open_source(io.BytesIO(data), name="clip") as src:
        assert src.spooled and src.name == "clip"
        info = probe(src.path)
        assert info.kind is MediaKind.VIDEO and info.size_bytes == len(data)
    with open(sample_video, "rb") as fh, open_source(fh) as src:
        assert src.name == str(sample_video)  # a file object names itself
        assert src.path != sample_video
        assert src.path.read_bytes() == data
    assert not src.path.exists()


def test_source_objects_pass_through(sample_png: Path) -> None:
    with open_source(sample_png) as a, open_source(a) as b:
        assert b is a
        assert load_image(b).shape == (240, 320, 3)


def test_byte_limit_for_paths(sample_png: Path) -> None:
    limits = Limits(max_bytes=100)
    with pytest.raises(MediaTooLarge) as err, open_source(sample_png, limits):
        pass
    assert err.value.limit == "max_bytes"
    assert err.value.value == sample_png.stat().st_size
    assert err.value.maximum == 100


def test_byte_limit_while_spooling_a_stream(tmp_path: Path) -> None:
    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            b[:] = b"\0" * len(b)
            return len(b)

    before = set(os.listdir(tmp_path))
    limits = Limits(max_bytes=3 * 1024 * 1024)
    with pytest.raises(MediaTooLarge) as err, open_source(io.BufferedReader(Endless()), limits, spool_dir=tmp_path):
        pass
    assert err.value.limit == "max_bytes"
    assert err.value.value > limits.max_bytes
    assert set(os.listdir(tmp_path)) == before  # the partial spool file is gone


def test_byte_limit_for_bytes() -> None:
    with pytest.raises(MediaTooLarge), open_source(b"x" * 101, Limits(max_bytes=100)):
        pass


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(MediaError), open_source(tmp_path / "missing.png"):
        pass
    with pytest.raises(UnsupportedMedia), open_source(tmp_path):
        pass
    with pytest.raises(TypeError), open_source(io.StringIO("text")):  # type: ignore[arg-type]
        pass
    with pytest.raises(TypeError), open_source(12345):  # type: ignore[arg-type]
        pass


def test_media_source_is_a_path(sample_png: Path) -> None:
    src = MediaSource(path=sample_png, name="x", size_bytes=1)
    assert Path(src) == sample_png
