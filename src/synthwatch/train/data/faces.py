"""Build the face training set from the manifest: aligned face crops, made the way a scan makes them.

Every picture and every sampled video frame goes through the same steps as in
:mod:`synthwatch.pipeline`: CenterFace finds the faces, :func:`synthwatch.faces.align_face` warps the
face onto the five-point template into a 256 x 256 uint8 RGB crop. Stills are first padded by a
quarter of their size on every side (border replicated) so that tightly cropped face photographs
still show a whole face to the detector; the crop itself comes from the same frame.

Side-by-side clips (``part`` left / right in the manifest) are split at half width; every
``frame_step``-th frame gives one crop per half when both halves show a face at the same place
(boxes overlapping with IoU >= :data:`PAIR_IOU`), so the real and the fake track are matched frame
by frame. Both halves are also written as separate lossless H.264 videos (``qp 0``, the decoded
frames exactly), the input of ``synthwatch eval`` on held-out identities.

Outputs under ``OUT/face``: ``crops/<source>/...png``, ``index.csv`` (one row per crop),
``videos/<clip>_{left,right}.mp4`` and ``eval-<split>.csv`` (eval manifests per split).

Both classes are decoded, cropped and stored the same way (PNG, no metadata), so the format of a
crop says nothing about its class.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError
from ...faces import FaceDetection, align_face, box_iou
from .git import GitSnapshot, find_snapshot
from .manifest import Row
from .sources import dfl_clip_id

__all__ = ["CROP", "PAIR_IOU", "STILL_PAD", "CropRecord", "best_face", "still_crop", "build_faces", "INDEX_COLUMNS"]

CROP = 256
PAIR_IOU = 0.3
STILL_PAD = 0.25
INDEX_COLUMNS = ["crop", "source", "label", "family", "group", "split", "clip", "frame", "t_s", "part",
                 "file_sha256", "face_px"]


@dataclass(frozen=True)
class CropRecord:
    crop: str
    source: str
    label: str
    family: str
    group: str
    split: str
    clip: str
    frame: int
    t_s: float
    part: str
    file_sha256: str
    face_px: float


def best_face(dets: list[FaceDetection]) -> FaceDetection | None:
    """The main face of a picture: the largest of the confident ones."""
    if not dets:
        return None
    return max(dets, key=lambda d: d.area * d.score)


def _pad(img: np.ndarray, frac: float) -> tuple[np.ndarray, int, int]:
    import cv2

    h, w = img.shape[:2]
    py, px = int(round(h * frac)), int(round(w * frac))
    return cv2.copyMakeBorder(img, py, py, px, px, cv2.BORDER_REPLICATE), px, py


def still_crop(img: np.ndarray, detector: Any) -> tuple[np.ndarray, FaceDetection] | None:
    """The aligned crop of the main face of a still picture (None when no face is found)."""
    padded, _px, _py = _pad(img, STILL_PAD)
    det = best_face(detector.detect(padded))
    if det is None:
        return None
    return align_face(padded, det, size=CROP), det


def _decode_still(data: bytes) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as src:
        im: Image.Image = ImageOps.exif_transpose(src)
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def _write_png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, format="PNG", optimize=False)


class _LosslessWriter:
    """Frames to a lossless H.264 file (yuv420p, qp 0) at the clip's own frame rate."""

    def __init__(self, path: Path, width: int, height: int, rate: Fraction) -> None:
        import av

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._c = av.open(str(path), "w")
        self._s = self._c.add_stream("libx264", rate=rate)
        self._s.width, self._s.height = width, height
        self._s.pix_fmt = "yuv420p"
        self._s.options = {"qp": "0", "preset": "veryfast"}

    def write(self, frame: Any) -> None:
        for pkt in self._s.encode(frame):
            self._c.mux(pkt)

    def close(self) -> None:
        for pkt in self._s.encode():
            self._c.mux(pkt)
        self._c.close()


def _sbs_clip(data: bytes, clip: str, rows: dict[str, Row], detector: Any, out: Path, frame_step: int,
              videos: bool) -> list[CropRecord]:
    """Crops (and half videos) of one side-by-side clip."""
    import av

    left, right = rows["left"], rows["right"]
    recs: list[CropRecord] = []
    safe = clip.replace("/", "__").replace(" ", "_")
    writers: dict[str, _LosslessWriter] = {}
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or Fraction(25)
        w, h = stream.codec_context.width, stream.codec_context.height
        half = (w // 2) & ~1
        h2 = h & ~1
        if videos:
            for part in ("left", "right"):
                writers[part] = _LosslessWriter(out / "videos" / f"{safe}_{part}.mp4", half, h2, rate)
        try:
            for i, frame in enumerate(container.decode(stream)):
                rgb = frame.to_ndarray(format="rgb24")
                halves: dict[str, np.ndarray[Any, np.dtype[np.uint8]]] = {
                    "left": np.ascontiguousarray(rgb[:h2, :half], dtype=np.uint8),
                    "right": np.ascontiguousarray(rgb[:h2, w - half:w], dtype=np.uint8)}
                if videos:
                    for part, arr in halves.items():
                        writers[part].write(av.VideoFrame.from_ndarray(arr, format="rgb24").reformat(format="yuv420p"))
                if i % frame_step:
                    continue
                dl = best_face(detector.detect(halves["left"]))
                if dl is None:
                    continue
                dr = max(detector.detect(halves["right"]), key=lambda d: box_iou(d.box, dl.box), default=None)
                if dr is None or box_iou(dr.box, dl.box) < PAIR_IOU:
                    continue
                t_s = float(frame.time) if frame.time is not None else i / float(rate)
                for part, det, row in (("left", dl, left), ("right", dr, right)):
                    crop = align_face(halves[part], det, size=CROP)
                    rel = f"crops/{row.source}/{safe}/{i:05d}_{part}.png"
                    _write_png(out / rel, crop)
                    recs.append(CropRecord(rel, row.source, row.label, row.family, row.group, row.split, clip, i,
                                           round(t_s, 3), part, row.sha256, round(det.size, 1)))
        finally:
            for wr in writers.values():
                wr.close()
    return recs


def build_faces(rows: list[Row], repos: Path, out: Path, store: Any, *, frame_step: int = 3, videos: bool = True,
                progress: Callable[[str], None] | None = None) -> list[CropRecord]:
    """Build ``out`` (see the module doc) from the ``face`` rows of a manifest; returns the index."""
    from ...faces import create_face_detector

    detector = create_face_detector("centerface", store)
    out.mkdir(parents=True, exist_ok=True)
    recs: list[CropRecord] = []
    rows = [r for r in rows if r.task == "face" and r.split != "missing"]
    by_file: dict[tuple[str, str], dict[str, Row]] = {}
    for r in rows:
        by_file.setdefault((r.repo, r.path), {})[r.part] = r
    no_face: list[str] = []
    snaps: dict[str, GitSnapshot] = {}
    try:
        for n, ((repo, path), parts) in enumerate(sorted(by_file.items())):
            snap = snaps.get(repo)
            if snap is None:
                snap = snaps[repo] = GitSnapshot(find_snapshot(repos, repo))
            any_row = next(iter(parts.values()))
            blob = _blob_of(snap, any_row)
            data = snap.read(blob)
            if hashlib.sha256(data).hexdigest() != any_row.sha256:
                raise ConfigError(f"{repo}@{any_row.commit}:{path} does not match the manifest's sha256")
            if progress and n % 50 == 0:
                progress(f"{n}/{len(by_file)} files, {len(recs)} crops")
            if set(parts) == {"left", "right"}:
                recs.extend(_sbs_clip(data, dfl_clip_id(path), parts, detector, out, frame_step, videos))
                continue
            row = parts[""]
            got = still_crop(_decode_still(data), detector)
            if got is None:
                no_face.append(f"{repo}:{path}")
                continue
            crop, det = got
            rel = f"crops/{row.source}/{row.sha256[:20]}.png"
            _write_png(out / rel, crop)
            recs.append(CropRecord(rel, row.source, row.label, row.family, row.group, row.split, "", 0, 0.0, "",
                                   row.sha256, round(det.size, 1)))
    finally:
        for s in snaps.values():
            s.close()
    _write_index(out / "index.csv", recs)
    (out / "no_face.txt").write_text("".join(f"{p}\n" for p in no_face), encoding="utf-8")
    if videos:
        _write_eval_manifests(out, rows)
    return recs


_BLOBS: dict[tuple[str, str], dict[str, str]] = {}


def _blob_of(snap: GitSnapshot, row: Row) -> str:
    key = (str(snap.git_dir), row.commit)
    table = _BLOBS.get(key)
    if table is None:
        table = _BLOBS[key] = {e.path: e.blob for e in snap.ls_tree(row.commit)}
    try:
        return table[row.path]
    except KeyError as exc:
        raise ConfigError(f"{row.repo}@{row.commit} has no file {row.path}") from exc


def _write_index(path: Path, recs: list[CropRecord]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(INDEX_COLUMNS)
        for r in recs:
            w.writerow([getattr(r, c) for c in INDEX_COLUMNS])


def read_index(path: Path) -> list[CropRecord]:
    with open(path, newline="", encoding="utf-8") as f:
        return [CropRecord(**{**rec, "frame": int(rec["frame"]), "t_s": float(rec["t_s"]),  # type: ignore[arg-type]
                              "face_px": float(rec["face_px"])}) for rec in csv.DictReader(f)]


def _write_eval_manifests(out: Path, rows: list[Row]) -> None:
    """``eval-<split>.csv`` for ``synthwatch eval``: every half video of that split, group = item
    (the harness keeps real and fake apart), the clip and identity group as extra columns."""
    by_split: dict[str, list[list[str]]] = {}
    for r in rows:
        if not r.part:
            continue
        clip = dfl_clip_id(r.path)
        safe = clip.replace("/", "__").replace(" ", "_")
        video = out / "videos" / f"{safe}_{r.part}.mp4"
        if not video.is_file():
            continue
        by_split.setdefault(r.split, []).append([f"videos/{video.name}", r.label, "", r.family, r.split,
                                                 r.source, clip, r.group])
    for split, recs in by_split.items():
        with open(out / f"eval-{split}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["path", "label", "group", "family", "split", "source", "clip", "identity"])
            w.writerows(sorted(recs))
