"""Small hand-drawn scenes with known masks, so tests need no data and no weights (import: scenes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np


def product_on_white(h: int = 240, w: int = 320, *, fill: tuple[int, int, int] = (40, 90, 160)):
    """A shaded 'vase' (ellipse + neck) on pure white with a faint contact shadow. Returns image, mask."""
    image = np.full((h, w, 3), 255, np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, int(h * 0.6)), (w // 6, h // 4), 0, 0, 360, 1, -1)
    cv2.rectangle(mask, (w // 2 - w // 20, int(h * 0.2)), (w // 2 + w // 20, int(h * 0.4)), 1, -1)
    shadow = np.zeros((h, w), np.float32)
    cv2.ellipse(shadow, (w // 2, int(h * 0.86)), (w // 5, h // 40), 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 3) * 6  # at most ~6 levels darker: a faint shadow
    image = np.clip(image.astype(np.float32) - shadow[..., None], 0, 255).astype(np.uint8)
    xs = np.linspace(0.6, 1.2, w, dtype=np.float32)[None, :, None]
    shaded = np.clip(np.array(fill, np.float32) * xs, 0, 255).astype(np.uint8)
    shaded = np.broadcast_to(shaded, (h, w, 3))
    image[mask > 0] = shaded[mask > 0]
    return image, mask > 0


def white_on_white(h: int = 240, w: int = 320):
    """A white cabinet on white: fill 250–252, a faint outline (248), a door line. Returns image, mask.

    Every product pixel is within 7 levels of the backdrop, below the default colour threshold.
    """
    image = np.full((h, w, 3), 255, np.uint8)
    mask = np.zeros((h, w), bool)
    y0, y1, x0, x1 = 40, 200, 90, 230
    mask[y0:y1, x0:x1] = True
    grad = np.linspace(250, 252, x1 - x0).astype(np.uint8)
    image[y0:y1, x0:x1] = grad[None, :, None]
    cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (248, 248, 248), 1)
    cv2.line(image, ((x0 + x1) // 2, y0), ((x0 + x1) // 2, y1 - 1), (248, 248, 248), 1)
    return image, mask


def staged_scene(h: int = 240, w: int = 320, seed: int = 0):
    """A 'room': textured wall and floor, a product in front. Returns image, mask."""
    rng = np.random.default_rng(seed)
    image = np.empty((h, w, 3), np.uint8)
    image[: h * 2 // 3] = (200, 180, 150)
    image[h * 2 // 3 :] = (120, 80, 50)
    noise = rng.normal(0, 12, (h, w, 1))
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    cv2.rectangle(image, (20, 20), (90, 100), (60, 120, 200), -1)  # a picture frame
    mask = np.zeros((h, w), bool)
    mask[120:200, 130:230] = True
    image[mask] = (30, 30, 35)
    return image, mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / max(float((a | b).sum()), 1.0)


def write_labelled_photos(
    root, n: int = 4, *, size: tuple[int, int] = (32, 32), masks: bool = True
):
    """``n`` synthetic staged photos (``SyntheticCatalog``, seed 0) under ``root/images``, their
    product masks under ``root/masks`` (unless ``masks=False``) and a ``labels.csv`` with
    ``path,mask_path``: the folder layout the trainers read. Returns ``root``."""
    import csv

    from adstage.datasets.synthetic import SyntheticCatalog
    from adstage.io.images import write_image, write_mask

    cat = SyntheticCatalog(n, seed=0, size=size, staged_fraction=1.0)
    rows = []
    for i, item in enumerate(cat):
        write_image(root / "images" / f"{i}.png", item.image)
        row = {"path": f"images/{i}.png", "mask_path": ""}
        if masks:
            write_mask(root / "masks" / f"{i}.png", item.mask)
            row["mask_path"] = f"masks/{i}.png"
        rows.append(row)
    with open(root / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["path", "mask_path"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def ingest_synthetic(syn: Any, root: Path) -> Any:
    """Write the synthetic catalog ``syn`` to ``root/syn`` and ingest it, with the classical
    embedder, into the catalog ``root/cat`` (needs lancedb), which it returns."""
    from adstage.datasets.synthetic import write_catalog
    from adstage.retrieve.ingest import ingest, open_or_create, sources_from_csv

    write_catalog(syn, root / "syn")
    cat = open_or_create(root / "cat", embedders=["classical"])
    ingest(cat, sources_from_csv(root / "syn" / "labels.csv")[0])
    return cat
