"""The tiny pixel-space configuration: RefAdGen trained from scratch on a CPU at 32–128 px.

The same model code as SD-1.5's (:mod:`adstage.generate.refadgen`), with three substitutions:

- **No VAE**: the U-Nets work on pixels in [-1, 1] (:class:`~adstage.generate.base.PixelSpace`),
  so the base U-Net has 3 input channels (4 once :meth:`RefAdGen.from_unet` adds the mask).
- **Small U-Nets** built from :meth:`TinyConfig.unet_config` (SD-1.5-shaped blocks, narrow).
- **A small trainable text encoder** (:class:`TinyTextEncoder`) over a word-hashing tokenizer
  (:class:`HashTokenizer`), in place of CLIP; no vocabulary files.

No CLIP image encoder either: the model has no Resampler and the Reference U-Net's context is
the text fallback (:data:`~adstage.generate.refadgen.CONTEXT_TEXT`).

A trained tiny run is used like an SD-1.5 base by the inference pipeline: a *tiny base* folder
holds :data:`TINY_BASE_FILE` (the :class:`TinyConfig`) and the text encoder's weights
(:data:`TEXT_ENCODER_FILE`); :func:`load_tiny_base` reads it back as a :class:`TinyBase`.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import load_file, save_file
from torch import nn

from adstage.errors import InputError
from adstage.generate.base import PixelSpace
from adstage.generate.refadgen import RefAdGen
from adstage.io.atomic import atomic_path, atomic_write_text

TINY_BASE_FILE = "tiny-base.json"
"""The marker file of a tiny base folder: the :class:`TinyConfig` as JSON."""
TEXT_ENCODER_FILE = "tiny-text-encoder.safetensors"
"""The tiny text encoder's weights, beside :data:`TINY_BASE_FILE`."""
FORMAT = "adstage-tiny-base"
VERSION = 1


@dataclass(frozen=True)
class TinyConfig:
    """The tiny configuration's shapes.

    ``resolution``: the training side in pixels (the U-Net's nominal ``sample_size``; the networks
    are convolutional and take any size divisible by ``2 ** (len(block_out_channels) - 1)``).
    ``block_out_channels``: U-Net widths, one per level. ``attention_levels``: how many of the
    lowest-resolution levels have (fusion and cross-) attention, besides the middle block: pixel
    space is 8× SD-1.5's latent resolution, and attention over many pixels is what a CPU cannot
    afford (at 64 px, batch 8, one thread, a training step took 14.5 s with attention at 32² and
    16², 2.6 s with attention at 16² only and 4 heads). ``cross_attention_dim``: the text width,
    which is the U-Net's cross-attention width. ``attention_head_dim``: as diffusers reads it
    for SD-1.5, the **number of heads**. ``vocab_size``, ``max_tokens``: the tokenizer's; ``text_layers``,
    ``text_heads``: the text encoder's transformer.
    """

    resolution: int = 64
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    attention_head_dim: int = 4
    attention_levels: int = 1
    norm_num_groups: int = 8
    cross_attention_dim: int = 32
    vocab_size: int = 4096
    max_tokens: int = 16
    text_layers: int = 2
    text_heads: int = 4

    def __post_init__(self) -> None:
        for name in ("resolution", "layers_per_block", "attention_head_dim", "norm_num_groups",
                     "cross_attention_dim", "max_tokens", "text_layers", "text_heads"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name}: expected a positive integer, got {value!r}")
        widths = tuple(self.block_out_channels)
        if len(widths) < 2 or any(w < 1 or w % self.norm_num_groups for w in widths):
            raise InputError(
                f"block_out_channels: expected two or more widths divisible by norm_num_groups "
                f"({self.norm_num_groups}), got {self.block_out_channels!r}"
            )
        object.__setattr__(self, "block_out_channels", widths)
        if not 1 <= self.attention_levels <= len(widths) - 1:
            raise InputError(
                f"attention_levels: expected 1 to {len(widths) - 1} (the full-resolution level "
                f"has none), got {self.attention_levels!r}"
            )
        if self.vocab_size < 8:
            raise InputError(f"vocab_size: expected at least 8, got {self.vocab_size!r}")
        if self.max_tokens < 2:
            raise InputError(f"max_tokens: expected at least 2, got {self.max_tokens!r}")
        if self.cross_attention_dim % self.text_heads:
            raise InputError(
                f"text_heads: {self.text_heads} does not divide cross_attention_dim "
                f"{self.cross_attention_dim}"
            )
        if self.resolution % self.multiple:
            raise InputError(
                f"resolution: expected a multiple of {self.multiple}, got {self.resolution}"
            )

    @property
    def multiple(self) -> int:
        """Image sides must be multiples of this (one halving per level but the last)."""
        return int(2 ** (len(self.block_out_channels) - 1))

    def unet_config(self) -> dict[str, Any]:
        """A diffusers ``UNet2DConditionModel`` config in pixel space (3 channels in and out)."""
        levels, attention = len(self.block_out_channels), self.attention_levels
        plain = levels - attention
        return {
            "sample_size": self.resolution,
            "in_channels": 3,
            "out_channels": 3,
            "layers_per_block": self.layers_per_block,
            "block_out_channels": list(self.block_out_channels),
            "down_block_types": ["DownBlock2D"] * plain + ["CrossAttnDownBlock2D"] * attention,
            "up_block_types": ["CrossAttnUpBlock2D"] * attention + ["UpBlock2D"] * plain,
            "cross_attention_dim": self.cross_attention_dim,
            "attention_head_dim": self.attention_head_dim,
            "norm_num_groups": self.norm_num_groups,
        }

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["block_out_channels"] = list(self.block_out_channels)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TinyConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"tiny config: unknown keys {unknown}")
        values = dict(data)
        if "block_out_channels" in values:
            values["block_out_channels"] = tuple(values["block_out_channels"])
            # written before attention_levels existed: attention at every level but the first
            values.setdefault("attention_levels", len(values["block_out_channels"]) - 1)
        return cls(**values)


# --- text ---------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class HashTokenizer:
    """Lower-case words → ids by CRC-32 into the vocabulary (deterministic across processes and
    machines, no vocabulary file). Each prompt becomes ``[BOS, words…, EOS, PAD…]`` of
    ``max_tokens`` ids, words beyond the room truncated; ``""`` is ``[BOS, EOS, PAD…]``."""

    vocab_size: int
    max_tokens: int

    PAD = 0
    BOS = 1
    EOS = 2
    FIRST_WORD = 3

    def word_id(self, word: str) -> int:
        return self.FIRST_WORD + zlib.crc32(word.encode("utf-8")) % (
            self.vocab_size - self.FIRST_WORD
        )

    def ids(self, text: str) -> list[int]:
        words = _WORD.findall(text.lower())[: self.max_tokens - 2]
        ids = [self.BOS, *(self.word_id(w) for w in words), self.EOS]
        return ids + [self.PAD] * (self.max_tokens - len(ids))

    def __call__(self, prompts: Sequence[str]) -> torch.Tensor:
        """``[B, max_tokens]`` int64 ids."""
        if isinstance(prompts, str):
            raise InputError("prompts: expected a list of strings, got one string")
        return torch.tensor([self.ids(p) for p in prompts], dtype=torch.long)


class TinyTextEncoder(nn.Module):
    """Prompts → ``[B, max_tokens, cross_attention_dim]``: token + learned position embeddings,
    ``text_layers`` pre-norm transformer encoder layers (no dropout), a final LayerNorm.
    Implements :class:`~adstage.generate.base.TextEncoder`."""

    name = "tiny-text"

    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = HashTokenizer(config.vocab_size, config.max_tokens)
        d = config.cross_attention_dim
        self.token_embedding = nn.Embedding(config.vocab_size, d)
        self.position_embedding = nn.Parameter(torch.randn(1, config.max_tokens, d) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d, config.text_heads, dim_feedforward=4 * d, dropout=0.0, batch_first=True,
            norm_first=True,
        )  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, config.text_layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(d)

    def forward(self, prompts: Sequence[str]) -> torch.Tensor:
        ids = self.tokenizer(prompts).to(self.token_embedding.weight.device)
        x = self.token_embedding(ids) + self.position_embedding
        return self.final_norm(self.encoder(x))


# --- the model and the tiny base folder ---------------------------------------------------------


def build_tiny(
    config: TinyConfig, *, seed: int, mask_channels: int = 1
) -> tuple[RefAdGen, TinyTextEncoder]:
    """A randomly initialised pixel-space :class:`RefAdGen` (no Resampler: the text fallback)
    and its text encoder, the same for the same ``seed``. torch's global random stream is left
    as it was. ``mask_channels=0``: no mask input (the "without masks" ablation)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**config.unet_config())
        text_encoder = TinyTextEncoder(config)
        # its new layers draw (then copy)
        model = RefAdGen.from_unet(unet, resampler=None, mask_channels=mask_channels)
    return model, text_encoder


@dataclass
class TinyBase:
    """What a tiny base folder gives the pipeline and the trainer: the text encoder (weights
    loaded, eval mode), the autoencoder (:class:`PixelSpace`), the base U-Net's config (3 input
    channels) and the :class:`TinyConfig`."""

    text_encoder: TinyTextEncoder
    autoencoder: PixelSpace
    unet_config: dict[str, Any]
    config: TinyConfig


def is_tiny_base(folder: str | Path) -> bool:
    return (Path(folder) / TINY_BASE_FILE).is_file()


def save_tiny_base(folder: str | Path, config: TinyConfig, text_encoder: TinyTextEncoder) -> Path:
    """Write ``folder/tiny-base.json`` and the text encoder's weights (atomically); returns the
    folder. The weights are written first, so a folder with the marker file is complete."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in text_encoder.state_dict().items()}
    with atomic_path(out / TEXT_ENCODER_FILE) as tmp:
        save_file(state, str(tmp))
    record = {
        "format": FORMAT,
        "version": VERSION,
        "config": config.as_dict(),
        "text_encoder": TEXT_ENCODER_FILE,
        "unet_config": config.unet_config(),
    }
    atomic_write_text(out / TINY_BASE_FILE, json.dumps(record, indent=2) + "\n")
    return out


def load_tiny_base(folder: str | Path, *, device: str = "cpu") -> TinyBase:
    """Read a tiny base folder written by :func:`save_tiny_base`."""
    root = Path(folder)
    marker = root / TINY_BASE_FILE
    if not marker.is_file():
        raise InputError(f"base: {root} is not a tiny base (no {TINY_BASE_FILE})")
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"base: {marker} is not readable JSON ({exc})") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise InputError(f"base: {marker} is not a {FORMAT} file")
    if int(record.get("version", 0)) > VERSION:
        raise InputError(f"base: {marker} has version {record['version']}, newer than {VERSION}")
    config = TinyConfig.from_dict(record["config"])
    encoder = TinyTextEncoder(config)
    weights = root / str(record.get("text_encoder", TEXT_ENCODER_FILE))
    try:
        state = load_file(str(weights), device=device)
    except Exception as exc:  # a missing or truncated file: one clear message
        raise InputError(f"base: cannot read the tiny text encoder {weights} ({exc})") from exc
    encoder.load_state_dict(state, strict=True)
    encoder.to(device).eval().requires_grad_(False)
    return TinyBase(
        text_encoder=encoder,
        autoencoder=PixelSpace(),
        unet_config=config.unet_config(),
        config=config,
    )
