"""Inpainting: untouched pixels, fills of known answers, texture, cropping, seeds, validation."""

from __future__ import annotations

import numpy as np
import pytest

from adstage.errors import InputError, UnknownName
from adstage.inpaint import DEFAULT_INPAINTER, INPAINTERS, hole_for_paste, inpaint
from adstage.inpaint.base import _boxes
from adstage.inpaint.patchmatch import (
    Hybrid,
    PatchMatch,
    _Field,
    _project,
    _pyramid,
    _random_sources,
)

BACKENDS = ["ns", "telea", "patchmatch", "hybrid"]
H, W = 96, 128


def _hole() -> np.ndarray:
    hole = np.zeros((H, W), bool)
    hole[30:66, 44:84] = True
    return hole


def _noisy(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.linspace(30, 220, W)[None, :, None] * np.ones((H, 1, 3))
    return np.clip(base + rng.normal(0, 20, (H, W, 3)), 0, 255).astype(np.uint8)


def _gradient() -> np.ndarray:
    x = np.linspace(40, 200, W)[None, :] * np.ones((H, 1))
    y = np.linspace(0, 60, H)[:, None] * np.ones((1, W))
    return np.dstack([x, 0.5 * x + y, 255 - x]).round().astype(np.uint8)


def _stripes(period: int = 8) -> np.ndarray:
    x = np.arange(W)
    row = np.where((x // (period // 2)) % 2 == 0, 200, 50)
    grey = np.repeat(row[None, :], H, axis=0)
    return np.dstack([grey, grey // 2 + 30, 255 - grey]).astype(np.uint8)


def _mae(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16))[region].mean())


def _period(fill: np.ndarray) -> float:
    """Dominant horizontal period (px) of the rows of a filled patch (first channel)."""
    rows = fill[:, :, 0].astype(np.float64)
    rows -= rows.mean(axis=1, keepdims=True)
    spectrum = np.abs(np.fft.rfft(rows, axis=1)).mean(axis=0)
    k = int(spectrum[1:].argmax()) + 1
    return rows.shape[1] / k


@pytest.mark.parametrize("backend", BACKENDS)
def test_pixels_outside_the_hole_are_bit_exact(backend: str) -> None:
    image, hole = _noisy(), _hole()
    out = inpaint(image, hole, backend=backend)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert np.array_equal(out[~hole], image[~hole])
    assert out is not image


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_hole_content_is_never_read(backend: str) -> None:
    image, hole = _noisy(), _hole()
    other = image.copy()
    other[hole] = np.random.default_rng(5).integers(0, 256, (int(hole.sum()), 3), dtype=np.uint8)
    assert np.array_equal(
        inpaint(image, hole, backend=backend), inpaint(other, hole, backend=backend)
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_flat_image_is_filled_with_its_colour(backend: str) -> None:
    image = np.full((H, W, 3), (90, 140, 200), np.uint8)
    hole = _hole()
    damaged = image.copy()
    damaged[hole] = 0
    out = inpaint(damaged, hole, backend=backend)
    limit = 5 if backend == "telea" else 1  # OpenCV's Telea drifts by a few levels on flat colour
    assert int(np.abs(out.astype(np.int16) - image).max()) <= limit


@pytest.mark.parametrize("backend", BACKENDS)
def test_smooth_gradient_is_filled_close_to_the_truth(backend: str) -> None:
    image, hole = _gradient(), _hole()
    out = inpaint(image, hole, backend=backend)
    constant = image.copy()
    constant[hole] = image[~hole].mean(axis=0).round()
    assert _mae(constant, image, hole) > 10  # the test is not trivial
    limit = {"telea": 6.0}.get(backend, 3.5)  # Telea's weighted average flattens a ramp a little
    assert _mae(out, image, hole) < limit


def test_patchmatch_continues_a_periodic_texture() -> None:
    image, hole = _stripes(period=8), _hole()
    out = inpaint(image, hole, backend="patchmatch")
    constant = image.copy()
    constant[hole] = image[~hole].mean(axis=0).round()
    telea = inpaint(image, hole, backend="telea")
    err = _mae(out, image, hole)
    assert err < 0.2 * _mae(constant, image, hole)
    assert err < 0.2 * _mae(telea, image, hole)
    assert _period(out[30:66, 44:84]) == pytest.approx(8.0, abs=0.5)
    assert _period(telea[30:66, 44:84]) != pytest.approx(8.0, abs=0.5)


def test_patchmatch_on_a_checkerboard_beats_a_constant_fill() -> None:
    y, x = np.mgrid[0:H, 0:W]
    grey = np.where(((x // 6) + (y // 6)) % 2 == 0, 220, 30)
    image = np.dstack([grey, grey // 2 + 40, 255 - grey]).astype(np.uint8)
    hole = _hole()
    constant = image.copy()
    constant[hole] = image[~hole].mean(axis=0).round()
    out = inpaint(image, hole, backend="patchmatch")
    assert _mae(out, image, hole) < 0.5 * _mae(constant, image, hole)
    assert _mae(out, image, hole) < 0.5 * _mae(inpaint(image, hole, backend="ns"), image, hole)


@pytest.mark.parametrize("backend", ["ns", "telea"])
def test_cropping_matches_the_uncropped_fill(backend: str) -> None:
    image = _noisy(3)
    image = np.pad(image, ((100, 100), (150, 150), (0, 0)), mode="reflect")
    hole = np.pad(_hole(), ((100, 100), (150, 150)))
    cropped = inpaint(image, hole, backend=backend)  # default margin: a crop around the hole
    whole = inpaint(image, hole, backend=backend, margin=10_000)  # no cropping
    assert _boxes(hole, None) != [(0, image.shape[0], 0, image.shape[1])]
    diff = np.abs(cropped.astype(np.int16) - whole.astype(np.int16))
    assert diff.max() <= 2 and diff.mean() < 0.05


def test_separate_holes_get_separate_crops_and_are_all_filled() -> None:
    image = np.full((200, 400, 3), 128, np.uint8)
    hole = np.zeros((200, 400), bool)
    hole[20:40, 20:40] = hole[150:180, 350:380] = True
    boxes = _boxes(hole, None)
    assert len(boxes) == 2
    damaged = image.copy()
    damaged[hole] = 0
    for backend in BACKENDS:
        out = inpaint(damaged, hole, backend=backend)
        limit = 5 if backend == "telea" else 1
        assert np.abs(out.astype(np.int16) - image).max() <= limit, backend


def test_overlapping_margins_share_one_crop() -> None:
    hole = np.zeros((100, 100), bool)
    hole[20:30, 20:30] = hole[20:30, 45:55] = True
    assert len(_boxes(hole, 16)) == 1
    assert len(_boxes(hole, 4)) == 2


def test_patchmatch_is_reproducible_with_its_seed() -> None:
    image, hole = _noisy(7), _hole()
    a = inpaint(image, hole, backend="patchmatch", seed=3)
    b = inpaint(image, hole, backend="patchmatch", seed=3)
    c = inpaint(image, hole, backend="patchmatch", seed=4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    # hybrid: the same seed gives the same fill, and the seed does reach its PatchMatch part
    hybrid = [inpaint(image, hole, backend="hybrid", seed=s) for s in (1, 1, 2)]
    assert np.array_equal(hybrid[0], hybrid[1])
    assert not np.array_equal(hybrid[0], hybrid[2])


def test_patchmatch_fast_mode_still_continues_the_texture() -> None:
    image = np.tile(_stripes(period=8), (3, 3, 1))  # 288×384, so there are levels to skip
    hole = np.zeros(image.shape[:2], bool)
    hole[100:190, 140:250] = True
    out = inpaint(image, hole, backend="patchmatch", em_side=64)
    assert _mae(out, image, hole) < 10
    assert _period(out[100:190, 140:250]) == pytest.approx(8.0, abs=0.5)


def test_hybrid_is_ns_for_a_thin_hole() -> None:
    image = _noisy(2)
    hole = np.zeros((H, W), bool)
    hole[40:52, 20:100] = True  # 12 px thick: no pixel is more than inner=8 px inside
    assert np.array_equal(
        inpaint(image, hole, backend="hybrid"), inpaint(image, hole, backend="ns", radius=3.0)
    )


def test_masks_in_every_accepted_form() -> None:
    image, hole = _noisy(), _hole()
    expected = inpaint(image, hole)
    assert np.array_equal(inpaint(image, hole.astype(np.uint8) * 255), expected)
    assert np.array_equal(inpaint(image, hole.astype(np.float32)), expected)
    assert np.array_equal(inpaint(image, hole[:, :, None]), expected)


def test_empty_hole_returns_a_copy() -> None:
    image = _noisy()
    out = inpaint(image, np.zeros((H, W), bool), backend="patchmatch")
    assert np.array_equal(out, image) and out is not image


def test_validation_names_the_argument_and_the_value() -> None:
    image, hole = _noisy(), _hole()
    with pytest.raises(InputError, match=r"hole: expected shape \(96, 128\).*got \(96, 127\)"):
        inpaint(image, hole[:, :-1])
    with pytest.raises(InputError, match="hole: covers every pixel of the 128×96 image"):
        inpaint(image, np.ones((H, W), bool))
    with pytest.raises(InputError, match="margin: expected an int >= 1 or None, got 0"):
        inpaint(image, hole, margin=0)
    with pytest.raises(InputError, match="image: expected dtype uint8, got float32"):
        inpaint(image.astype(np.float32), hole)
    with pytest.raises(UnknownName, match="did you mean 'patchmatch'"):
        inpaint(image, hole, backend="patchmach")
    with pytest.raises(InputError, match=r"patch_size: expected an odd int in 3\.\.15, got 4"):
        PatchMatch(patch_size=4)
    with pytest.raises(InputError, match=r"em_side: expected an int in 16\.\.65536, got 8"):
        PatchMatch(em_side=8)
    with pytest.raises(InputError, match=r"ramp: expected a number in \(0, 4096\], got 0"):
        Hybrid(ramp=0)
    with pytest.raises(InputError, match=r"radius: expected a number in \(0, 64\], got -1"):
        inpaint(image, hole, backend="ns", radius=-1)


def test_registry_lists_the_backends_and_the_default() -> None:
    assert set(BACKENDS) <= set(INPAINTERS.names())
    assert DEFAULT_INPAINTER in INPAINTERS
    for name in BACKENDS:
        assert INPAINTERS.create(name).name == name


def test_hole_for_paste_is_the_uncovered_rim_of_the_slot() -> None:
    yy, xx = np.mgrid[0:100, 0:100]
    slot = (yy - 50) ** 2 + (xx - 50) ** 2 <= 30**2
    product = (np.abs(yy - 50) <= 20) & (np.abs(xx - 50) <= 20)
    hole = hole_for_paste(slot, product, dilate_px=4, margin_px=2)
    assert hole.dtype == bool and hole.shape == slot.shape
    assert not hole[50, 50]  # under the product
    assert hole[50, 22] and hole[50, 77]  # slot pixels the product leaves uncovered
    assert hole[50, 17] and not hole[50, 14]  # the slot grown by 4 px, not more
    assert hole[50, 30] and hole[50, 29] and not hole[50, 32]  # 2 px under the product's edge
    # A product that covers the whole grown slot leaves nothing to generate.
    assert not hole_for_paste(slot, np.ones_like(slot), dilate_px=4).any()
    # uint8 masks (255 = set) give the same answer.
    again = hole_for_paste(slot.astype(np.uint8) * 255, product.astype(np.uint8) * 255, dilate_px=4)
    assert np.array_equal(again, hole)


def test_hole_for_paste_validates_its_inputs() -> None:
    slot = np.zeros((50, 60), bool)
    with pytest.raises(
        InputError, match=r"product_mask: expected shape \(50, 60\), got \(50, 61\)"
    ):
        hole_for_paste(slot, np.zeros((50, 61), bool))
    with pytest.raises(InputError, match="dilate_px: expected an int >= 0, got -1"):
        hole_for_paste(slot, slot, dilate_px=-1)


def test_patchmatch_band_keeps_sources_in_the_targets_rows() -> None:
    # A tiling of one random 16-px tile: every patch has exact copies in every row of tiles, so
    # nothing but the band decides which rows the matches come from.
    tile = np.random.default_rng(0).integers(0, 256, (16, 16, 3))
    image = np.tile(tile, (12, 12, 1)).astype(np.float32)  # 192×192
    hole = np.zeros((192, 192), bool)
    hole[80:112, 80:112] = True
    clean = np.where(hole[:, :, None], 0, image).astype(np.float32)
    spread = {}
    for band in (None, 0.1):
        level = _pyramid(clean, hole, 3, 256)[0]  # one level, full size
        rng = np.random.default_rng(1)
        sy, sx = _random_sources(level, level.ty.size, rng)
        field_ = _Field(level, sy, sx, _project(level.image, 7, 4), band)
        desc = _project(np.where(hole[:, :, None], image, clean).astype(np.float32), 7, 4)
        for _ in range(4):  # against the truth's descriptors: exact copies exist everywhere
            field_.retarget(desc)
            field_.iterate(rng, 192)
        spread[band] = float(np.median(np.abs(field_.sy - level.ty)))
    assert spread[0.1] <= 0.1 * 192  # within the band (19 rows)
    assert spread[None] > 2 * spread[0.1]  # without it, matches come from anywhere
    # The option reaches the search through the backends' own calls.
    photo = image.astype(np.uint8)
    for backend in ("patchmatch", "hybrid"):
        banded = inpaint(photo, hole, backend=backend, band=0.1)
        assert not np.array_equal(banded, inpaint(photo, hole, backend=backend)), backend
    with pytest.raises(InputError, match="band"):
        PatchMatch(band=0.0)
