"""RefAdGen (Chen & Yang): a reference product photo + a text → an ad image, with a dual U-Net.

Needs the optional extra ``pip install 'adstage[generate]'`` (diffusers, transformers,
accelerate); nothing else in adstage imports them. :mod:`.refadgen` is the model,
:mod:`.sampling` the schedulers and guided sampling loop, :mod:`.checkpoints` its files,
:mod:`.components` the frozen base (SD-1.5 or the tiny configuration), :mod:`.pipeline` the
inference.

This package is also callable: ``adstage.generate(product, prompt, pipeline=…, **options)``
forwards to :func:`adstage.generate.pipeline.generate` (importing diffusers only then), so the
public spelling works although ``adstage.generate`` is this package. The typed entry point is
:func:`adstage.generate_ad`.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    """This package, callable: ``adstage.generate(…)`` runs
    :func:`adstage.generate.pipeline.generate` (no deprecation: it is the issue's spelling)."""

    def __call__(self, product: Any, prompt: str, **options: Any) -> Any:
        from adstage.generate.pipeline import generate

        return generate(product, prompt, **options)


sys.modules[__name__].__class__ = _CallableModule
