"""``auto``: pick the best segmentation backend available for each image, and say which.

Plain-background shots (triage confident) → ``solid-background`` (fast, no weights); otherwise
``isnet`` when its weights are installed; otherwise ``grabcut``. The choice and its reason are
logged and recorded in the result's ``backend`` and ``provenance``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from adstage.errors import WeightsNotFound
from adstage.segment.base import SEGMENTERS, Segmenter
from adstage.triage import DEFAULT_THRESHOLD, triage
from adstage.types import RGB, Segmentation, as_rgb

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

    def _get(self, name: str, **options: Any) -> Segmenter:
        if name not in self._cache:
            self._cache[name] = SEGMENTERS.create(name, **options)
        return self._cache[name]

    def isnet_available(self) -> bool:
        from adstage.weights import resolve

        try:
            resolve(
                self.isnet_options.get("variant", "isnet-general"),
                self.isnet_options.get("weights"),
            )
        except WeightsNotFound:
            return False
        return True

    def choose(self, image: RGB) -> tuple[str, str, float]:
        """The backend for ``image``, the reason, and the triage score."""
        verdict = triage(image)
        if verdict.score <= self.plain_threshold:
            return (
                "solid-background",
                f"plain background (triage score {verdict.score:.3f})",
                verdict.score,
            )
        if self.isnet_available():
            return "isnet", f"staged photo (triage score {verdict.score:.3f})", verdict.score
        return (
            "grabcut",
            f"staged photo (triage score {verdict.score:.3f}) and isnet weights missing "
            "(adstage weights fetch isnet-general)",
            verdict.score,
        )

    def __call__(self, image: RGB) -> Segmentation:
        image = as_rgb(image)
        name, reason, score = self.choose(image)
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
