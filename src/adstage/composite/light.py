"""Light a pasted product like the scene around it: bounded exposure and white balance.

A catalog photo is lit by a studio: even, neutral light, exposed so the background is white. The
same product standing in a room gets the room's light where it stands: dimmer in a dark corner,
warmer under tungsten. :func:`match_light` estimates that light from the scene around the
placement and applies it to the product as per-channel gains in linear RGB, i.e. a change of
exposure and white balance, never a change of contrast or texture (unlike ``harmonize``'s
colour transfer):

- the **local white** is the mean linear colour of the brightest tenth of the surroundings (a
  white-patch estimate, less biased by a brown floor than grey-world);
- **exposure**: the local white's luminance relative to the studio white (1.0), raised to
  ``strength`` and bounded to ``[min_exposure, max_exposure]``;
- **white balance**: the local white's chromaticity (its colour divided by its luminance),
  raised to ``strength`` and bounded per channel to ``[1 / max_cast, max_cast]``;
- the gains that were applied, and whether a bound was hit, are returned as a
  :class:`LightMatch` for the candidate's provenance.

White-patch and grey-world colour constancy: Land & McCann (1971); Buchsbaum (1980); gains in
linear light as in von Kries adaptation.

Also here: :func:`light_side`, where the scene's main light is across the image;
:func:`shade_product`, the product brighter on the side facing it and darker towards its base;
and :func:`lift_blacks`, the product's black level raised towards the scene's (off by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.types import RGB, as_rgb

LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
"""Rec. 709 luminance weights of linear RGB."""

_TO_LINEAR = np.array(
    [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in np.arange(256) / 255.0],
    np.float32,
)
_LUT_SIZE = 4096
_TO_SRGB = np.clip(
    np.rint(
        255.0
        * np.array(
            [
                v * 12.92 if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055
                for v in np.arange(_LUT_SIZE) / (_LUT_SIZE - 1)
            ]
        )
    ),
    0,
    255,
).astype(np.uint8)


DEEPEN_PIVOT = 0.9
""":func:`deepen_darks` keeps the product's luminance above this quantile of its own."""

DEEPEN_MIN_CONTRAST = 0.1
"""A product less contrasted than this (:func:`product_contrast`) is left as it is by
:func:`deepen_darks`: its 10th percentile is as light as its 90th, so what darks it has (a
handle, the feet) are under a tenth of it and a stretch would crush them to black."""


def product_contrast(product: NDArray[np.uint8], alpha: NDArray[np.float32]) -> float | None:
    """The log ratio of the 90th to the 10th percentile luminance (linear) of ``product``'s
    opaque pixels (``alpha`` ≥ 0.5): how far its darks fall below its lights. ``None`` with
    fewer than 16 such pixels."""
    inside = product[alpha >= 0.5]
    if len(inside) < 16:
        return None
    return _contrast_and_pivot(to_linear(inside) @ LUMA)[0]


def _contrast_and_pivot(luma: NDArray[np.float32]) -> tuple[float, float]:
    """:func:`product_contrast` of the opaque pixels' luminances ``luma``, and their
    :data:`DEEPEN_PIVOT` quantile."""
    high, low = np.quantile(luma, [DEEPEN_PIVOT, 1.0 - DEEPEN_PIVOT])
    return float(np.log((float(high) + 1e-3) / (float(low) + 1e-3))), float(high)


def deepen_darks(
    product: NDArray[np.uint8],
    alpha: NDArray[np.float32],
    target: float,
    max_gamma: float = 2.0,
) -> tuple[NDArray[np.uint8], float]:
    """``product`` with its darks deepened to a log contrast of ``target``
    (:func:`product_contrast`): ``(image, gamma)``. Every pixel's linear RGB is scaled by
    ``(l / p) ** (gamma − 1)`` where its luminance ``l`` is below ``p``, the product's
    :data:`DEEPEN_PIVOT` quantile (above it: unchanged), so the log distance below ``p`` grows
    by ``gamma = target / contrast`` (at most ``max_gamma``; 1, nothing changed, when the
    product is as contrasted already or less than :data:`DEEPEN_MIN_CONTRAST`). A white product
    shot in a studio is lit from every side: its gaps, sides and insides are nearly as light as
    its fronts, where the same furniture in a room falls into shade (issue 13, session 34:
    ``benchmarks/product_contrast.py``; tried with ``blend.DEEPEN``, not kept)."""
    if target <= 0 or max_gamma < 1:
        raise InputError(
            f"deepen: expected target > 0 and max_gamma >= 1, got {target}, {max_gamma}"
        )
    if alpha.shape != product.shape[:2]:
        raise InputError(f"deepen: alpha is {alpha.shape}, the product {product.shape[:2]}")
    opaque = alpha >= 0.5
    if opaque.sum() < 16:
        return product, 1.0
    linear = to_linear(product)
    luma = linear @ LUMA
    contrast, pivot = _contrast_and_pivot(luma[opaque])
    if contrast >= target or contrast < DEEPEN_MIN_CONTRAST or pivot <= 1e-4:
        return product, 1.0
    gamma = float(min(max_gamma, target / max(contrast, 1e-3)))
    factor = np.clip(luma / pivot, 1e-4, 1.0) ** (gamma - 1.0)
    return to_srgb(linear * factor[..., None]), gamma


def to_linear(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """sRGB ``uint8`` → linear RGB in [0, 1] (float32, same shape)."""
    out: NDArray[np.float32] = _TO_LINEAR[rgb]
    return out


def to_srgb(linear: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Linear RGB (clipped to [0, 1]) → sRGB ``uint8`` through a 4096-entry table."""
    index = np.rint(np.clip(linear, 0.0, 1.0) * (_LUT_SIZE - 1)).astype(np.intp)
    out: NDArray[np.uint8] = _TO_SRGB[index]
    return out


@dataclass(frozen=True)
class LightMatch:
    """The gains :func:`match_light` applied (linear RGB, multiplied into the product's pixels).

    ``gain`` = ``exposure`` × ``white_balance`` per channel. ``local_white``: the linear colour
    estimated as the scene's white around the placement. ``bounded``: a limit was hit (the raw
    estimate asked for more). ``strength``: the share of the estimate that was applied.
    """

    gain: tuple[float, float, float]
    exposure: float
    white_balance: tuple[float, float, float]
    local_white: tuple[float, float, float]
    bounded: bool
    strength: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "gain": [round(g, 4) for g in self.gain],
            "exposure": round(self.exposure, 4),
            "white_balance": [round(g, 4) for g in self.white_balance],
            "local_white": [round(g, 4) for g in self.local_white],
            "bounded": self.bounded,
            "strength": self.strength,
        }


IDENTITY = LightMatch((1.0, 1.0, 1.0), 1.0, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), False, 0.0)


SOURCE_LEVEL = 250
"""An sRGB level at or above which, in all three channels, :func:`estimate_light` with
``skip_sources`` takes a pixel for a light source (a window or a lamp, clipped)."""


def estimate_light(
    around: NDArray[np.uint8],
    *,
    strength: float = 1.0,
    min_exposure: float = 0.6,
    max_exposure: float = 1.1,
    max_cast: float = 1.1,
    bright_share: float = 0.1,
    skip_sources: bool = False,
) -> LightMatch:
    """The bounded gains that light a studio product like the scene pixels ``around`` (``N×3``
    sRGB ``uint8``, the surroundings of the placement). Fewer than 16 pixels: the identity.

    ``skip_sources``: pixels clipped in every channel (:data:`SOURCE_LEVEL`: a window, a lamp)
    are left out of the scene's white, unless they are most of ``around`` (a white wall in a
    photo exposed for a bright room): a product is lit by a window, it is not as bright as one."""
    if not 0.0 <= strength <= 1.0:
        raise InputError(f"strength: expected a value in [0, 1], got {strength}")
    if not 0.0 < min_exposure <= 1.0 <= max_exposure:
        raise InputError(
            f"min_exposure / max_exposure: expected 0 < min <= 1 <= max, got "
            f"{min_exposure} / {max_exposure}"
        )
    if max_cast < 1.0:
        raise InputError(f"max_cast: expected a value >= 1, got {max_cast}")
    pixels = np.asarray(around, np.uint8).reshape(-1, 3)
    if strength == 0.0 or len(pixels) < 16:
        return IDENTITY
    pixels = pixels[:: max(1, len(pixels) // 65536)]  # a regular sample is plenty for a quantile
    if skip_sources:
        lit = pixels.min(axis=1) < SOURCE_LEVEL
        if 2 * int(lit.sum()) >= len(pixels):
            pixels = pixels[lit]
    linear = to_linear(pixels)
    luma = linear @ LUMA
    cut = np.quantile(luma, 1.0 - bright_share)
    white = linear[luma >= cut].mean(0)
    white_luma = max(float(white @ LUMA), 1e-4)
    raw_exposure = white_luma**strength
    exposure = float(np.clip(raw_exposure, min_exposure, max_exposure))
    raw_cast = (white / white_luma) ** strength
    cast = np.clip(raw_cast, 1.0 / max_cast, max_cast)
    # Renormalise so white balance keeps luminance (exposure carries it alone).
    cast = cast / max(float(cast @ LUMA), 1e-4)
    bounded = bool(exposure != raw_exposure or np.any(np.abs(cast - raw_cast) > 1e-3))
    wb = tuple(float(c) for c in cast)
    return LightMatch(
        gain=(exposure * wb[0], exposure * wb[1], exposure * wb[2]),
        exposure=exposure,
        white_balance=(wb[0], wb[1], wb[2]),
        local_white=(float(white[0]), float(white[1]), float(white[2])),
        bounded=bounded,
        strength=float(strength),
    )


def apply_light(product: NDArray[np.uint8], match: LightMatch) -> NDArray[np.uint8]:
    """``product`` (``h×w×3`` sRGB ``uint8``) with ``match``'s gains applied in linear light."""
    if match.gain == (1.0, 1.0, 1.0):
        return product
    # A per-channel gain is a per-channel map of the 256 levels: one table per channel.
    table = to_srgb(_TO_LINEAR[:, None] * np.asarray(match.gain, np.float32)[None, :])
    out = cv2.LUT(np.ascontiguousarray(product), table.reshape(256, 1, 3))
    return cast(NDArray[np.uint8], out)  # cv2's stubs type every result as MatLike


LIGHT_TOP = 0.7
""":func:`light_side` looks for the light in the top share of the scene's rows (windows, lamps);
the floor below may hold white furniture or bright reflections."""
LIGHT_MIN_SHARE = 0.01
"""…needs its bright pixels to cover at least this share of those rows…"""
LIGHT_MAX_SPREAD = 0.25
"""…and to lie together: the standard deviation of their columns, as a share of the width, at
most this (a room lit evenly or with white walls all round has no side)."""


def light_side(scene: RGB) -> float | None:
    """Where the scene's main light is, across the image: -1 at the left edge, 1 at the right
    edge; ``None`` when no light source can be told apart.

    The light is taken to be the brightest pixels in the top :data:`LIGHT_TOP` of the scene, in
    linear luminance at least 0.8 and at least 0.9 × the 99th percentile there: a window or a
    lamp, which in a photograph of a room is clipped or close to it. The estimate is their mean
    column; it is refused when they are too few (:data:`LIGHT_MIN_SHARE`) or spread across the
    image (:data:`LIGHT_MAX_SPREAD`). It says nothing about depth (a window behind the camera
    looks the same as none); :func:`adstage.composite.blend.ground_shadow` uses it for the
    sideways lean of a cast shadow and :func:`shade_product` for the side it brightens (both
    through :func:`towards_light`). A heuristic of ours: the scene's shading and the shadows of
    its objects would say more, but need its geometry.
    """
    scene = as_rgb(scene, name="scene")
    h, w = scene.shape[:2]
    small_w = min(w, 128)
    small_h = max(2, round(small_w * h / w))
    small = cast(RGB, cv2.resize(scene, (small_w, small_h), interpolation=cv2.INTER_AREA))
    luma = to_linear(small) @ LUMA
    top = luma[: max(1, round(LIGHT_TOP * small_h))]
    bright = top >= max(0.8, 0.9 * float(np.percentile(top, 99)))
    if bright.mean() < LIGHT_MIN_SHARE:
        return None
    cols = np.nonzero(bright)[1].astype(np.float64) / max(1, small_w - 1)
    if float(cols.std()) > LIGHT_MAX_SPREAD:
        return None
    return float(2.0 * cols.mean() - 1.0)


def towards_light(light_x: float | None, box: tuple[int, int, int, int], width: int) -> float:
    """How far the light at ``light_x`` (:func:`light_side`: -1 the scene's left edge, 1 its
    right) lies right of the centre of ``box`` in a scene ``width`` pixels wide, in half scene
    widths (negative: left of it); 0 when the light is unknown."""
    if light_x is None:
        return 0.0
    centre = (box[0] + box[2]) / max(1, width) - 1.0  # -1 … 1 like light_x
    return float(light_x - centre)


SHADE_MAX_SIDE = 0.9
""":func:`shade_product`: the largest light falloff across the product, as a log ratio of its
lit side to its other side (0.9: the lit edge 1.57 × the middle, the far edge 0.64 ×, at
strength 1). Chosen on set A of the blind study among 0.35, 0.6 and 0.9: each stronger value was
preferred in every changed pair (docs/staging.md)."""
SHADE_BASE = 0.85
"""…and the darkening at the product's base at strength 1 (ambient occlusion near the floor;
chosen with :data:`SHADE_MAX_SIDE` among 0.25, 0.4 and 0.55, then, with the light match read
beside the product, 0.7 against 0.55 and 0.85 against 0.7: preferred in 31 of 31 and 34 of 34
changed pictures of sets A and A2, every vote; docs/staging.md). Every stronger value was
preferred, 1 (black at the base line) too, 34 of 34: the judges picked "the one that darkens
every time", so the rounds do not calibrate it; 0.85 is a choice within that range."""
SHADE_RAMP: tuple[float, float, float] | None = None
"""When set, ``(drop, start, end)``: the darkening towards the base is ``exp(−strength · drop ·
smoothstep(v; start, end))`` instead of :data:`SHADE_BASE`'s (``v`` the row's position, 0 top,
1 base). ``benchmarks/object_shading.py`` measures the dev rooms' furniture: on average it
darkens by about 0.5 in log from top to base, gradually, where :data:`SHADE_BASE` adds about 1.0,
most of it in the lowest third. ``None``: :data:`SHADE_BASE`. Tried at ``(0.4, 0.4, 1.0)`` on report set
BB, rated one picture at a time against the defaults' pictures by two fresh panels (session 36,
docs/staging.md): staged 1.33 against 1.35, the real photos 5.71 against 5.77; off."""


@dataclass(frozen=True)
class Shading:
    """What :func:`shade_product` applied: the log ratio of the light on the product's right /
    left side (``side``; 0: no gradient across), the darkening at its base (``base``), both as
    applied at ``strength``."""

    side: float
    base: float
    strength: float
    ramp: tuple[float, float, float] | None = None
    """:data:`SHADE_RAMP` when it shaped the darkening towards the base (``base`` is then the
    darkening of the lowest row)."""

    def as_dict(self) -> dict[str, Any]:
        out = {"side": round(self.side, 4), "base": round(self.base, 4), "strength": self.strength}
        return out | ({"ramp": list(self.ramp)} if self.ramp is not None else {})


def shade_product(
    product: NDArray[np.uint8],
    box: tuple[int, int, int, int],
    width: int,
    light_x: float | None,
    strength: float,
    *,
    base: bool = True,
) -> tuple[NDArray[np.uint8], Shading]:
    """``product`` (the scaled cut-out's RGB, ``box``-sized, in a scene ``width`` pixels wide)
    shaded as the room lights it there.

    A studio product is lit evenly from the front; in a room the side towards the light is
    brighter and the base, near the floor, gets less light. Two smooth gains in linear light, so
    shape and texture stay the product's own (a two-term version of matching the scene's
    low-frequency illumination, cf. Sunkavalli et al., "Multi-scale Image Harmonization",
    SIGGRAPH 2010):

    - across: ``exp(strength · s · (u − ½))``, ``u`` the column's position in the box (0 left,
      1 right), ``s = SHADE_MAX_SIDE · d`` with ``d`` in [−1, 1] the signed distance from the
      box's centre to the scene's light (:func:`light_side`, ``light_x``) in half scene widths:
      the side facing the window is the brighter one; no light found (``None``): no gradient;
    - down: ``1 − strength · SHADE_BASE · max(0, 2v − 1)²``, ``v`` the row's position (0 top,
      1 base): the lower half darkens smoothly, by ``SHADE_BASE`` at the base (with
      :data:`SHADE_RAMP` set: ``exp(−strength · drop · smoothstep(v; start, end))``); not with
      ``base`` false (a product hung on a wall is not near the floor).
    """
    if not 0.0 <= strength <= 1.0:
        raise InputError(f"shade: expected a strength in [0, 1], got {strength}")
    if product.ndim != 3 or product.shape[2] != 3:
        raise InputError(f"shade: expected an h×w×3 product, got shape {product.shape}")
    x0, y0, x1, y1 = box
    bh, bw = product.shape[:2]
    if (y1 - y0, x1 - x0) != (bh, bw):
        raise InputError(f"shade: the product is {bw}×{bh}, its box {x1 - x0}×{y1 - y0}")
    if strength == 0.0 or bh == 0 or bw == 0:
        return product, Shading(0.0, 0.0, float(strength))
    side = SHADE_MAX_SIDE * float(np.clip(towards_light(light_x, box, width), -1.0, 1.0))
    u = (np.arange(bw, dtype=np.float32) + 0.5) / bw
    v = (np.arange(bh, dtype=np.float32) + 0.5) / bh
    across = np.exp(strength * side * (u - 0.5)).astype(np.float32)
    ramp = SHADE_RAMP if base else None
    if ramp is not None:
        drop, start, end = ramp
        if not (drop >= 0.0 and 0.0 <= start < end <= 1.0):
            raise InputError(
                f"shade: SHADE_RAMP must be (drop >= 0, 0 <= start < end <= 1): {ramp}"
            )
        t = np.clip((v - start) / (end - start), 0.0, 1.0)
        down = np.exp(-strength * drop * t * t * (3.0 - 2.0 * t)).astype(np.float32)
        darkest = float(1.0 - down[-1])
    else:
        darkest = strength * SHADE_BASE if base else 0.0
        down = 1.0 - darkest * np.clip(2.0 * v - 1.0, 0.0, None) ** 2
    gain = down[:, None, None] * across[None, :, None]
    out = to_srgb(to_linear(product) * gain)
    return out, Shading(strength * side, darkest, float(strength), ramp)


SOFT_FROM = 0.12
""":func:`room_softness`: rooms whose floor-half shadow ratio is at most this keep the shadows at
full opacity (about the 75th percentile of the 215 dev rooms: 5th percentile / median of the
lower half's linear luminance, 0.02 at the 5th percentile of rooms, 0.07 at the median, 0.23 at
the 95th)…"""
SOFT_SLOPE = 1.5
"""…above it the opacity falls by this much per unit of ratio…"""
SOFT_MIN = 0.5
"""…down to this share (a high-key room of white floor and walls, lit by daylight from all
sides, in which the furniture's own shadows are faint)."""


def room_softness(scene: RGB) -> tuple[float, float]:
    """How soft the room's shadows are, from its own pixels: ``(factor, ratio)``. ``ratio`` is
    the 5th percentile of the linear luminance of the scene's lower half (the floor and what
    stands on it) over its median: near 0 where something casts a deep shadow or is dark, high
    in a high-key room lit from all sides. ``factor`` in [:data:`SOFT_MIN`, 1] scales the
    opacity of a pasted product's shadows (1 − :data:`SOFT_SLOPE` · (ratio −
    :data:`SOFT_FROM`)), so a product does not cast a shadow darker than any in the room (the
    judges: "a shadow far too dark for the bright room"). A heuristic of ours: a dark object
    in the lower half counts as shadow, so it only ever lightens shadows in rooms with no dark
    pixels at all."""
    scene = as_rgb(scene, name="scene")
    h, w = scene.shape[:2]
    small_w = min(w, 256)
    small_h = max(2, round(small_w * h / w))
    small = cast(RGB, cv2.resize(scene, (small_w, small_h), interpolation=cv2.INTER_AREA))
    luma = to_linear(small[small_h // 2 :]) @ LUMA
    median = float(np.median(luma))
    if median <= 1e-4:
        return 1.0, 0.0
    ratio = float(np.percentile(luma, 5)) / median
    factor = float(np.clip(1.0 - SOFT_SLOPE * (ratio - SOFT_FROM), SOFT_MIN, 1.0))
    return factor, ratio


FLOOR_SHADE_NEAR = 0.06
""":func:`floor_shade`'s ring around the object: this share of its width wide…"""
FLOOR_SHADE_BAND = 0.25
"""…over its lowest quarter of height (where its contact and cast shadows fall) and as deep again
as the ring below its base."""
FLOOR_SHADE_AWAY = 0.3
"""The floor beside the object it is compared with: farther than this share of its width from
it, at most one width to either side, in the same rows."""


def floor_shade(
    scene: RGB, mask: NDArray[np.bool_], others: NDArray[np.bool_] | None = None
) -> float | None:
    """How much darker the scene is right around the lower part of the object of ``mask`` than
    beside it, in the same rows: ``1 − median(near) / median(away)`` of linear luminance
    (:data:`FLOOR_SHADE_NEAR`, :data:`FLOOR_SHADE_BAND`, :data:`FLOOR_SHADE_AWAY`), pixels of ``others`` (the
    scene's other objects) left out. About 0 where the object throws no shadow one can see (a
    room lit softly from all sides: a black step stool on white tiles), high under a crisp one;
    a dark rug or plinth beside it reads as shade too, so the measure is only trusted when it
    is low. ``None`` when either region is too small to say. A heuristic of ours (issue 13)."""
    scene = as_rgb(scene, name="scene")
    mask = np.asarray(mask) > 0.5  # a boolean or a [0, 1] mask
    if mask.shape != scene.shape[:2]:
        raise InputError(f"floor_shade: the mask {mask.shape} does not match the scene")
    if others is not None:
        others = np.asarray(others) > 0.5
        if others.shape != mask.shape:
            raise InputError(f"floor_shade: others {others.shape} does not match the scene")
    ys, xs = np.nonzero(mask)
    if ys.size < 50:
        return None
    h, w = mask.shape
    x0, x1, top, base = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    width, height = x1 - x0, base - top
    blocked = np.zeros_like(mask) if others is None else (others & ~mask)
    r = max(2, round(FLOOR_SHADE_NEAR * width))
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
    band = np.zeros_like(mask)
    band[max(0, base - round(FLOOR_SHADE_BAND * height)) : min(h, base + r)] = True
    band[:, : max(0, x0 - width)] = False
    band[:, min(w, x1 + width) :] = False
    near = grown & ~mask & ~blocked & band
    far_r = max(3, round(FLOOR_SHADE_AWAY * width))
    wide = cv2.dilate(mask.astype(np.uint8), np.ones((2 * far_r + 1, 2 * far_r + 1), np.uint8))
    away = band & (wide == 0) & ~blocked
    if near.sum() < 20 or away.sum() < 20:
        return None
    luma = to_linear(scene) @ LUMA
    return 1.0 - float(np.median(luma[near])) / max(1e-4, float(np.median(luma[away])))


LIFT_MAX = 0.05
""":func:`lift_blacks` raises the product's black level by at most this much (linear light:
sRGB 0 → about 63)."""


def lift_blacks(
    product: NDArray[np.uint8],
    alpha: NDArray[np.float32],
    around: NDArray[np.uint8],
    strength: float,
) -> tuple[NDArray[np.uint8], float]:
    """``product`` with its black level raised towards the scene's around it: ``(image,
    lift)``. A catalog photo's darks are deep; a room photo's are lifted by haze, flare and
    bounced light (the judges: "A's slightly lifted blacks match this soft, low-contrast
    photo"). With ``b`` the 2nd-percentile luminance (linear) of the scene pixels ``around``
    and ``p`` that of the product's opaque pixels, every product pixel becomes ``l + (1 − l) ·
    x`` in linear light, ``l = strength · max(0, b − p)`` bounded by :data:`LIFT_MAX`: the
    product's darkest parts reach the scene's, its whites stay."""
    if not 0.0 <= strength <= 1.0:
        raise InputError(f"lift: expected a strength in [0, 1], got {strength}")
    if alpha.shape != product.shape[:2]:
        raise InputError(f"lift: alpha is {alpha.shape}, the product {product.shape[:2]}")
    inside = product[alpha >= 0.5]
    pixels = np.asarray(around, np.uint8).reshape(-1, 3)
    if strength == 0.0 or len(inside) < 16 or len(pixels) < 16:
        return product, 0.0
    scene_black = float(np.quantile(to_linear(pixels) @ LUMA, 0.02))
    product_black = float(np.quantile(to_linear(inside) @ LUMA, 0.02))
    lift = float(np.clip(strength * (scene_black - product_black), 0.0, LIFT_MAX))
    if lift == 0.0:
        return product, 0.0
    table = to_srgb(lift + (1.0 - lift) * _TO_LINEAR)  # one table for every channel
    out = cv2.LUT(np.ascontiguousarray(product), table.reshape(256, 1))
    return cast(NDArray[np.uint8], out), lift
