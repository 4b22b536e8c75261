"""Progress bars for long work (tqdm.auto: a widget in Jupyter, text in a terminal).

Bars are off when ``LTXBENCH_QUIET=1`` (set by ``ltxbench run --quiet``) or ``CI`` is set, so logs
stay readable; the work itself is unchanged.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, TypeVar

T = TypeVar("T")


def quiet() -> bool:
    return os.environ.get("LTXBENCH_QUIET") == "1" or bool(os.environ.get("CI"))


def bar(items: Iterable[T], desc: str, unit: str = "it", total: int | None = None) -> Iterable[T]:
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit=unit, total=total, disable=quiet(), leave=True)


def counter(total: int, desc: str, unit: str = "it") -> Any:
    """A bar advanced by hand (``.update(1)``, ``.close()``), for loops that are not one iteration."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=quiet(), leave=True)
