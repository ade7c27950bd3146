"""The shared training-loop helpers: progress lines, checkpoint rotation, split, crops."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from adstage.errors import InputError
from adstage.train.loop import Progress, center_square, restore, save_checkpoint, split


def test_progress_logs_every_n_steps_and_the_last() -> None:
    records: list[dict] = []
    progress = Progress(total=7, every=3, log=logging.getLogger("t"), on_log=records.append)
    for step in range(1, 8):
        progress.step(step, {"loss": torch.tensor(0.123456789), "tiny": torch.tensor(0.00123456)})
    assert [r["step"] for r in records] == [3, 6, 7]
    assert records[0]["loss"] == 0.1235 and records[0]["tiny"] == 0.001235
    assert records[-1]["eta_s"] == 0 and records[0]["steps_per_s"] > 0


@dataclass
class _Config:
    size: int = 8


def test_checkpoints_rotate_and_restore(tmp_path: Path) -> None:
    net = torch.nn.Linear(2, 2)
    rng = np.random.default_rng(0)
    for step in (1, 2, 3):
        path = save_checkpoint(
            tmp_path, step=step, seconds=step * 1.5, config=_Config(), parts={"net": net},
            rng=rng, keep=2,
        )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint-0000002.pt",
        "checkpoint-0000003.pt",
    ]
    expected = rng.random()
    state = torch.load(path, weights_only=False) | {"path": str(path)}
    other, fresh = torch.nn.Linear(2, 2), np.random.default_rng(99)
    step, seconds = restore(state, {"net": other}, fresh, logging.getLogger("t"))
    assert (step, seconds) == (3, pytest.approx(4.5))
    assert fresh.random() == expected  # the loop's batches continue where they stopped
    assert torch.equal(other.weight, net.weight) and state["config"] == {"size": 8}


def test_split_writes_the_held_out_paths_and_refuses_an_empty_training_set(tmp_path: Path) -> None:
    held = np.array([False, True, False, True])
    data = split(tmp_path, ["a", "d", "b", "c"], held, "photos")
    assert data.train.tolist() == [0, 2] and data.held == ["c", "d"]
    assert (tmp_path / "held_out.txt").read_text() == "c\nd\n"
    with pytest.raises(InputError, match="every one of the 2 pairs is held out"):
        split(tmp_path, ["a", "b"], np.array([True, True]), "pairs")


def test_center_square_cuts_the_longer_side() -> None:
    image = np.arange(5 * 3).reshape(5, 3)
    assert center_square(image).tolist() == image[1:4].tolist()
    assert center_square(image.T).tolist() == image.T[:, 1:4].tolist()
