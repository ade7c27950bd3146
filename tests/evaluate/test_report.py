"""The run report: intervals against scipy, run kinds told apart, the numbers of real small runs
(staging with the classical embedder, a tiny RefAdGen, two inpainters) recomputed from their
files, the same numbers in HTML, Markdown and JSON, plots with and without matplotlib, errors."""

from __future__ import annotations

import html
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from adstage.cli import app
from adstage.errors import InputError
from adstage.evaluate.realism import wilson
from adstage.evaluate.report import (
    NO_MATPLOTLIB,
    PSNR_CAP,
    build_report,
    fmt,
    fmt_estimate,
    load_run,
    masked_error,
    mean_interval,
    plots,
    render,
    t_quantile,
)
from adstage.io.images import write_image, write_mask

runner = CliRunner()


# ------------------------------------------------------------------------------------------------
# intervals and errors, by hand and against scipy


def test_t_quantile_and_interval_match_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 7, 30, 200):
        for p in (0.6, 0.975, 0.995):
            assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-7)
    values = [0.3, 0.5, 0.2, 0.9, 0.4]
    est = mean_interval(values)
    assert est is not None and est.n == 5
    lo, hi = stats.t.interval(0.95, 4, loc=np.mean(values), scale=stats.sem(values))
    assert (est.low, est.high) == (pytest.approx(lo), pytest.approx(hi))


def test_interval_by_hand() -> None:
    est = mean_interval([1.0, 2.0, 3.0])  # s = 1, t(0.975, 2) = 4.302653
    assert est is not None and est.mean == 2.0
    assert est.high == pytest.approx(2.0 + 4.302653 / math.sqrt(3), abs=1e-6)
    one = mean_interval([5.0])
    assert one is not None and (one.low, one.high, one.n) == (None, None, 1)
    assert mean_interval([]) is None
    assert fmt_estimate(one) == "5 (n = 1)"


def test_masked_error_by_hand() -> None:
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0] = 10  # one pixel off by 10 in each channel
    mask = np.zeros((4, 4), bool)
    mask[:2, :2] = True  # 4 pixels, 12 values: MSE = 300 / 12 = 25
    psnr, mae = masked_error(a, b, mask)
    assert psnr == pytest.approx(10 * math.log10(255**2 / 25)) and mae == pytest.approx(2.5)
    assert masked_error(a, a, mask)[0] == PSNR_CAP
    with pytest.raises(InputError, match="empty"):
        masked_error(a, b, np.zeros((4, 4), bool))


# ------------------------------------------------------------------------------------------------
# real small runs


def _stage_runs(root: Path) -> tuple[Path, Path]:
    pytest.importorskip("lancedb")
    from adstage.datasets.synthetic import SyntheticCatalog, write_catalog
    from adstage.retrieve.ingest import ingest, open_or_create, sources_from_csv

    syn = SyntheticCatalog(12, seed=1, size=(128, 128))
    write_catalog(syn, root / "syn")
    ingest(
        open_or_create(root / "cat", embedders=["classical"]),
        sources_from_csv(root / "syn" / "labels.csv")[0],
    )
    # Items the default screen stages (see tests/cli/conftest.py small_catalog).
    plain = [item for item in (syn[i] for i in range(len(syn))) if not item.staged][4:6]
    for item in plain:
        write_image(root / "products" / f"{item.id}.png", item.image)
    base = ["stage", str(root / "products"), "-c", str(root / "cat"), "-k", "2"]
    variants = {
        "stage-a": ["--inpainter", "telea"],
        "stage-b": ["--inpainter", "ns", "--no-shadow"],
    }
    for name, extra in variants.items():
        args = [*base, "-o", str(root / name), "--segmenter", "solid-background", *extra]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.stderr
    return root / "stage-a", root / "stage-b"


def _generate_runs(root: Path) -> list[Path]:
    """Two tiny RefAdGen runs (one per product, same settings) and their product names."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    import refadgen_parity as parity
    from adstage.generate.checkpoints import save_refadgen
    from adstage.generate.tiny import build_tiny, save_tiny_base

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = parity.tiny_config()
        model, text = build_tiny(config, seed=0)
        save_tiny_base(root / "base", config, text)
        save_refadgen(model, root / "ckpt")
        outs = []
        for i, product in enumerate(sorted((root / "products").glob("*.png"))):
            out = root / f"gen-{i}"
            result = runner.invoke(
                app,
                [
                    "generate",
                    str(product),
                    "--prompt",
                    "a product on a table",
                    "--base",
                    str(root / "base"),
                    "--checkpoint",
                    str(root / "ckpt"),
                    "-o",
                    str(out),
                    "--steps",
                    "2",
                    "--size",
                    "32x32",
                    "--num-images",
                    "2",
                ],
            )
            assert result.exit_code == 0, result.stderr
            outs.append(out)
    finally:
        torch.set_num_threads(before)
    return outs


def make_inpaint_runs(root: Path, inpainters: tuple[str, ...] = ("ns", "telea")) -> list[Path]:
    """A folder per inpainter with inpaint.jsonl: ``adstage inpaint --json`` on three images
    (holes drawn on intact noise photos), plus one failed record in the first."""
    rng = np.random.default_rng(0)
    for i in range(3):
        image = np.clip(rng.normal(128, 20, (48, 64, 3)), 0, 255).astype(np.uint8)
        hole = np.zeros((48, 64), bool)
        hole[10 + i : 30, 20 : 40 + i] = True
        write_image(root / "photos" / f"photo-{i}.png", image)
        write_mask(root / "holes" / f"photo-{i}.png", hole)
    runs = []
    for name in inpainters:
        run = root / f"inpaint-{name}"
        run.mkdir(parents=True)
        lines = []
        for i in range(3):
            result = runner.invoke(
                app,
                [
                    "inpaint",
                    str(root / "photos" / f"photo-{i}.png"),
                    "-m",
                    str(root / "holes" / f"photo-{i}.png"),
                    "-o",
                    str(run / f"photo-{i}.png"),
                    "--inpainter",
                    name,
                    "--json",
                ],
            )
            assert result.exit_code == 0, result.stderr
            lines.append(result.stdout.strip())
        if name == inpainters[0]:
            lines.append(json.dumps({"path": "missing.png", "error": "not an image"}))
        (run / "inpaint.jsonl").write_text("\n".join(lines) + "\n")
        runs.append(run)
    return runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("report-runs")
    stage_a, stage_b = _stage_runs(root)
    return {
        "root": root,
        "stage": [stage_a, stage_b],
        "generate": _generate_runs(root),
        "inpaint": make_inpaint_runs(root),
    }


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.float64)


def _manifests(run: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(run.glob("*/manifest.json"))}


def _psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    d = a[mask] - b[mask]
    mse = float(np.mean(d**2))
    return min(PSNR_CAP, 10 * math.log10(255**2 / mse)) if mse else PSNR_CAP, float(
        np.abs(d).mean()
    )


def test_runs_are_told_apart_and_read(runs) -> None:
    stage = load_run(runs["stage"][0])
    assert stage.kind == "stage" and {i.name for i in stage.items} == set(
        _manifests(runs["stage"][0])
    )
    assert load_run(runs["generate"][0]).kind == "generate"
    inpaint = load_run(runs["inpaint"][0])
    assert inpaint.kind == "inpaint" and len(inpaint.items) == 3
    assert [(r.k, r.n) for r in inpaint.rates] == [(3, 4)]  # the failed record counts


def test_html_report_of_staging_and_generation(runs, tmp_path: Path) -> None:
    report = build_report([*runs["stage"], *runs["generate"]], title="two stagings, RefAdGen")
    # the two generate runs (same settings, different products) merge into one column
    assert [r.label for r in report.runs] == ["stage-a", "stage-b", "gen-0 + gen-1"]
    out = render(report, tmp_path / "r.html", "html")
    page = out.read_text()
    for title in ("Runs", "Staging metrics", "Generation metrics", "Side by side"):
        assert f"<h2>{title}</h2>" in page
    drawn = plots(report)
    assert len(drawn) == 4  # two distributions, per-category bars, metric vs time
    assert page.count("<img class='plot'") == len(drawn)
    assert page.count("data:image/png;base64,") == len(drawn)
    assert "src='http" not in page and "src='/" not in page  # self-contained
    # the numbers: mean best score of each staging run, recomputed from its manifests
    data = report.as_dict()
    for run_dir, entry in zip(runs["stage"], data["runs"][:2], strict=True):
        best = [m["candidates"][0]["score"] for m in _manifests(run_dir).values()]
        seconds = [
            sum(m["seconds"].values()) + sum(sum(c["seconds"].values()) for c in m["candidates"])
            for m in _manifests(run_dir).values()
        ]
        metrics = entry["metrics"]
        assert metrics["best_score"]["mean"] == pytest.approx(np.mean(best))
        assert metrics["seconds"]["mean"] == pytest.approx(np.mean(seconds))
        half = t_quantile(0.975, len(best) - 1) * np.std(best, ddof=1) / math.sqrt(len(best))
        assert metrics["best_score"]["ci95"][1] == pytest.approx(np.mean(best) + half)
        assert fmt(metrics["best_score"]["mean"]) in page
        assert entry["rates"]["products staged"]["ci95"] == pytest.approx(list(wilson(2, 2)))
    assert data["runs"][1]["settings"]["inpainter"] == "ns"
    # generation: product PSNR in the mask, per product the mean over its ads
    per_product = []
    for run_dir in runs["generate"]:
        product, mask = _rgb(run_dir / "product.png"), _rgb(run_dir / "mask.png")[..., 0] >= 128
        per_product.append(
            np.mean([_psnr(_rgb(ad), product, mask)[0] for ad in sorted(run_dir.glob("ad-*.png"))])
        )
    gen = data["runs"][2]["metrics"]["product_psnr"]
    assert gen["mean"] == pytest.approx(np.mean(per_product)) and gen["n"] == 2
    assert fmt(gen["mean"]) in page
    # the grid: one row per product, the input and one thumbnail per column
    for name in _manifests(runs["stage"][0]):
        row = re.search(rf"<tr data-input='{name}'>(.*?)</tr>", page)
        assert row is not None and row.group(1).count("<img class='thumb'") == 4


def test_markdown_and_json_carry_the_same_numbers(runs, tmp_path: Path) -> None:
    report = build_report([*runs["stage"], *runs["generate"]])
    md = render(report, tmp_path / "md" / "report.md", "md").read_text()
    page = render(report, tmp_path / "report.html", "html").read_text()
    data = json.loads(render(report, tmp_path / "report.json", "json").read_text())
    assert "data:image" not in json.dumps(data)
    for entry in data["runs"]:
        for metric in entry["metrics"].values():  # the table text, from the JSON numbers
            lo, hi = metric["ci95"]
            text = f"{fmt(metric['mean'])} [{fmt(lo)}, {fmt(hi)}] (n = {metric['n']})"
            assert text in md and text in page
    # plots beside the Markdown, images linked relative to it
    plots_md = re.findall(r"!\[[^]]*\]\((report_files/plot-\d\.png)\)", md)
    assert len(plots_md) == 4 and all((tmp_path / "md" / p).is_file() for p in plots_md)
    links = re.findall(r"!\[[^]]*\]\((\.\./[^)]+)\)", md)
    assert links and all((tmp_path / "md" / link).is_file() for link in links)


def test_inpainting_runs_side_by_side(runs, tmp_path: Path) -> None:
    report = build_report(runs["inpaint"])
    data = report.as_dict()
    root = runs["root"]
    for run_dir, entry in zip(runs["inpaint"], data["runs"], strict=True):
        psnr = [
            _psnr(
                _rgb(run_dir / f"photo-{i}.png"),
                _rgb(root / "photos" / f"photo-{i}.png"),
                _rgb(root / "holes" / f"photo-{i}.png")[..., 0] >= 128,
            )[0]
            for i in range(3)
        ]
        assert entry["metrics"]["hole_psnr"]["mean"] == pytest.approx(np.mean(psnr))
        assert entry["items"]["photo-1"]["hole_psnr"] == pytest.approx(psnr[1])
    assert data["runs"][0]["rates"]["images filled"]["k"] == 3
    assert data["runs"][0]["settings"] == {"inpainter": "ns"}
    page = render(report, tmp_path / "i.html").read_text()
    assert "<h2>Inpainting metrics</h2>" in page and page.count("<img class='plot'") == 2
    for i in range(3):
        row = re.search(rf"<tr data-input='photo-{i}'>(.*?)</tr>", page)
        assert row is not None and row.group(1).count("<img class='thumb'") == 3


def test_retrieval_curves_from_extra_and_from_the_run(runs, tmp_path: Path) -> None:
    from adstage.evaluate.retrieval import evaluate_retrieval

    rng = np.random.default_rng(0)
    result = evaluate_retrieval(
        rng.normal(size=(12, 4)), [f"c{i % 3}" for i in range(12)], ks=(1, 3), min_per_category=1
    ).as_dict()
    extra = tmp_path / "retrieval.json"
    extra.write_text(json.dumps(result))
    report = build_report(runs["inpaint"], extra=[extra])
    page = render(report, tmp_path / "r.html").read_text()
    assert "<h2>Retrieval</h2>" in page and fmt(result["precision"]["3"]) in page
    assert page.count("<img class='plot'") == 3
    assert report.as_dict()["retrieval"]["retrieval.json"]["recall"]["1"] == result["recall"]["1"]
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({"fid": 3.0}))
    with pytest.raises(InputError, match="eval retrieval --json"):
        build_report(runs["inpaint"], extra=[bad])


def test_without_matplotlib_each_plot_says_so(runs, tmp_path: Path, monkeypatch) -> None:
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    report = build_report(runs["inpaint"])
    page = render(report, tmp_path / "r.html").read_text()
    assert "<img class='plot'" not in page and page.count(html.escape(NO_MATPLOTLIB)) == 2
    md = render(report, tmp_path / "r.md", "md").read_text()
    assert md.count(NO_MATPLOTLIB) == 2 and not (tmp_path / "r_files").exists()


def test_errors_name_what_was_expected(runs, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        load_run(runs["inpaint"][0] / "inpaint.jsonl")
    with pytest.raises(InputError, match=r"not a run folder \(no adstage-run.json\)"):
        load_run(runs["root"] / "products")
    other = tmp_path / "seg"
    other.mkdir()
    (other / "adstage-run.json").write_text(json.dumps({"command": "segment", "config": {}}))
    with pytest.raises(InputError, match=r"a run of `adstage segment`.*expected"):
        load_run(other)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "adstage-run.json").write_text(json.dumps({"command": "stage", "config": {}}))
    with pytest.raises(InputError, match="no staged product"):
        load_run(empty)
    (tmp_path / "no-fill").mkdir()
    (tmp_path / "no-fill" / "inpaint.jsonl").write_text('{"path": "x", "error": "bad"}\n')
    with pytest.raises(InputError, match="no filled image"):
        load_run(tmp_path / "no-fill")
    with pytest.raises(InputError, match="inpainting runs compare only with inpainting runs"):
        build_report([runs["inpaint"][0], runs["stage"][0]])
    with pytest.raises(InputError, match="given twice"):
        build_report([runs["stage"][0], runs["stage"][0]])
