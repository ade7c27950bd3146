"""Batch staging: :func:`adstage.stage.pipeline.stage` over a product list, resumable, on any engine.

Each product's folder, ``OUT/items/<input[:2]>/<input[:16]>-<config[:8]>/``, holds what
``adstage stage`` writes for one product (``input.png``, ``candidate-<i>.<ext>``, ``index.html``,
``manifest.json``; ``step-*.jpg`` with ``steps``). A worker stages the product and hands the files
back as bytes; the driver writes them into ``OUT/.batch-tmp/``, renames the folder into place (an
item's folder appears whole or not at all) and only then writes its row of
``OUT/manifest.sqlite``. Folders are named by content and config, so a renamed product keeps
its folder and a changed option gets new ones.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adstage.batch.items import Item
from adstage.batch.manifest import MANIFEST, Manifest
from adstage.batch.runner import DEFAULT_CHUNK, Event, Outcome, Summary, Task, Work, run, scratch
from adstage.catalog.store import Catalog
from adstage.errors import InputError
from adstage.io.atomic import fsync_dir, write_synced
from adstage.io.images import MaxPixels, read_image, read_mask
from adstage.retrieve.base import load_embedder
from adstage.stage.outputs import FORMATS, write_staged
from adstage.stage.pipeline import StageOptions, check_refine_product, shared_segmenter, stage

if TYPE_CHECKING:
    from adstage.generate.refine import RefineSpec

ITEMS = "items"


def _refine_spec(refine: Any) -> RefineSpec | None:
    """``options["refine"]`` as a :class:`~adstage.generate.refine.RefineSpec` (given as one
    or as a dict of its fields), or ``None``. A loaded refiner is refused: each worker process
    loads the model itself, once."""
    if refine is None:
        return None
    try:
        from adstage.generate.refine import RefineSpec
    except ImportError as exc:
        raise InputError(
            f"options: 'refine' needs the generate extra (pip install -e '.[generate]'): {exc}"
        ) from exc
    if isinstance(refine, RefineSpec):
        return refine
    if isinstance(refine, dict):
        try:
            return RefineSpec(**refine)
        except TypeError as exc:
            raise InputError(f"options: 'refine': {exc}") from exc
    raise InputError(
        "options: 'refine' in a batch is a RefineSpec or a dict of its fields (the base folder "
        f"and settings: each worker process loads the model once), got {refine!r}"
    )


def item_folder(task: Task) -> str:
    """The folder of ``task``'s outputs, relative to ``OUT``."""
    config = task.key.rpartition(":")[2]
    return f"{ITEMS}/{task.input[:2]}/{task.input[:16]}-{config[:8]}"


class StageWork(Work):
    """Stage one product (see the module docstring). ``options``: keyword arguments of
    :func:`~adstage.stage.pipeline.stage` (no ``realism`` critic); ``refine`` is a
    :class:`~adstage.generate.refine.RefineSpec` (or a dict of its fields) that every worker
    process loads once in :meth:`setup`, its weights part of the config by content.
    ``catalog_rows`` and ``embedders`` fingerprint the catalog in the config: ingesting more
    scenes re-does the products, moving the catalog's folder does not. ``device_here=False``
    checks a refiner's device by its spelling only (the driver of a Ray cluster; the workers
    load it); ``ray``: the workers are Ray actors (see :meth:`setup`)."""

    command = "stage"

    def __init__(
        self,
        catalog: str | os.PathLike[str],
        *,
        options: dict[str, Any],
        container: str = "png",
        steps: bool = False,
        catalog_rows: int = 0,
        embedders: tuple[str, ...] = (),
        max_pixels: MaxPixels = "default",
        device_here: bool = True,
        ray: bool = False,
    ) -> None:
        if container not in FORMATS:
            raise InputError(f"container: expected one of {', '.join(FORMATS)}, got {container!r}")
        if "realism" in options or "keep_steps" in options:
            raise InputError("options: 'realism' and 'keep_steps' are not batch options")
        options = dict(options)
        refine = _refine_spec(options.pop("refine", None))
        if refine is not None:
            check_refine_product(bool(options.get("product_exact")), refine.refine_product)
        resolved = StageOptions(**options, keep_steps=steps)  # validates every option
        self.catalog = str(catalog)
        self.options = {  # as given to stage(), nested option objects kept
            f.name: getattr(resolved, f.name)
            for f in dataclasses.fields(resolved)
            if f.name != "realism"
        }
        self.described = {  # the same as plain data, for the config hash
            k: v for k, v in dataclasses.asdict(resolved).items() if k != "realism"
        }  # "refine": None without one, so configs of earlier runs keep their hash
        self.refine = refine
        self.ray = ray
        if refine is not None:  # checked here, in the driver, before any worker loads it
            self.described["refine"] = refine.describe(device_here=device_here)
            self.gpus = 1 if refine.gpu else 0
        self._refiner: Any = None
        self.container = container
        self.steps = steps
        self.catalog_rows = catalog_rows
        self.embedders = tuple(embedders)
        self.max_pixels = max_pixels
        self._store: Catalog | None = None

    @classmethod
    def for_catalog(cls, catalog: str | os.PathLike[str], **kwargs: Any) -> StageWork:
        """A :class:`StageWork` with the catalog's fingerprint read from ``catalog``."""
        store = Catalog(catalog)
        return cls(catalog, catalog_rows=len(store), embedders=tuple(store.embedders), **kwargs)

    def config(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "options": self.described,
            "container": self.container,
            "catalog": {"rows": self.catalog_rows, "embedders": list(self.embedders)},
        }

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"_store": None, "_refiner": None}  # each process loads its own

    def setup(self) -> None:
        """Open the catalog and load the models once for this process (stage() then finds the
        segmenter in :func:`~adstage.stage.pipeline.shared_segmenter`'s cache); the refiner
        first, so that a process whose refiner failed is never taken for one set up. On Ray
        the refiner loads on the device's type (``cuda``): an actor sees only the GPU Ray gave
        it, as ``cuda:0``."""
        if self.refine is not None and self._refiner is None:
            spec = self.refine
            if self.ray:
                spec = dataclasses.replace(spec, device=spec.device.split(":")[0])
            self._refiner = spec.load()
        store = Catalog(self.catalog)
        shared_segmenter(self.options["segmenter"])
        load_embedder(self.options["embedder"] or store.embedders[0])
        self._store = store

    def _ready(self) -> Catalog:
        if self._store is None or (self.refine is not None and self._refiner is None):
            self.setup()
        if self._store is None:  # pragma: no cover - setup sets it
            raise RuntimeError("StageWork.setup did not open the catalog")
        return self._store

    def run(self, task: Task) -> tuple[dict[str, bytes], dict[str, Any], Any]:
        store = self._ready()
        item = task.item
        if len(item.masks) > 1:
            raise InputError(f"{item.path}: a product takes one mask, got {len(item.masks)}")
        image = read_image(item.path, max_pixels=self.max_pixels)
        mask = None
        if item.masks:
            mask = read_mask(item.masks[0], resize_to=image.shape[:2], max_pixels=self.max_pixels)
        options = self.options if not item.kind else self.options | {"kind": item.kind}
        if self._refiner is not None:
            options = options | {"refine": self._refiner}
        result = stage(image, store, mask=mask, **options)
        with tempfile.TemporaryDirectory(prefix="adstage-batch-") as tmp:
            manifest = write_staged(
                result, Path(tmp), "item", source=item.path, image_format=self.container
            )
            folder = Path(tmp) / "item"
            files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
        best = manifest["candidates"][0]
        report = {
            "candidates": len(manifest["candidates"]),
            "best": best["path"],
            "score": best["score"],
            "errors": len(manifest["errors"]),
        }
        return files, report, None


class FolderSink:
    """Writes each finished item's files as one folder under ``out`` (see the module docstring).

    An item's folder that exists already (``--overwrite``, or a run killed before its row) is
    replaced without a moment where a ``done`` row names a missing or partial folder: its row is
    deleted first, the old folder renamed aside into ``.batch-tmp/old/``, the new one renamed
    into place, then the old one deleted. A run killed in between leaves no row for the item
    (the next run does it again) and leftovers in ``.batch-tmp``, which the next run deletes."""

    def __init__(self, out: Path, manifest: Manifest) -> None:
        self.out = out
        self.manifest = manifest
        self.tmp = scratch(out)
        shutil.rmtree(self.tmp, ignore_errors=True)  # what a killed run was assembling or swapping
        self.tmp.mkdir(parents=True, exist_ok=True)

    def claim(self, task: Task) -> bool:
        return True

    def accept(self, outcome: Outcome) -> list[tuple[Outcome, str]]:
        rel = item_folder(outcome.task)
        staging = self.tmp / rel.replace("/", "-")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name, data in outcome.files.items():
            write_synced(staging / name, data)
        final = self.out / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        aside = None
        if final.exists():  # --overwrite, or written by a run killed before its manifest row
            self.manifest.forget(outcome.task.key)
            aside = self.tmp / "old" / rel
            shutil.rmtree(aside, ignore_errors=True)
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.rename(final, aside)
        os.rename(staging, final)
        fsync_dir(final.parent)
        if aside is not None:
            shutil.rmtree(aside)
        return [(outcome, rel)]

    def flush(self) -> list[tuple[Outcome, str]]:
        return []


def stage_batch(
    items: Iterable[Item],
    catalog: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    engine: str = "local",
    workers: int = 1,
    address: str | None = None,
    chunk: int = DEFAULT_CHUNK,
    overwrite: bool = False,
    container: str = "png",
    steps: bool = False,
    max_pixels: MaxPixels = "default",
    on_event: Event | None = None,
    **options: Any,
) -> Summary:
    """Stage every product of ``items`` (see :func:`adstage.batch.items.iter_items`) into the
    scenes of ``catalog``, writing ``out`` (see the module docstring); ``options``: keyword
    arguments of :func:`~adstage.stage.pipeline.stage`, e.g. ``k``, ``where`` (an SQL filter on
    the catalog's slots), ``inpainter``. Items done before for the same config are skipped unless
    ``overwrite``. Returns the run's counts."""
    out = Path(out)
    work = StageWork.for_catalog(
        catalog,
        options=options,
        container=container,
        steps=steps,
        max_pixels=max_pixels,
        device_here=engine != "ray" or address is None,  # a cluster's driver may have no GPU
        ray=engine == "ray",
    )
    out.mkdir(parents=True, exist_ok=True)
    with Manifest(out / MANIFEST) as manifest:
        summary = run(
            items,
            work,
            FolderSink(out, manifest),
            manifest,
            engine=engine,
            workers=workers,
            address=address,
            chunk=chunk,
            overwrite=overwrite,
            on_event=on_event,
        )
    shutil.rmtree(scratch(out), ignore_errors=True)
    return summary
