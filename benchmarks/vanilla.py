"""Vanilla (pix2pix) against copy-paste staging, in one run; writes benchmarks/results/vanilla.json.

    adstage train pix2pix ... --out benchmarks/.cache/pix2pix     # see the README's recipe
    python benchmarks/vanilla.py                                  # 80 products, ns inpainter
    python benchmarks/vanilla.py --products 40                    # faster

Ku et al. (AdKDD 2023, §5.2, §6) compare copy-paste staging with "vanilla" staging, a pix2pix
GAN that generates the whole background around the segmented product (FID 122–128 against
37–38). Here, for the same seeded sample of ``ikea-sa-products`` products:

* **pix2pix**: the product on white at the training layout → the trained generator
  (``adstage.stage.vanilla.VanillaStager``), ``size``² pixels;
* **copy-paste**: retrieval from the cached staging catalog
  (``benchmarks/.cache/staging-catalog-inception-v3``, built by ``benchmarks/staging.py``; not
  rebuilt here), best of k=3 candidates of :func:`adstage.stage.pipeline.stage_candidate`
  (``--inpainter``, default ``ns`` for speed), as ``benchmarks/staging.py`` does;
* **white**: the un-staged product photos themselves (reference).

A product counts only when both methods staged it, so every row has the same ``n``. FID and KID
(Inception pool3, :mod:`adstage.evaluate.fid`) are computed against the real staged photos: the
catalog's scenes (``ikea-room-scenes`` and the home-furnishing ``coco-mval-objects`` scenes), whole,
resized to 299² as in ``benchmarks/staging.py``. pix2pix trained on 90 % of those photos, which
can only flatter it. Two more rows put its number in context, on the held-out photos
(``held_out.txt`` of the training run): **pix2pix (held-out, own layout)** regenerates each held-out
photo from its own product on white; **real held-out at size²** are those photos' training crops,
the floor a perfect generator at this resolution would reach (few images: read its KID).

Images are resized to 299² with area interpolation before the features, as in staging.py.
The licensed photos never leave ../shared/data.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import sys
import time
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from _common import DATA, data_missing

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.vanilla")


def to299(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (299, 299), interpolation=cv2.INTER_AREA)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--checkpoint", type=Path, default=ROOT / ".cache" / "pix2pix")
    parser.add_argument(
        "--catalog", type=Path, default=ROOT / ".cache" / "staging-catalog-inception-v3"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "vanilla.json")
    parser.add_argument("--products", type=int, default=80)
    parser.add_argument("--inpainter", default="ns")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (whole run)")
    parser.add_argument("--max-real", type=int, default=0, help="smoke runs: fewer real photos")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    products_dir = args.data / "ikea-sa-products"
    if data_missing(products_dir):
        return 0
    if not args.catalog.is_dir():
        print(f"error: {args.catalog} not found; build it with python benchmarks/staging.py")
        return 2

    from adstage.catalog.store import Catalog
    from adstage.evaluate.fid import InceptionFeatures, fid_report
    from adstage.io.atomic import atomic_write_text
    from adstage.io.images import read_image
    from adstage.models.pix2pix import read_checkpoint
    from adstage.provenance import versions
    from adstage.retrieve.search import retrieve
    from adstage.segment import SEGMENTERS
    from adstage.stage.pipeline import StageOptions, stage_candidate
    from adstage.stage.vanilla import VanillaStager
    from adstage.train.pix2pix import Pix2PixConfig, build_pairs
    from adstage.types import Cutout

    started = time.time()
    if args.threads:  # a script may: more torch threads than free cores slows every step
        import torch

        torch.set_num_threads(args.threads)
    try:
        stager = VanillaStager(args.checkpoint)
    except Exception as exc:
        print(f"error: {exc}; train one first (see the README's pix2pix section)")
        return 2
    state = read_checkpoint(stager.meta["path"])
    train_config = state["config"]
    catalog = Catalog(args.catalog)
    with open(products_dir / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rng = np.random.default_rng(args.seed)
    picked = sorted(rng.choice(len(rows), min(args.products, len(rows)), replace=False))
    seg = SEGMENTERS.create("auto")
    options = StageOptions(inpainter=args.inpainter, keep_steps=False)

    outputs: dict[str, list[np.ndarray]] = {"pix2pix": [], "copy-paste": [], "white": []}
    seconds: dict[str, list[float]] = {"pix2pix": [], "copy-paste": []}
    skipped = []
    for n, index in enumerate(picked):
        path = products_dir / rows[index]["path"]
        image = read_image(path)
        alpha = seg(image).alpha
        cut = Cutout.from_alpha(image, alpha)
        if cut.empty:
            skipped.append({"product": rows[index]["path"], "reason": "empty mask"})
            continue
        t = time.perf_counter()
        matches = retrieve(image, catalog, mask=alpha, k=3, where="staged = true", rerank=True)
        cands = []
        for match in matches:
            try:
                cands.append(stage_candidate(cut, match, options))
            except Exception as exc:  # a benchmark reports, it does not stop
                log.warning("%s / %s: %s", rows[index]["path"], match.id, exc)
        t_copy = time.perf_counter() - t
        if not cands:
            skipped.append({"product": rows[index]["path"], "reason": "no copy-paste candidate"})
            continue
        t = time.perf_counter()
        vanilla = stager(image, alpha)
        t_vanilla = time.perf_counter() - t
        best = max(cands, key=lambda c: c.score)
        outputs["copy-paste"].append(to299(best.image))
        outputs["pix2pix"].append(to299(vanilla.image))
        outputs["white"].append(to299(image))
        seconds["copy-paste"].append(t_copy)
        seconds["pix2pix"].append(t_vanilla)
        if n % 10 == 0:
            log.info("%d / %d products", n + 1, len(picked))

    # Held-out photos of the training run: regenerated from their own product on white.
    known = {f.name for f in fields(Pix2PixConfig)}
    config = Pix2PixConfig(
        **{
            **{k: v for k, v in train_config.items() if k in known},
            "data": tuple(train_config["data"]),
            "where": tuple(train_config["where"]),
            "out": str(Path(stager.meta["path"]).parent),
            "device": "cpu",
        }
    )
    pairs = build_pairs(config)
    held = np.flatnonzero(pairs.held)
    import torch

    from adstage.models.pix2pix import to_images, to_tensor

    with torch.inference_mode():
        regenerated = [to_images(stager.generator(to_tensor(pairs.inputs[i])))[0] for i in held]
    outputs["pix2pix (held-out, own layout)"] = [to299(x) for x in regenerated]
    size = config.size
    outputs[f"real held-out at {size}²"] = [to299(pairs.targets[i]) for i in held]

    log.info("features of the real staged photos")
    uris = sorted(set(catalog.columns(["uri"]).column("uri").to_pylist()))
    if args.max_real:
        uris = uris[: args.max_real]
    features = InceptionFeatures(batch_size=16, threads=args.threads)
    real = features(to299(read_image(uri)) for uri in uris)
    quality = {}
    for name, images in outputs.items():
        if len(images) < 2:
            continue
        report = fid_report(real, features(images), subset_size=100)
        quality[name] = {
            "n": len(images),
            "fid": round(report["fid"], 2),
            "kid": round(report["kid"], 5),
            "kid_std": round(report["kid_std"], 5),
        }
        if seconds.get(name):
            quality[name]["seconds_per_product"] = round(float(np.mean(seconds[name])), 3)
        log.info("%s: %s", name, quality[name])

    result = {
        "benchmark": "vanilla",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": versions(),
        "command": " ".join(["python", "benchmarks/vanilla.py", *sys.argv[1:]]),
        "checkpoint": {
            "path": os.path.relpath(stager.meta["path"], ROOT.parent),
            "step": stager.meta["step"],
            "train_seconds": round(stager.meta["seconds"], 1),
            "config": {k: v for k, v in train_config.items() if k not in ("out",)},
        },
        "copy_paste": {"inpainter": args.inpainter, "k": 3, "catalog": args.catalog.name},
        "n_products": len(picked),
        "skipped": skipped,
        "real": {"photos": len(uris), "held_out": int(held.size)},
        "quality": quality,
        "paper_fid": {"copy-paste (EdgeConnect+WBL)": 37.44, "pix2pix (vanilla)": 122.22},
        "elapsed_s": round(time.time() - started, 1),
    }
    atomic_write_text(args.out, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(quality, indent=2, ensure_ascii=False))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
