"""benchmarks/harmoniser.py: the catalog-look perturbation, the network and where it relights."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch

from adstage.types import Placement
from benchmark_module import load_benchmark


@pytest.fixture
def hm(monkeypatch):  # type: ignore[no-untyped-def]
    return load_benchmark(monkeypatch, "harmoniser")


def test_square_crop_is_centred_on_the_box_and_mirrors_past_the_edge(hm) -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 10:30] = 200  # the object
    crop, (a, b, s) = hm.square_crop(image, (10, 40, 30, 60), 56, 0)
    assert s == 28 and (a, b) == (6, 36)  # a 20-px box grown by 1.4, centred on (20, 50)
    assert crop.shape == (56, 56, 3) and crop[28, 28, 0] == 200 and crop[0, 0, 0] == 0
    ramp = np.repeat(np.arange(200, dtype=np.uint8)[None, :, None], 100, 0).repeat(3, 2)
    edge, (a, _, s) = hm.square_crop(ramp, (0, 40, 20, 60), 28, 0)  # 4 columns past the left edge
    assert (a, s) == (-4, 28)
    assert edge[0, :8, 0].tolist() == [3, 2, 1, 0, 0, 1, 2, 3]  # mirrored, then the photo
    mask = np.zeros((100, 200), np.uint8)
    mask[0:10, 0:10] = 255  # at the corner: the mask's padding is empty, not mirrored
    cut, _ = hm.square_crop(mask, (0, 0, 10, 10), 14, 0)
    assert cut[:2].max() == 0 and cut[7, 7] == 255


def test_perturb_flattens_the_shading_inside_the_mask_only(hm) -> None:
    rows = torch.linspace(-2.0, -0.3, 64)  # a strong top-to-bottom shading
    x = rows.view(1, 1, 64, 1).expand(4, 3, 64, 64).clone()
    m = torch.zeros(4, 1, 64, 64)
    m[:, :, 8:56, 8:56] = 1.0
    out = hm.perturb(x, m, torch.Generator().manual_seed(1))
    outside = (m == 0).expand_as(x)
    assert torch.equal(out[outside], x[outside])
    inside = out[:, :, 8:56, 8:56].mean(1)  # N×48×48
    before = x[:, :, 8:56, 8:56].mean(1)
    span = lambda t: t.mean(2)[:, -8:].mean(1) - t.mean(2)[:, :8].mean(1)  # noqa: E731
    # at least 30 % of the blurred shading's span taken out (the blur itself keeps ~60 % of it)
    assert (span(inside) < 0.85 * span(before)).all()
    assert (span(inside) > -0.05).all()  # towards flat, not reversed


class _Ramp(torch.nn.Module):
    """A stand-in network: a gain of −0.5 × the crop's column share where the mask is."""

    def gains(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        cols = torch.linspace(0.0, 1.0, x.shape[3]).view(1, 1, 1, -1)
        return (-0.5 * cols * m).expand(-1, 3, -1, -1)


def test_relight_puts_the_gains_on_the_product_where_the_crop_saw_it(hm) -> None:
    image = np.full((90, 120, 3), 200, np.uint8)
    alpha = np.zeros((90, 120), np.float32)
    alpha[30:70, 0:40] = 1.0  # at the frame's left edge: the crop reaches past it
    out = hm.relight(_Ramp(), image, alpha, (0, 30, 40, 70))
    assert np.array_equal(out[alpha == 0], image[alpha == 0])
    _, (a, _, s) = hm.square_crop(image, (0, 30, 40, 70), hm.SIDE, 0)
    for col in (1, 20, 38):  # the darkening grows left to right as the crop's columns do
        share = (col - a + 0.5) / s
        assert abs(int(out[50, col, 0]) - 200 * np.exp(-0.5 * share)) <= 3
    assert out[50, 38, 0] < out[50, 20, 0] < out[50, 1, 0]


@dataclasses.dataclass
class _Made:
    image: Any


def test_relit_composite_replaces_the_shading_and_spares_exact_products(hm) -> None:
    calls: list[dict[str, Any]] = []

    def composite(scene: Any, rgba: Any, placement: Any, **kwargs: Any) -> _Made:
        calls.append(kwargs)
        return _Made(scene.copy())

    torch.manual_seed(0)
    net = hm.Harmoniser(width=8).eval()
    for p in net.parameters():
        torch.nn.init.zeros_(p)
    torch.nn.init.constant_(net.out.bias, -0.5)  # darkens whatever it is shown
    relit = hm.relit_composite(composite, net)
    scene = np.full((60, 80, 3), 180, np.uint8)
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 3] = 255
    placement = Placement(box=(30, 20, 50, 40), scale=1.0, fit="footprint", scene_size=(80, 60))
    front = np.zeros((60, 80), bool)
    front[20:40, 30:40] = True  # the product's left half stands behind something
    made = relit(scene, rgba, placement, light=0.75, shade=1.0, occluder=front)
    assert calls[-1]["shade"] == 0.0 and calls[-1]["light"] == 0.75
    assert (made.image[25:35, 41:49] < 180).all() and (made.image[25:35, 31:39] == 180).all()
    assert (made.image[:20] == 180).all()
    exact = relit(scene, rgba, placement, light=0.0, shade=0.0)  # product_exact: untouched
    assert np.array_equal(exact.image, scene) and calls[-1]["shade"] == 0.0
