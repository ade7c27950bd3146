"""Pairing the images of two folders by file name, for the paired metrics (``eval lpips``,
``eval fidelity``, ``eval mp-lpips``): ``a/x.png`` with ``b/x.jpg``, and a mask ``x.*`` from a
mask folder (one per side where the metric needs two). Files without a partner are listed, never
dropped silently. Torch-free, so the CLI of the classical metrics never imports it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.io.images import iter_image_paths, read_image, read_mask
from adstage.types import RGB

__all__ = ["Pair", "Pairing", "pair_folders", "read_same_size"]


@dataclass(frozen=True)
class Pair:
    """Two images (and their masks) to compare, paired by ``name`` (their file stem).

    ``mask``: the mask of the pair (of ``a``, where the two differ); ``b_mask``: ``b``'s own
    mask, when the metric takes one per image (MP-LPIPS' generated-image mask)."""

    name: str
    a: Path
    b: Path
    mask: Path | None = None
    b_mask: Path | None = None


@dataclass(frozen=True)
class Pairing:
    """How two folders paired: the pairs, and every file left without a partner (by name)."""

    pairs: list[Pair]
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    no_mask: list[str] = field(default_factory=list)  # pairs not measured: no mask file
    no_b_mask: list[str] | None = None  # with b_masks: pairs not measured, no b mask file

    @property
    def unpaired(self) -> dict[str, list[str]]:
        out = {"a": self.only_a, "b": self.only_b, "masks": self.no_mask}
        if self.no_b_mask is not None:
            out["b_masks"] = self.no_b_mask
        return out


def _by_stem(folder: Path, label: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise InputError(f"{label}: {str(folder)!r} is not a folder")
    found: dict[str, Path] = {}
    for path in iter_image_paths(folder):
        if path.stem in found:
            raise InputError(
                f"{label}: {found[path.stem].name} and {path.name} have one name; files pair by "
                "their name without the suffix"
            )
        found[path.stem] = path
    return found


def pair_folders(
    a_dir: str | os.PathLike[str],
    b_dir: str | os.PathLike[str],
    *,
    masks: str | os.PathLike[str] | None = None,
    b_masks: str | os.PathLike[str] | None = None,
) -> Pairing:
    """Pair the images of two folders by file name without the suffix (``x.png`` with
    ``x.jpg``), and with ``masks`` (and ``b_masks``) a mask of the same name for each pair.
    Files without a partner are listed, never dropped silently; two files of one name in a
    folder raise :class:`InputError`."""
    a = _by_stem(Path(a_dir), "a")
    b = _by_stem(Path(b_dir), "b")
    m = _by_stem(Path(masks), "masks") if masks is not None else None
    bm = _by_stem(Path(b_masks), "b_masks") if b_masks is not None else None
    pairs, no_mask, no_b_mask = [], [], []
    for name in sorted(a.keys() & b.keys()):
        missing = False
        if m is not None and name not in m:
            no_mask.append(name)
            missing = True
        if bm is not None and name not in bm:
            no_b_mask.append(name)
            missing = True
        if missing:
            continue
        pairs.append(
            Pair(
                name,
                a[name],
                b[name],
                m[name] if m is not None else None,
                bm[name] if bm is not None else None,
            )
        )
    return Pairing(
        pairs,
        only_a=sorted(a[n].name for n in a.keys() - b.keys()),
        only_b=sorted(b[n].name for n in b.keys() - a.keys()),
        no_mask=no_mask,
        no_b_mask=no_b_mask if bm is not None else None,
    )


def read_same_size(pair: Pair, metric: str) -> tuple[RGB, RGB, NDArray[np.float32] | None]:
    """``pair``'s two images and its mask (``None`` without one), for a metric that compares
    images of one size: a size mismatch is an :class:`InputError` naming both files and
    ``metric``, never a resize."""
    a, b = read_image(pair.a), read_image(pair.b)
    if a.shape != b.shape:
        raise InputError(
            f"{pair.a} is {a.shape[0]}×{a.shape[1]} but {pair.b} is {b.shape[0]}×{b.shape[1]} "
            f"(H×W); {metric} compares images of one size and does not resize"
        )
    mask = None if pair.mask is None else read_mask(pair.mask, shape=a.shape[:2])
    return a, b, mask
