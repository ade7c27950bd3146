"""Search a catalog by image, with an optional shape-aware re-rank (Ku et al., AdKDD 2023, §5.3).

The paper's step 1 retrieves the staged products most similar to the input by the cosine of
their Inception-V3 embeddings. :func:`retrieve` segments the query (unless its mask is given),
embeds it with one of the catalog's embedders and asks the store for the nearest slots
(:meth:`adstage.catalog.store.Catalog.search`).

Similar is not always pasteable: a tall lamp retrieved for a tall lamp fits its slot, a wide
sofa of the same style leaves most of it to inpaint. The shape-aware re-rank fetches more
candidates, aligns the query's cut-out onto each slot as staging would
(:mod:`adstage.composite.align`) and blends the similarity with the share of the slot the
product covers.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from adstage.catalog.store import Catalog, decode_mask, match_from_row
from adstage.composite.align import FITS, hole_coverage, shape_mask, work_slot
from adstage.errors import InputError
from adstage.io.images import load_rgb
from adstage.retrieve.base import load_embedder
from adstage.segment.base import SEGMENTERS
from adstage.types import THRESHOLD, Match, as_alpha

DEFAULT_RERANK_WEIGHT = 0.3
"""Weight of hole coverage against embedding similarity in the shape-aware re-rank."""

RERANK_MIN_CANDIDATES = 20
"""The re-rank orders the ``max(5·k, RERANK_MIN_CANDIDATES)`` nearest slots."""

COVERAGE_SIDE = 128
"""The re-rank measures coverage on slot masks of this longer side (:func:`hole_coverage`)."""


_SLOTS: OrderedDict[tuple[str, str], NDArray[np.bool_]] = OrderedDict()
_SLOTS_MAX = 2048
_SLOTS_LOCK = threading.Lock()


def _coverage_slot(row_id: str, mask_png: bytes) -> NDArray[np.bool_]:
    """A slot's mask decoded and scaled to :data:`COVERAGE_SIDE` (:func:`work_slot`, as
    :func:`hole_coverage` scales it). Kept per process (least recently used first out,
    :data:`_SLOTS_MAX` masks of at most 128² bytes), keyed by the row's id and a digest of its
    mask: decoding is most of the re-rank's cost, and a service or a batch worker re-ranks the same
    slots for many products."""
    key = (row_id, hashlib.blake2b(mask_png, digest_size=16).hexdigest())
    with _SLOTS_LOCK:
        if key in _SLOTS:
            _SLOTS.move_to_end(key)
            return _SLOTS[key]
    slot = work_slot(decode_mask(mask_png, row_id), COVERAGE_SIDE)
    slot.setflags(write=False)
    with _SLOTS_LOCK:
        _SLOTS[key] = slot
        while len(_SLOTS) > _SLOTS_MAX:
            _SLOTS.popitem(last=False)
    return slot


def retrieve(
    query: Any,
    catalog: Catalog | str | Path,
    *,
    k: int = 5,
    where: str | None = None,
    rerank: bool = False,
    rerank_weight: float = DEFAULT_RERANK_WEIGHT,
    mask: Any = None,
    embedder: str | None = None,
    segmenter: str = "auto",
    fit: str = "footprint",
    vector: NDArray[np.float32] | None = None,
) -> list[Match]:
    """The ``k`` catalog slots most similar to the product in ``query``, best first.

    ``query``: a path, PIL image or RGB array (segmented with ``segmenter`` unless ``mask`` is
    given). ``catalog``: a :class:`~adstage.catalog.store.Catalog` or its folder (which must hold
    one). ``where``: a SQL filter on the catalog's columns, e.g.
    ``"staged = true AND category LIKE 'IKEA > Chairs%'"``. ``embedder``: which of the catalog's
    embedders (default: its first). Slots with an empty mask never match.

    ``rerank``: shape-aware re-rank — fetch ``max(5k, 20)`` nearest slots, align the query's
    cut-out onto each (scale by ``fit``, centre of mass, base line; see
    :mod:`adstage.composite.align`), and order by
    ``(1 − rerank_weight) · similarity + rerank_weight · coverage``, where coverage is the share
    of the slot the product covers (what it leaves uncovered must be inpainted).

    ``vector``: the query's embedding by ``embedder``, when the caller has it already
    (:func:`query_vector`): a second search for the same product skips the embedding network
    (without a ``mask`` the segmenter still runs).
    """
    if not 0.0 <= rerank_weight <= 1.0:
        raise InputError(f"rerank_weight: expected a value in [0, 1], got {rerank_weight}")
    if fit not in FITS:
        raise InputError(f"fit: expected one of {', '.join(FITS)}, got {fit!r}")
    if k < 1:
        raise InputError(f"k: expected at least 1, got {k}")
    store = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
    name = store.embedder_name(embedder)
    image = load_rgb(query, name="query")
    if mask is None:
        alpha = SEGMENTERS.create(segmenter)(image).alpha
    else:
        alpha = as_alpha(mask, image.shape[:2], name="mask")
    product = alpha >= THRESHOLD
    if rerank and not product.any():
        raise InputError("query: no product found in the image, nothing to align for rerank")
    if vector is None:
        vector = load_embedder(name).embed([image], [alpha])[0]
    condition = "area_fraction > 0" + (f" AND ({where})" if where else "")
    fetch = max(5 * k, RERANK_MIN_CANDIDATES) if rerank else k
    rows = store.search(vector, k=fetch, embedder=name, where=condition)
    shape = shape_mask(product) if rerank else product  # aligned onto every row: once, small
    matches = []
    for row in rows:
        if not rerank:
            matches.append(match_from_row(row))
            continue
        similarity = float(row["score"])
        slot_mask = _coverage_slot(str(row["id"]), bytes(row["mask_png"]))
        coverage = hole_coverage(shape, slot_mask, fit=fit, work_size=COVERAGE_SIDE)  # type: ignore[arg-type]
        score = (1.0 - rerank_weight) * similarity + rerank_weight * coverage
        matches.append(match_from_row(row, score=score, similarity=similarity, coverage=coverage))
    matches.sort(key=lambda m: -m.score)
    return matches[:k]


def query_vector(
    image: Any, alpha: Any, catalog: Catalog | str | Path, embedder: str | None = None
) -> NDArray[np.float32]:
    """The embedding :func:`retrieve` searches ``catalog`` with for the product of ``image`` and
    its ``alpha`` (``embedder``: which of the catalog's, default its first), to pass to it as
    ``vector`` when the same product is searched for more than once."""
    store = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
    name = store.embedder_name(embedder)
    rgb = load_rgb(image, name="query")
    out: NDArray[np.float32] = load_embedder(name).embed(
        [rgb], [as_alpha(alpha, rgb.shape[:2], name="mask")]
    )[0]
    return out
