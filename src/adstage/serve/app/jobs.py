"""The job store and its workers: a bounded queue, worker threads, timeouts, a graceful stop.

A job is queued → running → done | failed | cancelled. Its folder ``ROOT/ID/`` holds the files
it made (each written atomically) and, once it has finished, ``job.json`` (its final record,
written atomically, listing only complete files), so a reader of the folder — or a crash at any
moment — never sees a half-written result; a folder without ``job.json`` is a job that never
finished. While a job is queued or running its record lives in memory (the API's view).

- **Bounded**: at most ``queue_size`` jobs wait; :meth:`JobStore.submit` raises
  :class:`QueueFull` beyond (the app answers 429).
- **Timeouts**: a job running longer than ``timeout`` seconds is failed (``timeout``) by the
  watchdog and its worker replaced; the old thread cannot be killed (Python threads cannot), so
  it is told to stop at its next progress report (or file it asks for) and its result, if any,
  is dropped. While more than ``workers`` such abandoned threads are still alive no replacement
  starts: the queue waits (and fills up to 429) instead of the threads growing without bound, so
  at most ``2 × workers`` job threads ever run.
- **Shutdown**: :meth:`JobStore.shutdown` refuses new jobs, cancels the queued ones, gives the
  running ones ``grace`` seconds and cancels those still running (their records say so).
- **Bounded memory and disk**: beyond ``keep`` finished jobs the oldest finished are forgotten
  and their folders deleted (outside the lock). A job whose inputs cannot be written leaves no
  folder; a disk error is raised as :class:`StorageError`.

Job ids are 32 lower-case hex digits (128 random bits); :func:`valid_id` is checked before an id
comes near a path.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adstage.errors import AdstageError, InputError, WeightsNotFound
from adstage.io.atomic import atomic_write_text

log = logging.getLogger(__name__)

STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = frozenset({"done", "failed", "cancelled"})
JOB_ID = re.compile(r"[0-9a-f]{32}")
FILE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}\.(png|jpg|webp|gif|mp4|json)")
"""The names a job may give its files (so a file route can never name anything else)."""

MEDIA_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "mp4": "video/mp4",
    "json": "application/json",
}


def valid_id(job_id: str) -> bool:
    return JOB_ID.fullmatch(job_id) is not None


class QueueFull(AdstageError):
    """The queue holds ``queue_size`` jobs already."""


class ShuttingDown(AdstageError):
    """The store no longer takes jobs."""


class StorageError(AdstageError):
    """A job's inputs could not be written (a full or failing disk); ``errno`` says why."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class Cancelled(Exception):
    """Raised inside a job's work by :meth:`JobContext.progress` once the job is cancelled."""


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


@dataclass(eq=False)
class Job:
    """One unit of work and everything a client may ask about it."""

    id: str
    kind: str
    folder: Path
    created: float = field(default_factory=time.time)
    state: str = "queued"
    progress: float = 0.0
    message: str = ""
    started: float | None = None
    finished: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    files: dict[str, str] = field(default_factory=dict)
    """Name → media type of the complete files in :attr:`folder`."""
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    future: Future[None] = field(default_factory=Future, repr=False)
    deadline: float | None = field(default=None, repr=False)

    def record(self) -> dict[str, Any]:
        """The JSON-ready record (``job.json``; the API adds the download URLs)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "progress": round(self.progress, 4),
            "message": self.message,
            "created": _iso(self.created),
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "result": self.result,
            "error": self.error,
            "files": sorted(self.files),
        }


class JobContext:
    """What a job's work function gets: its folder, progress reports and file registration."""

    def __init__(self, job: Job, store: JobStore) -> None:
        self.job = job
        self._store = store

    @property
    def folder(self) -> Path:
        return self.job.folder

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress in [0, 1]; raises :class:`Cancelled` once the job is cancelled."""
        if self.job.cancel.is_set():
            raise Cancelled(self.job.id)
        with self._store.lock:
            if self.job.state == "running":
                self.job.progress = min(max(float(fraction), 0.0), 1.0)
                self.job.message = message

    def path(self, name: str) -> Path:
        """Where to write the file ``name`` (checked against :data:`FILE_NAME`); raises
        :class:`Cancelled` once the job is cancelled or timed out (it writes nothing more)."""
        if self.job.cancel.is_set():
            raise Cancelled(self.job.id)
        if not FILE_NAME.fullmatch(name):
            raise ValueError(f"job file name {name!r} does not match {FILE_NAME.pattern}")
        return self.job.folder / name

    def add(self, name: str) -> str:
        """Register the complete file ``name``; returns it (for the result's file names)."""
        self.path(name)
        with self._store.lock:
            if self.job.state == "running":  # a timed-out or cancelled job publishes nothing
                self.job.files[name] = MEDIA_TYPES[name.rsplit(".", 1)[1]]
        return name


Work = Callable[[JobContext], dict[str, Any]]
"""A job's work: writes its files through the context, returns the result's JSON."""


_SERVER_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s'\"/,;()]+/)*([^\s'\"/,;()]+)")
"""An absolute path in a message (not a URL's path, not a ratio like ``4/5``)."""


def hide_paths(text: str) -> str:
    """``text`` with every absolute path cut to its last part (``…/name``): a client is never
    told where the server keeps its files (the catalog, the models, the jobs)."""
    return _SERVER_PATH.sub(lambda m: f"…/{m.group(1)}", text)


def error_of(exc: BaseException) -> dict[str, str]:
    """The ``{"code", "message"}`` a failed job reports for ``exc`` (server paths hidden)."""
    if isinstance(exc, WeightsNotFound):
        return {"code": "weights_missing", "message": hide_paths(str(exc))}
    if isinstance(exc, InputError):
        return {"code": "bad_input", "message": hide_paths(str(exc).splitlines()[0])}
    if isinstance(exc, AdstageError):
        return {"code": "failed", "message": hide_paths(str(exc).splitlines()[0])}
    return {"code": "internal", "message": "internal error (logged on the server)"}


@dataclass(eq=False)
class _Worker:
    thread: threading.Thread | None = None
    job: Job | None = None
    abandoned: bool = False


class JobStore:
    """Jobs by id, the queue and the worker threads (see the module doc)."""

    def __init__(
        self,
        root: Path,
        *,
        workers: int = 2,
        queue_size: int = 64,
        timeout: float = 300.0,
        keep: int = 1000,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.queue_size = queue_size
        self.timeout = timeout
        self.keep = keep
        self.lock = threading.Lock()
        self._ready = threading.Condition(self.lock)
        self._jobs: dict[str, Job] = {}
        self._work: dict[str, Work] = {}
        self._pending: deque[Job] = deque()
        self._workers: list[_Worker] = []
        self._abandoned: list[threading.Thread] = []
        """Threads of timed-out jobs, still running until their next progress report."""
        self._doomed: list[Path] = []
        """Folders of evicted jobs, deleted outside the lock."""
        self._stopping = False
        self._closed = threading.Event()
        self.finished_total: Counter[tuple[str, str]] = Counter()
        self._n_workers = workers
        self._watchdog: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        with self.lock:
            for _ in range(self._n_workers):
                self._spawn()
        self._watchdog = threading.Thread(target=self._watch, name="adstage-watchdog", daemon=True)
        self._watchdog.start()

    def _spawn(self) -> None:
        worker = _Worker()
        worker.thread = threading.Thread(
            target=self._run, args=(worker,), name="adstage-job", daemon=True
        )
        self._workers.append(worker)
        worker.thread.start()

    def stop_taking(self) -> None:
        """The first half of a shutdown: no new jobs, and the queued ones cancelled."""
        with self.lock:
            self._stopping = True
            while self._pending:
                self._finish(self._pending.popleft(), "cancelled", message="server shut down")
            self._ready.notify_all()
        self._sweep()

    def shutdown(self, grace: float) -> None:
        """Stop: no new jobs, queued ones cancelled, running ones given ``grace`` seconds."""
        self.stop_taking()
        with self.lock:
            workers = [w for w in self._workers if not w.abandoned]
        deadline = time.monotonic() + grace
        for worker in workers:
            if worker.thread is not None:
                worker.thread.join(max(0.0, deadline - time.monotonic()))
        with self.lock:
            for job in list(self._jobs.values()):
                if job.state == "running":
                    job.cancel.set()
                    self._finish(
                        job, "cancelled", message="server shut down before the job finished"
                    )
        self._sweep()
        self._closed.set()

    # -- queries --------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        if not valid_id(job_id):
            return None
        with self.lock:
            return self._jobs.get(job_id)

    def view(self, job_id: str) -> tuple[dict[str, Any], dict[str, str]] | None:
        """A consistent snapshot of a job's record and files, or None."""
        job = self.get(job_id)
        if job is None:
            return None
        with self.lock:
            return job.record(), dict(job.files)

    def depth(self) -> int:
        with self.lock:
            return len(self._pending)

    def counts(self) -> dict[str, int]:
        with self.lock:
            counts = Counter(job.state for job in self._jobs.values())
            return {state: counts.get(state, 0) for state in STATES}

    # -- submitting and cancelling --------------------------------------------------------------

    def submit(self, kind: str, work: Work, prepare: Callable[[Path], None] | None = None) -> Job:
        """Queue ``work``; ``prepare(folder)`` writes its inputs first (outside the lock)."""
        with self.lock:
            if self._stopping:
                raise ShuttingDown("the server is shutting down; no new jobs")
            if len(self._pending) >= self.queue_size:
                raise QueueFull(f"{self.queue_size} jobs are waiting already; retry later")
        job_id = secrets.token_hex(16)
        job = Job(id=job_id, kind=kind, folder=self.root / job_id)
        try:
            job.folder.mkdir(parents=True)
            if prepare is not None:
                prepare(job.folder)
        except BaseException as exc:
            shutil.rmtree(job.folder, ignore_errors=True)  # no folder of a job that never was
            if isinstance(exc, OSError):
                log.error("cannot write the inputs of a %s job: %s", kind, exc)
                reason = exc.strerror or type(exc).__name__
                raise StorageError(
                    f"the server cannot store the job's inputs ({reason}); retry later",
                    exc.errno,
                ) from exc
            raise
        with self.lock:
            if self._stopping:
                shutil.rmtree(job.folder, ignore_errors=True)
                raise ShuttingDown("the server is shutting down; no new jobs")
            if len(self._pending) >= self.queue_size:  # filled while the inputs were written
                shutil.rmtree(job.folder, ignore_errors=True)
                raise QueueFull(f"{self.queue_size} jobs are waiting already; retry later")
            self._jobs[job_id] = job
            self._work[job_id] = work
            self._pending.append(job)
            self._ready.notify()
        return job

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued or running job (a running one stops at its next progress report)."""
        job = self.get(job_id)
        if job is None:
            return None
        with self.lock:
            if job.state == "queued":
                self._pending.remove(job)
            if job.state in ("queued", "running"):
                job.cancel.set()
                self._finish(job, "cancelled", message="cancelled by the client")
        self._sweep()
        return job

    # -- internals (call with the lock held) ------------------------------------------------------

    def _save(self, job: Job) -> None:
        try:
            atomic_write_text(job.folder / "job.json", json.dumps(job.record(), indent=1) + "\n")
        except OSError:
            log.exception("job %s: cannot write job.json", job.id)

    def _finish(
        self,
        job: Job,
        state: str,
        *,
        message: str = "",
        result: dict[str, Any] | None = None,
        error: dict[str, str] | None = None,
    ) -> None:
        if job.state in FINISHED:
            return
        job.state = state
        job.finished = time.time()
        job.message = message
        job.result = result
        job.error = error
        if state == "done":
            job.progress = 1.0
        else:
            job.files.clear()  # a failed or cancelled job publishes nothing
        self._work.pop(job.id, None)
        self.finished_total[(job.kind, state)] += 1
        self._save(job)
        job.future.set_result(None)
        self._evict()

    def _evict(self) -> None:
        """Forget the oldest finished jobs beyond ``keep``; their folders are deleted later, by
        :meth:`_sweep`, outside the lock (a big folder takes a while)."""
        finished = [j for j in self._jobs.values() if j.state in FINISHED]
        excess = len(finished) - self.keep
        if excess <= 0:
            return
        finished.sort(key=lambda j: j.finished or 0.0)
        for job in finished[:excess]:
            del self._jobs[job.id]
            self._doomed.append(job.folder)

    def _sweep(self) -> None:
        """Delete the folders of evicted jobs (call without the lock)."""
        with self.lock:
            folders, self._doomed = self._doomed, []
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    def _replace_workers(self) -> None:
        """Start workers up to ``workers`` while at most ``workers`` abandoned threads live."""
        self._abandoned = [t for t in self._abandoned if t.is_alive()]
        while (
            not self._stopping
            and len(self._workers) < self._n_workers
            and len(self._abandoned) <= self._n_workers
        ):
            self._spawn()

    def live_threads(self) -> int:
        """Job threads alive: the workers and the abandoned threads of timed-out jobs."""
        with self.lock:
            workers = [w.thread for w in self._workers if w.thread is not None]
            return sum(t.is_alive() for t in [*workers, *self._abandoned])

    # -- the threads ----------------------------------------------------------------------------

    def _next(self, worker: _Worker) -> tuple[Job, Work] | None:
        with self.lock:
            while not self._pending and not self._stopping:
                self._ready.wait()
            if not self._pending:
                return None
            job = self._pending.popleft()
            job.state = "running"
            job.started = time.time()
            job.deadline = time.monotonic() + self.timeout
            worker.job = job
            return job, self._work[job.id]

    def _run(self, worker: _Worker) -> None:
        while True:
            taken = self._next(worker)
            if taken is None:
                return
            job, work = taken
            context = JobContext(job, self)
            try:
                result = work(context)
            except Cancelled:
                outcome: tuple[str, dict[str, Any] | None, dict[str, str] | None] = (
                    "cancelled",
                    None,
                    None,
                )
            except Exception as exc:
                if not isinstance(exc, AdstageError | OSError):
                    log.exception("job %s (%s) failed", job.id, job.kind)
                else:
                    log.warning("job %s (%s) failed: %s", job.id, job.kind, exc)
                outcome = ("failed", None, error_of(exc))
            else:
                outcome = ("done", result, None)
            with self.lock:
                state, result_json, error = outcome
                self._finish(job, state, result=result_json, error=error)
                worker.job = None
                abandoned = worker.abandoned
            self._sweep()
            if abandoned:
                return

    def _watch(self) -> None:
        while not self._closed.wait(0.2):
            now = time.monotonic()
            with self.lock:
                for worker in list(self._workers):
                    job = worker.job
                    if job is None or job.deadline is None or now < job.deadline:
                        continue
                    job.cancel.set()
                    self._finish(
                        job,
                        "failed",
                        error={
                            "code": "timeout",
                            "message": f"the job ran longer than {self.timeout:g} s",
                        },
                    )
                    worker.abandoned = True
                    worker.job = None
                    self._workers.remove(worker)
                    if worker.thread is not None:
                        self._abandoned.append(worker.thread)
                    log.warning(
                        "job %s timed out; its thread is abandoned (%d alive)",
                        job.id,
                        sum(t.is_alive() for t in self._abandoned),
                    )
                self._replace_workers()
            self._sweep()
