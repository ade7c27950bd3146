"""The demo (``make demo`` / ``adstage demo``), on data that ships with adstage and its packages.

1. Staging (:func:`run_staging_demo`): a catalog of synthetic staged rooms, and synthetic products
   staged into them end to end; ``index.html`` shows the results.
2. Segmentation (:func:`run_demo`): triage and segment the synthetic catalog (ground-truth masks
   known, so the page shows IoU) and scikit-image's public-domain / CC0 sample photographs;
   ``segmentation.html`` shows each input, its mask and its RGBA cut-out.
"""

from __future__ import annotations

import html
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.animate import animate, candidate_alpha, write_animation_page
from adstage.catalog.store import Catalog
from adstage.datasets.synthetic import SyntheticCatalog, write_catalog
from adstage.errors import BackendUnavailable, WeightsNotFound
from adstage.io.gallery import Cell, Gallery
from adstage.io.images import write_image, write_mask
from adstage.provenance import write_run_record
from adstage.retrieve.base import DEFAULT_EMBEDDER, pad_square
from adstage.retrieve.ingest import ingest, open_or_create, sources_from_csv
from adstage.segment.base import SEGMENTERS
from adstage.segment.triage import triage
from adstage.stage.outputs import write_staged
from adstage.stage.pipeline import stage
from adstage.types import RGB
from adstage.weights import resolve

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
    page = gallery.write(out / "segmentation.html")
    return {
        "page": str(page),
        "items": len(gallery.rows),
        "backends": backends,
        "mean_iou_synthetic": round(float(np.mean(ious)), 4) if ious else None,
    }


DEMO_EMBEDDERS = (
    (DEFAULT_EMBEDDER, "inception-v3-fid"),
    ("efficientnet-lite0", "efficientnet-lite0"),
)
"""The embedders the demo tries, best first, with the weights each needs: adstage's default,
then the lighter one; ``classical`` (no weights) when neither is installed."""


def demo_embedder() -> tuple[str, str]:
    """The best embedder whose weights are installed, and why (the demo says which ran)."""
    for name, row in DEMO_EMBEDDERS:
        try:
            resolve(row)
        except WeightsNotFound:
            continue
        return name, f"weights {row} installed"
    why = "no embedder weights installed (adstage weights fetch efficientnet-lite0)"
    log.warning("demo: %s; retrieving with the classical embedder instead", why)
    return "classical", why


def run_staging_demo(
    out: Path,
    *,
    n_catalog: int = 48,
    n_products: int = 6,
    k: int = 3,
    seed: int = 7,
    animate: bool = True,
    on_item: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Stage synthetic products into the staged scenes of a synthetic catalog, end to end.

    Builds ``out/catalog`` (LanceDB) from the staged rooms of ``SyntheticCatalog(n_catalog)`` with
    their ground-truth masks as slots, stages the first ``n_products`` un-staged products of
    another seed with :func:`adstage.stage.pipeline.stage`, and writes ``out/staged/`` (per product:
    candidates, manifest, contact sheet) and ``out/index.html``; with ``animate``, a parallax
    loop of each best candidate and ``out/animation/index.html`` showing it next to its still.
    """
    out = Path(out)
    scenes = SyntheticCatalog(n_catalog, seed=seed, size=(512, 512), staged_fraction=1.0)
    write_catalog(scenes, out / "catalog-src")
    embedder, why = demo_embedder()
    catalog_dir = out / "catalog"
    if Catalog.exists(catalog_dir) and embedder not in Catalog(catalog_dir).embedders:
        shutil.rmtree(catalog_dir)  # built by an earlier run with another embedder
    store = open_or_create(catalog_dir, embedders=[embedder])
    sources, _ = sources_from_csv(out / "catalog-src" / "labels.csv")  # as write_catalog drew them
    report = ingest(store, sources)
    products = SyntheticCatalog(4 * n_products, seed=seed + 1, size=(384, 384), staged_fraction=0.0)
    gallery = Gallery(
        title="adstage demo: copy-paste staging",
        columns=["product", "#0", "#1", "#2"],
        lead=(
            "Each un-staged product is segmented, the most similar staged rooms are retrieved "
            f"(<code>{html.escape(embedder)}</code> embeddings: {html.escape(why)}), their product "
            "is removed, the gap inpainted and the new product pasted in its place (Ku et al., "
            "AdKDD 2023). Click a product for its contact sheet: scene, removed region, fill, "
            'result. <a href="animation/index.html">Parallax videos</a> of the best candidates '
            '(§5.4). <a href="segmentation.html">Segmentation demo</a>.'
        ),
    )
    staged_dir = out / "staged"
    seconds = []
    strips = []
    results: list[tuple[str, Any]] = []
    for item in products[:n_products]:  # drawn one by one, only those used
        started = time.perf_counter()
        result = stage(item.image, store, mask=item.mask, k=k)
        seconds.append((time.perf_counter() - started) / max(1, len(result.candidates)))
        manifest = write_staged(result, staged_dir, item.id, source=f"synthetic {item.id}")
        strips.append(_strip(result))
        if result.candidates:
            results.append((item.id, result))
        cells = [Cell(f"staged/{item.id}/input.png", item.id, checker=True)]
        for i in range(3):
            cands = manifest["candidates"]
            cells.append(
                Cell(f"staged/{item.id}/{cands[i]['path']}", f"#{i}") if i < len(cands) else Cell()
            )
        gallery.add(
            cells,
            f'<a href="staged/{item.id}/index.html">{html.escape(item.id)}</a><br>'
            f"{html.escape(item.category)}<br>{1000 * seconds[-1]:.0f} ms per candidate",
        )
        if on_item:
            on_item(item.id)
    animations = _animations(results, out) if animate else None
    page = gallery.write(out / "index.html")
    if strips:
        write_image(out / "staging-montage.jpg", np.vstack(strips), quality=88)
    return {
        "page": str(page),
        "montage": str(out / "staging-montage.jpg"),
        "catalog_slots": len(store),
        "ingested": report.added,
        "products": len(seconds),
        "embedder": embedder,
        "ms_per_candidate": round(1000 * float(np.mean(seconds)), 1) if seconds else None,
        "animation_page": animations,
    }


def _animations(results: list[tuple[str, Any]], out: Path) -> str | None:
    """A 2-second parallax loop of each product's best candidate and a page showing each next
    to its still (Ku et al., AdKDD 2023, §5.4). None when MP4 cannot be written here."""
    folder = out / "animation"
    items = []
    for stem, result in results:
        best = result.candidates[0]
        video = folder / f"{stem}.mp4"
        try:
            animate(
                best.image,
                candidate_alpha(best, result.product),
                video,
                size=None,
                duration=2.0,
                fps=24,
            )
        except BackendUnavailable as exc:  # no ffmpeg: say so, keep the stills
            log.warning("demo animations skipped: %s", exc)
            return None
        items.append((video, out / "staged" / stem / "candidate-0.png", stem))
    return str(write_animation_page(folder, items)) if items else None


def _strip(result: Any, side: int = 192, columns: int = 3) -> RGB:
    """One row of the montage: the product on white, then its best candidates, as squares."""
    rgba = result.product.rgba
    alpha = rgba[..., 3:].astype(np.float32) / 255.0
    product = np.rint(rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    tiles = [pad_square(product)]
    tiles += [pad_square(c.image, (240, 240, 240)) for c in result.candidates[:columns]]
    tiles += [np.full((side, side, 3), 240, np.uint8)] * (columns + 1 - len(tiles))
    squares = [cv2.resize(t, (side, side), interpolation=cv2.INTER_AREA) for t in tiles]
    return np.hstack(squares)
