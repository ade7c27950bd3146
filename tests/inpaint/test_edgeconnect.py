"""EdgeConnect: Canny edges, the WBL weight map on hand-made masks, free-form and object-shaped
training holes, the ``edgeconnect`` backend alone and inside ``adstage.stage`` (the networks are
tested in ``tests/models/test_edgeconnect_model.py``)."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")

import torch
import torch.nn.functional as F

from adstage.errors import AdstageError, InputError
from adstage.inpaint import inpaint
from adstage.inpaint.base import INPAINTERS
from adstage.inpaint.edgeconnect import CHECKPOINT_ENV, EdgeConnect, canny_edges
from adstage.inpaint.losses import (
    boundary_band,
    feature_matching_loss,
    gram,
    perceptual_loss,
    style_loss,
    wbl_weight_map,
    weighted_l1,
)
from adstage.inpaint.masks import (
    FreeFormBounds,
    draw_strokes,
    free_form_mask,
    free_form_strokes,
    object_mask,
)
from adstage.models.features import TinyFeatures
from scenes import ingest_synthetic

# --------------------------------------------------------------------------------------------
# edges


def test_canny_edges_are_binary_and_on_the_step() -> None:
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, 16:] = 255
    edges = canny_edges(image)
    assert edges.dtype == np.float32 and set(np.unique(edges)) <= {0.0, 1.0}
    assert edges[:, 14:18].sum() > 0 and edges[:, :10].sum() == 0 and edges[:, 22:].sum() == 0


def test_canny_edges_draw_no_outline_around_a_hole() -> None:
    # A grey room with one true step (x = 12); a zeroed hole must not add its own contour.
    image = np.full((64, 64, 3), 150, np.uint8)
    image[:, :12] = 60
    hole = np.zeros((64, 64), bool)
    hole[20:44, 28:52] = True
    image[hole] = 0
    rim = (cv2.dilate(hole.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0) & ~hole
    plain = canny_edges(image)
    aware = canny_edges(image, hole=hole)
    assert plain[rim].sum() > 20  # the zeroed hole outlines itself without ``hole``
    assert aware[rim].sum() == 0 and aware[hole].sum() == 0
    assert aware[:, 9:15].sum() > 40  # the true step is still found
    assert np.array_equal(canny_edges(image, hole=np.zeros_like(hole)), plain)


# --------------------------------------------------------------------------------------------
# WBL weight map


def _brute_band(mask: np.ndarray, band: int) -> np.ndarray:
    h, w = mask.shape
    out = np.zeros_like(mask, bool)
    for y in range(h):
        for x in range(w):
            win = mask[max(0, y - band) : y + band + 1, max(0, x - band) : x + band + 1]
            out[y, x] = win.min() != win.max()
    return out


def test_wbl_band_on_a_straight_boundary_is_exactly_band_px_each_side() -> None:
    mask = torch.zeros(16, 16)
    mask[8:] = 1  # hole = bottom half
    for band in (1, 2, 3):
        w = wbl_weight_map(mask, band)[0, 0]
        rows = torch.nonzero(torch.isclose(w[:, 0], torch.tensor(0.9))).flatten().tolist()
        assert rows == list(range(8 - band, 8 + band))
        assert sorted(torch.unique(w).tolist()) == pytest.approx([0.1, 0.9])
        assert torch.all(w == w[:, :1])  # constant along the boundary, image border ignored


def test_wbl_matches_a_brute_force_band_on_hand_made_masks() -> None:
    rng = np.random.default_rng(0)
    square = np.zeros((20, 20), bool)
    square[5:12, 7:15] = True
    blob = rng.random((20, 20)) > 0.7
    corner = np.zeros((20, 20), bool)
    corner[:6, :6] = True  # touches the image border: the border is not a boundary
    for mask in (square, blob, corner):
        for band in (0, 1, 2, 4):
            got = boundary_band(torch.from_numpy(mask).float(), band)[0, 0].numpy() > 0
            assert np.array_equal(got, _brute_band(mask, band) if band else np.zeros_like(mask))
    w = wbl_weight_map(torch.from_numpy(square).float(), 1)[0, 0]
    assert float(w[5, 10]) == pytest.approx(0.9) and float(w[4, 10]) == pytest.approx(0.9)
    assert float(w[3, 10]) == pytest.approx(0.1) and float(w[8, 10]) == pytest.approx(0.1)
    custom = wbl_weight_map(torch.from_numpy(square).float(), 1, boundary=2.0, other=0.5)
    assert set(torch.unique(custom).tolist()) == {0.5, 2.0}
    assert torch.allclose(wbl_weight_map(torch.ones(1, 1, 8, 8), 3), torch.tensor(0.1))
    with pytest.raises(InputError, match="band_px"):
        wbl_weight_map(torch.zeros(8, 8), -1)


def test_weighted_l1_normalisation() -> None:
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 8:, :] = 1
    w = wbl_weight_map(mask, 2)
    pred, target = torch.rand(1, 2, 16, 16), torch.rand(1, 2, 16, 16)
    # uniform weights: the plain mean L1, whatever their value
    assert weighted_l1(pred, target, torch.full_like(w, 0.3)) == pytest.approx(
        float(F.l1_loss(pred, target))
    )
    # error 1 only in the band: Σ W·|d| / (C·Σ W) = 0.9·n_band / (0.9·n_band + 0.1·n_rest)
    band = (w > 0.5).float()
    n_band, n_rest = float(band.sum()), float((1 - band).sum())
    loss = weighted_l1(band.repeat(1, 2, 1, 1), torch.zeros(1, 2, 16, 16), w)
    assert float(loss) == pytest.approx(0.9 * n_band / (0.9 * n_band + 0.1 * n_rest))
    assert n_band == 4 * 16  # 2 px each side of a 16-px boundary


def test_feature_losses() -> None:
    net = TinyFeatures()
    a, b = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    fa, fb = net(a), net(b)
    assert len(fa) == 3 and fa[0].shape == (2, 4, 16, 16)
    assert float(perceptual_loss(fa, fa)) == 0 and float(style_loss(fa, fa)) == 0
    assert float(perceptual_loss(fa, fb)) > 0 and float(style_loss(fa, fb)) > 0
    assert float(feature_matching_loss(fa, fb)) == pytest.approx(float(perceptual_loss(fa, fb)))
    x = torch.arange(8.0).reshape(1, 2, 2, 2)
    f = x.reshape(2, 4)
    assert torch.allclose(gram(x)[0], f @ f.T / 8)


# --------------------------------------------------------------------------------------------
# masks


@pytest.mark.parametrize("size", [64, 256])
def test_free_form_strokes_stay_within_bounds(size: int) -> None:
    bounds = FreeFormBounds(strokes=(1, 3), vertices=(2, 6), width=(10.0, 30.0))
    scale = math.hypot(size, size) / math.hypot(512, 512)
    diag = math.hypot(size, size)
    counts, fractions = [], []
    for seed in range(150):
        rng = np.random.default_rng(seed)
        strokes = free_form_strokes(size, rng, bounds)
        counts.append(len(strokes))
        assert 1 <= len(strokes) <= 3
        for s in strokes:
            assert 2 <= len(s.angles) <= 6 and s.points.shape == (len(s.angles) + 1, 2)
            assert 10 * scale <= s.width <= 30 * scale
            assert np.all((s.lengths >= 0) & (s.lengths <= diag / 4))
            a = np.where(s.angles > math.pi, 2 * math.pi - s.angles, s.angles)
            assert np.all(np.abs(a - bounds.mean_angle) <= bounds.angle_range + 1e-9)
            assert np.all((s.points >= 0) & (s.points <= size - 1))
            step = np.hypot(*np.diff(s.points, axis=0).T)
            assert np.all(step <= s.lengths + 1e-6)  # clipping to the image only shortens
        drawn = draw_strokes(size, strokes)
        assert drawn.any()
        mask = free_form_mask(size, np.random.default_rng(seed), bounds)
        assert mask.shape == (size, size) and mask.dtype == bool and mask.any()
        fractions.append(mask.mean())
    assert set(counts) == {1, 2, 3}  # every count in the range occurs
    assert max(fractions) <= 1.0 and 0.02 < float(np.mean(fractions)) < bounds.max_fraction


def test_free_form_max_fraction_and_bad_bounds() -> None:
    bounds = FreeFormBounds(strokes=(4, 4), width=(60.0, 80.0), max_fraction=0.2)
    for seed in range(40):
        rng = np.random.default_rng(seed)
        mask = free_form_mask(64, rng, bounds)
        first = draw_strokes(64, free_form_strokes(64, np.random.default_rng(seed), bounds)[:1])
        assert mask.mean() <= 0.2 or mask.sum() == first.sum()  # only the first stroke kept
    with pytest.raises(InputError, match="vertices"):
        FreeFormBounds(vertices=(5, 2))


def test_object_masks_keep_the_product_shape() -> None:
    product = np.zeros((100, 80), np.uint8)
    product[20:80, 30:50] = 255  # a 60×20 upright product
    for seed in range(50):
        hole = object_mask(product, (64, 48), np.random.default_rng(seed), scale=(0.3, 0.6))
        assert hole.shape == (64, 48) and hole.dtype == bool
        ys, xs = np.nonzero(hole)
        h, w = ys.max() + 1 - ys.min(), xs.max() + 1 - xs.min()
        assert hole.sum() == h * w  # a rectangle stays a rectangle
        assert 2.6 < h / w < 3.4  # aspect kept
        assert 0.3 * 48 - 2 <= math.sqrt(h * w) <= 0.6 * 48 + 2
    with pytest.raises(InputError, match="empty"):
        object_mask(np.zeros((8, 8), bool), 16, np.random.default_rng(0))


# --------------------------------------------------------------------------------------------
# the backend


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A two-step tiny EdgeConnect checkpoint (32², width 1/16, one residual block)."""
    from adstage.datasets.synthetic import SyntheticCatalog
    from adstage.io.images import write_image
    from adstage.train.inpaint import InpaintConfig, train

    root = tmp_path_factory.mktemp("edgeconnect")
    for i, item in enumerate(SyntheticCatalog(4, seed=0, size=(40, 40))):
        write_image(root / "photos" / f"{i}.png", item.image)
    config = InpaintConfig(
        data=(str(root / "photos"),),
        out=str(root / "run"),
        size=32,
        steps=2,
        batch_size=2,
        width=0.0625,
        blocks=1,
        features="tiny",
        threads=1,
        holdout=0.0,
    )
    return train(config).checkpoint


def test_backend_fills_only_the_hole(checkpoint: Path) -> None:
    assert "edgeconnect" in INPAINTERS.names()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (37, 29, 3), dtype=np.uint8)  # not a multiple of 4
    hole = np.zeros((37, 29), bool)
    hole[10:20, 8:18] = True
    out = inpaint(image, hole, backend="edgeconnect", checkpoint=checkpoint, margin=64)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out[~hole], image[~hole]) and not np.array_equal(out, image)
    again = inpaint(image, hole, backend="edgeconnect", checkpoint=checkpoint.parent, margin=64)
    assert np.array_equal(out, again)  # a folder means its latest checkpoint; deterministic
    big = np.ascontiguousarray(np.repeat(np.repeat(image, 4, 0), 4, 1))
    big_hole = np.repeat(np.repeat(hole, 4, 0), 4, 1)
    filled = EdgeConnect(checkpoint=checkpoint, max_side=32)(big, big_hole)  # downscaled path
    assert filled.shape == big.shape and np.array_equal(filled[~big_hole], big[~big_hole])


def test_backend_errors_name_the_fix(checkpoint: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(CHECKPOINT_ENV, raising=False)
    with pytest.raises(InputError, match="adstage train inpaint"):
        INPAINTERS.create("edgeconnect")
    with pytest.raises(InputError, match="does not exist"):
        EdgeConnect(checkpoint=tmp_path / "nope.pt")
    with pytest.raises(InputError, match="holds no"):
        EdgeConnect(checkpoint=tmp_path)
    (tmp_path / "bad.pt").write_bytes(b"junk")
    with pytest.raises(InputError, match="not an EdgeConnect checkpoint"):
        EdgeConnect(checkpoint=tmp_path / "bad.pt")
    with pytest.raises(AdstageError):
        EdgeConnect(weights="edgeconnect-not-in-the-manifest")
    monkeypatch.setenv(CHECKPOINT_ENV, str(checkpoint))
    assert EdgeConnect().meta["step"] == 2


def test_backend_inside_stage(checkpoint: Path, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("lancedb")
    import json

    from typer.testing import CliRunner

    from adstage.cli import app
    from adstage.datasets.synthetic import SyntheticCatalog
    from adstage.io.images import write_image
    from adstage.stage.pipeline import stage

    syn = SyntheticCatalog(10, seed=1, size=(96, 96))
    ingest_synthetic(syn, tmp_path)
    item = next(i for i in syn if not i.staged)
    result = stage(
        item.image,
        tmp_path / "cat",
        mask=item.mask,
        k=1,
        segmenter="solid-background",
        inpainter="edgeconnect",
        inpainter_options={"checkpoint": str(checkpoint)},
        screen=None,  # the slot as retrieved: this tests the inpainter, not the slot screen
    )
    assert len(result.candidates) == 1 and not result.errors
    best = result.candidates[0]
    assert best.provenance["inpainter"] == "edgeconnect" and best.provenance["hole_pixels"] > 0

    monkeypatch.setenv(CHECKPOINT_ENV, str(checkpoint))  # the CLI passes only the name
    write_image(tmp_path / "products" / "p.png", item.image)
    args = ["stage", str(tmp_path / "products"), "-c", str(tmp_path / "cat")]
    args += ["-o", str(tmp_path / "out"), "-k", "1", "--inpainter", "edgeconnect", "--json"]
    args += ["--segmenter", "solid-background", "--no-screen"]
    cli = CliRunner().invoke(app, args)
    assert cli.exit_code == 0, cli.stderr
    (record,) = [json.loads(line) for line in cli.stdout.splitlines()]  # one per product
    assert record["best"].endswith("candidate-0.png")
