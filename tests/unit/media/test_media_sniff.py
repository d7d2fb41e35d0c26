"""sniff(): the real type comes from magic bytes, never from the name."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from synthwatch.errors import CorruptMedia, UnsupportedMedia
from synthwatch.media import sniff
from synthwatch.testing import samples
from synthwatch.types import MediaKind

IMAGES = {".jpg": "jpeg", ".png": "png", ".webp": "webp", ".gif": "gif", ".bmp": "bmp", ".tiff": "tiff"}
AUDIO = {".wav": "wav", ".flac": "flac", ".ogg": "ogg", ".mp3": "mp3", ".m4a": "m4a", ".opus": "ogg"}
VIDEO = {".mp4": "mp4", ".mov": "mov", ".mkv": "mkv", ".webm": "webm", ".avi": "avi"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sniff")
    out: dict[str, Path] = {}
    for suffix in IMAGES:
        out[suffix] = samples.make_image(d / f"img{suffix}", size=(64, 48), face=False)
    for suffix in AUDIO:
        out[suffix] = samples.make_speech(d / f"snd{suffix}", seconds=1.0)
    for suffix in VIDEO:
        out[suffix] = samples.make_video(d / f"vid{suffix}", seconds=0.5, size=(64, 48), fps=10, face=False)
    return out


@pytest.mark.parametrize("suffix", list(IMAGES) + list(AUDIO) + list(VIDEO))
def test_each_format(corpus: dict[str, Path], suffix: str) -> None:
    expected = {**IMAGES, **AUDIO, **VIDEO}[suffix]
    kind, fmt, mime = sniff(corpus[suffix])
    assert fmt == expected
    want_kind = MediaKind.IMAGE if suffix in IMAGES else MediaKind.AUDIO if suffix in AUDIO else MediaKind.VIDEO
    assert kind is want_kind
    assert mime.split("/")[0] == want_kind.value


@pytest.mark.parametrize("suffix", [".png", ".wav", ".mp3", ".mp4", ".webm"])
def test_extension_is_ignored(corpus: dict[str, Path], tmp_path: Path, suffix: str) -> None:
    for fake in (".txt", ".jpg", ".mp4", ""):
        target = tmp_path / f"renamed{fake}"
        shutil.copyfile(corpus[suffix], target)
        assert sniff(target) == sniff(corpus[suffix])


def test_audio_only_iso_bmff_is_m4a_whatever_the_brand(tmp_path: Path) -> None:
    # an .mp4 (brand isom) that holds only AAC: the track list decides
    path = tmp_path / "voice.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=16_000, layout="mono")
        signal, _ = samples.synth_speech(1.0, 16_000)
        samples._encode_audio(out, stream, signal, 16_000, until_s=None, state={})
    assert sniff(path) == (MediaKind.AUDIO, "m4a", "audio/mp4")


def test_audio_only_webm_and_mkv(tmp_path: Path) -> None:
    signal, _ = samples.synth_speech(1.0, 16_000)
    for fmt, name, expected in (("webm", "a.webm", "weba"), ("matroska", "a.mkv", "mka")):
        path = tmp_path / name
        with av.open(str(path), "w", format=fmt) as out:
            stream = out.add_stream("libopus", rate=48_000, layout="mono")
            samples._encode_audio(out, stream, signal, 16_000, until_s=None, state={})
        kind, got, _ = sniff(path)
        assert (kind, got) == (MediaKind.AUDIO, expected)


def test_adts_aac_and_mp3_without_id3(tmp_path: Path) -> None:
    signal, _ = samples.synth_speech(1.0, 16_000)
    adts = tmp_path / "a.bin"
    with av.open(str(adts), "w", format="adts") as out:
        stream = out.add_stream("aac", rate=22_050, layout="mono")
        samples._encode_audio(out, stream, signal, 16_000, until_s=None, state={})
    assert sniff(adts).format == "aac"
    mp3 = tmp_path / "b.bin"
    with av.open(str(mp3), "w", format="mp3", options={"id3v2_version": "0", "write_xing": "0"}) as out:
        stream = out.add_stream("libmp3lame", rate=22_050, layout="mono")
        samples._encode_audio(out, stream, signal, 16_000, until_s=None, state={})
    assert mp3.read_bytes()[:3] != b"ID3"
    assert sniff(mp3).format == "mp3"


def test_flac_behind_id3_and_ogg_opus(corpus: dict[str, Path], tmp_path: Path) -> None:
    tagged = tmp_path / "tagged"
    tag_body = b"\0" * 100
    size = len(tag_body)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    tagged.write_bytes(b"ID3\x03\x00\x00" + syncsafe + tag_body + corpus[".flac"].read_bytes())
    assert sniff(tagged).format == "flac"
    assert corpus[".opus"].read_bytes()[28:36] == b"OpusHead"


def test_empty_file_is_corrupt(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(CorruptMedia):
        sniff(empty)


@pytest.mark.parametrize(
    "data",
    [
        np.random.default_rng(0).bytes(4096),
        np.random.default_rng(1).bytes(7),
        b"PK\x03\x04" + bytes(100),
        b"%PDF-1.7\n" + bytes(100),
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
        b"RIFF\x10\x00\x00\x00CDXA" + bytes(32),
        b"\x1a\x45\xdf\xa3\x84\x42\x82\x81x" + bytes(16),  # EBML with an unknown doctype
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(32),
        b"OggS" + bytes(60),
        b"\xff\xfb\x90\x00" + bytes(40),  # one MP3-looking header, no second frame
    ],
    ids=["random", "short-random", "zip", "pdf", "svg", "riff-other", "ebml-other", "heic", "ogg-unknown", "lone-sync"],
)
def test_unknown_is_unsupported(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "x.mp4"
    path.write_bytes(data)
    with pytest.raises(UnsupportedMedia):
        sniff(path)


def test_polyglots_offset_zero_wins(corpus: dict[str, Path], tmp_path: Path) -> None:
    jpeg = corpus[".jpg"].read_bytes()
    mp4 = corpus[".mp4"].read_bytes()
    zip_bytes = b"PK\x03\x04" + bytes(200) + b"PK\x05\x06" + bytes(18)
    cases = {
        "jpeg+zip": (jpeg + zip_bytes, "jpeg"),
        "jpeg+mp4": (jpeg + mp4, "jpeg"),
        "mp4+jpeg": (mp4 + jpeg, "mp4"),
    }
    for name, (data, fmt) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert sniff(path).format == fmt, name
    zipped = tmp_path / "zip+jpeg"
    zipped.write_bytes(zip_bytes + jpeg)
    with pytest.raises(UnsupportedMedia):
        sniff(zipped)


def test_quicktime_without_ftyp(corpus: dict[str, Path], tmp_path: Path) -> None:
    data = corpus[".mov"].read_bytes()
    assert data[4:8] == b"ftyp"
    ftyp_size = int.from_bytes(data[:4], "big")
    bare = tmp_path / "bare"
    bare.write_bytes(data[ftyp_size:])  # old QuickTime files start with wide/mdat/moov
    kind, fmt, _ = sniff(bare)
    assert (kind, fmt) == (MediaKind.VIDEO, "mov")


def test_tiny_real_wav(tmp_path: Path) -> None:
    path = tmp_path / "t"
    sf.write(path, np.zeros(10, np.float32), 8000, format="WAV")
    assert sniff(path).format == "wav"


def test_frame_rate_fraction_video(tmp_path: Path) -> None:
    path = samples.make_video(tmp_path / "ntsc.mp4", seconds=0.3, size=(64, 48), fps=Fraction(30000, 1001), audio=False,
                              face=False)
    assert sniff(path).format == "mp4"
