"""U²-Net / U²-Netp: architecture, official checkpoint names, loading, ONNX and the segmenter.

Tiny and CPU-only: random U²-Netp weights (seed 0) at 64×64; U²-Net is only built on the meta
device to count its parameters.
"""

from __future__ import annotations

import hashlib
import sys
import types

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from adstage.errors import InputError, UnknownName, WeightsNotFound  # noqa: E402
from adstage.segment.base import SEGMENTERS, Segmenter  # noqa: E402
from adstage.segment.u2net import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    U2Net,
    U2NetSegmenter,
    build_u2net,
    detect_variant,
    export_onnx,
    load_u2net,
    postprocess,
    preprocess,
    run_onnx,
)
from adstage.types import Segmentation  # noqa: E402

# Published sizes (Qin et al. 2020, §4: 176.3 MB and 4.7 MB of float32 weights).
PUBLISHED_PARAMS = {"u2net": 44.0e6, "u2netp": 1.13e6}
# Counted from this implementation, whose state dict matches the official checkpoints.
EXACT_PARAMS = {"u2net": 44_009_869, "u2netp": 1_131_181}

OFFICIAL_KEYS = [
    "stage1.rebnconvin.conv_s1.weight",
    "stage1.rebnconvin.bn_s1.running_mean",
    "stage1.rebnconv1.conv_s1.weight",
    "stage1.rebnconv7.conv_s1.weight",
    "stage1.rebnconv1d.bn_s1.running_var",
    "stage2.rebnconv6.conv_s1.bias",
    "stage5.rebnconv4.conv_s1.weight",
    "stage6.rebnconv3d.conv_s1.weight",
    "stage5d.rebnconv1d.conv_s1.weight",
    "stage4d.rebnconv4.bn_s1.weight",
    "stage1d.rebnconv6d.conv_s1.weight",
    "side1.weight",
    "side6.bias",
    "outconv.weight",
    "outconv.bias",
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models: OpenMP hand-offs cost more than they save, and on a busy CPU two spinning
    threads make a 64×64 forward pass ~70× slower. Restored afterwards for other test modules."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _seeded_u2netp() -> U2Net:
    torch.manual_seed(0)
    model = build_u2net("u2netp")
    # Non-trivial batch-norm statistics, so that loading them is actually tested.
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0.0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope="module")
def model() -> U2Net:
    return _seeded_u2netp()


@pytest.fixture(scope="module")
def weights_file(model: U2Net, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("u2net") / "u2netp.pth"
    torch.save(model.state_dict(), path)
    return path


def _run(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    with torch.inference_mode():
        return model(x)


# --- architecture ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(64, 64), (50, 70)])
def test_outputs_fused_and_six_sides_at_input_size(model: U2Net, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    outputs = _run(model, torch.randn(2, 3, *size))
    assert len(outputs) == 7  # fused, side1 … side6
    for out in outputs:
        assert out.shape == (2, 1, *size)
        assert out.dtype == torch.float32
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0  # sigmoid
    assert not torch.allclose(outputs[0], outputs[1])  # the fused map is its own output


@pytest.mark.parametrize("variant", ["u2net", "u2netp"])
def test_official_key_names_and_parameter_count(variant: str) -> None:
    with torch.device("meta"):
        net = U2Net(variant)
    keys = net.state_dict()
    for key in OFFICIAL_KEYS:
        assert key in keys, key
    # 6 encoder + 5 decoder stages, no others; pools hold no parameters.
    stages = {k.split(".")[0] for k in keys if k.startswith("stage")}
    assert stages == {f"stage{i}" for i in range(1, 7)} | {f"stage{i}d" for i in range(1, 6)}
    count = sum(p.numel() for p in net.parameters())
    assert count == EXACT_PARAMS[variant]
    assert abs(count - PUBLISHED_PARAMS[variant]) / PUBLISHED_PARAMS[variant] < 0.02


def test_channel_configuration_of_table_1() -> None:
    with torch.device("meta"):
        full, small = U2Net("u2net").state_dict(), U2Net("u2netp").state_dict()
    assert tuple(full["stage1.rebnconvin.conv_s1.weight"].shape) == (64, 3, 3, 3)
    assert tuple(full["stage1.rebnconv1.conv_s1.weight"].shape) == (32, 64, 3, 3)
    assert tuple(full["stage5d.rebnconvin.conv_s1.weight"].shape) == (512, 1024, 3, 3)
    assert tuple(full["stage1d.rebnconv1.conv_s1.weight"].shape) == (16, 64, 3, 3)
    assert tuple(full["side3.weight"].shape) == (1, 128, 3, 3)
    assert tuple(full["outconv.weight"].shape) == (1, 6, 1, 1)
    assert tuple(small["stage6.rebnconvin.conv_s1.weight"].shape) == (64, 64, 3, 3)
    assert tuple(small["stage5d.rebnconvin.conv_s1.weight"].shape) == (64, 128, 3, 3)
    assert detect_variant(full) == "u2net" and detect_variant(small) == "u2netp"


def test_rsu_4f_dilations_and_rsu_bottom_dilation(model: U2Net) -> None:
    f = model.stage5
    encoder = [f.get_submodule(f"rebnconv{i}").conv_s1.dilation[0] for i in (1, 2, 3, 4)]
    decoder = [f.get_submodule(f"rebnconv{i}d").conv_s1.dilation[0] for i in (3, 2, 1)]
    assert encoder == [1, 2, 4, 8] and decoder == [4, 2, 1]
    assert model.stage1.rebnconv7.conv_s1.dilation[0] == 2
    assert model.stage1.rebnconv6.conv_s1.dilation[0] == 1


# --- loading -----------------------------------------------------------------------------------


def test_state_dict_round_trip_is_strict_and_exact(model: U2Net, weights_file) -> None:
    loaded = load_u2net(weights_file, variant="u2netp")
    assert not loaded.training
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for a, b in zip(_run(model, x), _run(loaded, x), strict=True):
        assert torch.equal(a, b)


def test_module_prefix_and_nested_state_dict_are_accepted(model: U2Net, tmp_path) -> None:
    prefixed = {f"module.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path / "dp.pth"
    torch.save({"state_dict": prefixed}, path)
    loaded = load_u2net(path, variant="u2netp")
    assert torch.equal(loaded.outconv.weight, model.outconv.weight)
    assert torch.equal(
        loaded.stage3.rebnconv2.bn_s1.running_var, model.stage3.rebnconv2.bn_s1.running_var
    )


def test_checkpoint_without_num_batches_tracked_loads(model: U2Net, tmp_path) -> None:
    # The official files were saved by PyTorch 0.4.0, before batch norm had this buffer.
    old = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(old, path)
    assert torch.equal(load_u2net(path, variant="u2netp").side2.weight, model.side2.weight)


def test_missing_key_raises_a_clear_error(model: U2Net, tmp_path) -> None:
    state = dict(model.state_dict())
    del state["stage3.rebnconv2.conv_s1.weight"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(InputError, match="missing keys") as info:
        load_u2net(path, variant="u2netp")
    message = str(info.value)
    assert "stage3.rebnconv2.conv_s1.weight" in message
    assert "unexpected keys" in message and "extra.weight" in message
    assert "broken.pth" in message


def test_wrong_variant_says_which_to_pass(weights_file) -> None:
    with pytest.raises(InputError, match=r"variant='u2netp'"):
        load_u2net(weights_file, variant="u2net")


def test_missing_unreadable_and_bad_arguments(tmp_path) -> None:
    with pytest.raises(WeightsNotFound, match=r"nope\.pth") as info:
        load_u2net(tmp_path / "nope.pth", variant="u2netp")
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(InputError, match="directory"):
        load_u2net(tmp_path, variant="u2netp")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="could not read"):
        load_u2net(garbage, variant="u2netp")
    with pytest.raises(InputError, match="variant"):
        load_u2net(garbage, variant="u2net-large")


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


# --- ONNX --------------------------------------------------------------------------------------


def test_onnx_export_matches_torch(model: U2Net, tmp_path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    path = export_onnx(model, tmp_path / "u2netp.onnx", input_size=64)
    generator = torch.Generator().manual_seed(0)
    for shape in [(1, 3, 64, 64), (2, 3, 48, 40)]:  # the traced size and dynamic axes
        x = torch.randn(*shape, generator=generator)
        expected = _run(model, x)[0].numpy()
        got = run_onnx(path, x.numpy())
        assert got.shape == expected.shape
        assert float(np.abs(got - expected).max()) < 1e-4


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
    def resolve(name: str, path: object = None) -> object:
        raise UnknownName(f"unknown weights {name!r}")

    stub = types.ModuleType("adstage.weights")
    stub.resolve = resolve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "adstage.weights", stub)
    with pytest.raises(WeightsNotFound, match=r"weights=PATH.*u2netp\.pth"):
        U2NetSegmenter(variant="u2netp", input_size=64)(_image())


def test_segmenter_without_weights_uses_the_manifest(
    monkeypatch: pytest.MonkeyPatch, weights_file
) -> None:
    calls = []

    def resolve(name: str, path: object = None) -> object:
        calls.append(name)
        return weights_file

    stub = types.ModuleType("adstage.weights")
    stub.resolve = resolve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "adstage.weights", stub)
    out = U2NetSegmenter(variant="u2netp", input_size=64)(_image())
    assert calls == ["u2netp"]
    assert out.provenance["weights"] == str(weights_file)
