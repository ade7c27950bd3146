"""A fused product embedding: Inception-V3 + EfficientNet-Lite0, cut-out + whole picture, mirrored.

Ku et al. (AdKDD 2023, §5.3) retrieve staged products by the cosine similarity of Inception-V3
embeddings of the segmented product. This embedder keeps their recipe (ImageNet features, cosine,
no training, nothing learned from the catalog) and fuses more views of the same product:

* Inception-V3 (the FID graph of :mod:`adstage.models.inception`), average-pooled output of its
  **second-to-last block**, ``mixed_9`` (2048-d, 8×8 at 299²), instead of pool3 (the average of the
  last block, ``mixed_10``); and EfficientNet-Lite0's pooled head (1280-d,
  :mod:`adstage.models.efficientnet`);
* two pictures (:func:`~adstage.retrieve.base.prepare`): the product cut out on white and cropped
  (``"cutout"``, the paper's), and the whole photo padded to a square (``"whole"``);
* horizontal-flip test-time augmentation: each picture and its mirror image.

For network *n* and picture *v*, ``f = unit(unit(φₙ(v)) + unit(φₙ(mirror(v))))``; the embedding is
the concatenation of ``√(sₙ / V)·f`` over networks and pictures (``V`` pictures, shares ``sₙ``
summing to 1), so it has unit length and its cosine is the share-weighted mean of the per-part
cosines. A product's vector depends on its own image and mask only: it is stored once, like the
single-network embedders, and needs no catalog-wide statistic.

Measured with the paper's protocol on the 740 IKEA catalog products (leave-one-out, 11
categories, near-duplicates excluded; ``benchmarks/retrieval_variants.py`` →
``benchmarks/results/retrieval_variants.json``): P@1 0.693 against 0.658 for Inception-V3 pool3
of the cut-out; mixed_9 instead of pool3 and the mirror image each give 1.5–3 points, the
second network and picture less. PCA whitening and query expansion did not add reliably.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from numpy.typing import NDArray

from adstage._torch import torch_threads
from adstage.errors import InputError
from adstage.models import efficientnet, inception
from adstage.retrieve.base import EMBEDDERS, Mode, l2_normalize, paired_masks, prepare
from adstage.retrieve.efficientnet import EfficientNetLite0
from adstage.retrieve.inception import InceptionV3, to_input
from adstage.types import RGB

__all__ = ["EFFICIENTNET_DIM", "INCEPTION_DIM", "NETWORKS", "Fusion"]

INCEPTION_DIM = inception.DIM
EFFICIENTNET_DIM = efficientnet.HEAD
NETWORKS = ("inception-v3", "efficientnet-lite0")
InceptionLayer = Literal["mixed_9", "pool3"]


@EMBEDDERS.register("fusion")
@dataclass(kw_only=True, eq=False)
class Fusion:
    """Inception-V3 and EfficientNet-Lite0 features of the cut-out and the whole photo, fused.

    Args:
        inception_weights: the ``inception-v3-fid`` TorchScript file; ``None`` resolves it from
            the weights cache (``adstage weights fetch inception-v3-fid``).
        efficientnet_weights: the ``efficientnet-lite0`` state dict; ``None`` resolves it.
        views: the pictures embedded, a non-empty tuple of distinct ``"cutout"`` / ``"whole"``.
        flip: also embed each picture's mirror image and average (test-time augmentation).
        inception_share: Inception-V3's weight in the cosine, in ``(0, 1)``; EfficientNet-Lite0
            gets the rest. 0.6 was picked on the IKEA catalog, where 0.6–0.8 score alike.
        inception_layer: ``"mixed_9"`` (the second-to-last block, average-pooled; better on the
            IKEA catalog) or ``"pool3"`` (the paper's features).
        batch_size: images per forward pass (results do not depend on it).
        threads: torch threads during a call (restored afterwards); ``None`` leaves torch's.
        device: torch device for both networks.

    ``dim`` is ``len(views) × (2048 + 1280)``: 6656 by default. The networks are loaded on first
    use; a missing file raises :class:`~adstage.errors.WeightsNotFound` then.
    """

    inception_weights: str | Path | None = None
    efficientnet_weights: str | Path | None = None
    views: tuple[Mode, ...] = ("cutout", "whole")
    flip: bool = True
    inception_share: float = 0.6
    inception_layer: InceptionLayer = "mixed_9"
    batch_size: int = 8
    threads: int | None = None
    device: str = "cpu"

    name: ClassVar[str] = "fusion"
    dim: int = field(init=False)

    _inception: Any = field(default=None, init=False, repr=False)
    _efficientnet: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        views = self.views
        if isinstance(views, str) or not isinstance(views, (tuple, list)) or not views:
            raise InputError(
                f"views: expected a non-empty tuple of 'cutout' / 'whole', got {views!r}"
            )
        for view in views:
            if view not in ("cutout", "whole"):
                raise InputError(f"views: expected 'cutout' or 'whole' entries, got {view!r}")
        if len(set(views)) != len(views):
            raise InputError(f"views: expected distinct entries, got {views!r}")
        self.views = tuple(views)
        if not isinstance(self.flip, bool):
            raise InputError(f"flip: expected True or False, got {self.flip!r}")
        share = self.inception_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
            raise InputError(f"inception_share: expected a number in (0, 1), got {share!r}")
        if self.inception_layer not in ("mixed_9", "pool3"):
            raise InputError(
                f"inception_layer: expected 'mixed_9' or 'pool3', got {self.inception_layer!r}"
            )
        for option in ("batch_size", "threads"):
            value = getattr(self, option)
            if value is None and option == "threads":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                expected = "an integer >= 1" + (" or None" if option == "threads" else "")
                raise InputError(f"{option}: expected {expected}, got {value!r}")
        self.dim = len(self.views) * (INCEPTION_DIM + EFFICIENTNET_DIM)

    def _networks(self) -> tuple[Any, Any]:
        """The two component embedders, created once; each loads its weights on first use."""
        with self._lock:
            if self._inception is None:
                self._inception = InceptionV3(weights=self.inception_weights, device=self.device)
                weights = self.efficientnet_weights
                self._efficientnet = EfficientNetLite0(
                    weights=None if weights is None else str(weights), device=self.device
                )
            return self._inception, self._efficientnet

    def _inception_features(self, pictures: list[RGB]) -> NDArray[np.float32]:
        model = self._networks()[0].load()
        x = inception.to_tensor(np.stack([to_input(p) for p in pictures])).to(self.device)
        with torch.inference_mode():
            if self.inception_layer == "pool3":
                y = model(x)
            else:
                y = inception.inception_block(model, x, self.inception_layer)
        if tuple(y.shape) != (len(pictures), INCEPTION_DIM):
            raise InputError(
                f"inception_weights: expected features of shape {(len(pictures), INCEPTION_DIM)},"
                f" got {tuple(y.shape)}"
            )
        features: NDArray[np.float32] = y.float().cpu().numpy()
        return features

    def _efficientnet_features(self, pictures: list[RGB]) -> NDArray[np.float32]:
        model = self._networks()[1].model
        with torch.inference_mode():
            y = model.features(efficientnet.to_tensor(pictures).to(self.device))
        features: NDArray[np.float32] = y.float().cpu().numpy()
        return features

    def parts(
        self, images: Sequence[RGB], masks: Sequence[NDArray[Any] | None] | None = None
    ) -> dict[tuple[str, str], NDArray[np.float32]]:
        """Unit-length features per ``(network, view)``, mirror-averaged when ``flip``.

        Keys: ``(network, view)`` for ``network`` in :data:`NETWORKS` and ``view`` in ``views``.
        """
        images = list(images)
        masks = paired_masks(images, masks)
        out: dict[tuple[str, str], NDArray[np.float32]] = {
            (net, view): np.zeros(
                (len(images), INCEPTION_DIM if net == NETWORKS[0] else EFFICIENTNET_DIM),
                np.float32,
            )
            for net in NETWORKS
            for view in self.views
        }
        if not images:
            return out
        runs = {NETWORKS[0]: self._inception_features, NETWORKS[1]: self._efficientnet_features}
        with torch_threads(self.threads):
            for start in range(0, len(images), self.batch_size):
                stop = min(start + self.batch_size, len(images))
                pairs = list(zip(images[start:stop], masks[start:stop], strict=True))
                for view in self.views:
                    pictures = [prepare(image, mask, mode=view) for image, mask in pairs]
                    if self.flip:
                        pictures += [np.ascontiguousarray(p[:, ::-1]) for p in pictures]
                    for net, run in runs.items():
                        f = l2_normalize(run(pictures))
                        if self.flip:
                            f = l2_normalize(f[: stop - start] + f[stop - start :])
                        out[(net, view)][start:stop] = f
        return out

    def embed(
        self, images: Sequence[RGB], masks: Sequence[NDArray[Any] | None] | None = None
    ) -> NDArray[np.float32]:
        """``N×dim`` float32 unit rows: the share-weighted concatenation of :meth:`parts`.

        Blocks in the order Inception-V3 (each view), then EfficientNet-Lite0 (each view).
        """
        parts = self.parts(images, masks)
        share = {NETWORKS[0]: self.inception_share, NETWORKS[1]: 1.0 - self.inception_share}
        blocks = [
            np.sqrt(share[net] / len(self.views)) * parts[(net, view)]
            for net in NETWORKS
            for view in self.views
        ]
        return l2_normalize(np.hstack(blocks))
