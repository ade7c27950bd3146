"""What a run was: resolved config, package versions, weight hashes, written beside its outputs."""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from adstage import __version__
from adstage.io.atomic import atomic_write_text

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
    from adstage.weights import status

    return {row["name"]: row["sha256"] for row in status() if row["present"]}


def write_run_record(out_dir: Path, *, command: str, config: dict[str, Any]) -> Path:
    """Write ``adstage-run.json`` into ``out_dir`` and return its path."""
    record = {
        "command": command,
        "argv": sys.argv,
        "config": config,
        "versions": versions(),
        "weights": weight_hashes(),
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return atomic_write_text(
        out_dir / "adstage-run.json", json.dumps(record, indent=2, default=str)
    )
