"""The ``edgeconnect`` inpainter: a trained EdgeConnect fills the hole, edges first.

Nazeri, Ng, Joseph, Qureshi & Ebrahimi, "EdgeConnect: Structure Guided Image Inpainting using
Edge Prediction", ICCV Workshops 2019 (arXiv:1901.00212). The generators, the discriminator, the
two-stage forward pass and the checkpoints are :mod:`adstage.models.edgeconnect`; this module is
the edge detector both the backend and the trainer feed them, and the registered backend.

Ku et al. (AdKDD 2023, §5.3.1) train this model for the holes left by copy-paste staging and add
the weighted boundary loss (:func:`adstage.inpaint.losses.wbl_weight_map`). Training:
:mod:`adstage.train.inpaint`.

Edges come from ``cv2.Canny`` after a Gaussian blur of σ = 2 (the paper uses scikit-image's
Canny with σ = 2; the thresholds differ, see :func:`canny_edges`).

The backend :class:`EdgeConnect` (``INPAINTERS.create("edgeconnect", checkpoint=PATH)``) takes
``H×W×3`` ``uint8`` RGB and a bool hole like every inpainter.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from numpy.typing import NDArray

from adstage._torch import torch_threads
from adstage.errors import InputError
from adstage.inpaint.base import INPAINTERS, Hole
from adstage.models.edgeconnect import checkpoint_path, load_checkpoint, run
from adstage.types import RGB
from adstage.weights import resolve

log = logging.getLogger(__name__)


CHECKPOINT_ENV = "ADSTAGE_EDGECONNECT_CHECKPOINT"
"""Checkpoint used when none is passed: how ``adstage stage --inpainter edgeconnect`` and
animation (which pass only a backend name) find one."""

CANNY = {"sigma": 2.0, "low": 20, "high": 50}
"""Canny settings (Gaussian σ, cv2 hysteresis thresholds on the blurred uint8 grey image)."""


# --------------------------------------------------------------------------------------------
# edges


def canny_edges(
    rgb: NDArray[np.uint8],
    *,
    sigma: float = CANNY["sigma"],
    low: float = CANNY["low"],
    high: float = CANNY["high"],
    hole: NDArray[np.bool_] | None = None,
) -> NDArray[np.float32]:
    """Canny edges of an ``H×W×3`` uint8 RGB image: ``float32`` ``H×W`` in {0, 1}.

    Grey (``cv2.COLOR_RGB2GRAY``), Gaussian blur of ``sigma``, then ``cv2.Canny(low, high)``.

    ``hole`` (``H×W`` bool, True = unknown): the blur averages known pixels only (normalised
    convolution), so whatever fills the hole (zeros, the removed product) draws no contour along
    its border. Training computes edges on whole photos and masks them; without this, a test-time
    hole adds its own outline to the known edges, which the model then paints as an object (the
    role of scikit-image's ``canny(mask=...)`` in the paper's code).
    """
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if hole is not None and hole.any():
        known = (~hole).astype(np.float32)
        s = sigma if sigma > 0 else 1.0
        num = cv2.GaussianBlur(grey.astype(np.float32) * known, (0, 0), s)
        den = cv2.GaussianBlur(known, (0, 0), s)
        fallback = float(grey[~hole].mean()) if known.any() else 0.0
        smooth = np.where(den > 1e-4, num / np.maximum(den, 1e-4), fallback)
        # far inside the hole the estimate falls to the fallback: that step lies in the hole,
        # whose edges are discarded; widen nothing else
        grey = np.clip(np.rint(smooth), 0, 255).astype(np.uint8)
        edges = cv2.Canny(grey, low, high) > 0
        return (edges & ~hole).astype(np.float32)
    if sigma > 0:
        grey = cv2.GaussianBlur(grey, (0, 0), sigma)
    return (cv2.Canny(grey, low, high) > 0).astype(np.float32)


# --------------------------------------------------------------------------------------------
# the backend


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int, device: str) -> tuple[Any, Any, dict[str, Any]]:
    del mtime_ns  # part of the key only: a rewritten file is loaded again
    return load_checkpoint(path, device=device)


@INPAINTERS.register("edgeconnect")
@dataclass(eq=False)
class EdgeConnect:
    """The ``edgeconnect`` inpainter: a trained EdgeConnect checkpoint fills the hole.

    Args:
        checkpoint: a checkpoint file or a training folder (its latest ``checkpoint-*.pt``),
            written by ``adstage train inpaint``; ``None``: ``$ADSTAGE_EDGECONNECT_CHECKPOINT``.
        weights: instead of ``checkpoint``, the name of a weights-manifest row, resolved offline
            by :func:`adstage.weights.resolve` (``$ADSTAGE_WEIGHTS``, ``~/.cache/adstage``).
        device: torch device.
        max_side: crops whose longer side exceeds this are downscaled to it for the networks
            and the fill upscaled back (the model was trained on ``size``² crops).
        threads: torch threads during a call (restored afterwards); ``None`` leaves torch's.

    Loaded checkpoints are cached per (file, mtime, device), so :func:`adstage.inpaint.inpaint`
    creating the backend once per call does not reload the file.
    """

    checkpoint: str | Path | None = None
    weights: str | None = None
    device: str = "cpu"
    max_side: int = 512
    threads: int | None = None
    name: str = field(default="edgeconnect", init=False)
    meta: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.checkpoint is None and self.weights is None and os.environ.get(CHECKPOINT_ENV):
            self.checkpoint = os.environ[CHECKPOINT_ENV]
        if self.checkpoint is None and self.weights is None:
            raise InputError(
                "checkpoint: the edgeconnect inpainter needs a trained checkpoint; train one "
                "with `adstage train inpaint --data DIR --out RUN` and pass checkpoint='RUN' "
                "(e.g. inpainter_options={'checkpoint': 'RUN'}) or set "
                f"{CHECKPOINT_ENV}=RUN, or pass weights=NAME for a manifest row fetched with "
                "`adstage weights fetch NAME`"
            )
        if self.checkpoint is not None and self.weights is not None:
            raise InputError("checkpoint, weights: give one of them, not both")
        if isinstance(self.max_side, bool) or not isinstance(self.max_side, int):
            raise InputError(f"max_side: expected an integer >= 16, got {self.max_side!r}")
        if self.max_side < 16:
            raise InputError(f"max_side: expected an integer >= 16, got {self.max_side!r}")
        if self.checkpoint is not None:
            path = checkpoint_path(self.checkpoint)
        else:
            path = resolve(str(self.weights))  # WeightsNotFound names the fetch command
        self._edge, self._inpaint, self.meta = _cached(
            str(path.resolve()), os.stat(path).st_mtime_ns, self.device
        )
        self._canny = {k: self.meta["config"].get(f"canny_{k}", v) for k, v in CANNY.items()}

    def __call__(self, image: RGB, hole: Hole) -> RGB:
        h, w = hole.shape
        scale = min(1.0, self.max_side / max(h, w))
        sh, sw = max(4, round(h * scale)), max(4, round(w * scale))
        small = image
        small_hole = hole
        if (sh, sw) != (h, w):
            small = np.asarray(cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA), np.uint8)
            # any downscaled pixel that covers some hole is hole: the hole never shrinks away
            small_hole = (
                cv2.resize(hole.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) > 0
            )
        ph, pw = -sh % 4, -sw % 4
        padded = np.asarray(
            cv2.copyMakeBorder(small, 0, ph, 0, pw, cv2.BORDER_REFLECT_101), np.uint8
        )
        padded_hole = cv2.copyMakeBorder(
            small_hole.astype(np.uint8), 0, ph, 0, pw, cv2.BORDER_REFLECT_101
        )
        edges = canny_edges(padded, hole=padded_hole > 0, **self._canny)
        x = torch.from_numpy(padded).permute(2, 0, 1)[None].float().div(255.0)
        e = torch.from_numpy(edges)[None, None]
        m = torch.from_numpy(padded_hole.astype(np.float32))[None, None]
        with torch_threads(self.threads), torch.inference_mode():
            out = run(
                self._edge, self._inpaint, x.to(self.device), e.to(self.device), m.to(self.device)
            )
        filled = out.image[0, :, :sh, :sw].clamp(0, 1).mul(255).round().byte()
        result = np.ascontiguousarray(filled.permute(1, 2, 0).cpu().numpy())
        if (sh, sw) != (h, w):
            result = cv2.resize(result, (w, h), interpolation=cv2.INTER_CUBIC)
        out_img = image.copy()
        out_img[hole] = result[hole]
        return out_img
