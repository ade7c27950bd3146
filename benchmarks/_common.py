"""What every benchmark shares: where the licensed development data lives, and a clean skip when
it is not on the machine (benchmarks are scripts: ``python benchmarks/NAME.py``)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parent.parent / "shared" / "data"
"""``../shared/data`` beside the checkout: non-commercial photos, never copied into the repo."""


def data_missing(path: Path) -> bool:
    """Print the skip line and return True when ``path`` (a data folder) is absent."""
    if path.is_dir():
        return False
    print(f"skipped: {path} not found (the licensed development data is not on this machine)")
    return True
