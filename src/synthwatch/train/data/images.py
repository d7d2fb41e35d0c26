"""Build the AI-image training set from the manifest: every picture normalised the same way.

In nearly every public source the two classes differ in format: the generated pictures are PNG or
WebP at the generator's square size, the photographs JPEG at a camera's or a dataset's size, often
with EXIF. A model trained on them as they are learns the container. So every picture of both
classes goes through exactly the same steps (:func:`normalise`):

1. decode (Pillow), apply the EXIF orientation, drop everything but the pixels (no EXIF, XMP, ICC
   profile or PNG text chunks survive);
2. convert to 8-bit RGB; transparency is composited over white;
2b. a picture stored losslessly (PNG, BMP, TIFF, GIF) gets one JPEG round trip first, at a quality
   drawn from [75, 95] by its hash: photographs arrive with a JPEG history and generator outputs
   often without one, and a JPEG history (double-compression traces) must not tell the classes
   apart. After this step every picture of either class has exactly one lossy encode behind it;
3. if the shorter side is above :data:`MAX_SHORT_SIDE`, reduce (area averaging) so that it is
   exactly that; smaller pictures keep their size (never enlarged: enlarging would write
   interpolation traces into one class's small pictures);
4. encode as baseline JPEG, quality :data:`JPEG_QUALITY`, 4:2:0, no metadata.

Outputs under ``OUT/image``: ``<split>/<label>/<source>/<sha256[:20]>.jpg``, ``index.csv`` (one row
per picture, with the original format and size, so that what normalisation removed can be
checked) and ``eval-<split>.csv`` manifests for ``synthwatch eval``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ...errors import ConfigError
from .git import GitSnapshot, find_snapshot
from .manifest import Row

__all__ = ["MAX_SHORT_SIDE", "JPEG_QUALITY", "LOSSLESS_FORMATS", "normalise", "decode_rgb", "build_images", "INDEX_COLUMNS"]

MAX_SHORT_SIDE = 512
JPEG_QUALITY = 90
#: formats whose pictures get a JPEG round trip before normalising (step 2b)
LOSSLESS_FORMATS = frozenset({"PNG", "BMP", "TIFF", "GIF"})
INDEX_COLUMNS = ["path", "source", "label", "family", "split", "group", "orig_format", "orig_w", "orig_h",
                 "w", "h", "file_sha256"]


def decode_rgb(data: bytes) -> tuple[np.ndarray, str]:
    """``(uint8 RGB [H, W, 3], original format)``: EXIF orientation applied, alpha over white."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as src:
            fmt = str(src.format or "")
            src.seek(0)
            im: Image.Image = ImageOps.exif_transpose(src)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                bg.alpha_composite(rgba)
                im = bg
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ConfigError(f"cannot decode the picture: {exc}") from exc
    return rgb, fmt


def normalise(rgb: np.ndarray, max_short: int = MAX_SHORT_SIDE) -> np.ndarray:
    """Step 3 of the module doc: area-reduce so the shorter side is at most ``max_short``."""
    h, w = rgb.shape[:2]
    short = min(h, w)
    if short <= max_short:
        return rgb
    k = max_short / short
    size = (max(1, round(w * k)), max(1, round(h * k)))
    if min(size) != max_short:  # rounding: pin the shorter side exactly
        size = (max_short, size[1]) if w <= h else (size[0], max_short)
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, subsampling="4:2:0", optimize=False)
    return buf.getvalue()


def build_images(rows: list[Row], repos: Path, out: Path, progress: Callable[[str], None] | None = None) -> int:
    """Write ``out`` (see the module doc) from the ``image`` rows of a manifest; returns the count."""
    rows = [r for r in rows if r.task == "image" and r.split != "missing"]
    out.mkdir(parents=True, exist_ok=True)
    snaps: dict[str, GitSnapshot] = {}
    blobs: dict[tuple[str, str], dict[str, str]] = {}
    index: list[list[str]] = []
    failed: list[str] = []
    try:
        for n, r in enumerate(sorted(rows, key=lambda r: (r.repo, r.path))):
            snap = snaps.get(r.repo)
            if snap is None:
                snap = snaps[r.repo] = GitSnapshot(find_snapshot(repos, r.repo))
            table = blobs.get((r.repo, r.commit))
            if table is None:
                table = blobs[(r.repo, r.commit)] = {e.path: e.blob for e in snap.ls_tree(r.commit)}
            data = snap.read(table[r.path])
            if hashlib.sha256(data).hexdigest() != r.sha256:
                raise ConfigError(f"{r.repo}@{r.commit}:{r.path} does not match the manifest's sha256")
            try:
                rgb, fmt = decode_rgb(data)
            except ConfigError as exc:
                failed.append(f"{r.repo}:{r.path}: {exc}")
                continue
            if fmt.upper() in LOSSLESS_FORMATS:
                q = 75 + int(r.sha256[:8], 16) % 21
                rgb = np.asarray(decode_rgb(encode_jpeg(rgb, q))[0])
            norm = normalise(rgb)
            rel = f"{r.split}/{r.label}/{r.source}/{r.sha256[:20]}.jpg"
            dst = out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(encode_jpeg(norm))
            index.append([rel, r.source, r.label, r.family, r.split, r.group, fmt, str(rgb.shape[1]),
                          str(rgb.shape[0]), str(norm.shape[1]), str(norm.shape[0]), r.sha256])
            if progress and n % 200 == 0:
                progress(f"{n}/{len(rows)} pictures")
    finally:
        for s in snaps.values():
            s.close()
    with open(out / "index.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(INDEX_COLUMNS)
        w.writerows(index)
    (out / "failed.txt").write_text("".join(f"{x}\n" for x in failed), encoding="utf-8")
    by_split: dict[str, list[list[str]]] = {}
    for rec in index:
        by_split.setdefault(rec[4], []).append([rec[0], rec[2], "", rec[3], rec[4], rec[1], rec[5]])
    for split, recs in by_split.items():
        with open(out / f"eval-{split}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["path", "label", "group", "family", "split", "source", "prompt_group"])
            w.writerows(sorted(recs))
    return len(index)
