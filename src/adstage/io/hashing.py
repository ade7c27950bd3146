"""Content digests and perceptual hashes of images, shared by the catalog and the evaluation.

A perceptual hash survives re-encoding and resizing, so it finds near-duplicate photos (the
retrieval protocol removes them from a query's gallery, Ku et al. AdKDD 2023, §5.3); a sha256
of the file's bytes finds exact copies.
"""

from __future__ import annotations

import hashlib
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError

__all__ = ["HASH_SIZE", "average_hash", "dhash", "hamming", "sha256_bytes"]

HASH_SIZE = 16
"""The dHash grid side adstage stores and compares for near-duplicates: 16×16 = 256 bits."""


def _grey(image: NDArray[Any], name: str = "image") -> NDArray[np.float32]:
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = cv2.cvtColor(img[:, :, :3].astype(np.float32), cv2.COLOR_RGB2GRAY)
    elif img.ndim != 2:
        raise InputError(f"{name} must be H×W grey or H×W×3 RGB, got shape {img.shape}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise InputError(f"{name} is empty: shape {img.shape}")
    return img.astype(np.float32)


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
        raise InputError(f"size must be an integer ≥ 2, got {size!r}")


def _pack(bits: NDArray[np.bool_]) -> int:
    out = 0
    for b in bits.ravel():
        out = (out << 1) | int(b)
    return out


def average_hash(image: NDArray[Any], size: int = 8) -> int:
    """Average hash: grey, area-resize to ``size×size``, bit = pixel > mean; ``size²`` bits.

    Bits are row-major, the top-left pixel the most significant. ``image``: ``H×W×3`` RGB (any
    dtype) or ``H×W`` grey.
    """
    _check_size(size)
    small = cv2.resize(_grey(image), (size, size), interpolation=cv2.INTER_AREA)
    return _pack(small > small.mean())


def dhash(image: NDArray[Any], size: int = 8) -> int:
    """Difference hash: grey, area-resize to ``size`` rows × ``size+1`` columns, bit = right > left.

    ``size²`` bits, row-major. Robust to brightness and contrast changes, sensitive to structure.
    """
    _check_size(size)
    small = cv2.resize(_grey(image), (size + 1, size), interpolation=cv2.INTER_AREA)
    return _pack(small[:, 1:] > small[:, :-1])


def hamming(a: int, b: int) -> int:
    """Number of differing bits of two hashes."""
    return (int(a) ^ int(b)).bit_count()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of a file's bytes, for exact-duplicate detection with :func:`near_duplicates`."""
    return hashlib.sha256(data).hexdigest()
