"""Which C2PA signers and timestamp authorities count as trusted: the trust anchors, offline.

A C2PA validator decides trust against lists it is configured with; nothing is fetched. synthwatch
uses, in this order:

* the lists it ships (``trust/``, copied unmodified from ``c2pa-org/conformance-public``, CC BY
  4.0, see ``trust/sources.json``): the **C2PA Trust List** (roots and issuing CAs of C2PA-conforming
  generator products) and the **C2PA TSA Trust List** (time-stamping authorities). They are what
  Content Credentials Verify uses for conforming products;
* the platform's own PEM file (``Settings.c2pa_trust_anchors``, ``SYNTHWATCH_C2PA_TRUST_ANCHORS``,
  ``synthwatch label check --trust-anchors``): CA certificates in it become additional anchors, end-entity
  certificates in it are handed to the library as its allow list (like the interim trust list's
  ``allowed.pem``), which c2pa-python 0.38.1 does not apply (checked): to trust a producer, list its
  issuing CA. The Content Credentials interim trust list is not shipped (no licence is
  stated): a deployment that wants it puts its ``anchors.pem`` and ``allowed.pem`` in that file.

:func:`resolve` turns what a caller passes (a PEM string, a :class:`C2paTrust`, or nothing: the
deployment's settings) into one :class:`C2paTrust`, so that ``label check``, ``scan`` and the service
validate against the same lists. Its :meth:`C2paTrust.settings` is the ``trust`` section of the C2PA
library's settings; :meth:`C2paTrust.describe` is what the report says about it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from synthwatch.errors import ConfigError

__all__ = ["C2paTrust", "resolve", "shipped_lists", "split_pem"]

_BEGIN = "-----BEGIN CERTIFICATE-----"
_END = "-----END CERTIFICATE-----"
_MAX_PEM = 8 * 1024 * 1024  # a trust file larger than this is a mistake, not a trust list


@dataclass(frozen=True)
class C2paTrust:
    """The anchors a C2PA validation trusts, as PEM text, and where each list came from."""

    anchors_pem: str = ""  # the shipped lists (C2PA Trust List + TSA Trust List)
    user_anchors_pem: str = ""  # the platform's CA certificates
    allowed_pem: str = ""  # the platform's end-entity certificates, trusted as they are
    trust_config: str | None = None  # allowed EKU OIDs, one a line (None: the library's default)
    lists: tuple[dict[str, Any], ...] = field(default=())

    @property
    def configured(self) -> bool:
        """Whether any anchor or allowed certificate is configured (else trust cannot be judged)."""
        return bool(self.anchors_pem or self.user_anchors_pem or self.allowed_pem)

    def settings(self) -> dict[str, Any]:
        """The C2PA library's settings for this trust (merged into the offline settings)."""
        trust: dict[str, Any] = {}
        if self.anchors_pem:
            trust["trust_anchors"] = self.anchors_pem
        if self.user_anchors_pem:
            trust["user_anchors"] = self.user_anchors_pem
        if self.allowed_pem:
            trust["allowed_list"] = self.allowed_pem
        if self.trust_config:
            trust["trust_config"] = self.trust_config
        out: dict[str, Any] = {"verify": {"verify_trust": True, "verify_timestamp_trust": True}}
        if trust:
            out["trust"] = trust
        return out

    def describe(self) -> list[dict[str, Any]]:
        """What the report records about the lists used (names, sources, counts; no certificates)."""
        return [dict(x) for x in self.lists]

    def to_worker(self) -> dict[str, Any]:
        """Plain values for the isolated worker."""
        return {"settings": self.settings(), "configured": self.configured}


def _pem_blocks(text: str) -> list[str]:
    blocks: list[str] = []
    pos = 0
    while True:
        start = text.find(_BEGIN, pos)
        if start < 0:
            return blocks
        end = text.find(_END, start)
        if end < 0:
            raise ConfigError("a PEM certificate block is not terminated (-----END CERTIFICATE----- missing)")
        end += len(_END)
        blocks.append(text[start:end] + "\n")
        pos = end


def split_pem(pem: str, *, where: str = "C2PA trust anchors") -> tuple[str, str, int, int]:
    """Split a PEM bundle into (CA certificates, end-entity certificates, #CA, #end-entity).

    Every block must be an X.509 certificate; anything else raises :class:`ConfigError` naming
    ``where``.
    """
    from cryptography import x509

    if len(pem) > _MAX_PEM:
        raise ConfigError(f"{where}: {len(pem)} characters is not a trust list (limit {_MAX_PEM})")
    blocks = _pem_blocks(pem)
    if not blocks:
        raise ConfigError(f"{where}: no PEM certificate found")
    cas: list[str] = []
    ees: list[str] = []
    for i, block in enumerate(blocks):
        try:
            cert = x509.load_pem_x509_certificate(block.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise ConfigError(f"{where}: certificate {i + 1} is not a PEM X.509 certificate: {exc}") from exc
        try:
            is_ca = bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
        except x509.ExtensionNotFound:
            is_ca = cert.issuer == cert.subject  # a v1 root
        (cas if is_ca else ees).append(block)
    return "".join(cas), "".join(ees), len(cas), len(ees)


@functools.lru_cache(maxsize=1)
def _shipped() -> tuple[str, tuple[dict[str, Any], ...]]:
    base = resources.files(__package__).joinpath("trust")
    try:
        sources = json.loads(base.joinpath("sources.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "", ()
    texts: list[str] = []
    lists: list[dict[str, Any]] = []
    for entry in sources.get("lists") or []:
        try:
            raw = base.joinpath(entry["file"]).read_bytes()
        except (OSError, KeyError):
            continue
        text = raw.decode("ascii", "replace")
        texts.append(text)
        digest = hashlib.sha256(raw).hexdigest()
        lists.append({"name": entry.get("name"), "kind": "shipped", "certificates": len(_pem_blocks(text)),
                      "source": f"{entry.get('repo')}@{str(entry.get('commit', ''))[:12]}:{entry.get('path')}",
                      "list_updated": entry.get("list_updated"), "licence": entry.get("licence"),
                      "sha256": digest, "as_published": digest == entry.get("sha256")})
    return "".join(texts), tuple(lists)


def shipped_lists() -> list[dict[str, Any]]:
    """The trust lists synthwatch ships (name, source repo@commit, certificate count, sha256)."""
    return [dict(x) for x in _shipped()[1]]


def resolve(trust_anchors: str | C2paTrust | None = None, *, shipped: bool = True) -> C2paTrust:
    """The trust a C2PA validation uses.

    ``trust_anchors``: a :class:`C2paTrust` (used as is), a platform PEM bundle (added to the shipped
    lists), or None: the platform list of the caller's :mod:`.scope` (the scanner, the service and
    ``label check`` put ``Settings.c2pa_trust_anchors`` there) plus the shipped lists unless the scope
    says ``shipped_trust=False``. ``shipped=False`` leaves the shipped lists out (a platform that
    trusts only its own list).
    """
    if isinstance(trust_anchors, C2paTrust):
        return trust_anchors
    if trust_anchors is None:
        from .scope import current

        scope = current()
        trust_anchors = scope.trust_anchors
        shipped = shipped and scope.shipped_trust
    anchors, lists = _shipped() if shipped else ("", ())
    described = [dict(x) for x in lists]
    user = allowed = ""
    if trust_anchors:
        user, allowed, n_ca, n_ee = split_pem(trust_anchors)
        # identified by its digest, not by where it was read from: every path reports it alike
        described.append({"name": "platform trust list", "kind": "configured",
                          "certificates": n_ca + n_ee, "anchors": n_ca, "allowed_end_entities": n_ee,
                          "sha256": hashlib.sha256(trust_anchors.encode("utf-8")).hexdigest()})
        if n_ee:
            described[-1]["note"] = ("end-entity certificates are passed to the C2PA library's allow list, which "
                                     "c2pa-python 0.38 does not apply: list the issuing CA to trust a producer")
    return C2paTrust(anchors_pem=anchors, user_anchors_pem=user, allowed_pem=allowed, lists=tuple(described))
