"""sw-image training data: de-duplication, groups and splits."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthwatch.errors import ConfigError
from synthwatch.train.image.data import load_sources, scan


def _img(path: Path, seed: int, size: tuple[int, int] = (64, 48)) -> None:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, quality=90)


@pytest.fixture()
def game(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    seed = 0
    for cls in ("real", "fake"):
        for cat in ("city", "nature", "people"):
            for i in range(10):
                seed += 1
                _img(root / cls / cat / f"{cls}_{cat}_{i}.jpg", seed)
    return root


def test_splits_hold_out_a_category_and_split_the_rest(game: Path) -> None:
    s = load_sources(game, holdout="people", val_fraction=0.3)
    summary = s.summary()
    assert set(summary) == {"train", "val", "heldout"}
    assert set(summary["heldout"]) == {"people"}
    for cat in ("city", "nature"):
        assert summary["val"][cat] == {"real": 3, "fake": 3}
        assert summary["train"][cat] == {"real": 7, "fake": 7}
    assert all(src.category == "people" for src in s.by_split("heldout"))


def test_exact_duplicates_are_dropped(game: Path) -> None:
    shutil.copyfile(game / "real/city/real_city_0.jpg", game / "real/nature/copy.jpg")
    s = scan(game)
    assert len(s.sources) == 60
    assert s.dropped and s.dropped[0]["path"].endswith("copy.jpg")


def test_near_duplicates_share_a_group_and_a_split(game: Path) -> None:
    with Image.open(game / "fake/city/fake_city_1.jpg") as im:
        im.resize((60, 45)).save(game / "fake/city/resized_copy.jpg", quality=70)
    s = load_sources(game, holdout="people")
    by_rel = {x.rel: x for x in s.sources}
    a, b = by_rel["fake/city/fake_city_1.jpg"], by_rel["fake/city/resized_copy.jpg"]
    assert a.sha256 != b.sha256
    assert a.group == b.group and a.split == b.split


def test_splits_depend_on_content_not_on_names(game: Path, tmp_path: Path) -> None:
    s1 = load_sources(game, holdout="people")
    renamed = tmp_path / "renamed"
    shutil.copytree(game, renamed)
    for p in sorted(renamed.rglob("*.jpg")):
        p.rename(p.with_name("x_" + p.stem[::-1] + ".jpg"))
    s2 = load_sources(renamed, holdout="people")
    assert {x.sha256: x.split for x in s1.sources} == {x.sha256: x.split for x in s2.sources}


def test_bad_layouts_are_refused(tmp_path: Path, game: Path) -> None:
    with pytest.raises(ConfigError):
        scan(tmp_path / "nothing")
    with pytest.raises(ConfigError):
        load_sources(game, holdout="interior")
    flat = tmp_path / "flat"
    _img(flat / "real" / "a.jpg", 1)
    (flat / "fake").mkdir()
    with pytest.raises(ConfigError):
        scan(flat)
