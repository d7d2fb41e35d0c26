"""Read and write the GB 45438 implicit label in every supported container.

* :func:`read_labels` - every label in a file, each read leniently with its deviations
* :func:`read_label` - the one label of a file, or None; :class:`DuplicateLabel` when there are more
* :func:`write_label` - write exactly one label (or none), read it back, confirm
* :func:`apply_label` - the platform policy: producer or propagator, keeping the producer fields

Carriers (TC260 practice guides): JPEG / PNG / WebP XMP ``TC260:AIGC``; MP4 / MOV / M4A
``moov/udta/meta`` ``mdta`` key ``AIGC``; MKV / WebM / MKA global SimpleTag ``AIGC``; MP3 ID3v2
``TXXX:AIGC``; WAV ``LIST``/``INFO`` entry ``AIGC``; FLAC / Ogg Vorbis / Ogg Opus Vorbis comment ``AIGC=``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from synthwatch.media.sniff import sniff

from .carriers import audio, images, isobmff, matroska
from .errors import DuplicateLabel, LabelError, LabelTooLarge, LabelWriteError, UnsupportedCarrier
from .label import MAX_LABEL_BYTES, AIGCLabel, Deviation, LabelReading, parse_label
from .security_data import SM2Key, content_digest, sign_label, verify_label
from .xmp import merge_label, parse_xmp, remove_labels

__all__ = [
    "CARRIERS",
    "MAX_IMAGE_BYTES",
    "carrier_for",
    "read_labels",
    "read_label",
    "write_label",
    "apply_label",
    "new_id",
]

#: format (as :func:`synthwatch.media.sniff.sniff` names it) -> where the label lives
CARRIERS: dict[str, str] = {
    "jpeg": "XMP (APP1) TC260:AIGC",
    "png": "XMP (iTXt XML:com.adobe.xmp) TC260:AIGC",
    "webp": "XMP chunk (VP8X flag) TC260:AIGC",
    "mp4": "moov/udta/meta mdta key AIGC",
    "mov": "moov/udta/meta mdta key AIGC",
    "m4a": "moov/udta/meta mdta key AIGC",
    "mkv": "Tags SimpleTag AIGC",
    "webm": "Tags SimpleTag AIGC",
    "mka": "Tags SimpleTag AIGC",
    "weba": "Tags SimpleTag AIGC",
    "mp3": "ID3v2 TXXX:AIGC",
    "wav": "RIFF LIST/INFO entry AIGC",
    "flac": "Vorbis comment AIGC",
    "ogg": "Vorbis comment AIGC",
}
MAX_IMAGE_BYTES = 512 * 1024 * 1024
_PNG_TEXT_KEYS = frozenset({"aigc"})

PathLike = str | os.PathLike[str]


def carrier_for(fmt: str) -> str:
    try:
        return CARRIERS[fmt]
    except KeyError:
        raise UnsupportedCarrier(f"{fmt} files have no AIGC label carrier") from None


def _read_bytes(path: PathLike) -> bytes:
    size = os.path.getsize(path)
    if size > MAX_IMAGE_BYTES:
        raise LabelTooLarge(f"image is {size} bytes, over the {MAX_IMAGE_BYTES}-byte cap", size=size,
                            maximum=MAX_IMAGE_BYTES)
    return Path(path).read_bytes()


def _image_meta(data: bytes, fmt: str) -> images.ImageMeta:
    reader = {"jpeg": images.read_jpeg, "png": images.read_png, "webp": images.read_webp}[fmt]
    return reader(data)


def _from_text(text: bytes | str, carrier: str, extra: list[Deviation] | tuple[Deviation, ...]) -> LabelReading:
    return parse_label(text, carrier=carrier).with_carrier(carrier, tuple(extra))


def read_labels(path: PathLike, fmt: str | None = None) -> list[LabelReading]:
    """Every AIGC label in the file, in file order, each with its deviations.

    Raises :class:`UnsupportedCarrier` for formats without a carrier, :class:`UnsafeXML`,
    :class:`LabelEncodingError`, :class:`LabelTooLarge` or :class:`LabelError` for hostile or
    unreadable labels, and :class:`CorruptContainer` for containers too broken to walk.
    """
    fmt = fmt or sniff(path).format
    carrier_for(fmt)
    if fmt in ("jpeg", "png", "webp"):
        meta = _image_meta(_read_bytes(path), fmt)
        out: list[LabelReading] = []
        if len(meta.xmp) > 1:
            meta.deviations.append(Deviation("xmp_multiple_packets", f"{len(meta.xmp)} XMP packets in one file"))
        for packet in meta.xmp:
            for lab in parse_xmp(packet).labels:
                out.append(_from_text(lab.text, f"{fmt}:xmp:{lab.form}", list(meta.deviations) + list(lab.deviations)))
        for key, text in meta.text.items():
            if key.strip().lower() in _PNG_TEXT_KEYS:
                out.append(_from_text(text, f"png:text:{key}", [Deviation(
                    "png_text_chunk", f"label is a PNG text chunk {key!r}, not XMP")]))
        return out
    found: list[isobmff.Mp4Label] | list[matroska.MkvLabel] | list[audio.AudioLabel]
    if fmt in ("mp4", "mov", "m4a"):
        found = isobmff.read_mp4_labels(path)
    elif fmt in ("mkv", "webm", "mka", "weba"):
        found = matroska.read_mkv_labels(path)
    elif fmt == "wav":
        found = audio.read_wav_labels(path)
    else:
        found = audio.read_mutagen_labels(path, fmt)
    return [_from_text(f.text, f"{fmt}:{f.where}", f.deviations) for f in found]


def read_label(path: PathLike, fmt: str | None = None) -> LabelReading | None:
    """The file's one label, or None. More than one raises :class:`DuplicateLabel`."""
    labels = read_labels(path, fmt)
    if len(labels) > 1:
        raise DuplicateLabel(f"{len(labels)} AIGC labels in one file (exactly one is allowed)", count=len(labels))
    return labels[0] if labels else None


def _write_to(src: PathLike, out: BinaryIO, tmp_path: str, fmt: str, label_json: str | None) -> None:
    if fmt in ("jpeg", "png", "webp"):
        data = _read_bytes(src)

        def update(old: bytes | None) -> bytes:
            if label_json is None:
                return remove_labels(old) if old is not None else b""
            return merge_label(old, label_json)

        if fmt == "jpeg":
            new = images.write_jpeg_xmp(data, update, remove_labels)
        elif fmt == "png":
            new = images.write_png_xmp(data, update, remove_labels, _PNG_TEXT_KEYS)
        else:
            new = images.write_webp_xmp(data, update)
        out.write(new)
    elif fmt in ("mp4", "mov", "m4a"):
        isobmff.write_mp4_label(src, out, label_json.encode() if label_json is not None else None)
    elif fmt in ("mkv", "webm", "mka", "weba"):
        matroska.write_mkv_label(src, out, label_json.encode() if label_json is not None else None)
    elif fmt == "wav":
        audio.write_wav_label(src, out, label_json.encode() if label_json is not None else None)
    else:
        out.close()
        shutil.copyfile(src, tmp_path)
        audio.write_mutagen_label(tmp_path, fmt, label_json)


def write_label(src: PathLike, dst: PathLike, label: AIGCLabel | None, *, allow_invalid: bool = False,
                fmt: str | None = None) -> LabelReading | None:
    """Write ``src`` to ``dst`` carrying exactly ``label`` (every other label removed; None removes all).

    Only metadata changes. The result is read back from ``dst`` and must hold one label equal to
    ``label`` with no deviation, else :class:`LabelWriteError` (and ``dst`` is left untouched).
    ``src`` and ``dst`` may be the same path. ``allow_invalid`` lets a label whose values break
    Annex E through (to carry an upstream producer's fields as they are).
    """
    fmt = fmt or sniff(src).format
    carrier_for(fmt)
    label_json: str | None = None
    if label is not None:
        problems = label.check()
        if problems and not allow_invalid:
            raise LabelError("refusing to write a label that breaks Annex E: "
                             + "; ".join(d.message for d in problems))
        label_json = label.to_json()
        if len(label_json.encode()) > MAX_LABEL_BYTES:
            raise LabelTooLarge(f"label is {len(label_json)} bytes, over the {MAX_LABEL_BYTES}-byte cap",
                                size=len(label_json), maximum=MAX_LABEL_BYTES)
    dst_dir = os.path.dirname(os.path.abspath(dst)) or "."
    fd, tmp = tempfile.mkstemp(prefix=".synthwatch-label-", dir=dst_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            _write_to(src, out, tmp, fmt, label_json)
        readings = read_labels(tmp, fmt)
        if label is None:
            if readings:
                raise LabelWriteError(f"{len(readings)} label(s) still present after removal")
            os.replace(tmp, dst)
            return None
        if len(readings) != 1:
            raise LabelWriteError(f"read back {len(readings)} labels, expected exactly one")
        got = readings[0]
        if got.label != label or (not allow_invalid and not got.valid):
            raise LabelWriteError(f"label read back differs from the one written: {got.raw!r}")
        os.replace(tmp, dst)
        return got
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def new_id() -> str:
    """A fresh ProduceID / PropagateID: 32 hex digits (printable ASCII, unique)."""
    return uuid.uuid4().hex


def apply_label(src: PathLike, dst: PathLike, *, producer: str | None = None, propagator: str | None = None,
                label: str | None = None, produce_id: str | None = None, propagate_id: str | None = None,
                id_factory: Callable[[], str] = new_id, security_key: SM2Key | None = None) -> LabelReading:
    """Label ``src`` as a platform would and write it to ``dst``.

    * ``producer``: this platform generated the content. Label defaults to "1"; the propagator
      fields copy the producer's. A file that already names another producer is refused.
    * ``propagator``: this platform distributes the content. An existing label keeps its producer
      fields and its Label (unless ``label`` is given); without one, ``label`` is required.

    There is always exactly one label afterwards (an existing one is updated, never duplicated).

    ``security_key`` (an SM2 key, see :mod:`.security_data`) signs this platform's field: a
    producer's ReservedCode1 or a propagator's ReservedCode2 gets a SecurityData block over the label
    fields and the content digest; it is verified on the written file before ``dst`` is kept.
    """
    if (producer is None) == (propagator is None):
        raise LabelError("give exactly one of producer= or propagator=")
    if label is not None and label not in ("1", "2", "3"):
        raise LabelError(f"label must be '1', '2' or '3', not {label!r}")
    fmt = sniff(src).format
    existing = read_labels(src, fmt)
    current = existing[0] if existing else None
    if producer is not None:
        if current is not None and current.label.content_producer not in ("", producer):
            raise LabelError(f"the file already names producer {current.label.content_producer!r}; "
                             "relabelling another producer's content would alter its label")
        pid = produce_id or (current.label.produce_id if current is not None and current.label.produce_id else None)
        new = AIGCLabel.as_producer(label or (current.label.label if current is not None and
                                              current.label.label in ("1", "2", "3") else "1"),
                                    producer, pid or id_factory())
        result = _write_signed(src, dst, new, fmt, security_key, "producer", False)
    else:
        assert propagator is not None
        if current is None:
            if label is None:
                raise LabelError("the file has no label: give label='1', '2' or '3' (see provenance.decide)")
            new = AIGCLabel(label=label, content_propagator=propagator, propagate_id=propagate_id or id_factory())
            result = _write_signed(src, dst, new, fmt, security_key, "propagator", False)
        else:
            value = label or current.label.label
            if value not in ("1", "2", "3"):
                raise LabelError(f"the existing Label {current.label.label!r} cannot be read; give label=")
            keep_id = current.label.propagate_id if current.label.content_propagator == propagator else ""
            new = AIGCLabel(label=value, content_producer=current.label.content_producer,
                            produce_id=current.label.produce_id, reserved_code1=current.label.reserved_code1,
                            content_propagator=propagator, propagate_id=propagate_id or keep_id or id_factory(),
                            reserved_code2=current.label.reserved_code2)
            upstream_bad = any(d.field in ("ContentProducer", "ProduceID", "ReservedCode1", "ReservedCode2")
                               and d.code in ("value_not_printable_ascii", "value_quote_or_backslash")
                               for d in current.deviations)
            result = _write_signed(src, dst, new, fmt, security_key, "propagator", upstream_bad)
    assert result is not None
    return result


def _write_signed(src: PathLike, dst: PathLike, new: AIGCLabel, fmt: str, key: SM2Key | None, scope: str,
                  allow_invalid: bool) -> LabelReading | None:
    """``write_label``, with this platform's SecurityData block when a key is given (verified on the result)."""
    if key is None:
        return write_label(src, dst, new, fmt=fmt, allow_invalid=allow_invalid)
    signed = sign_label(new, key, scope=scope, content=content_digest(src, fmt))
    dst_dir = os.path.dirname(os.path.abspath(dst)) or "."
    fd, tmp = tempfile.mkstemp(prefix=".synthwatch-signed-", dir=dst_dir)
    os.close(fd)
    try:
        result = write_label(src, tmp, signed, fmt=fmt, allow_invalid=allow_invalid)
        assert result is not None
        info = verify_label(result.label, path=tmp, fmt=fmt, trusted_keys=[key.public_key])
        if not info.verified:
            raise LabelWriteError(f"the SecurityData block does not verify on the written file: {info.reason}")
        os.replace(tmp, dst)
        return replace(result, security=info)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
