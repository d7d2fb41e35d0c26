"""The layer order of ARCHITECTURE.md, enforced with import-linter (contracts in pyproject.toml):
nothing imports a layer above it, detectors and provenance are independent, and only the service
imports web frameworks, databases and their drivers."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0, \
        "an import breaks the layer contracts: run `lint-imports` for the chain"
