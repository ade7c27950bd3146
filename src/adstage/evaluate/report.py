"""One report of several runs: tables with 95 % intervals, plots and side-by-side image grids.

A *run* is an output folder of ``adstage stage`` (staging: ``<product>/manifest.json`` per
product), of ``adstage generate`` (generation: ``generation.json`` and ``ad-<i>.png``) — both
recorded in ``adstage-run.json`` — or an inpainting run: a folder holding ``inpaint.jsonl``, the
records of ``adstage inpaint --json`` (one line per filled image; ``adstage inpaint`` writes one
file and no run record). :func:`load_run` tells them apart by the record's command and the files
present and refuses anything else, naming what it expected.

Each run becomes a column (:class:`Run`); runs of one kind with the same settings and different
inputs (e.g. one ``adstage generate`` folder per product) merge into one column. Staging and
generation runs compare with each other (both make ads of a product); inpainting runs only with
inpainting runs. Per item (a product, an inpainted image) each kind has its values
(:data:`METRICS`):

* staging — the best candidate's score and the mean score of its candidates (the ranking score in
  [0, 1], :mod:`adstage.stage.pipeline`), seconds per product (every timed step of the manifest);
  rates: products staged (of staged + failed) and products with all ``k`` candidates;
* generation — the product's fidelity: PSNR and mean absolute error of each ad against the
  product canvas the model saw (``product.png``) inside its mask (``mask.png``), averaged over the
  product's ads; seconds per product (the sampling time in ``generation.json``);
* inpainting — PSNR and mean absolute error of the fill against the input's own pixels under the
  hole (meaningful when the hole was drawn on an intact photo), the hole's share of the image,
  seconds per image; rate: images filled (of all records).

A table cell is the mean over the items with a two-sided 95 % Student-t interval
(``mean ± t₀.₉₇₅,ₙ₋₁ · s / √n``, :func:`mean_interval`); a rate is ``k / n`` with Wilson's interval
(:func:`adstage.evaluate.realism.wilson`). PSNR of identical pixels is capped at
:data:`PSNR_CAP` dB so that means stay finite.

Output (:func:`render`): a self-contained HTML page (plots as PNG and image thumbnails as JPEG,
both base64-embedded; thumbnails at most :data:`THUMB_SIDE` px a side, JPEG quality
:data:`THUMB_QUALITY`, at most ``max_rows`` grid rows), Markdown (plots written beside the report
in ``<name>_files/``, run images linked relative to the report) or JSON (the numbers only).
Plots need matplotlib (``pip install 'adstage[report]'``), imported only when a plot is drawn;
without it each plot's place says so and the rest of the report is written.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image as PILImage

from adstage.errors import InputError
from adstage.evaluate.realism import wilson
from adstage.io.atomic import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

RUN_RECORD = "adstage-run.json"
INPAINT_RECORDS = "inpaint.jsonl"
"""The file of an inpainting run: ``adstage inpaint … --json`` lines, appended one per image."""

KINDS = ("stage", "generate", "inpaint")
KIND_NAMES = {"stage": "staging", "generate": "generation", "inpaint": "inpainting"}
FAMILY = {"stage": "ads", "generate": "ads", "inpaint": "inpaint"}
"""Kinds of one family compare with each other: staged and generated ads of the same product."""

PSNR_CAP = 100.0
THUMB_SIDE = 256
THUMB_QUALITY = 80
MAX_ROWS = 40
FORMATS = ("html", "md", "json")
HINT = "pip install 'adstage[report]'"
NO_MATPLOTLIB = f"plot not drawn: matplotlib is not installed ({HINT})"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    higher_is_better: bool | None
    unit: str = ""


METRICS: dict[str, tuple[Metric, ...]] = {
    "stage": (
        Metric("best_score", "best candidate's score", True),
        Metric("mean_score", "mean candidate score", True),
        Metric("seconds", "seconds per product", False, "s"),
    ),
    "generate": (
        Metric("product_psnr", "product PSNR in its mask", True, "dB"),
        Metric("product_mae", "product mean abs. error in its mask", False, "/255"),
        Metric("seconds", "seconds per product", False, "s"),
    ),
    "inpaint": (
        Metric("hole_psnr", "PSNR of the fill vs the input, in the hole", True, "dB"),
        Metric("hole_mae", "mean abs. error in the hole", False, "/255"),
        Metric("hole_fraction", "hole share of the image", None),
        Metric("seconds", "seconds per image", False, "s"),
    ),
}
PRIMARY = {"stage": "best_score", "generate": "product_psnr", "inpaint": "hole_psnr"}
"""The value each kind's distribution plot, grid captions and time plot show."""
SCORES = {
    "stage": "candidate scores",
    "generate": "product PSNR of each ad (dB)",
    "inpaint": "PSNR in the hole (dB)",
}
_INPUT_KEYS = {"generate": ("product", "mask", "prompt")}
"""Config keys that name a run's input rather than its settings (ignored when merging runs)."""


# ------------------------------------------------------------------------------------------------
# intervals


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student's t distribution function with ``df`` degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (bisection on :func:`t_cdf`)."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise InputError(f"t_quantile: expected 0 < p < 1 and df > 0, got p={p!r}, df={df!r}")
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


@dataclass(frozen=True)
class Estimate:
    """A mean with its two-sided 95 % Student-t interval (None for fewer than two values)."""

    mean: float
    low: float | None
    high: float | None
    n: int

    def as_dict(self) -> dict[str, Any]:
        ci = None if self.low is None or self.high is None else [self.low, self.high]
        return {"mean": self.mean, "ci95": ci, "n": self.n}


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Estimate | None:
    """Mean of ``values`` and its Student-t interval; None when there are none."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], np.float64)
    if x.size == 0:
        return None
    mean = float(x.mean())
    if x.size < 2:
        return Estimate(mean, None, None, 1)
    half = (
        t_quantile(1 - (1 - confidence) / 2, x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    )
    return Estimate(mean, mean - half, mean + half, int(x.size))


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` with Wilson's 95 % interval."""

    label: str
    k: int
    n: int

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.k, self.n)

    def as_dict(self) -> dict[str, Any]:
        return {"k": self.k, "n": self.n, "rate": self.k / self.n, "ci95": list(self.interval)}


# ------------------------------------------------------------------------------------------------
# runs


@dataclass(frozen=True)
class Item:
    """One input of a run: a product (staging, generation) or an image (inpainting).

    ``name``: the input's file stem, the key of a grid row across runs. ``images``: its outputs,
    best first. ``scores``: the values of its distribution plot (one per candidate or ad).
    """

    name: str
    images: tuple[Path, ...]
    source: Path | None
    values: dict[str, float]
    scores: tuple[float, ...] = ()
    category: str | None = None


@dataclass(frozen=True)
class Run:
    """One column of the report: a run folder, or runs of one kind merged (same settings)."""

    kind: str
    paths: tuple[Path, ...]
    config: dict[str, Any]
    items: tuple[Item, ...]
    rates: tuple[Rate, ...] = ()
    retrieval: tuple[tuple[str, dict[str, Any]], ...] = ()
    label: str = ""

    def estimate(self, key: str) -> Estimate | None:
        return mean_interval([i.values[key] for i in self.items if key in i.values])


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not readable JSON ({type(exc).__name__}: {exc})") from exc


_EXPECTED = (
    "expected the output folder of adstage stage or adstage generate (with adstage-run.json), "
    f"or a folder with {INPAINT_RECORDS} (adstage inpaint --json records)"
)


def load_run(folder: str | os.PathLike[str]) -> Run:
    """Read one run folder; :class:`InputError` naming what was expected for anything else."""
    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"{path}: not a folder; {_EXPECTED}")
    record_path = path / RUN_RECORD
    if record_path.is_file():
        record = _read_json(record_path)
        command = record.get("command") if isinstance(record, dict) else None
        if command == "stage":
            return _load_stage(path, record)
        if command == "generate":
            return _load_generate(path, record)
        if command == "inpaint" and (path / INPAINT_RECORDS).is_file():
            return _load_inpaint(path)
        raise InputError(f"{path}: a run of `adstage {command}`, not a run to report; {_EXPECTED}")
    if (path / INPAINT_RECORDS).is_file():
        return _load_inpaint(path)
    raise InputError(f"{path}: not a run folder (no {RUN_RECORD}); {_EXPECTED}")


def _seconds(tree: Any) -> float:
    """The sum of the ``seconds`` dicts of a manifest (its own and its candidates'), not nested
    ``composite`` sub-timings (already inside ``composite``)."""
    total = 0.0
    for value in (tree.get("seconds") or {}).values():
        total += float(value)
    return total


def _retrieval_files(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(folder.glob("*.json")):
        if path.name in (RUN_RECORD, "generation.json"):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if is_retrieval(data):
            found.append((f"{folder.name}/{path.name}", data))
    return found


def is_retrieval(data: Any) -> bool:
    """Is ``data`` an ``adstage eval retrieval --json`` result (P@k and R@k by rank)?"""
    return (
        isinstance(data, dict)
        and isinstance(data.get("precision"), dict)
        and isinstance(data.get("recall"), dict)
        and bool(data["precision"])
    )


def load_retrieval(path: str | os.PathLike[str]) -> tuple[str, dict[str, Any]]:
    """An ``adstage eval retrieval --json`` file given with ``--extra``."""
    data = _read_json(Path(path))
    if not is_retrieval(data):
        raise InputError(
            f"{path}: not a retrieval evaluation; expected the output of "
            "`adstage eval retrieval --json` (precision and recall by rank)"
        )
    return Path(path).name, data


def _load_stage(path: Path, record: dict[str, Any]) -> Run:
    config = dict(record.get("config") or {})
    items = []
    for manifest_path in sorted(path.glob("*/manifest.json")):
        manifest = _read_json(manifest_path)
        try:
            candidates = list(manifest["candidates"])
            seconds = _seconds(manifest) + sum(_seconds(c) for c in candidates)
            scores = tuple(float(c["score"]) for c in candidates if c.get("score") is not None)
            images = tuple(manifest_path.parent / c["path"] for c in candidates)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"{manifest_path}: not a stage manifest ({type(exc).__name__}: {exc})"
            ) from exc
        values = {"seconds": seconds}
        if scores:
            values |= {"best_score": scores[0], "mean_score": float(np.mean(scores))}
        category = candidates[0].get("category") if candidates else None
        source = manifest_path.parent / "input.png"
        items.append(
            Item(
                name=manifest_path.parent.name,
                images=images,
                source=source if source.is_file() else None,
                values=values,
                scores=scores,
                category=category,
            )
        )
    if not items:
        raise InputError(
            f"{path}: an adstage stage run with no staged product (no <product>/manifest.json); "
            "nothing to report"
        )
    summary = record.get("summary") or {}
    failed = int(summary.get("failed", 0))
    if not summary:  # a killed run: count its failures file
        failures = path / "failures.jsonl"
        failed = len(failures.read_text().splitlines()) if failures.is_file() else 0
    rates = [Rate("products staged", len(items), len(items) + failed)]
    k = config.get("k")
    if isinstance(k, int) and config.get("method", "copy-paste") == "copy-paste":
        full = sum(len(i.images) >= k for i in items)
        rates.append(Rate(f"products with all {k} candidates", full, len(items)))
    return Run(
        "stage",
        (path,),
        config,
        tuple(items),
        tuple(rates),
        tuple(_retrieval_files(path)),
    )


def _rgb(path: Path) -> NDArray[np.float64]:
    with PILImage.open(path) as im:
        return np.asarray(im.convert("RGB"), np.float64)


def _mask(path: Path) -> NDArray[np.bool_]:
    with PILImage.open(path) as im:
        return np.asarray(im.convert("L")) >= 128


def masked_error(a: Any, b: Any, mask: Any) -> tuple[float, float]:
    """(PSNR in dB, capped at :data:`PSNR_CAP`; mean absolute error in 0–255) of ``a`` vs ``b``
    over the pixels where ``mask`` is set (all three channels)."""
    a, b, m = np.asarray(a, np.float64), np.asarray(b, np.float64), np.asarray(mask, bool)
    if a.shape != b.shape or m.shape != a.shape[:2]:
        raise InputError(f"masked_error: shapes differ: {a.shape}, {b.shape}, mask {m.shape}")
    if not m.any():
        raise InputError("masked_error: the mask is empty")
    diff = a[m] - b[m]
    mse = float(np.mean(diff**2))
    psnr = PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * math.log10(255.0**2 / mse))
    return psnr, float(np.mean(np.abs(diff)))


def _load_generate(path: Path, record: dict[str, Any]) -> Run:
    config = dict(record.get("config") or {})
    generation_path = path / "generation.json"
    if not generation_path.is_file():
        raise InputError(
            f"{path}: an adstage generate run without generation.json (killed before it wrote "
            "its ads?); nothing to report"
        )
    generation = _read_json(generation_path)
    try:
        images = tuple(path / name for name in generation["images"])
        product = _rgb(path / generation["product"])
        mask = _mask(path / generation["mask"])
        seconds = generation.get("provenance", {}).get("seconds")
        if seconds is None:
            seconds = (record.get("summary") or {}).get("seconds")
        errors = [masked_error(_rgb(image), product, mask) for image in images]
    except (KeyError, TypeError, OSError) as exc:
        raise InputError(
            f"{generation_path}: not a generation record with readable images "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    if not images:
        raise InputError(f"{path}: an adstage generate run with no ad; nothing to report")
    name = Path(str(config.get("product") or path.name)).stem
    source = Path(str(config["product"])) if config.get("product") else None
    values = {
        "product_psnr": float(np.mean([e[0] for e in errors])),
        "product_mae": float(np.mean([e[1] for e in errors])),
    }
    if seconds is not None:
        values["seconds"] = float(seconds)
    item = Item(
        name=name,
        images=images,
        source=source if source is not None and source.is_file() else path / "product.png",
        values=values,
        scores=tuple(e[0] for e in errors),
    )
    return Run("generate", (path,), config, (item,))


def _resolve(value: str, folder: Path) -> Path:
    """A path from a record: absolute, else relative to the run folder if there, else as given."""
    p = Path(value)
    if p.is_absolute() or not (folder / p).exists():
        return p
    return folder / p


def _load_inpaint(path: Path) -> Run:
    records_path = path / INPAINT_RECORDS
    items, failed, backends = [], 0, set()
    for number, line in enumerate(records_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if "error" in rec:
                failed += 1
                continue
            output = _resolve(rec["output"], path)
            source = _resolve(rec["input"], path)
            hole = _mask(_resolve(rec["mask"], path))
            psnr, mae = masked_error(_rgb(output), _rgb(source), hole)
            backends.add(str(rec.get("backend")))
            values = {
                "hole_psnr": psnr,
                "hole_mae": mae,
                "hole_fraction": float(rec.get("hole_fraction", hole.mean())),
                "seconds": float(rec["seconds"]),
            }
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise InputError(
                f"{records_path}:{number}: not a readable `adstage inpaint --json` record "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        items.append(Item(source.stem, (output,), source, values, (psnr,)))
    if not items:
        raise InputError(f"{path}: {INPAINT_RECORDS} holds no filled image; nothing to report")
    config = {"inpainter": ", ".join(sorted(backends))}
    return Run(
        "inpaint",
        (path,),
        config,
        tuple(items),
        (Rate("images filled", len(items), len(items) + failed),),
    )


# ------------------------------------------------------------------------------------------------
# several runs


def _settings(run: Run) -> str:
    keys = _INPUT_KEYS.get(run.kind, ())
    return json.dumps(
        {k: v for k, v in run.config.items() if k not in keys}, sort_keys=True, default=str
    )


def _merge(runs: list[Run]) -> Run:
    first = runs[0]
    return Run(
        first.kind,
        tuple(p for r in runs for p in r.paths),
        {k: v for k, v in first.config.items() if k not in _INPUT_KEYS.get(first.kind, ())},
        tuple(i for r in runs for i in r.items),
        tuple(
            Rate(rate.label, sum(r.rates[j].k for r in runs), sum(r.rates[j].n for r in runs))
            for j, rate in enumerate(first.rates)
        ),
        tuple(x for r in runs for x in r.retrieval),
    )


def combine(runs: Sequence[Run]) -> list[Run]:
    """Check that ``runs`` compare, merge runs of one kind with the same settings and disjoint
    inputs into one column, and label the columns."""
    if not runs:
        raise InputError("runs: expected at least one run folder")
    families = {FAMILY[r.kind] for r in runs}
    if len(families) > 1:
        a = next(r for r in runs if r.kind == "inpaint")
        b = next(r for r in runs if r.kind != "inpaint")
        raise InputError(
            f"{a.paths[0]} is an inpainting run and {b.paths[0]} a {KIND_NAMES[b.kind]} run: "
            "inpainting runs compare only with inpainting runs (staging and generation runs "
            "compare with each other)"
        )
    seen = set()
    for run in runs:
        for p in run.paths:
            if p.resolve() in seen:
                raise InputError(f"{p}: given twice")
            seen.add(p.resolve())
    groups: list[list[Run]] = []
    for run in runs:
        for group in groups:
            names = {i.name for r in group for i in r.items}
            if (
                group[0].kind == run.kind
                and _settings(group[0]) == _settings(run)
                and not names & {i.name for i in run.items}
            ):
                group.append(run)
                break
        else:
            groups.append([run])
    merged = [g[0] if len(g) == 1 else _merge(g) for g in groups]
    labels = [_label(r, full=False) for r in merged]
    if len(set(labels)) < len(labels):
        labels = [_label(r, full=True) for r in merged]
    return [_relabel(r, label) for r, label in zip(merged, labels, strict=True)]


def _label(run: Run, *, full: bool) -> str:
    names = [f"{p.parent.name}/{p.name}" if full else p.name for p in run.paths]
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return " + ".join(names)
    return f"{names[0]} + {len(names) - 1} more"


def _relabel(run: Run, label: str) -> Run:
    return Run(run.kind, run.paths, run.config, run.items, run.rates, run.retrieval, label)


def differences(runs: Sequence[Run]) -> dict[str, dict[str, Any]]:
    """Per column label, the settings whose values differ between columns of one kind."""
    found: dict[str, dict[str, Any]] = {r.label: {} for r in runs}
    for kind in KINDS:
        same = [r for r in runs if r.kind == kind]
        if len(same) < 2:
            continue
        skip = _INPUT_KEYS.get(kind, ())
        keys = sorted({k for r in same for k in r.config} - set(skip))
        for key in keys:
            values = [json.dumps(r.config.get(key), sort_keys=True, default=str) for r in same]
            if len(set(values)) > 1:
                for r in same:
                    found[r.label][key] = r.config.get(key)
    return found


# ------------------------------------------------------------------------------------------------
# the report


@dataclass
class Plot:
    title: str
    png: bytes | None
    note: str = ""


@dataclass
class Report:
    title: str
    runs: list[Run]
    extra: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    max_rows: int = MAX_ROWS
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def kinds(self) -> list[str]:
        return [k for k in KINDS if any(r.kind == k for r in self.runs)]

    def of_kind(self, kind: str) -> list[Run]:
        return [r for r in self.runs if r.kind == kind]

    @property
    def retrieval(self) -> list[tuple[str, dict[str, Any]]]:
        return [x for r in self.runs for x in r.retrieval] + list(self.extra)

    def categories(self) -> list[str]:
        return sorted({i.category for r in self.of_kind("stage") for i in r.items if i.category})

    def category_estimates(self, run: Run) -> dict[str, Estimate]:
        """Mean best score per scene category of a staging column."""
        found = {}
        for category in self.categories():
            est = mean_interval(
                [
                    i.values["best_score"]
                    for i in run.items
                    if i.category == category and "best_score" in i.values
                ]
            )
            if est is not None:
                found[category] = est
        return found

    def rows(self) -> list[str]:
        """The grid's input names: in the order they first appear, every column's inputs."""
        names: dict[str, None] = {}
        for run in self.runs:
            for item in run.items:
                names.setdefault(item.name, None)
        return list(names)

    def as_dict(self) -> dict[str, Any]:
        """The numbers only (the JSON format)."""
        diffs = differences(self.runs)
        out: dict[str, Any] = {
            "title": self.title,
            "created": self.created,
            "interval": "95 % two-sided: Student t for means, Wilson for rates",
            "runs": [],
            "retrieval": {name: _retrieval_numbers(d) for name, d in self.retrieval},
        }
        for run in self.runs:
            metrics = {}
            for m in METRICS[run.kind]:
                est = run.estimate(m.key)
                if est is not None:
                    metrics[m.key] = est.as_dict()
            entry: dict[str, Any] = {
                "label": run.label,
                "kind": run.kind,
                "paths": [str(p) for p in run.paths],
                "settings": diffs[run.label],
                "n_items": len(run.items),
                "metrics": metrics,
                "rates": {r.label: r.as_dict() for r in run.rates},
                "items": {i.name: i.values for i in run.items},
            }
            if run.kind == "stage":
                entry["categories"] = {
                    c: e.as_dict() for c, e in self.category_estimates(run).items()
                }
            out["runs"].append(entry)
        return out


def _retrieval_numbers(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "embedder": data.get("embedder"),
        "n_queries": data.get("n_queries"),
        "precision": {str(k): float(v) for k, v in data["precision"].items()},
        "recall": {str(k): float(v) for k, v in data.get("recall", {}).items()},
    }


def build_report(
    runs: Sequence[str | os.PathLike[str]],
    *,
    title: str = "adstage report",
    extra: Sequence[str | os.PathLike[str]] = (),
    max_rows: int = MAX_ROWS,
) -> Report:
    """Read the run folders and ``--extra`` retrieval files into a :class:`Report`."""
    if max_rows < 0:
        raise InputError(f"max_rows: expected >= 0, got {max_rows}")
    return Report(
        title,
        combine([load_run(r) for r in runs]),
        [load_retrieval(e) for e in extra],
        max_rows,
    )


# ------------------------------------------------------------------------------------------------
# plots (matplotlib, imported when drawn)


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(draw: Callable[[Any], None], width: float = 6.4, height: float = 3.6) -> bytes | None:
    """A PNG of what ``draw(figure)`` draws; None without matplotlib. The object-oriented API on
    the Agg canvas: no pyplot, no display, no global backend switch."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _errors(estimates: Sequence[Estimate]) -> NDArray[np.float64]:
    """Error-bar lengths (2×N) of the intervals; 0 where there is none."""
    lo = [e.mean - e.low if e.low is not None else 0.0 for e in estimates]
    hi = [e.high - e.mean if e.high is not None else 0.0 for e in estimates]
    return np.asarray([lo, hi], np.float64)


def plots(report: Report) -> list[Plot]:
    """The report's plots, in order; each ``png`` None (with a note) without matplotlib."""
    found: list[Plot] = []

    def add(title: str, draw: Callable[[Any], None], **size: float) -> None:
        png = _figure(draw, **size)
        found.append(Plot(title, png, "" if png is not None else NO_MATPLOTLIB))

    for kind in report.kinds:
        runs = report.of_kind(kind)

        def distribution(fig: Any, runs: list[Run] = runs, kind: str = kind) -> None:
            ax = fig.add_subplot()
            data = [[s for i in r.items for s in i.scores] for r in runs]
            ax.boxplot([d or [math.nan] for d in data], showfliers=False)
            rng = np.random.default_rng(0)
            for x, values in enumerate(data, 1):
                ax.plot(x + rng.uniform(-0.12, 0.12, len(values)), values, "o", ms=3, alpha=0.6)
            ax.set_xticks(range(1, len(runs) + 1), [r.label for r in runs], rotation=15)
            ax.set_ylabel(SCORES[kind])

        add(f"{KIND_NAMES[kind]}: distribution of the {SCORES[kind]}", distribution)

    stage_runs = report.of_kind("stage")
    categories = report.categories()
    if stage_runs and categories:

        def bars(fig: Any) -> None:
            ax = fig.add_subplot()
            width = 0.8 / len(stage_runs)
            for j, run in enumerate(stage_runs):
                est = report.category_estimates(run)
                xs = [c for c, cat in enumerate(categories) if cat in est]
                ests = [est[categories[c]] for c in xs]
                ax.bar(
                    np.asarray(xs) + (j - (len(stage_runs) - 1) / 2) * width,
                    [e.mean for e in ests],
                    width,
                    yerr=_errors(ests),
                    capsize=2,
                    label=run.label,
                )
            ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right", fontsize=7)
            ax.set_ylabel("mean best score")
            ax.legend(fontsize=7)

        add("staging: mean best score per scene category (95 % t interval)", bars, height=4.2)

    def timing(fig: Any) -> None:
        kinds = [k for k in report.kinds if any(r.estimate("seconds") for r in report.of_kind(k))]
        for n, kind in enumerate(kinds, 1):
            ax = fig.add_subplot(1, len(kinds), n)
            for run in report.of_kind(kind):
                t, y = run.estimate("seconds"), run.estimate(PRIMARY[kind])
                if t is None or y is None:
                    continue
                ax.errorbar(
                    [t.mean],
                    [y.mean],
                    xerr=_errors([t]),
                    yerr=_errors([y]),
                    fmt="o",
                    capsize=3,
                    label=run.label,
                )
            metric = next(m for m in METRICS[kind] if m.key == PRIMARY[kind])
            ax.set_xlabel(f"seconds per item ({KIND_NAMES[kind]})")
            ax.set_ylabel(metric.label, fontsize=8)
            ax.legend(fontsize=7)

    if any(r.estimate("seconds") for r in report.runs):
        add("metric vs inference time (means, 95 % t intervals)", timing)

    if report.retrieval:

        def curves(fig: Any) -> None:
            axes = fig.subplots(1, 2)
            for name, data in report.retrieval:
                numbers = _retrieval_numbers(data)
                for ax, key in zip(axes, ("precision", "recall"), strict=True):
                    ks = sorted(numbers[key], key=int)
                    ax.plot([int(k) for k in ks], [numbers[key][k] for k in ks], "o-", label=name)
            for ax, key in zip(axes, ("P@k", "R@k"), strict=True):
                ax.set_xlabel("k")
                ax.set_ylabel(key)
                ax.set_ylim(0, 1)
            axes[0].legend(fontsize=7)

        add("retrieval: P@k and R@k", curves)
    return found


# ------------------------------------------------------------------------------------------------
# rendering


def fmt(value: float | None) -> str:
    """How every number is printed in HTML and Markdown (4 significant digits)."""
    if value is None:
        return "—"
    return f"{value:.4g}"


def fmt_estimate(est: Estimate | None) -> str:
    if est is None:
        return "—"
    if est.low is None or est.high is None:
        return f"{fmt(est.mean)} (n = 1)"
    return f"{fmt(est.mean)} [{fmt(est.low)}, {fmt(est.high)}] (n = {est.n})"


def fmt_rate(rate: Rate) -> str:
    lo, hi = rate.interval
    return f"{rate.k}/{rate.n} = {fmt(rate.k / rate.n)} [{fmt(lo)}, {fmt(hi)}]"


def _tables(report: Report) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table, in order; cells are plain text."""
    diffs = differences(report.runs)
    tables = [
        (
            "Runs",
            ["column", "kind", "folders", "inputs", "settings that differ"],
            [
                [
                    r.label,
                    KIND_NAMES[r.kind],
                    ", ".join(str(p) for p in r.paths),
                    str(len(r.items)),
                    ", ".join(
                        f"{k}={json.dumps(v, default=str)}" for k, v in diffs[r.label].items()
                    )
                    or "—",
                ]
                for r in report.runs
            ],
        )
    ]
    for kind in report.kinds:
        runs = report.of_kind(kind)
        rows = []
        for m in METRICS[kind]:
            ests = [r.estimate(m.key) for r in runs]
            if any(e is not None for e in ests):
                better = {True: " ↑", False: " ↓", None: ""}[m.higher_is_better]
                unit = f" ({m.unit})" if m.unit else ""
                rows.append([f"{m.label}{unit}{better}", *(fmt_estimate(e) for e in ests)])
        labels = sorted({rate.label for r in runs for rate in r.rates})
        for label in labels:
            cells = []
            for r in runs:
                rate = next((x for x in r.rates if x.label == label), None)
                cells.append(fmt_rate(rate) if rate is not None else "—")
            rows.append([label, *cells])
        tables.append(
            (f"{KIND_NAMES[kind].capitalize()} metrics", ["", *[r.label for r in runs]], rows)
        )
        if kind == "stage" and report.categories():
            tables.append(
                (
                    "Staging: best score per scene category",
                    ["category", *[r.label for r in runs]],
                    [
                        [c, *(fmt_estimate(report.category_estimates(r).get(c)) for r in runs)]
                        for c in report.categories()
                    ],
                )
            )
    if report.retrieval:
        numbers = [(n, _retrieval_numbers(d)) for n, d in report.retrieval]
        ks = sorted({k for _, d in numbers for k in d["precision"]}, key=int)
        tables.append(
            (
                "Retrieval",
                ["file", "embedder", "queries", *[f"P@{k}" for k in ks], *[f"R@{k}" for k in ks]],
                [
                    [
                        name,
                        str(d["embedder"]),
                        str(d["n_queries"]),
                        *(fmt(d["precision"].get(k)) for k in ks),
                        *(fmt(d["recall"].get(k)) for k in ks),
                    ]
                    for name, d in numbers
                ],
            )
        )
    return tables


def _cell(report: Report, run: Run, name: str) -> tuple[Path | None, str]:
    item = next((i for i in run.items if i.name == name), None)
    if item is None or not item.images:
        return None, "—"
    value = item.values.get(PRIMARY[run.kind])
    return item.images[0], f"{run.label}: {fmt(value)}" if value is not None else run.label


def _source(report: Report, name: str) -> Path | None:
    for run in report.runs:
        for item in run.items:
            if item.name == name and item.source is not None and item.source.is_file():
                return item.source
    return None


def thumbnail(path: Path, side: int = THUMB_SIDE) -> bytes | None:
    """A JPEG of ``path`` at most ``side`` px a side (transparency on white); None if unreadable."""
    try:
        with PILImage.open(path) as im:
            im.load()
            rgba = im.convert("RGBA")
    except (OSError, ValueError):
        return None
    flat = PILImage.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    flat.thumbnail((side, side))
    buffer = io.BytesIO()
    flat.save(buffer, format="JPEG", quality=THUMB_QUALITY)
    return buffer.getvalue()


_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; background: #fafafa; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; } p.lead { color: #555; max-width: 70em; }
table { border-collapse: collapse; margin: 8px 0 16px; } th { text-align: left; padding: 4px 10px; }
td { vertical-align: top; padding: 4px 10px; border-top: 1px solid #e3e3e3; }
td.num { font-variant-numeric: tabular-nums; } .missing { color: #b00; }
table.grid img { max-width: 200px; max-height: 200px; display: block; }
figure { margin: 8px 0 20px; } figcaption { color: #555; font-size: 13px; }
"""


def render_html(report: Report) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{e(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
        f"<p class='lead'>{len(report.runs)} column(s) from "
        f"{sum(len(r.paths) for r in report.runs)} run folder(s), made {e(report.created)}. "
        "Means over items with two-sided 95 % Student-t intervals [low, high]; rates k/n with "
        "Wilson 95 % intervals. ↑ higher is better, ↓ lower is better. Images are embedded "
        f"JPEG thumbnails (at most {THUMB_SIDE} px a side, quality {THUMB_QUALITY}).</p>",
    ]
    for title, header, rows in _tables(report):
        parts.append(f"<h2>{e(title)}</h2><table class='metrics'><tr>")
        parts += [f"<th>{e(h)}</th>" for h in header]
        parts.append("</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td class='num'>{e(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    parts.append("<h2>Plots</h2>")
    for plot in plots(report):
        if plot.png is None:
            parts.append(f"<p class='missing plot'>{e(plot.title)}: {e(plot.note)}</p>")
        else:
            data = base64.b64encode(plot.png).decode("ascii")
            parts.append(
                f"<figure><img class='plot' alt='{e(plot.title)}' src='data:image/png;base64,"
                f"{data}'><figcaption>{e(plot.title)}</figcaption></figure>"
            )
    parts.append(_html_grid(report))
    parts.append("</body></html>\n")
    return "".join(parts)


def _html_grid(report: Report) -> str:
    e = html.escape
    names = report.rows()
    shown = names[: report.max_rows]
    parts = [
        "<h2>Side by side</h2>",
        "<p class='lead'>One row per input name; the best output of each column (caption: its "
        f"{'; '.join(f'{KIND_NAMES[k]}: {PRIMARY[k]}' for k in report.kinds)}).",
    ]
    if len(shown) < len(names):
        parts.append(f" Showing {len(shown)} of {len(names)} inputs (--max-rows).")
    parts.append("</p><table class='grid'><tr><th>input</th>")
    parts += [f"<th>{e(r.label)}</th>" for r in report.runs]
    parts.append("</tr>")

    def img(path: Path | None, caption: str) -> str:
        data = thumbnail(path) if path is not None else None
        if data is None:
            return f"<td>{e(caption)}</td>"
        src = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
        return f"<td><img class='thumb' alt='{e(caption)}' src='{src}'>{e(caption)}</td>"

    for name in shown:
        parts.append(f"<tr data-input='{e(name)}'>")
        parts.append(img(_source(report, name), name))
        for run in report.runs:
            parts.append(img(*_cell(report, run, name)))
        parts.append("</tr>")
    parts.append("</table>")
    return "".join(parts)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md_escape(h) or " " for h in header) + " |"]
    lines.append("|" + " --- |" * len(header))
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(report: Report, out: Path) -> tuple[str, dict[Path, bytes]]:
    """The Markdown text and the plot files to write beside ``out`` (paths relative to it)."""
    files: dict[Path, bytes] = {}
    folder = Path(f"{out.stem}_files")
    lines = [
        f"# {report.title}",
        "",
        f"{len(report.runs)} column(s), made {report.created}. Means over items with two-sided "
        "95 % Student-t intervals [low, high]; rates k/n with Wilson 95 % intervals. "
        "↑ higher is better, ↓ lower is better. Images are linked relative to this file.",
        "",
    ]
    for title, header, rows in _tables(report):
        lines += [f"## {title}", "", *_md_table(header, rows)]
    lines += ["## Plots", ""]
    for n, plot in enumerate(plots(report)):
        if plot.png is None:
            lines += [f"*{plot.title}: {plot.note}*", ""]
        else:
            name = folder / f"plot-{n}.png"
            files[name] = plot.png
            lines += [f"![{plot.title}]({name.as_posix()})", ""]
    lines += ["## Side by side", ""]
    names = report.rows()
    shown = names[: report.max_rows]
    if len(shown) < len(names):
        lines += [f"Showing {len(shown)} of {len(names)} inputs (--max-rows).", ""]

    def link(path: Path | None, caption: str) -> str:
        if path is None:
            return _md_escape(caption)
        rel = Path(os.path.relpath(path.resolve(), out.resolve().parent)).as_posix()
        return f"![{_md_escape(caption)}]({rel.replace(' ', '%20')}) {_md_escape(caption)}"

    rows = [
        [link(_source(report, name), name), *(link(*_cell(report, r, name)) for r in report.runs)]
        for name in shown
    ]
    lines += _md_table(["input", *[r.label for r in report.runs]], rows)
    return "\n".join(lines), files


def render(report: Report, out: str | os.PathLike[str], fmt_name: str = "html") -> Path:
    """Write ``report`` to ``out`` as html, md or json (atomically; Markdown's plots beside it)."""
    path = Path(out)
    if fmt_name not in FORMATS:
        raise InputError(f"format: expected one of {', '.join(FORMATS)}, got {fmt_name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt_name == "json":
        return atomic_write_text(path, json.dumps(report.as_dict(), indent=2, default=str) + "\n")
    if fmt_name == "md":
        text, files = render_markdown(report, path)
        for name, data in files.items():
            (path.parent / name).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path.parent / name, data)
        return atomic_write_text(path, text + "\n")
    return atomic_write_text(path, render_html(report))
