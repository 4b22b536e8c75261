"""The error types every layer may raise: a leaf module (standard library only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------------------------------
# Problems and errors
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    field: str
    value: Any
    allowed: str

    def __str__(self) -> str:
        shown = repr(self.value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return f"{self.field} = {shown}: {self.allowed}"


class ParamsError(ValueError):
    """Raised with every problem of a params file at once."""

    def __init__(self, problems: list[Problem], source: str = "parameters"):
        self.problems = problems
        self.source = source
        lines = [f"{len(problems)} problem(s) in {source}:"] + [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


class ModelNotFoundError(FileNotFoundError):
    """The requested LTX-2 weights are not on this machine; the message says how to get them."""


class VersionMismatchError(ValueError):
    """The weights found are a different LTX-2 version from the one the parameters ask for."""


class DeviceNotAvailableError(RuntimeError):
    """The requested torch device does not exist on this machine."""
