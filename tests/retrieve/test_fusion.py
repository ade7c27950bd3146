"""The fused embedder: weighting, flip averaging, views, validation (tiny networks + real ones)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from adstage.datasets.synthetic import SyntheticCatalog  # noqa: E402
from adstage.errors import InputError, WeightsNotFound  # noqa: E402
from adstage.models.efficientnet import EfficientNetLite  # noqa: E402
from adstage.models.efficientnet import to_tensor as efficientnet_tensor  # noqa: E402
from adstage.models.inception import inception_block  # noqa: E402
from adstage.models.inception import to_tensor as inception_tensor  # noqa: E402
from adstage.retrieve.base import EMBEDDERS, l2_normalize, prepare  # noqa: E402
from adstage.retrieve.efficientnet import EfficientNetLite0  # noqa: E402
from adstage.retrieve.fusion import Fusion  # noqa: E402
from adstage.retrieve.inception import InceptionV3, to_input  # noqa: E402

DIM = 2048 + 1280


class _Layers(torch.nn.Module):
    """Stand-in for the FID graph's ``net.layers``: named blocks, ``mixed_9`` → ``mixed_10``."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = torch.nn.Sequential(
            OrderedDict(
                conv=torch.nn.Conv2d(3, 16, 5, stride=16),
                relu=torch.nn.ReLU(),
                mixed_9=torch.nn.Sequential(torch.nn.Conv2d(16, 2048, 1), torch.nn.ReLU()),
                mixed_10=torch.nn.Sequential(
                    torch.nn.Conv2d(2048, 2048, 3, padding=1, groups=2048), torch.nn.ReLU()
                ),
                pool2=torch.nn.AdaptiveAvgPool2d(1),
            )
        )


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = _Layers().seq

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if img.shape[1] != 3 or img.shape[2] != 299 or img.shape[3] != 299:
            raise RuntimeError("expected N×3×299×299")
        return self.layers(img).reshape(-1, 2048)


class _TinyFid(torch.nn.Module):
    """Same layout as ``inception-v3-fid`` (``WrapNet.net.layers``), same contract, tiny."""

    def __init__(self) -> None:
        super().__init__()
        self.net = _Net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _Flat(torch.nn.Module):
    """An Inception stand-in without ``net.layers``: pool3 works, ``mixed_9`` cannot be read."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(3 * 4 * 4, 2048)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.adaptive_avg_pool2d(x, 4).reshape(x.shape[0], -1)
        return torch.relu(self.proj(y))


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Any]:
    """Seeded tiny Inception (TorchScript) and random-BN EfficientNet-Lite0 files."""
    folder = tmp_path_factory.mktemp("fusion")
    torch.manual_seed(0)
    fid = _TinyFid().eval()
    torch.jit.script(fid).save(str(folder / "fid.pt"))
    torch.jit.script(_Flat().eval()).save(str(folder / "flat.pt"))
    model = EfficientNetLite()
    g = torch.Generator().manual_seed(0)
    state = model.state_dict()
    for key, value in state.items():
        if key.endswith("running_mean") or key.endswith(".bias"):
            value.copy_(0.1 * torch.randn(value.shape, generator=g))
        elif key.endswith("running_var") or (key.endswith(".weight") and value.ndim == 1):
            value.copy_(0.5 + torch.rand(value.shape, generator=g))
    torch.save(state, folder / "lite0.pth")
    return {
        "inception_weights": str(folder / "fid.pt"),
        "efficientnet_weights": str(folder / "lite0.pth"),
        "flat": str(folder / "flat.pt"),
        "eager": fid,  # the same tiny network, not scripted: the reference runs it
    }


@pytest.fixture(scope="module")
def products() -> tuple[list[np.ndarray], list[np.ndarray]]:
    items = list(SyntheticCatalog(5, seed=1, staged_fraction=0.0, size=(120, 96)))
    return [it.image for it in items], [it.mask for it in items]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _fusion(weights: dict[str, Any], **options) -> Fusion:
    return Fusion(
        inception_weights=weights["inception_weights"],
        efficientnet_weights=weights["efficientnet_weights"],
        **options,
    )


def _reference(weights, images, masks, *, share=0.6, views=("cutout", "whole"), flip=True):
    """The documented formula, one picture at a time, from the public building blocks."""
    fid = weights["eager"]
    lite = EfficientNetLite0(weights=weights["efficientnet_weights"]).model

    def inc(picture: np.ndarray) -> np.ndarray:
        x = inception_tensor(to_input(picture)[None])
        with torch.inference_mode():
            y = fid.net.layers[:3](x)  # conv, relu, mixed_9
        return y.mean(dim=(2, 3)).numpy()

    def eff(picture: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return lite.features(efficientnet_tensor([picture])).numpy()

    rows = []
    for image, mask in zip(images, masks, strict=True):
        blocks = []
        for net, weight in ((inc, share), (eff, 1 - share)):
            for view in views:
                picture = prepare(image, mask, mode=view)
                f = l2_normalize(net(picture))
                if flip:
                    f = l2_normalize(f + l2_normalize(net(np.ascontiguousarray(picture[:, ::-1]))))
                blocks.append(np.sqrt(weight / len(views)) * f)
        rows.append(np.hstack(blocks)[0])
    return np.asarray(rows, np.float32)


def test_matches_the_documented_formula(weights, products) -> None:
    images, masks = products
    emb = _fusion(weights, batch_size=2, threads=1)
    torch.set_num_threads(2)  # not the embedder's setting, so a leak would show
    try:
        out = emb.embed(images, masks)
        assert torch.get_num_threads() == 2  # the process setting is restored after the call
    finally:
        torch.set_num_threads(1)
    assert emb.dim == 2 * DIM and out.shape == (5, 2 * DIM) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out, _reference(weights, images, masks), atol=2e-5)
    # the blocks carry the shares: Inception 0.6 of the squared norm, EfficientNet 0.4
    np.testing.assert_allclose((out[:, : 2 * 2048] ** 2).sum(1), 0.6, rtol=1e-4)
    # batching does not change the result
    np.testing.assert_allclose(_fusion(weights, batch_size=8).embed(images, masks), out, atol=1e-5)


def test_options_change_what_is_computed(weights, products) -> None:
    images, masks = products
    one = _fusion(weights, views=("whole",), flip=False, inception_share=0.3)
    out = one.embed(images, masks)
    assert one.dim == DIM and out.shape == (5, DIM)
    ref = _reference(weights, images, masks, share=0.3, views=("whole",), flip=False)
    np.testing.assert_allclose(out, ref, atol=2e-5)
    assert not np.allclose(out, _fusion(weights, views=("whole",)).embed(images, masks), atol=1e-3)
    cut = _fusion(weights, views=("cutout",), flip=False).embed(images, masks)
    assert not np.allclose(cut, _fusion(weights, views=("whole",), flip=False).embed(images, masks))


def test_flip_makes_the_embedding_mirror_invariant(weights) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 60, 3), np.uint8)  # padded 10 rows above and below only
    mirror = np.ascontiguousarray(image[:, ::-1])
    flipped = _fusion(weights, views=("whole",)).embed([image, mirror])
    np.testing.assert_allclose(flipped[0], flipped[1], atol=1e-5)
    plain = _fusion(weights, views=("whole",), flip=False).embed([image, mirror])
    assert abs(float(plain[0] @ plain[1]) - 1.0) > 1e-4


def test_pool3_layer_is_the_inception_embedder(weights, products) -> None:
    images, masks = products
    emb = _fusion(weights, views=("cutout",), flip=False, inception_layer="pool3")
    inception_part = emb.parts(images, masks)[("inception-v3", "cutout")]
    ref = InceptionV3(weights=weights["inception_weights"]).embed(images, masks)
    np.testing.assert_allclose(inception_part, ref, atol=1e-5)
    mixed_9 = _fusion(weights, views=("cutout",), flip=False).parts(images, masks)
    assert not np.allclose(mixed_9[("inception-v3", "cutout")], ref, atol=1e-3)


def test_graph_without_blocks_is_refused(weights) -> None:
    emb = Fusion(
        inception_weights=weights["flat"], efficientnet_weights=weights["efficientnet_weights"]
    )
    with pytest.raises(InputError, match=r"net\.layers\.mixed_9"):
        emb.embed([np.zeros((32, 32, 3), np.uint8)])
    pool3 = Fusion(
        inception_weights=weights["flat"],
        efficientnet_weights=weights["efficientnet_weights"],
        inception_layer="pool3",
    )
    assert pool3.embed([np.zeros((32, 32, 3), np.uint8)]).shape == (1, 2 * DIM)


def test_empty_and_mismatched_inputs(weights) -> None:
    emb = _fusion(weights)
    assert emb.embed([]).shape == (0, 2 * DIM)
    with pytest.raises(InputError, match="masks"):
        emb.embed([np.zeros((8, 8, 3), np.uint8)], [None, None])


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"views": ()}, "views"),
        ({"views": "cutout"}, "views"),
        ({"views": ("crop",)}, "views"),
        ({"views": ("cutout", "cutout")}, "views"),
        ({"flip": 1}, "flip"),
        ({"inception_share": 0}, "inception_share"),
        ({"inception_share": 1.0}, "inception_share"),
        ({"inception_share": True}, "inception_share"),
        ({"inception_layer": "mixed_8"}, "inception_layer"),
        ({"batch_size": 0}, "batch_size"),
        ({"threads": 0}, "threads"),
    ],
)
def test_validation_names_the_argument(options, argument) -> None:
    with pytest.raises(InputError, match=argument):
        Fusion(**options)


def test_registry_keyword_only_and_missing_weights() -> None:
    assert EMBEDDERS.resolve("fusion") is Fusion
    emb = EMBEDDERS.create("fusion")
    assert isinstance(emb, Fusion) and emb.name == "fusion" and emb.dim == 2 * DIM
    assert EMBEDDERS.create("fusion", views=("whole",)).dim == DIM
    with pytest.raises(TypeError):
        Fusion("weights.pt")  # type: ignore[misc]
    with pytest.raises(WeightsNotFound, match="inception-v3-fid"):
        emb.embed([np.zeros((32, 32, 3), np.uint8)])


# --- the real networks -------------------------------------------------------------------------


@pytest.mark.weights
def test_real_weights() -> None:
    try:
        emb = Fusion(threads=2)
        inception = InceptionV3(threads=2)
        inception.load()
        EfficientNetLite0().model  # noqa: B018
    except WeightsNotFound:
        pytest.skip("adstage weights fetch inception-v3-fid efficientnet-lite0")
    catalog = list(SyntheticCatalog(48, seed=3, staged_fraction=0.0, size=(192, 192)))
    chairs = [it for it in catalog if it.category.endswith("Chairs")][:2]
    vase = next(it for it in catalog if it.category.endswith("Vases"))
    picked = [*chairs, vase]
    images, masks = [it.image for it in picked], [it.mask for it in picked]
    e = emb.embed(images, masks)
    assert e.shape == (3, 6656) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2] and e[0] @ e[1] > e[1] @ e[2]
    # read layer by layer, the FID graph's last block is its own pool3 output
    x = inception_tensor(inception.inputs(images, masks))
    with torch.inference_mode():
        torch.testing.assert_close(
            inception_block(inception.load(), x, "mixed_10"),
            inception.load()(x),
            atol=1e-4,
            rtol=1e-4,
        )
