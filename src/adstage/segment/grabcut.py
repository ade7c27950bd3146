"""Box-prompted GrabCut (Rother et al., SIGGRAPH 2004) through OpenCV: no weights needed.

For staged photos when no saliency network is installed. The prompt box defaults to the image
shrunk by ``margin`` on every side, which suits product photos where the product is central.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from adstage.errors import InputError
from adstage.segment.background import downscale
from adstage.segment.base import SEGMENTERS
from adstage.types import RGB, Segmentation, as_rgb


@SEGMENTERS.register("grabcut")
@dataclass(frozen=True)
class GrabCut:
    """``box``: ``(x0, y0, x1, y1)`` in image pixels, or ``None`` for the centre box at ``margin``."""

    box: tuple[int, int, int, int] | None = None
    margin: float = 0.05
    iterations: int = 4
    work_size: int = 400
    name: str = field(default="grabcut", init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.margin < 0.5:
            raise InputError(f"grabcut margin: expected a fraction in [0, 0.5), got {self.margin}")
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
        box = self._box(w, h)
        small, scale = downscale(image, self.work_size)
        sh, sw = small.shape[:2]
        x0, y0, x1, y1 = (round(v * scale) for v in box)
        x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
        gc = np.zeros((sh, sw), np.uint8)
        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        rect = (x0, y0, max(1, x1 - x0), max(1, y1 - y0))
        mask = np.zeros((sh, sw), bool)
        if (sh >= 4 and sw >= 4 and (x1 - x0) < sw) or (y1 - y0) < sh:
            try:
                cv2.grabCut(
                    cv2.cvtColor(small, cv2.COLOR_RGB2BGR),
                    gc,
                    rect,
                    bgd,
                    fgd,
                    self.iterations,
                    cv2.GC_INIT_WITH_RECT,
                )
                mask = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
            except cv2.error:  # one-colour image: GrabCut cannot fit its colour models
                mask = np.zeros((sh, sw), bool)
        alpha = mask.astype(np.float32)
        if scale < 1.0:
            alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        return Segmentation(
            alpha=np.clip(alpha, 0, 1),
            backend=self.name,
            provenance={
                "box": list(box),
                "iterations": self.iterations,
                "work_size": self.work_size,
            },
        )
