"""The FID Inception-V3: input range, reading its blocks, the loss feature maps (tiny stand-in).

The stand-in has the layout of the ``inception-v3-fid`` TorchScript file (``WrapNet.net.layers``,
a named ``Sequential`` ending in ``mixed_9``, ``mixed_10``, ``pool2``) and is scripted like it.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from adstage.errors import InputError, WeightsNotFound  # noqa: E402
from adstage.models.features import InceptionFeatures, TinyFeatures, feature_net  # noqa: E402
from adstage.models.inception import (  # noqa: E402
    inception_block,
    load_inception,
    named_blocks,
    normalize,
    to_tensor,
)


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(
            OrderedDict(
                conv_1=torch.nn.Conv2d(3, 8, 3, stride=2),
                conv_2=torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3), torch.nn.ReLU()),
                mixed_9=torch.nn.Sequential(torch.nn.Conv2d(8, 16, 3, stride=4), torch.nn.ReLU()),
                mixed_10=torch.nn.Sequential(torch.nn.Conv2d(16, 16, 1), torch.nn.ReLU()),
                pool2=torch.nn.AdaptiveAvgPool2d(1),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).reshape(-1, 16)


class _Wrap(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = _Net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.fixture(scope="module")
def graph(tmp_path_factory) -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("fid") / "tiny-fid.pt"
    torch.jit.script(_Wrap().eval()).save(str(path))
    return load_inception(path)


def test_to_tensor_matches_fid_helper_range() -> None:
    batch = np.zeros((1, 2, 3, 3), np.uint8)
    batch[0, 0] = 255
    batch[0, 1] = (0, 128, 7)
    x = to_tensor(batch)
    assert tuple(x.shape) == (1, 3, 2, 3) and x.dtype == torch.float32
    # fid-helper: v/255 scaled to INPUT_RANGE_TF = (-1, 0.9921875) — the same as (v - 128) / 128
    ref = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255 * (0.9921875 + 1) - 1
    torch.testing.assert_close(x, ref, rtol=0, atol=1e-6)
    assert x.max().item() == 0.9921875 and x.min().item() == -1.0
    assert normalize(np.float32(128.0)) == 0.0  # arrays and tensors alike


def test_load_inception_needs_the_file(tmp_path) -> None:
    with pytest.raises(WeightsNotFound, match="inception-v3-fid"):
        load_inception()
    with pytest.raises(InputError):
        load_inception(tmp_path / "missing.pt")


def test_inception_block_reads_the_graph(graph) -> None:
    assert [name for name, _ in named_blocks(graph)][-3:] == ["mixed_9", "mixed_10", "pool2"]
    assert named_blocks(torch.nn.Linear(2, 2)) == []
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.inference_mode():
        # the last block, average-pooled, is the network's own output (pool3)
        torch.testing.assert_close(inception_block(graph, x, "mixed_10"), graph(x))
        assert inception_block(graph, x, "mixed_9").shape == (2, 16)
        with pytest.raises(InputError, match="mixed_8"):
            inception_block(graph, x, "mixed_8")


def test_inception_features_keep_the_maps_of_the_blocks(graph) -> None:
    features = InceptionFeatures(graph, blocks=("conv_2", "mixed_9"))
    assert [name for name, _ in features.layers] == ["conv_1", "conv_2", "mixed_9"]
    assert not any(p.requires_grad for p in graph.parameters())  # frozen
    x = torch.rand(2, 3, 64, 64)
    maps = features(x)
    assert [tuple(m.shape) for m in maps] == [(2, 8, 29, 29), (2, 16, 7, 7)]
    y = (x * 255.0 - 128.0) / 128.0  # [0, 1] RGB → the graph's range
    with torch.inference_mode():
        torch.testing.assert_close(maps[1].mean(dim=(2, 3)), inception_block(graph, y, "mixed_9"))
    with pytest.raises(InputError, match="blocks"):
        InceptionFeatures(graph, blocks=("mixed_8",))
    with pytest.raises(InputError, match="blocks"):
        InceptionFeatures(graph, blocks=())


def test_feature_net_by_name() -> None:
    tiny = feature_net("tiny")
    assert isinstance(tiny, TinyFeatures) and not tiny.training
    assert len(tiny(torch.rand(1, 3, 16, 16))) == 3
    with pytest.raises(InputError, match="features"):
        feature_net("vgg")
