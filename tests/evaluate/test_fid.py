"""FID and KID: hand-computed cases, a second implementation (torchmetrics), the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from adstage.errors import InputError
from adstage.evaluate.fid import fid_report, frechet_distance, kernel_inception_distance


def test_fid_of_gaussians_matches_the_closed_form() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, (20000, 3))
    b = rng.normal(0.0, 2.0, (20000, 3)) + np.array([1.0, 0.0, 0.0])
    # ‖μ₁−μ₂‖² + tr(I + 4I − 2·2I) = 1 + 3·(1 + 4 − 4) = 4
    assert frechet_distance(a, b) == pytest.approx(4.0, rel=0.03)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_fid_matches_scipy_sqrtm() -> None:
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 16)) @ rng.normal(size=(16, 16))
    b = rng.normal(size=(250, 16)) @ rng.normal(size=(16, 16)) + 0.5
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy_linalg.sqrtm(s1 @ s2).real
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * root)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_fid_with_fewer_images_than_dimensions_matches_the_dxd_computation() -> None:
    # The N×N route (singular values of XYᵀ) against the D×D one it replaces when N < D.
    rng = np.random.default_rng(4)
    a = rng.normal(size=(40, 64)) @ rng.normal(size=(64, 64))
    b = rng.normal(size=(30, 64)) @ rng.normal(size=(64, 64)) + 0.3
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(s1)
    root1 = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = root1 @ s2 @ root1
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_root
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6 * np.trace(s1))


def test_kid_is_unbiased_near_zero_for_the_same_distribution() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    same, _ = kernel_inception_distance(a, b, subsets=20, subset_size=200)
    shifted, _ = kernel_inception_distance(a, b + 1.0, subsets=20, subset_size=200)
    assert abs(same) < 0.01 < shifted


def test_matches_torchmetrics_fed_the_same_features() -> None:
    torch = pytest.importorskip("torch")
    fid_module = pytest.importorskip("torchmetrics.image.fid")
    kid_module = pytest.importorskip("torchmetrics.image.kid")
    rng = np.random.default_rng(3)
    a = rng.normal(size=(120, 32))
    b = rng.normal(size=(100, 32)) * 1.3 + 0.2

    class Identity(torch.nn.Module):
        num_features = 32

        def forward(self, x):  # type: ignore[no-untyped-def]
            return x

    fid = fid_module.FrechetInceptionDistance(feature=Identity(), normalize=False)
    fid.set_dtype(torch.float64)
    fid.update(torch.tensor(a), real=True)
    fid.update(torch.tensor(b), real=False)
    assert frechet_distance(a, b) == pytest.approx(float(fid.compute()), rel=1e-4)
    kid = kid_module.KernelInceptionDistance(feature=Identity(), subsets=1, subset_size=100)
    kid.update(torch.tensor(a[:100]), real=True)
    kid.update(torch.tensor(b), real=False)
    mean, _ = kid.compute()
    ours, _ = kernel_inception_distance(a[:100], b, subsets=1, subset_size=100)
    assert ours == pytest.approx(float(mean), rel=1e-4)


def test_bad_features() -> None:
    with pytest.raises(InputError, match="at least 2"):
        frechet_distance(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(InputError, match="dimensions differ"):
        fid_report(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(InputError, match="NaN"):
        frechet_distance(np.full((3, 4), np.nan), np.zeros((3, 4)))


@pytest.mark.weights
def test_cli_on_two_folders(tmp_path: Path) -> None:
    from PIL import Image
    from typer.testing import CliRunner

    from adstage.cli import app

    rng = np.random.default_rng(4)
    for folder, offset in (("real", 0), ("gen", 60)):
        (tmp_path / folder).mkdir()
        for i in range(6):
            pixels = np.clip(rng.normal(100 + offset, 30, (64, 80, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / folder / f"{i}.png")
    (tmp_path / "gen" / "broken.png").write_bytes(b"nope")
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "fid",
            str(tmp_path / "real"),
            str(tmp_path / "gen"),
            "--subset-size",
            "5",
            "--json",
        ],
    )
    assert result.exit_code == 1  # one unreadable file, reported; the rest measured
    out = json.loads(result.stdout)
    assert out["n_real"] == 6 and out["n_gen"] == 6 and out["fid"] > 0 and len(out["failed"]) == 1
    same = CliRunner().invoke(
        app, ["eval", "fid", str(tmp_path / "real"), str(tmp_path / "real"), "--json"]
    )
    assert same.exit_code == 0 and abs(json.loads(same.stdout)["fid"]) < 1e-3
