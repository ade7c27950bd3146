"""The study's web app: the judging pages and the JSON API behind them (FastAPI).

Pages: ``/j/{token}`` (the judging page; a finished judge is sent to ``/j/{token}/done``, the
thank-you page) and ``/static/…`` (the page's script and style, shipped as package data).

API, all under a judge's token (an unknown token is 404, whatever the rest of the path):

``GET  /api/j/{token}/next``                    progress and the next item: its opaque key, the
                                                question, the image URLs in screen order and the
                                                choices (value, label, key); ``done`` at the end
``POST /api/j/{token}/vote``                    ``{"item": key, "choice": value, "ms": int}``:
                                                201 with the new progress; 409 for a second vote
``GET  /api/j/{token}/image/{key}/{position}``  the PNG at that screen position of the judge's
                                                item ``key`` (another judge's key is 404)

Errors are JSON ``{"error": {"code", "message"}}`` with no traceback. Requests are limited to
:data:`MAX_BODY` bytes (413), votes must be ``application/json`` (415). Every response carries a
strict Content-Security-Policy (own scripts, styles and images only, no frames), ``nosniff`` and
``Referrer-Policy: no-referrer`` (the token is in the URL). The server keeps no session: a
request is one SQLite connection and, for a vote, one transaction.
"""

from __future__ import annotations

from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adstage.serve.study.store import Study, StudyError, UnknownItem

MAX_BODY = 4096
"""The largest request body accepted, in bytes (a vote is well under 200)."""

STATIC = {
    "study.js": "text/javascript; charset=utf-8",
    "study.css": "text/css; charset=utf-8",
}
"""The files ``/static/`` serves: these names only, read from the package."""

HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
"""Sent with every response that does not set them itself (images set a private cache)."""

STATUS = {
    "unknown_token": 404,
    "unknown_item": 404,
    "bad_choice": 400,
    "already_voted": 409,
    "bad_request": 400,
}


class VoteBody(BaseModel):
    """A vote: the item's key, what the judge pressed, and how long they looked (optional)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    item: str = Field(min_length=1, max_length=64)
    choice: str = Field(min_length=1, max_length=16)
    ms: int | None = Field(default=None, ge=0, le=86_400_000)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class _Guard:
    """ASGI middleware: the body limit (read before the app sees it) and the security headers."""

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [(name, value) for name, value in HEADERS if name not in present]
                message = {**message, "headers": headers + extra}
            await send(message)

        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _too_large(self.max_body)(scope, receive, send_with_headers)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send_with_headers)
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                await _too_large(self.max_body)(scope, receive, send_with_headers)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send_with_headers)


def _too_large(limit: int) -> JSONResponse:
    return _error(413, "too_large", f"request body over {limit} bytes")


def _resource(name: str) -> bytes:
    return (resources.files("adstage.serve.study") / "static" / name).read_bytes()


def create_app(path: str | PathLike[str]) -> FastAPI:
    """The study app serving the study file at ``path`` (checked now: :class:`InputError`)."""
    study_path = Path(path)
    with Study(study_path) as study:
        choices = study.layout.choices()
        question = study.question
        protocol = study.protocol
    pages = {name: _resource(name) for name in ("judge.html", "thanks.html")}
    static = {name: _resource(name) for name in STATIC}

    app = FastAPI(
        title="adstage study", docs_url=None, redoc_url=None, openapi_url=None, debug=False
    )
    app.add_middleware(_Guard)

    @app.exception_handler(StudyError)
    async def study_error(request: Request, exc: StudyError) -> JSONResponse:
        return _error(STATUS.get(exc.code, 400), exc.code, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return _error(exc.status_code, codes.get(exc.status_code, "http_error"), message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, "bad_request", "invalid request")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        # the traceback goes to the server's log (uvicorn), never to the client
        return _error(500, "internal", "internal server error")

    def _open() -> Study:
        return Study(study_path)

    def _page(token: str, finished: bool) -> Response:
        with _open() as s:
            judge = s.judge(token)
            progress = s.progress(judge)
        if (progress.done >= progress.total) != finished:
            return RedirectResponse(
                f"/j/{token}/done" if not finished else f"/j/{token}", status_code=303
            )
        return HTMLResponse(pages["thanks.html" if finished else "judge.html"])

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/j/{token}")
    def judge_page(token: str) -> Response:
        return _page(token, finished=False)

    @app.get("/j/{token}/done")
    def thanks_page(token: str) -> Response:
        return _page(token, finished=True)

    @app.get("/static/{name}")
    def static_file(name: str) -> Response:
        if name not in static:
            raise StarletteHTTPException(404)
        return Response(static[name], media_type=STATIC[name])

    @app.get("/api/j/{token}/next")
    def next_item(token: str) -> dict[str, Any]:
        with _open() as s:
            judge = s.judge(token)
            progress = s.progress(judge)
            item = s.next_item(judge)
        out: dict[str, Any] = {
            "protocol": protocol,
            "question": question,
            "progress": progress.as_dict(),
            "done": item is None,
        }
        if item is not None:
            base = f"/api/j/{token}/image/{item.key}"
            out["item"] = {
                "key": item.key,
                "images": [f"{base}/{i}" for i in range(1, len(item.display) + 1)],
                "choices": choices,
            }
        return out

    def _vote(token: str, body: VoteBody) -> dict[str, Any]:
        with _open() as s:
            judge = s.judge(token)
            progress = s.vote(judge, body.item, body.choice, ms=body.ms)
        return {"ok": True, "progress": progress.as_dict(), "done": progress.done >= progress.total}

    @app.post("/api/j/{token}/vote", status_code=201)
    async def vote(token: str, request: Request) -> JSONResponse:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            return _error(415, "unsupported_media_type", "send the vote as application/json")
        try:
            body = VoteBody.model_validate_json(await request.body())
        except ValidationError as exc:
            fields = sorted({".".join(map(str, e["loc"])) or "body" for e in exc.errors()})
            return _error(400, "bad_request", f"invalid vote: check {', '.join(fields)}")
        return JSONResponse(await run_in_threadpool(_vote, token, body), status_code=201)

    @app.get("/api/j/{token}/image/{key}/{position}")
    def image(token: str, key: str, position: str) -> Response:
        if not position.isdigit() or len(position) > 2:
            raise UnknownItem("no such image in this item")
        with _open() as s:
            data, media_type = s.image(s.judge(token), key, int(position))
        return Response(
            data, media_type=media_type, headers={"cache-control": "private, max-age=86400"}
        )

    return app


def serve(path: str | PathLike[str], *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the study app with uvicorn until interrupted (no access log: URLs hold tokens)."""
    import uvicorn

    uvicorn.run(
        create_app(path),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
    )
