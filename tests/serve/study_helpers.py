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


def _listens(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds the listening TCP socket on ``port`` (Linux: ``/proc``);
    ``None`` where ``/proc`` cannot be read. A process whose descriptors vanish while they are
    read is exiting (a server that failed to bind): it holds nothing (``False``), not "cannot
    tell", which once let a test take another server's answer for its own."""
    try:
        rows = [
            line.split()
            for table in ("/proc/net/tcp", "/proc/net/tcp6")
            for line in Path(table).read_text().splitlines()[1:]
        ]
    except OSError:
        return None
    owned: set[str] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except FileNotFoundError:
        return False  # gone
    except OSError:
        return None  # not ours to read
    for fd in fds:
        with contextlib.suppress(FileNotFoundError):  # closed meanwhile: it is exiting
            owned.add(os.readlink(fd))
    # columns: sl, local address (hex ip:port), remote, state (0A: listening), …, inode (10th)
    inodes = {r[9] for r in rows if int(r[1].rsplit(":", 1)[1], 16) == port and r[3] == "0A"}
    return any(f"socket:[{inode}]" in owned for inode in inodes)


@contextlib.contextmanager
def served(
    command: list[str], log: Path, env: dict[str, str] | None = None, *, timeout: float = 30.0
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``command --port PORT`` (a server with ``GET /healthz``) in a subprocess on a free loopback
    port, up when this yields ``(process, url)``; SIGKILLed when the block ends if still running.
    Its output goes to ``log``. The port is free when picked, but another test worker
    (pytest-xdist) may bind it first: the server is up only when *it* holds the port and
    answers, and one that exits failing to bind (the OS's "address already in use") is started
    again on another port, at most three times."""
    pytest.importorskip("uvicorn")
    import httpx

    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    process: subprocess.Popen[bytes] | None = None
    try:
        for attempt in range(3):
            port = free_port()
            start = log.stat().st_size if log.exists() else 0
            with open(log, "ab") as out:
                process = subprocess.Popen(
                    [*command, "--port", str(port)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=environment,
                )
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + timeout
            while process.poll() is None:
                with contextlib.suppress(httpx.TransportError):
                    answered = httpx.get(f"{url}/healthz", timeout=2).status_code == 200
                    if answered and _listens(process.pid, port) is not False:
                        break
                if time.monotonic() > deadline:
                    said = log.read_bytes()[start:].decode(errors="replace")
                    raise AssertionError(f"the server did not start: {said}")
                time.sleep(0.1)
            if process.poll() is None:
                break
            said = log.read_bytes()[start:].decode(errors="replace")
            if "address already in use" not in said.lower() or attempt == 2:
                raise AssertionError(f"the server exited with {process.returncode}: {said}")
        assert process is not None
        yield process, url
    finally:
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def running_server(db: Path, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``adstage study serve db`` in a subprocess on a free port, up when this yields; killed
    (SIGKILL) when the block ends if it is still running."""
    with served([sys.executable, "-m", "adstage.cli", "study", "serve", str(db)], log) as up:
        yield up


CHROMIUM = Path("/usr/bin/chromium")


def require_chromium() -> Any:
    """Playwright's sync API, at a browser test module's top: skips the module without the serve
    extra, Playwright or Debian's chromium, and fails it instead when ``ADSTAGE_REQUIRE_BROWSER``
    is set (CI installs chromium: there the browser tests must run, not skip)."""
    why = "the serve extra is not installed: pip install 'adstage[serve]'"
    pytest.importorskip("fastapi", reason=why)
    pytest.importorskip("uvicorn", reason=why)
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install playwright"
    )
    if not CHROMIUM.is_file() and os.environ.get("ADSTAGE_REQUIRE_BROWSER"):
        pytest.fail(f"ADSTAGE_REQUIRE_BROWSER is set but {CHROMIUM} is missing", pytrace=False)
    if not CHROMIUM.is_file():
        pytest.skip(
            f"no {CHROMIUM}: install Debian's chromium (apt-get install -y chromium)",
            allow_module_level=True,
        )
    return sync_api
