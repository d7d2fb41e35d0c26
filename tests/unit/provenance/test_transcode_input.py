"""The labelling writers open media with the sniffed demuxer forced (FFmpeg never guesses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthwatch.provenance._transcode import open_input
from synthwatch.provenance.errors import CorruptContainer
from synthwatch.testing.samples import make_video


def test_the_sniffed_demuxer_is_forced(tmp_path: Path) -> None:
    mp4 = make_video(tmp_path / "clip.mp4", seconds=1.0, size=(160, 120), fps=10, audio=False)
    with open_input(mp4, "mp4") as c:
        assert c.streams.video
    with pytest.raises(CorruptContainer):  # guessing would have opened it as MP4
        open_input(mp4, "mkv")


def test_a_playlist_is_not_followed(tmp_path: Path) -> None:
    other = make_video(tmp_path / "secret.mp4", seconds=1.0, size=(160, 120), fps=10, audio=False)
    playlist = tmp_path / "upload.mp4"
    playlist.write_text(f"#EXTM3U\n#EXTINF:1,\nfile://{other}\n#EXT-X-ENDLIST\n")
    with pytest.raises(CorruptContainer):
        open_input(playlist, "mp4")
