"""Tiny SD-1.5-shaped components (a U-Net, a KL VAE, a CLIP text encoder), their configurations
and a diffusers folder of them, for the tests of RefAdGen's pipeline and of staging's refiner
(import: tiny_sd; torch, diffusers and transformers are imported when used)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tiny_clip import write_clip_tokenizer

UNET = {
    "sample_size": 16,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [16, 32],
    "layers_per_block": 1,
    "cross_attention_dim": 32,
    "attention_head_dim": 2,
    "norm_num_groups": 8,
}
VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 2,
    "up_block_types": ["UpDecoderBlock2D"] * 2,
    "block_out_channels": [8, 16],
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 4,
    "sample_size": 32,
    "scaling_factor": 0.18215,
}
TEXT = {
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 77,
    "projection_dim": 32,
    "hidden_act": "quick_gelu",
}


def tiny_components(vocab: int) -> tuple[Any, Any]:
    """A tiny ``AutoencoderKL`` and ``CLIPTextModel`` (``vocab`` tokens), seed 0."""
    import torch
    from diffusers import AutoencoderKL
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    vae = AutoencoderKL(**VAE)
    text = CLIPTextModel(
        CLIPTextConfig(vocab_size=vocab, bos_token_id=0, eos_token_id=1, pad_token_id=1, **TEXT)
    )
    return vae, text


def write_sd_folder(folder: Path, unet: dict[str, Any] | None = None) -> Path:
    """A diffusers SD-1.5-shaped folder of tiny random components (the U-Net of config ``unet``,
    default :data:`UNET`, drawn after :func:`tiny_components`); returns ``folder``."""
    from diffusers import UNet2DConditionModel

    vocab = write_clip_tokenizer(folder / "tokenizer")
    vae, text = tiny_components(vocab)
    vae.save_pretrained(folder / "vae")
    text.save_pretrained(folder / "text_encoder")
    UNet2DConditionModel(**(unet or UNET)).save_pretrained(folder / "unet")
    (folder / "model_index.json").write_text(
        json.dumps({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1"})
    )
    return folder
