"""RefAdGen checkpoints: adstage's own format, the released DeepSpeed file, and conversion.

Two formats hold the same weights (Chen & Yang, "RefAdGen", code github yunsoft2019/RefAdgen;
``../shared/REFERENCES.md`` §2):

- **adstage** (:data:`FORMAT`): a folder with ``refadgen.safetensors`` (the state dict without the
  ``adapter_modules.*`` duplicates: safetensors refuses shared tensors, and the duplicates come
  back on load because the fusion modules are shared) and ``refadgen.json`` (format, the model's
  :class:`~adstage.generate.refadgen.ModelInfo`, fusion scale, dtype, and the caller's extras).
  Self-describing: it loads without any config.
- **release**: the DeepSpeed ``mp_rank_00_model_states.pt`` the public code writes, whose
  ``["module"]`` is the whole model's state dict (fp16 as released), fusion weights included twice.
  It records no config: the U-Net is SD-1.5's (:data:`SD15_UNET_CONFIG`) unless told otherwise,
  and the Resampler's shape is read off the ``proj.*`` tensors (:func:`infer_resampler`).

Loading builds the model on the meta device (no memory, no random init) and assigns the file's
tensors by name with strict checking: a file of another architecture is an
:class:`~adstage.errors.InputError` naming the file, the expected architecture and the
missing / unexpected / wrong-shape keys.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file

from adstage.errors import InputError
from adstage.generate.refadgen import RefAdGen, build
from adstage.io.atomic import atomic_open, atomic_path, atomic_write_text

log = logging.getLogger(__name__)

FORMAT = "adstage-refadgen/1"
"""The ``format`` field of ``refadgen.json``."""
WEIGHTS_NAME = "refadgen.safetensors"
CONFIG_NAME = "refadgen.json"
RELEASE_NAME = "mp_rank_00_model_states.pt"
"""The file DeepSpeed writes per checkpoint (``checkpoint-<step>/…/mp_rank_00_model_states.pt``)."""

SD15_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "center_input_sample": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "down_block_types": [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ],
    "up_block_types": [
        "UpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
    ],
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
    "act_fn": "silu",
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
}
"""Stable Diffusion 1.5's published ``unet/config.json`` (``UNet2DConditionModel``, diffusers
keys; the ``_class_name``/``_diffusers_version`` entries left out): the base of the released
RefAdGen, whose checkpoint records no config."""

Kind = Literal["adstage", "release"]

_RESAMPLER_DIM_HEAD = 64
"""The released Resampler's head width (IP-Adapter-Plus: 12 heads × 64). The weights only show
``heads · dim_head`` (``to_q``'s output size), so the head split is taken from the release."""
_STEP = re.compile(r"(?:checkpoint|step)[-_]?(\d+)", re.IGNORECASE)
_SHOW = 3
"""How many key names an error lists per kind of mismatch."""


# --- where a checkpoint is ------------------------------------------------------------------


def _latest_release(folder: Path) -> Path | None:
    """The DeepSpeed model file under ``folder`` (at any depth) with the highest step in its path
    (``checkpoint-1200``, ``global_step1200``), the newest file on a tie; None when there is none."""
    found = sorted(folder.rglob(RELEASE_NAME))
    if not found:
        return None

    def step(path: Path) -> tuple[int, float]:
        steps = [int(m) for part in path.relative_to(folder).parts for m in _STEP.findall(part)]
        return (max(steps, default=-1), path.stat().st_mtime)

    chosen = max(found, key=step)
    if len(found) > 1:
        log.info(
            "%s holds %d DeepSpeed checkpoints; loading the latest step: %s",
            folder,
            len(found),
            chosen,
        )
    else:
        log.info("loading the DeepSpeed checkpoint %s", chosen)
    return chosen


def locate(path: str | os.PathLike[str]) -> tuple[Kind, Path]:
    """What ``path`` holds and where: ``("adstage", folder)`` for an adstage folder (or its
    ``refadgen.json`` / ``refadgen.safetensors``), ``("release", file)`` for a DeepSpeed file (any
    other file, or a folder holding ``mp_rank_00_model_states.pt`` at any depth: the highest step)."""
    p = Path(path).expanduser()
    if p.is_dir():
        if (p / CONFIG_NAME).is_file():
            return "adstage", p
        release = _latest_release(p)
        if release is None:
            raise InputError(
                f"checkpoint: {p} holds neither an adstage RefAdGen ({CONFIG_NAME}) nor a "
                f"released DeepSpeed checkpoint ({RELEASE_NAME})"
            )
        return "release", release
    if not p.is_file():
        raise InputError(f"checkpoint: {p} does not exist")
    if p.name in (CONFIG_NAME, WEIGHTS_NAME):
        return "adstage", p.parent
    return "release", p


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``refadgen.json`` of an adstage checkpoint (what the trainer recorded: the model's
    config, ``trained``, ``inference_scheduler`` …); ``{}`` for a released DeepSpeed file."""
    kind, where = locate(path)
    return _read_meta(where) if kind == "adstage" else {}


def checkpoint_kind(path: str | os.PathLike[str]) -> Kind:
    """``"adstage"`` or ``"release"``: the format of the checkpoint at ``path`` (see :func:`locate`)."""
    return locate(path)[0]


# --- architecture -----------------------------------------------------------------------------


def infer_resampler(state_dict: Mapping[str, torch.Tensor]) -> dict[str, int] | None:
    """The Resampler config of a released state dict, read off its ``proj.*`` shapes; None when
    it has no ``proj.*`` keys (a model without Resampler: the text fallback).

    ``num_queries`` and ``dim`` from ``proj.latents`` [1, Q, dim]; ``embedding_dim`` from
    ``proj.proj_in.weight`` [dim, E]; ``output_dim`` from ``proj.proj_out.weight`` [out, dim];
    ``depth`` from the number of ``proj.layers.<i>``; ``ff_mult`` from the first feed-forward
    linear ``proj.layers.0.1.1.weight`` [dim·mult, dim]; ``heads`` = ``to_q``'s output size / 64
    and ``dim_head`` = 64, as released (the weights fix only their product)."""
    proj = {k.removeprefix("proj."): v for k, v in state_dict.items() if k.startswith("proj.")}
    if not proj:
        return None
    needed = (
        "latents",
        "proj_in.weight",
        "proj_out.weight",
        "layers.0.0.to_q.weight",
        "layers.0.1.1.weight",
    )
    absent = [f"proj.{k}" for k in needed if k not in proj]
    bad = [f"proj.{k}" for k in needed if k in proj and proj[k].ndim not in (2, 3)]
    if absent or bad:
        problems = [f"{k} missing" for k in absent] + [f"{k} has an odd shape" for k in bad]
        raise InputError(
            "the Resampler (proj.*) is not the released IP-Adapter-Plus one: " + ", ".join(problems)
        )
    _, queries, dim = proj["latents"].shape
    inner = proj["layers.0.0.to_q.weight"].shape[0]
    depth = len({int(m.group(1)) for k in proj if (m := re.match(r"layers\.(\d+)\.", k))})
    return {
        "dim": int(dim),
        "depth": depth,
        "dim_head": _RESAMPLER_DIM_HEAD,
        "heads": max(1, int(inner) // _RESAMPLER_DIM_HEAD),
        "num_queries": int(queries),
        "embedding_dim": int(proj["proj_in.weight"].shape[1]),
        "output_dim": int(proj["proj_out.weight"].shape[0]),
        "ff_mult": max(1, int(proj["layers.0.1.1.weight"].shape[0]) // int(dim)),
    }


def _describe(unet_config: Mapping[str, Any], resampler: Mapping[str, Any] | None) -> str:
    unet = (
        f"U-Net blocks {tuple(unet_config.get('block_out_channels', ()))}, "
        f"{unet_config.get('layers_per_block', '?')} layers per block, "
        f"cross-attention {unet_config.get('cross_attention_dim', '?')}"
    )
    if resampler is None:
        return f"{unet}, no Resampler (text context)"
    r = resampler
    return (
        f"{unet}, Resampler {r['embedding_dim']}→{r['dim']}→{r['output_dim']}, "
        f"{r['num_queries']} queries, depth {r['depth']}"
    )


def _build_empty(
    unet_config: Mapping[str, Any], resampler: Mapping[str, Any] | None, mask_channels: int = 1
) -> RefAdGen:
    """The model's structure on the meta device: no memory, no random initialisation."""
    try:
        with torch.device("meta"):
            shape = None if resampler is None else dict(resampler)
            return build(dict(unet_config), shape, mask_channels=mask_channels)
    except (TypeError, ValueError, KeyError) as exc:
        raise InputError(
            f"unet_config/resampler: not a RefAdGen architecture diffusers can build ({exc})"
        ) from exc


def _aliases(model: RefAdGen) -> dict[str, str]:
    """``adapter_modules.<i>.<param>`` → the same tensor's ``unet.<…>.processor.<param>`` name."""
    where = {id(module): name for name, module in model.unet.named_modules()}
    out: dict[str, str] = {}
    for i, module in enumerate(model.adapter_modules):
        for name in module.state_dict():
            out[f"adapter_modules.{i}.{name}"] = f"unet.{where[id(module)]}.{name}"
    return out


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW])
    return shown + (", …" if len(keys) > _SHOW else "")


def _mismatch(expected: Mapping[str, torch.Tensor], given: Mapping[str, Any]) -> str | None:
    """One line summarising how ``given`` differs from ``expected`` (keys and shapes), or None."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    not_tensor = [k for k in given if k in expected and not isinstance(given[k], torch.Tensor)]
    wrong = [
        k
        for k in expected
        if k in given
        and isinstance(given[k], torch.Tensor)
        and tuple(given[k].shape) != tuple(expected[k].shape)
    ]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys ({_names(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys ({_names(unexpected)})")
    if wrong:
        shown = "; ".join(
            f"{k} is {list(given[k].shape)}, expected {list(expected[k].shape)}"
            for k in wrong[:_SHOW]
        )
        parts.append(
            f"{len(wrong)} keys of another shape ({shown}{'; …' if len(wrong) > _SHOW else ''})"
        )
    if not_tensor:
        parts.append(f"{len(not_tensor)} entries that are not tensors ({_names(not_tensor)})")
    return ", ".join(parts) if parts else None


def _assign(
    model: RefAdGen,
    state_dict: dict[str, Any],
    *,
    source: Path,
    what: str,
    hint: str,
    with_aliases: bool,
    device: str | torch.device,
    dtype: torch.dtype | None,
) -> RefAdGen:
    """Check ``state_dict`` against the (meta) model strictly by name and shape, then assign its
    tensors, cast to ``dtype`` (None: as stored) on ``device``. ``with_aliases``: the file holds
    the ``adapter_modules.*`` duplicates (release layout; they must equal their twins)."""
    expected = model.state_dict()
    aliases = _aliases(model)
    if not with_aliases:
        expected = {k: v for k, v in expected.items() if k not in aliases}
    problem = _mismatch(expected, state_dict)
    if problem is not None:
        raise InputError(
            f"checkpoint: {source} is not a RefAdGen checkpoint of the expected architecture "
            f"({what}): {problem}{hint}"
        )
    if with_aliases:
        differ = [a for a, b in aliases.items() if not torch.equal(state_dict[a], state_dict[b])]
        if differ:
            raise InputError(
                f"checkpoint: {source}: the two copies of the fusion weights differ "
                f"({len(differ)} pairs, e.g. {differ[0]} and {aliases[differ[0]]}); "
                "the file is damaged"
            )
    if dtype is None:
        dtype = state_dict["unet.conv_in.weight"].dtype
    # copy=True: fresh allocations. A tensor sliced out of a safetensors file is not 64-byte
    # aligned, and oneDNN's kernels round differently on unaligned weights (7e-7 on the tiny
    # U-Net), so outputs after a reload would not be bit-identical without the copy.
    tensors = {
        k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype, copy=True)
        for k, v in state_dict.items()
        if k not in aliases
    }
    for alias, twin in aliases.items():
        tensors[alias] = tensors[twin]  # one tensor under both names, as the modules are shared
    model.load_state_dict(tensors, strict=True, assign=True)
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:  # a structure the state dict does not cover: a bug, not the user's input
        raise RuntimeError(f"RefAdGen: not loaded from the state dict: {_names(left)}")
    return model.eval()


# --- reading ----------------------------------------------------------------------------------


def _read_release(path: Path, *, trust: bool) -> dict[str, Any]:
    """The state dict in a DeepSpeed file (``["module"]``, or a bare state dict)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust:
            raise InputError(
                f"checkpoint: {path}: torch.load refused it as plain tensors (weights_only): it "
                "is not a checkpoint, it is damaged, or it holds other Python objects (DeepSpeed "
                "files can); if you trust where it came from, load it with trust=True "
                "(adstage convert refadgen --trust-checkpoint), which runs the code its pickle "
                "names"
            ) from exc
        obj = _load_trusted(path)
    except Exception as exc:  # a truncated or foreign file: one clear message
        raise InputError(f"checkpoint: {path} is not a torch checkpoint ({_why(exc)})") from exc
    if isinstance(obj, Mapping) and isinstance(obj.get("module"), Mapping):
        return dict(obj["module"])
    if isinstance(obj, Mapping) and "unet.conv_in.weight" in obj:
        return dict(obj)
    raise InputError(
        f"checkpoint: {path} is not a released RefAdGen checkpoint "
        "(no ['module'] state dict with unet.*, ref_unet.* keys)"
    )


def _load_trusted(path: Path) -> Any:
    log.warning("loading %s with weights_only=False (trust=True): its pickle may run code", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise InputError(f"checkpoint: {path} is not a torch checkpoint ({_why(exc)})") from exc


def _read_meta(folder: Path) -> dict[str, Any]:
    """An adstage checkpoint's ``refadgen.json``, checked: readable, this format, a model config."""
    config_path = folder / CONFIG_NAME
    try:
        meta = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"checkpoint: {config_path} is not readable JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise InputError(f"checkpoint: {config_path}: format {found!r}, expected {FORMAT!r}")
    if not isinstance(meta.get("model"), dict) or "unet_config" not in meta["model"]:
        raise InputError(f"checkpoint: {config_path} has no model.unet_config")
    return meta


def _read_adstage(folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    meta = _read_meta(folder)
    if not weights_path.is_file():
        raise InputError(f"checkpoint: {weights_path} does not exist (beside {config_path})")
    try:
        tensors = load_file(weights_path, device="cpu")
    except Exception as exc:  # a truncated or foreign file: one clear message
        raise InputError(
            f"checkpoint: {weights_path} is not a safetensors file ({_why(exc)})"
        ) from exc
    return meta, tensors


def load_refadgen(
    path: str | os.PathLike[str],
    *,
    unet_config: dict[str, Any] | None = None,
    resampler: dict[str, Any] | Literal["infer"] | None = "infer",
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = torch.float32,
    trust: bool = False,
) -> RefAdGen:
    """A :class:`RefAdGen` from a checkpoint, in eval mode.

    ``path``: an adstage folder (or its ``refadgen.json`` / ``refadgen.safetensors``), a released
    DeepSpeed ``mp_rank_00_model_states.pt``, or a folder holding one at any depth (the highest
    ``checkpoint-<step>`` is taken and named in the log). ``unet_config``: the U-Net's diffusers
    config (adstage folder: its JSON's; release: :data:`SD15_UNET_CONFIG`); ``resampler``: a
    Resampler config, None (no Resampler) or ``"infer"`` (adstage: its JSON's; release: read off
    the ``proj.*`` shapes, :func:`infer_resampler`). ``dtype``: the weights' dtype (None: as
    stored; the release is fp16). ``trust``: when ``torch.load(weights_only=True)`` refuses a
    pickle, load it with ``weights_only=False`` (runs code the file names: trusted files only).

    Raises :class:`InputError` for a missing or unreadable file and for a checkpoint of another
    architecture (the message names the missing, unexpected and wrong-shape keys).
    """
    kind, where = locate(path)
    if kind == "adstage":
        meta, state_dict = _read_adstage(where)
        info = meta["model"]
        config = unet_config if unet_config is not None else info["unet_config"]
        shape = info.get("resampler") if resampler == "infer" else resampler
        model = _build_empty(config, shape, int(info.get("mask_channels", 1)))
        source = where / WEIGHTS_NAME
        hint = ""
        scale = meta.get("fusion_scale")
    else:
        state_dict = _read_release(where, trust=trust)
        config = unet_config if unet_config is not None else SD15_UNET_CONFIG
        try:
            shape = infer_resampler(state_dict) if resampler == "infer" else resampler
        except InputError as exc:
            raise InputError(f"checkpoint: {where}: {exc}") from exc
        model = _build_empty(config, shape)
        source = where
        hint = (
            "; the U-Net config is SD-1.5's unless one is given (unet_config=, --unet-config)"
            if unet_config is None
            else ""
        )
        scale = 1.0  # the release's λ
    model = _assign(
        model,
        state_dict,
        source=source,
        what=_describe(config, shape),
        hint=hint,
        with_aliases=kind == "release",
        device=device,
        dtype=dtype,
    )
    if isinstance(scale, int | float) and scale >= 0:  # NaN (mixed scales) keeps the build's
        model.set_fusion_scale(float(scale))
    log.info("loaded RefAdGen (%s) from %s", kind, source)
    return model


# --- writing ----------------------------------------------------------------------------------


def _dtype_name(model: RefAdGen) -> str:
    return str(next(model.parameters()).dtype).removeprefix("torch.")


def save_refadgen(
    model: RefAdGen, folder: str | os.PathLike[str], *, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``folder/refadgen.safetensors`` (the state dict without the ``adapter_modules.*``
    duplicates) and then ``folder/refadgen.json`` (``format``, ``model`` = ``model.info``,
    ``fusion_scale``, ``dtype`` and ``extra``'s entries), each atomically. Returns ``folder``."""
    out = Path(folder).expanduser()
    meta: dict[str, Any] = {
        "format": FORMAT,
        "model": model.info.as_dict(),
        "fusion_scale": None if math.isnan(model.fusion_scale) else model.fusion_scale,
        "dtype": _dtype_name(model),
    }
    clash = sorted(set(extra or {}) & set(meta))
    if clash:
        raise InputError(f"extra: {clash} are refadgen.json's own fields")
    meta.update(extra or {})
    text = json.dumps(meta, indent=2, ensure_ascii=False) + "\n"  # fails before any file is written
    aliases = _aliases(model)
    tensors = {
        k: v.detach().contiguous() for k, v in model.state_dict().items() if k not in aliases
    }
    with atomic_path(out / WEIGHTS_NAME, suffix=".tmp.safetensors") as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", "adstage": FORMAT})
    atomic_write_text(out / CONFIG_NAME, text)  # last: a folder with a JSON is complete
    return out


def save_release(model: RefAdGen, path: str | os.PathLike[str]) -> Path:
    """Write ``{"module": model.state_dict()}`` with ``torch.save`` (atomically): the released
    layout, fusion weights under both names. Returns ``path``."""
    out = Path(path).expanduser()
    with atomic_open(out, "wb") as handle:
        torch.save({"module": model.state_dict()}, handle)
    return out


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    to: Kind,
    unet_config: dict[str, Any] | None = None,
    trust: bool = False,
) -> Path:
    """Re-write the checkpoint ``src`` (either format, see :func:`load_refadgen`) as ``to``:
    ``"adstage"`` → the folder ``dst``; ``"release"`` → the file ``dst`` (or
    ``dst/mp_rank_00_model_states.pt`` when ``dst`` is an existing folder). The weights keep
    their dtype. Returns what was written."""
    if to not in ("adstage", "release"):
        raise InputError(f"to: expected 'adstage' or 'release', got {to!r}")
    model = load_refadgen(src, unet_config=unet_config, dtype=None, trust=trust)
    if to == "adstage":
        return save_refadgen(model, dst, extra={"converted_from": str(Path(src).expanduser())})
    out = Path(dst).expanduser()
    return save_release(model, out / RELEASE_NAME if out.is_dir() else out)


def _why(exc: BaseException) -> str:
    """An exception's type and first line, for an error message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def load_ip_adapter_resampler(model: RefAdGen, path: str | os.PathLike[str]) -> None:
    """Initialise ``model.proj`` from an IP-Adapter-Plus file's ``image_proj`` weights, as the
    release starts training from ``ip-adapter-plus_sd15.bin`` (Ye et al. 2023).

    ``path``: the ``.bin`` (a torch pickle ``{"image_proj": …, "ip_adapter": …}``, read with
    ``weights_only=True``) or the ``.safetensors`` variant (keys ``image_proj.*``). The
    ``ip_adapter`` (cross-attention) weights are not used: RefAdGen has no such layers. A model
    without a Resampler, or weights of another shape, is an :class:`InputError`."""
    p = Path(path).expanduser()
    if model.proj is None:
        raise InputError(
            f"ip_adapter: {p}: this model has no Resampler (it needs a CLIP image encoder)"
        )
    if not p.is_file():
        raise InputError(f"ip_adapter: {p} does not exist")
    try:
        if p.suffix == ".safetensors":
            flat = load_file(p)
            weights = {
                k.removeprefix("image_proj."): v
                for k, v in flat.items()
                if k.startswith("image_proj.")
            }
        else:
            obj = torch.load(p, map_location="cpu", weights_only=True)
            image_proj = obj.get("image_proj") if isinstance(obj, dict) else None
            weights = image_proj if isinstance(image_proj, dict) else {}
    except Exception as exc:  # a truncated or foreign file: one clear message
        raise InputError(f"ip_adapter: {p} is not an IP-Adapter file ({_why(exc)})") from exc
    if not weights:
        raise InputError(f"ip_adapter: {p} holds no image_proj weights")
    expected = model.proj.state_dict()
    problem = _mismatch(expected, weights)
    if problem is not None:
        raise InputError(
            f"ip_adapter: {p} does not fit this model's Resampler ({model.proj.config}): {problem}"
        )
    with torch.no_grad():
        for key, value in expected.items():
            value.copy_(weights[key].to(value))
    log.info("ip_adapter: Resampler initialised from %s", p)
