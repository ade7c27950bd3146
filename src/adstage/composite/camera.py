"""Give the pasted product the scene's camera: its blur and its JPEG compression.

A catalog photo is shot on a studio camera at a high resolution; scaled down to the few hundred
pixels the product takes in a room, it is crisper than the room photo around it and free of the
room's compression: at full size the pasted product is a sharp, clean cut-out inside a softer
image with 8×8 blocks (the dev rooms are JPEGs of IJG quality 75). Two steps, both acting only
around the product:

- **blur**: the no-reference blur metric of Crété-Roffet, Dolmiere, Ladret & Nicolas ("The blur
  effect: perception and estimation with a new no-reference perceptual blur metric", SPIE
  Human Vision and Electronic Imaging XII, 2007) — how much of an image's neighbour-to-neighbour
  variation a strong re-blur removes (0: sharp, 1: blurred) — is measured near the strong edges
  (Canny) of the scene around the product and of the product; the product is blurred with the smallest Gaussian of
  :data:`SIGMAS` that brings its metric up to the scene's (never sharpened);
- **compression**: the changed pixels are compressed as JPEG at the scene's quality, on the
  scene's own block grid, and only they are replaced by the result.

The quality is read from the scene file's luminance quantization table (:func:`jpeg_quality`,
the IJG scaling of the standard table of ITU-T T.81 Annex K); a scene that was resized or is not a
JPEG gets no compression step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from adstage.errors import InputError
from adstage.types import RGB

SIGMAS = (0.0, 0.35, 0.5, 0.7, 0.85, 1.0)
"""The Gaussian blurs (σ, pixels) tried on the product, smallest first; the largest is the most
it is ever blurred."""

REBLUR = 9
"""The length of the re-blur's averaging line (the metric's strong low-pass filter; the paper's
value)."""

_ANNEX_K_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    np.float64,
)
"""The example luminance quantization table of ITU-T T.81 (JPEG), Annex K.1."""


def _ijg_table(quality: int) -> NDArray[np.float64]:
    scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    out: NDArray[np.float64] = np.clip(np.floor((_ANNEX_K_LUMA * scale + 50.0) / 100.0), 1, 255)
    return out


def quality_of_table(table: NDArray[Any]) -> int:
    """The IJG quality (1–100) whose scaled Annex K luminance table is nearest ``table`` (64
    values in row order)."""
    values = np.asarray(table, np.float64).reshape(-1)
    if values.size != 64:
        raise InputError(f"quantization table: expected 64 values, got {values.size}")
    errors = [float(np.abs(_ijg_table(q).reshape(-1) - values).sum()) for q in range(1, 101)]
    return int(np.argmin(errors)) + 1


def jpeg_quality(path: str | Path) -> int | None:
    """The IJG quality whose luminance table is nearest a JPEG file's (exact for files saved by
    libjpeg or PIL; for another encoder's tables the nearest match); ``None`` for a file that is
    not a JPEG (or cannot be read)."""
    try:
        with Image.open(path) as image:
            tables = getattr(image, "quantization", None)
            if image.format != "JPEG" or not tables or 0 not in tables:
                return None
            return quality_of_table(np.asarray(tables[0]))
    except (OSError, ValueError):
        return None


def _luma(rgb: NDArray[Any]) -> NDArray[np.float32]:
    out: NDArray[np.float32] = rgb[..., :3].astype(np.float32) @ np.array(
        [0.299, 0.587, 0.114], np.float32
    )
    return out


def blur_metric(gray: NDArray[Any], where: NDArray[np.bool_] | None = None) -> float:
    """Crété-Roffet et al.'s (2007) blur metric of a grey image in [0, 1] (0: sharp), over the
    pixel pairs inside ``where`` (both pixels; ``None``: all). ``nan`` with no variation there."""
    f = np.asarray(gray, np.float32)
    if f.ndim != 2:
        raise InputError(f"blur_metric: expected a grey image, got shape {f.shape}")
    scores = []
    for axis, size in ((0, (1, REBLUR)), (1, (REBLUR, 1))):
        # cv2's ksize is (width, height): (1, 9) averages down a column, i.e. along axis 0
        b = cast(NDArray[np.float32], cv2.blur(f, size, borderType=cv2.BORDER_REFLECT))
        d_f = np.abs(np.diff(f, axis=axis))
        d_b = np.abs(np.diff(b, axis=axis))
        lost = np.maximum(0.0, d_f - d_b)
        if where is not None:
            pair = where[1:, :] & where[:-1, :] if axis == 0 else where[:, 1:] & where[:, :-1]
            d_f, lost = d_f[pair], lost[pair]
        s_f = float(d_f.sum())
        if s_f <= 0:
            continue
        scores.append((s_f - float(lost.sum())) / s_f)
    return max(scores) if scores else float("nan")


EDGE_THRESHOLDS = (40, 120)
"""Canny's hysteresis thresholds (grey levels) for the edges the blur is measured at."""
MIN_EDGE_PIXELS = 64
"""Fewer edge pixels than this (around the product, or on it): the blur is not measured."""


def _near_edges(gray: NDArray[np.float32]) -> NDArray[np.bool_]:
    """The pixels within 2 of a strong edge (Canny): the metric is read there only, since on a
    plain wall or floor a re-blur removes little variation and the metric reads any smooth
    surface as blurred; empty with fewer than :data:`MIN_EDGE_PIXELS` edge pixels."""
    u8 = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    edges = cv2.Canny(u8, *EDGE_THRESHOLDS) > 0
    if int(edges.sum()) < MIN_EDGE_PIXELS:
        return np.zeros(gray.shape, bool)
    near: NDArray[np.bool_] = cv2.dilate(edges.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return near


@dataclass(frozen=True)
class CameraMatch:
    """What :func:`match_camera` did: the blur metrics of the scene around the product and of the
    product before and after, the ``sigma`` it was blurred with (0: none) and the JPEG
    ``quality`` its pixels were compressed at (``None``: none)."""

    scene_blur: float
    product_blur: float
    blurred_to: float
    sigma: float
    quality: int | None

    def as_dict(self) -> dict[str, Any]:
        """Rounded; a metric that could not be read (``nan``) is ``None`` (valid JSON)."""
        return {
            k: (None if math.isnan(v) else round(v, 4)) if isinstance(v, float) else v
            for k, v in asdict(self).items()
        }


def _blurred(region: NDArray[np.uint8], sigma: float) -> NDArray[np.uint8]:
    if sigma <= 0:
        return region
    out = cv2.GaussianBlur(region, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return cast(NDArray[np.uint8], out)


def match_camera(
    image: RGB,
    scene: RGB,
    product: NDArray[np.bool_],
    *,
    blur: bool = True,
    quality: int | None = None,
) -> tuple[RGB, CameraMatch]:
    """``image`` (``scene`` with a product composited into it; ``product``: the product's pixels,
    scene-sized) with the product blurred like the scene around it and every pixel the composite
    changed compressed at JPEG ``quality`` on the scene's block grid (``None``: not compressed).
    Pixels farther than the blur's feather (about 2σ) from what the composite changed stay
    exactly the scene's."""
    if image.shape != scene.shape or product.shape != scene.shape[:2]:
        raise InputError(
            f"match_camera: image {image.shape}, scene {scene.shape} and product mask "
            f"{product.shape} must be the same size"
        )
    if quality is not None and not 1 <= quality <= 100:
        raise InputError(f"match_camera: JPEG quality must be in 1..100, got {quality}")
    out = image.copy()
    h, w = product.shape
    nan = float("nan")
    if not product.any():
        return out, CameraMatch(nan, nan, nan, 0.0, None)
    ys, xs = np.nonzero(product)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    # the scene around the product: its box grown by half its size, less the product
    gy, gx = (y1 - y0) // 2, (x1 - x0) // 2
    ry0, ry1, rx0, rx1 = max(0, y0 - gy), min(h, y1 + gy), max(0, x0 - gx), min(w, x1 + gx)
    grown = cv2.dilate(product[ry0:ry1, rx0:rx1].astype(np.uint8), np.ones((5, 5), np.uint8))
    around = _luma(scene[ry0:ry1, rx0:rx1])
    scene_blur = blur_metric(around, (np.asarray(grown) == 0) & _near_edges(around))
    # the product and its edge against the scene (the pixels a camera blur would mix)
    pad = 2 + int(np.ceil(3 * max(SIGMAS)))
    py0, py1, px0, px1 = max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad)
    inside = product[py0:py1, px0:px1]
    edge = cv2.dilate(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    region = out[py0:py1, px0:px1]
    edge &= _near_edges(_luma(region))
    product_blur = blur_metric(_luma(region), edge)
    sigma, reached = 0.0, product_blur
    if blur and np.isfinite(scene_blur) and np.isfinite(product_blur):
        for s in SIGMAS:
            sigma, reached = s, blur_metric(_luma(_blurred(region, s)), edge)
            if reached >= scene_blur:
                break
    if sigma > 0:
        # the blur reaches ~2σ beyond the product: feather it in over that band
        reach = max(1, round(2 * sigma))
        weight = cv2.GaussianBlur(
            cv2.dilate(inside.astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)).astype(
                np.float32
            ),
            (0, 0),
            max(0.5, sigma),
        )[..., None]
        mixed = _blurred(region, sigma).astype(np.float32) * weight + region.astype(np.float32) * (
            1.0 - weight
        )
        out[py0:py1, px0:px1] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    if quality is not None:
        changed = (out != scene).any(axis=2)
        if changed.any():
            cy, cx = np.nonzero(changed)
            # on the scene's own grid: its 16×16 macroblocks (8×8 luma blocks, colour at half
            # resolution) start at 0, 0; one macroblock of context around
            by0, bx0 = (
                max(0, (int(cy.min()) // 16 - 1) * 16),
                max(0, (int(cx.min()) // 16 - 1) * 16),
            )
            by1, bx1 = (
                min(h, (int(cy.max()) // 16 + 2) * 16),
                min(w, (int(cx.max()) // 16 + 2) * 16),
            )
            crop = out[by0:by1, bx0:bx1]
            ok, data = cv2.imencode(
                ".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
            )
            if not ok:
                raise InputError(f"match_camera: JPEG encoding at quality {quality} failed")
            back = cv2.imdecode(data, cv2.IMREAD_COLOR)
            if back is None:
                raise InputError(f"match_camera: JPEG decoding at quality {quality} failed")
            decoded = cv2.cvtColor(back, cv2.COLOR_BGR2RGB)
            take = changed[by0:by1, bx0:bx1]
            crop[take] = decoded[take]
    return out, CameraMatch(scene_blur, product_blur, reached, sigma, quality)
