"""Finding and opening the training checkpoints this project writes (``checkpoint-<step>.pt``).

Shared by the trained models (:mod:`adstage.stage.vanilla`, :mod:`adstage.inpaint.edgeconnect`)
and their training loops. torch is imported only when a file is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from adstage.errors import InputError

CHECKPOINT_GLOB = "checkpoint-*.pt"


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The checkpoint with the highest step in ``folder`` (``checkpoint-<step>.pt``), or None."""
    found = sorted(Path(folder).glob(CHECKPOINT_GLOB))
    return found[-1] if found else None


def resolve_checkpoint(path: str | Path, *, hint: str) -> Path:
    """``path`` itself, or the latest checkpoint of a training folder; ``hint`` ends the error
    for a folder without one (how to train one)."""
    p = Path(path).expanduser()
    if p.is_dir():
        latest = latest_checkpoint(p)
        if latest is None:
            raise InputError(f"checkpoint: {p} holds no {CHECKPOINT_GLOB}{hint}")
        return latest
    if not p.is_file():
        raise InputError(f"checkpoint: {p} does not exist")
    return p


def read_checkpoint(
    path: str | Path,
    *,
    kind: str,
    keys: Iterable[str],
    hint: str,
    device: str = "cpu",
) -> dict[str, Any]:
    """The checkpoint dict at ``path`` (a file, or a training folder → its latest), checked to
    hold ``keys``; ``kind`` names the model in the errors. Adds ``"path"``."""
    import torch

    p = resolve_checkpoint(path, hint=hint)
    try:
        state = torch.load(p, map_location=device, weights_only=False)
    except Exception as exc:  # a truncated or foreign file: one clear message
        raise InputError(f"checkpoint: {p} is not {kind} checkpoint ({exc})") from exc
    keys = list(keys)
    if not isinstance(state, dict) or not set(keys) <= set(state):
        raise InputError(f"checkpoint: {p} is not {kind} checkpoint (no {'/'.join(keys)})")
    state["path"] = str(p)
    return state
