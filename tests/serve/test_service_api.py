"""The staging service's API in process (FastAPI's TestClient) on a small synthetic catalog:
segment, a stage job from queued to done with its candidates and files, animate, generate not
configured, the bounded queue (429), timeouts, cancel, the API key, path traversal, and errors
that are always JSON without a traceback."""

from __future__ import annotations

import errno
import io
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient
from PIL import Image
from test_service_helpers import catalog, encode, product_on_white, product_png

from adstage.errors import InputError
from adstage.serve.app import app as service_app
from adstage.serve.app.app import create_app
from adstage.serve.app.config import ServiceConfig
from adstage.serve.app.jobs import JobContext, JobStore
from adstage.serve.app.work import Backends

KEY = "k3y-" + "x" * 28


@pytest.fixture(scope="module")
def backends(tmp_path_factory) -> Backends:
    return Backends(ServiceConfig(catalog=catalog(tmp_path_factory)))


@pytest.fixture
def make_client(backends, tmp_path):
    """``make_client(**config)``: a started client (lifespan on) on the shared backends."""
    clients: list[TestClient] = []

    def make(**kwargs: Any) -> TestClient:
        config = ServiceConfig(catalog=backends.config.catalog, work=tmp_path / "work", **kwargs)
        client = TestClient(create_app(config, backends=backends), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _error(response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body["error"]


def _poll(client: TestClient, url: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        record = client.get(url).json()
        seen.append(record["state"])
        if record["state"] not in ("queued", "running"):
            record["seen"] = seen
            return record
        assert time.monotonic() < deadline, f"job stuck: {record}"
        time.sleep(0.05)


def _png(image: np.ndarray) -> dict[str, Any]:
    return {"image": ("product.png", encode(image, "PNG"), "image/png")}


def test_segment_returns_a_cutout_and_the_backend(make_client) -> None:
    client = make_client()
    image = product_on_white()
    response = client.post("/v1/segment", files=_png(image))
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["state"] == "done" and job["kind"] == "segment"
    result = job["result"]
    assert result["provenance"]["segmenter"] == "solid-background"
    assert "studio backdrop" in result["provenance"]["reason"]
    x0, y0, x1, y1 = result["bbox"]
    assert (x0, y0, x1, y1) == (21, 12, 42, 36)
    cut = client.get(result["files"]["cutout"])
    assert cut.status_code == 200 and cut.headers["content-type"] == "image/png"
    rgba = np.asarray(Image.open(io.BytesIO(cut.content)))
    assert rgba.shape == (24, 21, 4) and (rgba[..., 3] == 255).all()
    assert (rgba[..., :3] == (40, 90, 160)).all()
    mask = np.asarray(Image.open(io.BytesIO(client.get(result["files"]["mask"]).content)))
    assert mask.shape == (48, 64) and int((mask > 127).sum()) == 24 * 21
    # a transparent cut-out keeps its alpha: no segmenter runs
    rgba_in = np.dstack([image, np.where(image[..., 0] < 255, 255, 0).astype(np.uint8)])
    given = client.post("/v1/segment", files=_png(rgba_in)).json()
    assert given["result"]["provenance"]["segmenter"] == "given"


def test_stage_job_goes_from_queued_to_done_with_ranked_candidates(make_client) -> None:
    client = make_client()
    data = product_png(client.app.state.backends.config.catalog)
    response = client.post(
        "/v1/stage",
        params={"wait": 0},
        files={"image": ("p.png", data, "image/png")},
        data={"k": "2", "inpainter": "telea"},
    )
    assert response.status_code == 202, response.text
    assert response.headers["location"] == response.json()["url"]
    assert response.json()["state"] in ("queued", "running")
    record = _poll(client, response.headers["location"])
    assert record["state"] == "done", record
    result = record["result"]
    candidates = result["candidates"]
    assert 1 <= len(candidates) <= 2
    scores = [c["score"] for c in candidates]
    assert (
        scores == sorted(scores, reverse=True)
        and [c["rank"] for c in candidates] == [0, 1][: len(candidates)]
    )
    provenance = result["provenance"]
    assert provenance["segmenter"] == "solid-background" and provenance["embedder"] == "classical"
    assert provenance["inpainter"] == "telea"
    assert "/" not in str(provenance.get("catalog", "")), "server paths never leave the server"
    for cand in candidates:
        assert set(cand["files"]) == {"image", "mask", "sheet"}
        image = Image.open(io.BytesIO(client.get(cand["files"]["image"]).content))
        assert list(image.size) == cand["size"]
        sheet = Image.open(io.BytesIO(client.get(cand["files"]["sheet"]).content))
        assert sheet.format == "JPEG" and sheet.size[0] > 3 * sheet.size[1]
    assert set(record["files"]) >= {"product.png", "candidate-0.png", "sheet-0.jpg"}
    # the job's record on disk is the one the API shows
    job_json = client.app.state.work / "jobs" / record["id"] / "job.json"
    assert '"state": "done"' in job_json.read_text()

    # animate the best candidate: its pasted product moves
    animated = client.post(
        "/v1/animate",
        params={"wait": 60},
        data={
            "source": record["id"],
            "candidate": "0",
            "size": "source",
            "duration": "0.5",
            "fps": "8",
            "format": "gif",
        },
    )
    assert animated.status_code == 200, animated.text
    loop = animated.json()["result"]
    assert loop["frames"] == 4 and loop["format"] == "gif"
    assert loop["provenance"]["segmenter"] == "given"
    gif = Image.open(io.BytesIO(client.get(loop["files"]["video"]).content))
    assert gif.format == "GIF" and gif.n_frames == 4
    _error(client.post("/v1/animate", data={"source": "0" * 32}), 404, "not_found")
    _error(
        client.post("/v1/animate", data={"source": record["id"], "candidate": "7"}),
        422,
        "bad_input",
    )


def test_animate_an_upload(make_client) -> None:
    client = make_client()
    response = client.post(
        "/v1/animate",
        params={"wait": 60},
        files=_png(product_on_white(64, 64)),
        data={"size": "48x48", "duration": "0.5", "fps": "6", "format": "webp", "motion": "orbit"},
    )
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["size"] == [48, 48] and result["frames"] == 3
    assert result["provenance"] == {
        "segmenter": "solid-background",
        "requested": "auto",
        "reason": result["provenance"]["reason"],
        "inpainter": "telea",
        "motion": "orbit",
    }
    webp = Image.open(io.BytesIO(client.get(result["files"]["video"]).content))
    assert webp.format == "WEBP" and webp.n_frames == 3
    both = client.post("/v1/animate", files=_png(product_on_white()), data={"source": "a" * 32})
    _error(both, 422, "bad_input")
    _error(client.post("/v1/animate", data={"motion": "wobble"}), 422, "bad_input")


def test_generate_without_a_checkpoint_says_it_is_not_configured(make_client) -> None:
    client = make_client()
    response = client.post("/v1/generate", files=_png(product_on_white()), data={"prompt": "a box"})
    assert "--refadgen" in _error(response, 501, "not_configured")["message"]
    assert client.get("/v1/info").json()["generate"] is False


def _blocking(monkeypatch, release: threading.Event, started: threading.Event) -> None:
    def blocked(ctx: JobContext, **kwargs: Any) -> dict[str, Any]:
        started.set()
        while not release.wait(0.02):
            ctx.progress(0.5, "blocked")
        return {"files": {}}

    monkeypatch.setattr(service_app, "segment_job", blocked)


def test_a_full_queue_answers_429_and_recovers(make_client, monkeypatch) -> None:
    release, started = threading.Event(), threading.Event()
    _blocking(monkeypatch, release, started)
    client = make_client(workers=1, queue_size=2)
    png = _png(product_on_white())
    first = client.post("/v1/segment", params={"wait": 0}, files=png)
    assert first.status_code == 202
    assert started.wait(10)
    queued = [client.post("/v1/segment", params={"wait": 0}, files=png) for _ in range(2)]
    assert [r.status_code for r in queued] == [202, 202]
    full = client.post("/v1/segment", params={"wait": 0}, files=png)
    assert full.headers["retry-after"] == "2"
    _error(full, 429, "queue_full")
    metrics = client.get("/metrics").text
    assert "adstage_queue_depth 2" in metrics
    assert 'adstage_jobs{state="running"} 1' in metrics
    release.set()
    for response in [first, *queued]:
        assert _poll(client, response.headers["location"])["state"] == "done"
    # room again (200 when the job, no longer blocked, is done before the answer is made)
    assert client.post("/v1/segment", params={"wait": 0}, files=png).status_code in (200, 202)
    metrics = client.get("/metrics").text
    assert (
        'adstage_http_requests_total{route="/v1/segment",method="POST",status="429"} 1' in metrics
    )


def test_cancel_and_timeout(make_client, monkeypatch) -> None:
    release, started = threading.Event(), threading.Event()
    _blocking(monkeypatch, release, started)
    client = make_client(workers=1, job_timeout=0.5)
    png = _png(product_on_white())
    timed = client.post("/v1/segment", params={"wait": 30}, files=png)
    assert "longer than 0.5 s" in _error(timed, 504, "timeout")["message"]
    job = client.post("/v1/segment", params={"wait": 0}, files=png).json()
    cancelled = client.delete(job["url"]).json()
    assert cancelled["state"] == "cancelled" and cancelled["files"] == {}
    assert _poll(client, job["url"])["state"] == "cancelled"
    release.set()
    # the worker replaced after the timeout still serves
    monkeypatch.undo()
    assert client.post("/v1/segment", files=png).status_code == 200


def test_an_api_key_guards_the_api(make_client) -> None:
    client = make_client(api_key=KEY)
    png = _png(product_on_white())
    for headers in ({}, {"x-api-key": KEY[:-1] + "y"}, {"authorization": f"Basic {KEY}"}):
        response = client.post("/v1/segment", files=png, headers=headers)
        _error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
        _error(client.get("/metrics", headers=headers), 401, "unauthorized")
        _error(client.get("/v1/jobs/" + "a" * 32, headers=headers), 401, "unauthorized")
    assert client.post("/v1/segment", files=png, headers={"x-api-key": KEY}).status_code == 200
    bearer = {"authorization": f"Bearer {KEY}"}
    assert client.get("/metrics", headers=bearer).status_code == 200
    for open_path in ("/", "/healthz", "/static/service.js", "/docs", "/openapi.json"):
        assert client.get(open_path).status_code == 200, open_path


@pytest.mark.parametrize(
    "path",
    [
        "/v1/jobs/../../etc/passwd",
        "/v1/jobs/..%2F..%2Fetc%2Fpasswd",
        "/v1/jobs/%2e%2e%2f%2e%2e%2fetc%2fpasswd/files/job.json",
        "/v1/jobs/{job}/files/..%2Fjob.json",
        "/v1/jobs/{job}/files/job.json",
        "/v1/jobs/{job}/files/input.bin",
        "/v1/jobs/{job}/files/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/v1/jobs/{job}/files/..%5C..%5Cwin.ini",
        "/v1/jobs/{job}/files/cutout.png%00.txt",
        "/v1/jobs/{job}/files/CUTOUT.PNG",
        "/v1/jobs/{upper}/files/cutout.png",
        "/v1/jobs/{job}x/files/cutout.png",
        "/v1/jobs/{job}/files/",
        "/static/../app.py",
        "/static/..%2fapp.py",
        "/static/index.html",
        "/static/%2e%2e%2f%2e%2e%2fjobs.py",
    ],
)
def test_paths_reach_nothing_but_their_route(make_client, path: str) -> None:
    client = make_client()
    job = client.post("/v1/segment", files=_png(product_on_white())).json()
    assert client.get(f"{job['url']}/files/cutout.png").status_code == 200
    url = path.format(job=job["id"], upper=job["id"].upper())
    response = client.get(url)
    assert response.status_code == 404, (url, response.status_code)
    assert set(response.json()) == {"error"}
    assert b"root:" not in response.content and b"import" not in response.content


def test_errors_are_json_without_a_traceback(make_client, monkeypatch) -> None:
    client = make_client()
    png = _png(product_on_white())
    _error(client.get("/nowhere"), 404, "not_found")
    _error(client.get("/v1/jobs/" + "f" * 32), 404, "unknown_job")
    _error(client.put("/v1/segment"), 405, "method_not_allowed")
    _error(client.get("/v1/segment"), 405, "method_not_allowed")
    missing = _error(client.post("/v1/segment", data={"x": "1"}), 422, "invalid_request")
    assert "image" in missing["message"]
    _error(client.post("/v1/stage", files=png, data={"k": "99"}), 422, "invalid_request")
    _error(client.post("/v1/stage", files=png, data={"k": "many"}), 422, "invalid_request")
    _error(client.post("/v1/stage", files=png, data={"inpainter": "magic"}), 422, "bad_input")
    _error(client.post("/v1/segment", files=png, params={"wait": "-1"}), 422, "invalid_request")
    _error(client.post("/v1/segment", json={"image": "x"}), 422, "invalid_request")
    # a product the catalog cannot stage: the job fails with the library's reason
    failed = client.post(
        "/v1/stage", params={"wait": 60}, files=_png(np.full((64, 64, 3), 255, np.uint8))
    )
    assert "no product" in _error(failed, 422, "bad_input")["message"]

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals /etc/shadow")

    monkeypatch.setattr(service_app, "decode_upload", broken)
    crash = client.post("/v1/segment", files=png)
    assert _error(crash, 500, "internal")["message"] == "internal server error"
    assert "secret" not in crash.text and "shadow" not in crash.text
    monkeypatch.undo()

    def job_bug(ctx: JobContext, **kwargs: Any) -> dict[str, Any]:
        raise ZeroDivisionError("secret")

    monkeypatch.setattr(service_app, "segment_job", job_bug)
    bug = client.post("/v1/segment", files=png)
    assert "secret" not in _error(bug, 500, "internal")["message"]
    assert client.get("/healthz").json()["ok"] is True


def test_pages_docs_health_and_security_headers(make_client) -> None:
    client = make_client()
    page = client.get("/")
    assert page.status_code == 200 and "<title>adstage" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/service.css").headers["content-type"].startswith("text/css")
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/v1/segment", "/v1/stage", "/v1/animate", "/v1/generate", "/v1/jobs/{job_id}"} <= set(
        spec["paths"]
    )
    info = client.get("/v1/info").json()
    assert info["limits"]["max_upload_bytes"] == 20 * 1024 * 1024
    assert info["limits"]["max_pixels"] == 40_000_000
    assert client.get("/healthz").json()["ok"] is True
    assert "adstage_uptime_seconds" in client.get("/metrics").text


def test_the_work_folder_holds_complete_jobs_only(make_client, tmp_path: Path) -> None:
    client = make_client(keep_jobs=2)
    ids = [
        client.post("/v1/segment", files=_png(product_on_white())).json()["id"] for _ in range(4)
    ]
    jobs = client.app.state.work / "jobs"
    deadline = time.monotonic() + 5  # evicted folders are deleted just after, outside the lock
    while sorted(p.name for p in jobs.iterdir()) != sorted(ids[2:]):
        assert time.monotonic() < deadline, "oldest jobs are removed"
        time.sleep(0.02)
    _error(client.get(f"/v1/jobs/{ids[0]}"), 404, "unknown_job")
    assert not list(jobs.rglob(".*.tmp")), "no temporary file is left behind"


@pytest.mark.parametrize(
    ("route", "field", "value", "expect"),
    [
        ("/v1/animate", "size", "²x²", "ASCII digits"),
        ("/v1/animate", "size", "٣x٣", "ASCII digits"),
        ("/v1/animate", "size", "99999x99999", "must lie in 16..1080"),
        ("/v1/stage", "ad_format", "nan:1", "ASCII digits"),
        ("/v1/stage", "ad_format", "٤:٥", "ASCII digits"),
        ("/v1/stage", "ad_format", "9999:1", "within 1:4..4:1"),
        ("/v1/stage", "ad_format", "0:1", "must be positive"),
    ],
)
def test_form_values_in_other_digits_or_out_of_range_are_refused(
    make_client, route: str, field: str, value: str, expect: str
) -> None:
    client = make_client()
    response = client.post(route, files=_png(product_on_white()), data={field: value})
    assert expect in _error(response, 422, "bad_input")["message"]


def _job_threads() -> int:
    return sum(t.name == "adstage-job" and t.is_alive() for t in threading.enumerate())


def test_timed_out_jobs_never_grow_the_threads_without_bound(make_client, monkeypatch) -> None:
    release = threading.Event()
    late: list[str] = []

    def stuck(ctx: JobContext, **kwargs: Any) -> dict[str, Any]:
        release.wait(10)  # ignores its timeout until released
        ctx.progress(1.0, "late")  # a timed-out job stops here (Cancelled)
        late.append(ctx.job.id)
        return {"files": {}}

    monkeypatch.setattr(service_app, "segment_job", stuck)
    before = _job_threads()
    client = make_client(workers=1, job_timeout=0.1, queue_size=20)
    png = _png(product_on_white())
    urls = [
        client.post("/v1/segment", params={"wait": 0}, files=png).headers["location"]
        for _ in range(6)
    ]
    peak, deadline = 0, time.monotonic() + 2.5
    while time.monotonic() < deadline:
        peak = max(peak, _job_threads() - before)
        time.sleep(0.02)
    assert peak <= 2, f"{peak} job threads for 1 worker: abandoned threads are not capped"
    assert client.app.state.store.depth() > 0, "the queue waits while the threads are capped"
    release.set()
    records = [_poll(client, url) for url in urls]
    timed_out = {r["id"] for r in records if r["state"] == "failed"}
    assert timed_out and all(
        r["error"]["code"] == "timeout" for r in records if r["id"] in timed_out
    )
    assert not timed_out & set(late), "a timed-out job went on past its next progress report"
    assert {r["state"] for r in records} <= {"failed", "done"}
    deadline = time.monotonic() + 5
    while _job_threads() - before > 1:  # the abandoned threads end, one worker remains
        assert time.monotonic() < deadline, _job_threads() - before
        time.sleep(0.02)


def test_a_job_whose_inputs_cannot_be_written_leaves_no_folder(make_client, monkeypatch) -> None:
    client = make_client()
    jobs = client.app.state.work / "jobs"
    write_bytes = Path.write_bytes

    def disk_full(self: Path, data: Any) -> int:
        if self.name == "input.bin":
            (self.parent / "input.bin").touch()  # half-written, as a full disk leaves it
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    response = client.post("/v1/segment", files=_png(product_on_white()))
    error = _error(response, 507, "insufficient_storage")
    assert "No space left" in error["message"] and str(jobs) not in error["message"]
    assert not list(jobs.iterdir()), "the failed job's folder is removed"

    def disk_broken(self: Path, data: Any) -> int:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Path, "write_bytes", disk_broken)
    _error(client.post("/v1/segment", files=_png(product_on_white())), 503, "storage_unavailable")
    assert not list(jobs.iterdir())
    monkeypatch.undo()
    assert client.post("/v1/segment", files=_png(product_on_white())).status_code == 200


def test_submit_removes_the_folder_when_prepare_fails(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs", workers=1)

    def gone(folder: Path) -> None:
        (folder / "input.bin").write_bytes(b"x")
        raise InputError("source: the stage job's files were removed")

    with pytest.raises(InputError):
        store.submit("animate", lambda ctx: {}, gone)
    assert not list((tmp_path / "jobs").iterdir())


def test_eviction_removes_the_oldest_finished_job_not_the_oldest_created(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs", workers=2, keep=1)
    store.start()
    release = threading.Event()
    slow = store.submit("segment", lambda ctx: {"ok": release.wait(10)})
    fast = store.submit("segment", lambda ctx: {})
    fast.future.result(10)
    release.set()
    slow.future.result(10)
    deadline = time.monotonic() + 5
    while fast.folder.exists():
        assert time.monotonic() < deadline, "the evicted job's folder is deleted"
        time.sleep(0.02)
    assert store.get(slow.id) is slow and slow.folder.is_dir()
    assert store.get(fast.id) is None
    store.shutdown(1)


def test_stage_takes_a_box_for_a_product_in_the_wild(make_client) -> None:
    """A box restricts segmentation (adstage.segment.prompt.segment_in_box): the product's
    cut-out lies inside it; a malformed box is a 422 naming the field."""
    client = make_client()
    data = product_png(client.app.state.backends.config.catalog)
    picture = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    ys, xs = np.nonzero((picture < 240).any(axis=2))
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    box = (x0, y0, x1, (y0 + y1) // 2)  # the product's upper half only
    response = client.post(
        "/v1/stage",
        params={"wait": 60},
        files={"image": ("p.png", data, "image/png")},
        data={"k": "1", "inpainter": "telea", "box": ",".join(map(str, box))},
    )
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["state"] == "done", record
    assert record["result"]["provenance"]["segmenter"]  # which backend ran in the box, named
    product = Image.open(
        io.BytesIO(client.get(f"/v1/jobs/{record['id']}/files/product.png").content)
    )
    assert product.size[0] <= box[2] - box[0] and product.size[1] <= box[3] - box[1]
    whole = client.post(
        "/v1/segment", params={"wait": 60}, files={"image": ("p.png", data, "image/png")}
    ).json()
    assert whole["result"]["bbox"][3] - whole["result"]["bbox"][1] > box[3] - box[1]
    bad = client.post(
        "/v1/stage", files={"image": ("p.png", data, "image/png")}, data={"box": "1,2,x,4"}
    )
    assert "box" in _error(bad, 422, "bad_input")["message"]
