"""The demo (``make demo`` / ``adstage demo``): triage and segment photos that ship with adstage.

Inputs: the deterministic synthetic catalog (products on white, staged rooms; ground-truth masks
known, so the page shows IoU) and, when scikit-image is installed, its public-domain / CC0 sample
photographs. Outputs: each input, its mask and its RGBA cut-out, and ``index.html`` showing them.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from adstage.io.gallery import Cell, Gallery
from adstage.io.images import write_image, write_mask
from adstage.provenance import write_run_record
from adstage.segment import SEGMENTERS
from adstage.triage import triage
from adstage.types import RGB

log = logging.getLogger(__name__)

# scikit-image sample photographs and their licences (scikit-image's data/README).
SKIMAGE_SAMPLES = {
    "coffee": "CC0 (Rachel Michetti)",
    "chelsea": "CC0 (Stéfan van der Walt)",
    "rocket": "public domain (NASA)",
    "astronaut": "public domain (NASA)",
}


@dataclass(frozen=True)
class DemoInput:
    id: str
    image: RGB
    source: str
    truth: NDArray[np.bool_] | None = None
    category: str = ""


def demo_inputs(
    n_synthetic: int = 12, *, seed: int = 0, samples: bool = True
) -> Iterator[DemoInput]:
    """The demo's inputs: synthetic catalog items, then scikit-image's sample photos if present."""
    from adstage.datasets.synthetic import SyntheticCatalog

    catalog = SyntheticCatalog(n_synthetic, seed=seed, size=(384, 384))
    for item in catalog:
        yield DemoInput(item.id, item.image, "synthetic (adstage)", item.mask, item.category)
    if not samples:
        return
    try:
        from skimage import data
    except ImportError:
        log.warning("scikit-image is not installed: the demo shows synthetic images only")
        return
    for name, licence in SKIMAGE_SAMPLES.items():
        yield DemoInput(
            f"skimage-{name}",
            np.ascontiguousarray(getattr(data, name)()),
            f"scikit-image, {licence}",
        )


def iou(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    union = int((a | b).sum())
    return float((a & b).sum()) / union if union else 1.0


def run_demo(
    out: Path,
    *,
    backend: str = "auto",
    n_synthetic: int = 12,
    samples: bool = True,
    on_item: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the demo into ``out``; return a summary (page path, items, backends, mean IoU)."""
    out = Path(out)
    for sub in ("inputs", "masks", "cutouts"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    write_run_record(out, command="demo", config={"backend": backend, "n_synthetic": n_synthetic})
    segmenter = SEGMENTERS.create(backend)
    gallery = Gallery(
        title="adstage demo: triage and product segmentation",
        columns=["input", "mask", "cut-out"],
        lead=(
            "Each photo is triaged (staged scene or un-staged product shot), then segmented by the "
            f"<code>{html.escape(backend)}</code> backend; the row says which backend ran. Synthetic "
            "items carry ground-truth masks, so their IoU is shown. Cut-outs sit on a checkerboard."
        ),
    )
    ious: list[float] = []
    backends: dict[str, int] = {}
    for item in demo_inputs(n_synthetic, samples=samples):
        verdict = triage(item.image)
        started = time.perf_counter()
        result = segmenter(item.image)
        ms = (time.perf_counter() - started) * 1000
        a8 = np.clip(np.rint(result.alpha * 255), 0, 255).astype(np.uint8)
        write_image(out / "inputs" / f"{item.id}.jpg", item.image, quality=92)
        write_mask(out / "masks" / f"{item.id}.mask.png", result.mask)
        write_image(out / "cutouts" / f"{item.id}.png", np.dstack([item.image, a8]))
        backends[result.backend] = backends.get(result.backend, 0) + 1
        tag = "staged" if verdict.staged else "un-staged"
        meta = [
            f'<span class="tag {"staged" if verdict.staged else ""}">{tag}</span> '
            f"score {verdict.score:.2f}",
            f"backend <b>{html.escape(result.backend)}</b>, {ms:.0f} ms",
            f"product area {float(result.mask.mean()):.1%}",
        ]
        if item.truth is not None:
            score = iou(result.mask, item.truth)
            ious.append(score)
            meta.append(
                f"IoU vs ground truth <b{' class=bad' if score < 0.9 else ''}>{score:.3f}</b>"
            )
        if item.category:
            meta.append(html.escape(item.category))
        meta.append(f"<small>{html.escape(item.source)}</small>")
        gallery.add(
            [
                Cell(f"inputs/{item.id}.jpg", item.id),
                Cell(f"masks/{item.id}.mask.png", "mask"),
                Cell(f"cutouts/{item.id}.png", "cut-out", checker=True),
            ],
            "<br>".join(meta),
        )
        if on_item:
            on_item(item.id)
    if "grabcut" in backends:
        gallery.lead += (
            " <b>Note:</b> the IS-Net weights are not installed, so staged photos were segmented"
            " with saliency-seeded GrabCut (no weights); <code>make weights-isnet</code> (AGPL-3.0) installs"
            " IS-Net, which does much better on them."
        )
    page = gallery.write(out / "index.html")
    return {
        "page": str(page),
        "items": len(gallery.rows),
        "backends": backends,
        "mean_iou_synthetic": round(float(np.mean(ious)), 4) if ious else None,
    }
