"""EdgeConnect training: two steps on four tiny photos, reload reproduces the outputs, resume
continues the step count (and equals an uninterrupted run), bad inputs, the CLI."""

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
from adstage.errors import InputError
from adstage.io.images import read_image
from adstage.models.edgeconnect import load_checkpoint, read_checkpoint, run
from adstage.train.inpaint import (
    InpaintConfig,
    load_photos,
    make_batch,
    sample_grid,
    sample_inputs,
    train,
)
from scenes import write_labelled_photos

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_labelled_photos(tmp_path_factory.mktemp("photos"), size=(40, 48))


def config(data: Path, out: Path, **kw) -> InpaintConfig:
    base = dict(
        data=(str(data),),
        out=str(out),
        size=32,
        steps=2,
        batch_size=2,
        width=0.0625,
        blocks=1,
        features="tiny",
        threads=1,
        holdout=0.0,
        log_every=1,
        gt_edge_steps=1,
    )
    return InpaintConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def trained(data: Path, tmp_path_factory) -> tuple[InpaintConfig, object]:
    cfg = config(data, tmp_path_factory.mktemp("run"))
    records: list[dict] = []
    result = train(cfg, on_log=records.append)
    assert [r["step"] for r in records] == [1, 2]
    assert all(np.isfinite(v) for r in records for v in r.values())
    return cfg, result


def test_two_steps_write_checkpoint_config_and_samples(trained) -> None:
    cfg, result = trained
    assert result.step == 2 and result.n_train == 4 and result.n_shapes == 4
    assert result.checkpoint.name == "checkpoint-0000002.pt"
    state = read_checkpoint(result.checkpoint)
    assert state["config"]["width"] == cfg.width and state["config"]["wbl"] is True
    assert {"edge_gen", "inpaint_gen", "edge_dis", "image_dis", "opt_g1", "opt_d2"} <= set(state)
    saved = json.loads((Path(cfg.out) / "config.json").read_text())["config"]
    assert saved["band"] == cfg.band and saved["wbl_boundary"] == 0.9
    grid = read_image(Path(cfg.out) / "samples" / "step-0000002.png")
    assert grid.shape == (4 * 32, 4 * 32, 3)


def test_reload_reproduces_the_outputs(trained) -> None:
    cfg, result = trained
    edge_gen, inpaint_gen, meta = load_checkpoint(Path(cfg.out))  # the folder → its latest
    assert meta["step"] == 2
    photos = load_photos(cfg)
    images, holes = sample_inputs(cfg, photos)
    grid = sample_grid(edge_gen, inpaint_gen, cfg, images, holes)
    saved = read_image(Path(cfg.out) / "samples" / "step-0000002.png")
    assert np.array_equal(grid, saved)  # the training-time outputs, bit for bit
    x, e, m = make_batch(cfg, images, holes)
    with torch.inference_mode():
        a = run(edge_gen, inpaint_gen, x, e, m)
        b = run(*load_checkpoint(result.checkpoint)[:2], x, e, m)
    assert torch.equal(a.merged, b.merged) and torch.equal(a.edges, b.edges)
    assert a.image.shape == (4, 3, 32, 32) and a.edges.shape == (4, 1, 32, 32)
    assert float(a.image.min()) >= 0 and float(a.image.max()) <= 1
    assert torch.equal(a.merged * (1 - m), x * (1 - m))  # known pixels pass through


def test_resume_continues_and_matches_an_uninterrupted_run(data: Path, tmp_path: Path) -> None:
    straight = train(config(data, tmp_path / "a", steps=3))
    first = train(config(data, tmp_path / "b", steps=2))
    assert first.step == 2
    resumed = train(config(data, tmp_path / "b", steps=3), resume=True)
    assert resumed.step == 3 and resumed.checkpoint.name == "checkpoint-0000003.pt"
    sa, sb = read_checkpoint(straight.checkpoint), read_checkpoint(resumed.checkpoint)
    for key in ("edge_gen", "inpaint_gen", "image_dis"):
        for name, value in sa[key].items():
            assert torch.allclose(value, sb[key][name], atol=1e-6), (key, name)
    again = train(config(data, tmp_path / "b", steps=3), resume=True)  # at target: no step
    assert again.step == 3
    with pytest.raises(InputError, match="width"):
        train(config(data, tmp_path / "b", steps=4, width=0.125), resume=True)


def test_no_wbl_and_image_wbl_run(data: Path, tmp_path: Path) -> None:
    for kw in ({"wbl": False}, {"wbl_image": True, "band": 2, "gt_edge_steps": 0}):
        result = train(config(data, tmp_path / str(len(kw)), steps=1, **kw))
        assert read_checkpoint(result.checkpoint)["config"]["wbl"] == kw.get("wbl", True)


def test_bad_configs(data: Path, tmp_path: Path) -> None:
    base = config(data, tmp_path)
    for kw, match in (
        ({"size": 30}, "multiple of 4"),
        ({"width": 0}, "width"),
        ({"band": -1}, "band"),
        ({"device": "tpu"}, "device"),
        ({"features": "vgg"}, "features"),
        ({"data": ()}, "data"),
    ):
        with pytest.raises(InputError, match=match):
            replace(base, **kw)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        train(config(tmp_path / "empty", tmp_path / "o"))
    with pytest.raises(InputError, match="does not exist"):
        train(config(tmp_path / "missing", tmp_path / "o"))


def test_cli_train_inpaint(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = ["train", "inpaint", "-d", str(data), "-o", str(out), "--size", "32", "--steps", "1"]
    args += ["--width", "0.0625", "--blocks", "1", "--features", "tiny", "--threads", "1"]
    args += ["--no-wbl", "--band", "3", "--holdout", "0", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["step"] == 1 and summary["photos"]["train"] == 4
    cfg = read_checkpoint(summary["checkpoint"])["config"]
    assert cfg["wbl"] is False and cfg["band"] == 3
    bad = runner.invoke(app, [*args[:-1], "--size", "30"])
    assert bad.exit_code == 2 and "multiple of 4" in bad.stderr


def test_cli_overwrite_removes_the_earlier_runs_checkpoints(data: Path, tmp_path: Path) -> None:
    """After --overwrite, a plain re-run continues the new run, not the old run's higher steps."""
    out = tmp_path / "cli"
    args = ["train", "inpaint", "-d", str(data), "-o", str(out), "--size", "32"]
    args += ["--width", "0.0625", "--blocks", "1", "--features", "tiny", "--threads", "1"]
    args += ["--holdout", "0", "--json", "--every", "1"]
    assert runner.invoke(app, [*args, "--steps", "2"]).exit_code == 0
    assert len(list(out.glob("checkpoint-*.pt"))) == 2
    again = runner.invoke(app, [*args, "--steps", "1", "--overwrite"])
    assert again.exit_code == 0, again.stderr
    assert [p.name for p in out.glob("checkpoint-*.pt")] == ["checkpoint-0000001.pt"]
    resumed = runner.invoke(app, [*args, "--steps", "1"])
    assert json.loads(resumed.stdout)["step"] == 1
