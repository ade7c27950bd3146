"""adstage: stage e-commerce product photos for advertising, on a CPU, offline.

Implements retrieval-assisted copy-paste staging (Ku et al., AdKDD 2023) and RefAdGen (Chen &
Yang), a dual U-Net that generates an ad around a reference product photo (the optional extra
``adstage[generate]``; you bring the SD-1.5 base and a trained checkpoint). The pipeline is the
folder list: segment → retrieve → inpaint → composite → stage / generate; docs/architecture.md
gives the layers.

The public API is five typed functions — :func:`segment_product`, :func:`triage_photo`,
:func:`retrieve_slots`, :func:`stage_product` and :func:`generate_ad` — and the result types.
Their names do not clash with the modules :mod:`adstage.segment`, :mod:`adstage.triage`,
:mod:`adstage.retrieve`, :mod:`adstage.stage` and :mod:`adstage.generate`; calling the first
four modules (the 0.1 spelling) still works until 0.2, with a ``DeprecationWarning``.
``adstage.generate(product, prompt, pipeline=…)`` is the module made callable (no warning), the
same as :func:`generate_ad`; neither imports diffusers before it runs.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The callable package: `adstage.generate(product, prompt, pipeline=…)` (imports no diffusers).
from adstage import generate as generate

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

if TYPE_CHECKING:
    from adstage.generate.pipeline import GeneratedAd, RefAdGenPipeline

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
    "generate_ad",
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
    # Shallow: dataclasses.asdict would turn the nested Screen into a dict.
    fields = (
        {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
        if options is not None
        else {}
    )
    fields["k"] = k
    store = catalog if isinstance(catalog, Catalog) else Path(catalog)
    return _stage(product, store, mask=mask, **fields)


def generate_ad(
    product: ImageInput,
    prompt: str,
    *,
    pipeline: RefAdGenPipeline,
    mask: ImageInput | None = None,
    layout: str = "photo",
    negative_prompt: str | None = None,
    steps: int = 30,
    guidance: float = 7.5,
    fusion_scale: float = 1.0,
    seed: int = 42,
    size: tuple[int, int] = (512, 640),
    num_images: int = 1,
    product_exact: bool = False,
    progress: Any = None,
) -> GeneratedAd:
    """Generate ads of ``product`` described by ``prompt`` with RefAdGen (Chen & Yang).

    ``pipeline``: from ``adstage.generate.pipeline.load_pipeline(base, checkpoint)``. The
    defaults are the released pipeline's (30 DDIM steps, guidance 7.5, λ 1.0, seed 42, 512×640
    as (width, height), its fixed negative prompt when ``negative_prompt`` is None). ``mask``:
    the product's silhouette (else its alpha, else segmented); ``layout``: where it goes on the
    canvas (``photo``, ``center``, ``left``, ``right``, ``bottom``); ``product_exact``: the
    product's own pixels pasted back inside its eroded mask. Needs ``adstage[generate]``.
    """
    from adstage.generate.pipeline import DEFAULT_NEGATIVE_PROMPT
    from adstage.generate.pipeline import generate as _generate

    return _generate(
        product,
        prompt,
        pipeline=pipeline,
        mask=mask,
        layout=layout,
        negative_prompt=DEFAULT_NEGATIVE_PROMPT if negative_prompt is None else negative_prompt,
        steps=steps,
        guidance=guidance,
        fusion_scale=fusion_scale,
        seed=seed,
        size=size,
        num_images=num_images,
        product_exact=product_exact,
        progress=progress,
    )
