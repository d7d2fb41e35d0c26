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


def test_onnx_runtime_is_imported_only_through_the_runtime_module() -> None:
    """ONNX Runtime's telemetry is switched off by synthwatch.models.runtime.import_onnxruntime before
    the first import; a direct import elsewhere could come first and leave it on."""
    import re

    direct = re.compile(r"^\s*(import onnxruntime|from onnxruntime\b)", re.MULTILINE)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "src" / "synthwatch").rglob("*.py")
                 if p.name != "runtime.py" and direct.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
