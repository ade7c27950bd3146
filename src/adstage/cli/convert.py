"""``adstage convert``: re-write model checkpoints between formats (RefAdGen: the released
DeepSpeed file ⇄ adstage's safetensors folder)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from adstage.cli._common import AsJson, emit_json, err, one_of

FORMATS = ("adstage", "release")

app = typer.Typer(
    help="Convert model checkpoints between formats (RefAdGen: release ⇄ adstage).",
    no_args_is_help=True,
)


def _usage(message: str) -> typer.Exit:
    err.print(f"error: {message}")
    return typer.Exit(2)


def _read_unet_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _usage(f"--unet-config: {path} is not readable JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise _usage(f"--unet-config: {path} holds no JSON object (a diffusers U-Net config)")
    return config


@app.command("refadgen")
def refadgen(
    src: Annotated[
        Path,
        typer.Argument(
            metavar="IN",
            help="The checkpoint: an adstage folder (refadgen.json + refadgen.safetensors), a "
            "released DeepSpeed mp_rank_00_model_states.pt, or a folder holding one at any "
            "depth (the highest checkpoint-<step> is taken).",
            show_default=False,
        ),
    ],
    dst: Annotated[
        Path,
        typer.Argument(
            metavar="OUT",
            help="Where to write: a folder for --to adstage; a .pt file for --to release (an "
            "existing folder gets OUT/mp_rank_00_model_states.pt).",
            show_default=False,
        ),
    ],
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="adstage|release",
            help="Output format: adstage (safetensors folder) or release (DeepSpeed-style "
            "{'module': state_dict} .pt). Default: the other format than IN's.",
            show_default=False,
        ),
    ] = None,
    unet_config: Annotated[
        Path | None,
        typer.Option(
            "--unet-config",
            help="A diffusers UNet2DConditionModel config.json for a released checkpoint that "
            "is not SD-1.5-based (a release file records no config; default: SD-1.5's). An "
            "adstage folder carries its own.",
            show_default=False,
        ),
    ] = None,
    trust_checkpoint: Annotated[
        bool,
        typer.Option(
            "--trust-checkpoint",
            help="Load a released .pt that plain-tensor loading (torch weights_only) refuses, "
            "as a full pickle: it can run code, so only for files from a source you trust.",
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Convert a RefAdGen checkpoint (Chen & Yang; github yunsoft2019/RefAdgen) between the
    released DeepSpeed layout and adstage's folder (refadgen.safetensors without the duplicated
    fusion weights, refadgen.json with the model's config). Weights keep their dtype (the
    release is fp16). Exit 2 for a missing or unreadable file or a checkpoint of another
    architecture (the message names the keys that differ).
    """
    try:
        from adstage.errors import AdstageError
        from adstage.generate.checkpoints import convert, locate
    except ImportError as exc:
        raise _usage(
            f"convert refadgen needs the generate extra: pip install 'adstage[generate]' ({exc})"
        ) from exc

    if to is not None:
        one_of("--to", FORMATS)(to)
    config = _read_unet_config(unet_config) if unet_config is not None else None
    started = time.perf_counter()
    try:
        kind, where = locate(src)
        target: Literal["adstage", "release"] = (
            "release" if to == "release" or (to is None and kind == "adstage") else "adstage"
        )
        if kind == "adstage" and config is not None:
            err.print(f"warning: --unet-config replaces the config in {where}")
        written = convert(src, dst, to=target, unet_config=config, trust=trust_checkpoint)
    except AdstageError as exc:
        err.print(f"error: {exc}")  # the message names the file
        if as_json:
            emit_json({"path": str(src), "error": str(exc)})
        raise typer.Exit(2) from exc
    seconds = time.perf_counter() - started
    if as_json:
        emit_json(
            {
                "input": str(src),
                "input_format": kind,
                "loaded": str(where),
                "output": str(written),
                "output_format": target,
                "seconds": round(seconds, 2),
            }
        )
    else:
        err.print(f"{where} ({kind}) → {written} ({target}), {seconds:.1f} s")
