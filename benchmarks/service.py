"""Load on the staging service; writes benchmarks/results/service.json.

    python benchmarks/service.py                       # ~2 min on 2 cores
    python benchmarks/service.py --clients 32 --requests 200 --workers 2

What it measures, on loopback only (``adstage serve`` in a subprocess on 127.0.0.1, a free port):

- ``segment``: ``--clients`` concurrent clients, each on one keep-alive connection, send
  ``--requests`` ``POST /v1/segment`` each, with a 64×48 product on white (the fast
  ``solid-background`` path of ``auto``); p50 / p95 / p99 latency, throughput, errors (anything
  but a 200), after a warm-up of 10 requests per client;
- ``rss``: the server's resident memory (``VmRSS``) after the warm-up and after the load;
- baselines measured in the same run: ``healthz`` (the same load on ``GET /healthz``: the HTTP
  floor of this server on this machine) and ``direct`` (the same segmentation called in process,
  no HTTP: read, segment, write the cut-out and the mask); the ratios compare the service with
  them. Timings on a shared machine are noisy: compare the ratios, measured in one run.

The catalog is a 12-item synthetic one (no data needed); segmentation never touches it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from adstage.io.atomic import atomic_write_text
from adstage.io.images import read_image_rgba, write_image, write_mask
from adstage.provenance import versions
from adstage.segment import SEGMENTERS
from adstage.serve.app.load import multipart, rss_bytes, run_load

ROOT = Path(__file__).resolve().parent


def product_png() -> bytes:
    """64×48: a dark box on pure white (the image the load test sends too)."""
    image = np.full((48, 64, 3), 255, np.uint8)
    image[12:36, 21:42] = (40, 90, 160)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


def build_catalog(folder: Path) -> Path:
    from adstage.datasets.synthetic import SyntheticCatalog, write_catalog
    from adstage.retrieve.ingest import ingest, open_or_create, sources_from_csv

    syn = SyntheticCatalog(12, seed=1, size=(128, 128))
    write_catalog(syn, folder / "syn")
    ingest(
        open_or_create(folder / "cat", embedders=["classical"]),
        sources_from_csv(folder / "syn" / "labels.csv")[0],
    )
    return folder / "cat"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(catalog: Path, work: Path, workers: int, log: Path):
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("ADSTAGE_API_KEY", None)
    command = [sys.executable, "-m", "adstage.cli", "serve", "--catalog", str(catalog)]
    command += ["--port", str(port), "--work", str(work), "--workers", str(workers)]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server exited: {log.read_text()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2),
            ):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: {log.read_text()}")
            time.sleep(0.1)
        yield process, port
    finally:
        process.terminate()
        process.wait(timeout=60)


def direct(data: bytes, folder: Path, n: int) -> dict[str, float]:
    """The service's segment work in process, ``n`` times: decode, segment, write two PNGs."""
    segmenter = SEGMENTERS.create("auto")
    (folder / "in.png").write_bytes(data)
    times = []
    for _ in range(n):
        began = time.perf_counter()
        rgba = read_image_rgba(folder / "in.png")
        seg = segmenter(np.ascontiguousarray(rgba[..., :3]))
        a8 = np.clip(np.rint(seg.alpha * 255), 0, 255).astype(np.uint8)
        write_image(folder / "cutout.png", np.dstack([rgba[..., :3], a8]))
        write_mask(folder / "mask.png", a8)
        times.append(time.perf_counter() - began)
    return {
        "calls": n,
        "p50_ms": round(statistics.median(times) * 1000, 3),
        "mean_ms": round(statistics.fmean(times) * 1000, 3),
        "backend": seg.provenance.get("auto", {}).get("chosen", seg.backend),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=200, help="per client")
    parser.add_argument("--warm-up", type=int, default=10, help="requests per client first")
    parser.add_argument("--workers", type=int, default=2, help="the server's job threads")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "service.json")
    args = parser.parse_args()

    load_before = os.getloadavg()
    started = time.perf_counter()
    data = product_png()
    body, content_type = multipart({}, {"image": ("product.png", data, "image/png")})
    with tempfile.TemporaryDirectory(prefix="adstage-bench-service-") as tmp:
        folder = Path(tmp)
        catalog = build_catalog(folder)
        with server(catalog, folder / "work", args.workers, folder / "server.log") as (proc, port):

            def load(path: str, requests: int, **kwargs: Any):
                return run_load(
                    "127.0.0.1", port, path, clients=args.clients, requests=requests, **kwargs
                )

            segment = "/v1/segment?wait=60"
            warm = load(segment, args.warm_up, body=body, content_type=content_type)
            rss_start = rss_bytes(proc.pid)
            result = load(segment, args.requests, body=body, content_type=content_type)
            rss_end = rss_bytes(proc.pid)
            health = load("/healthz", args.requests, method="GET")
            log = (folder / "server.log").read_text()
        baseline = direct(data, folder, 200)

    seg = result.summary()
    hz = health.summary()
    doc = {
        "benchmark": "service",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
        },
        "versions": versions(),
        "command": " ".join(["python", "benchmarks/service.py", *sys.argv[1:]]),
        "setup": {
            "server": "adstage serve (uvicorn, one process) on 127.0.0.1",
            "workers": args.workers,
            "clients": args.clients,
            "requests_per_client": args.requests,
            "warm_up_per_client": args.warm_up,
            "image": "64x48 PNG, a product on white",
            "route": "POST /v1/segment?wait=60 (multipart)",
        },
        "segment": seg | {"statuses": {str(k): v for k, v in result.statuses.items()}},
        "warm_up": warm.summary(),
        "rss": {
            "after_warm_up_mib": round(rss_start / 2**20, 1),
            "after_load_mib": round(rss_end / 2**20, 1),
            "growth": round(rss_end / rss_start - 1, 4),
        },
        "baselines": {
            "healthz": hz,
            "direct": baseline,
        },
        "ratios": {
            "segment_p50_over_healthz_p50": round(seg["p50_ms"] / hz["p50_ms"], 2),
            "healthz_throughput_over_segment_throughput": round(
                hz["throughput_rps"] / seg["throughput_rps"], 2
            ),
            "service_ms_per_request_over_direct_call": round(
                1000 / seg["throughput_rps"] / baseline["mean_ms"], 2
            ),
        },
        "server_log_tracebacks": log.count("Traceback"),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(doc, indent=2) + "\n")
    print(json.dumps({k: doc[k] for k in ("segment", "rss", "baselines", "ratios")}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
