"""The batch runner: the driver's loop and the engines that run the workers.

A :class:`Work` is a picklable callable built in the driver from a config: each worker calls its
:meth:`~Work.setup` once (models load there) and then :meth:`~Work.run` per item. It returns the
item's output files as bytes and what it reports; it never writes. The driver (:func:`run`)
streams the items, hashes each one's content, skips those the manifest has done for this config,
hands the rest to an engine and, as outcomes come back, lets the :class:`Sink` commit them (write
the files, add catalog rows) before it writes each item's manifest row. Whatever one item raises
is that item's failure, recorded with its reason and traceback; the run goes on.

Engines, each running the same :class:`Work`:

``local``
    ``workers=1``: in the driver's process. ``workers=N``: N spawned processes
    (:class:`~concurrent.futures.ProcessPoolExecutor`), ``setup`` once in each; at most 2N items
    in flight, so the item list streams.
``ray``
    Ray Data: ``map_batches`` with a callable class on an actor pool of ``workers`` actors
    (``setup`` once per actor) over chunks of ``chunk`` items, on a local Ray started with
    ``num_cpus=workers`` or the cluster at ``address``. Ray is optional (``pip install
    'adstage[batch]'``) and imported only here.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import pickle
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from adstage.batch.items import Item, input_hash
from adstage.batch.manifest import Manifest, Row, config_hash
from adstage.errors import AdstageError, BackendUnavailable, InputError
from adstage.io.hashing import sha256_bytes

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")

RAY_INSTALL = "pip install 'adstage[batch]'"
"""The command that installs the Ray engine."""

DEFAULT_CHUNK = 10_000
"""Items per Ray Data dataset: the driver's memory for pending items, and how often actors
restart (their ``setup`` runs once per chunk)."""


@dataclass(frozen=True)
class Task:
    """An item to do: its manifest ``key`` (``input:config``), content ``input`` hash and image
    ``sha256``."""

    key: str
    input: str
    sha256: str
    item: Item


@dataclass
class Outcome:
    """What a worker sends back for one task: ``files`` (name → bytes) and ``result`` on success,
    ``payload`` for the sink (e.g. catalog rows); ``error`` (one line), ``error_type`` and
    ``traceback`` on failure; ``seconds`` of work."""

    task: Task
    ok: bool
    files: dict[str, bytes] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    payload: Any = None
    error: str = ""
    error_type: str = ""
    traceback: str = ""
    seconds: float = 0.0


class Work:
    """The per-item callable of a batch (subclass it). Built in the driver, pickled to workers:
    keep loaded models out of ``__init__`` and in :meth:`setup`."""

    command = "work"
    gpus = 0
    """GPUs each worker needs (a Ray actor asks for them; the local engine does not count)."""

    def config(self) -> dict[str, Any]:
        """Everything that changes the outputs: its hash keys the manifest."""
        raise NotImplementedError

    def setup(self) -> None:
        """Load models: once per worker process or actor, before the first :meth:`run`."""

    def run(self, task: Task) -> tuple[dict[str, bytes], dict[str, Any], Any]:
        """``(files, result, payload)`` of one task; raise on failure."""
        raise NotImplementedError


def perform(work: Work, task: Task) -> Outcome:
    """``work.run(task)`` as an :class:`Outcome`: any exception is the task's failure."""
    started = time.perf_counter()
    try:
        files, result, payload = work.run(task)
    except Exception as exc:  # one item's failure, whatever it is, never stops the batch
        return failure(task, exc, seconds=time.perf_counter() - started)
    return Outcome(
        task, True, files, result, payload, seconds=round(time.perf_counter() - started, 4)
    )


class SetupFailed(AdstageError):
    """A worker could not load its models (:meth:`Work.setup` raised): the run stops with the
    reason instead of failing every item. ``reason`` is the first line of the setup's error."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"a worker could not load its models: {reason}")
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process and Ray boundaries
        return (SetupFailed, (self.reason,))


def _setup(work: Work) -> SetupFailed | None:
    """``work.setup()``; its error as a :class:`SetupFailed` (logged with its traceback; the
    original is its ``__cause__`` in this process)."""
    try:
        work.setup()
    except Exception as exc:
        log.error("worker setup failed", exc_info=True)
        failed = SetupFailed(_reason(exc))
        failed.__cause__ = exc
        return failed
    return None


def _reason(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type's name when it has none), led by the type's
    name for an exception that is not bad input or I/O."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if not isinstance(exc, AdstageError | OSError):
        text = f"{type(exc).__name__}: {text}"
    return text


def failure(task: Task, exc: BaseException, *, seconds: float = 0.0) -> Outcome:
    """A failed :class:`Outcome`: the first line of the message; ``internal error: …`` for an
    exception that is not bad input or I/O (a bug), with its traceback either way."""
    text = _reason(exc)
    if not isinstance(exc, AdstageError | OSError):
        text = f"internal error: {text}"
    return Outcome(
        task,
        False,
        error=text,
        error_type=f"{type(exc).__module__}.{type(exc).__qualname__}",
        traceback="".join(traceback.format_exception(exc)),
        seconds=round(seconds, 4),
    )


class Sink(Protocol):
    """The driver's side of a batch: decides what is done already and commits outcomes."""

    def claim(self, task: Task) -> bool:
        """False when ``task`` is done by other means (e.g. its image is in the catalog)."""
        ...

    def accept(self, outcome: Outcome) -> list[tuple[Outcome, str]]:
        """Take a successful outcome; return those now settled, each with its output path
        (relative to the manifest's folder, or empty): durable ones as they came, and, when a
        commit raised, every outcome it held as a failure (:func:`failure`) with the reason.
        An exception raised here fails ``outcome`` only, so a sink that holds outcomes must
        return them rather than raise."""
        ...

    def flush(self) -> list[tuple[Outcome, str]]:
        """Commit what is held; return it as :meth:`accept` does."""
        ...


@dataclass
class Summary:
    """A run's counts and time."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    config: str = ""

    def as_dict(self) -> dict[str, Any]:
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        return {
            "done": self.done,
            "skipped": self.skipped,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "items_per_second": round(rate, 4),
            "config": self.config,
        }


Event = Callable[[str, Item, "Outcome | None"], None]
"""``on_event(status, item, outcome)``: ``status`` is ``done``, ``skipped`` or ``failed``."""


def run(
    items: Iterable[Item],
    work: Work,
    sink: Sink,
    manifest: Manifest,
    *,
    engine: str = "local",
    workers: int = 1,
    address: str | None = None,
    chunk: int = DEFAULT_CHUNK,
    overwrite: bool = False,
    on_event: Event | None = None,
) -> Summary:
    """Do ``work`` on each of ``items`` not done for its config (all of them with
    ``overwrite``), commit through ``sink``, record each in ``manifest``; see the module
    docstring. Invalid arguments raise :class:`~adstage.errors.InputError`; a missing Ray
    :class:`~adstage.errors.BackendUnavailable` naming the install command."""
    if engine not in ENGINES:
        raise InputError(f"engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers: expected an integer >= 1, got {workers!r}")
    if chunk < 1:
        raise InputError(f"chunk: expected at least 1, got {chunk}")
    if address is not None and engine != "ray":
        raise InputError("address: only with engine='ray' (the Ray cluster to join)")
    if engine == "ray":
        ray_available()
    body = work.config()
    config = config_hash(body)
    manifest.add_config(config, work.command, body)
    summary = Summary(config=config)
    in_flight: set[str] = set()
    started = time.perf_counter()

    def event(status: str, item: Item, outcome: Outcome | None = None) -> None:
        setattr(summary, status, getattr(summary, status) + 1)
        if on_event is not None:
            on_event(status, item, outcome)

    def fail(outcome: Outcome) -> None:
        task = outcome.task
        manifest.record(_row(task, config, outcome, status="failed"))
        event("failed", task.item, outcome)

    def tasks() -> Iterator[Task]:
        for item in items:
            if item.error:
                fail(_unreadable(item, config, InputError(item.error)))
                continue
            try:
                digest, sha = input_hash(item)
            except OSError as exc:
                fail(_unreadable(item, config, exc))
                continue
            key = f"{digest}:{config}"
            task = Task(key, digest, sha, item)
            if key in in_flight or (not overwrite and manifest.is_done(key)):
                event("skipped", item)
                continue
            if not sink.claim(task):
                event("skipped", item)
                continue
            in_flight.add(key)
            yield task

    def settle(committed: list[tuple[Outcome, str]]) -> None:
        for outcome, output in committed:
            in_flight.discard(outcome.task.key)
            if not outcome.ok:  # its commit failed
                fail(outcome)
                continue
            manifest.record(_row(outcome.task, config, outcome, status="done", output=output))
            event("done", outcome.task.item, outcome)

    try:
        for outcome in _execute(tasks(), work, engine, workers, address, chunk):
            if not outcome.ok:
                in_flight.discard(outcome.task.key)
                fail(outcome)
                continue
            try:
                committed = sink.accept(outcome)
            except Exception as exc:  # a commit that fails (a full disk) fails its item
                in_flight.discard(outcome.task.key)
                fail(failure(outcome.task, exc))
                continue
            settle(committed)
    except SetupFailed:  # what was done before the run stopped is committed, not redone
        settle(sink.flush())
        raise
    settle(sink.flush())
    summary.seconds = time.perf_counter() - started
    return summary


def _row(task: Task, config: str, outcome: Outcome, *, status: str, output: str = "") -> Row:
    item = task.item
    return Row(
        key=task.key,
        input=task.input,
        config=config,
        status=status,
        path=item.path,
        masks=list(item.masks),
        id=item.id,
        category=item.category,
        ref=item.ref,
        output=output,
        files={name: sha256_bytes(data) for name, data in sorted(outcome.files.items())}
        if status == "done"
        else {},
        result=outcome.result if status == "done" else {},
        error=outcome.error,
        error_type=outcome.error_type,
        traceback=outcome.traceback,
        seconds=outcome.seconds,
    )


def _unreadable(item: Item, config: str, exc: BaseException) -> Outcome:
    """The failure of an item that never reached a worker (a bad row, an unreadable file): keyed
    by its path, since it has no content hash."""
    digest = sha256_bytes(f"path:{item.path}:{item.ref}".encode())
    outcome = failure(Task(f"{digest}:{config}", digest, "", item), exc)
    if isinstance(exc, OSError):
        outcome.error = f"cannot read file ({exc.strerror or exc})"
    return outcome


# ------------------------------------------------------------------------------------------------
# engines


def _execute(
    tasks: Iterator[Task], work: Work, engine: str, workers: int, address: str | None, chunk: int
) -> Iterator[Outcome]:
    if engine == "ray":
        return _ray(tasks, work, workers, address, chunk)
    if workers == 1:
        return _in_process(tasks, work)
    return _processes(tasks, work, workers)


def _in_process(tasks: Iterator[Task], work: Work) -> Iterator[Outcome]:
    failed = _setup(work)
    if failed is not None:
        raise failed
    for task in tasks:
        yield perform(work, task)


_worker_work: Work | None = None
_worker_failed: SetupFailed | None = None


def _init_worker(work: Work) -> None:
    global _worker_work, _worker_failed
    _worker_failed = _setup(work)  # kept, not raised: a raising initializer breaks the pool
    _worker_work = work


def _perform_in_worker(task: Task) -> Outcome:
    if _worker_failed is not None:
        raise _worker_failed
    if _worker_work is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("worker not initialised")
    return perform(_worker_work, task)


def _processes(tasks: Iterator[Task], work: Work, workers: int) -> Iterator[Outcome]:
    """N spawned worker processes (not forked: the driver holds LanceDB's threads), at most 2N
    tasks in flight. A worker that dies (a crash in native code) fails the tasks in flight, and
    a new pool takes the rest. A worker whose setup failed stops the run (:class:`SetupFailed`):
    tasks not started are dropped (the next run does them), those running on other workers
    finish and are yielded first."""
    context = multiprocessing.get_context("spawn")

    def pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(work,)
        )

    executor = pool()
    pending: dict[Future[Outcome], Task] = {}
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < 2 * workers:
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                    break
                pending[executor.submit(_perform_in_worker, task)] = task
            if not pending:
                return
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = False
            for future in finished:
                task = pending.pop(future)
                try:
                    yield future.result()
                except SetupFailed:
                    yield from _drain(pending)
                    raise
                except BrokenProcessPool as exc:
                    broken = True
                    yield failure(task, AdstageError(f"a worker process died ({exc})"))
            if broken:
                for task in pending.values():
                    yield failure(task, AdstageError("a worker process died"))
                pending.clear()
                executor.shutdown(wait=False, cancel_futures=True)
                executor = pool()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _drain(pending: dict[Future[Outcome], Task]) -> Iterator[Outcome]:
    """The outcomes of the tasks still running when the run stops; those not started are
    cancelled."""
    for future in list(pending):
        future.cancel()
    for future in list(pending):
        if future.cancelled():
            continue
        try:
            yield future.result()
        except Exception:  # this worker's setup failed too, or it died: no outcome
            continue
    pending.clear()


def ray_available() -> None:
    """Raise :class:`~adstage.errors.BackendUnavailable` naming the install command when Ray
    (with Ray Data) cannot be imported."""
    try:
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(
            f"engine 'ray': Ray is not installed ({exc}); {RAY_INSTALL}"
        ) from exc


class _RayWork:
    """The callable class Ray Data runs on each actor: ``setup`` once, then one task per row.
    A failed setup answers every row with its :class:`SetupFailed`, which the driver raises."""

    def __init__(self, work: Work) -> None:
        self.failed = _setup(work)
        self.work = work

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[bytes]]:
        if self.failed is not None:
            return {"outcome": [pickle.dumps(self.failed) for _ in batch["task"]]}
        outcomes = [perform(self.work, pickle.loads(blob)) for blob in batch["task"]]
        return {"outcome": [pickle.dumps(outcome) for outcome in outcomes]}


def _ray(
    tasks: Iterator[Task], work: Work, workers: int, address: str | None, chunk: int
) -> Iterator[Outcome]:
    """Ray Data over chunks of ``chunk`` tasks (a dataset each); outcomes as they finish."""
    import ray
    import ray.data

    started = False
    if not ray.is_initialized():
        with warnings.catch_warnings():  # Ray fork-execs its daemons: no LanceDB state goes along
            warnings.filterwarnings("ignore", "lancedb fork support", RuntimeWarning)
            _ray_init(ray, address, workers)
        started = True
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    try:
        while True:
            part = list(itertools.islice(tasks, chunk))
            if not part:
                return
            dataset = ray.data.from_items(
                [{"task": pickle.dumps(task)} for task in part],
                override_num_blocks=min(len(part), 4 * workers),
            ).map_batches(
                _RayWork,
                fn_constructor_kwargs={"work": work},
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=1,
                num_gpus=work.gpus,
                batch_size=1,
                batch_format="numpy",
            )
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                for blob in batch["outcome"]:
                    outcome = pickle.loads(blob)
                    if isinstance(outcome, SetupFailed):
                        raise outcome
                    yield outcome
    finally:
        if started:
            ray.shutdown()


def _ray_init(ray: Any, address: str | None, workers: int) -> None:
    """Join the cluster at ``address``, or start a local Ray with ``workers`` CPUs."""
    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    else:
        ray.init(
            num_cpus=workers,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )


def scratch(out: Path) -> Path:
    """``out/.batch-tmp``: where a sink assembles an item's folder before it renames it into
    place (emptied at the start of every run)."""
    return out / ".batch-tmp"
