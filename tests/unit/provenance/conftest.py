"""Fixtures for the provenance tests."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from prov_media import make_media

from synthwatch.provenance.c2pa_manifest import C2paSigner
from synthwatch.provenance.visible import FontNotFound, find_font


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> path of a small generated file, one per label carrier variant."""
    return make_media(tmp_path_factory.mktemp("prov_media"))


NOW = datetime.datetime.now(datetime.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Synthwatch Test")])


def _usage(sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=not sign, crl_sign=not sign,
                         encipher_only=False, decipher_only=False)


def _pem(c: x509.Certificate) -> str:
    return c.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(k: ec.EllipticCurvePrivateKey) -> str:
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption()).decode()


@pytest.fixture(scope="session")
def pki() -> dict[str, Any]:
    """A test root CA and a C2PA signing leaf it issued; plus a self-signed leaf (which must be refused)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("Test Root CA")).issuer_name(_name("Test Root CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(_usage(False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))

    def leaf(issuer_key: ec.EllipticCurvePrivateKey, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
             cn: str) -> x509.Certificate:
        return (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(_usage(True), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                               critical=False)
                .sign(issuer_key, hashes.SHA256()))

    key = ec.generate_private_key(ec.SECP256R1())
    cert = leaf(ca_key, ca.subject, key, "Platform Signer")
    self_key = ec.generate_private_key(ec.SECP256R1())
    self_cert = leaf(self_key, _name("Self Signed"), self_key, "Self Signed")
    return {
        "root": _pem(ca),
        "signer": C2paSigner(_pem(cert) + _pem(ca), _key_pem(key)),
        "self_signed": C2paSigner(_pem(self_cert), _key_pem(self_key)),
    }


@pytest.fixture(scope="session")
def font() -> str:
    try:
        return find_font()[0]
    except FontNotFound as exc:
        pytest.skip(f"no CJK font installed ({exc}); Debian: fonts-wqy-microhei")
