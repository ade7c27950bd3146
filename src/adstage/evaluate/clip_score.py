"""CLIP-score: how well an image matches its prompt, from a CLIP model the user brings.

Hessel, Holtzman, Forbes, Le Bras, Choi, "CLIPScore: A Reference-free Evaluation Metric for Image
Captioning", EMNLP 2021, §3: ``CLIP-S(c, v) = w · max(cos(E_c, E_v), 0)`` with ``w = 2.5``, the
cosine between CLIP's projected image and text embeddings. Text-to-image papers (torchmetrics'
``CLIPScore``, and RefAdGen's Table 3 "CLIP 34.51") report ``100 · cos`` instead; the two differ
only by the scale and the clamp. Both are reported here, per image and as means:

* ``clip_100``: ``100 · cos`` per image; its mean is clamped at 0 as torchmetrics clamps it —
  the number to compare with RefAdGen's 34.51 (``adstage eval clip-score`` prints this first);
* ``clip_score``: Hessel's ``2.5 · max(cos, 0)`` per image, and its mean.

Hessel et al. prefix each caption with "A photo depicts"; torchmetrics does not, and neither does
adstage unless asked (``prefix``). Prompts are tokenised to CLIP's 77 tokens, longer ones
truncated (as torchmetrics does).

Weights: a local Hugging Face CLIP folder (``config.json``, ``model.safetensors`` or
``pytorch_model.bin``, ``vocab.json``, ``merges.txt``, ``tokenizer_config.json``; e.g.
``openai/clip-vit-large-patch14`` or ``openai/clip-vit-base-patch32``), loaded with transformers'
``CLIPModel`` offline (``local_files_only=True``). Nothing is downloaded. Single ``.pt`` files
(OpenAI's TorchScript archives, open_clip state dicts) are not read: they do not record the
activation (OpenAI's QuickGELU or GELU) nor the head count, so a mapping would guess.

Preprocessing as OpenAI's CLIP (``clip.load``'s transform, also ImageReward's): the shorter side
resized to the model's input size with PIL bicubic (torchvision ``Resize`` on a PIL image: the
longer side ``int(size · long / short)``), centre crop (offset ``round((h − size) / 2)``), then
``(x / 255 − mean) / std`` with CLIP's mean and std.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from adstage.errors import BackendUnavailable, InputError, WeightsNotFound
from adstage.weights import sha256_file

log = logging.getLogger(__name__)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
"""OpenAI CLIP's input normalisation (also ImageReward's)."""

HESSEL_W = 2.5
"""CLIPScore's weight ``w`` (Hessel et al. 2021, §3)."""

HESSEL_PREFIX = "A photo depicts "
"""The caption prefix Hessel et al. use (optional here; torchmetrics uses none)."""

CLIP_DOWNLOAD = (
    "download a Hugging Face CLIP folder yourself, e.g. all files of "
    "https://huggingface.co/openai/clip-vit-large-patch14 (config.json, model.safetensors, "
    "vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json, "
    "preprocessor_config.json) into one folder, and give that folder (--model DIR); adstage "
    "never downloads CLIP itself"
)


NO_TRANSFORMERS = (
    "{what} needs transformers (the model code; no weights come with it): "
    "pip install 'adstage[generate]'"
)


def user_weights_missing(name: str, path: Path, instructions: str) -> WeightsNotFound:
    """A :class:`WeightsNotFound` for weights the user brings (no ``adstage weights fetch``):
    the message names the path looked at and how to get the files."""
    error = WeightsNotFound(name, [str(path)])
    error.args = (f"weights {name!r} not found at {path}: {instructions}",)
    return error


def clip_preprocess(image: NDArray[np.uint8], size: int) -> NDArray[np.float32]:
    """An ``H×W×3`` uint8 RGB image as CLIP's ``3×size×size`` float32 input (module docstring)."""
    if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3):
        shape = getattr(image, "shape", type(image).__name__)
        raise InputError(f"image: expected an H×W×3 uint8 RGB array, got {shape}")
    if image.dtype != np.uint8:
        raise InputError(f"image: expected dtype uint8, got {image.dtype}")
    h, w = image.shape[:2]
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(size * long / short)
    new_w, new_h = (size, new_long) if w <= h else (new_long, size)
    im = Image.fromarray(image)
    if (new_w, new_h) != (w, h):
        im = im.resize((new_w, new_h), Image.Resampling.BICUBIC)
    top = round((new_h - size) / 2.0)
    left = round((new_w - size) / 2.0)
    im = im.crop((left, top, left + size, top + size))
    mean, std = np.asarray(CLIP_MEAN, np.float32), np.asarray(CLIP_STD, np.float32)
    x = ((np.asarray(im, np.float32) / 255.0 - mean) / std).astype(np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def hessel_clip_score(
    cosine: NDArray[np.floating[Any]], w: float = HESSEL_W
) -> NDArray[np.float64]:
    """``w · max(cos, 0)`` elementwise (Hessel et al. 2021)."""
    return w * np.maximum(np.asarray(cosine, np.float64), 0.0)


@dataclass(frozen=True)
class ClipScores:
    """CLIP-scores of image–prompt pairs (see the module docstring for the two scales)."""

    cosine: list[float]
    """``cos(E_img, E_txt)`` per pair."""
    model: str
    """The CLIP folder."""
    prefix: str = ""
    files: dict[str, str] = field(default_factory=dict)
    """The weight files read and their sha256."""

    @property
    def clip_100(self) -> list[float]:
        return [100.0 * c for c in self.cosine]

    @property
    def clip_score(self) -> list[float]:
        return [float(v) for v in hessel_clip_score(np.asarray(self.cosine))]

    def as_dict(self) -> dict[str, Any]:
        n = len(self.cosine)
        mean_cos = float(np.mean(self.cosine)) if n else None
        return {
            "metric": "clip-score",
            "n": n,
            "clip_100": max(100.0 * mean_cos, 0.0) if mean_cos is not None else None,
            "clip_score": float(np.mean(self.clip_score)) if n else None,
            "cosine": mean_cos,
            "w": HESSEL_W,
            "prefix": self.prefix,
            "model": self.model,
            "sha256": dict(self.files),
        }


class CLIPScorer:
    """A transformers ``CLIPModel`` and its tokenizer scoring image–prompt pairs."""

    def __init__(
        self, model: Any, tokenizer: Any, *, name: str = "clip", files: dict[str, str] | None = None
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.files = dict(files or {})
        self.size = int(model.config.vision_config.image_size)

    def image_embeds(self, images: Sequence[NDArray[np.uint8]]) -> Any:
        """Projected, L2-normalised image embeddings (``n × projection_dim``)."""
        import torch

        x = torch.from_numpy(np.stack([clip_preprocess(im, self.size) for im in images]))
        param = next(self.model.parameters())
        with torch.no_grad():
            out = self.model.get_image_features(pixel_values=x.to(param.device, param.dtype))
        emb = out if isinstance(out, torch.Tensor) else out.pooler_output
        return torch.nn.functional.normalize(emb.float(), dim=-1)

    def text_embeds(self, prompts: Sequence[str]) -> Any:
        """Projected, L2-normalised text embeddings (``n × projection_dim``)."""
        import torch

        tokens = self.tokenizer(
            list(prompts),
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )
        device = next(self.model.parameters()).device
        with torch.no_grad():
            out = self.model.get_text_features(
                input_ids=tokens.input_ids.to(device),
                attention_mask=tokens.attention_mask.to(device),
            )
        emb = out if isinstance(out, torch.Tensor) else out.pooler_output
        return torch.nn.functional.normalize(emb.float(), dim=-1)

    def cosine(
        self, images: Sequence[NDArray[np.uint8]], prompts: Sequence[str], *, prefix: str = ""
    ) -> NDArray[np.float64]:
        """``cos(E_img, E_txt)`` of each (image, prompt) pair."""
        if len(images) != len(prompts):
            raise InputError(
                f"prompts: {len(prompts)} prompts for {len(images)} images; expected one each"
            )
        if not images:
            return np.zeros(0)
        img = self.image_embeds(images)
        txt = self.text_embeds([prefix + p for p in prompts])
        return (img * txt).sum(-1).double().cpu().numpy()

    def __call__(
        self,
        images: Sequence[NDArray[np.uint8]],
        prompts: Sequence[str],
        *,
        prefix: str = "",
        batch_size: int = 16,
    ) -> ClipScores:
        """The scores of the pairs, computed ``batch_size`` at a time."""
        if batch_size < 1:
            raise InputError(f"batch_size: expected >= 1, got {batch_size}")
        values: list[float] = []
        for i in range(0, len(images), batch_size):
            values += self.cosine(
                images[i : i + batch_size], prompts[i : i + batch_size], prefix=prefix
            ).tolist()
        return ClipScores(values, self.name, prefix, self.files)


def _weight_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and (p.suffix == ".safetensors" or p.name == "pytorch_model.bin")
    )


def load_clip(path: str | os.PathLike[str], *, device: str = "cpu") -> CLIPScorer:
    """A :class:`CLIPScorer` from a local Hugging Face CLIP folder, offline.

    Raises:
        WeightsNotFound: ``path`` does not exist (the message says what to download).
        InputError: ``path`` exists but is not a CLIP folder with weights and a tokenizer.
        BackendUnavailable: transformers is not installed.
    """
    try:
        from transformers import CLIPModel, CLIPTokenizer
    except ImportError as exc:
        raise BackendUnavailable(NO_TRANSFORMERS.format(what="CLIP-score")) from exc

    p = Path(path).expanduser()
    if not p.exists():
        raise user_weights_missing("clip", p, CLIP_DOWNLOAD)
    if not p.is_dir() or not (p / "config.json").is_file():
        raise InputError(f"model: {p} is not a Hugging Face CLIP folder (no config.json); "
                         f"{CLIP_DOWNLOAD}")  # fmt: skip
    files = _weight_files(p)
    if not files:
        raise InputError(
            f"model: {p} holds no weights (model.safetensors or pytorch_model.bin); {CLIP_DOWNLOAD}"
        )
    missing = [n for n in ("vocab.json", "merges.txt") if not (p / n).is_file()]
    if missing:
        raise InputError(
            f"model: {p} has no CLIP tokenizer ({', '.join(missing)} missing); {CLIP_DOWNLOAD}"
        )
    try:
        kind = json.loads((p / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as exc:
        raise InputError(f"model: {p}/config.json is not readable JSON ({exc})") from exc
    if kind != "clip":
        raise InputError(f"model: {p} holds a {kind!r} model, not CLIP; {CLIP_DOWNLOAD}")
    try:
        loaded: Any = CLIPModel.from_pretrained(
            str(p), local_files_only=True, output_loading_info=True
        )
        model, info = loaded
        tokenizer = CLIPTokenizer.from_pretrained(str(p), local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise InputError(f"model: {p}: cannot load a CLIPModel and its tokenizer ({exc})") from exc
    missing = [k for k in info.get("missing_keys", []) if not k.endswith("position_ids")]
    if missing:  # transformers would leave them random: never score with a half-loaded model
        raise InputError(
            f"model: {p}: the weights lack {len(missing)} of CLIPModel's tensors "
            f"(e.g. {', '.join(sorted(missing)[:3])}); {CLIP_DOWNLOAD}"
        )
    digests = {f.name: sha256_file(f) for f in files}
    log.info("CLIP %s: %s", p, ", ".join(f"{k} {v[:12]}" for k, v in digests.items()))
    return CLIPScorer(model.to(device), tokenizer, name=str(p), files=digests)
