"""An adversarial refiner trained here against the dev rooms' own objects (issue 13, session 39).

    python benchmarks/adversarial_refiner.py capture --kinds --heights --catalog \\
        benchmarks/.cache/realism-catalog-512-typed --seed 901 --n 250 --label T-capture
    python benchmarks/adversarial_refiner.py train       # refiner, critic, two-sample accuracy
    python benchmarks/adversarial_refiner.py make --kinds --heights --catalog \\
        benchmarks/.cache/realism-catalog-512-typed --seed 13 --label A-adv
    python benchmarks/judge_study.py ab --label A-adv --against A-s37 --seed 13

The harmoniser (``harmoniser.py``) learnt to undo a perturbation written by hand, a guess at
what makes a catalog photo look like one; the judges did not see its change. This learns the
difference itself, the way SimGAN makes synthetic pictures look real (Shrivastava et al., CVPR
2017: a refiner network, a local adversarial loss against real pictures, a self-regularisation
that keeps the refined picture near its input, and a history of refined pictures shown to the
critic): the refiner is :class:`harmoniser.Harmoniser` (crop and product mask in, a smooth log-RGB
gain field out, started at the identity; its channels averaged and blurred, so that it lightens
and darkens but neither tints nor draws texture: a first run with three free gains painted
products green and magenta, a second without the blur drew a grid over them) and may
change the product and a ring of :data:`RING` pixels around it (its contact and shadows: :func:`region`); the critic is a patch discriminator
(:class:`Critic`, least squares) shown the square crops of real objects in the dev rooms
(``harmoniser.objects``) against the same crops of staged products, refined.

``capture`` runs ``judge_study.py make`` (same arguments) and keeps every composite's crop and
product mask (``.cache/adversarial-staged.npz``); the products of the judged sets
(:data:`JUDGED`) are refused, not staged, so nothing judged is trained on. ``train`` holds out the
products (and rooms) whose name hashes to 0 mod 5, trains :data:`STEPS` steps and measures on the
held-out crops whether a fresh critic (a pooled :class:`Critic`, trained on the training crops)
tells staged from real before and after refinement: its balanced accuracy (0.5: it cannot).
``make`` stages a judged set with every composite refined. The photos are non-commercial: nothing
of them, and no weights trained on them, enter the repository.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from _common import DATA, command, data_missing, judge_make
from adstage.composite.blend import scale_cutout
from adstage.io.atomic import atomic_write_text
from adstage.provenance import versions
from harmoniser import EPS, SIDE, Harmoniser, _blur, held_out, log_rgb, objects, square_crop

log = logging.getLogger("adversarial_refiner")
ROOT = Path(__file__).resolve().parent
CACHE = ROOT / ".cache"
STAGED = CACHE / "adversarial-staged.npz"
WEIGHTS = CACHE / "adversarial-refiner.pt"
JUDGED = ("A-s37", "A2-s38", "BB-lay")
"""The judged sets whose products ``capture`` refuses (their ``key.json`` under ``--work``)."""
RING = 12
"""Pixels (at :data:`harmoniser.SIDE`) around the product the refiner may change."""
SMOOTH = 4.0
"""The refiner's gains are blurred by a Gaussian of this σ (pixels at :data:`harmoniser.SIDE`):
light and shade, not texture (a first run without it drew a grid over the products)."""
LAMBDA = 5.0
"""The weight of the self-regularisation: the refined crop's mean squared log change."""
STEPS = 1200
BATCH = 16
HISTORY = 512
"""Refined crops kept for the critic (half of each batch it sees comes from them)."""
CRITIC_STEPS = 250
"""Steps of each fresh two-sample critic."""


def region(m: torch.Tensor) -> torch.Tensor:
    """Where the refiner may change an N×1×H×W crop: the mask ``m`` grown by :data:`RING`
    pixels, softened by a box of half that."""
    grown = F.max_pool2d(m, 2 * RING + 1, 1, RING)
    return F.avg_pool2d(grown, 2 * (RING // 2) + 1, 1, RING // 2)


class Critic(nn.Module):
    """A patch discriminator on log-RGB crops: a score per patch (about 38 px seen), or one per
    crop (``pooled``, the two-sample test's)."""

    def __init__(self, width: int = 32, pooled: bool = False) -> None:
        super().__init__()
        c = width
        self.pooled = pooled
        self.net = nn.Sequential(
            nn.Conv2d(3, c, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, 1),
            nn.GroupNorm(8, 2 * c),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, 4, 2, 1),
            nn.GroupNorm(8, 4 * c),
            nn.LeakyReLU(0.2),
            nn.Conv2d(4 * c, 1, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x / 3 + 1)
        return out.mean((1, 2, 3)) if self.pooled else out


def refine(net: Harmoniser, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-RGB crops ``x`` refined by ``net`` over :func:`region` of masks ``m``, and the
    change: the mean of the network's three log gains (the same on every channel: light and
    shade, no tint), blurred by :data:`SMOOTH`, × the region. The result is clamped to
    ``[log EPS, 0]`` as the judged weights were trained: a pure white (``log(1 + EPS)``) anywhere
    in the crop becomes 0, one grey level less (a flaw found after judging, kept so that the
    script reproduces what was judged)."""
    gains = _blur(net.gains(x, m).mean(1, keepdim=True), SMOOTH)
    change = gains.expand(-1, 3, -1, -1) * region(m)
    return (x + change).clamp(math.log(EPS), 0.0), change


def _flipped(x: torch.Tensor, g: torch.Generator, *more: torch.Tensor) -> list[torch.Tensor]:
    """``x`` (and ``more``, alike) with a random half of the crops mirrored."""
    f = torch.rand(x.shape[0], generator=g) < 0.5
    out = []
    for t in (x, *more):
        t = t.clone()
        t[f] = t[f].flip(3)
        out.append(t)
    return out


def _batched(fn: Callable[..., torch.Tensor], *xs: torch.Tensor, size: int = 64) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([fn(*(x[i : i + size] for x in xs)) for i in range(0, len(xs[0]), size)])


def two_sample(
    real: torch.Tensor,
    fake: torch.Tensor,
    real_test: torch.Tensor,
    fake_test: torch.Tensor,
    seed: int,
    steps: int = CRITIC_STEPS,
) -> float:
    """The balanced accuracy on (``real_test``, ``fake_test``) of a fresh pooled critic trained
    ``steps`` steps on (``real``, ``fake``) (Lopez-Paz & Oquab, ICLR 2017: 0.5 when the two
    cannot be told apart)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = Critic(pooled=True)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    half = BATCH
    for _ in range(steps):
        i = torch.randint(0, len(real), (half,), generator=g)
        j = torch.randint(0, len(fake), (half,), generator=g)
        xb = torch.cat([_flipped(real[i], g)[0], _flipped(fake[j], g)[0]])
        yb = torch.cat([torch.ones(half), torch.zeros(half)])
        loss = F.binary_cross_entropy_with_logits(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    said_real = _batched(net, real_test) > 0
    said_fake = _batched(net, fake_test) <= 0
    return float((said_real.float().mean() + said_fake.float().mean()) / 2)


def staged_crops(path: Path) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.bool_]]:
    """``capture``'s crops, masks (0–255) and held-out flags (by product name)."""
    with np.load(path) as z:
        test = np.array([held_out(str(n)) for n in z["names"]], bool)
        return z["crops"], z["masks"], test


def train(data: Path, staged: Path, steps: int = STEPS) -> dict[str, Any]:
    """Train the refiner; the held-out two-sample accuracies (see the module's docstring)."""
    torch.manual_seed(0)
    crops_sha256 = hashlib.sha256(staged.read_bytes()).hexdigest()
    rx, _, rtest = objects(data, CACHE / "realism-room-masks-512")
    sx, sm, stest = staged_crops(staged)
    real, real_t = log_rgb(rx[~rtest]), log_rgb(rx[rtest])
    fake, fake_t = log_rgb(sx[~stest]), log_rgb(sx[stest])
    fm = torch.from_numpy(sm[~stest]).float()[:, None] / 255.0
    fm_t = torch.from_numpy(sm[stest]).float()[:, None] / 255.0
    log.info(
        "crops: real %d + %d held out, staged %d + %d",
        len(real),
        len(real_t),
        len(fake),
        len(fake_t),
    )
    net, critic = Harmoniser(), Critic()
    nn.init.zeros_(net.out.weight)  # the identity to start with
    nn.init.zeros_(net.out.bias)
    opt_net = torch.optim.Adam(net.parameters(), 5e-4, betas=(0.5, 0.999))
    opt_critic = torch.optim.Adam(critic.parameters(), 2e-4, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(1)
    history: list[torch.Tensor] = []
    started = time.perf_counter()
    curve = []
    for step in range(steps):
        i = torch.randint(0, len(fake), (BATCH,), generator=g)
        xb, mb = _flipped(fake[i], g, fm[i])
        refined, change = refine(net, xb, mb)
        # the critic: real crops against refined ones, half of them from the history
        rb = _flipped(real[torch.randint(0, len(real), (BATCH,), generator=g)], g)[0]
        fb = refined.detach()
        if len(history) >= BATCH // 2:
            k = torch.randint(0, len(history), (BATCH // 2,), generator=g)
            fb = torch.cat([fb[: BATCH // 2], torch.stack([history[int(t)] for t in k])])
        history.extend(refined.detach()[: BATCH // 4])
        del history[:-HISTORY]
        loss_critic = ((critic(rb) - 1) ** 2).mean() + (critic(fb) ** 2).mean()
        opt_critic.zero_grad()
        loss_critic.backward()
        opt_critic.step()
        # the refiner: seen as real, changed little
        adversarial = ((critic(refined) - 1) ** 2).mean()
        kept = change.pow(2).sum((1, 2, 3)) / (3 * region(mb).sum((1, 2, 3))).clamp_min(1)
        loss = adversarial + LAMBDA * kept.mean()
        opt_net.zero_grad()
        loss.backward()
        opt_net.step()
        if step % 100 == 0 or step == steps - 1:
            point = {
                "step": step,
                "seconds": round(time.perf_counter() - started, 1),
                "critic": round(float(loss_critic.detach()), 4),
                "adversarial": round(float(adversarial.detach()), 4),
                "change": round(float(kept.detach().mean()), 5),
            }
            curve.append(point)
            log.info("%s", point)
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    part = WEIGHTS.with_suffix(".part.pt")
    torch.save(net.state_dict(), part)
    os.replace(part, WEIGHTS)
    net.eval()
    refined_all = _batched(lambda x, m: refine(net, x, m)[0], fake, fm)
    refined_t = _batched(lambda x, m: refine(net, x, m)[0], fake_t, fm_t)
    inside = region(fm_t) > 0.5
    moved = (refined_t - fake_t).abs().mean(1, keepdim=True)[inside]
    seeds = (0, 1, 2)
    before = [two_sample(real, fake, real_t, fake_t, s) for s in seeds]
    after = [two_sample(real, refined_all, real_t, refined_t, s) for s in seeds]
    return {
        "staged_crops_sha256": crops_sha256,
        "crops": {
            "real": {"train": len(real), "held_out": len(real_t)},
            "staged": {"train": len(fake), "held_out": len(fake_t)},
        },
        "steps": steps,
        "train_seconds": curve[-1]["seconds"],
        "held_out_change": {
            "mean_abs_log": round(float(moved.mean()), 4),
            "p95_abs_log": round(float(np.quantile(moved.numpy(), 0.95)), 4),
        },
        "two_sample_accuracy": {
            "seeds": list(seeds),
            "staged": [round(a, 3) for a in before],
            "refined": [round(a, 3) for a in after],
            "staged_mean": round(float(np.mean(before)), 3),
            "refined_mean": round(float(np.mean(after)), 3),
        },
        "curve": curve,
    }


def pasted_alpha(
    shape: tuple[int, int], rgba: NDArray[np.uint8], placement: Any, occluder: Any = None
) -> NDArray[np.float32]:
    """The product's alpha (``shape``, in [0, 1]): ``rgba`` scaled over ``placement.box``
    (clipped to the frame), less what an ``occluder`` in front hides (its hard mask; ``composite``
    softens the occluder's edge a little)."""
    h, w = shape
    x0, y0, x1, y1 = placement.box
    alpha = np.zeros((h, w), np.float32)
    drawn = scale_cutout(rgba, placement)[..., 3] / 255.0
    vx0, vy0, vx1, vy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if vx1 > vx0 and vy1 > vy0:
        alpha[vy0:vy1, vx0:vx1] = drawn[vy0 - y0 : vy1 - y0, vx0 - x0 : vx1 - x0]
    if occluder is not None:
        alpha *= 1.0 - occluder.astype(np.float32)
    return alpha


def refine_image(
    net: Harmoniser,
    image: NDArray[np.uint8],
    alpha: NDArray[np.float32],
    box: tuple[int, int, int, int],
) -> NDArray[np.uint8]:
    """``image`` with the product of ``alpha`` inside ``box`` and the ring around it refined by
    ``net``: the square crop as in training, the change brought back to the crop's size."""
    crop, (a, b, s) = square_crop(image, box, SIDE, cv2.INTER_AREA)
    mask, _ = square_crop(alpha, box, SIDE, cv2.INTER_AREA)
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    with torch.no_grad():
        change = refine(net, log_rgb(crop[None]), m)[1][0].permute(1, 2, 0).numpy()
    field = cv2.resize(change, (s, s), interpolation=cv2.INTER_LINEAR)
    h, w = alpha.shape
    gx0, gy0, gx1, gy1 = max(0, a), max(0, b), min(w, a + s), min(h, b + s)  # the crop seen
    out = image.copy()
    if gx1 <= gx0 or gy1 <= gy0:
        return out
    seen = np.log(image[gy0:gy1, gx0:gx1].astype(np.float32) / 255.0 + EPS)
    lit = np.clip(seen + field[gy0 - b : gy1 - b, gx0 - a : gx1 - a], math.log(EPS), 0.0)
    out[gy0:gy1, gx0:gx1] = np.clip(np.rint((np.exp(lit) - EPS) * 255.0), 0, 255).astype(np.uint8)
    return out


def capturing(
    composite: Callable[..., Any], out: dict[str, list[Any]], current: dict[str, str]
) -> Callable[..., Any]:
    """``composite`` that also keeps each result's square crop and product mask in ``out``."""

    def run(scene: Any, rgba: Any, placement: Any, **kwargs: Any) -> Any:
        made = composite(scene, rgba, placement, **kwargs)
        alpha = pasted_alpha(made.image.shape[:2], rgba, placement, kwargs.get("occluder"))
        out["crops"].append(square_crop(made.image, placement.box, SIDE, cv2.INTER_AREA)[0])
        mask = square_crop(alpha, placement.box, SIDE, cv2.INTER_AREA)[0]
        out["masks"].append(np.clip(np.rint(mask * 255), 0, 255).astype(np.uint8))
        out["names"].append(current["name"])
        return made

    return run


def refined_composite(composite: Callable[..., Any], net: Harmoniser) -> Callable[..., Any]:
    """``composite`` with its result passed through :func:`refine_image`; a composite with
    neither light match nor shading asked for (``product_exact``) is left as it is. The refined
    pixels are not camera-matched again (``camera_match`` is off by default)."""

    def run(scene: Any, rgba: Any, placement: Any, **kwargs: Any) -> Any:
        made = composite(scene, rgba, placement, **kwargs)
        if not kwargs.get("light") and not kwargs.get("shade"):
            return made
        alpha = pasted_alpha(made.image.shape[:2], rgba, placement, kwargs.get("occluder"))
        return dataclasses.replace(made, image=refine_image(net, made.image, alpha, placement.box))

    return run


def judged_products(work: Path) -> set[str]:
    """The product file names of :data:`JUDGED`'s sets under ``work``; a set that is not there
    stops the capture (its products could not be refused)."""
    names: set[str] = set()
    for label in JUDGED:
        key = work / label / "key.json"
        if not key.exists():
            raise SystemExit(
                f"error: judged set {label} not found at {key}: cannot refuse its products"
            )
        names |= {p["product"] for p in json.loads(key.read_text())["pairs"].values()}
    return names


def refusing(
    staging: Callable[..., Any], judged: set[str], current: dict[str, str]
) -> Callable[..., Any]:
    """``staging`` (``adstage.stage_product``'s signature) that refuses the ``judged`` products
    (an error judge_study records and goes on from) and names the product being staged."""

    def stage_product(path: Any, catalog: Any, k: int = 3, options: Any = None) -> Any:
        name = Path(path).name
        if name in judged:
            raise RuntimeError(f"judged product {name}: not for training")
        current["name"] = name
        return staging(path, catalog, k=k, options=options)

    return stage_product


def _work(argv: list[str]) -> Path:
    known = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    known.add_argument("--work", type=Path, default=CACHE / "judge")
    return known.parse_known_args(argv)[0].work


def _capture(argv: list[str]) -> int:
    import adstage
    import adstage.stage.pipeline as pipeline

    kept: dict[str, list[Any]] = {"crops": [], "masks": [], "names": []}
    current = {"name": ""}
    judged = judged_products(_work(argv))
    pipeline.composite = capturing(pipeline.composite, kept, current)  # type: ignore[attr-defined]
    adstage.stage_product = refusing(adstage.stage_product, judged, current)  # type: ignore[assignment]
    judge_make(argv)
    if not kept["crops"]:
        print("captured nothing")
        return 0
    STAGED.parent.mkdir(parents=True, exist_ok=True)
    part = STAGED.with_suffix(".part.npz")
    np.savez_compressed(
        part,
        crops=np.stack(kept["crops"]),
        masks=np.stack(kept["masks"]),
        names=np.array(kept["names"]),
    )
    os.replace(part, STAGED)
    print(f"captured {len(kept['crops'])} crops of {len(set(kept['names']))} products → {STAGED}")
    return 0


def _make(argv: list[str]) -> int:
    if not WEIGHTS.exists():
        print(
            f"skipped: no weights at {WEIGHTS} (run `python benchmarks/adversarial_refiner.py train`)"
        )
        return 0
    import adstage.stage.pipeline as pipeline

    net = Harmoniser()
    net.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    net.eval()
    pipeline.composite = refined_composite(pipeline.composite, net)  # type: ignore[attr-defined]
    digest = hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()
    judge_make(argv, add={"adversarial_refiner": {"weights": str(WEIGHTS), "sha256": digest}})
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["capture"], ["make"]):  # judge_study's arguments follow
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
        return (_capture if argv[0] == "capture" else _make)(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command", choices=["capture", "train", "make"], help="capture, make: put it first"
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "adversarial_refiner.json")
    args = parser.parse_args(argv)
    if args.command != "train":
        parser.error(f"{args.command} takes judge_study.py's arguments: put it first")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if data_missing(args.data / "ikea-room-scenes") or data_missing(
        args.data / "coco-mval-objects"
    ):
        return 0
    if not STAGED.exists():
        print(
            f"skipped: no staged crops at {STAGED} (run `adversarial_refiner.py capture …` first)"
        )
        return 0
    torch.set_num_threads(os.cpu_count() or 1)
    trained = train(args.data, STAGED, args.steps)
    result = {
        "benchmark": "adversarial_refiner",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "command": command("adversarial_refiner.py", parser, args).replace(".py", ".py train", 1),
        "settings": {
            "side": SIDE,
            "ring": RING,
            "smooth": SMOOTH,
            "lambda": LAMBDA,
            "batch": BATCH,
            "history": HISTORY,
            "lr": {"refiner": 5e-4, "critic": 2e-4},
            "critic_steps": CRITIC_STEPS,
            "seeds": {"init": 0, "batches": 1},
        },
        "versions": versions(),
        "weights_sha256": hashlib.sha256(WEIGHTS.read_bytes()).hexdigest(),
        "train": trained,
    }
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["train"]["two_sample_accuracy"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
