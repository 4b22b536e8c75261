"""Confidence intervals for per-checkpoint means over prompt x seed videos.

:func:`bootstrap_ci` is the percentile bootstrap: resample the ``n`` values with replacement
``n_boot`` times, take each resample's mean, and report the ``(1 - confidence) / 2`` and
``(1 + confidence) / 2`` quantiles of those means. It assumes nothing about the shape of the
distribution (identity similarities are bounded in [0, 1] and often skewed, where a t-interval
can leave the range). With few values it is optimistic (8 videos: the interval is a little too
narrow); with ``n = 1`` there is no spread to resample and ``low = high = mean``. The seed makes
summaries reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bootstrap_ci(values: Sequence[float] | np.ndarray, n_boot: int = 2000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """``(mean, low, high)`` of ``values`` with a percentile-bootstrap interval (module docstring)."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"bootstrap_ci needs finite values, got {arr[~np.isfinite(arr)][:3].tolist()}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    mean = float(arr.mean())
    if arr.size == 1:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, size=(n_boot, arr.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    # The percentile interval need not contain the sample mean for tiny, skewed samples; widen
    # to include it so a summary row never shows a mean outside its own interval.
    return mean, float(min(low, mean)), float(max(high, mean))
