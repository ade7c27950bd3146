"""Small helpers shared by the PyTorch backends (imported only by modules that use torch)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch

_THREADS_LOCK = threading.Lock()  # torch's thread count is process-wide


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)``, then restore the previous count.

    ``None`` leaves torch as it is. Calls that set a count are serialised, since the setting is
    process-wide.
    """
    if threads is None:
        yield
        return
    with _THREADS_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)
