"""``auto``: pick the segmentation backend for each image, and say which and why.

A photo goes to ``solid-background`` (fast, no weights) only when all three hold:

1. **plain border**: triage's score is at most ``plain_threshold`` (the border is one colour or a
   smooth gradient);
2. **studio backdrop**: that colour is light and grey — its darkest channel at least
   ``studio_min_level`` and its chroma (largest minus smallest channel) at most
   ``studio_max_chroma``. A plain *floor, table or carpet* (beige, brown, red, dark) also gives a
   plain border, but it is not a backdrop that a colour model can separate a product from;
3. **a sane mask**: ``solid-background``'s own mask covers at most ``max_border_touch`` of the
   image border and at most ``max_area`` of the image. A backdrop mistaken for the product shows
   up as a mask that runs off the frame.

Everything else goes to the *scene segmenter*: the first of ``scene_order`` whose weights (and
runtime) are installed. The default order was chosen on half of GrabCut-50 by accuracy and time
(``docs/segmentation.md``, ``benchmarks/results/segment.json`` ``auto_routing``): ``u2net`` (the
authors' U²-Net at 320²) came within 0.002 mean IoU of IS-Net at 1024² there at about 0.4× its
time, so it comes first; ``grabcut`` (no weights) is the last resort. The tune half could not
tell the colour and mask thresholds apart (every variant rerouted its three plain-floor photos):
the defaults are the loosest-declared colour level and a mask-sanity limit kept as a safety net.

The choice, the reason and the measurements behind it are logged and recorded in the result's
``backend`` and ``provenance["auto"]``.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from adstage.errors import InputError, UnknownName, WeightsNotFound
from adstage.models.runtime import ort_available
from adstage.segment.background import border_band
from adstage.segment.base import SEGMENTERS, Segmenter
from adstage.segment.triage import DEFAULT_THRESHOLD, Triage, triage
from adstage.types import RGB, THRESHOLD, Segmentation, as_rgb
from adstage.weights import resolve

log = logging.getLogger(__name__)

SCENE_SEGMENTERS = ("u2net", "u2netp", "isnet", "grabcut")
"""Names ``scene_order`` may hold: ``u2netp`` is the ``u2net`` backend with ``variant="u2netp"``."""

DEFAULT_SCENE_ORDER = ("u2net", "isnet", "u2netp", "grabcut")


def studio_backdrop(
    color: tuple[float, float, float] | np.ndarray, *, min_level: float, max_chroma: float
) -> bool:
    """True when an RGB backdrop colour (0–255) is light and grey, as studio backdrops are."""
    c = np.asarray(color, np.float32)
    return bool(float(c.min()) >= min_level and float(c.max() - c.min()) <= max_chroma)


def mask_sanity(mask: np.ndarray) -> tuple[float, float]:
    """``(border_touch, area)``: the share of the image border (a 2 % band) and of the image that
    a binary product mask covers."""
    m = np.asarray(mask, bool)
    if m.size == 0:
        return 0.0, 0.0
    band = border_band(m.shape[0], m.shape[1], 0.02)
    return float(m[band].mean()), float(m.mean())


@SEGMENTERS.register("auto")
@dataclass
class Auto:
    """Route each photo to ``solid-background`` or to a scene segmenter (see the module doc).

    ``plain_threshold``: triage score at or below which the border counts as plain.
    ``studio_min_level`` / ``studio_max_chroma``: the backdrop colour test (0–255).
    ``max_border_touch`` / ``max_area``: the sanity test of ``solid-background``'s mask.
    ``scene_order``: scene segmenters in order of preference (from :data:`SCENE_SEGMENTERS`); the
    first one installed runs. ``*_options``: keyword arguments of each backend.
    """

    plain_threshold: float = DEFAULT_THRESHOLD
    studio_min_level: float = 160.0
    studio_max_chroma: float = 40.0
    max_border_touch: float = 0.05
    max_area: float = 0.9
    scene_order: tuple[str, ...] = DEFAULT_SCENE_ORDER
    isnet_options: dict[str, Any] = field(default_factory=dict)
    u2net_options: dict[str, Any] = field(default_factory=dict)
    solid_options: dict[str, Any] = field(default_factory=dict)
    name: str = field(default="auto", init=False)
    _cache: dict[str, Segmenter] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.scene_order = tuple(self.scene_order)
        unknown = [s for s in self.scene_order if s not in SCENE_SEGMENTERS]
        if unknown or not self.scene_order:
            raise InputError(
                f"scene_order: expected names from {SCENE_SEGMENTERS}, got {self.scene_order!r}"
            )
        if not 0.0 <= self.max_border_touch <= 1.0 or not 0.0 < self.max_area <= 1.0:
            raise InputError(
                f"max_border_touch / max_area: expected fractions, got "
                f"{self.max_border_touch} / {self.max_area}"
            )

    # -- backends -------------------------------------------------------------------------------

    def _options(self, name: str) -> tuple[str, dict[str, Any]]:
        """The registry name and options of a scene segmenter or ``solid-background``."""
        if name in ("u2net", "u2netp"):
            return "u2net", {"variant": name, **self.u2net_options}
        if name == "isnet":
            return "isnet", dict(self.isnet_options)
        if name == "solid-background":
            return name, dict(self.solid_options)
        return name, {}

    def _get(self, name: str) -> Segmenter:
        with self._lock:  # catalog ingest segments on several threads
            if name not in self._cache:
                registry_name, options = self._options(name)
                self._cache[name] = SEGMENTERS.create(registry_name, **options)
            return self._cache[name]

    def available(self, name: str) -> bool:
        """Whether scene segmenter ``name`` can run here: its weights and its runtime."""
        if name == "grabcut":
            return True
        if name == "isnet":
            options = self.isnet_options
            if not ort_available():
                return False
            return _weights_present(options.get("variant", "isnet-general"), options.get("weights"))
        if importlib.util.find_spec("torch") is None:  # the u2net backend is PyTorch code
            return False
        variant = self.u2net_options.get("variant", name)
        return _weights_present(variant, self.u2net_options.get("weights"))

    def isnet_available(self) -> bool:
        """Whether the IS-Net weights and onnxruntime are installed."""
        return self.available("isnet")

    def scene_segmenter(self) -> tuple[str, str]:
        """The scene segmenter that will run, and why (the ones skipped and the fetch command)."""
        missing: list[str] = []
        for name in self.scene_order:
            if self.available(name):
                why = "first installed of " + " > ".join(self.scene_order)
                if missing:
                    why += f"; {', '.join(missing)} not installed"
                    why += f" (adstage weights fetch {' '.join(_fetch_name(m) for m in missing)})"
                return name, why
            missing.append(name)
        return (
            "grabcut",
            f"none of {', '.join(self.scene_order)} installed; grabcut needs no weights",
        )

    # -- routing --------------------------------------------------------------------------------

    def choose(self, image: RGB, *, triage_score: float | None = None) -> tuple[str, str, float]:
        """The backend for ``image`` from triage alone (before any mask is made), the reason,
        and the triage score. ``solid-background`` here is provisional: :meth:`__call__` still
        checks its mask and may fall back to the scene segmenter."""
        verdict = triage(image)
        score = verdict.score if triage_score is None else float(triage_score)
        name, reason = self._route(verdict, score)
        return name, reason, score

    def _route(self, verdict: Triage, score: float) -> tuple[str, str]:
        colour = ", ".join(f"{c:.0f}" for c in verdict.background)
        if score > self.plain_threshold:
            scene, why = self.scene_segmenter()
            return scene, f"staged photo (triage score {score:.3f}); {scene}: {why}"
        if not studio_backdrop(
            verdict.background,
            min_level=self.studio_min_level,
            max_chroma=self.studio_max_chroma,
        ):
            scene, why = self.scene_segmenter()
            return scene, (
                f"plain border (triage score {score:.3f}) but not a studio backdrop: colour "
                f"({colour}) is darker than {self.studio_min_level:.0f} or more coloured than "
                f"chroma {self.studio_max_chroma:.0f} (a floor, table or wall); {scene}: {why}"
            )
        return "solid-background", (
            f"plain studio backdrop (triage score {score:.3f}, colour {colour})"
        )

    def __call__(self, image: RGB, *, triage_score: float | None = None) -> Segmentation:
        """Segment ``image``; pass ``triage_score`` when the caller has already triaged it."""
        image = as_rgb(image)
        verdict = triage(image)
        score = verdict.score if triage_score is None else float(triage_score)
        name, reason = self._route(verdict, score)
        record: dict[str, Any] = {
            "triage_score": score,
            "background": [round(c, 1) for c in verdict.background],
        }
        result = None
        if name == "solid-background":
            solid = self._get(name)(image)
            touch, area = mask_sanity(solid.alpha >= THRESHOLD)
            record |= {"border_touch": round(touch, 4), "area": round(area, 4)}
            if touch <= self.max_border_touch and area <= self.max_area:
                result = solid
            else:
                scene, why = self.scene_segmenter()
                reason += (
                    f", but solid-background's mask covers {touch:.1%} of the border "
                    f"(limit {self.max_border_touch:.0%}) and {area:.1%} of the image "
                    f"(limit {self.max_area:.0%}): the backdrop is not what it seemed; "
                    f"{scene}: {why}"
                )
                name = scene
        if result is None:
            result = self._get(name)(image)
        log.info("auto segmentation: %s (%s)", name, reason)
        provenance = {
            **result.provenance,
            "auto": {"chosen": name, "reason": reason, **record},
        }
        return replace(result, provenance=provenance)


def _fetch_name(scene: str) -> str:
    return "isnet-general" if scene == "isnet" else scene


def _weights_present(name: str, path: Any) -> bool:
    try:
        resolve(name, path)
    except (WeightsNotFound, UnknownName, InputError):
        return False
    return True
