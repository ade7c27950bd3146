"""Deprecated spellings kept working for one release, each with a warning naming the new one.

``adstage.segment``, ``adstage.triage``, ``adstage.retrieve`` and ``adstage.stage`` are modules
(``import adstage.segment as m`` gives the module). Until 0.2 they also stay *callable*, so the
0.1 spelling ``adstage.segment(image)`` still runs: the call warns and forwards to the typed
function that replaced it (``adstage.segment_product`` …). A callable module was chosen over a
function shadowing its module because the shadowing is what made ``import adstage.segment as m``
return a function.
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from typing import Any, cast

REMOVED_IN = "0.2"


def warn_renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (a ``DeprecationWarning``)."""
    warnings.warn(
        f"{old} is deprecated and will be removed in adstage {REMOVED_IN}; use {new}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


class _CallableModule(types.ModuleType):
    """A module whose call forwards to ``__call_target__`` (``"module:function"``) with a warning."""

    __call_target__: str
    __call_new_name__: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        warn_renamed(f"calling the module {self.__name__}(…)", self.__call_new_name__)
        module, _, attr = self.__call_target__.partition(":")
        return getattr(importlib.import_module(module), attr)(*args, **kwargs)


def make_callable(module_name: str, target: str, new_name: str) -> None:
    """Make the (already imported) module ``module_name`` callable, forwarding to ``target``."""
    module = sys.modules[module_name]
    module.__class__ = _CallableModule
    callable_module = cast(_CallableModule, module)  # the same object, its class just swapped
    callable_module.__call_target__ = target
    callable_module.__call_new_name__ = new_name
