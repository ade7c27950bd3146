"""Paste a product cut-out into a scene: soft edges, edge decontamination, light and shadow.

With every option off, the product's pixels are exactly those of the scaled cut-out wherever its
alpha is 1; only the soft edge mixes product and scene (the paper's copy-paste, Ku et al., AdKDD
2023, §5.3 step 3). Options (all off in :func:`paste`; :class:`adstage.stage.pipeline.StageOptions`
chooses the defaults of staging):

- ``edges``: how the edge is freed of the studio background (``despill_background``, white) the
  product was shot on, so no white fringe comes along (:func:`decontaminate`):

  * ``"unmix"``: un-mix the soft edge, ``F = (I − (1 − α)·B) / α`` (changes only pixels with
    α < 1);
  * ``"refine"``: also re-estimate α in a thin band inside the edge from the product's own colour
    there (propagated from the interior) and the known background — the matting equation with a
    known background (Smith & Blinn, "Blue Screen Matting", 1996) — so edge pixels that a
    segmenter called opaque but that are half white lose their white; then un-mix. Pixels deeper
    than the band are never touched; where the product is itself close to the background colour
    (white furniture) α is kept;
  * ``"ml"``: pymatting's multilevel foreground estimation (Germer et al., "Fast Multi-Level
    Foreground Estimation", ICPR 2020) on the cut-out at ≤ ``ML_MAX_SIDE`` pixels, for α < 1
    (optional dependency; slower, and it cannot fix pixels the mask calls opaque).
- ``light`` (0–1): exposure and white balance of the scene around the placement, as bounded gains
  in linear light (:mod:`adstage.composite.light`).
- ``harmonize`` (0–1): move the product's mean and spread of lightness and colour in Lab part of
  the way towards the scene around it (Reinhard et al., "Color Transfer between Images", 2001).
- ``shade`` (0–1): shade the evenly lit studio product as the room lights it there: brighter
  on the side facing the scene's light (a window), darker towards its base unless
  ``shade_base`` is false (:func:`adstage.composite.light.shade_product`).
- ``lift`` (0–1): raise the product's black level towards the scene's around it
  (:func:`adstage.composite.light.lift_blacks`).
- ``shadow`` (0–1): darkening of the floor under the product (:func:`ground_shadow`): a contact
  shadow where the silhouette's lowest points touch the floor and a broader, softer ambient
  occlusion under its base, since a product without one floats; with it, ``under_opacity``
  shades the floor under the product's body (between its legs), ``cast_opacity`` lays a
  soft shadow of its silhouette on the floor behind it (:func:`cast_shadow`) and ``crease``
  draws the thin dark line where it meets the floor.
- ``camera``: the product blurred like the scene around it and its pixels compressed at the
  scene's JPEG quality (:mod:`adstage.composite.camera`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.composite.camera import CameraMatch, match_camera
from adstage.composite.light import (
    LightMatch,
    Shading,
    apply_light,
    deepen_darks,
    estimate_light,
    lift_blacks,
    light_side,
    room_softness,
    shade_product,
    towards_light,
)
from adstage.composite.occlusion import occlusion_shadow
from adstage.errors import BackendUnavailable, InputError
from adstage.types import RGB, Placement, as_rgb

DEEPEN: float | None = None
"""When set, the product's darks are deepened to this log contrast after the light match
(:func:`adstage.composite.light.deepen_darks`; at most :data:`DEEPEN_MAX_GAMMA`); ``None``: off.
Tried at 1.5 in session 34 (issue 13, docs/staging.md "Flat white products, their darks
deepened"): preferred in 15 of 21 changed pictures of set A, not seen on A2 (12 of 24, judges
answering by side), and rated no nearer the photographs on report set BB by two fresh panels
(the changed pictures moved with the real photos, −0.03 against them); the best and the
third-best staged pictures, both changed, were rated lower in both panels. Off."""

DEEPEN_MAX_GAMMA = 2.0
""":data:`DEEPEN`'s largest gamma."""

EDGES: tuple[str, ...] = ("unmix", "refine", "ml")
"""Edge decontamination methods (see the module docstring)."""
ML_MAX_SIDE = 384
"""``edges="ml"`` runs pymatting on the cut-out downscaled to this longer side (then upscaled)."""


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


def _band_px(shape: tuple[int, ...]) -> int:
    """Width of the edge band that ``refine`` may re-estimate: 0.4 % of the cut-out's longer
    side, at least 3 pixels (4 px on a 900² catalog photo)."""
    return max(3, round(0.004 * max(shape[:2])))


def _interior_colour(
    colour: NDArray[np.float32], core: NDArray[np.bool_], want: NDArray[np.bool_], radius: int
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """The product's colour at the ``want`` pixels, propagated from the ``core`` pixels only
    (normalised convolution with a box of half-width ``radius``, then 4× wider where the first
    reaches no core pixel; box filters cost the same at any width), and which it reached."""
    weight = core.astype(np.float32)
    weighted = colour * weight[..., None]
    out = np.zeros((int(want.sum()), 3), np.float32)
    done = np.zeros(len(out), bool)
    for r in (radius, 4 * radius):
        size = (2 * r + 1, 2 * r + 1)
        w = cast(NDArray[np.float32], cv2.blur(weight, size))[want]
        c = cast(NDArray[np.float32], cv2.blur(weighted, size))[want]
        ok = (w > 1e-3) & ~done
        out[ok] = c[ok] / w[ok][:, None]
        done |= ok
        if done.all():
            break
    return out, done


def decontaminate(
    rgba: NDArray[np.uint8],
    background: tuple[int, int, int] = (255, 255, 255),
    *,
    method: str = "refine",
    band_px: int | None = None,
) -> NDArray[np.uint8]:
    """The cut-out ``rgba`` with its edge freed of the studio ``background`` colour (``method``:
    one of :data:`EDGES`, see the module docstring). Pixels deeper inside the product than the
    edge band (``band_px``, default :func:`_band_px`) are returned unchanged."""
    if method not in EDGES:
        raise InputError(f"edges: expected one of {', '.join(EDGES)}, got {method!r}")
    if method == "unmix":
        return despill(rgba, background)
    if method == "ml":
        return _foreground_ml(rgba)
    band_px = band_px if band_px is not None else _band_px(rgba.shape)
    a = rgba[..., 3].astype(np.float32) / 255.0
    hard = (a >= 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band_px + 1, 2 * band_px + 1))
    core = cv2.erode(hard, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    band = (a > 0.5 / 255.0) & ~core
    if not core.any() or not band.any():  # thinner than the band: un-mix only
        return despill(rgba, background)
    colour = rgba[..., :3].astype(np.float32) / 255.0
    bg = np.asarray(background, np.float32) / 255.0
    inner, reached = _interior_colour(colour, core, band, band_px + 1)
    if not reached.all():  # soft pixels far from any core pixel: un-mixed only
        out = despill(rgba, background)
        ys, xs = np.nonzero(band)
        band = np.zeros_like(band)
        band[ys[reached], xs[reached]] = True
        inner = inner[reached]
    else:
        out = rgba.copy()
    pixels, alpha = colour[band], a[band]
    # Known-background matting: the share of the product's own colour in the pixel, along the
    # line from the background to that colour.
    direction = inner - bg
    norm2 = (direction**2).sum(1)
    estimate = ((pixels - bg) * direction).sum(1) / np.maximum(norm2, 1e-6)
    # Trust it only where the product's colour is far enough from the background's.
    trust = np.clip((np.sqrt(norm2) - 0.1) / 0.2, 0.0, 1.0)
    refined = np.minimum(alpha, trust * np.clip(estimate, 0.0, 1.0) + (1.0 - trust) * alpha)
    unmixed = (pixels - (1.0 - refined[:, None]) * bg) / np.maximum(refined[:, None], 1e-3)
    # Where little product is left, its un-mixed colour is noise: lean on the interior colour.
    lean = np.clip((refined - 0.1) / 0.4, 0.0, 1.0)[:, None]
    fg = np.clip(lean * unmixed + (1.0 - lean) * inner, 0.0, 1.0)
    out[..., :3][band] = np.rint(fg * 255.0).astype(np.uint8)
    out[..., 3][band] = np.rint(refined * 255.0).astype(np.uint8)
    return out


def _foreground_ml(rgba: NDArray[np.uint8]) -> NDArray[np.uint8]:
    try:
        from pymatting import estimate_foreground_ml
    except ImportError as exc:  # optional dependency
        raise BackendUnavailable(
            "edges='ml' needs pymatting (pip install 'adstage[matting]' or pip install pymatting)"
        ) from exc
    h, w = rgba.shape[:2]
    a = rgba[..., 3].astype(np.float64) / 255.0
    soft = (a > 0.5 / 255.0) & (a < 1.0)
    if not soft.any():
        return rgba
    f = min(1.0, ML_MAX_SIDE / max(h, w))
    image = rgba[..., :3].astype(np.float64) / 255.0
    small = (max(1, round(w * f)), max(1, round(h * f)))
    if f < 1.0:
        image_s = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
        alpha_s = np.clip(cv2.resize(a, small, interpolation=cv2.INTER_AREA), 0.0, 1.0)
    else:
        image_s, alpha_s = image, a
    fg = estimate_foreground_ml(image_s, alpha_s)
    if f < 1.0:
        fg = cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR)
    out = rgba.copy()
    out[..., :3][soft] = np.clip(np.rint(fg[soft] * 255.0), 0, 255).astype(np.uint8)
    return out


CAST_DEPTH = 0.25
"""How far back a cast shadow reaches, per unit of the product's height, in image rows: a floor
seen from eye height is foreshortened to about a quarter."""
CAST_MAX_LEAN = 0.6
"""The largest sideways lean of a cast shadow, per unit of height (about 30° from straight back)."""


def cast_lean(light_x: float | None, box: tuple[int, int, int, int], width: int) -> float:
    """The sideways lean of a product's cast shadow: away from the light at ``light_x`` (-1 the
    scene's left edge, 1 its right; :func:`adstage.composite.light.light_side`), more the further
    the product stands from it, at most :data:`CAST_MAX_LEAN`; 0 when the light is unknown."""
    lean = -0.8 * towards_light(light_x, box, width)
    return float(np.clip(lean, -CAST_MAX_LEAN, CAST_MAX_LEAN))


def floor_shear(ground: float, lean: float, depth: float) -> NDArray[np.float64]:
    """The affine map (2×3) that lays a silhouette standing on the row ``ground`` down on the
    floor behind it: the point ``t`` rows above the ground moves to ``(x + lean · t, ground −
    depth · t)``. A planar projection faked in the image, for a light above and behind the
    viewer's side; used by :func:`cast_shadow` and the synthetic scenes' shadows."""
    return np.array([[1.0, -lean, lean * ground], [0.0, depth, (1.0 - depth) * ground]])


def cast_shadow(
    placed_alpha: NDArray[np.float32],
    box: tuple[int, int, int, int],
    *,
    lean: float = 0.0,
    depth: float = CAST_DEPTH,
) -> NDArray[np.float32]:
    """The silhouette in ``placed_alpha`` (``H×W``, the product in ``box``) laid on the floor
    behind it, as a map in [0, 1]: the pixel ``t`` rows above the box's base moves to
    ``(x + lean · t, base − depth · t)`` (an affine shear onto the floor plane), blurred more and
    fading the further it falls from the base, as a shadow does away from its contact (penumbra
    grows with distance from the occluder)."""
    h, w = placed_alpha.shape
    x0, y0, x1, y1 = box
    bw, bh = max(1, x1 - x0), max(1, y1 - y0)
    base = float(y1 - 1)
    solid = (placed_alpha >= 0.5).astype(np.float32)
    shear = floor_shear(base, lean, depth).astype(np.float32)
    laid = cv2.warpAffine(solid, shear, (w, h), flags=cv2.INTER_LINEAR)
    near = cv2.GaussianBlur(laid, (0, 0), max(1.0, 0.015 * bw))
    far = cv2.GaussianBlur(laid, (0, 0), max(1.0, 0.07 * bw))
    rows = np.arange(h, dtype=np.float32)[:, None]
    t = np.clip((base - rows) / max(1.0, depth * bh), 0.0, 1.0)
    out: NDArray[np.float32] = ((1.0 - t) * near + t * far) * (1.0 - 0.6 * t)
    return out.astype(np.float32)


CONTACT_KNEE = 0.5
"""The blurred contact map is full strength from this share of its peak up (see
:func:`ground_shadow`): a base standing on the floor along its length is dark all along."""

CONTACT_SPREAD = 0.035
"""The contact shadow's sideways blur (a Gaussian's σ) as a share of the product's width."""

CONTACT_THIN_RUN = 0.04
"""A foot narrower than this share of the product's width (a leg's tip) gets a tighter contact
shadow (:data:`CONTACT_THIN_SPREAD`) than a base along the floor (0: every foot the same). Judged
on sets A and A2 (issue 13, 2026-12-04): preferred in 13 of 15 changed pictures ("B has a large,
round black blob around the cabinet's front leg"); blurring every contact that tightly instead
lost, 8 of 28 (docs/staging.md)."""
CONTACT_THIN_SPREAD = 0.006
"""…its sideways blur (σ) as a share of the product's width, at least 1 px on the map the shadows
are drawn on (:func:`composite`: the box at most :data:`SHADOW_MAP_WIDTH`, 160 px, wide there),
so 0.006 is that 1 px for every product. 0.012 until 2026-12-05, which blurred a foot's spot
wider on boxes over ~84 px ("dark halos ringing the metal feet"); 0.006 was preferred in 9 of 14
judgements of the 7 pictures it changed on sets A and A2 (two panels: 6 of 7, then 3 of 7;
docs/staging.md)."""

SHADOW_MAP_WIDTH = 160.0
"""The shadows are drawn on a map where the product's box is at most this many pixels wide, then
scaled to the picture (their blurs are shares of the product's width, so only what is drawn one
pixel wide there — a foot's spot, the crease's one row down — depends on it)."""

CONTACT_EVERY_FOOT = True
"""Every foot (:func:`_contacts` with :data:`FOOT_CLEAR`: a leg's tip) gets the full contact
weight, not only those near the box's base line: a chair's back legs end higher in the picture
but stand on the floor too. Judged on sets A and A2 against the thin feet alone: 20 of 27
changed pictures ("the legs float" without); the losses named a blob "hanging in mid-air" at a
cabinet's back corner."""
FOOT_CLEAR = 0.08
"""…a foot being a contact whose neighbourhood's underside is at least this share of the height
above it (at 0.02, a plinth's shallow bumps were feet: "a dotted row of blob shadows under the
sideboard"; 25 of 34 then, with those losses)."""

UNDER_GAP = 0.5
"""The floor under a product's body is shaded fully when the gap is nil, not at all when it is
this share of the product's height or more (see :func:`ground_shadow`)."""


def _contacts(lowest: NDArray[np.intp], bh: int, clear: float = 0.02) -> NDArray[np.bool_]:
    """The box columns where the product touches the floor, from each column's lowest product
    row ``lowest`` (-1: none) in a box ``bh`` rows tall: the lowest pixel lies in the box's lower
    half, is (within 2 % of the height) the lowest within 8 % of the width on either side, and
    lies clearly (``clear``: 2 % of the height) below the highest lowest pixel there — a leg's
    tip beside the body's underside (a flat underside has none)."""
    bw = len(lowest)
    has = lowest >= 0
    reach, tol = max(3, round(0.08 * bw)), 0.02 * bh
    windows = np.lib.stride_tricks.sliding_window_view
    low = windows(np.pad(np.where(has, lowest, -1), reach, constant_values=-1), 2 * reach + 1)
    high = windows(np.pad(np.where(has, lowest, bh), reach, constant_values=bh), 2 * reach + 1)
    out: NDArray[np.bool_] = (
        has
        & (lowest >= low.max(axis=1) - tol)
        & (lowest >= high.min(axis=1) + clear * bh)
        & (lowest >= bh // 2)
    )
    return out


UNDER_SKIP_LEGS = False
"""The shade under the body leaves out the columns where the product ends in a leg: a thin
vertical part (narrower than :data:`CONTACT_THIN_RUN` of the width a little above its lowest
pixel). Below a back leg's tip, higher up the picture than the front legs' floor line, is floor
in front of that leg, not under a body; shading it down to the floor line drew a dark streak
under every back leg of a dining set ("smeared, ghostly chair legs")."""


def _leg_ends(inside: NDArray[np.bool_], lowest: NDArray[np.intp]) -> NDArray[np.bool_]:
    """The box columns whose lowest product pixel ends a thin vertical part (a leg): the row a
    little above it (2 % of the height; widened by 2 pixels each way, for a slanted leg) holds a
    horizontal run of product pixels through the column narrower than
    :data:`CONTACT_THIN_RUN` of the width."""
    bh, bw = inside.shape
    out = np.zeros(bw, bool)
    up = max(2, round(0.02 * bh))
    widest = max(2, round(CONTACT_THIN_RUN * bw)) + 4
    wide = cv2.dilate(inside.astype(np.uint8), np.ones((1, 5), np.uint8)) > 0  # along rows only
    for x in np.nonzero(lowest >= 0)[0]:
        row = wide[max(0, int(lowest[x]) - up)]
        if not row[x]:
            continue
        before = np.nonzero(~row[:x])[0]
        after = np.nonzero(~row[x + 1 :])[0]
        start = int(before[-1]) + 1 if before.size else 0
        end = x + 1 + int(after[0]) if after.size else bw
        out[x] = end - start < widest
    return out


def _under_body(
    lowest: NDArray[np.intp], bh: int, inside: NDArray[np.bool_] | None = None
) -> NDArray[np.float32]:
    """The shade under a product's body, ``bh × bw`` in [0, 1], from each box column's lowest
    product row ``lowest`` (``bw`` of them; -1 where the column holds no product).

    The floor line under the body is drawn between the product's *contacts*: the columns whose
    lowest pixel lies in the box's lower half, is (within 2 % of the height) the lowest within
    8 % of the width on either side, and lies clearly (2 %) below the highest lowest pixel
    there — a leg's tip beside the body's underside; a flat underside has none. The line runs
    straight from each contact to the next. A column between two contacts is shaded from its
    body's underside down to the line, by ``1 − gap / (UNDER_GAP · bh)`` (``gap``: the rows
    between); columns outside the outermost contacts are not. A sofa's contacts are its legs
    on the base line; in a dining set, a chair further back stands higher in the picture and
    has its own contacts, so the floor in front of it is not taken for the floor under it.
    ``inside``: the product's mask in its box; with it and :data:`UNDER_SKIP_LEGS`, the columns
    that end in a leg (:func:`_leg_ends`) are not shaded."""
    bw = len(lowest)
    out = np.zeros((bh, bw), np.float32)
    has = lowest >= 0
    contact = _contacts(lowest, bh)
    if contact.sum() < 2:
        return out
    at = np.nonzero(contact)[0]
    columns = np.arange(bw)
    ground = np.interp(columns, at, lowest[at].astype(np.float64))
    between = has & (columns >= at.min()) & (columns <= at.max())
    if UNDER_SKIP_LEGS and inside is not None:
        between &= ~_leg_ends(inside, lowest)
    gap = np.maximum(ground - lowest, 0.0)
    lifted = np.where(between, np.clip(1.0 - gap / (UNDER_GAP * bh), 0.0, 1.0), 0.0)
    rows = np.arange(bh)[:, None]
    out[:] = ((rows > lowest[None, :]) & (rows <= ground[None, :])) * lifted[None, :]
    return out


FOOTPRINT = 0.0
"""The opacity of the shade on the floor *between* a legged product's feet (0: none): the hull of
its feet (:func:`_contacts` with :data:`FOOT_CLEAR`), grown up the picture by
:data:`FOOTPRINT_DEPTH` of its height, blurred. A table's top hides the floor under it from the
ceiling and the lamps, however tall its legs; :func:`_under_body` shades only low gaps. Drawn
with the shade under the body only (``under_opacity`` > 0 in :func:`ground_shadow`)."""
FOOTPRINT_DEPTH = 0.05
"""…the band above the feet (a share of the product's height), so that feet in one row (a table
seen from the front) still shade the floor behind them."""
FOOTPRINT_BLUR = 0.04
"""…its blur (a Gaussian's σ) as a share of the product's width: ambient occlusion is soft."""


def _footprint(lowest: NDArray[np.intp], bh: int) -> NDArray[np.float32]:
    """The floor between a product's feet, ``bh × bw`` in {0, 1}, from each box column's lowest
    product row ``lowest`` (-1: none): the convex hull of the feet's tips and the same tips
    :data:`FOOTPRINT_DEPTH` of the height higher; all 0 with fewer than two feet apart."""
    bw = len(lowest)
    out = np.zeros((bh, bw), np.float32)
    feet = np.nonzero(_contacts(lowest, bh, clear=FOOT_CLEAR))[0]
    if feet.size < 2 or feet.max() - feet.min() < 0.2 * bw:
        return out
    rise = max(1.0, FOOTPRINT_DEPTH * bh)
    tips = np.stack([feet, lowest[feet]], axis=1).astype(np.float32)
    points = np.concatenate([tips, tips - np.array([0.0, rise], np.float32)])
    hull = cv2.convexHull(points.reshape(-1, 1, 2)).round().astype(np.int32)
    cv2.fillConvexPoly(out, hull, 1.0)
    return out


def _thin_feet(
    contact: NDArray[np.float32],
    x0: int,
    cols: NDArray[np.intp],
    weight: NDArray[np.float32],
    bw: int,
) -> NDArray[np.float32] | None:
    """The contact points of thin feet, taken out of ``contact`` (changed in place) into a map of
    their own, or ``None`` (:data:`CONTACT_THIN_RUN` off, or no thin foot). A foot is a run of
    adjacent box columns whose contact ``weight`` is over 0.3; it is thin when narrower than
    :data:`CONTACT_THIN_RUN` of the box's width ``bw`` (a table's leg, not a chest's plinth)."""
    if CONTACT_THIN_RUN <= 0 or cols.size == 0:
        return None
    strong = np.zeros(bw, np.int8)
    strong[cols] = weight > 0.3
    edges = np.diff(np.concatenate([[0], strong, [0]]))
    thin = np.zeros(bw, bool)
    for start, end in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True):
        if end - start < CONTACT_THIN_RUN * bw:
            thin[start:end] = True
    if not thin.any():
        return None
    columns = x0 + np.nonzero(thin)[0]  # inside the map: ``cols`` come from the clipped box
    feet = np.zeros_like(contact)
    feet[:, columns] = contact[:, columns]
    contact[:, columns] = 0.0
    return feet


AMBIENT = 0.6
"""The ambient occlusion ellipse under the base (:func:`contact_shadow`: 1.1 × the product's width,
blurred by 4 % of it) at this share of the shadow's strength, in :func:`composite`'s drawn
layers (:func:`ground_shadow`'s ``ambient``)."""


def ground_shadow(
    placed_alpha: NDArray[np.float32],
    box: tuple[int, int, int, int],
    strength: float,
    *,
    ambient: float = AMBIENT,
    mask_product: bool = True,
    cast_opacity: float = 0.0,
    lean: float = 0.0,
    depth: float = CAST_DEPTH,
    under_opacity: float = 0.0,
    crease: float = 0.0,
) -> NDArray[np.float32]:
    """A scene-sized darkening map in [0, 1] for the product whose alpha, placed in the scene, is
    ``placed_alpha`` (``H×W``) inside ``box``: contact and ambient occlusion at ``strength``, the
    shade under its body at ``under_opacity`` and its cast shadow at ``cast_opacity``.

    *Contact*: each column's lowest product pixel, weighted by how close it is to the base line
    (a chair's legs touch the floor, its seat does not) and in full at every foot
    (:data:`CONTACT_EVERY_FOOT`: a back leg ends higher up but stands on the floor too), spread a
    little sideways and a little downwards — dark and sharp where the product meets the floor;
    a thin foot's contact is spread less sideways (:data:`CONTACT_THIN_RUN`), so a table leg
    gets a tight dark spot, not a blob. The map is scaled to its peak, so where a thin foot's
    tight spot is the darkest point a base beside it is a little lighter. *Ambient occlusion*: the
    :func:`contact_shadow` ellipse under the base, wider and softer, at ``ambient`` × strength.
    The map is 0 above the box's vertical middle and (``mask_product``) never darkens the
    product itself.

    *Cast shadow* (``cast_opacity`` > 0): the silhouette laid on the floor away from the
    light, as a soft, low sun or window would throw it (:func:`cast_shadow`): a point ``t`` above
    the base falls ``lean · t`` to the side and ``depth · t`` back (up the image, foreshortened).

    *Crease* (``crease`` > 0): the same contact points blurred only a little (0.8 % of the
    width across, one pixel down) at opacity ``crease``, not scaled by ``strength``: the thin,
    dark line of occlusion where a product meets the floor, without which it seems to hover.

    *Under the body* (``under_opacity`` > 0): the floor seen below the product and above its
    floor line — between a sofa's or a chest's legs — is in the product's own shadow, hidden
    from the ceiling and lamps above. It is darkened by ``under_opacity`` × ``1 − gap /
    (UNDER_GAP · height)`` (:func:`_under_body`), so a low gap goes dark and a table's tall one,
    through which the room behind is seen, stays as it is.
    """
    h, w = placed_alpha.shape
    x0, y0, x1, y1 = box
    bw, bh = max(1, x1 - x0), max(1, y1 - y0)
    inside = placed_alpha[y0:y1, x0:x1] >= 0.5
    contact = np.zeros((h, w), np.float32)
    under = np.zeros((h, w), np.float32)
    line = np.zeros((h, w), np.float32)
    cols = np.nonzero(inside.any(0))[0]
    if cols.size:
        lowest = bh - 1 - np.argmax(inside[::-1, cols], axis=0)  # per column, in box rows
        gap = (bh - 1 - lowest).astype(np.float32)
        weight = np.exp(-gap / max(2.0, 0.04 * bh))
        by_column = np.full(bw, -1, np.intp)  # each box column's lowest product row
        by_column[cols] = lowest
        if CONTACT_EVERY_FOOT:
            tips = _contacts(by_column, bh, clear=FOOT_CLEAR)[cols]
            weight = np.maximum(weight, tips.astype(np.float32))
        contact[np.minimum(y0 + lowest, h - 1), x0 + cols] = weight
        if crease > 0:
            # the occlusion crease where the product meets the floor: thin and dark
            thin = cv2.GaussianBlur(contact, (0, 0), max(1.0, 0.008 * bw), sigmaY=1.0)
            top = float(thin.max())
            if top > 0:
                line = (np.minimum(thin / (0.5 * top), 1.0) * crease).astype(np.float32)
        sx = max(1.0, CONTACT_SPREAD * bw)
        sy = max(1.0, 0.02 * bw)
        feet = _thin_feet(contact, x0, cols, weight, bw)
        contact = cast(NDArray[np.float32], cv2.GaussianBlur(contact, (0, 0), sx, sigmaY=sy))
        if feet is not None:
            tight = max(1.0, CONTACT_THIN_SPREAD * bw)
            contact += cv2.GaussianBlur(feet, (0, 0), tight, sigmaY=max(1.0, 0.5 * sy))
        peak = float(contact.max())
        if peak > 0:
            contact = np.minimum(contact / (CONTACT_KNEE * peak), 1.0)
        if under_opacity > 0:
            shade = np.zeros((h, w), np.float32)
            region = shade[y0 : y0 + bh, x0 : x0 + bw]  # smaller where the box leaves the map
            rh, rw = region.shape
            region[:] = _under_body(by_column, bh, inside)[:rh, :rw] * under_opacity
            under = cast(NDArray[np.float32], cv2.GaussianBlur(shade, (0, 0), max(1.0, 0.01 * bw)))
            if FOOTPRINT > 0:  # the floor between the feet, softly: the top's ambient occlusion
                shade[:] = 0.0
                region[:] = _footprint(by_column, bh)[:rh, :rw] * FOOTPRINT
                soft = cv2.GaussianBlur(shade, (0, 0), max(1.0, FOOTPRINT_BLUR * bw))
                under = np.maximum(under, soft)
    ao = contact_shadow(np.zeros((h, w), np.float32), box, 1.0)
    dark = 1.0 - (1.0 - contact) * (1.0 - ambient * ao)
    dark[: min(h, y0 + bh // 2)] = 0.0
    dark *= strength
    dark = 1.0 - (1.0 - dark) * (1.0 - under) * (1.0 - line)
    if cast_opacity > 0:
        thrown = cast_shadow(placed_alpha, box, lean=lean, depth=depth)
        dark = 1.0 - (1.0 - dark) * (1.0 - cast_opacity * thrown)
    if mask_product:
        dark *= 1.0 - placed_alpha
    out: NDArray[np.float32] = dark.astype(np.float32)
    return out


SHADOW_MODELS: tuple[str, ...] = ("layers", "occlusion")
"""How the floor's darkening is made: ``"layers"``, drawn shapes (:func:`ground_shadow`);
``"occlusion"``, rendered from a box-like stand-in for the product
(:func:`occlusion_ground`, :mod:`adstage.composite.occlusion`)."""

OCCLUSION_AMBIENT = 1.0
"""``"occlusion"``: the share of the floor's light that comes from all over the room (ambient),
per unit of ``shadow``…"""
OCCLUSION_KEY = 0.4
"""…the share that comes from the key light, per unit of ``cast_opacity`` (the two add up where
the stand-in hides them, to at most all of the light)…"""
OCCLUSION_CONTACT = 0.4
"""…and the contact shadow's (:func:`ground_shadow` without its ellipse) per unit of
``shadow``: the stand-in is computed coarsely, so the darkening right at the feet is drawn."""
OCCLUSION_LINEAR = False
"""…whether the rendered light loss is taken in linear light (physically; lighter on screen) or
as a factor on the sRGB values like the drawn shadows…"""
OCCLUSION_UNDER = 1.0
"""…and the drawn shade under the body's (:func:`_under_body`), per unit of ``under_opacity``
(0: the stand-in's ambient occlusion alone shades the floor between the legs)."""


def occlusion_ground(
    placed_alpha: NDArray[np.float32],
    box: tuple[int, int, int, int],
    strength: float,
    *,
    cast_opacity: float = 0.0,
    towards: float = 0.0,
    under_opacity: float = 0.0,
    crease: float = 0.0,
    mask_product: bool = True,
) -> NDArray[np.float32]:
    """Like :func:`ground_shadow`, but the ambient occlusion, the shade under the body and the
    cast shadow are rendered from a stand-in for the product
    (:func:`adstage.composite.occlusion.occlusion_shadow`: ambient at :data:`OCCLUSION_AMBIENT`
    × ``strength``, a soft key light ``towards`` the product's right at :data:`OCCLUSION_KEY` ×
    ``cast_opacity``), over the contact shadow at :data:`OCCLUSION_CONTACT` × ``strength`` and
    the ``crease`` (and the drawn shade under the body at :data:`OCCLUSION_UNDER` ×
    ``under_opacity`` where it is darker than the rendered one). Its floor line runs through
    the product's contacts (:func:`_contacts`)."""
    h = placed_alpha.shape[0]
    x0, y0, x1, y1 = box
    bh = max(1, y1 - y0)
    inside = placed_alpha[y0:y1, x0:x1] >= 0.5
    by_column = np.full(inside.shape[1], -1, np.intp)
    cols = np.nonzero(inside.any(0))[0]
    by_column[cols] = inside.shape[0] - 1 - np.argmax(inside[::-1, cols], axis=0)
    contacts = _contacts(by_column, bh) if cols.size else np.zeros(0, bool)
    rendered = occlusion_shadow(
        placed_alpha,
        box,
        contacts,
        ambient=OCCLUSION_AMBIENT * strength,
        key=OCCLUSION_KEY * cast_opacity,
        towards=towards,
    )
    rendered[: min(h, y0 + bh // 2)] = 0.0
    if OCCLUSION_LINEAR:  # light lost in linear light, as a factor on sRGB values
        rendered = 1.0 - np.power(1.0 - rendered, 1.0 / 2.2)
    if OCCLUSION_UNDER > 0 and under_opacity > 0:
        # the drawn shade between the legs where it is darker than the rendered one (not both:
        # together they go pitch black)
        under = ground_shadow(
            placed_alpha,
            box,
            0.0,
            mask_product=False,
            under_opacity=OCCLUSION_UNDER * under_opacity,
        )
        rendered = np.maximum(rendered, under)
    drawn = ground_shadow(
        placed_alpha,
        box,
        OCCLUSION_CONTACT * strength,
        ambient=0.0,
        mask_product=False,  # masked once below: twice would leave soft edges (1 - alpha)²
        crease=crease,
    )
    dark = 1.0 - (1.0 - rendered) * (1.0 - drawn)
    if mask_product:
        dark *= 1.0 - placed_alpha
    out: NDArray[np.float32] = dark.astype(np.float32)
    return out


INNER_REACH = 0.04
"""The shade inside a product's openings (:func:`inner_shade`) is full within about this share of
the product's width of its solid parts and half as dark further in."""


def inner_shade(alpha: NDArray[np.float32], opacity: float) -> NDArray[np.float32]:
    """A darkening map in [0, ``opacity``], ``alpha``-sized (the product's own box), over its
    *openings*: the see-through pixels the product encloses on every side (the compartments of
    an open shelf, a drawer frame's window), not those open to the box's edge (the floor between
    a table's legs, which :func:`ground_shadow` shades).

    Seen through an opening is the back of the product's own interior, or the wall just behind
    it, in the shade of the shelves and sides around it (ambient occlusion): darker near the
    solid parts (full ``opacity`` within about :data:`INNER_REACH` of the width) and half as
    dark in the middle of a wide opening. In a replacement it is also what keeps the fill behind
    the product — made up, and the judges' "ghosting through open shelves" — from showing at
    full brightness."""
    h, w = alpha.shape
    out = np.zeros((h, w), np.float32)
    if opacity <= 0 or h < 3 or w < 3:
        return out
    solid = alpha >= 0.5
    n, labels = cv2.connectedComponents((~solid).astype(np.uint8), connectivity=4)
    if n <= 1:
        return out
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    enclosed = np.ones(n, bool)
    enclosed[edge] = False
    enclosed[0] = False  # the solid pixels
    holes = enclosed[labels]
    if not holes.any():
        return out
    sigma = max(1.0, INNER_REACH * w)
    near = cv2.GaussianBlur(solid.astype(np.float32), (0, 0), sigma)
    shade = opacity * (0.5 + 0.5 * np.minimum(near / 0.5, 1.0))
    out[holes] = shade[holes]
    soft = cast(NDArray[np.float32], cv2.GaussianBlur(out, (0, 0), 1.0))  # no hard rim inside
    return np.where(holes | (alpha > 0), soft, 0.0).astype(np.float32)


LIGHT_FROM_BELOW_TOP = True
"""Whether the light match reads the scene only from the product's top down (the rows beside and
below it): windows and lamps mostly lie above furniture, and the product is lit like what stands
beside it, not as bright as the window over it. With :data:`LIGHT_SKIP_SOURCES`, judged on sets
A and A2 of the blind study (issue 13) against the whole surroundings with light sources: the
product darkened this way was preferred in **14 of 15** changed pictures (38 of 45 votes; "B's
bed is a slightly greyer white that matches the room's white cabinets; A's stands out as too
bright"). Set S's judges had named white products "too bright" and "glowing" next to real
photos."""

LIGHT_MIN_PIXELS = 64
"""Fewer scene pixels than this from the product's top down (a product as wide as the frame at
its bottom edge) and the light match reads all around the product instead."""

LIGHT_SKIP_SOURCES = True
"""Whether the light match leaves clipped pixels (a window, a lamp) out of the scene's white
(:func:`adstage.composite.light.estimate_light`'s ``skip_sources``; judged with
:data:`LIGHT_FROM_BELOW_TOP`)."""


def _surroundings(
    scene: RGB,
    alpha: NDArray[np.float32],
    box: tuple[int, int, int, int],
    grow: float,
    *,
    from_top: bool = False,
) -> NDArray[np.uint8]:
    """The scene's pixels around the product: its box grown by ``grow`` of its size on each
    side, minus the product itself (``N×3``); ``from_top``: only the rows from the box's top
    down."""
    h, w = scene.shape[:2]
    x0, y0, x1, y1 = box
    gx, gy = max(4, round((x1 - x0) * grow)), max(4, round((y1 - y0) * grow))
    ax0, ay0, ax1, ay1 = max(0, x0 - gx), max(0, y0 - gy), min(w, x1 + gx), min(h, y1 + gy)
    if from_top:
        ay0 = max(0, min(y0, ay1 - 1))
    ring = np.ones((ay1 - ay0, ax1 - ax0), bool)
    ring[y0 - ay0 : y1 - ay0, x0 - ax0 : x1 - ax0] = alpha == 0
    step = max(1, round(np.sqrt(ring.size / 65536)))  # a regular sample of ≤ ~64k pixels
    out: NDArray[np.uint8] = scene[ay0:ay1:step, ax0:ax1:step][ring[::step, ::step]]
    return out


@dataclass(frozen=True)
class Composite:
    """What :func:`composite` made: the ``image``, the ``light`` gains applied (``None``: off),
    the ``edges`` method used (``None``: off), the ``shadow`` strength and time per step."""

    image: RGB = field(repr=False)
    light: LightMatch | None
    edges: str | None
    shadow: float
    seconds: dict[str, float]
    cast: dict[str, Any] | None = None
    """The cast shadow: its opacity, lean and the light's side it was leant from (``None``:
    none)."""
    under: float = 0.0
    """The opacity of the shade under the product's body (0: none)."""
    crease: float = 0.0
    """The opacity of the dark line where the product meets the floor (0: none)."""
    inner: float = 0.0
    """The opacity of the shade inside the product's openings (0: none)."""
    soften: float | None = None
    """The factor the shadows' opacity was scaled by for a room with soft shadows (``None``:
    not asked for)."""
    shading: Shading | None = None
    """The gradients shading the product (``None``: off)."""
    lift: float = 0.0
    """How much the product's black level was raised (linear light; 0: not at all)."""
    deepen: float = 1.0
    """The gamma the product's darks were deepened with (:data:`DEEPEN`; 1: not at all)."""
    camera: CameraMatch | None = None
    """The blur and compression the product was given (``None``: off)."""
    refine: dict[str, Any] | None = None
    """How a generative refiner re-drew the picture after compositing
    (:mod:`adstage.generate.refine`; ``None``: not asked for)."""

    def provenance(self) -> dict[str, Any]:
        return {
            "edges": self.edges,
            "light": None if self.light is None else self.light.as_dict(),
            "shadow": self.shadow,
            "cast": self.cast,
            "under": self.under,
            "crease": self.crease,
            "inner": self.inner,
            "soften": None if self.soften is None else round(self.soften, 4),
            "shade": None if self.shading is None else self.shading.as_dict(),
            "lift": round(self.lift, 4),
            "deepen": round(self.deepen, 4),
            "camera": None if self.camera is None else self.camera.as_dict(),
            "refine": self.refine,
        }


OCCLUDER_SOFT = 0.8
"""Standard deviation (pixels) of the blur that softens the edge of an object in front of the
product (``composite``'s ``occluder``): the catalog's masks are coarser than the photo."""


def composite(
    scene: RGB,
    rgba: NDArray[np.uint8],
    placement: Placement,
    *,
    despill_background: tuple[int, int, int] | None = None,
    edges: str = "unmix",
    light: float = 0.0,
    max_exposure: float = 1.1,
    min_exposure: float = 0.6,
    max_cast: float = 1.1,
    harmonize: float = 0.0,
    shade: float = 0.0,
    shade_base: bool = True,
    lift: float = 0.0,
    shadow: float = 0.0,
    cast_opacity: float = 0.0,
    under_opacity: float = 0.0,
    crease: float = 0.0,
    inner: float = 0.0,
    soften: bool = False,
    shadow_model: str = "layers",
    camera: bool = False,
    jpeg_quality: int | None = None,
    occluder: NDArray[np.bool_] | None = None,
) -> Composite:
    """``scene`` with the cut-out ``rgba`` (its own crop, any size) pasted at ``placement``.

    ``despill_background``: the colour the product was shot on; its soft edge is decontaminated
    with ``edges`` (one of :data:`EDGES`; ``None``: off). ``light``, ``harmonize``, ``shade``,
    ``lift``, ``shadow``: strengths in [0, 1] (0: off); ``shade_base``: whether ``shade`` also
    darkens the product towards its base. ``cast_opacity``, ``under_opacity`` and ``crease``, in
    [0, 1]: the opacities of the cast shadow (leant away from
    :func:`adstage.composite.light.light_side`), of the shade under the product's body and of
    the dark line where it meets the floor, all drawn only with a ``shadow``
    (:func:`ground_shadow`). ``light`` gains are bounded by
    ``min_exposure`` / ``max_exposure`` and, per channel, ``max_cast``
    (:func:`adstage.composite.light.estimate_light`). ``inner``, in [0, 1]: the opacity of the
    shade inside the product's openings (:func:`inner_shade`; independent of ``shadow``).
    ``soften``: every shadow's opacity scaled down in a room whose own shadows are soft
    (:func:`adstage.composite.light.room_softness`). ``shadow_model``: one of
    :data:`SHADOW_MODELS`. ``camera``: blur the product like the scene around it and, with a
    ``jpeg_quality``, compress every changed pixel like the scene was
    (:func:`adstage.composite.camera.match_camera`). ``occluder``: a scene-sized mask of what
    stands in front of the product (:func:`adstage.stage.freespace.nearer_than`): the product
    and its shadows are drawn behind it, its edge softened by :data:`OCCLUDER_SOFT` pixels.
    """
    scene = as_rgb(scene, name="scene")
    harmonize = _check_unit(harmonize, "harmonize")
    shadow = _check_unit(shadow, "shadow")
    light = _check_unit(light, "light")
    cast_opacity = _check_unit(cast_opacity, "cast_opacity")
    under_opacity = _check_unit(under_opacity, "under_opacity")
    crease = _check_unit(crease, "crease")
    inner = _check_unit(inner, "inner")
    shade = _check_unit(shade, "shade")
    lift = _check_unit(lift, "lift")
    if edges not in EDGES:
        raise InputError(f"edges: expected one of {', '.join(EDGES)}, got {edges!r}")
    if shadow_model not in SHADOW_MODELS:
        raise InputError(
            f"shadow_model: expected one of {', '.join(SHADOW_MODELS)}, got {shadow_model!r}"
        )
    h, w = scene.shape[:2]
    if placement.scene_size != (w, h):
        raise InputError(
            f"placement: made for a {placement.scene_size[0]}×{placement.scene_size[1]} scene, "
            f"got a {w}×{h} one"
        )
    seconds: dict[str, float] = {}
    softness = 1.0
    t = time.perf_counter()
    if despill_background is not None:
        rgba = decontaminate(rgba, despill_background, method=edges)
    seconds["edges"] = time.perf_counter() - t
    scaled = scale_cutout(rgba, placement)
    x0, y0, x1, y1 = placement.box
    alpha = scaled[..., 3].astype(np.float32) / 255.0
    front = None  # how much of each scene pixel the objects in front of the product cover
    if occluder is not None:
        if occluder.shape != (h, w):
            raise InputError(f"occluder: expected a {w}×{h} mask, got shape {occluder.shape}")
        front = cv2.GaussianBlur(occluder.astype(np.float32), (0, 0), OCCLUDER_SOFT)
    product = scaled[..., :3]
    t = time.perf_counter()
    match = None
    if light > 0:
        around = _surroundings(scene, alpha, placement.box, 0.5, from_top=LIGHT_FROM_BELOW_TOP)
        if len(around) < LIGHT_MIN_PIXELS:  # a wide product at the frame's bottom: all around
            around = _surroundings(scene, alpha, placement.box, 0.5)
        match = estimate_light(
            around,
            strength=light,
            min_exposure=min_exposure,
            max_exposure=max_exposure,
            max_cast=max_cast,
            skip_sources=LIGHT_SKIP_SOURCES,
        )
        product = apply_light(product, match)
    if harmonize > 0:
        product = _harmonize(
            product, alpha, _surroundings(scene, alpha, placement.box, 0.25), harmonize
        )
    lifted = 0.0
    if lift > 0:
        around = _surroundings(scene, alpha, placement.box, 0.5)
        product, lifted = lift_blacks(product, alpha, around, lift)
    gamma = 1.0
    if DEEPEN is not None:
        product, gamma = deepen_darks(product, alpha, DEEPEN, DEEPEN_MAX_GAMMA)
    light_x = light_side(scene) if shade > 0 or (shadow > 0 and cast_opacity > 0) else None
    shading = None
    if shade > 0:
        product, shading = shade_product(product, placement.box, w, light_x, shade, base=shade_base)
    seconds["light"] = time.perf_counter() - t
    t = time.perf_counter()
    out = scene.copy()
    thrown: dict[str, Any] | None = None
    lean = 0.0
    if shadow > 0 and cast_opacity > 0:
        lean = cast_lean(light_x, placement.box, w)
        thrown = {"opacity": cast_opacity, "lean": round(lean, 3), "light_x": light_x}
    if shadow > 0:
        # Only the rows and columns the shadow can reach (the box widened by its ellipse's blur
        # and the cast shadow's lean), where the box is at most SHADOW_MAP_WIDTH pixels wide:
        # the map is smooth.
        reach = 0 if thrown is None else abs(lean) * (y1 - y0) + 0.25 * (x1 - x0)
        pad = 4 + round(max(0.8 * (x1 - x0), reach))
        sx0, sx1 = max(0, x0 - pad), min(w, x1 + pad)
        sy0, sy1 = y0, min(h, y1 + 4 + round(0.3 * (x1 - x0)))
        f = min(1.0, SHADOW_MAP_WIDTH / max(1, x1 - x0))
        lw, lh = max(1, round((sx1 - sx0) * f)), max(1, round((sy1 - sy0) * f))
        local = np.zeros((sy1 - sy0, sx1 - sx0), np.float32)
        local[: y1 - y0, x0 - sx0 : x1 - sx0] = alpha
        small = cv2.resize(local, (lw, lh), interpolation=cv2.INTER_AREA) if f < 1 else local
        sbox = (round((x0 - sx0) * f), 0, round((x1 - sx0) * f), round((y1 - y0) * f))
        if shadow_model == "occlusion":
            dark = occlusion_ground(
                cast(NDArray[np.float32], small),
                sbox,
                shadow,
                cast_opacity=0.0 if thrown is None else cast_opacity,
                towards=float(np.clip(towards_light(light_x, placement.box, w), -1.0, 1.0)),
                under_opacity=under_opacity,
                crease=crease,
                mask_product=f == 1,
            )
        else:
            dark = ground_shadow(
                cast(NDArray[np.float32], small),
                sbox,
                shadow,
                mask_product=f == 1,
                cast_opacity=0.0 if thrown is None else cast_opacity,
                lean=lean,
                under_opacity=under_opacity,
                crease=crease,
                ambient=AMBIENT,
            )
        if f < 1:
            # Back to full size; the product's own pixels stay unshaded at full resolution.
            big = cv2.resize(dark, (sx1 - sx0, sy1 - sy0), interpolation=cv2.INTER_LINEAR)
            dark = cast(NDArray[np.float32], big)
            dark *= 1.0 - local
        if soften:
            softness, _ = room_softness(scene)
            dark *= softness
        if front is not None:  # no shadow on what stands in front
            dark = dark * (1.0 - front[sy0:sy1, sx0:sx1])
        keep = (1.0 - dark)[..., None]
        region = out[sy0:sy1, sx0:sx1].astype(np.float32) * keep
        out[sy0:sy1, sx0:sx1] = np.clip(np.rint(region), 0, 255).astype(np.uint8)
    seconds["shadow"] = time.perf_counter() - t
    region = out[y0:y1, x0:x1].astype(np.float32)
    # The whole product lights and shades the room; only what is seen of it is drawn.
    seen = np.ones_like(alpha) if front is None else 1.0 - front[y0:y1, x0:x1]
    if inner > 0:
        region *= (1.0 - inner_shade(alpha, inner) * seen)[..., None]
    shown = alpha * seen
    mixed = product.astype(np.float32) * shown[..., None] + region * (1.0 - shown[..., None])
    blended = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    opaque = shown >= 1.0
    blended[opaque] = product[opaque]  # exact (lit) product pixels where the cut-out is opaque
    out[y0:y1, x0:x1] = blended
    matched = None
    if camera:
        t = time.perf_counter()
        placed = np.zeros((h, w), bool)
        placed[y0:y1, x0:x1] = shown >= 0.5
        out, matched = match_camera(out, scene, placed, quality=jpeg_quality)
        seconds["camera"] = time.perf_counter() - t
    return Composite(
        image=out,
        light=match,
        edges=edges if despill_background is not None else None,
        shadow=shadow,
        seconds=seconds,
        cast=thrown,
        under=under_opacity if shadow > 0 else 0.0,
        crease=crease if shadow > 0 else 0.0,
        inner=inner,
        soften=softness if soften and shadow > 0 else None,
        shading=shading,
        lift=lifted,
        deepen=gamma,
        camera=matched,
    )


def paste(
    scene: RGB,
    rgba: NDArray[np.uint8],
    placement: Placement,
    *,
    despill_background: tuple[int, int, int] | None = None,
    harmonize: float = 0.0,
    shadow: float = 0.0,
    **options: Any,
) -> RGB:
    """:func:`composite`'s image (the same keyword options: ``edges``, ``light``, …).

    ``despill_background``: the colour the product was shot on, to un-mix from its soft edge
    (``None``: off). ``harmonize`` / ``shadow``: strengths in [0, 1] (0: off).
    """
    return composite(
        scene,
        rgba,
        placement,
        despill_background=despill_background,
        harmonize=harmonize,
        shadow=shadow,
        **options,
    ).image
