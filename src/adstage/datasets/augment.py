"""Dual augmentation of a product on white (RefAdGen §3.2, AdProd-100K): small novel viewpoints and
degradations, each deterministic given its seed and bounded by :class:`Bounds`.

The paper renders its viewpoints with 3D Gaussian splatting from the product; nothing here can fit
a 3-D model from one photo, so :class:`Relief25D` makes a documented **2.5D approximation**:

1. *depth proxy*: the product is a relief over its mask; its height at a pixel is
   ``relief × r × (1 - (1 - d/r)²)`` where ``d`` is the pixel's distance to the mask's edge
   (``cv2.distanceTransform``) and ``r`` the largest such distance: a dome with a finite slope at
   the silhouette (twice ``relief``);
2. *re-projection*: every product pixel is rotated about the product's centroid by ``yaw`` (about
   the vertical axis) and ``pitch`` (horizontal axis), shifted by ``(tx, ty)`` and projected with a
   mild perspective (focal length 4 × the image's longer side); each pixel is splatted over a 2×2
   footprint and then at its nearest position, farthest first (a z-buffer by draw order), so the
   nearer surface hides the farther one;
3. *disocclusions*: the new mask is the covered pixels eroded back by the footprint and closed by
   a 3×3 ellipse; its pixels that no source pixel reached (stretched surface) are filled with
   ``cv2.inpaint`` (Telea).

It is right for convex, roughly front-facing products and small angles; it cannot show a side the
photo does not show, and thin structures (chair legs) bend with the dome. A real renderer (a
Gaussian-splatting model of the product) plugs in through :class:`ViewRenderer`.

After the view, a **perspective/affine jitter** (rotation, scale, shift, corner jitter) warps image
and mask together. **Degradations** (a *degradation* variant takes two or three, in the fixed order
warp, lighting, temperature, blur, noise, JPEG): a smooth *warp* field; *lighting*: a soft shadow
edge across the product and an exposure change; colour *temperature*; Gaussian *blur*; Gaussian
*noise*; *JPEG* re-encoding. Photometric changes apply to the product pixels only.

Every geometric step moves the mask with the image (nearest neighbour), and every step ends by
painting the pixels outside the mask white, so a variant's mask always covers its product pixels
(non-white pixels lie inside the mask). Each step returns a JSON-able record of its parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, cast, runtime_checkable

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import AdstageError, InputError
from adstage.types import RGB

__all__ = [
    "DEGRADATIONS",
    "Bounds",
    "Relief25D",
    "Variant",
    "View",
    "ViewRenderer",
    "augment",
    "blur",
    "jitter",
    "jpeg",
    "lighting",
    "noise",
    "on_white",
    "temperature",
    "warp",
]

Mask = NDArray[np.bool_]
WHITE = 255


@dataclass(frozen=True)
class Bounds:
    """The largest change each augmentation may draw (``|value| ≤ bound`` unless said).

    Viewpoint: ``yaw_deg``, ``pitch_deg`` (camera rotation), ``shift`` (camera translation, a
    fraction of the image side), ``relief`` (the depth proxy's height over the inscribed radius,
    drawn in ``[relief/2, relief]``). Jitter: ``rotate_deg``, ``scale`` (``|s - 1|``),
    ``translate`` (fraction of the side), ``perspective`` (corner jitter, fraction of the side).
    Degradations: ``warp`` (displacement, fraction of the side), ``shadow`` (darkening of the
    shadowed part, in ``[0, shadow]``), ``exposure`` (``|gain - 1|``), ``temperature`` (red gain
    ``1 + t``, blue gain ``1 - t``), ``blur_sigma`` (pixels, in ``[0.3, blur_sigma]``),
    ``noise_sigma`` (of ``[0, 1]`` intensities, in ``[0.005, noise_sigma]``), ``jpeg_quality``
    (in ``[jpeg_quality, 95]``).
    """

    yaw_deg: float = 12.0
    pitch_deg: float = 8.0
    shift: float = 0.02
    relief: float = 0.6
    rotate_deg: float = 3.0
    scale: float = 0.05
    translate: float = 0.02
    perspective: float = 0.03
    warp: float = 0.012
    shadow: float = 0.4
    exposure: float = 0.15
    temperature: float = 0.1
    blur_sigma: float = 1.5
    noise_sigma: float = 0.04
    jpeg_quality: int = 40

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise InputError(f"bounds.{name}: expected a number ≥ 0, got {value!r}")
        if not 1 <= self.jpeg_quality <= 95:
            raise InputError(f"bounds.jpeg_quality: expected 1..95, got {self.jpeg_quality!r}")
        if self.shadow > 1 or self.exposure >= 1 or self.temperature >= 1:
            raise InputError("bounds: shadow must be ≤ 1, exposure and temperature < 1")


@dataclass(frozen=True)
class Variant:
    """One product image of a triplet: ``image`` (``H×W×3`` uint8, product on white), ``mask``
    (``bool`` ``H×W``, covers every non-white pixel) and ``record`` (what was done, JSON-able)."""

    image: RGB
    mask: Mask
    record: dict[str, Any]


def _check(image: RGB, mask: Mask) -> tuple[RGB, Mask]:
    img = np.asarray(image)
    m = np.asarray(mask)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise InputError(f"image: expected H×W×3 uint8, got {img.shape} {img.dtype}")
    if m.shape != img.shape[:2]:
        raise InputError(f"mask: shape {m.shape} does not match the image's {img.shape[:2]}")
    return img, m.astype(bool)


def on_white(image: RGB, mask: Mask) -> RGB:
    """``image`` with every pixel outside ``mask`` set to white."""
    out = np.array(image, np.uint8, copy=True)
    out[~np.asarray(mask, bool)] = WHITE
    return out


def _u(rng: np.random.Generator, bound: float) -> float:
    return float(rng.uniform(-bound, bound))


def _r(value: float) -> float:
    return round(float(value), 5)


# ------------------------------------------------------------------------------------------------
# viewpoint


@dataclass(frozen=True)
class View:
    """A small camera move: rotation about the vertical (``yaw_deg``) and horizontal
    (``pitch_deg``) axes through the product's centroid, a shift ``(tx, ty)`` in pixels, and the
    depth proxy's ``relief``."""

    yaw_deg: float
    pitch_deg: float
    tx: float
    ty: float
    relief: float


@runtime_checkable
class ViewRenderer(Protocol):
    """Renders the product seen from ``view``: the plug point for a real renderer (e.g. a
    Gaussian-splatting model of the product). Returns the new image (product on white) and mask."""

    name: str

    def __call__(self, image: RGB, mask: Mask, view: View) -> tuple[RGB, Mask]: ...


@dataclass(frozen=True)
class Relief25D:
    """The 2.5D approximation of a novel view (see the module docstring)."""

    name: str = "relief-2.5d"

    def __call__(self, image: RGB, mask: Mask, view: View) -> tuple[RGB, Mask]:
        image, mask = _check(image, mask)
        h, w = mask.shape
        ys, xs = np.nonzero(mask)
        if len(ys) == 0:
            return on_white(image, mask), mask
        dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
        r = float(dist.max())
        d = dist[ys, xs] / max(r, 1e-6)
        z = view.relief * r * (1.0 - (1.0 - d) ** 2)
        cx, cy = float(xs.mean()), float(ys.mean())
        yaw, pitch = math.radians(view.yaw_deg), math.radians(view.pitch_deg)
        ry = np.array(
            [[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]]
        )
        rx = np.array(
            [
                [1, 0, 0],
                [0, math.cos(pitch), -math.sin(pitch)],
                [0, math.sin(pitch), math.cos(pitch)],
            ]
        )
        points = np.stack([xs - cx, ys - cy, z], axis=0)
        px, py, pz = (rx @ ry) @ points
        focal = 4.0 * max(h, w)
        s = focal / (focal - pz)
        xf, yf = cx + view.tx + px * s, cy + view.ty + py * s
        xn, yn = np.rint(xf).astype(np.int64), np.rint(yf).astype(np.int64)
        order = np.argsort(pz, kind="stable")  # far first: the nearest is written last
        out = np.full_like(image, WHITE)
        cover = np.zeros((h, w), bool)
        # two passes: a 2×2 footprint per pixel (a stretched surface leaves few gaps), then each
        # pixel at its nearest position on top
        for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1), (0, 0)):
            x, y = xn[order] + dx, yn[order] + dy
            inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
            out[y[inside], x[inside]] = image[ys[order][inside], xs[order][inside]]
            cover[y[inside], x[inside]] = True
        # the footprint grew the silhouette by one pixel right and down: erode it back (so
        # the identity view gives the mask back), then close the remaining one-pixel gaps
        shrunk = cv2.erode(cover.astype(np.uint8), np.ones((2, 2), np.uint8), anchor=(0, 0))
        ellipse = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        new_mask = cv2.morphologyEx(shrunk, cv2.MORPH_CLOSE, ellipse).astype(bool)
        holes = new_mask & ~cover
        if holes.any():
            out = np.asarray(
                cv2.inpaint(out, holes.astype(np.uint8), 3, cv2.INPAINT_TELEA), np.uint8
            )
        return on_white(out, new_mask), new_mask


def _sample_view(rng: np.random.Generator, bounds: Bounds, shape: tuple[int, int]) -> View:
    side = max(shape)
    return View(
        yaw_deg=_r(_u(rng, bounds.yaw_deg)),
        pitch_deg=_r(_u(rng, bounds.pitch_deg)),
        tx=_r(_u(rng, bounds.shift) * side),
        ty=_r(_u(rng, bounds.shift) * side),
        relief=_r(rng.uniform(bounds.relief / 2, bounds.relief)),
    )


def _warp_both(image: RGB, mask: Mask, matrix: NDArray[np.float64]) -> tuple[RGB, Mask]:
    h, w = mask.shape
    img = cv2.warpPerspective(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=(WHITE, WHITE, WHITE)
    )
    m = cv2.warpPerspective(
        mask.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0
    ).astype(bool)
    return on_white(np.asarray(img, np.uint8), m), m


def jitter(
    image: RGB,
    mask: Mask,
    *,
    rotate_deg: float,
    scale: float,
    tx: float,
    ty: float,
    corners: Sequence[Sequence[float]],
) -> tuple[RGB, Mask]:
    """Affine (``rotate_deg``, ``scale`` about the image centre, shift ``tx, ty`` pixels) then
    perspective jitter: the image corners move by ``corners`` (4 × (dx, dy) pixels)."""
    image, mask = _check(image, mask)
    h, w = mask.shape
    affine = np.vstack(
        [cv2.getRotationMatrix2D((w / 2, h / 2), rotate_deg, scale), [0.0, 0.0, 1.0]]
    )
    affine[0, 2] += tx
    affine[1, 2] += ty
    src = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    dst = src + np.asarray(corners, np.float32).reshape(4, 2)
    persp = cv2.getPerspectiveTransform(src, dst).astype(np.float64)
    return _warp_both(image, mask, persp @ affine)


def _sample_jitter(
    rng: np.random.Generator, bounds: Bounds, shape: tuple[int, int]
) -> dict[str, Any]:
    side = max(shape)
    return {
        "rotate_deg": _r(_u(rng, bounds.rotate_deg)),
        "scale": _r(1.0 + _u(rng, bounds.scale)),
        "tx": _r(_u(rng, bounds.translate) * side),
        "ty": _r(_u(rng, bounds.translate) * side),
        "corners": [[_r(_u(rng, bounds.perspective) * side) for _ in range(2)] for _ in range(4)],
    }


# ------------------------------------------------------------------------------------------------
# degradations


def warp(
    image: RGB, mask: Mask, *, amplitude: float, field_seed: int, grid: int = 4
) -> tuple[RGB, Mask]:
    """A smooth displacement field: ``grid × grid`` uniform values in [-1, 1] per axis (from
    ``field_seed``), upsampled bicubically, clipped to [-1, 1] and scaled by ``amplitude`` pixels;
    no pixel moves more than ``amplitude`` along either axis."""
    image, mask = _check(image, mask)
    h, w = mask.shape
    coarse = np.random.default_rng(field_seed).uniform(-1, 1, (2, grid, grid)).astype(np.float32)
    dx = np.clip(cv2.resize(coarse[0], (w, h), interpolation=cv2.INTER_CUBIC), -1, 1) * amplitude
    dy = np.clip(cv2.resize(coarse[1], (w, h), interpolation=cv2.INTER_CUBIC), -1, 1) * amplitude
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + dx, gy + dy
    img = cv2.remap(
        image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255)
    )
    m = cv2.remap(
        mask.astype(np.uint8),
        mx,
        my,
        cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    ).astype(bool)
    return on_white(np.asarray(img, np.uint8), m), m


def lighting(
    image: RGB,
    mask: Mask,
    *,
    angle_deg: float,
    offset: float,
    softness: float,
    shadow: float,
    exposure: float,
) -> tuple[RGB, Mask]:
    """A soft shadow edge across the product and an exposure change: the gain is
    ``(1 + exposure) × (1 - shadow × s)``, where ``s`` ramps from 0 to 1 across a band of width
    ``softness`` (a fraction of the product's box diagonal) at ``offset`` from its centre, along
    the direction ``angle_deg``. Only product pixels change."""
    image, mask = _check(image, mask)
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return on_white(image, mask), mask
    h, w = mask.shape
    cx, cy = xs.mean(), ys.mean()
    diag = math.hypot(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    a = math.radians(angle_deg)
    u = ((gx - cx) * math.cos(a) + (gy - cy) * math.sin(a)) / diag
    s = np.clip((u - offset) / max(softness, 1e-3) + 0.5, 0.0, 1.0)
    gain = (1.0 + exposure) * (1.0 - shadow * s)
    out = image.astype(np.float32) * gain[:, :, None]
    return on_white(np.clip(np.rint(out), 0, 255).astype(np.uint8), mask), mask


def temperature(image: RGB, mask: Mask, *, shift: float) -> tuple[RGB, Mask]:
    """Colour temperature: red × ``(1 + shift)``, blue × ``(1 - shift)`` (warmer for shift > 0);
    only product pixels change."""
    image, mask = _check(image, mask)
    gains = np.array([1.0 + shift, 1.0, 1.0 - shift], np.float32)
    out = np.clip(np.rint(image.astype(np.float32) * gains), 0, 255).astype(np.uint8)
    return on_white(out, mask), mask


def blur(image: RGB, mask: Mask, *, sigma: float) -> tuple[RGB, Mask]:
    """Gaussian blur of ``sigma`` pixels (the background is white again afterwards)."""
    image, mask = _check(image, mask)
    out = cv2.GaussianBlur(image, (0, 0), sigmaX=max(sigma, 1e-3))
    return on_white(np.asarray(out, np.uint8), mask), mask


def noise(image: RGB, mask: Mask, *, sigma: float, noise_seed: int) -> tuple[RGB, Mask]:
    """Additive Gaussian noise of standard deviation ``sigma`` (of [0, 1] intensities) on the
    product pixels, from ``noise_seed``."""
    image, mask = _check(image, mask)
    n = np.random.default_rng(noise_seed).normal(0.0, sigma * 255.0, image.shape)
    out = np.clip(np.rint(image.astype(np.float32) + n.astype(np.float32)), 0, 255)
    return on_white(out.astype(np.uint8), mask), mask


def jpeg(image: RGB, mask: Mask, *, quality: int) -> tuple[RGB, Mask]:
    """Re-encode as JPEG at ``quality`` (the background is white again afterwards)."""
    image, mask = _check(image, mask)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:  # pragma: no cover - cv2 encodes any uint8 image
        raise AdstageError("could not encode the image as JPEG")
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:  # pragma: no cover - cv2 decodes what it encoded
        raise AdstageError("could not decode the JPEG it encoded")
    out = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8)
    return on_white(out, mask), mask


Sampler = Callable[[np.random.Generator, Bounds, tuple[int, int]], dict[str, Any]]
Op = Callable[..., tuple[RGB, Mask]]

DEGRADATIONS: dict[str, tuple[Op, Sampler]] = {
    "warp": (
        warp,
        lambda rng, b, shape: {
            "amplitude": _r(rng.uniform(0.25, 1.0) * b.warp * max(shape)),
            "field_seed": int(rng.integers(2**31)),
        },
    ),
    "lighting": (
        lighting,
        lambda rng, b, shape: {
            "angle_deg": _r(rng.uniform(0, 360)),
            "offset": _r(rng.uniform(-0.3, 0.3)),
            "softness": _r(rng.uniform(0.1, 0.6)),
            "shadow": _r(rng.uniform(0, b.shadow)),
            "exposure": _r(_u(rng, b.exposure)),
        },
    ),
    "temperature": (temperature, lambda rng, b, shape: {"shift": _r(_u(rng, b.temperature))}),
    "blur": (
        blur,
        lambda rng, b, shape: {"sigma": _r(rng.uniform(min(0.3, b.blur_sigma), b.blur_sigma))},
    ),
    "noise": (
        noise,
        lambda rng, b, shape: {
            "sigma": _r(rng.uniform(min(0.005, b.noise_sigma), b.noise_sigma)),
            "noise_seed": int(rng.integers(2**31)),
        },
    ),
    "jpeg": (jpeg, lambda rng, b, shape: {"quality": int(rng.integers(b.jpeg_quality, 96))}),
}
"""Each degradation: the function and its parameter sampler, in the order they are applied."""


def augment(
    image: RGB,
    mask: Mask,
    variant: int,
    *,
    seed: int | Sequence[int],
    bounds: Bounds | None = None,
    renderer: ViewRenderer | None = None,
) -> Variant:
    """Variant ``variant`` of a product on white: 0 is the product itself; odd variants are
    *viewpoint* variants (``renderer``, default :class:`Relief25D`, then :func:`jitter`); even
    ones are *degradation* variants (two or three of :data:`DEGRADATIONS`). Everything is drawn
    from ``np.random.default_rng(seed)``: the same seed gives the same bytes."""
    image, mask = _check(image, mask)
    if isinstance(variant, bool) or not isinstance(variant, int) or variant < 0:
        raise InputError(f"variant: expected an integer ≥ 0, got {variant!r}")
    bounds = bounds or Bounds()
    seed_list = [int(seed)] if isinstance(seed, int | np.integer) else [int(s) for s in seed]
    rng = np.random.default_rng(seed_list)
    shape = cast(tuple[int, int], mask.shape)
    record: dict[str, Any] = {"variant": variant, "seed": seed_list}
    img, m = on_white(image, mask), mask
    if variant == 0:
        return Variant(img, m, record | {"kind": "original", "ops": []})
    ops: list[dict[str, Any]] = []
    if variant % 2 == 1:
        render = renderer if renderer is not None else Relief25D()
        view = _sample_view(rng, bounds, shape)
        img, m = render(img, m, view)
        ops.append({"op": "view", "renderer": render.name} | asdict(view))
        params = _sample_jitter(rng, bounds, shape)
        img, m = jitter(img, m, **params)
        ops.append({"op": "jitter"} | params)
        kind = "viewpoint"
    else:
        names = list(DEGRADATIONS)
        k = int(rng.integers(2, 4))
        chosen = set(rng.choice(len(names), size=k, replace=False).tolist())
        for i, name in enumerate(names):
            if i not in chosen:
                continue
            fn, sampler = DEGRADATIONS[name]
            params = sampler(rng, bounds, shape)
            img, m = fn(img, m, **params)
            ops.append({"op": name} | params)
        kind = "degradation"
    return Variant(img, m, record | {"kind": kind, "ops": ops})
