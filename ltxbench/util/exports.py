"""Lazy re-exports for the stage packages: ``from ltxbench import curate; curate.curate(run)`` works
without importing the stage (and its torch, cv2 and diffusers) when only a submodule is wanted.

A package's ``__init__`` lists each public name with the module that defines it; the module is
imported on first use of the name. Importing a submodule (``ltxbench.curate.render``) therefore never
runs another submodule's imports, so the package ``__init__`` files cannot close an import cycle."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, where: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``where`` maps a public name to the module defining it."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name]), name)

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__
