"""Writing untrusted text: machine output byte-exact, human output inert.

Everything read from a user's file (its name, metadata text, C2PA fields, error messages that quote
them) is attacker-controlled. Two rules follow:

* **Machine output** (JSON, JSON lines) is serialised with :mod:`json` and written as UTF-8 bytes
  straight to the stream: never through a markup renderer, never re-wrapped or highlighted.
  :func:`json_bytes` is that encoding; a string that cannot be encoded as UTF-8 (a lone surrogate,
  as Python uses for undecodable bytes of a file name) is written with JSON's ``\\uXXXX`` escapes,
  so the output is always valid UTF-8 and valid JSON.
* **Human output** (tables, messages) shows untrusted text as *text*: :func:`printable` turns
  control characters (C0, DEL, C1: terminal escape sequences among them), lone surrogates and
  Unicode bidirectional overrides into visible ``\\xNN`` / ``\\uNNNN`` escapes, and :func:`cell` wraps
  the result in a :class:`rich.text.Text`, which Rich never parses for markup or emoji codes.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from rich.text import Text

__all__ = ["printable", "cell", "json_bytes", "write_json", "write_jsonl"]

#: Unicode bidirectional controls that can reorder what a reader sees ("Trojan Source")
_BIDI = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A)) | {0x200E, 0x200F, 0x061C}


_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    o = ord(ch)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def printable(value: object, *, multiline: bool = False) -> str:
    """``str(value)`` with every character a terminal would act on made visible (see module doc).
    Newlines and tabs are escaped too (a forged line is a forged message) unless ``multiline``."""
    s = str(value)
    out: list[str] = []
    for ch in s:
        o = ord(ch)
        if multiline and ch in "\n\t":
            out.append(ch)
        elif o < 0x20 or 0x7F <= o < 0xA0 or 0xD800 <= o < 0xE000 or o in _BIDI:
            out.append(_escape(ch))
        else:
            out.append(ch)
    return "".join(out)


def cell(value: object, style: str = "", *, multiline: bool = False) -> Text:
    """A table cell (or any Rich renderable) showing ``value`` literally."""
    return Text(printable(value, multiline=multiline), style=style)


def json_bytes(doc: Any, *, indent: int | None = None) -> bytes:
    """``doc`` as UTF-8 JSON bytes, non-ASCII text kept readable; see the module doc for strings
    that are not valid Unicode."""
    text = json.dumps(doc, ensure_ascii=False, indent=indent)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: let json escape every non-ASCII character
        return json.dumps(doc, ensure_ascii=True, indent=indent).encode("ascii")


def _stream(stream: IO[bytes] | None) -> IO[bytes]:
    return stream if stream is not None else sys.stdout.buffer


def write_json(doc: Any, *, indent: int | None = 2, stream: IO[bytes] | None = None) -> None:
    """Write ``doc`` as one JSON document and a newline, byte-exact, and flush."""
    s = _stream(stream)
    s.write(json_bytes(doc, indent=indent) + b"\n")
    s.flush()


def write_jsonl(doc: Any, *, stream: IO[bytes] | None = None) -> None:
    """Write ``doc`` as one JSON line, byte-exact, and flush (so a reader sees it as it finishes)."""
    write_json(doc, indent=None, stream=stream)
