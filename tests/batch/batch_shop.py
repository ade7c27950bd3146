"""The batch tests' shop: a small synthetic catalog and product list (classical embedder, no
weights), fast staging options and the check every finished output folder must pass."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import cv2

from adstage.batch import read_manifest
from adstage.datasets.synthetic import SyntheticCatalog, write_catalog
from adstage.io.images import write_image, write_mask
from adstage.retrieve.ingest import ingest, open_or_create, sources_from_csv

N_SCENES = 8
N_PRODUCTS = 6
SIZE = (160, 160)


def build_catalog(root: Path, n: int = N_SCENES) -> Path:
    """``root/catalog``: ``n`` synthetic staged rooms (seed 7) with their masks as slots."""
    scenes = SyntheticCatalog(n, seed=7, size=SIZE, staged_fraction=1.0)
    write_catalog(scenes, root / "scenes")
    store = open_or_create(root / "catalog", embedders=["classical"])
    ingest(store, sources_from_csv(root / "scenes" / "labels.csv")[0])
    return root / "catalog"


def write_products(root: Path, n: int = N_PRODUCTS, *, seed: int = 8) -> Path:
    """``root/products/<id>.png``, their masks in ``root/masks`` and ``root/products.csv``
    (``id,path,mask,category``); returns the CSV."""
    products = SyntheticCatalog(n, seed=seed, size=SIZE, staged_fraction=0.0)
    rows = []
    for item in products:
        write_image(root / "products" / f"{item.id}.png", item.image)
        write_mask(root / "masks" / f"{item.id}.png", item.mask)
        rows.append(
            {
                "id": item.id,
                "path": f"products/{item.id}.png",
                "mask": f"masks/{item.id}.png",
                "category": item.category,
            }
        )
    table = root / "products.csv"
    with open(table, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "path", "mask", "category"])
        writer.writeheader()
        writer.writerows(rows)
    return table


FAST = {"k": 1, "inpainter": "telea", "shadow": 0.0, "light": 0.0, "edges": "unmix"}
"""Staging options that keep each product to a few tens of milliseconds."""


def done_rows(out: Path) -> dict[str, dict]:
    return {row["input"]: row for row in read_manifest(out) if row["status"] == "done"}


def check_outputs(out: Path) -> list[dict]:
    """Every done row's files exist, match their sha256 and decode; no folder is left over."""
    rows = list(read_manifest(out))
    done = [row for row in rows if row["status"] == "done"]
    folders = {row["output"] for row in done}
    assert len(folders) == len(done), "two rows share an output folder"
    for row in done:
        folder = out / row["output"]
        assert sorted(p.name for p in folder.iterdir()) == sorted(row["files"])
        for name, digest in row["files"].items():
            data = (folder / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest, f"{folder / name} changed"
            if name.endswith(".png"):
                assert cv2.imread(str(folder / name), cv2.IMREAD_UNCHANGED) is not None
        manifest = json.loads((folder / "manifest.json").read_text())
        assert len(manifest["candidates"]) == row["result"]["candidates"]
    on_disk = {str(p.relative_to(out)) for p in out.glob("items/*/*")}
    assert on_disk == folders, f"folders without a manifest row: {on_disk - folders}"
    assert not (out / ".batch-tmp").exists() or not any((out / ".batch-tmp").iterdir())
    return rows
