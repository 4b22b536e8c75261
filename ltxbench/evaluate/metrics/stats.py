"""Confidence intervals for per-checkpoint means over prompt x seed videos.

:func:`bootstrap_ci` is the bias-corrected and accelerated (BCa) bootstrap of the mean, computed by
``scipy.stats.bootstrap``: resample the ``n`` values with replacement ``n_boot`` times and read
the interval off the resampled means, shifted for their bias and skew. It assumes nothing about
the shape of the distribution (identity similarities are bounded in [0, 1] and often skewed, where
a t-interval can leave the range).

Measured (``benchmarks/bench_libraries.py``, docs/libraries.md): with few values every bootstrap
is optimistic. On populations shaped like identity similarities a nominal 95 % interval covered
the true mean in 80-89 % of samples of 8 videos and 88-92 % of 16; BCa covered as often as the
percentile bootstrap this module used before, and more often (0.90 vs 0.89 at 16, 0.95 vs 0.93 at
32) when a fifth of the videos render someone else. Where BCa is undefined (all values equal: no
spread to correct) the percentile interval is used; with ``n = 1`` ``low = high = mean``. The
seed makes summaries reproducible.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np


def bootstrap_ci(values: Sequence[float] | np.ndarray, n_boot: int = 2000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """``(mean, low, high)`` of ``values`` with a BCa bootstrap interval (module docstring)."""
    from scipy import stats  # imported on first use: scipy.stats is slow to import

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
    low = high = float("nan")
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            # BCa of identical values: scipy warns and returns NaN; the percentile fallback answers.
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.bootstrap((arr,), np.mean, n_resamples=n_boot, confidence_level=confidence,
                                  method=method, vectorized=True, rng=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            break
    # The interval need not contain the sample mean for tiny, skewed samples; widen to include it
    # so a summary row never shows a mean outside its own interval.
    return mean, min(low, mean), max(high, mean)
