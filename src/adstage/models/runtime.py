"""The onnxruntime CPU session shared by the ONNX networks (U²-Net, IS-Net, Inception-V3).

onnxruntime is an optional dependency (``pip install 'adstage[onnx]'``): it is imported when a
session is made, and its absence raises :class:`~adstage.errors.BackendUnavailable`.
"""

from __future__ import annotations

from typing import Any

from adstage.errors import BackendUnavailable


def ort_available() -> bool:
    """True when onnxruntime can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cpu_session(source: str | bytes, *, threads: int | None = None, name: str = "model") -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU for a file path or a serialised graph.

    ``threads``: intra-op threads (and one inter-op thread); ``None`` or 0 leaves onnxruntime's
    default. ``name`` says which network needed onnxruntime when it is missing.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BackendUnavailable(f"{name} needs onnxruntime: pip install 'adstage[onnx]'") from exc
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
