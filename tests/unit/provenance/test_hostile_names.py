"""Every labelling and reading path opens user files as files: a name that FFmpeg would take for a
protocol (``concat:``, ``subfile,,...:``, ``http:``) or that a shell would expand is only a name,
relative names mean the caller's directory, and the outputs are written where they were asked for."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from synthwatch.provenance import apply_label, read_labels
from synthwatch.provenance.audible import add_audio_cue
from synthwatch.provenance.security_data import content_digest, generate_sm2_key
from synthwatch.provenance.visible import burn_image_label
from synthwatch.provenance.visible_video import burn_video_label

NAMES = ["concat:a.mp4|b.mp4", "subfile,,start,0,end,64,,:x", "http:example", "$(touch pwned);`id`|&"]


def _place(src: Path, where: Path, name: str, suffix: str) -> str:
    shutil.copyfile(src, where / "a.mp4")  # what a concat: URL would also read
    shutil.copyfile(src, where / "b.mp4")
    shutil.copyfile(src, where / (name + suffix))
    return name + suffix


@pytest.mark.parametrize("name", NAMES)
def test_video_notice_and_label_on_a_protocol_name(media: dict[str, Path], font: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    src = _place(media["mp4"], tmp_path, name, ".mp4")
    out = name + ".labelled.mp4"
    burn_video_label(src, out, font_path=font)
    reading = apply_label(out, out, producer="P1")
    assert reading.label.content_producer == "P1"
    assert (tmp_path / out).is_file() and not (tmp_path / "pwned").exists()
    assert sorted(p for p in os.listdir(tmp_path) if not p.startswith((name, "a.mp4", "b.mp4"))) == []


def test_audio_cue_image_notice_and_digest_on_protocol_names(media: dict[str, Path], font: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    wav = _place(media["wav"], tmp_path, NAMES[0], ".wav")
    add_audio_cue(wav, "concat:out.wav|x.wav")
    assert Path("concat:out.wav|x.wav").is_file()
    png = _place(media["png"], tmp_path, NAMES[1], ".png")
    burn_image_label(png, "subfile,,out.png", font_path=font)
    assert Path("subfile,,out.png").is_file()
    key = generate_sm2_key()
    signed = apply_label(wav, "http:signed.wav", producer="P1", security_key=key)
    assert signed.security.verified is True
    assert content_digest("http:signed.wav") == content_digest(wav)  # the label is metadata only
    assert read_labels("http:signed.wav")[0].label.content_producer == "P1"
