"""What generative refinement (``adstage stage --refine-base``) costs per candidate on this CPU;
writes benchmarks/results/refine_cost.json.

    python benchmarks/refine_cost.py                      # ~10 min on 2 cores
    python benchmarks/refine_cost.py --max-resolutions 512  # the cheaper setting only

No diffusion weights install offline (``../shared/REFERENCES.md`` §4), so the refiner
(:class:`adstage.generate.refine.Refiner`) is built from SD-1.5's configs with random weights:
timing does not depend on the values. The staged picture is the synthetic catalog's (the demo's
data) third plain product at 1024×768, staged with the defaults.

- **baseline** (same run): staging that product without refinement (``adstage.stage``, k = 1:
  segment, retrieve, screen, remove, inpaint, composite), the median of ``--repeats`` after a
  warm-up;
- **refined**: the same with a ``StagingRefiner`` at each ``max_resolution`` (1024, the
  default: a window up to 1024 px is refined at its own size; 512: scaled down to SD-1.5's
  size, four times fewer latents, and back up, softer), 30 steps × strength 0.4 = 12 guided
  steps (the defaults), end to end (VAE encode, 12 U-Net steps on the guidance batch of 2, VAE
  decode, blend); ``ratio`` = refined / baseline.

The issue's budget is 1.0 s per candidate at 1024² on 2 cores; the refiner is far outside it on
a CPU and is meant for a GPU (``--device cuda``).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.refine_cost")


def _refiner() -> Any:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from adstage.generate.checkpoints import SD15_UNET_CONFIG
    from adstage.generate.components import SD15_TEXT_CONFIG, SD15_VAE_CONFIG, KLAutoencoder
    from adstage.generate.refine import Refiner

    class Text:  # token ids need no vocabulary for timing: 77 tokens, as CLIP pads them
        name = "clip-text (random)"

        def __init__(self) -> None:
            self.model = CLIPTextModel(CLIPTextConfig(**SD15_TEXT_CONFIG)).eval()

        @torch.no_grad()
        def __call__(self, prompts: list[str]) -> torch.Tensor:
            ids = torch.zeros(len(prompts), 77, dtype=torch.long)
            return self.model(ids)[0]

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**SD15_UNET_CONFIG)
    vae = KLAutoencoder(AutoencoderKL(**SD15_VAE_CONFIG))
    return Refiner(unet, vae, Text(), name="sd15-unet (random)")


def _catalog() -> tuple[Any, Any, Path]:
    """The demo's synthetic catalog at 1024×768, ingested with the classical embedder: (product
    image, its mask, the catalog folder)."""
    import tempfile

    from _figures import synthetic_catalog
    from adstage.datasets.synthetic import SyntheticCatalog

    syn = SyntheticCatalog(30, seed=1, size=(1024, 768))
    folder = Path(tempfile.mkdtemp(prefix="refine-cost-"))
    synthetic_catalog(syn, folder, "classical")
    plain = [syn[i] for i in range(len(syn)) if not syn[i].staged][2]
    return plain.image, plain.mask, folder / "cat"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="timed refined runs per setting")
    parser.add_argument("--max-resolutions", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "refine_cost.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    from adstage.generate.refine import DEFAULT_STEPS, DEFAULT_STRENGTH, StagingRefiner
    from adstage.provenance import versions
    from adstage.stage.pipeline import stage

    started = time.perf_counter()
    image, mask, catalog = _catalog()
    kwargs = {"mask": mask, "k": 1, "segmenter": "solid-background"}
    baseline = []
    for _ in range(4):  # the first run warms the caches
        t = time.perf_counter()
        plain = stage(image, catalog, **kwargs).candidates[0]
        baseline.append(time.perf_counter() - t)
    base = statistics.median(baseline[1:])
    log.info("baseline %.2f s per candidate (%s)", base, plain.provenance["mode"])
    t = time.perf_counter()
    refiner = _refiner()
    build = time.perf_counter() - t
    rows = []
    for largest in args.max_resolutions:
        staging = StagingRefiner(refiner, max_resolution=largest)
        times, record = [], {}
        for _ in range(args.repeats):
            t = time.perf_counter()
            cand = stage(image, catalog, refine=staging, **kwargs).candidates[0]
            times.append(time.perf_counter() - t)
            record = cand.provenance["composite"]["refine"]
        seconds = statistics.median(times)
        rows.append(
            {
                "max_resolution": largest,
                "window": record["window"],
                "window_size": record["window_size"],
                "steps_run": record["steps_run"],
                "region_pixels": record["region_pixels"],
                "seconds": {"median": round(seconds, 2), "all": [round(x, 2) for x in times]},
                "refine_seconds": record["seconds"],
                "ratio_to_baseline": round(seconds / base, 1),
            }
        )
        log.info("max resolution %d: %.1f s per candidate (%.0f× the baseline)", largest,
                 seconds, seconds / base)  # fmt: skip
    result = {
        "benchmark": "refine_cost",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": __import__("os").cpu_count(),
            "torch_threads": torch.get_num_threads(),
        },
        "versions": versions(),
        "command": command("refine_cost.py", parser, args),
        "setup": {
            "refiner": "SD-1.5 U-Net, KL VAE and CLIP text encoder from their configs, random "
            "weights, fp32, CPU",
            "build_seconds": round(build, 1),
            "steps": DEFAULT_STEPS,
            "strength": DEFAULT_STRENGTH,
            "candidate": f"the synthetic catalog's third plain product, 1024×768, "
            f"{plain.provenance['mode']}",
            "repeats": args.repeats,
            "baseline_repeats": 3,
        },
        "baseline_seconds": {"median": round(base, 3), "all": [round(x, 3) for x in baseline[1:]]},
        "refined": rows,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    from adstage.io.atomic import atomic_write_text

    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({r["max_resolution"]: r["seconds"]["median"] for r in rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
