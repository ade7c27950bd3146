"""Helpers of the study tests (a module name of its own: ``conftest`` is taken by several
folders): generated pictures, CSVs, each judge's assignments, a live server in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest


def picture(seed: int, size: tuple[int, int] = (48, 36)) -> np.ndarray:
    """A small generated picture: a colour gradient and a disc, different for every seed."""
    w, h = size
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0.0, 1.0, w)[None, :, None]
    image = (a * (1 - t) + b * t).repeat(h, axis=0).astype(np.uint8)
    yy, xx = np.mgrid[:h, :w]
    cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(4, max(5, h // 2))
    image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
    return image


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    lines = [",".join(header), *(",".join(str(c) for c in row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def assignments(db: Path) -> dict[str, list[dict[str, Any]]]:
    """Each judge's token → their items in order: key, item name, slots in screen order."""
    out: dict[str, list[dict[str, Any]]] = {}
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT j.token, a.item_key, i.name, a.display FROM assignments a"
            " JOIN judges j ON j.id = a.judge_id JOIN items i ON i.id = a.item_id"
            " ORDER BY j.id, a.seq"
        ).fetchall()
    for token, key, name, display in rows:
        out.setdefault(token, []).append({"key": key, "name": name, "display": json.loads(display)})
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(db: Path, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``adstage study serve db`` in a subprocess on a free port, up when this yields; killed
    (SIGKILL) when the block ends if it is still running."""
    pytest.importorskip("uvicorn")
    import httpx

    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "adstage.cli", "study", "serve", str(db), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"the server exited with {process.returncode}: {log.read_text()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not start: {log.read_text()}")
            time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
