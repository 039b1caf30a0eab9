"""Names a package re-exports but imports only on first use (PEP 562), so importing it stays fast."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, names: dict[str, str | None]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package``.

    Args:
        package: the package's own name (for the error message and submodules).
        names: public name -> the module that defines it, or None when the name is itself a
            submodule of ``package``.
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = names[name]
        if module is None:
            return importlib.import_module(f"{package}.{name}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
