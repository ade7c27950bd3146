"""The service's metrics in the Prometheus text exposition format (version 0.0.4), written by hand.

- ``adstage_http_requests_total{route, method, status}``: requests answered; ``route`` is the
  route's template (``/v1/jobs/{job_id}``), ``unmatched`` for any path no route has, so a
  scanner cannot grow the label set;
- ``adstage_http_request_duration_seconds{route}``: a latency histogram (:data:`BUCKETS`);
- ``adstage_queue_depth``: jobs waiting for a worker;
- ``adstage_jobs{state}``: jobs the store holds, by state;
- ``adstage_jobs_finished_total{kind, state}``: jobs finished since start;
- ``adstage_uptime_seconds``.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the latency histogram; ``+Inf`` is added."""

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in pairs)
    return "{" + inner + "}" if inner else ""


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


class Metrics:
    """Request counters and latency histograms, safe to update from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str, str]] = Counter()
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}
        self._started = time.monotonic()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(route, method, str(status))] += 1
            counts = self._buckets.setdefault(route, [0] * (len(BUCKETS) + 1))
            counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            self._sums[route] = self._sums.get(route, 0.0) + seconds

    def render(
        self,
        *,
        queue_depth: int,
        jobs: Mapping[str, int],
        finished: Mapping[tuple[str, str], int],
    ) -> str:
        """The exposition text, with the job store's numbers of this moment."""
        lines = [
            "# HELP adstage_http_requests_total HTTP requests answered.",
            "# TYPE adstage_http_requests_total counter",
        ]
        with self._lock:
            requests = sorted(self._requests.items())
            buckets = {route: list(counts) for route, counts in sorted(self._buckets.items())}
            sums = dict(self._sums)
        for (route, method, status), n in requests:
            labels = _labels([("route", route), ("method", method), ("status", status)])
            lines.append(f"adstage_http_requests_total{labels} {n}")
        lines += [
            "# HELP adstage_http_request_duration_seconds Time from request to response.",
            "# TYPE adstage_http_request_duration_seconds histogram",
        ]
        for route, counts in buckets.items():
            cumulative = 0
            for bound, n in zip([*map(_number, BUCKETS), "+Inf"], counts, strict=True):
                cumulative += n
                labels = _labels([("route", route), ("le", bound)])
                lines.append(f"adstage_http_request_duration_seconds_bucket{labels} {cumulative}")
            route_label = _labels([("route", route)])
            lines.append(
                f"adstage_http_request_duration_seconds_sum{route_label} {sums[route]:.6f}"
            )
            lines.append(f"adstage_http_request_duration_seconds_count{route_label} {cumulative}")
        lines += [
            "# HELP adstage_queue_depth Jobs waiting for a worker.",
            "# TYPE adstage_queue_depth gauge",
            f"adstage_queue_depth {queue_depth}",
            "# HELP adstage_jobs Jobs held by the store, by state.",
            "# TYPE adstage_jobs gauge",
        ]
        lines += [f"adstage_jobs{_labels([('state', s)])} {n}" for s, n in jobs.items()]
        lines += [
            "# HELP adstage_jobs_finished_total Jobs finished since the server started.",
            "# TYPE adstage_jobs_finished_total counter",
        ]
        lines += [
            f"adstage_jobs_finished_total{_labels([('kind', k), ('state', s)])} {n}"
            for (k, s), n in sorted(finished.items())
        ]
        lines += [
            "# HELP adstage_uptime_seconds Seconds since the server started.",
            "# TYPE adstage_uptime_seconds gauge",
            f"adstage_uptime_seconds {time.monotonic() - self._started:.3f}",
        ]
        return "\n".join(lines) + "\n"
