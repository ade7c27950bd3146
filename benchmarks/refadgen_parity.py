"""RefAdGen parity: adstage's dual U-Net against tensors from the released code.

    python benchmarks/refadgen_parity.py        # → benchmarks/results/refadgen_parity.json

``../shared/refadgen-parity/`` holds the inputs, a release-layout state dict and the outputs of
the public RefAdGen code (github yunsoft2019/RefAdgen) on a tiny random configuration (its
README says how they were made). This script loads that state dict into
:class:`adstage.generate.refadgen.RefAdGen` and records, for every stored output, the largest
absolute difference and the tolerance the folder's ``config.json`` suggests (rtol 0). The same
checks, as assertions, are in ``tests/generate/test_refadgen.py`` and ``tests/train/test_adgen.py``;
this script writes the numbers the docs show.

Two baselines put the differences in scale: the folder's own float64-vs-float32 differences (how
far float32 rounding alone moves each output), and, run here, the *unmodified* diffusers U-Net
(its stock ``AttnProcessor2_0``) on the same weights at λ = 0, where the release's Generation
U-Net reduces to it: what remains is this machine's float32 kernels, not the re-implementation.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import torch
from safetensors.torch import load_file

from _common import ROOT
from adstage.generate.refadgen import ResamplerConfig, build
from adstage.generate.sampling import inference_scheduler, mask_to_latent, sample
from adstage.provenance import versions

PARITY = ROOT.parent.parent / "shared" / "refadgen-parity"
OUT = ROOT / "results" / "refadgen_parity.json"


def diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def row(name: str, value: float, atol: float, fp64: float | None) -> dict[str, Any]:
    return {
        "output": name,
        "max_abs_diff": value,
        "atol": atol,
        "passes": value <= atol,
        "fp64_vs_fp32": fp64,
    }


def main() -> int:
    if not (PARITY / "config.json").is_file():
        print(f"skipped: {PARITY} not found")
        return 0
    torch.set_num_threads(1)  # the folder's tensors were made with one thread
    started = time.perf_counter()
    config = json.loads((PARITY / "config.json").read_text())
    tol = config["tolerance"]["suggested_atol"]
    observed = config["tolerance"]["observed"]
    inputs = load_file(PARITY / "inputs.safetensors")
    outputs = load_file(PARITY / "outputs.safetensors")
    model = build(config["unet_config_requested"], _resampler(config))
    model.load_state_dict(load_file(PARITY / "state_dict.safetensors"), strict=True)
    model.eval()
    rows: list[dict[str, Any]] = []

    with torch.no_grad():
        for scale in (1.0, 0.0, 0.5):
            model.set_fusion_scale(scale)
            pred = model(
                inputs["forward.encoder_hidden_states"],
                inputs["forward.latents_5ch"],
                inputs["forward.ref_latents"],
                inputs["forward.clip_image_embeddings"],
                inputs["forward.timesteps"],
            )
            rows.append(
                row(
                    f"forward.noise_pred (λ = {scale})",
                    diff(pred, outputs[f"forward.noise_pred.scale_{scale}"]),
                    tol["forward.noise_pred.*"],
                    observed[f"fp64_vs_fp32.forward.scale_{scale}"],
                )
            )
        stock = stock_unet_difference(model, inputs)
        model.set_fusion_scale(1.0)
        context = model.proj(inputs["forward.clip_image_embeddings"])
        cache = model.reference(inputs["forward.ref_latents"], context)
        cache_tol = tol["forward.proj_out / forward.ref_cache.*"]
        rows.append(
            row("forward.proj_out", diff(context, outputs["forward.proj_out"]), cache_tol, None)
        )
        worst = max(
            diff(cache[k.removeprefix("forward.ref_cache.")], v)
            for k, v in outputs.items()
            if k.startswith("forward.ref_cache.")
        )
        rows.append(row("forward.ref_cache (4 layers, max)", worst, cache_tol, None))

        steps: dict[str, float] = {"guided": 0.0, "latents": 0.0}

        def record(i: int, t: int, latents: torch.Tensor, r: dict[str, torch.Tensor]) -> None:
            g = diff(r["guided"], outputs[f"sample.guided_noise_pred_step{i}"])
            steps["guided"] = max(steps["guided"], g)
            lat = diff(latents, outputs[f"sample.latents_after_step{i}"])
            steps["latents"] = max(steps["latents"], lat)

        scheduler = inference_scheduler()
        final = sample(
            model,
            latents=inputs["sample.initial_latents"] * scheduler.init_noise_sigma,
            mask=mask_to_latent(inputs["sample.mask_pixels"], (16, 16)),
            ref_latents=inputs["sample.ref_latents"],
            text=(inputs["sample.negative_prompt_embeds"], inputs["sample.prompt_embeds"]),
            reference_context=(
                model.proj(inputs["sample.zeros_image_embeds"]),
                model.proj(inputs["sample.product_image_embeds"]),
            ),
            steps=3,
            guidance=7.5,
            scheduler=scheduler,
            on_step=record,
        )
        noise_tol = tol["sample.guided_noise_pred_step* / sample.unet_output_step*"]
        latent_tol = tol["sample.latents_after_step* / sample.final_latents"]
        fp64_guided = max(v for k, v in observed.items() if "guided_noise_pred" in k)
        rows.append(
            row("sample.guided_noise_pred (3 steps, max)", steps["guided"], noise_tol, fp64_guided)
        )
        rows.append(
            row("sample.latents_after_step (3 steps, max)", steps["latents"], latent_tol, None)
        )
        rows.append(
            row(
                "sample.final_latents",
                diff(final, outputs["sample.final_latents"]),
                latent_tol,
                observed["fp64_vs_fp32.sample.final_latents"],
            )
        )

    rows += training_rows(config, inputs, outputs)
    result = {
        "benchmark": "refadgen_parity",
        "source": str(PARITY.relative_to(ROOT.parent.parent)),
        "released_code": config["official_sources"],
        "parity_versions": config["versions"],
        "rows": rows,
        "all_pass": all(r["passes"] for r in rows),
        "stock_diffusers_unet": stock,
        "threads": torch.get_num_threads(),
        "command": "python benchmarks/refadgen_parity.py",
        "elapsed_s": round(time.perf_counter() - started, 2),
        "versions": versions() | {"diffusers": _version("diffusers")},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    for r in rows:
        print(
            f"{r['output']:45s} {r['max_abs_diff']:.2e}  (atol {r['atol']:.0e})  {'ok' if r['passes'] else 'FAIL'}"
        )
    print(f"wrote {OUT}")
    return 0 if result["all_pass"] else 1


def stock_unet_difference(model: Any, inputs: dict[str, torch.Tensor]) -> dict[str, float]:
    """At λ = 0: ours against the golden, diffusers' stock processors against the golden, and ours
    against diffusers' stock processors (0 = the same arithmetic)."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    outputs = load_file(PARITY / "outputs.safetensors")
    golden = outputs["forward.noise_pred.scale_0.0"]
    args = (inputs["forward.latents_5ch"], inputs["forward.timesteps"])
    context = inputs["forward.encoder_hidden_states"]
    model.set_fusion_scale(0.0)
    ours = model.denoise(*args, context, None)
    processors = model.unet.attn_processors
    model.unet.set_attn_processor(AttnProcessor2_0())
    stock = model.unet(*args, encoder_hidden_states=context).sample
    model.unet.set_attn_processor(processors)
    return {
        "ours_vs_release": diff(ours, golden),
        "stock_vs_release": diff(stock, golden),
        "ours_vs_stock": diff(ours, stock),
    }


def _version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


def training_rows(
    config: dict[str, Any], inputs: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor]
) -> list[dict[str, Any]]:
    """One released training step (parity README §4): AdamW (lr 1e-5, wd 0.01) at a constant LR
    on the released trainable set, the batch carrying the stored embeddings and latents."""
    from adstage.generate.sampling import training_scheduler
    from adstage.train.adgen import train_step

    tol = config["tolerance"]["suggested_atol"]
    observed = config["tolerance"]["observed"]
    model = build(config["unet_config_requested"], _resampler(config))
    model.load_state_dict(load_file(PARITY / "state_dict.safetensors"), strict=True)
    model.train()
    model.set_trainable()
    named = list(model.trainable_parameters())
    optimizer = torch.optim.AdamW(
        [p for _, p in named], lr=1e-5, weight_decay=0.01, betas=(0.9, 0.999), eps=1e-8
    )
    constant = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    grads: dict[int, torch.Tensor] = {}
    optimizer.register_step_pre_hook(
        lambda *_: grads.update({id(p): p.grad.clone() for _, p in named if p.grad is not None})
    )
    record: dict[str, torch.Tensor] = {}
    loss = train_step(
        model,
        optimizer,
        training_scheduler(),
        latents=inputs["train.latents"],
        ref_latents=inputs["forward.ref_latents"],
        mask_latent=inputs["train.mask_latent"],
        text_embeds=inputs["forward.encoder_hidden_states"],
        image_embeds=inputs["forward.clip_image_embeddings"],
        noise=inputs["train.noise"],
        timesteps=inputs["train.timesteps"],
        lr_scheduler=constant,
        record=record,
    )
    params = dict(model.named_parameters(remove_duplicate=False))
    watched = [k.removeprefix("train.grad.") for k in outputs if k.startswith("train.grad.")]
    grad_rel = max(
        diff(grads[id(params[n])], outputs[f"train.grad.{n}"])
        / float(outputs[f"train.grad.{n}"].abs().max())
        for n in watched
    )
    after = max(diff(params[n].detach(), outputs[f"train.after_step.{n}"]) for n in watched)
    no_grad = [n for n, p in named if id(p) not in grads]
    skipped = config["training"]["trainable_without_grad_skipped_by_adamw"]
    return [
        row(
            "train.model_pred",
            diff(record["model_pred"], outputs["train.model_pred"]),
            tol["train.model_pred"],
            observed["fp64_vs_fp32.train.model_pred"],
        ),
        row(
            "train.loss",
            abs(float(loss) - float(outputs["train.loss"][0])),
            tol["train.loss"],
            observed["fp64_vs_fp32.train.loss"],
        ),
        row(
            f"train.grad ({len(watched)} tensors, max relative)",
            grad_rel,
            tol["train.grad.* (relative to the tensor's max abs)"],
            observed["fp64_vs_fp32.train.grad_max_rel_to_tensor_max"],
        ),
        row(
            f"train.after_step ({len(watched)} tensors, max)",
            after,
            tol["train.after_step.* (or the update after-minus-before)"],
            observed["fp64_vs_fp32.train.after_step_max"],
        ),
        row(
            f"trainable tensors without a gradient ({len(no_grad)} vs the release's {len(skipped)})",
            0.0 if no_grad == skipped else 1.0,
            0.0,
            None,
        ),
    ]


def _resampler(config: dict[str, Any]) -> dict[str, int]:
    return {f.name: config["resampler_config"][f.name] for f in fields(ResamplerConfig)}


if __name__ == "__main__":
    raise SystemExit(main())
