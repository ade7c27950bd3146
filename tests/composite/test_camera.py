"""The scene's camera given to the pasted product (adstage.composite.camera): the JPEG quality read
from a file, the blur metric, and a product blurred and compressed like its scene, nothing else
touched."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from adstage.composite.camera import (
    SIGMAS,
    blur_metric,
    jpeg_quality,
    match_camera,
    quality_of_table,
)
from adstage.errors import InputError


@pytest.mark.parametrize("quality", [30, 50, 75, 90])
def test_the_jpeg_quality_is_read_back_from_the_file(tmp_path, quality: int) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = tmp_path / "room.jpg"
    Image.fromarray(pixels).save(path, quality=quality)
    assert jpeg_quality(path) == quality
    Image.fromarray(pixels).save(tmp_path / "room.png")
    assert jpeg_quality(tmp_path / "room.png") is None
    assert jpeg_quality(tmp_path / "missing.jpg") is None
    with pytest.raises(InputError, match="64 values"):
        quality_of_table(np.ones(63))


def _texture(size: int = 128, seed: int = 1, lo: int = 30, hi: int = 226) -> np.ndarray:
    """A sharp random texture of 4-pixel squares (grey, uint8, values in [lo, hi))."""
    rng = np.random.default_rng(seed)
    small = rng.integers(lo, hi, (size // 4, size // 4), dtype=np.uint8)
    return np.kron(small, np.ones((4, 4), np.uint8))


def test_the_blur_metric_grows_with_blur_and_reads_only_where_asked() -> None:
    sharp = _texture()
    values = [
        blur_metric(cv2.GaussianBlur(sharp, (0, 0), s) if s else sharp) for s in (0, 0.7, 1.5, 3)
    ]
    assert values == sorted(values) and values[0] < 0.2 < 0.5 < values[-1]
    # Only the pairs inside ``where``: a blurred left half and a sharp right half.
    half = sharp.copy()
    half[:, :64] = cv2.GaussianBlur(sharp, (0, 0), 3)[:, :64]
    left = np.zeros(sharp.shape, bool)
    left[:, :60] = True
    assert blur_metric(half, left) > 0.5 > 0.2 > blur_metric(half, ~left)
    assert np.isnan(blur_metric(np.full((32, 32), 128, np.uint8)))  # no variation: no reading
    with pytest.raises(InputError, match="grey"):
        blur_metric(np.zeros((8, 8, 3), np.uint8))


def _scene_and_product(scene_sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured scene blurred by ``scene_sigma``, and the same with a sharp textured product
    pasted in the middle: (scene, image, product mask)."""
    scene = _texture(256, 2, 120, 250)  # never the product's values: every product pixel changes
    if scene_sigma:
        scene = cv2.GaussianBlur(scene, (0, 0), scene_sigma)
    scene = np.repeat(scene[..., None], 3, axis=2)
    product = np.zeros((256, 256), bool)
    product[96:160, 80:176] = True
    image = scene.copy()
    image[product] = np.repeat(_texture(256, 3, 10, 110)[..., None], 3, axis=2)[product]
    return scene, image, product


def test_a_product_sharper_than_its_scene_is_blurred_and_nothing_far_from_it_changes() -> None:
    scene, image, product = _scene_and_product(1.0)
    out, match = match_camera(image, scene, product)
    assert match.sigma > 0 and match.product_blur < match.scene_blur <= match.blurred_to
    far = np.ones(product.shape, bool)
    far[96 - 8 : 160 + 8, 80 - 8 : 176 + 8] = False
    np.testing.assert_array_equal(out[far], scene[far])
    assert not np.array_equal(out[product], image[product])
    # In a scene as sharp as the product it is left as it is.
    scene, image, product = _scene_and_product(0.0)
    out, match = match_camera(image, scene, product)
    assert match.sigma == 0.0
    np.testing.assert_array_equal(out, image)
    # Never more than the largest blur, however soft the scene.
    scene, image, product = _scene_and_product(2.5)
    assert match_camera(image, scene, product)[1].sigma == max(SIGMAS)
    # Measured only near strong edges: around a product on a plain wall, nothing is read (a
    # smooth surface is not a blurred one) and the product is left as it is.
    plain = np.full_like(scene, 200)
    pasted = plain.copy()
    pasted[product] = image[product]
    out, match = match_camera(pasted, plain, product)
    assert np.isnan(match.scene_blur) and match.sigma == 0.0
    assert match.as_dict()["scene_blur"] is None  # no NaN in a provenance's JSON
    np.testing.assert_array_equal(out, pasted)


def test_only_the_changed_pixels_are_compressed_like_the_scene() -> None:
    scene, image, product = _scene_and_product(0.0)
    out, match = match_camera(image, scene, product, blur=False, quality=30)
    assert match.quality == 30 and match.sigma == 0.0
    np.testing.assert_array_equal(out[~product], scene[~product])
    assert np.abs(out[product].astype(int) - image[product].astype(int)).mean() > 2
    # the same pixels as the whole image compressed on the same grid, where the product is
    ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 30])
    assert ok
    whole = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    inner = np.zeros(product.shape, bool)
    inner[104:152, 88:168] = True  # 8-aligned blocks wholly inside the product
    np.testing.assert_array_equal(out[inner], whole[inner])
    with pytest.raises(InputError, match="quality"):
        match_camera(image, scene, product, quality=0)
    with pytest.raises(InputError, match="same size"):
        match_camera(image, scene, product[:10])
