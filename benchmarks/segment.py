"""Segmentation and triage benchmark on ../shared/data; writes benchmarks/results/segment.json.

    python benchmarks/segment.py                 # all of it (~10 min with IS-Net masks cached,
                                                 # ~40 min on a first run)
    python benchmarks/segment.py --stride 4      # every 4th IKEA product only

Sections (issue "Foundation"):
- quality per backend on ``grabcut-50`` (the 128 band left out) and ``coco-mval-objects``
  (fg_fraction ≥ 0.05): IoU, F-measure (β² = 0.3), MAE;
- agreement (IoU) of ``solid-background`` with ``isnet`` at 1024² on ``ikea-sa-products``;
- IoU against ground truth on the synthetic catalog's un-staged products (ships with adstage);
- seconds per image of every backend on the same IKEA images, in one run, and the ratio to
  ``solid-background`` (timings on shared machines are noisy: compare ratios, not seconds);
- triage accuracy: ``ikea-sa-products`` un-staged vs ``ikea-room-scenes`` and ``coco-mval-objects``
  staged, each photo counted once (``coco-mval-objects`` cuts several objects out of one photo).

    python benchmarks/segment.py --only triage   # only the triage section of the JSON (~1 min)

IS-Net masks are cached under ``benchmarks/.cache/isnet-<size>/`` (never committed) so a re-run
only times the network on ``--timing-n`` images. GrabCut is prompted with the ground-truth box
grown by 5 % (the GrabCut benchmark's protocol); on IKEA products, where there is no ground truth,
with the centre box. The licensed images never leave ../shared/data.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from adstage.errors import WeightsNotFound
from adstage.evaluate.segmentation import score, summarize
from adstage.io.atomic import atomic_write_bytes, atomic_write_text
from adstage.io.hashing import sha256_bytes
from adstage.io.images import read_image
from adstage.provenance import versions
from adstage.segment import SEGMENTERS
from adstage.segment.triage import DEFAULT_THRESHOLD, triage

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.segment")


def rows(data: Path, name: str) -> list[dict[str, str]]:
    with open(data / name / "labels.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def metadata(data: Path, name: str) -> dict[str, dict[str, str]]:
    with open(data / name / "metadata.csv", newline="") as handle:
        return {r["path"]: r for r in csv.DictReader(handle)}


def truth_mask(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Binary ground truth and the valid pixels (GrabCut-50's value 128 is the uncertain band)."""
    raw = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if raw is None:
        raise FileNotFoundError(path)
    valid = raw != 128
    return raw > 128, valid


def gt_box(mask: np.ndarray, grow: float = 0.05) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    gx, gy = round((x1 - x0) * grow), round((y1 - y0) * grow)
    return (max(0, x0 - gx), max(0, y0 - gy), min(w, x1 + gx), min(h, y1 + gy))


class IsnetCache:
    """IS-Net alphas on disk, keyed by data set and file stem, computed once."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.root = ROOT / ".cache" / f"isnet-{size}"
        self._model = None

    def model(self):
        if self._model is None:
            self._model = SEGMENTERS.create("isnet", input_size=self.size)
        return self._model

    def alpha(self, dataset: str, path: Path, image: np.ndarray | None = None) -> np.ndarray:
        cached = self.root / dataset / f"{path.stem}.png"
        if cached.exists():
            a8 = cv2.imread(str(cached), cv2.IMREAD_GRAYSCALE)
            if a8 is not None:
                return a8.astype(np.float32) / 255.0
        image = read_image(path) if image is None else image
        alpha = self.model()(image).alpha
        ok, png = cv2.imencode(".png", np.clip(np.rint(alpha * 255), 0, 255).astype(np.uint8))
        if ok:
            atomic_write_bytes(cached, png.tobytes())
        return alpha


def quality(
    data: Path,
    dataset: str,
    items: list[dict[str, str]],
    backends: list[str],
    isnet: IsnetCache | None,
) -> dict[str, dict]:
    out: dict[str, dict] = {}
    scores: dict[str, list] = {b: [] for b in backends}
    if isnet is not None:
        scores["isnet"] = []
    for i, row in enumerate(items):
        image_path = data / dataset / row["path"]
        image = read_image(image_path)
        truth, valid = truth_mask(data / dataset / row["mask_path"])
        for name in backends:
            if name == "grabcut-box":  # the GrabCut benchmark's protocol: a box around the object
                seg = SEGMENTERS.create("grabcut", box=gt_box(truth))(image)
            elif name == "grabcut-saliency":  # no prompt: what `auto` runs without IS-Net
                seg = SEGMENTERS.create("grabcut")(image)
            else:
                seg = SEGMENTERS.create(name)(image)
            scores[name].append(score(seg.alpha, truth, valid))
        if isnet is not None:
            scores["isnet"].append(score(isnet.alpha(dataset, image_path, image), truth, valid))
        if (i + 1) % 25 == 0:
            log.info("%s: %d/%d", dataset, i + 1, len(items))
    for name, values in scores.items():
        out[name] = summarize(values)
    return out


def agreement(data: Path, items: list[dict[str, str]], isnet: IsnetCache, seg=None) -> dict:
    """IoU of ``seg`` (default ``solid-background``) with IS-Net at its cache size."""
    seg = seg or SEGMENTERS.create("solid-background")
    ious, worst = [], []
    for i, row in enumerate(items):
        path = data / "ikea-sa-products" / row["path"]
        image = read_image(path)
        ref = isnet.alpha("ikea-sa-products", path, image) >= 0.5
        s = score(seg(image).alpha, ref)
        ious.append(s.iou)
        worst.append((s.iou, row["path"]))
        if (i + 1) % 25 == 0:
            log.info("agreement: %d/%d", i + 1, len(items))
    arr = np.array(ious)
    return {
        "n": len(arr),
        "mean_iou": round(float(arr.mean()), 4),
        "median_iou": round(float(np.median(arr)), 4),
        "p10_iou": round(float(np.percentile(arr, 10)), 4),
        "share_iou_ge_0.90": round(float((arr >= 0.9).mean()), 4),
        "share_iou_ge_0.95": round(float((arr >= 0.95).mean()), 4),
        "lowest": [{"iou": round(v, 4), "path": p} for v, p in sorted(worst)[:24]],
    }


def audit_sheet(data: Path, lowest: list[dict], isnet: IsnetCache, out: Path) -> Path:
    """A contact sheet of the lowest-agreement products: input | solid-background | IS-Net.

    Written under benchmarks/.cache (never committed: it is made of licensed photos), for a
    person to judge which mask is right where the two disagree.
    """
    seg = SEGMENTERS.create("solid-background")
    tiles = []
    for row in lowest:
        path = data / "ikea-sa-products" / row["path"]
        image = read_image(path)
        masks = [seg(image).mask, isnet.alpha("ikea-sa-products", path, image) >= 0.5]
        cells = [cv2.resize(image, (200, 200), interpolation=cv2.INTER_AREA)]
        for mask in masks:
            dim = image.copy()
            dim[~mask] = (dim[~mask] * 0.25 + np.array([120, 0, 40]) * 0.75).astype(np.uint8)
            cells.append(cv2.resize(dim, (200, 200), interpolation=cv2.INTER_AREA))
        tile = np.hstack(cells)
        cv2.putText(
            tile, f"IoU {row['iou']:.2f}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (200, 0, 0), 1
        )
        tiles.append(tile)
    while len(tiles) % 3:
        tiles.append(np.zeros_like(tiles[0]))
    sheet = np.vstack([np.hstack(tiles[i : i + 3]) for i in range(0, len(tiles), 3)])
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if ok:
        atomic_write_bytes(out, png.tobytes())
    return out


def synthetic_truth(n: int) -> dict:
    from adstage.datasets.synthetic import SyntheticCatalog

    catalog = SyntheticCatalog(n, seed=1234, staged_fraction=0.0, size=(512, 512))
    seg = SEGMENTERS.create("solid-background")
    scores, white = [], []
    for item in catalog:
        s = score(seg(item.image).alpha, item.mask)
        scores.append(s)
        if "white-on-white" in (item.meta.get("hard") or []):
            white.append(s)
    return {"all": summarize(scores), "white_on_white": summarize(white)}


def random_u2net(variant: str) -> Path | None:
    """A U²-Net state dict with random weights: same cost as the official file, for timing only."""
    try:
        import torch

        from adstage.models.u2net import build_u2net
    except ImportError:
        return None
    path = ROOT / ".cache" / f"{variant}-random.pth"
    if not path.exists():
        torch.manual_seed(0)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(build_u2net(variant).state_dict(), path)
    return path


def timing(data: Path, items: list[dict[str, str]], backends: list[str], isnet_size: int) -> dict:
    images = [read_image(data / "ikea-sa-products" / r["path"]) for r in items]
    models = {}
    for name in backends:
        if name in ("u2net", "u2netp"):
            weights = random_u2net(name)
            if weights is None:
                continue
            models[name] = SEGMENTERS.create("u2net", weights=str(weights), variant=name)
        else:
            options = {"input_size": isnet_size} if name == "isnet" else {}
            models[name] = SEGMENTERS.create(name, **options)
        models[name](images[0])  # warm-up: sessions, caches
    seconds: dict[str, list[float]] = {name: [] for name in models}
    # Interleave backends image by image, so load changes hit every backend alike.
    for image in images:
        for name, model in models.items():
            started = time.perf_counter()
            model(image)
            seconds[name].append(time.perf_counter() - started)
    base = statistics.median(seconds["solid-background"])
    return {
        name: {
            "median_s": round(statistics.median(v), 4),
            "mean_s": round(statistics.fmean(v), 4),
            "ratio_to_solid_background": round(statistics.median(v) / base, 2),
        }
        for name, v in seconds.items()
    } | {"n": len(images), "image_size": list(images[0].shape[:2])}


TRIAGE_SETS = {"ikea-sa-products": False, "ikea-room-scenes": True, "coco-mval-objects": True}


def triage_accuracy(data: Path) -> dict:
    """Triage accuracy with each photo counted once.

    A set's ``labels.csv`` has one row per object, and ``coco-mval-objects`` cuts several objects
    (rows) out of one COCO photo (up to four rows for one image id), so counting rows counts
    those photos several times. Photos are deduplicated by the sha256 of the file, across all
    sets, in the order of :data:`TRIAGE_SETS`; the first row of a photo decides its set (a
    photo with two truths would be reported in ``conflicts``).
    """
    started = time.time()
    seen: dict[str, tuple[str, bool]] = {}  # sha256 → (set, truth)
    per_set, correct, total, errors, conflicts = {}, 0, 0, [], []
    for name, staged in TRIAGE_SETS.items():
        scores, n_rows = [], 0
        for row in rows(data, name):
            n_rows += 1
            path = data / name / row["path"]
            digest = sha256_bytes(path.read_bytes())
            if digest in seen:
                if seen[digest][1] != staged:
                    conflicts.append(f"{name}/{row['path']}")
                continue
            seen[digest] = (name, staged)
            verdict = triage(read_image(path))
            scores.append(verdict.score)
            if verdict.staged != staged:
                errors.append({"path": f"{name}/{row['path']}", "score": verdict.score})
        arr = np.array(scores)
        ok = int(((arr > DEFAULT_THRESHOLD) == staged).sum())
        per_set[name] = {
            "n": len(arr),
            "rows": n_rows,
            "duplicate_rows_dropped": n_rows - len(arr),
            "staged_truth": staged,
            "accuracy": round(ok / len(arr), 4),
            "score_p1_p50_p99": [round(float(x), 3) for x in np.percentile(arr, [1, 50, 99])],
        }
        correct += ok
        total += len(arr)
    return {
        "threshold": DEFAULT_THRESHOLD,
        "counting": "unique photos (sha256 of the file), each counted once across all sets",
        "accuracy": round(correct / total, 4),
        "n": total,
        "n_wrong": total - correct,
        "per_set": per_set,
        "conflicts": conflicts,
        "errors": errors[:20],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "elapsed_s": round(time.time() - started, 1),
    }


def only_triage(args: argparse.Namespace) -> int:
    """``--only triage``: recompute the triage section and keep the rest of ``--out`` as it is."""
    result = json.loads(args.out.read_text()) if args.out.exists() else {"benchmark": "segment"}
    result["triage"] = triage_accuracy(args.data)
    result["triage"]["command"] = " ".join(["python", "benchmarks/segment.py", *sys.argv[1:]])
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["triage"], indent=2))
    print(f"wrote {args.out} (triage section only)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "segment.json")
    parser.add_argument("--stride", type=int, default=1, help="use every N-th IKEA product")
    parser.add_argument("--timing-n", type=int, default=20)
    parser.add_argument("--isnet-size", type=int, default=1024)
    parser.add_argument("--synthetic-n", type=int, default=200)
    parser.add_argument("--yardstick-size", type=int, default=512, help="second IS-Net size")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime / OpenCV threads")
    parser.add_argument(
        "--only",
        choices=["triage"],
        help="recompute only this section of --out and keep the others (triage needs no weights)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if not args.data.is_dir():
        print(
            f"skipped: {args.data} not found (the licensed development data is not on this machine)"
        )
        return 0
    cv2.setNumThreads(args.threads)
    if args.only == "triage":
        return only_triage(args)
    started = time.time()
    try:
        SEGMENTERS.create("isnet").weights_path()  # type: ignore[attr-defined]
        isnet: IsnetCache | None = IsnetCache(args.isnet_size)
    except WeightsNotFound as exc:
        log.warning("isnet left out: %s", exc)
        isnet = None

    ikea = rows(args.data, "ikea-sa-products")[:: args.stride]
    meta = metadata(args.data, "coco-mval-objects")
    coco = [
        r
        for r in rows(args.data, "coco-mval-objects")
        if float(meta[r["path"]]["fg_fraction"]) >= 0.05
    ]
    grabcut = rows(args.data, "grabcut-50")
    classical = ["solid-background", "grabcut-box", "grabcut-saliency"]

    result: dict = {
        "benchmark": "segment",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "threads": args.threads,
        },
        "versions": versions(),
        "command": " ".join(["python", "benchmarks/segment.py", *sys.argv[1:]]),
        "notes": [
            "isnet = IS-Net (DIS) fp32 ONNX at --isnet-size, weights isnet-general (AGPL-3.0)",
            "grabcut is prompted with the ground-truth box grown by 5 % on grabcut-50 and COCO "
            "(the GrabCut benchmark's protocol); in the timing run it is seeded by saliency "
            "(its default without a box)",
            "u2net / u2netp are timed with random weights (same cost as the official files, "
            "which cannot be installed offline) and not scored",
        ],
    }
    log.info("grabcut-50: %d images", len(grabcut))
    result["grabcut50"] = quality(args.data, "grabcut-50", grabcut, classical, isnet)
    log.info("coco-mval-objects (fg ≥ 0.05): %d images", len(coco))
    result["coco_fg05"] = quality(args.data, "coco-mval-objects", coco, classical, isnet)
    log.info("synthetic catalog: %d products", args.synthetic_n)
    result["synthetic_unstaged_vs_truth"] = synthetic_truth(args.synthetic_n)
    if isnet is not None:
        log.info("agreement with isnet on %d IKEA products", len(ikea))
        result["ikea_agreement_with_isnet"] = agreement(args.data, ikea, isnet)
        sheet = audit_sheet(
            args.data,
            result["ikea_agreement_with_isnet"]["lowest"],
            isnet,
            ROOT / ".cache" / "ikea-lowest-agreement.png",
        )
        log.info("wrote %s (lowest agreement: input | solid-background | isnet)", sheet)
        # How much IS-Net agrees with itself at another input size, on every 4th product: a
        # yardstick for what agreement with IS-Net can mean on white-background products.
        sub = rows(args.data, "ikea-sa-products")[::4]
        log.info(
            "isnet %d vs %d on %d IKEA products", args.yardstick_size, args.isnet_size, len(sub)
        )
        other = SEGMENTERS.create("isnet", input_size=args.yardstick_size)
        result["ikea_yardstick"] = {
            "subset": "every 4th IKEA product",
            f"isnet_{args.yardstick_size}_vs_isnet_{args.isnet_size}": agreement(
                args.data, sub, isnet, other
            ),
            f"solid_background_vs_isnet_{args.isnet_size}": agreement(args.data, sub, isnet),
        }
    log.info("timing on %d IKEA products", args.timing_n)
    timed = ["solid-background", "grabcut", "u2net", "u2netp"]
    timed += ["isnet"] if isnet is not None else []
    result["seconds_per_image"] = timing(args.data, ikea[: args.timing_n], timed, args.isnet_size)
    log.info("triage")
    result["triage"] = triage_accuracy(args.data)
    result["elapsed_s"] = round(time.time() - started, 1)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {k: result[k] for k in ("seconds_per_image", "triage")}
            | {"agreement": result.get("ikea_agreement_with_isnet", {}).get("mean_iou")},
            indent=2,
        )
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
