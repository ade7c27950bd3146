"""Train RefAdGen (Chen & Yang, "RefAdGen: High-Fidelity Advertising Image Generation", §3.4 and
§4.1) as its public code does (github yunsoft2019/RefAdgen; ``../shared/REFERENCES.md`` §2).

    adstage train adgen --base tiny --data manifest.csv -o run/ --steps 2000
    adstage train adgen --base ~/models/sd15 --data manifest.parquet -o run/ --mixed-precision fp16

Read top to bottom:

1. **Manifest.** A CSV or Parquet table, one row per training triplet (:data:`COLUMNS`):

   - ``ad``: the ad image (the target);
   - ``product``: the product image, the ad's product on white, pixel-aligned with the ad as
     the release's data are (it is resized to the same size independently otherwise);
   - ``mask`` (optional column, optional cell): the product mask; without one the product's
     non-white pixels are segmented (``solid-background``) and cached in ``OUT/masks/``;
   - ``text``: the prompt.

   Relative paths resolve against the manifest's folder. A row whose files are missing or
   unreadable is recorded in ``OUT/failures.jsonl`` (path, row, reason) and skipped; the run
   goes on. Images are resized to ``size`` (area interpolation), masks with nearest neighbour.
   Data augmentation (the paper's dual augmentation) is not this module's.
2. **Base.** ``tiny``: a fresh tiny pixel-space model (:mod:`adstage.generate.tiny`, built from
   ``seed``); a *tiny base* folder (``tiny-base.json``; with ``refadgen.json`` beside it, e.g. an
   earlier run's ``OUT/final``, training continues from those weights); or an SD-1.5 diffusers
   folder (``model_index.json``: ``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/`` and,
   optionally, a CLIP vision encoder in ``image_encoder/`` or ``image_encoder``, which adds
   the Resampler as released; without one the Reference U-Net's context is the text fallback).
3. **Trainable set** as released (:meth:`RefAdGen.trainable_parameters`): the Resampler, the
   whole Reference U-Net, every ``to_k_ref``/``to_v_ref`` and the Generation U-Net's ``conv_in``;
   the rest of the Generation U-Net, the VAE and the encoders are frozen. ``trainable="all"``
   also trains the Generation U-Net and the text encoder: the default (``auto``) for a freshly
   initialised model, which has no pretrained base to keep frozen.
4. **Step** (:func:`train_step`, :func:`draw_noise`): exactly the released step, checked against
   its tensors (``tests/train/test_adgen.py``). Conditioning dropout as released, per item:
   5 % image only (the CLIP *input* zeroed, so the Resampler sees CLIP(zero image), the
   unconditional context at inference), 5 % text only (``""``), 5 % both; the reference latent
   is never dropped. In the text fallback (no image encoder) the Reference U-Net's context *is*
   the prompt, so "image only" has nothing to zero and leaves the item as it is, and a dropped
   text is ``""`` for both U-Nets: the unconditional half at inference (the negative prompt for
   both).
5. **Loop.** AdamW (β = (0.9, 0.999), ε = 1e-8, decoupled weight decay) over the trainable set in
   the released order. Recipes (:data:`RECIPES`): ``paper`` (§4.1: linear LR with 500 warm-up
   steps, 8 epochs) or ``release`` (its launch script: constant LR after 2,000 warm-up steps, no
   epoch limit, so ``steps`` is needed). Epochs are seeded permutations of the rows. Mixed
   precision and several GPUs through ``accelerate`` (fp32 on a CPU; under ``accelerate launch``
   each process takes its share of every global batch of ``batch_size × processes``).
   Checkpoints every ``every`` steps and at the end: ``OUT/checkpoint-<step>.pt`` with the model,
   the optimiser, the step, the RNG states and the config (:mod:`adstage.train.loop`), so a
   resumed run gives the same weights as a straight one. A sample grid beside each checkpoint
   (``OUT/samples/step-<step>.png``, rows: ad | product | mask | sample). Progress with ETA.
   At the end ``OUT/final/``: :func:`~adstage.generate.checkpoints.save_refadgen` (and for a tiny
   base the tiny base files), so ``adstage generate --base OUT/final --checkpoint OUT/final``
   runs a tiny model, and ``--base SD15 --checkpoint OUT/final`` an SD-1.5 one.
"""

from __future__ import annotations

import csv
import importlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from adstage._torch import torch_threads
from adstage.errors import AdstageError, InputError
from adstage.generate.base import Autoencoder, PixelSpace
from adstage.generate.checkpoints import (
    CONFIG_NAME,
    load_ip_adapter_resampler,
    load_refadgen,
    save_refadgen,
)
from adstage.generate.components import CLIPImage
from adstage.generate.components import load_base as load_components
from adstage.generate.refadgen import RefAdGen, ResamplerConfig
from adstage.generate.sampling import (
    PREDICTIONS,
    inference_scheduler,
    mask_to_latent,
    sample,
    training_scheduler,
)
from adstage.generate.tiny import (
    TinyConfig,
    TinyTextEncoder,
    build_tiny,
    is_tiny_base,
    load_tiny_base,
    save_tiny_base,
)
from adstage.io.checkpoints import latest_checkpoint
from adstage.io.checkpoints import read_checkpoint as _read_checkpoint
from adstage.io.images import read_image, read_mask, write_image, write_mask
from adstage.segment import SEGMENTERS
from adstage.train.loop import (
    Progress,
    Stateful,
    TrainResult,
    check_settings,
    restore,
    resume_state,
    save_checkpoint,
    write_config,
)
from adstage.types import RGB

log = logging.getLogger(__name__)

COLUMNS: dict[str, tuple[str, ...]] = {
    "ad": ("ad", "ad_path", "image"),
    "product": ("product", "product_path", "reference"),
    "mask": ("mask", "mask_path", "product_mask"),
    "text": ("text", "prompt", "caption"),
}
"""Manifest columns: each role and the column names accepted for it (the first is canonical).
``mask`` is optional. Two more columns are read when present: ``split`` (only ``train`` rows are
used; the others are held out for evaluation) and ``variant`` (the augmented product variant of a
triplet, as ``adstage dataset build`` writes; each variant is a training row of its own). Other
columns (``augmentation``, ``triplet`` …) are ignored."""
FAILURES = "failures.jsonl"
ARCHITECTURE = ("base", "trainable", "tiny_channels", "mask_input", "prediction")
"""Config keys that must match when resuming (they shape what is trained)."""
FINAL = "final"


@dataclass(frozen=True)
class Recipe:
    lr_schedule: str
    warmup: int
    epochs: int
    """0: no epoch limit (``steps`` needed)."""


RECIPES: dict[str, Recipe] = {
    "paper": Recipe("linear", 500, 8),
    "release": Recipe("constant_with_warmup", 2000, 0),
}
"""``paper``: §4.1 (linear LR, 500 warm-up steps, 8 epochs); ``release``: the public launch
script (constant LR after 2,000 warm-up steps, no epoch limit)."""


@dataclass(frozen=True)
class AdGenConfig:
    """Everything a run needs; stored in every checkpoint. Defaults: the paper's §4.1.

    ``data``: the manifest; ``base``: ``tiny``, a tiny base folder or an SD-1.5 folder.
    ``steps``: train until this step (0: ``epochs`` epochs); ``epochs``: 0 takes the recipe's.
    ``size``: (width, height), None: 512×640 for SD-1.5, ``tiny_resolution``² for a tiny base.
    ``warmup``: None takes the recipe's. ``drop_*``: the conditioning dropout probabilities.
    ``trainable``: ``released``, ``all`` or ``auto`` (see the module doc). ``image_encoder``: a
    CLIP vision folder (default: the SD folder's ``image_encoder/`` when there is one).
    ``ip_adapter``: an IP-Adapter-Plus file (``ip-adapter-plus_sd15.bin``) whose ``image_proj``
    weights initialise the Resampler, as released (default: a random Resampler).
    ``sample_steps``, ``guidance``: the sample grids' DDIM steps and guidance scale.
    ``mixed_precision``: ``no``, ``fp16`` (CUDA) or ``bf16``: autocast around the model's forward
    (accelerate's on a GPU, :class:`CpuAutocast` on a CPU); weights, optimiser and loss stay
    float32. A tiny base's pixels stay float32 whatever the precision (there is no frozen
    encoder to run in it); an SD-1.5 base's frozen VAE and encoders run in it, as released.
    ``channels_last``: the U-Nets in NHWC memory order (a CPU's faster convolutions).
    ``tiny_channels``, ``tiny_resolution``: a fresh tiny base's U-Net widths and nominal side.
    The paper's ablations (§4.4): ``mask_input=False`` trains a fresh model without the mask
    channel (4-channel input); ``originals_only`` keeps only each triplet's variant 0 of an
    ``adstage dataset build`` manifest (without dual augmentation). ``prediction``: what the
    U-Net learns: ``epsilon`` (as released), ``v_prediction``, or ``auto``: v for a tiny model
    (trained from scratch), ε for SD-1.5 (:data:`~adstage.generate.sampling.PREDICTIONS`).
    """

    data: str
    out: str
    base: str = "tiny"
    recipe: str = "paper"
    steps: int = 0
    epochs: int = 0
    batch_size: int = 3
    lr: float = 1e-5
    weight_decay: float = 0.01
    size: tuple[int, int] | None = None
    noise_offset: float = 0.05
    warmup: int | None = None
    drop_image: float = 0.05
    drop_text: float = 0.05
    drop_both: float = 0.05
    trainable: str = "auto"
    image_encoder: str | None = None
    ip_adapter: str | None = None
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    channels_last: bool = False
    every: int = 500
    log_every: int = 10
    sample_steps: int = 20
    guidance: float = 7.5
    keep: int = 2
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    tiny_channels: tuple[int, ...] = (32, 64, 64)
    tiny_resolution: int = 64
    segmenter: str = "solid-background"
    mask_input: bool = True
    originals_only: bool = False
    prediction: str = "auto"

    def __post_init__(self) -> None:
        check_settings(self, ("batch_size", "every", "log_every", "keep", "sample_steps"))
        if self.recipe not in RECIPES:
            raise InputError(f"recipe: expected one of {', '.join(RECIPES)}, got {self.recipe!r}")
        for name in ("steps", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{name}: expected an integer >= 0, got {value!r}")
        if self.steps and self.epochs:
            raise InputError("steps/epochs: give one of them, not both")
        if not self.steps and not (self.epochs or RECIPES[self.recipe].epochs):
            raise InputError(
                f"steps: the {self.recipe} recipe has no epoch limit; give steps (or epochs)"
            )
        if self.size is not None:
            if len(self.size) != 2 or any(
                isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.size
            ):
                raise InputError(f"size: expected (width, height) in pixels, got {self.size!r}")
            object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))
        if self.warmup is not None and (isinstance(self.warmup, bool) or self.warmup < 0):
            raise InputError(f"warmup: expected an integer >= 0, got {self.warmup!r}")
        if not self.weight_decay >= 0:
            raise InputError(f"weight_decay: expected a number >= 0, got {self.weight_decay!r}")
        if not self.noise_offset >= 0:
            raise InputError(f"noise_offset: expected a number >= 0, got {self.noise_offset!r}")
        drops = (self.drop_image, self.drop_text, self.drop_both)
        if not all(0.0 <= p <= 1.0 for p in drops) or sum(drops) > 1.0:
            raise InputError(f"drop_*: expected probabilities summing to <= 1, got {drops}")
        if self.prediction not in ("auto", *PREDICTIONS):
            raise InputError(
                f"prediction: expected auto or one of {', '.join(PREDICTIONS)}, "
                f"got {self.prediction!r}"
            )
        if self.trainable not in ("auto", "released", "all"):
            raise InputError(f"trainable: expected auto, released or all, got {self.trainable!r}")
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise InputError(
                f"mixed_precision: expected no, fp16 or bf16, got {self.mixed_precision!r}"
            )
        if self.mixed_precision == "fp16" and self.device == "cpu":
            raise InputError(
                "mixed_precision: fp16 needs a CUDA device; a CPU trains in fp32 "
                "(--mixed-precision no) or under bf16 autocast (--mixed-precision bf16)"
            )
        if not self.guidance >= 1.0:
            raise InputError(f"guidance: expected a number >= 1, got {self.guidance!r}")
        object.__setattr__(self, "tiny_channels", tuple(int(c) for c in self.tiny_channels))
        TinyConfig(resolution=self.tiny_resolution, block_out_channels=self.tiny_channels)

    @property
    def schedule(self) -> tuple[str, int]:
        """(LR schedule name, warm-up steps)."""
        recipe = RECIPES[self.recipe]
        return recipe.lr_schedule, recipe.warmup if self.warmup is None else self.warmup


@dataclass(frozen=True)
class AdGenResult(TrainResult):
    """:class:`~adstage.train.loop.TrainResult` plus the final model folder and the number of
    manifest rows that failed (listed in ``OUT/failures.jsonl``)."""

    final: Path = field(default=Path())
    failures: int = 0


# --------------------------------------------------------------------------------------------
# 1. the manifest


@dataclass(frozen=True)
class Item:
    """One manifest row: file paths resolved, ``row`` counted from 0."""

    row: int
    ad: Path
    product: Path
    mask: Path | None
    text: str


def _column(columns: Sequence[str], role: str, manifest: Path, *, required: bool) -> str | None:
    found = next((c for c in COLUMNS[role] if c in columns), None)
    if found is None and required:
        raise InputError(
            f"data: {manifest} has no {role!r} column (accepted: {', '.join(COLUMNS[role])}; "
            f"found: {', '.join(columns) or 'none'})"
        )
    return found


def _rows(manifest: Path) -> list[dict[str, Any]]:
    """Every row of a CSV or Parquet manifest as a dict (Parquet cells keep their types)."""
    if not manifest.is_file():
        raise InputError(f"data: {manifest} does not exist (expected a CSV or Parquet manifest)")
    if manifest.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise InputError(
                "data: reading a Parquet manifest needs pyarrow (pip install pyarrow)"
            ) from exc
        try:
            rows: list[dict[str, Any]] = pq.read_table(manifest).to_pylist()
        except Exception as exc:  # pyarrow's errors for a file that is not Parquet
            raise InputError(f"data: {manifest} is not a readable Parquet file ({exc})") from exc
        return rows
    try:
        with open(manifest, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"data: {manifest} is not a readable CSV file ({exc})") from exc


def read_manifest(
    manifest: str | Path, *, originals_only: bool = False
) -> tuple[list[Item], list[dict[str, Any]]]:
    """The usable rows of ``manifest`` and the failed ones (``{"path", "row", "error"}``): a
    missing column is an :class:`InputError`; a row with an empty or missing file is a failure.

    With a ``split`` column only its ``train`` rows are read (``row`` still counts every row of
    the file); a manifest without a ``train`` row is an :class:`InputError`. ``originals_only``:
    only the rows whose ``variant`` is 0 (each triplet's own product, no augmentation); it needs
    a ``variant`` column."""
    path = Path(manifest).expanduser()
    rows = _rows(path)
    columns = list(rows[0]) if rows else []
    if not rows:
        raise InputError(f"data: {path} has no rows")
    if "split" in columns:
        splits = sorted({str(row.get("split")) for row in rows})
        rows_kept = [(i, row) for i, row in enumerate(rows) if str(row.get("split")) == "train"]
        if not rows_kept:
            raise InputError(
                f"data: {path} has no 'train' row in its split column (found: {', '.join(splits)})"
            )
    else:
        rows_kept = list(enumerate(rows))
    if originals_only:
        if "variant" not in columns:
            raise InputError(
                f"data: {path} has no 'variant' column to keep the originals of "
                "(adstage dataset build writes one)"
            )
        rows_kept = [(i, row) for i, row in rows_kept if str(row.get("variant")) == "0"]
    names = {
        role: _column(columns, role, path, required=role != "mask")
        for role in ("ad", "product", "mask", "text")
    }
    root = path.parent
    items, failures = [], []
    for i, row in rows_kept:

        def cell(role: str, row: dict[str, Any] = row) -> str:
            name = names[role]
            value = row.get(name) if name is not None else None
            return "" if value is None else str(value).strip()

        files = {role: cell(role) for role in ("ad", "product", "mask")}
        problem = next((f"no {r} path" for r in ("ad", "product") if not files[r]), None)
        resolved = {r: (root / f if f else None) for r, f in files.items()}
        if problem is None:
            missing = [str(p) for p in resolved.values() if p is not None and not p.is_file()]
            problem = f"{', '.join(missing)} does not exist" if missing else None
        if problem is not None:
            failures.append({"path": files["ad"] or str(path), "row": i, "error": problem})
            continue
        ad, product = resolved["ad"], resolved["product"]
        assert ad is not None and product is not None
        items.append(Item(i, ad, product, resolved["mask"], cell("text")))
    return items, failures


def _record_failures(out: Path, failures: Sequence[Mapping[str, Any]], *, append: bool) -> None:
    """Write (or with ``append`` add) ``failures`` to ``OUT/failures.jsonl`` and log them; a
    fresh list without failures removes an earlier run's file."""
    if not failures:
        if not append:
            (out / FAILURES).unlink(missing_ok=True)
        return
    with open(out / FAILURES, "a" if append else "w", encoding="utf-8") as handle:
        for failure in failures:
            handle.write(json.dumps(dict(failure), ensure_ascii=False) + "\n")
    for failure in failures:
        log.warning("%s (row %s): %s, skipped", failure["path"], failure["row"], failure["error"])


@dataclass(frozen=True)
class Loaded:
    """An item at training size: ``ad``/``product`` ``H×W×3`` uint8, ``mask`` ``H×W`` in {0, 1}."""

    ad: RGB
    product: RGB
    mask: NDArray[np.float32]
    text: str


class Reader:
    """Reads items at ``size`` (width, height); masks of rows without one are segmented from
    the product once and cached in ``cache``."""

    def __init__(self, size: tuple[int, int], cache: Path, segmenter: str) -> None:
        self.size, self.cache, self.segmenter = size, cache, segmenter
        self._segment: Any = None

    def _resize(self, image: RGB) -> RGB:
        if image.shape[1::-1] == self.size:
            return image
        return np.asarray(cv2.resize(image, self.size, interpolation=cv2.INTER_AREA), np.uint8)

    def _mask(self, item: Item, product: RGB) -> NDArray[np.float32]:
        w, h = self.size
        if item.mask is not None:
            return read_mask(item.mask, resize_to=(h, w))
        cached = self.cache / f"row-{item.row:07d}-{w}x{h}.png"
        if cached.is_file():
            return read_mask(cached, resize_to=(h, w))
        if self._segment is None:
            self._segment = SEGMENTERS.create(self.segmenter)
        alpha = np.asarray(self._segment(product).alpha, np.float32)
        write_mask(cached, alpha)
        return alpha

    def __call__(self, item: Item) -> Loaded:
        ad, product = self._resize(read_image(item.ad)), self._resize(read_image(item.product))
        mask = (self._mask(item, product) >= 0.5).astype(np.float32)
        return Loaded(ad, product, mask, item.text)


def pixel_batch(images: Sequence[RGB]) -> torch.Tensor:
    """uint8 ``H×W×3`` images → ``[B, 3, H, W]`` float in [-1, 1]."""
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def _to_uint8(x: torch.Tensor) -> list[RGB]:
    """``[B, 3, H, W]`` in [-1, 1] → uint8 ``H×W×3`` images."""
    y = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return list(y.permute(0, 2, 3, 1).cpu().numpy())


# --------------------------------------------------------------------------------------------
# 2. the base: model, text encoder, autoencoder, image encoder


@dataclass
class Base:
    """What a run trains and conditions with. ``fresh``: the model has no pretrained weights.
    ``multiple``: image sides must be multiples of it. ``tiny``: the tiny config (tiny bases)."""

    kind: str
    model: RefAdGen
    text_encoder: Any
    autoencoder: Autoencoder
    image_encoder: CLIPImage | None
    fresh: bool
    default_size: tuple[int, int]
    multiple: int
    tiny: TinyConfig | None = None
    dtype: torch.dtype = torch.float32
    """The frozen components' dtype (their inputs are cast to it)."""


def load_base(config: AdGenConfig, *, device: torch.device, dtype: torch.dtype) -> Base:
    """The model (fp32, on the CPU) and its encoders (frozen SD components in ``dtype`` on
    ``device``) for ``config.base`` (see the module doc, 2)."""
    if config.ip_adapter is not None and (config.base == "tiny" or is_tiny_base(config.base)):
        raise InputError(
            "ip_adapter: a tiny base has no Resampler (no CLIP image encoder) to initialise"
        )
    if config.base == "tiny" and not is_tiny_base("tiny"):  # a folder named tiny: the folder
        tiny = TinyConfig(
            resolution=config.tiny_resolution, block_out_channels=config.tiny_channels
        )
        model, text = build_tiny(tiny, seed=config.seed, mask_channels=int(config.mask_input))
        side = tiny.resolution
        return Base(
            "tiny", model, text, PixelSpace(), None, True, (side, side), tiny.multiple, tiny
        )
    folder = Path(config.base).expanduser()
    if is_tiny_base(folder):
        base = load_tiny_base(folder)
        fresh = not (folder / CONFIG_NAME).is_file()
        model = (
            build_tiny(base.config, seed=config.seed, mask_channels=int(config.mask_input))[0]
            if fresh
            else load_refadgen(folder)
        )
        if model.mask_channels != int(config.mask_input):
            raise InputError(
                f"mask_input: the model in {folder} has {model.mask_channels} mask channels; "
                f"mask_input={config.mask_input} needs {int(config.mask_input)}"
            )
        text = base.text_encoder
        side = base.config.resolution
        return Base(
            "tiny", model, text, base.autoencoder, None, fresh, (side, side),
            base.config.multiple, base.config,
        )  # fmt: skip
    if (folder / "model_index.json").is_file():
        return _load_sd(folder, config, device, dtype)
    raise InputError(
        f"base: expected 'tiny', a tiny base folder (tiny-base.json) or an SD-1.5 diffusers "
        f"folder (model_index.json), got {config.base!r}"
    )


def _load_sd(folder: Path, config: AdGenConfig, device: torch.device, dtype: torch.dtype) -> Base:
    """SD-1.5's frozen components (:func:`adstage.generate.components.load_base`) and its U-Net,
    made into a :class:`RefAdGen` (with a Resampler when there is a CLIP image encoder)."""
    from diffusers import UNet2DConditionModel

    parts = load_components(folder, image_encoder=config.image_encoder, device=device, dtype=dtype)
    try:
        unet = UNet2DConditionModel.from_pretrained(str(folder / "unet"), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise InputError(f"base: {folder}/unet: cannot load the SD-1.5 U-Net ({exc})") from exc
    image_encoder = parts.image_encoder
    resampler = None
    if image_encoder is not None:
        assert isinstance(image_encoder, CLIPImage)
        hidden = int(image_encoder.model.config.hidden_size)
        resampler = ResamplerConfig.for_unet(int(unet.config.cross_attention_dim), hidden)
    else:
        log.info("base: no CLIP image encoder; the Reference U-Net's context is the text")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # the Resampler's initialisation
        model = RefAdGen.from_unet(unet, resampler=resampler, mask_channels=int(config.mask_input))
    if config.ip_adapter is not None:
        load_ip_adapter_resampler(model, config.ip_adapter)
    multiple = parts.autoencoder.downscale * int(2 ** (len(unet.config.block_out_channels) - 1))
    return Base(
        "sd15", model, parts.text_encoder, parts.autoencoder, image_encoder, False, (512, 640),
        multiple,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# 3. the trainable set


def trainable(base: Base, mode: str) -> list[tuple[str, torch.nn.Parameter]]:
    """The parameters to train, named, in optimizer order, with ``requires_grad`` set (all others
    frozen): ``released`` = :meth:`RefAdGen.trainable_parameters`; ``all`` = those, then the rest
    of the Generation U-Net, then the text encoder (when it is a module); ``auto`` = ``all`` for
    a fresh model, else ``released``."""
    if mode == "auto":
        mode = "all" if base.fresh else "released"
    model = base.model
    model.set_trainable()
    named = list(model.trainable_parameters())
    text = base.text_encoder
    if isinstance(text, torch.nn.Module):
        text.requires_grad_(False)
    if mode == "all":
        seen = {id(p) for _, p in named}
        named += [(f"unet.{n}", p) for n, p in model.unet.named_parameters() if id(p) not in seen]
        if isinstance(text, torch.nn.Module):
            named += [(f"text_encoder.{n}", p) for n, p in text.named_parameters()]
        for _, p in named:
            p.requires_grad_(True)
    return named


# --------------------------------------------------------------------------------------------
# 4. one step


class Noise(NamedTuple):
    """The noise of one step: ``noise`` = ``base`` + offset·``offset`` (the training target),
    ``timesteps`` (int64)."""

    noise: torch.Tensor
    timesteps: torch.Tensor
    base: torch.Tensor
    offset: torch.Tensor | None


def draw_noise(
    latents: torch.Tensor,
    *,
    noise_offset: float,
    num_train_timesteps: int = 1000,
    generator: torch.Generator | None = None,
) -> Noise:
    """The release's draws, in its order, from ``generator`` (None: torch's global stream):
    ``randn_like(latents)``, then (only when ``noise_offset`` ≠ 0) ``randn(B, C, 1, 1)``, then
    ``randint(0, num_train_timesteps, (B,))``."""
    b, c = latents.shape[:2]
    kw: dict[str, Any] = {"generator": generator, "device": latents.device}
    base = torch.randn(latents.shape, dtype=latents.dtype, **kw)
    offset = None
    noise = base
    if noise_offset:
        offset = torch.randn((b, c, 1, 1), dtype=latents.dtype, **kw)
        noise = base + noise_offset * offset
    timesteps = torch.randint(0, num_train_timesteps, (b,), **kw).long()
    return Noise(noise, timesteps, base, offset)


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    *,
    latents: torch.Tensor,
    ref_latents: torch.Tensor,
    mask_latent: torch.Tensor,
    text_embeds: torch.Tensor,
    image_embeds: torch.Tensor | None,
    noise: torch.Tensor,
    timesteps: torch.Tensor,
    lr_scheduler: Any = None,
    backward: Callable[[torch.Tensor], None] | None = None,
    record: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """One released training step; returns the loss (detached).

    ``scheduler``: the *training* scheduler (:func:`~adstage.generate.sampling.training_scheduler`),
    whose ``add_noise`` makes the noisy latents; ``model``: a :class:`RefAdGen`, or it wrapped by
    accelerate/DDP and/or :class:`CpuAutocast`, called as released: ``model(text, cat([noisy,
    mask]), ref_latents, image_embeds, t)`` (the latents alone for a model without a mask
    channel). The loss is the float32 mean MSE against ``noise``; then ``backward``
    (default ``loss.backward()``; pass ``accelerator.backward``), ``optimizer.step()``,
    ``lr_scheduler.step()`` and ``optimizer.zero_grad()``. ``record`` receives
    ``noisy_latents``, ``unet_input`` and ``model_pred``. A scheduler whose
    ``config.prediction_type`` is ``v_prediction`` (the tiny configuration's, see
    :data:`~adstage.generate.sampling.PREDICTIONS`) makes the target ``v`` instead of the noise.
    """
    noisy = scheduler.add_noise(latents, noise, timesteps)
    core: object = model
    while isinstance(core, torch.nn.Module) and hasattr(core, "module"):
        core = core.module  # under DDP and/or CpuAutocast: the wrapped RefAdGen
    assert isinstance(core, RefAdGen)
    unet_input = core.model_input(noisy, mask_latent)
    pred = model(text_embeds, unet_input, ref_latents, image_embeds, timesteps)
    if scheduler.config.prediction_type == "v_prediction":
        target = scheduler.get_velocity(latents, noise, timesteps)
    else:
        target = noise
    loss = F.mse_loss(pred.float(), target.float(), reduction="mean")
    if backward is None:
        loss.backward()  # type: ignore[no-untyped-call]
    else:
        backward(loss)
    optimizer.step()
    if lr_scheduler is not None:
        lr_scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    if record is not None:
        record.update(
            noisy_latents=noisy.detach(), unet_input=unet_input.detach(), model_pred=pred.detach()
        )
    return loss.detach()


@dataclass(frozen=True)
class Batch:
    """Model inputs of one batch (everything on the device)."""

    latents: torch.Tensor
    ref_latents: torch.Tensor
    mask_latent: torch.Tensor
    text_embeds: torch.Tensor
    image_embeds: torch.Tensor | None


def dropout(
    n: int, rng: np.random.Generator, config: AdGenConfig
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per item (drop the image, drop the text), drawn as released: one uniform number per item,
    ``< p_image``: image only; ``< p_image + p_text``: text only; ``< … + p_both``: both."""
    u = rng.random(n)
    a, b = config.drop_image, config.drop_image + config.drop_text
    c = b + config.drop_both
    image = (u < a) | ((u >= b) & (u < c))
    text = (u >= a) & (u < c)
    return image, text


def encode_batch(
    base: Base,
    items: Sequence[Loaded],
    drop_image: NDArray[np.bool_],
    drop_text: NDArray[np.bool_],
    device: torch.device,
    *,
    text_grad: bool,
) -> Batch:
    """Pixels → the model's inputs: latents of the ad and the product (the autoencoder; the
    ad first), the mask at latent size (binary, nearest), the text embeddings (``""`` where the
    text is dropped), and the CLIP hidden states of the product (zeroed input where the image is
    dropped) when the model has a Resampler."""
    ad = pixel_batch([it.ad for it in items]).to(device, base.dtype)
    product = pixel_batch([it.product for it in items]).to(device, base.dtype)
    mask = torch.from_numpy(np.stack([it.mask for it in items]))[:, None].to(device)
    with torch.no_grad():
        latents = base.autoencoder.encode(ad).float()
        ref_latents = base.autoencoder.encode(product).float()
        image_embeds = None
        if base.image_encoder is not None:
            keep = torch.from_numpy(~drop_image).to(device).view(-1, 1, 1, 1)
            pixel_values = base.image_encoder.preprocess((product.float() + 1) / 2) * keep
            image_embeds = base.image_encoder.embed(pixel_values).float()
    prompts = ["" if d else it.text for it, d in zip(items, drop_text, strict=True)]
    with torch.set_grad_enabled(text_grad):
        text_embeds = base.text_encoder(prompts).float()
    return Batch(
        latents=latents,
        ref_latents=ref_latents,
        mask_latent=mask_to_latent(mask, (int(latents.shape[-2]), int(latents.shape[-1]))),
        text_embeds=text_embeds,
        image_embeds=image_embeds,
    )


# --------------------------------------------------------------------------------------------
# 5. the loop


def read_checkpoint(path: str | Path, *, device: str = "cpu") -> dict[str, Any]:
    """The raw training checkpoint dict of ``path`` (a file, or a run folder → its latest)."""
    return _read_checkpoint(
        path,
        kind="a RefAdGen training",
        keys=("model", "optimizer", "config"),
        hint=" (train one with adstage train adgen)",
        device=device,
    )


class Order:
    """Which rows each step trains on: epoch ``e`` is a permutation of the rows seeded by
    ``(seed, e)``, cut into global batches (the last one filled from the epoch's start). Steps
    map to rows without any state, so a resumed run takes the same batches."""

    def __init__(self, n: int, global_batch: int, seed: int) -> None:
        self.n, self.global_batch, self.seed = n, global_batch, seed
        self.steps_per_epoch = math.ceil(n / global_batch)
        self._epoch, self._perm = -1, np.arange(n)

    def __call__(self, step: int) -> NDArray[np.intp]:
        epoch, k = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        positions = np.arange(k * self.global_batch, (k + 1) * self.global_batch) % self.n
        return self._perm[positions]


def total_steps(config: AdGenConfig, n_items: int, global_batch: int) -> int:
    if config.steps:
        return config.steps
    epochs = config.epochs or RECIPES[config.recipe].epochs
    return epochs * math.ceil(n_items / global_batch)


def train_adgen(
    config: AdGenConfig,
    *,
    resume: bool = True,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> AdGenResult:
    """Train (by default continuing from ``config.out``'s latest checkpoint) RefAdGen until its
    step count; see the module doc. ``config.threads`` sets torch's CPU threads for the run."""
    with torch_threads(config.threads):
        return _train(config, resume=resume, on_log=on_log)


def _train(
    config: AdGenConfig,
    *,
    resume: bool,
    on_log: Callable[[dict[str, Any]], None] | None,
) -> AdGenResult:
    from diffusers.optimization import get_scheduler

    Accelerator = importlib.import_module("accelerate").Accelerator  # untyped: Any
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    state = resume_state(
        config, resume=resume, read=read_checkpoint, architecture=ARCHITECTURE, log=log
    )
    if state is not None:
        for key in ("mixed_precision", "channels_last"):  # speed settings: allowed, but said
            saved = state["config"].get(key, AdGenConfig.__dataclass_fields__[key].default)
            if saved != getattr(config, key):
                log.warning(
                    "resume: %s was %r until step %d, %r from here on", key, saved,
                    int(state.get("step", 0)), getattr(config, key),
                )  # fmt: skip
    cpu_bf16 = config.mixed_precision == "bf16" and config.device == "cpu"
    # accelerate's state is one per process and refuses another precision once set, so on a
    # CPU bf16 is our own autocast (CpuAutocast) and accelerate runs in float32
    accelerator = Accelerator(
        mixed_precision="no" if cpu_bf16 else config.mixed_precision,
        cpu=config.device == "cpu",
    )
    device = accelerator.device
    main = accelerator.is_main_process

    # 1. the manifest
    items, failures = read_manifest(config.data, originals_only=config.originals_only)
    if main:
        _record_failures(out, failures, append=False)
    if not items:
        raise InputError(
            f"data: none of the {len(failures)} rows of {config.data} is usable "
            f"(see {out / FAILURES})"
        )

    # 2. the base
    weight_dtype = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[
        config.mixed_precision
    ]
    base = load_base(config, device=device, dtype=weight_dtype)
    # the frozen SD encoders run in the mixed-precision dtype, as released; a tiny base has
    # none (pixels in, pixels out), so its inputs stay float32 and only the autocast around
    # the model's forward computes in bf16/fp16
    base.dtype = torch.float32 if base.kind == "tiny" else weight_dtype
    base.model.to(device)
    if isinstance(base.text_encoder, TinyTextEncoder):
        base.text_encoder.to(device)
    width, height = config.size or base.default_size
    if width % base.multiple or height % base.multiple:
        raise InputError(
            f"size: {width}x{height} for this base must have sides divisible by {base.multiple}"
        )
    reader = Reader((width, height), out / "masks", config.segmenter)

    # 3. the trainable set, the optimiser
    named = trainable(base, config.trainable)
    text_trained = any(n.startswith("text_encoder.") for n, _ in named)
    model = base.model
    if config.gradient_checkpointing:
        model.unet.enable_gradient_checkpointing()
        model.ref_unet.enable_gradient_checkpointing()
    if config.channels_last:  # NHWC: oneDNN's faster convolution layout on a CPU
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.AdamW(
        [p for _, p in named],
        lr=config.lr,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=config.weight_decay,
    )
    parts: dict[str, Stateful] = {"model": model, "optimizer": optimizer}
    if text_trained:
        parts["text_encoder"] = base.text_encoder
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)  # noise, timesteps, VAE samples (a resumed run restores it)
    step, seconds = 0, 0.0
    if state is not None:
        step, seconds = restore(state, parts, rng, log)
    global_batch = config.batch_size * accelerator.num_processes
    total = total_steps(config, len(items), global_batch)
    schedule, warmup = config.schedule
    lr_scheduler = get_scheduler(
        schedule,
        optimizer,
        num_warmup_steps=warmup,
        num_training_steps=total,
        last_epoch=step - 1,  # a resumed run's schedule continues where it stopped
    )
    wrapped, optimizer, lr_scheduler = accelerator.prepare(model, optimizer, lr_scheduler)
    if cpu_bf16:
        wrapped = CpuAutocast(wrapped)
    noise_scheduler = training_scheduler(_prediction(config, base))
    log.info(
        "adgen: %d rows (%d failed), base %s (%s), %dx%d, %d steps (%d per epoch), %d trainable "
        "tensors (%s values), %s LR with %d warm-up steps",
        len(items), len(failures), config.base, base.kind, width, height, total,
        math.ceil(len(items) / global_batch), len(named),
        f"{sum(p.numel() for _, p in named):,}", schedule, warmup,
    )  # fmt: skip
    if main:
        write_config(out, config)

    # 4. the step
    order = Order(len(items), global_batch, config.seed)
    bad: set[int] = set()
    load = _Loader(items, reader, bad, out if main else None)

    def one_step(n: int) -> torch.Tensor:
        idx = order(n)[accelerator.process_index :: accelerator.num_processes]
        loaded = load(idx)
        drop_image, drop_text = dropout(len(loaded), rng, config)
        batch = encode_batch(base, loaded, drop_image, drop_text, device, text_grad=text_trained)
        drawn = draw_noise(batch.latents, noise_offset=config.noise_offset)
        return train_step(
            wrapped,
            optimizer,
            noise_scheduler,
            latents=batch.latents,
            ref_latents=batch.ref_latents,
            mask_latent=batch.mask_latent,
            text_embeds=batch.text_embeds,
            image_embeds=batch.image_embeds,
            noise=drawn.noise,
            timesteps=drawn.timesteps,
            lr_scheduler=lr_scheduler,
            backward=accelerator.backward,
        )

    # 5. the loop, checkpoints, samples, the final model
    grid_items = load.first(4)

    def checkpoint() -> Path:
        path = save_checkpoint(
            out,
            step=step,
            seconds=seconds,
            config=config,
            parts=parts,
            rng=rng,
            keep=config.keep,
        )
        write_image(
            out / "samples" / f"step-{step:07d}.png", _sample_grid(base, grid_items, config)
        )
        return path

    model.train()
    if isinstance(base.text_encoder, torch.nn.Module):
        base.text_encoder.train(text_trained)
    path = latest_checkpoint(out) if state is not None else None
    progress = Progress(total, config.log_every, log, on_log)
    while step < total:
        started = time.perf_counter()
        loss = one_step(step)
        step += 1
        seconds += time.perf_counter() - started
        progress.step(step, {"loss": loss})
        if main and (step % config.every == 0 or step == total):
            path = checkpoint()
    if main and path is None:  # resumed at or past the target: nothing new trained
        path = checkpoint()
    accelerator.wait_for_everyone()
    final = out / FINAL
    if main:
        _save_final(base, final, config, step)
    return AdGenResult(
        out=out,
        step=step,
        seconds=seconds,
        checkpoint=path or out,
        n_train=len(items) - len(bad),
        n_held_out=0,
        final=final,
        failures=len(failures) + len(bad),
    )


class CpuAutocast(torch.nn.Module):
    """``module``'s forward under bf16 autocast on a CPU, its output back in float32 (what
    accelerate does on a GPU); :func:`train_step` finds the model as ``.module``, as under DDP."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out: torch.Tensor = self.module(*args, **kwargs)
        return out.float()


class _Loader:
    """Loads the rows ``idx``; a row that fails to load is recorded (``OUT/failures.jsonl``),
    never tried again, and replaced by the next loadable row of the manifest."""

    def __init__(self, items: Sequence[Item], read: Reader, bad: set[int], out: Path | None):
        self.items, self.read, self.bad, self.out = items, read, bad, out

    def _one(self, i: int) -> Loaded | None:
        if i in self.bad:
            return None
        item = self.items[i]
        try:
            return self.read(item)
        except (AdstageError, OSError, ValueError, cv2.error) as exc:
            self.bad.add(i)
            if self.out is not None:
                failure = {"path": str(item.ad), "row": item.row, "error": str(exc)}
                _record_failures(self.out, [failure], append=True)
            return None

    def __call__(self, idx: NDArray[np.intp]) -> list[Loaded]:
        out = []
        for i in idx:
            for k in range(len(self.items)):
                loaded = self._one((int(i) + k) % len(self.items))
                if loaded is not None:
                    out.append(loaded)
                    break
            else:
                raise InputError("data: no row of the manifest could be read")
        return out

    def first(self, n: int) -> list[Loaded]:
        """Up to ``n`` loadable rows from the start (the sample grid's)."""
        out: list[Loaded] = []
        for i in range(len(self.items)):
            loaded = self._one(i)
            if loaded is not None:
                out.append(loaded)
            if len(out) == n:
                break
        return out


def _sample_grid(base: Base, items: Sequence[Loaded], config: AdGenConfig) -> RGB:
    """Rows ad | product | mask | sample for ``items``: DDIM sampling (``sample_steps``, guidance
    ``guidance``) from noise seeded by ``config.seed``. torch's global random state is left as
    it was (a resumed run must draw what a straight one draws)."""
    model = base.model
    device = model.unet.conv_in.weight.device
    was_training = model.training
    model.eval()
    text = base.text_encoder
    text_training = isinstance(text, torch.nn.Module) and text.training
    if isinstance(text, torch.nn.Module):
        text.eval()
    devices = [] if device.type != "cuda" else [device]
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        n = len(items)
        batch = encode_batch(
            base, items, np.zeros(n, bool), np.zeros(n, bool), device, text_grad=False
        )
        uncond = text([""] * n)
        if base.image_encoder is not None and model.proj is not None:
            zero = base.image_encoder.unconditional(n).float()
            reference = (model.proj(zero), model.proj(batch.image_embeds))
        else:
            reference = (uncond, batch.text_embeds)
        generator = torch.Generator(device=device).manual_seed(config.seed)
        noise = torch.randn(batch.latents.shape, generator=generator, device=device)
        latents = sample(
            model,
            latents=noise,
            mask=batch.mask_latent,
            ref_latents=batch.ref_latents,
            text=(uncond, batch.text_embeds),
            reference_context=reference,
            steps=config.sample_steps,
            guidance=config.guidance,
            scheduler=inference_scheduler(_scheduler_name(base), _prediction(config, base)),
        )
        images = _to_uint8(base.autoencoder.decode(latents))
    model.train(was_training)
    if isinstance(text, torch.nn.Module):
        text.train(text_training)
    rows = [
        np.hstack(
            [it.ad, it.product, np.repeat((it.mask * 255).astype(np.uint8)[..., None], 3, 2), im]
        )
        for it, im in zip(items, images, strict=True)
    ]
    return np.vstack(rows)


def _scheduler_name(base: Base) -> str:
    """The inference scheduler for ``base``'s model (:data:`~adstage.generate.sampling.SCHEDULERS`):
    ``training`` for a tiny model (trained from scratch on the training scheduler's betas),
    ``release`` for an SD-1.5 base."""
    return "training" if base.tiny is not None else "release"


def _prediction(config: AdGenConfig, base: Base) -> str:
    """What the model learns to predict: ``config.prediction``, or for ``auto``
    ``v_prediction`` for a tiny model (trained from scratch on the zero-terminal-SNR training
    betas) and ``epsilon`` (as released) for an SD-1.5 base."""
    if config.prediction != "auto":
        return config.prediction
    return "v_prediction" if base.tiny is not None else "epsilon"


def _save_final(base: Base, folder: Path, config: AdGenConfig, step: int) -> None:
    """``folder``: the model (:func:`save_refadgen`) and, for a tiny base, the tiny base files."""
    extra: dict[str, Any] = {
        "trained": {"step": step, "recipe": config.recipe, "data": config.data},
        "base": config.base,
        "base_kind": base.kind,
        "inference_scheduler": _scheduler_name(base),
        "prediction_type": _prediction(config, base),
    }
    save_refadgen(base.model, folder, extra=extra)
    if base.tiny is not None:
        text = base.text_encoder
        assert isinstance(text, TinyTextEncoder)
        save_tiny_base(folder, base.tiny, text)
    log.info("final model: %s", folder)
