"""Real objects through the staging pipeline, judged against real photos (issue 13, a diagnosis).

    python benchmarks/real_objects.py --label RO-real        # stage, write the pairs
    python benchmarks/judge_study.py tally --label RO-real J1.json J2.json J3.json

Seventeen report sets in a row judged no staged picture more natural than a real room photo. Is
the catalog photo itself the tell (a product shot in a studio, lit from the front, crisper than
any room), or what staging does with it (where it stands, its shadows, its edges)? This script
takes the product's appearance out of the question: the "products" are furniture cut out of the
dev room photos themselves (their catalog slot masks, IS-Net), lit by real rooms, and each is
staged by the default pipeline into another room (its own room's candidates are skipped). Each
result is paired with a real room photo as ``judge_study.py make`` pairs its first half
(a random dev room other than the one staged into; left/right random) and written in its layout
to ``benchmarks/.cache/judge/<label>/`` (``pairs/``, ``staged/``, ``key.json``), so
``judge_study.py tally`` counts the judges' answers.

The objects were picked by eye from a sheet of the catalog's slots (1–25 % of the photo, clear of
the frame, mask in at most three pieces, solidity at least 0.5): whole pieces of furniture whose
mask holds little else; their kinds were named by looking at them (:data:`OBJECTS`). Nothing of
the photos enters the repository.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from _common import DATA, ROOT, data_missing
from adstage import stage_product
from adstage.catalog.store import Catalog, decode_mask
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image, write_image
from adstage.stage.pipeline import StageOptions
from judge_study import module_constants, side_by_side

log = logging.getLogger("benchmarks.real_objects")

OBJECTS: tuple[tuple[str, str], ...] = (
    ("ddb628c99947bd5e-0", "Chair"),  # a white folding chair
    ("a683831ebc09394d-0", "Trolley"),  # a red metal trolley
    ("4769a703613d8731-1", "Armchair"),  # a black rattan armchair
    ("5f8cd7951f11d6bc-1", "Chair"),  # a black chair
    ("627700483147ef42-0", "Cabinet with glass doors"),  # a dark glass-door cabinet
    ("09f89c220f2f22f1-0", "Trolley"),  # a white trolley with a drawer
    ("eec2e1091d3ae600-1", "Laundry basket"),  # a slatted wooden hamper
    ("fad5e530580df898-0", "Stool"),  # a stool
    ("c0f6ea4b9d667b01-0", "Footstool"),  # a grey ottoman
    ("eec2e1091d3ae600-0", "Sofa"),  # a red two-seat sofa
)
"""Catalog slot ids (``realism-catalog-512-typed``) and the kind each object was named by eye."""

PAD = 6
"""Pixels of the room kept around the object's mask in its crop (the mask decides what is cut)."""


def cut_object(row: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, str]:
    """The object's crop of its room photo (RGB), its mask there and the room's file name."""
    image = read_image(row["uri"])
    mask = decode_mask(row["mask_png"], row["id"])
    if image.shape[:2] != mask.shape:
        size = (image.shape[1], image.shape[0])
        mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        raise ValueError(f"slot {row['id']}: empty mask")
    h, w = mask.shape
    x0, y0 = max(0, int(xs.min()) - PAD), max(0, int(ys.min()) - PAD)
    x1, y1 = min(w, int(xs.max()) + 1 + PAD), min(h, int(ys.max()) + 1 + PAD)
    return image[y0:y1, x0:x1], mask[y0:y1, x0:x1], Path(row["uri"]).name


def make(args: argparse.Namespace) -> int:
    rooms_dir = args.data / "ikea-room-scenes" / "images"
    if data_missing(rooms_dir):
        return 0
    if not args.catalog.is_dir():
        print(f"skipped: no catalog at {args.catalog} (run benchmarks/realism.py first)")
        return 0
    columns = ["id", "uri", "mask_png"]
    rows = {r["id"]: r for r in Catalog(args.catalog).columns(columns).to_pylist()}
    rooms = sorted(rooms_dir.iterdir())
    rng = np.random.default_rng(args.seed)
    out = args.work / args.label
    for sub in ("pairs", "staged", "objects"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    key: dict[str, Any] = {
        "label": args.label,
        "options": None,
        "constants": module_constants(),
        "k": args.k,
        "seed": args.seed,
        "objects": True,
        "pairs": {},
        "none": [],
    }
    started = time.perf_counter()
    for n, (slot, kind) in enumerate(OBJECTS):
        name = f"pair-{n:02d}"
        try:
            crop, mask, source = cut_object(rows[slot])
            path = out / "objects" / f"{n:02d}.png"  # beside the pictures, in the cache only
            write_image(path, crop)
            options = StageOptions(kind=kind, despill=False)  # cut from a room, not from white
            staged = stage_product(path, args.catalog, k=args.k, mask=mask, options=options)
        except Exception as exc:  # a benchmark reports, it does not stop
            log.warning("%s %s: %s", name, slot, exc)
            key["none"].append({"n": n, "product": slot, "why": str(exc).splitlines()[0]})
            continue
        best = next((c for c in staged.candidates if Path(c.match.uri).name != source), None)
        if best is None:
            why = f"no candidate outside its own room ({len(staged.candidates)} inside)"
            key["none"].append({"n": n, "product": slot, "why": why})
            continue
        write_image(out / "staged" / f"{n:02d}.png", best.image)
        scene = Path(best.match.uri).name
        others = [r for r in rooms if r.name not in (scene, source)]  # neither the object's room
        room = read_image(others[int(rng.integers(len(others)))])
        staged_left = bool(rng.integers(2))
        pair = side_by_side(best.image, room) if staged_left else side_by_side(room, best.image)
        write_image(out / "pairs" / f"{name}.png", pair)
        key["pairs"][name] = {
            "comparison": "real",
            "staged": "A" if staged_left else "B",
            "product": slot,
            "kind": kind,
            "source": source,
            "scene": scene,
            "mode": best.provenance.get("mode"),
            "box": [int(v) for v in best.placement],
        }
        log.info("%s %s (%s, from %s) → %s", name, slot, kind, source, scene)
    key["seconds"] = time.perf_counter() - started
    atomic_write_text(out / "key.json", json.dumps(key, indent=1) + "\n")
    print(f"wrote {len(key['pairs'])} pairs to {out / 'pairs'} ({len(key['none'])} without one)")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="RO-real")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument(
        "--catalog", type=Path, default=ROOT / ".cache" / "realism-catalog-512-typed"
    )
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "judge")
    parser.add_argument(
        "--k", type=int, default=5, help="candidates per object (its own room's skipped)"
    )
    parser.add_argument("--seed", type=int, default=2025)
    return make(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
