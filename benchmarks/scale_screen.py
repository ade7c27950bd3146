"""The product kind's size and support checks (issue 13, placement and scale): the slot screen
with and without ``kind``, the same products and scenes, one run; writes
benchmarks/results/scale_screen.json.

    python benchmarks/scale_screen.py                  # 200 products, about 3 min
    python benchmarks/scale_screen.py --products 40 --sheets 12

Random IKEA products of ``../shared/data/ikea-sa-products`` (seeded), each with its catalog
product type (``metadata.csv``) as ``kind``, retrieved into the realism benchmark's catalog of
the dev rooms with each room's type as its category (``realism.build_catalog(...,
room_types=True)``, built in ``benchmarks/.cache/realism-catalog-512-typed`` on the first run from
the cached IS-Net masks) and screened twice by ``adstage.stage.pipeline.screen_matches``: without a kind (what ``adstage
stage`` does when none is given) and with it. Reported: how the product types read
(floor / part / top / wall / unknown), how many products are refused as furniture parts, the
refusals by reason, how many products keep a slot, and how often the slot staged first changes.

The camera prior itself is checked on the catalog's own objects, whose kinds are unknown but
which are real furniture and decor in real photos: the share of slots whose base is above the
prior's highest horizon (what ``support`` would refuse for a floor-standing product: wall and
shelf objects if the prior is right) and the share whose implied height interval lies wholly
above 3 m or below 10 cm (implausible for any object in a room: a prior error).

``--sheets N`` writes up to N product | before | after pictures (the first slot staged without
and with the kind, full pipeline) of products whose first slot changed, and N / 4 of furniture
parts staged without a kind (``part-NN.png``), to ``benchmarks/.cache/scale/`` (git-ignored: the
photos are non-commercial).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import csv
import dataclasses
import json
import logging
import math
import platform
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from _common import DATA, data_missing
from _figures import fit_height
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image, write_image
from adstage.provenance import versions
from adstage.retrieve.search import retrieve
from adstage.segment import SEGMENTERS
from adstage.stage.pipeline import SCREEN_POOL, StageOptions, screen_matches, stage_candidate
from adstage.stage.scale import Camera, implied_height, kind_of
from adstage.types import Cutout
from realism import build_catalog

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.scale_screen")


def prior_check(catalog, camera: Camera, min_area: float) -> dict:  # type: ignore[no-untyped-def]
    """How the camera prior reads the catalog's own objects (see the module docstring)."""
    rows = catalog.columns(["bbox", "area_fraction", "height"]).to_pylist()
    n = above = giant = tiny = 0
    for row in rows:
        if row["area_fraction"] < min_area:
            continue
        _, y0, _, y1 = row["bbox"]
        h = float(row["height"])
        n += 1
        low, high = implied_height(y0 / h, y1 / h, camera)
        if math.isinf(low):
            above += 1
        elif low > 300.0:
            giant += 1
        elif high < 10.0:
            tiny += 1
    return {
        "objects": n,
        "base_above_highest_horizon": above,
        "implied_over_3m": giant,
        "implied_under_10cm": tiny,
    }


def arguments(doc: str | None, result: str) -> argparse.Namespace:
    """The options ``scale_screen.py`` and ``horizon.py`` share (``result``: the JSON's name in
    ``benchmarks/results/``), parsed, with logging to stderr set up."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / result)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--min-area", type=float, default=0.01)
    parser.add_argument("--sheets", type=int, default=0)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    return args


def typed_catalog_and_sample(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The dev rooms' catalog with their room types (built on the first run), and ``--products``
    random IKEA products (``--seed``): ``(products_dir, catalog, products, picked)``, or ``None``
    when the data is not on this machine."""
    products_dir = args.data / "ikea-sa-products"
    if data_missing(products_dir):
        return None
    catalog = build_catalog(
        args.data, ROOT / ".cache" / "realism-catalog-512-typed", 512, room_types=True
    )
    with open(products_dir / "metadata.csv", newline="") as handle:
        products = list(csv.DictReader(handle))
    rng = np.random.default_rng(args.seed)
    picked = sorted(rng.choice(len(products), min(args.products, len(products)), replace=False))
    return products_dir, catalog, products, picked


def retrieved_products(  # type: ignore[no-untyped-def]
    products_dir: Path, catalog, products: list[dict], picked, pool: int, where: str, wanted=None
):
    """For each picked product (a ``metadata.csv`` row) whose kind ``wanted`` accepts (``None``:
    all): ``(n, item, kind, cut, matches)``, its cut-out by ``auto`` segmentation and the ``pool``
    slots retrieved for it with the shape-aware re-rank; ``matches`` is ``None`` when the cut-out
    is empty. What ``scale_screen.py`` and ``horizon.py`` screen."""
    seg = SEGMENTERS.create("auto")
    for n, index in enumerate(picked):
        item = products[index]
        kind = kind_of(item["product_type"])
        if wanted is not None and not wanted(kind):
            continue
        image = read_image(products_dir / item["path"])
        alpha = seg(image).alpha
        cut = Cutout.from_alpha(image, alpha)
        matches = None
        if not cut.empty:
            matches = retrieve(image, catalog, mask=alpha, k=pool, where=where, rerank=True)
        yield n, item, kind, cut, matches


def _sheet(cut: Cutout, before, after, path: Path) -> None:  # type: ignore[no-untyped-def]
    height = 360
    rgba = cut.rgba.astype(np.float32)
    white = rgba[..., :3] * (rgba[..., 3:] / 255.0) + 255.0 * (1.0 - rgba[..., 3:] / 255.0)
    tiles = [fit_height(white.round().astype(np.uint8), height)]
    for cand in (before, after):
        if cand is None:
            tiles.append(np.full((height, height, 3), 235, np.uint8))
        else:
            tiles.append(fit_height(cand.image, height))
    gap = np.full((height, 8, 3), 255, np.uint8)
    row = np.concatenate([tiles[0], gap, tiles[1], gap, tiles[2]], axis=1)
    write_image(path, row)


def main() -> int:
    args = arguments(__doc__, "scale_screen.json")
    started = time.time()
    setup = typed_catalog_and_sample(args)
    if setup is None:
        return 0
    products_dir, catalog, products, picked = setup
    plain = StageOptions(keep_steps=False)
    assert plain.screen is not None
    pool = max(5 * plain.k, SCREEN_POOL)
    where = f"staged = true AND area_fraction >= {args.min_area}"
    support: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = {"without kind": Counter(), "with kind": Counter()}
    rows: list[dict] = []
    sheets = ROOT / ".cache" / "scale"
    written = parts_written = 0
    found = retrieved_products(products_dir, catalog, products, picked, pool, where)
    for n, item, kind, cut, matches in found:
        support[kind.support if kind else "unknown"] += 1
        row: dict = {
            "product": item["path"],
            "product_type": item["product_type"],
            "kind": None if kind is None else kind.name,
            "support": None if kind is None else kind.support,
        }
        rows.append(row)
        part = kind is not None and kind.support == "part"
        if matches is None:
            row["error"] = "empty segmentation"
            continue
        if part:  # refused by stage before anything else; what it would have got without a kind
            kept, _ = screen_matches(cut, matches, plain)
            row["refused_as_part"] = True
            row["part_had_a_slot"] = bool(kept)
            if kept and parts_written < args.sheets // 4:
                cand = stage_candidate(cut, kept[0], plain)
                _sheet(cut, cand, None, sheets / f"part-{parts_written:02d}.png")
                parts_written += 1
            continue
        chosen = {}
        why: dict[str, str] = {}
        for label, opts in (
            ("without kind", plain),
            ("with kind", dataclasses.replace(plain, kind=item["product_type"])),
        ):
            kept, record = screen_matches(cut, matches, opts)
            why = {m.id: v.reason for m, v in record.pop("refused_matches")}
            reasons[label].update(record["reasons"])
            first = kept[0] if kept else None
            row[label] = {
                "kept": len(kept),
                "first": None if first is None else first.id,
                "first_category": None if first is None else first.category,
            }
            chosen[label] = first
        before, after = chosen["without kind"], chosen["with kind"]
        changed = (before.id if before else None) != (after.id if after else None)
        row["first_changed"] = changed
        if changed and before is not None:  # why the kind moved it: the old slot's refusal
            row["first_changed_because"] = why.get(before.id) or "reordered"
        if changed and written < args.sheets:
            cands = [None if m is None else stage_candidate(cut, m, plain) for m in (before, after)]
            _sheet(cut, *cands, sheets / f"{written:02d}-{Path(item['path']).stem[:60]}.png")
            written += 1
        if n % 20 == 0:
            log.info("%d/%d products", n + 1, len(picked))

    staged = [r for r in rows if "without kind" in r]
    floor = [r for r in staged if r["support"] == "floor"]

    def kept_share(subset: list[dict], label: str) -> float:
        return sum(r[label]["kept"] > 0 for r in subset) / max(1, len(subset))

    result = {
        "benchmark": "scale_screen",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/scale_screen.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(),
        "settings": {
            "products": len(picked),
            "seed": args.seed,
            "pool": pool,
            "min_area": args.min_area,
            "camera": plain.screen.camera.as_dict(),
            "variants_tried": "1 (the camera prior and kind heights were set before this run)",
        },
        "kinds": dict(support),
        "refused_as_part": sum(bool(r.get("refused_as_part")) for r in rows),
        "parts_with_a_slot_without_kind": sum(bool(r.get("part_had_a_slot")) for r in rows),
        "screened": len(staged),
        "floor_kinds": len(floor),
        "reasons": {label: dict(c) for label, c in reasons.items()},
        "with_a_slot": {
            label: {
                "all": sum(r[label]["kept"] > 0 for r in staged),
                "floor": sum(r[label]["kept"] > 0 for r in floor),
                "share_floor": kept_share(floor, label),
            }
            for label in ("without kind", "with kind")
        },
        "first_slot_changed": {
            "all": sum(r["first_changed"] for r in staged),
            "floor": sum(r["first_changed"] for r in floor),
            "because": dict(
                Counter(
                    r["first_changed_because"] for r in staged if r.get("first_changed_because")
                )
            ),
        },
        "prior_on_catalog_objects": prior_check(catalog, plain.screen.camera, args.min_area),
        "rows": rows,
        "elapsed_s": round(time.time() - started, 1),
    }
    atomic_write_text(args.out, json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    log.info("wrote %s", args.out)
    keys = ("kinds", "refused_as_part", "parts_with_a_slot_without_kind", "reasons")
    keys += ("with_a_slot", "first_slot_changed", "prior_on_catalog_objects")
    print(json.dumps({k: result[k] for k in keys}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
