"""Devices and dtypes by name, with a clear error when one is not available.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations; never imported at run time here
    import torch

from ltxbench.errors import DeviceNotAvailableError

# ---------------------------------------------------------------------------------------
# Devices and dtypes
# ---------------------------------------------------------------------------------------

DTYPES = ("float32", "bfloat16", "float16")


def resolve_dtype(name: str) -> torch.dtype:
    """``"float32" | "bfloat16" | "float16"`` -> the torch dtype."""
    import torch

    if name not in DTYPES:
        raise ValueError(f"dtype {name!r} not supported; use one of {', '.join(DTYPES)}")
    return getattr(torch, name)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available else CPU; ``cpu``; ``cuda`` / ``cuda:N`` (must exist)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            built = torch.version.cuda or "no CUDA support"
            raise DeviceNotAvailableError(
                f"device {name!r} was requested but torch sees no CUDA GPU (torch {torch.__version__}, built "
                f"with {built}); set model.device: cpu or auto"
            )
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceNotAvailableError(
                f"device {name!r} was requested but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
        return device
    raise ValueError(f"device {name!r} not supported; use auto, cpu or cuda")
