"""load_image(): every supported format to uint8 RGB, orientation and alpha handled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthwatch.errors import UnsupportedMedia
from synthwatch.media import load_image
from synthwatch.testing import samples


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".gif", ".bmp", ".tiff"])
def test_formats(tmp_path: Path, suffix: str) -> None:
    path = samples.make_image(tmp_path / f"x{suffix}", size=(96, 64), seed=0)
    arr = load_image(path)
    assert arr.shape == (64, 96, 3) and arr.dtype == np.uint8
    assert arr.flags["C_CONTIGUOUS"]
    with Image.open(path) as im:
        reference = np.asarray(im.convert("RGB"))
    assert np.abs(arr.astype(int) - reference.astype(int)).max() <= 1


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    im = Image.fromarray(pixels)
    exif = im.getexif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    path = tmp_path / "o.jpg"
    im.save(path, exif=exif, quality=100)
    arr = load_image(path)
    assert arr.shape == (40, 20, 3)
    assert arr[:15].mean() > 200 and arr[-15:].mean() < 50  # the white half is now on top


def test_gif_first_frame_and_alpha_on_white(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    arr = load_image(gif)
    assert tuple(arr[8, 8]) == (255, 0, 0)

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :4, 3] = 0  # left: transparent -> white
    rgba[:, 4:, 3] = 128  # right: half red over white
    png = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(png)
    arr = load_image(png)
    assert tuple(arr[0, 0]) == (255, 255, 255)
    assert tuple(arr[0, 7]) == (255, 127, 127)

    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    pal.info["transparency"] = 0
    ppath = tmp_path / "pal.png"
    pal.save(ppath, transparency=0)
    assert tuple(load_image(ppath)[0, 0]) == (255, 255, 255)


def test_sixteen_bit_cmyk_grey(tmp_path: Path) -> None:
    grey16 = (np.linspace(0, 65535, 64 * 32).reshape(32, 64)).astype(np.uint16)
    p16 = tmp_path / "g16.png"
    Image.fromarray(grey16).save(p16)
    arr = load_image(p16)
    assert arr.shape == (32, 64, 3) and arr.dtype == np.uint8
    assert arr[0, 0, 0] == 0 and arr[-1, -1, 0] == 255
    assert np.all(arr[..., 0] == arr[..., 2])

    cmyk = Image.new("CMYK", (10, 10), (0, 255, 255, 0))  # pure red in CMYK
    pc = tmp_path / "c.jpg"
    cmyk.save(pc, quality=100)
    arr = load_image(pc)
    assert arr[5, 5, 0] > 200 and arr[5, 5, 1] < 60 and arr[5, 5, 2] < 60

    grey = tmp_path / "l.bmp"
    Image.new("L", (6, 4), 77).save(grey)
    assert np.all(load_image(grey) == 77)

    tif16 = tmp_path / "rgb16.tiff"
    Image.fromarray(grey16).save(tif16)
    assert load_image(tif16).shape == (32, 64, 3)


def test_not_an_image(sample_speech: Path) -> None:
    with pytest.raises(UnsupportedMedia):
        load_image(sample_speech)
