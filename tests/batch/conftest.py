"""The session's shop for the batch tests (see batch_shop)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("lancedb")

from batch_shop import build_catalog, write_products


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``catalog/`` (8 staged rooms), ``products/``, ``masks/`` and
    ``products.csv`` (6 products); read-only for the tests (they write elsewhere)."""
    root = tmp_path_factory.mktemp("shop")
    build_catalog(root)
    write_products(root)
    return root
