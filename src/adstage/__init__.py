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
from adstage.types import Cutout, Segmentation

__all__ = [
    "AdstageError",
    "BackendUnavailable",
    "Cutout",
    "InputError",
    "Segmentation",
    "WeightsCorrupt",
    "WeightsNotFound",
    "__version__",
    "segment",
    "triage",
]


# The light sub-modules that share a name with a function below are loaded first, so that the
# functions keep their names: a later ``import adstage.segment`` finds the module in
# ``sys.modules`` and does not rebind the package attribute.
from adstage import segment as _segment_module
from adstage import triage as _triage_module


def segment(image, *, backend: str = "auto", **options):  # type: ignore[no-untyped-def]
    """Segment the product in ``image`` (PIL image, RGB array or path). See :mod:`adstage.segment`."""
    return _segment_module.segment(image, backend=backend, **options)


def triage(image, **options):  # type: ignore[no-untyped-def]
    """Staged (a scene) or un-staged (plain background)? See :mod:`adstage.triage`."""
    return _triage_module.triage(image, **options)
