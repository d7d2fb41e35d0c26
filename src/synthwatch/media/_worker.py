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

User files are opened here, never named to FFmpeg: :class:`UserFile` opens the path itself (as a
regular file only, without waiting on a FIFO) and FFmpeg reads it through that file object, so a
name such as ``concat:a.mp4|b.mp4`` or ``http://...`` is only ever a file name. FFmpeg sees the
file only up to the media's own extent (:mod:`synthwatch._containers.extent`), so junk appended to
the media (a sparse tail of zeros, another file) costs nothing; nested opens are limited to
``file,pipe`` (:data:`PROTOCOL_WHITELIST`). Output files are written through an explicit
``file:`` URL (:func:`file_url`). The isolated provenance worker uses the same helpers
(:func:`open_av`, :func:`file_url`).

The parent imports this module too, for :func:`send_msg` / :func:`recv_msg`, so the top level
imports nothing but the standard library. The container readers (:mod:`synthwatch._containers`,
standard library only) are loaded by path in this process (:func:`containers`), so the synthwatch
package is still never imported here. The isolated provenance worker
(``synthwatch/provenance/_isolated_worker.py``, a separate entry script that loads the synthwatch
package) reuses :func:`main` / :func:`serve` with its own task table and process name.
"""

from __future__ import annotations

import errno
import gc
import importlib
import importlib.util
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
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
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


#: errors opening a user's file (it vanished, became a symlink loop, lost its permissions...)
_OPEN_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG,
                          errno.EISDIR})


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
    if isinstance(exc, NotRegularFile):
        return Fail("UnsupportedMedia", str(exc))
    module = type(exc).__module__ or ""
    if isinstance(exc, OSError) and exc.errno in _OPEN_ERRNOS and not module.startswith(("av", "PIL")):
        return Fail("MediaError", f"the file could not be opened: {exc.strerror or exc}")
    if module.startswith("av"):
        if name == "DecoderNotFoundError":
            return Fail("UnsupportedMedia", f"no decoder for this codec: {exc}")
        return Fail("CorruptMedia", f"FFmpeg could not read the media: {exc}")
    return Fail("CorruptMedia", f"could not decode the media: {name}: {exc}")


# ----------------------------------------------------------------------------------------------
# user files: opened here, as regular files, and shown to FFmpeg only up to the media's extent
# ----------------------------------------------------------------------------------------------

#: protocols FFmpeg may use for nested opens (the user's file itself is never opened by name)
PROTOCOL_WHITELIST = "file,pipe"
#: raw streams end where this many zero bytes in a row begin (no frame or page is all zeros)
ZERO_RUN_LIMIT = 16 * MB
_AV_BUFFER = 256 * 1024


def containers() -> ModuleType:
    """The container readers (:mod:`synthwatch._containers`), imported normally when the synthwatch
    package is loaded (the parent, the provenance worker), else loaded by path without it."""
    if __package__:
        mod = importlib.import_module("synthwatch._containers")
    else:
        mod = _load_containers("_synthwatch_containers")
    for sub in ("isobmff", "ebml", "riff", "extent"):
        importlib.import_module(f"{mod.__name__}.{sub}")
    return mod


def _load_containers(name: str) -> ModuleType:
    mod = sys.modules.get(name)
    if mod is None:
        here = Path(__file__).resolve().parents[1] / "_containers"
        spec = importlib.util.spec_from_file_location(name, here / "__init__.py", submodule_search_locations=[str(here)])
        if spec is None or spec.loader is None:  # pragma: no cover - the package ships beside this file
            raise ImportError(f"cannot load the container readers from {here}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return mod


class NotRegularFile(OSError):
    """The path is not a regular file (a directory, FIFO, socket or device)."""


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def _open_regular(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(descriptor, size) of ``path`` opened for reading; a FIFO is refused, never waited on."""
    import stat

    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, int(st.st_size)


class UserFile(io.RawIOBase):
    """A user's media file as a decoder sees it: a regular file, read-only, that ends at ``extent``.

    ``zero_run``: a run of that many zero bytes ends the file where the run begins (raw streams:
    see :data:`ZERO_RUN_LIMIT`). Seeking from the end is relative to the extent. The descriptor
    is closed with the object (PyAV closes a container's file object when the container closes).
    """

    def __init__(self, path: str | os.PathLike[str], *, demuxer: str | None = None, zero_run: int | None = None) -> None:
        super().__init__()
        self._fd, self.size = _open_regular(path)
        self._pos = 0
        self._run = 0
        self.extent = self.size
        self._zero_run = zero_run
        if demuxer is not None:
            try:
                c = containers()
                reader = c.Reader(io.FileIO(self._fd, "rb", closefd=False), self.size)
                self.extent = int(sys.modules[f"{c.__name__}.extent"].media_extent(reader, demuxer, self._fd))
            except BaseException:
                self.close()
                raise

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self.extent + offset
        else:
            raise OSError(errno.EINVAL, f"unsupported seek mode {whence}")
        if pos < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        if pos != self._pos:
            self._run = 0
        self._pos = pos
        return pos

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("read from a closed file")
        left = self.extent - self._pos
        n = left if size is None or size < 0 else min(size, left)
        if n <= 0:
            return b""
        data = os.pread(self._fd, n, self._pos)
        if self._zero_run is not None and data:
            data = self._check_zeros(data)
        self._pos += len(data)
        return data

    def _check_zeros(self, data: bytes) -> bytes:
        assert self._zero_run is not None
        if data.count(0) == len(data):
            self._run += len(data)
            if self._run >= self._zero_run:  # the stream ended where the run began
                self.extent = self._pos + len(data) - self._run
                return data[: max(0, self.extent - self._pos)]
        else:
            self._run = len(data) - len(data.rstrip(b"\x00"))
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        memoryview(b).cast("B")[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                os.close(self._fd)
            finally:
                super().close()


def open_av(path: str | os.PathLike[str], demuxer: str, **kwargs: Any) -> Any:
    """Open a user's media file with PyAV for reading, with ``demuxer`` forced (FFmpeg never
    guesses: no playlists, concat scripts or image sequences). The file is read through a
    :class:`UserFile` (never named to FFmpeg, shown only up to the media's extent) and nested opens
    are limited to :data:`PROTOCOL_WHITELIST`. Raises ``OSError`` (:class:`NotRegularFile` for
    anything but a regular file) or PyAV's errors."""
    import av

    f = UserFile(path, demuxer=demuxer, zero_run=ZERO_RUN_LIMIT if demuxer in ("mp3", "aac", "flac", "ogg") else None)
    try:
        options = {**kwargs.pop("options", {}), "protocol_whitelist": PROTOCOL_WHITELIST}
        return av.open(f, mode="r", format=demuxer, options=options, buffer_size=_AV_BUFFER, **kwargs)
    except BaseException:
        f.close()
        raise


def file_url(path: str | os.PathLike[str]) -> str:
    """An explicit ``file:`` URL of ``path`` for FFmpeg to *write* (a labelled copy): whatever the
    name, FFmpeg opens it with its file protocol and nothing else."""
    return "file:" + os.path.abspath(os.fsdecode(os.fspath(path)))


# ----------------------------------------------------------------------------------------------
# images (Pillow)
# ----------------------------------------------------------------------------------------------


def _pil() -> Any:
    from PIL import Image

    return Image


class _OpenImage:
    """A user's image opened by Pillow from a file object (the path is opened here, as a regular
    file); closing it closes both."""

    def __init__(self, path: str, pil_format: str, limits: dict[str, Any]) -> None:
        Image = _pil()
        max_pixels = int(limits["max_pixels"])
        # Pillow's own decompression-bomb guard uses the same limit (a warning above it, an error
        # above twice it); the caller turns the warning into an error. Our explicit check follows.
        Image.MAX_IMAGE_PIXELS = max_pixels
        fd, _ = _open_regular(path)
        self.fp = open(fd, "rb")  # noqa: SIM115 - closed by close()
        try:
            try:
                self.im = Image.open(self.fp, formats=[pil_format])
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                m = re.search(r"\((\d+) pixels\)", str(exc))
                value = int(m.group(1)) if m else max_pixels + 1
                raise too_large("max_pixels", value, max_pixels, "pixels in the image") from exc
            w, h = self.im.size
            if w <= 0 or h <= 0:
                raise Fail("CorruptMedia", f"image declares an empty size {w}x{h}")
            if w * h > max_pixels:
                raise too_large("max_pixels", w * h, max_pixels, f"pixels in a {w}x{h} image")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        im = getattr(self, "im", None)
        if im is not None:
            im.close()
        self.fp.close()

    def __enter__(self) -> Any:
        return self.im

    def __exit__(self, *exc: object) -> None:
        self.close()


def _orientation(im: Any) -> int:
    """The EXIF orientation (1-8; 1 when absent or malformed), read without decoding pixels:
    Pillow's ``PngImageFile.getexif`` decodes the whole image to look for an eXIf chunk after the
    pixel data, so a PNG is read from the chunks before it (where the PNG spec places eXIf)."""
    try:
        if im.format == "PNG":
            raw = im.info.get("exif")
            if not raw:
                return 1
            exif = _pil().Exif()
            exif.load(raw)
            value = exif.get(0x0112, 1)
        else:
            value = im.getexif().get(0x0112, 1)
    except Exception:  # malformed EXIF: ignore orientation rather than reject the image
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def task_probe_image(path: str, pil_format: str, limits: dict[str, Any]) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", _pil().DecompressionBombWarning)
        with _OpenImage(path, pil_format, limits) as im:
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


#: pixels converted at a time: the conversion never holds more than a block of temporaries
_BLOCK_PIXELS = 1 << 22
_WIDE_GREY = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")
_ALPHA = ("RGBA", "LA", "La", "PA", "RGBa")


def _pillow_bytes_per_pixel(mode: str) -> int:
    """What Pillow stores per pixel of a decoded image in ``mode`` (multi-band images take 4)."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def _decode_bytes(w: int, h: int, mode: str, oriented: bool) -> int:
    """Address space decoding and converting a ``w``x``h`` image takes at most: Pillow's image,
    the RGB result, a re-oriented copy, and room for the decoder's and the blocks' buffers."""
    per_pixel = _pillow_bytes_per_pixel(mode) + 3 + (3 if oriented else 0)
    return w * h * per_pixel + 96 * MB


def _room() -> int | None:
    """Address space left under this task's cap (None when there is no cap)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    return int(soft) - vm_bytes()


def _fit_memory(im: Any, pil_format: str, oriented: bool) -> None:
    """Make sure the image can be decoded under the cap: a JPEG that would not fit is decoded at
    1/2, 1/4 or 1/8 of its size by the decoder itself (DCT scaling, JPEG "draft" mode); any other
    image that would not fit is refused now, before decoding, naming the two settings involved."""
    room = _room()
    w, h = im.size
    need = _decode_bytes(w, h, im.mode, oriented)
    if room is None or need <= room:
        return
    if pil_format == "JPEG":
        for scale in (2, 4, 8):
            sw, sh = -(-w // scale), -(-h // scale)
            if _decode_bytes(sw, sh, im.mode, oriented) <= room:
                im.draft(im.mode, (sw, sh))
                return
    raise Fail("DecodeResourceError",
               f"decoding this {w}x{h} {im.mode} image needs about {need // MB:,} MB, more than the "
               f"{max(0, room) // MB:,} MB its memory cap leaves (raise decode_memory_mb or lower max_pixels)")


def _orient(arr: Any, orientation: int) -> Any:
    """Apply an EXIF orientation (1-8) to an [H, W, C] array, as ``ImageOps.exif_transpose`` does."""
    import numpy as np

    if orientation == 2:
        arr = arr[:, ::-1]
    elif orientation == 3:
        arr = arr[::-1, ::-1]
    elif orientation == 4:
        arr = arr[::-1]
    elif orientation == 5:
        arr = arr.transpose(1, 0, 2)
    elif orientation == 6:
        arr = np.rot90(arr, -1)
    elif orientation == 7:
        arr = np.rot90(arr, 2).transpose(1, 0, 2)
    elif orientation == 8:
        arr = np.rot90(arr, 1)
    return np.ascontiguousarray(arr)


def _to_rgb(im: Any) -> Any:
    """uint8 RGB [H, W, 3] of a decoded Pillow image, converted a block of rows at a time (so the
    peak is Pillow's image plus the result, whatever the mode): 16-bit and float grey scaled to
    8 bits, alpha composited over white, palette / CMYK / YCbCr / LAB / HSV converted."""
    import numpy as np

    w, h = im.size
    out = np.empty((h, w, 3), np.uint8)
    rows = max(1, _BLOCK_PIXELS // max(1, w))
    mode = im.mode
    spans = [(y, min(h, y + rows)) for y in range(0, h, rows)]
    if mode in _WIDE_GREY:
        hi = 0.0
        for y0, y1 in spans:
            a = np.asarray(im.crop((0, y0, w, y1))).astype(np.float32)
            if not np.isfinite(a).all():
                raise Fail("CorruptMedia", "the image holds pixel values that are not finite numbers (NaN or infinity)")
            if a.size:
                hi = max(hi, float(a.max()))
        if mode == "F" and hi <= 1.0:
            scale = 255.0
        elif hi > 255.0:
            scale = 255.0 / (65535.0 if hi <= 65535.0 else hi)
        else:
            scale = 1.0
        for y0, y1 in spans:
            a = np.asarray(im.crop((0, y0, w, y1))).astype(np.float32)
            out[y0:y1] = np.clip(a * scale + 0.5, 0, 255).astype(np.uint8)[..., None]
        return out
    has_alpha = mode in _ALPHA or (mode == "P" and "transparency" in im.info)
    for y0, y1 in spans:
        block = im.crop((0, y0, w, y1))
        if has_alpha:
            rgba = np.asarray(block.convert("RGBA"), dtype=np.uint16)
            alpha = rgba[..., 3:4]
            out[y0:y1] = (rgba[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255  # composite over white
        else:
            out[y0:y1] = np.asarray(block if block.mode == "RGB" else block.convert("RGB"), dtype=np.uint8)
    return out


def task_image(path: str, pil_format: str, limits: dict[str, Any]) -> Any:
    Image = _pil()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with _OpenImage(path, pil_format, limits) as im:
            orientation = _orientation(im)
            _fit_memory(im, pil_format, orientation != 1)
            im.load()  # Pillow opens at the first frame of an animated GIF / WebP or multi-page TIFF
            arr = _to_rgb(im)
    return _orient(arr, orientation) if orientation != 1 else arr


# ----------------------------------------------------------------------------------------------
# audio and video (PyAV)
# ----------------------------------------------------------------------------------------------


def _open_av(path: str, demuxer: str) -> Any:
    return open_av(path, demuxer, metadata_errors="ignore")


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
    c = containers()
    isobmff = sys.modules[f"{c.__name__}.isobmff"]
    fd, size = _open_regular(path)
    try:
        with io.FileIO(fd, "rb", closefd=False) as f:
            facts = isobmff.movie_facts(c.Reader(f, size), budget=c.Budget(max_boxes))
    except c.ContainerError as exc:
        raise Fail("CorruptMedia", f"the MP4/MOV boxes cannot be walked: {exc}") from exc
    finally:
        os.close(fd)
    return (max(facts.durations) if facts.durations else None), facts.truncated


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


#: channel layouts FFmpeg downmixes to stereo with its standard matrix before the mono mean
_SURROUND = frozenset({"2.1", "3.0", "3.0(back)", "3.1", "4.0", "quad", "quad(side)", "4.1", "5.0", "5.0(side)", "5.1",
                       "5.1(side)", "6.0", "6.0(front)", "hexagonal", "6.1", "6.1(back)", "6.1(front)", "7.0",
                       "7.0(front)", "7.1", "7.1(wide)", "7.1(wide-side)", "7.1(top)"})


def _resampler_for(frame: Any, sample_rate: int) -> Any:
    """Resample to float planar at ``sample_rate``; mono is then the mean of the channels (as
    most audio models expect), after FFmpeg's downmix to stereo for the standard surround layouts.
    Any other layout (16 or 64 unnamed channels, an ambisonic or multitrack recording) keeps its
    channels through the resampler, which has no matrix for it, and is averaged the same way (as
    packed samples: PyAV reads planar frames of more than 8 channels out of bounds)."""
    import av

    layout = frame.layout
    channels = layout.nb_channels if layout is not None else 0
    if 0 < channels <= 2:
        return av.AudioResampler(format="fltp", layout=layout.name, rate=sample_rate)
    if layout is not None and layout.name in _SURROUND:
        return av.AudioResampler(format="fltp", layout="stereo", rate=sample_rate)
    return av.AudioResampler(format="flt", layout=layout, rate=sample_rate)


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
            data = f.to_ndarray()  # fltp: [channels, samples]; flt (many channels): [1, samples * channels]
            if f.format.is_planar:
                chunk = data[0] if data.shape[0] == 1 else data.mean(axis=0)
            else:
                n = max(1, f.layout.nb_channels)
                chunk = data.reshape(-1, n).mean(axis=1)
            chunk = chunk.astype(np.float32, copy=False)
            if chunk.size and not np.isfinite(chunk).all():  # float PCM holding NaN / infinity
                raise Fail("CorruptMedia", "the audio holds samples that are not finite numbers (NaN or infinity)")
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


def _window_item(start: int, end: int, samples: Any, sample_rate: int) -> tuple[float, float, Any, float]:
    """What a window is sent as: ``(start_s, end_s, samples, peak)``; an all-zero window is sent
    as its length alone (digital silence costs no transfer; the parent makes the zeros)."""
    import numpy as np

    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return (start / sample_rate, end / sample_rate, samples if peak > 0.0 else int(samples.size), peak)


def task_audio_windows(path: str, demuxer: str, limits: dict[str, Any], sample_rate: int, window_s: float,
                       hop_s: float, min_last_s: float) -> Iterator[Any]:
    """Yield ``(start_s, end_s, samples, peak)`` windows (see :func:`_window_item`); the last,
    shorter one when it has at least ``min_last_s`` seconds of audio not covered by the previous
    window. ``peak`` is the largest absolute sample, so the caller can skip silence cheaply."""
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
                yield _window_item(next_start, next_start + win, buf[s : s + win].copy(), sample_rate)
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
            yield _window_item(next_start, total, buf[s : s + tail].copy(), sample_rate)


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
#: what the decoder process is called in messages (another entry script passes its own name to :func:`main`)
PROCESS_NAME = "decoder process"


def _apply_cap(cap: int | None, setting: str = "decode_memory_mb",
               process_name: str = PROCESS_NAME) -> tuple[int, int] | None:
    if not cap:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    now = vm_bytes()
    if now and cap < now + _HEADROOM:
        raise Fail("DecodeResourceError",
                   f"the memory cap ({cap // MB} MB, {setting}) is below what the {process_name} "
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


def serve(conn: Any, tasks: Mapping[str, tuple[Callable[..., Any], bool]] | None = None,
          process_name: str = PROCESS_NAME) -> None:
    """Answer ``run`` messages with the task of that name from ``tasks`` (:data:`TASKS` by
    default) until the parent says ``exit`` or goes away."""
    table = TASKS if tasks is None else tasks
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
        cwd = msg[6] if len(msg) > 6 and isinstance(msg[6], str) else None
        saved = None
        try:
            if cwd is not None and cwd != os.getcwd():
                os.chdir(cwd)  # relative paths name the caller's files
            if name not in table:
                raise Fail("DecodeResourceError", f"the {process_name} has no task {name!r}")
            fn, streaming = table[name]
            saved = _apply_cap(cap, setting, process_name)
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


def main(argv: list[str], tasks: Mapping[str, tuple[Callable[..., Any], bool]] | None = None,
         process_name: str = PROCESS_NAME) -> int:
    """Entry point of a worker process: ``argv`` is ``[script, FD, PPID]``. ``tasks`` (default
    :data:`TASKS`, always with ``vm_bytes``) and ``process_name`` let another entry script serve
    its own tasks through the same machinery, without patching this module."""
    from multiprocessing.connection import Connection

    fd, ppid = int(argv[1]), int(argv[2])
    if os.getppid() != ppid:
        return 0
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crashing decoder leaves no core file
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business; it stops us
    threading.Thread(target=_watch_parent, args=(ppid,), daemon=True, name="watch-parent").start()
    conn = Connection(fd)
    # import the decoders and the container readers once, before any cap applies
    import av  # noqa: F401
    import numpy  # noqa: F401
    from PIL import Image, ImageOps  # noqa: F401

    containers()
    table = dict(TASKS) if tasks is None else {"vm_bytes": TASKS["vm_bytes"], **tasks}
    try:
        serve(conn, table, process_name)
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
