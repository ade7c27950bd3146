"""GrabCut (Rother et al., SIGGRAPH 2004) through OpenCV: no weights needed.

For staged photos when no saliency network is installed. Prompted with a box when one is given
(``box``, or ``init="box"`` for the image shrunk by ``margin``). Without a box it is seeded by a
classical saliency map (``init="saliency"``, the default): colour distance in Lab to the colours
of the image border (a boundary prior, as in Wei et al., ECCV 2012), weighted by a centre prior;
Otsu's threshold marks probable product, twice it marks sure product, the border is background.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.segment.background import border_band, downscale
from adstage.segment.base import SEGMENTERS
from adstage.types import RGB, Segmentation, as_rgb


@SEGMENTERS.register("grabcut")
@dataclass(frozen=True)
class GrabCut:
    """``box``: ``(x0, y0, x1, y1)`` in image pixels, or ``None`` for the centre box at ``margin``."""

    box: tuple[int, int, int, int] | None = None
    init: str = "saliency"
    margin: float = 0.05
    iterations: int = 4
    work_size: int = 400
    name: str = field(default="grabcut", init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.margin < 0.5:
            raise InputError(f"grabcut margin: expected a fraction in [0, 0.5), got {self.margin}")
        if self.init not in ("saliency", "box"):
            raise InputError(f"grabcut init: expected 'saliency' or 'box', got {self.init!r}")
        if self.iterations < 1:
            raise InputError(f"grabcut iterations: expected at least 1, got {self.iterations}")

    def _box(self, w: int, h: int) -> tuple[int, int, int, int]:
        if self.box is None:
            mx, my = round(w * self.margin), round(h * self.margin)
            return (mx, my, w - mx, h - my)
        x0, y0, x1, y1 = self.box
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise InputError(
                f"grabcut box: expected 0 ≤ x0 < x1 ≤ {w}, 0 ≤ y0 < y1 ≤ {h}, got {self.box}"
            )
        return self.box

    def __call__(self, image: RGB) -> Segmentation:
        image = as_rgb(image)
        h, w = image.shape[:2]
        small, scale = downscale(image, self.work_size)
        sh, sw = small.shape[:2]
        seeded = self.box is None and self.init == "saliency"
        gc = np.zeros((sh, sw), np.uint8)
        rect = None
        box = None
        if seeded:
            gc = _saliency_seeds(small)
        else:
            box = self._box(w, h)
            x0, y0, x1, y1 = (round(v * scale) for v in box)
            rect = (x0, y0, max(1, x1 - x0), max(1, y1 - y0))
        mask = np.zeros((sh, sw), bool)
        if sh >= 4 and sw >= 4:
            found = run_grabcut(small, gc, self.iterations, rect=rect)
            mask = found if found is not None else mask
        alpha = mask.astype(np.float32)
        if scale < 1.0:
            alpha = cast(
                NDArray[np.float32], cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
            )
        return Segmentation(
            alpha=np.clip(alpha, 0, 1),
            backend=self.name,
            provenance={
                "init": "saliency" if seeded else "box",
                "box": list(box) if box else None,
                "iterations": self.iterations,
                "work_size": self.work_size,
            },
        )


def run_grabcut(
    image: RGB,
    seeds: np.ndarray,
    iterations: int,
    *,
    rect: tuple[int, int, int, int] | None = None,
) -> np.ndarray | None:
    """Run OpenCV's GrabCut from ``seeds`` (a ``GC_*`` mask) or ``rect``; the product mask, or
    ``None`` when GrabCut cannot fit its colour models (a one-colour image).

    GrabCut starts its colour models with k-means on OpenCV's global RNG; it is seeded here so the
    same input always gives the same mask.
    """
    gc = seeds.copy()
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    mode = cv2.GC_INIT_WITH_RECT if rect is not None else cv2.GC_INIT_WITH_MASK
    try:
        cv2.setRNGSeed(0)
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        # rect is None in GC_INIT_WITH_MASK mode, which cv2 accepts; its stub wants a Rect
        cv2.grabCut(bgr, gc, rect, bgd, fgd, iterations, mode)  # type: ignore[arg-type]
    except cv2.error:
        return None
    found: NDArray[np.bool_] = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    return found


def border_saliency(image: RGB, *, clusters: int = 12) -> np.ndarray:
    """A saliency map in [0, 1]: Lab distance to the nearest border colour, times a centre prior."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    h, w = lab.shape[:2]
    pix = lab[border_band(h, w, 0.04)]
    k = max(1, min(clusters, len(np.unique(pix.astype(np.uint8), axis=0))))
    criteria = (cv2.TERM_CRITERIA_MAX_ITER + cv2.TERM_CRITERIA_EPS, 10, 1.0)
    # Deterministic start without touching OpenCV's global RNG: k bins of lightness.
    order = np.argsort(pix[:, 0], kind="stable")
    start = np.empty(len(pix), np.int32)
    start[order] = np.arange(len(pix)) * k // len(pix)
    _, _, centers = cv2.kmeans(
        pix, k, start.reshape(-1, 1), criteria, 1, cv2.KMEANS_USE_INITIAL_LABELS
    )
    flat = lab.reshape(-1, 1, 3)
    dist = np.sqrt(((flat - centers[None]) ** 2).sum(-1).min(axis=1)).reshape(h, w)
    dist = cv2.GaussianBlur(dist, (0, 0), 2)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    centre = np.exp(-(((xs - w / 2) / (0.45 * w)) ** 2 + ((ys - h / 2) / (0.45 * h)) ** 2))
    sal = dist * centre
    out: NDArray[np.float32] = (sal / max(float(sal.max()), 1e-6)).astype(np.float32)
    return out


def _saliency_seeds(image: RGB) -> np.ndarray:
    """A GrabCut mask seeded from :func:`border_saliency`."""
    sal = border_saliency(image)
    h, w = sal.shape
    otsu, _ = cv2.threshold(
        (sal * 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU
    )
    thr = otsu / 255.0
    gc = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    gc[sal > thr] = cv2.GC_PR_FGD
    gc[sal > min(0.95, 2.0 * thr)] = cv2.GC_FGD
    gc[border_band(h, w, 0.02)] = cv2.GC_BGD
    return gc
