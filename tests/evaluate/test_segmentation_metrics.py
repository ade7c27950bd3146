"""Segmentation metrics on cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from adstage.errors import InputError
from adstage.evaluate.segmentation import score, summarize


def test_hand_computed_case() -> None:
    truth = np.zeros((4, 4), bool)
    truth[:2, :2] = True  # 4 pixels
    pred = np.zeros((4, 4), np.float32)
    pred[:2, :3] = 0.8  # 6 predicted: tp 4, fp 2
    pred[3, 3] = 0.3  # below threshold, but counts in MAE
    s = score(pred, truth)
    assert s.iou == pytest.approx(4 / 6)
    assert s.precision == pytest.approx(4 / 6) and s.recall == 1.0
    f = 1.3 * (4 / 6) * 1.0 / (0.3 * (4 / 6) + 1.0)
    assert s.f_measure == pytest.approx(f)
    mae = (4 * 0.2 + 2 * 0.8 + 0.3) / 16
    assert s.mae == pytest.approx(mae)


def test_valid_mask_leaves_pixels_out() -> None:
    truth = np.array([[1, 0]], bool)
    pred = np.array([[1, 1]], bool)
    assert score(pred, truth).iou == 0.5
    assert score(pred, truth, valid=np.array([[1, 0]], bool)).iou == 1.0


def test_empty_cases_and_shape_errors() -> None:
    z = np.zeros((3, 3), bool)
    assert score(z, z).iou == 1.0
    assert score(~z, z).iou == 0.0
    with pytest.raises(InputError, match="does not match"):
        score(np.zeros((2, 2)), z)


def test_summarize() -> None:
    t = np.ones((2, 2), bool)
    scores = [score(t, t), score(np.array([[1, 0], [0, 0]], bool), t)]
    out = summarize(scores)
    assert out["n"] == 2 and out["mean_iou"] == pytest.approx((1 + 0.25) / 2)
    assert out["share_iou_ge_0.90"] == 0.5
