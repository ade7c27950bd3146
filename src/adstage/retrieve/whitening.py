"""PCA whitening of catalog embeddings, learned without labels (Jégou & Chum, ECCV 2012).

Whitening centres the vectors on the catalog mean, rotates them onto its principal axes and
divides each axis by the square root of its variance, so directions that every product shares
(white backdrop, studio light, "furniture-ness") stop dominating the cosine. With few vectors the
small eigenvalues are noise; ``shrink`` adds ``shrink × mean eigenvalue`` to every eigenvalue
before dividing (a ridge), which keeps the weak axes from being blown up:

    x ↦ unit((x − μ) · V_d · diag((λ_d + shrink·mean(λ))^−power))

``power=0.5`` is whitening, ``power=0`` plain PCA projection.

This is **catalog-wide state**: it is fitted on the catalog's own vectors (no labels) and must be
applied to the query and to every gallery vector alike. On the 740 IKEA products
(``benchmarks/retrieval_variants.py``) it adds about 1.5 points of P@1 to the ``fusion``
embedding (0.693 → 0.704–0.714 when each query's transform is fitted on the other 90 % of the
catalog) and did not help the paper's Inception-V3 pool3 features reliably.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.io.atomic import atomic_write_bytes
from adstage.retrieve.base import l2_normalize

FORMAT = "adstage-whitening-1"


def _vectors(x: Any, name: str = "vectors") -> NDArray[np.float64]:
    v = np.asarray(x)
    if v.ndim != 2 or not np.issubdtype(v.dtype, np.number):
        raise InputError(f"{name}: expected a numeric N×D array, got shape {v.shape} ({v.dtype})")
    if not np.isfinite(v).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    return v.astype(np.float64)


@dataclass(kw_only=True)
class Whitening:
    """Shrunk PCA whitening; :meth:`fit` on catalog vectors, :meth:`transform` any vectors.

    Args:
        dim: principal axes kept; ``None`` keeps every axis with non-zero variance (at most
            ``N − 1`` for ``N`` fitted vectors).
        shrink: added to every eigenvalue, in units of their mean (≥ 0); 0 is plain whitening.
        power: eigenvalue exponent divided out, in ``[0, 1]``: 0.5 whitens, 0 only projects.

    After :meth:`fit`: ``mean`` (``D``), ``projection`` (``D×d``), ``eigenvalues`` (``d``) and
    ``n_fit``. The output rows have unit length.
    """

    dim: int | None = None
    shrink: float = 1.0
    power: float = 0.5
    mean: NDArray[np.float64] | None = field(default=None, init=False, repr=False)
    projection: NDArray[np.float64] | None = field(default=None, init=False, repr=False)
    eigenvalues: NDArray[np.float64] | None = field(default=None, init=False, repr=False)
    n_fit: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.dim is not None and (
            isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim < 1
        ):
            raise InputError(f"dim: expected None or an integer >= 1, got {self.dim!r}")
        for option, low, high in (("shrink", 0.0, math.inf), ("power", 0.0, 1.0)):
            value = getattr(self, option)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or not low <= value <= high
            ):
                bounds = ">= 0" if high == math.inf else f"in [{low:g}, {high:g}]"
                raise InputError(f"{option}: expected a number {bounds}, got {value!r}")

    @property
    def fitted(self) -> bool:
        return self.projection is not None

    @property
    def in_dim(self) -> int:
        """``D``, the width of the vectors it was fitted on (0 before :meth:`fit`)."""
        return 0 if self.projection is None else int(self.projection.shape[0])

    @property
    def out_dim(self) -> int:
        """``d``, the width of :meth:`transform`'s output (0 before :meth:`fit`)."""
        return 0 if self.projection is None else int(self.projection.shape[1])

    def fit(self, vectors: Any) -> Whitening:
        """Learn mean and axes from ``vectors`` (``N×D``, ``N ≥ 2``, e.g. the catalog column)."""
        x = _vectors(vectors)
        if x.shape[0] < 2:
            raise InputError(f"vectors: expected at least 2 rows to fit on, got {x.shape[0]}")
        mean = x.mean(axis=0)
        _, singular, axes = np.linalg.svd(x - mean, full_matrices=False)
        lam = singular**2 / (x.shape[0] - 1)
        keep = lam > max(lam[0], 1e-300) * 1e-9  # drop the null space (rank ≤ N − 1)
        if not keep.any():
            raise InputError("vectors: all rows are equal; there is no variance to whiten")
        lam, axes = lam[keep], axes[keep]
        d = len(lam) if self.dim is None else min(self.dim, len(lam))
        scale = (lam[:d] + self.shrink * lam.mean()) ** -self.power
        self.mean = mean
        self.projection = axes[:d].T * scale
        self.eigenvalues = lam[:d]
        self.n_fit = int(x.shape[0])
        return self

    def transform(self, vectors: Any) -> NDArray[np.float32]:
        """``N×d`` float32 unit rows (cosine = dot product, as for an embedder)."""
        if self.projection is None or self.mean is None:
            raise InputError("Whitening.transform: not fitted; call fit(vectors) or load(path)")
        x = _vectors(vectors)
        if x.shape[1] != self.in_dim:
            raise InputError(
                f"vectors: expected {self.in_dim} columns (as fitted), got {x.shape[1]}"
            )
        return l2_normalize((x - self.mean) @ self.projection)

    def save(self, path: str | Path) -> Path:
        """Write the fitted transform to ``path`` (``.npz``) atomically and return the path."""
        if self.projection is None or self.mean is None or self.eigenvalues is None:
            raise InputError("Whitening.save: not fitted; nothing to save")
        buffer = io.BytesIO()
        np.savez(
            buffer,
            format=np.array(FORMAT),
            mean=self.mean,
            projection=self.projection,
            eigenvalues=self.eigenvalues,
            n_fit=np.array(self.n_fit),
            dim=np.array(-1 if self.dim is None else self.dim),
            shrink=np.array(self.shrink),
            power=np.array(self.power),
        )
        return atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> Whitening:
        """Read a transform written by :meth:`save`."""
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"path: cannot read a whitening file from {path}: {exc}") from exc
        with data:
            if "format" not in data.files or str(data["format"]) != FORMAT:
                raise InputError(f"path: {path} is not an {FORMAT} file")
            dim = int(data["dim"])
            out = cls(
                dim=None if dim < 0 else dim,
                shrink=float(data["shrink"]),
                power=float(data["power"]),
            )
            out.mean = data["mean"].astype(np.float64)
            out.projection = data["projection"].astype(np.float64)
            out.eigenvalues = data["eigenvalues"].astype(np.float64)
            out.n_fit = int(data["n_fit"])
        if out.projection.ndim != 2 or out.mean.shape != (out.projection.shape[0],):
            raise InputError(f"path: {path} holds inconsistent shapes")
        return out
