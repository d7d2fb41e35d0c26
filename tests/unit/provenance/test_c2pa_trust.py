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


def test_none_means_the_deployment_setting(pki: dict[str, Any], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNTHWATCH_C2PA_TRUST_ANCHORS", raising=False)
    assert [x["kind"] for x in resolve(None).describe()] == ["shipped", "shipped"]
    pem = tmp_path / "roots.pem"
    pem.write_text(pki["root"])
    monkeypatch.setenv("SYNTHWATCH_C2PA_TRUST_ANCHORS", str(pem))
    assert resolve(None).describe() == resolve(pki["root"]).describe()
    monkeypatch.setenv("SYNTHWATCH_C2PA_TRUST_ANCHORS", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError):
        resolve(None)


def test_a_missing_setting_file_is_an_error_in_the_report_not_a_crash(media: dict[str, Path], tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("c2pa", reason="c2pa-python is not installed")
    from synthwatch.provenance import inspect

    monkeypatch.setenv("SYNTHWATCH_C2PA_TRUST_ANCHORS", str(tmp_path / "missing.pem"))
    section = inspect(media["jpeg"], audio_watermark=False)
    assert [e["code"] for e in section["errors"] if e.get("where") == "c2pa"] == ["config_error"]
