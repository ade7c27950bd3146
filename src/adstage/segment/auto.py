"""``auto``: pick the best segmentation backend available for each image, and say which.

Plain-background shots (triage confident) → ``solid-background`` (fast, no weights); otherwise
``isnet`` when its weights are installed; otherwise ``grabcut``. The choice and its reason are
logged and recorded in the result's ``backend`` and ``provenance``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from adstage.errors import WeightsNotFound
from adstage.segment.base import SEGMENTERS, Segmenter
from adstage.segment.triage import DEFAULT_THRESHOLD, triage
from adstage.types import RGB, Segmentation, as_rgb
from adstage.weights import resolve

log = logging.getLogger(__name__)


@SEGMENTERS.register("auto")
@dataclass
class Auto:
    """``plain_threshold``: triage score at or below which the background counts as plain."""

    plain_threshold: float = DEFAULT_THRESHOLD
    isnet_options: dict[str, Any] = field(default_factory=dict)
    solid_options: dict[str, Any] = field(default_factory=dict)
    name: str = field(default="auto", init=False)
    _cache: dict[str, Segmenter] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _get(self, name: str, **options: Any) -> Segmenter:
        with self._lock:  # catalog ingest segments on several threads
            if name not in self._cache:
                self._cache[name] = SEGMENTERS.create(name, **options)
            return self._cache[name]

    def isnet_available(self) -> bool:
        try:
            resolve(
                self.isnet_options.get("variant", "isnet-general"),
                self.isnet_options.get("weights"),
            )
        except WeightsNotFound:
            return False
        return True

    def choose(self, image: RGB, *, triage_score: float | None = None) -> tuple[str, str, float]:
        """The backend for ``image``, the reason, and the triage score (computed unless given)."""
        score = triage(image).score if triage_score is None else float(triage_score)
        if score <= self.plain_threshold:
            return ("solid-background", f"plain background (triage score {score:.3f})", score)
        if self.isnet_available():
            return "isnet", f"staged photo (triage score {score:.3f})", score
        return (
            "grabcut",
            f"staged photo (triage score {score:.3f}) and isnet weights missing "
            "(adstage weights fetch isnet-general)",
            score,
        )

    def __call__(self, image: RGB, *, triage_score: float | None = None) -> Segmentation:
        """Segment ``image``; pass ``triage_score`` when the caller has already triaged it."""
        image = as_rgb(image)
        name, reason, score = self.choose(image, triage_score=triage_score)
        options = {"isnet": self.isnet_options, "solid-background": self.solid_options}.get(
            name, {}
        )
        log.info("auto segmentation: %s (%s)", name, reason)
        result = self._get(name, **options)(image)
        provenance = {
            **result.provenance,
            "auto": {"chosen": name, "reason": reason, "triage_score": score},
        }
        return replace(result, provenance=provenance)
