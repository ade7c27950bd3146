"""The frozen parts of RefAdGen's base: SD-1.5's CLIP text encoder and KL VAE, a CLIP image
encoder, or the tiny pixel-space configuration; loaded offline from local files only.

A base (``--base``) is one of:

- a **diffusers SD-1.5 folder** (``model_index.json`` with ``vae/``, ``text_encoder/`` and
  ``tokenizer/``; ``unet/config.json`` gives the U-Net's shape; an ``image_encoder/`` folder, a
  ``CLIPVisionModelWithProjection``, is used when present);
- a **single SD-1.5 ``.safetensors`` file** in the original (LDM) layout: the VAE and the CLIP
  text encoder are built from the configs below (SD-1.5's published ``vae/config.json`` and
  ``text_encoder/config.json``, written here as data because ``from_single_file`` would fetch them
  from the Hub) and their weights renamed with diffusers' own converters
  (``convert_ldm_vae_checkpoint``, ``convert_ldm_clip_checkpoint``). The file holds no
  tokenizer (CLIP's BPE vocabulary and merges), so a ``tokenizer`` folder must be given;
- a **tiny base** folder (``tiny-base.json``, :mod:`adstage.generate.tiny`).

The base U-Net's weights are never loaded: a RefAdGen checkpoint holds both of its U-Nets.
The wrappers implement :mod:`adstage.generate.base`'s protocols as the released pipeline
(github yunsoft2019/RefAdgen, ``../shared/REFERENCES.md`` §2) uses the components.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL

from adstage.errors import InputError
from adstage.generate.base import Autoencoder, ImageEncoder, TextEncoder
from adstage.generate.checkpoints import SD15_UNET_CONFIG
from adstage.generate.tiny import TINY_BASE_FILE, load_tiny_base

log = logging.getLogger(__name__)

SD15_VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}
"""Stable Diffusion 1.5's ``vae/config.json`` (``AutoencoderKL``, diffusers keys)."""

SD15_TEXT_CONFIG: dict[str, Any] = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "projection_dim": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "attention_dropout": 0.0,
    "dropout": 0.0,
    "initializer_range": 0.02,
    "initializer_factor": 1.0,
    "pad_token_id": 1,
    "bos_token_id": 0,
    "eos_token_id": 2,
}
"""Stable Diffusion 1.5's ``text_encoder/config.json``: CLIP ViT-L/14's text tower."""

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
"""CLIP's input normalisation (``CLIPImageProcessor`` defaults)."""

_LDM_UNET = "model.diffusion_model."
_LDM_VAE = "first_stage_model."
_LDM_CLIP = "cond_stage_model.transformer."


# --- the wrappers -----------------------------------------------------------------------------


class CLIPText:
    """A CLIP tokenizer + text model as a :class:`~adstage.generate.base.TextEncoder`: prompts
    padded (and truncated) to the tokenizer's 77 tokens, the last hidden state
    (``text_encoder(ids)[0]``), as the release encodes its prompts."""

    def __init__(self, tokenizer: Any, model: Any, name: str = "clip-text") -> None:
        self.tokenizer = tokenizer
        self.model = model.eval()
        self.name = name

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def __call__(self, prompts: Sequence[str]) -> torch.Tensor:
        ids = self.tokenizer(
            list(prompts),
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).input_ids
        return self.model(ids.to(self.device))[0]


class KLAutoencoder:
    """SD's KL VAE as an :class:`~adstage.generate.base.Autoencoder`: ``encode`` draws
    ``latent_dist.sample(generator)`` × ``scaling_factor`` (as the release encodes the product),
    ``decode`` divides by it."""

    stochastic = True
    """``encode`` takes a ``generator``: the pipeline seeds it from the run's generator."""

    def __init__(self, vae: Any, name: str = "sd-vae") -> None:
        self.vae = vae.eval()
        self.name = name
        self.channels = int(vae.config.latent_channels)
        self.downscale = 2 ** (len(vae.config.block_out_channels) - 1)
        self.scaling_factor = float(vae.config.scaling_factor)

    @torch.no_grad()
    def encode(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        dist = self.vae.encode(images).latent_dist
        return dist.sample(generator=generator) * self.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents / self.scaling_factor).sample


class CLIPImage:
    """A ``CLIPVisionModelWithProjection`` as an :class:`~adstage.generate.base.ImageEncoder`:
    images in [0, 1] resized (shorter side to the model's size, bicubic with antialiasing),
    centre-cropped and normalised with CLIP's mean/std as ``CLIPImageProcessor`` does, then the
    penultimate hidden states (``hidden_states[-2]``) the release feeds its Resampler."""

    def __init__(self, model: Any, name: str = "clip-vision") -> None:
        self.model = model.eval()
        self.name = name
        self.size = int(model.config.image_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[-2:]
        scale = self.size / min(h, w)
        size = (max(self.size, round(h * scale)), max(self.size, round(w * scale)))
        x = F.interpolate(images.float(), size=size, mode="bicubic", antialias=True)
        top, left = (size[0] - self.size) // 2, (size[1] - self.size) // 2
        x = x[..., top : top + self.size, left : left + self.size].clamp(0, 1)
        mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    @torch.no_grad()
    def embed(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Hidden states[-2] of already normalised ``pixel_values``."""
        out = self.model(
            pixel_values.to(device=self.device, dtype=self.dtype), output_hidden_states=True
        )
        return out.hidden_states[-2]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed(self.preprocess(images))

    def unconditional(self, batch: int) -> torch.Tensor:
        """The release's unconditional image: zeros *after* normalisation."""
        return self.embed(torch.zeros(batch, 3, self.size, self.size))


# --- loading a base ---------------------------------------------------------------------------


@dataclass
class Base:
    """The frozen components of a base and where they came from."""

    kind: str
    """``"diffusers"``, ``"single-file"`` or ``"tiny"``."""
    path: Path
    text_encoder: TextEncoder
    autoencoder: Autoencoder
    image_encoder: ImageEncoder | None
    unet_config: dict[str, Any]
    """The base U-Net's diffusers config (its ``in_channels`` without the mask channel)."""
    files: list[Path] = field(default_factory=list)
    """The weight files it was read from (for their sha256 in the provenance)."""


def base_kind(path: str | os.PathLike[str]) -> str:
    """What ``path`` is: ``"diffusers"``, ``"single-file"`` or ``"tiny"``; an :class:`InputError`
    naming the three kinds otherwise."""
    p = Path(path).expanduser()
    if p.is_dir() and (p / TINY_BASE_FILE).is_file():
        return "tiny"
    if p.is_dir() and (p / "model_index.json").is_file():
        return "diffusers"
    if p.is_file() and p.suffix.lower() == ".safetensors":
        return "single-file"
    kinds = (
        "a diffusers SD-1.5 folder (model_index.json), an SD-1.5 .safetensors file, {} a tiny "
        f"base folder ({TINY_BASE_FILE})"
    )
    if not p.exists():
        raise InputError(f"base: {p} does not exist; expected {kinds.format('or')}")
    raise InputError(f"base: {p} is neither {kinds.format('nor')}")


def _weight_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin")
    )


def load_image_encoder(
    path: str | os.PathLike[str], *, device: str | torch.device, dtype: torch.dtype
) -> CLIPImage:
    """A ``CLIPVisionModelWithProjection`` from a local folder (``config.json`` + weights)."""
    from transformers import CLIPVisionModelWithProjection

    p = Path(path).expanduser()
    if not (p / "config.json").is_file():
        raise InputError(
            f"image_encoder: {p} is not a CLIP image encoder folder (config.json and weights of "
            "a CLIPVisionModelWithProjection, e.g. IP-Adapter's models/image_encoder)"
        )
    try:
        model: Any = CLIPVisionModelWithProjection.from_pretrained(
            str(p), local_files_only=True, torch_dtype=dtype
        )
    except (OSError, ValueError) as exc:
        raise InputError(f"image_encoder: {p}: cannot load a CLIP image encoder ({exc})") from exc
    return CLIPImage(model.to(device))


def _load_tokenizer(path: Path, what: str) -> Any:
    from transformers import CLIPTokenizer

    try:
        return CLIPTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(
            f"{what}: {path} is not a CLIP tokenizer folder (vocab.json, merges.txt) ({exc})"
        ) from exc


def _load_diffusers(
    folder: Path, *, device: str | torch.device, dtype: torch.dtype
) -> tuple[TextEncoder, Autoencoder, ImageEncoder | None, dict[str, Any]]:
    from transformers import CLIPTextModel

    missing = [
        sub for sub in ("unet", "vae", "text_encoder", "tokenizer") if not (folder / sub).is_dir()
    ]
    if missing:
        raise InputError(
            f"base: {folder} is not a complete diffusers SD-1.5 folder: no "
            f"{', '.join(s + '/' for s in missing)}"
        )
    try:
        unet_config = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"base: {folder}/unet/config.json is not readable JSON ({exc})") from exc
    tokenizer = _load_tokenizer(folder / "tokenizer", "base")
    try:
        text: Any = CLIPTextModel.from_pretrained(
            str(folder / "text_encoder"), local_files_only=True, torch_dtype=dtype
        )
        vae = AutoencoderKL.from_pretrained(
            str(folder / "vae"), local_files_only=True, torch_dtype=dtype
        )
    except (OSError, ValueError) as exc:
        raise InputError(f"base: {folder}: cannot load the SD-1.5 components ({exc})") from exc
    image_encoder = None
    if (folder / "image_encoder").is_dir():
        image_encoder = load_image_encoder(folder / "image_encoder", device=device, dtype=dtype)
    config = {k: v for k, v in unet_config.items() if not k.startswith("_")}
    return (
        CLIPText(tokenizer, text.to(device)),
        KLAutoencoder(vae.to(device)),
        image_encoder,
        config,
    )


def convert_single_file(
    state_dict: dict[str, torch.Tensor],
    *,
    vae_config: dict[str, Any] | None = None,
    text_config: dict[str, Any] | None = None,
    source: str = "checkpoint",
) -> tuple[Any, Any]:
    """An SD-1.5 LDM state dict → (``AutoencoderKL``, ``CLIPTextModel``) with diffusers' key
    converters, each loaded strictly (a file of another architecture is an :class:`InputError`).
    ``vae_config``/``text_config``: the components' configs (default SD-1.5's)."""
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_ldm_vae_checkpoint,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    for prefix, what in ((_LDM_VAE, "VAE"), (_LDM_CLIP, "CLIP text encoder")):
        if not any(k.startswith(prefix) for k in state_dict):
            raise InputError(
                f"base: {source} has no {prefix}* keys ({what}): not an SD-1.5 checkpoint in the "
                "original (LDM) layout"
            )
    vae_config = dict(vae_config or SD15_VAE_CONFIG)
    text_config = dict(text_config or SD15_TEXT_CONFIG)
    try:
        vae_sd = convert_ldm_vae_checkpoint(state_dict, vae_config)
        vae = AutoencoderKL(**vae_config)
        vae.load_state_dict(vae_sd, strict=True)
        text = CLIPTextModel(CLIPTextConfig(**text_config))
        text_sd = convert_ldm_clip_checkpoint(state_dict)
        if not hasattr(text, "text_model"):  # transformers ≥ 5.6 flattened CLIPTextModel
            text_sd = {k.removeprefix("text_model."): v for k, v in text_sd.items()}
        expected = text.state_dict()
        text_sd = {k: v for k, v in text_sd.items() if k in expected or "position_ids" not in k}
        text.load_state_dict(text_sd, strict=True)
    except (RuntimeError, KeyError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"base: {source} is not an SD-1.5 checkpoint of the expected shape (VAE "
            f"{vae_config['block_out_channels']}, CLIP text {text_config['hidden_size']}×"
            f"{text_config['num_hidden_layers']}): {first}"
        ) from exc
    return vae, text


def _load_single_file(
    path: Path,
    *,
    tokenizer: str | os.PathLike[str] | None,
    device: str | torch.device,
    dtype: torch.dtype,
) -> tuple[TextEncoder, Autoencoder, dict[str, Any]]:
    from safetensors.torch import load_file

    if tokenizer is None:
        raise InputError(
            f"base: {path} is a single-file SD-1.5 checkpoint, which holds no tokenizer and "
            "adstage cannot fetch one offline; give a CLIP tokenizer folder (tokenizer=…, "
            "--tokenizer DIR: vocab.json and merges.txt, e.g. the tokenizer/ of any diffusers "
            "SD-1.5 folder or openai/clip-vit-large-patch14)"
        )
    tok = _load_tokenizer(Path(tokenizer).expanduser(), "tokenizer")
    try:
        state_dict = load_file(str(path), device="cpu")
    except Exception as exc:  # a truncated or foreign file: one clear message
        raise InputError(f"base: {path} is not a readable safetensors file ({exc})") from exc
    vae, text = convert_single_file(state_dict, source=str(path))
    del state_dict
    return (
        CLIPText(tok, text.to(device=device, dtype=dtype)),
        KLAutoencoder(vae.to(device=device, dtype=dtype)),
        dict(SD15_UNET_CONFIG),
    )


def load_base(
    path: str | os.PathLike[str],
    *,
    image_encoder: str | os.PathLike[str] | None = None,
    tokenizer: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Base:
    """The frozen components of the base at ``path`` (see the module docstring for the kinds).

    ``image_encoder``: a CLIP image encoder folder (overrides a diffusers folder's own
    ``image_encoder/``). ``tokenizer``: a CLIP tokenizer folder, required by a single file.
    """
    p = Path(path).expanduser()
    kind = base_kind(p)
    encoder: ImageEncoder | None = None
    if kind == "tiny":
        tiny = load_tiny_base(p)
        text_model = tiny.text_encoder
        if isinstance(text_model, torch.nn.Module):
            text_model.to(device=device, dtype=dtype)
        base = Base(
            kind,
            p,
            text_model,
            tiny.autoencoder,
            None,
            dict(tiny.unet_config),
            _weight_files(p),
        )
    elif kind == "diffusers":
        text, vae, encoder, config = _load_diffusers(p, device=device, dtype=dtype)
        base = Base(kind, p, text, vae, encoder, config, _weight_files(p))
    else:
        text, vae, config = _load_single_file(p, tokenizer=tokenizer, device=device, dtype=dtype)
        base = Base(kind, p, text, vae, None, config, [p])
    if image_encoder is not None:
        ie = Path(image_encoder).expanduser()
        base.image_encoder = load_image_encoder(ie, device=device, dtype=dtype)
        base.files.extend(_weight_files(ie))
    log.info(
        "base %s (%s): text %s, autoencoder %s, image encoder %s",
        p,
        kind,
        base.text_encoder.name,
        base.autoencoder.name,
        base.image_encoder.name if base.image_encoder is not None else "none",
    )
    return base
