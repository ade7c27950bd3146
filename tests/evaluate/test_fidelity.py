"""Fidelity and quality metrics: CIEDE2000 on Sharma, Wu & Dalal's published test pairs and
against scikit-image; sRGB → Lab against scikit-image; SSIM / PSNR against
``skimage.metrics``; MS-SSIM against torchmetrics and against a reference assembled from
torchmetrics' and scikit-image's per-scale terms; hand-computed cases of the masks, the band and
bit-exactness."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adstage.errors import InputError
from adstage.evaluate.fidelity import (
    MS_SSIM_BETAS,
    MS_SSIM_MIN_SIDE,
    bit_exact,
    boundary_band,
    ciede2000,
    delta_e00,
    fidelity,
    ms_ssim,
    placement_iou,
    psnr,
    srgb_to_lab,
    ssim,
    ssim_map,
)

# Sharma, Wu & Dalal, Color Res. Appl. 30(1) 2005, Table 1: L1 a1 b1, L2 a2 b2, ΔE00.
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def textured(h: int, w: int, seed: int = 0, noise: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """A smooth-plus-noise image and a noisier copy of it."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, w)[None, :, None] * np.linspace(0.3, 1, h)[:, None, None]
    a = (0.5 * ramp + 0.5 * rng.integers(0, 256, (h, w, 3))).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-noise, noise + 1, a.shape), 0, 255).astype(np.uint8)
    return a, b


def square_mask(h: int, w: int, box: tuple[int, int, int, int]) -> np.ndarray:
    m = np.zeros((h, w), bool)
    y0, x0, y1, x1 = box
    m[y0:y1, x0:x1] = True
    return m


# --------------------------------------------------------------------------- colour


def test_ciede2000_reproduces_sharmas_34_pairs() -> None:
    table = np.array(SHARMA)
    ours = ciede2000(table[:, :3], table[:, 3:6])
    assert np.round(ours, 4) == pytest.approx(table[:, 6], abs=1e-12)
    # symmetric, as the formula is
    assert ciede2000(table[:, 3:6], table[:, :3]) == pytest.approx(ours, abs=1e-12)


def test_ciede2000_matches_scikit_image() -> None:
    color = pytest.importorskip("skimage.color")
    rng = np.random.default_rng(1)
    lab1 = np.column_stack([rng.uniform(0, 100, 5000), rng.uniform(-100, 100, (5000, 2))])
    lab2 = lab1 + rng.normal(0, 8, lab1.shape)
    lab2[:100, 1:] = 0  # neutral colours: the C' = 0 branches
    expected = color.deltaE_ciede2000(lab1, lab2)
    assert np.abs(ciede2000(lab1, lab2) - expected).max() < 1e-10


def test_srgb_to_lab() -> None:
    color = pytest.importorskip("skimage.color")
    assert srgb_to_lab(np.array([255, 255, 255], np.uint8)) == pytest.approx([100, 0, 0], abs=1e-9)
    assert srgb_to_lab(np.zeros(3, np.uint8)) == pytest.approx([0, 0, 0], abs=1e-9)
    # sRGB red in D65 Lab, as colour references print it (53.24, 80.09, 67.20)
    assert srgb_to_lab(np.array([255, 0, 0], np.uint8)) == pytest.approx(
        [53.24, 80.09, 67.20], abs=0.01
    )
    every = np.stack(np.meshgrid(*[np.arange(0, 256, 5)] * 3, indexing="ij"), -1).reshape(-1, 3)
    every = every.astype(np.uint8)
    # scikit-image takes D65 as tabulated (X 0.95047, Z 1.08883) and a 6-digit matrix; ours comes
    # from the sRGB primaries and white point of IEC 61966-2-1: the two differ by < 0.02 in Lab.
    assert np.abs(srgb_to_lab(every) - color.rgb2lab(every[None])[0]).max() < 0.02


def test_delta_e00_inside_a_mask() -> None:
    a = np.zeros((4, 4, 3), np.uint8)
    a[..., 0] = 200
    b = a.copy()
    b[0, 0] = (190, 10, 0)  # one changed pixel in the mask, one outside
    b[3, 3] = (0, 0, 0)
    mask = square_mask(4, 4, (0, 0, 2, 2))
    d = delta_e00(a, b, mask)
    one = float(ciede2000(srgb_to_lab(a[0, 0]), srgb_to_lab(b[0, 0])))
    assert d.mean == pytest.approx(one / 4)
    assert d.p95 == pytest.approx(np.percentile([one, 0, 0, 0], 95))
    assert d.max == pytest.approx(one)
    assert bit_exact(a, b, mask) == 0.75
    assert bit_exact(a, b, np.ones((4, 4))) == pytest.approx(14 / 16)


# --------------------------------------------------------------------------- masks


def test_placement_iou() -> None:
    a = square_mask(10, 10, (0, 0, 4, 4))
    b = square_mask(10, 10, (2, 2, 6, 6))
    assert placement_iou(a, b) == pytest.approx(4 / 28)
    assert placement_iou(a, a) == 1.0
    assert placement_iou(a, ~a) == 0.0
    assert placement_iou(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
    assert placement_iou(a.astype(np.float32) * 0.7, a) == 1.0  # soft masks at 0.5
    with pytest.raises(InputError, match="b: expected H×W = 10×10"):
        placement_iou(a, a[:5])


def test_boundary_band_is_exact_euclidean() -> None:
    mask = np.zeros((41, 41), bool)
    yy, xx = np.mgrid[:41, :41]
    mask[(yy - 20) ** 2 + (xx - 20) ** 2 <= 12**2] = True
    inside = boundary_band(mask, 3, side="inside")
    outside = boundary_band(mask, 3, side="outside")
    both = boundary_band(mask, 3)
    # brute force: the distance from each pixel to the nearest pixel of the other side
    ys, xs = np.nonzero(~mask)
    yi, xi = np.nonzero(mask)
    to_out = np.sqrt(((yy[..., None] - ys) ** 2 + (xx[..., None] - xs) ** 2).min(-1))
    to_in = np.sqrt(((yy[..., None] - yi) ** 2 + (xx[..., None] - xi) ** 2).min(-1))
    assert np.array_equal(inside, mask & (to_out <= 3))
    assert np.array_equal(outside, ~mask & (to_in <= 3))
    assert np.array_equal(both, inside | outside)
    # a straight edge: w px on each side
    half = square_mask(20, 20, (0, 0, 20, 10))
    assert np.array_equal(np.nonzero(boundary_band(half, 2)[0])[0], [8, 9, 10, 11])
    assert not boundary_band(np.ones((5, 5)), 2).any()  # the image border is no edge
    with pytest.raises(InputError, match="width"):
        boundary_band(half, 0)
    with pytest.raises(InputError, match="side"):
        boundary_band(half, 2, side="around")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- PSNR / SSIM


def test_psnr_matches_scikit_image_and_a_hand_case() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    a, b = textured(40, 50)
    assert psnr(a, b) == pytest.approx(
        metrics.peak_signal_noise_ratio(a, b, data_range=255), abs=1e-12
    )
    c = a.copy()
    c[0, 0, 0] = a[0, 0, 0] ^ 1 if a[0, 0, 0] < 255 else 254  # one value off by 1
    mask = square_mask(40, 50, (0, 0, 2, 2))  # 4 pixels × 3 channels
    assert psnr(a, c, mask) == pytest.approx(10 * math.log10(255**2 * 12))
    assert psnr(a, a) == math.inf


def test_ssim_matches_scikit_image() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    a, b = textured(70, 83, seed=2)
    options = dict(
        channel_axis=2,
        data_range=255,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    mean, full = metrics.structural_similarity(a, b, full=True, **options)
    assert ssim(a, b) == pytest.approx(mean, abs=1e-12)
    assert np.abs(ssim_map(a, b) - full.mean(axis=2)).max() < 1e-12
    mask = square_mask(70, 83, (0, 0, 30, 40))  # reaches the border: reflected windows count
    assert ssim(a, b, mask) == pytest.approx(full.mean(axis=2)[mask].mean(), abs=1e-12)
    assert ssim(a, a) == pytest.approx(1.0)


def _reference_ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM assembled from other code: torchmetrics' contrast-structure term of each scale
    (its `_ssim_update`, the valid pixels) and scikit-image's SSIM at the fifth, the images halved
    by torch's 2×2 average pool."""
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.functional.image.ssim")
    metrics = pytest.importorskip("skimage.metrics")
    import torch.nn.functional as F

    x, y = (torch.from_numpy(v).permute(2, 0, 1)[None].double() for v in (a, b))
    value = 1.0
    for scale, beta in enumerate(MS_SSIM_BETAS):
        if scale < len(MS_SSIM_BETAS) - 1:
            _, cs = tm._ssim_update(x, y, data_range=255.0, return_contrast_sensitivity=True)
            value *= max(float(cs), 0.0) ** beta
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        else:
            last = metrics.structural_similarity(
                x[0].permute(1, 2, 0).numpy(),
                y[0].permute(1, 2, 0).numpy(),
                channel_axis=2,
                data_range=255,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )
            value *= max(float(last), 0.0) ** beta
    return value


def test_ms_ssim_matches_a_reference_and_torchmetrics() -> None:
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.functional.image")
    a, b = textured(192, 208, seed=3)
    ours = ms_ssim(a, b)
    assert ours == pytest.approx(_reference_ms_ssim(a, b), abs=1e-9)
    ta, tb = (torch.from_numpy(v).permute(2, 0, 1)[None].double() for v in (a, b))
    theirs = float(tm.multiscale_structural_similarity_index_measure(ta, tb, data_range=255.0))
    # torchmetrics averages its fifth-scale SSIM over the whole (reflect-padded) map, not over the
    # valid pixels as at the other scales and as in the paper: a small difference only.
    assert abs(ours - theirs) < 1e-3
    assert ms_ssim(a, a) == pytest.approx(1.0)
    assert ms_ssim(a, a, np.ones(a.shape[:2])) == pytest.approx(1.0)


def test_ms_ssim_in_a_region() -> None:
    a, b = textured(MS_SSIM_MIN_SIDE, MS_SSIM_MIN_SIDE, seed=4)
    b[:, 100:] = a[:, 100:]  # the right part unchanged
    left = square_mask(*a.shape[:2], (0, 0, MS_SSIM_MIN_SIDE, 80))
    right = square_mask(*a.shape[:2], (0, 120, MS_SSIM_MIN_SIDE, MS_SSIM_MIN_SIDE))
    assert ms_ssim(a, b, right) > 0.99 > ms_ssim(a, b) > ms_ssim(a, b, left)
    with pytest.raises(InputError, match="too small for MS-SSIM"):
        ms_ssim(a[:-1], b[:-1])


def test_fidelity_collects_everything() -> None:
    a, b = textured(MS_SSIM_MIN_SIDE, 190, seed=5)
    mask = square_mask(*a.shape[:2], (40, 50, 120, 150))
    b[mask] = a[mask]  # the product kept
    score = fidelity(a, b, mask=mask, band=4)
    ring = boundary_band(mask, 4)
    assert score.bit_exact == 1.0 and score.delta_e00_mean == 0.0 and score.delta_e00_p95 == 0.0
    assert score.psnr_mask == math.inf and score.ssim_mask == pytest.approx(
        ssim_map(a, b)[mask].mean()
    )
    assert score.psnr_band == pytest.approx(psnr(a, b, ring))
    assert score.ms_ssim_band == pytest.approx(ms_ssim(a, b, ring))
    assert score.psnr == pytest.approx(psnr(a, b)) and score.ssim == pytest.approx(ssim(a, b))
    small = fidelity(a[:100, :100], b[:100, :100])
    assert small.ms_ssim is None and small.bit_exact is None
    assert set(score.as_dict()) >= {"psnr", "ssim_band", "delta_e00_p95"}


def test_bad_inputs() -> None:
    a, b = textured(20, 20)
    with pytest.raises(InputError, match="expected one size"):
        psnr(a, b[:, :10])
    with pytest.raises(InputError, match="uint8 H×W×3"):
        ssim(a.astype(np.float32), b)
    with pytest.raises(InputError, match="empty"):
        bit_exact(a, b, np.zeros((20, 20)))
    with pytest.raises(InputError, match=r"values in \[0, 1\]"):
        delta_e00(a, b, np.full((20, 20), 3.0))
    with pytest.raises(InputError, match="too small for SSIM"):
        ssim(a[:10], b[:10])
    with pytest.raises(InputError, match="mask: expected H×W = 20×20"):
        fidelity(a, b, mask=np.ones((10, 20)))
