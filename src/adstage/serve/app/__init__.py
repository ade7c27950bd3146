"""The staging service: segment, stage, animate and generate over HTTP, with a web page.

``adstage serve --catalog CATALOG`` runs it (docs/service.md). The parts:

- :mod:`.config`: :class:`ServiceConfig`, the limits and settings, checked at start;
- :mod:`.uploads`: what an upload must be (sniffed by its bytes, bounded, really decoded);
- :mod:`.jobs`: the job store, its bounded queue, worker threads, timeouts and graceful stop;
- :mod:`.work`: the models loaded once per process and what each job does (public API only);
- :mod:`.metrics`: the Prometheus text of ``/metrics``;
- :mod:`.app`: the FastAPI app, its error handling and security, and :func:`~.app.serve`
  (imports FastAPI; nothing else here does).
"""

from adstage.serve.app.config import API_KEY_ENV, ServiceConfig, is_loopback
from adstage.serve.app.jobs import JobStore
from adstage.serve.app.uploads import UploadError, decode_upload, sniff

__all__ = [
    "API_KEY_ENV",
    "JobStore",
    "ServiceConfig",
    "UploadError",
    "decode_upload",
    "is_loopback",
    "sniff",
]
