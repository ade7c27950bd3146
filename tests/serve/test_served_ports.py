"""The test servers' start-up (``study_helpers.served``) when their port is taken first, as by
another pytest-xdist worker between picking a free port and the server binding it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import study_helpers

SERVER = """
import http.server, sys
class Healthz(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[-1])), Healthz).serve_forever()
"""


def _first(port: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make ``free_port`` return ``port`` first, then free ones; returns the ports it gave."""
    real, given = study_helpers.free_port, []

    def picked() -> int:
        given.append(port if not given else real())
        return given[-1]

    monkeypatch.setattr(study_helpers, "free_port", picked)
    return given


def test_a_port_taken_by_a_socket_starts_the_server_on_another(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("uvicorn")
    (tmp_path / "server.py").write_text(SERVER)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        given = _first(taken, monkeypatch)
        command = [sys.executable, str(tmp_path / "server.py")]
        with study_helpers.served(command, tmp_path / "log") as (process, url):
            assert len(given) == 2 and url.endswith(f":{given[1]}") and given[1] != taken
            assert study_helpers._listens(process.pid, given[1]) in (True, None)
    assert process.poll() is not None  # killed when the block ended
    assert "address already in use" in (tmp_path / "log").read_text().lower()


def test_a_port_taken_by_another_server_is_not_mistaken_for_ours(tmp_path, monkeypatch) -> None:
    pytest.importorskip("uvicorn")
    (tmp_path / "server.py").write_text(SERVER)
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc: whose socket a port is cannot be told here")
    taken = study_helpers.free_port()
    other = subprocess.Popen([sys.executable, str(tmp_path / "server.py"), str(taken)])
    try:
        deadline = time.monotonic() + 10
        while not study_helpers._listens(other.pid, taken):
            assert time.monotonic() < deadline, "the other server did not start"
            time.sleep(0.05)
        given = _first(taken, monkeypatch)
        command = [sys.executable, str(tmp_path / "server.py")]
        with study_helpers.served(command, tmp_path / "log") as (process, url):
            # the other server answered /healthz on the first port; ours failed to bind there
            assert len(given) == 2 and url.endswith(f":{given[1]}")
            assert study_helpers._listens(process.pid, given[1])
    finally:
        other.kill()
        other.wait(timeout=10)
