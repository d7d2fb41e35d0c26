"""Visible labels on images: legible size, only the label box changes, the implicit label is kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from synthwatch.cli.label import app
from synthwatch.provenance import AIGCLabel, read_labels, write_label
from synthwatch.provenance.errors import UnsupportedCarrier
from synthwatch.provenance.visible import FontNotFound, burn_image_label


@pytest.mark.parametrize(("size", "fmt"), [((320, 240), "png"), ((64, 48), "png"), ((1000, 200), "webp"),
                                           ((300, 600), "jpeg")])
def test_notice_is_tall_enough_and_only_the_box_changes(size: tuple[int, int], fmt: str, font: str,
                                                          tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    src = tmp_path / f"in.{fmt}"
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(src, quality=95)
    labelled = tmp_path / f"l.{fmt}"
    write_label(src, labelled, AIGCLabel.as_producer("1", "PROD", "i1"))
    out = tmp_path / f"o.{fmt}"
    drawn = burn_image_label(labelled, out)
    assert drawn.text_height_px >= 0.05 * min(size) and drawn.ratio >= 0.05
    assert "WenQuanYi" in drawn.font_licence or drawn.font == font
    (reading,) = read_labels(out)  # the implicit label came along
    assert reading.valid and reading.label.content_producer == "PROD"
    a = np.asarray(Image.open(labelled).convert("RGB")).astype(int)
    b = np.asarray(Image.open(out).convert("RGB")).astype(int)
    x0, y0, x1, y1 = drawn.box
    inside = np.zeros(a.shape[:2], bool)
    inside[y0:y1, x0:x1] = True
    assert np.abs(a - b)[inside].mean() > 20  # the notice is visible
    if fmt != "jpeg":
        assert (a[~inside] == b[~inside]).all()


def test_cli_apply_visible(font: str, media: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "v.png"
    r = CliRunner().invoke(app, ["apply", str(media["png_xmp"]), "--out", str(out), "--producer", "PRODA",
                                 "--visible", "--json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["visible"]["ratio"] >= 0.05 and payload["fields"]["ContentProducer"] == "PRODA"
    assert len(read_labels(out)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.png"]


def test_refusals(font: str, media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UnsupportedCarrier):
        burn_image_label(media["wav"], tmp_path / "x.wav")
    from synthwatch.provenance.errors import ProvenanceError

    with pytest.raises(ProvenanceError):
        burn_image_label(media["png"], tmp_path / "x.png", text=("hello",))
    with pytest.raises(FontNotFound):
        burn_image_label(media["png"], tmp_path / "x.png", font_path=tmp_path / "nofont.ttf")
