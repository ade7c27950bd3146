"""A room's own object, taken out and put back by staging's compositing: the oracle test (issue 13).

    python benchmarks/own_object.py --label own-keep --grow 0 --reach 0   # pictures and pairs
    python benchmarks/own_object.py --label own-m --scales 0,0.5,1        # … and the shadow fit
    python benchmarks/judge_study.py tally --work benchmarks/.cache/own --label own-keep-ours \
        J1.json J2.json J3.json

Every report set of the blind study ([docs/staging.md](../docs/staging.md)) has found staged
pictures less natural than real room photos, and a staged picture mixes four things a judge may
see: the catalog photo's own look (studio light, a sharper camera), where the product stands and
at what size, the fill where something was removed, and the edges and shadows compositing draws.
Here the first two are perfect by construction: a floor-standing object of a real dev room (the
largest catalog slot of the room whose base is seen on the floor, or with ``--pick narrowest``
the narrowest that passes) is segmented again in its box (``--segmenter``, IS-Net by default;
only where that mask is one piece holding at least :data:`MIN_AGREE` of the catalog slot's
pixels), cut out of its own photo and put back at its own place, at its own size, lit by its own
room. What is left to see is what staging adds:

* ``bare``: the object's full extent and its real shadow are removed (the mask grown by
  ``--grow`` of the object's height, at least 2 px, and the floor within ``--reach`` of its lower
  half), filled by the default inpainter, and the object pasted back by its alpha, nothing drawn;
  with ``--grow 0 --reach 0`` only a 2-px ring is filled and the real shadow stays (a
  replacement, like for like, as ``stage_candidate`` makes it with its 2-px hole);
* ``ours``: the same with staging's shadows for free space (``--options``: ``StageOptions`` as
  JSON, the defaults otherwise; every opacity scaled by ``--scale``), light and shading off (the
  object is in its own light);
* ``catalog``: the object as a catalog photo shows a product — on white, its soft edge mixed
  with the white — put back through staging's edges (``refine``: un-mixed from the white),
  nothing drawn, no light match (with ``--grow 0 --reach 0`` over its real shadow): the cut-out's
  edge as a product's gets it. Not judged: what staging's light match and shading would make of
  the object's pixels (``lit_exposure``; ``lit_error``, the mean absolute log-luminance
  difference from the photo inside the object, against ``catalog_error`` without them);
* ``moved-<scale>``, one per ``--moved-scales``: a copy of the object beside it, on its own
  floor line, in the untouched room, with the shadows scaled by ``scale`` (0: none); with
  ``--only-moved`` rooms where no copy fits are skipped. (Judged once: the copy's twin gives it
  away.)

It writes, to ``benchmarks/.cache/own/<label>/``, each picture (``truth``, ``bare``, ``ours``,
``moved-…``) and, for each, ``<label>-<variant>/pairs/pair-NN.png``: the picture against a random
*other* dev room photo (the acceptance test's real-photo comparison), sides random, ``key.json``
kept out of ``pairs/`` (``judge_study.py tally --work benchmarks/.cache/own`` reads it). The
box-prompted masks are kept in ``benchmarks/.cache/own/alpha/``.

Since the photo itself is the ground truth, it also measures how far the drawn shadows are from
the real one over the removed region outside the object: the mean absolute difference of log
luminance from ``truth`` (the error), for ``bare`` (no shadow at all) and ``ours``, and how much
darker than the fill the floor is (truth vs ours); with ``--scales``, at each scale too, one
scale chosen on the even-numbered rooms and reported on the odd ones. Per room and over the
rooms, in ``benchmarks/results/own_object.json`` (``runs``, by label). The photos are
non-commercial: nothing of them enters the repository.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from _common import DATA, data_missing
from adstage import StageOptions
from adstage.catalog.store import Catalog
from adstage.composite.blend import composite
from adstage.evaluate.realism import mask_box
from adstage.inpaint.base import DEFAULT_INPAINTER, inpaint
from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image, write_image
from adstage.segment.prompt import segment_in_box
from adstage.stage.pipeline import shared_segmenter
from adstage.types import Placement
from judge_study import side_by_side

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "own_object.json"
log = logging.getLogger("benchmarks.own_object")

GROW = 0.04
"""The object's mask is grown by this share of its height (at least 2 px) before the fill."""
SHADOW_REACH = 0.15
"""The floor within this share of the object's height of its lower half is removed too: its
real contact and cast shadow."""
MIN_BASE = 0.55
"""Only objects whose base is at least this share of the height down (standing on the floor)."""
MAX_BASE = 0.97
"""… and whose base is seen: at most this share down (not cut by the frame's bottom)."""
VARIANTS = ("bare", "ours", "catalog")
"""What is put back: nothing drawn, staging's shadows, or the object made a catalog cut-out and
put through staging's edges (module docstring); ``moved-<scale>`` come after
them, one per ``--moved-scales``."""
AREA = (0.005, 0.25)
"""The object's share of the picture."""
MIN_HEIGHT = 0.1
"""… and its height's share of the picture's."""
BOX_GROW = 0.06
"""The segmenter sees the catalog slot's box grown by this share of its size on each side."""
SHIFT = 1.1
"""``moved``: the copy stands this share of the object's width beside it."""
MAX_OVER = 0.15
"""``moved``: at most this share of the copy's box may be taken by the scene's known objects
(the catalog's slots and the object itself)."""
MIN_AGREE = 0.8
"""The object is used only where the box-prompted mask holds this share of the catalog slot's
pixels (:func:`agreement`)."""
MIN_PIECE = 0.9
"""… and its largest piece is at least this share of it (one object, not several pieces)."""


def eligible(row: dict[str, Any]) -> bool:
    """Whether the catalog slot ``row`` is a whole object standing on a seen floor."""
    x0, y0, x1, y1 = row["bbox"]
    w, h = row["width"], row["height"]
    return (
        "ikea-room-scenes" in row["uri"]
        and AREA[0] <= row["area_fraction"] <= AREA[1]
        and MIN_BASE * h <= y1 <= MAX_BASE * h
        and x0 > 0.01 * w
        and x1 < 0.99 * w
        and y1 - y0 >= MIN_HEIGHT * h
    )


def removed_region(
    mask: NDArray[np.bool_], grow_share: float = GROW, reach_share: float = SHADOW_REACH
) -> NDArray[np.bool_]:
    """The object's mask grown by ``grow_share`` of its height (at least 2 px), and the floor
    within ``reach_share`` of its lower half (0: none): what ``bare`` and ``ours`` fill."""
    _, top, _, base = mask_box(mask)
    height = base - top
    grow = max(2, round(grow_share * height))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    region = cv2.dilate(mask.astype(np.uint8), kernel) > 0
    if reach_share <= 0:  # the real shadow stays: the pipeline's replacement, like for like
        return region
    lower = mask.copy()
    lower[: top + height // 2] = False
    reach = max(grow, round(reach_share * height))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    shadow = cv2.dilate(lower.astype(np.uint8), kernel) > 0
    shadow[: top + height // 2] = False  # the floor and the wall's foot, not the wall above
    return region | shadow


def luminance(image: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Rec. 709 luminance in linear light, in (0, 1]."""
    linear = (image.astype(np.float64) / 255.0) ** 2.2
    return np.maximum(linear @ np.array([0.2126, 0.7152, 0.0722]), 1e-4)


def shadow_error(
    truth: NDArray[np.uint8], made: NDArray[np.uint8], ring: NDArray[np.bool_]
) -> float:
    """Mean absolute difference of log luminance between ``made`` and ``truth`` over ``ring``."""
    return float(np.abs(np.log(luminance(made)[ring]) - np.log(luminance(truth)[ring])).mean())


def darkening(
    image: NDArray[np.uint8], filled: NDArray[np.uint8], ring: NDArray[np.bool_]
) -> float:
    """How much darker ``image`` is than the fill over ``ring``: 1 − exp(mean log ratio)."""
    ratio = np.log(luminance(image)[ring]) - np.log(luminance(filled)[ring])
    return float(1.0 - np.exp(ratio.mean()))


def prompt_box(slot: NDArray[np.bool_]) -> tuple[int, int, int, int]:
    """The box the segmenter sees: the catalog ``slot``'s box grown by :data:`BOX_GROW`."""
    h, w = slot.shape
    x0, y0, x1, y1 = mask_box(slot)
    gx, gy = round(BOX_GROW * (x1 - x0)), round(BOX_GROW * (y1 - y0))
    return (max(0, x0 - gx), max(0, y0 - gy), min(w, x1 + gx), min(h, y1 + gy))


def object_alpha(
    scene: NDArray[np.uint8], slot: NDArray[np.bool_], segmenter: Any
) -> tuple[NDArray[np.float32], float]:
    """The object of the catalog's ``slot`` segmented again in its :func:`prompt_box`, and its
    :func:`agreement` with the slot."""
    alpha, _ = segment_in_box(scene, prompt_box(slot), segmenter)
    return alpha, agreement(alpha >= 0.5, slot)


def agreement(mask: NDArray[np.bool_], slot: NDArray[np.bool_]) -> float:
    """How surely ``mask`` is the catalog ``slot``'s whole object: the share of the slot's pixels
    it holds (the catalog's masks are often fragments of the object, so not their IoU); 0 when
    the mask falls apart (its largest piece under :data:`MIN_PIECE` of it) or reaches a side of
    the :func:`prompt_box` that is not the frame's (the object goes on past the box, and the mask
    is cut there: a catalog fragment's box is smaller than its object)."""
    if not mask.any():
        return 0.0
    h, w = slot.shape
    bx0, by0, bx1, by1 = prompt_box(slot)
    mx0, my0, mx1, my1 = mask_box(mask)
    cut = (
        (bx0 > 0 and mx0 <= bx0)
        or (by0 > 0 and my0 <= by0)
        or (bx1 < w and mx1 >= bx1)
        or (by1 < h and my1 >= by1)
    )
    if cut:
        return 0.0
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if stats[1:n, cv2.CC_STAT_AREA].max() < MIN_PIECE * mask.sum():
        return 0.0
    return float((mask & slot).sum()) / max(float(slot.sum()), 1.0)


def own_cutout(
    scene: NDArray[np.uint8], alpha: NDArray[np.float32], box: tuple[int, int, int, int]
) -> NDArray[np.uint8]:
    """The object cut out of its own photo: the ``box`` of ``scene`` with ``alpha`` as opacity."""
    x0, y0, x1, y1 = box
    opacity = np.clip(np.rint(alpha[y0:y1, x0:x1] * 255), 0, 255).astype(np.uint8)
    return np.dstack([scene[y0:y1, x0:x1], opacity])


def with_shadows(
    scene: NDArray[np.uint8],
    rgba: NDArray[np.uint8],
    placement: Placement,
    options: StageOptions,
    factor: float,
) -> NDArray[np.uint8]:
    """``rgba`` pasted at ``placement`` with staging's shadows for free space, every opacity of
    ``options`` scaled by ``factor`` (0: none), no light match nor shading."""
    return composite(
        scene,
        rgba,
        placement,
        shadow=min(1.0, options.shadow * factor),
        cast_opacity=min(1.0, options.cast_shadow * factor),
        under_opacity=min(1.0, options.under_shadow * factor),
        crease=min(1.0, options.crease * factor),
        inner=min(1.0, options.inner_shadow * factor),
        soften=options.soften_shadows,
        shadow_model=options.shadow_model_for(free_space=True),
    ).image


def put_back(
    scene: NDArray[np.uint8],
    alpha: NDArray[np.float32],
    options: StageOptions,
    grow_share: float = GROW,
    reach_share: float = SHADOW_REACH,
    scale: float = 1.0,
    scales: tuple[float, ...] = (),
) -> dict[str, Any]:
    """The room ``scene`` with its object (soft ``alpha``) removed and put back (module
    docstring); ``ours`` with every shadow opacity scaled by ``scale``, and the shadow's error and
    darkening measured at each of ``scales`` too."""
    mask = alpha >= 0.5
    x0, y0, x1, y1 = mask_box(mask)
    region = removed_region(mask, grow_share, reach_share)
    filled = inpaint(scene, region, backend=DEFAULT_INPAINTER)
    rgba = own_cutout(scene, alpha, (x0, y0, x1, y1))
    placement = Placement((x0, y0, x1, y1), 1.0, "own", (scene.shape[1], scene.shape[0]))
    bare = composite(filled, rgba, placement).image

    def shadowed(factor: float) -> NDArray[np.uint8]:
        return with_shadows(filled, rgba, placement, options, factor)

    ours = shadowed(scale)
    # The object as a catalog photo shows a product: on white, its soft edge mixed with the white;
    # then staging's edges un-mix it from the white, as for a product.
    on_white = rgba.copy()
    mix = rgba[..., 3:].astype(np.float32) / 255.0
    on_white[..., :3] = np.rint(rgba[..., :3] * mix + 255.0 * (1.0 - mix)).astype(np.uint8)
    catalog = composite(
        filled, on_white, placement, despill_background=(255, 255, 255), edges=options.edges
    )
    lit = composite(  # what the light match and shading would make of its pixels (not judged)
        filled,
        on_white,
        placement,
        despill_background=(255, 255, 255),
        edges=options.edges,
        light=options.light,
        shade=options.shade,
    )
    inside = mask & (alpha >= 0.99)
    # Scored where the real shadow was removed and wherever a drawn one falls (beyond the removed
    # region the fill is the photo, so any darkening there is error too).
    strongest = shadowed(max(1.0, scale, *scales))
    ring = (region | np.any(strongest != bare, axis=2)) & ~mask
    by_scale = {}
    for factor in scales:
        made = ours if factor == scale else shadowed(factor)
        by_scale[f"{factor:g}"] = {
            "error": shadow_error(scene, made, ring),
            "dark": darkening(made, filled, ring),
        }
    return {
        "by_scale": by_scale,
        "filled": filled,
        "bare": bare,
        "ours": ours,
        "catalog": catalog.image,
        "catalog_error": shadow_error(scene, catalog.image, inside),
        "lit_exposure": None if lit.light is None else lit.light.exposure,
        "lit_error": shadow_error(scene, lit.image, inside),
        "box": [x0, y0, x1, y1],
        "ring_pixels": int(ring.sum()),
        "error_bare": shadow_error(scene, bare, ring),
        "error_ours": shadow_error(scene, ours, ring),
        "dark_truth": darkening(scene, filled, ring),
        "dark_ours": darkening(ours, filled, ring),
    }


def slot_mask(row: dict[str, Any], shape: tuple[int, int]) -> NDArray[np.bool_]:
    """The catalog slot ``row``'s mask at the scene's ``shape``."""
    decoded = cv2.imdecode(np.frombuffer(row["mask_png"], np.uint8), cv2.IMREAD_GRAYSCALE)
    if decoded.shape != shape:
        decoded = cv2.resize(decoded, (shape[1], shape[0]))
    return decoded >= 128


def moved(
    scene: NDArray[np.uint8],
    alpha: NDArray[np.float32],
    options: StageOptions,
    objects: list[NDArray[np.bool_]],
    scales: tuple[float, ...] = (0.0, 1.0),
) -> dict[str, Any]:
    """The object pasted again beside itself, on its own floor line at its own size, into the
    untouched room: ``moved-<scale>`` with staging's shadows, every opacity scaled by each of
    ``scales`` (0: none). The copy stands :data:`SHIFT` of its width to the side with room for
    it inside the frame, over at most :data:`MAX_OVER` of the catalog's objects of the scene (the
    object itself included); no picture where neither side has."""
    mask = alpha >= 0.5
    x0, y0, x1, y1 = mask_box(mask)
    h, w = mask.shape
    taken = np.zeros_like(mask)
    for other in [mask, *objects]:
        taken |= other
    best = None
    for sign in (1, -1):
        dx = sign * round(SHIFT * (x1 - x0))
        if x0 + dx < 0 or x1 + dx > w:
            continue
        over = float(taken[y0:y1, x0 + dx : x1 + dx].mean())
        if over <= MAX_OVER and (best is None or over < best[1]):
            best = (dx, over)
    if best is None:
        return {"moved_box": None}
    dx = best[0]
    rgba = own_cutout(scene, alpha, (x0, y0, x1, y1))
    placement = Placement((x0 + dx, y0, x1 + dx, y1), 1.0, "own", (w, h))
    made: dict[str, Any] = {
        f"moved-{factor:g}": with_shadows(scene, rgba, placement, options, factor)
        for factor in scales
    }
    return made | {
        "moved_box": list(placement.box),
        "moved_over": round(best[1], 3),
    }


def one_object(
    args: argparse.Namespace,
    uri: str,
    row: dict[str, Any],
    room_rows: list[dict[str, Any]],
    segmenter: Any,
    options: StageOptions,
    skipped: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """The pictures of the catalog slot ``row`` of the room ``uri`` (``None``, with the reason
    appended to ``skipped``, where the masks disagree, no copy fits beside it with
    ``--only-moved``, or anything fails)."""
    where = {"scene": Path(uri).name, "slot": row["id"]}
    try:
        scene = read_image(uri)
        slot = slot_mask(row, scene.shape[:2])
        box = "-".join(str(v) for v in prompt_box(slot))  # the box it saw, in this catalog's image
        cached = args.work / "alpha" / f"{args.segmenter}-{row['id']}-{box}.npz"
        if cached.is_file():  # IS-Net takes seconds per object: kept between runs
            held = np.load(cached)
            alpha = held["alpha"].astype(np.float32) / 255.0
            agree = agreement(alpha >= 0.5, slot)
        else:
            alpha, agree = object_alpha(scene, slot, segmenter)
            cached.parent.mkdir(parents=True, exist_ok=True)
            quantised = np.clip(np.rint(alpha * 255), 0, 255).astype(np.uint8)
            np.savez_compressed(cached, alpha=quantised, agree=agree)
        if agree < MIN_AGREE:
            skipped.append(where | {"agree": round(agree, 3)})
            return None
        objects = [m for m in (slot_mask(r, scene.shape[:2]) for r in room_rows) if m.any()]
        made = moved(scene, alpha, options, objects, tuple(args.moved_scales))
        if args.only_moved and made["moved_box"] is None:
            skipped.append(where | {"moved": "no room"})
            return None
        made |= put_back(
            scene, alpha, options, args.grow, args.reach, args.scale, tuple(args.scales)
        )
    except Exception as exc:  # a benchmark reports, it does not stop
        log.warning("%s: %s", Path(uri).name, exc)
        skipped.append(where | {"error": str(exc)})
        return None
    return made | {"agree": round(agree, 3), "slot": row["id"]}


def make(args: argparse.Namespace) -> int:
    rooms_dir = args.data / "ikea-room-scenes" / "images"
    if data_missing(rooms_dir):
        return 0
    if not args.catalog.is_dir():
        print(f"skipped: no catalog at {args.catalog} (run benchmarks/realism.py first)")
        return 0
    rows = (
        Catalog.open(args.catalog)
        .columns(["id", "item", "uri", "bbox", "area_fraction", "width", "height", "mask_png"])
        .to_pylist()
    )
    by_room: dict[str, list[dict[str, Any]]] = {}
    by_room_all: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_room_all.setdefault(row["uri"], []).append(row)
        if eligible(row):
            by_room.setdefault(row["uri"], []).append(row)
    rng = np.random.default_rng(args.seed)
    uris = sorted(by_room)
    order = [uris[i] for i in rng.permutation(len(uris))]
    rooms = sorted(rooms_dir.iterdir())
    out = args.work / args.label
    variants = (*VARIANTS, *(f"moved-{f:g}" for f in args.moved_scales))
    for sub in ("truth", *variants):
        (out / sub).mkdir(parents=True, exist_ok=True)
        if sub in variants:
            (args.work / f"{args.label}-{sub}" / "pairs").mkdir(parents=True, exist_ok=True)
    options = StageOptions(**json.loads(args.options)) if args.options else StageOptions()
    segmenter = shared_segmenter(args.segmenter)
    skipped: list[dict[str, Any]] = []
    keys: dict[str, dict[str, Any]] = {  # judge_study.py tally reads them
        variant: {
            "label": f"{args.label}-{variant}",
            "options": json.dumps({"own_object": variant, "grow": args.grow, "reach": args.reach}),
            "seed": args.seed,
            "pairs": {},
            "none": [],
        }
        for variant in variants
    }
    per_room: list[dict[str, Any]] = []
    started = time.perf_counter()
    for uri in order:
        if len(per_room) == args.n:
            break
        n = len(per_room)
        rows_here = sorted(by_room[uri], key=lambda r: -r["area_fraction"])
        if args.pick == "largest":
            rows_here = rows_here[:1]
        else:  # every eligible object, the narrowest (most likely to have room beside it) first
            rows_here = sorted(rows_here, key=lambda r: r["bbox"][2] - r["bbox"][0])
        made = None
        for row in rows_here:
            made = one_object(args, uri, row, by_room_all[uri], segmenter, options, skipped)
            if made is not None:
                break
        if made is None:
            continue
        name = f"{n:02d}"
        scene = read_image(uri)
        write_image(out / "truth" / f"{name}.png", scene)
        write_image(out / "bare" / f"{name}.png", made["bare"])
        write_image(out / "ours" / f"{name}.png", made["ours"])
        write_image(out / "catalog" / f"{name}.png", made["catalog"])
        for variant in variants[len(VARIANTS) :]:
            if made.get(variant) is not None:
                write_image(out / variant / f"{name}.png", made[variant])
        others = [r for r in rooms if r.name != Path(uri).name]
        for variant in variants:  # each against its own random real photo, sides random
            room = read_image(others[int(rng.integers(len(others)))])
            left = bool(rng.integers(2))
            shown = made.get(variant)
            if shown is None:  # no place beside itself
                keys[variant]["none"].append({"n": n, "scene": Path(uri).name, "why": "no room"})
                continue
            pair = side_by_side(shown, room) if left else side_by_side(room, shown)
            write_image(args.work / f"{args.label}-{variant}" / "pairs" / f"pair-{name}.png", pair)
            keys[variant]["pairs"][f"pair-{name}"] = {
                "comparison": "real",
                "staged": "A" if left else "B",
                "scene": Path(uri).name,
                "mode": f"own-{variant}",
                "slot": row["id"],
                "box": made["moved_box"] if variant.startswith("moved") else made["box"],
            }
        per_room.append(
            {"n": n, "scene": Path(uri).name, "slot": row["id"]}
            | {k: v for k, v in made.items() if not isinstance(v, np.ndarray)}
        )
        log.info("%s %s: error bare %.3f ours %.3f; dark truth %.3f ours %.3f", name,
                 Path(uri).name, made["error_bare"], made["error_ours"], made["dark_truth"],
                 made["dark_ours"])  # fmt: skip
    for variant, key in keys.items():
        atomic_write_text(
            args.work / f"{args.label}-{variant}" / "key.json", json.dumps(key, indent=1) + "\n"
        )
    if not per_room:
        print(f"error: no room passed ({len(skipped)} skipped); nothing written")
        return 2
    summary = summarise(per_room)
    record = {
        "label": args.label,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "argv": sys.argv[1:],
        "setup": {
            "seed": args.seed,
            "catalog": args.catalog.name,
            "pick": args.pick,
            "only_moved": args.only_moved,
            "scales": args.scales,
            "moved_scales": args.moved_scales,
            "box_grow": BOX_GROW,
            "max_over": MAX_OVER,
            "min_piece": MIN_PIECE,
            "rooms": len(per_room),
            "grow": args.grow,
            "shadow_reach": args.reach,
            "inpainter": DEFAULT_INPAINTER,
            "segmenter": args.segmenter,
            "min_agree": MIN_AGREE,
            "skipped": len(skipped),
            "shadow": options.shadow,
            "cast_shadow": options.cast_shadow,
            "under_shadow": options.under_shadow,
            "crease": options.crease,
            "scale": args.scale,
            "options": args.options,
            "shadow_model": options.shadow_model_for(free_space=True),
        },
        "summary": summary,
        "scales": fit_scale(per_room),
        "rooms": per_room,
        "skipped": skipped,
    }
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"benchmark": "own_object"}
    results |= {
        "date": record["when"],
        "command": "python benchmarks/own_object.py --label … (see its docstring)",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    results.setdefault("runs", {})[args.label] = record
    atomic_write_text(RESULTS, json.dumps(results, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"wrote {len(per_room)} pairs each to {args.work}/{args.label}-{{{','.join(variants)}}}")
    return 0


def summarise(per_room: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rooms, and in how many ``ours`` is nearer the photo than ``bare``."""
    if not per_room:
        return {"rooms": 0}
    pick = {k: np.array([r[k] for r in per_room]) for k in per_room[0] if k.startswith(("e", "d"))}
    return {
        "rooms": len(per_room),
        "median_error_bare": round(float(np.median(pick["error_bare"])), 4),
        "median_error_ours": round(float(np.median(pick["error_ours"])), 4),
        "ours_nearer": int((pick["error_ours"] < pick["error_bare"]).sum()),
        "median_dark_truth": round(float(np.median(pick["dark_truth"])), 4),
        "median_dark_ours": round(float(np.median(pick["dark_ours"])), 4),
        "ours_darker_than_truth": int((pick["dark_ours"] > pick["dark_truth"]).sum()),
    }


def fit_scale(per_room: list[dict[str, Any]]) -> dict[str, Any]:
    """The shadow scale whose median error against the photo is least on the even-numbered
    rooms (chosen there), and every scale's median error on the odd-numbered ones (reported)."""
    if not per_room or not per_room[0]["by_scale"]:
        return {}
    halves = {"choose": per_room[0::2], "report": per_room[1::2]}
    table = {
        factor: {
            half: round(float(np.median([r["by_scale"][factor]["error"] for r in rooms])), 4)
            for half, rooms in halves.items()
            if rooms
        }
        | {
            "median_dark": round(
                float(np.median([r["by_scale"][factor]["dark"] for r in per_room])), 4
            )
        }
        for factor in per_room[0]["by_scale"]
    }
    chosen = min(table, key=lambda f: table[f]["choose"])
    bare = {
        half: round(float(np.median([r["error_bare"] for r in rooms])), 4)
        for half, rooms in halves.items()
        if rooms
    }
    truth = round(float(np.median([r["dark_truth"] for r in per_room])), 4)
    return {"by_scale": table, "chosen": chosen, "bare": bare, "median_dark_truth": truth}


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="own")
    parser.add_argument("--n", type=int, default=30, help="rooms (one object each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grow", type=float, default=GROW, help="the mask grown by (share)")
    parser.add_argument(
        "--reach", type=float, default=SHADOW_REACH, help="real shadow removed within (0: kept)"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="ours: the shadows scaled by")
    parser.add_argument(
        "--scales", type=_floats, default=[], help="the shadow's error measured at these too"
    )
    parser.add_argument(
        "--moved-scales", type=_floats, default=[0.0, 1.0], help="the copies' shadow scales"
    )
    parser.add_argument(
        "--pick", choices=("largest", "narrowest"), default="largest", help="each room's object"
    )
    parser.add_argument(
        "--only-moved", action="store_true", help="skip rooms where no copy fits beside it"
    )
    parser.add_argument("--options", default="", help="StageOptions as JSON (the shadows)")
    parser.add_argument("--segmenter", default="isnet", help="re-segments each object in its box")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--catalog", type=Path, default=ROOT / ".cache" / "realism-catalog-512")
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "own")
    args = parser.parse_args()
    if args.n < 1 or any(f < 0 for f in [args.scale, *args.scales, *args.moved_scales]):
        parser.error("--n must be at least 1 and every scale at least 0")
    return make(args)


if __name__ == "__main__":
    sys.exit(main())
