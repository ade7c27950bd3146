"""A tiny registry of named backends: ``register`` / ``create`` / ``available``.

Targets may be given lazily as ``"package.module:Class"`` strings so that listing the backends
never imports torch or onnxruntime.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from adstage.errors import UnknownName

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories (classes or ``"module:Class"`` strings)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._targets: dict[str, Any] = {}

    def register(self, name: str, target: str | None = None) -> Callable[[Any], Any]:
        """Register ``target`` (a ``"module:attr"`` string) or, used as a decorator, a class."""
        if target is not None:
            self._add(name, target)
            return lambda obj: obj

        def decorator(obj: Any) -> Any:
            self._add(name, obj)
            return obj

        return decorator

    def _add(self, name: str, target: Any) -> None:
        current = self._targets.get(name)
        if current is not None and not isinstance(current, str) and current is not target:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        # A class registered by its decorator replaces the lazy string that pointed to it.
        if current is None or isinstance(current, str):
            self._targets[name] = target

    def names(self) -> list[str]:
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def resolve(self, name: str) -> Any:
        """Return the class registered under ``name``, importing it if it was given lazily."""
        if name not in self._targets:
            close = difflib.get_close_matches(name, self._targets, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownName(
                f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}{hint}"
            )
        target = self._targets[name]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            target = getattr(importlib.import_module(module), attr)
            self._targets[name] = target
        return target

    def create(self, name: str, **kwargs: Any) -> T:
        """Instantiate the backend ``name`` with keyword options."""
        factory: Callable[..., T] = self.resolve(name)
        return factory(**kwargs)
