"""What the jobs do: segment, stage, animate and generate through the public API, with the models
loaded once per process (:class:`Backends`), writing their files into the job's folder.

Each function takes the job's context and its checked options and returns the result's JSON:
which backend ran (``provenance``), the numbers, and the names of the files it wrote (the API
turns them into download URLs). Server paths (the catalog's scene files) are never returned.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray

from adstage.animate import animate, candidate_alpha
from adstage.catalog.store import Catalog
from adstage.errors import InputError
from adstage.io.images import read_image_rgba, read_mask, write_image, write_mask
from adstage.segment.base import SEGMENTERS, Segmenter
from adstage.segment.prompt import segment_in_box
from adstage.serve.app.config import ServiceConfig
from adstage.serve.app.jobs import JobContext, hide_paths
from adstage.stage.pipeline import require_one_product, stage
from adstage.types import RGB, THRESHOLD

if TYPE_CHECKING:
    from adstage.generate.refine import RefineSpec

log = logging.getLogger(__name__)

INPUT = "input.bin"
"""The upload as received (never served back); ``mask.bin`` beside it when one was sent."""
INPUT_MASK = "mask.bin"

SHEET_HEIGHT = 160


class Backends:
    """The models of this process, each loaded once: segmenters by name, the catalog, and the
    RefAdGen pipeline (loaded at start when configured). Thread-safe."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.catalog = Catalog(config.catalog)
        self._segmenters: dict[str, Segmenter] = {}
        self._lock = threading.Lock()
        self.generate_lock = threading.Lock()
        """One generation at a time: the pipeline's scheduler keeps per-call state."""
        self.pipeline: Any = None
        if config.refadgen is not None and config.refadgen_base is not None:
            from adstage.generate.pipeline import load_pipeline

            self.pipeline = load_pipeline(config.refadgen_base, config.refadgen)
            log.info("RefAdGen loaded from %s on %s", config.refadgen, config.refadgen_base)
        self.refiner: SharedRefiner | None = None
        self.refine_info: dict[str, Any] | None = None
        """What ``/v1/info`` says of the refiner: its settings and weights (file names relative
        to the base: no server path)."""
        if config.refine is not None:
            self.refine_info = refine_info(config.refine)
            try:
                loaded = config.refine.load()
            except InputError as exc:
                raise RefinerUnavailable(str(exc)) from exc
            loaded.settings()  # its files hashed now: a job never reads the base's files
            self.refiner = SharedRefiner(loaded)
            log.info("refining every stage job with %s", config.refine.base)

    def segmenter(self, name: str) -> Segmenter:
        with self._lock:
            if name not in self._segmenters:
                self._segmenters[name] = SEGMENTERS.create(name)
            return self._segmenters[name]

    def segment(self, rgb: RGB, name: str) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """The product's alpha and the provenance: the backend that ran, and why (``auto``)."""
        seg = self.segmenter(name)(rgb)
        auto = seg.provenance.get("auto", {})
        provenance = {"segmenter": auto.get("chosen", seg.backend), "requested": name}
        if auto.get("reason"):
            provenance["reason"] = auto["reason"]
        return seg.alpha, provenance


class RefinerUnavailable(InputError):
    """The service's refiner could not be loaded at start (its message names the setting)."""


class SharedRefiner:
    """The service's one staging refiner. A stage job holds it for its whole staging
    (:meth:`session`), so refining jobs run one after another and each finishes, rather than two
    taking turns and timing out; a job waits for it, and re-draws each candidate, only while
    it is neither cancelled nor timed out."""

    def __init__(self, refiner: Any) -> None:
        self.refiner = refiner
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def session(self, ctx: JobContext, k: int) -> Iterator[_JobRefiner]:
        """The refiner for one job's ``stage()`` call (``k`` candidates); raises
        :class:`~adstage.serve.app.jobs.Cancelled` while waiting once the job is cancelled."""
        ctx.progress(0.2, "waiting for the refiner")
        while not self._lock.acquire(timeout=WAIT_POLL):
            ctx.progress(0.2, "waiting for the refiner")
        try:
            yield _JobRefiner(self.refiner, ctx, k)
        finally:
            self._lock.release()


WAIT_POLL = 0.25
"""Seconds between a waiting job's checks for its cancellation."""


class _JobRefiner:
    """The refiner as one job's ``stage()`` calls it: before each candidate and each of its
    denoising steps it reports progress, which stops a cancelled or timed-out job there."""

    def __init__(self, refiner: Any, ctx: JobContext, k: int) -> None:
        self.refiner, self.ctx, self.k, self.done = refiner, ctx, max(int(k), 1), 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start, message = (
            0.2 + 0.7 * self.done / self.k,
            f"re-drawing candidate {self.done + 1} of {self.k}",
        )

        def step(i: int, n: int) -> None:  # raises Cancelled between denoising steps
            self.ctx.progress(start + 0.7 / self.k * i / max(n, 1), message)

        self.ctx.progress(start, message)
        self.done += 1
        return self.refiner(*args, on_step=step, **kwargs)

    def __getattr__(self, name: str) -> Any:  # refine_product, settings …
        return getattr(self.refiner, name)


REFINE_RUN = ("backend", "prompt", "negative", "strength", "steps", "steps_run", "guidance",
              "seed", "window", "window_size", "region_pixels", "pixels_changed", "seconds",
              "refine_product")  # fmt: skip
"""What a candidate's answer says of its refinement (never the base's path on the server)."""


def refine_info(spec: RefineSpec) -> dict[str, Any]:
    """A :class:`~adstage.generate.refine.RefineSpec`'s settings and weights for clients."""
    info: dict[str, Any] = {"base": Path(spec.base).name} | spec.describe()
    return info


def _refined(candidate: Any) -> dict[str, Any] | None:
    record = candidate.provenance.get("composite", {}).get("refine")
    if record is None:
        return None
    return {key: record[key] for key in REFINE_RUN if key in record}


@dataclass(frozen=True)
class Inputs:
    """A job's decoded upload: RGB (composited on white), and the alpha when it had one."""

    rgb: RGB
    alpha: NDArray[np.float32] | None


def read_inputs(folder: Path, config: ServiceConfig) -> Inputs:
    rgba = read_image_rgba(
        folder / INPUT, max_pixels=config.max_pixels, min_side=config.min_side
    ).astype(np.float32)
    alpha = rgba[..., 3] / 255.0
    rgb = np.clip(rgba[..., :3] * alpha[..., None] + 255.0 * (1 - alpha[..., None]), 0, 255)
    if (folder / INPUT_MASK).is_file():
        mask = read_mask(folder / INPUT_MASK, max_pixels=config.max_pixels)
        if mask.shape != alpha.shape:
            raise InputError(
                f"mask: is {mask.shape[1]}×{mask.shape[0]} but the image is "
                f"{alpha.shape[1]}×{alpha.shape[0]}; send a mask of the image's size"
            )
        return Inputs(np.rint(rgb).astype(np.uint8), mask.astype(np.float32))
    has_alpha = bool((alpha < 1.0).any())
    return Inputs(np.rint(rgb).astype(np.uint8), alpha if has_alpha else None)


def _alpha(
    inputs: Inputs,
    backends: Backends,
    segmenter: str,
    box: tuple[int, int, int, int] | None = None,
) -> tuple[Any, dict[str, Any]]:
    if inputs.alpha is not None:
        return inputs.alpha, {"segmenter": "given", "requested": segmenter}
    if box is not None:  # a product in the wild: only what is inside the box
        alpha, seg = segment_in_box(inputs.rgb, box, backends.segmenter(segmenter))
        chosen = seg.provenance.get("auto", {}).get("chosen", seg.backend)
        return alpha, {"segmenter": chosen, "requested": segmenter, "box": list(box)}
    return backends.segment(inputs.rgb, segmenter)


def _no_product(alpha: NDArray[np.float32], provenance: dict[str, Any]) -> None:
    if not (alpha >= THRESHOLD).any():
        raise InputError(
            f"image: no product found (segmentation by {provenance['segmenter']} is empty)"
        )


# ---------------------------------------------------------------------------------------------


def segment_job(ctx: JobContext, backends: Backends, *, segmenter: str) -> dict[str, Any]:
    """The product's cut-out (``cutout.png``, RGBA cropped to the product) and mask."""
    inputs = read_inputs(ctx.folder, backends.config)
    ctx.progress(0.1, "segmenting")
    alpha, provenance = _alpha(inputs, backends, segmenter)
    _no_product(alpha, provenance)
    binary = alpha >= THRESHOLD
    ys, xs = np.nonzero(binary)
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    a8 = np.clip(np.rint(alpha * 255.0), 0, 255).astype(np.uint8)
    cutout = np.dstack([inputs.rgb[y0:y1, x0:x1], a8[y0:y1, x0:x1]])
    write_image(ctx.path("cutout.png"), cutout)
    write_mask(ctx.path("mask.png"), a8)
    h, w = binary.shape
    return {
        "size": [w, h],
        "bbox": [x0, y0, x1, y1],
        "area_fraction": round(float(binary.mean()), 6),
        "provenance": provenance,
        "files": {"cutout": ctx.add("cutout.png"), "mask": ctx.add("mask.png")},
    }


def _thumb(image: RGB, height: int) -> RGB:
    h, w = image.shape[:2]
    width = max(1, round(w * height / h))
    return np.asarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), np.uint8)


def contact_sheet(steps: dict[str, RGB], final: RGB, *, height: int = SHEET_HEIGHT) -> RGB:
    """scene | removed (generated region in magenta) | filled | staged, side by side, labelled."""
    panels: list[tuple[str, RGB]] = [
        (name, steps[name]) for name in ("scene", "removed", "filled") if name in steps
    ]
    panels.append(("staged", final))
    gap = np.full((height + 22, 6, 3), 255, np.uint8)
    parts: list[RGB] = []
    for i, (name, picture) in enumerate(panels):
        thumb = _thumb(picture, height)
        label = np.full((22, thumb.shape[1], 3), 255, np.uint8)
        cv2.putText(label, name, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (60, 60, 60), 1)
        parts += ([gap] if i else []) + [np.vstack([thumb, label])]
    return np.ascontiguousarray(np.hstack(parts))


def stage_job(
    ctx: JobContext,
    backends: Backends,
    *,
    segmenter: str,
    k: int,
    inpainter: str,
    shadow: float,
    ad_format: str | None,
    max_side: int,
    box: tuple[int, int, int, int] | None = None,
) -> dict[str, Any]:
    """Ranked candidates (``candidate-I.png``), each with its pasted product's mask (for
    animation) and a contact sheet of the steps (``sheet-I.jpg``); the product's cut-out."""
    inputs = read_inputs(ctx.folder, backends.config)
    ctx.progress(0.05, "segmenting the product")
    alpha, seg_provenance = _alpha(inputs, backends, segmenter, box)
    _no_product(alpha, seg_provenance)
    if box is None:  # a box is the remedy the check asks for
        require_one_product(alpha, str(seg_provenance.get("segmenter", "")), "image")
    ctx.progress(0.2, f"staging into {k} retrieved scenes")
    with contextlib.ExitStack() as stack:
        refine = None
        if backends.refiner is not None:
            refine = stack.enter_context(backends.refiner.session(ctx, k))
        staged = stage(
            inputs.rgb,
            backends.catalog,
            mask=alpha,
            k=k,
            inpainter=inpainter,
            shadow=shadow,
            ad_format=ad_format,
            max_side=max_side,
            refine=refine,
        )
    ctx.progress(0.9, "writing the candidates")
    write_image(ctx.path("product.png"), staged.product.rgba)
    files = {"product": ctx.add("product.png")}
    candidates = []
    for i, cand in enumerate(staged.candidates):
        ctx.progress(0.9 + 0.1 * i / len(staged.candidates), "writing the candidates")
        image_name, mask_name = f"candidate-{i}.png", f"candidate-{i}-mask.png"
        write_image(ctx.path(image_name), cand.image)
        write_mask(ctx.path(mask_name), candidate_alpha(cand, staged.product))
        entry_files = {"image": ctx.add(image_name), "mask": ctx.add(mask_name)}
        if cand.steps:
            sheet = f"sheet-{i}.jpg"
            write_image(ctx.path(sheet), contact_sheet(cand.steps, cand.image), quality=88)
            entry_files["sheet"] = ctx.add(sheet)
        candidates.append(
            {
                "rank": i,
                "score": round(cand.score, 6),
                "components": {key: round(v, 6) for key, v in cand.components.items()},
                "catalog_id": cand.match.id,
                "category": cand.match.category,
                "similarity": round(cand.match.similarity, 6),
                "placement": list(cand.placement),
                "size": [int(cand.image.shape[1]), int(cand.image.shape[0])],
                "seconds": {key: round(v, 4) for key, v in cand.seconds.items()},
                "refine": _refined(cand),
                "files": entry_files,
            }
        )
    return {
        "candidates": candidates,
        "errors": [
            {"catalog_id": e["catalog_id"], "error": hide_paths(e["error"])} for e in staged.errors
        ],
        "seconds": {key: round(v, 4) for key, v in staged.seconds.items()},
        "provenance": seg_provenance
        | {
            "embedder": staged.provenance["embedder"],
            "inpainter": staged.provenance["inpainter"],
            "fit": staged.provenance["options"]["fit"],
        },
        "files": files,
    }


def animate_job(
    ctx: JobContext,
    backends: Backends,
    *,
    segmenter: str,
    motion: str,
    duration: float,
    fps: int,
    size: tuple[int, int] | None,
    fmt: str,
    inpainter: str,
) -> dict[str, Any]:
    """A looping parallax video of the image (``loop.mp4|gif|webp``) and a still of it."""
    inputs = read_inputs(ctx.folder, backends.config)
    ctx.progress(0.05, "segmenting the product")
    alpha, provenance = _alpha(inputs, backends, segmenter)
    _no_product(alpha, provenance)
    ctx.progress(0.2, "rendering the loop")
    name = f"loop.{fmt}"
    result = animate(
        inputs.rgb,
        alpha,
        ctx.path(name),
        format=fmt,
        motion=motion,
        duration=duration,
        fps=fps,
        size=size,
        inpainter=inpainter,
    )
    return {
        "format": result.format,
        "frames": result.frames,
        "fps": result.fps,
        "size": list(result.size),
        "seconds": {key: round(v, 4) for key, v in result.seconds.items()},
        "provenance": provenance | {"inpainter": inpainter, "motion": motion},
        "files": {"video": ctx.add(name)},
    }


def generate_job(
    ctx: JobContext,
    backends: Backends,
    *,
    segmenter: str,
    prompt: str,
    steps: int,
    seed: int,
    size: tuple[int, int],
    num_images: int,
    guidance: float,
) -> dict[str, Any]:
    """RefAdGen ads of the product (``ad-I.png``), the product canvas and its mask."""
    pipeline = backends.pipeline
    if pipeline is None:  # the app checks first; a job never starts without it
        raise InputError("generate: RefAdGen is not configured on this server")
    inputs = read_inputs(ctx.folder, backends.config)
    ctx.progress(0.02, "segmenting the product")
    alpha, seg_provenance = _alpha(inputs, backends, segmenter)
    _no_product(alpha, seg_provenance)

    def progress(done: int, total: int) -> None:
        ctx.progress(0.05 + 0.9 * done / max(total, 1), f"denoising step {done} / {total}")

    with backends.generate_lock:
        ctx.progress(0.05, "denoising")
        ad = pipeline(
            inputs.rgb,
            prompt,
            mask=alpha,
            steps=steps,
            seed=seed,
            size=size,
            num_images=num_images,
            guidance=guidance,
            progress=progress,
        )
    files = {}
    for i, image in enumerate(ad.images):
        write_image(ctx.path(f"ad-{i}.png"), image)
        files[f"ad-{i}"] = ctx.add(f"ad-{i}.png")
    write_image(ctx.path("product.png"), ad.product)
    write_mask(ctx.path("mask.png"), ad.mask)
    files |= {"product": ctx.add("product.png"), "mask": ctx.add("mask.png")}
    provenance = {
        key: value
        for key, value in ad.provenance.items()
        if key not in ("base", "checkpoint", "sources")
    }
    sources = pipeline.sources
    provenance["checkpoint_sha256"] = sorted(
        sources.get("checkpoint", {}).get("sha256", {}).values()
    )
    provenance["base_sha256"] = sorted(sources.get("base", {}).get("sha256", {}).values())
    return {
        "box": list(ad.box),
        "size": list(size),
        "provenance": seg_provenance | {"generator": "refadgen"} | _jsonable(provenance),
        "files": files,
    }


def _jsonable(value: Any) -> Any:
    """``value`` with tuples as lists, numpy scalars as numbers and paths as file names only."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return value.name
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
