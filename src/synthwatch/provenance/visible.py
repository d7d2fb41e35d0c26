"""Explicit (visible) labels on images: burn "AI生成 / AI-generated" into the picture.

GB 45438 (check the figures): the text contains "AI" or "人工智能" and "生成" or "合成"; its height is
at least 5% of the image's shorter side. The height measured here is the ink height of every line
of the rendered text, so the rule holds for what a viewer sees, not for a nominal font size.

Font: WenQuanYi Micro Hei (Debian ``fonts-wqy-microhei``, licence Apache-2.0 or GPL-3+ with the
font exception), found at its Debian path; another font can be given (it must cover Latin and CJK).
The source's EXIF, ICC profile and XMP packet (with its implicit label) are carried over; pixels
outside the label box are unchanged for lossless formats.

Isolation: :func:`burn_image_label` decodes, draws and encodes in the isolated provenance worker
(:mod:`synthwatch.provenance.isolation`) under ``transcode_timeout_s`` / ``transcode_memory_mb``; the
copy is written to a temporary file beside ``dst`` and moved into place only on success.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from synthwatch.errors import DecodeResourceError, MediaTooLarge
from synthwatch.media.sniff import sniff

from .carriers import images
from .errors import CorruptContainer, ProvenanceError, UnsupportedCarrier

__all__ = ["DEFAULT_TEXT", "FONT_CANDIDATES", "FontNotFound", "VisibleLabel", "find_font", "burn_image_label",
           "check_text", "render_notice", "visible_label_from", "MIN_HEIGHT_RATIO"]

DEFAULT_TEXT = ("AI生成", "AI-generated")
MIN_HEIGHT_RATIO = 0.05
FONT_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
     "WenQuanYi Micro Hei (Debian fonts-wqy-microhei): Apache-2.0 or GPL-3+ with font exception"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
     "Noto Sans CJK (Debian fonts-noto-cjk): SIL Open Font License 1.1"),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
     "WenQuanYi Zen Hei (Debian fonts-wqy-zenhei): GPL-2 with font exception"),
)
_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


class FontNotFound(ProvenanceError):
    code = "label_font_missing"


@dataclass(frozen=True)
class VisibleLabel:
    """What was drawn."""

    text: tuple[str, ...]
    font: str
    font_licence: str
    font_size: int
    text_height_px: int  # smallest ink height among the lines
    min_required_px: int
    ratio: float  # text_height_px / shorter side
    box: tuple[int, int, int, int]

    def to_dict(self) -> dict[str, Any]:
        return {"text": list(self.text), "font": self.font, "font_licence": self.font_licence,
                "font_size": self.font_size, "text_height_px": self.text_height_px,
                "min_required_px": self.min_required_px, "ratio": round(self.ratio, 4), "box": list(self.box)}


def visible_label_from(d: Any, what: str = "drawing the notice") -> VisibleLabel:
    """A :class:`VisibleLabel` from the plain fields an isolated worker sent back (checked)."""
    try:
        text, box = tuple(d["text"]), tuple(d["box"])
        label = VisibleLabel(text, d["font"], d["font_licence"], d["font_size"], d["text_height_px"],
                             d["min_required_px"], float(d["ratio"]), box)
        ok = (all(isinstance(t, str) for t in text) and len(box) == 4 and all(isinstance(v, int) for v in box)
              and isinstance(label.font, str) and isinstance(label.font_licence, str)
              and all(isinstance(v, int) for v in (label.font_size, label.text_height_px, label.min_required_px)))
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise DecodeResourceError(f"the isolated provenance worker sent a malformed result for {what}")
    return label


def find_font(path: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """(font path, licence note): ``path``, else ``$SYNTHWATCH_LABEL_FONT``, else a known Debian CJK font."""
    if path is not None or os.environ.get("SYNTHWATCH_LABEL_FONT"):
        p = str(path or os.environ["SYNTHWATCH_LABEL_FONT"])
        if not os.path.isfile(p):
            from synthwatch.media.source import display_name

            raise FontNotFound(f"label font {display_name(p)} does not exist")
        return p, "given by the caller"
    for p, licence in FONT_CANDIDATES:
        if os.path.isfile(p):
            return p, licence
    raise FontNotFound("no font that renders Chinese was found; install one with: "
                       "apt-get install fonts-wqy-microhei (or set SYNTHWATCH_LABEL_FONT)")


def _ink_height(font: ImageFont.FreeTypeFont, text: str) -> int:
    _left, top, _right, bottom = font.getbbox(text)
    return int(bottom - top)


def _layout(font_path: str, lines: tuple[str, ...], need: int) -> tuple[ImageFont.FreeTypeFont, int]:
    size = max(4, need)
    for _ in range(400):
        font = ImageFont.truetype(font_path, size)
        heights = [_ink_height(font, line) for line in lines]
        if min(heights) >= need:
            widest = max(font.getbbox(line)[2] - font.getbbox(line)[0] for line in lines)
            return font, int(widest)
        size += max(1, size // 20)
    raise UnsupportedCarrier("could not size the visible label")  # pragma: no cover


def check_text(text: tuple[str, ...]) -> None:
    """Refuse a notice that does not say "AI"/"人工智能" and "生成"/"合成" (GB 45438)."""
    joined = " / ".join(text)
    if not (("AI" in joined or "人工智能" in joined) and ("生成" in joined or "合成" in joined)):
        raise ProvenanceError("the notice must contain 'AI' or '人工智能' and '生成' or '合成'")


def render_notice(size: tuple[int, int], *, text: tuple[str, ...] = DEFAULT_TEXT,
                  font_path: str | os.PathLike[str] | None = None, corner: str = "bottom-left",
                  min_height_ratio: float = MIN_HEIGHT_RATIO) -> tuple[Image.Image, VisibleLabel]:
    """The notice for a picture of ``size`` (width, height): a transparent RGBA overlay and what it holds.

    One renderer for images and video frames: the text is sized so that every line's ink height is
    at least ``min_height_ratio`` of the shorter side, on a translucent dark box in ``corner``.
    Raises :class:`UnsupportedCarrier` when such a notice does not fit.
    """
    check_text(text)
    path, licence = find_font(font_path)
    w, h = size
    joined = " / ".join(text)
    need = max(1, math.ceil(min_height_ratio * min(w, h)))
    lines: tuple[str, ...] = (joined,)
    font, width = _layout(path, lines, need)
    if width > w * 0.9 and len(text) > 1:
        font, width = _layout(path, text, need)
        lines = text
    pad = max(2, need // 4)
    line_gap = max(1, need // 5)
    heights = [_ink_height(font, line) for line in lines]
    box_w = width + 2 * pad
    box_h = sum(heights) + line_gap * (len(lines) - 1) + 2 * pad
    if box_w > w or box_h > h:
        raise UnsupportedCarrier(f"a notice {need}px high does not fit a {w}x{h} picture")
    x0 = max(0, pad if "left" in corner else w - box_w - pad)
    y0 = max(0, h - box_h - pad if "bottom" in corner else pad)
    overlay = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rectangle((x0, y0, x0 + box_w - 1, y0 + box_h - 1), fill=(0, 0, 0, 170))
    y = y0 + pad
    for line, lh in zip(lines, heights, strict=True):
        bx, by = font.getbbox(line)[:2]
        draw.text((x0 + pad - bx, y - by), line, font=font, fill=(255, 255, 255, 255))
        y += lh + line_gap
    info = VisibleLabel(tuple(lines), path, licence, int(font.size), min(heights), need, min(heights) / min(w, h),
                        (int(x0), int(y0), int(x0 + box_w), int(y0 + box_h)))
    return overlay, info


def burn_image_label(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                     text: tuple[str, ...] = DEFAULT_TEXT, font_path: str | os.PathLike[str] | None = None,
                     corner: str = "bottom-left", min_height_ratio: float = MIN_HEIGHT_RATIO,
                     deadline: float | None = None) -> VisibleLabel:
    """Draw the notice on a copy of the image ``src`` (JPEG, PNG or WebP) at ``dst``.

    Decoding and encoding run in the isolated provenance worker: a hostile image costs a typed error
    (:class:`~synthwatch.errors.DecodeTimeout`, :class:`~synthwatch.errors.DecodeResourceError`, ...);
    ``dst`` is only written on success."""
    from ._transcode import temp_output
    from .isolation import run

    fmt = sniff(src).format
    if fmt not in _FORMATS:
        raise UnsupportedCarrier(f"visible labels are drawn on JPEG, PNG and WebP images, not {fmt}")
    check_text(text)
    find_font(font_path)
    what = "drawing the visible notice on the image"
    with temp_output(dst, os.path.splitext(os.fspath(dst))[1] or f".{fmt}") as tmp:
        raw = run("visible_image", {"src": os.fspath(src), "tmp": tmp, "fmt": fmt, "text": tuple(str(t) for t in text),
                                    "font_path": None if font_path is None else os.fspath(font_path),
                                    "corner": str(corner), "min_height_ratio": float(min_height_ratio)},
                  what=what, transcode=True, deadline=deadline)
        drawn = visible_label_from(raw, what)
        os.replace(tmp, dst)
    return drawn


def _burn_task(src: str, tmp: str, fmt: str, text: tuple[str, ...], font_path: str | None, corner: str,
               min_height_ratio: float) -> dict[str, Any]:
    """In the isolated worker: draw the notice on ``src`` and write the copy to ``tmp`` (plain result)."""
    from dataclasses import asdict

    data = Path(src).read_bytes()
    meta = {"jpeg": images.read_jpeg, "png": images.read_png, "webp": images.read_webp}[fmt](data)
    im = None
    try:
        im = Image.open(src, formats=[_FORMATS[fmt]])
        im.load()
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        if im is not None:
            im.close()
        if isinstance(exc, Image.DecompressionBombError):
            raise MediaTooLarge(f"the image is too large to label: {exc}", limit="pillow_max_image_pixels") from exc
        raise CorruptContainer(f"the image could not be decoded: {exc}") from exc
    with im:
        info = dict(im.info)
        overlay, drawn = render_notice(im.size, text=text, font_path=font_path, corner=corner,
                                       min_height_ratio=min_height_ratio)
        mode = im.mode
        canvas = im.convert("RGBA")
        out = Image.alpha_composite(canvas, overlay)
        result = out.convert(mode) if mode in ("RGB", "RGBA", "L", "LA") else out.convert("RGB")
        save: dict[str, Any] = {}
        if info.get("icc_profile"):
            save["icc_profile"] = info["icc_profile"]
        if info.get("exif"):
            save["exif"] = info["exif"]
        if fmt == "jpeg":
            save.update(quality=95, subsampling=0)
            if result.mode not in ("RGB", "L"):
                result = result.convert("RGB")
        elif fmt == "webp":
            save.update(lossless=True)
        result.save(tmp, _FORMATS[fmt], **save)
    # carry the source's XMP packet (and so its implicit label) over, byte for byte
    if meta.xmp:
        packet = meta.xmp[0]
        body = Path(tmp).read_bytes()
        if fmt == "jpeg":
            body = images.write_jpeg_xmp(body, lambda _old: packet, lambda p: p)
        elif fmt == "png":
            body = images.write_png_xmp(body, lambda _old: packet, lambda p: p)
        else:
            body = images.write_webp_xmp(body, lambda _old: packet)
        Path(tmp).write_bytes(body)
    return asdict(drawn)
