"""The catalog store alone, with no model: open never creates, create, add, search, failures.

Rows are made by hand with toy 8-d vectors: the store is told the vector sizes (``dims``) and
knows nothing of embedders (ingest, which computes rows, is tested in tests/retrieve).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("lancedb")

from adstage.catalog.store import (
    ROW_COLUMNS,
    Catalog,
    decode_mask,
    encode_mask,
    match_from_row,
    vector_column,
)
from adstage.errors import AdstageError, InputError
from adstage.types import Match

DIMS = {"toy": 8}


def _row(i: int, *, staged: bool, category: str, vector: np.ndarray) -> dict[str, Any]:
    """Slot 0 of image ``i``: a 10×10 stored mask of a 20×20 image (stored at half size)."""
    mask = np.zeros((10, 10), bool)
    mask[2:8, 3:7] = True
    digest = f"{i:064x}"
    return {
        "id": f"{digest[:16]}-0",
        "item": digest[:16],
        "slot": 0,
        "uri": f"/photos/{i}.png",
        "sha256": digest,
        "phash": "0" * 64,
        "category": category,
        "staged": staged,
        "staged_score": 0.5,
        "width": 20,
        "height": 20,
        "mask_png": encode_mask(mask),
        "bbox": [6, 4, 14, 16],
        "center_of_mass": [10.0, 10.0],
        "area_fraction": 0.24,
        "created": datetime.now(UTC),
        "vec_toy": vector,
    }


def _unit(i: int) -> np.ndarray:
    vector = np.full(8, 0.1, np.float32)
    vector[i % 8] = 1.0
    return vector / np.linalg.norm(vector)


def test_opening_never_creates_a_catalog(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "catalgo"
    for opener in (Catalog, Catalog.open):
        with pytest.raises(InputError) as err:
            opener(missing)
        message = str(err.value)
        assert f"no adstage catalog at {missing}" in message
        assert f"adstage ingest IMAGES… --catalog {missing}" in message
    assert not (tmp_path / "typo").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no adstage catalog"):
        Catalog(tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        Catalog(tmp_path / "file")
    assert not Catalog.exists(missing) and not Catalog.exists(tmp_path / "empty")


def test_create_add_search_and_reopen(tmp_path: Path) -> None:
    cat = Catalog.create(tmp_path / "cat", dims=DIMS)
    assert (cat.embedders, cat.dims, len(cat), cat.known_hashes()) == (["toy"], DIMS, 0, set())
    assert Catalog.exists(tmp_path / "cat")
    with pytest.raises(InputError, match="already holds a catalog"):
        Catalog.create(tmp_path / "cat", dims=DIMS)
    cat.add([_row(i, staged=i % 2 == 0, category=f"C{i % 3}", vector=_unit(i)) for i in range(6)])
    cat.add([])  # nothing to add: no new table version
    assert len(cat) == 6 and len(cat.known_hashes()) == 6

    hits = cat.search(_unit(3), k=2)
    assert hits[0]["uri"] == "/photos/3.png" and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert set(hits[0]) == {*ROW_COLUMNS, "score"}  # the vectors stay on disk
    staged = cat.search(_unit(3), k=6, where="staged = true", columns=["uri", "staged"])
    assert [h["uri"] for h in staged][:1] != ["/photos/3.png"] and all(h["staged"] for h in staged)
    assert set(staged[0]) == {"uri", "staged", "score"}

    match = match_from_row(hits[0])
    assert isinstance(match, Match) and match.score == match.similarity == hits[0]["score"]
    assert match.coverage is None and match.size == (20, 20) and match.bbox == (6, 4, 14, 16)
    assert decode_mask(hits[0]["mask_png"], hits[0]["id"]).shape == (10, 10)  # as stored
    assert match.mask().shape == (20, 20) and match.mask().sum() == 4 * 6 * 4  # image size
    reranked = match_from_row(hits[0], score=0.5, coverage=0.25)
    assert (reranked.score, reranked.similarity, reranked.coverage) == (
        0.5,
        match.similarity,
        0.25,
    )

    # Another handle on the folder reads what the first one wrote; the record names the columns.
    again = Catalog(tmp_path / "cat")
    assert again.embedders == ["toy"] and again.dims == DIMS and len(again) == 6
    meta = json.loads((tmp_path / "cat" / "adstage-catalog.json").read_text())
    assert meta == {"schema": 2, "embedders": ["toy"], "dims": DIMS}
    assert vector_column("inception-v3") == "vec_inception_v3"


def test_bad_arguments(tmp_path: Path) -> None:
    cat = Catalog.create(tmp_path / "cat", dims=DIMS)
    with pytest.raises(InputError, match="not in this catalog"):
        cat.search(np.zeros(8, np.float32), embedder="inception-v3")
    with pytest.raises(InputError, match="k:"):
        cat.search(np.zeros(8, np.float32), k=0)
    with pytest.raises(InputError, match="dims"):
        Catalog.create(tmp_path / "none", dims={})
    with pytest.raises(InputError, match="positive integer"):
        Catalog.create(tmp_path / "zero", dims={"toy": 0})
    with pytest.raises(AdstageError, match="does not decode"):
        decode_mask(b"not a png", "row-1")


def test_failures_are_appended_with_their_time(tmp_path: Path) -> None:
    cat = Catalog.create(tmp_path / "cat", dims=DIMS)
    assert cat.record_failure(Path("/x/a.jpg"), "not an image") == {
        "path": "/x/a.jpg",
        "error": "not an image",
    }
    cat.record_failure("b.jpg", "cannot read file")
    lines = [
        json.loads(line) for line in (tmp_path / "cat" / "failures.jsonl").read_text().splitlines()
    ]
    assert [(e["path"], e["error"]) for e in lines] == [
        ("/x/a.jpg", "not an image"),
        ("b.jpg", "cannot read file"),
    ]
    assert all(datetime.fromisoformat(e["time"]).tzinfo is not None for e in lines)
