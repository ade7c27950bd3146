"""What the shade under the body and the cast shadow cost when compositing; writes
benchmarks/results/shadow_cost.json. With ``--compare shade``, what shading the product
(``StageOptions.shade``) costs; writes benchmarks/results/shade_cost.json.

    python benchmarks/shadow_cost.py                    # 20 products, 1024-px-wide rooms
    python benchmarks/shadow_cost.py --compare shade

``adstage.composite.blend.composite`` of a product cut-out (IKEA catalog photos, a seeded sample;
segmented on their white backdrop) into a dev room (1024 px wide), standing at the bottom centre
at 45 % of the room's height, with the staging defaults of edges, light and shadow: once with
``cast_opacity`` and ``under_opacity`` at 0 (the baseline: the shadows before) and once at the
staging defaults (``StageOptions.cast_shadow``, ``under_shadow``), alternating per product so
machine load hits both alike (``--compare shade``: both with those shadows, ``shade`` at 0 and at
its default). Reports the median milliseconds of each and their ratio, and for
how many of the dev rooms :func:`adstage.composite.light.light_side` finds the light's side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from _common import DATA, command, data_missing
from adstage.composite.blend import composite
from adstage.composite.light import light_side
from adstage.io.atomic import atomic_write_text
from adstage.io.images import load_rgb
from adstage.provenance import versions
from adstage.segment import segment
from adstage.stage.pipeline import StageOptions
from adstage.types import Placement

ROOT = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per product and variant")
    parser.add_argument("--compare", choices=("shadows", "shade"), default="shadows")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: results/<compare>_cost.json"
    )
    args = parser.parse_args()
    out = args.out or ROOT / "results" / (
        "shadow_cost.json" if args.compare == "shadows" else "shade_cost.json"
    )
    products_dir, rooms_dir = (
        DATA / "ikea-sa-products" / "images",
        DATA / "ikea-room-scenes" / "images",
    )
    if data_missing(products_dir) or data_missing(rooms_dir):
        return 0
    rng = np.random.default_rng(args.seed)
    products = sorted(products_dir.glob("*.jpg"))
    rooms = sorted(rooms_dir.glob("*.jpg"))
    chosen = rng.choice(len(products), args.n, replace=False)
    defaults = StageOptions()
    shadows = {"cast_opacity": defaults.cast_shadow, "under_opacity": defaults.under_shadow}
    variants: dict[str, dict[str, float]] = {
        "before": {"cast_opacity": 0.0, "under_opacity": 0.0, "shade": 0.0},
        "after": shadows | {"shade": 0.0},
    }
    if args.compare == "shade":
        variants = {
            "before": shadows | {"shade": 0.0},
            "after": shadows | {"shade": defaults.shade},
        }
    ms: dict[str, list[float]] = {name: [] for name in variants}
    for i, index in enumerate(chosen):
        image = load_rgb(products[index])
        alpha = segment(image, segmenter="solid-background").alpha
        rgba = np.dstack([image, np.rint(alpha * 255).astype(np.uint8)])
        ys, xs = np.nonzero(alpha >= 0.5)
        rgba = rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        room = load_rgb(rooms[int(rng.integers(len(rooms)))])
        h, w = room.shape[:2]
        size = (1024, round(1024 * h / w))
        room = cv2.resize(room, size, interpolation=cv2.INTER_AREA)
        h, w = room.shape[:2]
        ph = round(0.45 * h)
        pw = max(1, round(ph * rgba.shape[1] / rgba.shape[0]))
        pw = min(pw, w - 2)
        box = ((w - pw) // 2, h - 10 - ph, (w - pw) // 2 + pw, h - 10)
        placement = Placement(box, ph / rgba.shape[0], "bench", (w, h))
        order = list(variants) if i % 2 == 0 else list(reversed(variants))
        for name in order:
            best = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                composite(
                    room,
                    rgba,
                    placement,
                    despill_background=(255, 255, 255),
                    edges=defaults.edges,
                    light=defaults.light,
                    shadow=defaults.shadow,
                    **variants[name],
                )
                best.append(1000 * (time.perf_counter() - t))
            ms[name].append(min(best))
        print(f"{i + 1}/{args.n}: " + ", ".join(f"{n} {ms[n][-1]:.0f} ms" for n in variants))
    median = {name: float(np.median(values)) for name, values in ms.items()}
    sides = [light_side(load_rgb(room)) for room in rooms]
    found = [side for side in sides if side is not None]
    result = {
        "command": command("shadow_cost.py", parser, args),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(),
        "products": args.n,
        "variants": variants,
        "median_ms": {k: round(v, 1) for k, v in median.items()},
        "ratio_after_over_before": round(median["after"] / median["before"], 3),
        "ms": {k: [round(v, 1) for v in vals] for k, vals in ms.items()},
        "light_side": {
            "rooms": len(rooms),
            "found": len(found),
            "left_of_centre": sum(side < 0 for side in found),
        },
    }
    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    print(
        f"composite: before {median['before']:.0f} ms, after {median['after']:.0f} ms "
        f"({result['ratio_after_over_before']:.2f}x); wrote {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
