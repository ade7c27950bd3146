"""RefAdGen's schedulers and its classifier-free-guided sampling loop, on latents.

As the released pipeline does it (``../shared/REFERENCES.md`` §2): the batch is ordered
``[uncond, cond]`` everywhere; the Reference U-Net runs **once**, before the first step, at
t = 0 on the product latents repeated for both halves (the unconditional half under the
zero-image context); its cache is reused at every step; the product mask, resized to latent size
with ``nearest``, is concatenated after the latents at every step; guidance is
``un + g·(cond − un)``; DDIM with ``leading`` spacing and η = 0. Training uses another DDIM
(zero-terminal-SNR betas, ``trailing`` spacing). Encoders and VAEs live in
:mod:`adstage.generate.pipeline`; this module sees tensors only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler

from adstage.errors import InputError
from adstage.generate.refadgen import RefAdGen

_BETAS: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
}
INFERENCE_SCHEDULER: dict[str, Any] = {
    **_BETAS,
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "rescale_betas_zero_snr": False,
}
"""The released inference scheduler (DDIM, SD-1.5 betas)."""
TRAINING_SCHEDULER: dict[str, Any] = {
    **_BETAS,
    "clip_sample": True,
    "set_alpha_to_one": True,
    "steps_offset": 0,
    "timestep_spacing": "trailing",
    "rescale_betas_zero_snr": True,
}
"""The released training scheduler: its ``add_noise`` makes the noisy latents."""


SCHEDULERS: dict[str, dict[str, Any]] = {
    "release": INFERENCE_SCHEDULER,
    "training": TRAINING_SCHEDULER,
}
"""Inference schedulers by name. ``release``: the released inference DDIM, for checkpoints on an
SD-1.5 base (pretrained on those betas; the default). ``training``: DDIM on the training
scheduler's betas (zero terminal SNR, ``trailing`` spacing, x₀ clipped to [-1, 1]), for models
trained from scratch with it (the tiny configuration): the release's inference betas give them
noise levels they never saw, and their samples diverge (measured on a tiny run: values to ±4
where the images lie in [-1, 1])."""


PREDICTIONS = ("epsilon", "v_prediction")
"""What the U-Net predicts. ``epsilon`` (the noise): as released, for SD-1.5 bases. ``v_prediction``
(``v = √ᾱ·ε − √(1−ᾱ)·x₀``, Salimans & Ho 2022) for models trained from scratch: the training
scheduler's zero terminal SNR makes ε-prediction degenerate at the noisiest steps (at ᾱ = 0 the
noisy input *is* the noise, so predicting it says nothing about x₀), which is why Lin et al.
("Common Diffusion Noise Schedules and Sample Steps are Flawed", WACV 2024, §3.2) pair zero
terminal SNR with v-prediction. Measured here: a tiny ε-model trained 500 steps reconstructed x₀
from t = 300 (MSE 0.05) but its 30-step samples from pure noise were noise (MSE to the ads 0.47,
std 0.19)."""


def _check_prediction(prediction: str) -> str:
    if prediction not in PREDICTIONS:
        raise InputError(
            f"prediction: expected one of {', '.join(PREDICTIONS)}, got {prediction!r}"
        )
    return prediction


def inference_scheduler(name: str = "release", prediction: str = "epsilon") -> DDIMScheduler:
    """A fresh DDIM scheduler from :data:`SCHEDULERS` (``release`` as released) for a model
    predicting ``prediction`` (:data:`PREDICTIONS`)."""
    if name not in SCHEDULERS:
        raise InputError(f"scheduler: expected one of {', '.join(SCHEDULERS)}, got {name!r}")
    return DDIMScheduler(**{**SCHEDULERS[name], "prediction_type": _check_prediction(prediction)})


def training_scheduler(prediction: str = "epsilon") -> DDIMScheduler:
    """The released training scheduler (:data:`TRAINING_SCHEDULER`) for ``prediction``."""
    return DDIMScheduler(**{**TRAINING_SCHEDULER, "prediction_type": _check_prediction(prediction)})


def mask_to_latent(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A ``[B, 1, H, W]`` product mask in [0, 1] → binary (≥ 0.5) at latent ``size`` (h, w),
    nearest-neighbour, as the release resizes it."""
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise InputError(f"mask: expected shape [B, 1, H, W], got {list(mask.shape)}")
    binary = (mask >= 0.5).to(mask.dtype)
    return F.interpolate(binary, size=size, mode="nearest")


def sample(
    model: RefAdGen,
    *,
    latents: torch.Tensor,
    mask: torch.Tensor,
    ref_latents: torch.Tensor,
    text: tuple[torch.Tensor, torch.Tensor],
    reference_context: tuple[torch.Tensor, torch.Tensor],
    steps: int,
    guidance: float,
    scheduler: DDIMScheduler | None = None,
    on_step: Callable[[int, int, torch.Tensor, dict[str, torch.Tensor]], None] | None = None,
) -> torch.Tensor:
    """Denoise ``latents`` ``[B, C, h, w]`` (already scaled by the scheduler's initial sigma) in
    ``steps`` DDIM steps and return the final latents.

    ``mask``: ``[B, 1, h, w]`` at latent size; ``ref_latents``: the clean product latents
    ``[B, C, h, w]``; ``text`` and ``reference_context``: (unconditional, conditional) context
    tensors ``[B, L, D]`` for the Generation and Reference U-Nets. ``on_step(i, t, latents,
    record)`` is called after each step with the step's U-Net input/output and guided noise.
    """
    if steps < 1:
        raise InputError(f"steps: expected a positive integer, got {steps!r}")
    scheduler = scheduler or inference_scheduler()
    scheduler.set_timesteps(steps, device=latents.device)
    text_batch = torch.cat(list(text))
    guided = guidance > 1.0
    if guided:
        ref_batch = torch.cat([ref_latents] * 2)
        context = torch.cat(list(reference_context))
        mask_batch = torch.cat([mask] * 2)
    else:  # no guidance: the conditional half only
        ref_batch, context, mask_batch, text_batch = (
            ref_latents,
            reference_context[1],
            mask,
            text[1],
        )
    cache = model.reference(ref_batch, context)
    for i, t in enumerate(scheduler.timesteps):
        x = torch.cat([latents] * 2) if guided else latents
        x = scheduler.scale_model_input(x, t)
        unet_input = model.model_input(x, mask_batch)
        out = model.denoise(unet_input, t, text_batch, cache)
        if guided:
            uncond, cond = out.chunk(2)
            noise = uncond + guidance * (cond - uncond)
        else:
            noise = out
        latents = scheduler.step(noise, t, latents, eta=0.0, return_dict=False)[0]
        if on_step is not None:
            record = {"unet_input": unet_input, "unet_output": out, "guided": noise}
            on_step(i, int(t), latents, record)
    return latents
