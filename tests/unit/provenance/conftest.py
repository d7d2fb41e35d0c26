"""Fixtures for the provenance tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from prov_media import make_media


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> path of a small generated file, one per label carrier variant."""
    return make_media(tmp_path_factory.mktemp("prov_media"))
