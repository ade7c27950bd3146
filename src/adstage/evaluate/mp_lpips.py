"""MP-LPIPS, the matched-points LPIPS of Magic Clothing, with a pluggable correspondence matcher.

Chen, Chen, Dai, Wu, Zhu, Wang, Hu, Shen and Zhao, "Magic Clothing: Controllable Garment-Driven
Image Synthesis", ACM MM 2024, §4.1 ("MP-LPIPS"), as their released evaluation computes it. How
well a generated image keeps the details of a reference product, robust to the product having
moved: LPIPS between small patches at corresponding points rather than between the whole images.

For a generated image ``G`` (with its product mask ``Mg``) and a reference ``R`` (with ``Mr``):

1. ``G``, ``R`` and both masks are resized to :data:`SIZE`² (images bilinear with PIL's
   antialiasing, masks bilinear then ``>= 0.5``; a non-square image is stretched, as in the
   release).
2. ``R``'s background is zeroed (``R·Mr``). ``G`` is masked by its own product mask dilated by a
   :data:`DILATE`-px max filter (a 17×17 square): ``G·D``, ``D = max17(Mg)``. (So an image
   against itself scores 0 only on a black background: elsewhere the 8-px halo of background
   the dilation keeps in ``G`` is black in ``R``, and the patches at the product's edge differ.)
3. Query points: the nodes of a :data:`GRID`-px grid (``20, 60, …, 500`` on each axis) that fall
   inside ``Mr``.
4. Each query point is matched to ``G`` by dense features: the matcher's features of both masked
   images, upsampled bilinearly to :data:`SIZE`² (``align_corners=False``), and the match is the
   pixel of ``G`` whose feature has the largest cosine similarity with the query's (over the
   whole image; ties go to the first in row-major order).
5. A match outside ``D`` scores the penalty ``LPIPS(ones, zeros)`` (a white against a black
   :data:`PATCH`² patch); any other scores LPIPS-Alex v0.1 between the :data:`PATCH`×:data:`PATCH`
   patches centred on the query point in ``R·Mr`` and on the match in ``G·D`` (pixels in
   ``[0, 1]`` scaled to ``[-1, 1]`` as LPIPS expects, the images zero-padded by 16 px so every
   patch is whole).
6. MP-LPIPS is the mean over the query points (lower = the product's details better kept).

**The matcher.** The release matches with DIFT (Tang et al., "Emergent Correspondence from Image
Diffusion", NeurIPS 2023): Stable Diffusion 2.1 U-Net features at t = 41, up-block 2, an
ensemble of 8 noise samples. Those weights are not available here, so DIFT is a plug point, not a
backend: any object with a ``name`` and ``__call__(image) -> C×h×w features`` (the
:class:`Matcher` protocol; the image a ``3×SIZE×SIZE`` float tensor in ``[0, 1]``) can be passed
as ``matcher=``, e.g. a DIFT wrapper around the user's own SD-2.1 checkpoint. The offline
default, :class:`LpipsFeatures`, matches with the features LPIPS-Alex already computes: relu2
(192 channels, stride 8, receptive field 51 px) and relu3 (384 channels, stride 16, 99 px),
relu3 upsampled bilinearly to relu2's grid, each unit-normalised over its channels at every
position (so both layers weigh alike in the cosine), concatenated. relu3 has DIFT's stride
(1/16 of the input) and a receptive field three times the 33-px patch, enough context to tell
the parts of a product apart; relu2 adds the finer localisation that a 33-px patch comparison needs. relu1 (stride 4,
11 px) sees only colour and edges, and relu4–5 (stride 16, > 130 px) blur the position. These
ImageNet features are far weaker correspondences than DIFT's, so values computed with them are
not comparable with published MP-LPIPS numbers (RefAdGen reports 0.261, Magic Clothing's own
table others): the result names the matcher that ran.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from PIL import Image

from adstage.errors import InputError
from adstage.evaluate.lpips import LPIPS, load_lpips
from adstage.evaluate.pairs import Pair, Pairing, pair_folders
from adstage.io.images import read_image, read_mask
from adstage.types import THRESHOLD

__all__ = [
    "DILATE",
    "GRID",
    "PATCH",
    "SIZE",
    "LpipsFeatures",
    "Matcher",
    "MpLpipsReport",
    "grid_points",
    "match_points",
    "mp_lpips",
    "mp_lpips_paths",
]

SIZE = 512
DILATE = 17
GRID = 40
PATCH = 33
_HALF = PATCH // 2
_ROWS = 32  # rows of the upsampled generated features held at once


@runtime_checkable
class Matcher(Protocol):
    """Dense features for correspondence: ``name`` (recorded in the result) and
    ``__call__(image)`` with ``image`` a ``3×H×W`` float32 tensor in ``[0, 1]``
    (``H = W =`` :data:`SIZE`), returning ``C×h×w`` features (any ``h×w``; upsampled
    bilinearly to ``H×W``)."""

    @property
    def name(self) -> str: ...

    def __call__(self, image: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class LpipsFeatures:
    """The offline default matcher: LPIPS-Alex relu2 ⊕ relu3 (see the module docstring)."""

    net: LPIPS
    name: str = "lpips-alex-relu2+relu3"

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if self.net.net != "alex":
            raise InputError(f"LpipsFeatures: expected an LPIPS-alex network, got {self.net.net}")
        taps = self.net.features(image[None] * 2 - 1)
        relu2 = taps[1]
        relu3 = F.interpolate(taps[2], size=relu2.shape[-2:], mode="bilinear", align_corners=False)
        return torch.cat([_unit(relu2), _unit(relu3)], dim=1)[0]


def _unit(y: torch.Tensor) -> torch.Tensor:
    return y / (torch.linalg.vector_norm(y, dim=1, keepdim=True) + 1e-10)


# ---------------------------------------------------------------------------------------------
# Inputs


def _image(x: Any, name: str) -> NDArray[np.uint8]:
    a = np.asarray(x)
    if a.ndim != 3 or a.shape[-1] != 3 or a.dtype != np.uint8:
        raise InputError(f"{name}: expected uint8 H×W×3 RGB, got {a.dtype} of shape {a.shape}")
    return a


def _mask(x: Any, shape: tuple[int, ...], name: str, image: str) -> NDArray[np.float32]:
    m = np.asarray(x)
    if m.shape != tuple(shape[:2]):
        raise InputError(
            f"{name}: expected the size of {image}, {shape[0]}×{shape[1]} (H×W), got shape "
            f"{m.shape}"
        )
    f = m.astype(np.float32)
    if not np.isfinite(f).all() or f.min() < 0 or f.max() > 1:
        raise InputError(f"{name}: expected values in [0, 1] (or bool)")
    if not (f >= THRESHOLD).any():
        raise InputError(f"{name}: empty (no pixel >= {THRESHOLD}): no product to compare")
    return f


def _resize_image(a: NDArray[np.uint8]) -> NDArray[np.float32]:
    im = Image.fromarray(a).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    return np.asarray(im, np.float32) / 255.0


def _resize_mask(m: NDArray[np.float32]) -> NDArray[np.bool_]:
    im = Image.fromarray(m, mode="F").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    return np.asarray(im, np.float32) >= THRESHOLD


def _dilate(m: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """A ``DILATE``×``DILATE`` max filter (the window centred; clipped at the border)."""
    t = torch.from_numpy(m.astype(np.float32))[None, None]
    return np.asarray(F.max_pool2d(t, DILATE, stride=1, padding=DILATE // 2)[0, 0].numpy() > 0)


def grid_points(mask: NDArray[np.bool_]) -> NDArray[np.int64]:
    """The ``(y, x)`` nodes of the :data:`GRID`-px grid (offset ``GRID // 2``) inside ``mask``."""
    axis = np.arange(GRID // 2, SIZE, GRID)
    ys, xs = np.meshgrid(axis, axis, indexing="ij")
    keep = mask[ys, xs]
    return np.stack([ys[keep], xs[keep]], axis=1).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Matching


def _upsampler(n: int) -> torch.Tensor:
    """``SIZE×n``: the weights of 1-d linear upsampling ``n → SIZE`` (``align_corners=False``),
    so bilinear upsampling of ``f`` (``C×h×w``) is ``Ry · f · Rxᵀ``."""
    eye = torch.eye(n, dtype=torch.float32)[None]
    return F.interpolate(eye, size=SIZE, mode="linear", align_corners=False)[0].T.contiguous()


def _features(matcher: Matcher, image: torch.Tensor) -> torch.Tensor:
    f = matcher(image)
    if not isinstance(f, torch.Tensor) or f.ndim != 3 or f.shape[0] < 1:
        got = f"shape {tuple(f.shape)}" if isinstance(f, torch.Tensor) else type(f).__name__
        raise InputError(f"matcher {matcher.name!r}: expected C×h×w features, got {got}")
    return f.detach().float().cpu()


def match_points(
    reference: torch.Tensor, generated: torch.Tensor, points: NDArray[np.int64]
) -> NDArray[np.int64]:
    """For each ``(y, x)`` of ``points``, the ``(y, x)`` of ``generated`` whose feature is most
    cosine-similar to ``reference``'s at the point, both ``C×h×w`` feature maps upsampled
    bilinearly to :data:`SIZE`² (computed a band of rows at a time, never whole)."""
    if reference.ndim != 3 or generated.ndim != 3 or reference.shape[0] != generated.shape[0]:
        raise InputError(
            f"features: expected two C×h×w maps of one C, got {tuple(reference.shape)} and "
            f"{tuple(generated.shape)}"
        )
    ys = torch.from_numpy(points[:, 0])
    xs = torch.from_numpy(points[:, 1])
    ry, rx = _upsampler(reference.shape[1]), _upsampler(reference.shape[2])
    query = torch.einsum("nh,chw,nw->nc", ry[ys], reference, rx[xs])
    query = query / (torch.linalg.vector_norm(query, dim=1, keepdim=True) + 1e-10)
    full = tuple(generated.shape[1:]) == (SIZE, SIZE)  # already at SIZE²: no upsampling
    gy, gx = _upsampler(generated.shape[1]), _upsampler(generated.shape[2])
    columns = generated if full else torch.einsum("chw,xw->chx", generated, gx)  # C×h×SIZE
    best = torch.full((len(points),), -torch.inf)
    where = torch.zeros(len(points), dtype=torch.int64)
    for top in range(0, SIZE, _ROWS):
        if full:
            rows = columns[:, top : top + _ROWS]
        else:
            rows = torch.einsum("yh,chx->cyx", gy[top : top + _ROWS], columns)
        rows = rows / (torch.linalg.vector_norm(rows, dim=0, keepdim=True) + 1e-10)
        sims = query @ rows.reshape(rows.shape[0], -1)
        value, index = sims.max(dim=1)
        better = value > best  # strictly: an earlier row keeps a tie
        best = torch.where(better, value, best)
        where = torch.where(better, index + top * SIZE, where)
    return np.stack([where.numpy() // SIZE, where.numpy() % SIZE], axis=1).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# The metric


def _chw(image: NDArray[np.float32], device: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).to(device)


def _patches(image: NDArray[np.float32], points: NDArray[np.int64]) -> torch.Tensor:
    """``N×3×PATCH×PATCH`` patches centred on ``points`` of ``image`` (``SIZE×SIZE×3``), the
    image zero-padded by ``PATCH // 2``."""
    padded = np.pad(image, ((_HALF, _HALF), (_HALF, _HALF), (0, 0)))
    crops = [padded[y : y + PATCH, x : x + PATCH] for y, x in points]
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()


def mp_lpips(
    generated: Any,
    reference: Any,
    mask: Any,
    *,
    gen_mask: Any = None,
    matcher: Matcher | None = None,
    net: LPIPS | None = None,
    weights: str | os.PathLike[str] | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """MP-LPIPS of ``generated`` against ``reference`` (see the module docstring).

    Args:
        generated, reference: ``uint8`` ``H×W×3`` RGB (the two may differ in size: both are
            resized to :data:`SIZE`²).
        mask: the reference's product mask (``H×W`` of ``reference``, bool or float in
            ``[0, 1]``, 1 = product).
        gen_mask: the generated image's product mask (``H×W`` of ``generated``); default
            ``mask``, i.e. the product is assumed to stand where it stands in the reference.
        matcher: a :class:`Matcher`; default :class:`LpipsFeatures` of ``net``.
        net: an LPIPS-alex network; default :func:`~adstage.evaluate.lpips.load_lpips` ("alex",
            ``weights``, ``device``).

    Returns:
        ``{"mp_lpips": mean, "matcher": matcher.name, "points": n, "penalised": k}``: the mean
        over the ``n`` query points, ``k`` of which matched outside the dilated product mask.
    """
    gen, ref = _image(generated, "generated"), _image(reference, "reference")
    m_ref = _mask(mask, ref.shape, "mask", "reference")
    if gen_mask is None:
        if gen.shape[:2] != ref.shape[:2]:
            raise InputError(
                f"gen_mask: needed when the generated image ({gen.shape[0]}×{gen.shape[1]}) and "
                f"the reference ({ref.shape[0]}×{ref.shape[1]}) differ in size"
            )
        m_gen = m_ref
    else:
        m_gen = _mask(gen_mask, gen.shape, "gen_mask", "generated")
    if net is None:
        net = load_lpips("alex", weights=weights, device=device)
    if net.net != "alex":
        raise InputError(f"net: MP-LPIPS uses LPIPS-alex, got LPIPS-{net.net}")
    matcher = matcher if matcher is not None else LpipsFeatures(net)

    ref_mask = _resize_mask(m_ref)
    dilated = _dilate(_resize_mask(m_gen))
    ref_img = _resize_image(ref) * ref_mask[..., None]
    gen_img = _resize_image(gen) * dilated[..., None]
    points = grid_points(ref_mask)
    if len(points) == 0:
        raise InputError(
            f"mask: no node of the {GRID}-px query grid falls inside the reference's product "
            f"(at {SIZE}²); the product is too small for MP-LPIPS"
        )
    with torch.inference_mode():
        f_ref = _features(matcher, _chw(ref_img, device))
        f_gen = _features(matcher, _chw(gen_img, device))
        matches = match_points(f_ref, f_gen, points)
        outside = ~dilated[matches[:, 0], matches[:, 1]]
        scores = torch.zeros(len(points), dtype=torch.float64)
        inside = np.flatnonzero(~outside)
        if len(inside):
            a = _patches(ref_img, points[inside]).to(device) * 2 - 1
            b = _patches(gen_img, matches[inside]).to(device) * 2 - 1
            scores[inside] = net(a, b).double().cpu()
        if outside.any():
            ones = torch.ones(1, 3, PATCH, PATCH, device=device)
            scores[np.flatnonzero(outside)] = float(net(ones, -ones)[0])
    return {
        "mp_lpips": float(scores.mean()),
        "matcher": matcher.name,
        "points": len(points),
        "penalised": int(outside.sum()),
    }


# ---------------------------------------------------------------------------------------------
# Folders


@dataclass(frozen=True)
class MpLpipsReport:
    """MP-LPIPS of paired folders: per pair its result, the mean, and what was not measured."""

    matcher: str
    per_image: dict[str, dict[str, Any]]  # name → mp_lpips()'s dict
    failed: dict[str, str]  # pair name → reason
    unpaired: dict[str, list[str]]

    @property
    def mean(self) -> float | None:
        values = [r["mp_lpips"] for r in self.per_image.values()]
        return float(np.mean(values)) if values else None

    def as_dict(self) -> dict[str, Any]:
        rows = self.per_image.values()
        return {
            "mp_lpips": self.mean,
            "n": len(self.per_image),
            "matcher": self.matcher,
            "points": sum(r["points"] for r in rows),
            "penalised": sum(r["penalised"] for r in rows),
            "per_image": self.per_image,
            "failed": self.failed,
            "unpaired": self.unpaired,
        }


def mp_lpips_paths(
    gen_dir: str | os.PathLike[str],
    ref_dir: str | os.PathLike[str],
    *,
    masks: str | os.PathLike[str],
    gen_masks: str | os.PathLike[str] | None = None,
    matcher: Matcher | None = None,
    weights: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    pairing: Pairing | None = None,
    progress: Callable[[list[Pair]], Iterable[Pair]] | None = None,
) -> MpLpipsReport:
    """:func:`mp_lpips` of each generated image against the reference of the same name.

    ``masks``: the references' product masks; ``gen_masks``: the generated images' (default:
    the reference's mask, which then must have the generated image's size). ``pairing``: made by
    :func:`pair_folders` with ``a`` the references, ``b`` the generated images, ``masks`` and
    ``b_masks`` the two mask folders. A pair that cannot be measured is listed in ``failed``
    with the reason; missing weights raise before any pair is read.
    """
    pairing = pairing or pair_folders(ref_dir, gen_dir, masks=masks, b_masks=gen_masks)
    net = load_lpips("alex", weights=weights, device=device)
    matcher = matcher if matcher is not None else LpipsFeatures(net)
    per_image: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    for pair in progress(pairing.pairs) if progress else pairing.pairs:
        try:
            ref, gen = read_image(pair.a), read_image(pair.b)
            if pair.mask is None:
                raise InputError(f"{pair.name}: no reference mask")
            m_ref = read_mask(pair.mask)
            if m_ref.shape != ref.shape[:2]:
                raise InputError(
                    f"{pair.mask} is {m_ref.shape[0]}×{m_ref.shape[1]} but {pair.a} is "
                    f"{ref.shape[0]}×{ref.shape[1]} (H×W); a mask has its image's size"
                )
            if pair.b_mask is not None:
                m_gen = read_mask(pair.b_mask)
                if m_gen.shape != gen.shape[:2]:
                    raise InputError(
                        f"{pair.b_mask} is {m_gen.shape[0]}×{m_gen.shape[1]} but {pair.b} is "
                        f"{gen.shape[0]}×{gen.shape[1]} (H×W); a mask has its image's size"
                    )
            elif gen.shape[:2] != ref.shape[:2]:
                raise InputError(
                    f"{pair.b} is {gen.shape[0]}×{gen.shape[1]} but {pair.a} is "
                    f"{ref.shape[0]}×{ref.shape[1]} (H×W): without a generated-image mask the "
                    "reference's mask is used for both, so the two must have one size"
                )
            else:
                m_gen = None
            per_image[pair.name] = mp_lpips(
                gen, ref, m_ref, gen_mask=m_gen, matcher=matcher, net=net, device=device
            )
        except (InputError, OSError) as exc:
            failed[pair.name] = str(exc)
    return MpLpipsReport(matcher.name, per_image, failed, pairing.unpaired)
