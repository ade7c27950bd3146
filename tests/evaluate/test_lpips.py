"""LPIPS: the safe unpickler, hand-computed cases of the head, a numpy re-implementation of the
whole network on tiny random weights, the CLI; with the real weights (``-m weights``) the
authors' published values and torchmetrics' copy of their code as a second implementation."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image
from typer.testing import CliRunner

from adstage import weights
from adstage.cli import app
from adstage.errors import InputError, WeightsNotFound
from adstage.evaluate.lpips import (
    LPIPS,
    MIN_SIDE,
    lpips,
    lpips_paths,
    pair_folders,
    read_checkpoint,
)
from adstage.io.images import read_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DATA = Path(__file__).resolve().parents[1] / "data" / "lpips"
"""The authors' example images (BSD-2-Clause, LICENSE beside them)."""

PUBLISHED = {"ex_p0.png": 0.722, "ex_p1.png": 0.138}
"""LPIPS-alex v0.1 of ex_ref.png against each, as the authors' test_network.py prints it."""

# The backbones as written in the paper's reference code (torchvision's ``features``), kept here
# apart from the module under test: (kernel, stride, padding) convs, "P" a max-pool, "T" a tap.
ALEX = [(11, 4, 2), "T", ("P", 3, 2), (5, 1, 2), "T", ("P", 3, 2)] + [(3, 1, 1), "T"] * 3
VGG = (
    [(3, 1, 1), (3, 1, 1), "T", ("P", 2, 2)]
    + [(3, 1, 1), (3, 1, 1), "T", ("P", 2, 2)]
    + ([(3, 1, 1)] * 3 + ["T", ("P", 2, 2)]) * 2
    + [(3, 1, 1)] * 3
    + ["T"]
)
LAYOUT = {"alex": ("AlexNet_0", ALEX), "vgg": ("VGG16_0", VGG)}


def tiny_params(net: str = "alex", width: int = 4, seed: int = 0) -> dict[str, Any]:
    """A checkpoint of the real layout with ``width`` channels per layer, random weights."""
    rng = np.random.default_rng(seed)
    key, layout = LAYOUT[net]
    backbone: dict[str, Any] = {}
    channels = 3
    for i, (k, _, _) in enumerate(step for step in layout if isinstance(step[0], int)):
        fan_in = k * k * channels
        backbone[f"Conv_{i}"] = {
            "kernel": rng.normal(0, 1.5 / np.sqrt(fan_in), (k, k, channels, width)),
            "bias": rng.normal(0, 0.1, width),
        }
        channels = width
    params: dict[str, Any] = {key: backbone}
    for layer in range(5):
        params[f"NetLinLayer_{layer}"] = {"Conv_0": {"kernel": rng.uniform(0, 1, (1, 1, width, 1))}}
    return _float32(params)


def _float32(tree: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _float32(v) if isinstance(v, dict) else np.asarray(v, np.float32)
        for k, v in tree.items()
    }


def write_checkpoint(path: Path, params: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(params, protocol=3))  # the real files are protocol 3
    return path


# --------------------------------------------------------------------------- a second version


def _area(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """Adaptive average pooling, written out: bin i of n over L covers [⌊iL/n⌋, ⌈(i+1)L/n⌉)."""
    big_h, big_w = mask.shape
    out = np.empty((h, w))
    for i in range(h):
        for j in range(w):
            rows = slice(i * big_h // h, -(-(i + 1) * big_h // h))
            cols = slice(j * big_w // w, -(-(j + 1) * big_w // w))
            out[i, j] = mask[rows, cols].mean()
    return out


def numpy_lpips(params: dict[str, Any], net: str, a: np.ndarray, b: np.ndarray, mask=None) -> float:
    """LPIPS of two uint8 images in float64 numpy, from the paper's description."""
    key, layout = LAYOUT[net]
    shift = np.array([-0.030, -0.088, -0.188])[:, None, None]
    scale = np.array([0.458, 0.448, 0.450])[:, None, None]

    def taps(image: np.ndarray) -> list[np.ndarray]:
        x = ((image.astype(np.float64) / 127.5 - 1).transpose(2, 0, 1) - shift) / scale
        out, conv = [], 0
        for step in layout:
            if step == "T":
                out.append(x)
            elif step[0] == "P":
                _, k, s = step
                x = sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s].max(axis=(3, 4))
            else:
                k, s, p = step
                weights_ = params[key][f"Conv_{conv}"]
                x = np.pad(x, ((0, 0), (p, p), (p, p)))
                windows = sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s]
                x = np.einsum("cyxij,ijco->oyx", windows, weights_["kernel"].astype(np.float64))
                x = np.maximum(x + weights_["bias"][:, None, None], 0)
                conv += 1
        return out

    total = 0.0
    for layer, (f0, f1) in enumerate(zip(taps(a), taps(b), strict=True)):
        n0 = f0 / (np.sqrt((f0**2).sum(0)) + 1e-10)
        n1 = f1 / (np.sqrt((f1**2).sum(0)) + 1e-10)
        w = params[f"NetLinLayer_{layer}"]["Conv_0"]["kernel"][0, 0, :, 0].astype(np.float64)
        d = np.einsum("c,chw->hw", w, (n0 - n1) ** 2)
        if mask is None:
            total += d.mean()
        else:
            m = _area(np.asarray(mask, np.float64), *d.shape)
            total += (d * m).sum() / m.sum()
    return float(total)


def random_pair(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-60, 60, a.shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.fixture
def tiny_alex(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    params = tiny_params("alex")
    return params, write_checkpoint(tmp_path / "tiny-alex.ckpt", params)


# --------------------------------------------------------------------------- the math


def test_head_matches_a_hand_computed_case() -> None:
    params = tiny_params("alex", width=2)
    lin = [[1, 2], [0, 1], [1, 0], [0, 0], [2, 2]]
    for layer, w in enumerate(lin):
        params[f"NetLinLayer_{layer}"]["Conv_0"]["kernel"] = np.float32(w).reshape(1, 1, 2, 1)
    model = LPIPS("alex", params=params)
    # Two positions (1×2), two channels: unit vectors (.6, .8), (1, 0) against (0, 1), (0, 1);
    # squared differences (.36, .04) and (1, 1).
    f0 = torch.tensor([[[[3.0, 1.0]], [[4.0, 0.0]]]])
    f1 = torch.tensor([[[[0.0, 0.0]], [[5.0, 2.0]]]])
    feats0, feats1 = [f0] * 5, [f1] * 5
    # weighted sums per position: (.44, 3), (.04, 1), (.36, 1), (0, 0), (.8, 4); means summed
    expected = (0.44 + 3) / 2 + (0.04 + 1) / 2 + (0.36 + 1) / 2 + 0 + (0.8 + 4) / 2
    assert model.compare(feats0, feats1).item() == pytest.approx(expected, rel=1e-6)
    # A 2×4 mask, ones on the left half: area-resized to 1×2 it is (1, 0): position 0 only.
    left = torch.tensor([[[[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]]]])
    assert model.compare(feats0, feats1, left).item() == pytest.approx(
        0.44 + 0.04 + 0.36 + 0 + 0.8, rel=1e-6
    )
    # Halves on the right: weights (1, .5), a weighted mean.
    half = left + 0.5 * (1 - left)
    assert model.compare(feats0, feats1, half).item() == pytest.approx(
        (1.64 + 0.5 * 9) / 1.5, rel=1e-6
    )
    # Zero features (a dead ReLU everywhere) normalise to zero, not to NaN.
    zero = [torch.zeros(1, 2, 1, 2)] * 5
    assert model.compare(zero, zero).item() == 0.0


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_network_matches_a_numpy_implementation(net: str, tmp_path: Path) -> None:
    params = tiny_params(net, width=3, seed=1)
    path = write_checkpoint(tmp_path / f"{net}.ckpt", params)
    a, b = random_pair(40, 36)
    assert lpips(a, b, net=net, weights=path) == pytest.approx(
        numpy_lpips(params, net, a, b), rel=1e-4
    )
    mask = np.zeros((40, 36), np.float32)
    mask[5:30, 10:34] = 1.0
    mask[30:, :] = 0.25
    assert lpips(a, b, net=net, weights=path, mask=mask) == pytest.approx(
        numpy_lpips(params, net, a, b, mask), rel=1e-4
    )


def test_identical_images_and_a_mask_of_ones(tiny_alex) -> None:
    _, path = tiny_alex
    a, b = random_pair(48, 40, seed=2)
    assert lpips(a, a, weights=path) == 0.0
    plain = lpips(a, b, weights=path)
    assert plain > 0
    assert lpips(a, b, weights=path, mask=np.ones((48, 40), bool)) == pytest.approx(plain, 1e-6)
    batch = lpips(np.stack([a, a]), np.stack([b, a]), weights=path)
    assert batch.shape == (2,) and batch[0] == pytest.approx(plain, 1e-6) and batch[1] == 0.0


def test_bad_inputs(tiny_alex) -> None:
    _, path = tiny_alex
    a, b = random_pair(40, 40)
    with pytest.raises(InputError, match="same shape"):
        lpips(a, b[:, :32], weights=path)
    with pytest.raises(InputError, match="uint8"):
        lpips(a.astype(np.float32), b, weights=path)
    with pytest.raises(InputError, match="all zero"):
        lpips(a, b, weights=path, mask=np.zeros((40, 40)))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        lpips(a, b, weights=path, mask=np.full((40, 40), 2.0))
    with pytest.raises(InputError, match="mask"):
        lpips(a, b, weights=path, mask=np.ones((20, 40)))
    with pytest.raises(InputError, match="net"):
        lpips(a, b, net="squeeze", weights=path)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_smallest_image(net: str, tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "w.ckpt", tiny_params(net, width=2))
    side = MIN_SIDE[net]
    a, b = random_pair(side, side + 3)
    assert lpips(a, b, net=net, weights=path) >= 0
    with pytest.raises(InputError, match="too small"):
        lpips(a[:-1], b[:-1], net=net, weights=path)


# --------------------------------------------------------------------------- the checkpoint


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_unpickler_refuses_anything_but_arrays(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    bad = write_checkpoint(tmp_path / "bad.ckpt", {"AlexNet_0": _Exploit(marker)})  # type: ignore[dict-item]
    with pytest.raises(InputError, match=r"refusing to unpickle the global (posix|os)\.system"):
        read_checkpoint(bad)
    assert not marker.exists()
    with pytest.raises(InputError, match=r"builtins\.eval"):
        read_checkpoint(write_checkpoint(tmp_path / "eval.ckpt", {"x": eval}))  # type: ignore[dict-item]
    with pytest.raises(InputError, match="list"):
        read_checkpoint(write_checkpoint(tmp_path / "list.ckpt", {"x": [1, 2]}))  # type: ignore[dict-item]
    (tmp_path / "junk.ckpt").write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="not an LPIPS checkpoint"):
        read_checkpoint(tmp_path / "junk.ckpt")


def test_unpickler_reads_both_numpy_spellings(tmp_path: Path) -> None:
    params = {"a": {"b": np.arange(6, dtype=np.float32).reshape(2, 3)}}
    data = pickle.dumps(params, protocol=3)
    numpy2 = b"numpy._core.multiarray\n_reconstruct"
    assert numpy2 in data  # this numpy writes the numpy-2 name; the real files the numpy-1 one
    (tmp_path / "new.ckpt").write_bytes(data)
    (tmp_path / "old.ckpt").write_bytes(
        data.replace(numpy2, b"numpy.core.multiarray\n_reconstruct")
    )
    for name in ("new.ckpt", "old.ckpt"):
        got = read_checkpoint(tmp_path / name)["a"]["b"]
        assert got.dtype == np.float32 and np.array_equal(got, params["a"]["b"])


def test_wrong_layout_and_negative_linear_weights() -> None:
    params = tiny_params("alex")
    with pytest.raises(InputError, match="VGG16_0"):
        LPIPS("vgg", params=params)
    params["NetLinLayer_2"]["Conv_0"]["kernel"][0, 0, 0, 0] = -1
    with pytest.raises(InputError, match="negative"):
        LPIPS("alex", params=params)
    params = tiny_params("alex")
    params["AlexNet_0"]["Conv_1"]["kernel"] = params["AlexNet_0"]["Conv_1"]["kernel"][:3]
    with pytest.raises(InputError, match="Conv_1/kernel"):
        LPIPS("alex", params=params)


def test_missing_weights_name_the_fetch_command() -> None:
    a, b = random_pair(40, 40)
    with pytest.raises(WeightsNotFound, match="adstage weights fetch lpips-vgg"):
        lpips(a, b, net="vgg")


# --------------------------------------------------------------------------- folders and the CLI


def _save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _folders(tmp_path: Path) -> tuple[Path, Path, dict[str, np.ndarray]]:
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    images = {}
    for i, name in enumerate(("x", "y")):
        images[name], other = random_pair(40, 44, seed=10 + i)
        _save(a_dir / f"{name}.png", images[name])
        _save(b_dir / f"{name}.png", other)
    _save(a_dir / "only-a.png", images["x"])
    _save(b_dir / "only-b.png", images["x"])
    _save(a_dir / "sizes.png", images["x"])
    _save(b_dir / "sizes.png", images["x"][:, :40])
    return a_dir, b_dir, images


def test_pairing_lists_what_has_no_partner(tmp_path: Path) -> None:
    a_dir, b_dir, _ = _folders(tmp_path)
    pairing = pair_folders(a_dir, b_dir)
    assert [p.name for p in pairing.pairs] == ["sizes", "x", "y"]
    assert pairing.unpaired == {"a": ["only-a.png"], "b": ["only-b.png"], "masks": []}
    _save(a_dir / "x.jpg", np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(InputError, match=r"x\.jpg and x\.png|x\.png and x\.jpg"):
        pair_folders(a_dir, b_dir)
    with pytest.raises(InputError, match="not a folder"):
        pair_folders(tmp_path / "nope", b_dir)


def test_lpips_paths(tmp_path: Path, tiny_alex) -> None:
    params, path = tiny_alex
    a_dir, b_dir, _ = _folders(tmp_path)
    masks = tmp_path / "masks"
    _save(masks / "x.png", np.full((40, 44), 255, np.uint8))
    report = lpips_paths(a_dir, b_dir, weights=path)
    assert sorted(report.per_image) == ["x", "y"]
    assert "sizes" in report.failed and str(b_dir / "sizes.png") in report.failed["sizes"]
    x = report.per_image["x"]
    expected = numpy_lpips(params, "alex", read_image(a_dir / "x.png"), read_image(b_dir / "x.png"))
    assert x == pytest.approx(expected, rel=1e-4)
    assert report.mean == pytest.approx(np.mean(list(report.per_image.values())))
    masked = lpips_paths(a_dir, b_dir, weights=path, masks=masks)
    assert masked.per_image == {"x": pytest.approx(x, rel=1e-6)}
    assert masked.unpaired["masks"] == ["sizes", "y"]


@pytest.fixture
def cached_tiny(tiny_alex) -> dict[str, Any]:
    """The tiny checkpoint where the weights manager looks for lpips-alex (an empty test cache;
    ``resolve`` does not re-hash, so the CLI runs on it)."""
    params, _ = tiny_alex
    write_checkpoint(weights.cached_path("lpips-alex"), params)
    return params


def test_cli(tmp_path: Path, cached_tiny: dict[str, Any]) -> None:
    a_dir, b_dir, _ = _folders(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "lpips", str(a_dir), str(b_dir), "--json"])
    assert result.exit_code == 1, result.output  # unpaired files and a size mismatch
    out = json.loads(result.stdout)
    assert out["n"] == 2 and out["net"] == "alex" and sorted(out["per_image"]) == ["x", "y"]
    assert out["lpips"] == pytest.approx(np.mean(list(out["per_image"].values())))
    assert out["unpaired"]["a"] == ["only-a.png"] and out["unpaired"]["b"] == ["only-b.png"]
    assert f"error: sizes: {a_dir / 'sizes.png'} is 40×44 but {b_dir / 'sizes.png'}" in (
        result.stderr
    )
    assert "warning: 1 only in A: only-a.png" in result.stderr

    for extra in ("a/only-a.png", "a/sizes.png", "b/only-b.png", "b/sizes.png"):
        (tmp_path / extra).unlink()
    result = runner.invoke(app, ["eval", "lpips", str(a_dir), str(b_dir)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("LPIPS-alex ") and "over 2 pairs" in result.stdout
    same = runner.invoke(app, ["eval", "lpips", str(a_dir), str(a_dir), "--json"])
    assert same.exit_code == 0 and json.loads(same.stdout)["lpips"] == 0.0

    masks = tmp_path / "masks"
    _save(masks / "y.png", np.full((40, 44), 255, np.uint8))
    result = runner.invoke(
        app, ["eval", "lpips", str(a_dir), str(b_dir), "--masks", str(masks), "--json"]
    )
    assert result.exit_code == 1 and "warning: 1 without a mask: x" in result.stderr
    assert list(json.loads(result.stdout)["per_image"]) == ["y"]


def test_cli_usage_errors(tmp_path: Path, cached_tiny: dict[str, Any]) -> None:
    a_dir, b_dir, _ = _folders(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "lpips", str(tmp_path / "nope"), str(b_dir)])
    assert result.exit_code == 2 and "is not a folder" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["eval", "lpips", str(a_dir), str(empty)])
    assert result.exit_code == 2 and "no image pairs" in result.stderr
    result = runner.invoke(app, ["eval", "lpips", str(a_dir), str(b_dir), "--net", "squeeze"])
    assert result.exit_code == 2 and "--net" in result.stderr


def test_cli_without_weights(tmp_path: Path) -> None:
    a_dir, b_dir, _ = _folders(tmp_path)
    result = CliRunner().invoke(app, ["eval", "lpips", str(a_dir), str(b_dir), "--net", "vgg"])
    assert result.exit_code == 1 and "adstage weights fetch lpips-vgg" in result.stderr


# --------------------------------------------------------------------------- the real weights


def _real(name: str) -> Path:
    path = weights.cached_path(name)
    if not path.is_file():
        pytest.skip(f"{name} is not in the weights cache (adstage weights fetch {name})")
    return path


def _reference() -> dict[str, np.ndarray]:
    if not DATA.is_dir():
        pytest.skip(f"the LPIPS example images are not in {DATA}")
    return {p.name: read_image(p) for p in sorted(DATA.glob("ex_*.png"))}


@pytest.mark.weights
def test_published_values_of_the_authors_examples() -> None:
    _real("lpips-alex")
    images = _reference()
    ref = images["ex_ref.png"]
    for name, published in PUBLISHED.items():
        assert round(lpips(ref, images[name], net="alex"), 3) == published
    assert lpips(ref, ref) == 0.0
    plain = lpips(ref, images["ex_p0.png"])
    ones = lpips(ref, images["ex_p0.png"], mask=np.ones(ref.shape[:2]))
    assert ones == pytest.approx(plain, rel=1e-6)


@pytest.mark.weights
@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_matches_torchmetrics_copy_of_the_authors_code(
    net: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torchmetrics vendors the authors' LPIPS code and their v0.1 linear layers; it would take
    the backbone from torchvision's download, so it is handed the checkpoint's backbone in
    torchvision's layout instead (built here from the arrays, not by the module under test)."""
    tm = pytest.importorskip("torchmetrics.functional.image.lpips")
    params = read_checkpoint(_real(f"lpips-{net}"))
    key, layout = LAYOUT[net]
    layers: list[torch.nn.Module] = []
    conv = 0
    for step in layout:
        if step == "T":
            continue
        if step[0] == "P":
            layers.append(torch.nn.MaxPool2d(step[1], step[2]))
            continue
        k, s, p = step
        arrays = params[key][f"Conv_{conv}"]
        layer = torch.nn.Conv2d(arrays["kernel"].shape[2], arrays["kernel"].shape[3], k, s, p)
        layer.weight.data = torch.from_numpy(arrays["kernel"].transpose(3, 2, 0, 1).copy())
        layer.bias.data = torch.from_numpy(arrays["bias"])
        layers += [layer, torch.nn.ReLU()]
        conv += 1
    monkeypatch.setattr(tm, "_get_tv_model_features", lambda *a, **k: torch.nn.Sequential(*layers))
    reference = tm._LPIPS(pretrained=True, net=net, pnet_rand=True).eval()
    for layer in range(5):  # their linear layers are the checkpoint's, bit for bit
        theirs = getattr(reference, f"lin{layer}").model[-1].weight.numpy()
        ours = params[f"NetLinLayer_{layer}"]["Conv_0"]["kernel"].transpose(3, 2, 0, 1)
        assert np.array_equal(theirs, ours)

    images = _reference()
    a, b = random_pair(64, 80, seed=5)
    pairs = [
        (images["ex_ref.png"], images["ex_p0.png"]),
        (images["ex_ref.png"], images["ex_p1.png"]),
    ]
    for x0, x1 in [*pairs, (a, b)]:
        t0, t1 = (torch.from_numpy(x).permute(2, 0, 1)[None].float() / 127.5 - 1 for x in (x0, x1))
        with torch.no_grad():
            expected = reference(t0, t1).item()
        assert lpips(x0, x1, net=net) == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.weights
def test_cli_on_the_authors_examples(tmp_path: Path) -> None:
    _real("lpips-alex")
    images = _reference()
    for name in PUBLISHED:
        _save(tmp_path / "ref" / f"{name}", images["ex_ref.png"])
        _save(tmp_path / "p" / f"{name}", images[name])
    result = CliRunner().invoke(
        app, ["eval", "lpips", str(tmp_path / "ref"), str(tmp_path / "p"), "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {k: round(v, 3) for k, v in out["per_image"].items()} == {
        "ex_p0": 0.722,
        "ex_p1": 0.138,
    }
