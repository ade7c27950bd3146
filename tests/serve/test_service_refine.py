"""POST /v1/stage on a server started with a refiner (a tiny random SD-shaped folder): every
candidate is re-drawn and says so without a server path, /v1/info names the refiner's settings
and weights, one refinement runs at a time, and a bad refiner stops the server before it
listens."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from fastapi.testclient import TestClient
from test_service_helpers import catalog, product_png

from adstage.errors import InputError
from adstage.generate.refine import RefineSpec
from adstage.serve.app.app import create_app
from adstage.serve.app.config import ServiceConfig
from adstage.serve.app.jobs import Cancelled
from adstage.serve.app.work import SharedRefiner
from tiny_sd import write_sd_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

QUICK = {"steps": 2, "strength": 0.5, "resolution": 64, "max_resolution": 64}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sd_folder(tmp_path_factory.mktemp("serve-refine") / "sd")


def _stage(client: TestClient, cat: Path) -> dict:
    response = client.post(
        "/v1/stage",
        params={"wait": 60},
        files={"image": ("product.png", product_png(cat), "image/png")},
        data={"k": "2", "inpainter": "telea"},
    )
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["state"] == "done", record
    return record["result"]


def test_a_refining_server_redraws_every_candidate_and_shows_no_server_path(
    tmp_path_factory: pytest.TempPathFactory, base: Path
) -> None:
    cat = catalog(tmp_path_factory)
    plain = ServiceConfig(catalog=cat, work=tmp_path_factory.mktemp("plain-work"))
    refined = ServiceConfig(
        catalog=cat,
        work=tmp_path_factory.mktemp("refined-work"),
        refine=RefineSpec(str(base), **QUICK),
    )
    with TestClient(create_app(plain), raise_server_exceptions=False) as client:
        assert client.get("/v1/info").json()["refine"] is None
        before = _stage(client, cat)
        first = client.get(before["candidates"][0]["files"]["image"]).content
    with TestClient(create_app(refined), raise_server_exceptions=False) as client:
        info = client.get("/v1/info").json()["refine"]
        assert info["base"] == "sd" and info["strength"] == 0.5 and info["steps"] == 2
        assert "unet/diffusion_pytorch_model.safetensors" in info["weights_sha256"]
        after = _stage(client, cat)
        second = client.get(after["candidates"][0]["files"]["image"]).content
    assert all(c["refine"] is None for c in before["candidates"])
    for candidate in after["candidates"]:
        run = candidate["refine"]
        assert run["backend"] == "sd-blended-latent" and run["steps_run"] == 1
        assert run["pixels_changed"] > 0 and "seconds" in run
        assert "base" not in run and "weights_sha256" not in run
    assert first != second
    assert str(base) not in str(after) and str(base) not in str(info), "no server path"


class _Job:
    """A job's context as the refiner sees it: progress reports, cancelled by a flag."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.reports: list[str] = []

    def progress(self, fraction: float, message: str = "") -> None:
        if self.cancelled.is_set():
            raise Cancelled("job")
        self.reports.append(message)


class _Slow:
    """A refiner of three denoising steps, each reported to ``on_step`` first."""

    refine_product = True

    def __init__(self) -> None:
        self.calls = 0
        self.steps = 0

    def __call__(self, x, on_step=None):
        self.calls += 1
        for i in range(3):
            if on_step is not None:
                on_step(i, 3)
            self.steps += 1
            time.sleep(0.01)
        return x


def test_one_refining_job_at_a_time_each_stopping_when_cancelled() -> None:
    slow = _Slow()
    shared = SharedRefiner(slow)
    order: list[str] = []

    def job(name: str) -> None:
        with shared.session(_Job(), k=2) as refine:
            order.append(f"{name} in")
            refine(1), refine(2)
            order.append(f"{name} out")

    threads = [threading.Thread(target=job, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
    # a job cancelled while it waits never gets the refiner; one cancelled between
    # candidates starts no further refinement
    waiting = _Job()
    with shared.session(_Job(), k=1):
        waiting.cancelled.set()
        with pytest.raises(Cancelled), shared.session(waiting, k=1):
            pass  # pragma: no cover - never entered
    ctx = _Job()
    with shared.session(ctx, k=3) as refine:
        assert refine.refine_product is True  # the refiner's attributes pass through
        before = slow.calls
        refine(1)
        ctx.cancelled.set()
        with pytest.raises(Cancelled):
            refine(2)
    assert slow.calls == before + 1
    assert "re-drawing candidate 1 of 3" in ctx.reports
    # one cancelled during a refinement stops at its next denoising step
    ctx = _Job()

    def cancel_at_second_step(i: int, n: int) -> None:
        if i == 1:
            ctx.cancelled.set()

    with shared.session(ctx, k=1) as refine:
        steps = slow.steps
        original = refine.refiner
        refine.refiner = lambda x, on_step: original(
            x, on_step=lambda i, n: (cancel_at_second_step(i, n), on_step(i, n))
        )
        with pytest.raises(Cancelled):
            refine(1)
    assert slow.steps == steps + 1  # the first step ran, the second never started


def test_the_base_s_files_are_read_at_start_only(
    tmp_path_factory: pytest.TempPathFactory, base: Path
) -> None:
    cat = catalog(tmp_path_factory)
    moved = tmp_path_factory.mktemp("moved") / "sd"
    shutil.copytree(base, moved)
    config = ServiceConfig(
        catalog=cat,
        work=tmp_path_factory.mktemp("work"),
        refine=RefineSpec(str(moved), **QUICK),
    )
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        shutil.rmtree(moved)  # the model is in memory: jobs go on, and say nothing of the base
        result = _stage(client, cat)
    assert all(c["refine"]["pixels_changed"] > 0 for c in result["candidates"])
    assert str(moved) not in str(result)


def test_a_bad_refiner_stops_the_server_before_it_listens(base: Path, tmp_path, tmp_path_factory):
    cat = catalog(tmp_path_factory)
    for refine, message in (
        (RefineSpec(str(tmp_path / "nowhere")), "does not exist"),
        (RefineSpec(str(base), strength=2.0), r"strength: expected a value in \(0, 1\]"),
        ({"base": str(base)}, "refine: expected a RefineSpec or None"),
    ):
        with pytest.raises(InputError, match=message):
            ServiceConfig(catalog=cat, refine=refine)


def test_cli_serve_names_bad_refine_flags(base: Path, tmp_path_factory) -> None:
    from typer.testing import CliRunner

    from adstage.cli import app

    cat = catalog(tmp_path_factory)
    runner = CliRunner()
    for extra, message in (
        (["--refine-strength", "0.3"], "--refine-strength: needs --refine-base"),
        (["--refine-base", str(base), "--refine-steps", "1", "--refine-strength", "0.5"],
         "--refine-strength × --refine-steps: 0.5 × 1 runs no step"),
        (["--refine-base", str(base), "--device", "mps"], "--device: expected cpu or cuda"),
    ):  # fmt: skip
        result = runner.invoke(app, ["serve", "-c", str(cat), *extra])
        assert result.exit_code == 2 and message in result.stderr, (extra, result.stderr)
    # weights that pass every check but do not load: the server stops before it listens
    corrupt = tmp_path_factory.mktemp("corrupt") / "sd"
    shutil.copytree(base, corrupt)
    weights = corrupt / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    result = runner.invoke(app, ["serve", "-c", str(cat), "--refine-base", str(corrupt)])
    assert result.exit_code == 2, result.stderr
    assert "error: --refine-base: " in result.stderr and "cannot load the U-Net" in result.stderr
    assert "loading the refiner" in result.stderr and "serving" not in result.stderr
