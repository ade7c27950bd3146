"""EfficientNet-Lite0 network: shapes, size, state-dict layout, parity with the reference."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from adstage.errors import WeightsNotFound  # noqa: E402
from adstage.models.efficientnet import (  # noqa: E402
    EfficientNetLite,
    _same_padding,
    load_efficientnet,
    to_tensor,
)
from adstage.retrieve.base import pad_square  # noqa: E402
from adstage.weights import resolve  # noqa: E402

# EfficientNet-Lite0 with its 1000-class head: 4.652 M parameters (measured, 4,652,008).
PARAMS = 4_652_008


def _random_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A seeded model whose BN statistics and affine terms are not the identity."""
    torch.manual_seed(seed)
    model = EfficientNetLite()
    state = model.state_dict()
    g = torch.Generator().manual_seed(seed)
    for key, value in state.items():
        if key.endswith("running_mean") or key.endswith(".bias"):
            value.copy_(0.1 * torch.randn(value.shape, generator=g))
        elif key.endswith("running_var") or (key.endswith(".weight") and value.ndim == 1):
            value.copy_(0.5 + torch.rand(value.shape, generator=g))
    return state


@pytest.fixture(scope="module")
def model() -> EfficientNetLite:
    m = EfficientNetLite()
    m.load_state_dict(_random_state())
    return m.eval()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))


def test_shapes(model: EfficientNetLite, x: torch.Tensor) -> None:
    with torch.inference_mode():
        assert model(x).shape == (2, 1000)
        assert model.features(x).shape == (2, 1280)


def test_parameter_count(model: EfficientNetLite) -> None:
    n = sum(p.numel() for p in model.parameters())
    assert n == PARAMS
    assert abs(n - 4.65e6) / 4.65e6 < 0.02


def test_state_dict_round_trip(model: EfficientNetLite, x: torch.Tensor, tmp_path) -> None:
    path = tmp_path / "lite0.pth"
    torch.save(model.state_dict(), path)
    other = load_efficientnet(path)
    assert not other.training
    with torch.inference_mode():
        assert torch.equal(model(x), other(x))


def test_same_padding_is_tensorflows() -> None:
    # Stride-2 3×3 on 224: one pixel in total, after (right/bottom), as TensorFlow pads.
    assert _same_padding(224, 3, 2) == (0, 1)
    assert _same_padding(112, 5, 1) == (2, 2)
    assert _same_padding(28, 5, 2) == (1, 2)


def test_to_tensor_normalisation() -> None:
    pic = np.full((300, 300, 3), 255, np.uint8)
    t = to_tensor([pic, np.zeros((100, 100, 3), np.uint8)])
    assert t.shape == (2, 3, 224, 224) and t.dtype == torch.float32
    assert torch.allclose(t[0], torch.full_like(t[0], 128 / 128))
    assert torch.allclose(t[1], torch.full_like(t[1], -127 / 128))


def _reference(state: dict[str, torch.Tensor]):
    package = pytest.importorskip("efficientnet_lite_pytorch")
    ref = package.EfficientNet.from_name("efficientnet-lite0")
    ref.load_state_dict(state, strict=True)
    return ref.eval()


def _ref_features(ref, x: torch.Tensor) -> torch.Tensor:
    return ref._avg_pooling(ref.extract_features(x)).flatten(1)


def test_keys_match_reference_package(model: EfficientNetLite) -> None:
    package = pytest.importorskip("efficientnet_lite_pytorch")
    ref = package.EfficientNet.from_name("efficientnet-lite0")
    ours, theirs = model.state_dict(), ref.state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


def test_parity_with_reference_package(model: EfficientNetLite, x: torch.Tensor) -> None:
    ref = _reference(model.state_dict())
    with torch.inference_mode():
        logits, ref_logits = model(x), ref(x)
        feats, ref_feats = model.features(x), _ref_features(ref, x)
    assert logits.abs().max() > 1e-2  # the comparison is not between two near-zero tensors
    assert (logits - ref_logits).abs().max().item() < 1e-4
    assert (feats - ref_feats).abs().max().item() < 1e-4


# --- the published weights -------------------------------------------------------------------


@pytest.mark.weights
def test_real_weights_parity_with_reference_package() -> None:
    data = pytest.importorskip("skimage.data")
    try:
        path = resolve("efficientnet-lite0")
    except WeightsNotFound as exc:
        pytest.skip(str(exc))
    model = load_efficientnet(path)
    ref = _reference(torch.load(path, map_location="cpu", weights_only=True))
    x = to_tensor([pad_square(data.chelsea()), pad_square(data.coffee())])
    with torch.inference_mode():
        assert (model(x) - ref(x)).abs().max().item() < 1e-4
        assert (model.features(x) - _ref_features(ref, x)).abs().max().item() < 1e-4
