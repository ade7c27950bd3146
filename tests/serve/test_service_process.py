"""``adstage serve`` as a process: it refuses a public host without an API key, and on SIGTERM
it stops taking work, lets the running job finish, cancels the queued ones, records every job
completely and exits 0."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from PIL import Image
from test_service_helpers import catalog, encode, product_on_white, running_service
from typer.testing import CliRunner

from adstage.cli import app

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

runner = CliRunner()


def test_a_public_host_without_a_key_is_refused(tmp_path_factory, monkeypatch) -> None:
    cat = catalog(tmp_path_factory)
    monkeypatch.delenv("ADSTAGE_API_KEY", raising=False)
    result = runner.invoke(app, ["serve", "--catalog", str(cat), "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "ADSTAGE_API_KEY" in result.stderr and "127.0.0.1" in result.stderr
    monkeypatch.setenv("ADSTAGE_API_KEY", "short")
    result = runner.invoke(app, ["serve", "--catalog", str(cat), "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "at least 16 characters" in result.stderr
    monkeypatch.delenv("ADSTAGE_API_KEY")
    missing = runner.invoke(app, ["serve", "--catalog", str(tmp_path_factory.mktemp("none") / "x")])
    assert missing.exit_code == 2 and "not a folder" in missing.stderr
    assert "serve" in runner.invoke(app, ["--help"]).stdout


def test_sigterm_finishes_the_running_job_and_exits_0(tmp_path_factory, tmp_path: Path) -> None:
    cat = catalog(tmp_path_factory)
    work = tmp_path / "work"
    image = {"image": ("p.png", encode(product_on_white(96, 96), "PNG"), "image/png")}
    # long enough to be running when the signal comes: 2 s at 24 fps, 720² frames
    options = {"size": "720x720", "duration": "2", "fps": "24", "format": "webp"}
    with running_service(cat, tmp_path / "server.log", "--work", str(work), "--workers", "1") as (
        process,
        url,
    ):
        with httpx.Client(base_url=url, timeout=30) as client:
            jobs = [
                client.post("/v1/animate", params={"wait": 0}, files=image, data=options).json()
                for _ in range(3)
            ]
            deadline = time.monotonic() + 30
            while client.get(jobs[0]["url"]).json()["state"] == "queued":
                assert time.monotonic() < deadline
                time.sleep(0.02)
            process.send_signal(signal.SIGTERM)
            began = time.monotonic()
            time.sleep(0.5)
            # while the running job finishes, the server takes no more work: the listener is
            # closed (or, on a connection still open, 503)
            try:
                late = client.post("/v1/animate", params={"wait": 0}, files=image, data=options)
            except httpx.TransportError:
                pass
            else:
                assert late.status_code == 503, late.text
        code = process.wait(timeout=60)
        stopped = time.monotonic() - began
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/healthz", timeout=2)
    log = (tmp_path / "server.log").read_text()
    assert code == 0, log
    assert "Traceback" not in log
    print(f"\nstopped {stopped:.1f} s after SIGTERM")

    records = [json.loads((work / "jobs" / j["id"] / "job.json").read_text()) for j in jobs]
    first, *queued = records
    assert first["state"] == "done", first
    assert [r["state"] for r in queued] == ["cancelled", "cancelled"]
    assert all(r["files"] == [] and r["message"] == "server shut down" for r in queued)
    video = work / "jobs" / first["id"] / first["files"][0]
    assert first["files"] == ["loop.webp"]
    with Image.open(video) as loop:
        assert loop.n_frames == 48 and loop.size == (720, 720)
    leftovers = [p.name for p in work.rglob("*") if p.name.startswith(".")]
    assert not leftovers, f"temporary files left: {leftovers}"
