"""Shared pieces of the CLI verbs: console on stderr, progress bars, per-item error reporting."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

T = TypeVar("T")

err = Console(stderr=True, highlight=False, soft_wrap=True)

# Options shared by the verbs that read images.
Inputs = Annotated[list[Path], typer.Argument(help="Image files or folders.", show_default=False)]
Recursive = Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON object per image on stdout.")]
MaxPixels = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Refuse images whose header announces more pixels (default 100 M, "
        "or $ADSTAGE_MAX_PIXELS).",
    ),
]


def progress(
    items: Iterable[T], total: int, description: str, *, enabled: bool = True
) -> Iterator[T]:
    """Iterate with a progress bar on stderr (hidden when stderr is not a terminal)."""
    if not enabled or not err.is_terminal or total <= 1:
        yield from items
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


def report_error(path: Any, exc: BaseException) -> None:
    """One line on stderr naming the file and the reason."""
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if not message.startswith(str(path)):
        message = f"{path}: {message}"
    err.print(f"error: {message}", markup=False)


def report_failure(path: Any, exc: BaseException, *, as_json: bool) -> None:
    """A failed item: one line on stderr, and with ``--json`` an error record on stdout."""
    report_error(path, exc)
    if as_json:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        emit_json({"path": str(path), "error": message})


def emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()
