"""``adstage study``: a human study of realism judgements. ``create`` writes the study file and the
judges' private links, ``serve`` runs the judging pages, ``results`` counts the votes (majorities,
win rates with Wilson intervals, Fleiss' κ, attention checks), ``links`` prints the links again."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Annotated, Any

import typer

from adstage.cli._common import AsJson, MaxPixels, emit_json, err, limit, out_option

app = typer.Typer(
    help="A human study: pairwise, g2r (real or generated?) or best-of-n judgements.",
    no_args_is_help=True,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8080"

StudyFile = Annotated[Path, typer.Argument(help="The study file (STUDY.db).", show_default=False)]
BaseUrl = Annotated[
    str,
    typer.Option(
        "--base-url", help="Where judges reach the server, for the links (its scheme, host, port)."
    ),
]


def _failed(exc: BaseException) -> typer.Exit:
    """An InputError is a usage error (exit 2); any other expected error exits 1."""
    from adstage.errors import InputError

    err.print(f"error: {exc}")
    return typer.Exit(2 if isinstance(exc, InputError) else 1)


@app.command("create")
def create(
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            help="pairwise (CSV: id,left,right[,kind]; pick the more realistic), g2r "
            "(id,image[,truth]; real photograph or generated?) or best-of-n "
            "(id,image1,…,imageN; pick the best).",
            show_default=False,
        ),
    ],
    items: Annotated[
        Path,
        typer.Option(
            "--items",
            help="The items CSV; image paths are relative to its folder.",
            show_default=False,
        ),
    ],
    judges: Annotated[
        int, typer.Option("--judges", min=1, help="How many private links.", show_default=False)
    ],
    out: Annotated[Path, out_option("The study file to write (STUDY.db); never overwritten.")],
    attention_checks: Annotated[
        Path | None,
        typer.Option(
            "--attention-checks",
            help="A CSV of attention checks: the items' columns plus answer (pairwise, "
            "best-of-n: the column of the image to pick; g2r: real or generated). Every judge "
            "gets them, mixed in among the items.",
            show_default=False,
        ),
    ] = None,
    per_item: Annotated[
        int | None,
        typer.Option(
            "--per-item",
            min=1,
            help="Judges per item (default: every judge sees every item).",
            show_default=False,
        ),
    ] = None,
    question: Annotated[
        str | None,
        typer.Option("--question", help="What judges are asked (default: the protocol's)."),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            min=0, help="Seed of the assignment of items to judges (default: random; recorded)."
        ),
    ] = None,
    base_url: BaseUrl = DEFAULT_BASE_URL,
    max_pixels: MaxPixels = None,
    as_json: AsJson = False,
) -> None:
    """Write a study file: the items' images (decoded, re-encoded as PNG without metadata), one
    private link per judge, and each judge's random item order and screen sides."""
    from adstage.errors import AdstageError
    from adstage.serve.study.store import create_study

    try:
        study = create_study(
            out,
            protocol=protocol,
            items=items,
            judges=judges,
            per_item=per_item,
            attention_checks=attention_checks,
            question=question,
            max_pixels=limit(max_pixels),
            seed=seed,
        )
    except (AdstageError, OSError) as exc:
        raise _failed(exc) from exc
    record = study.as_dict(base_url)
    if as_json:
        emit_json(record)
        return
    err.print(
        f"{out}: {protocol}, {study.items} items, {study.attention_checks} attention checks, "
        f"{study.images} images; {judges} judges, {study.per_item} per item"
    )
    for judge in record["judges"]:
        typer.echo(f"{judge['name']}\t{judge['link']}")


@app.command("links")
def links(
    study_file: StudyFile, base_url: BaseUrl = DEFAULT_BASE_URL, as_json: AsJson = False
) -> None:
    """Print the judges' private links again."""
    from adstage.errors import AdstageError
    from adstage.serve.study.store import Study

    try:
        with Study(study_file) as study:
            judges = study.judges()
    except (AdstageError, OSError) as exc:
        raise _failed(exc) from exc
    rows = [{"name": j.name, "token": j.token, "link": j.link(base_url)} for j in judges]
    if as_json:
        emit_json({"study": str(study_file), "judges": rows})
        return
    for row in rows:
        typer.echo(f"{row['name']}\t{row['link']}")


@app.command("serve")
def serve(
    study_file: StudyFile,
    host: Annotated[str, typer.Option("--host", help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="The port.")] = 8080,
) -> None:
    """Serve the judging pages and their API (uvicorn) until interrupted.

    Judges open their private links (adstage study links STUDY.db). The server opens nothing but
    the study file; put it behind an HTTPS reverse proxy before judges reach it over a network.
    """
    from adstage.errors import AdstageError

    try:
        from adstage.serve.study.app import serve as run
    except ImportError as exc:
        err.print(
            f"error: adstage study serve needs the serve extra: pip install 'adstage[serve]' ({exc})"
        )
        raise typer.Exit(1) from exc
    from adstage.serve.study.store import Study

    try:
        with Study(study_file) as study:
            n, protocol = len(study.judges()), study.protocol
    except (AdstageError, OSError) as exc:
        raise _failed(exc) from exc
    err.print(
        f"serving {study_file} ({protocol}, {n} judges) on http://{host}:{port}; "
        f"links: adstage study links {study_file}; Ctrl-C stops"
    )
    try:
        run(study_file, host=host, port=port)
    except (AdstageError, OSError) as exc:
        raise _failed(exc) from exc


@app.command("results")
def results(
    study_file: StudyFile,
    as_json: AsJson = False,
    csv_out: Annotated[
        Path | None,
        typer.Option("--csv", help="Also write one row per item (votes, majority) to this CSV."),
    ] = None,
    max_failed_checks: Annotated[
        float,
        typer.Option(
            "--max-failed-checks",
            min=0.0,
            max=1.0,
            help="Exclude a judge who fails more than this share of their attention checks.",
        ),
    ] = 0.25,
) -> None:
    """Count the votes: per-item majority, win rates with 95 % Wilson intervals, Fleiss' κ, each
    judge's agreement with the majority and the judges excluded by attention checks."""
    from adstage.errors import AdstageError
    from adstage.io.atomic import atomic_write_text
    from adstage.serve.study.stats import study_results
    from adstage.serve.study.store import Study

    try:
        with Study(study_file) as study:
            result = study_results(study, max_failed_checks=max_failed_checks)
        if csv_out is not None:
            atomic_write_text(csv_out, _items_csv(result))
    except (AdstageError, OSError) as exc:
        raise _failed(exc) from exc
    if as_json:
        emit_json(result)
        return
    for line in _summary(result):
        typer.echo(line)


def _items_csv(result: dict[str, Any]) -> str:
    label = {"pairwise": "kind", "g2r": "truth"}.get(result["protocol"])
    header = ["id", *([label] if label else []), "votes", *result["categories"], "majority"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for item in result["items"]:
        writer.writerow(
            [
                item["id"],
                *([item.get(label) or ""] if label else []),
                item["votes"],
                *(item["counts"][c] for c in result["categories"]),
                item["majority"] or "",
            ]
        )
    return buffer.getvalue()


def _share(r: dict[str, Any]) -> str:
    if r["rate"] is None:
        return f"{r['k']} / {r['n']}"
    low, high = r["ci"]
    return f"{r['k']} / {r['n']} = {r['rate']:.3f} [{low:.3f}, {high:.3f}]"


def _summary(result: dict[str, Any]) -> list[str]:
    excluded = result["excluded_judges"]
    lines = [
        f"{result['study']}: {result['protocol']}, {len(result['items'])} items, "
        f"{len(result['judges'])} judges ({len(excluded)} excluded), "
        f"{result['votes']} / {result['expected_votes']} votes",
        "win rates: items whose majority is the category (95 % Wilson interval); votes",
    ]
    for row in result["win_rates"]:
        lines.append(
            f"  {row['group']:<12} {row['category']:<10} {_share(row)}   "
            f"votes {_share(row['votes'])}   ties {row['ties']}"
        )
    if "accuracy" in result:
        lines.append(f"accuracy of the majority against truth: {_share(result['accuracy'])}")
    kappa = result["kappa"]
    value = "undefined" if kappa["value"] is None else f"{kappa['value']:.3f}"
    lines.append(
        f"Fleiss' kappa {value} over {kappa['items']} items x {kappa['raters_per_item']} judges"
    )
    for judge in result["judges"]:
        checks = judge["attention_checks"]
        lines.append(
            f"  {judge['name']:<10} {judge['progress']['done']} / {judge['progress']['total']} "
            f"votes, agrees with the majority {_share(judge['agreement'])}, attention checks "
            f"failed {checks['failed']} / {checks['answered']}"
            + ("  EXCLUDED" if judge["excluded"] else "")
        )
    if excluded:
        lines.append(
            f"excluded (failed more than {result['max_failed_checks']:.0%} of their attention "
            f"checks): {', '.join(excluded)}"
        )
    return lines
