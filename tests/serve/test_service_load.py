"""Load on a real server (``adstage serve`` under uvicorn, in a subprocess on 127.0.0.1): 32
concurrent clients on ``POST /v1/segment`` with a small product on white (the fast backend), each
on its own keep-alive connection. Every request must get a 200, and the server's resident memory
(``VmRSS``) must grow by less than 10 % from after the warm-up to the end. Latencies are printed,
never asserted (benchmarks/service.py records them).

Marked ``long``: ``make test`` leaves it out, ``make test-load`` (which CI runs) sets
``ADSTAGE_LOAD_REQUESTS=200`` and runs the full 32 × 200 of the benchmark (default here: 20 per
client, after 10 of warm-up).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_service_helpers import catalog, encode, product_on_white, running_service

from adstage.serve.app.load import multipart, rss_bytes, run_load

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

CLIENTS = 32
REQUESTS = int(os.environ.get("ADSTAGE_LOAD_REQUESTS", "20"))
WARM_UP = 10


@pytest.mark.long
def test_32_clients_get_no_errors_and_memory_stays_flat(tmp_path_factory, tmp_path: Path) -> None:
    cat = catalog(tmp_path_factory)
    body, content_type = multipart(
        {}, {"image": ("product.png", encode(product_on_white(), "PNG"), "image/png")}
    )
    path = "/v1/segment?wait=30"
    with running_service(cat, tmp_path / "server.log", "--work", str(tmp_path / "work")) as (
        process,
        url,
    ):
        port = int(url.rsplit(":", 1)[1])

        def load(requests: int):
            return run_load(
                "127.0.0.1",
                port,
                path,
                body=body,
                content_type=content_type,
                clients=CLIENTS,
                requests=requests,
            )

        warm = load(WARM_UP)
        assert warm.errors == 0, warm.statuses
        before = rss_bytes(process.pid)
        result = load(REQUESTS)
        after = rss_bytes(process.pid)
        assert process.poll() is None, "the server died under load"
    summary = result.summary()
    print(f"\nload: {summary}, RSS {before / 2**20:.1f} → {after / 2**20:.1f} MiB")
    assert result.requests == CLIENTS * REQUESTS
    assert result.errors == 0, f"{result.errors} errors: {dict(result.statuses)}"
    assert len(result.latencies) == CLIENTS * REQUESTS
    assert after < 1.10 * before, f"RSS grew {after / before - 1:.1%} (limit 10 %)"


def test_the_load_generator_only_targets_loopback() -> None:
    from adstage.errors import InputError

    with pytest.raises(InputError, match="loopback"):
        run_load("192.0.2.1", 80, "/", clients=1, requests=1)
    with pytest.raises(InputError, match="clients"):
        run_load("127.0.0.1", 80, "/", clients=1000, requests=1)
