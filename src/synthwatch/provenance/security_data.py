"""``SecurityData`` in ReservedCode1 / ReservedCode2: an SM2 signature (SM3 digests) over the label and content.

GB 45438 Annex E reserves ``ReservedCode1`` (the producer's) and ``ReservedCode2`` (the
propagator's) for integrity data, and a TC260 guide describes a signed ``SecurityData`` block built
with SM3 and SM2. That guide's byte layout is not public here, so this module defines a documented
encoding of its own (``synthwatch.securitydata/1``); a block in any other layout is reported as
present and *not verifiable* (never as verified).

Encoding (the field value; printable ASCII, no quote or backslash, as Annex E requires)::

    base64url, unpadded, of the compact JSON
    {"SecurityData":{"v":1,"alg":"SM2-SM3","scope":"producer"|"propagator","kid":"<16 hex>",
                     "pk":"<128 hex: x||y>","content":"sm3:<64 hex>"|"","sig":"<128 hex: r||s>"}}

* ``scope`` ``producer`` lives in ReservedCode1 and covers Label, ContentProducer and ProduceID;
  ``propagator`` lives in ReservedCode2 and covers every other field (ReservedCode1 included), so a
  propagator's signature also pins the producer's block.
* ``content`` is the SM3 digest of the media *essence*: decoded pixels (mode, size, bytes) for
  images, every demuxed packet's payload (stream index + bytes) for audio and video. Metadata-only
  edits such as writing the label do not change it; any change to the media data does.
* ``sig`` is SM2 with SM3 (GB/T 32918.2 / GM/T 0009, default user ID ``1234567812345678``) over
  the canonical message: the compact JSON ``["synthwatch.securitydata/1", scope, [[key, value],
  ...covered fields...], content]``.
* ``pk`` is the signer's public key (uncompressed point without the 04 prefix) and ``kid`` the first
  16 hex digits of its SM3 digest. A valid signature proves integrity against that key; whether
  the key belongs to the named producer / propagator is a trust decision (``trusted_keys``).

SM2 and SM3 come from the pure-Python ``gmssl`` package; nonces come from :mod:`secrets`, not from
gmssl's own ``random``-based helper. SM3 of the essence uses OpenSSL (``hashlib``) when it has SM3.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from synthwatch.errors import MediaError, SynthwatchError

from .errors import CorruptContainer, SecurityDataError, UnsupportedCarrier

if TYPE_CHECKING:  # label.py imports this module (one way: label -> security_data)
    from .label import AIGCLabel

__all__ = ["FORMAT", "SecurityInfo", "SM2Key", "generate_sm2_key", "load_sm2_key", "content_digest", "make_block",
           "decode_block", "verify_label", "sign_label", "sm3_hex"]

FORMAT = "synthwatch.securitydata/1"
_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
_PRODUCER_KEYS = ("Label", "ContentProducer", "ProduceID")
_PROPAGATOR_KEYS = ("Label", "ContentProducer", "ProduceID", "ReservedCode1", "ContentPropagator", "PropagateID")
_FIELD_BY_SCOPE = {"producer": "ReservedCode1", "propagator": "ReservedCode2"}
_MAX_BLOCK = 8192
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class SecurityInfo:
    """What the ReservedCode fields carry (integrity data, a ``SecurityData`` block).

    ``verified``: True when every SecurityData block verifies, False when one fails, None when
    nothing verifiable is there. ``blocks`` holds one entry per filled ReservedCode field.
    """

    present: bool
    field: str | None = None
    kind: str | None = None  # "SecurityData" | "opaque"
    verified: bool | None = None  # None: not verifiable here
    reason: str = ""
    blocks: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"present": self.present, "field": self.field, "kind": self.kind, "verified": self.verified,
                "reason": self.reason, "blocks": [dict(b) for b in self.blocks]}


def _gmssl() -> Any:
    try:
        from gmssl import sm2
    except ImportError as exc:  # pragma: no cover - gmssl is a dependency
        raise SecurityDataError("SecurityData needs the gmssl package (pip install gmssl)") from exc
    return sm2


def sm3_hex(data: bytes) -> str:
    """SM3 of ``data`` as 64 lower-case hex digits."""
    try:
        return hashlib.new("sm3", data).hexdigest()
    except ValueError:  # OpenSSL without SM3
        from gmssl import func, sm3

        return str(sm3.sm3_hash(func.bytes_to_list(data)))


class _Sm3:
    """Incremental SM3: OpenSSL when it has SM3, else buffered for gmssl."""

    def __init__(self) -> None:
        try:
            self._h: Any = hashlib.new("sm3")
            self._buf: bytearray | None = None
        except ValueError:  # pragma: no cover - depends on the OpenSSL build
            self._h, self._buf = None, bytearray()

    def update(self, data: bytes) -> None:
        if self._h is not None:
            self._h.update(data)
        else:  # pragma: no cover
            assert self._buf is not None
            self._buf += data

    def hexdigest(self) -> str:
        return str(self._h.hexdigest()) if self._h is not None else sm3_hex(bytes(self._buf or b""))


def _is_hex(value: str, length: int) -> bool:
    return len(value) == length and set(value) <= _HEX


@dataclass(frozen=True)
class SM2Key:
    """An SM2 key: the private scalar (64 hex, may be empty for verify-only) and public point (128 hex)."""

    public_key: str
    private_key: str = ""

    @property
    def key_id(self) -> str:
        return sm3_hex(bytes.fromhex(self.public_key))[:16]

    @classmethod
    def from_private(cls, private_key: str) -> SM2Key:
        d = private_key.strip().lower()
        if not _is_hex(d, 64) or not 0 < int(d, 16) < _N - 1:
            raise SecurityDataError("an SM2 private key is 64 hex digits, a scalar in [1, n-2]")
        sm2 = _gmssl()
        crypt = sm2.CryptSM2(private_key=d, public_key="")
        return cls(public_key=str(crypt._kg(int(d, 16), crypt.ecc_table["g"])).lower(), private_key=d)


def generate_sm2_key() -> SM2Key:
    """A fresh SM2 key pair (private scalar from :mod:`secrets`)."""
    return SM2Key.from_private(f"{secrets.randbelow(_N - 2) + 1:064x}")


def load_sm2_key(path: str | os.PathLike[str]) -> SM2Key:
    """Read an SM2 private key file: 64 hex digits, or JSON ``{"private_key": "<64 hex>"}``."""
    try:
        with open(path, encoding="ascii") as f:
            text = f.read(4096).strip()
    except (OSError, UnicodeDecodeError) as exc:
        from synthwatch.media.source import display_name

        raise SecurityDataError(f"cannot read the SM2 key file {display_name(path)}: {exc}") from exc
    if text.startswith("{"):
        try:
            text = str(json.loads(text)["private_key"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SecurityDataError("the SM2 key file is JSON without a 'private_key' string") from exc
    return SM2Key.from_private(text)


def content_digest(path: str | os.PathLike[str], fmt: str | None = None, *, deadline: float | None = None) -> str:
    """``sm3:<hex>`` of the media essence of ``path`` (see the module docstring).

    The file is decoded (images) or demuxed (audio, video) in the isolated provenance worker
    (:mod:`synthwatch.provenance.isolation`, under ``decode_timeout_s`` / ``decode_memory_mb``, and
    never past ``deadline``, a :func:`time.monotonic` value): a hostile file costs a typed error
    (:class:`CorruptContainer`, or :class:`~synthwatch.errors.DecodeTimeout` /
    :class:`~synthwatch.errors.DecodeResourceError` when it hangs, crashes or exhausts the decoder),
    never the calling process."""
    from synthwatch.media.sniff import sniff

    from .isolation import malformed, run

    fmt = fmt or sniff(path).format
    what = "computing the content digest"
    digest = run("content_digest", {"path": os.fspath(path), "fmt": fmt}, what=what, transcode=False,
                 deadline=deadline)
    if not (isinstance(digest, str) and digest.startswith("sm3:") and _is_hex(digest[4:], 64)):
        raise malformed(what)
    return digest


def _digest_task(path: str, fmt: str) -> str:
    """:func:`content_digest`'s work, in the isolated worker. The file is opened as a file (never
    named to FFmpeg), with the decoder chosen from the sniffed format (never guessed)."""
    from synthwatch.media._worker import open_av
    from synthwatch.media.sniff import FORMATS, demuxer_for, pillow_format_for
    from synthwatch.media.source import open_input

    if fmt not in FORMATS:
        raise UnsupportedCarrier(f"no content digest for format {fmt!r}")
    h = _Sm3()
    h.update(f"{FORMAT}:{fmt}\n".encode())
    if FORMATS[fmt][0].value == "image":
        from PIL import Image

        try:
            with open_input(path) as f, Image.open(f, formats=[pillow_format_for(fmt)]) as im:
                im.load()
                h.update(f"{im.mode}:{im.size[0]}x{im.size[1]}\n".encode())
                h.update(im.tobytes())
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise CorruptContainer(f"the image could not be decoded for its content digest: {exc}") from exc
        return "sm3:" + h.hexdigest()
    import av

    try:
        with open_av(path, demuxer_for(fmt)) as c:
            n = 0
            for packet in c.demux():
                if packet.size:
                    h.update(f"{packet.stream.index}:{packet.size}:".encode())
                    h.update(bytes(packet))
                    n += 1
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise CorruptContainer(f"the media could not be demuxed for its content digest: {exc}") from exc
    if n == 0:
        raise CorruptContainer("the media holds no packet to digest")
    return "sm3:" + h.hexdigest()


def _message(label: AIGCLabel, scope: str, content: str) -> bytes:
    fields = label.fields()
    keys = _PRODUCER_KEYS if scope == "producer" else _PROPAGATOR_KEYS
    return json.dumps([FORMAT, scope, [[k, fields[k]] for k in keys], content], ensure_ascii=True,
                      separators=(",", ":")).encode("ascii")


def make_block(label: AIGCLabel, key: SM2Key, *, scope: str, content: str = "") -> str:
    """The field value (base64url JSON) of a SecurityData block signing ``label`` for ``scope``."""
    if scope not in _FIELD_BY_SCOPE:
        raise SecurityDataError(f"scope must be 'producer' or 'propagator', not {scope!r}")
    if not key.private_key:
        raise SecurityDataError("signing needs the SM2 private key")
    sm2 = _gmssl()
    crypt = sm2.CryptSM2(private_key=key.private_key, public_key=key.public_key)
    k = f"{secrets.randbelow(_N - 1) + 1:064x}"
    sig = crypt.sign_with_sm3(_message(label, scope, content), k)
    if not sig or not _is_hex(str(sig).lower(), 128):
        raise SecurityDataError("SM2 signing failed")  # pragma: no cover - gmssl returns None on bad k
    block = {"SecurityData": {"v": 1, "alg": "SM2-SM3", "scope": scope, "kid": key.key_id, "pk": key.public_key,
                              "content": content, "sig": str(sig).lower()}}
    raw = json.dumps(block, separators=(",", ":")).encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_block(value: str) -> dict[str, Any] | None:
    """The JSON a ReservedCode value holds (base64 / base64url or plain JSON), or None."""
    if not value or len(value) > _MAX_BLOCK:
        return None
    text = value
    try:
        padded = value + "=" * (-len(value) % 4)
        alt = b"-_" if ("-" in value or "_" in value) else None
        text = base64.b64decode(padded, altchars=alt, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        pass
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _verify_one(label: AIGCLabel, field: str, value: str, trusted: Collection[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"field": field, "kind": "opaque", "verified": None, "key_id": None, "content": None,
                           "scope": None, "trusted": None, "reason": "reserved field is filled; its format is not known"}
    data = decode_block(value)
    if data is None:
        if "securitydata" in value.lower():
            out.update(kind="SecurityData", reason="SecurityData block that cannot be decoded; not verifiable")
        return out
    body = next((v for k, v in data.items() if isinstance(k, str) and k.lower() == "securitydata"), None)
    if body is None:
        return out
    out["kind"] = "SecurityData"
    if not isinstance(body, dict) or body.get("alg") != "SM2-SM3" or body.get("v") != 1:
        out["reason"] = f"SecurityData block in a layout other than {FORMAT}; not verifiable here"
        return out
    scope, pk, sig = body.get("scope"), str(body.get("pk", "")).lower(), str(body.get("sig", "")).lower()
    content = body.get("content", "")
    out.update(scope=scope, content=content or None)
    if scope not in _FIELD_BY_SCOPE or not _is_hex(pk, 128) or not _is_hex(sig, 128) or not isinstance(content, str):
        out.update(verified=False, reason="SecurityData block is malformed (scope, pk, sig or content)")
        return out
    key = SM2Key(public_key=pk)
    out["key_id"] = key.key_id
    if _FIELD_BY_SCOPE[scope] != field:
        out.update(verified=False, reason=f"a {scope} block must be in {_FIELD_BY_SCOPE[scope]}, not {field}")
        return out
    if body.get("kid") not in (None, key.key_id):
        out.update(verified=False, reason="kid does not match the public key")
        return out
    try:
        sm2 = _gmssl()
    except SecurityDataError as exc:  # pragma: no cover - gmssl is a dependency
        out["reason"] = f"SecurityData present but not verifiable here: {exc}"
        return out
    try:
        ok = bool(sm2.CryptSM2(private_key="", public_key=pk).verify_with_sm3(sig, _message(label, scope, content)))
    except (ValueError, TypeError, ZeroDivisionError, SynthwatchError) as exc:
        ok = False
        out["reason"] = f"SM2 verification failed: {exc}"
    if not ok:
        out.update(verified=False, reason=out["reason"] if out["reason"].startswith("SM2") else
                   "SM2 signature does not match the label fields (altered label or forged block)")
        return out
    out["trusted"] = (pk in {t.lower() for t in trusted} or key.key_id in trusted) if trusted is not None else None
    out.update(verified=True, reason=f"SM2 signature over the {scope} fields verifies (key {key.key_id}"
               + (", trusted" if out["trusted"] else ", not checked against trusted keys" if trusted is None
                  else ", NOT a trusted key") + ")"
               + ("; content digest not yet compared" if content else "; no content digest"))
    return out


def verify_label(label: AIGCLabel, *, path: str | os.PathLike[str] | None = None, fmt: str | None = None,
                 trusted_keys: Collection[str] | None = None, deadline: float | None = None) -> SecurityInfo:
    """Report the ReservedCode1/2 blocks of ``label``: present or absent, verified or failed, and why.

    With ``path`` a block's content digest is compared with the file's essence (a mismatch fails;
    ``deadline`` bounds computing it). ``trusted_keys``: public keys (128 hex) or key ids that
    count as trusted.
    """
    blocks: list[dict[str, Any]] = []
    for field, value in (("ReservedCode1", label.reserved_code1), ("ReservedCode2", label.reserved_code2)):
        if not value:
            continue
        b = _verify_one(label, field, value, trusted_keys)
        if b["verified"] and b["content"] and path is not None:
            try:
                actual = content_digest(path, fmt, deadline=deadline)
            except (CorruptContainer, UnsupportedCarrier, MediaError) as exc:  # also a decoder timeout or crash
                b.update(verified=False, reason=f"content digest could not be computed: {exc}")
            else:
                if actual != b["content"]:
                    b.update(verified=False, reason="the media content changed after signing "
                                                    "(content digest mismatch)")
                else:
                    b["reason"] = b["reason"].replace("content digest not yet compared", "content digest matches")
        blocks.append(b)
    if not blocks:
        return SecurityInfo(False, None, None, None, "ReservedCode1 and ReservedCode2 are empty")
    first = next((b for b in blocks if b["verified"] is False), None) or \
        next((b for b in blocks if b["kind"] == "SecurityData"), blocks[0])
    verdicts = [b["verified"] for b in blocks if b["verified"] is not None]
    verified = None if not verdicts else all(verdicts)
    reason = "; ".join(f"{b['field']}: {b['reason']}" for b in blocks)
    return SecurityInfo(True, first["field"], first["kind"], verified, reason, tuple(blocks))


def sign_label(label: AIGCLabel, key: SM2Key, *, scope: str, content: str = "") -> AIGCLabel:
    """``label`` with its ``scope`` field (ReservedCode1 producer / ReservedCode2 propagator) signed."""
    from dataclasses import replace

    block = make_block(label, key, scope=scope, content=content)
    return replace(label, **{"reserved_code1" if scope == "producer" else "reserved_code2": block})
