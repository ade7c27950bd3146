"""adstage: stage e-commerce product photos for advertising, on a CPU, offline.

Implements retrieval-assisted copy-paste staging (Ku et al., AdKDD 2023). RefAdGen (Chen & Yang)
is planned and not implemented yet. The pipeline is the folder list: segment → retrieve → inpaint
→ composite → stage; docs/architecture.md gives the layers.

The public API is four typed functions — :func:`segment_product`, :func:`triage_photo`,
:func:`retrieve_slots` and :func:`stage_product` — and the result types. Their names do not clash
with the modules :mod:`adstage.segment`, :mod:`adstage.triage`, :mod:`adstage.retrieve` and
:mod:`adstage.stage`; calling those modules (the 0.1 spelling) still works until 0.2, with a
``DeprecationWarning``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

# The deprecated alias module (callable until 0.2), so that 0.1's `adstage.triage(image)` runs.
from adstage import triage as triage
from adstage._version import __version__
from adstage.catalog.store import Catalog
from adstage.errors import (
    AdstageError,
    BackendUnavailable,
    InputError,
    WeightsCorrupt,
    WeightsNotFound,
)
from adstage.io.images import ImageInput
from adstage.retrieve.search import retrieve as retrieve_slots
from adstage.segment import segment as segment_product
from adstage.segment.triage import Triage
from adstage.segment.triage import triage as triage_photo
from adstage.stage.pipeline import StagedProduct, StageOptions
from adstage.stage.pipeline import stage as _stage
from adstage.types import Cutout, Match, Placement, Segmentation

__all__ = [
    "AdstageError",
    "BackendUnavailable",
    "Catalog",
    "Cutout",
    "InputError",
    "Match",
    "Placement",
    "Segmentation",
    "StageOptions",
    "StagedProduct",
    "Triage",
    "WeightsCorrupt",
    "WeightsNotFound",
    "__version__",
    "retrieve_slots",
    "segment_product",
    "stage_product",
    "triage_photo",
]


def stage_product(
    product: ImageInput,
    catalog: str | os.PathLike[str] | Catalog,
    *,
    k: int = 3,
    mask: ImageInput | None = None,
    options: StageOptions | None = None,
) -> StagedProduct:
    """Stage ``product`` into the ``k`` best staged slots of ``catalog`` (Ku et al., AdKDD 2023).

    ``catalog``: a folder written by ``adstage ingest`` or an open :class:`Catalog` (a missing
    folder is an :class:`InputError`; nothing is created). ``mask``: the product's mask (path or
    array), else it is segmented. ``options``: every other setting (inpainter, segmenter, shadow,
    aspect …), see :class:`StageOptions`; ``k`` here overrides ``options.k``.
    """
    fields = dataclasses.asdict(options) if options is not None else {}
    fields["k"] = k
    store = catalog if isinstance(catalog, Catalog) else Path(catalog)
    return _stage(product, store, mask=mask, **fields)
