"""adstage: stage e-commerce product photos for advertising, on a CPU, offline.

Implements retrieval-assisted copy-paste staging (Ku et al., AdKDD 2023) and RefAdGen
(Chen & Yang). The pipeline is the folder list: segment → retrieve → inpaint → composite → stage.
"""

from __future__ import annotations

__version__ = "0.1.0"

from adstage.errors import (
    AdstageError,
    BackendUnavailable,
    InputError,
    WeightsCorrupt,
    WeightsNotFound,
)
from adstage.types import Cutout, Match, Placement, Segmentation

__all__ = [
    "AdstageError",
    "BackendUnavailable",
    "Cutout",
    "InputError",
    "Match",
    "Placement",
    "Segmentation",
    "WeightsCorrupt",
    "WeightsNotFound",
    "__version__",
    "retrieve",
    "segment",
    "stage",
    "triage",
]


# The light sub-modules that share a name with a function below are loaded first, so that the
# functions keep their names: a later ``import adstage.segment`` finds the module in
# ``sys.modules`` and does not rebind the package attribute.
from adstage import retrieve as _retrieve_module  # noqa: F401  (keeps the name for the function)
from adstage import segment as _segment_module
from adstage import stage as _stage_package  # noqa: F401  (keeps the name for the function)
from adstage import triage as _triage_module


def segment(image, *, backend: str = "auto", **options):  # type: ignore[no-untyped-def]
    """Segment the product in ``image`` (PIL image, RGB array or path). See :mod:`adstage.segment`."""
    return _segment_module.segment(image, backend=backend, **options)


def triage(image, **options):  # type: ignore[no-untyped-def]
    """Staged (a scene) or un-staged (plain background)? See :mod:`adstage.triage`."""
    return _triage_module.triage(image, **options)


def retrieve(query, catalog, *, k: int = 5, **options):  # type: ignore[no-untyped-def]
    """The ``k`` slots of ``catalog`` (a folder or :class:`~adstage.catalog.store.Catalog`) most
    similar to the product in ``query``. See :meth:`adstage.catalog.store.Catalog.retrieve`."""
    from adstage.catalog.store import Catalog

    store = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
    return store.retrieve(query, k=k, **options)


def stage(product, catalog, *, k: int = 3, **options):  # type: ignore[no-untyped-def]
    """Stage ``product`` into the ``k`` best staged slots of ``catalog`` (Ku et al., AdKDD 2023).
    Returns a :class:`~adstage.stage.pipeline.StagedProduct`; see :func:`adstage.stage.pipeline.stage`."""
    from adstage.stage.pipeline import stage as run

    return run(product, catalog, k=k, **options)
