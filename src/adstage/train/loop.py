"""What every adstage training loop shares: resumable state, checkpoints and progress lines.

A run's state is its networks and optimisers (by name), the step, the seconds spent in steps, and
both random generators (torch's global one and the loop's numpy ``Generator``), so that a resumed
run takes the same batches and gives the same weights as a straight one. Checkpoints are written
atomically as ``OUT/checkpoint-<step>.pt``; the ``keep`` newest are kept.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adstage.io.atomic import atomic_open, atomic_write_text
from adstage.io.checkpoints import CHECKPOINT_GLOB
from adstage.provenance import versions


@dataclass(frozen=True)
class TrainResult:
    """What a training run returns: its folder, the step reached, the seconds spent in steps, the
    last checkpoint and the size of the split."""

    out: Path
    step: int
    seconds: float
    checkpoint: Path
    n_train: int
    n_held_out: int


Stateful = torch.nn.Module | torch.optim.Optimizer
"""Anything with ``state_dict()`` / ``load_state_dict()`` that a checkpoint stores."""


def restore(
    state: Mapping[str, Any],
    parts: Mapping[str, Stateful],
    rng: np.random.Generator,
    log: logging.Logger,
) -> tuple[int, float]:
    """Load ``parts`` (by their keys) and both random states from ``state``; (step, seconds)."""
    for key, part in parts.items():
        part.load_state_dict(state[key])
    torch.set_rng_state(state["rng"]["torch"])
    rng.bit_generator.state = state["rng"]["numpy"]
    log.info("resumed from %s at step %d", state["path"], int(state["step"]))
    return int(state["step"]), float(state["seconds"])


def write_config(out: Path, config: Any) -> None:
    """``out/config.json``: the run's settings and the package versions, readable without torch."""
    text = json.dumps({"config": asdict(config), "versions": versions()}, indent=2) + "\n"
    atomic_write_text(out / "config.json", text)


def save_checkpoint(
    out: Path,
    *,
    step: int,
    seconds: float,
    config: Any,
    parts: Mapping[str, Stateful],
    rng: np.random.Generator,
    keep: int,
) -> Path:
    """Write ``out/checkpoint-<step>.pt`` atomically (config, parts, random states, versions) and
    delete all but the ``keep`` newest checkpoints."""
    state: dict[str, Any] = {
        "step": step,
        "seconds": seconds,
        "config": asdict(config),
        **{key: part.state_dict() for key, part in parts.items()},
        "rng": {"torch": torch.get_rng_state(), "numpy": rng.bit_generator.state},
        "versions": versions(),
    }
    path = out / f"checkpoint-{step:07d}.pt"
    with atomic_open(path, "wb") as handle:
        torch.save(state, handle)
    for old in sorted(out.glob(CHECKPOINT_GLOB))[:-keep]:
        old.unlink()
    return path


class Progress:
    """Every ``every`` steps (and at the last), one log line: the losses, the rate over the steps
    since the previous line, and the time left at that rate; also passed to ``on_log``."""

    def __init__(
        self,
        total: int,
        every: int,
        log: logging.Logger,
        on_log: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.total, self.every, self.log, self.on_log = total, every, log, on_log
        self._start, self._steps = time.perf_counter(), 0

    def step(self, step: int, losses: Mapping[str, torch.Tensor]) -> None:
        """Count one step; on a logging step, log ``losses`` (name → scalar tensor; read only
        then, so other steps do not wait for them): 4 decimals, 6 below 0.01."""
        self._steps += 1
        if step % self.every and step != self.total:
            return
        rate = self._steps / max(time.perf_counter() - self._start, 1e-9)
        record: dict[str, Any] = {"step": step, "steps": self.total}
        for name, value in losses.items():
            v = float(value.item())
            record[name] = round(v, 4 if abs(v) >= 0.01 else 6)
        record |= {
            "steps_per_s": round(rate, 3),
            "eta_s": round((self.total - step) / max(rate, 1e-9)),
        }
        self.log.info("%s", record)
        if self.on_log is not None:
            self.on_log(record)
        self._start, self._steps = time.perf_counter(), 0
