"""Retrieval metrics on precomputed embeddings (Ku et al., AdKDD 2023, §5.3 and Table 1).

The paper ranks catalog images by the cosine similarity of their Inception-V3 embeddings and
counts a retrieved image as relevant when it has the query's subcategory; it reports precision and
recall at k = 1, 3, 5 over the 42 furniture subcategories with at least 20 images. Its recall is
not the usual fraction of all relevant items found: **R@k = 1 if at least one of the top k is
relevant, else 0** (so R@1 = P@1), averaged over queries.

Protocol implemented by :func:`evaluate_retrieval` (the one measured in REFERENCES.md §5):

* leave-one-out: every kept item is a query once; its gallery is every other kept item;
* near-duplicates of the query (an ``exclude`` mask, e.g. from :func:`near_duplicates` on
  perceptual hashes and content digests) are removed from its gallery, so a re-upload of the same
  photo cannot score a free hit;
* categories with fewer than ``min_per_category`` items are dropped **both as queries and from
  the gallery**: the evaluated catalog is the paper's "subcategories with ≥ 20 images", and a
  dropped item is not a distractor either. A query whose gallery is emptied by exclusions still
  counts, with zero hits;
* similarity is cosine (normalised dot product), computed in blocks of ``chunk_size`` queries so
  memory stays at ``chunk_size × N`` rather than ``N × N``;
* ties are broken deterministically: descending similarity, then ascending gallery index (a
  stable sort of the negated similarities).

Pure numpy; nothing is indexed or stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.io.hashing import HASH_SIZE, average_hash, dhash, hamming, sha256_bytes

__all__ = [
    "HASH_SIZE",
    "RetrievalReport",
    "average_hash",
    "dhash",
    "evaluate_retrieval",
    "hamming",
    "near_duplicates",
    "precision_at_k",
    "recall_at_k",
    "sha256_bytes",
    "top_k_neighbours",
]

DEFAULT_MAX_DISTANCE = 4
"""Hamming distance (of 256 bits, :data:`adstage.io.hashing.HASH_SIZE`) up to which two photos are near-duplicates.

Chosen by looking at pairs of the IKEA catalog photos: at 8×8 (64 bits) a distance of 4–6 already
pairs different products (a bed and a TV bench: white backgrounds dominate the hash); at 16×16,
distances 5–8 pair colour or size variants of one product line, 0–4 the same photo resized or
re-encoded (JPEG quality 60 moves it by about 5 bits, a resize by 1)."""

METRICS = ("cosine", "dot")


# --------------------------------------------------------------------------------------------
# Rank metrics


def _check_int(value: object, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool) ≥ ``minimum``; else InputError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _check_relevant(relevant: NDArray[Any], k: int) -> NDArray[np.bool_]:
    rel = np.asarray(relevant)
    if rel.ndim != 2:
        raise InputError(f"relevant must be a 2-D N×K array, got shape {rel.shape}")
    _check_int(k, "k")
    if k > rel.shape[1]:
        raise InputError(f"k={k} exceeds the {rel.shape[1]} ranked columns of relevant")
    return rel.astype(bool)


def precision_at_k(relevant: NDArray[Any], k: int) -> float:
    """Mean over queries of (relevant items among the top ``k``) / ``k``.

    ``relevant``: ``N×K`` bool, row = query, column = rank (0 = best), ``K ≥ k``. A rank with no
    item (gallery shorter than ``k``) must be ``False``; it still counts in the denominator.
    Returns 0.0 for no queries.
    """
    rel = _check_relevant(relevant, k)
    if rel.shape[0] == 0:
        return 0.0
    return float(rel[:, :k].sum(axis=1).mean() / k)


def recall_at_k(relevant: NDArray[Any], k: int) -> float:
    """Mean over queries of 1 if at least one of the top ``k`` is relevant, else 0.

    This is the paper's definition (Ku et al. 2023, §5.3: "R@k = at least one of the top k is
    relevant"), a hit rate, not the fraction of all relevant items retrieved.
    """
    rel = _check_relevant(relevant, k)
    if rel.shape[0] == 0:
        return 0.0
    return float(rel[:, :k].any(axis=1).mean())


# --------------------------------------------------------------------------------------------
# Near-duplicates: perceptual hashes and content digests


def near_duplicates(
    hashes: Sequence[int] | None,
    *,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    digests: Sequence[str] | None = None,
    chunk_size: int = 1024,
) -> NDArray[np.bool_]:
    """``N×N`` bool mask of near-duplicate pairs, symmetric, diagonal ``False``.

    A pair is marked if its perceptual hashes (:func:`average_hash` or :func:`dhash`, non-negative
    ints of the same bit length) differ in at most ``max_distance`` bits, or if both have the same
    content ``digests`` entry (e.g. the sha256 of the file, :func:`sha256_bytes`). Pass ``hashes``,
    ``digests`` or both; with both they must have the same length. The result feeds
    :func:`evaluate_retrieval`'s ``exclude``. Memory: ``N²`` bytes for the mask.
    """
    if hashes is None and digests is None:
        raise InputError("near_duplicates needs hashes, digests or both; got neither")
    if hashes is not None and digests is not None and len(hashes) != len(digests):
        raise InputError(
            f"hashes has {len(hashes)} entries but digests has {len(digests)}; expected equal lengths"
        )
    _check_int(max_distance, "max_distance", minimum=0)
    n = len(hashes) if hashes is not None else len(digests or [])
    mask = np.zeros((n, n), bool)
    if hashes is not None and n:
        values = [int(h) for h in hashes]
        if min(values) < 0:
            raise InputError("hashes must be non-negative integers")
        nbytes = max(1, (max(values).bit_length() + 7) // 8)
        packed = np.frombuffer(
            b"".join(v.to_bytes(nbytes, "big") for v in values), dtype=np.uint8
        ).reshape(n, nbytes)
        step = max(1, int(chunk_size))
        for start in range(0, n, step):
            block = packed[start : start + step]
            dist = np.bitwise_count(block[:, None, :] ^ packed[None, :, :]).sum(axis=2)
            mask[start : start + step] = dist <= max_distance
    if digests is not None and n:
        codes = np.unique(np.asarray(list(digests), dtype=object).astype(str), return_inverse=True)[
            1
        ]
        mask |= codes[:, None] == codes[None, :]
    np.fill_diagonal(mask, False)
    return mask


# --------------------------------------------------------------------------------------------
# Ranking and the evaluation protocol


def _check_vectors(vectors: NDArray[Any], metric: str) -> NDArray[np.floating]:
    v = np.asarray(vectors)
    if v.ndim != 2 or not np.issubdtype(v.dtype, np.number):
        raise InputError(f"vectors must be a numeric N×D array, got shape {v.shape} ({v.dtype})")
    v = v.astype(np.float64 if v.dtype == np.float64 else np.float32)
    if not np.isfinite(v).all():
        bad = int(np.flatnonzero(~np.isfinite(v).all(axis=1))[0])
        raise InputError(f"vectors contains NaN or infinite values (first in row {bad})")
    if metric not in METRICS:
        raise InputError(f"metric must be one of {METRICS}, got {metric!r}")
    if metric == "cosine":
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        if v.shape[0] and (norms == 0).any():
            bad = int(np.flatnonzero(norms[:, 0] == 0)[0])
            raise InputError(f"vectors row {bad} is all zeros; cosine similarity is undefined")
        v = v / norms
    return v


def _check_exclude(exclude: NDArray[Any] | None, n: int) -> NDArray[np.bool_] | None:
    if exclude is None:
        return None
    ex = np.asarray(exclude)
    if ex.shape != (n, n):
        raise InputError(f"exclude must be an N×N bool mask with N={n}, got shape {ex.shape}")
    return ex.astype(bool)


def _top_k(
    v: NDArray[np.floating], k: int, exclude: NDArray[np.bool_] | None, chunk_size: int
) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    n = v.shape[0]
    index = np.zeros((n, k), np.intp)
    valid = np.zeros((n, k), bool)
    kk = min(k, n)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        sims = v[start:stop] @ v.T
        rows = np.arange(stop - start)
        sims[rows, rows + start] = -np.inf  # leave-one-out
        if exclude is not None:
            sims[exclude[start:stop]] = -np.inf
        if kk == 0:
            continue
        # k-th largest value per row; every index at or above it is a candidate, so ties across
        # the cut are all present before the stable (similarity desc, index asc) sort.
        kth = -np.partition(-sims, kk - 1, axis=1)[:, kk - 1]
        for r in range(stop - start):
            row = sims[r]
            cand = np.flatnonzero(row >= kth[r])
            order = cand[np.lexsort((cand, -row[cand]))][:kk]
            index[start + r, :kk] = order
            valid[start + r, :kk] = np.isfinite(row[order])
    index[~valid] = -1
    return index, valid


def top_k_neighbours(
    vectors: NDArray[Any],
    k: int,
    *,
    exclude: NDArray[Any] | None = None,
    metric: str = "cosine",
    chunk_size: int = 1024,
) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Leave-one-out top-``k`` of every item among the others: ``(index N×k, valid N×k)``.

    Ranked by descending similarity, ties by ascending index. ``exclude[i, j]`` removes ``j`` from
    ``i``'s gallery. Where a gallery has fewer than ``k`` items, ``valid`` is ``False`` and
    ``index`` is -1.
    """
    _check_int(k, "k")
    _check_int(chunk_size, "chunk_size")
    v = _check_vectors(vectors, metric)
    ex = _check_exclude(exclude, v.shape[0])
    return _top_k(v, int(k), ex, int(chunk_size))


@dataclass(frozen=True)
class RetrievalReport:
    """Mean P@k and R@k (keys ``str(k)``) over ``n_queries`` queries, overall and per category.

    ``per_category[label] = {"n": queries, "precision": {...}, "recall": {...}}``.
    """

    n_queries: int
    n_categories: int
    precision: dict[str, float]
    recall: dict[str, float]
    per_category: dict[str, dict[str, Any]] = field(default_factory=dict)
    embedder: str | None = None

    def as_dict(self, embedder: str | None = None) -> dict[str, Any]:
        """The JSON shape written by benchmarks; ``embedder`` overrides the stored name."""
        return {
            "embedder": embedder if embedder is not None else self.embedder,
            "n_queries": self.n_queries,
            "n_categories": self.n_categories,
            "precision": dict(self.precision),
            "recall": dict(self.recall),
            "per_category": {
                c: {"n": d["n"], "precision": dict(d["precision"]), "recall": dict(d["recall"])}
                for c, d in self.per_category.items()
            },
        }


def evaluate_retrieval(
    vectors: NDArray[Any],
    labels: Sequence[str],
    *,
    ks: Sequence[int] = (1, 3, 5),
    min_per_category: int = 20,
    exclude: NDArray[Any] | None = None,
    metric: str = "cosine",
    chunk_size: int = 1024,
    embedder: str | None = None,
) -> RetrievalReport:
    """The paper's retrieval evaluation (Ku et al. 2023, §5.3, Table 1) on ``N×D`` embeddings.

    Relevant = same label. Leave-one-out over the items whose category has at least
    ``min_per_category`` items (dropped categories are neither queries nor gallery); ``exclude``
    (``N×N`` bool, indexed like ``vectors``, e.g. :func:`near_duplicates`) removes pairs from each
    other's galleries. Cosine similarity, ties by ascending index; see the module docstring.
    """
    v = np.asarray(vectors)
    if v.ndim != 2:
        raise InputError(f"vectors must be a numeric N×D array, got shape {v.shape}")
    labels = [str(x) for x in labels]
    if len(labels) != v.shape[0]:
        raise InputError(
            f"labels has {len(labels)} entries but vectors has {v.shape[0]} rows; expected equal"
        )
    ks = tuple(ks)
    if not ks:
        raise InputError("ks must name at least one k, got ()")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InputError(f"ks must hold integers ≥ 1, got {k!r}")
    _check_int(min_per_category, "min_per_category")
    if chunk_size < 1:
        raise InputError(f"chunk_size must be an integer ≥ 1, got {chunk_size!r}")
    v = _check_vectors(v, metric)
    ex = _check_exclude(exclude, v.shape[0])

    names, codes, counts = np.unique(
        np.asarray(labels, dtype=str), return_inverse=True, return_counts=True
    )
    keep = np.flatnonzero(counts[codes] >= min_per_category)
    if keep.size == 0:
        raise InputError(
            f"no category has at least min_per_category={min_per_category} items "
            f"(largest has {int(counts.max()) if counts.size else 0})"
        )
    v = v[keep]
    codes = codes[keep]
    if ex is not None:
        ex = ex[np.ix_(keep, keep)]

    k_max = max(ks)
    index, valid = _top_k(v, k_max, ex, int(chunk_size))
    relevant = valid & (codes[np.where(valid, index, 0)] == codes[:, None])

    def scores(rows: NDArray[np.bool_]) -> tuple[dict[str, float], dict[str, float]]:
        rel = relevant[rows]
        return (
            {str(k): precision_at_k(rel, k) for k in ks},
            {str(k): recall_at_k(rel, k) for k in ks},
        )

    precision, recall = scores(np.ones(len(codes), bool))
    per_category: dict[str, dict[str, Any]] = {}
    for code in np.unique(codes):
        rows = codes == code
        p, r = scores(rows)
        per_category[str(names[code])] = {"n": int(rows.sum()), "precision": p, "recall": r}
    return RetrievalReport(
        n_queries=len(codes),
        n_categories=len(per_category),
        precision=precision,
        recall=recall,
        per_category=per_category,
        embedder=embedder,
    )
