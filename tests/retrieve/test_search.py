"""Search by image: nearest slots, the shape-aware re-rank, and a missing catalog."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("lancedb")

from adstage.errors import InputError
from adstage.retrieve.ingest import ingest, open_or_create, sources_from_csv
from adstage.retrieve.search import DEFAULT_RERANK_WEIGHT, query_vector, retrieve


def _room(tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A 'room' (textured, staged) with a tall red cabinet and a wide blue table, and masks."""
    rng = np.random.default_rng(0)
    room = np.clip(rng.normal(150, 25, (160, 240, 3)), 0, 255).astype(np.uint8)
    room[120:] = (110, 80, 60)  # floor
    cabinet = np.zeros((160, 240), np.uint8)
    cabinet[30:130, 30:70] = 255
    table = np.zeros((160, 240), np.uint8)
    table[95:130, 120:220] = 255
    room[cabinet > 0] = (200, 30, 30)
    room[table > 0] = (30, 40, 200)
    cv2.imwrite(str(tmp_path / "room.png"), room[..., ::-1])
    cv2.imwrite(str(tmp_path / "cabinet.png"), cabinet)
    cv2.imwrite(str(tmp_path / "table.png"), table)
    return room, cabinet > 0


def test_rerank_prefers_the_slot_the_product_covers(tmp_path: Path) -> None:
    _, cabinet = _room(tmp_path)
    (tmp_path / "rooms.csv").write_text(
        "path,category,mask_path,staged\n"
        "room.png,Rooms > Living,cabinet.png,1\n"
        "room.png,Rooms > Living,table.png,1\n"
    )
    cat = open_or_create(tmp_path / "cat", embedders=["classical"])
    assert ingest(cat, sources_from_csv(tmp_path / "rooms.csv")[0]).slots == 2
    rows = cat.columns(["slot", "bbox"]).to_pylist()

    # The query: a tall product on white. Its cut-out aligned onto the cabinet slot covers it,
    # onto the table slot it covers a small part.
    query = np.full((200, 120, 3), 255, np.uint8)
    qmask = np.zeros((200, 120), bool)
    qmask[20:180, 30:90] = True
    query[qmask] = (120, 120, 120)
    plain = retrieve(query, cat, mask=qmask, k=2)
    ranked = retrieve(query, cat, mask=qmask, k=2, rerank=True, rerank_weight=0.9)
    assert plain[0].coverage is None and ranked[0].coverage is not None
    assert all(m.score == m.similarity for m in plain)
    assert ranked[0].slot == next(r["slot"] for r in rows if r["bbox"][0] == 30)
    assert ranked[0].coverage > 0.9 > ranked[1].coverage
    for m in ranked:
        assert m.score == pytest.approx(0.1 * m.similarity + 0.9 * m.coverage)
    assert ranked[0].mask().shape == (160, 240) and ranked[0].mask().sum() == cabinet.sum()
    default = retrieve(query, tmp_path / "cat", mask=qmask, k=1, rerank=True)  # a folder works
    w = DEFAULT_RERANK_WEIGHT
    assert default[0].score == pytest.approx(
        (1 - w) * default[0].similarity + w * default[0].coverage
    )
    # The query's embedding, computed once, gives the same search; another vector, another one.
    vector = query_vector(query, qmask, cat)
    again = retrieve(query, cat, mask=qmask, k=2, vector=vector)
    assert [(m.id, m.similarity) for m in again] == [(m.id, m.similarity) for m in plain]
    other = retrieve(query, cat, mask=qmask, k=2, vector=-vector)
    assert [m.similarity for m in other] != [m.similarity for m in plain]
    with pytest.raises(InputError, match="not in this catalog"):
        query_vector(query, qmask, cat, embedder="inception-v3")
    with pytest.raises(InputError, match="rerank_weight"):
        retrieve(query, cat, mask=qmask, rerank=True, rerank_weight=2.0)
    with pytest.raises(InputError, match="no product"):
        retrieve(query, cat, mask=np.zeros_like(qmask), rerank=True)
    with pytest.raises(InputError, match="not in this catalog"):
        retrieve(query, cat, mask=qmask, embedder="inception-v3")
    with pytest.raises(InputError, match="fit"):
        retrieve(query, cat, mask=qmask, fit="nope")


def test_retrieving_from_a_missing_catalog_names_it_and_creates_nothing(tmp_path: Path) -> None:
    query = np.full((64, 64, 3), 255, np.uint8)
    query[16:48, 16:48] = 40
    missing = tmp_path / "typo" / "catalgo"
    with pytest.raises(InputError) as err:
        retrieve(query, missing, mask=query[..., 0] < 128)
    message = str(err.value)
    assert f"no adstage catalog at {missing}" in message and "adstage ingest" in message
    assert not (tmp_path / "typo").exists()
    # A folder that exists but holds no catalog: the same error, and it stays empty.
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no adstage catalog"):
        retrieve(query, tmp_path / "empty", mask=query[..., 0] < 128)
    assert list((tmp_path / "empty").iterdir()) == []
