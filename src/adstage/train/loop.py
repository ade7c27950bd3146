"""What every adstage training loop shares: settings, data folders, resumable state, the loop.

A trainer checks its config's common settings with :func:`check_settings`. A run's photos come
from data folders (:func:`photo_sources`), split by file name (:func:`held_out`, :func:`split`).
A run's state is its networks and optimisers (by name), the step, the seconds spent in steps,
and both random generators (torch's global one and the loop's numpy ``Generator``), so that a
resumed run (:func:`resume_state`) takes the same batches and gives the same weights as a
straight one. :func:`run_loop` draws the batches, calls the trainer's step, logs progress and
writes checkpoints atomically as ``OUT/checkpoint-<step>.pt`` (the ``keep`` newest are kept) with
a sample grid beside each as ``OUT/samples/step-<step>.png``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.io.atomic import atomic_open, atomic_write_text
from adstage.io.checkpoints import CHECKPOINT_GLOB, latest_checkpoint
from adstage.io.images import iter_image_paths, write_image
from adstage.provenance import versions
from adstage.types import RGB


class Dataclass(Protocol):
    """Any dataclass instance: a config, stored whole (``asdict``) in every checkpoint."""

    __dataclass_fields__: ClassVar[dict[str, Any]]


class LoopConfig(Dataclass, Protocol):
    """What the shared helpers read from a trainer's config (a frozen dataclass)."""

    @property
    def out(self) -> str: ...
    @property
    def steps(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def lr(self) -> float: ...
    @property
    def every(self) -> int: ...
    @property
    def log_every(self) -> int: ...
    @property
    def keep(self) -> int: ...
    @property
    def device(self) -> str: ...
    @property
    def threads(self) -> int | None: ...


def check_settings(config: LoopConfig, positive: Sequence[str]) -> None:
    """The checks every trainer's config shares: the ``positive`` fields are positive integers,
    ``lr`` is positive, ``device`` is ``cpu`` or an available ``cuda[:N]``, ``threads`` is a
    positive integer or None."""
    for name in positive:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name}: expected a positive integer, got {value!r}")
    if not config.lr > 0:
        raise InputError(f"lr: expected a positive learning rate, got {config.lr!r}")
    device, threads = config.device, config.threads
    if device != "cpu" and not device.startswith("cuda"):
        raise InputError(f"device: expected cpu or cuda[:N], got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device: {device} was asked for but CUDA is not available")
    if threads is not None and (isinstance(threads, bool) or threads < 1):
        raise InputError(f"threads: expected a positive integer or None, got {threads!r}")


def held_out(name: str, fraction: float) -> bool:
    """The deterministic split: by the SHA-1 of the file name (not its folder)."""
    return int(hashlib.sha1(name.encode("utf-8")).hexdigest(), 16) % 1000 < round(fraction * 1000)


def photo_sources(folder: Path, where: Sequence[str] = ()) -> list[tuple[Path, Path | None]]:
    """(image, mask file or None) for each photo of a data folder (or a single file).

    A ``metadata.csv`` (or ``labels.csv``) in the folder lists the photos (``path``) and their
    product masks (``mask_path``, optional); ``where`` keeps the rows whose ``column=value``
    match (a CSV without that column is not filtered). Without a CSV, every image in the folder
    tree, without masks."""
    if not folder.exists():
        raise InputError(f"data: {folder} does not exist")
    if folder.is_file():
        return [(folder, None)]
    table = next(
        (folder / n for n in ("metadata.csv", "labels.csv") if (folder / n).is_file()), None
    )
    if table is None:
        return [(p, None) for p in iter_image_paths(folder, recursive=True)]
    with open(table, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rules = [rule.split("=", 1) for rule in where]
    out = []
    for row in rows:
        if "path" not in row:
            raise InputError(f"data: {table} has no 'path' column")
        if any(col in row and row[col] != value for col, value in rules):
            continue
        mask = folder / row["mask_path"] if row.get("mask_path") else None
        out.append((folder / row["path"], mask))
    return out


def center_square(image: NDArray[Any]) -> NDArray[Any]:
    """The largest centred square of ``image`` (the longer side is cut; a view, not a copy)."""
    h, w = image.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return image[y : y + s, x : x + s]


@dataclass(frozen=True)
class Split:
    """``train``: the indices of the training items; ``held``: the held-out paths, sorted."""

    train: NDArray[np.intp]
    held: list[str]


def split(out: Path, paths: Sequence[str], held: NDArray[np.bool_], what: str) -> Split:
    """The training indices and the held-out paths of ``paths`` (``held``: bool per item),
    which go to ``out/held_out.txt``; ``what`` names the items in the error when every one is
    held out."""
    train = np.flatnonzero(~held)
    if train.size == 0:
        raise InputError(f"holdout: every one of the {len(paths)} {what} is held out")
    held_paths = sorted(p for p, h in zip(paths, held, strict=True) if h)
    atomic_write_text(out / "held_out.txt", "".join(f"{p}\n" for p in held_paths))
    return Split(train, held_paths)


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


def resume_state(
    config: LoopConfig,
    *,
    resume: bool,
    read: Callable[..., dict[str, Any]],
    architecture: Sequence[str],
    log: logging.Logger,
) -> dict[str, Any] | None:
    """With ``resume``, the latest checkpoint of ``config.out`` as ``read(path, device=…)``
    returns it, or None when there is none yet (a fresh start). Raises when the checkpoint was
    trained with other ``architecture`` settings (config keys that shape the networks)."""
    if not resume:
        return None
    out = Path(config.out)
    latest = latest_checkpoint(out)
    if latest is None:
        log.warning("resume: no checkpoint in %s, starting from step 0", out)
        return None
    state = read(latest, device=config.device)
    fields = getattr(type(config), "__dataclass_fields__", {})
    for key in architecture:
        # a key the checkpoint's version did not have yet: it trained with that key's default
        default = fields[key].default if key in fields else None
        saved, given = state["config"].get(key, default), getattr(config, key)
        if saved != given:
            raise InputError(
                f"{key}: the checkpoint {latest} was trained with {saved!r}, got {given!r}; "
                "pass the same value to resume"
            )
    return state


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


def write_config(out: Path, config: Dataclass) -> None:
    """``out/config.json``: the run's settings and the package versions, readable without torch."""
    text = json.dumps({"config": asdict(config), "versions": versions()}, indent=2) + "\n"
    atomic_write_text(out / "config.json", text)


def save_checkpoint(
    out: Path,
    *,
    step: int,
    seconds: float,
    config: Dataclass,
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


def run_loop(
    config: LoopConfig,
    data: Split,
    parts: Mapping[str, Stateful],
    rng: np.random.Generator,
    state: Mapping[str, Any] | None,
    *,
    step: Callable[[int, NDArray[np.intp]], Mapping[str, torch.Tensor]],
    samples: Callable[[], RGB],
    log: logging.Logger,
    on_log: Callable[[dict[str, Any]], None] | None,
) -> TrainResult:
    """Train until ``config.steps``, from ``state`` (a checkpoint from :func:`resume_state`) or
    from step 0; write ``config.json``, the checkpoints (``parts`` by name, every ``every`` steps
    and at the last) and a ``samples()`` grid beside each.

    Each step draws ``batch_size`` training indices of ``data`` with ``rng`` (with replacement
    only when there are fewer) and calls ``step(step, indices)``, which trains on them and
    returns its losses (name → scalar tensor) for :class:`Progress`. A run resumed at or past
    ``steps`` trains nothing and writes its checkpoint again only when none is there."""
    out = Path(config.out)
    n, seconds = 0, 0.0
    if state is not None:
        n, seconds = restore(state, parts, rng, log)
    write_config(out, config)

    def checkpoint() -> Path:
        path = save_checkpoint(
            out, step=n, seconds=seconds, config=config, parts=parts, rng=rng, keep=config.keep
        )
        write_image(out / "samples" / f"step-{n:07d}.png", samples())
        return path

    for part in parts.values():
        if isinstance(part, torch.nn.Module):
            part.train()
    path = latest_checkpoint(out) if state is not None else None
    progress = Progress(config.steps, config.log_every, log, on_log)
    size, train = config.batch_size, data.train
    while n < config.steps:
        started = time.perf_counter()
        losses = step(n, rng.choice(train, size, replace=train.size < size))
        n += 1
        seconds += time.perf_counter() - started
        progress.step(n, losses)
        if n % config.every == 0 or n == config.steps:
            path = checkpoint()
    if path is None:  # resumed at or past the target: nothing trained, nothing new to write
        path = checkpoint()
    return TrainResult(
        out=out,
        step=n,
        seconds=seconds,
        checkpoint=path,
        n_train=int(train.size),
        n_held_out=len(data.held),
    )
