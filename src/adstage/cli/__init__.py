"""The ``adstage`` command line: one module per verb, heavy imports inside the commands.

Exit codes: 0 ok, 1 some items failed, 2 usage error. Results go to stdout or files, logs and
progress to stderr; ``--json`` wherever a script reads the answer. The options shared by the verbs
(one spelling, one meaning) are defined once, in :mod:`adstage.cli._common`.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from adstage._version import __version__
from adstage.cli import animate, catalog, demo, evaluate, inpaint, segment, stage, triage, weights
from adstage.cli import batch as batch_cli
from adstage.cli import convert as convert_cli
from adstage.cli import dataset as dataset_cli
from adstage.cli import generate as generate_cli
from adstage.cli import serve as serve_cli
from adstage.cli import study as study_cli
from adstage.cli import train as train_cli
from adstage.cli._common import internal_error, state


class _Adstage(TyperGroup):
    """The root group: an exception that escapes a command is a bug, reported as internal (one
    ``error:`` line, the traceback with -v) with exit 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as exc:
            internal_error(exc)
            raise typer.Exit(1) from exc


app = typer.Typer(
    name="adstage",
    cls=_Adstage,
    help="Stage e-commerce product photos for advertising: offline, on a CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # docstrings are plain text: lines join into paragraphs, [x] stays
)
app.command("segment")(segment.segment)
app.command("triage")(triage.triage)
app.command("demo")(demo.demo)
app.command("ingest")(catalog.ingest)
app.command("retrieve")(catalog.retrieve)
app.command("inpaint")(inpaint.inpaint)
app.command("stage")(stage.stage)
app.command("animate", cls=animate.AnimateCommand)(animate.animate)
app.command("generate")(generate_cli.generate)
app.command("serve")(serve_cli.serve)
app.add_typer(weights.app, name="weights")
app.add_typer(evaluate.app, name="eval")
app.add_typer(train_cli.app, name="train")
app.add_typer(convert_cli.app, name="convert")
app.add_typer(dataset_cli.app, name="dataset")
app.add_typer(study_cli.app, name="study")
app.add_typer(batch_cli.app, name="batch")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"adstage {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logging.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
) -> None:
    state.verbose = verbose
    level = (
        logging.ERROR
        if quiet
        else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    )
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    app()
