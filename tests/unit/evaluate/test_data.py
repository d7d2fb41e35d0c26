"""Each dataset adapter on a small generated tree in its own layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthwatch.errors import ConfigError
from synthwatch.evaluate.data import (
    detect_kind,
    load_dataset,
    load_spec,
    parse_label,
    parse_spec,
)


def touch(p: Path, data: bytes = b"x") -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def by_id(ds):  # type: ignore[no-untyped-def]
    return {i.id: i for i in ds.items}


# ---------------------------------------------------------------------------------------- specs
def test_parse_spec_and_labels(tmp_path: Path) -> None:
    assert parse_spec("folder:/a/b?split=val&name=x") == ("folder", Path("/a/b"), {"split": "val", "name": "x"})
    assert parse_spec("in-the-wild:/a/meta.csv") == ("itw", Path("/a/meta.csv"), {})
    assert parse_spec("/plain/path") == (None, Path("/plain/path"), {})
    assert parse_spec("C:/data") == (None, Path("C:/data"), {})  # not a kind: part of the path
    for v in ("0", "real", "bonafide", "bona-fide", "Bona fide"):
        assert parse_label(v) == 0
    for v in ("1", "fake", "spoof", "deepfake"):
        assert parse_label(v) == 1
    with pytest.raises(ConfigError):
        parse_label("maybe")
    with pytest.raises(ConfigError, match="no known layout"):
        load_spec(str(tmp_path))
    touch(tmp_path / "real" / "x.png")
    with pytest.raises(ConfigError, match="unknown option"):
        load_spec(str(tmp_path) + "?colour=red")


# ---------------------------------------------------------------------------------------- folder
def test_folder_layout_keeps_family_and_source_and_lists_what_it_skips(tmp_path: Path) -> None:
    root = tmp_path / "set"
    touch(root / "real" / "studio" / "a.wav")
    touch(root / "real" / "b.flac")
    touch(root / "fake" / "HiFi-GAN" / "v1" / "c.wav")
    touch(root / "fake" / "VITS" / "d.mp4")
    touch(root / "fake" / "VITS" / "notes.txt")
    touch(root / "fake" / ".DS_Store")
    touch(root / "README.md")
    assert detect_kind(root) == "folder"
    ds = load_spec(str(root))
    items = by_id(ds)
    assert set(items) == {"real/studio/a.wav", "real/b.flac", "fake/HiFi-GAN/v1/c.wav", "fake/VITS/d.mp4"}
    a, b, c, d = (items[k] for k in ("real/studio/a.wav", "real/b.flac", "fake/HiFi-GAN/v1/c.wav", "fake/VITS/d.mp4"))
    assert (a.label, a.family, a.source, a.kind) == (0, "", "studio", "audio")
    assert (b.label, b.source, b.meta) == (0, "", {})
    assert (c.label, c.family, c.source, c.meta) == (1, "HiFi-GAN", "HiFi-GAN", {"subdir": "HiFi-GAN/v1"})
    assert (d.family, d.kind, d.group) == ("VITS", "video", "fake/VITS/d.mp4")
    reasons = {Path(p.path).name: p.reason for p in ds.ignored}
    assert reasons["notes.txt"].startswith("not a media file suffix")
    assert reasons[".DS_Store"] == "hidden file"
    assert reasons["README.md"] == "outside real/ and fake/"
    summary = ds.summary()
    assert summary["n_ignored"] == 3 and summary["n_real"] == 2 and summary["n_fake"] == 2
    assert summary["families"] == {"HiFi-GAN": 1, "VITS": 1}


def test_folder_aliases_and_split_option(tmp_path: Path) -> None:
    touch(tmp_path / "m" / "real" / "x.jpg")
    touch(tmp_path / "m" / "deepfake" / "y.jpg")
    ds = load_spec(str(tmp_path / "m") + "?split=val&source=meso")
    assert sorted((i.label, i.split, i.source) for i in ds.items) == [(0, "val", "meso"), (1, "val", "meso")]


def test_files_of_one_class(tmp_path: Path) -> None:
    touch(tmp_path / "libri" / "19-198-0000.flac")
    touch(tmp_path / "libri" / "sub" / "26-495-0000.flac")
    touch(tmp_path / "libri" / "SPEAKERS.TXT")
    ds = load_spec(f"files:{tmp_path / 'libri'}?label=real")
    assert sorted((i.id, i.label, i.source) for i in ds.items) == [("19-198-0000.flac", 0, ""),
                                                                   ("sub/26-495-0000.flac", 0, "sub")]
    assert [Path(p.path).name for p in ds.ignored] == ["SPEAKERS.TXT"]
    with pytest.raises(ConfigError, match="label"):
        load_spec(f"files:{tmp_path / 'libri'}")


def test_several_specs_get_distinct_ids_and_groups(tmp_path: Path) -> None:
    for name in ("a", "b"):
        touch(tmp_path / name / "real" / "same.png")
        touch(tmp_path / name / "fake" / "same.png")
    ds = load_dataset([str(tmp_path / "a") + "?split=val", str(tmp_path / "b") + "?split=test"])
    assert sorted(i.id for i in ds.items) == ["a/fake/same.png", "a/real/same.png", "b/fake/same.png", "b/real/same.png"]
    assert len({i.group for i in ds.items}) == 4
    assert ds.summary()["by_split"] == {"val": {"real": 1, "fake": 1}, "test": {"real": 1, "fake": 1}}
    named = load_dataset([str(tmp_path / "a") + "?name=one", str(tmp_path / "a") + "?name=two"])
    assert {i.id.split("/")[0] for i in named.items} == {"one", "two"}


# ---------------------------------------------------------------------------------------- manifest
def test_csv_manifest(tmp_path: Path) -> None:
    touch(tmp_path / "clips" / "r1.wav")
    touch(tmp_path / "clips" / "f1.wav")
    touch(tmp_path / "clips" / "f2.wav")
    (tmp_path / "m.csv").write_text(
        "path,label,group,family,split,source,speaker\n"
        "clips/r1.wav,bonafide,,,dev,lj,LJ\n"
        "clips/f1.wav,spoof,vid7,GL,dev,espnet,LJ\n"
        "clips/f2.wav,1,vid7,WNV,eval,espnet,\n"
        "clips/missing.wav,0,,,dev,lj,\n"
        "clips/f1.wav,perhaps,,,dev,,\n", encoding="utf-8")
    assert detect_kind(tmp_path / "m.csv") == "manifest"
    ds = load_spec(str(tmp_path / "m.csv"))
    items = by_id(ds)
    assert list(items) == ["clips/r1.wav", "clips/f1.wav", "clips/f2.wav"]
    assert items["clips/r1.wav"].group == "clips/r1.wav"  # no group: the item is its own group
    assert (items["clips/f1.wav"].group, items["clips/f1.wav"].family, items["clips/f1.wav"].split) == ("vid7", "GL", "dev")
    assert items["clips/f1.wav"].meta == {"speaker": "LJ"} and items["clips/f2.wav"].meta == {}
    assert items["clips/f2.wav"].path == tmp_path / "clips" / "f2.wav"
    problems = {p.where: p.reason for p in ds.problems}
    assert problems["m.csv line 5"] == "file not found"
    assert "neither real" in problems["m.csv line 6"]
    assert ds.summary()["n_problems"] == 2


def test_jsonl_manifest(tmp_path: Path) -> None:
    touch(tmp_path / "a.png")
    touch(tmp_path / "b.png")
    lines = [json.dumps({"path": "a.png", "label": 0, "split": "test"}),
             "{not json",
             json.dumps({"path": str(tmp_path / "b.png"), "label": "fake", "group": "g", "source": "sd"}),
             ""]
    (tmp_path / "m.jsonl").write_text("\n".join(lines), encoding="utf-8")
    ds = load_spec(str(tmp_path / "m.jsonl"))
    assert [(i.label, i.group, i.kind) for i in ds.items] == [(0, "a.png", "image"), (1, "g", "image")]
    assert len(ds.problems) == 1 and ds.problems[0].reason.startswith("invalid JSON")
    with pytest.raises(ConfigError, match="path and label"):
        (tmp_path / "bad.csv").write_text("file,klass\nx,0\n", encoding="utf-8")
        load_spec("manifest:" + str(tmp_path / "bad.csv"))


# ---------------------------------------------------------------------------------------- ASVspoof
def asvspoof_tree(root: Path) -> Path:
    la = root / "LA"
    proto = la / "ASVspoof2019_LA_cm_protocols"
    proto.mkdir(parents=True)
    (proto / "ASVspoof2019.LA.cm.eval.trl.txt").write_text(
        "LA_0039 LA_E_2834763 - A11 spoof\n"
        "LA_0014 LA_E_8877452 - - bonafide\n"
        "LA_0039 LA_E_6828287 - A07 spoof\n"
        "LA_0014 LA_E_0000001 - - bonafide\n"
        "garbage line\n", encoding="utf-8")
    (proto / "ASVspoof2019.LA.cm.dev.trl.txt").write_text(
        "LA_0069 LA_D_1047731 - - bonafide\nLA_0069 LA_D_1105538 - A01 spoof\n", encoding="utf-8")
    for f in ("LA_E_2834763", "LA_E_8877452", "LA_E_6828287"):  # LA_E_0000001 is missing
        touch(la / "ASVspoof2019_LA_eval" / "flac" / f"{f}.flac")
    for f in ("LA_D_1047731", "LA_D_1105538"):
        touch(la / "ASVspoof2019_LA_dev" / "flac" / f"{f}.flac")
    return la


def test_asvspoof2019_protocol_file(tmp_path: Path) -> None:
    la = asvspoof_tree(tmp_path)
    proto = la / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.eval.trl.txt"
    assert detect_kind(proto) == "asvspoof2019"
    ds = load_spec(str(proto))
    items = by_id(ds)
    assert set(items) == {"LA_E_2834763", "LA_E_8877452", "LA_E_6828287"}
    sp = items["LA_E_2834763"]
    assert (sp.label, sp.family, sp.split, sp.meta, sp.kind) == (1, "A11", "eval", {"speaker": "LA_0039"}, "audio")
    assert sp.path == la / "ASVspoof2019_LA_eval" / "flac" / "LA_E_2834763.flac"
    assert (items["LA_E_8877452"].label, items["LA_E_8877452"].family) == (0, "")
    reasons = sorted(p.reason for p in ds.problems)
    assert reasons[0] == "file not found" and reasons[1].startswith("not a protocol line")
    # an explicit audio folder
    other = tmp_path / "flac_copy"
    for f in ("LA_E_2834763", "LA_E_8877452", "LA_E_6828287", "LA_E_0000001"):
        touch(other / f"{f}.flac")
    assert len(load_spec(f"asvspoof2019:{proto}?audio={other}").items) == 4


def test_asvspoof2019_root_loads_dev_and_eval(tmp_path: Path) -> None:
    la = asvspoof_tree(tmp_path)
    assert detect_kind(la) == "asvspoof2019"
    ds = load_spec(str(la))
    assert ds.summary()["by_split"] == {"dev": {"real": 1, "fake": 1}, "eval": {"real": 1, "fake": 2}}
    assert {i.split for i in load_spec(str(la) + "?splits=dev").items} == {"dev"}
    with pytest.raises(ConfigError, match="not found"):
        load_spec(str(la) + "?splits=train")


def test_asv_score_file_gives_error_rates(tmp_path: Path) -> None:
    from synthwatch.evaluate.runner import load_asv_scores

    p = tmp_path / "asv.txt"
    p.write_text("bonafide target 2.0\nbonafide target 3.0\nbonafide target 4.0\nbonafide target 0.5\n"
                 "bonafide nontarget -1\nbonafide nontarget 0\nbonafide nontarget 1\nbonafide nontarget 3.5\n"
                 "A07 spoof 1.5\nA08 spoof 2.5\nA09 spoof -2\nA10 spoof 5\n", encoding="utf-8")
    assert load_asv_scores(p) == (0.25, 0.25, 0.25)
    p.write_text("bonafide other 1.0\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_asv_scores(p)


# ---------------------------------------------------------------------------------------- In-the-Wild
def test_in_the_wild_meta_csv(tmp_path: Path) -> None:
    root = tmp_path / "release_in_the_wild"
    touch(root / "0.wav")
    touch(root / "1.wav")
    (root / "meta.csv").write_text("file,speaker,label\n0.wav,Alec Guinness,spoof\n1.wav,Alec Guinness,bona-fide\n"
                                   "2.wav,Barack Obama,spoof\n", encoding="utf-8")
    assert detect_kind(root) == "itw" and detect_kind(root / "meta.csv") == "itw"
    ds = load_spec(str(root))
    assert [(i.id, i.label, i.meta["speaker"], i.source) for i in ds.items] == [
        ("0.wav", 1, "Alec Guinness", "in-the-wild"), ("1.wav", 0, "Alec Guinness", "in-the-wild")]
    assert [p.reason for p in ds.problems] == ["file not found"]


# ---------------------------------------------------------------------------------------- FF++
def test_faceforensics_layout_with_official_splits(tmp_path: Path) -> None:
    root = tmp_path / "FaceForensics++"
    for stem in ("000", "001", "002", "003"):
        touch(root / "original_sequences" / "youtube" / "c23" / "videos" / f"{stem}.mp4")
    touch(root / "original_sequences" / "youtube" / "raw" / "videos" / "000.mp4")
    touch(root / "manipulated_sequences" / "Deepfakes" / "c23" / "videos" / "000_003.mp4")
    touch(root / "manipulated_sequences" / "Deepfakes" / "c23" / "videos" / "003_000.mp4")
    touch(root / "manipulated_sequences" / "Face2Face" / "c23" / "videos" / "001_002.mp4")
    touch(root / "manipulated_sequences" / "NeuralTextures" / "c40" / "videos" / "001_002.mp4")
    (root / "splits").mkdir()
    (root / "splits" / "test.json").write_text(json.dumps([["000", "003"]]), encoding="utf-8")
    (root / "splits" / "train.json").write_text(json.dumps([["001", "002"]]), encoding="utf-8")
    assert detect_kind(root) == "ffpp"
    ds = load_spec(str(root))
    items = by_id(ds)
    assert set(items) == {"original/youtube/000", "original/youtube/001", "original/youtube/002",
                          "original/youtube/003", "manipulated/Deepfakes/000_003", "manipulated/Deepfakes/003_000",
                          "manipulated/Face2Face/001_002"}
    df = items["manipulated/Deepfakes/003_000"]
    assert (df.label, df.family, df.split, df.source, df.kind) == (1, "Deepfakes", "test", "Deepfakes", "video")
    assert (items["original/youtube/002"].label, items["original/youtube/002"].split) == (0, "train")
    assert items["manipulated/Face2Face/001_002"].split == "train"
    assert any("no c23/videos" in p.reason for p in ds.ignored)  # NeuralTextures has only c40
    only = load_spec(str(root) + "?methods=Face2Face")
    assert {i.family for i in only.items if i.label} == {"Face2Face"}
    assert len(load_spec(str(root) + "?compression=c40").items) == 1
    with pytest.raises(ConfigError):
        load_spec(str(root) + "?compression=c0")
    with pytest.raises(ConfigError):
        load_spec(str(root) + "?methods=FaceShifter")


# ---------------------------------------------------------------------------------------- Celeb-DF
def test_celebdf_test_list_uses_1_for_real(tmp_path: Path) -> None:
    root = tmp_path / "Celeb-DF-v2"
    touch(root / "Celeb-real" / "id0_0000.mp4")
    touch(root / "YouTube-real" / "00170.mp4")
    touch(root / "Celeb-synthesis" / "id0_id1_0000.mp4")
    (root / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00170.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n1 Celeb-real/id0_0000.mp4\n"
        "0 Celeb-synthesis/id9_id1_0001.mp4\n1 Celeb-real/id0_0000.mp4\n", encoding="utf-8")
    assert detect_kind(root) == "celebdf"
    assert detect_kind(root / "List_of_testing_videos.txt") == "celebdf"
    ds = load_spec(str(root))
    items = by_id(ds)
    assert (items["YouTube-real/00170"].label, items["YouTube-real/00170"].source) == (0, "YouTube-real")
    fake = items["Celeb-synthesis/id0_id1_0000"]
    assert (fake.label, fake.family, fake.split) == (1, "Celeb-synthesis", "test")
    assert items["Celeb-real/id0_0000"].label == 0
    assert sorted(p.reason for p in ds.problems) == ["file not found", "listed more than once"]
