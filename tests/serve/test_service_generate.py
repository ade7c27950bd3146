"""POST /v1/generate with a tiny random RefAdGen checkpoint (pixel-space base, seed 0): a job with
per-step progress, the ads and the product canvas as files, the checkpoint's sha256 in the
provenance, and sizes the model cannot take refused before any work."""

from __future__ import annotations

import hashlib
import io
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402
from test_service_helpers import catalog, encode  # noqa: E402

import refadgen_parity as parity  # noqa: E402
from adstage.serve.app.app import create_app  # noqa: E402
from adstage.serve.app.config import ServiceConfig  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from adstage.generate.checkpoints import save_refadgen
    from adstage.generate.tiny import build_tiny, save_tiny_base

    root = tmp_path_factory.mktemp("service-generate")
    config = parity.tiny_config()
    model, text = build_tiny(config, seed=0)
    save_tiny_base(root / "base", config, text)
    save_refadgen(model, root / "ckpt")
    service = ServiceConfig(
        catalog=catalog(tmp_path_factory),
        work=root / "work",
        refadgen=root / "ckpt",
        refadgen_base=root / "base",
    )
    with TestClient(create_app(service), raise_server_exceptions=False) as test_client:
        test_client.checkpoint = root / "ckpt"  # type: ignore[attr-defined]
        yield test_client


def _product() -> bytes:
    rgba = np.zeros((32, 24, 4), np.uint8)
    rgba[8:26, 5:19] = (200, 40, 40, 255)
    return encode(rgba, "PNG")


def test_generate_runs_a_job_with_the_tiny_checkpoint(client) -> None:
    assert client.get("/v1/info").json()["generate"] is True
    response = client.post(
        "/v1/generate",
        params={"wait": 0},
        files={"image": ("product.png", _product(), "image/png")},
        data={"prompt": "a red box on a table", "steps": "3", "size": "24x32", "num_images": "2"},
    )
    assert response.status_code == 202, response.text
    url = response.headers["location"]
    progress = []
    deadline = time.monotonic() + 120
    while (record := client.get(url).json())["state"] in ("queued", "running"):
        progress.append(record["progress"])
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert record["state"] == "done", record
    assert progress == sorted(progress), "progress only grows"
    result = record["result"]
    assert set(result["files"]) == {"ad-0", "ad-1", "product", "mask"}
    for name in ("ad-0", "ad-1"):
        ad = Image.open(io.BytesIO(client.get(result["files"][name]).content))
        assert ad.size == (24, 32) and ad.mode == "RGB"
    provenance = result["provenance"]
    assert provenance["generator"] == "refadgen" and provenance["segmenter"] == "given"
    assert provenance["steps"] == 3 and provenance["seed"] == 42 and provenance["num_images"] == 2
    weights = client.checkpoint / "refadgen.safetensors"  # type: ignore[attr-defined]
    assert provenance["checkpoint_sha256"] == [hashlib.sha256(weights.read_bytes()).hexdigest()]
    assert "/" not in str(provenance["checkpoint_sha256"]), "no server path in the provenance"

    # the same seed gives the same ad (the model is loaded once and reused)
    again = client.post(
        "/v1/generate",
        params={"wait": 60},
        files={"image": ("product.png", _product(), "image/png")},
        data={"prompt": "a red box on a table", "steps": "3", "size": "24x32", "num_images": "2"},
    )
    assert again.status_code == 200, again.text
    first = client.get(result["files"]["ad-0"]).content
    second = client.get(again.json()["result"]["files"]["ad-0"]).content
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(first))), np.asarray(Image.open(io.BytesIO(second)))
    )


def test_generate_refuses_bad_options_before_any_work(client) -> None:
    files = {"image": ("product.png", _product(), "image/png")}
    for data, code in (
        ({"prompt": "x", "size": "25x32"}, "bad_input"),
        ({"prompt": "x", "size": "big"}, "bad_input"),
        ({"prompt": "x", "steps": "0"}, "invalid_request"),
        ({"prompt": ""}, "invalid_request"),
        ({}, "invalid_request"),
    ):
        response = client.post("/v1/generate", files=files, data=data)
        assert response.status_code == 422, (data, response.text)
        assert response.json()["error"]["code"] == code
