"""pix2pix networks: U-Net shapes and widths, the 70×70 PatchGAN, the condition image."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from adstage.errors import InputError  # noqa: E402
from adstage.models.pix2pix import (  # noqa: E402
    PatchDiscriminator,
    UNetGenerator,
    on_white,
    receptive_field,
    to_images,
    to_tensor,
)


def _conv_chain_rf(kernels_strides: list[tuple[int, int]]) -> int:
    """Receptive field computed backwards, output pixel → input patch: r ← (r − 1)·s + k."""
    r = 1
    for k, s in reversed(kernels_strides):
        r = (r - 1) * s + k
    return r


def test_patchgan_sees_70x70_at_the_standard_depth() -> None:
    d = PatchDiscriminator(ndf=8)
    assert receptive_field(d) == 70
    # By hand: four 4×4 convs with strides 2, 2, 2, 1 and the 4×4 stride-1 output conv.
    assert _conv_chain_rf([(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)]) == 70
    assert receptive_field(PatchDiscriminator(ndf=8, n_layers=1)) == 16  # the paper's 16×16
    assert receptive_field(PatchDiscriminator(ndf=8, n_layers=4)) == 142  # and 142×142
    x = torch.zeros(1, 3, 256, 256)
    assert d(x, x).shape == (1, 1, 30, 30)  # the pix2pix code's 30×30 patch map at 256


def test_patchgan_spectral_norm() -> None:
    d = PatchDiscriminator(ndf=4, spectral=True)
    assert receptive_field(d) == 70
    assert any("parametrizations" in name for name, _ in d.named_parameters())


@pytest.mark.parametrize("size", [32, 64, 256])
def test_unet_depth_follows_the_size(size: int) -> None:
    g = UNetGenerator(size=size, ngf=2).eval()
    assert g.depth == int(np.log2(size))  # down to a 1×1 bottleneck
    y = g(torch.zeros(1, 3, size, size))
    assert y.shape == (1, 3, size, size) and y.abs().max() <= 1


def test_unet_standard_widths() -> None:
    g = UNetGenerator(size=256, ngf=64)
    widths = [
        layer[-1].out_channels
        if not isinstance(layer[-1], torch.nn.InstanceNorm2d)
        else layer[-2].out_channels
        for layer in g.down
    ]
    assert widths == [64, 128, 256, 512, 512, 512, 512, 512]  # C64-C128-…-C512 (paper §6.1.1)


@pytest.mark.parametrize("size", [0, 16, 48, 100, True])
def test_bad_sizes(size) -> None:
    with pytest.raises(InputError, match="power of two"):
        UNetGenerator(size=size)


def test_condition_and_tensor_round_trip() -> None:
    image = np.zeros((2, 3, 3), np.uint8)
    alpha = np.array([[1.0, 0.5, 0.0], [0.0, 0.0, 1.0]], np.float32)
    cond = on_white(image, alpha)
    assert cond.dtype == np.uint8 and cond[0, 0, 0] == 0 and cond[0, 2, 0] == 255
    assert cond[0, 1, 0] == 128  # 255 · (1 − 0.5), rounded
    x = to_tensor([cond, image])
    assert x.shape == (2, 3, 2, 3) and float(x.min()) == -1.0 and float(x.max()) == 1.0
    back = to_images(x)
    assert np.array_equal(back[0], cond) and np.array_equal(back[1], image)
