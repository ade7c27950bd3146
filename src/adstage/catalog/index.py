"""When and how the catalog indexes a vector column for approximate nearest-neighbour search.

Below :data:`INDEX_MIN_ROWS` rows the catalog searches exactly (LanceDB scans every vector); from
there on an IVF index answers, and its best candidates are re-ranked on the stored float32
vectors. Every number below is from ``benchmarks/ann.py`` (synthetic clustered 2048-d vectors,
cosine, top-10, two CPU cores shared with other jobs; ``benchmarks/results/ann.json``) unless it
says otherwise.

**Index type.** IVF_RQ (RaBitQ: one bit per dimension, 256 bytes per 2048-d vector, 1/32 of the
float32 vector) for ``dim >= RQ_MIN_DIM`` divisible by 8, IVF_SQ (one byte per dimension, any
dimension) otherwise. Tried first at 100k rows (exploratory runs): IVF_PQ with 128 sub-vectors
took 522 s to build and reached recall@10 0.72 before re-ranking; IVF_HNSW_SQ reached 0.99 but
answered in 8-16 ms already at 100k and builds a graph per partition; IVF_RQ built in 70 s (256
partitions) and with a re-rank of 3 × k candidates reached recall@10 1.0 in 4-6 ms. RaBitQ trains
no codebook, so its build is the IVF k-means alone. Its one-bit distance estimate is coarse in
few dimensions: on 64-d clustered vectors it reached 0.92 with the same re-rank where IVF_SQ
reached 1.0, hence :data:`RQ_MIN_DIM`. On real embeddings (740 IKEA product photos, Inception-V3
2048-d and EfficientNet-Lite0 1280-d) one-bit codes alone found 0.91-0.92 of the exact top-10
and with the re-rank 1.0, as on the synthetic set. LanceDB requires ``dim % 8 == 0`` for IVF_RQ
(the ``classical`` embedder's 3663-d vectors get IVF_SQ).

**Partitions.** One per :data:`ROWS_PER_PARTITION` rows, 1 to :data:`MAX_PARTITIONS`. LanceDB
trains k-means on ``sample_rate × num_partitions`` vectors, so the build grows with the square of
the partition count: 244 partitions at 1M rows built in 180-270 s on the two shared cores (10-17 s
at 100k, 1 s at 10k), peaking at about 1.2 GB above the process's baseline; the index adds
0.28 GB on disk beside the 8.2 GB of vectors.

**Search.** ``nprobes`` = ⌈√partitions / 3⌉, at least 4 (6 of 244 at 1M, 4 of 24 at 100k), and
``refine_factor`` :data:`REFINE_FACTOR`. At 1M rows, without re-ranking recall@10 was 0.82 with
3, 6 or 12 probes: the one-bit codes, not the partitions, limit it. Re-ranking 3 × k candidates
lifts it to 0.998 (2 × k: 0.98; 5 × k: 1.0, about 0.5 ms more); with only 3 probes it fell to
0.99, and at 100k 2 probes gave 0.979 on one build and 0.9985 on another, hence the floor of 4.
Each doubling of the probes costs about 0.5 ms. The query's floor is LanceDB itself: about 4 ms
through the sync API (six round trips from Python into LanceDB per query, schema look-ups
included) and 3 ms through the async API even at 10k rows; other processes' load moves p95 by
several ms more than any of these settings. At 1M rows with these settings: p50 7.6 ms and p95
13.4 ms through the sync API, 5.2 ms and 9.2 ms through the async API, recall@10 0.998.

**Threshold.** LanceDB's exact scan reads and decodes every vector for each query: 7 ms p50 at
1,000 rows, 13 ms at 2,000, 50 ms at 5,000, 1.0 s at 100k and 9-13 s at 1M (numpy on an
in-memory array: 0.5-0.7 s at 1M). The indexed search answered in 4.5-6.5 ms at every size,
with recall@10 0.91-0.95 at 500-1,000 rows (a single partition: the one-bit codes and the re-rank
alone decide) and 0.97-0.99 at 2,000, where the index builds in 0.3 s. So
:data:`INDEX_MIN_ROWS` is 2,000: from there the index is both faster and accurate.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from adstage.errors import InputError

log = logging.getLogger(__name__)

INDEX_MIN_ROWS = 2_000
ROWS_PER_PARTITION = 4_096
MAX_PARTITIONS = 1_024
RQ_MIN_DIM = 1_024
REFINE_FACTOR = 3
METRIC = "cosine"

_T = TypeVar("_T")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name}: expected a positive integer, got {value!r}")
    return value


def index_name(column: str) -> str:
    """The name the index on ``column`` gets (LanceDB's own default: ``<column>_idx``)."""
    return f"{column}_idx"


def num_partitions(n_rows: int) -> int:
    """IVF partitions for a table of ``n_rows`` rows."""
    _positive_int("n_rows", n_rows)
    return max(1, min(MAX_PARTITIONS, round(n_rows / ROWS_PER_PARTITION)))


def index_params(n_rows: int, dim: int) -> dict[str, Any]:
    """The index to build on a ``dim``-dimensional column of ``n_rows`` rows.

    Keys: ``index_type`` (``"IVF_RQ"`` or ``"IVF_SQ"``), ``distance_type``, ``num_partitions``,
    ``max_iterations``, ``sample_rate`` and, for IVF_RQ, ``num_bits``.
    """
    _positive_int("n_rows", n_rows)
    _positive_int("dim", dim)
    params: dict[str, Any] = {
        "index_type": "IVF_RQ" if dim % 8 == 0 and dim >= RQ_MIN_DIM else "IVF_SQ",
        "distance_type": METRIC,
        "num_partitions": num_partitions(n_rows),
        "max_iterations": 50,
        "sample_rate": 256,
    }
    if params["index_type"] == "IVF_RQ":
        params["num_bits"] = 1
    return params


def search_options(n_rows: int, *, matching_rows: int | None = None) -> dict[str, int]:
    """Query-builder settings for a table of ``n_rows`` rows; empty below :data:`INDEX_MIN_ROWS`.

    Keys are LanceDB vector-query-builder methods, values their argument: ``nprobes`` (IVF
    partitions searched) and ``refine_factor`` (candidates re-ranked on the full vectors, as a
    multiple of the limit).

    ``matching_rows``: how many rows the query's ``where`` filter keeps, if it has one. IVF search
    only sees the rows of the partitions it probes, so a filter keeping a fraction ``f`` of the
    rows gets ``1/f`` times the probes, up to all partitions (a scan of every quantised code,
    then the exact re-rank). Bypassing the index instead would be exact but reads every vector:
    11 s at 1M × 2048-d, against 0.1 s for probing all partitions.
    """
    _positive_int("n_rows", n_rows)
    if matching_rows is not None and (
        isinstance(matching_rows, bool)
        or not isinstance(matching_rows, int)
        or not 0 <= matching_rows <= n_rows
    ):
        raise InputError(
            f"matching_rows: expected an integer in [0, {n_rows}], got {matching_rows!r}"
        )
    if n_rows < INDEX_MIN_ROWS:
        return {}
    partitions = num_partitions(n_rows)
    nprobes = max(4, math.ceil(math.sqrt(partitions) / 3))
    if matching_rows is not None:
        nprobes = math.ceil(nprobes * n_rows / max(matching_rows, 1))
    return {"nprobes": min(partitions, nprobes), "refine_factor": REFINE_FACTOR}


def apply_search_options(query: Any, n_rows: int, *, matching_rows: int | None = None) -> Any:
    """``query`` (a LanceDB vector query builder) with :func:`search_options` applied."""
    for method, value in search_options(n_rows, matching_rows=matching_rows).items():
        query = getattr(query, method)(value)
    return query


def build_index(
    table: Any, column: str, *, dim: int, replace: bool = True
) -> dict[str, Any] | None:
    """Build the ANN index on ``table``'s vector ``column``; return the parameters used.

    Returns None, building nothing, when the table has fewer than :data:`INDEX_MIN_ROWS` rows, or
    when ``replace`` is False and ``column`` is already indexed. The call returns once the index
    covers every row present when it started.
    """
    if not isinstance(column, str) or not column:
        raise InputError(f"column: expected a non-empty column name, got {column!r}")
    _positive_int("dim", dim)
    field = _vector_size(table, column)
    if field != dim:
        raise InputError(f"dim: column {column!r} holds {field}-d vectors, got dim={dim}")
    n_rows = int(table.count_rows())
    if n_rows < INDEX_MIN_ROWS:
        log.info("%s: %d rows < %d, exact search, no index", column, n_rows, INDEX_MIN_ROWS)
        return None
    if not replace and any(column in idx.columns for idx in table.list_indices()):
        log.info("%s: already indexed and replace=False, keeping the index", column)
        return None
    params = index_params(n_rows, dim)
    config = _config(params)
    log.info("%s: building %s on %d rows", column, params["index_type"], n_rows)
    table.create_index(column, config=config, replace=True, name=index_name(column))
    table.wait_for_index([index_name(column)])
    return params


def prewarm(table: Any, column: str) -> bool:
    """Load ``column``'s index into LanceDB's cache now rather than on the first queries.

    Returns False, doing nothing, when the column has no index.
    """
    names = [idx.name for idx in table.list_indices() if column in idx.columns]
    for name in names:
        table.prewarm_index(name)
    return bool(names)


def _config(params: dict[str, Any]) -> Any:
    from lancedb.index import IvfRq, IvfSq

    kind = {"IVF_RQ": IvfRq, "IVF_SQ": IvfSq}[params["index_type"]]
    return kind(**{k: v for k, v in params.items() if k != "index_type"})


def _vector_size(table: Any, column: str) -> int:
    """The list size of ``column``; InputError if the table has no such column."""
    import pyarrow as pa

    schema = table.schema
    if column not in schema.names:
        raise InputError(f"column: {column!r} is not in the table; it has {schema.names}")
    kind = schema.field(column).type
    if not pa.types.is_fixed_size_list(kind):
        raise InputError(f"column: {column!r} is not a fixed-size vector column ({kind})")
    return int(kind.list_size)


class AsyncReader:
    """Queries through LanceDB's async API, run on one private event-loop thread per process.

    The sync API costs about six round trips from Python into LanceDB per vector query (schema
    look-ups included); the async query builder makes one, which at 1M rows is the difference
    between a p95 of 13.4 and 9.2 ms (``benchmarks/ann.py``). The table handle is opened once;
    like the sync handle it does not see later writes until :meth:`refresh` (the catalog calls it
    after each of its own writes).
    """

    _loop: asyncio.AbstractEventLoop | None = None
    _loop_lock = threading.Lock()

    def __init__(self, uri: str, table: str) -> None:
        self.uri, self.table_name = uri, table
        self.table: Any = self.run(self._open())

    @classmethod
    def _event_loop(cls) -> asyncio.AbstractEventLoop:
        with cls._loop_lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name="adstage-lancedb", daemon=True
                ).start()
                cls._loop = loop
            return cls._loop

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coroutine`` on the reader's loop and return its result (thread-safe)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._event_loop()).result()

    async def _open(self) -> Any:
        import lancedb

        db = await lancedb.connect_async(self.uri)
        return await db.open_table(self.table_name)

    def refresh(self) -> None:
        """See the table's latest version (after a write through another handle)."""
        self.run(self.table.checkout_latest())

    def count_rows(self, where: str | None = None) -> int:
        return int(self.run(self.table.count_rows(where)))

    def prewarm(self, column: str) -> bool:
        """Load ``column``'s index into LanceDB's cache now; False when it has no index."""

        async def go() -> bool:
            names = [i.name for i in await self.table.list_indices() if column in i.columns]
            for name in names:
                await self.table.prewarm_index(name)
            return bool(names)

        return self.run(go())

    def nearest(
        self,
        vector: Any,
        *,
        column: str,
        k: int,
        n_rows: int,
        where: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> Any:
        """The ``k`` rows nearest to ``vector`` in ``column`` by cosine, as a pyarrow table with
        ``_distance``; ``where`` pre-filters (SQL). Settings from :func:`search_options`, with
        the filter's matching row count when the table is indexed."""
        return self.run(self._nearest(vector, column, k, n_rows, where, columns))

    async def _nearest(
        self,
        vector: Any,
        column: str,
        k: int,
        n_rows: int,
        where: str | None,
        columns: Sequence[str] | None,
    ) -> Any:
        query = self.table.query().nearest_to(vector).column(column).distance_type(METRIC)
        matching = None
        if where:
            query = query.where(where)  # the async builder pre-filters by default
            if n_rows >= INDEX_MIN_ROWS:
                matching = int(await self.table.count_rows(where))
        query = apply_search_options(query, n_rows, matching_rows=matching)
        if columns is not None:
            query = query.select([*columns, "_distance"])
        return await query.limit(k).to_arrow()
