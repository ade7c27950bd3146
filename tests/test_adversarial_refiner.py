"""benchmarks/adversarial_refiner.py: where the refiner may change a crop, what it changes, the
two-sample test, and the wrappers that capture, refine and refuse."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from adstage.types import Placement
from benchmark_module import load_benchmark

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def ar(monkeypatch):  # type: ignore[no-untyped-def]
    return load_benchmark(monkeypatch, "adversarial_refiner")


def _net(ar: Any, bias: tuple[float, float, float]) -> Any:
    """A refiner whose gains are ``bias`` everywhere, whatever it is shown."""
    net = ar.Harmoniser(width=8).eval()
    for p in net.parameters():
        torch.nn.init.zeros_(p)
    with torch.no_grad():
        net.out.bias.copy_(torch.tensor(bias))
    return net


def test_region_is_the_mask_grown_by_the_ring_and_softened(ar) -> None:
    m = torch.zeros(1, 1, 80, 80)
    m[:, :, 30:50, 30:50] = 1.0
    r = ar.region(m)
    assert torch.all(r[m > 0] == 1.0)
    assert r[0, 0, 40, 50 + ar.RING // 2 - 1] == 1.0  # well inside the ring
    assert 0.0 < r[0, 0, 40, 50 + ar.RING] < 1.0  # its softened edge
    assert r[0, 0, 40, 50 + ar.RING + ar.RING // 2 + 1] == 0.0  # beyond it: never changed
    assert r[0, 0, 5, 5] == 0.0


def test_refine_lightens_and_darkens_alike_on_every_channel_inside_the_region_only(ar) -> None:
    net = _net(ar, (-0.6, 0.0, 0.3))  # mean −0.1: a darkening, no tint
    x = torch.full((2, 3, 96, 96), -0.5)
    m = torch.zeros(2, 1, 96, 96)
    m[:, :, 40:56, 40:56] = 1.0
    refined, change = ar.refine(net, x, m)
    inside = m[0, 0] > 0
    assert torch.allclose(change[:, 0], change[:, 1]) and torch.allclose(change[:, 1], change[:, 2])
    assert torch.allclose(
        refined[0, :, inside], torch.full_like(refined[0, :, inside], -0.6), atol=1e-5
    )
    assert torch.equal(refined[:, :, :4, :4], x[:, :, :4, :4])  # far from the product: as it was
    zero = _net(ar, (0.0, 0.0, 0.0))
    assert torch.equal(ar.refine(zero, x, m)[0], x)  # started at the identity


def test_pasted_alpha_is_clipped_to_the_frame_and_hidden_by_what_stands_in_front(ar) -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 3] = np.arange(10, dtype=np.uint8) * 25 + 25  # a ramp: each column its own alpha
    placement = Placement(box=(-5, 2, 5, 12), scale=1.0, fit="footprint", scene_size=(20, 10))
    front = np.zeros((10, 20), bool)
    front[:, 0:2] = True
    alpha = ar.pasted_alpha((10, 20), rgba, placement, front)
    assert alpha.shape == (10, 20)
    assert alpha[5, 3] == pytest.approx(
        225 / 255
    )  # the cut-out's column 8 (5 lie left of the frame)
    assert alpha[5, 2] == pytest.approx(200 / 255)
    assert alpha[5, 1] == 0.0 and alpha[1, 3] == 0.0 and alpha[5, 6] == 0.0


def test_refine_image_changes_the_product_and_its_ring_and_nothing_beyond(ar) -> None:
    image = np.full((240, 160, 3), 180, np.uint8)
    image[:, :, 1] = np.arange(160, dtype=np.uint8)[None, :] + 40  # not uniform: placement shows
    alpha = np.zeros((240, 160), np.float32)
    alpha[40:200, 0:30] = 1.0  # tall, at the frame's left edge: the crop reaches past it
    out = ar.refine_image(_net(ar, (-0.5, -0.5, -0.5)), image, alpha, (0, 40, 30, 200))
    for col in (1, 15, 28):  # the product, darkened by exp(−0.5) where it is
        assert abs(int(out[120, col, 1]) - (col + 40) * np.exp(-0.5)) <= 2
    assert out[120, 33, 0] < 180  # its ring
    # inside the crop square (x up to 127) but beyond the ring (≈ 18 px at 160 = 20 px here)
    assert np.array_equal(out[120, 60:127], image[120, 60:127])
    assert np.array_equal(out[:10], image[:10])


@dataclasses.dataclass
class _Made:
    image: Any


def test_capturing_and_refined_composite_wrap_the_composite(ar) -> None:
    def composite(scene: Any, rgba: Any, placement: Any, **kwargs: Any) -> _Made:
        return _Made(scene.copy())

    scene = np.full((60, 80, 3), 200, np.uint8)
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 3] = 255
    placement = Placement(box=(30, 20, 50, 40), scale=1.0, fit="footprint", scene_size=(80, 60))
    kept: dict[str, list[Any]] = {"crops": [], "masks": [], "names": []}
    ar.capturing(composite, kept, {"name": "p.jpg"})(scene, rgba, placement)
    assert kept["names"] == ["p.jpg"]
    assert kept["crops"][0].shape == (ar.SIDE, ar.SIDE, 3) and kept["masks"][0].dtype == np.uint8
    c = ar.SIDE // 2
    assert kept["masks"][0][c, c] == 255 and kept["masks"][0][2, 2] == 0
    front = np.zeros((60, 80), bool)
    front[20:40, 30:40] = True  # the product's left half stands behind something
    ar.capturing(composite, kept, {"name": "q.jpg"})(scene, rgba, placement, occluder=front)
    assert kept["masks"][1][c, c - 10] == 0 and kept["masks"][1][c, c + 10] == 255
    refine = ar.refined_composite(composite, _net(ar, (-0.4, -0.4, -0.4)))
    made = refine(scene, rgba, placement, light=0.75, shade=1.0)
    assert made.image[30, 40, 0] < 200 and made.image[2, 2, 0] == 200
    exact = refine(scene, rgba, placement, light=0.0, shade=0.0)  # product_exact: as composited
    assert np.array_equal(exact.image, scene)


def test_refusing_stages_only_products_that_were_not_judged(ar, tmp_path: Path) -> None:
    for i, name in enumerate(ar.JUDGED):
        label = tmp_path / name
        label.mkdir()
        key = {"pairs": {"pair-00": {"product": "judged.jpg" if i == 0 else f"j{i}.jpg"}}}
        (label / "key.json").write_text(json.dumps(key))
    judged = ar.judged_products(tmp_path)
    assert judged == {"judged.jpg", "j1.jpg", "j2.jpg"}
    (tmp_path / ar.JUDGED[1] / "key.json").unlink()
    with pytest.raises(SystemExit, match=f"judged set {ar.JUDGED[1]} not found"):
        ar.judged_products(tmp_path)
    current = {"name": ""}
    staged = ar.refusing(lambda path, catalog, k=3, options=None: "staged", judged, current)
    with pytest.raises(RuntimeError, match=r"judged product judged\.jpg"):
        staged("/x/judged.jpg", None)
    assert staged("/x/other.jpg", None) == "staged" and current["name"] == "other.jpg"


def test_two_sample_tells_apart_what_differs_and_not_what_does_not(ar) -> None:
    g = torch.Generator().manual_seed(0)
    real = torch.rand(48, 3, 16, 16, generator=g) * 0.5 - 1.5
    same = torch.rand(48, 3, 16, 16, generator=g) * 0.5 - 1.5
    bright = torch.rand(48, 3, 16, 16, generator=g) * 0.5 - 0.6
    apart = ar.two_sample(real[:32], bright[:32], real[32:], bright[32:], seed=0, steps=40)
    alike = ar.two_sample(real[:32], same[:32], real[32:], same[32:], seed=0, steps=40)
    assert apart >= 0.9
    assert alike <= 0.75


class _Grid(torch.nn.Module):
    """A stand-in refiner whose gains alternate ±0.5 from column to column: a drawn texture."""

    def gains(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        cols = (torch.arange(x.shape[3]) % 2).float() - 0.5
        return cols.view(1, 1, 1, -1).expand(x.shape[0], 3, x.shape[2], -1)


def test_refine_passes_light_and_shade_but_not_texture(ar) -> None:
    x = torch.full((1, 3, 96, 96), -0.5)
    m = torch.ones(1, 1, 96, 96)
    _, change = ar.refine(_Grid(), x, m)
    assert change[0, 0, 48, 16:-16].abs().max() < 0.01  # the grid blurred away (±0.5 drawn)
