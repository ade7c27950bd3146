"""Write a staged product: candidate images, ``manifest.json`` and an HTML contact sheet.

Layout: ``OUT/<stem>/candidate-<i>.<ext>`` (best first), ``OUT/<stem>/manifest.json`` and
``OUT/<stem>/index.html`` (input, retrieved scene, product removed with the generated region in
magenta, hole filled, final — like the paper's Figure 9). Every file is written atomically and the
manifest last, so a product whose manifest exists is complete: batch runs resume by skipping it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from adstage.io.atomic import atomic_write_text
from adstage.io.gallery import Cell, Gallery
from adstage.io.images import write_image
from adstage.provenance import versions
from adstage.stage.pipeline import StagedProduct

FORMATS = ("png", "jpg", "webp")


def manifest_path(out: Path, stem: str) -> Path:
    return out / stem / "manifest.json"


def write_staged(
    result: StagedProduct,
    out: Path,
    stem: str,
    *,
    source: str,
    image_format: str = "png",
    videos: list[str] | None = None,
) -> dict[str, Any]:
    """Write ``result`` under ``out/stem`` and return the manifest.

    ``videos``: file names (in ``out/stem``, already written) of one video per candidate, recorded
    as each candidate's ``"video"``; the manifest is written once, last.
    """
    if videos is not None and len(videos) != len(result.candidates):
        raise ValueError(
            f"videos: expected one per candidate ({len(result.candidates)}), got {len(videos)}"
        )
    if image_format not in FORMATS:
        raise ValueError(f"image_format: expected one of {FORMATS}, got {image_format!r}")
    folder = out / stem
    folder.mkdir(parents=True, exist_ok=True)
    write_image(folder / "input.png", result.product.rgba)
    gallery = Gallery(
        title=f"adstage: {stem}",
        columns=["product", "retrieved scene", "product removed", "hole filled", "staged"],
        lead=html.escape(
            f"{source} — segmented by {result.provenance['segmenter']}, scenes retrieved by "
            f"{result.provenance['embedder']}, holes filled by {result.provenance['inpainter']}. "
            "Magenta: the pixels that were generated."
        ),
    )
    entries = []
    for i, cand in enumerate(result.candidates):
        name = f"candidate-{i}.{image_format}"
        write_image(folder / name, cand.image)
        steps = {}
        for key, picture in cand.steps.items():
            steps[key] = f"step-{i}-{key}.jpg"
            write_image(folder / steps[key], picture, quality=90)
        entry = {
            "path": name,
            "score": round(cand.score, 6),
            "components": {k: round(v, 6) for k, v in cand.components.items()},
            "catalog_id": cand.match.id,
            "slot": cand.match.slot,
            "scene": cand.match.uri,
            "category": cand.match.category,
            "placement": list(cand.placement),
            "seconds": {k: round(v, 4) for k, v in cand.seconds.items()},
            "provenance": cand.provenance,
        }
        if videos:
            entry["video"] = videos[i]
        entries.append(entry)
        meta = (
            f"<b>#{i}</b> score {cand.score:.3f}<br>"
            + "<br>".join(f"{k} {v:.2f}" for k, v in cand.components.items())
            + f"<br>{html.escape(cand.match.category)}<br>"
            + f"{sum(cand.seconds.values()) * 1000:.0f} ms"
        )
        gallery.add(
            [
                Cell("input.png", "product", checker=True),
                Cell(steps.get("scene", ""), "scene"),
                Cell(steps.get("removed", ""), "removed"),
                Cell(steps.get("filled", ""), "filled"),
                Cell(name, "staged"),
            ],
            meta,
        )
    gallery.write(folder / "index.html")
    manifest = {
        "input": source,
        "candidates": entries,
        "errors": result.errors,
        "seconds": {k: round(v, 4) for k, v in result.seconds.items()},
        "provenance": result.provenance,
        "versions": versions(),
    }
    atomic_write_text(manifest_path(out, stem), json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest
