"""The frame renderer: :class:`Animation` moves the product sprite over the clean plate.

Each frame is the plate moved by ``parallax`` × the product's motion (0: still, 1: the whole
picture moves together), then the product — a premultiplied RGBA sprite cut out once — warped
with sub-pixel precision to its pose (:mod:`adstage.animate.motion`) and composited over the
plate, with an optional soft contact shadow that follows it. Only the product's region is
composited per frame.

Coordinates are ``(x, y)`` in output pixels.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.animate.base import AnimationOptions, check_mask, even_size
from adstage.animate.motion import EASINGS, MOTIONS, Pose
from adstage.animate.plate import Plate, clean_plate, fit_to_size, mask_box
from adstage.composite.blend import contact_shadow
from adstage.errors import InputError
from adstage.types import RGB, THRESHOLD, as_rgb

__all__ = ["Animation"]


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
    x0, y0, x1, y1 = mask_box(alpha > 1.0 / 255.0)
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
        size = options.size or even_size(rgb.shape)
        canvas, fitted = fit_to_size(rgb, alpha, size)
        if not (fitted >= THRESHOLD).any():
            raise InputError("mask: the product vanished when fitted to the output size")
        plate = clean_plate(
            canvas, fitted, inpainter=options.inpainter, dilate_px=options.dilate_px
        )
        m = cls._margin(options, size)
        if m:  # room for the background to move: reflected picture, no product, no hole
            # cv2's stubs type every result as MatLike; copyMakeBorder keeps the dtype.
            reflect = cv2.BORDER_REFLECT_101
            canvas = cast(RGB, cv2.copyMakeBorder(canvas, m, m, m, m, reflect))
            fitted = cast(
                NDArray[np.float32],
                cv2.copyMakeBorder(fitted, m, m, m, m, cv2.BORDER_CONSTANT, value=0),
            )
            hole = cv2.copyMakeBorder(plate.hole.astype(np.uint8), m, m, m, m, cv2.BORDER_CONSTANT)
            plate = replace(
                plate,
                image=cast(RGB, cv2.copyMakeBorder(plate.image, m, m, m, m, reflect)),
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
                band = cast(RGB, cv2.addWeighted(left, 1.0 - fx, right, fx, 0.0))
            else:
                band = plate[iy : iy + rows, ix : ix + w]
            if fy:
                return cast(RGB, cv2.addWeighted(band[:h], 1.0 - fy, band[1 : h + 1], fy, 0.0))
            return band if fx else band.copy()
        ax, ay = self.anchor
        s = b.scale
        mat = np.array([[s, 0.0, ax - s * (m + ax) + b.dx], [0.0, s, ay - s * (m + ay) + b.dy]])
        return cast(
            RGB,
            cv2.warpAffine(
                plate, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            ),
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
