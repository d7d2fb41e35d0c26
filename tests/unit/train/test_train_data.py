"""synthwatch.train.data: reading pinned snapshots with git, the manifest, split assignment.

Each test builds a small real git repository in a temporary folder (the git executable is needed,
as it is for the data script itself)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from synthwatch.errors import ConfigError
from synthwatch.train.data import manifest as mf
from synthwatch.train.data.git import GitSnapshot, SnapshotError, find_snapshot
from synthwatch.train.data.sources import SOURCES, Selection, Source, dfl_clip_id, hash_fraction

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="the git executable is not installed")


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "HOME": str(repo), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def _repo(root: Path, files: dict[str, bytes]) -> tuple[Path, str]:
    repo = root / "owner" / "name"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q")
    for rel, data in files.items():
        p = repo / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "data")
    return repo, _git(repo, "rev-parse", "HEAD")


def test_snapshot_lists_and_reads_blobs_at_a_commit(tmp_path: Path) -> None:
    files = {"a/real/1.jpg": b"\xff\xd8one", "a/fake/x/2.png": b"\x89PNGtwo", "b c/3.mp4": b"three" * 1000}
    repo, commit = _repo(tmp_path, files)
    (repo / "a/real/1.jpg").write_bytes(b"changed in the work tree, not committed")
    git_dir = find_snapshot(tmp_path, "owner/name")
    with GitSnapshot(git_dir) as snap:
        assert snap.resolve(commit[:9]) == commit
        entries = {e.path: e for e in snap.ls_tree(commit)}
        assert set(entries) == set(files)
        for path, data in files.items():
            assert entries[path].size == len(data)
            assert snap.read(entries[path].blob) == data  # the committed bytes, not the work tree's
        assert [e.path for e in snap.ls_tree(commit, "a/fake")] == ["a/fake/x/2.png"]
        with pytest.raises(SnapshotError):
            snap.resolve("0" * 40)
        with pytest.raises(SnapshotError):
            snap.read("1" * 40)
        assert snap.read(entries["b c/3.mp4"].blob) == files["b c/3.mp4"]  # still usable after an error


def test_find_snapshot_names_the_clone_command_when_absent(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="git clone https://github.com/someone/thing"):
        find_snapshot(tmp_path, "someone/thing")
    with pytest.raises(ConfigError):
        find_snapshot(tmp_path, "not-a-repo-name")


def _source(commit: str) -> Source:
    return Source(name="demo", repo="owner/name", commit=commit, licence="MIT (stated)", selections=(
        Selection("real/*.jpg", "real", "", "image", ("face",), split="hash"),
        Selection("clips/*/*.mp4", "pair", "swapper", "sbs-video", ("face",), split="identity"),
        Selection("held/*.jpg", "fake", "gan", "image", ("face",), split="test"),
    ))


def test_collect_hashes_every_file_and_splits_pairs_into_halves(tmp_path: Path) -> None:
    files = {f"real/{i}.jpg": f"real {i}".encode() for i in range(20)}
    files.update({f"clips/Person_{k}/Person_{k}_0.mp4": f"clip {k}".encode() for k in range(6)})
    files["held/0.jpg"] = b"gan face"
    files["real/dup.jpg"] = b"real 3"  # same bytes as real/3.jpg
    files["other/ignored.txt"] = b"not selected"
    _repo(tmp_path, files)
    commit = _git(tmp_path / "owner" / "name", "rev-parse", "HEAD")
    rows = mf.collect("face", tmp_path, [_source(commit)])
    assert all(r.commit == commit and r.licence == "MIT (stated)" for r in rows)
    by_path = {(r.path, r.part): r for r in rows}
    assert by_path[("real/3.jpg", "")].sha256 == hashlib.sha256(b"real 3").hexdigest()
    left = by_path[("clips/Person_2/Person_2_0.mp4", "left")]
    right = by_path[("clips/Person_2/Person_2_0.mp4", "right")]
    assert (left.label, left.family, right.label, right.family) == ("real", "", "fake", "swapper")
    assert left.sha256 == right.sha256 and left.group == right.group
    assert not any(r.path.startswith("other/") for r in rows)
    assert mf.collect("image", tmp_path, [_source(commit)]) == []

    split = mf.assign_splits(rows)
    assert len(split) == len(rows) - 1  # the duplicate file is kept once
    assert {r.split for r in split if r.path.startswith("held/")} == {"test"}
    pairs = [r for r in split if r.part]
    for g in {r.group for r in pairs}:  # both halves of a clip, and every clip of a group, in one split
        assert len({r.split for r in pairs if r.group == g}) == 1
    assert {r.split for r in pairs} <= {"train", "val", "test"}
    stills = [r for r in split if r.path.startswith("real/")]
    assert {r.split for r in stills} == {"train", "val"}
    assert 2 <= sum(r.split == "val" for r in stills) <= 6

    out = tmp_path / "m.csv"
    mf.write_manifest(split, out)
    assert sorted(mf.read_manifest(out), key=lambda r: r.key) == sorted(split, key=lambda r: r.key)
    out.write_text("path,label\nx,real\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        mf.read_manifest(out)


def test_a_commit_that_is_not_in_the_clone_is_refused(tmp_path: Path) -> None:
    _repo(tmp_path, {"real/1.jpg": b"x"})
    with pytest.raises(SnapshotError):
        mf.collect("face", tmp_path, [_source("f" * 40)])


def test_pinned_sources_are_well_formed() -> None:
    names = [s.name for s in SOURCES]
    assert len(names) == len(set(names))
    for s in SOURCES:
        assert len(s.commit) == 40 and all(c in "0123456789abcdef" for c in s.commit)
        assert s.licence and "/" in s.repo
        for sel in s.selections:
            assert sel.label in ("real", "fake", "pair") and sel.split in ("hash", "identity", "test")
            assert (sel.label == "real") == (sel.family == "")
    assert dfl_clip_id("doc/celebs/Keanu_Reeves/Keanu_Reeves_0.mp4") == "Keanu_Reeves/Keanu_Reeves_0"
    assert 0.0 <= hash_fraction("a") < 1.0 and hash_fraction("a") != hash_fraction("b")


def test_committed_face_manifest_matches_the_pinned_sources() -> None:
    path = Path(__file__).resolve().parents[3] / "docs" / "manifests" / "train-face.csv"
    rows = mf.read_manifest(path)
    pins = {s.name: s for s in SOURCES}
    for r in rows:
        assert r.source in pins and r.commit == pins[r.source].commit and r.repo == pins[r.source].repo
        assert r.split == "missing" or len(r.sha256) == 64
    dfl = [r for r in rows if r.source == "deepfacelive" and r.split != "missing"]
    test_groups = {r.group for r in dfl if r.split == "test"}
    assert test_groups and not test_groups & {r.group for r in dfl if r.split in ("train", "val")}
