"""Seconds per RefAdGen training step of the tiny configuration on a CPU: float32 NCHW (the
baseline) against bf16 autocast, NHWC (``--channels-last``) and both; writes
benchmarks/results/adgen_step.json.

    python benchmarks/adgen_step.py                 # 64 px, batch 8, one thread, 8 rounds

The step is :func:`adstage.train.adgen.train_step` (the released loss, v-prediction as the tiny
configuration trains) on a fresh tiny model (:func:`adstage.generate.tiny.build_tiny`) with random
inputs, as ``adstage train adgen --mixed-precision … [--channels-last]`` runs it (bf16: the
trainer's :class:`~adstage.train.adgen.CpuAutocast` around the forward only). The variants
alternate within each round (one step of each, after one warm-up step each), so load from other
jobs hits them alike; the JSON gives each variant's median seconds and its ratio to the baseline.
bf16 pays off on CPUs with AMX or AVX-512 BF16 (``lscpu`` flags ``amx_bf16``, ``avx512_bf16``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from _common import command
from adstage.generate.sampling import training_scheduler
from adstage.generate.tiny import TinyConfig, build_tiny
from adstage.io.atomic import atomic_write_text
from adstage.provenance import versions
from adstage.train.adgen import CpuAutocast, train_step

ROOT = Path(__file__).resolve().parent
VARIANTS = {
    "fp32": (False, False),
    "bf16": (True, False),
    "channels_last": (False, True),
    "bf16+channels_last": (True, True),
}
"""name → (bf16 autocast, NHWC)."""


class _Step:
    """One variant: its own model and optimiser, the same inputs for every variant."""

    def __init__(self, size: int, batch: int, bf16: bool, nhwc: bool) -> None:
        self.model, text_encoder = build_tiny(TinyConfig(resolution=size), seed=0)
        if nhwc:
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.step_model = CpuAutocast(self.model) if bf16 else self.model
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.scheduler = training_scheduler("v_prediction")
        g = torch.Generator().manual_seed(0)
        self.inputs = {
            "latents": torch.rand(batch, 3, size, size, generator=g) * 2 - 1,
            "ref_latents": torch.rand(batch, 3, size, size, generator=g) * 2 - 1,
            "mask_latent": (torch.rand(batch, 1, size, size, generator=g) > 0.5).float(),
            "noise": torch.randn(batch, 3, size, size, generator=g),
            "timesteps": torch.randint(0, 1000, (batch,), generator=g),
        }
        with torch.no_grad():
            self.text = text_encoder(["a sofa in a bright room"] * batch)

    def __call__(self) -> float:
        started = time.perf_counter()
        train_step(
            self.step_model,
            self.optimizer,
            self.scheduler,
            text_embeds=self.text,
            image_embeds=None,
            **self.inputs,
        )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "adgen_step.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps = {name: _Step(args.size, args.batch, *flags) for name, flags in VARIANTS.items()}
    for step in steps.values():
        step()  # warm-up: oneDNN picks its kernels on the first call
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(args.rounds):
        for name, step in steps.items():
            seconds[name].append(step())
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{n} {s[-1]:.2f} s" for n, s in seconds.items()), flush=True)  # fmt: skip
    base = float(np.median(seconds["fp32"]))
    flags = _cpu_flags(("amx_bf16", "avx512_bf16"))
    result = {
        "benchmark": "adgen_step",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command("adgen_step.py", parser, args),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "bf16_flags": flags},
        "versions": versions(),
        "settings": {k: getattr(args, k) for k in ("size", "batch", "rounds", "threads")},
        "baseline": "fp32",
        "variants": {
            name: {
                "median_s": float(np.median(s)),
                "seconds": s,
                "speedup_vs_fp32": base / float(np.median(s)),
            }
            for name, s in seconds.items()
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps({n: round(v["speedup_vs_fp32"], 2) for n, v in result["variants"].items()}))
    print(f"wrote {args.out}")


def _cpu_flags(names: tuple[str, ...]) -> list[str]:
    """Those of ``names`` that /proc/cpuinfo lists (none where there is no such file)."""
    try:
        present = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return [name for name in names if name in present]


if __name__ == "__main__":
    main()
