"""Product fidelity and image quality between two images of one size: bit-exactness and CIEDE2000
inside a mask, placement IoU, and PSNR / SSIM / MS-SSIM on the whole image, inside a mask and
inside a band around the mask's edge. One implementation for ``adstage eval fidelity`` and the
inpainting benchmark (``benchmarks/inpaint.py``). numpy and OpenCV only (no torch).

Images are ``uint8`` ``H×W×3`` RGB (``data_range`` 255); masks ``H×W``, bool or float in
``[0, 1]``, binarised at :data:`adstage.types.THRESHOLD` (1 = product / region counts).

**Colour difference.** sRGB → CIE XYZ → CIELAB with the D65 white, as IEC 61966-2-1:1999 defines
sRGB: the inverse transfer curve (``v/12.92`` up to 0.04045, else ``((v + .055)/1.055)^2.4``),
the RGB → XYZ matrix derived from the sRGB primaries (x, y) R (.64, .33), G (.30, .60),
B (.15, .06) and the D65 white (.3127, .3290), then CIE 1976 L*a*b* (CIE 15:2004) relative to
that white (so sRGB white is L* 100, a* = b* = 0 exactly). ΔE00 is CIEDE2000 exactly as written
in Sharma, Wu & Dalal, "The CIEDE2000 color-difference formula: implementation notes,
supplementary test data, and mathematical observations", Color Res. Appl. 30(1), 2005, eqs. 1–17
(with their notes: h' = 0 when a' = b' = 0; the mean hue and Δh' rules for C'1·C'2 = 0 and for
hue differences over 180°), kL = kC = kH = 1. Their 34 test pairs are in the tests.

**SSIM** (Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to
structural similarity", IEEE TIP 13(4), 2004, eqs. 13 and §III-C): per colour channel, local
means, variances and covariance under an 11×11 circular-symmetric Gaussian window, σ = 1.5
(normalised to sum 1; population (co)variances, i.e. divided by the weight sum, not ``n − 1``),
``C1 = (.01·255)²``, ``C2 = (.03·255)²``::

    SSIM(x, y) = (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))

The map is computed at every pixel (the window reflected at the image border, ``dcb|abcd``, as
scipy's ``reflect`` and OpenCV's ``BORDER_REFLECT``) and averaged over the three channels.

- *whole image*: the mean of the map over the pixels whose window lies inside the image (a
  5-px border left out), as the paper's MATLAB code (``filter2(..., 'valid')``) and
  ``skimage.metrics.structural_similarity`` do;
- *inside a region* (mask or band): the plain mean of the full map over the region's pixels,
  border pixels included (their windows reflected). So a region of all ones differs from the
  whole-image value by the border.

**MS-SSIM** (Wang, Simoncelli & Bovik, "Multi-scale structural similarity for image quality
assessment", Asilomar 2003, eq. 7): five scales, the image low-passed and halved between them
by a 2×2 mean (an odd last row / column dropped), exponents β = (.0448, .2856, .3001, .2363,
.1333): the contrast-structure term ``cs = (2 σxy + C2)/(σx² + σy² + C2)`` at scales 1–4, the
full SSIM at scale 5, each averaged as SSIM is (valid pixels for the whole image), clamped at 0
before the power (a negative mean would give a complex power; torchmetrics' ``normalize="relu"``
and pytorch-msssim do the same), multiplied. Images need at least :data:`MS_SSIM_MIN_SIDE`
pixels a side (the fifth scale must hold one whole window). In a region, the region's mask is
halved with the image by the same 2×2 mean and used at each scale as weights of a weighted mean
of the full map (so at coarse scales a thin band becomes a fractional weight spread over its
neighbourhood).

**PSNR**: ``10 log10(255² / MSE)``, the MSE over the region's pixels and the three channels; two
regions identical give ``inf``.

**Band**: :func:`boundary_band`, the pixels within ``width`` px (exact Euclidean distance) of
the mask's edge, on both sides by default: mask pixels whose distance to the nearest non-mask
pixel is ≤ ``width`` plus non-mask pixels whose distance to the nearest mask pixel is ≤
``width`` (so ±w around the edge, 2w px thick). The image border is not an edge.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.evaluate.pairs import Pair, Pairing, pair_folders, read_same_size
from adstage.types import THRESHOLD

__all__ = [
    "BAND_PX",
    "K1",
    "K2",
    "MS_SSIM_BETAS",
    "MS_SSIM_MIN_SIDE",
    "SIGMA",
    "WINDOW",
    "ColourDifference",
    "FidelityReport",
    "FidelityScore",
    "binary_mask",
    "bit_exact",
    "boundary_band",
    "ciede2000",
    "delta_e00",
    "fidelity",
    "fidelity_paths",
    "ms_ssim",
    "placement_iou",
    "psnr",
    "srgb_to_lab",
    "ssim",
    "ssim_map",
]

BAND_PX = 10
"""Default half-width of the boundary band, px."""
SIGMA = 1.5
WINDOW = 11
K1, K2 = 0.01, 0.03
DATA_RANGE = 255.0
MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_MIN_SIDE = WINDOW * 2 ** (len(MS_SSIM_BETAS) - 1)
"""176: the smallest side whose fifth scale (side // 16) still holds one whole 11-px window."""

_PAD = WINDOW // 2
_C1 = (K1 * DATA_RANGE) ** 2
_C2 = (K2 * DATA_RANGE) ** 2

# ---------------------------------------------------------------------------------------------
# Inputs


def _image(x: Any, name: str) -> NDArray[np.uint8]:
    a = np.asarray(x)
    if a.ndim != 3 or a.shape[-1] != 3 or a.dtype != np.uint8:
        raise InputError(f"{name}: expected uint8 H×W×3 RGB, got {a.dtype} of shape {a.shape}")
    return a


def _pair(a: Any, b: Any) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    x, y = _image(a, "a"), _image(b, "b")
    if x.shape != y.shape:
        raise InputError(
            f"a and b: expected one size, got {x.shape[0]}×{x.shape[1]} and "
            f"{y.shape[0]}×{y.shape[1]} (H×W); images are never resized"
        )
    return x, y


def binary_mask(mask: Any, shape: tuple[int, ...], name: str = "mask") -> NDArray[np.bool_]:
    """``mask`` (``H×W``, bool or float in ``[0, 1]``) as bool, ``>= THRESHOLD``; its shape must
    be ``shape[:2]``."""
    m = np.asarray(mask)
    if m.shape != tuple(shape[:2]):
        raise InputError(f"{name}: expected H×W = {shape[0]}×{shape[1]}, got shape {m.shape}")
    if m.dtype == np.bool_:
        return m
    if m.dtype.kind not in "fiu":
        raise InputError(f"{name}: expected bool or float in [0, 1], got {m.dtype}")
    f = m.astype(np.float64)
    if not np.isfinite(f).all() or f.min() < 0 or f.max() > 1:
        raise InputError(f"{name}: expected values in [0, 1] (or bool)")
    return np.asarray(f >= THRESHOLD)


def _region(mask: Any, shape: tuple[int, ...], name: str) -> NDArray[np.bool_]:
    m = binary_mask(mask, shape, name)
    if not m.any():
        raise InputError(f"{name}: empty (no pixel >= {THRESHOLD}): nothing to measure")
    return m


# ---------------------------------------------------------------------------------------------
# Masks


def placement_iou(a: Any, b: Any) -> float:
    """Intersection over union of two binary masks of one size (e.g. where the product was asked
    to go and where it is). Both empty: 1 (nothing placed, nothing asked)."""
    ma = binary_mask(a, np.shape(a), "a")
    mb = binary_mask(b, np.shape(a), "b")
    union = int((ma | mb).sum())
    return float((ma & mb).sum()) / union if union else 1.0


def boundary_band(
    mask: Any, width: int = BAND_PX, *, side: Literal["both", "inside", "outside"] = "both"
) -> NDArray[np.bool_]:
    """The pixels within ``width`` px (exact Euclidean distance) of the edge of ``mask``.

    ``side="inside"``: mask pixels whose nearest non-mask pixel is at most ``width`` away (a
    ``width``-px ring inside the edge); ``"outside"``: non-mask pixels whose nearest mask pixel
    is at most ``width`` away; ``"both"`` (default): their union, ±``width`` around the edge.
    The image border is not an edge; a mask with no edge gives an empty band.
    """
    if isinstance(width, bool) or not isinstance(width, int | np.integer) or width < 1:
        raise InputError(f"width: expected a whole number of pixels >= 1, got {width!r}")
    if side not in ("both", "inside", "outside"):
        raise InputError(f"side: expected 'both', 'inside' or 'outside', got {side!r}")
    m = binary_mask(mask, np.shape(mask))
    if not m.any() or m.all():
        return np.zeros(m.shape, bool)
    band = np.zeros(m.shape, bool)
    if side in ("both", "inside"):
        band |= m & (_distance(m) <= width)
    if side in ("both", "outside"):
        band |= ~m & (_distance(~m) <= width)
    return band


def _distance(m: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Exact Euclidean distance of each True pixel to the nearest False one (Felzenszwalb &
    Huttenlocher's transform, OpenCV's ``DIST_MASK_PRECISE``)."""
    return np.asarray(
        cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE),
        np.float32,
    )


# ---------------------------------------------------------------------------------------------
# Product fidelity


def bit_exact(a: Any, b: Any, mask: Any) -> float:
    """The share of the mask's pixels whose three channels are identical in ``a`` and ``b``."""
    x, y = _pair(a, b)
    m = _region(mask, x.shape, "mask")
    return float((x[m] == y[m]).all(axis=1).mean())


_PRIMARIES = np.array([[0.64, 0.33], [0.30, 0.60], [0.15, 0.06]])
_D65_XY = (0.3127, 0.3290)


def _rgb_to_xyz_matrix() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The sRGB → XYZ matrix (rows X, Y, Z) from the primaries and white point, and the white's
    XYZ (Y = 1)."""
    x, y = _PRIMARIES[:, 0], _PRIMARIES[:, 1]
    xyz = np.stack([x / y, np.ones(3), (1 - x - y) / y])  # columns: each primary at Y = 1
    wx, wy = _D65_XY
    white = np.array([wx / wy, 1.0, (1 - wx - wy) / wy])
    scale = np.linalg.solve(xyz, white)  # each primary's Y so that R = G = B = 1 is the white
    return xyz * scale, white


_RGB2XYZ, WHITE_D65 = _rgb_to_xyz_matrix()


def srgb_to_lab(rgb: Any) -> NDArray[np.float64]:
    """CIELAB (D65) of sRGB colours: ``uint8`` (0–255) or float in ``[0, 1]``, ``…×3``."""
    v = np.asarray(rgb)
    if v.shape[-1:] != (3,):
        raise InputError(f"rgb: expected …×3 colours, got shape {v.shape}")
    c = v.astype(np.float64) / 255.0 if v.dtype == np.uint8 else v.astype(np.float64)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    t = (linear @ _RGB2XYZ.T) / WHITE_D65
    eps, kappa = (6 / 29) ** 3, (29 / 6) ** 2 / 3  # CIE 15: t > (6/29)³ → cube root
    f = np.where(t > eps, np.cbrt(t), kappa * t + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


def ciede2000(lab1: Any, lab2: Any) -> NDArray[np.float64]:
    """CIEDE2000 ΔE00 of CIELAB colours ``…×3`` (Sharma, Wu & Dalal 2005, eqs. 1–17;
    kL = kC = kH = 1)."""
    p, q = np.asarray(lab1, np.float64), np.asarray(lab2, np.float64)
    if p.shape != q.shape or p.shape[-1:] != (3,):
        raise InputError(
            f"lab1, lab2: expected two …×3 arrays of one shape, got {p.shape}, {q.shape}"
        )
    L1, a1, b1 = np.moveaxis(p, -1, 0)
    L2, a2, b2 = np.moveaxis(q, -1, 0)
    # eqs. 2–7: a' stretched by G, C', h' in degrees [0, 360), h' = 0 for a neutral colour
    c_bar7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.where((a1p == 0) & (b1 == 0), 0.0, np.degrees(np.arctan2(b1, a1p)) % 360)
    h2p = np.where((a2p == 0) & (b2 == 0), 0.0, np.degrees(np.arctan2(b2, a2p)) % 360)
    # eqs. 8–11
    dlp, dcp = L2 - L1, c2p - c1p
    neutral = c1p * c2p == 0
    dh = h2p - h1p
    dhp = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dhp = np.where(neutral, 0.0, dhp)
    dHp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dhp) / 2)
    # eqs. 12–17
    lbp, cbp = (L1 + L2) / 2, (c1p + c2p) / 2
    hsum = h1p + h2p
    hbp = np.where(
        np.abs(h1p - h2p) <= 180, hsum / 2, np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2)
    )
    hbp = np.where(neutral, hsum, hbp)
    t = (
        1
        - 0.17 * np.cos(np.radians(hbp - 30))
        + 0.24 * np.cos(np.radians(2 * hbp))
        + 0.32 * np.cos(np.radians(3 * hbp + 6))
        - 0.20 * np.cos(np.radians(4 * hbp - 63))
    )
    dtheta = 30 * np.exp(-(((hbp - 275) / 25) ** 2))
    rc = 2 * np.sqrt(cbp**7 / (cbp**7 + 25.0**7))
    sl = 1 + 0.015 * (lbp - 50) ** 2 / np.sqrt(20 + (lbp - 50) ** 2)
    sc = 1 + 0.045 * cbp
    sh = 1 + 0.015 * cbp * t
    rt = -np.sin(np.radians(2 * dtheta)) * rc
    dl, dc, dhh = dlp / sl, dcp / sc, dHp / sh
    return np.asarray(np.sqrt(dl**2 + dc**2 + dhh**2 + rt * dc * dhh), np.float64)


@dataclass(frozen=True)
class ColourDifference:
    """ΔE00 over a mask's pixels: mean, 95th percentile (linear interpolation) and maximum."""

    mean: float
    p95: float
    max: float


def delta_e00(a: Any, b: Any, mask: Any) -> ColourDifference:
    """CIEDE2000 between ``a`` and ``b`` (sRGB → Lab D65) at each pixel of ``mask``."""
    x, y = _pair(a, b)
    m = _region(mask, x.shape, "mask")
    d = ciede2000(srgb_to_lab(x[m]), srgb_to_lab(y[m]))
    return ColourDifference(float(d.mean()), float(np.percentile(d, 95)), float(d.max()))


# ---------------------------------------------------------------------------------------------
# PSNR, SSIM, MS-SSIM


def psnr(a: Any, b: Any, region: Any = None) -> float:
    """``10 log10(255² / MSE)`` over the whole image or the pixels of ``region`` (three
    channels); ``inf`` where the two are identical."""
    x, y = _pair(a, b)
    d = x.astype(np.float64) - y.astype(np.float64)
    if region is not None:
        d = d[_region(region, x.shape, "region")]
    mse = float(np.mean(d * d))
    return math.inf if mse == 0 else 10.0 * math.log10(DATA_RANGE**2 / mse)


def _gaussian() -> NDArray[np.float64]:
    r = np.arange(WINDOW, dtype=np.float64) - _PAD
    g = np.exp(-(r**2) / (2 * SIGMA**2))
    return np.asarray(g / g.sum(), np.float64)


_KERNEL = _gaussian()


def _blur(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """The Gaussian window's weighted mean around each pixel, border reflected (``dcb|abcd``)."""
    return np.asarray(
        cv2.sepFilter2D(x, cv2.CV_64F, _KERNEL, _KERNEL, borderType=cv2.BORDER_REFLECT),
        np.float64,
    )


def _ssim_terms(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per pixel and channel (``H×W×3``): the luminance term and the contrast-structure term."""
    mx, my = _blur(x), _blur(y)
    vx = _blur(x * x) - mx * mx
    vy = _blur(y * y) - my * my
    cxy = _blur(x * y) - mx * my
    lum = (2 * mx * my + _C1) / (mx * mx + my * my + _C1)
    cs = (2 * cxy + _C2) / (vx + vy + _C2)
    return lum, cs


def ssim_map(a: Any, b: Any) -> NDArray[np.float64]:
    """The SSIM map (``H×W``, float64) of two images: at every pixel, its window reflected at the
    border, averaged over the three channels."""
    x, y = _pair(a, b)
    _check_side(x.shape, WINDOW, "SSIM")
    lum, cs = _ssim_terms(x.astype(np.float64), y.astype(np.float64))
    return np.asarray((lum * cs).mean(axis=2), np.float64)


def _check_side(shape: tuple[int, ...], side: int, what: str) -> None:
    if min(shape[:2]) < side:
        raise InputError(
            f"a and b: {shape[0]}×{shape[1]} (H×W) is too small for {what}; needs at least "
            f"{side} pixels a side"
        )


def _valid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """The pixels whose whole window lies inside the image."""
    return x[_PAD:-_PAD, _PAD:-_PAD]


def ssim(a: Any, b: Any, region: Any = None) -> float:
    """SSIM (Wang et al. 2004) of the whole image (mean over the pixels whose window lies inside
    it) or the mean of :func:`ssim_map` over ``region``'s pixels (see the module docstring)."""
    smap = ssim_map(a, b)
    if region is None:
        return float(_valid(smap).mean())
    return float(smap[_region(region, smap.shape, "region")].mean())


def _halve(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """2×2 mean, an odd last row / column dropped."""
    h, w = x.shape[0] // 2, x.shape[1] // 2
    y = x[: 2 * h, : 2 * w].reshape(h, 2, w, 2, *x.shape[2:])
    return np.asarray(y.mean(axis=(1, 3)), np.float64)


def ms_ssim(a: Any, b: Any, region: Any = None) -> float:
    """MS-SSIM (Wang, Simoncelli & Bovik 2003; five scales, their β) of the whole image or of
    ``region`` (its mask halved with the image and used as weights; see the module docstring).
    Needs :data:`MS_SSIM_MIN_SIDE` pixels a side."""
    x, y = _pair(a, b)
    _check_side(x.shape, MS_SSIM_MIN_SIDE, "MS-SSIM (5 scales)")
    w = None if region is None else _region(region, x.shape, "region").astype(np.float64)
    fx, fy = x.astype(np.float64), y.astype(np.float64)
    value = 1.0
    for scale, beta in enumerate(MS_SSIM_BETAS):
        lum, cs = _ssim_terms(fx, fy)
        term = (lum * cs if scale == len(MS_SSIM_BETAS) - 1 else cs).mean(axis=2)
        if w is None:
            mean = float(_valid(term).mean())
        else:
            total = float(w.sum())
            if total == 0:
                raise InputError(f"region: nothing left of it at scale {scale + 1}")
            mean = float((term * w).sum() / total)
        value *= max(mean, 0.0) ** beta
        if scale < len(MS_SSIM_BETAS) - 1:
            fx, fy = _halve(fx), _halve(fy)
            w = None if w is None else _halve(w)
    return value


# ---------------------------------------------------------------------------------------------
# All of them


@dataclass(frozen=True)
class FidelityScore:
    """Every metric of one image pair. Whole-image values always; with a mask, the product's
    fidelity (bit-exact share, ΔE00) and each quality metric inside the mask and inside the band
    (±``band`` px around its edge). ``ms_ssim*`` is None for images under
    :data:`MS_SSIM_MIN_SIDE` px a side; ``*_band`` None when the mask has no edge."""

    psnr: float
    ssim: float
    ms_ssim: float | None
    bit_exact: float | None = None
    delta_e00_mean: float | None = None
    delta_e00_p95: float | None = None
    psnr_mask: float | None = None
    ssim_mask: float | None = None
    ms_ssim_mask: float | None = None
    psnr_band: float | None = None
    ssim_band: float | None = None
    ms_ssim_band: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def fidelity(a: Any, b: Any, *, mask: Any = None, band: int = BAND_PX) -> FidelityScore:
    """All the metrics of this module for one pair (``a`` the input / reference, ``b`` the
    output), with ``mask`` the product (or hole) and ``band`` the half-width of its edge band."""
    x, y = _pair(a, b)
    _check_side(x.shape, WINDOW, "SSIM")
    smap = ssim_map(x, y)
    big = min(x.shape[:2]) >= MS_SSIM_MIN_SIDE
    whole: dict[str, Any] = {
        "psnr": psnr(x, y),
        "ssim": float(_valid(smap).mean()),
        "ms_ssim": ms_ssim(x, y) if big else None,
    }
    if mask is None:
        return FidelityScore(**whole)
    m = _region(mask, x.shape, "mask")
    ring = boundary_band(m, band)
    colour = delta_e00(x, y, m)
    scores = whole | {
        "bit_exact": bit_exact(x, y, m),
        "delta_e00_mean": colour.mean,
        "delta_e00_p95": colour.p95,
    }
    for name, region in (("mask", m), ("band", ring)):
        if region.any():
            scores |= {
                f"psnr_{name}": psnr(x, y, region),
                f"ssim_{name}": float(smap[region].mean()),
                f"ms_ssim_{name}": ms_ssim(x, y, region) if big else None,
            }
    return FidelityScore(**scores)


# ---------------------------------------------------------------------------------------------
# Folders


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _json_number(v: float | None) -> float | None:
    """``None`` for ``inf`` (identical regions' PSNR), which JSON cannot hold."""
    return None if v is None or math.isinf(v) else v


@dataclass(frozen=True)
class FidelityReport:
    """:func:`fidelity` of paired folders: per pair, the mean of each metric over the pairs that
    have it, and what was not measured and why."""

    per_image: dict[str, FidelityScore]
    failed: dict[str, str]  # pair name → reason (unreadable, sizes differ, bad mask)
    unpaired: dict[str, list[str]]
    masks: str | None = None
    band: int = BAND_PX

    @property
    def mean(self) -> dict[str, float | None]:
        rows = [s.as_dict() for s in self.per_image.values()]
        keys = list(FidelityScore.__dataclass_fields__)
        return {k: _mean([v for r in rows if (v := r[k]) is not None]) for k in keys}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: an infinite PSNR (identical) is ``null``."""
        return {
            "mean": {k: _json_number(v) for k, v in self.mean.items()},
            "n": len(self.per_image),
            "per_image": {
                name: {k: _json_number(v) for k, v in s.as_dict().items()}
                for name, s in self.per_image.items()
            },
            "failed": self.failed,
            "unpaired": self.unpaired,
            "masks": self.masks,
            "band": self.band,
        }


def fidelity_paths(
    a_dir: str | os.PathLike[str],
    b_dir: str | os.PathLike[str],
    *,
    masks: str | os.PathLike[str] | None = None,
    band: int = BAND_PX,
    pairing: Pairing | None = None,
    progress: Callable[[list[Pair]], Iterable[Pair]] | None = None,
) -> FidelityReport:
    """:func:`fidelity` of each image pair of two folders (:func:`pair_folders`), one pair at a
    time; ``masks``: a folder of masks named like the pairs. A pair that cannot be read, whose
    images differ in size (never resized) or whose mask does not fit or is empty is listed in
    ``failed`` with the reason, and the rest go on."""
    pairing = pairing or pair_folders(a_dir, b_dir, masks=masks)
    per_image: dict[str, FidelityScore] = {}
    failed: dict[str, str] = {}
    for pair in progress(pairing.pairs) if progress else pairing.pairs:
        try:
            x, y, mask = read_same_size(pair, "fidelity")
            if mask is not None and not (mask >= THRESHOLD).any():
                raise InputError(f"{pair.mask}: the mask is empty: nothing to measure")
            per_image[pair.name] = fidelity(x, y, mask=mask, band=band)
        except (InputError, OSError) as exc:
            failed[pair.name] = str(exc)
    return FidelityReport(
        per_image, failed, pairing.unpaired, None if masks is None else str(masks), band
    )
