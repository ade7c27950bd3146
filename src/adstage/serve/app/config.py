"""The service's settings: limits, the job queue, where results go, who may call it.

Every field is checked on construction (:class:`~adstage.errors.InputError` naming it), so a bad
setting stops the server before it listens. The API key comes from the environment
(:data:`API_KEY_ENV`), never from a command-line argument (it would show in ``ps``).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adstage.generate.refine import RefineSpec

from adstage.errors import InputError

API_KEY_ENV = "ADSTAGE_API_KEY"
"""The environment variable holding the API key (clients send it as ``X-API-Key`` or
``Authorization: Bearer``)."""

MIN_KEY_LENGTH = 16


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


@dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    """How the staging service runs.

    ``catalog``: the catalog folder staging retrieves scenes from (opened once, at start).
    ``work``: where jobs write their results (``None``: a temporary folder removed at exit).
    ``workers``: job threads (each runs one job at a time; models are shared).
    ``queue_size``: jobs waiting for a worker before new ones get 429.
    ``max_upload_bytes`` / ``max_pixels`` / ``min_side``: what an upload may be.
    ``job_timeout``: seconds a job may run before it is failed (``timeout``).
    ``request_timeout``: seconds a client has to send its request body (408 after).
    ``sync_wait``: seconds a POST waits for its job before answering 202 with the job's URL.
    ``keep_jobs``: finished jobs kept (with their files); the oldest are deleted beyond it.
    ``shutdown_grace``: seconds running jobs get to finish on SIGTERM before they are cancelled.
    ``api_key``: required on ``/v1`` and ``/metrics`` when set; needed for a non-loopback host.
    ``refadgen`` / ``refadgen_base``: a RefAdGen checkpoint and its base; ``/v1/generate``
    answers 501 without them.
    ``refine``: a :class:`~adstage.generate.refine.RefineSpec`: every stage job's candidates are
    re-drawn by that diffusion model (loaded once, at start; one refinement at a time).
    """

    catalog: Path
    host: str = "127.0.0.1"
    work: Path | None = None
    workers: int = 2
    queue_size: int = 64
    max_upload_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    min_side: int = 8
    job_timeout: float = 300.0
    request_timeout: float = 30.0
    sync_wait: float = 1.0
    keep_jobs: int = 1000
    shutdown_grace: float = 20.0
    api_key: str | None = None
    refadgen: Path | None = None
    refadgen_base: Path | None = None
    segmenter: str = "auto"
    refine: RefineSpec | None = None

    def __post_init__(self) -> None:
        for name, low, high in (
            ("workers", 1, 64),
            ("queue_size", 1, 100_000),
            ("max_upload_bytes", 1024, 1 << 31),
            ("max_pixels", 64, 1 << 31),
            ("min_side", 1, 4096),
            ("keep_jobs", 1, 1_000_000),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InputError(f"{name}: expected an integer in {low}..{high}, got {value!r}")
        for name in ("job_timeout", "request_timeout", "shutdown_grace"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise InputError(f"{name}: expected seconds > 0, got {value!r}")
        if isinstance(self.sync_wait, bool) or not 0 <= self.sync_wait <= 60:
            raise InputError(f"sync_wait: expected seconds in [0, 60], got {self.sync_wait!r}")
        if self.api_key is not None and len(self.api_key) < MIN_KEY_LENGTH:
            raise InputError(
                f"${API_KEY_ENV}: expected at least {MIN_KEY_LENGTH} characters, got "
                f"{len(self.api_key)} (make one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )
        if self.api_key is None and not is_loopback(self.host):
            raise InputError(
                f"host: {self.host} accepts connections from other machines; set "
                f"${API_KEY_ENV} (an API key clients must send) or bind 127.0.0.1"
            )
        if (self.refadgen is None) != (self.refadgen_base is None):
            raise InputError("refadgen / refadgen_base: give both (a checkpoint and its base)")
        if not Path(self.catalog).is_dir():
            raise InputError(f"catalog: {self.catalog} is not a folder")
        if self.refine is not None:
            from adstage.generate.refine import RefineSpec

            if not isinstance(self.refine, RefineSpec):
                raise InputError(f"refine: expected a RefineSpec or None, got {self.refine!r}")
            self.refine.check()

    @classmethod
    def from_env(cls, **kwargs: object) -> ServiceConfig:
        """The config with ``api_key`` read from :data:`API_KEY_ENV` (empty: none)."""
        key = os.environ.get(API_KEY_ENV, "").strip() or None
        return cls(api_key=key, **kwargs)  # type: ignore[arg-type]
