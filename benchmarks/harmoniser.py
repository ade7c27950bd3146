"""A harmoniser trained on the dev rooms' own objects, tried on staged products (issue 13).

    python benchmarks/harmoniser.py train                  # objects, training, held-out error
    python benchmarks/harmoniser.py make --kinds --heights --catalog \\
        benchmarks/.cache/realism-catalog-512-typed --seed 13 --label A-harm
    python benchmarks/judge_study.py ab --label A-harm --against A-l75 --seed 13

The judges' first word against a staged product is "pasted": "flat-lit", "glowing", "evenly lit,
no shadow". Four hand-made changes of its light and shadow were rated and moved nothing
(docs/staging.md); no harmonisation model installs offline (``../shared/REFERENCES.md`` §4). This
trains one here, in the way image harmonisation is usually trained (a real object's appearance
perturbed inside its mask, a network taught to put it back; Cong et al., DoveNet, CVPR 2020, for
the protocol), with a perturbation that imitates a catalog photo: the object's low-frequency
shading flattened (its log luminance, blurred inside the mask by :data:`SIGMA` pixels, pulled
towards its mean by a random 30–100 %), its exposure raised by −0.2 to +0.5 in log and its
white balance moved (σ 5 % per channel). The network sees the perturbed crop and the mask and
predicts a smooth gain field (log RGB, at a quarter of the crop's resolution, brought up
bilinearly) over the object only, so the product's texture stays its own.

``train`` crops every IS-Net slot of 1–40 % of a dev room (the realism catalog's cached room
masks) and every home-furnishing COCO object (its own mask, ≥ 2 % of the photo) to :data:`SIDE`
pixels around its box grown by 40 %, holds out the rooms (and COCO photos) whose name hashes to 0
mod 5, trains :data:`STEPS` steps (batch 16, AdamW, one-cycle 2e-3, mirrored at random), and
reports the mean absolute log error inside the masks on the held-out crops, each perturbed once
(seed 2): as perturbed, and after the network; also *centred* (each crop's mean error removed:
the shading's shape alone). It writes ``.cache/harmoniser.pt`` and ``results/harmoniser.json``.

``make`` runs ``judge_study.py make`` (same arguments) with every composite relit by the
network instead of :func:`adstage.composite.light.shade_product` (``shade`` 0; the light match,
edges and shadows as they are): a square crop around the product, as in training. The photos
are non-commercial: nothing of them, and no weights trained on them, enter the repository.
"""

from __future__ import annotations

import argparse
import csv
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

from _common import DATA, command, data_missing, judge_make, made_first
from adstage.composite.blend import scale_cutout
from adstage.io.atomic import atomic_write_text
from adstage.provenance import versions

log = logging.getLogger("harmoniser")
ROOT = Path(__file__).resolve().parent
SIDE = 160
"""The crops' side, pixels."""
GROW = 1.4
"""A crop is the object's box's longer side times this, centred on the box."""
SIGMA = 16.0
"""The blur (pixels at :data:`SIDE`) that makes an object's low-frequency shading."""
STEPS = 2000
WEIGHTS = ROOT / ".cache" / "harmoniser.pt"
EPS = 1.0 / 255.0


def held_out(name: str) -> bool:
    """Whether a room or photo (by name) is in the held-out fifth."""
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % 5 == 0


def square_crop(
    image: NDArray[Any], box: tuple[float, float, float, float], side: int, interpolation: int
) -> tuple[NDArray[Any], tuple[int, int, int]]:
    """The square around ``box`` (x0, y0, x1, y1) grown by :data:`GROW`, mirrored past the
    photo's edges, resized to ``side``; and its corner and side in the photo (x, y, s)."""
    x0, y0, x1, y1 = box
    grown = max(x1 - x0, y1 - y0) * GROW
    s = max(1, round(grown))
    a, b = round((x0 + x1) / 2 - grown / 2), round((y0 + y1) / 2 - grown / 2)
    mode = cv2.BORDER_REFLECT if image.ndim == 3 else cv2.BORDER_CONSTANT
    padded = cv2.copyMakeBorder(image, s, s, s, s, mode, value=0)
    crop = padded[b + s : b + 2 * s, a + s : a + 2 * s]
    return cv2.resize(crop, (side, side), interpolation=interpolation), (a, b, s)


def objects(data: Path, masks: Path) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[Any]]:
    """Crops (N×SIDE×SIDE×3), their masks (N×SIDE×SIDE, 0–255) and held-out flags of the dev
    rooms' IS-Net slots of 1–40 % of the photo and the home-furnishing COCO objects."""
    xs: list[NDArray[np.uint8]] = []
    ms: list[NDArray[np.uint8]] = []
    test: list[bool] = []

    def add(image: NDArray[np.uint8], mask: NDArray[np.bool_], out: bool) -> None:
        ys, cols = np.nonzero(mask)
        box = (cols.min(), ys.min(), cols.max() + 1, ys.max() + 1)
        xs.append(square_crop(image, box, SIDE, cv2.INTER_AREA)[0])
        ms.append(square_crop(mask.astype(np.uint8) * 255, box, SIDE, cv2.INTER_AREA)[0])
        test.append(out)

    for room in sorted((data / "ikea-room-scenes" / "images").iterdir()):
        found = cv2.imread(str(masks / f"{room.stem}.png"), cv2.IMREAD_GRAYSCALE)
        if found is None:
            continue
        image = cv2.cvtColor(cv2.imread(str(room)), cv2.COLOR_BGR2RGB)
        n, labels, stats, _ = cv2.connectedComponentsWithStats((found > 127).astype(np.uint8))
        for i in range(1, n):
            if 0.01 <= stats[i, cv2.CC_STAT_AREA] / found.size <= 0.4:
                add(image, labels == i, held_out(room.name))
    coco = data / "coco-mval-objects"
    with open(coco / "metadata.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["home_furnishing"] != "True" or float(row["fg_fraction"]) < 0.02:
                continue
            image = cv2.cvtColor(cv2.imread(str(coco / row["path"])), cv2.COLOR_BGR2RGB)
            mask = cv2.imread(str(coco / row["mask_path"]), cv2.IMREAD_GRAYSCALE) > 127
            if mask.shape == image.shape[:2] and mask.any():
                add(image, mask, held_out(row["coco_image_id"]))
    return np.stack(xs), np.stack(ms), np.array(test)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A separable Gaussian blur of a N×C×H×W tensor, edges replicated."""
    r = int(3 * sigma)
    k = torch.exp(-(torch.arange(-r, r + 1, dtype=x.dtype) ** 2) / (2 * sigma * sigma))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, 0, 0), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.pad(x, (0, 0, r, r), mode="replicate")
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def perturb(x: torch.Tensor, m: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Log-RGB crops ``x`` (N×3×H×W) with a catalog photo's look inside masks ``m`` (N×1×H×W in
    [0, 1]): low-frequency shading flattened by 30–100 %, exposure −0.2 to +0.5, white balance
    moved by a normal gain of σ 5 % per channel. The result is clamped to [log EPS, 0] everywhere,
    as the judged network was trained: a pure white pixel's log(1 + EPS) outside the mask becomes
    0 too (a 0.4 % change)."""
    n = x.shape[0]
    lum = x.mean(1, keepdim=True)
    low = _blur(lum * m, SIGMA) / _blur(m, SIGMA).clamp_min(1e-3)
    mean = (low * m).sum((2, 3), keepdim=True) / m.sum((2, 3), keepdim=True).clamp_min(1)
    flat = torch.rand(n, 1, 1, 1, generator=g) * 0.7 + 0.3
    exposure = torch.rand(n, 1, 1, 1, generator=g) * 0.7 - 0.2
    balance = torch.randn(n, 3, 1, 1, generator=g) * 0.05
    out = x + m * (-flat * (low - mean) + exposure + balance)
    return out.clamp(math.log(EPS), 0.0)


def _block(i: int, o: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(i, o, 3, stride, 1),
        nn.GroupNorm(8, o),
        nn.SiLU(),
        nn.Conv2d(o, o, 3, 1, 1),
        nn.GroupNorm(8, o),
        nn.SiLU(),
    )


class Harmoniser(nn.Module):
    """A small U-Net: log-RGB crop and mask in, a log gain field (3 channels, a quarter of the
    crop's resolution, brought up bilinearly) out."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        c = width
        self.e1, self.e2 = _block(4, c, 2), _block(c, 2 * c, 2)
        self.e3, self.e4 = _block(2 * c, 4 * c, 2), _block(4 * c, 4 * c, 2)
        self.d3, self.d2 = _block(8 * c, 2 * c, 1), _block(4 * c, 2 * c, 1)
        self.out = nn.Conv2d(2 * c, 3, 3, 1, 1)

    def gains(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x / 3 + 1, m], 1)
        e1 = self.e1(h)
        e2 = self.e2(e1)
        e3 = self.e3(e2)
        e4 = self.e4(e3)
        up = F.interpolate(e4, size=e3.shape[2:], mode="bilinear")
        d3 = self.d3(torch.cat([up, e3], 1))
        d2 = self.d2(torch.cat([F.interpolate(d3, size=e2.shape[2:], mode="bilinear"), e2], 1))
        return F.interpolate(self.out(d2), size=x.shape[2:], mode="bilinear")

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return x + m * self.gains(x, m)


def log_rgb(images: NDArray[np.uint8]) -> torch.Tensor:
    """N×H×W×3 uint8 → N×3×H×W log RGB."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().permute(0, 3, 1, 2) / 255.0
    return torch.log(x + EPS)


def error(a: torch.Tensor, b: torch.Tensor, m: torch.Tensor, centred: bool = False) -> float:
    """The mean absolute difference of ``a`` and ``b`` inside ``m``, per crop then averaged;
    ``centred``: each crop's mean difference removed first."""
    d = a - b
    if centred:
        d = d - (d * m).sum((2, 3), keepdim=True) / m.sum((2, 3), keepdim=True).clamp_min(1)
    per = (d.abs() * m).sum((1, 2, 3)) / (3 * m.sum((1, 2, 3))).clamp_min(1)
    return float(per.mean())


def train(data: Path, steps: int = STEPS) -> dict[str, Any]:
    """Train on the dev objects; the held-out errors (see the module's docstring)."""
    torch.manual_seed(0)
    masks = ROOT / ".cache" / "realism-room-masks-512"
    x_all, m_all, test = objects(data, masks)
    x = log_rgb(x_all[~test])
    m = torch.from_numpy(m_all[~test]).float()[:, None] / 255.0
    xt = log_rgb(x_all[test])
    mt = torch.from_numpy(m_all[test]).float()[:, None] / 255.0
    net = Harmoniser()
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    g = torch.Generator().manual_seed(1)
    perturbed = perturb(xt, mt, torch.Generator().manual_seed(2))
    started = time.perf_counter()
    curve = []
    for step in range(steps):
        idx = torch.randint(0, len(x), (16,), generator=g)
        xb, mb = x[idx], m[idx]
        if torch.rand(1, generator=g) < 0.5:
            xb, mb = xb.flip(3), mb.flip(3)
        y = net(perturb(xb, mb, g), mb)
        loss = ((y - xb).abs() * mb).sum() / (3 * mb.sum())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0 or step == steps - 1:
            with torch.no_grad():
                yt = net(perturbed, mt)
            point = {
                "step": step,
                "seconds": round(time.perf_counter() - started, 1),
                "held_out": round(error(yt, xt, mt), 4),
                "held_out_centred": round(error(yt, xt, mt, True), 4),
            }
            curve.append(point)
            log.info("%s", point)
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), WEIGHTS)
    return {
        "objects": {"train": int((~test).sum()), "held_out": int(test.sum())},
        "steps": steps,
        "held_out_error": {
            "as_perturbed": round(error(perturbed, xt, mt), 4),
            "harmonised": curve[-1]["held_out"],
        },
        "held_out_error_centred": {
            "as_perturbed": round(error(perturbed, xt, mt, True), 4),
            "harmonised": curve[-1]["held_out_centred"],
        },
        "curve": curve,
        "train_seconds": curve[-1]["seconds"],
    }


def relight(
    net: Harmoniser,
    image: NDArray[np.uint8],
    alpha: NDArray[np.float32],
    box: tuple[int, int, int, int],
) -> NDArray[np.uint8]:
    """``image`` with the object of ``alpha`` (scene-sized, in [0, 1]) inside ``box`` relit by
    ``net``: the square crop around ``box`` as in training, the network shown the crop's mask
    thresholded at 0.5 (as the judged sets were made; training's masks are soft at the edge), its
    gains brought back to the crop's size and applied where ``alpha`` is, in proportion."""
    crop, (a, b, s) = square_crop(image, box, SIDE, cv2.INTER_AREA)
    mask, _ = square_crop(alpha, box, SIDE, cv2.INTER_AREA)
    x = log_rgb(crop[None])
    m = torch.from_numpy((mask >= 0.5).astype(np.float32))[None, None]
    with torch.no_grad():
        gains = net.gains(x, m)[0].permute(1, 2, 0).numpy()
    gains = cv2.resize(gains, (s, s))
    h, w = alpha.shape
    gx0, gy0, gx1, gy1 = max(0, a), max(0, b), min(w, a + s), min(h, b + s)  # the crop seen
    out = image.copy()
    if gx1 <= gx0 or gy1 <= gy0:
        return out
    seen = image[gy0:gy1, gx0:gx1].astype(np.float32) / 255.0
    field = gains[gy0 - b : gy1 - b, gx0 - a : gx1 - a] * alpha[gy0:gy1, gx0:gx1, None]
    lit = np.exp(np.log(seen + EPS) + field) - EPS
    out[gy0:gy1, gx0:gx1] = np.clip(np.rint(lit * 255.0), 0, 255).astype(np.uint8)
    return out


def relit_composite(composite: Callable[..., Any], net: Harmoniser) -> Callable[..., Any]:
    """:func:`adstage.composite.blend.composite` with the product relit by ``net`` in place of
    ``shade`` (forced to 0): the same call, then :func:`relight` over the product's pixels that
    are seen (an ``occluder`` in front hides its share). A composite with neither light match nor
    shading asked for (``product_exact``) is left as it is."""

    def relit(scene: Any, rgba: Any, placement: Any, **kwargs: Any) -> Any:
        if not kwargs.get("light") and not kwargs.get("shade"):
            return composite(scene, rgba, placement, **kwargs)
        kwargs["shade"] = 0.0
        made = composite(scene, rgba, placement, **kwargs)
        x0, y0, x1, y1 = placement.box
        h, w = made.image.shape[:2]
        alpha = np.zeros((h, w), np.float32)
        alpha[y0:y1, x0:x1] = scale_cutout(rgba, placement)[..., 3] / 255.0
        if kwargs.get("occluder") is not None:
            alpha *= 1.0 - kwargs["occluder"].astype(np.float32)
        return dataclasses.replace(made, image=relight(net, made.image, alpha, placement.box))

    return relit


def _make(argv: list[str]) -> int:
    """``judge_study.py make`` with every composite relit by the trained network; the set's
    ``key.json`` records the weights (path and sha256)."""
    if not WEIGHTS.exists():
        print(f"skipped: no weights at {WEIGHTS} (run `python benchmarks/harmoniser.py train`)")
        return 0
    import adstage.stage.pipeline as pipeline

    net = Harmoniser()
    net.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    net.eval()
    pipeline.composite = relit_composite(pipeline.composite, net)  # type: ignore[attr-defined]
    digest = hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()
    judge_make(argv, add={"harmoniser": {"weights": str(WEIGHTS), "sha256": digest, "side": SIDE}})
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    made = made_first(argv, _make)
    if made is not None:
        return made
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["train", "make"], help="make: put it first")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "harmoniser.json")
    args = parser.parse_args(argv)
    if args.command == "make":
        parser.error("make takes judge_study.py's arguments: put it first")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if data_missing(args.data / "ikea-room-scenes") or data_missing(
        args.data / "coco-mval-objects"
    ):
        return 0
    torch.set_num_threads(os.cpu_count() or 1)
    trained = train(args.data, args.steps)
    result = {
        "benchmark": "harmoniser",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "command": command("harmoniser.py", parser, args).replace(".py", ".py train", 1),
        "settings": {
            "side": SIDE,
            "grow": GROW,
            "sigma": SIGMA,
            "width": 32,
            "batch": 16,
            "lr": 2e-3,
            "seeds": {"init": 0, "batches": 1, "held_out": 2},
        },
        "versions": versions(),
        "weights_sha256": hashlib.sha256(WEIGHTS.read_bytes()).hexdigest(),
        "train": trained,
    }
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["train"]["held_out_error"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
