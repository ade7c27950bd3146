"""Dual augmentation: every operation deterministic given its seed, bounded by its parameters, and
its mask still covering the product's pixels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adstage.datasets.augment import (
    DEGRADATIONS,
    Bounds,
    Relief25D,
    View,
    augment,
    blur,
    jitter,
    jpeg,
    lighting,
    noise,
    temperature,
    warp,
)
from adstage.errors import InputError


def _product(size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """A shaded ellipse (a product) on white and its mask."""
    yy, xx = np.mgrid[:size, :size]
    mask = ((xx - size / 2) / (size * 0.3)) ** 2 + ((yy - size / 2) / (size * 0.35)) ** 2 <= 1
    image = np.full((size, size, 3), 255, np.uint8)
    shade = (60 + 100 * xx / size).astype(np.uint8)
    image[mask] = np.stack([shade, shade // 2 + 40, 200 - shade], axis=-1)[mask]
    return image, mask


def _covered(image: np.ndarray, mask: np.ndarray) -> bool:
    return bool(not (image != 255).any(axis=2)[~mask].any())


def test_every_variant_is_deterministic_and_its_mask_covers_its_product():
    image, mask = _product()
    for k in range(6):
        a = augment(image, mask, k, seed=[7, k])
        b = augment(image, mask, k, seed=[7, k])
        assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
        assert a.record == b.record and json.loads(json.dumps(a.record)) == a.record
        assert _covered(a.image, a.mask), k
        assert 0.6 < a.mask.sum() / mask.sum() < 1.6, k
        if k:
            c = augment(image, mask, k, seed=[8, k])
            assert not np.array_equal(a.image, c.image)
    original = augment(image, mask, 0, seed=1)
    assert np.array_equal(original.image, image) and original.record["kind"] == "original"
    assert augment(image, mask, 1, seed=1).record["kind"] == "viewpoint"
    assert augment(image, mask, 2, seed=1).record["kind"] == "degradation"


def test_sampled_parameters_stay_within_their_bounds():
    image, mask = _product(64)
    b = Bounds()
    for s in range(12):
        for k in (1, 2):
            ops = {op["op"]: op for op in augment(image, mask, k, seed=s, bounds=b).record["ops"]}
            if "view" in ops:
                v = ops["view"]
                assert abs(v["yaw_deg"]) <= b.yaw_deg and abs(v["pitch_deg"]) <= b.pitch_deg
                assert abs(v["tx"]) <= b.shift * 64 and b.relief / 2 <= v["relief"] <= b.relief
                j = ops["jitter"]
                assert abs(j["rotate_deg"]) <= b.rotate_deg and abs(j["scale"] - 1) <= b.scale
                assert all(abs(c) <= b.perspective * 64 for xy in j["corners"] for c in xy)
            else:
                assert 2 <= len(ops) <= 3 and set(ops) <= set(DEGRADATIONS)
            if "noise" in ops:
                assert 0 < ops["noise"]["sigma"] <= b.noise_sigma
            if "blur" in ops:
                assert 0 < ops["blur"]["sigma"] <= b.blur_sigma
            if "jpeg" in ops:
                assert b.jpeg_quality <= ops["jpeg"]["quality"] <= 95
            if "temperature" in ops:
                assert abs(ops["temperature"]["shift"]) <= b.temperature
            if "lighting" in ops:
                assert 0 <= ops["lighting"]["shadow"] <= b.shadow
                assert abs(ops["lighting"]["exposure"]) <= b.exposure
            if "warp" in ops:
                assert ops["warp"]["amplitude"] <= b.warp * 64
    with pytest.raises(InputError):
        Bounds(noise_sigma=-1)
    with pytest.raises(InputError):
        Bounds(jpeg_quality=0)


def test_each_degradation_is_bounded_by_its_parameters():
    grey = np.full((64, 64, 3), 128, np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[16:48, 16:48] = True
    grey[~mask] = 255
    out, m = noise(grey, mask, sigma=0.02, noise_seed=3)
    diff = out[mask].astype(float) - 128
    assert abs(diff.std() - 0.02 * 255) < 1.0 and abs(diff.mean()) < 0.5
    assert np.array_equal(out, noise(grey, mask, sigma=0.02, noise_seed=3)[0])
    out, _ = lighting(grey, mask, angle_deg=30, offset=0, softness=0.3, shadow=0.4, exposure=0.1)
    ratio = out[mask].astype(float) / 128
    assert ratio.min() >= 0.6 * 1.1 - 0.01 and ratio.max() <= 1.1 + 0.01 and ratio.min() < 0.8
    out, _ = temperature(grey, mask, shift=0.1)
    assert tuple(out[32, 32]) == (141, 128, 115)
    out, m = blur(grey, mask, sigma=1.0)
    assert _covered(out, m) and out[32, 32, 0] == 128
    out, _ = jpeg(grey, mask, quality=50)
    assert np.abs(out[mask].astype(int) - 128).max() < 12
    # a warp of amplitude a moves nothing by more than a pixels along either axis
    out, m = warp(grey, mask, amplitude=3.0, field_seed=5)
    ys, xs = np.nonzero(m)
    assert 13 <= ys.min() <= 19 and 44 <= ys.max() <= 50 and 13 <= xs.min() <= 19
    assert _covered(out, m)
    # jitter with no change is the identity
    out, m = jitter(grey, mask, rotate_deg=0, scale=1, tx=0, ty=0, corners=[[0, 0]] * 4)
    assert np.array_equal(m, mask) and np.array_equal(out, grey)


def test_the_relief_view_moves_the_product_a_bounded_amount():
    image, mask = _product()
    still, m0 = Relief25D()(image, mask, View(0, 0, 0, 0, 0.6))
    assert (m0 ^ mask).sum() <= 0.03 * mask.sum() and _covered(still, m0)
    turned, m1 = Relief25D()(image, mask, View(12, 0, 4, 0, 0.6))
    assert _covered(turned, m1)
    shift = np.nonzero(m1)[1].mean() - np.nonzero(mask)[1].mean()
    assert 0 < shift < 4 + 0.6 * 96 * np.sin(np.radians(12))
    assert not np.array_equal(turned, image)
