"""A small load generator for the service, loopback only: N client threads, each on one
keep-alive connection, sending the same prepared request M times; latencies, statuses, errors.
Shared by the load test and ``benchmarks/service.py`` (standard library only).
"""

from __future__ import annotations

import http.client
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from adstage.errors import InputError
from adstage.serve.app.config import is_loopback


@dataclass
class LoadResult:
    """What a run saw: one latency (seconds) per answered request, statuses, transport errors."""

    requests: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    seconds: float = 0.0

    @property
    def errors(self) -> int:
        """Requests that did not get a 200: other statuses and transport failures."""
        return self.transport_errors + sum(n for s, n in self.statuses.items() if s != 200)

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0..100) of the latencies, nearest rank."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1]

    def summary(self) -> dict[str, float | int]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "p50_ms": round(self.percentile(50) * 1000, 2),
            "p95_ms": round(self.percentile(95) * 1000, 2),
            "p99_ms": round(self.percentile(99) * 1000, 2),
            "throughput_rps": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
            "seconds": round(self.seconds, 3),
        }


def multipart(
    fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its content type."""
    boundary = secrets.token_hex(12)
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, (filename, data, content_type) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def run_load(
    host: str,
    port: int,
    path: str,
    *,
    method: str = "POST",
    body: bytes = b"",
    content_type: str | None = None,
    clients: int = 32,
    requests: int = 200,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> LoadResult:
    """``clients`` threads × ``requests`` requests each against ``http://host:port/path``."""
    if not is_loopback(host):
        raise InputError(f"host: the load generator only targets loopback, got {host!r}")
    if not 1 <= clients <= 256 or not 1 <= requests <= 100_000:
        raise InputError(
            f"clients / requests: expected 1..256 / 1..100000, got {clients} / {requests}"
        )
    result = LoadResult()
    lock = threading.Lock()
    send_headers = dict(headers or {})
    if content_type is not None:
        send_headers["Content-Type"] = content_type
    start = threading.Barrier(clients + 1)

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        failures = 0
        start.wait()
        for _ in range(requests):
            began = time.perf_counter()
            try:
                connection.request(method, path, body=body or None, headers=send_headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                failures += 1
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=timeout)
                continue
            latencies.append(time.perf_counter() - began)
            statuses[response.status] += 1
        connection.close()
        with lock:
            result.latencies += latencies
            result.statuses.update(statuses)
            result.transport_errors += failures
            result.requests += requests

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - began
    return result


def rss_bytes(pid: int) -> int:
    """The resident memory of process ``pid`` (``VmRSS`` of ``/proc/PID/status``), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise OSError(f"/proc/{pid}/status has no VmRSS line")
