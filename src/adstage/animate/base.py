"""Image-to-parallax animation: one staged image becomes a short looping video ad.

Ku et al. (AdKDD 2023, §5.4) turn a product image into a video by moving the salient product,
in-painting the gap it reveals, and letting the background and the foreground move at different
speeds, which reads as depth. Here:

1. **Fit** the image and its product mask to the output size (cropped around the product, or the
   canvas extended, as for the ad formats of :mod:`adstage.composite.formats`, then scaled).
2. **Clean plate**, once: the product's mask, dilated, is filled by an inpainter of
   :data:`adstage.inpaint.INPAINTERS` (default :data:`~adstage.inpaint.DEFAULT_INPAINTER`). The
   plate is then padded by reflection by as many pixels as the background moves (at most
   ``parallax`` × the motion's amplitude), so the still keeps its framing exactly.
3. **Render** each frame: the plate moved by ``parallax`` × the product's motion (0: still, 1: the
   whole picture moves together), then the product — a premultiplied RGBA sprite cut out once —
   warped with sub-pixel precision to its pose and composited over the plate, with an optional
   soft contact shadow that follows it. Only the product's region is composited per frame.

Motions (:data:`MOTIONS`) are periodic in the loop's phase ``t`` in ``[0, 1)``, so the frame at
``t = 1`` is the frame at ``t = 0``: the video loops without a jump. Every motion starts at rest
(frame 0 is the still). Easing (:data:`EASINGS`) shapes each half swing.

Coordinates are ``(x, y)`` in output pixels; a :class:`Pose` moves the product by ``(dx, dy)``,
scales it by ``scale`` about the centre of its box and lifts it ``lift`` pixels off the floor
(the shadow stays on the floor and fades).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import AdstageError, InputError
from adstage.inpaint.base import DEFAULT_INPAINTER, INPAINTERS, inpaint
from adstage.registry import Registry
from adstage.types import RGB, THRESHOLD, as_alpha, as_rgb

log = logging.getLogger(__name__)

__all__ = [
    "AD_SIZES",
    "EASINGS",
    "MOTIONS",
    "Animation",
    "AnimationOptions",
    "Motion",
    "Plate",
    "Pose",
    "clean_plate",
    "parse_size",
    "pulse",
    "swing",
]

# --------------------------------------------------------------------------------------------
# easing and periodic waves

Easing = Callable[[float], float]


def _linear(u: float) -> float:
    return u


def _sine(u: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * u)


def _quad(u: float) -> float:
    return 2 * u * u if u < 0.5 else 1 - 2 * (1 - u) * (1 - u)


def _cubic(u: float) -> float:
    return 4 * u**3 if u < 0.5 else 1 - 4 * (1 - u) ** 3


EASINGS: dict[str, Easing] = {"sine": _sine, "linear": _linear, "quad": _quad, "cubic": _cubic}
"""Easing curves on ``[0, 1]`` (``f(0) = 0``, ``f(1) = 1``), in-out. ``sine`` makes
:func:`swing` exactly ``sin(2πt)``; ``linear`` makes it a triangle wave."""


def swing(t: float, easing: Easing = _sine) -> float:
    """A wave of period 1 in ``[-1, 1]``: 0 at ``t = 0``, +1 at 0.25, 0 at 0.5, −1 at 0.75.

    Each half swing (−1 → +1 and back) follows ``easing``.
    """
    phase = (t + 0.25) % 1.0
    if phase < 0.5:
        return -1.0 + 2.0 * easing(phase / 0.5)
    return 1.0 - 2.0 * easing((phase - 0.5) / 0.5)


def pulse(t: float, easing: Easing = _sine) -> float:
    """A wave of period 1 in ``[0, 1]``: 0 at ``t = 0``, 1 at 0.5, back to 0 at 1."""
    phase = t % 1.0
    return easing(1.0 - abs(1.0 - 2.0 * phase))


# --------------------------------------------------------------------------------------------
# motions


@dataclass(frozen=True)
class Pose:
    """Where the product is in one frame, relative to where it is in the still.

    ``dx``, ``dy``: pixels (``+y`` down). ``scale``: about the centre of the product's box.
    ``lift``: pixels off the floor (moves the product up, not its shadow).
    """

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    lift: float = 0.0


class Motion:
    """A periodic product motion. ``amplitude``: a fraction of the frame's shorter side for
    translations (of the scale for ``push-in``); ``None`` in the options means
    :attr:`default_amplitude`."""

    default_amplitude: ClassVar[float]

    def pose(self, t: float, *, amplitude: float, side: float, easing: Easing) -> Pose:
        raise NotImplementedError


MOTIONS: Registry[Motion] = Registry("motion")


@MOTIONS.register("sway")
@dataclass(frozen=True)
class Sway(Motion):
    """Side to side: ``dx = A·swing(t)``."""

    default_amplitude: ClassVar[float] = 0.04

    def pose(self, t: float, *, amplitude: float, side: float, easing: Easing) -> Pose:
        return Pose(dx=amplitude * side * swing(t, easing))


@MOTIONS.register("orbit")
@dataclass(frozen=True)
class Orbit(Motion):
    """A loop around the product: sideways ``A·swing(t)``, back (up the image, smaller) by
    ``depth·A·pulse(t)``, so the product traces an ellipse through its resting place."""

    default_amplitude: ClassVar[float] = 0.05
    depth: float = 0.3

    def pose(self, t: float, *, amplitude: float, side: float, easing: Easing) -> Pose:
        back = pulse(t, easing)
        return Pose(
            dx=amplitude * side * swing(t, easing),
            dy=-self.depth * amplitude * side * back,
            scale=1.0 - amplitude * back,
        )


@MOTIONS.register("push-in")
@dataclass(frozen=True)
class PushIn(Motion):
    """The camera moves towards the product and back: ``scale = 1 + A·pulse(t)``."""

    default_amplitude: ClassVar[float] = 0.08

    def pose(self, t: float, *, amplitude: float, side: float, easing: Easing) -> Pose:
        return Pose(scale=1.0 + amplitude * pulse(t, easing))


@MOTIONS.register("rise")
@dataclass(frozen=True)
class Rise(Motion):
    """The product floats up off the floor and settles: ``lift = A·pulse(t)``."""

    default_amplitude: ClassVar[float] = 0.04

    def pose(self, t: float, *, amplitude: float, side: float, easing: Easing) -> Pose:
        return Pose(lift=amplitude * side * pulse(t, easing))


# --------------------------------------------------------------------------------------------
# options

AD_SIZES: dict[str, tuple[int, int]] = {
    "square": (1080, 1080),
    "portrait": (1080, 1350),
    "story": (1080, 1920),
    "landscape": (1920, 1080),
    "link": (1200, 628),
}
"""Named ad sizes ``(width, height)``: feed 1:1 and 4:5, stories 9:16, 16:9, link ads 1.91:1."""

MIN_SIDE, MAX_SIDE = 16, 4096
SHADOW_STRENGTH = 0.3
"""Default darkening at the centre of the contact shadow (``--shadow``)."""
MAX_DURATION = 60.0


def parse_size(text: str) -> tuple[int, int] | None:
    """``"1080x1080"`` (or ``×``), a name of :data:`AD_SIZES`, or ``"source"`` (``None``: the
    image's own size) → ``(width, height)``."""
    value = str(text).strip().lower()
    if value in ("source", "original"):
        return None
    if value in AD_SIZES:
        return AD_SIZES[value]
    match = re.fullmatch(r"(\d+)\s*[x×]\s*(\d+)", value)
    if not match:
        raise InputError(
            f"size: expected WIDTHxHEIGHT (e.g. 1080x1080), one of {', '.join(AD_SIZES)} or "
            f"'source', got {text!r}"
        )
    return _check_size((int(match.group(1)), int(match.group(2))))


def _check_size(size: Any) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InputError(f"size: expected (width, height), got {size!r}") from None
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise InputError(f"size: each side must lie in {MIN_SIDE}..{MAX_SIDE} px, got {w}×{h}")
    return (w, h)


def _unit(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InputError(f"{name}: expected a number in [0, 1], got {value!r}")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class AnimationOptions:
    """How to animate. Every field is checked on construction (:class:`InputError` naming it).

    ``motion``: a name in :data:`MOTIONS`. ``duration``: seconds of one loop, in (0, 60].
    ``fps``: frames per second, 1..120; the loop has ``round(duration × fps)`` frames.
    ``size``: output ``(width, height)``, each side 16..4096, or ``None`` for the image's size
    (scaled down to 4096 px a side if larger) rounded down to even sides (H.264 needs them).
    ``parallax``: the background's share of the product's motion, in
    [0, 1]. ``amplitude``: the motion's size (see :class:`Motion`; ``None``: its default), in
    (0, 0.25]. ``easing``: a name in :data:`EASINGS`. ``shadow``: strength of the contact shadow
    that follows the product (0: none). ``inpainter``: the backend that builds the clean plate.
    ``dilate_px``: how far the hole reaches beyond the mask (``None``: 2 % of the product's longer
    side, at least 3 px).
    """

    motion: str = "sway"
    duration: float = 3.0
    fps: int = 30
    size: tuple[int, int] | None = (1080, 1080)
    parallax: float = 0.3
    amplitude: float | None = None
    easing: str = "sine"
    shadow: float = SHADOW_STRENGTH
    inpainter: str = DEFAULT_INPAINTER
    dilate_px: int | None = None

    def __post_init__(self) -> None:
        if self.motion not in MOTIONS:
            raise InputError(
                f"motion: unknown motion {self.motion!r}; known: {', '.join(MOTIONS.names())}"
            )
        if self.easing not in EASINGS:
            raise InputError(
                f"easing: unknown easing {self.easing!r}; known: {', '.join(sorted(EASINGS))}"
            )
        d = self.duration
        if isinstance(d, bool) or not isinstance(d, int | float) or not 0 < d <= MAX_DURATION:
            raise InputError(f"duration: expected seconds in (0, {MAX_DURATION:g}], got {d!r}")
        if isinstance(self.fps, bool) or not isinstance(self.fps, int) or not 1 <= self.fps <= 120:
            raise InputError(f"fps: expected an integer in 1..120, got {self.fps!r}")
        if round(d * self.fps) < 2:
            raise InputError(f"duration × fps: {d:g} s at {self.fps} fps gives fewer than 2 frames")
        if self.size is not None:
            object.__setattr__(self, "size", _check_size(self.size))
        _unit(self.parallax, "parallax")
        _unit(self.shadow, "shadow")
        a = self.amplitude
        if a is not None and (
            isinstance(a, bool) or not isinstance(a, int | float) or not 0 < a <= 0.25
        ):
            raise InputError(f"amplitude: expected a fraction in (0, 0.25], got {a!r}")
        dil = self.dilate_px
        if dil is not None and (isinstance(dil, bool) or not isinstance(dil, int) or dil < 0):
            raise InputError(f"dilate_px: expected an int >= 0 or None, got {dil!r}")
        try:
            INPAINTERS.resolve(self.inpainter)
        except AdstageError as exc:
            raise InputError(f"inpainter: {exc}") from exc

    @property
    def frames(self) -> int:
        """Frames in one loop: ``round(duration × fps)``."""
        return round(self.duration * self.fps)

    @property
    def motion_amplitude(self) -> float:
        cls = MOTIONS.resolve(self.motion)
        return float(self.amplitude if self.amplitude is not None else cls.default_amplitude)


# --------------------------------------------------------------------------------------------
# the input mask, fitting, the clean plate


def check_mask(mask: Any, shape: tuple[int, int], *, name: str = "mask") -> NDArray[np.float32]:
    """``mask`` as ``float32`` ``H×W`` alpha, refused when it cannot be animated.

    Raises :class:`InputError` when its size differs from the image's ``shape`` (``(H, W)``), when
    no pixel reaches 0.5 (no product) or when every pixel does (no background to move behind).
    """
    arr = np.asarray(mask)
    if arr.ndim >= 2 and arr.shape[:2] != tuple(shape):
        raise InputError(
            f"{name}: is {arr.shape[1]}×{arr.shape[0]} (W×H) but the image is "
            f"{shape[1]}×{shape[0]}; the mask must have the image's size"
        )
    alpha = as_alpha(arr, shape, name=name)
    binary = alpha >= THRESHOLD
    if not binary.any():
        raise InputError(
            f"{name}: empty (no pixel >= 0.5), so there is no product to move; "
            "check the mask (255 = product) or leave it out to segment the image"
        )
    if binary.all():
        raise InputError(
            f"{name}: covers the whole {shape[1]}×{shape[0]} image, so there is no background "
            "to show behind the product; the mask must mark only the product (255 = product)"
        )
    return alpha


def _box(binary: NDArray[np.bool_]) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(binary)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _even_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """The image's own size with even sides (H.264 needs them), at most :data:`MAX_SIDE`."""
    h, w = shape[:2]
    f = min(1.0, MAX_SIDE / max(h, w))
    w, h = int(w * f), int(h * f)
    return _check_size((max(MIN_SIDE, w - w % 2), max(MIN_SIDE, h - h % 2)))


def fit_to_size(
    image: RGB, alpha: NDArray[np.float32], size: tuple[int, int]
) -> tuple[RGB, NDArray[np.float32]]:
    """``image`` and ``alpha`` at ``size`` ``(width, height)``.

    The aspect ratio is reached as for ad formats (:func:`~adstage.composite.formats.to_format`:
    crop around the product when it fits the safe area, else extend the canvas), then the picture
    is scaled to cover the canvas (area when shrinking, linear when enlarging; the mask alike) and
    cropped around the product.
    """
    from adstage.composite.formats import to_format

    cw, ch = size
    box = _box(alpha >= THRESHOLD)
    if abs(image.shape[1] / image.shape[0] - cw / ch) > 1e-3:
        fitted, new_box = to_format(image, box, cw / ch)
        ox, oy = new_box[0] - box[0], new_box[1] - box[1]  # > 0: canvas extended; < 0: cropped
        fh, fw = fitted.shape[:2]
        placed = np.zeros((fh, fw), np.float32)
        sy0, sx0 = max(0, -oy), max(0, -ox)
        dy0, dx0 = max(0, oy), max(0, ox)
        ph, pw = min(fh - dy0, alpha.shape[0] - sy0), min(fw - dx0, alpha.shape[1] - sx0)
        placed[dy0 : dy0 + ph, dx0 : dx0 + pw] = alpha[sy0 : sy0 + ph, sx0 : sx0 + pw]
        image, alpha, box = fitted, placed, new_box
    f = max(cw / image.shape[1], ch / image.shape[0])
    rw, rh = (
        max(cw, math.ceil(image.shape[1] * f - 1e-6)),
        max(ch, math.ceil(image.shape[0] * f - 1e-6)),
    )
    if (rw, rh) != (image.shape[1], image.shape[0]):
        method = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
        image = cv2.resize(image, (rw, rh), interpolation=method)
        alpha = np.clip(cv2.resize(alpha, (rw, rh), interpolation=method), 0.0, 1.0)
    cx, cy = (box[0] + box[2]) / 2 * f, (box[1] + box[3]) / 2 * f
    left = round(min(max(cx - cw / 2, 0), rw - cw))
    top = round(min(max(cy - ch / 2, 0), rh - ch))
    return (
        np.ascontiguousarray(image[top : top + ch, left : left + cw]),
        np.ascontiguousarray(alpha[top : top + ch, left : left + cw]),
    )


@dataclass(frozen=True)
class Plate:
    """The background with the product removed: ``image`` (``H×W×3`` uint8) equals the input
    outside ``hole`` (``bool``, the dilated product mask) and is inpainted inside it. An
    :class:`Animation`'s plate is padded by ``anim.margin`` pixels on each side."""

    image: RGB = field(repr=False)
    hole: NDArray[np.bool_] = field(repr=False)
    inpainter: str
    seconds: float


def clean_plate(
    image: Any,
    alpha: Any,
    *,
    inpainter: str = DEFAULT_INPAINTER,
    dilate_px: int | None = None,
) -> Plate:
    """Inpaint behind the product once: the hole is the product's mask (alpha >= 0.5) dilated by
    ``dilate_px`` (``None``: 2 % of the product's longer side, at least 3 px), which takes in its
    soft edge."""
    rgb = as_rgb(image)
    a = as_alpha(alpha, rgb.shape[:2], name="mask")
    binary = a >= THRESHOLD
    if not binary.any():
        raise InputError("mask: empty (no pixel >= 0.5), so there is no product to remove")
    if dilate_px is None:
        x0, y0, x1, y1 = _box(binary)
        dilate_px = max(3, round(0.02 * max(x1 - x0, y1 - y0)))
    hole = binary
    if dilate_px:
        kernel = cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1)
        )
        hole = cv2.dilate(binary.astype(np.uint8), kernel) > 0
    if hole.all():
        raise InputError(
            f"mask: the product, grown by {dilate_px} px, covers the whole "
            f"{rgb.shape[1]}×{rgb.shape[0]} frame, so there is no background to show behind it"
        )
    started = time.perf_counter()
    filled = inpaint(rgb, hole, backend=inpainter)
    seconds = time.perf_counter() - started
    log.info("clean plate: %d px inpainted by %s in %.2f s", int(hole.sum()), inpainter, seconds)
    return Plate(image=filled, hole=hole, inpainter=inpainter, seconds=seconds)


# --------------------------------------------------------------------------------------------
# the renderer


@dataclass(frozen=True)
class _Layer:
    """A piece warped onto each frame: ``image`` whose pixel (0, 0) sits at canvas pixel
    ``origin`` in the still."""

    image: NDArray[Any]
    origin: tuple[int, int]


def _product_layers(
    canvas: RGB, alpha: NDArray[np.float32], behind: RGB, pad: int
) -> tuple[_Layer, _Layer, tuple[int, int, int, int]]:
    """The product's straight colour (uint8) and alpha (float32), its box grown by ``pad``.

    An edge pixel is ``I = a·F + (1 − a)·B``; the plate ``behind`` is the best estimate of ``B``,
    so ``F = (I − (1 − a)·B) / a``: composited over the unmoved plate, the product is the input
    again. Colour is extended a few pixels past the edge so interpolation never pulls in black.
    """
    h, w = alpha.shape
    x0, y0, x1, y1 = _box(alpha > 1.0 / 255.0)
    gx0, gy0, gx1, gy1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    sh, sw = gy1 - gy0, gx1 - gx0
    colour = np.zeros((sh, sw, 3), np.float32)
    a = np.zeros((sh, sw), np.float32)
    cx0, cy0, cx1, cy1 = max(0, gx0), max(0, gy0), min(w, gx1), min(h, gy1)
    inner = (slice(cy0 - gy0, cy1 - gy0), slice(cx0 - gx0, cx1 - gx0))
    a[inner] = alpha[cy0:cy1, cx0:cx1]
    observed = canvas[cy0:cy1, cx0:cx1].astype(np.float32)
    aa = a[inner][..., None]
    premultiplied = np.clip(observed - (1.0 - aa) * behind[cy0:cy1, cx0:cx1], 0.0, 255.0 * aa)
    colour[inner] = premultiplied
    spread_p = cv2.boxFilter(colour, -1, (5, 5), normalize=False)
    spread_a = cv2.boxFilter(a, -1, (5, 5), normalize=False)[..., None]
    inside = a[..., None] > 1.0 / 255.0
    with np.errstate(divide="ignore", invalid="ignore"):
        straight = np.where(
            inside,
            colour / np.maximum(a[..., None], 1e-6),
            np.where(spread_a > 0, spread_p / np.maximum(spread_a, 1e-6), 0.0),
        )
    straight8 = np.clip(np.rint(straight), 0, 255).astype(np.uint8)
    return _Layer(straight8, (gx0, gy0)), _Layer(a, (gx0, gy0)), (x0, y0, x1, y1)


class Animation:
    """A prepared animation: the clean plate, the product sprite and the motion.

    Build it with :meth:`prepare`; then ``len(anim)`` frames, ``anim.frame(i)`` (any integer ``i``:
    the motion is periodic, so ``frame(len(anim))`` equals ``frame(0)``) or ``for frame in anim``.
    Frames are ``H×W×3`` uint8 RGB of ``anim.size`` ``(width, height)``.

    Per frame: the background is a slice of the plate (integer shift), two ``addWeighted`` passes
    (sub-pixel shift) or one ``warpAffine`` (zoom); the product's colour and alpha are warped
    (``warpAffine``, bilinear) into their box only and blended there (``blendLinear``); the shadow
    darkens its own strip.
    """

    def __init__(
        self,
        canvas: RGB,
        alpha: NDArray[np.float32],
        plate: Plate,
        *,
        margin: int,
        size: tuple[int, int],
        options: AnimationOptions,
    ) -> None:
        self.options = options
        self.size = size
        self.margin = margin
        self.canvas = canvas
        self.plate = plate
        self.fps = options.fps
        self._motion = MOTIONS.create(options.motion)
        self._easing = EASINGS[options.easing]
        self._amplitude = options.motion_amplitude
        self._side = float(min(size))
        self._n = options.frames
        # The sprite's alpha: the soft mask inside the hole only, so faint values a segmenter
        # leaves far from the product do not drag the background along.
        self.alpha = np.where(plate.hole, alpha, 0.0).astype(np.float32)
        self._colour, self._alpha, box = _product_layers(canvas, self.alpha, plate.image, 2)
        x0, y0, x1, y1 = box
        self.product_box = (x0 - margin, y0 - margin, x1 - margin, y1 - margin)  # frame pixels
        self.anchor = ((x0 + x1) / 2.0 - margin, (y0 + y1) / 2.0 - margin)
        self._product_height = float(y1 - y0)
        self._shadow: _Layer | None = None
        if options.shadow > 0:
            from adstage.composite.blend import contact_shadow

            bw, bh = x1 - x0, y1 - y0
            pad = 4 + math.ceil(0.2 * bw)  # holds the ellipse's blur
            dark = contact_shadow(
                np.zeros((bh + 2 * pad, bw + 2 * pad), np.float32),
                (pad, pad, pad + bw, pad + bh),
                options.shadow,
            )
            ys, xs = np.nonzero(dark > 1.0 / 1024.0)
            if ys.size:
                sx0, sy0, sx1, sy1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
                self._shadow = _Layer(
                    np.ascontiguousarray(dark[sy0:sy1, sx0:sx1]),
                    (int(x0 - pad + sx0), int(y0 - pad + sy0)),
                )

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def prepare(
        cls, image: Any, mask: Any, options: AnimationOptions | None = None, **kwargs: Any
    ) -> Animation:
        """Fit ``image`` (PIL or ``H×W×3`` uint8 RGB) and ``mask`` (its product alpha: bool,
        uint8 255 = product, or float in [0, 1], the image's size) to the output size and build
        the clean plate. ``kwargs``: :class:`AnimationOptions` fields (when ``options`` is None).

        Raises :class:`InputError` for a mask that is empty, full or of another size, and for
        bad options.
        """
        if options is None:
            options = AnimationOptions(**kwargs)
        elif kwargs:
            raise TypeError("pass either options or keyword options, not both")
        rgb = as_rgb(image)
        alpha = check_mask(mask, rgb.shape[:2])
        size = options.size or _even_size(rgb.shape)
        canvas, fitted = fit_to_size(rgb, alpha, size)
        if not (fitted >= THRESHOLD).any():
            raise InputError("mask: the product vanished when fitted to the output size")
        plate = clean_plate(
            canvas, fitted, inpainter=options.inpainter, dilate_px=options.dilate_px
        )
        m = cls._margin(options, size)
        if m:  # room for the background to move: reflected picture, no product, no hole
            reflect = cv2.BORDER_REFLECT_101
            canvas = cv2.copyMakeBorder(canvas, m, m, m, m, reflect)
            fitted = cv2.copyMakeBorder(fitted, m, m, m, m, cv2.BORDER_CONSTANT, value=0)
            hole = cv2.copyMakeBorder(plate.hole.astype(np.uint8), m, m, m, m, cv2.BORDER_CONSTANT)
            plate = replace(
                plate,
                image=cv2.copyMakeBorder(plate.image, m, m, m, m, reflect),
                hole=hole > 0,
            )
        return cls(canvas, fitted, plate, margin=m, size=size, options=options)

    @staticmethod
    def _margin(options: AnimationOptions, size: tuple[int, int]) -> int:
        """Pixels the background can move: the plate is this much larger on each side."""
        if options.parallax == 0:
            return 0
        motion = MOTIONS.create(options.motion)
        side, amp, ease = float(min(size)), options.motion_amplitude, EASINGS[options.easing]
        n = options.frames
        most = 0.0
        for i in range(n):
            p = motion.pose(i / n, amplitude=amp, side=side, easing=ease)
            most = max(most, abs(p.dx), abs(p.dy))
        return math.ceil(options.parallax * most) + (1 if most > 0 else 0)

    # -- poses ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n

    @property
    def duration(self) -> float:
        """Seconds of one loop."""
        return self._n / self.fps

    def pose(self, i: int) -> Pose:
        """The product's pose in frame ``i`` (phase ``i / len(self)``)."""
        return self._motion.pose(
            i / self._n, amplitude=self._amplitude, side=self._side, easing=self._easing
        )

    def background_pose(self, i: int) -> Pose:
        """The background's pose: ``parallax`` × the product's translation and zoom."""
        p, r = self.pose(i), self.options.parallax
        return Pose(dx=r * p.dx, dy=r * p.dy, scale=1.0 + r * (p.scale - 1.0))

    @property
    def still(self) -> RGB:
        """The fitted input at the output size: what the video shows at rest."""
        m, (w, h) = self.margin, self.size
        return np.ascontiguousarray(self.canvas[m : m + h, m : m + w])

    def swept_box(self) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)``: every pixel any frame re-composites (product and shadow) lies in
        it; outside it a frame is the (moved) plate."""
        boxes = []
        for i in range(self._n):
            p = self.pose(i)
            boxes.append(self._region(self._alpha, p, p.lift))
            if self._shadow is not None:
                boxes.append(self._region(self._shadow, p, 0.0))
        found = [b for b in boxes if b is not None]
        if not found:
            return (0, 0, 0, 0)
        return (
            min(b[0] for b in found),
            min(b[1] for b in found),
            max(b[2] for b in found),
            max(b[3] for b in found),
        )

    # -- rendering -----------------------------------------------------------------------------

    def _matrix(self, layer: _Layer, p: Pose, lift: float, x0: int, y0: int) -> NDArray[np.float64]:
        """``layer`` pixels → frame pixels relative to ``(x0, y0)``: scale about the anchor,
        then move by the pose."""
        s, m = p.scale, self.margin
        ax, ay = self.anchor
        ox, oy = layer.origin
        return np.array(
            [
                [s, 0.0, ax + s * (ox - m - ax) + p.dx - x0],
                [0.0, s, ay + s * (oy - m - ay) + p.dy - lift - y0],
            ]
        )

    def _region(self, layer: _Layer, p: Pose, lift: float) -> tuple[int, int, int, int] | None:
        """The frame box ``layer`` covers at pose ``p``, clipped to the frame."""
        w, h = self.size
        lh, lw = layer.image.shape[:2]
        mat = self._matrix(layer, p, lift, 0, 0)
        fx0, fy0 = mat[0, 2], mat[1, 2]
        x0, y0 = max(0, math.floor(fx0) - 1), max(0, math.floor(fy0) - 1)
        x1 = min(w, math.ceil(fx0 + p.scale * lw) + 1)
        y1 = min(h, math.ceil(fy0 + p.scale * lh) + 1)
        if x0 >= x1 or y0 >= y1:
            return None
        return (x0, y0, x1, y1)

    def _warp(
        self, layer: _Layer, p: Pose, lift: float
    ) -> tuple[NDArray[Any], tuple[int, int, int, int]] | None:
        box = self._region(layer, p, lift)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        warped = cv2.warpAffine(
            layer.image,
            self._matrix(layer, p, lift, x0, y0),
            (x1 - x0, y1 - y0),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        return warped, box

    def _background(self, i: int) -> RGB:
        b = self.background_pose(i)
        plate, m, (w, h) = self.plate.image, self.margin, self.size
        if b.scale == 1.0:
            # Frame pixel (x, y) shows plate pixel (x + m − dx, y + m − dy).
            sx, sy = m - b.dx, m - b.dy
            ix, iy = math.floor(sx + 1e-9), math.floor(sy + 1e-9)
            fx, fy = sx - ix, sy - iy
            fx, fy = (0.0 if fx < 1e-6 else fx), (0.0 if fy < 1e-6 else fy)
            rows = h + (1 if fy else 0)
            if fx:
                left = plate[iy : iy + rows, ix : ix + w]
                right = plate[iy : iy + rows, ix + 1 : ix + 1 + w]
                band = cv2.addWeighted(left, 1.0 - fx, right, fx, 0.0)
            else:
                band = plate[iy : iy + rows, ix : ix + w]
            if fy:
                return cv2.addWeighted(band[:h], 1.0 - fy, band[1 : h + 1], fy, 0.0)
            return band if fx else band.copy()
        ax, ay = self.anchor
        s = b.scale
        mat = np.array([[s, 0.0, ax - s * (m + ax) + b.dx], [0.0, s, ay - s * (m + ay) + b.dy]])
        return cv2.warpAffine(
            plate, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )

    def frame(self, i: int) -> RGB:
        """Frame ``i`` as a new ``H×W×3`` uint8 RGB array."""
        out = self._background(i)
        p = self.pose(i)
        if self._shadow is not None:
            warped = self._warp(self._shadow, p, 0.0)
            if warped is not None:
                dark, (x0, y0, x1, y1) = warped
                if p.lift:  # off the floor: the shadow fades
                    dark *= 1.0 / (1.0 + 3.0 * p.lift / max(1.0, self._product_height))
                roi = out[y0:y1, x0:x1]
                keep = roi.astype(np.float32)
                keep *= (1.0 - dark)[..., None]
                roi[...] = cv2.convertScaleAbs(keep)  # rounds and saturates to uint8
        warped = self._warp(self._alpha, p, p.lift)
        if warped is not None:
            alpha, (x0, y0, x1, y1) = warped
            colour = cv2.warpAffine(
                self._colour.image,
                self._matrix(self._colour, p, p.lift, x0, y0),
                (x1 - x0, y1 - y0),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
            roi = out[y0:y1, x0:x1]
            roi[...] = cv2.blendLinear(colour, np.ascontiguousarray(roi), alpha, 1.0 - alpha)
        return out

    def __iter__(self) -> Iterator[RGB]:
        for i in range(self._n):
            yield self.frame(i)
