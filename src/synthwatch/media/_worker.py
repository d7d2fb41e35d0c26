"""The sandboxed decoder process.

:mod:`synthwatch.media.sandbox` starts this file as a script in a fresh interpreter
(``python -P _worker.py FD PPID``): nothing is forked from the caller, the caller's ``__main__`` is
never re-imported, and the synthwatch package itself is not imported here either. Only the standard
library, NumPy, PyAV and Pillow run in this process. It talks to its parent over one socket
(``FD``) and runs one task at a time, each under an address-space cap (``RLIMIT_AS``) chosen by
the caller; the parent enforces the wall-clock limit and kills this process when it is exceeded.

Failures are sent back by name (``UnsupportedMedia``, ``CorruptMedia``, ``MediaTooLarge``,
``DecodeResourceError``) with the formatted traceback of the third-party exception behind them;
the parent re-raises them as :mod:`synthwatch.errors` types. Anything this module does not expect
from a decoder on a given input is reported as ``CorruptMedia``; running out of the memory cap is
``DecodeResourceError``.

The parent imports this module too, for :func:`send_msg` / :func:`recv_msg`, so the top level
imports nothing but the standard library. The isolated provenance worker
(``synthwatch/provenance/_isolated_worker.py``, a separate entry script that loads the synthwatch package)
reuses :func:`serve` with its own :data:`TASKS`.
"""

from __future__ import annotations

import gc
import io
import math
import os
import pickle
import re
import resource
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

# ----------------------------------------------------------------------------------------------
# wire format: one pickled header per message, large buffers (NumPy arrays) sent out of band so
# that a 1080p frame is written and read once, without pickle copies
# ----------------------------------------------------------------------------------------------


def _write_all(fd: int, data: Any) -> None:
    view = memoryview(data).cast("B")
    while view:
        n = os.write(fd, view)
        view = view[n:]


def send_msg(conn: Any, obj: Any) -> None:
    """Send ``obj``: a pickled header, then each large buffer as raw bytes (no copies)."""
    buffers: list[pickle.PickleBuffer] = []
    header = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    conn.send_bytes(pickle.dumps((header, [r.nbytes for r in raws]), protocol=5))
    fd = conn.fileno()
    for r in raws:
        _write_all(fd, r)


# What a worker may send back: plain Python values and NumPy arrays / scalars. The parent never
# unpickles anything else, so a decoder exploited by a hostile file cannot reach the parent through
# pickle (a compromised worker can only send wrong numbers).
_SAFE_GLOBALS = {
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name} from the decoder worker")


def safe_loads(data: bytes, buffers: list[Any] | None = None) -> Any:
    return _SafeUnpickler(io.BytesIO(data), buffers=buffers).load()


def recv_msg(conn: Any, wait: Callable[[], bool] | None = None) -> Any:
    """Receive what :func:`send_msg` sent. Raw buffers are read straight into fresh NumPy-owned
    memory. ``wait`` is called before each raw read; it returns False to give up (TimeoutError).
    Only plain values and NumPy arrays are accepted (``pickle.UnpicklingError`` otherwise)."""
    import numpy as np

    meta = safe_loads(conn.recv_bytes())
    if not (isinstance(meta, tuple) and len(meta) == 2 and isinstance(meta[0], bytes) and isinstance(meta[1], list)
            and all(isinstance(n, int) and n >= 0 for n in meta[1])):
        raise pickle.UnpicklingError("malformed message header from the decoder worker")
    header, sizes = meta
    fd = conn.fileno()
    bufs = []
    for n in sizes:
        buf = np.empty(n, dtype=np.uint8)
        view = memoryview(buf.data)
        got = 0
        while got < n:
            if wait is not None and not wait():
                raise TimeoutError("the decoder worker stopped sending mid-message")
            k = os.readv(fd, [view[got:]])
            if k == 0:
                raise EOFError("the decoder worker closed the connection mid-message")
            got += k
        bufs.append(buf)
    return safe_loads(header, buffers=bufs)


# ----------------------------------------------------------------------------------------------
# failures
# ----------------------------------------------------------------------------------------------

MB = 1024 * 1024


class Fail(Exception):
    """A failure with the name of the synthwatch error the parent raises for it."""

    def __init__(self, kind: str, message: str, **attrs: Any) -> None:
        super().__init__(message)
        self.kind = kind
        self.attrs = attrs


def _num(x: float | int) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:,.3f}".rstrip("0").rstrip(".")


def too_large(limit: str, value: float | int, maximum: float | int, what: str) -> Fail:
    """``what`` names the measured quantity, e.g. ``"pixels in a 100000x100000 image"``."""
    return Fail("MediaTooLarge", f"{what}: {_num(value)} is over the limit of {_num(maximum)} ({limit})",
                limit=limit, value=value, maximum=maximum)


def translate(exc: BaseException) -> Fail:
    """Map an exception raised while decoding onto a synthwatch error name."""
    if isinstance(exc, Fail):
        return exc
    if isinstance(exc, MemoryError):  # includes av.error.MemoryError (ENOMEM)
        return Fail("DecodeResourceError", "the decoder ran out of memory under its cap (decode_memory_mb)")
    name = type(exc).__name__
    if name in ("DecompressionBombError", "DecompressionBombWarning"):
        # raised by Pillow after open (seeking to a larger frame): its limit is max_pixels
        m = re.search(r"\((\d+) pixels\) exceeds limit of (\d+)", str(exc))
        value = int(m.group(1)) if m else -1
        maximum = int(m.group(2)) if m else -1
        if name == "DecompressionBombError" and maximum > 0:
            maximum //= 2  # Pillow errors at twice its MAX_IMAGE_PIXELS, which we set to max_pixels
        return Fail("MediaTooLarge", f"image too large for the pixel limit: {exc}", limit="max_pixels",
                    value=value, maximum=maximum)
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == 12:  # ENOMEM from a C library
        return Fail("DecodeResourceError", f"the decoder ran out of memory under its cap: {exc}")
    module = type(exc).__module__ or ""
    if module.startswith("av"):
        if name == "DecoderNotFoundError":
            return Fail("UnsupportedMedia", f"no decoder for this codec: {exc}")
        return Fail("CorruptMedia", f"FFmpeg could not read the media: {exc}")
    return Fail("CorruptMedia", f"could not decode the media: {name}: {exc}")


# ----------------------------------------------------------------------------------------------
# images (Pillow)
# ----------------------------------------------------------------------------------------------


def _pil() -> Any:
    from PIL import Image

    return Image


def _open_image(path: str, pil_format: str, limits: dict[str, Any]) -> Any:
    Image = _pil()
    max_pixels = int(limits["max_pixels"])
    # Pillow's own decompression-bomb guard uses the same limit (a warning above it, an error above
    # twice it); the caller turns the warning into an error. Our explicit check follows.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        im = Image.open(path, formats=[pil_format])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        m = re.search(r"\((\d+) pixels\)", str(exc))
        value = int(m.group(1)) if m else max_pixels + 1
        raise too_large("max_pixels", value, max_pixels, "pixels in the image") from exc
    w, h = im.size
    if w <= 0 or h <= 0:
        im.close()
        raise Fail("CorruptMedia", f"image declares an empty size {w}x{h}")
    if w * h > max_pixels:
        im.close()
        raise too_large("max_pixels", w * h, max_pixels, f"pixels in a {w}x{h} image")
    return im


def _orientation(im: Any) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # malformed EXIF: ignore orientation rather than reject the image
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def task_probe_image(path: str, pil_format: str, limits: dict[str, Any]) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", _pil().DecompressionBombWarning)
        im = _open_image(path, pil_format, limits)
        with im:
            w, h = im.size
            if _orientation(im) in (5, 6, 7, 8):
                w, h = h, w
            frames: int | None
            if pil_format == "GIF":
                # counting GIF frames means decoding them all; say only whether it is animated
                frames = None if getattr(im, "is_animated", False) else 1
            else:
                frames = int(getattr(im, "n_frames", 1) or 1)  # from headers / IFD chain
            return {"width": w, "height": h, "frame_count": frames, "mode": im.mode}


def _to_rgb(im: Any) -> Any:
    import numpy as np

    mode = im.mode
    if mode == "RGB":
        return np.asarray(im, dtype=np.uint8)
    if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        a = np.asarray(im).astype(np.float32)
        hi = float(a.max()) if a.size else 0.0
        if mode == "F" and hi <= 1.0:
            a = a * 255.0
        elif hi > 255.0:
            a = a * (255.0 / (65535.0 if hi <= 65535.0 else hi))
        g = np.clip(a + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "La", "PA", "RGBa") or (mode == "P" and "transparency" in im.info)
    if mode in ("L", "1", "CMYK", "YCbCr", "LAB", "HSV", "P") and not has_alpha:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)
    if has_alpha:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.uint16)
        alpha = rgba[..., 3:4]
        out = (rgba[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255  # composite over white
        return out.astype(np.uint8)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def task_image(path: str, pil_format: str, limits: dict[str, Any]) -> Any:
    import numpy as np
    from PIL import ImageOps

    Image = _pil()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        im = _open_image(path, pil_format, limits)
        with im:
            im.load()  # Pillow opens at the first frame of an animated GIF / WebP or multi-page TIFF
            oriented = ImageOps.exif_transpose(im) if _orientation(im) != 1 else im
            arr = _to_rgb(oriented)
    return np.ascontiguousarray(arr)


# ----------------------------------------------------------------------------------------------
# audio and video (PyAV)
# ----------------------------------------------------------------------------------------------


def _open_av(path: str, demuxer: str) -> Any:
    import av

    # the demuxer is forced from the sniffed type: FFmpeg never guesses (no playlists, no concat
    # scripts, no image2 sequences), and nested opens may only use local files
    return av.open(path, mode="r", format=demuxer, options={"protocol_whitelist": "file"},
                   metadata_errors="ignore")


def _video_stream(container: Any) -> Any | None:
    import av

    attached = av.stream.Disposition.attached_pic
    for s in container.streams.video:
        if s.disposition & attached:  # cover art in an audio file is not video
            continue
        return s
    return None


def _audio_stream(container: Any) -> Any | None:
    if not container.streams.audio:
        return None
    return container.streams.best("audio") or container.streams.audio[0]


def _declared_duration(container: Any) -> float | None:
    durations: list[float] = []
    if container.duration and container.duration > 0:
        durations.append(container.duration / 1_000_000)
    for s in container.streams:
        if s.duration and s.time_base and s.duration > 0:
            durations.append(float(s.duration * s.time_base))
    return max(durations) if durations else None


def _iso_header_facts(path: str, max_boxes: int = 4096) -> tuple[float | None, str | None]:
    """(longest duration declared by mvhd / tkhd / mdhd in seconds, truncation message) of an
    ISO-BMFF file. FFmpeg derives durations from the sample tables and ignores these header
    fields; a file whose headers claim more than the limit is refused all the same."""
    import struct

    size = os.path.getsize(path)
    durations: list[float] = []
    truncated: str | None = None
    budget = [max_boxes]

    with open(path, "rb") as f:

        def boxes(start: int, end: int, top: bool = False) -> Iterator[tuple[bytes, int, int]]:
            nonlocal truncated
            pos = start
            while pos + 8 <= end and budget[0] > 0:
                budget[0] -= 1
                f.seek(pos)
                hdr = f.read(16)
                if len(hdr) < 8:
                    return
                bsize, typ = struct.unpack(">I4s", hdr[:8])
                hlen = 8
                if bsize == 1 and len(hdr) >= 16:
                    bsize, hlen = struct.unpack(">Q", hdr[8:16])[0], 16
                elif bsize == 0:
                    bsize = end - pos
                if bsize < hlen:
                    return
                if pos + bsize > end:
                    if top:
                        truncated = (f"the file is truncated: its {typ.decode('latin-1')!r} box needs {pos + bsize:,} "
                                     f"bytes but the file has {size:,}")
                    bsize = end - pos
                yield typ, pos + hlen, pos + bsize
                pos += bsize

        def full_box(p0: int, n: int) -> tuple[int, bytes]:
            f.seek(p0)
            data = f.read(n)
            return (data[0] if data else 0), data

        movie_scale = 0
        for typ, p0, p1 in boxes(0, size, top=True):
            if typ != b"moov":
                continue
            for t2, q0, q1 in boxes(p0, p1):
                if t2 == b"mvhd":
                    ver, d = full_box(q0, 32)
                    if ver == 1 and len(d) >= 32:
                        movie_scale, dur = struct.unpack(">IQ", d[20:32])
                    elif len(d) >= 20:
                        movie_scale, dur = struct.unpack(">II", d[12:20])
                    else:
                        continue
                    if movie_scale and dur not in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
                        durations.append(dur / movie_scale)
                elif t2 == b"trak":
                    for t3, r0, r1 in boxes(q0, q1):
                        if t3 == b"tkhd" and movie_scale:
                            ver, d = full_box(r0, 36)
                            if ver == 1 and len(d) >= 36:
                                dur = struct.unpack(">Q", d[28:36])[0]
                            elif len(d) >= 24:
                                dur = struct.unpack(">I", d[20:24])[0]
                            else:
                                continue
                            if dur not in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
                                durations.append(dur / movie_scale)
                        elif t3 == b"mdia":
                            for t4, m0, _m1 in boxes(r0, r1):
                                if t4 != b"mdhd":
                                    continue
                                ver, d = full_box(m0, 32)
                                if ver == 1 and len(d) >= 32:
                                    scale, dur = struct.unpack(">IQ", d[20:32])
                                elif len(d) >= 20:
                                    scale, dur = struct.unpack(">II", d[12:20])
                                else:
                                    continue
                                if scale and dur not in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
                                    durations.append(dur / scale)
    return (max(durations) if durations else None), truncated


def _open_checked(path: str, demuxer: str, limits: dict[str, Any]) -> tuple[Any, float | None]:
    """Open with the forced demuxer and check the declared duration; (container, duration)."""
    header_duration = None
    if demuxer == "mov":
        header_duration, truncated = _iso_header_facts(path)
        _check_duration(header_duration, limits)
        if truncated:
            raise Fail("CorruptMedia", truncated)
    container = _open_av(path, demuxer)
    try:
        duration = _declared_duration(container)
        _check_duration(duration, limits)
    except BaseException:
        container.close()
        raise
    return container, duration


def _check_duration(duration: float | None, limits: dict[str, Any]) -> None:
    if duration is not None and duration > float(limits["max_duration_s"]):
        raise too_large("max_duration_s", round(duration, 3), float(limits["max_duration_s"]), "declared duration in seconds")


def _codec_context(stream: Any) -> Any:
    cc = stream.codec_context
    if cc is None:
        raise Fail("UnsupportedMedia", f"no decoder for stream #{stream.index}")
    return cc


def _rate(stream: Any) -> float | None:
    for r in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if r:
            value = float(r)
            if 0 < value < 1000:
                return value
    return None


def _first_frame_rotation(container: Any, stream: Any, max_packets: int = 256) -> int:
    """Decode the first frame (proves the stream decodes) and return its display rotation in
    degrees counterclockwise, normalised to 0 / 90 / 180 / 270."""
    import av

    seen = 0
    try:
        for packet in container.demux(stream):
            seen += 1
            for frame in packet.decode():
                return (int(round((frame.rotation or 0) / 90.0)) % 4) * 90
            if seen >= max_packets:
                break
    except av.error.InvalidDataError as exc:
        raise Fail("CorruptMedia", f"the first video frame does not decode: {exc}") from exc
    raise Fail("CorruptMedia", "no video frame could be decoded from the start of the stream")


def task_probe_av(path: str, demuxer: str, limits: dict[str, Any]) -> dict[str, Any]:
    container, duration = _open_checked(path, demuxer, limits)
    with container:
        facts: dict[str, Any] = {"duration_s": duration, "has_video": False, "has_audio": False}
        vs = _video_stream(container)
        if vs is not None:
            cc = _codec_context(vs)
            w, h = int(cc.width or 0), int(cc.height or 0)
            if w * h > int(limits["max_pixels"]):
                raise too_large("max_pixels", w * h, int(limits["max_pixels"]), f"pixels in a {w}x{h} video frame")
            fps = _rate(vs)
            frames = int(vs.frames or 0)
            if not frames and fps and duration:
                frames = int(round(duration * fps))
            if _first_frame_rotation(container, vs) in (90, 270):
                w, h = h, w  # report the displayed size, as frames are returned
            facts.update(has_video=True, width=w or None, height=h or None, fps=fps, frame_count=frames or None,
                         video_codec=cc.name)
        a = _audio_stream(container)
        if a is not None:
            acc = _codec_context(a)
            channels = getattr(acc, "channels", None) or (acc.layout.nb_channels if acc.layout else None)
            facts.update(has_audio=True, audio_codec=acc.name, sample_rate=int(acc.sample_rate or 0) or None,
                         channels=int(channels) if channels else None)
        if vs is None and a is None:
            raise Fail("CorruptMedia", "the container holds no audio or video stream")
        return facts


def _frame_rgb(frame: Any) -> Any:
    import numpy as np

    arr = frame.to_ndarray(format="rgb24")
    try:
        rotation = int(frame.rotation or 0)
    except Exception:
        rotation = 0
    k = int(round(rotation / 90.0)) % 4
    if k:
        arr = np.rot90(arr, k)  # the display matrix rotates counterclockwise; so does rot90
    return np.ascontiguousarray(arr)


_EPS = 1e-3
_MAX_BAD_PACKETS = 64


#: frames up to this many pixels (1080p, coded height 1088) are decoded on one thread
_SINGLE_THREAD_PIXELS = 1920 * 1088


def task_frames(path: str, demuxer: str, limits: dict[str, Any], fps: float, keyframes_only: bool) -> Iterator[Any]:
    """Yield ``(t_s, rgb)``: the first frame at or after each ``k / fps`` seconds, or every keyframe.

    Only sampled frames are converted to RGB. Non-reference frames that lie before the next sample
    time are not decoded at all (``skip_frame = NONREF`` set packet by packet: nothing references
    them, so every frame that is kept decodes exactly as in a full decode).
    """
    import av

    max_pixels = int(limits["max_pixels"])
    max_frames = int(limits["max_frames"])
    max_duration = float(limits["max_duration_s"])
    container, duration = _open_checked(path, demuxer, limits)
    with container:
        vs = _video_stream(container)
        if vs is None:
            return
        cc = _codec_context(vs)
        w, h = int(cc.width or 0), int(cc.height or 0)
        if w * h > max_pixels:
            raise too_large("max_pixels", w * h, max_pixels, f"pixels in a {w}x{h} video frame")
        if not keyframes_only and duration:
            expected = max(1, math.ceil(duration * fps - _EPS))  # ticks k / fps that fall before the end
            if expected > max_frames:
                raise too_large("max_frames", expected, max_frames, f"frames from sampling {duration:.1f} s at {fps:g} fps")
        vs.thread_type = "AUTO"
        # up to 1080p one decoding thread keeps far ahead of the detectors (about 50x real time for
        # 1080p H.264 on one core here) and costs a quarter less CPU than FFmpeg's frame threads,
        # which the scan's models need; larger frames get FFmpeg's automatic thread count
        cc.thread_count = 1 if w * h <= _SINGLE_THREAD_PIXELS else 0
        if keyframes_only:
            cc.skip_frame = "NONKEY"
        tb = vs.time_base
        start_pts = vs.start_time
        start_s: float | None = float(start_pts * tb) if (start_pts is not None and tb) else None
        next_t = 0.0
        skip_mode = "DEFAULT"
        emitted = 0
        decoded = 0
        bad = 0
        index = -1
        for packet in container.demux(vs):
            if keyframes_only:
                if packet.size and not packet.is_keyframe:
                    continue
            elif packet.pts is not None and tb and start_s is not None:
                want = "NONREF" if float(packet.pts * tb) - start_s < next_t - _EPS else "DEFAULT"
                if want != skip_mode:
                    cc.skip_frame = want
                    skip_mode = want
            try:
                frames = packet.decode()
            except av.error.InvalidDataError as exc:  # a damaged packet: conceal like players do
                bad += 1
                if bad > _MAX_BAD_PACKETS:
                    raise Fail("CorruptMedia", f"too many undecodable video packets ({bad})") from exc
                continue
            for frame in frames:
                index += 1
                decoded += 1
                t = frame.time
                if t is None:
                    t = index / (_rate(vs) or 25.0)
                if start_s is None:
                    start_s = t
                t = max(0.0, t - start_s)
                if t > max_duration + 1.0:
                    raise too_large("max_duration_s", round(t, 3), max_duration, "decoded timestamp in seconds")
                if not keyframes_only and t < next_t - _EPS:
                    continue
                if frame.width * frame.height > max_pixels:
                    raise too_large("max_pixels", frame.width * frame.height, max_pixels,
                                    f"pixels in a {frame.width}x{frame.height} video frame")
                emitted += 1
                if emitted > max_frames:
                    raise too_large("max_frames", emitted, max_frames, "sampled frames")
                if not keyframes_only:
                    next_t = (math.floor((t + _EPS) * fps) + 1) / fps
                yield (t, _frame_rgb(frame))
        if decoded == 0 and bad:
            raise Fail("CorruptMedia", "no video frame could be decoded")


def _resampler_for(frame: Any, sample_rate: int) -> Any:
    """Resample to float planar at ``sample_rate``; mono is then the mean of the channels (as
    most audio models expect), after FFmpeg's downmix to stereo for surround layouts."""
    import av

    channels = frame.layout.nb_channels if frame.layout is not None else 0
    layout = frame.layout.name if 0 < channels <= 2 else "stereo"
    return av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)


def _resampled(container: Any, stream: Any, sample_rate: int, limits: dict[str, Any]) -> Iterator[Any]:
    """Decode ``stream`` and yield float32 mono chunks at ``sample_rate``."""
    import av
    import numpy as np

    max_samples = int(float(limits["max_duration_s"]) * sample_rate) + sample_rate
    resampler = None
    total = 0
    bad = 0
    decoded = 0

    def emit(frames: list[Any]) -> Iterator[Any]:
        nonlocal total
        for f in frames:
            planes = f.to_ndarray()  # fltp: [channels, samples]
            chunk = (planes[0] if planes.shape[0] == 1 else planes.mean(axis=0)).astype(np.float32, copy=False)
            if chunk.size:
                total += chunk.size
                if total > max_samples:
                    raise too_large("max_duration_s", round(total / sample_rate, 3), float(limits["max_duration_s"]),
                                    "decoded audio in seconds")
                yield chunk

    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError as exc:
            bad += 1
            if bad > _MAX_BAD_PACKETS:
                raise Fail("CorruptMedia", f"too many undecodable audio packets ({bad})") from exc
            continue
        for frame in frames:
            decoded += 1
            frame.pts = None  # timing comes from sample counts; gaps in pts are not re-created
            if resampler is None:
                resampler = _resampler_for(frame, sample_rate)
            try:
                out = resampler.resample(frame)
            except ValueError:  # the stream changed rate / layout / format: start a new resampler
                yield from emit(resampler.resample(None))
                resampler = _resampler_for(frame, sample_rate)
                out = resampler.resample(frame)
            yield from emit(out)
    if resampler is not None:
        yield from emit(resampler.resample(None))
    if decoded == 0 and bad:
        raise Fail("CorruptMedia", "no audio frame could be decoded")


def _open_audio(path: str, demuxer: str, limits: dict[str, Any]) -> tuple[Any, Any]:
    container, _ = _open_checked(path, demuxer, limits)
    try:
        stream = _audio_stream(container)
        if stream is not None:
            _codec_context(stream)
    except BaseException:
        container.close()
        raise
    return container, stream


def task_audio_windows(path: str, demuxer: str, limits: dict[str, Any], sample_rate: int, window_s: float,
                       hop_s: float, min_last_s: float) -> Iterator[Any]:
    """Yield ``(start_s, end_s, samples)`` windows; the last, shorter one when it has at least
    ``min_last_s`` seconds of audio not covered by the previous window."""
    import numpy as np

    win = max(1, int(round(window_s * sample_rate)))
    hop = max(1, int(round(hop_s * sample_rate)))
    min_last = max(1, int(round(min_last_s * sample_rate)))
    container, stream = _open_audio(path, demuxer, limits)
    with container:
        if stream is None:
            return
        pending: list[Any] = []
        buf = np.zeros(0, np.float32)
        buf_start = 0  # absolute index of buf[0]
        total = 0
        next_start = 0
        last_end = 0
        for chunk in _resampled(container, stream, sample_rate, limits):
            pending.append(chunk)
            total += chunk.size
            if total < next_start + win:
                continue
            buf = np.concatenate([buf, *pending])
            pending.clear()
            while next_start + win <= total:
                s = next_start - buf_start
                yield (next_start / sample_rate, (next_start + win) / sample_rate, buf[s : s + win].copy())
                last_end = next_start + win
                next_start += hop
                drop = min(next_start - buf_start, buf.size)
                if drop > 0:
                    buf = buf[drop:]
                    buf_start += drop
        if pending:
            buf = np.concatenate([buf, *pending])
        tail = total - next_start
        if tail >= min_last and total > last_end:
            s = next_start - buf_start
            yield (next_start / sample_rate, total / sample_rate, buf[s : s + tail].copy())


def task_audio_chunks(path: str, demuxer: str, limits: dict[str, Any], sample_rate: int) -> Iterator[Any]:
    """Yield the whole resampled waveform in blocks of about ten seconds."""
    import numpy as np

    block = 10 * sample_rate
    container, stream = _open_audio(path, demuxer, limits)
    with container:
        if stream is None:
            return
        pending: list[Any] = []
        n = 0
        for chunk in _resampled(container, stream, sample_rate, limits):
            pending.append(chunk)
            n += chunk.size
            if n >= block:
                yield np.concatenate(pending)
                pending, n = [], 0
        if pending:
            yield np.concatenate(pending)


def vm_bytes() -> int:
    """Current address-space size of this process (VmSize)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def task_vm_bytes() -> int:
    return vm_bytes()


TASKS: dict[str, tuple[Callable[..., Any], bool]] = {
    "probe_image": (task_probe_image, False),
    "image": (task_image, False),
    "probe_av": (task_probe_av, False),
    "frames": (task_frames, True),
    "audio_windows": (task_audio_windows, True),
    "audio_chunks": (task_audio_chunks, True),
    "vm_bytes": (task_vm_bytes, False),
}

# ----------------------------------------------------------------------------------------------
# the serve loop
# ----------------------------------------------------------------------------------------------

_HEADROOM = 48 * MB  # below this much room over the current mapping a cap cannot work
#: what this process is called in messages (an entry script that reuses :func:`serve` may change it)
PROCESS_NAME = "decoder process"


def _apply_cap(cap: int | None, setting: str = "decode_memory_mb") -> tuple[int, int] | None:
    if not cap:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    now = vm_bytes()
    if now and cap < now + _HEADROOM:
        raise Fail("DecodeResourceError",
                   f"the memory cap ({cap // MB} MB, {setting}) is below what the {PROCESS_NAME} "
                   f"already maps ({now // MB} MB) plus {_HEADROOM // MB} MB of room")
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    return soft, hard


def _stream(conn: Any, gen: Iterator[Any], window: int) -> bool:
    """Send items with credit-based backpressure; False when the parent asked to stop."""
    outstanding = 0
    for item in gen:
        send_msg(conn, ("item", item))
        outstanding += 1
        while outstanding >= window or conn.poll(0):
            msg = conn.recv()
            if msg[0] == "ack":
                outstanding -= 1
            elif msg[0] == "stop":
                close = getattr(gen, "close", None)
                if close is not None:
                    close()
                return False
            elif msg[0] == "exit":
                raise SystemExit(0)
    return True


def _error_message(fail: Fail, exc: BaseException) -> tuple[Any, ...]:
    tb = "".join(traceback.format_exception(exc))
    return ("error", fail.kind, str(fail), fail.attrs, tb)


def serve(conn: Any) -> None:
    conn.send(("ready", {"pid": os.getpid(), "vm_bytes": vm_bytes()}))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "exit":
            return
        if msg[0] != "run":
            continue  # a late ack / stop for a stream that already ended
        _, name, kwargs, cap, window = msg[:5]
        setting = msg[5] if len(msg) > 5 and isinstance(msg[5], str) else "decode_memory_mb"
        fn, streaming = TASKS[name]
        saved = None
        try:
            saved = _apply_cap(cap, setting)
            if streaming:
                finished = _stream(conn, fn(**kwargs), window)
                reply: tuple[Any, ...] = ("done", None) if finished else ("stopped",)
            else:
                reply = ("done", fn(**kwargs))
        except SystemExit:
            raise
        except BaseException as exc:  # every decoder failure goes back to the parent, typed
            fail = translate(exc)
            reply = _error_message(fail, exc)
        finally:
            if saved is not None:
                resource.setrlimit(resource.RLIMIT_AS, saved)
        try:
            send_msg(conn, reply)
        except MemoryError:
            send_msg(conn, ("error", "DecodeResourceError", "result too large to return under the memory cap", {}, ""))
        del reply
        # free this task's cycles, then freeze what survives (imported modules, caches) so that the
        # next collection only walks new objects: a full collection in a worker that has imported
        # the synthwatch package costs about 15 ms, which back-to-back calls would wait for
        gc.collect()
        gc.freeze()


def _watch_parent(ppid: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != ppid:
            os._exit(0)  # the scanner went away: do not decode for nobody


def main(argv: list[str]) -> int:
    from multiprocessing.connection import Connection

    fd, ppid = int(argv[1]), int(argv[2])
    if os.getppid() != ppid:
        return 0
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crashing decoder leaves no core file
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business; it stops us
    threading.Thread(target=_watch_parent, args=(ppid,), daemon=True, name="watch-parent").start()
    conn = Connection(fd)
    # import the decoders once, before any cap applies
    import av  # noqa: F401
    import numpy  # noqa: F401
    from PIL import Image, ImageOps  # noqa: F401

    try:
        serve(conn)
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
