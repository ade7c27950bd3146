"""``adstage eval fidelity`` and ``adstage eval mp-lpips``: pairing, values, messages, exit codes
(MP-LPIPS on a tiny LPIPS-alex checkpoint written where the weights manager looks)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from adstage import weights
from adstage.cli import app
from adstage.evaluate.fidelity import boundary_band, delta_e00, fidelity, psnr
from adstage.io.images import read_image, read_mask

runner = CliRunner()


def _save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _folders(tmp_path: Path, side: int = 64) -> tuple[Path, Path, Path]:
    """a/ and b/ with pairs x, y (y identical inside its mask), one file only in each, a pair of
    two sizes; masks/ for x and y."""
    rng = np.random.default_rng(0)
    a_dir, b_dir, masks = tmp_path / "a", tmp_path / "b", tmp_path / "masks"
    mask = np.zeros((side, side), np.uint8)
    mask[16:48, 20:44] = 255
    for i, name in enumerate(("x", "y")):
        a = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
        if i == 1:
            b[mask > 0] = a[mask > 0]
        _save(a_dir / f"{name}.png", a)
        _save(b_dir / f"{name}.png", b)
        _save(masks / f"{name}.png", mask)
    _save(a_dir / "only-a.png", a)
    _save(b_dir / "only-b.png", a)
    _save(a_dir / "sizes.png", a)
    _save(b_dir / "sizes.png", a[:, :40])
    return a_dir, b_dir, masks


def _clean(tmp_path: Path) -> None:
    for extra in ("a/only-a.png", "a/sizes.png", "b/only-b.png", "b/sizes.png"):
        (tmp_path / extra).unlink()


# --------------------------------------------------------------------------- fidelity


def test_fidelity(tmp_path: Path) -> None:
    a_dir, b_dir, masks = _folders(tmp_path)
    result = runner.invoke(app, ["eval", "fidelity", str(a_dir), str(b_dir), "--json"])
    assert result.exit_code == 1, result.output  # unpaired files and a size mismatch
    out = json.loads(result.stdout)
    assert out["n"] == 2 and sorted(out["per_image"]) == ["x", "y"]
    x = (read_image(a_dir / "x.png"), read_image(b_dir / "x.png"))
    assert out["per_image"]["x"]["psnr"] == pytest.approx(psnr(*x))
    assert out["per_image"]["x"]["bit_exact"] is None
    assert out["mean"]["ssim"] == pytest.approx(
        np.mean([v["ssim"] for v in out["per_image"].values()])
    )
    assert "warning: 1 only in A: only-a.png" in result.stderr
    assert f"error: sizes: {a_dir / 'sizes.png'} is 64×64 but {b_dir / 'sizes.png'} is 64×40" in (
        result.stderr
    )

    _clean(tmp_path)
    result = runner.invoke(
        app,
        [
            "eval",
            "fidelity",
            str(a_dir),
            str(b_dir),
            "--masks",
            str(masks),
            "--band",
            "3",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    mask = read_mask(masks / "x.png")
    expected = fidelity(*x, mask=mask, band=3).as_dict()
    assert out["per_image"]["x"] == pytest.approx(expected)
    assert out["per_image"]["x"]["psnr_band"] == pytest.approx(psnr(*x, boundary_band(mask, 3)))
    assert out["per_image"]["x"]["delta_e00_mean"] == pytest.approx(delta_e00(*x, mask).mean)
    y = out["per_image"]["y"]
    assert y["bit_exact"] == 1.0 and y["psnr_mask"] is None  # identical: PSNR ∞ → null
    assert out["mean"]["psnr_mask"] is None and out["band"] == 3
    assert out["mean"]["delta_e00_mean"] == pytest.approx(
        out["per_image"]["x"]["delta_e00_mean"] / 2
    )

    text = runner.invoke(app, ["eval", "fidelity", str(a_dir), str(b_dir), "--masks", str(masks)])
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0] == f"fidelity over 2 pairs (masks {masks}, band ±10 px)"
    assert "PSNR" in lines[1] and "ΔE00 p95" in lines[1] and "MS-SSIM" not in lines[1]  # 64 px
    assert [line.split()[0] for line in lines[2:]] == ["mean", "x", "y"]
    assert lines[4].split()[3] == "1.0000"  # y: bit-exact in its mask
    assert "inf" in lines[4].split() and "inf" in lines[2].split()  # y's PSNR in the mask: ∞


def test_fidelity_errors(tmp_path: Path) -> None:
    a_dir, b_dir, masks = _folders(tmp_path)
    result = runner.invoke(app, ["eval", "fidelity", str(tmp_path / "nope"), str(b_dir)])
    assert result.exit_code == 2 and "is not a folder" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["eval", "fidelity", str(a_dir), str(empty)])
    assert result.exit_code == 2 and "no image pairs" in result.stderr
    result = runner.invoke(app, ["eval", "fidelity", str(a_dir), str(b_dir), "--masks", str(empty)])
    assert result.exit_code == 2 and "pairs without a mask" in result.stderr
    result = runner.invoke(app, ["eval", "fidelity", str(a_dir), str(b_dir), "--band", "0"])
    assert result.exit_code == 2 and "--band" in result.stderr
    _clean(tmp_path)
    _save(masks / "y.png", np.zeros((64, 64), np.uint8))  # empty
    _save(masks / "x.png", np.zeros((32, 64), np.uint8))  # wrong size
    result = runner.invoke(app, ["eval", "fidelity", str(a_dir), str(b_dir), "--masks", str(masks)])
    assert result.exit_code == 1 and "error: y:" in result.stderr and "empty" in result.stderr
    assert "error: x:" in result.stderr


# --------------------------------------------------------------------------- mp-lpips


@pytest.fixture
def tiny_lpips_cached() -> None:
    """A narrow random LPIPS-alex checkpoint where the weights manager looks (an empty test
    cache; ``resolve`` does not re-hash)."""
    rng = np.random.default_rng(0)
    convs = ((11, 3), (5, 4), (3, 4), (3, 4), (3, 4))
    params: dict[str, Any] = {
        "AlexNet_0": {
            f"Conv_{i}": {
                "kernel": rng.normal(0, 1.5 / np.sqrt(k * k * c), (k, k, c, 4)).astype(np.float32),
                "bias": rng.normal(0, 0.1, 4).astype(np.float32),
            }
            for i, (k, c) in enumerate(convs)
        }
    }
    for layer in range(5):
        params[f"NetLinLayer_{layer}"] = {
            "Conv_0": {"kernel": rng.uniform(0, 1, (1, 1, 4, 1)).astype(np.float32)}
        }
    path = weights.cached_path("lpips-alex")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(params))


def test_mp_lpips(tmp_path: Path, tiny_lpips_cached: None) -> None:
    a_dir, b_dir, masks = _folders(tmp_path)  # a: references, b: generated
    args = ["eval", "mp-lpips", str(b_dir), str(a_dir), "--masks", str(masks), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output  # unpaired, no mask for `sizes`
    out = json.loads(result.stdout)
    assert out["n"] == 2 and out["matcher"] == "lpips-alex-relu2+relu3"
    assert out["points"] == sum(r["points"] for r in out["per_image"].values()) > 0
    assert out["mp_lpips"] == pytest.approx(
        np.mean([r["mp_lpips"] for r in out["per_image"].values()])
    )
    assert "warning: 1 only in REF_DIR: only-a.png" in result.stderr
    assert "warning: 1 without a mask: sizes" in result.stderr

    _clean(tmp_path)
    text = runner.invoke(app, args[:-1])
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith("MP-LPIPS ") and "matcher lpips-alex-relu2+relu3" in text.stdout

    gen_masks = tmp_path / "gen-masks"
    _save(gen_masks / "x.png", np.full((64, 64), 255, np.uint8))
    result = runner.invoke(app, [*args, "--gen-masks", str(gen_masks)])
    assert result.exit_code == 1 and "warning: 1 without a mask in --gen-masks: y" in result.stderr
    assert list(json.loads(result.stdout)["per_image"]) == ["x"]


def test_mp_lpips_errors(tmp_path: Path, tiny_lpips_cached: None) -> None:
    a_dir, b_dir, masks = _folders(tmp_path)
    _clean(tmp_path)
    result = runner.invoke(app, ["eval", "mp-lpips", str(b_dir), str(a_dir)])
    assert result.exit_code == 2 and "--masks" in result.stderr  # required
    result = runner.invoke(
        app, ["eval", "mp-lpips", str(b_dir), str(tmp_path / "nope"), "--masks", str(masks)]
    )
    assert result.exit_code == 2 and "is not a folder" in result.stderr
    _save(b_dir / "x.png", np.zeros((48, 64, 3), np.uint8))  # a generated image of another size
    _save(masks / "y.png", np.zeros((64, 64), np.uint8))  # an empty mask
    result = runner.invoke(app, ["eval", "mp-lpips", str(b_dir), str(a_dir), "--masks", str(masks)])
    assert result.exit_code == 1
    assert "error: x:" in result.stderr and "must have one size" in result.stderr
    assert "error: y:" in result.stderr and "empty" in result.stderr


def test_mp_lpips_without_weights(tmp_path: Path) -> None:
    a_dir, b_dir, masks = _folders(tmp_path)
    result = runner.invoke(app, ["eval", "mp-lpips", str(b_dir), str(a_dir), "--masks", str(masks)])
    assert result.exit_code == 1 and "adstage weights fetch lpips-alex" in result.stderr
