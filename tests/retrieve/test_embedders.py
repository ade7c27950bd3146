"""Retrieval embedders: input preparation, the classical descriptor, Inception-V3 (tiny + real)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adstage.datasets.synthetic import SyntheticCatalog
from adstage.errors import InputError, WeightsNotFound
from adstage.retrieve.base import EMBEDDERS, l2_normalize, prepare
from adstage.retrieve.classical import HOG_DIM, Classical, hog
from adstage.weights import resolve

torch = pytest.importorskip("torch")

from adstage.models.inception import onnx_path  # noqa: E402
from adstage.retrieve.inception import InceptionV3  # noqa: E402

BLUE, RED, WHITE = (0, 0, 255), (255, 0, 0), (255, 255, 255)


def _blue_with_red_box() -> tuple[np.ndarray, np.ndarray]:
    """A 40×60 blue image with a red 10×20 product at rows 10–20, columns 20–40, and its mask."""
    image = np.zeros((40, 60, 3), np.uint8)
    image[:] = BLUE
    image[10:20, 20:40] = RED
    mask = np.zeros((40, 60), bool)
    mask[10:20, 20:40] = True
    return image, mask


@pytest.fixture(scope="module")
def catalog() -> list:
    return list(SyntheticCatalog(48, seed=3, staged_fraction=0.0, size=(192, 192)))


def _p_at_1(embeddings: np.ndarray, labels: list[str]) -> float:
    sims = embeddings @ embeddings.T
    np.fill_diagonal(sims, -np.inf)
    labels_arr = np.asarray(labels)
    return float((labels_arr[sims.argmax(1)] == labels_arr).mean())


# --- prepare -----------------------------------------------------------------------------------


def test_prepare_cutout_composites_on_white_and_crops() -> None:
    image, mask = _blue_with_red_box()
    out = prepare(image, mask, mode="cutout", margin=0.05)
    # box 20×10 grown by round(20·0.05)=1 px left/right and round(10·0.05)=0 px → 22×10, padded
    assert out.shape == (22, 22, 3)
    colours = {tuple(c) for c in out.reshape(-1, 3)}
    assert colours == {RED, WHITE}  # the blue background is gone, the margin is white
    assert tuple(out[11, 11]) == RED and tuple(out[0, 11]) == WHITE and tuple(out[11, 0]) == WHITE


def test_prepare_whole_pads_square_and_empty_mask_is_whole() -> None:
    image, mask = _blue_with_red_box()
    whole = prepare(image, mask, mode="whole")
    assert whole.shape == (60, 60, 3)
    assert (whole[:10] == WHITE).all() and (whole[50:] == WHITE).all()
    np.testing.assert_array_equal(whole[10:50], image)
    empty = prepare(image, np.zeros_like(mask), mode="cutout")
    np.testing.assert_array_equal(empty, whole)
    np.testing.assert_array_equal(prepare(image, None), whole)


def test_prepare_bad_mode() -> None:
    image, mask = _blue_with_red_box()
    with pytest.raises(InputError, match="mode"):
        prepare(image, mask, mode="crop")  # type: ignore[arg-type]


# --- classical ---------------------------------------------------------------------------------


def test_hog_dim_and_shape_response() -> None:
    flat = np.full((128, 128), 200, np.uint8)
    assert hog(flat).shape == (HOG_DIM,) and not hog(flat).any()
    stripes = np.zeros((128, 128), np.uint8)
    stripes[:, ::8] = 255  # vertical edges → horizontal gradients → the 0° bin dominates
    blocks = hog(stripes).reshape(-1, 4, 9)
    assert (blocks.sum((0, 1)).argmax() in (0, 8)) and blocks.sum() > 0


def test_classical_shape_norm_deterministic(catalog) -> None:
    emb = EMBEDDERS.create("classical")
    assert isinstance(emb, Classical) and emb.name == "classical"
    images = [it.image for it in catalog[:4]]
    masks = [it.mask for it in catalog[:4]]
    a = emb.embed(images, masks)
    assert a.shape == (4, emb.dim) and a.dtype == np.float32
    assert emb.dim == 8 * 4 * 4 + 2 * HOG_DIM + 7
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a, emb.embed(images, masks))
    assert emb.embed([], None).shape == (0, emb.dim)
    with pytest.raises(InputError, match="masks"):
        emb.embed(images, masks[:3])
    with pytest.raises(InputError, match="colour"):
        Classical(colour=-1.0)


def test_classical_retrieves_same_category(catalog) -> None:
    """Leave-one-out nearest neighbour on 48 synthetic products, 12 categories (chance 1/12).

    Measured 0.79 (seed 3); other seeds 0.69–0.85. Colour at weight 1 drops it to 0.48, as on
    real products (REFERENCES §5).
    """
    labels = [it.category for it in catalog]
    assert len(set(labels)) == 12
    e = Classical().embed([it.image for it in catalog], [it.mask for it in catalog])
    assert _p_at_1(e, labels) > 0.55


# --- Inception-V3 with a tiny stand-in network -------------------------------------------------


class _TinyInception(torch.nn.Module):
    """Same contract as the FID file: N×3×299×299 in [-1, 1) → N×2048 non-negative."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(3 * 4 * 4, 2048)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if c != 3 or h != 299 or w != 299:
            raise RuntimeError("expected N×3×299×299")
        y = torch.nn.functional.adaptive_avg_pool2d(x, 4).reshape(b, -1)
        return torch.relu(self.proj(y))


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("inception") / "tiny.pt"
    torch.jit.script(_TinyInception().eval()).save(str(path))
    return str(path)


def test_inception_tiny_batching_norm_masks(tiny_weights, catalog) -> None:
    images = [it.image for it in catalog[:5]]
    masks = [it.mask for it in catalog[:5]]
    e8 = InceptionV3(weights=tiny_weights, batch_size=8)
    e2 = InceptionV3(weights=tiny_weights, batch_size=2, threads=1)
    threads = torch.get_num_threads()
    a = e8.embed(images, masks)
    b = e2.embed(images, masks)
    assert torch.get_num_threads() == threads
    assert a.shape == (5, 2048) and a.dtype == np.float32 and e8.dim == 2048
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    raw = e8.features(images, masks)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    np.testing.assert_allclose(l2_normalize(raw), a, atol=1e-6)
    # masks: None everywhere equals no masks; a cut-out differs from the whole image
    np.testing.assert_array_equal(e8.embed(images), e8.embed(images, [None] * 5))
    assert not np.allclose(e8.embed(images), a)
    inputs = e8.inputs(images[:1], masks[:1])
    assert inputs.shape == (1, 299, 299, 3) and inputs.dtype == np.uint8
    assert (inputs[0, 0, 0] == 255).all()  # corner of a padded cut-out is white
    with pytest.raises(InputError, match="masks"):
        e8.embed(images, masks[:2])
    assert e8.embed([]).shape == (0, 2048)


def test_inception_missing_weights_and_registry() -> None:
    emb = EMBEDDERS.create("inception-v3")
    assert isinstance(emb, InceptionV3) and emb.name == "inception-v3"
    image, _ = _blue_with_red_box()
    with pytest.raises(WeightsNotFound, match="inception-v3-fid"):
        emb.embed([image])
    with pytest.raises(InputError):
        InceptionV3(weights=str(Path("/nonexistent/x.pt"))).embed([image])
    with pytest.raises(InputError, match="batch_size"):
        InceptionV3(batch_size=0)


# --- the real FID network ----------------------------------------------------------------------


@pytest.mark.weights
def test_inception_real_weights(catalog) -> None:
    try:
        emb = InceptionV3(threads=2)
        emb.load()
    except WeightsNotFound:
        pytest.skip("inception-v3-fid not fetched (adstage weights fetch inception-v3-fid)")
    chairs = [it for it in catalog if it.category.endswith("Chairs")][:2]
    vase = next(it for it in catalog if it.category.endswith("Vases"))
    picked = [*chairs, vase]
    raw = emb.features([it.image for it in picked], [it.mask for it in picked])
    assert raw.shape == (3, 2048) and raw.dtype == np.float32
    assert raw.min() >= 0 and (np.linalg.norm(raw, axis=1) > 2).all()  # ReLU'd pool3, raw
    e = l2_normalize(raw)
    assert e[0] @ e[1] > e[0] @ e[2] and e[0] @ e[1] > e[1] @ e[2]


def test_inception_runtime_choice_is_checked_and_reported(tiny_weights, catalog) -> None:
    with pytest.raises(InputError, match="runtime"):
        InceptionV3(runtime="tensorrt")
    with pytest.raises(InputError, match="CPU only"):
        InceptionV3(runtime="onnx", device="cuda")
    emb = InceptionV3(weights=tiny_weights, runtime="torch")
    assert emb.runtime_used is None
    emb.embed([catalog[0].image])
    assert emb.runtime_used == "torchscript"


@pytest.mark.weights
def test_inception_onnxruntime_matches_torchscript(catalog) -> None:
    pytest.importorskip("onnxruntime")
    try:
        ref = InceptionV3(runtime="torch", threads=2)
        ref.load()
    except WeightsNotFound:
        pytest.skip("inception-v3-fid not fetched (adstage weights fetch inception-v3-fid)")
    images = [it.image for it in catalog[:6]]
    masks = [it.mask for it in catalog[:6]]
    fast = InceptionV3(runtime="onnx", threads=2, batch_size=4)
    got = fast.features(images, masks)
    assert fast.runtime_used == "onnxruntime"
    want = ref.features(images, masks)
    assert np.abs(got - want).max() < 1e-3 * max(1.0, float(np.abs(want).max()))
    # The export is kept in the cache, named by the source's hash, and reused.
    export = onnx_path(resolve("inception-v3-fid"))
    assert export.exists()
    stamp = export.stat().st_mtime_ns
    again = InceptionV3(runtime="auto", threads=2)
    np.testing.assert_allclose(again.features(images[:2], masks[:2]), got[:2], atol=1e-5)
    assert again.runtime_used == "onnxruntime" and export.stat().st_mtime_ns == stamp
