"""pix2pix training: two steps on four tiny images, reload, resume, split, bad inputs; then
staging with the checkpoint through the Python API and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import torch
from typer.testing import CliRunner

from adstage.cli import app
from adstage.datasets.synthetic import SyntheticCatalog
from adstage.errors import InputError
from adstage.io.checkpoints import latest_checkpoint
from adstage.io.images import read_image, write_image
from adstage.models.pix2pix import load_checkpoint, read_checkpoint, to_images, to_tensor
from adstage.stage.vanilla import VanillaStager, layout_canvas, stage_vanilla
from adstage.train.loop import held_out
from adstage.train.pix2pix import Pix2PixConfig, train
from scenes import write_labelled_photos

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_labelled_photos(tmp_path_factory.mktemp("pairs"))


def config(data: Path, out: Path, **kw) -> Pix2PixConfig:
    base = dict(data=(str(data),), out=str(out), size=32, steps=2, batch_size=2, ngf=4, ndf=4)
    # One thread: on a busy machine, torch's default thread count makes these tiny steps slow.
    run = {"every": 1, "log_every": 1, "holdout": 0.25, "threads": 1}
    return Pix2PixConfig(**{**base, **run, **kw})


def test_two_steps_then_reload_gives_identical_outputs(data: Path, tmp_path: Path) -> None:
    logs = []
    result = train(config(data, tmp_path / "run"), on_log=logs.append)
    assert result.step == 2 and [r["step"] for r in logs] == [1, 2]
    assert result.n_train + result.n_held_out == 4
    assert result.checkpoint == latest_checkpoint(tmp_path / "run")
    assert (tmp_path / "run" / "samples" / "step-0000002.png").exists()
    state = read_checkpoint(result.checkpoint)
    assert {"generator", "discriminator", "opt_g", "opt_d", "rng", "config", "seconds"} <= set(
        state
    )
    assert state["config"]["l1_weight"] == 100.0 and set(state["config"]["layout"]) == {
        "cx",
        "cy",
        "side",
    }
    # The sample grid written at step 2 by the generator in memory: input | output | target.
    grid = read_image(tmp_path / "run" / "samples" / "step-0000002.png")
    assert grid.shape == (4 * 32, 3 * 32, 3)
    inputs = [grid[r * 32 : (r + 1) * 32, :32] for r in range(4)]
    written = [grid[r * 32 : (r + 1) * 32, 32:64] for r in range(4)]
    x = to_tensor([np.full((32, 32, 3), 255, np.uint8), np.zeros((32, 32, 3), np.uint8)])
    g1, meta1 = load_checkpoint(result.checkpoint)
    g2, meta2 = load_checkpoint(tmp_path / "run")  # a folder → its latest checkpoint
    assert meta1["step"] == meta2["step"] == 2
    for g in (g1, g2):
        with torch.inference_mode():
            y, reloaded = g(x), to_images(g(to_tensor(inputs)))
        assert y.shape == (2, 3, 32, 32) and not torch.equal(y[0], y[1])
        for row, (got, want) in enumerate(zip(reloaded, written, strict=True)):
            assert np.array_equal(got, want), row  # the training-time outputs, bit for bit


def test_resume_continues_the_step_count_and_matches_an_uninterrupted_run(
    data: Path, tmp_path: Path
) -> None:
    train(config(data, tmp_path / "a"))
    resumed = train(config(data, tmp_path / "a", steps=3), resume=True)
    assert resumed.step == 3
    straight = train(config(data, tmp_path / "b", steps=3))
    ga, _ = load_checkpoint(resumed.checkpoint)
    gb, _ = load_checkpoint(straight.checkpoint)
    for (name, a), (_, b) in zip(ga.state_dict().items(), gb.state_dict().items(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name
    # Only the last `keep` checkpoints stay.
    assert len(list((tmp_path / "a").glob("checkpoint-*.pt"))) == 2


def test_resume_refuses_another_architecture(data: Path, tmp_path: Path) -> None:
    train(config(data, tmp_path / "run"))
    with pytest.raises(InputError, match="ngf"):
        train(config(data, tmp_path / "run", steps=3, ngf=8), resume=True)


def test_split_is_by_file_name_and_written(data: Path, tmp_path: Path) -> None:
    # Pinned values, not x == x: the split must be the same in every process and release
    # (a resumed run and its evaluation rely on it; Python's salted hash() would break it).
    assert [i for i in range(100) if held_out(f"photo-{i}.jpg", 0.1)] == [32, 55, 65, 72]
    share = np.mean([held_out(f"photo-{i}.jpg", 0.1) for i in range(2000)])
    assert 0.08 < share < 0.12
    train(config(data, tmp_path / "run", steps=1))
    listed = (tmp_path / "run" / "held_out.txt").read_text().split()
    assert listed == sorted(
        str(data / f"images/{i}.png") for i in range(4) if held_out(f"{i}.png", 0.25)
    )


def test_missing_masks_are_segmented_once_and_cached(tmp_path: Path) -> None:
    data = write_labelled_photos(tmp_path / "data", masks=False)
    cfg = config(data, tmp_path / "run", steps=1, segmenter="solid-background", holdout=0.0)

    def run() -> None:
        try:
            train(cfg)
        except InputError as exc:  # rooms are not plain backgrounds: masks may all be unusable
            assert "usable product mask" in str(exc)

    run()
    cached = sorted((tmp_path / "run" / "masks").glob("*.png"))
    assert len(cached) == 4
    before = [p.stat().st_mtime_ns for p in cached]
    run()
    assert [p.stat().st_mtime_ns for p in cached] == before  # read back, not recomputed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": 48}, "power of two"),
        ({"size": 16}, "power of two"),
        ({"steps": 0}, "steps"),
        ({"holdout": 1.0}, "holdout"),
        ({"device": "tpu"}, "device"),
        ({"where": ("home_furnishing",)}, "column=value"),
    ],
)
def test_bad_config(data: Path, tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        replace(config(data, tmp_path), **change)


def test_no_images(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images found"):
        train(config(tmp_path / "empty", tmp_path / "run"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """Two CLI training steps on four synthetic 32×32 pairs."""
    root = tmp_path_factory.mktemp("vanilla")
    data = write_labelled_photos(root / "data")
    result = runner.invoke(
        app,
        [
            "train",
            "pix2pix",
            "--data",
            str(data),
            "--out",
            str(root / "run"),
            "--size",
            "32",
            "--steps",
            "2",
            "--batch-size",
            "2",
            "--ngf",
            "4",
            "--ndf",
            "4",
            "--every",
            "1",
            "--holdout",
            "0.25",
            "--threads",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["step"] == 2
    return root


def test_stage_vanilla_runs_the_checkpoint_on_its_layout(trained: Path) -> None:
    item = SyntheticCatalog(1, seed=3, size=(48, 64), staged_fraction=0.0)[0]
    # The expectation from the parts, not from stage_vanilla itself: the trained layout's
    # canvas through the checkpoint's generator.
    generator, meta = load_checkpoint(trained / "run")
    layout = meta["config"]["layout"]
    canvas, box = layout_canvas(item.image, item.mask, 32, layout)
    with torch.inference_mode():
        expected = to_images(generator(to_tensor(canvas)))[0]
    a = stage_vanilla(item.image, item.mask, trained / "run")
    b = VanillaStager(trained / "run")(item.image, item.mask)
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, expected) and np.array_equal(b.image, expected)
    assert np.array_equal(b.canvas, canvas) and b.placement == box
    assert b.provenance["step"] == 2 and b.provenance["method"] == "vanilla"
    assert b.provenance["layout"] == layout
    big = stage_vanilla(item.image, item.mask, trained / "run", size=64)
    assert big.shape == (64, 64, 3)


def test_cli_stage_vanilla_writes_candidate_and_manifest(trained: Path, tmp_path: Path) -> None:
    item = SyntheticCatalog(1, seed=3, size=(48, 64), staged_fraction=0.0)[0]
    product = write_image(tmp_path / "chair.png", item.image)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "stage",
            str(product),
            "--method",
            "vanilla",
            "--checkpoint",
            str(trained / "run"),
            "--out",
            str(out),
            "--segmenter",
            "solid-background",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "chair" / "candidate-0.png").exists()
    manifest = json.loads((out / "chair" / "manifest.json").read_text())
    assert manifest["method"] == "vanilla" and manifest["input"] == str(product)
    (cand,) = manifest["candidates"]
    assert cand["path"] == "candidate-0.png" and cand["catalog_id"] is None and cand["slot"] is None
    x0, y0, x1, y1 = cand["placement"]
    assert 0 <= x0 < x1 <= 32 and 0 <= y0 < y1 <= 32
    assert set(cand["seconds"]) == {"segment", "layout", "generate"}


def test_cli_bad_inputs(trained: Path, tmp_path: Path) -> None:
    product = write_image(tmp_path / "p.png", np.full((32, 32, 3), 255, np.uint8))
    cases = [
        (["stage", str(product), "--method", "vanilla"], "--checkpoint: required"),
        (
            ["stage", str(product), "--method", "vanilla", "--checkpoint", str(tmp_path / "x.pt")],
            "does not exist",
        ),
        (["stage", str(product), "--method", "gan"], "--method"),
        (["stage", str(product)], "--catalog: required"),
        (
            [
                "train",
                "pix2pix",
                "--data",
                str(trained / "data"),
                "--out",
                str(tmp_path / "r"),
                "--size",
                "48",
            ],
            "power of two",
        ),
        (
            ["train", "pix2pix", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")],
            "does not exist",
        ),
    ]
    (tmp_path / "empty").mkdir()
    cases.append(
        (
            ["train", "pix2pix", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "r")],
            "no images found",
        )
    )
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
