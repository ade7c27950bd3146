"""Classical product segmentation for photos on a plain background. No weights, always available.

Most catalog photos show one product on a white or plain studio background (Ku et al., AdKDD 2023,
§3: 11,927 of 18,899 ads). For those, a background colour model from the image border separates the
product far faster than a saliency network:

1. estimate the background (median border colour, or a quadratic surface for studio gradients);
2. mark pixels whose colour distance exceeds a threshold set from the border's noise;
3. add faint outlines (Canny edges), so white-on-white products (white furniture, glass) whose
   fill matches the backdrop are still closed shapes;
4. close small gaps, fill enclosed holes that are small or not backdrop-coloured (large enclosed
   backdrop regions, such as the space inside a chair frame, stay background), drop specks;
5. optionally refine with GrabCut and soften the edge with closed-form matting (pymatting).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import BackendUnavailable, InputError
from adstage.segment.background import BackgroundModel, downscale, estimate_background
from adstage.segment.base import SEGMENTERS
from adstage.segment.grabcut import run_grabcut
from adstage.types import RGB, Segmentation, as_rgb

log = logging.getLogger(__name__)


def _fill_holes(
    mask: NDArray[np.bool_], backdrop: NDArray[np.bool_], max_hole: float
) -> NDArray[np.bool_]:
    """Fill regions enclosed by the product unless they are mostly backdrop and not tiny.

    ``backdrop`` marks pixels of the backdrop's colour (within its noise).
    """
    inv = (~mask).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    if n <= 1:
        return mask
    touches = np.zeros(n, bool)
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        touches[np.unique(edge)] = True
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    # A hole that is really product (a white panel bounded by its outline) is off the backdrop
    # colour, if only slightly; a see-through gap shows the backdrop itself.
    seen = np.bincount(labels.ravel(), weights=backdrop.ravel().astype(np.float64), minlength=n)
    share = seen / np.maximum(area, 1)
    product_area = max(float(mask.sum()), 1.0)
    fill = ~touches & ((area < max_hole * product_area) | (share < 0.5))
    fill[0] = fill[0] and not touches[0]
    out = mask.copy()
    out[fill[labels] & (inv > 0)] = True
    return out


def shadow_like(
    image: RGB,
    backdrop: RGB,
    *,
    min_ratio: float = 0.3,
    max_ratio: float = 0.995,
    max_gradient: float = 8.0,
) -> NDArray[np.bool_]:
    """Pixels that look like the backdrop in shadow: the backdrop's colour scaled darker, smoothly.

    A cast shadow multiplies the backdrop's colour by a factor below 1 and varies slowly across
    the image; a product has its own colour or texture. ``max_gradient`` is the largest local
    brightness change per pixel (grey levels, Sobel magnitude / 4) that still counts as smooth.
    """
    img = image.astype(np.float32)
    bgf = backdrop.astype(np.float32)
    ones = np.ones((1, 3), np.float32)
    ratio = cv2.transform(img, ones) / np.maximum(cv2.transform(bgf, ones), 1.0)
    ic, bc = cv2.split(img), cv2.split(bgf)
    chroma = cv2.absdiff(ic[0], ratio * bc[0])
    for i, b in zip(ic[1:], bc[1:], strict=True):
        chroma = cv2.max(chroma, cv2.absdiff(i, ratio * b))
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    smooth = cv2.magnitude(gx, gy) < 4.0 * max_gradient
    return (ratio > min_ratio) & (ratio < max_ratio) & (chroma < 8.0) & smooth


def _rim(mask: NDArray[np.bool_], width: int = 3) -> NDArray[np.bool_]:
    """Mask pixels within ``width`` pixels of the backdrop."""
    outside = (~mask).astype(np.uint8)
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    return (cv2.dilate(outside, kernel) > 0) & mask


def _has_soft_rim(mask: NDArray[np.bool_], dist: NDArray[np.uint8], threshold: float) -> bool:
    """Whether some of the mask's rim fades into the backdrop (a cheap test before shadows)."""
    rim = _rim(mask)
    if not rim.any():
        return False
    return bool((dist[rim] < 2.5 * threshold).mean() >= 0.05)


def _remove_shadows(
    mask: NDArray[np.bool_],
    shadow: NDArray[np.bool_],
    dist: NDArray[np.uint8],
    edges: NDArray[np.bool_],
    threshold: float,
) -> NDArray[np.bool_]:
    """Drop shadow-like parts of the mask that fade into the backdrop below the product.

    A cast shadow is backdrop-coloured and darker (``shadow``); within a few pixels of its outer
    rim it is barely darker than the backdrop (it fades rather than ends in an outline); it has no
    lines inside; it is flat and lies under the rest of the product. A white or grey surface of
    the product may pass the first tests, but it carries panel lines or is not flat and below.
    """
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(
        (mask & shadow).astype(np.uint8), connectivity=8
    )
    if n <= 1:
        return mask
    rim = _rim(mask)
    idx = labels[rim]
    count = np.bincount(idx, minlength=n).astype(np.float64)
    rim_dist = np.bincount(idx, weights=dist[rim].astype(np.float64), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        fades = rim_dist / count < 2.5 * threshold
    fades[0] = False
    fades &= count >= 3
    if not fades.any():
        return mask
    rest = mask & ~fades[labels]
    rest_area = float(rest.sum())
    if rest_area == 0:
        return mask
    rest_y = float(np.nonzero(rest)[0].mean())
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    ys = np.nonzero(mask)[0]
    flat = stats[:, cv2.CC_STAT_HEIGHT] <= 0.5 * (ys.max() - ys.min() + 1)
    # No lines inside (away from its own rim): product surfaces have panel lines and seams.
    core = cv2.erode((labels > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    inner = edges & core
    lines = np.bincount(labels[inner], minlength=n).astype(np.float64)
    plain = lines / np.maximum(area, 1) < 0.005
    # A shadow lies outside the product: most of its boundary meets the backdrop, not the product.
    comp = (labels > 0).astype(np.uint8)
    boundary = (comp - cv2.erode(comp, np.ones((3, 3), np.uint8))) > 0
    total = np.bincount(labels[boundary], minlength=n).astype(np.float64)
    on_backdrop = np.bincount(labels[boundary & rim], minlength=n).astype(np.float64)
    outer = on_backdrop / np.maximum(total, 1) >= 0.4
    drop = fades & flat & plain & outer & (area < 6.0 * rest_area) & (centroids[:, 1] > rest_y)
    kept: NDArray[np.bool_] = mask & ~drop[labels]
    return kept


def _drop_specks(mask: NDArray[np.bool_], min_area: float, keep_ratio: float) -> NDArray[np.bool_]:
    """Remove components smaller than ``min_area`` pixels or ``keep_ratio`` of the largest one."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask if n <= 1 or stats[1, cv2.CC_STAT_AREA] >= min_area else np.zeros_like(mask)
    area = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(n, bool)
    keep[1:] = (area >= min_area) & (area >= keep_ratio * area.max())
    kept: NDArray[np.bool_] = keep[labels]
    return kept


@SEGMENTERS.register("solid-background")
@dataclass(frozen=True)
class SolidBackground:
    """Segment a product on a plain background by colour distance to the border's colour.

    ``threshold``: colour distance (max channel difference, 0–255) above which a pixel is product;
    ``None`` sets it from the border's noise (``max(min_threshold, 4σ)``). ``edges``: close
    white-on-white outlines with Canny edges (hysteresis thresholds ``canny``; (6, 18) and
    (10, 30) measured within 0.006 IoU of the default on the synthetic and IKEA sets).
    ``work_size``: the longer side at which the mask is computed (the alpha is resized back).
    ``max_hole``: enclosed regions smaller than this share of the product are filled whatever
    their colour. ``shadows``: remove cast shadows. ``refine``: ``"grabcut"`` runs two GrabCut
    iterations seeded by the mask. ``matting``: soften the edge with closed-form matting
    (needs pymatting).
    """

    tolerance: float = 12.0
    threshold: float | None = None
    min_threshold: float = 10.0
    edges: bool = True
    canny: tuple[float, float] = (8.0, 24.0)
    work_size: int = 640
    max_hole: float = 0.001
    hole_distance: float = 1.5
    shadows: bool = True
    min_component: float = 0.0004
    refine: Literal["none", "grabcut"] = "none"
    matting: bool = False
    name: str = field(default="solid-background", init=False)

    def __post_init__(self) -> None:
        if self.refine not in ("none", "grabcut"):
            raise InputError(f"refine: expected 'none' or 'grabcut', got {self.refine!r}")
        if self.work_size < 32:
            raise InputError(f"work_size: expected at least 32, got {self.work_size}")
        if self.threshold is not None and not 0 < self.threshold < 255:
            raise InputError(f"threshold: expected a value in (0, 255), got {self.threshold}")

    def binary(self, small: RGB, bg: BackgroundModel) -> tuple[NDArray[np.bool_], float]:
        """The product mask of an already downscaled image, and the distance threshold used."""
        h, w = small.shape[:2]
        dist = bg.distance(small)
        thr = self.threshold or max(self.min_threshold, 4.0 * bg.noise)
        mask = dist > thr
        if self.edges:
            grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
            edges = cv2.Canny(grey, self.canny[0], self.canny[1], L2gradient=True) > 0
            mask |= edges
        else:
            edges = np.zeros_like(mask)
        k = max(3, round(min(h, w) / 200) | 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, kernel) > 0
        backdrop = dist <= max(self.hole_distance, 3.0 * bg.noise)
        if self.shadows and _has_soft_rim(mask, dist, thr):
            shadow = shadow_like(small, np.ascontiguousarray(bg.render(h, w)))
            mask = _remove_shadows(mask, shadow, dist, edges, thr)
        mask = _fill_holes(mask, backdrop, self.max_hole)
        mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0
        mask = _drop_specks(mask, self.min_component * h * w, keep_ratio=0.01)
        return mask, float(thr)

    def __call__(self, image: RGB) -> Segmentation:
        image = as_rgb(image)
        h, w = image.shape[:2]
        small, scale = downscale(image, self.work_size)
        bg = estimate_background(small, tolerance=self.tolerance)
        mask, thr = self.binary(small, bg)
        if self.refine == "grabcut" and mask.any() and not mask.all():
            mask = _grabcut_refine(small, mask)
        if self.matting:
            alpha = _matte(small, mask)
            if scale < 1.0:
                alpha = cast(
                    NDArray[np.float32], cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
                )
        else:
            alpha = _edge_alpha(image, mask, bg.distance(image), thr, scale)
        return Segmentation(
            alpha=np.clip(alpha, 0.0, 1.0).astype(np.float32),
            backend=self.name,
            provenance={
                "threshold": round(thr, 2),
                "plain_fraction": round(bg.plain_fraction, 4),
                "background": [round(float(c), 1) for c in bg.color],
                "work_size": self.work_size,
                "refine": self.refine,
                "matting": self.matting,
            },
        )


def _edge_alpha(
    image: RGB, mask: NDArray[np.bool_], dist: NDArray[np.uint8], threshold: float, scale: float
) -> NDArray[np.float32]:
    """Full-resolution alpha: the work-size mask inside, colour unmixing in a band at its edge.

    In the band, ``alpha ≈ |I − B| / |F − B|`` (a pixel is a mix of product colour F and backdrop
    B), with ``|F − B|`` taken as the mean distance of nearby interior pixels; a pixel within 80 %
    of that contrast counts as fully product, so shading inside the product never thins it. Where the
    product is nearly backdrop-coloured (white on white) unmixing is unreliable, so the resized
    mask is kept there.
    """
    h, w = image.shape[:2]
    up = mask.astype(np.float32)
    if up.shape != (h, w):
        up = cast(NDArray[np.float32], cv2.resize(up, (w, h), interpolation=cv2.INTER_LINEAR))
    r = max(1, int(np.ceil(1.0 / max(scale, 1e-6))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    inside = (up >= 0.999).astype(np.uint8)
    outside = (up <= 0.001).astype(np.uint8)
    band = ~((cv2.erode(inside, kernel) > 0) | (cv2.erode(outside, kernel) > 0))
    if not band.any():
        return up
    core = cv2.erode(inside, kernel).astype(np.float32)
    size = (4 * r + 3, 4 * r + 3)
    weight = cv2.boxFilter(core, -1, size, normalize=False)
    contrast = cv2.boxFilter(dist.astype(np.float32) * core, -1, size, normalize=False)
    contrast = contrast / np.maximum(weight, 1e-6)
    unmix = np.clip(dist.astype(np.float32) / np.maximum(0.8 * contrast, 1.0), 0.0, 1.0)
    usable = band & (weight > 0) & (contrast >= 2.0 * threshold)
    alpha = up.copy()
    alpha[usable] = unmix[usable]
    return alpha


def _grabcut_refine(image: RGB, mask: NDArray[np.bool_], iterations: int = 2) -> NDArray[np.bool_]:
    """Refine a mask with GrabCut: a band around its edge is left for GrabCut to decide."""
    h, w = mask.shape
    k = max(3, round(min(h, w) / 80) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    m8 = mask.astype(np.uint8)
    sure_fg = cv2.erode(m8, kernel) > 0
    maybe = cv2.dilate(m8, kernel) > 0
    gc = np.full((h, w), cv2.GC_BGD, np.uint8)
    gc[maybe] = cv2.GC_PR_BGD
    gc[mask] = cv2.GC_PR_FGD
    gc[sure_fg] = cv2.GC_FGD
    refined = run_grabcut(image, gc, iterations)
    if refined is None:  # a degenerate model (one colour): keep the input mask
        log.debug("grabcut refinement skipped: degenerate colour model")
        return mask
    return refined


def _matte(image: RGB, mask: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Closed-form matting (Levin et al. 2008, via pymatting) on a trimap around the mask edge."""
    try:
        from pymatting import estimate_alpha_cf
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise BackendUnavailable("matting needs pymatting: pip install 'adstage[matting]'") from exc
    h, w = mask.shape
    k = max(3, round(min(h, w) / 150) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    m8 = mask.astype(np.uint8)
    trimap = np.full((h, w), 0.5)
    trimap[cv2.erode(m8, kernel) > 0] = 1.0
    trimap[cv2.dilate(m8, kernel) == 0] = 0.0
    if not (trimap == 0.5).any():
        return mask.astype(np.float32)
    alpha = estimate_alpha_cf(image.astype(np.float64) / 255.0, trimap)
    out: NDArray[np.float32] = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    return out
