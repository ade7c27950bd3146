"""The ``efficientnet-lite0`` embedder: features, logits, batching, registry, real weights."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from adstage.errors import InputError  # noqa: E402
from adstage.models.efficientnet import EfficientNetLite  # noqa: E402
from adstage.retrieve.base import EMBEDDERS  # noqa: E402
from adstage.retrieve.efficientnet import EfficientNetLite0  # noqa: E402


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> str:
    """Seeded random weights (the network itself is tested in tests/models)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "lite0-random.pth"
    torch.save(EfficientNetLite().state_dict(), path)
    return str(path)


def test_embedder(random_weights: str) -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (90, 60, 3), np.uint8) for _ in range(3)]
    mask = np.zeros((90, 60), np.float32)
    mask[20:70, 10:50] = 1
    threads = torch.get_num_threads()
    emb = EfficientNetLite0(weights=random_weights, batch_size=2, threads=1)
    out = emb.embed(images, [mask, None, mask])
    assert torch.get_num_threads() == threads
    assert out.shape == (3, 1280) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    feats = emb.features(images, [mask, None, mask])
    assert np.allclose(out, feats / np.linalg.norm(feats, axis=1, keepdims=True), atol=1e-6)
    assert emb.logits(images[:1]).shape == (1, 1000)
    # batching does not change the result
    one = EfficientNetLite0(weights=random_weights, batch_size=1).embed(images, [mask, None, mask])
    assert np.allclose(out, one, atol=1e-5)
    assert emb.embed([]).shape == (0, 1280)
    assert emb.name == "efficientnet-lite0" and emb.dim == 1280


def test_registry_and_validation() -> None:
    assert EMBEDDERS.resolve("efficientnet-lite0") is EfficientNetLite0
    with pytest.raises(InputError, match="mode"):
        EfficientNetLite0(mode="crop")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="batch_size"):
        EfficientNetLite0(batch_size=0)
    emb = EfficientNetLite0(weights="unused")
    with pytest.raises(InputError, match="masks"):
        emb.embed([np.zeros((8, 8, 3), np.uint8)], [None, None])


# --- the published weights -------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> EfficientNetLite0:
    from adstage.weights import resolve

    try:
        path = resolve("efficientnet-lite0")
    except Exception as exc:  # WeightsNotFound
        pytest.skip(str(exc))
    return EfficientNetLite0(weights=str(path), mode="whole", threads=2)


@pytest.mark.weights
def test_real_weights_classify_sample_photos(real: EfficientNetLite0) -> None:
    data = pytest.importorskip("skimage.data")
    logits = real.logits([data.chelsea(), data.coffee()])
    top5 = np.argsort(-logits, axis=1)[:, :5]
    # Chelsea: 285 Egyptian cat, 281 tabby, 282 tiger cat (measured top-3, in that order).
    assert top5[0, 0] in range(281, 286)
    assert {281, 282, 285} <= set(top5[0, :3])
    # Coffee: 967 espresso, then 968 cup (measured); 504 coffee mug is in the top 5.
    assert top5[1, 0] == 967
    assert {967, 968, 504} <= set(top5[1])
