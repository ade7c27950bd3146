"""The RefAdGen parity tensors (``../shared/refadgen-parity``, made by running the released code
on a tiny random configuration): loading them and building the matching model."""

from __future__ import annotations

import json
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any

import pytest

PARITY = Path(__file__).resolve().parents[2] / "shared" / "refadgen-parity"


def need_parity() -> None:
    if not (PARITY / "config.json").is_file():
        pytest.skip(f"the RefAdGen parity tensors are absent ({PARITY})")


@cache
def config() -> dict[str, Any]:
    need_parity()
    return json.loads((PARITY / "config.json").read_text())  # type: ignore[no-any-return]


@cache
def tensors(name: str) -> dict[str, Any]:
    """``inputs``, ``outputs`` or ``state_dict``."""
    need_parity()
    from safetensors.torch import load_file

    return load_file(PARITY / f"{name}.safetensors")


def resampler_config() -> dict[str, int]:
    from adstage.generate.refadgen import ResamplerConfig

    return {f.name: config()["resampler_config"][f.name] for f in fields(ResamplerConfig)}


def atol(key: str) -> float:
    return float(config()["tolerance"]["suggested_atol"][key])


def model():
    """The released tiny model with the parity state dict loaded (strict), in eval mode."""
    from adstage.generate.refadgen import build

    m = build(config()["unet_config_requested"], resampler_config())
    m.load_state_dict(tensors("state_dict"), strict=True)
    return m.eval()


def tiny_config() -> Any:
    """The smallest tiny (pixel-space) configuration the pipeline and CLI tests run: 32 px,
    U-Net widths 8/16, a one-layer text encoder."""
    from adstage.generate.tiny import TinyConfig

    return TinyConfig(
        resolution=32,
        block_out_channels=(8, 16),
        layers_per_block=1,
        attention_head_dim=2,
        norm_num_groups=4,
        cross_attention_dim=16,
        vocab_size=64,
        max_tokens=8,
        text_layers=1,
        text_heads=2,
    )


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
"""The parity configuration's U-Net (SD-1.5-shaped, tiny), usable without the parity folder."""
