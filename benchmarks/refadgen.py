"""RefAdGen's dual U-Net on this CPU; writes benchmarks/results/refadgen.json.

    python benchmarks/refadgen.py                  # 1 warm-up + 3 timed steps, 2 threads
    python benchmarks/refadgen.py --repeats 2      # faster

What it costs to run RefAdGen (Chen & Yang; ``adstage.generate.refadgen``) at the released
size, with random weights (timing does not depend on the values): SD-1.5's U-Net config
(``SD15_UNET_CONFIG``), the Resampler of SD-1.5 with CLIP ViT-H/14 (768-d, 16 queries over
257×1280 image tokens), fp32, at the released 512 wide × 640 high (latent 64×80):

- **dual step**: one guided denoising step of the Generation U-Net with fusion on (λ = 1) on the
  classifier-free-guidance batch of 2 ([uncond, cond]; 5 channels: latents + mask), reading the
  reference cache;
- **reference pass**: the one-time part of a generation: the Resampler on both halves' image
  tokens and the Reference U-Net at t = 0 on the product latents ×2, filling the cache;
- **plain step** (the baseline, same run): SD-1.5's own U-Net on the same batch (4 channels, no
  fusion); ``ratio`` = dual step / plain step. A 30-step generation costs about
  ``reference + 30 × dual`` (the VAE and the encoders, run once, are not counted);
- **tiny training step**: one released training step (``adstage.train.adgen.train_step``, AdamW
  on the released trainable set) of the parity test's tiny configuration, batch 2, 16×16 latents.

Each configuration runs in a fresh subprocess (``--worker``), so its peak resident memory
(``ru_maxrss``) is its own; the RSS after building (weights only) is recorded beside it. Seconds
are the median of the timed repeats after the warm-ups, under ``torch.inference_mode`` (the
training step with gradients). Timings on a shared machine are noisy: compare the ratio.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.refadgen")

HEIGHT, WIDTH = 640, 512
"""The released generation size (pixels); the latent is ÷8."""
TOKENS, IMAGE_TOKENS = 77, 257
"""CLIP text tokens; CLIP ViT-H/14 hidden states at 224² (256 patches + CLS)."""
TINY_UNET: dict[str, Any] = {
    "sample_size": 16,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 1,
    "block_out_channels": [32, 64],
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "cross_attention_dim": 32,
    "attention_head_dim": 8,
    "norm_num_groups": 8,
}
"""The parity tensors' tiny configuration (``tests/refadgen_parity.py``)."""
TINY_RESAMPLER = {"dim": 32, "depth": 4, "dim_head": 64, "heads": 12, "num_queries": 16,
                  "embedding_dim": 48, "output_dim": 32, "ff_mult": 4}  # fmt: skip


def _rss_gb() -> float:
    """The current resident set (VmRSS), GB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1e6
    return float("nan")


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KB on Linux


def _timed(fn: Any, warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return seconds


def _summary(seconds: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(seconds), 3),
        "min": round(min(seconds), 3),
        "all": [round(s, 3) for s in seconds],
    }


def _numel(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


# --- the workers (one configuration per fresh process) ----------------------------------------


def worker_dual(warmup: int, repeats: int) -> dict[str, Any]:
    import torch

    from adstage.generate.checkpoints import SD15_UNET_CONFIG
    from adstage.generate.refadgen import ResamplerConfig, build

    torch.manual_seed(0)
    started = time.perf_counter()
    resampler = ResamplerConfig()  # SD-1.5 / ViT-H: 1280 → 768, 16 queries, depth 4
    model = build(SD15_UNET_CONFIG, asdict(resampler)).eval().requires_grad_(False)
    build_seconds = time.perf_counter() - started
    rss = _rss_gb()
    h, w = HEIGHT // 8, WIDTH // 8
    g = torch.Generator().manual_seed(1)
    latents = torch.randn(2, 4, h, w, generator=g)
    mask = (torch.rand(1, 1, h, w, generator=g) > 0.5).float().repeat(2, 1, 1, 1)
    text = torch.randn(2, TOKENS, SD15_UNET_CONFIG["cross_attention_dim"], generator=g)
    image = torch.randn(2, IMAGE_TOKENS, resampler.embedding_dim, generator=g)
    ref = torch.randn(1, 4, h, w, generator=g).repeat(2, 1, 1, 1)
    t = torch.tensor([500, 500])
    cache: dict[str, torch.Tensor] = {}

    def reference() -> None:
        cache.clear()
        cache.update(model.reference(ref, model.reference_context(image, None)))

    def step() -> None:
        model.denoise(torch.cat([latents, mask], dim=1), t, text, cache)

    with torch.inference_mode():
        ref_seconds = _timed(reference, warmup, repeats)
        step_seconds = _timed(step, warmup, repeats)
    return {
        "params": _numel(model),
        "params_resampler": _numel(model.proj),
        "build_seconds": round(build_seconds, 1),
        "rss_after_build_gb": round(rss, 2),
        "reference_pass_seconds": _summary(ref_seconds),
        "step_seconds": _summary(step_seconds),
        "cache_entries": len(cache),
        "fusion_scale": model.fusion_scale,
        "peak_rss_gb": round(_peak_gb(), 2),
    }


def worker_plain(warmup: int, repeats: int) -> dict[str, Any]:
    import torch
    from diffusers import UNet2DConditionModel

    from adstage.generate.checkpoints import SD15_UNET_CONFIG

    torch.manual_seed(0)
    started = time.perf_counter()
    unet = UNet2DConditionModel(**SD15_UNET_CONFIG).eval().requires_grad_(False)
    build_seconds = time.perf_counter() - started
    rss = _rss_gb()
    g = torch.Generator().manual_seed(1)
    latents = torch.randn(2, 4, HEIGHT // 8, WIDTH // 8, generator=g)
    text = torch.randn(2, TOKENS, SD15_UNET_CONFIG["cross_attention_dim"], generator=g)
    t = torch.tensor([500, 500])
    with torch.inference_mode():
        step_seconds = _timed(lambda: unet(latents, t, encoder_hidden_states=text), warmup, repeats)
    return {
        "params": _numel(unet),
        "build_seconds": round(build_seconds, 1),
        "rss_after_build_gb": round(rss, 2),
        "step_seconds": _summary(step_seconds),
        "attention_processor": type(next(iter(unet.attn_processors.values()))).__name__,
        "peak_rss_gb": round(_peak_gb(), 2),
    }


def worker_train_tiny(warmup: int, repeats: int) -> dict[str, Any]:
    import torch

    from adstage.generate.refadgen import build
    from adstage.generate.sampling import training_scheduler
    from adstage.train.adgen import draw_noise, train_step

    torch.manual_seed(0)
    model = build(TINY_UNET, TINY_RESAMPLER)
    model.set_trainable()
    params = [p for _, p in model.trainable_parameters()]
    optimizer = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.01)
    scheduler = training_scheduler()
    g = torch.Generator().manual_seed(1)
    latents = torch.randn(2, 4, 16, 16, generator=g)
    batch = {
        "ref_latents": torch.randn(2, 4, 16, 16, generator=g),
        "mask_latent": (torch.rand(2, 1, 16, 16, generator=g) > 0.5).float(),
        "text_embeds": torch.randn(2, 7, 32, generator=g),
        "image_embeds": torch.randn(2, IMAGE_TOKENS, 48, generator=g),
    }

    def step() -> None:
        noise = draw_noise(latents, noise_offset=0.05, generator=g)
        train_step(
            model,
            optimizer,
            scheduler,
            latents=latents,
            noise=noise.noise,
            timesteps=noise.timesteps,
            **batch,
        )

    seconds = _timed(step, warmup, repeats)
    return {
        "params": _numel(model),
        "trainable_params": sum(p.numel() for p in params),
        "step_seconds": _summary(seconds),
        "peak_rss_gb": round(_peak_gb(), 2),
    }


WORKERS = {"dual": worker_dual, "plain": worker_plain, "train-tiny": worker_train_tiny}


def run_worker(name: str, warmup: int, repeats: int, threads: int) -> dict[str, Any]:
    """``name`` in a fresh Python process (its own peak memory); its JSON line."""
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--worker", name, "--warmup", str(warmup)]
    cmd += ["--repeats", str(repeats), "--threads", str(threads)]
    log.info("%s: %s", name, " ".join(cmd))
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        log.error("%s failed (exit %d): %s", name, done.returncode, " | ".join(tail))
        return {"error": " | ".join(tail), "wall_seconds": round(wall, 1)}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    log.info("%s: %.0f s wall: %s", name, wall, result)
    return result | {"wall_seconds": round(wall, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "refadgen.json")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(WORKERS[args.worker](args.warmup, args.repeats)))
        return 0

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    from importlib import metadata

    from adstage.io.atomic import atomic_write_text
    from adstage.provenance import versions

    started = time.time()
    plain = run_worker("plain", args.warmup, args.repeats, args.threads)
    dual = run_worker("dual", args.warmup, args.repeats, args.threads)
    if (ROOT.parent / "src" / "adstage" / "train" / "adgen.py").exists():
        tiny: dict[str, Any] | None = run_worker("train-tiny", args.warmup, 5, args.threads)
    else:
        tiny = None
    ratio = None
    if "step_seconds" in dual and "step_seconds" in plain:
        ratio = round(dual["step_seconds"]["median"] / plain["step_seconds"]["median"], 3)
    generation = None
    if "step_seconds" in dual:
        generation = round(
            dual["reference_pass_seconds"]["median"] + 30 * dual["step_seconds"]["median"], 1
        )
    result: dict[str, Any] = {
        "benchmark": "refadgen",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "torch_threads": args.threads,
        },
        "versions": versions()
        | {name: metadata.version(name) for name in ("diffusers", "safetensors")},
        "command": " ".join(["python", "benchmarks/refadgen.py", *sys.argv[1:]]),
        "setup": {
            "unet": "SD15_UNET_CONFIG (Stable Diffusion 1.5), random weights, fp32",
            "resampler": "ResamplerConfig() (SD-1.5 / CLIP ViT-H/14: 1280 → 768, 16 queries)",
            "size": {"height": HEIGHT, "width": WIDTH, "latent": [HEIGHT // 8, WIDTH // 8]},
            "batch": "2: the classifier-free-guidance batch [uncond, cond]",
            "text_tokens": TOKENS,
            "image_tokens": IMAGE_TOKENS,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "train_tiny_repeats": 5,
            "seconds": "median of the timed repeats (min and all beside it)",
            "memory": "each configuration in a fresh subprocess: peak ru_maxrss, and VmRSS "
            "after building (weights)",
        },
        "dual_unet": dual,
        "plain_unet_baseline": plain,
        "ratio_dual_step_to_plain_step": ratio,
        "estimated_30_step_generation_seconds": generation,
        "train_step_tiny": tiny,
        "notes": [
            "estimated_30_step_generation_seconds = reference pass + 30 dual steps (no VAE, "
            "no text/image encoders)",
            "train_step_tiny: adstage.train.adgen.train_step on the parity tiny configuration "
            "(U-Net blocks 32/64, Resampler 48 → 32), batch 2, 16×16 latents, AdamW lr 1e-5 "
            "over the released trainable set, gradients on",
        ],
        "elapsed_s": round(time.time() - started, 1),
    }
    if tiny is None:
        result["train_step_tiny_todo"] = "src/adstage/train/adgen.py is absent: no step to time"
    atomic_write_text(args.out, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
