"""Fréchet Inception Distance and Kernel Inception Distance on Inception-V3 pool3 features.

* **FID** (Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
  Equilibrium", NeurIPS 2017): ``‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½)`` between Gaussians fitted to
  the two feature sets. The trace of the matrix square root is computed as the sum of the square
  roots of the eigenvalues of ``Σ₁^½ Σ₂ Σ₁^½`` (symmetric, so real and stable; no ``sqrtm``).
* **KID** (Bińkowski et al., "Demystifying MMD GANs", ICLR 2018): the unbiased estimate of the
  squared MMD with the cubic polynomial kernel ``k(x, y) = (xᵀy / d + 1)³``, averaged over random
  subsets; reported as mean and standard deviation over the subsets. Unbiased, so usable on a few
  hundred images, where FID carries a large small-sample bias.

Features: the ``inception-v3-fid`` network (TF Inception-V3 2015-12-05, the network that defines
FID) with pytorch-fid's input handling: the **whole** image, no crop and no padding, resized to
299×299 with bilinear interpolation on float pixels (``F.interpolate(..., mode="bilinear",
align_corners=False)``, as pytorch-fid's ``InceptionV3`` does), then ``(v − 128) / 128``
(fid-helper's TF input range; pytorch-fid's ``2v/255 − 1`` differs by under 0.4 %). The resize
filter moves FID by several points (Parmar et al., clean-fid, CVPR 2022): compare FIDs computed here
with each other, not with numbers made by other tools.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.models.inception import DIM, SIZE, load_inception, normalize
from adstage.types import RGB

log = logging.getLogger(__name__)

RESIZE = "torch bilinear, align_corners=False, on float pixels (pytorch-fid)"


def _inputs(images: Sequence[RGB]) -> Any:
    """``N×3×299×299`` float tensor in the network's range, pytorch-fid's resize."""
    import torch
    import torch.nn.functional as F

    out = []
    for image in images:
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
        if x.shape[-2:] != (SIZE, SIZE):
            x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
        out.append(x)
    return normalize(torch.cat(out))


@dataclass
class InceptionFeatures:
    """Pool3 features of whole images for FID/KID (``N×2048`` ``float64``).

    The network (:func:`adstage.models.inception.load_inception`) is loaded on the first call.
    """

    weights: str | Path | None = None
    batch_size: int = 16
    threads: int | None = None
    device: str = "cpu"
    _model: Any = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InputError(f"batch_size: expected an integer >= 1, got {self.batch_size!r}")

    def load(self) -> Any:
        """The TorchScript network, loaded once (thread-safe)."""
        with self._lock:
            if self._model is None:
                self._model = load_inception(self.weights, device=self.device)
            return self._model

    def __call__(
        self, images: Iterable[RGB], *, on_batch: Callable[[int], None] | None = None
    ) -> NDArray[np.float64]:
        import torch

        from adstage._torch import torch_threads

        model = self.load()
        rows: list[NDArray[np.float64]] = []
        batch: list[RGB] = []

        def run() -> None:
            with torch_threads(self.threads), torch.inference_mode():
                y = model(_inputs(batch).to(self.device))
            rows.append(y.double().cpu().numpy().reshape(len(batch), -1))
            if on_batch:
                on_batch(len(batch))
            batch.clear()

        for image in images:
            batch.append(image)
            if len(batch) == self.batch_size:
                run()
        if batch:
            run()
        return np.concatenate(rows) if rows else np.zeros((0, DIM))


def _check_features(features: Any, name: str, minimum: int = 2) -> NDArray[np.float64]:
    x = np.asarray(features, np.float64)
    if x.ndim != 2:
        raise InputError(f"{name}: expected an N×D feature array, got shape {x.shape}")
    if len(x) < minimum:
        raise InputError(f"{name}: expected at least {minimum} feature rows, got {len(x)}")
    if not np.isfinite(x).all():
        raise InputError(f"{name}: features contain NaN or infinity")
    return x


def frechet_distance(real: Any, generated: Any) -> float:
    """FID between two ``N×D`` feature sets (at least 2 rows each)."""
    a = _check_features(real, "real")
    b = _check_features(generated, "generated")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"features: dimensions differ ({a.shape[1]} vs {b.shape[1]})")
    mu1, mu2 = a.mean(0), b.mean(0)
    x, y = a - mu1, b - mu2
    n1, n2 = len(a) - 1, len(b) - 1
    trace1, trace2 = float((x * x).sum()) / n1, float((y * y).sum()) / n2
    if max(len(a), len(b)) <= a.shape[1]:
        # Fewer images than dimensions: the non-zero eigenvalues of Σ₁Σ₂ = XᵀX·YᵀY / (n₁n₂) are
        # those of (XYᵀ)(XYᵀ)ᵀ / (n₁n₂), so tr((Σ₁^½Σ₂Σ₁^½)^½) is the sum of the singular values of
        # XYᵀ / √(n₁n₂): an N×N problem, exact, instead of two D×D eigendecompositions.
        trace_root = float(np.linalg.svd(x @ y.T, compute_uv=False).sum()) / np.sqrt(n1 * n2)
    else:
        s1, s2 = x.T @ x / n1, y.T @ y / n2
        values, vectors = np.linalg.eigh(s1)
        root1 = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
        middle = root1 @ s2 @ root1
        eig = np.linalg.eigvalsh((middle + middle.T) / 2)
        trace_root = float(np.sqrt(np.clip(eig, 0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + trace1 + trace2 - 2.0 * trace_root)


def kernel_inception_distance(
    real: Any,
    generated: Any,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID (mean, std over ``subsets`` random subsets of ``min(subset_size, n_real, n_gen)``)."""
    a = _check_features(real, "real")
    b = _check_features(generated, "generated")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"features: dimensions differ ({a.shape[1]} vs {b.shape[1]})")
    if subsets < 1 or subset_size < 2:
        raise InputError(
            f"subsets/subset_size: expected >= 1 and >= 2, got {subsets} and {subset_size}"
        )
    m = min(subset_size, len(a), len(b))
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    scores = np.empty(subsets)
    for i in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1.0) ** 3
        kyy = (y @ y.T / d + 1.0) ** 3
        kxy = (x @ y.T / d + 1.0) ** 3
        scores[i] = (
            (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
            + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2.0 * kxy.mean()
        )
    return float(scores.mean()), float(scores.std())


def fid_report(
    real: Any,
    generated: Any,
    *,
    kid: bool = True,
    subsets: int = 100,
    subset_size: int = 1000,
) -> dict[str, Any]:
    """``{"fid", "kid", "kid_std", "n_real", "n_gen"}`` from two feature sets."""
    a = _check_features(real, "real")
    b = _check_features(generated, "generated")
    out: dict[str, Any] = {"fid": frechet_distance(a, b)}
    if kid:
        mean, std = kernel_inception_distance(a, b, subsets=subsets, subset_size=subset_size)
        out |= {"kid": mean, "kid_std": std}
    else:
        out |= {"kid": None, "kid_std": None}
    return out | {"n_real": len(a), "n_gen": len(b)}
