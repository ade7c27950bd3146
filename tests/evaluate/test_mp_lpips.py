"""MP-LPIPS: the matching and the penalty path checked exactly with a stub matcher of known
features and a tiny LPIPS network; the matcher's upsampling against torch's; input errors; with the
real LPIPS-alex weights (``-m weights``) identical images score 0 and a moved product is
penalised."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from adstage import weights
from adstage.errors import InputError
from adstage.evaluate.lpips import LPIPS
from adstage.evaluate.mp_lpips import (
    DILATE,
    PATCH,
    SIZE,
    LpipsFeatures,
    Matcher,
    grid_points,
    match_points,
    mp_lpips,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_net(width: int = 4, seed: int = 0) -> LPIPS:
    """LPIPS-alex of the real layout with ``width`` channels a layer and random weights."""
    rng = np.random.default_rng(seed)
    convs = ((11, 3), (5, width), (3, width), (3, width), (3, width))
    params: dict[str, Any] = {
        "AlexNet_0": {
            f"Conv_{i}": {
                "kernel": rng.normal(0, 1.5 / np.sqrt(k * k * c), (k, k, c, width)).astype(
                    np.float32
                ),
                "bias": rng.normal(0, 0.1, width).astype(np.float32),
            }
            for i, (k, c) in enumerate(convs)
        }
    }
    for layer in range(5):
        params[f"NetLinLayer_{layer}"] = {
            "Conv_0": {"kernel": rng.uniform(0, 1, (1, 1, width, 1)).astype(np.float32)}
        }
    return LPIPS("alex", params=params)


class Stub:
    """Hands out fixed feature maps, one per call, and keeps the images it was given."""

    name = "stub"

    def __init__(self, *features: torch.Tensor) -> None:
        self.features = list(features)
        self.seen: list[torch.Tensor] = []

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        self.seen.append(image.clone())
        return self.features.pop(0)


def _unit_patch(image: np.ndarray, y: int, x: int) -> torch.Tensor:
    """The PATCH² patch centred on (y, x) of an H×W×3 image in [0, 1], zero outside, in [-1, 1]."""
    half = PATCH // 2
    padded = np.pad(image, ((half, half), (half, half), (0, 0)))
    crop = padded[y : y + PATCH, x : x + PATCH]
    return torch.from_numpy(crop.transpose(2, 0, 1).copy())[None].float() * 2 - 1


def test_matching_and_penalty_exactly() -> None:
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    gen = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    mask = np.zeros((SIZE, SIZE), bool)
    mask[100:300, 100:300] = True  # grid nodes 100, 140, …, 260: 25 query points
    points = grid_points(mask)
    assert len(points) == 25 and points[0].tolist() == [100, 100]
    # Each query point k gets channel k + 1 in the reference and, in the generated image, at the
    # target chosen for it; every other pixel is channel 0: the cosine argmax is the target.
    reach = 299 + DILATE // 2  # the dilated mask's last row / column
    targets = points + np.array([3, -2])
    targets[-4] = [reach, 150]  # just inside the dilation
    targets[-3] = [reach + 1, 150]  # just outside
    targets[-2] = [450, 450]
    targets[-1] = [5, 500]
    channels = len(points) + 1
    f_ref = torch.zeros(channels, SIZE, SIZE)
    f_gen = torch.zeros(channels, SIZE, SIZE)
    f_ref[0] = f_gen[0] = 1
    for k, ((y, x), (ty, tx)) in enumerate(zip(points, targets, strict=True)):
        f_ref[:, y, x] = 0
        f_ref[k + 1, y, x] = 1
        f_gen[:, ty, tx] = 0
        f_gen[k + 1, ty, tx] = 1
    stub = Stub(f_ref, f_gen)
    net = tiny_net()
    result = mp_lpips(gen, ref, mask, matcher=stub, net=net)

    ref01 = ref / 255.0 * mask[..., None]
    dilated = np.zeros_like(mask)
    dilated[100 - DILATE // 2 : reach + 1, 100 - DILATE // 2 : reach + 1] = True
    gen01 = gen / 255.0 * dilated[..., None]
    # the masked images went to the matcher, reference first
    assert torch.allclose(stub.seen[0], torch.from_numpy(ref01.transpose(2, 0, 1)).float())
    assert torch.allclose(stub.seen[1], torch.from_numpy(gen01.transpose(2, 0, 1)).float())
    ones = torch.ones(1, 3, PATCH, PATCH)
    penalty = float(net(ones, -ones))
    expected = []
    for (y, x), (ty, tx) in zip(points, targets, strict=True):
        if dilated[ty, tx]:
            expected.append(float(net(_unit_patch(ref01, y, x), _unit_patch(gen01, ty, tx))))
        else:
            expected.append(penalty)
    assert result == {
        "mp_lpips": pytest.approx(np.mean(expected), rel=1e-6),
        "matcher": "stub",
        "points": 25,
        "penalised": 3,
    }
    assert penalty > max(e for e in expected if e != penalty)


def test_upsampled_matching_is_torch_bilinear() -> None:
    torch.manual_seed(0)
    f_ref, f_gen = torch.randn(6, 20, 17), torch.randn(6, 23, 31)
    points = np.array([[20, 20], [100, 460], [500, 260]])
    up_ref = F.interpolate(f_ref[None], size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    up_gen = F.interpolate(f_gen[None], size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    q = F.normalize(up_ref[0][:, points[:, 0], points[:, 1]].T, dim=1)
    sims = q @ F.normalize(up_gen[0].reshape(6, -1), dim=0)
    best = sims.argmax(dim=1).numpy()
    expected = np.stack([best // SIZE, best % SIZE], axis=1)
    assert np.array_equal(match_points(f_ref, f_gen, points), expected)


def test_default_matcher_and_protocol() -> None:
    net = tiny_net()
    matcher = LpipsFeatures(net)
    assert isinstance(matcher, Matcher) and isinstance(Stub(), Matcher)
    features = matcher(torch.rand(3, SIZE, SIZE))
    assert features.shape == (8, 63, 63)  # relu2 ⊕ relu3 (4 + 4 channels) on relu2's grid
    norms = features.reshape(2, 4, -1).norm(dim=1)
    assert torch.allclose(norms[norms > 0], torch.ones(()), atol=1e-5)


def test_bad_inputs() -> None:
    net = tiny_net()
    image = np.zeros((64, 64, 3), np.uint8)
    mask = np.ones((64, 64), bool)
    with pytest.raises(InputError, match="mask: empty"):
        mp_lpips(image, image, np.zeros((64, 64)), net=net)
    with pytest.raises(InputError, match="gen_mask: empty"):
        mp_lpips(image, image, mask, gen_mask=np.zeros((64, 64)), net=net)
    with pytest.raises(InputError, match=r"mask: expected the size of reference, 64×64"):
        mp_lpips(image, image, mask[:32], net=net)
    with pytest.raises(InputError, match="gen_mask: needed when"):
        mp_lpips(image[:32], image, mask, net=net)
    with pytest.raises(InputError, match=r"gen_mask: expected the size of generated, 32×64"):
        mp_lpips(image[:32], image, mask, gen_mask=mask, net=net)
    with pytest.raises(InputError, match="generated: expected uint8"):
        mp_lpips(image.astype(np.float32), image, mask, net=net)
    tiny = np.zeros((64, 64), bool)
    tiny[20:22, 20:22] = True  # 160:176 at 512², between the grid's nodes 140 and 180
    with pytest.raises(InputError, match="no node of the 40-px query grid"):
        mp_lpips(image, image, tiny, net=net)
    flat = Stub(torch.zeros(4, 8))
    with pytest.raises(InputError, match="matcher 'stub': expected C×h×w"):
        mp_lpips(image, image, mask, net=net, matcher=flat)


# --------------------------------------------------------------------------- the real weights


def _product(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.kron(rng.integers(0, 256, (10, 10, 3)), np.ones((8, 8, 1))).astype(np.uint8)


@pytest.mark.weights
def test_real_weights_identical_and_moved() -> None:
    if not weights.cached_path("lpips-alex").is_file():
        pytest.skip("lpips-alex is not in the weights cache (adstage weights fetch lpips-alex)")
    ref = np.zeros((256, 256, 3), np.uint8)  # on black, masking changes nothing
    ref[40:120, 40:120] = _product()
    mask = np.zeros((256, 256), bool)
    mask[40:120, 40:120] = True
    same = mp_lpips(ref, ref, mask)
    assert same == {
        "mp_lpips": 0.0,
        "matcher": "lpips-alex-relu2+relu3",
        "points": 16,
        "penalised": 0,
    }
    moved = np.zeros_like(ref)
    moved[150:230, 150:230] = _product()
    far = mp_lpips(moved, ref, mask)  # the product left its (the reference's) mask
    assert far["penalised"] >= 8 and far["mp_lpips"] > 0.3
    followed = np.zeros_like(mask)
    followed[150:230, 150:230] = True
    found = mp_lpips(moved, ref, mask, gen_mask=followed)  # its own mask: matched, not penalised
    assert found["penalised"] == 0 and found["mp_lpips"] < far["mp_lpips"] / 3
