"""C2PA: read and validate manifest stores offline, and sign a platform manifest (``c2pa-python``).

Reading (:func:`read_c2pa`) validates the whole store with the C2PA library in the isolated
provenance worker, then :mod:`synthwatch.provenance.c2pa_graph` walks the manifest graph (the active
manifest and every ingredient manifest it reaches) and translates the library's validation status
codes per manifest. The result keeps the library's one-word state (``Invalid`` / ``Valid`` /
``Trusted``) but does not decide on it: integrity, signature, signer trust, certificate validity,
timestamp and revocation are reported separately, and the Art. 6 rules use those.

Validation never touches the network (remote manifests and OCSP fetching are off; a stapled OCSP
response is still read). Trust anchors: :mod:`synthwatch.provenance.c2pa_trust` (the shipped C2PA
Trust List and TSA Trust List, plus the platform's own PEM file).

Signing needs an X.509 chain (leaf first, from a CA; self-signed leaves are refused) with the
``digitalSignature`` key usage and an EKU C2PA accepts (e.g. emailProtection or documentSigning),
and the leaf's private key. Without a timestamp authority URL the signature is only as valid as
the certificate. Sign *after* writing the implicit label: any later byte change invalidates the
manifest (that is the point).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from typing import Any

from synthwatch.media.sniff import sniff

from . import c2pa_graph
from .c2pa_trust import C2paTrust, resolve
from .errors import ProvenanceError, UnsupportedCarrier
from .rules import IPTC_CLASSES, IPTC_PREFIX

__all__ = ["C2paSigningError", "C2paSigner", "MIME", "available", "read_c2pa", "sign_c2pa", "OFFLINE_SETTINGS",
           "classify_source_type", "check_signing_chain", "C2paTrust"]

#: sniffed format -> MIME type c2pa-python accepts
MIME: dict[str, str] = {
    "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif", "tiff": "image/tiff",
    "mp4": "video/mp4", "mov": "video/quicktime", "m4a": "audio/mp4", "wav": "audio/wav", "mp3": "audio/mpeg",
    "flac": "audio/flac", "avi": "video/avi",
}
OFFLINE_SETTINGS: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}


class C2paSigningError(ProvenanceError):
    code = "c2pa_signing"


def available() -> bool:
    """Whether c2pa-python is installed."""
    try:
        import c2pa  # noqa: F401
    except ImportError:
        return False
    return True


def _lib() -> Any:
    try:
        import c2pa
    except ImportError as exc:  # pragma: no cover - c2pa-python is a dependency
        raise UnsupportedCarrier("C2PA needs the c2pa-python package (pip install c2pa-python)") from exc
    return c2pa


def _context(trust_anchors: str | None = None, trust: dict[str, Any] | None = None) -> Any:
    """A C2PA library context: offline, with ``trust`` (:meth:`C2paTrust.settings`) or, as before,
    a PEM bundle of ``trust_anchors``."""
    c2pa = _lib()
    settings: dict[str, Any] = json.loads(json.dumps(OFFLINE_SETTINGS))
    if trust is not None:
        for section, values in trust.items():
            settings.setdefault(section, {}).update(values)
    elif trust_anchors:
        settings["trust"] = {"trust_anchors": trust_anchors}
        settings["verify"]["verify_trust"] = True
    return c2pa.Context(settings=c2pa.Settings.from_dict(settings))


def classify_source_type(dst: str) -> str | None:
    """'generated' / 'composite' for AI digital source types, 'capture' for camera/human, else None."""
    code = dst.strip()
    if code.startswith(IPTC_PREFIX):
        code = code[len(IPTC_PREFIX):]
    code = code.rstrip("/").rsplit("/", 1)[-1]
    cls = IPTC_CLASSES.get(code)
    if cls == "ai":
        return "composite" if code.startswith("composite") else "generated"
    return cls


def read_c2pa(path: str | os.PathLike[str], *, trust_anchors: str | C2paTrust | None = None,
              fmt: str | None = None, policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read and validate the C2PA manifest store of ``path`` offline: the whole manifest graph.

    ``trust_anchors``: a platform PEM bundle (CA certificates become anchors, end-entity certificates
    are allowed as they are) added to the shipped C2PA trust lists; a
    :class:`~synthwatch.provenance.c2pa_trust.C2paTrust` used as is; or None, the deployment's
    ``Settings.c2pa_trust_anchors`` plus the shipped lists (:func:`c2pa_trust.resolve`), so that every
    caller validates against the same lists. ``policy``: a C2PA reading policy (default
    :data:`synthwatch.provenance.rules.C2PA_READING`).

    No manifest gives ``{"present": False, ...}``; a store the library cannot parse is ``present`` and
    ``Invalid`` with the library's message as the failure. See :mod:`synthwatch.provenance.c2pa_graph`
    for the reading's fields (``declarations``, ``chain``, ``assessment``...).

    The C2PA library (native code) parses the file in the isolated provenance worker
    (:mod:`synthwatch.provenance.isolation`, under ``decode_timeout_s`` / ``decode_memory_mb``):
    a file that makes it crash, hang or exhaust memory gives
    :class:`~synthwatch.errors.DecodeResourceError` / :class:`~synthwatch.errors.DecodeTimeout`,
    never a failure of the calling process.
    """
    _lib()  # C2paUnavailable here, in the caller, when c2pa-python is not installed
    fmt = fmt or sniff(path).format
    if MIME.get(fmt) is None:
        return {**_empty(), "reason": f"C2PA is not read from {fmt} files"}
    trust = resolve(trust_anchors)
    from . import isolation

    what = "reading the C2PA manifest"
    raw = isolation.run("c2pa_read", {"path": os.fspath(path), "trust_anchors": None, "fmt": fmt,
                                      "trust": trust.to_worker(), "policy": policy},
                        what=what, transcode=False)
    out = isolation.checked(raw, {"present": bool, "failures": list, "digital_source_types": list}, what)
    if out["present"]:
        out["trust_lists"] = trust.describe()
    return out


def _empty() -> dict[str, Any]:
    return {"present": False, "state": None, "failures": [], "ai": None, "capture": False,
            "digital_source_types": []}


def _failures(results: dict[str, Any] | None, active: str) -> list[dict[str, Any]]:
    """Every failure code of the validation, with the manifest it concerns."""
    blocks: list[tuple[str, Any]] = []
    for scope, entries in (results or {}).items():
        if isinstance(entries, dict):
            blocks.append((scope, entries))
        elif isinstance(entries, list):  # ingredientDeltas
            blocks.extend((scope, (d or {}).get("validationDeltas") or {}) for d in entries if isinstance(d, dict))
    out: list[dict[str, Any]] = []
    for scope, block in blocks:
        for f in block.get("failure") or [] if isinstance(block, dict) else []:
            if isinstance(f, dict):
                url = str(f.get("url", ""))
                out.append({"scope": scope, "code": str(f.get("code")), "explanation": str(f.get("explanation", "")),
                            "url": url, "manifest": c2pa_graph.manifest_label(url) or active})
    return out


def _read_task(path: str, trust_anchors: str | None, fmt: str, trust: dict[str, Any] | None = None,
               policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """:func:`read_c2pa`'s work, in the isolated worker. ``trust`` is :meth:`C2paTrust.to_worker`
    (``settings``, ``configured``); without it ``trust_anchors`` is used as the only anchors."""
    c2pa = _lib()
    mime = MIME[fmt]
    empty = _empty()
    settings = trust["settings"] if trust else None
    configured = bool(trust["configured"]) if trust else bool(trust_anchors)
    ctx = _context(trust_anchors, settings)
    with open(path, "rb") as f:
        try:
            reader = c2pa.Reader(mime, f, context=ctx)
        except c2pa.C2paError.ManifestNotFound:
            return empty
        except c2pa.C2paError as exc:
            return c2pa_graph.store_error(type(exc).__name__.lstrip("_"), str(exc))
        with reader:
            report = json.loads(reader.json())
            state = reader.get_validation_state()
            results = reader.get_validation_results()
            try:  # the signing certificates' validity and the timestamps (an extra the reading can go without)
                certs = c2pa_graph.certificates(json.loads(reader.crjson()))
            except (c2pa.C2paError, ValueError, AttributeError):
                certs = {}
    out = c2pa_graph.read_store(report, results, state, trust_configured=configured, policy=policy, certs=certs)
    out["failures"] = _failures(results, out["active_manifest"] or "")
    return out


@dataclass(frozen=True)
class C2paSigner:
    """A configured signing identity: PEM chain (leaf first) and the leaf's PEM private key."""

    cert_chain_pem: str
    private_key_pem: str
    alg: str = "es256"
    ta_url: str | None = None

    @classmethod
    def from_files(cls, chain: str | os.PathLike[str], key: str | os.PathLike[str], alg: str = "es256",
                   ta_url: str | None = None) -> C2paSigner:
        with open(chain, encoding="ascii") as c, open(key, encoding="ascii") as k:
            return cls(c.read(), k.read(), alg, ta_url)


def check_signing_chain(chain_pem: str) -> None:
    """Refuse chains C2PA validators reject: self-signed or CA leaves, no digitalSignature, no EKU."""
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID

    try:
        certs = x509.load_pem_x509_certificates(chain_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise C2paSigningError(f"the certificate chain is not PEM X.509: {exc}") from exc
    leaf = certs[0]
    if leaf.issuer == leaf.subject:
        raise C2paSigningError("the signing certificate is self-signed; C2PA needs one issued by a CA")
    try:
        bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            raise C2paSigningError("the signing certificate is a CA certificate")
    except x509.ExtensionNotFound:
        pass
    try:
        ku: x509.KeyUsage | None = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    if ku is None or not ku.digital_signature:
        raise C2paSigningError("the signing certificate lacks the digitalSignature key usage")
    try:
        leaf.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE)
    except x509.ExtensionNotFound as exc:
        raise C2paSigningError("the signing certificate has no extended key usage C2PA accepts") from exc


def sign_c2pa(src: str | os.PathLike[str], dst: str | os.PathLike[str], signer: C2paSigner, *,
              digital_source_type: str | None = None, action: str | None = None,
              claim_generator: tuple[str, str] = ("synthwatch", "0.1.0"), title: str | None = None,
              trust_anchors: str | None = None) -> dict[str, Any]:
    """Sign a platform manifest into a copy of ``src`` and return the validated result.

    With ``digital_source_type`` (an IPTC URI or code) and no existing manifest the action is
    ``c2pa.created`` with that source type; when ``src`` carries a manifest it becomes the parent
    ingredient and the action is ``action`` (default ``c2pa.published``) with the source type.
    """
    _lib()  # C2paUnavailable here, in the caller
    check_signing_chain(signer.cert_chain_pem)
    fmt = sniff(src).format
    mime = MIME.get(fmt)
    if mime is None:
        raise UnsupportedCarrier(f"C2PA cannot be embedded in {fmt} files")
    dst_code = digital_source_type
    if dst_code and not dst_code.startswith("http"):
        dst_code = IPTC_PREFIX + dst_code
    parent = read_c2pa(src, fmt=fmt, trust_anchors=trust_anchors)
    entry: dict[str, Any] = {"action": action or ("c2pa.published" if parent["present"] else "c2pa.created")}
    if dst_code:
        entry["digitalSourceType"] = dst_code
    manifest: dict[str, Any] = {
        "claim_generator_info": [{"name": claim_generator[0], "version": claim_generator[1]}],
        "title": title or os.path.basename(src),
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [entry]}}],
    }
    from . import isolation
    from ._transcode import temp_output

    what = "signing the C2PA manifest into the copy"
    with temp_output(dst, os.path.splitext(os.fspath(dst))[1]) as tmp:  # removed unless moved into place
        isolation.checked(isolation.run("c2pa_sign", {
            "src": os.fspath(src), "tmp": tmp, "mime": mime, "manifest": manifest, "alg": signer.alg,
            "cert_chain_pem": signer.cert_chain_pem, "private_key_pem": signer.private_key_pem,
            "ta_url": signer.ta_url, "trust_anchors": trust_anchors, "edit": bool(parent["present"])},
            what=what, transcode=True), {"bytes": int}, what)
        result = read_c2pa(tmp, fmt=fmt, trust_anchors=trust_anchors)
        if not result["present"] or result["state"] == "Invalid":
            raise C2paSigningError(f"the signed copy does not validate: {result['failures']}")
        os.replace(tmp, dst)
    return result


def _sign_task(src: str, tmp: str, mime: str, manifest: dict[str, Any], alg: str, cert_chain_pem: str,
               private_key_pem: str, ta_url: str | None, trust_anchors: str | None, edit: bool) -> dict[str, Any]:
    """:func:`sign_c2pa`'s signing, in the isolated worker: the C2PA library reads ``src`` and the
    signed copy is written to ``tmp``."""
    c2pa = _lib()
    try:
        sig = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg, cert_chain_pem.encode("ascii"),
                                                        private_key_pem.encode("ascii"), ta_url))
        with c2pa.Builder(manifest, context=_context(trust_anchors)) as builder:
            if edit:  # the source becomes the parent ingredient, "opened" first
                builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
            out = io.BytesIO()
            with open(src, "rb") as s:
                builder.sign(sig, mime, s, out)
    except (c2pa.C2paError, ValueError, TypeError, UnicodeEncodeError) as exc:
        raise C2paSigningError(f"C2PA signing failed: {exc}") from exc
    data = out.getvalue()
    with open(tmp, "wb") as f:
        f.write(data)
    return {"bytes": len(data)}
