"""One list of media suffixes: synthwatch.media.sniff's. No other module keeps its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import synthwatch
from synthwatch.media.sniff import (
    AUDIO_SUFFIXES,
    FORMATS,
    IMAGE_SUFFIXES,
    MEDIA_SUFFIXES,
    SUFFIX_FORMATS,
    VIDEO_SUFFIXES,
    kind_of_suffix,
    suffix_for,
    suffix_for_mime,
)
from synthwatch.types import MediaKind

SRC = Path(synthwatch.__file__).parent
SNIFF = SRC / "media" / "sniff.py"


def _literal_suffixes(node: ast.expr) -> list[str]:
    """The media suffixes written out in a literal collection (a tuple, list or set, a dict's keys,
    or one of those passed to frozenset/set/tuple/list)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args \
            and node.func.id in ("frozenset", "set", "tuple", "list"):
        node = node.args[0]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        elts: list[ast.expr | None] = list(node.elts)
    elif isinstance(node, ast.Dict):
        elts = list(node.keys)
    else:
        return []
    return [e.value.lower() for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
            and e.value.lower() in MEDIA_SUFFIXES]


def _own_lists(path: Path) -> list[str]:
    """Module- and class-level assignments in ``path`` of a literal holding two or more media suffixes."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    scopes: list[list[ast.stmt]] = [tree.body] + [n.body for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    for body in scopes:
        for stmt in body:
            value = stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign)) else None
            if value is not None and len(_literal_suffixes(value)) >= 2:
                found.append(f"{path.relative_to(SRC.parent)}:{stmt.lineno}")
    return found


def test_the_scanner_finds_a_suffix_list() -> None:
    # the check below would pass vacuously if it could not see a list: it sees sniff's own
    assert _own_lists(SNIFF)
    assert _literal_suffixes(ast.parse('frozenset({".wav", ".MP4", ".csv"})', mode="eval").body) == [".wav", ".mp4"]


def test_no_module_keeps_its_own_list_of_media_suffixes() -> None:
    offenders = [hit for path in sorted(SRC.rglob("*.py")) if path != SNIFF for hit in _own_lists(path)]
    assert offenders == [], ("derive these from synthwatch.media.sniff (SUFFIX_FORMATS, IMAGE_SUFFIXES, ...) "
                             f"instead of listing suffixes again: {offenders}")


def test_modules_that_walk_folders_use_the_media_layers_sets() -> None:
    from synthwatch import media
    from synthwatch.evaluate import data as eval_data
    from synthwatch.pipeline import inputs
    from synthwatch.train.image import data as train_image

    assert media.MEDIA_SUFFIXES is MEDIA_SUFFIXES and inputs.MEDIA_SUFFIXES is MEDIA_SUFFIXES
    assert (eval_data.IMAGE_SUFFIXES, eval_data.AUDIO_SUFFIXES, eval_data.VIDEO_SUFFIXES, eval_data.MEDIA_SUFFIXES) \
        == (IMAGE_SUFFIXES, AUDIO_SUFFIXES, VIDEO_SUFFIXES, MEDIA_SUFFIXES)
    # training pictures: the image suffixes less animated GIF
    assert {s for s in IMAGE_SUFFIXES if SUFFIX_FORMATS[s] != "gif"} == train_image.IMAGE_SUFFIXES


def test_kind_sets_partition_the_list() -> None:
    assert IMAGE_SUFFIXES | AUDIO_SUFFIXES | VIDEO_SUFFIXES == MEDIA_SUFFIXES
    assert not (IMAGE_SUFFIXES & AUDIO_SUFFIXES or IMAGE_SUFFIXES & VIDEO_SUFFIXES or AUDIO_SUFFIXES & VIDEO_SUFFIXES)
    assert all(s == s.lower() and s.startswith(".") for s in MEDIA_SUFFIXES)
    assert kind_of_suffix("a/b.WEBM") is MediaKind.VIDEO and kind_of_suffix("x.opus") is MediaKind.AUDIO
    assert kind_of_suffix("dir.jpg/file") is None and kind_of_suffix("notes.txt") is None


def test_suffix_for_names_every_sniffed_format() -> None:
    for fmt, (_kind, mime, _hint) in FORMATS.items():
        suffix = suffix_for(fmt)
        assert SUFFIX_FORMATS[suffix] == fmt  # a file named this way walks as this format
        assert suffix_for_mime(mime) == suffix
    assert (suffix_for("jpeg"), suffix_for("m4a"), suffix_for("mkv")) == (".jpg", ".m4a", ".mkv")
    assert suffix_for_mime("application/json") is None and suffix_for_mime("IMAGE/PNG") is None
    with pytest.raises(ValueError, match="unknown media format"):
        suffix_for("heic")
