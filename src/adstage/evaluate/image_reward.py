"""ImageReward: a learned human-preference score of an image for its prompt, from the user's files.

Xu, Liu, Wu, Tong, Li, Ding, Tang, Dong, "ImageReward: Learning and Evaluating Human Preferences
for Text-to-Image Generation", NeurIPS 2023, §3 (the reward model). The network, as released
(``image-reward`` 1.5 on PyPI, ``ImageReward/ImageReward.py`` and ``ImageReward/models/BLIP/``;
facts read there, no code copied):

* image: BLIP's ViT-L/16 (``create_vit('large', 224)``: width 1024, 24 blocks, 16 heads, MLP
  4096, pre-norm, LayerNorm eps 1e-6, exact GELU, a final LayerNorm), input 224²; all 197 output
  tokens;
* text: BLIP's BERT (``med.py``, config ``med_config.json``: 12 layers, width 768, 12 heads,
  vocabulary 30524, no token-type embeddings) with a cross-attention to the image tokens in every
  layer (keys/values 1024 → 768); prompt tokenised by ``bert-base-uncased``'s WordPiece (plus
  BLIP's ``[DEC]`` and ``[ENC]`` special tokens), padded and truncated to **35** tokens, the
  ``[CLS]`` token kept (not replaced by ``[ENC]``);
* head: the text encoder's last hidden state at ``[CLS]`` (768) through ``MLP``:
  ``Linear(768, 1024) · Dropout(0.2) · Linear(1024, 128) · Dropout(0.2) · Linear(128, 64) ·
  Dropout(0.1) · Linear(64, 16) · Linear(16, 1)`` — no activations (they are commented out in the
  release) — then ``(r − 0.16717362830052426) / 1.0333394966054072`` (``ImageReward.mean`` and
  ``.std``, the normalisation of the released reward);
* preprocessing: OpenAI CLIP's transform at 224 (bicubic resize of the shorter side, centre crop,
  CLIP mean/std): :func:`adstage.evaluate.clip_score.clip_preprocess`.

Built here from transformers' BLIP blocks, which are ports of the same modules:
``BlipVisionModel`` (its ``last_hidden_state`` is after the final LayerNorm, as BLIP's ViT) and
``BlipTextModel`` built with cross-attention layers (``is_decoder=True``) and run bidirectionally
(``is_decoder=False``), which is ``med.py``'s ``mode='multimodal'``.

Files the user brings (nothing is downloaded): ``ImageReward.pt`` (a plain state dict, read with
``weights_only=True``) and ``med_config.json`` from Hugging Face ``THUDM/ImageReward``, and the
``bert-base-uncased`` tokenizer's ``vocab.txt`` (``google-bert/bert-base-uncased``). The
checkpoint's keys are renamed by :func:`checkpoint_to_model`; every tensor of the model must
come from the file and every key of the file must be used, except ``blip.vision_proj.*`` and
``blip.text_proj.*`` (BLIP's contrastive projections, unused by the reward) and the
``position_ids`` buffer.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from adstage.errors import BackendUnavailable, InputError
from adstage.evaluate.clip_score import NO_TRANSFORMERS, clip_preprocess, user_weights_missing
from adstage.weights import sha256_file

log = logging.getLogger(__name__)

REWARD_MEAN = 0.16717362830052426
REWARD_STD = 1.0333394966054072
"""``ImageReward.mean`` / ``ImageReward.std`` (image-reward 1.5, ``ImageReward/ImageReward.py``)."""

MAX_TOKENS = 35
"""Prompt length: ``padding='max_length', truncation=True, max_length=35``."""

MLP_WIDTHS = (1024, 128, 64, 16, 1)
"""The head's Linear output widths, at ``nn.Sequential`` indices 0, 2, 4, 6, 7."""
_MLP_INDEX = (0, 2, 4, 6, 7)
_MLP_DROPOUT = {1: 0.2, 3: 0.2, 5: 0.1}

IMAGE_REWARD_VISION: dict[str, Any] = {
    "image_size": 224,
    "patch_size": 16,
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "layer_norm_eps": 1e-6,
    "hidden_act": "gelu",
}
"""BLIP's ViT-L/16 at 224² as ImageReward builds it (``create_vit('large', 224)``), in
``BlipVisionConfig`` keys."""

IMAGE_REWARD_DOWNLOAD = (
    "download ImageReward.pt and med_config.json from https://huggingface.co/THUDM/ImageReward "
    "(give them as --checkpoint FILE --med-config FILE), and the bert-base-uncased tokenizer's "
    "vocab.txt from https://huggingface.co/google-bert/bert-base-uncased (--tokenizer "
    "DIR|vocab.txt); adstage never downloads them itself"
)

_UNUSED = re.compile(r"^blip\.(vision_proj|text_proj)\.(weight|bias)$|position_ids$")
_VISION_RENAMES = (
    (re.compile(r"^blip\.visual_encoder\.cls_token$"), "embeddings.class_embedding"),
    (re.compile(r"^blip\.visual_encoder\.pos_embed$"), "embeddings.position_embedding"),
    (re.compile(r"^blip\.visual_encoder\.patch_embed\.proj\.(weight|bias)$"),
     r"embeddings.patch_embedding.\1"),
    (re.compile(r"^blip\.visual_encoder\.blocks\.(\d+)\.norm1\.(weight|bias)$"),
     r"encoder.layers.\1.layer_norm1.\2"),
    (re.compile(r"^blip\.visual_encoder\.blocks\.(\d+)\.norm2\.(weight|bias)$"),
     r"encoder.layers.\1.layer_norm2.\2"),
    (re.compile(r"^blip\.visual_encoder\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)$"),
     r"encoder.layers.\1.self_attn.qkv.\2"),
    (re.compile(r"^blip\.visual_encoder\.blocks\.(\d+)\.attn\.proj\.(weight|bias)$"),
     r"encoder.layers.\1.self_attn.projection.\2"),
    (re.compile(r"^blip\.visual_encoder\.blocks\.(\d+)\.mlp\.(fc1|fc2)\.(weight|bias)$"),
     r"encoder.layers.\1.mlp.\2.\3"),
    (re.compile(r"^blip\.visual_encoder\.norm\.(weight|bias)$"), r"post_layernorm.\1"),
)  # fmt: skip
"""BLIP/timm ViT names → ``BlipVisionModel`` names (the same tensors, same layouts: BLIP's fused
``qkv`` is split q, k, v in that order in both)."""


def checkpoint_to_model(key: str) -> str | None:
    """The module key that checkpoint ``key`` fills; ``None`` for a known unused key. An
    :class:`InputError` for a key that is not ImageReward's."""
    if _UNUSED.search(key):
        return None
    for pattern, target in _VISION_RENAMES:
        if pattern.match(key):
            return "visual_encoder." + pattern.sub(target, key)
    if key.startswith("blip.text_encoder."):  # med.py and BlipTextModel share the BERT names
        return "text_encoder." + key.removeprefix("blip.text_encoder.")
    if re.match(r"^mlp\.layers\.\d+\.(weight|bias)$", key):
        return key
    raise InputError(f"checkpoint: unexpected key {key!r}: not an ImageReward checkpoint")


def text_config_from_med(med: Mapping[str, Any], *, encoder_width: int) -> dict[str, Any]:
    """``med_config.json`` (a BERT config) → ``BlipTextConfig`` keys; ``encoder_width`` is the
    image encoder's width (BLIP overrides the file's ``encoder_width`` with it)."""
    if not med.get("add_cross_attention", False):
        raise InputError("med_config: add_cross_attention is not true: not BLIP's med_config.json")
    if med.get("position_embedding_type", "absolute") != "absolute":
        raise InputError(
            f"med_config: position_embedding_type {med['position_embedding_type']!r}; "
            "ImageReward uses absolute positions"
        )
    try:
        return {
            "vocab_size": int(med["vocab_size"]),
            "hidden_size": int(med["hidden_size"]),
            "num_hidden_layers": int(med["num_hidden_layers"]),
            "num_attention_heads": int(med["num_attention_heads"]),
            "intermediate_size": int(med["intermediate_size"]),
            "hidden_act": str(med.get("hidden_act", "gelu")),
            "max_position_embeddings": int(med["max_position_embeddings"]),
            "layer_norm_eps": float(med.get("layer_norm_eps", 1e-12)),
            "pad_token_id": int(med.get("pad_token_id", 0)),
            "encoder_hidden_size": int(encoder_width),
            "hidden_dropout_prob": float(med.get("hidden_dropout_prob", 0.1)),
            "attention_probs_dropout_prob": float(med.get("attention_probs_dropout_prob", 0.1)),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"med_config: missing or bad field ({exc!r}): not a BERT config") from exc


class _RewardHead(nn.Module):
    """ImageReward's ``MLP``: five Linear layers, dropout between the first four, no activation."""

    def __init__(self, width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(8):
            if i in _MLP_DROPOUT:
                layers.append(nn.Dropout(_MLP_DROPOUT[i]))
            else:
                out = MLP_WIDTHS[_MLP_INDEX.index(i)]
                layers.append(nn.Linear(width, out))
                width = out
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ImageRewardModel(nn.Module):
    """BLIP ViT → BERT with cross-attention → ``[CLS]`` → MLP (see the module docstring).

    ``forward`` gives the raw head output; :meth:`reward` the normalised ImageReward."""

    def __init__(self, vision: Mapping[str, Any], text: Mapping[str, Any]) -> None:
        super().__init__()
        try:
            from transformers import (
                BlipTextConfig,
                BlipTextModel,
                BlipVisionConfig,
                BlipVisionModel,
            )
        except ImportError as exc:
            raise BackendUnavailable(NO_TRANSFORMERS.format(what="ImageReward")) from exc

        self.visual_encoder = BlipVisionModel(BlipVisionConfig(**vision))
        text_config = BlipTextConfig(**{**text, "is_decoder": True})  # builds cross-attention
        self.text_encoder = BlipTextModel(text_config, add_pooling_layer=False)
        self.mlp = _RewardHead(int(text["hidden_size"]))
        self.image_size = int(vision["image_size"])

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pixel_values: torch.Tensor
    ) -> torch.Tensor:
        image = self.visual_encoder(pixel_values=pixel_values).last_hidden_state
        image_mask = torch.ones(image.shape[:-1], dtype=torch.long, device=image.device)
        text = self.text_encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            encoder_hidden_states=image,
            encoder_attention_mask=image_mask,
            is_decoder=False,
        ).last_hidden_state
        return self.mlp(text[:, 0, :].float()).squeeze(-1)

    def reward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pixel_values: torch.Tensor
    ) -> torch.Tensor:
        return (self(input_ids, attention_mask, pixel_values) - REWARD_MEAN) / REWARD_STD


def load_state(model: ImageRewardModel, state: Mapping[str, torch.Tensor], *, source: str) -> None:
    """Fill ``model`` from an ImageReward state dict (checkpoint key names), strictly: every
    tensor of the model from the file, of the same shape; every key of the file used (but the
    known unused ones)."""
    expected = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        target = checkpoint_to_model(key)
        if target is None:
            continue
        if target not in expected:
            raise InputError(
                f"checkpoint: {source}: key {key!r} (→ {target}) has no place in the model: a "
                "checkpoint of another depth or layout"
            )
        if tuple(value.shape) != tuple(expected[target].shape):
            raise InputError(
                f"checkpoint: {source}: {key} has shape {tuple(value.shape)}, the model expects "
                f"{tuple(expected[target].shape)} (ImageReward is BLIP ViT-L/16 at 224 with the "
                "med_config.json BERT)"
            )
        mapped[target] = value
    missing = sorted(set(expected) - set(mapped))
    if missing:
        raise InputError(
            f"checkpoint: {source} lacks {len(missing)} of ImageReward's tensors (e.g. "
            f"{', '.join(missing[:3])}): not a complete ImageReward.pt"
        )
    model.load_state_dict(mapped, strict=True)


def _check_vision(
    state: Mapping[str, torch.Tensor], vision: Mapping[str, Any], *, source: str
) -> None:
    """The checkpoint's ViT width, depth and token count against ``vision``, cheaply."""
    v = "blip.visual_encoder."
    if v + "cls_token" not in state or v + "pos_embed" not in state:
        raise InputError(f"checkpoint: {source} has no {v}cls_token/pos_embed: not ImageReward")
    depth = len({k.split(".")[3] for k in state if k.startswith(v + "blocks.")})
    tokens = (int(vision["image_size"]) // int(vision["patch_size"])) ** 2 + 1
    have = (state[v + "cls_token"].shape[-1], depth, state[v + "pos_embed"].shape[1])
    want = (int(vision["hidden_size"]), int(vision["num_hidden_layers"]), tokens)
    if have != want:
        raise InputError(
            f"checkpoint: {source}: its image encoder has width {have[0]}, {have[1]} blocks and "
            f"{have[2]} tokens; ImageReward's (BLIP ViT-L/16 at 224) has {want[0]}, {want[1]} "
            f"and {want[2]}"
        )


def load_bert_tokenizer(path: str | os.PathLike[str]) -> Any:
    """``bert-base-uncased``'s WordPiece tokenizer from its ``vocab.txt`` (or a folder holding
    it), with BLIP's ``[DEC]`` (bos) and ``[ENC]`` special tokens added as ImageReward does."""
    try:
        from transformers import BertTokenizer
    except ImportError as exc:
        raise BackendUnavailable(NO_TRANSFORMERS.format(what="ImageReward")) from exc

    p = Path(path).expanduser()
    vocab = p / "vocab.txt" if p.is_dir() else p
    if not vocab.is_file():
        raise user_weights_missing("bert-base-uncased vocab.txt", vocab, IMAGE_REWARD_DOWNLOAD)
    try:  # the vocabulary as a dict: transformers 5 silently ignores ``vocab_file=``
        lines = vocab.read_text(encoding="utf-8").splitlines()
        words = {w.rstrip("\n"): i for i, w in enumerate(lines)}
        if "[CLS]" not in words or "[UNK]" not in words:
            raise ValueError("no [CLS] / [UNK] entries")
        tokenizer = BertTokenizer(vocab=words, do_lower_case=True)
        tokenizer.add_special_tokens({"bos_token": "[DEC]"})
        tokenizer.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    except (OSError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InputError(f"tokenizer: {vocab} is not a WordPiece vocab.txt ({exc})") from exc
    return tokenizer


@dataclass(frozen=True)
class ImageRewards:
    """ImageReward of image–prompt pairs (normalised, as ``ImageReward.score`` returns)."""

    rewards: list[float]
    checkpoint: str
    files: dict[str, str] = field(default_factory=dict)
    """The files read (checkpoint, med_config, vocab) and their sha256."""

    def as_dict(self) -> dict[str, Any]:
        n = len(self.rewards)
        return {
            "metric": "image-reward",
            "n": n,
            "image_reward": float(np.mean(self.rewards)) if n else None,
            "normalisation": {"mean": REWARD_MEAN, "std": REWARD_STD},
            "checkpoint": self.checkpoint,
            "sha256": dict(self.files),
        }


class ImageRewardScorer:
    """An :class:`ImageRewardModel` and its tokenizer scoring image–prompt pairs."""

    def __init__(
        self,
        model: ImageRewardModel,
        tokenizer: Any,
        *,
        checkpoint: str = "image-reward",
        files: dict[str, str] | None = None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.checkpoint = checkpoint
        self.files = dict(files or {})

    def rewards(
        self, images: Sequence[NDArray[np.uint8]], prompts: Sequence[str]
    ) -> NDArray[np.float64]:
        """The normalised reward of each (image, prompt) pair, in one forward pass."""
        if len(images) != len(prompts):
            raise InputError(
                f"prompts: {len(prompts)} prompts for {len(images)} images; expected one each"
            )
        if not images:
            return np.zeros(0)
        size = self.model.image_size
        pixels = torch.from_numpy(np.stack([clip_preprocess(im, size) for im in images]))
        tokens = self.tokenizer(
            list(prompts),
            padding="max_length",
            truncation=True,
            max_length=MAX_TOKENS,
            return_tensors="pt",
        )
        param = next(self.model.parameters())
        with torch.no_grad():
            r = self.model.reward(
                tokens.input_ids.to(param.device),
                tokens.attention_mask.to(param.device),
                pixels.to(param.device, param.dtype),
            )
        return r.double().cpu().numpy()

    def __call__(
        self, images: Sequence[NDArray[np.uint8]], prompts: Sequence[str], *, batch_size: int = 8
    ) -> ImageRewards:
        if batch_size < 1:
            raise InputError(f"batch_size: expected >= 1, got {batch_size}")
        values: list[float] = []
        for i in range(0, len(images), batch_size):
            values += self.rewards(images[i : i + batch_size], prompts[i : i + batch_size]).tolist()
        return ImageRewards(values, self.checkpoint, self.files)


def load_image_reward(
    checkpoint: str | os.PathLike[str],
    med_config: str | os.PathLike[str],
    tokenizer: str | os.PathLike[str],
    *,
    vision: Mapping[str, Any] | None = None,
    device: str = "cpu",
) -> ImageRewardScorer:
    """ImageReward from the user's ``ImageReward.pt``, ``med_config.json`` and BERT
    ``vocab.txt`` (or its folder), offline.

    ``vision``: the image encoder's ``BlipVisionConfig`` (default :data:`IMAGE_REWARD_VISION`,
    the released model's; other values only for tests with tiny models).

    Raises:
        WeightsNotFound: a file does not exist (the message says where to get it).
        InputError: a file exists but is not what ImageReward needs.
        BackendUnavailable: transformers is not installed.
    """

    ckpt, med = Path(checkpoint).expanduser(), Path(med_config).expanduser()
    for path, name in ((ckpt, "ImageReward.pt"), (med, "med_config.json")):
        if not path.is_file():
            raise user_weights_missing(name, path, IMAGE_REWARD_DOWNLOAD)
    try:
        med_dict = json.loads(med.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"med_config: {med} is not readable JSON ({exc})") from exc
    if not isinstance(med_dict, dict):
        raise InputError(f"med_config: {med} is not a JSON object")
    vision_config = dict(vision or IMAGE_REWARD_VISION)
    text_config = text_config_from_med(med_dict, encoder_width=int(vision_config["hidden_size"]))
    tok = load_bert_tokenizer(tokenizer)
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated, foreign or code-carrying pickle: one clear message
        raise InputError(
            f"checkpoint: {ckpt}: torch.load (weights_only) cannot read it as a state dict "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"checkpoint: {ckpt} is not a state dict of tensors")
    _check_vision(state, vision_config, source=str(ckpt))  # before building a 300M-weight ViT
    model = ImageRewardModel(vision_config, text_config)
    load_state(model, state, source=str(ckpt))
    vocab = Path(tokenizer).expanduser()
    vocab = vocab / "vocab.txt" if vocab.is_dir() else vocab
    files = {str(p): sha256_file(p) for p in (ckpt, med, vocab)}
    log.info("ImageReward %s (%s)", ckpt, files[str(ckpt)][:12])
    return ImageRewardScorer(model.to(device), tok, checkpoint=str(ckpt), files=files)
