"""Package attributes that load on first use (PEP 562), shared by every sda facade.

A facade lists ``name -> "module"`` (or ``"module:attribute"`` when the name differs) and assigns
``__getattr__, __dir__ = lazy_attributes(__name__, TARGETS, globals())``: importing the package then imports none
of those modules (no torch for ``sda models list``), and each name is imported once and kept in the namespace.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, targets: Mapping[str, str], namespace: dict[str, Any]
                    ) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for the lazily loaded ``targets``."""

    def __getattr__(name: str) -> object:
        target = targets.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = target.partition(":")
        value = getattr(importlib.import_module(module), attribute or name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *targets})

    return __getattr__, __dir__
