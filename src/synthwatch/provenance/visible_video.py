"""Explicit (visible) labels on video: burn "AI生成 / AI-generated" into the first seconds of the picture.

GB 45438 (check the figures): on video the notice is shown at the start for at least 2 s (optionally
also elsewhere, or throughout). The notice is the one :func:`synthwatch.provenance.visible.render_notice`
draws for images (same font, same >= 5%-of-the-shorter-side rule), composited on each frame whose
time since the first frame is below ``seconds`` (every frame with ``throughout=True``).

Streaming: packets are demuxed, decoded, drawn on and re-encoded one frame at a time; nothing holds
more than a frame (plus the encoder's look-ahead). Frames outside the notice window are passed to the
encoder as decoded, so they differ from the source only by the new encode.

Re-encoding: H.264 (libx264, CRF 18) for MP4 / MOV and for MKV whose source is H.264, VP9
(libvpx-vp9, CRF 24) for WebM and other MKV. Width, height, time base (so every timestamp and the
frame rate) and the pixel format (when the encoder takes it, else yuv420p) are kept. Audio streams
are copied packet for packet; subtitle, data and attachment streams are dropped (reported). Then the
implicit label is written and read back (:func:`synthwatch.provenance._transcode.carry_label`).

Isolation: decoding, drawing and re-encoding run in the isolated provenance worker
(:mod:`synthwatch.provenance.isolation`) under ``transcode_timeout_s`` / ``transcode_memory_mb``, so a
hostile file that crashes, hangs or exhausts FFmpeg costs a typed error, never the calling process.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import av
import numpy as np

from synthwatch.media.sniff import sniff
from synthwatch.types import MediaKind

from . import isolation
from ._transcode import AV_ERRORS, MUXERS, carry_label, copy_tags, open_input, open_output, temp_output
from .errors import CorruptContainer, ProvenanceError, TranscodeError, UnsupportedCarrier
from .label import AIGCLabel, LabelReading
from .visible import DEFAULT_TEXT, MIN_HEIGHT_RATIO, VisibleLabel, render_notice, visible_label_from

__all__ = ["MIN_SECONDS", "VideoLabelResult", "burn_video_label", "VIDEO_FORMATS"]

MIN_SECONDS = 2.0
VIDEO_FORMATS = ("mp4", "mov", "mkv", "webm")
_H264_SOURCES = ("h264", "hevc", "mpeg4")
_X264_OPTIONS = {"crf": "18", "preset": "medium"}
_YUV420 = ("yuv420p", "yuvj420p")
_VP9_OPTIONS = {"crf": "24", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}


@dataclass(frozen=True)
class VideoLabelResult:
    """What was drawn and written."""

    visible: VisibleLabel
    seconds: float | None  # None: throughout
    frames: int
    frames_labelled: int
    codec: str
    pix_fmt: str
    audio_streams: int
    dropped_streams: tuple[str, ...]
    label: LabelReading | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.visible.to_dict(), "seconds": self.seconds, "throughout": self.seconds is None,
                "frames": self.frames, "frames_labelled": self.frames_labelled, "codec": self.codec,
                "pix_fmt": self.pix_fmt, "audio_streams": self.audio_streams,
                "dropped_streams": list(self.dropped_streams),
                "label": self.label.to_dict() if self.label is not None else None}


def _encoder(fmt: str, source_codec: str) -> tuple[str, dict[str, str]]:
    if fmt in ("mp4", "mov") or (fmt == "mkv" and source_codec in _H264_SOURCES):
        return "libx264", dict(_X264_OPTIONS)
    return "libvpx-vp9", dict(_VP9_OPTIONS)


def _pix_fmt(codec: str, wanted: str | None) -> str:
    names = {f.name for f in av.Codec(codec, "w").video_formats or ()}
    return wanted if wanted in names else "yuv420p"


class _Overlay:
    """The rendered notice cropped to its box, ready to alpha-blend onto RGB frames."""

    def __init__(self, size: tuple[int, int], **kwargs: Any) -> None:
        image, self.info = render_notice(size, **kwargs)
        x0, y0, x1, y1 = self.info.box
        rgba = np.asarray(image, dtype=np.float32)[y0:y1, x0:x1]
        self.alpha = rgba[..., 3:4] / 255.0
        self.premul = rgba[..., :3] * self.alpha

    def draw(self, frame: av.VideoFrame, pix_fmt: str) -> av.VideoFrame:
        """``frame`` with the notice composited (through RGB), in ``pix_fmt``.

        For 8-bit 4:2:0 frames only the planes' samples under the box (widened to even
        coordinates) are replaced, so every pixel outside the notice is the decoded source's.
        """
        rgb = frame.to_ndarray(format="rgb24")
        x0, y0, x1, y1 = self.info.box
        region = rgb[y0:y1, x0:x1].astype(np.float32)
        rgb[y0:y1, x0:x1] = np.clip(region * (1.0 - self.alpha) + self.premul + 0.5, 0, 255).astype(np.uint8)
        out = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
        w, h = frame.width, frame.height
        if pix_fmt in _YUV420 and frame.format.name == pix_fmt and w % 2 == 0 and h % 2 == 0:
            src, new = frame.to_ndarray(), out.to_ndarray()
            bx0, by0, bx1, by1 = x0 // 2 * 2, y0 // 2 * 2, min(w, (x1 + 1) // 2 * 2), min(h, (y1 + 1) // 2 * 2)
            merged = src.copy()
            merged[by0:by1, bx0:bx1] = new[by0:by1, bx0:bx1]  # luma
            q = h // 4
            for start in (h, h + q):  # the chroma planes, (h/2, w/2) each, stored as q rows of w
                plane = merged[start:start + q].reshape(h // 2, w // 2)
                plane[by0 // 2:by1 // 2, bx0 // 2:bx1 // 2] = \
                    new[start:start + q].reshape(h // 2, w // 2)[by0 // 2:by1 // 2, bx0 // 2:bx1 // 2]
            out = av.VideoFrame.from_ndarray(merged, format=pix_fmt)
        out.pts = frame.pts
        if frame.time_base is not None:
            out.time_base = frame.time_base
        return out


def burn_video_label(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                     seconds: float = MIN_SECONDS, throughout: bool = False, label: AIGCLabel | None = None,
                     text: tuple[str, ...] = DEFAULT_TEXT, font_path: str | os.PathLike[str] | None = None,
                     corner: str = "bottom-left", min_height_ratio: float = MIN_HEIGHT_RATIO,
                     deadline: float | None = None) -> VideoLabelResult:
    """Re-encode the video ``src`` to ``dst`` with the notice on its first ``seconds`` (or every frame).

    ``label`` is the implicit label written into ``dst`` (read back to confirm); without one the
    source's label, if any, is carried over. ``seconds`` below :data:`MIN_SECONDS` is refused (the
    standard asks for at least 2 s). Raises :class:`UnsupportedCarrier` for non-video or formats
    without a label carrier, :class:`CorruptContainer` when the source cannot be decoded,
    :class:`TranscodeError` when encoding fails; ``dst`` is only written on success.
    """
    if not throughout and not seconds >= MIN_SECONDS:
        raise ProvenanceError(f"the notice must be shown for at least {MIN_SECONDS:g} s, not {seconds!r}")
    sniffed = sniff(src)
    if sniffed.kind is not MediaKind.VIDEO or sniffed.format not in VIDEO_FORMATS:
        raise UnsupportedCarrier(f"visible video labels are drawn on {', '.join(VIDEO_FORMATS)} video, "
                                 f"not {sniffed.format}")
    fmt = sniffed.format
    notice = {"text": tuple(str(t) for t in text), "font_path": None if font_path is None else os.fspath(font_path),
              "corner": str(corner), "min_height_ratio": float(min_height_ratio)}
    what = "re-encoding the video with a visible notice"
    with temp_output(dst, os.path.splitext(os.fspath(dst))[1] or f".{fmt}") as tmp:
        raw = isolation.run("visible_video", {"src": os.fspath(src), "tmp": tmp, "fmt": fmt,
                                              "seconds": None if throughout else float(seconds), "notice": notice},
                            what=what, transcode=True, deadline=deadline)
        result = isolation.checked(raw, {"visible": dict, "frames": int, "labelled": int, "codec": str,
                                         "pix_fmt": str, "audio": int, "dropped": (list, tuple)}, what)
        visible = visible_label_from(result["visible"], what)
        reading = carry_label(src, tmp, dst, fmt, label)
    return VideoLabelResult(visible, None if throughout else float(seconds), result["frames"],
                            result["labelled"], result["codec"], result["pix_fmt"], result["audio"],
                            tuple(str(d) for d in result["dropped"]), reading)


def _transcode_task(src: str, tmp: str, fmt: str, seconds: float | None, notice: dict[str, Any]) -> dict[str, Any]:
    """:func:`_transcode` in the isolated worker: its result as plain values."""
    result = _transcode(src, tmp, fmt, seconds, notice)
    return {**result, "visible": asdict(result["visible"]), "dropped": list(result["dropped"])}


def _transcode(src: str | os.PathLike[str], tmp: str, fmt: str, seconds: float | None,
               notice: dict[str, Any]) -> dict[str, Any]:
    inp = open_input(src, fmt)
    with inp:
        if not inp.streams.video:
            raise CorruptContainer("the file has no video stream")
        vin = inp.streams.video[0]
        ctx = vin.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width <= 0 or height <= 0:
            raise CorruptContainer("the video stream has no frame size")
        overlay = _Overlay((width, height), **notice)
        codec, options = _encoder(fmt, vin.codec_context.name)
        pix_fmt = _pix_fmt(codec, ctx.pix_fmt)
        audio_in = list(inp.streams.audio)
        dropped = [f"{s.type}:{s.index}" for s in inp.streams if s is not vin and s not in audio_in]
        dropped += [f"video:{s.index}" for s in inp.streams.video[1:]]
        try:
            out = open_output(tmp, MUXERS[fmt])
        except AV_ERRORS as exc:
            raise TranscodeError(f"cannot create the {fmt} output: {exc}") from exc
        frames = labelled = 0
        with out:
            try:
                copy_tags(inp, out)
                rate = vin.average_rate or vin.guessed_rate
                vout: Any = out.add_stream(codec, rate=rate) if rate else out.add_stream(codec)
                vout.width, vout.height, vout.pix_fmt = width, height, pix_fmt
                if vin.time_base is not None:
                    vout.time_base = vin.time_base
                    vout.codec_context.time_base = vin.time_base
                if ctx.sample_aspect_ratio:
                    vout.codec_context.sample_aspect_ratio = ctx.sample_aspect_ratio
                vout.options = options
                vout.thread_count = 2
                aout = {s.index: out.add_stream_from_template(s) for s in audio_in}
            except AV_ERRORS as exc:
                raise TranscodeError(f"cannot set up the {codec} encoder: {exc}") from exc
            first_pts: int | None = None
            try:
                for packet in inp.demux(vin, *audio_in):
                    if packet.stream is not vin:
                        if packet.dts is None:  # a demuxer flush packet
                            continue
                        packet.stream = aout[packet.stream.index]
                        out.mux(packet)
                        continue
                    for frame in packet.decode():
                        frames += 1
                        if first_pts is None and frame.pts is not None:
                            first_pts = frame.pts
                        if frame.pts is not None and frame.time_base is not None and first_pts is not None:
                            t = float((frame.pts - first_pts) * frame.time_base)
                        else:
                            t = (frames - 1) / float(rate or 25)
                        if seconds is None or t < seconds:
                            frame = overlay.draw(frame, pix_fmt)
                            labelled += 1
                        elif frame.format.name != pix_fmt:
                            frame = frame.reformat(format=pix_fmt)
                        out.mux(vout.encode(frame))
                out.mux(vout.encode(None))
            except av.error.InvalidDataError as exc:
                raise CorruptContainer(f"the video could not be decoded: {exc}") from exc
            except AV_ERRORS as exc:
                raise TranscodeError(f"re-encoding the video failed: {exc}") from exc
        if frames == 0:
            raise CorruptContainer("the video stream holds no decodable frame")
    return {"visible": overlay.info, "frames": frames, "labelled": labelled, "codec": codec, "pix_fmt": pix_fmt,
            "audio": len(audio_in), "dropped": dropped}
