"""Fill holes in a scene: what a removed product leaves and the pasted product does not cover.

Backends (``INPAINTERS``): ``ns`` and ``telea`` (OpenCV, diffusion-style, smooth), ``patchmatch``
(exemplar-based: Barnes et al. 2009 search, Wexler et al. 2007 multi-scale EM; texture copied
from the same photo) and ``hybrid`` (NS's smooth fill plus PatchMatch's texture). The default,
:data:`DEFAULT_INPAINTER`, was chosen by ``benchmarks/inpaint.py``.
"""

from __future__ import annotations

from adstage.inpaint.base import (
    DEFAULT_INPAINTER,
    INPAINTERS,
    Hole,
    Inpainter,
    as_hole,
    hole_for_paste,
    inpaint,
)

__all__ = [
    "DEFAULT_INPAINTER",
    "INPAINTERS",
    "Hole",
    "Inpainter",
    "as_hole",
    "hole_for_paste",
    "inpaint",
]
