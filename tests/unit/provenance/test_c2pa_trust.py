"""C2PA trust anchors: the shipped lists, a platform's own PEM, the deployment's setting, bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from synthwatch.errors import ConfigError
from synthwatch.provenance.c2pa_trust import C2paTrust, resolve, shipped_lists, split_pem

TRUST = Path(__file__).resolve().parents[3] / "src" / "synthwatch" / "provenance" / "trust"


def test_shipped_files_match_their_record() -> None:
    sources = json.loads((TRUST / "sources.json").read_text())
    for entry in sources["lists"]:
        data = (TRUST / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
        assert len(entry["commit"]) == 40 and entry["licence"] == "CC-BY-4.0"
    assert [x["certificates"] for x in shipped_lists()] == [
        (TRUST / e["file"]).read_text().count("-----BEGIN CERTIFICATE-----") for e in sources["lists"]]


def test_split_sorts_anchors_from_end_entities(pki: dict[str, Any]) -> None:
    chain = pki["signer"].cert_chain_pem  # leaf, then the root
    cas, ees, n_ca, n_ee = split_pem(chain)
    assert (n_ca, n_ee) == (1, 1)
    assert pki["root"].strip() in cas and ees.count("BEGIN CERTIFICATE") == 1


@pytest.mark.parametrize("pem", [
    "",
    "not a certificate",
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\nMIIB\n",
])
def test_bad_trust_files_are_config_errors(pem: str) -> None:
    with pytest.raises(ConfigError):
        split_pem(pem)
    with pytest.raises(ConfigError):
        resolve(pem or "x")


def test_resolve_adds_the_platform_list_to_the_shipped_ones(pki: dict[str, Any]) -> None:
    t = resolve(pki["root"])
    assert [x["kind"] for x in t.describe()] == ["shipped", "shipped", "configured"]
    s = t.settings()
    assert s["trust"]["user_anchors"].strip() == pki["root"].strip()
    assert "Google C2PA Root CA G3" not in s["trust"]["user_anchors"] and s["trust"]["trust_anchors"]
    only = resolve(pki["root"], shipped=False)
    assert [x["kind"] for x in only.describe()] == ["configured"] and "trust_anchors" not in only.settings()["trust"]
    assert not C2paTrust().configured and "trust" not in C2paTrust().settings()
    assert resolve(t) is t


def test_none_means_the_callers_scope(pki: dict[str, Any]) -> None:
    """Nothing below the caller reads the environment: ``resolve(None)`` takes the platform list and
    the shipped-lists switch from the scope the caller opened (the scanner, the service and the label
    commands put the deployment's settings there)."""
    from synthwatch.provenance.scope import ProvenanceScope, use

    assert [x["kind"] for x in resolve(None).describe()] == ["shipped", "shipped"]
    with use(ProvenanceScope(trust_anchors=pki["root"])):
        assert resolve(None).describe() == resolve(pki["root"]).describe()
    with use(ProvenanceScope(trust_anchors=pki["root"], shipped_trust=False)):
        assert [x["kind"] for x in resolve(None).describe()] == ["configured"]
    assert [x["kind"] for x in resolve(None).describe()] == ["shipped", "shipped"]  # the scope has ended


def test_the_deployment_setting_reaches_scan_and_label_check_alike(pki: dict[str, Any], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from synthwatch import Scanner
    from synthwatch.cli import app
    from synthwatch.config import Settings

    pem = tmp_path / "roots.pem"
    pem.write_text(pki["root"])
    scanner = Scanner(Settings(home=tmp_path, c2pa_trust_anchors=pem), detectors=["debug-image"])
    assert scanner._trust_pem == pki["root"]
    missing = tmp_path / "missing.pem"
    with pytest.raises(ConfigError):  # read when the scanner is made, not per file
        Scanner(Settings(home=tmp_path, c2pa_trust_anchors=missing), detectors=["debug-image"])
    monkeypatch.setenv("SYNTHWATCH_C2PA_TRUST_ANCHORS", str(missing))
    img = tmp_path / "x.jpg"
    img.write_bytes(b"\xff\xd8\xff\xd9")
    res = CliRunner().invoke(app, ["label", "check", str(img)])
    assert res.exit_code == 2 and "trust anchors" in res.output
