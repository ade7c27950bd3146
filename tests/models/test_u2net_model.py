"""U²-Net / U²-Netp networks: architecture, official checkpoint names, loading, ONNX.

Tiny and CPU-only: random U²-Netp weights (seed 0) at 64×64; U²-Net is only built on the meta
device to count its parameters.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from adstage.errors import InputError, WeightsNotFound  # noqa: E402
from adstage.models.u2net import (  # noqa: E402
    OnnxU2Net,
    U2Net,
    build_u2net,
    detect_variant,
    export_onnx,
    load_u2net,
    load_u2net_onnx,
    run_onnx,
)

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


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


# --- weights from ONNX ---------------------------------------------------------------------------


def _with_random_batch_norm(model: U2Net) -> U2Net:
    """Random batch-norm scales and shifts too, so the exporter's conv–BN folding is exercised."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ".bn_s1." in name:
                base = 1.0 if name.endswith("weight") else 0.0
                param.copy_(base + 0.2 * torch.randn(param.shape, generator=generator))
    return model.eval()


def test_load_u2net_onnx_maps_the_folded_convolutions(tmp_path) -> None:
    """No real weights: a random U²-Netp exported to ONNX (batch norm folded into anonymous
    convs, as in the authors' u2netp.onnx) loads back into the PyTorch port exactly."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    source = _with_random_batch_norm(_seeded_u2netp())
    path = export_onnx(source, tmp_path / "u2netp.onnx", input_size=64)
    loaded = load_u2net_onnx(path)  # the variant is read from the file
    assert isinstance(loaded, U2Net) and loaded.variant == "u2netp" and not loaded.training
    generator = torch.Generator().manual_seed(2)
    for shape in [(1, 3, 64, 64), (1, 3, 48, 72)]:
        x = torch.randn(*shape, generator=generator)
        expected = _run(source, x)
        got = _run(loaded, x)
        for e, g in zip(expected, got, strict=True):  # the fused map and all six sides
            assert float((e - g).abs().max()) < 1e-5
        onnx_fused = run_onnx(path, x.numpy())
        assert float(np.abs(onnx_fused - got[0].numpy()).max()) < 1e-4
    # Its state dict is an ordinary checkpoint.
    pth = tmp_path / "from-onnx.pth"
    torch.save(loaded.state_dict(), pth)
    x = torch.randn(1, 3, 64, 64, generator=generator)
    torch.testing.assert_close(_run(load_u2net(pth, variant="u2netp"), x), _run(loaded, x))


def test_load_u2net_onnx_rejects_the_wrong_file(model: U2Net, tmp_path) -> None:
    pytest.importorskip("onnx")
    path = export_onnx(model, tmp_path / "u2netp.onnx", input_size=64)
    with pytest.raises(InputError, match="'u2net' architecture"):
        load_u2net_onnx(path, variant="u2net")
    with pytest.raises(WeightsNotFound, match="adstage weights fetch u2net"):
        load_u2net_onnx(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf at all")
    with pytest.raises(InputError, match="ONNX"):
        load_u2net_onnx(garbage)


def _parity_images() -> dict[str, np.ndarray]:
    """CC0 / public-domain photos that ship with scikit-image, and synthetic products."""
    skdata = pytest.importorskip("skimage.data")
    from adstage.datasets.synthetic import SyntheticCatalog

    images = {
        name: getattr(skdata, name)() for name in ("coffee", "chelsea", "astronaut", "rocket")
    }
    catalog = SyntheticCatalog(3, seed=7, staged_fraction=0.34, size=(256, 256))
    for i, item in enumerate(catalog):
        images[f"synthetic-{i}"] = item.image
    return images


PARITY_ATOL = 5e-4
"""Largest allowed |PyTorch port − onnxruntime| of the fused map (a probability). Measured on
this machine: 9.6e-5 (u2netp) and 5.3e-5 (u2net); float32 summation order explains the rest."""


@pytest.mark.weights
@pytest.mark.parametrize("variant", ["u2netp", "u2net"])
def test_official_onnx_weights_match_onnxruntime(variant: str) -> None:
    """Parity of the port with the reference (minGPT-style): the authors' U²-Net, installed by
    ``adstage weights fetch u2net u2netp``, run by onnxruntime as published and by this module's
    network with the same initializers, on the official input normalisation at 320²."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from adstage import weights
    from adstage.segment.u2net import preprocess

    try:
        path = weights.resolve(variant, verify=True)
    except WeightsNotFound as exc:
        pytest.skip(str(exc))
    model = load_u2net_onnx(path)
    assert model.variant == variant
    session = OnnxU2Net(path, threads=2)
    images = _parity_images()
    worst = 0.0
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for name, image in images.items():
            x = preprocess(image, 320)
            ours = _run(model, x)[0].numpy()
            reference = session(x)
            diff = float(np.abs(ours - reference).max())
            worst = max(worst, diff)
            assert diff < PARITY_ATOL, f"{variant} on {name}: max abs diff {diff:.2e}"
            agree = float(((ours >= 0.5) == (reference >= 0.5)).mean())
            assert agree > 0.9999, f"{variant} on {name}: masks agree on {agree:.6f}"
    finally:
        torch.set_num_threads(before)
    print(f"{variant}: max abs diff of the fused map over {len(images)} images: {worst:.2e}")
