"""Shared inputs of the CLI tests: a tiny synthetic catalog and plain product photos."""

from __future__ import annotations

from pathlib import Path

import pytest

from adstage.io.images import write_image


@pytest.fixture(scope="session")
def small_catalog(tmp_path_factory) -> Path:
    """``cat/``: a classical-embedder catalog of 12 synthetic 128² items (staged rooms and plain
    products, in 12 categories); ``products/``: two plain product photos of it."""
    pytest.importorskip("lancedb")
    from adstage.datasets.synthetic import SyntheticCatalog, write_catalog
    from adstage.retrieve.ingest import ingest, open_or_create, sources_from_csv

    root = tmp_path_factory.mktemp("small-catalog")
    syn = SyntheticCatalog(12, seed=1, size=(128, 128))
    write_catalog(syn, root / "syn")
    ingest(
        open_or_create(root / "cat", embedders=["classical"]),
        sources_from_csv(root / "syn" / "labels.csv")[0],
    )
    # Plain items 4 and 5: the default screen (adstage.stage.screen) finds slots for both; the
    # first ones have no slot they would cover well in this 12-item catalog and are refused.
    plain = [item for item in (syn[i] for i in range(len(syn))) if not item.staged][4:6]
    for item in plain:
        write_image(root / "products" / f"{item.id}.png", item.image)
    return root
