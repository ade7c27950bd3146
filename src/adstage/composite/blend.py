"""Paste a product cut-out into a scene: soft edges, optional despill, harmonisation and shadow.

With every option off, the product's pixels are exactly those of the scaled cut-out wherever its
alpha is 1; only the soft edge mixes product and scene (the paper's copy-paste, Ku et al., AdKDD
2023, §5.3 step 3). Options:

- ``despill``: the edge pixels of a product shot on white are mixtures with white; un-mix them
  (``F = (I − (1 − α)·B) / α`` with the studio background ``B``) so no white halo is pasted.
- ``harmonize`` (0–1): move the product's mean and spread of lightness and colour in Lab part of
  the way towards the scene around it (Reinhard et al., "Color Transfer between Images", 2001).
- ``shadow`` (0–1): a soft contact shadow, an ellipse under the product's base blurred and
  darkening the floor, since a product without one floats.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.types import RGB, Placement, as_rgb


def _check_unit(value: float, name: str) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise InputError(f"{name}: expected a value in [0, 1], got {value}")
    return float(value)


def scale_cutout(rgba: NDArray[np.uint8], placement: Placement) -> NDArray[np.uint8]:
    """The ``h×w×4`` cut-out resized to the placement's box (area when shrinking, cubic else)."""
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8 or not rgba.size:
        raise InputError(f"rgba: expected a non-empty h×w×4 uint8 cut-out, got {rgba.shape}")
    w, h = placement.size
    if (w, h) == (rgba.shape[1], rgba.shape[0]):
        return rgba
    method = cv2.INTER_AREA if w < rgba.shape[1] else cv2.INTER_CUBIC
    # Resize premultiplied colour so the transparent pixels' colour does not bleed into the edge.
    alpha = rgba[..., 3:].astype(np.float32) / 255.0
    premultiplied = np.concatenate([rgba[..., :3].astype(np.float32) * alpha, alpha * 255], axis=2)
    # cv2's stubs type every result as MatLike; resize, cvtColor and GaussianBlur keep the dtype.
    out = cast(NDArray[np.float32], cv2.resize(premultiplied, (w, h), interpolation=method))
    a = np.clip(out[..., 3:] / 255.0, 0.0, 1.0)
    colour = np.where(a > 1e-3, out[..., :3] / np.maximum(a, 1e-3), 0.0)
    result = np.dstack([colour, a[..., 0] * 255.0])
    scaled: NDArray[np.uint8] = np.clip(np.rint(result), 0, 255).astype(np.uint8)
    return scaled


def despill(
    rgba: NDArray[np.uint8], background: tuple[int, int, int] = (255, 255, 255)
) -> NDArray[np.uint8]:
    """Un-mix the soft edge from the studio ``background`` colour it was shot on."""
    out = rgba.copy()
    a = rgba[..., 3].astype(np.float32) / 255.0
    edge = (a > 0.05) & (a < 0.999)
    if edge.any():
        bg = np.array(background, np.float32)
        pixels = rgba[..., :3][edge].astype(np.float32)
        alpha = a[edge][:, None]
        out[..., :3][edge] = np.clip(np.rint((pixels - (1 - alpha) * bg) / alpha), 0, 255).astype(
            np.uint8
        )
    return out


def _harmonize(
    product: NDArray[np.uint8],
    alpha: NDArray[np.float32],
    around: NDArray[np.uint8],
    strength: float,
) -> NDArray[np.uint8]:
    inside = alpha > 0.5
    if not inside.any() or not around.size:
        return product
    lab = cv2.cvtColor(product, cv2.COLOR_RGB2LAB).astype(np.float32)
    ref = (
        cv2.cvtColor(around.reshape(-1, 1, 3), cv2.COLOR_RGB2LAB).astype(np.float32).reshape(-1, 3)
    )
    mu_p, sd_p = lab[inside].mean(0), lab[inside].std(0) + 1e-3
    mu_s, sd_s = ref.mean(0), ref.std(0) + 1e-3
    # Part of the way: spread ratios are damped so a plain product does not take a busy texture.
    target_mu = mu_p + strength * (mu_s - mu_p)
    target_sd = sd_p * (sd_s / sd_p) ** (strength * 0.5)
    moved = (lab - mu_p) / sd_p * target_sd + target_mu
    return cast(
        RGB, cv2.cvtColor(np.clip(np.rint(moved), 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    )


def contact_shadow(
    placed_alpha: NDArray[np.float32], box: tuple[int, int, int, int], strength: float
) -> NDArray[np.float32]:
    """A scene-sized darkening map in [0, strength]: a blurred ellipse under the product's base."""
    h, w = placed_alpha.shape
    x0, _, x1, y1 = box
    width = x1 - x0
    shadow = np.zeros((h, w), np.float32)
    centre = (round((x0 + x1) / 2), min(h - 1, y1 - 1))
    axes = (max(1, round(width * 0.55)), max(1, round(width * 0.06)))
    cv2.ellipse(shadow, centre, axes, 0, 0, 360, 1.0, -1)
    sigma = max(1.0, width * 0.04)
    shadow = cast(NDArray[np.float32], cv2.GaussianBlur(shadow, (0, 0), sigma))
    return shadow * strength * (1.0 - placed_alpha)


def paste(
    scene: RGB,
    rgba: NDArray[np.uint8],
    placement: Placement,
    *,
    despill_background: tuple[int, int, int] | None = None,
    harmonize: float = 0.0,
    shadow: float = 0.0,
) -> RGB:
    """``scene`` with the cut-out ``rgba`` (its own crop, any size) pasted at ``placement``.

    ``despill_background``: the colour the product was shot on, to un-mix from its soft edge
    (``None``: off). ``harmonize`` / ``shadow``: strengths in [0, 1] (0: off).
    """
    scene = as_rgb(scene, name="scene")
    harmonize = _check_unit(harmonize, "harmonize")
    shadow = _check_unit(shadow, "shadow")
    h, w = scene.shape[:2]
    if placement.scene_size != (w, h):
        raise InputError(
            f"placement: made for a {placement.scene_size[0]}×{placement.scene_size[1]} scene, "
            f"got a {w}×{h} one"
        )
    if despill_background is not None:
        rgba = despill(rgba, despill_background)
    scaled = scale_cutout(rgba, placement)
    x0, y0, x1, y1 = placement.box
    alpha = scaled[..., 3].astype(np.float32) / 255.0
    product = scaled[..., :3]
    if harmonize > 0:
        # The scene around the product: its box grown by a quarter, minus the product itself.
        gx, gy = max(4, (x1 - x0) // 4), max(4, (y1 - y0) // 4)
        ax0, ay0, ax1, ay1 = max(0, x0 - gx), max(0, y0 - gy), min(w, x1 + gx), min(h, y1 + gy)
        ring = np.ones((ay1 - ay0, ax1 - ax0), bool)
        ring[y0 - ay0 : y1 - ay0, x0 - ax0 : x1 - ax0] = alpha == 0
        product = _harmonize(product, alpha, scene[ay0:ay1, ax0:ax1][ring], harmonize)
    out = scene.copy()
    if shadow > 0:
        full_alpha = np.zeros((h, w), np.float32)
        full_alpha[y0:y1, x0:x1] = alpha
        dark = contact_shadow(full_alpha, placement.box, shadow)
        out = np.clip(np.rint(out.astype(np.float32) * (1.0 - dark[..., None])), 0, 255).astype(
            np.uint8
        )
    region = out[y0:y1, x0:x1].astype(np.float32)
    mixed = product.astype(np.float32) * alpha[..., None] + region * (1.0 - alpha[..., None])
    blended = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    opaque = alpha >= 1.0
    blended[opaque] = product[opaque]  # exact product pixels where the cut-out is opaque
    out[y0:y1, x0:x1] = blended
    return out
