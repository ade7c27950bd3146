"""What a run was: resolved config, package versions, weight hashes, written beside its outputs."""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from adstage._version import __version__
from adstage.io.atomic import atomic_write_text
from adstage.weights import status

_PACKAGES = ("numpy", "opencv-python-headless", "pillow", "onnxruntime", "torch", "pymatting")


def versions() -> dict[str, str]:
    """Versions of adstage, Python and the packages that change numbers."""
    found = {"adstage": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def weight_hashes() -> dict[str, str]:
    """sha256 of every installed weight file (from the manifest: no file is hashed here)."""
    return {row["name"]: row["sha256"] for row in status() if row["present"]}


def write_run_record(
    out_dir: Path,
    *,
    command: str,
    config: dict[str, Any],
    summary: dict[str, Any] | None = None,
) -> Path:
    """Write ``adstage-run.json`` into ``out_dir`` (created if needed) and return its path.

    A batch writes it when it starts and again with ``summary`` (its counts) when it ends, so a
    killed run still says what it was.
    """
    record: dict[str, Any] = {
        "command": command,
        "argv": sys.argv,
        "config": config,
        "versions": versions(),
        "weights": weight_hashes(),
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if summary is not None:
        record["summary"] = summary
    out_dir.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(
        out_dir / "adstage-run.json", json.dumps(record, indent=2, default=str)
    )
