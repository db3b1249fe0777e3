"""Seeded resampling shared by `score()` and the reliability functions: defaults, named random streams, bootstrap
draws and percentile CIs.

Conventions (they hold for `cqmetric.score` and every function in :mod:`cqmetric.reliability`):

* The defaults are the same everywhere: ``n_boot=N_BOOT`` resamples, ``seed=SEED``, ``confidence=CONFIDENCE``.

* A seed is a non-negative int (checked by :func:`cqmetric._validation.check_seed`); it becomes a
  :class:`numpy.random.Generator` through :class:`numpy.random.SeedSequence`. Independent streams for
  different jobs of one call (bootstrap, permutation, subgroups) are children of that SeedSequence keyed
  by a fixed name, so changing ``n_boot`` never changes a permutation p-value and vice versa.
* Confidence intervals from resampling are two-sided *percentile* intervals.
* One-sample and two-sample statistics go through :func:`scipy.stats.bootstrap`
  (``method="percentile"``); clustered designs (resample groups, not items) are resampled by hand
  here, because scipy resamples observations only.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "N_BOOT",
    "SEED",
    "CONFIDENCE",
    "child_rng",
    "percentile_ci",
    "scipy_percentile_ci",
    "cluster_indices",
    "cluster_counts",
]


#: Bootstrap resamples, seed and interval level that every function of cqmetric defaults to.
N_BOOT = 2000
SEED = 12345
CONFIDENCE = 0.95


def child_rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A Generator for the stream named by `keys` under `seed` (stable across runs and platforms)."""
    spawn_key = tuple(k if isinstance(k, int) else zlib.crc32(str(k).encode()) for k in keys)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=spawn_key))


def percentile_ci(replicates: np.ndarray, confidence: float) -> tuple[float, float] | None:
    """Two-sided percentile interval of `replicates`, ignoring NaN replicates.

    Returns (nan, nan) when fewer than half of the replicates are finite (the statistic is
    undefined on too many resamples for an interval to mean anything).
    """
    reps = np.asarray(replicates, dtype=float)
    ok = reps[np.isfinite(reps)]
    if ok.size == 0 or ok.size < 0.5 * reps.size:
        return (float("nan"), float("nan"))
    a = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(ok, [a, 1.0 - a])
    return (float(lo), float(hi))


def scipy_percentile_ci(
    data: Sequence[np.ndarray],
    statistic: Callable[..., Any],
    *,
    n_boot: int,
    rng: np.random.Generator,
    confidence: float,
    paired: bool = False,
    vectorized: bool = True,
    batch: int | None = None,
) -> tuple[float, float] | None:
    """Percentile CI from :func:`scipy.stats.bootstrap`; None when `n_boot` is 0; (nan, nan) when undefined."""
    if n_boot == 0:
        return None
    if any(len(d) < 2 for d in data):
        return (float("nan"), float("nan"))
    with np.errstate(all="ignore"):
        res = stats.bootstrap(
            tuple(data),
            statistic,
            n_resamples=n_boot,
            batch=batch,
            vectorized=vectorized,
            paired=paired,
            confidence_level=confidence,
            method="percentile",
            rng=rng,
        )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return (lo, hi)


def cluster_indices(members: Sequence[np.ndarray], rng: np.random.Generator, n_boot: int) -> list[np.ndarray]:
    """Cluster bootstrap: for each replicate draw len(members) clusters with replacement, return item indices."""
    g = len(members)
    draws = rng.integers(0, g, size=(n_boot, g))
    return [np.concatenate([members[j] for j in row]) for row in draws]


def cluster_counts(n_clusters: int, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Cluster bootstrap as multiplicities: (n_boot, n_clusters) counts of how often each cluster was drawn.

    The draws are those of :func:`cluster_indices` for the same generator state (``n_clusters`` clusters drawn
    with replacement per replicate), so a statistic that is a ratio of per-cluster sums is
    ``counts @ numerators / (counts @ denominators)``, without building the resampled index arrays.

    Examples:
        >>> counts = cluster_counts(3, child_rng(1, "bootstrap"), 4)
        >>> counts.shape, counts.sum(axis=1).tolist()
        ((4, 3), [3, 3, 3, 3])
    """
    draws = rng.integers(0, n_clusters, size=(n_boot, n_clusters))
    counts = np.zeros((n_boot, n_clusters), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(n_boot), n_clusters), draws.ravel()), 1)
    return counts
