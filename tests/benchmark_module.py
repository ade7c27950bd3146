"""Load a script of ``benchmarks/`` as a module for a test (the folder is not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_benchmark(monkeypatch: pytest.MonkeyPatch, name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported as ``name``, with ``benchmarks/`` on the path (for its
    ``_common``) and in ``sys.modules`` while the test runs (dataclasses look their module up)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module
