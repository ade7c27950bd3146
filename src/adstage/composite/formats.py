"""Ad formats: bring a staged image to a platform's aspect ratio, product kept in the safe area.

Common placements: 1:1 (feed), 4:5 (portrait feed), 1.91:1 (link ads), 9:16 (stories). The image is
cropped to the ratio around the product when the product fits inside the crop's safe area (the
crop minus ``safe_margin`` on each side); otherwise the canvas is extended (edge pixels reflected
and blurred towards the border) so nothing of the product is cut and no pixel is stretched.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.types import RGB, as_rgb

FORMATS: dict[str, float] = {"1:1": 1.0, "4:5": 4 / 5, "1.91:1": 1.91, "9:16": 9 / 16}


def parse_ratio(text: str) -> float:
    """``"4:5"`` → 0.8 (width / height); any ``W:H`` with positive numbers is accepted."""
    try:
        w, h = (float(v) for v in str(text).split(":"))
    except ValueError:
        raise InputError(
            f"format: expected W:H such as {', '.join(FORMATS)}, got {text!r}"
        ) from None
    if w <= 0 or h <= 0:
        raise InputError(f"format: expected positive W:H, got {text!r}")
    return w / h


def to_format(
    image: RGB,
    product_box: tuple[int, int, int, int],
    ratio: str | float,
    *,
    safe_margin: float = 0.06,
) -> tuple[RGB, tuple[int, int, int, int]]:
    """``image`` at aspect ``ratio`` and the product's box in the new image's pixels."""
    image = as_rgb(image)
    r = parse_ratio(ratio) if isinstance(ratio, str) else float(ratio)
    if r <= 0:
        raise InputError(f"ratio: expected a positive width/height, got {ratio}")
    if not 0.0 <= safe_margin < 0.5:
        raise InputError(f"safe_margin: expected a value in [0, 0.5), got {safe_margin}")
    h, w = image.shape[:2]
    x0, y0, x1, y1 = product_box
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise InputError(f"product_box: {product_box} is not a box inside the {w}×{h} image")
    # The largest crop of ratio r inside the image.
    cw, ch = (w, round(w / r)) if w / r <= h else (round(h * r), h)
    inner = 1.0 - 2.0 * safe_margin
    if (x1 - x0) <= cw * inner and (y1 - y0) <= ch * inner:
        # Centre the crop on the product, then slide it inside the image.
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        left = round(min(max(cx - cw / 2.0, 0), w - cw))
        top = round(min(max(cy - ch / 2.0, 0), h - ch))
        crop = image[top : top + ch, left : left + cw]
        return np.ascontiguousarray(crop), (x0 - left, y0 - top, x1 - left, y1 - top)
    # Extend: the smallest canvas of ratio r that holds the image and keeps the product safe.
    need_w = max(w, (x1 - x0) / inner)
    need_h = max(h, (y1 - y0) / inner)
    ew, eh = (need_w, need_w / r) if need_w / r >= need_h else (need_h * r, need_h)
    ew, eh = max(w, int(np.ceil(ew))), max(h, int(np.ceil(eh)))
    pad_x, pad_y = ew - w, eh - h
    left, top = pad_x // 2, pad_y // 2
    # cv2's stubs type every result as MatLike; copyMakeBorder keeps the uint8 RGB layout.
    canvas = cast(
        RGB, cv2.copyMakeBorder(image, top, pad_y - top, left, pad_x - left, cv2.BORDER_REFLECT_101)
    )
    if pad_x or pad_y:
        # Blur the reflected border so it reads as background, not as a mirrored copy.
        blurred = cv2.GaussianBlur(canvas, (0, 0), max(3.0, 0.02 * max(ew, eh)))
        keep: NDArray[np.float32] = np.zeros(canvas.shape[:2], np.float32)
        keep[top : top + h, left : left + w] = 1.0
        keep = cast(NDArray[np.float32], cv2.GaussianBlur(keep, (0, 0), 4.0))
        keep[top : top + h, left : left + w] = 1.0
        canvas = np.rint(canvas * keep[..., None] + blurred * (1.0 - keep[..., None])).astype(
            np.uint8
        )
    return canvas, (x0 + left, y0 + top, x1 + left, y1 + top)
