"""Streaming request bodies: multipart uploads go straight to a hashed temporary file under the
size cap (413 as soon as it is passed, the partial file removed); JSON bodies are read under their
own small cap."""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from .problems import Problem
from .storage.blobs import BlobStore, BlobWriter, TooLarge

__all__ = ["Upload", "read_multipart", "read_json_body"]


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
            up.filename = disp.get(b"filename", b"").decode("utf-8", "replace").replace("\x00", "")[:300]
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
            if len(pending) >= 256 * 1024:  # hand the parser (and the disk) big pieces, off the event loop
                await run_in_threadpool(parser.write, bytes(pending))
                pending.clear()
        if pending:
            await run_in_threadpool(parser.write, bytes(pending))
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
