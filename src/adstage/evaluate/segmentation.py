"""Segmentation metrics, as used in salient-object detection (Qin et al. 2020, §4.2; Achanta et al. 2009).

All functions take a prediction (soft alpha in [0, 1] or a binary mask) and a binary ground truth of
the same shape, plus an optional ``valid`` mask of pixels to score (GrabCut's benchmark marks an
uncertain band with value 128 that is left out).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.types import THRESHOLD

BETA2 = 0.3
"""β² of the F-measure, weighting precision over recall (Achanta et al., CVPR 2009)."""


@dataclass(frozen=True)
class SegmentationScore:
    iou: float
    f_measure: float
    precision: float
    recall: float
    mae: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _check(
    pred: NDArray[Any], truth: NDArray[Any], valid: NDArray[Any] | None
) -> NDArray[np.bool_]:
    if pred.shape != truth.shape:
        raise InputError(f"prediction shape {pred.shape} does not match ground truth {truth.shape}")
    if valid is None:
        return np.ones(truth.shape, bool)
    if valid.shape != truth.shape:
        raise InputError(
            f"valid mask shape {valid.shape} does not match ground truth {truth.shape}"
        )
    return valid.astype(bool)


def score(
    pred: NDArray[Any],
    truth: NDArray[Any],
    valid: NDArray[Any] | None = None,
    *,
    threshold: float = THRESHOLD,
) -> SegmentationScore:
    """IoU, F-measure (β² = 0.3), precision and recall of ``pred >= threshold``; MAE of ``pred``.

    Empty prediction and empty truth score IoU 1 (nothing to find, nothing found).
    """
    keep = _check(pred, truth, valid)
    soft = pred.astype(np.float32)
    binary = soft >= threshold
    t = truth.astype(bool) & keep
    p = binary & keep
    tp = float((p & t).sum())
    fp = float((p & ~t).sum())
    fn = float((~p & t & keep).sum())
    union = tp + fp + fn
    iou = tp / union if union else 1.0
    precision = tp / (tp + fp) if tp + fp else (1.0 if not fn else 0.0)
    recall = tp / (tp + fn) if tp + fn else 1.0
    denom = BETA2 * precision + recall
    f = (1 + BETA2) * precision * recall / denom if denom else 0.0
    n = float(keep.sum())
    mae = float(np.abs(soft - truth.astype(np.float32))[keep].sum() / n) if n else 0.0
    return SegmentationScore(iou=iou, f_measure=f, precision=precision, recall=recall, mae=mae)


def summarize(scores: list[SegmentationScore]) -> dict[str, float]:
    """Mean of each metric, the median IoU and the share of images at IoU ≥ 0.9 and ≥ 0.95."""
    if not scores:
        return {"n": 0}
    ious = np.array([s.iou for s in scores])
    out: dict[str, float] = {"n": len(scores)}
    for key in ("iou", "f_measure", "precision", "recall", "mae"):
        out[f"mean_{key}"] = round(float(np.mean([getattr(s, key) for s in scores])), 4)
    out["median_iou"] = round(float(np.median(ious)), 4)
    out["share_iou_ge_0.90"] = round(float((ious >= 0.9).mean()), 4)
    out["share_iou_ge_0.95"] = round(float((ious >= 0.95).mean()), 4)
    return out
