"""Losses of EdgeConnect training (Nazeri et al. 2019, §3) and the weighted boundary loss (WBL)
of Ku et al. (AdKDD 2023, §5.3.1).

* :func:`wbl_weight_map` / :func:`weighted_l1`: ``L_WBL = W_map · L1(E_GT, E_pred)`` with
  ``λ_boundary = 0.9`` in a band of ``band_px`` pixels on **each** side of the boundary between
  hole and known area and ``λ_non-boundary = 0.1`` elsewhere. The band is measured in the
  chessboard (L∞) metric: a pixel is in it when a pixel of the other kind (hole vs. known) lies
  within ``band_px`` rows and columns, so the band is ``2·band_px`` pixels wide across a straight
  boundary. The image border is not a boundary. **Normalisation**: ``Σ W·|p − t| / (C · Σ W)``,
  a weighted mean, so uniform weights give the plain mean L1 and the loss scale does not depend
  on how much of the image is band.
* :func:`adversarial_loss`: the non-saturating GAN loss (binary cross-entropy on logits), the
  EdgeConnect code's default ``nsgan``; :func:`feature_matching_loss`: mean L1 between the
  discriminator's activations on real and generated inputs (§3.1, Wang et al. 2018).
* :func:`perceptual_loss` and :func:`style_loss` (§3.2, Johnson et al. 2016, Gatys et al. 2016):
  L1 between feature maps, and L1 between their Gram matrices ``F Fᵀ / (C·H·W)``.
  **Deviation**: the paper uses VGG-19 (relu1_1 … relu5_1); VGG weights are not available
  offline here, so the features are blocks of the FID Inception-V3 (``inception-v3-fid`` from the
  weights manager, :class:`~adstage.models.features.InceptionFeatures`; blocks ``conv_2``,
  ``conv_4``, ``mixed_2`` by default, the counterparts of VGG's early, middle and deeper layers).
  Any callable returning a list of feature maps can be injected
  (:class:`~adstage.models.features.TinyFeatures` for tests).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from adstage.errors import InputError

WBL_BOUNDARY, WBL_OTHER = 0.9, 0.1
"""The paper's ``λ_boundary`` and ``λ_non-boundary`` (Ku et al. 2023, §5.3.1)."""


def boundary_band(mask: torch.Tensor, band_px: int) -> torch.Tensor:
    """``N×1×H×W`` float, 1 where a pixel of the other kind lies within ``band_px`` (L∞).

    ``mask``: ``N×1×H×W`` (or ``H×W``), 1 = hole, thresholded at 0.5.
    """
    if isinstance(band_px, bool) or not isinstance(band_px, int) or band_px < 0:
        raise InputError(f"band_px: expected an integer >= 0, got {band_px!r}")
    m = _as_nchw(mask)
    if band_px == 0:
        return torch.zeros_like(m)
    k = 2 * band_px + 1
    # max-pooling pads with -inf: the border counts as neither hole (dilation) nor known (erosion)
    dilated = F.max_pool2d(m, k, stride=1, padding=band_px)
    eroded = 1.0 - F.max_pool2d(1.0 - m, k, stride=1, padding=band_px)
    return dilated - eroded


def _as_nchw(mask: torch.Tensor) -> torch.Tensor:
    m = torch.as_tensor(mask)
    if m.ndim == 2:
        m = m[None, None]
    if m.ndim != 4 or m.shape[1] != 1:
        raise InputError(f"mask: expected N×1×H×W or H×W, got {tuple(m.shape)}")
    return (m >= 0.5).float()


def wbl_weight_map(
    mask: torch.Tensor,
    band_px: int,
    boundary: float = WBL_BOUNDARY,
    other: float = WBL_OTHER,
) -> torch.Tensor:
    """The WBL pixel weights ``W_map`` (``N×1×H×W``): ``boundary`` in the band of ``band_px``
    pixels on each side of the hole's boundary (:func:`boundary_band`), ``other`` elsewhere."""
    for name, value in (("boundary", boundary), ("other", other)):
        if not value >= 0:
            raise InputError(f"{name}: expected a weight >= 0, got {value!r}")
    band = boundary_band(mask, band_px)
    return other + (boundary - other) * band


def weighted_l1(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``Σ W·|pred − target| / (C · Σ W)`` over the batch (``weight`` ``N×1×H×W`` broadcasts
    over the ``C`` channels): the weighted mean absolute error."""
    diff = (pred - target).abs() * weight
    return diff.sum() / (weight.sum() * pred.shape[1]).clamp_min(1e-12)


def adversarial_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Non-saturating GAN loss: BCE of ``sigmoid(logits)`` against 1 (``real``) or 0."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def feature_matching_loss(
    fake_feats: Sequence[torch.Tensor], real_feats: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Σ over layers of the mean L1 between activations (real ones detached)."""
    terms = [F.l1_loss(f, r.detach()) for f, r in zip(fake_feats, real_feats, strict=True)]
    return torch.stack(terms).sum()


def gram(x: torch.Tensor) -> torch.Tensor:
    """Gram matrix ``F Fᵀ / (C·H·W)`` of ``N×C×H×W`` features → ``N×C×C``."""
    n, c, h, w = x.shape
    f = x.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def perceptual_loss(
    fake_feats: Sequence[torch.Tensor], real_feats: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Σ over layers of the mean L1 between feature maps (real ones detached)."""
    return feature_matching_loss(fake_feats, real_feats)


def style_loss(
    fake_feats: Sequence[torch.Tensor], real_feats: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Σ over layers of the mean L1 between Gram matrices (real ones detached)."""
    terms = [
        F.l1_loss(gram(f), gram(r.detach())) for f, r in zip(fake_feats, real_feats, strict=True)
    ]
    return torch.stack(terms).sum()
