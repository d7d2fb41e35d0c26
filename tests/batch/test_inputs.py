"""Planning a batch: folders, globs and manifests (CSV, Parquet) into unique items."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthwatch.batch import plan_inputs
from synthwatch.errors import ConfigError
from synthwatch.media.source import display_name, name_from_display


def _touch(p: Path, data: bytes = b"x") -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def test_folder_is_walked_for_media_suffixes_only(tmp_path: Path) -> None:
    a = _touch(tmp_path / "in" / "a.jpg")
    b = _touch(tmp_path / "in" / "sub" / "b.MP4")
    _touch(tmp_path / "in" / "notes.txt")
    items = plan_inputs([str(tmp_path / "in")])
    assert [i.path for i in items] == [str(a), str(b)]
    assert all(i.key == i.path and i.source_type == "file" and i.size_bytes == 1 for i in items)
    assert all(i.mtime_ns == os.stat(i.path).st_mtime_ns for i in items)


def test_glob_and_literal_names_and_duplicates(tmp_path: Path) -> None:
    a = _touch(tmp_path / "x[1].png")  # exists: never read as a pattern
    b = _touch(tmp_path / "y.png")
    items = plan_inputs([str(a), str(tmp_path / "*.png"), str(b)])
    assert sorted(i.path for i in items) == sorted([str(a), str(b)])  # each once


def test_relative_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _touch(tmp_path / "r.wav")
    monkeypatch.chdir(tmp_path)
    (item,) = plan_inputs(["r.wav"])
    assert item.path == str(tmp_path / "r.wav")


def test_non_utf8_names_are_kept_losslessly(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/bad-\xff.png"
    with open(raw, "wb") as fh:
        fh.write(b"x")
    (item,) = plan_inputs([str(tmp_path)])
    item.path.encode("utf-8")  # valid text for Parquet
    assert os.fsencode(name_from_display(item.path)) == raw
    assert item.path == display_name(os.fsdecode(raw))


def test_csv_manifest_paths_relative_to_it_ids_and_urls(tmp_path: Path) -> None:
    _touch(tmp_path / "media" / "a.jpg")
    (tmp_path / "lists").mkdir()
    manifest = tmp_path / "lists" / "batch.csv"
    manifest.write_text("ID,Path,url\n"
                        "p1,../media/a.jpg,\n"
                        "p2,,https://example.org/v.mp4\n"
                        ",/nowhere/missing.wav,\n"
                        ",,\n", encoding="utf-8")
    items = plan_inputs([str(manifest)])
    assert [(i.key, i.source_type) for i in items] == [("p1", "file"), ("p2", "url"), ("/nowhere/missing.wav", "file")]
    assert items[0].path == str(tmp_path / "media" / "a.jpg") and items[0].id == "p1"
    assert items[1].path == "https://example.org/v.mp4"
    assert items[2].size_bytes is None  # planned anyway: its scan will say why it cannot be read


def test_parquet_manifest(tmp_path: Path) -> None:
    a = _touch(tmp_path / "a.png")
    manifest = tmp_path / "m.parquet"
    pq.write_table(pa.table({"path": [str(a), None], "url": [None, "http://example.org/x.jpg"], "id": [1, 2],
                             "other": ["k", "l"]}), manifest)
    items = plan_inputs([str(manifest)])
    assert [(i.key, i.id, i.source_type) for i in items] == [("1", "1", "file"), ("2", "2", "url")]


@pytest.mark.parametrize("text, message", [
    ("name,size\na.jpg,1\n", "no 'path' or 'url' column"),
    ("path,url\na.jpg,http://x/y\n", "both a path and a url"),
    ("path\n", None),  # a header and no rows: nothing to scan
    ("", "is empty"),
    ("path,id\na.jpg,k\nb.jpg,k\n", "names two items"),
    ("path,id\na.jpg\n", "1 fields"),
])
def test_bad_manifests_are_usage_errors(tmp_path: Path, text: str, message: str | None) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(text, encoding="utf-8")
    if message is None:
        assert plan_inputs([str(manifest)]) == []
        return
    with pytest.raises(ConfigError, match=message):
        plan_inputs([str(manifest)])


def test_manifest_that_is_not_text_or_parquet(tmp_path: Path) -> None:
    bad_csv = tmp_path / "m.csv"
    bad_csv.write_bytes(b"path\n\xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        plan_inputs([str(bad_csv)])
    bad_pq = tmp_path / "m.parquet"
    bad_pq.write_bytes(b"PAR1 not really")
    with pytest.raises(ConfigError, match="not a readable Parquet"):
        plan_inputs([str(bad_pq)])
    typed = tmp_path / "t.parquet"
    pq.write_table(pa.table({"path": [1.5]}), typed)
    with pytest.raises(ConfigError, match="not text"):
        plan_inputs([str(typed)])


def test_missing_files_are_items_and_empty_patterns_usage_errors(tmp_path: Path) -> None:
    # as for scan: a named file that does not exist is an item (its row says why), not a usage error
    (item,) = plan_inputs([str(tmp_path / "nope.jpg")])
    assert item.path == str(tmp_path / "nope.jpg") and item.size_bytes is None
    with pytest.raises(ConfigError, match="no files match"):
        plan_inputs([str(tmp_path / "*.nothing")])


def test_hidden_files_are_not_walked(tmp_path: Path) -> None:
    _touch(tmp_path / ".x.jpg")
    shown = _touch(tmp_path / "x.jpg")
    assert [i.path for i in plan_inputs([str(tmp_path)])] == [str(shown)]
