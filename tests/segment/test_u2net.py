"""The ``u2net`` segmenter: the official pre- and post-processing, weights, runtimes, registry.

Tiny and CPU-only: random U²-Netp weights (seed 0) at 64×64 (the network itself is tested in
``tests/models/test_u2net_model.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from adstage.errors import InputError, UnknownName, WeightsNotFound  # noqa: E402
from adstage.models.u2net import U2Net, build_u2net, export_onnx  # noqa: E402
from adstage.segment import u2net as backend  # noqa: E402
from adstage.segment.base import SEGMENTERS, Segmenter  # noqa: E402
from adstage.segment.u2net import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    U2NetSegmenter,
    postprocess,
    preprocess,
)
from adstage.types import Segmentation  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model() -> U2Net:
    torch.manual_seed(0)
    return build_u2net("u2netp")


@pytest.fixture(scope="module")
def weights_file(model: U2Net, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("u2net") / "u2netp.pth"
    torch.save(model.state_dict(), path)
    return path


def _run(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    with torch.inference_mode():
        return model(x)


# --- pre- and post-processing ------------------------------------------------------------------


def test_preprocess_divides_by_max_then_imagenet_normalises() -> None:
    grey = np.full((30, 40, 3), 128, np.uint8)  # max-division makes it white
    x = preprocess(grey, 32)
    assert x.shape == (1, 3, 32, 32) and x.dtype == torch.float32
    expected = (1.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(x[0, :, 5, 7].numpy(), expected, rtol=1e-6)
    black = preprocess(np.zeros((10, 10, 3), np.uint8), 16)
    assert torch.isfinite(black).all()
    np.testing.assert_allclose(
        black[0, :, 0, 0].numpy(), -np.array(IMAGENET_MEAN) / np.array(IMAGENET_STD), rtol=1e-6
    )


def test_postprocess_min_max_normalises_and_resizes() -> None:
    fused = torch.linspace(0.2, 0.6, 16).reshape(1, 1, 4, 4)
    alpha = postprocess(fused, (4, 4))
    assert alpha.dtype == np.float32
    assert alpha.min() == pytest.approx(0.0) and alpha.max() == pytest.approx(1.0)
    assert postprocess(fused, (9, 13)).shape == (9, 13)
    flat = postprocess(np.full((1, 1, 4, 4), 0.3, np.float32), (2, 2))
    np.testing.assert_allclose(flat, 0.3, rtol=1e-6)  # a constant map is kept as it is


# --- the segmenter -----------------------------------------------------------------------------


def _image(h: int = 50, w: int = 70) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_segmenter_returns_soft_alpha_at_image_size(weights_file) -> None:
    seg = U2NetSegmenter(weights=str(weights_file), variant="u2netp", input_size=64)
    assert isinstance(seg, Segmenter) and seg.name == "u2net"
    out = seg(_image())
    assert isinstance(out, Segmentation)
    assert out.alpha.shape == (50, 70) and out.alpha.dtype == np.float32
    assert float(out.alpha.min()) >= 0.0 and float(out.alpha.max()) <= 1.0
    assert out.alpha.max() - out.alpha.min() > 0.5  # min-max normalised, then resized
    assert out.backend == "u2netp"
    sha = hashlib.sha256(weights_file.read_bytes()).hexdigest()
    assert out.provenance["input_size"] == 64
    assert out.provenance["weights"] == str(weights_file)
    assert out.provenance["weights_sha256"] == sha
    assert out.provenance["runtime"] == "torch"


def test_segmenter_loads_once_and_is_deterministic(weights_file) -> None:
    seg = U2NetSegmenter(weights=weights_file, variant="u2netp", input_size=64, threads=1)
    first = seg(_image())
    runner = seg._runner
    torch.set_num_threads(2)
    try:
        second = seg(_image())
        assert torch.get_num_threads() == 2  # the process setting is restored after the call
    finally:
        torch.set_num_threads(1)
    assert seg._runner is runner
    np.testing.assert_array_equal(first.alpha, second.alpha)


def test_segmenter_matches_the_official_pipeline(model: U2Net, weights_file) -> None:
    """The official u2net_test.py steps: resize, /max, normalise, d0, normPRED, PIL resize back."""
    image = _image(40, 60)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
    x = torch.nn.functional.interpolate(x, size=(64, 64), mode="bilinear", antialias=True)
    x = x / x.max()
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    d0 = _run(model, (x - mean) / std)[0]
    d0 = (d0 - d0.min()) / (d0.max() - d0.min())
    pred = Image.fromarray(d0[0, 0].numpy())  # mode "F"
    expected = np.asarray(pred.resize((60, 40), Image.BILINEAR))
    got = U2NetSegmenter(weights=weights_file, variant="u2netp", input_size=64)(image).alpha
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_segmenter_runs_an_exported_onnx_file(model: U2Net, weights_file, tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    onnx_path = export_onnx(model, tmp_path / "u2netp.onnx", input_size=64)
    torch_alpha = U2NetSegmenter(weights=weights_file, variant="u2netp", input_size=64)(_image())
    onnx_out = U2NetSegmenter(weights=onnx_path, variant="u2netp", input_size=64)(_image())
    assert onnx_out.provenance["runtime"] == "onnxruntime"
    assert float(np.abs(onnx_out.alpha - torch_alpha.alpha).max()) < 1e-4


def test_registry_creates_the_segmenter(weights_file) -> None:
    seg = SEGMENTERS.create("u2net", weights=weights_file, variant="u2netp", input_size=64)
    assert isinstance(seg, U2NetSegmenter)


def test_segmenter_validates_its_options() -> None:
    with pytest.raises(InputError, match="variant"):
        U2NetSegmenter(variant="u3net")
    with pytest.raises(InputError, match="input_size"):
        U2NetSegmenter(input_size=0)
    with pytest.raises(InputError, match="threads"):
        U2NetSegmenter(threads=0)


def test_segmenter_missing_weights_file(tmp_path) -> None:
    seg = U2NetSegmenter(weights=tmp_path / "u2netp.pth", variant="u2netp", input_size=64)
    with pytest.raises(WeightsNotFound, match="weights=PATH"):
        seg(_image())


def test_segmenter_without_weights_and_no_manifest_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(name: str, path: object = None, **kwargs: object) -> object:
        raise UnknownName(f"unknown weights {name!r}")

    monkeypatch.setattr(backend, "resolve", resolve)
    with pytest.raises(WeightsNotFound, match=r"weights=PATH.*u2netp\.pth"):
        U2NetSegmenter(variant="u2netp", input_size=64)(_image())


def test_segmenter_without_installed_weights_names_the_fetch_command() -> None:
    """The default run's weights cache is empty (tests/conftest.py)."""
    with pytest.raises(WeightsNotFound, match="adstage weights fetch u2net"):
        SEGMENTERS.create("u2net")(_image())
    with pytest.raises(WeightsNotFound, match="adstage weights fetch u2netp"):
        SEGMENTERS.create("u2net", variant="u2netp")(_image())


@pytest.fixture
def installed_onnx(model: U2Net, tmp_path, monkeypatch: pytest.MonkeyPatch):
    """A random U²-Netp exported to ONNX and installed in a weights cache as the manifest row
    ``u2netp``, with that file's sha256: what ``adstage weights fetch u2netp`` leaves behind."""
    pytest.importorskip("onnx")
    from adstage import weights

    cache = tmp_path / "cache"
    path = export_onnx(model, cache / "u2netp" / "u2netp.onnx", input_size=64)
    data = path.read_bytes()
    spec = dataclasses.replace(
        weights.MANIFEST["u2netp"], sha256=hashlib.sha256(data).hexdigest(), size=len(data)
    )
    monkeypatch.setitem(weights.MANIFEST, "u2netp", spec)
    monkeypatch.setenv("ADSTAGE_WEIGHTS", str(cache))
    return path, spec.sha256


def test_segmenter_uses_the_installed_onnx_weights(installed_onnx, weights_file) -> None:
    pytest.importorskip("onnxruntime")
    path, sha = installed_onnx
    out = SEGMENTERS.create("u2net", variant="u2netp", input_size=64)(_image())
    assert out.backend == "u2netp"
    assert out.provenance["runtime"] == "onnxruntime"
    assert out.provenance["weights"] == str(path) and out.provenance["weights_sha256"] == sha
    reference = U2NetSegmenter(weights=weights_file, variant="u2netp", input_size=64)(_image())
    assert float(np.abs(out.alpha - reference.alpha).max()) < 1e-4


def test_segmenter_runs_onnx_weights_in_torch_on_request(installed_onnx, weights_file) -> None:
    _, sha = installed_onnx
    seg = U2NetSegmenter(variant="u2netp", input_size=64, runtime="torch")
    out = seg(_image())
    assert out.provenance["runtime"] == "torch" and out.provenance["weights_sha256"] == sha
    reference = U2NetSegmenter(weights=weights_file, variant="u2netp", input_size=64)(_image())
    assert float(np.abs(out.alpha - reference.alpha).max()) < 1e-4


def test_segmenter_falls_back_to_torch_without_onnxruntime(
    installed_onnx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend, "ort_available", lambda: False)
    out = U2NetSegmenter(variant="u2netp", input_size=64)(_image())
    assert out.provenance["runtime"] == "torch"


def test_runtime_option_is_checked(weights_file) -> None:
    with pytest.raises(InputError, match="runtime"):
        U2NetSegmenter(runtime="tensorrt")  # type: ignore[arg-type]
    seg = U2NetSegmenter(weights=weights_file, variant="u2netp", runtime="onnxruntime")
    with pytest.raises(InputError, match=r"needs an \.onnx file"):
        seg(_image())
