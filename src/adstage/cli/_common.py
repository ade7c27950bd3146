"""The grammar shared by the CLI verbs: options, deprecated spellings, batch runs, error lines.

One spelling and one meaning per option, in every verb that has it:

=====================  ==========================================================================
``-o/--out``           where the outputs go (a folder for batch verbs, a file for one-output verbs)
``-c/--catalog``       the catalog folder (LanceDB)
``-m/--mask``          a product or hole mask for a single input image
``-r/--recursive``     descend into sub-folders of the input folders
``--segmenter``        a segmentation backend (``SEGMENTERS``)
``--inpainter``        an inpainting backend (``INPAINTERS``)
``-e/--embedder``      an embedder (``EMBEDDERS``); repeatable where a catalog takes several
``-k/--top-k``         how many results (ranks, comma-separated, in ``eval retrieval``)
``--aspect``           an output aspect ratio ``W:H``
``--container``        an output file container (png/jpg/webp stills; mp4/gif/webp videos)
``--shadow FLOAT``     contact-shadow strength in [0, 1]; ``--no-shadow`` is ``--shadow 0``
``--overwrite``        redo finished work (finished work is skipped by default)
``--max-pixels``       refuse images whose header announces more pixels
``--json``             one JSON object per item (batch verbs) or per result on stdout
=====================  ==========================================================================

Logs, progress and ``error:`` lines go to stderr, paths printed verbatim (no rich markup). Exit 0
ok, 1 some items failed (or an internal error), 2 usage error. A failed item never stops a batch:
it gets one ``error:`` line, a ``{"path", "error"}`` record with ``--json`` and a row with its
traceback in ``failures.jsonl`` beside the outputs.

Old spellings stay for one release as hidden options (:func:`renamed`, :func:`retired`) that print
one ``warning:`` line naming the new spelling.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from adstage.errors import AdstageError
from adstage.inpaint.base import INPAINTERS
from adstage.registry import Registry
from adstage.retrieve.base import EMBEDDERS
from adstage.segment.base import SEGMENTERS

T = TypeVar("T")

REMOVED_IN = "0.2"
"""The release that drops the deprecated spellings."""

FAILURES = "failures.jsonl"
"""A batch's failed items, one JSON row each (path, error, type, traceback), beside its outputs."""

err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)
"""stderr; markup and emoji codes off, so ``shop/[b]chair.jpg`` prints as it is."""


@dataclass
class _State:
    verbose: int = 0


state = _State()
"""Set by the root command: ``-v`` count (tracebacks of internal errors from ``-v`` on)."""


def names(registry: Registry[Any]) -> str:
    """The registered names, for help texts (lazy targets: nothing is imported)."""
    return ", ".join(registry.names())


# ------------------------------------------------------------------------------------------------
# deprecated spellings


def given(ctx: typer.Context, name: str | None) -> bool:
    """Whether the option ``name`` (its parameter name) was given on the command line or by the
    environment, not left at its default."""
    source = ctx.get_parameter_source(name) if name else None
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def _usage(message: str) -> typer.Exit:
    err.print(f"error: {message}")
    return typer.Exit(2)


def deprecation(old: str, new: str) -> None:
    """The one ``warning:`` line of a deprecated spelling."""
    err.print(f"warning: {old} is deprecated and will be removed in adstage {REMOVED_IN}; {new}")


def _renamed_key(dest: str) -> str:
    return f"adstage.renamed.{dest}"


def renamed(*decls: str, new: str, dest: str, flag_value: Any = None) -> Any:
    """A hidden option spelled ``decls`` that sets the option ``new`` (parameter ``dest``).

    The new option must take the value with :func:`accept_renamed` (the shared options do).
    ``flag_value``: for an old on/off flag (annotate it ``bool``), the value it gives the new
    option.
    """

    def callback(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        if ctx.resilient_parsing or not given(ctx, param.name):
            return value
        deprecation("/".join(decls), f"use {new}")
        if given(ctx, dest):
            raise _usage(f"{decls[0]}: give {new} only (it replaces {decls[0]})")
        ctx.meta[_renamed_key(dest)] = (decls[0], flag_value if flag_value is not None else value)
        return value

    return typer.Option(
        *decls,
        hidden=True,
        expose_value=False,
        callback=callback,
        show_default=False,
    )


def retired(*decls: str, instead: str) -> Any:
    """A hidden on/off flag (annotate it ``bool``) that no longer does anything (e.g.
    ``--resume``): it only warns."""

    def callback(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        if not ctx.resilient_parsing and given(ctx, param.name):
            deprecation("/".join(decls), instead)
        return value

    return typer.Option(
        *decls,
        hidden=True,
        expose_value=False,
        callback=callback,
        show_default=False,
    )


def accept_renamed(check: Callable[[Any], Any] | None = None) -> Callable[..., Any]:
    """The callback of an option that replaced an old spelling: takes the old option's value when
    only the old one was given; then ``check(value)`` (may raise ``typer.Exit(2)``)."""

    def callback(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        if ctx.resilient_parsing:
            return value
        key = _renamed_key(param.name or "")
        if key in ctx.meta:
            old, old_value = ctx.meta.pop(key)
            if given(ctx, param.name):  # given after the old spelling
                raise _usage(f"{old}: give {param.opts[0]} only (it replaces {old})")
            value = old_value
        if check is not None and value is not None:
            check(value)
        return value

    return callback


def _registered(registry: Registry[Any], option: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        for name in value if isinstance(value, list | tuple) else [value]:
            if name not in registry:
                close = difflib.get_close_matches(name, registry.names(), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise _usage(
                    f"{option}: unknown {registry.kind} {name!r}; "
                    f"available: {names(registry)}{hint}"
                )

    return check


# ------------------------------------------------------------------------------------------------
# the shared options


def out_option(help: str) -> Any:
    return typer.Option("--out", "-o", help=help)


def segmenter_option(what: str = "Segmentation backend") -> Any:
    return typer.Option(
        "--segmenter",
        help=f"{what}: {names(SEGMENTERS)}.",
        callback=accept_renamed(_registered(SEGMENTERS, "--segmenter")),
    )


def inpainter_option(what: str = "Inpainting backend") -> Any:
    return typer.Option(
        "--inpainter",
        help=f"{what}: {names(INPAINTERS)}.",
        callback=accept_renamed(_registered(INPAINTERS, "--inpainter")),
    )


def embedder_option(what: str = "Which of the catalog's embedders (default: its first)") -> Any:
    return typer.Option(
        "--embedder",
        "-e",
        help=f"{what}: {names(EMBEDDERS)}.",
        callback=accept_renamed(_registered(EMBEDDERS, "--embedder")),
    )


def top_k_option(help: str, **kwargs: Any) -> Any:
    return typer.Option("--top-k", "-k", help=help, callback=accept_renamed(), **kwargs)


def one_of(option: str, choices: Sequence[str]) -> Callable[[Any], None]:
    """A check for :func:`accept_renamed`: the value is one of ``choices``."""

    def check(value: Any) -> None:
        if value not in choices:
            raise _usage(f"{option}: expected one of {', '.join(choices)}, got {value!r}")

    return check


Inputs = Annotated[list[Path], typer.Argument(help="Image files or folders.", show_default=False)]
Recursive = Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")]
AsJson = Annotated[
    bool,
    typer.Option(
        "--json", help="One JSON object per item (or result) on stdout; logs stay on stderr."
    ),
]
CatalogDir = Annotated[Path, typer.Option("--catalog", "-c", help="Catalog folder (LanceDB).")]
Segmenter = Annotated[str, segmenter_option()]
Inpainter = Annotated[str, inpainter_option()]
Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Redo finished work (by default a re-run skips what is done).",
        callback=accept_renamed(),
    ),
]
MaxPixels = Annotated[
    int | None,
    typer.Option(
        "--max-pixels",
        min=1,
        help="Refuse images whose header announces more pixels (default 100 M, "
        "or $ADSTAGE_MAX_PIXELS).",
        show_default=False,
    ),
]
NoShadow = Annotated[bool, typer.Option("--no-shadow", help="No shadow: --shadow 0.")]


def shadow_option(default: float, *, staging: bool = True) -> Any:
    more = (
        "; with a shadow, the floor under the product's body is shaded and a soft shadow is "
        "cast behind it (none with --no-shadow)"
        if staging
        else ""
    )
    return typer.Option(
        "--shadow",
        min=0.0,
        max=1.0,
        help=f"Contact-shadow strength, 0 (none) to 1 (default {default}){more}.",
        show_default=False,
    )


def shadow_strength(shadow: float, no_shadow: bool) -> float:
    return 0.0 if no_shadow else shadow


Resume = Annotated[
    bool,
    retired("--resume", instead="finished work is skipped by default (--overwrite redoes it)"),
]
"""The old opt-in skip of finished work, now the default: a hidden no-op that warns."""


def limit(max_pixels: int | None) -> int | Literal["default"]:
    """``--max-pixels`` as the readers' ``max_pixels`` argument."""
    return max_pixels if max_pixels is not None else "default"


@contextmanager
def pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Make ``--max-pixels`` the limit of the images that library code reads inside the block
    (its readers use ``$ADSTAGE_MAX_PIXELS``); the environment is restored afterwards."""
    from adstage.io.images import MAX_PIXELS_ENV

    if max_pixels is None:
        yield
        return
    before = os.environ.get(MAX_PIXELS_ENV)
    os.environ[MAX_PIXELS_ENV] = str(max_pixels)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(MAX_PIXELS_ENV, None)
        else:
            os.environ[MAX_PIXELS_ENV] = before


# ------------------------------------------------------------------------------------------------
# output


def progress(
    items: Iterable[T], total: int, description: str, *, enabled: bool = True
) -> Iterator[T]:
    """Iterate with a progress bar on stderr (hidden when stderr is not a terminal)."""
    if not enabled or not err.is_terminal or total <= 1:
        yield from items
        return
    with Progress(
        TextColumn("{task.description}", markup=False),
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


def emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def reason(path: Any, exc: BaseException) -> str:
    """The first line of ``exc``, without a leading ``path: `` (the reader may name the file)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    prefix = f"{path}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def expected(exc: BaseException) -> bool:
    """An error adstage reports by its message (bad input, missing weights, I/O); anything else
    is a bug in adstage or a library it calls, reported as internal with its traceback."""
    return isinstance(exc, AdstageError | OSError)


def report_error(path: Any, exc: BaseException, *, where: Path | None = None) -> None:
    """One ``error:`` line on stderr naming the file and the reason (the traceback too with -v
    for an internal error)."""
    if expected(exc):
        err.print(f"error: {path}: {reason(path, exc)}")
        return
    see = f"traceback in {where}" if where is not None else "run with -v for the traceback"
    err.print(f"error: {path}: internal error: {type(exc).__name__}: {reason(path, exc)} ({see})")
    if state.verbose:
        err.print("".join(traceback.format_exception(exc)).rstrip())


def report_failure(path: Any, exc: BaseException, *, as_json: bool) -> None:
    """A failed single item: one line on stderr, and with ``--json`` an error record on stdout."""
    report_error(path, exc)
    if as_json:
        emit_json(_failure_record(path, exc))


def _failure_record(path: Any, exc: BaseException) -> dict[str, Any]:
    record: dict[str, Any] = {"path": str(path), "error": reason(path, exc)}
    if not expected(exc):
        record["internal"] = True
    return record


def internal_error(exc: BaseException) -> None:
    """An exception that reached the top of a command: a bug. One ``error:`` line naming it as
    internal; the traceback with ``-v``."""
    err.print(
        f"error: internal error: {type(exc).__name__}: {reason('', exc)}"
        + ("" if state.verbose else " (a bug in adstage; run with -v for the traceback)")
    )
    if state.verbose:
        err.print("".join(traceback.format_exception(exc)).rstrip())


# ------------------------------------------------------------------------------------------------
# batches


@dataclass
class Batch:
    """The bookkeeping of a batch over input files.

    Each item ends as done (its JSON record printed with ``--json``), skipped (finished in an
    earlier run) or failed: one ``error:`` line, a ``{"path", "error"}`` record with ``--json``
    and a row with the reason and the traceback appended to ``out/failures.jsonl`` at once (so a
    killed run keeps it). :meth:`exit` ends the command: exit 1 if any item failed.
    """

    command: str
    out: Path | None
    as_json: bool
    done: int = 0
    skipped: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failures_path(self) -> Path | None:
        return self.out / FAILURES if self.out is not None else None

    def ok(self, record: dict[str, Any]) -> None:
        self.done += 1
        if self.as_json:
            emit_json(record)

    def skip(self, record: dict[str, Any]) -> None:
        self.skipped += 1
        if self.as_json:
            emit_json(record | {"skipped": True})

    def fail(self, path: Any, exc: BaseException) -> None:
        record = _failure_record(path, exc)
        self.failed.append(record)
        report_error(path, exc, where=self.failures_path)
        if self.as_json:
            emit_json(record)
        if self.failures_path is not None:
            row = record | {
                "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
                "traceback": "".join(traceback.format_exception(exc)),
            }
            append_failure(self.failures_path, row, self.command)

    def summary(self) -> dict[str, int]:
        return {"done": self.done, "skipped": self.skipped, "failed": len(self.failed)}

    def exit(self) -> None:
        if self.failed:
            raise typer.Exit(1)


def append_failure(failures: Path, row: dict[str, Any], command: str) -> None:
    """Append ``row`` (with the command and the time) to the ``failures.jsonl`` at
    ``failures`` at once, so a killed run keeps it."""
    row = row | {"command": command, "time": datetime.now(UTC).isoformat(timespec="seconds")}
    failures.parent.mkdir(parents=True, exist_ok=True)
    with open(failures, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def unique_stem(path: Path, stems: dict[str, Path]) -> str:
    """The output name for ``path``: its stem, made unique among ``stems`` (updated)."""
    stem = path.stem
    if stem in stems and stems[stem] != path:
        stem = f"{stem}-{len(stems)}"
    stems[stem] = path
    return stem


def run_batch(
    paths: Sequence[Path],
    one: Callable[[Path, str], dict[str, Any]],
    batch: Batch,
    *,
    description: str,
    finished: Callable[[str], Path | None] | None = None,
    overwrite: bool = False,
) -> dict[str, Path]:
    """``one(path, stem)`` for each of ``paths`` (its JSON record's fields besides ``path``);
    any exception fails that item only (see :class:`Batch`). ``finished(stem)``: the output that
    marks an earlier run's finished item (skipped unless ``overwrite``), or None. Returns the
    stems used."""
    stems: dict[str, Path] = {}
    for path in progress(paths, len(paths), description, enabled=not batch.as_json):
        stem = unique_stem(path, stems)
        marker = finished(stem) if finished is not None else None
        if marker is not None and not overwrite:
            batch.skip({"path": str(path), "output": str(marker)})
            continue
        try:
            record = one(path, stem)
        except Exception as exc:  # one item's failure, whatever it is, never stops the batch
            batch.fail(path, exc)
            continue
        batch.ok({"path": str(path)} | record)
    return stems


def image_paths(inputs: list[Path], *, recursive: bool) -> list[Path]:
    """The images of ``inputs``; exit 1 with an ``error:`` line when there are none."""
    from adstage.io.images import iter_image_paths

    paths = list(iter_image_paths(inputs, recursive=recursive))
    if not paths:
        err.print("error: no images found in the given inputs")
        raise typer.Exit(1)
    return paths


def check_where(store: Any, where: str | None) -> None:
    """Exit 2 when the SQL filter ``where`` is not one the catalog ``store`` can run.

    The filter is tried alone (a row count) before any work, so the error of a bad filter (which
    LanceDB raises as a ``ValueError``) is told apart from an error in the work that follows.
    """
    if not where:
        return
    try:
        store.table.count_rows(where)
    except ValueError as exc:
        raise _usage(
            f"--where {where!r}: not a filter this catalog can run: {reason('', exc)}"
        ) from exc
