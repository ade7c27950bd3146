"""The staging service: the HTTP API, the web page and the server (FastAPI on uvicorn).

API (multipart uploads; every ``/v1`` route and ``/metrics`` need the API key when one is set):

``POST /v1/segment``                     the product's cut-out and mask
``POST /v1/stage``                       ranked candidates in retrieved scenes, with contact sheets
``POST /v1/animate``                     a looping parallax video (of an upload or of a candidate)
``POST /v1/generate``                    RefAdGen ads (501 unless the server was given a checkpoint)
``GET  /v1/jobs/{id}``                   state, progress, result with download URLs, error
``DELETE /v1/jobs/{id}``                 cancel a queued or running job
``GET  /v1/jobs/{id}/files/{name}``      a result file (only names the job's record lists)
``GET  /v1/info``                        backends, limits and whether generation is configured
``GET  /healthz``, ``GET /metrics``      liveness; Prometheus text
``GET  /``, ``/docs``                    the web page; the OpenAPI page

Every POST queues a job and waits up to ``wait`` seconds (default ``sync_wait``, 1 s) for it: a
job done by then answers 200 with its record, a longer one 202 with ``Location: /v1/jobs/{id}``.
A full queue answers 429 (``Retry-After``). Uploads are sniffed and decoded before a job is made
(:mod:`.uploads`). Errors are always ``{"error": {"code", "message"}}``, never a traceback: an
unexpected exception is logged here and answered 500 ``internal``. Every response carries a strict
Content-Security-Policy, ``nosniff`` and ``no-referrer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import logging
import math
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adstage._version import __version__
from adstage.animate import MOTIONS, VIDEO_FORMATS
from adstage.errors import InputError
from adstage.inpaint.base import DEFAULT_INPAINTER, INPAINTERS
from adstage.segment.base import SEGMENTERS
from adstage.segment.prompt import parse_box
from adstage.serve.app.config import ServiceConfig
from adstage.serve.app.jobs import (
    FILE_NAME,
    Job,
    JobContext,
    JobStore,
    QueueFull,
    ShuttingDown,
    StorageError,
    valid_id,
)
from adstage.serve.app.metrics import CONTENT_TYPE, Metrics
from adstage.serve.app.uploads import UploadError, decode_upload
from adstage.serve.app.work import (
    INPUT,
    INPUT_MASK,
    Backends,
    animate_job,
    generate_job,
    segment_job,
    stage_job,
)

log = logging.getLogger(__name__)

MULTIPART_SLACK = 256 * 1024
"""Bytes a request body may exceed the upload limit by (multipart framing, form fields, a mask)."""

STATIC = {
    "service.js": "text/javascript; charset=utf-8",
    "service.css": "text/css; charset=utf-8",
}

HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
        b"media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        b"frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]

DOCS_CSP = (
    b"default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
    b"https://fastapi.tiangolo.com; connect-src 'self'; frame-ancestors 'none'"
)
"""The OpenAPI page (``/docs``) loads Swagger UI from its CDN: its own, looser policy."""

ERROR_STATUS = {
    "bad_input": 422,
    "failed": 422,
    "weights_missing": 503,
    "timeout": 504,
    "internal": 500,
}
"""The HTTP status of a POST whose job failed within the wait, by the job's error code."""

GENERATE_MAX_SIDE = 1024
KEY_PATHS = ("/v1/", "/metrics")
MAX_WAIT = 60.0
"""The longest ``wait`` a POST may ask for (seconds); a graceful shutdown waits this long plus
``shutdown_grace`` for the requests in flight (:func:`serve`)."""
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


Wait = Annotated[
    float | None,
    Query(ge=0, le=MAX_WAIT, description="Seconds to wait for the job before answering 202."),
]
Image = Annotated[UploadFile, File(description="JPEG, PNG or WebP (alpha: a cut-out).")]
Segmenter = Annotated[
    str, Form(max_length=40, description="A segmenter (auto picks one and says which).")
]


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _authorized(scope: Scope, key: str) -> bool:
    headers = dict(scope.get("headers", []))
    given = headers.get(b"x-api-key", b"")
    auth = headers.get(b"authorization", b"")
    if not given and auth[:7].lower() == b"bearer ":
        given = auth[7:].strip()
    return hmac.compare_digest(given, key.encode())


class _Guard:
    """ASGI middleware around everything: security headers, metrics, the API key, the body limit
    and the time a client has to send it, and the last line against a leaked traceback."""

    def __init__(
        self, app: ASGIApp, *, config: ServiceConfig, metrics: Metrics, routes: Callable[[], Any]
    ) -> None:
        self.app = app
        self.config = config
        self.metrics = metrics
        self.routes = routes
        self.max_body = config.max_upload_bytes + MULTIPART_SLACK

    def _route(self, scope: Scope) -> str:
        for route in self.routes():
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return str(getattr(route, "path", "unmatched"))
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False
        path = scope.get("path", "")
        csp_docs = path == "/docs"

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [
                    (name, DOCS_CSP if csp_docs and name == b"content-security-policy" else value)
                    for name, value in HEADERS
                    if name not in present
                ]
                message = {**message, "headers": headers + extra}
            await send(message)

        try:
            await self._handle(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), path)
            if not response_started:
                await _error(500, "internal", "internal server error")(
                    scope, receive, send_with_headers
                )
        finally:
            self.metrics.observe(
                self._route(scope), scope.get("method", ""), status, time.perf_counter() - started
            )

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = self.config.api_key
        path = scope.get("path", "")
        if key is not None and path.startswith(KEY_PATHS) and not _authorized(scope, key):
            await _error(
                401,
                "unauthorized",
                "missing or wrong API key (send X-API-Key or Authorization: Bearer)",
                {"www-authenticate": "Bearer"},
            )(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.config.request_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body:
                        await self._too_large(scope, receive, send)
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await _error(
                408,
                "request_timeout",
                f"the request body did not arrive within {self.config.request_timeout:g} s",
            )(scope, receive, send)
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.config.max_upload_bytes
        await _error(413, "too_large", f"request body over the upload limit of {limit:,} bytes")(
            scope, receive, send
        )


def _resource(name: str) -> bytes:
    return (resources.files("adstage.serve.app") / "static" / name).read_bytes()


def _with_urls(value: Any, base: str) -> Any:
    """``value`` with every ``files`` mapping's names turned into download URLs under ``base``."""
    if isinstance(value, dict):
        return {
            key: (
                {k: f"{base}/{v}" for k, v in item.items()}
                if key == "files" and isinstance(item, dict)
                else _with_urls(item, base)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_with_urls(v, base) for v in value]
    return value


def job_view(record: dict[str, Any]) -> dict[str, Any]:
    """A job's record as the API shows it: its URL, and download URLs in its result."""
    url = f"/v1/jobs/{record['id']}"
    view = dict(record)
    view["url"] = url
    view["files"] = {name: f"{url}/files/{name}" for name in record["files"]}
    view["result"] = _with_urls(record["result"], f"{url}/files")
    return view


def _choice(value: str, names: list[str], field: str) -> str:
    if value not in names:
        raise InputError(f"{field}: expected one of {', '.join(names)}, got {value[:40]!r}")
    return value


SIZE = re.compile(r"\s*([0-9]{1,5})\s*[x×]\s*([0-9]{1,5})\s*")
"""``WIDTHxHEIGHT`` in ASCII digits (``str.isdigit`` and ``int`` also take ``²`` or ``٣``)."""
RATIO = re.compile(r"([0-9]{1,4}(?:\.[0-9]{1,3})?):([0-9]{1,4}(?:\.[0-9]{1,3})?)")
MAX_RATIO = 4.0
"""An ad format's width / height lies in [1 / MAX_RATIO, MAX_RATIO]: a wider one would make the
staged canvas (extended to the ratio) arbitrarily large."""


def _size(text: str | None, field: str, low: int, high: int) -> tuple[int, int] | None:
    """``WIDTHxHEIGHT`` (or ``source``: ``None``), each side in ``low..high``."""
    if text is None or text.strip().lower() in ("", "source"):
        return None
    match = SIZE.fullmatch(text.lower())
    if match is None:
        raise InputError(
            f"{field}: expected WIDTHxHEIGHT in ASCII digits (e.g. 512x512), got {text[:40]!r}"
        )
    w, h = int(match.group(1)), int(match.group(2))
    if not (low <= w <= high and low <= h <= high):
        raise InputError(f"{field}: each side must lie in {low}..{high}, got {w}x{h}")
    return (w, h)


def _ratio(text: str | None, field: str) -> str | None:
    """An ad format ``W:H`` (e.g. ``4:5``, ``1.91:1``; empty: none), checked before the job."""
    if text is None or not text.strip():
        return None
    match = RATIO.fullmatch(text.strip())
    if match is None:
        raise InputError(
            f"{field}: expected W:H in ASCII digits (e.g. 4:5 or 1.91:1), got {text[:40]!r}"
        )
    w, h = float(match.group(1)), float(match.group(2))
    if not (w > 0 and h > 0 and 1 / MAX_RATIO <= w / h <= MAX_RATIO):
        raise InputError(
            f"{field}: W and H must be positive and W/H within 1:{MAX_RATIO:g}..{MAX_RATIO:g}:1, "
            f"got {text[:40]!r}"
        )
    return match.group(0)


def create_app(config: ServiceConfig, *, backends: Backends | None = None) -> FastAPI:
    """The service app. Models load now (``backends``, or loaded from ``config``); the workers
    start with the app's lifespan and stop, gracefully, with it."""
    backends = backends if backends is not None else Backends(config)
    temporary = config.work is None
    work = Path(tempfile.mkdtemp(prefix="adstage-serve-")) if config.work is None else config.work
    store = JobStore(
        work / "jobs",
        workers=config.workers,
        queue_size=config.queue_size,
        timeout=config.job_timeout,
        keep=config.keep_jobs,
    )
    metrics = Metrics()
    page = _resource("index.html")
    static = {name: _resource(name) for name in STATIC}
    decoding = threading.BoundedSemaphore(2)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store.start()
        log.info("adstage service: work folder %s, %d workers", work, config.workers)
        try:
            yield
        finally:
            await run_in_threadpool(store.shutdown, config.shutdown_grace)
            if temporary:
                shutil.rmtree(work, ignore_errors=True)
            log.info("adstage service stopped")

    app = FastAPI(
        title="adstage staging service",
        version=__version__,
        description="Segment, stage, animate and generate product photos. Long work runs as "
        "jobs: a POST answers 202 with the job's URL once it takes longer than `wait` seconds.",
        redoc_url=None,
        debug=False,
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.backends = backends
    app.state.work = work
    app.add_middleware(_Guard, config=config, metrics=metrics, routes=lambda: app.router.routes)

    # -- errors ---------------------------------------------------------------------------------

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 400: "bad_request"}
        messages = {404: "no such resource", 405: f"{request.method} is not allowed here"}
        message = messages.get(exc.status_code, str(exc.detail))
        return _error(exc.status_code, codes.get(exc.status_code, "http_error"), message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = sorted(
            {".".join(str(p) for p in e.get("loc", ())[1:]) or "body" for e in exc.errors()}
        )
        return _error(422, "invalid_request", f"invalid or missing fields: {', '.join(fields)}")

    @app.exception_handler(UploadError)
    async def bad_upload(request: Request, exc: UploadError) -> Response:
        return _error(exc.status, exc.code, str(exc))

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> Response:
        return _error(422, "bad_input", str(exc).splitlines()[0])

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, exc: QueueFull) -> Response:
        return _error(429, "queue_full", str(exc), {"retry-after": "2"})

    @app.exception_handler(StorageError)
    async def storage_error(request: Request, exc: StorageError) -> Response:
        if exc.errno in DISK_FULL:
            return _error(507, "insufficient_storage", str(exc), {"retry-after": "30"})
        return _error(503, "storage_unavailable", str(exc), {"retry-after": "5"})

    @app.exception_handler(ShuttingDown)
    async def shutting_down(request: Request, exc: ShuttingDown) -> Response:
        return _error(503, "shutting_down", str(exc), {"retry-after": "5"})

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal", "internal server error")

    # -- helpers --------------------------------------------------------------------------------

    async def _read(upload: UploadFile | None) -> bytes | None:
        if upload is None:
            return None
        data = await upload.read(config.max_upload_bytes + 1)
        await upload.close()
        return data

    def _check(data: bytes, name: str) -> None:
        with decoding:  # at most two decodes at a time, whatever the number of requests
            decode_upload(
                data,
                max_bytes=config.max_upload_bytes,
                max_pixels=config.max_pixels,
                min_side=config.min_side,
                name=name,
            )

    def _inputs(image: bytes, mask: bytes | None) -> Callable[[Path], None]:
        def prepare(folder: Path) -> None:
            (folder / INPUT).write_bytes(image)
            if mask is not None:
                (folder / INPUT_MASK).write_bytes(mask)

        return prepare

    async def _upload_job(
        kind: str,
        run: Callable[[JobContext], dict[str, Any]],
        image: UploadFile,
        mask: UploadFile | None = None,
    ) -> Job:
        """Read and check the upload(s), then queue the job: one trip to a worker thread."""
        data = await _read(image)
        mask_data = await _read(mask)
        assert data is not None

        def check_and_submit() -> Job:
            _check(data, "image")
            if mask_data is not None:
                _check(mask_data, "mask")
            return store.submit(kind, run, _inputs(data, mask_data))

        return await run_in_threadpool(check_and_submit)

    async def _answer(job: Job, wait: float | None) -> Response:
        seconds = config.sync_wait if wait is None else wait
        if seconds > 0:
            await asyncio.wait({asyncio.wrap_future(job.future)}, timeout=seconds)
        view = store.view(job.id)
        if view is None:  # evicted already: only with a tiny keep_jobs
            return _error(410, "gone", "the job finished and was already removed")
        record, _ = view
        if record["state"] == "done":
            return JSONResponse(job_view(record), status_code=200)
        if record["state"] in ("failed", "cancelled"):
            error = record["error"] or {"code": "cancelled", "message": record["message"]}
            return _error(ERROR_STATUS.get(error["code"], 409), error["code"], error["message"])
        return JSONResponse(
            job_view(record), status_code=202, headers={"location": f"/v1/jobs/{job.id}"}
        )

    # -- pages ----------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return HTMLResponse(page)

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        if name not in static:
            raise StarletteHTTPException(404)
        return Response(static[name], media_type=STATIC[name])

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, Any]:
        return {"ok": True, "version": __version__}

    @app.get("/metrics", tags=["service"], response_class=Response)
    def metrics_text() -> Response:
        text = metrics.render(
            queue_depth=store.depth(), jobs=store.counts(), finished=dict(store.finished_total)
        )
        return Response(text, media_type=CONTENT_TYPE)

    @app.get("/v1/info", tags=["service"])
    def info() -> dict[str, Any]:
        return {
            "version": __version__,
            "generate": backends.pipeline is not None,
            "refine": backends.refine_info,
            "segmenters": SEGMENTERS.names(),
            "inpainters": INPAINTERS.names(),
            "default_inpainter": DEFAULT_INPAINTER,
            "motions": MOTIONS.names(),
            "video_formats": list(VIDEO_FORMATS),
            "catalog_embedders": backends.catalog.embedders,
            "limits": {
                "max_upload_bytes": config.max_upload_bytes,
                "max_pixels": config.max_pixels,
                "min_side": config.min_side,
                "queue_size": config.queue_size,
                "job_timeout": config.job_timeout,
                "sync_wait": config.sync_wait,
            },
        }

    # -- work -----------------------------------------------------------------------------------

    @app.post("/v1/segment", tags=["work"])
    async def segment(
        image: Image, segmenter: Segmenter = config.segmenter, wait: Wait = None
    ) -> Response:
        """Cut the product out: ``cutout.png`` (RGBA, cropped) and ``mask.png`` (full size)."""
        name = _choice(segmenter, SEGMENTERS.names(), "segmenter")
        run = partial(segment_job, backends=backends, segmenter=name)
        return await _answer(await _upload_job("segment", run, image), wait)

    @app.post("/v1/stage", tags=["work"])
    async def stage_product(
        image: Image,
        k: Annotated[int, Form(ge=1, le=8, description="How many candidates.")] = 3,
        inpainter: Annotated[str, Form(max_length=40)] = DEFAULT_INPAINTER,
        shadow: Annotated[float, Form(ge=0, le=1)] = 0.5,
        ad_format: Annotated[str | None, Form(max_length=12, description="W:H")] = None,
        max_side: Annotated[int, Form(ge=64, le=2048)] = 1024,
        segmenter: Segmenter = config.segmenter,
        box: Annotated[
            str | None,
            Form(max_length=40, description="x0,y0,x1,y1: segment only inside (in the wild)"),
        ] = None,
        wait: Wait = None,
    ) -> Response:
        """Stage the product into the catalog's most similar scenes: ranked candidates with their
        scores, each with a contact sheet of the steps (scene, removed, filled, staged)."""
        _choice(inpainter, INPAINTERS.names(), "inpainter")
        _choice(segmenter, SEGMENTERS.names(), "segmenter")
        ratio = _ratio(ad_format, "ad_format")
        prompt = parse_box(box) if box else None  # checked against the image in the job
        run = partial(
            stage_job,
            backends=backends,
            segmenter=segmenter,
            k=k,
            inpainter=inpainter,
            shadow=shadow,
            ad_format=ratio,
            max_side=max_side,
            box=prompt,
        )
        return await _answer(await _upload_job("stage", run, image), wait)

    @app.post("/v1/animate", tags=["work"])
    async def animate_product(
        image: Annotated[UploadFile | None, File(description="The picture to animate.")] = None,
        mask: Annotated[UploadFile | None, File(description="Its product mask (optional).")] = None,
        source: Annotated[
            str | None, Form(max_length=32, description="Or: a done stage job's id…")
        ] = None,
        candidate: Annotated[int, Form(ge=0, le=7, description="…and its candidate")] = 0,
        motion: Annotated[str, Form(max_length=20)] = "sway",
        duration: Annotated[float, Form(gt=0, le=10)] = 3.0,
        fps: Annotated[int, Form(ge=1, le=30)] = 24,
        size: Annotated[str | None, Form(max_length=12, description="WxH or source")] = "512x512",
        format: Annotated[str, Form(max_length=4)] = "webp",
        inpainter: Annotated[str, Form(max_length=40)] = "telea",
        segmenter: Segmenter = config.segmenter,
        wait: Wait = None,
    ) -> Response:
        """A looping parallax video of an uploaded picture, or of candidate ``candidate`` of the
        stage job ``source`` (its pasted product moves)."""
        _choice(motion, MOTIONS.names(), "motion")
        _choice(format, list(VIDEO_FORMATS), "format")
        _choice(inpainter, INPAINTERS.names(), "inpainter")
        _choice(segmenter, SEGMENTERS.names(), "segmenter")
        out_size = _size(size, "size", 16, 1080)
        if (image is None) == (source is None):
            raise InputError("animate: send either an image or a source stage job, not both")
        run = partial(
            animate_job,
            backends=backends,
            segmenter=segmenter,
            motion=motion,
            duration=duration,
            fps=fps,
            size=out_size,
            fmt=format,
            inpainter=inpainter,
        )
        if image is not None:
            return await _answer(await _upload_job("animate", run, image, mask), wait)
        assert source is not None
        prepare = _candidate_inputs(source, candidate)
        job = await run_in_threadpool(store.submit, "animate", run, prepare)
        return await _answer(job, wait)

    def _candidate_inputs(source: str, index: int) -> Callable[[Path], None]:
        view = store.view(source) if valid_id(source) else None
        if view is None:
            raise StarletteHTTPException(404)
        record, files = view
        image_name, mask_name = f"candidate-{index}.png", f"candidate-{index}-mask.png"
        if record["kind"] != "stage" or record["state"] != "done":
            raise InputError("source: expected a stage job that is done")
        if image_name not in files or mask_name not in files:
            raise InputError(f"candidate: the stage job has no candidate {index}")
        folder = store.root / source

        def prepare(target: Path) -> None:
            try:
                shutil.copyfile(folder / image_name, target / INPUT)
                shutil.copyfile(folder / mask_name, target / INPUT_MASK)
            except FileNotFoundError:
                raise InputError("source: the stage job's files were removed") from None

        return prepare

    @app.post("/v1/generate", tags=["work"])
    async def generate_ad(
        image: Image,
        prompt: Annotated[str, Form(min_length=1, max_length=300)],
        steps: Annotated[int, Form(ge=1, le=50)] = 30,
        seed: Annotated[int, Form(ge=0, le=2**31 - 1)] = 42,
        size: Annotated[str, Form(max_length=12, description="WxH")] = "512x640",
        num_images: Annotated[int, Form(ge=1, le=4)] = 1,
        guidance: Annotated[float, Form(ge=0, le=20)] = 7.5,
        segmenter: Segmenter = config.segmenter,
        wait: Wait = None,
    ) -> Response:
        """RefAdGen ads of the product described by ``prompt`` (needs ``--refadgen``)."""
        pipeline = backends.pipeline
        if pipeline is None:
            return _error(
                501,
                "not_configured",
                "generation is not configured on this server: start it with --refadgen "
                "CHECKPOINT --refadgen-base BASE",
            )
        _choice(segmenter, SEGMENTERS.names(), "segmenter")
        out_size = _size(size, "size", 8, GENERATE_MAX_SIDE)
        if out_size is None or any(side % pipeline.multiple for side in out_size):
            raise InputError(f"size: each side must be a multiple of {pipeline.multiple}")
        run = partial(
            generate_job,
            backends=backends,
            segmenter=segmenter,
            prompt=prompt,
            steps=steps,
            seed=seed,
            size=out_size,
            num_images=num_images,
            guidance=guidance,
        )
        return await _answer(await _upload_job("generate", run, image), wait)

    # -- jobs -----------------------------------------------------------------------------------

    @app.get("/v1/jobs/{job_id}", tags=["jobs"])
    def get_job(job_id: str) -> Response:
        """The job's state, progress, result (with download URLs) or error."""
        view = store.view(job_id)
        if view is None:
            return _error(404, "unknown_job", "no such job")
        return JSONResponse(job_view(view[0]))

    @app.delete("/v1/jobs/{job_id}", tags=["jobs"])
    def cancel_job(job_id: str) -> Response:
        """Cancel a queued or running job (a finished one is left as it is)."""
        if store.cancel(job_id) is None:
            return _error(404, "unknown_job", "no such job")
        view = store.view(job_id)
        return JSONResponse(job_view(view[0]) if view else {"id": job_id})

    @app.get("/v1/jobs/{job_id}/files/{name}", tags=["jobs"])
    def job_file(job_id: str, name: str) -> Response:
        """A file of a done job: only the names its record lists (no path reaches anything else)."""
        view = store.view(job_id)
        if view is None:
            return _error(404, "unknown_job", "no such job")
        _, files = view
        if not FILE_NAME.fullmatch(name) or name not in files:
            return _error(404, "unknown_file", "no such file in this job")
        path = store.root / job_id / name
        if not path.is_file():
            return _error(404, "unknown_file", "no such file in this job")
        return FileResponse(
            path,
            media_type=files[name],
            filename=name,
            content_disposition_type="inline",
            headers={"cache-control": "private, max-age=3600"},
        )

    return app


def serve(
    config: ServiceConfig, *, port: int = 8000, on_ready: Callable[[], None] | None = None
) -> None:
    """Run the service with uvicorn until SIGTERM or Ctrl-C, then stop gracefully: no new
    connections, queued jobs cancelled at once, requests in flight answered (uvicorn waits up to
    :data:`MAX_WAIT` + ``shutdown_grace`` seconds for them: the longest ``wait`` a POST may ask
    for, plus the time its running job is given), then running jobs given ``shutdown_grace``
    seconds more and cancelled. Returns normally (exit 0) after a signal. ``on_ready`` runs once
    the models are loaded, before the server listens."""
    import uvicorn

    app = create_app(config)
    if on_ready is not None:
        on_ready()
    store: JobStore = app.state.store

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # at once, not after the open connections have closed: queued jobs are cancelled and
            # none starts. A thread, because the signal may interrupt a holder of the store's lock
            threading.Thread(target=store.stop_taking, name="adstage-stop").start()
            super().handle_exit(sig, frame)

    server = Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=port,
            log_level="info",
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=math.ceil(MAX_WAIT + config.shutdown_grace),
            timeout_keep_alive=5,
        )
    )
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        # uvicorn re-raises the signal it caught once it has shut down; with this handler the
        # process then ends normally (exit 0) instead of dying by the signal
        signal.signal(sig, lambda *_: None)
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
