"""Image-to-parallax animation (Ku et al., AdKDD 2023, §5.4): one product image → a looping video.

The salient product moves along a motion (``sway``, ``orbit``, ``push-in``, ``rise``), the gap it
reveals is filled once by an inpainter (the clean plate), and the background moves slower than the
product (the parallax ratio) or stays, which reads as depth. The steps, one module each:

- :mod:`adstage.animate.base`: the options (:class:`AnimationOptions`, the ad sizes) and the
  checks of the input mask, before any heavy work;
- :mod:`adstage.animate.motion`: the motions, periodic in the loop's phase, and their easing;
- :mod:`adstage.animate.plate`: fitting the picture to the output size, and the clean plate;
- :mod:`adstage.animate.render`: :class:`Animation`, which renders each frame (plate moved by the
  parallax, product sprite warped to its pose, contact shadow);
- :mod:`adstage.animate.video`: the MP4 / GIF / WebP writers; :mod:`adstage.animate.page`: an
  HTML page of the results.

    from adstage.animate import animate
    result = animate("staged.png", "staged.mask.png", "ad.mp4", motion="sway", duration=3)
    result.frames, result.seconds            # 90, {"plate": …, "render": …, "encode": …}
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adstage.animate.base import AD_SIZES, AnimationOptions, check_mask, parse_size
from adstage.animate.motion import EASINGS, MOTIONS, Motion, Pose, pulse, swing
from adstage.animate.page import AnimationItem, write_animation_page
from adstage.animate.plate import Plate, clean_plate
from adstage.animate.render import Animation
from adstage.animate.video import VIDEO_FORMATS, VideoWritten, video_format, write_video
from adstage.composite.blend import scale_cutout
from adstage.io.images import read_image, read_mask
from adstage.segment import SEGMENTERS
from adstage.types import Placement, as_rgb

log = logging.getLogger(__name__)

__all__ = [
    "AD_SIZES",
    "EASINGS",
    "MOTIONS",
    "VIDEO_FORMATS",
    "Animation",
    "AnimationItem",
    "AnimationOptions",
    "AnimationResult",
    "Motion",
    "Plate",
    "Pose",
    "VideoWritten",
    "animate",
    "candidate_alpha",
    "check_mask",
    "clean_plate",
    "parse_size",
    "pulse",
    "swing",
    "video_format",
    "write_animation_page",
    "write_video",
]


@dataclass(frozen=True)
class AnimationResult:
    """A written animation: ``path``, its ``format``, ``frames`` at ``fps``, ``size``
    ``(width, height)``, ``seconds`` per step (``plate``, ``render``, ``encode``; ``segment``
    when the mask was computed) and the ``segmenter`` that ran (``"given"`` for a mask)."""

    path: Path
    format: str
    frames: int
    fps: int
    size: tuple[int, int]
    seconds: dict[str, float]
    segmenter: str
    options: AnimationOptions = field(repr=False)


def animate(
    image: Any,
    mask: Any = None,
    out: str | os.PathLike[str] = "animation.mp4",
    *,
    format: str | None = None,
    segmenter: str = "auto",
    **options: Any,
) -> AnimationResult:
    """Animate ``image`` (path, PIL image or ``H×W×3`` uint8 RGB) and write it to ``out``.

    ``mask``: the product's alpha (path, bool, uint8 255 = product, or float in [0, 1]) of the
    image's size; ``None`` segments the image with ``segmenter`` and logs which backend ran.
    ``format``: ``mp4``, ``gif`` or ``webp`` (default: ``out``'s suffix). ``options``: the fields
    of :class:`AnimationOptions` (``motion``, ``duration``, ``fps``, ``size``, ``parallax``,
    ``amplitude``, ``easing``, ``shadow``, ``inpainter``, ``dilate_px``).

    Raises :class:`~adstage.errors.InputError` for bad options and for a mask that is empty, full
    or of another size, before any heavy work.
    """
    opts = AnimationOptions(**options)
    fmt = video_format(out, format)
    seconds: dict[str, float] = {}
    rgb = read_image(image) if isinstance(image, str | os.PathLike) else as_rgb(image)
    if isinstance(mask, str | os.PathLike):
        mask = read_mask(mask)
    backend = "given"
    if mask is None:
        started = time.perf_counter()
        seg = SEGMENTERS.create(segmenter)(rgb)
        seconds["segment"] = time.perf_counter() - started
        backend = seg.provenance.get("auto", {}).get("chosen", seg.backend)
        log.info("animate: product segmented by %s", backend)
        mask = seg.alpha
    check_mask(mask, rgb.shape[:2])
    anim = Animation.prepare(rgb, mask, opts)
    seconds["plate"] = anim.plate.seconds
    written = write_video(out, anim, fps=opts.fps, size=anim.size, format=fmt)
    seconds["render"] = written.render_seconds
    seconds["encode"] = written.encode_seconds
    return AnimationResult(
        path=written.path,
        format=fmt,
        frames=written.frames,
        fps=written.fps,
        size=written.size,
        seconds=seconds,
        segmenter=backend,
        options=opts,
    )


def candidate_alpha(candidate: Any, product: Any) -> Any:
    """The pasted product's alpha in a staged candidate's image (``H×W`` float32 in [0, 1]).

    ``candidate``: an :class:`adstage.stage.pipeline.Candidate` (its ``image`` and ``placement``,
    the product's box in the output's pixels); ``product``: the staged product's
    :class:`~adstage.types.Cutout`. The cut-out is scaled into the box the way it was pasted, so
    the animation moves exactly the pasted pixels (§5.4 on a §5.3 output).
    """
    h, w = candidate.image.shape[:2]
    x0, y0, x1, y1 = candidate.placement
    scaled = scale_cutout(product.rgba, Placement(candidate.placement, 1.0, "given", (w, h)))
    alpha = np.zeros((h, w), np.float32)
    alpha[y0:y1, x0:x1] = scaled[..., 3] / 255.0
    return alpha
