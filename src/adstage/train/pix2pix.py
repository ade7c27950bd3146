"""Train the pix2pix vanilla-staging baseline (Isola et al., CVPR 2017; Ku et al. 2023, §5.2).

    adstage train pix2pix --data ../shared/data/ikea-room-scenes --size 128 --steps 2000 --out run/

Read top to bottom:

1. **Pairs.** Every staged photo in ``--data`` gives one pair. The product mask is the photo's
   mask file when the folder's ``metadata.csv`` (or ``labels.csv``) has a ``mask_path`` column,
   otherwise it is segmented once with ``SEGMENTERS.create(segmenter)`` (default ``auto``) and
   cached in ``OUT/masks/``. Photo and mask are **center-cropped** to a square (the longer side
   is cut, nothing is padded) and resized to ``size``² (area interpolation). Input = the product's
   pixels over white (``image · α + 255 · (1 − α)``), target = the photo. Masks covering < 0.5 %
   or > 95 % of the crop are skipped (nothing to condition on, or nothing to generate).
2. **Split.** A file is held out when ``int(sha1(file name)) % 1000 < holdout · 1000``: the same
   files on every machine and every run. Their paths go to ``OUT/held_out.txt``.
3. **Layout.** The medians of the training boxes (centre and ``sqrt(w·h)``, as fractions of the
   crop) go into the config as ``layout``; staging puts products there (``layout_canvas`` of
   the vanilla stager).
4. **Loop.** LSGAN losses (least squares; Mao et al. 2017, the pix2pix code's ``lsgan`` option):
   ``D`` minimises ``½[(D(x, y) − 1)² + D(x, G(x))²]``, ``G`` minimises
   ``(D(x, G(x)) − 1)² + λ·|G(x) − y|₁`` with λ = 100. Adam, lr 2·10⁻⁴, β = (0.5, 0.999). Random
   horizontal flips. Batches are drawn with a seeded numpy generator.
5. **Checkpoints** every ``every`` steps and at the end: ``OUT/checkpoint-<step>.pt`` holding both
   networks, both optimisers, the step, the training seconds, the RNG states (torch, numpy) and
   the full config, written atomically; the last ``keep`` are kept. ``resume=True`` continues from
   the latest one. A sample grid (input | output | target, held-out pairs first) goes to
   ``OUT/samples/step-<step>.png`` at each checkpoint. Progress (losses, steps/s) is logged.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from adstage._torch import torch_threads
from adstage.errors import InputError
from adstage.io.images import read_image, read_mask, write_mask
from adstage.models.pix2pix import (
    PatchDiscriminator,
    UNetGenerator,
    check_size,
    on_white,
    read_checkpoint,
    to_images,
    to_tensor,
)
from adstage.segment import SEGMENTERS
from adstage.train.loop import (
    Stateful,
    TrainResult,
    center_square,
    check_settings,
    held_out,
    photo_sources,
    resume_state,
    run_loop,
    split,
)
from adstage.types import RGB

log = logging.getLogger(__name__)

ARCHITECTURE = ("size", "ngf", "ndf", "spectral")
"""Config keys that must match when resuming (they shape the networks)."""

MIN_FRACTION, MAX_FRACTION = 0.005, 0.95


@dataclass(frozen=True)
class Pix2PixConfig:
    """Everything a run needs; stored in every checkpoint. ``where``: ``column=value`` filters on
    the data folders' CSV rows (a CSV without that column is not filtered)."""

    data: tuple[str, ...]
    out: str
    size: int = 256
    steps: int = 1000
    batch_size: int = 1
    ngf: int = 64
    ndf: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    l1_weight: float = 100.0
    spectral: bool = False
    every: int = 500
    log_every: int = 10
    holdout: float = 0.1
    seed: int = 0
    device: str = "cpu"
    segmenter: str = "auto"
    threads: int | None = None
    where: tuple[str, ...] = ()
    keep: int = 2
    layout: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.data:
            raise InputError("data: expected at least one folder of staged photos, got none")
        check_size(self.size)
        check_settings(self, ("steps", "batch_size", "ngf", "ndf", "every", "log_every", "keep"))
        if not 0.0 <= self.holdout < 1.0:
            raise InputError(f"holdout: expected a fraction in [0, 1), got {self.holdout!r}")
        for rule in self.where:
            if "=" not in rule:
                raise InputError(f"where: expected column=value, got {rule!r}")


@dataclass(frozen=True)
class Pairs:
    """``inputs``/``targets``: ``N×size×size×3`` ``uint8``; ``held``: bool per pair."""

    inputs: np.ndarray
    targets: np.ndarray
    held: np.ndarray
    paths: list[str]
    boxes: np.ndarray  # N×3: cx, cy, side as fractions of the crop


# --------------------------------------------------------------------------------------------
# 1–3. pairs, split, layout


def _mask_for(image: RGB, path: Path, mask_file: Path | None, cache: Path, segment: Any) -> Any:
    if mask_file is not None:
        return read_mask(mask_file, resize_to=image.shape[:2])
    key = hashlib.sha1(str(path.resolve()).encode("utf-8")).hexdigest()[:12]
    cached = cache / f"{path.stem}-{key}.png"
    if cached.exists():
        return read_mask(cached, resize_to=image.shape[:2])
    alpha = segment(image).alpha
    write_mask(cached, alpha)
    return alpha


def build_pairs(config: Pix2PixConfig) -> Pairs:
    """Read, mask, crop and resize every photo once (masks cached in ``OUT/masks``)."""
    sources = [s for folder in config.data for s in photo_sources(Path(folder), config.where)]
    if not sources:
        raise InputError(f"data: no images found in {', '.join(config.data)}")
    segment = None
    cache = Path(config.out) / "masks"
    inputs, targets, held, paths, boxes = [], [], [], [], []
    t0 = time.perf_counter()
    for n, (path, mask_file) in enumerate(sources):
        image = read_image(path)
        if mask_file is None and segment is None:
            segment = SEGMENTERS.create(config.segmenter)
        alpha = _mask_for(image, path, mask_file, cache, segment)
        image, alpha = center_square(image), center_square(alpha)
        size = (config.size, config.size)
        image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
        alpha = np.clip(cv2.resize(alpha, size, interpolation=cv2.INTER_AREA), 0.0, 1.0)
        binary = alpha >= 0.5
        if not MIN_FRACTION <= binary.mean() <= MAX_FRACTION:
            log.info("%s: product covers %.1f%% of the crop, skipped", path, 100 * binary.mean())
            continue
        ys, xs = np.nonzero(binary)
        w, h = xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()
        boxes.append(
            [
                (xs.min() + w / 2) / config.size,
                (ys.min() + h / 2) / config.size,
                np.sqrt(w * h) / config.size,
            ]
        )
        inputs.append(on_white(image, alpha))
        targets.append(image)
        held.append(held_out(path.name, config.holdout))
        paths.append(str(path))
        if (n + 1) % 50 == 0:
            log.info(
                "pairs: %d / %d photos read (%.0f s)", n + 1, len(sources), time.perf_counter() - t0
            )
    if not paths:
        raise InputError(f"data: none of the {len(sources)} images has a usable product mask")
    return Pairs(np.stack(inputs), np.stack(targets), np.array(held), paths, np.array(boxes))


def layout_of(pairs: Pairs) -> dict[str, float]:
    """Median training box: where staging puts the product on the blank canvas."""
    train = pairs.boxes[~pairs.held] if (~pairs.held).any() else pairs.boxes
    cx, cy, side = np.median(train, axis=0)
    return {"cx": round(float(cx), 4), "cy": round(float(cy), 4), "side": round(float(side), 4)}


# --------------------------------------------------------------------------------------------
# 4–5. loop, checkpoints, samples


def _sample_grid(generator: torch.nn.Module, pairs: Pairs, device: str) -> RGB:
    order = np.concatenate([np.flatnonzero(pairs.held), np.flatnonzero(~pairs.held)])[:4]
    generator.eval()
    with torch.inference_mode():
        outputs = to_images(generator(to_tensor(list(pairs.inputs[order])).to(device)))
    generator.train()
    rows = [
        np.hstack([pairs.inputs[i], out, pairs.targets[i]])
        for i, out in zip(order, outputs, strict=True)
    ]
    return np.vstack(rows)


def train(
    config: Pix2PixConfig,
    *,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train (or with ``resume`` continue) pix2pix until ``config.steps``; see the module doc.

    ``config.threads`` sets torch's CPU threads for the run (restored afterwards): on a shared
    machine, more threads than free cores make every step several times slower.
    """
    with torch_threads(config.threads):
        return _train(config, resume=resume, on_log=on_log)


def _train(
    config: Pix2PixConfig,
    *,
    resume: bool,
    on_log: Callable[[dict[str, Any]], None] | None,
) -> TrainResult:
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    device = config.device
    state = resume_state(
        config, resume=resume, read=read_checkpoint, architecture=ARCHITECTURE, log=log
    )

    # 1–3. pairs, split, layout
    t0 = time.perf_counter()
    pairs = build_pairs(config)
    data = split(out, pairs.paths, pairs.held, "pairs")
    config = Pix2PixConfig(**{**asdict(config), "layout": layout_of(pairs)})
    log.info(
        "pairs: %d train, %d held out, size %d (%.0f s); layout %s",
        data.train.size,
        len(data.held),
        config.size,
        time.perf_counter() - t0,
        config.layout,
    )

    # networks, optimisers, RNGs
    torch.manual_seed(config.seed)
    generator = UNetGenerator(size=config.size, ngf=config.ngf).to(device)
    discriminator = PatchDiscriminator(ndf=config.ndf, spectral=config.spectral).to(device)
    betas = (config.beta1, 0.999)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=betas)
    rng = np.random.default_rng(config.seed)
    parts: dict[str, Stateful] = {
        "generator": generator,
        "discriminator": discriminator,
        "opt_g": opt_g,
        "opt_d": opt_d,
    }

    # 4. one step on the pairs ``idx`` (drawn by the loop with ``rng``)
    def one_step(step: int, idx: NDArray[np.intp]) -> dict[str, torch.Tensor]:
        flip = rng.random(config.batch_size) < 0.5
        x = to_tensor(
            [
                pairs.inputs[i][:, ::-1] if f else pairs.inputs[i]
                for i, f in zip(idx, flip, strict=True)
            ]
        )
        y = to_tensor(
            [
                pairs.targets[i][:, ::-1] if f else pairs.targets[i]
                for i, f in zip(idx, flip, strict=True)
            ]
        )
        x, y = x.to(device), y.to(device)
        fake = generator(x)

        # discriminator: real pairs → 1, generated pairs → 0 (least squares)
        opt_d.zero_grad(set_to_none=True)
        d_real = discriminator(x, y)
        d_fake = discriminator(x, fake.detach())
        loss_d = 0.5 * (
            F.mse_loss(d_real, torch.ones_like(d_real))
            + F.mse_loss(d_fake, torch.zeros_like(d_fake))
        )
        loss_d.backward()  # type: ignore[no-untyped-call]
        opt_d.step()

        # generator: fool D, and stay close to the target (λ·L1)
        opt_g.zero_grad(set_to_none=True)
        d_fake = discriminator(x, fake)
        loss_gan = F.mse_loss(d_fake, torch.ones_like(d_fake))
        loss_l1 = F.l1_loss(fake, y)
        loss_g = loss_gan + config.l1_weight * loss_l1
        loss_g.backward()  # type: ignore[no-untyped-call]
        opt_g.step()

        return {"loss_d": loss_d, "loss_gan": loss_gan, "l1": loss_l1}

    # 4–5. the loop, checkpoints and samples
    return run_loop(
        config,
        data,
        parts,
        rng,
        state,
        step=one_step,
        samples=lambda: _sample_grid(generator, pairs, device),
        log=log,
        on_log=on_log,
    )
