"""The import rules of docs/architecture.md, checked on every import in src/adstage.

Each top-level package (or root module) of ``adstage`` has a layer. A module may import its own
package and anything on a *lower* layer, never a higher one nor another package on its own
layer: so there are no package cycles, stores know nothing of models, and a stage talks to
another only through the layers below both. Imports inside functions count like any other.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "adstage"

# Lowest first. Keep in step with the table in docs/architecture.md.
LAYERS: dict[str, int] = {
    "errors": 0,
    "_version": 0,
    "types": 1,
    "registry": 1,
    "_torch": 1,
    "_deprecation": 1,
    "io": 2,
    "weights": 3,
    "provenance": 4,
    "catalog": 5,
    "composite": 5,
    "models": 6,
    "segment": 7,
    "inpaint": 7,
    "retrieve": 8,
    "datasets": 8,
    "stage": 9,
    "animate": 9,
    "generate": 9,
    "evaluate": 9,
    "train": 10,
    "batch": 11,
    "demo": 11,
    "serve": 12,
    "cli": 13,
    "__init__": 14,
    "__main__": 14,
    # Deprecated alias of a moved module, kept for one release: it re-exports only.
    "triage": 13,
}

# Optional heavy frameworks and where they may be imported.
ONLY_IN: dict[str, set[str]] = {
    "diffusers": {"generate", "train"},
    "transformers": {"generate", "train", "evaluate"},
    "accelerate": {"generate", "train"},
    "ray": {"batch"},
    "fastapi": {"serve"},
}


def _unit(module: str) -> str:
    """``adstage.segment.auto`` → ``segment``; ``adstage`` → ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "adstage":  # from adstage import x: x may be a module
                found.extend((node.lineno, f"adstage.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, target))
    return found


def _sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_every_package_has_a_layer() -> None:
    units = {_unit(_module_name(p)) for p in _sources()}
    missing = sorted(units - set(LAYERS))
    assert not missing, f"add these to LAYERS and docs/architecture.md: {missing}"


def _violations() -> list[str]:
    bad: list[str] = []
    for path in _sources():
        source = _unit(_module_name(path))
        rel = path.relative_to(SRC.parent)
        for line, target in _imports(path):
            top = target.split(".")[0]
            if top in ONLY_IN and source not in ONLY_IN[top]:
                bad.append(f"{rel}:{line} imports {target} (only {sorted(ONLY_IN[top])} may)")
            if top != "adstage":
                continue
            dest = _unit(target)
            if dest == source or dest not in LAYERS:
                continue
            if LAYERS[dest] >= LAYERS[source]:
                bad.append(
                    f"{rel}:{line} imports {target}: {source} (layer {LAYERS[source]}) may not "
                    f"import {dest} (layer {LAYERS[dest]})"
                )
    return bad


def test_imports_follow_the_layers() -> None:
    bad = _violations()
    assert not bad, "imports against docs/architecture.md:\n" + "\n".join(bad)


def test_the_rule_catches_an_upward_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker itself can fail: a catalog module importing a model is reported."""
    fake = tmp_path / "adstage"
    (fake / "catalog").mkdir(parents=True)
    (fake / "catalog" / "__init__.py").write_text("")
    (fake / "catalog" / "bad.py").write_text(
        "def f():\n    from adstage.models.u2net import U2Net\n    from ..segment import auto\n"
    )
    monkeypatch.setattr(__import__(__name__), "SRC", fake)
    bad = _violations()
    assert len(bad) == 2 and "catalog (layer 5) may not import models" in bad[0]
    assert "may not import segment" in bad[1]


def test_architecture_page_lists_every_layer() -> None:
    page = (SRC.parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    for unit in LAYERS:
        if unit.startswith("__"):
            continue
        assert re.search(rf"(?<![\w.]){unit}(?!\w)", page), f"docs/architecture.md lacks {unit}"


# Imports inside functions hide the graph; they are for heavy optional dependencies only (and
# in cli/, where every command imports what it runs so that `adstage --help` stays fast).
HEAVY = {
    "torch",
    "onnx",
    "onnxruntime",
    "lancedb",
    "pyarrow",
    "pymatting",
    "imageio_ffmpeg",
    "skimage",
    "matplotlib",
    "patchmatch",
    "efficientnet_lite_pytorch",
    "diffusers",
    "transformers",
    "accelerate",
    "safetensors",
    "ray",
    "fastapi",
    "uvicorn",
}


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def _module_path(module: str) -> Path | None:
    base = SRC.parent.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _is_heavy(module: str) -> bool:
    top = module.split(".")[0]
    if top in HEAVY:
        return True
    if top != "adstage":
        return False
    path = _module_path(module)
    return path is not None and bool(_top_level_imports(path) & HEAVY)


def _function_level_imports() -> list[str]:
    found: list[str] = []
    for path in _sources():
        if _unit(_module_name(path)) == "cli":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom) or id(node) in top:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module]
                if node.module == "adstage":
                    targets = [f"adstage.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            if node.col_offset == 0 or all(_is_heavy(t) for t in targets):
                continue
            found.append(f"{path.relative_to(SRC.parent)}:{node.lineno} {', '.join(targets)}")
    return found


def test_imports_inside_functions_are_for_heavy_dependencies_only() -> None:
    found = _function_level_imports()
    assert not found, "move these imports to the top of their module:\n" + "\n".join(found)
