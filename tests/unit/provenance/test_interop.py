"""Labels written here are read by tools no one here wrote (exiftool, ffprobe, mutagen), and back.

exiftool comes from Debian ``libimage-exiftool-perl`` and ffprobe/ffmpeg from Debian ``ffmpeg``;
each test skips with that reason when its tool is absent.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from prov_media import run, tool

from synthwatch.provenance.aigc_label import read_labels, write_label
from synthwatch.provenance.label import AIGCLabel

LABEL = AIGCLabel.as_producer("1", "001191110102MAD55U9H0F10002", "a1b2c3").with_propagator("PLAT01", "p9")


@pytest.mark.parametrize("name", ["jpeg", "jpeg_xmp", "png", "png_xmp", "webp", "webp_lossless", "webp_exif"])
def test_exiftool_reads_the_xmp_label(name: str, media: dict[str, Path], tmp_path: Path) -> None:
    exiftool = tool("exiftool")
    out = tmp_path / f"o{media[name].suffix}"
    write_label(media[name], out, LABEL)
    meta = json.loads(run([exiftool, "-j", "-G1", "-XMP-TC260:all", "-XMP-dc:Title", "-warning", str(out)]))[0]
    assert json.loads(meta["XMP-TC260:Aigc"]) == LABEL.to_dict()
    assert "Warning" not in meta, meta.get("Warning")
    if name.endswith("_xmp"):
        assert meta["XMP-dc:Title"] == "Keep me"
    validate = json.loads(run([exiftool, "-j", "-validate", "-warning", "-a", str(out)]))[0]
    assert validate.get("Validate", "OK").startswith("OK") or "XMP" not in str(validate.get("Warning", ""))


@pytest.mark.parametrize("name", ["mp4", "mp4_faststart", "mov", "m4a", "mkv", "webm", "mka", "wav", "mp3", "flac",
                                  "ogg", "opus"])
def test_ffprobe_reads_the_tag(name: str, media: dict[str, Path], tmp_path: Path) -> None:
    ffprobe = tool("ffprobe")
    out = tmp_path / f"o{media[name].suffix}"
    write_label(media[name], out, LABEL)
    probe = json.loads(run([ffprobe, "-v", "error", "-show_entries", "format_tags:stream_tags", "-of", "json",
                            str(out)]))
    tags = dict(probe["format"].get("tags", {}))
    for s in probe.get("streams", []):  # Ogg exposes Vorbis comments as stream tags
        tags.update(s.get("tags", {}))
    value = next(v for k, v in tags.items() if k.upper() == "AIGC")
    assert json.loads(value) == LABEL.to_dict()
    # and ffmpeg decodes the whole file without a complaint
    err = subprocess.run([tool("ffmpeg"), "-v", "error", "-i", str(out), "-f", "null", "-"], capture_output=True,
                         text=True, timeout=60).stderr
    assert err.strip() == ""


@pytest.mark.parametrize(("name", "key"), [("mp3", "TXXX:AIGC"), ("flac", "AIGC"), ("ogg", "AIGC"), ("opus", "AIGC")])
def test_mutagen_reads_the_audio_tags(name: str, key: str, media: dict[str, Path], tmp_path: Path) -> None:
    import mutagen

    out = tmp_path / f"o{media[name].suffix}"
    write_label(media[name], out, LABEL)
    f = mutagen.File(out)
    assert f is not None and f.tags is not None
    value = f.tags[key]
    text = str(value.text[0]) if hasattr(value, "text") else value[0]
    assert json.loads(text) == LABEL.to_dict()


@pytest.mark.parametrize(("name", "args"), [
    ("mp4", ["-movflags", "use_metadata_tags"]),
    ("mov", ["-movflags", "use_metadata_tags"]),
    ("mkv", []),
    ("webm", []),
    ("flac", []),
    ("mp3", []),
])
def test_labels_written_by_ffmpeg_are_read(name: str, args: list[str], media: dict[str, Path],
                                           tmp_path: Path) -> None:
    ffmpeg = tool("ffmpeg")
    out = tmp_path / f"ff{media[name].suffix}"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(media[name]), "-c", "copy", "-map", "0",
                    "-metadata", f"AIGC={LABEL.to_json()}", *args, str(out)], check=True, timeout=60)
    (reading,) = read_labels(out)
    assert reading.label == LABEL and reading.valid, reading.deviations


def test_ffmpeg_without_use_metadata_tags_drops_the_mp4_label(media: dict[str, Path], tmp_path: Path) -> None:
    """The documented pitfall: a plain ffmpeg remux silently loses the key (so platforms must re-apply)."""
    ffmpeg = tool("ffmpeg")
    out = tmp_path / "plain.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(media["mp4"]), "-c", "copy",
                    "-metadata", f"AIGC={LABEL.to_json()}", str(out)], check=True, timeout=60)
    assert read_labels(out) == []
