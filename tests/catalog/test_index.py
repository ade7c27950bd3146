"""The catalog's ANN index: nothing below the threshold, a listed index above it, high recall."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lancedb")

from adstage.catalog import index as ann
from adstage.errors import InputError

COLUMN = "vec"


def clustered(n: int, dim: int, *, seed: int, centres: int = 24, rank: int = 8) -> np.ndarray:
    """``n`` unit vectors shaped like image embeddings: ``centres`` clusters, each varying mostly
    in a shared ``rank``-dimensional subspace, plus a little isotropic noise. The clusters and
    the subspace are fixed; ``seed`` draws the points (tests draw queries with another seed)."""
    fixed = np.random.default_rng(0)
    middle = fixed.standard_normal((centres, dim))
    middle /= np.linalg.norm(middle, axis=1, keepdims=True)
    basis = fixed.standard_normal((rank, dim)) / np.sqrt(dim)
    rng = np.random.default_rng(seed)
    x = middle[rng.integers(0, centres, n)]
    x += 0.5 / np.sqrt(rank) * rng.standard_normal((n, rank)) @ basis
    x += 0.15 / np.sqrt(dim) * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def recall_at_10(table, x: np.ndarray, queries: np.ndarray) -> float:
    return float(
        np.mean([len(set(search(table, q, len(x))) & set(exact(x, q))) / 10 for q in queries])
    )


def make_table(path: Path, vectors: np.ndarray):
    import lancedb
    import pyarrow as pa

    dim = vectors.shape[1]
    data = pa.table(
        {
            "id": pa.array(np.arange(len(vectors))),
            COLUMN: pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
        }
    )
    return lancedb.connect(str(path)).create_table("items", data=data)


def search(
    table, q: np.ndarray, n_rows: int, where: str | None = None, matching: int | None = None
) -> list[int]:
    query = table.search(q, vector_column_name=COLUMN).metric("cosine")
    query = ann.apply_search_options(query, n_rows, matching_rows=matching)
    if where:
        query = query.where(where, prefilter=True)
    return query.select(["id", "_distance"]).limit(10).to_arrow().column("id").to_pylist()


def exact(x: np.ndarray, q: np.ndarray) -> list[int]:
    return np.argsort(-(x @ q))[:10].tolist()


def test_below_the_threshold_nothing_is_built(tmp_path: Path) -> None:
    x = clustered(300, 32, seed=1)
    table = make_table(tmp_path, x)
    assert len(x) < ann.INDEX_MIN_ROWS
    assert ann.build_index(table, COLUMN, dim=32) is None
    assert list(table.list_indices()) == []
    assert ann.search_options(len(x)) == {}
    assert ann.prewarm(table, COLUMN) is False
    # Exact search: the query's own row first, the same top-10 as numpy.
    assert search(table, x[7], len(x))[0] == 7
    assert set(search(table, x[7], len(x))) == set(exact(x, x[7]))


def test_above_the_threshold_the_index_is_built_listed_and_accurate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ann, "INDEX_MIN_ROWS", 1000)
    monkeypatch.setattr(ann, "ROWS_PER_PARTITION", 500)
    n, dim = 4000, 64
    x = clustered(n, dim, seed=1)
    table = make_table(tmp_path, x)
    params = ann.build_index(table, COLUMN, dim=dim)
    assert params is not None
    assert params["index_type"] == "IVF_SQ" and params["num_partitions"] == 8
    assert params["distance_type"] == "cosine"
    [listed] = table.list_indices()
    assert listed.name == ann.index_name(COLUMN) and listed.columns == [COLUMN]
    stats = table.index_stats(listed.name)
    assert stats.index_type == "IVF_SQ" and stats.distance_type == "cosine"
    assert (stats.num_indexed_rows, stats.num_unindexed_rows) == (n, 0)
    options = ann.search_options(n)
    assert 1 <= options["nprobes"] < params["num_partitions"]
    assert ann.prewarm(table, COLUMN) is True
    assert recall_at_10(table, x, clustered(50, dim, seed=2)) >= 0.95
    # The index answers, probing only some partitions.
    plan = ann.apply_search_options(
        table.search(x[0], vector_column_name=COLUMN).metric("cosine"), n
    ).explain_plan(verbose=True)
    assert "ANNIvfPartition" in plan and f"minimum_nprobes={options['nprobes']}" in plan

    # replace=False keeps the index; replace=True builds it again.
    assert ann.build_index(table, COLUMN, dim=dim, replace=False) is None
    assert ann.build_index(table, COLUMN, dim=dim) == params
    assert len(list(table.list_indices())) == 1


def test_the_options_apply_to_the_async_query_builder_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    import lancedb

    monkeypatch.setattr(ann, "INDEX_MIN_ROWS", 1000)
    monkeypatch.setattr(ann, "ROWS_PER_PARTITION", 500)
    n, dim = 4000, 64
    x = clustered(n, dim, seed=1)
    ann.build_index(make_table(tmp_path, x), COLUMN, dim=dim)

    async def search_async(queries: np.ndarray) -> tuple[list[list[int]], str]:
        table = await (await lancedb.connect_async(str(tmp_path))).open_table("items")
        found = []
        for q in queries:
            query = table.query().nearest_to(q).column(COLUMN).distance_type("cosine")
            query = ann.apply_search_options(query, n).limit(10)
            found.append((await query.to_arrow()).column("id").to_pylist())
        return found, await query.explain_plan(verbose=True)

    queries = clustered(20, dim, seed=2)
    found, plan = asyncio.run(search_async(queries))
    assert f"minimum_nprobes={ann.search_options(n)['nprobes']}" in plan
    hits = [len(set(f) & set(exact(x, q))) / 10 for f, q in zip(found, queries, strict=True)]
    assert np.mean(hits) >= 0.95


def test_a_selective_filter_probes_more_partitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ann, "INDEX_MIN_ROWS", 1000)
    monkeypatch.setattr(ann, "ROWS_PER_PARTITION", 500)
    n, dim = 4000, 64
    x = clustered(n, dim, seed=1)
    table = make_table(tmp_path, x)
    ann.build_index(table, COLUMN, dim=dim)
    queries = clustered(20, dim, seed=2)
    plain = ann.search_options(n)["nprobes"]
    assert ann.search_options(n, matching_rows=n // 2)["nprobes"] == min(8, 2 * plain)
    assert ann.search_options(n, matching_rows=80)["nprobes"] == 8  # every partition
    for where, keep in (
        ("id % 50 = 0", np.arange(n) % 50 == 0),
        ("id < 2000", np.arange(n) < 2000),
    ):
        rows = np.flatnonzero(keep)
        hits = []
        for q in queries:
            found = search(table, q, n, where=where, matching=len(rows))
            assert len(found) == 10 and keep[found].all()
            hits.append(len(set(found) & set(rows[exact(x[rows], q)].tolist())) / 10)
        assert np.mean(hits) >= 0.95, where


def test_wide_vectors_get_rabitq_with_a_refine_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ann, "INDEX_MIN_ROWS", 1000)
    monkeypatch.setattr(ann, "ROWS_PER_PARTITION", 500)
    n, dim = 3000, ann.RQ_MIN_DIM
    x = clustered(n, dim, seed=3)
    table = make_table(tmp_path, x)
    params = ann.build_index(table, COLUMN, dim=dim)
    assert params is not None and params["index_type"] == "IVF_RQ"
    assert params["num_partitions"] == 6
    assert table.index_stats(ann.index_name(COLUMN)).index_type == "IVF_RQ"
    queries = clustered(30, dim, seed=4)
    assert recall_at_10(table, x, queries) >= 0.95
    # One-bit codes alone rank worse: the re-ranking on full vectors is what makes it accurate.
    monkeypatch.setattr(ann, "REFINE_FACTOR", 1)
    assert recall_at_10(table, x, queries) < 0.95


def test_a_dimension_not_divisible_by_8_gets_scalar_quantisation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ann, "INDEX_MIN_ROWS", 1000)
    n, dim = 2000, 36
    x = clustered(n, dim, seed=5)
    table = make_table(tmp_path, x)
    params = ann.build_index(table, COLUMN, dim=dim)
    assert params is not None and params["index_type"] == "IVF_SQ"
    assert table.index_stats(ann.index_name(COLUMN)).index_type == "IVF_SQ"
    assert recall_at_10(table, x, clustered(20, dim, seed=6)) >= 0.95


def test_search_options_grow_with_the_table() -> None:
    assert ann.search_options(ann.INDEX_MIN_ROWS - 1) == {}
    small, large = ann.search_options(ann.INDEX_MIN_ROWS), ann.search_options(1_000_000)
    assert small["nprobes"] <= large["nprobes"] <= ann.num_partitions(1_000_000)
    assert large["refine_factor"] >= 1
    assert (
        ann.index_params(1_000_000, 2048)["num_partitions"]
        > ann.index_params(10_000, 2048)["num_partitions"]
    )
    assert ann.index_params(10**9, 2048)["num_partitions"] == ann.MAX_PARTITIONS
    assert ann.index_params(10_000, 2048)["index_type"] == "IVF_RQ"
    assert ann.index_params(10_000, 3663)["index_type"] == "IVF_SQ"  # not a multiple of 8
    assert ann.index_params(10_000, 64)["index_type"] == "IVF_SQ"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ann.index_params(0, 64), "n_rows"),
        (lambda: ann.index_params(100, 0), "dim"),
        (lambda: ann.index_params(100, 2.5), "dim"),
        (lambda: ann.index_params(True, 64), "n_rows"),
        (lambda: ann.search_options(-3), "n_rows"),
        (lambda: ann.apply_search_options(None, "many"), "n_rows"),
        (lambda: ann.search_options(100, matching_rows=101), "matching_rows"),
        (lambda: ann.search_options(100, matching_rows=-1), "matching_rows"),
    ],
)
def test_bad_arguments(call, match: str) -> None:
    with pytest.raises(InputError, match=match):
        call()


def test_bad_build_arguments(tmp_path: Path) -> None:
    table = make_table(tmp_path, clustered(50, 32, seed=5))
    with pytest.raises(InputError, match="column: 'nope' is not in the table"):
        ann.build_index(table, "nope", dim=32)
    with pytest.raises(InputError, match="column: 'id' is not a fixed-size vector column"):
        ann.build_index(table, "id", dim=32)
    with pytest.raises(InputError, match="dim: column 'vec' holds 32-d vectors, got dim=64"):
        ann.build_index(table, COLUMN, dim=64)
    with pytest.raises(InputError, match="column"):
        ann.build_index(table, "", dim=32)
    with pytest.raises(InputError, match="dim"):
        ann.build_index(table, COLUMN, dim=-1)


def test_the_async_reader_answers_like_the_sync_api_and_sees_later_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ann, "INDEX_MIN_ROWS", 1000)
    monkeypatch.setattr(ann, "ROWS_PER_PARTITION", 500)
    n, dim = 3000, 64
    x = clustered(n, dim, seed=3)
    table = make_table(tmp_path, x)
    ann.build_index(table, COLUMN, dim=dim)
    reader = ann.AsyncReader(str(tmp_path), table.name)
    assert reader.count_rows() == n and reader.prewarm(COLUMN) is True
    queries = clustered(30, dim, seed=4)
    hits = 0
    for q in queries:
        got = reader.nearest(q, column=COLUMN, k=10, n_rows=n, columns=["id"])
        assert got.column_names == ["id", "_distance"]
        assert got.column("id").to_pylist() == search(table, q, n)  # the same settings
        hits += len(set(got.column("id").to_pylist()) & set(exact(x, q)))
    assert hits / (10 * len(queries)) >= 0.95
    # A filter keeps only matching rows.
    got = reader.nearest(x[5], column=COLUMN, k=5, n_rows=n, where="id < 100", columns=["id"])
    assert got.num_rows == 5 and all(i < 100 for i in got.column("id").to_pylist())
    # A later write is invisible until refresh(), then found.
    new = clustered(1, dim, seed=9)
    table.add([{"id": n, COLUMN: new[0]}])
    assert reader.count_rows() == n
    reader.refresh()
    assert reader.count_rows() == n + 1
    top = reader.nearest(new[0], column=COLUMN, k=1, n_rows=n + 1, columns=["id"])
    assert top.column("id").to_pylist() == [n]
