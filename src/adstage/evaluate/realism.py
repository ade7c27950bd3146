"""A realism critic: a classifier two-sample test on crops around the product, and a per-image score.

Lopez-Paz & Oquab, "Revisiting Classifier Two-Sample Tests", ICLR 2017 (§2, C2ST): to test whether
two samples come from one distribution, train a binary classifier to tell them apart on a random
half and measure its accuracy on the other half. Under the null hypothesis (one distribution) and
balanced classes, the number of correct held-out predictions is Binomial(n_test, ½), so the
accuracy is itself the statistic: 0.5 means indistinguishable, 1.0 means always told apart, and
the exact binomial tail gives the p-value. Unlike FID/KID it says *how often* a fake is spotted.

Here the two samples are features of square crops around a box — the pasted product's box in a
staged image, the object's mask box in a real photo (:func:`square_crop`) — so the test looks at
the product and its surroundings (halos, missing shadows, scale), not at the reused real scene.

* :func:`c2st`: balanced classes, an L2-regularised logistic regression (Newton's method in
  numpy, :func:`fit_logistic`) on standardised features, trained on a random half and scored on
  the other, repeated over ``splits`` seeded splits; optional ``groups`` keep crops of one product
  or one scene on one side of a split. Reports the mean accuracy, its exact Clopper–Pearson
  interval (:func:`clopper_pearson`) and the one-sided binomial p-value against 0.5
  (:func:`binomial_p_value`), both for one split's test size at the mean accuracy (the mean over
  splits removes split noise, not sample noise, so this is the honest width).
* :class:`RealismCritic`: the same classifier fitted on all of real vs. fake crops (class-weighted),
  ``score(crops)`` → probability of *real* in [0, 1]; saved as a small ``.npz`` (weights,
  standardisation, feature name, crop geometry), written atomically.

Features are pluggable (:data:`FEATURES`): ``inception-v3`` (pool3 of the FID network,
``adstage weights fetch inception-v3-fid``) or ``colour-gradient`` (no weights: colour, gradient
and HOG statistics of the crop). Nothing falls back silently: the chosen name is in every result.
"""

from __future__ import annotations

import io
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.evaluate.fid import InceptionFeatures
from adstage.io.atomic import atomic_write_bytes
from adstage.retrieve.classical import hog
from adstage.types import RGB, as_rgb

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]
FloatArray = NDArray[np.float64]

CROP_FACTOR = 1.5
"""A crop's side is this × the box's longer side (as ``benchmarks/staging.py``'s local KID)."""
CROP_SIZE = 299
"""Crops are resized to this square side (Inception-V3's input)."""
DEFAULT_L2 = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
"""The L2 strengths tried (3-fold cross-validation inside the training half only)."""


# ------------------------------------------------------------------------------------------------
# crops


def square_crop(
    image: Any, box: Sequence[float], factor: float = CROP_FACTOR, size: int = CROP_SIZE
) -> RGB:
    """A square crop of ``factor`` × the box's longer side around its centre, padded by edge
    replication where it leaves the image, resized to ``size`` (area interpolation).

    ``box``: ``(x0, y0, x1, y1)`` in pixels, ``x1``/``y1`` exclusive.
    """
    image = as_rgb(image)
    if len(box) != 4:
        raise InputError(f"box: expected (x0, y0, x1, y1), got {box!r}")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise InputError(f"box: expected x1 > x0 and y1 > y0, got {tuple(box)!r}")
    if not factor > 0 or size < 2:
        raise InputError(f"factor/size: expected > 0 and >= 2, got {factor} and {size}")
    side = max(x1 - x0, y1 - y0) * factor
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    a, b = round(cx - side / 2), round(cy - side / 2)
    s = max(2, round(side))
    h, w = image.shape[:2]
    pad = max(0, -a, -b, a + s - w, b + s - h)
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else image
    crop = padded[b + pad : b + pad + s, a + pad : a + pad + s]
    out: RGB = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return out


def mask_box(mask: Any) -> Box:
    """The bounding box ``(x0, y0, x1, y1)`` of a mask's non-zero pixels (``x1``/``y1`` exclusive)."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise InputError(f"mask: expected an H×W array, got shape {m.shape}")
    ys, xs = np.nonzero(m > (0.5 if m.dtype.kind == "f" else 0))
    if ys.size == 0:
        raise InputError("mask: empty (no object pixels), so it has no box")
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


# ------------------------------------------------------------------------------------------------
# features


class CropFeatures(Protocol):
    """``N`` crops (H×W×3 ``uint8``) → an ``N×D`` ``float64`` array; ``name`` says which."""

    name: str

    def __call__(self, crops: Sequence[RGB]) -> FloatArray: ...


@dataclass
class InceptionCropFeatures:
    """Inception-V3 pool3 (2048-d) of each crop: the FID network, as :mod:`.fid` runs it."""

    weights: str | Path | None = None
    batch_size: int = 16
    name: str = field(default="inception-v3", init=False)
    _net: Any = field(default=None, init=False, repr=False)

    def __call__(self, crops: Sequence[RGB]) -> FloatArray:
        if self._net is None:
            self._net = InceptionFeatures(self.weights, batch_size=self.batch_size)
        out: FloatArray = self._net(crops)
        return out


@dataclass
class ColourGradientFeatures:
    """No weights: what a compositing error changes, measured directly on a crop.

    The crop is resized to 128²; its *centre* is the middle square of side 1/``CROP_FACTOR``
    (where the box is), its *ring* the rest. Blocks, concatenated:

    * CIELAB histograms (16 bins a channel) of the centre and of the ring, and their means and
      standard deviations (colour and lighting mismatch);
    * log-spaced histograms (12 bins) of the gradient magnitude in the centre, the ring and a
      6-px band along the centre's border (halos, seams, over-sharp cut-out edges);
    * the mean lightness of 8 horizontal bands (a shadow under the object, or none);
    * HOG of the grey crop (:func:`adstage.retrieve.classical.hog`, 16-px cells): shape and layout.
    """

    name: str = field(default="colour-gradient", init=False)
    side: int = 128

    def __call__(self, crops: Sequence[RGB]) -> FloatArray:
        rows = []
        s = self.side
        inner = round(s / CROP_FACTOR)
        lo = (s - inner) // 2
        centre = np.zeros((s, s), bool)
        centre[lo : lo + inner, lo : lo + inner] = True
        band = np.zeros((s, s), bool)
        band[lo - 3 : lo + inner + 3, lo - 3 : lo + inner + 3] = True
        band[lo + 3 : lo + inner - 3, lo + 3 : lo + inner - 3] = False
        edges = np.concatenate([[0.0], np.logspace(-1, np.log10(400.0), 12)])
        edges[-1] = np.inf
        for crop in crops:
            rgb = cv2.resize(as_rgb(crop), (s, s), interpolation=cv2.INTER_AREA)
            lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float64)
            grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            g = grey.astype(np.float32)
            mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
            parts: list[NDArray[Any]] = []
            for region in (centre, ~centre):
                pixels = lab[region]
                for c in range(3):
                    hist, _ = np.histogram(pixels[:, c], bins=16, range=(0, 256))
                    parts.append(hist / max(1, len(pixels)))
                parts += [pixels.mean(0) / 255.0, pixels.std(0) / 255.0]
            for region in (centre, ~centre, band):
                hist, _ = np.histogram(mag[region], bins=edges)
                parts.append(hist / max(1, int(region.sum())))
            parts.append(lab[..., 0].reshape(8, s // 8, s).mean(axis=(1, 2)) / 255.0)
            parts.append(hog(grey))
            rows.append(np.concatenate([np.ravel(p) for p in parts]))
        if not rows:
            return np.zeros((0, 0))
        return np.asarray(rows, np.float64)


FEATURES: dict[str, Callable[[], CropFeatures]] = {
    "inception-v3": InceptionCropFeatures,
    "colour-gradient": ColourGradientFeatures,
}
"""The crop features by name: ``inception-v3`` needs weights; ``colour-gradient`` needs none."""


def crop_features(name: str) -> CropFeatures:
    """The feature function called ``name`` (see :data:`FEATURES`)."""
    if name not in FEATURES:
        raise InputError(f"features: unknown {name!r}; available: {', '.join(sorted(FEATURES))}")
    return FEATURES[name]()


# ------------------------------------------------------------------------------------------------
# intervals and tests


def _log_binom_pmf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == n else -math.inf
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def binomial_tail(k: int, n: int, p: float) -> float:
    """``P(X ≥ k)`` for ``X ~ Binomial(n, p)``, exact (summed in log space)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    logs = [_log_binom_pmf(i, n, p) for i in range(k, n + 1)]
    top = max(logs)
    if top == -math.inf:
        return 0.0
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def _check_counts(k: int, n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InputError(f"n: expected an integer >= 1, got {n!r}")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k <= n:
        raise InputError(f"k: expected an integer in [0, n={n}], got {k!r}")


def binomial_p_value(k: int, n: int, p: float = 0.5) -> float:
    """One-sided exact p-value of ``k`` successes in ``n`` against chance ``p``: ``P(X ≥ k)``.

    The C2ST's test (Lopez-Paz & Oquab 2017, §2): only accuracy *above* chance is evidence.
    """
    _check_counts(k, n)
    return binomial_tail(int(k), int(n), p)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson, 1934) interval for a binomial proportion ``k / n``.

    The lower end solves ``P(X ≥ k | p) = α/2``, the upper ``P(X ≤ k | p) = α/2`` (bisection on
    the exact tails); ``k = 0`` gives lower 0, ``k = n`` upper 1.
    """
    _check_counts(k, n)
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence: expected a value in (0, 1), got {confidence!r}")
    k, n = int(k), int(n)
    alpha = 1.0 - confidence

    def solve(f: Callable[[float], float]) -> float:  # f increasing in p, root in [0, 1]
        a, b = 0.0, 1.0
        for _ in range(60):
            m = (a + b) / 2
            if f(m) < 0:
                a = m
            else:
                b = m
        return (a + b) / 2

    lower = 0.0 if k == 0 else solve(lambda p: binomial_tail(k, n, p) - alpha / 2)
    upper = 1.0 if k == n else solve(lambda p: alpha / 2 - (1.0 - binomial_tail(k + 1, n, p)))
    return lower, upper


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson (1927) score interval for ``k / n`` (normal quantile by bisection on ``erf``)."""
    _check_counts(k, n)
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence: expected a value in (0, 1), got {confidence!r}")
    target = 1.0 - (1.0 - confidence) / 2
    a, b = 0.0, 10.0
    for _ in range(100):
        m = (a + b) / 2
        a, b = (m, b) if 0.5 * (1 + math.erf(m / math.sqrt(2))) < target else (a, m)
    z = (a + b) / 2
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


# ------------------------------------------------------------------------------------------------
# the classifier


@dataclass(frozen=True)
class Standardizer:
    """Per-column ``(x − mean) / scale``; constant columns get scale 1."""

    mean: FloatArray
    scale: FloatArray

    @classmethod
    def fit(cls, x: FloatArray) -> Standardizer:
        std = x.std(0)
        return cls(x.mean(0), np.where(std > 1e-12, std, 1.0))

    def __call__(self, x: FloatArray) -> FloatArray:
        out: FloatArray = (x - self.mean) / self.scale
        return out


def _sigmoid(z: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


def fit_logistic(
    x: Any,
    y: Any,
    *,
    l2: float = 1e-2,
    sample_weight: Any = None,
    max_iter: int = 50,
    tol: float = 1e-12,
) -> tuple[FloatArray, float]:
    """L2-regularised logistic regression by Newton's method with backtracking; ``(w, b)``.

    Minimises ``Σᵢ sᵢ·log(1 + exp(−ỹᵢ(xᵢ·w + b))) / Σᵢ sᵢ + l2/2 · (‖w‖² + b²)`` with
    ``ỹ = ±1`` and sample weights ``s`` (default 1). The bias is penalised too, which with
    standardised features and balanced classes only pulls it towards the balanced prior. When there
    are fewer rows than columns the Newton step is solved in the row space (Woodbury), so 2048-d
    features on a few hundred crops cost an ``n×n`` solve.
    """
    X = np.asarray(x, np.float64)
    t = np.asarray(y, np.float64)
    if X.ndim != 2 or t.shape != (len(X),):
        raise InputError(f"x, y: expected N×D and N, got shapes {X.shape} and {t.shape}")
    if not set(np.unique(t)) <= {0.0, 1.0}:
        raise InputError("y: expected labels 0 and 1")
    if not l2 > 0:
        raise InputError(f"l2: expected > 0, got {l2!r}")
    s = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    if s.shape != (len(X),) or (s < 0).any() or s.sum() <= 0:
        raise InputError("sample_weight: expected N non-negative weights, not all zero")
    s = s / s.sum()
    A = np.hstack([X, np.ones((len(X), 1))])
    sign = 2.0 * t - 1.0
    theta = np.zeros(A.shape[1])
    gram = A @ A.T if len(A) < A.shape[1] else None

    def objective(th: FloatArray) -> float:
        margin = sign * (A @ th)
        return float(s @ np.logaddexp(0.0, -margin) + 0.5 * l2 * th @ th)

    current = objective(theta)
    for _ in range(max_iter):
        p = _sigmoid(A @ theta)
        grad = A.T @ (s * (p - t)) + l2 * theta
        d = s * p * (1.0 - p)  # Hessian = Aᵀ diag(d) A + l2·I
        if gram is None:
            hess = (A.T * d) @ A + l2 * np.eye(A.shape[1])
            step = np.linalg.solve(hess, grad)
        else:
            r = np.sqrt(d)
            inner = l2 * np.eye(len(A)) + (r[:, None] * gram) * r[None, :]
            step = (grad - A.T @ (r * np.linalg.solve(inner, r * (A @ grad)))) / l2
        decrease = float(grad @ step)
        if decrease / 2 < tol:
            break
        alpha = 1.0
        while True:
            candidate = theta - alpha * step
            value = objective(candidate)
            if value <= current - 1e-4 * alpha * decrease:
                break
            alpha /= 2
            if alpha < 1e-10:  # no decrease along the Newton direction: at the optimum
                return theta[:-1], float(theta[-1])
        theta, current = candidate, value
    return theta[:-1], float(theta[-1])


def _balanced_weights(y: FloatArray) -> FloatArray:
    n1 = float(y.sum())
    n0 = float(len(y) - n1)
    out: FloatArray = np.where(y == 1, 0.5 / n1, 0.5 / n0)
    return out


def _choose_l2(
    x: FloatArray, y: FloatArray, grid: Sequence[float], rng: np.random.Generator, folds: int = 3
) -> float:
    """The L2 strength of ``grid`` with the best balanced accuracy in ``folds``-fold CV on
    ``(x, y)`` (standardisation refitted per fold); ties go to the stronger penalty."""
    if len(grid) == 1:
        return float(grid[0])
    fold = np.empty(len(y), int)
    for label in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == label))
        fold[idx] = np.arange(len(idx)) % folds
    scores = []
    for l2 in grid:
        acc = []
        for f in range(folds):
            tr, te = fold != f, fold == f
            if len(np.unique(y[tr])) < 2 or not te.any():
                continue
            std = Standardizer.fit(x[tr])
            w, b = fit_logistic(std(x[tr]), y[tr], l2=l2, sample_weight=_balanced_weights(y[tr]))
            pred = (std(x[te]) @ w + b) > 0
            acc.append(float(np.mean([np.mean(pred[y[te] == c] == c) for c in (0, 1)])))
        scores.append(np.mean(acc) if acc else 0.0)
    best = max(scores)
    return float(max(v for v, sc in zip(grid, scores, strict=True) if sc >= best - 1e-12))


# ------------------------------------------------------------------------------------------------
# the two-sample test


def _check_sets(real: Any, fake: Any) -> tuple[FloatArray, FloatArray]:
    out = []
    for name, value in (("real", real), ("fake", fake)):
        x = np.asarray(value, np.float64)
        if x.ndim != 2:
            raise InputError(f"{name}: expected an N×D feature array, got shape {x.shape}")
        if len(x) < 2:
            raise InputError(f"{name}: expected at least 2 feature rows, got {len(x)}")
        if not np.isfinite(x).all():
            raise InputError(f"{name}: features contain NaN or infinity")
        out.append(x)
    if out[0].shape[1] != out[1].shape[1]:
        raise InputError(
            f"real, fake: feature dimensions differ ({out[0].shape[1]} vs {out[1].shape[1]})"
        )
    return out[0], out[1]


def _groups(groups: Any, n: int, name: str) -> NDArray[Any]:
    if groups is None:
        return np.arange(n)
    g = np.asarray(groups)
    if g.shape != (n,):
        raise InputError(f"{name}: expected one group label per row ({n}), got shape {g.shape}")
    if len(np.unique(g)) < 2:
        raise InputError(f"{name}: expected at least 2 distinct groups, got {len(np.unique(g))}")
    return g


def _half(groups: NDArray[Any], rng: np.random.Generator) -> NDArray[np.bool_]:
    """A random half of the rows (whole groups): ``True`` = training side; never empty."""
    unique = rng.permutation(np.unique(groups))
    sizes = np.array([np.sum(groups == u) for u in unique])
    reach = int(np.searchsorted(np.cumsum(sizes), len(groups) / 2)) + 1
    take = min(max(reach, 1), len(unique) - 1)
    return np.isin(groups, unique[:take])


@dataclass(frozen=True)
class C2STResult:
    """A classifier two-sample test. ``accuracy``: mean held-out accuracy over the splits (0.5 =
    indistinguishable); ``interval``: its exact Clopper–Pearson interval for one split's test
    size; ``p_value``: one-sided exact binomial against 0.5; ``features``: which ran."""

    accuracy: float
    interval: tuple[float, float]
    p_value: float
    n_real: int
    n_fake: int
    n_test: int
    accuracies: list[float]
    l2: list[float]
    features: str
    confidence: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "interval": list(self.interval),
            "p_value": self.p_value,
            "n_real": self.n_real,
            "n_fake": self.n_fake,
            "n_test": self.n_test,
            "accuracy_std": float(np.std(self.accuracies)),
            "splits": len(self.accuracies),
            "l2": self.l2,
            "features": self.features,
            "confidence": self.confidence,
        }


def c2st(
    real: Any,
    fake: Any,
    *,
    features: str = "unnamed",
    groups_real: Any = None,
    groups_fake: Any = None,
    splits: int = 10,
    l2: float | Sequence[float] = DEFAULT_L2,
    seed: int = 0,
    confidence: float = 0.95,
) -> C2STResult:
    """Classifier two-sample test (Lopez-Paz & Oquab 2017) between two ``N×D`` feature sets.

    Per split: each set is cut into two random halves (by whole groups when ``groups_*`` are
    given, so crops of one product or scene never sit on both sides), each half is balanced by
    subsampling the larger class, a logistic regression is fitted on the training half (its L2
    strength by 3-fold CV there when ``l2`` is a sequence) and scored on the test half.
    Deterministic for a ``seed``. ``features`` only names the features in the result.
    """
    a, b = _check_sets(real, fake)
    ga = _groups(groups_real, len(a), "groups_real")
    gb = _groups(groups_fake, len(b), "groups_fake")
    if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
        raise InputError(f"splits: expected an integer >= 1, got {splits!r}")
    grid = [float(l2)] if isinstance(l2, int | float) else [float(v) for v in l2]
    if not grid or min(grid) <= 0:
        raise InputError(f"l2: expected positive value(s), got {l2!r}")
    rng = np.random.default_rng(seed)
    accuracies, chosen, tests = [], [], []
    for _ in range(splits):
        ta, tb = _half(ga, rng), _half(gb, rng)
        sides = []
        for side_a, side_b in ((ta, tb), (~ta, ~tb)):
            ia, ib = np.flatnonzero(side_a), np.flatnonzero(side_b)
            m = min(len(ia), len(ib))
            ia, ib = rng.choice(ia, m, replace=False), rng.choice(ib, m, replace=False)
            x = np.concatenate([a[ia], b[ib]])
            y = np.concatenate([np.ones(m), np.zeros(m)])
            sides.append((x, y))
        (xtr, ytr), (xte, yte) = sides
        strength = _choose_l2(xtr, ytr, grid, rng)
        std = Standardizer.fit(xtr)
        w, bias = fit_logistic(std(xtr), ytr, l2=strength)
        correct = ((std(xte) @ w + bias) > 0) == (yte == 1)
        accuracies.append(float(correct.mean()))
        chosen.append(strength)
        tests.append(len(yte))
    n_test = round(float(np.mean(tests)))
    mean = float(np.mean(accuracies))
    k = min(n_test, round(mean * n_test))
    return C2STResult(
        accuracy=mean,
        interval=clopper_pearson(k, n_test, confidence),
        p_value=binomial_p_value(k, n_test),
        n_real=len(a),
        n_fake=len(b),
        n_test=n_test,
        accuracies=accuracies,
        l2=chosen,
        features=features,
        confidence=confidence,
    )


# ------------------------------------------------------------------------------------------------
# the per-image critic


@dataclass(frozen=True)
class RealismCritic:
    """A per-crop realism score: probability that a crop is *real*, in [0, 1].

    A logistic regression on standardised crop features, fitted on real crops (label 1) against
    fake ones (naive pastes and staged outputs, label 0) with balanced class weights. ``factor``
    and ``size`` are the crop geometry it was fitted with; :meth:`score_image` applies them.
    """

    features: str
    weights: FloatArray = field(repr=False)
    bias: float
    mean: FloatArray = field(repr=False)
    scale: FloatArray = field(repr=False)
    l2: float
    factor: float = CROP_FACTOR
    size: int = CROP_SIZE
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        real: Any,
        fake: Any,
        *,
        features: str,
        l2: float | Sequence[float] = DEFAULT_L2,
        seed: int = 0,
        factor: float = CROP_FACTOR,
        size: int = CROP_SIZE,
        meta: dict[str, Any] | None = None,
    ) -> RealismCritic:
        """Fit on ``N×D`` features of real and fake crops (``l2`` a sequence: chosen by 3-fold CV)."""
        a, b = _check_sets(real, fake)
        if features not in FEATURES:
            raise InputError(
                f"features: unknown {features!r}; available: {', '.join(sorted(FEATURES))}"
            )
        grid = [float(l2)] if isinstance(l2, int | float) else [float(v) for v in l2]
        if not grid or min(grid) <= 0:
            raise InputError(f"l2: expected positive value(s), got {l2!r}")
        x = np.concatenate([a, b])
        y = np.concatenate([np.ones(len(a)), np.zeros(len(b))])
        strength = _choose_l2(x, y, grid, np.random.default_rng(seed))
        std = Standardizer.fit(x)
        w, bias = fit_logistic(std(x), y, l2=strength, sample_weight=_balanced_weights(y))
        info = {"n_real": len(a), "n_fake": len(b)} | dict(meta or {})
        return cls(features, w, bias, std.mean, std.scale, strength, factor, size, info)

    @property
    def dim(self) -> int:
        return len(self.weights)

    def score_features(self, x: Any) -> FloatArray:
        """Probability of *real* for each row of an ``N×D`` feature array."""
        f = np.asarray(x, np.float64)
        if f.ndim != 2 or f.shape[1] != self.dim:
            raise InputError(
                f"features: expected N×{self.dim} ({self.features}), got shape {f.shape}"
            )
        return _sigmoid(((f - self.mean) / self.scale) @ self.weights + self.bias)

    def score(self, crops: Sequence[RGB], extractor: CropFeatures | None = None) -> FloatArray:
        """Probability of *real* for each crop (features computed by ``extractor``, default the
        critic's own, which must match: a critic is only valid on the features it was fitted on)."""
        if extractor is None:
            extractor = crop_features(self.features)
        elif extractor.name != self.features:
            raise InputError(
                f"extractor: this critic was fitted on {self.features!r} features, "
                f"got {extractor.name!r}"
            )
        if len(crops) == 0:
            return np.zeros(0)
        return self.score_features(extractor(crops))

    def score_image(
        self, image: Any, box: Sequence[float], extractor: CropFeatures | None = None
    ) -> float:
        """The score of one image's crop around ``box`` (the critic's crop geometry)."""
        return float(self.score([square_crop(image, box, self.factor, self.size)], extractor)[0])

    def save(self, path: str | Path) -> Path:
        """Write a ``.npz`` (arrays + JSON metadata) atomically; :meth:`load` reads it back."""
        header = {
            "format": "adstage-realism-critic/1",
            "features": self.features,
            "bias": self.bias,
            "l2": self.l2,
            "factor": self.factor,
            "size": self.size,
            "meta": self.meta,
        }
        buffer = io.BytesIO()
        np.savez(
            buffer,
            weights=self.weights,
            mean=self.mean,
            scale=self.scale,
            header=np.array(json.dumps(header)),
        )
        return atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> RealismCritic:
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                arrays = {k: np.asarray(data[k], np.float64) for k in ("weights", "mean", "scale")}
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{path}: not a realism critic file ({exc})") from exc
        if header.get("format") != "adstage-realism-critic/1":
            raise InputError(f"{path}: not a realism critic file (format {header.get('format')!r})")
        return cls(
            features=header["features"],
            weights=arrays["weights"],
            bias=float(header["bias"]),
            mean=arrays["mean"],
            scale=arrays["scale"],
            l2=float(header["l2"]),
            factor=float(header["factor"]),
            size=int(header["size"]),
            meta=dict(header.get("meta", {})),
        )
