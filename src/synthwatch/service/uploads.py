"""Streaming request bodies: uploads (multipart, or the raw body) go straight to a hashed temporary
file under the size cap (413 as soon as it is passed, the partial file removed); JSON bodies are read
under their own small cap.

Small bodies are parsed, hashed and written on the event loop: a thread hop costs more than the work
for the typical upload (an image of tens or hundreds of KB). Bodies larger than :data:`INLINE_BYTES`
are handed to a thread in pieces of that size, so a big upload never holds the loop for long.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from .problems import Problem
from .storage.blobs import BlobStore, BlobWriter, TooLarge

__all__ = ["Upload", "read_multipart", "read_raw", "read_json_body", "filename_from_disposition", "INLINE_BYTES",
           "MAX_FILENAME"]

#: body pieces up to this size are parsed / hashed / written on the event loop; larger ones in a thread
INLINE_BYTES = 256 * 1024
#: file names are kept as data, without NUL, cut to this many characters
MAX_FILENAME = 300


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    file: BlobWriter | None = None
    filename: str = ""

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()


@dataclass
class _PartState:
    name: str | None = None
    buf: bytearray = field(default_factory=bytearray)
    header: bytes = b""
    value: bytes = b""
    headers: dict[bytes, bytes] = field(default_factory=dict)
    fields_size: int = 0
    ended: bool = False


def _too_large(limit: int) -> Problem:
    return Problem(413, "payload_too_large", f"the upload is over the limit of {limit} bytes")


async def read_json_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_multipart(request: Request, blobs: BlobStore, max_file: int, max_fields: int) -> Upload:
    """Parse ``multipart/form-data``: the part named ``file`` is streamed to disk; other parts are
    short text fields. The caller must :meth:`Upload.discard` (or commit) the file."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise Problem(400, "bad_request", "multipart/form-data without a boundary")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_file + max_fields + 65536:
        raise _too_large(max_file)

    up = Upload()
    st = _PartState()

    def on_part_begin() -> None:
        st.headers = {}
        st.name = None
        st.buf = bytearray()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        st.header += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        st.value += data[start:end]

    def on_header_end() -> None:
        st.headers[st.header.lower()] = st.value
        st.header = b""
        st.value = b""

    def on_headers_finished() -> None:
        _, disp = parse_options_header(st.headers.get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        st.name = name
        if name == "file":
            if up.file is not None:
                raise Problem(400, "bad_request", "more than one part named 'file'")
            up.filename = disp.get(b"filename", b"").decode("utf-8", "replace").replace("\x00", "")[:MAX_FILENAME]
            up.file = blobs.writer(max_file)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if st.name == "file":
            assert up.file is not None
            up.file.write(data[start:end])
            return
        st.fields_size += end - start
        if st.fields_size > max_fields:
            raise Problem(413, "payload_too_large", "the form fields are too large")
        st.buf.extend(data[start:end])

    def on_part_end() -> None:
        name = st.name
        if name is not None and name != "file":
            if name in up.fields:
                raise Problem(400, "bad_request", f"the form field {name!r} is given twice")
            try:
                up.fields[name] = st.buf.decode("utf-8")
            except UnicodeDecodeError:
                raise Problem(400, "bad_request", f"the form field {name!r} is not UTF-8") from None

    def on_end() -> None:
        st.ended = True

    parser = MultipartParser(boundary, {  # type: ignore[arg-type]
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        "on_part_end": on_part_end, "on_end": on_end})
    try:
        pending = bytearray()
        async for chunk in request.stream():
            pending.extend(chunk)
            if len(pending) >= INLINE_BYTES:  # hand the parser (and the disk) big pieces, off the event loop
                await run_in_threadpool(parser.write, bytes(pending))
                pending.clear()
        if pending:  # the rest (all of a small upload) is less than INLINE_BYTES: cheaper here than a thread hop
            parser.write(bytes(pending))
        parser.finalize()
        if not st.ended:
            raise Problem(400, "bad_request", "the multipart body is truncated (no closing boundary)")
    except TooLarge:
        up.discard()
        raise _too_large(max_file) from None
    except ClientDisconnect:
        up.discard()
        raise Problem(400, "bad_request", "the client disconnected during the upload") from None
    except Problem:
        up.discard()
        raise
    except Exception as exc:  # python-multipart's parse errors
        up.discard()
        raise Problem(400, "bad_request", f"malformed multipart body: {type(exc).__name__}") from None
    return up


# RFC 6266 Content-Disposition parameters: token = value, value a token or a quoted string
_PARAM = re.compile(r""";\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)""")


def filename_from_disposition(header: str) -> str:
    """The file name a ``Content-Disposition`` header gives (RFC 6266): ``filename*`` (RFC 8187,
    ``UTF-8''percent-encoded``) wins over ``filename``; a plain ``filename`` sent as raw UTF-8 bytes
    is read as UTF-8. Returns "" when there is none. The name is data: only NUL is removed and it is
    cut to :data:`MAX_FILENAME` characters; paths, markup and control characters are kept as sent."""
    plain = extended = None
    for key, value in _PARAM.findall(header):
        key = key.lower()
        value = value.strip()
        if key == "filename*":
            charset, sep, rest = value.partition("'")
            _, sep2, encoded = rest.partition("'")
            if sep and sep2 and charset.lower() in ("utf-8", "iso-8859-1"):
                extended = unquote(encoded, encoding=charset.lower(), errors="replace")
        elif key == "filename":
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            # HTTP header values arrive as latin-1 text: UTF-8 bytes sent as they are become readable again
            try:
                plain = value.encode("latin-1").decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                plain = value
    name = extended if extended is not None else plain
    return (name or "").replace("\x00", "")[:MAX_FILENAME]


async def read_raw(request: Request, blobs: BlobStore, max_file: int) -> BlobWriter:
    """Stream the request body (the file itself, ``application/octet-stream``) to a hashed temporary
    file under ``max_file`` bytes (413 as soon as it is passed, or at once from ``Content-Length``).
    The caller must commit or :meth:`BlobWriter.discard` the file."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_file:
        raise _too_large(max_file)
    writer = blobs.writer(max_file)
    try:
        pending = bytearray()
        async for chunk in request.stream():
            pending.extend(chunk)
            if len(pending) >= INLINE_BYTES:  # big pieces in a thread (the writer refuses what is over the cap)
                await run_in_threadpool(writer.write, bytes(pending))
                pending.clear()
        if pending:
            writer.write(bytes(pending))
    except TooLarge:
        writer.discard()
        raise _too_large(max_file) from None
    except ClientDisconnect:
        writer.discard()
        raise Problem(400, "bad_request", "the client disconnected during the upload") from None
    except BaseException:
        writer.discard()
        raise
    return writer
