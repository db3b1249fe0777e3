"""Cohen's kappa (two raters) and Fleiss' kappa (many raters) for categorical ratings, weighted or not.

References:
    Cohen, J. (1960). A coefficient of agreement for nominal scales. Educational and Psychological
    Measurement, 20, 37-46. Fleiss, J. L. (1971). Measuring nominal scale agreement among many
    raters. Psychological Bulletin, 76(5), 378-382. Fleiss, J. L., Levin, B., & Paik, M. C. (2003).
    Statistical Methods for Rates and Proportions, 3rd ed. (null variance of Fleiss' kappa).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from cqmetric._validation import (
    as_float_array,
    check_option,
    require,
)
from cqmetric.errors import InputValidationError
from cqmetric.reliability.inputs import (
    checked,
    degenerate,
)
from cqmetric.reliability.results import ReliabilityResult
from cqmetric.resampling import CONFIDENCE, N_BOOT, SEED, child_rng, percentile_ci

__all__ = ["cohens_kappa", "fleiss_kappa", "KAPPA_WEIGHTS"]

KAPPA_WEIGHTS = (None, "linear", "quadratic")


def _categories(where: str, observed: np.ndarray, categories: Sequence[Any] | None) -> np.ndarray:
    if categories is None:
        return np.unique(observed)
    cats = as_float_array(where, "categories", categories)
    if np.unique(cats).size != cats.size:
        raise InputValidationError(f"{where}: expected distinct `categories`, got {cats.tolist()}.")
    unknown = np.setdiff1d(np.unique(observed), cats)
    if unknown.size:
        raise InputValidationError(
            f"{where}: expected ratings among categories {cats.tolist()}, got {unknown[:5].tolist()}."
        )
    return cats


def _kappa_weights(k: int, weights: str | None) -> np.ndarray:
    i = np.arange(k)
    if weights is None:
        return (i[:, None] != i[None, :]).astype(float)
    d = np.abs(i[:, None] - i[None, :]) / max(1, k - 1)
    return d if weights == "linear" else d**2


def _kappa_from_tables(tables: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Cohen's kappa = 1 - sum(w * observed) / sum(w * expected) for (B, K, K) count tables."""
    tot = tables.sum(axis=(1, 2), keepdims=True)
    p = tables / tot
    e = p.sum(axis=2, keepdims=True) * p.sum(axis=1, keepdims=True)
    num = (w * p).sum(axis=(1, 2))
    den = (w * e).sum(axis=(1, 2))
    with np.errstate(all="ignore"):
        return np.where(den > 1e-15, 1.0 - num / den, np.nan)


@checked("cohens_kappa")
def cohens_kappa(
    rater_a: Any,
    rater_b: Any,
    *,
    weights: str | None = None,
    categories: Sequence[Any] | None = None,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    nan_policy: str = "propagate",
) -> ReliabilityResult:
    """Cohen's kappa of two raters (unweighted, or linearly/quadratically weighted for ordinal codes).

    The estimate and its asymptotic z-test against kappa = 0 come from
    :func:`statsmodels.stats.inter_rater.cohens_kappa`; the CI is a percentile bootstrap over items.
    Weights use the *positions* of the categories (0, 1, ..., K-1), as statsmodels and
    ``psych::cohen.kappa`` do; pass ``categories=`` to fix the order and include unused categories.
    Rater centring is not offered: kappa treats ratings as categories.

    Args:
        rater_a: Codes given by the first rater (numbers), one per item.
        rater_b: Codes given by the second rater.
        weights: None (unweighted), ``"linear"`` or ``"quadratic"``.
        categories: The ordered category codes; default: the sorted observed codes.
        n_boot: Bootstrap resamples of items; 0 skips the CI.
        seed: Bootstrap seed.
        confidence: Level of the two-sided percentile CI.
        nan_policy: ``"propagate"``, ``"omit"`` (drop items missing either code) or ``"raise"``.

    Returns:
        ReliabilityResult (p-value: two-sided z-test of kappa = 0; ``details`` has the asymptotic SE).

    Examples:
        >>> from cqmetric.reliability import cohens_kappa
        >>> r = cohens_kappa([1, 2, 3, 1, 2, 3, 1, 1, 2, 3], [1, 2, 3, 2, 2, 3, 1, 3, 2, 1], n_boot=0)
        >>> round(r.estimate, 4)
        0.5522
    """
    where = "cohens_kappa"
    weights = check_option(where, "weights", weights, KAPPA_WEIGHTS)
    a = as_float_array(where, "rater_a", rater_a)
    b = as_float_array(where, "rater_b", rater_b)
    if a.size != b.size:
        raise InputValidationError(
            f"{where}: expected `rater_a` and `rater_b` of the same length, got len(rater_a)={a.size}, len(rater_b)={b.size}."
        )
    settings = {
        "weights": weights or "none",
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        "ci": "percentile",
        "resample": "items",
        "nan_policy": nan_policy,
    }
    ok = ~(np.isnan(a) | np.isnan(b))
    if not ok.all():
        if nan_policy == "raise":
            raise InputValidationError(
                f"{where}: expected no missing codes (nan_policy='raise'), got {int((~ok).sum())} item(s) with NaN."
            )
        if nan_policy == "propagate":
            degenerate(where, nan_policy, f"{int((~ok).sum())} item(s) have a missing code (pass nan_policy='omit')")
            return ReliabilityResult("cohens_kappa", float("nan"), None, float("nan"), a.size, "cohen", settings, {})
        a, b = a[ok], b[ok]
    cats = _categories(where, np.concatenate([a, b]), categories)
    k = cats.size
    pos = {float(c): i for i, c in enumerate(cats)}
    ia = np.array([pos[float(v)] for v in a], dtype=np.intp)
    ib = np.array([pos[float(v)] for v in b], dtype=np.intp)
    table = np.bincount(ia * k + ib, minlength=k * k).reshape(k, k).astype(float)
    w = _kappa_weights(k, weights)
    if a.size < 2 or k < 2 or not np.isfinite(_kappa_from_tables(table[None], w)[0]):
        degenerate(
            where,
            nan_policy,
            f"kappa is undefined when both raters use a single category or n < 2 (n={a.size}, categories={cats.tolist()})",
        )
        return ReliabilityResult(
            "cohens_kappa",
            float("nan"),
            None if n_boot == 0 else (float("nan"),) * 2,
            float("nan"),
            a.size,
            "cohen",
            settings,
            {"categories": cats.tolist()},
        )
    sm = require("statsmodels.stats.inter_rater", "stats")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = sm.cohens_kappa(table, wt=weights)
    ci = None
    details: dict[str, Any] = {
        "categories": cats.tolist(),
        "se_asymptotic": float(res["std_kappa"]),
        "z": float(res["z_value"]),
    }
    if n_boot:
        rng = child_rng(seed, "bootstrap")
        idx = rng.integers(0, a.size, size=(n_boot, a.size))
        codes = ia[idx] * k + ib[idx] + (np.arange(n_boot) * k * k)[:, None]
        tables = np.bincount(codes.ravel(), minlength=n_boot * k * k).reshape(n_boot, k, k).astype(float)
        reps = _kappa_from_tables(tables, w)
        ci = percentile_ci(reps, confidence)
        details["n_boot_undefined"] = int(np.sum(~np.isfinite(reps)))
    method = "cohen" if weights is None else f"cohen-{weights}"
    return ReliabilityResult(
        "cohens_kappa", float(res["kappa"]), ci, float(res["pvalue_two_sided"]), a.size, method, settings, details
    )


def _fleiss_from_counts(counts: np.ndarray, method: str) -> np.ndarray:
    """Fleiss' (or Randolph's) kappa for (B, N, K) count tables with equal raters per item."""
    r = counts.sum(axis=2)  # (B, N) ratings per item (equal within a table)
    pi = ((counts * counts).sum(axis=2) - r) / (r * (r - 1))
    pbar = pi.mean(axis=1)
    pj = counts.sum(axis=1) / counts.sum(axis=(1, 2))[:, None]
    pe = (pj**2).sum(axis=1) if method == "fleiss" else np.full(counts.shape[0], 1.0 / counts.shape[2])
    with np.errstate(all="ignore"):
        return np.where(1 - pe > 1e-15, (pbar - pe) / (1 - pe), np.nan)


@checked("fleiss_kappa")
def fleiss_kappa(
    ratings: Any = None,
    *,
    counts: Any = None,
    categories: Sequence[Any] | None = None,
    method: str = "fleiss",
    n_boot: int = N_BOOT,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    nan_policy: str = "propagate",
) -> ReliabilityResult:
    """Fleiss' kappa (or Randolph's free-marginal kappa) for many raters per item.

    Raters need not be the same people across items (only the counts per category matter), but
    every item needs the same number of ratings. The estimate comes from
    :func:`statsmodels.stats.inter_rater.fleiss_kappa`; the p-value (``method="fleiss"`` only) is the
    two-sided z-test against kappa = 0 with the null variance of Fleiss, Levin & Paik (2003), as
    in R's ``irr::kappam.fleiss``; the CI is a percentile bootstrap over items.

    Args:
        ratings: Items x raters array of category codes (numbers).
        counts: Alternatively, an items x categories table of how many raters chose each category.
        categories: The category codes (default: the observed ones); ignored with ``counts``.
        method: ``"fleiss"`` or ``"randolph"``.
        n_boot: Bootstrap resamples of items; 0 skips the CI.
        seed: Bootstrap seed.
        confidence: Level of the two-sided percentile CI.
        nan_policy: ``"propagate"``, ``"omit"`` (drop items with a missing rating) or ``"raise"``.

    Returns:
        ReliabilityResult.

    Examples:
        >>> from cqmetric.reliability import fleiss_kappa
        >>> table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        ...          [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
        >>> round(fleiss_kappa(counts=table, n_boot=0).estimate, 3)  # Fleiss (1971) worked example: 0.210
        0.21
    """
    where = "fleiss_kappa"
    method = check_option(where, "method", method, ("fleiss", "randolph"))
    if (ratings is None) == (counts is None):
        raise InputValidationError(
            f"{where}: expected exactly one of `ratings` (items x raters) or `counts` (items x categories)."
        )
    settings = {
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        "ci": "percentile",
        "resample": "items",
        "nan_policy": nan_policy,
    }
    if counts is not None:
        table = as_float_array(where, "counts", counts, ndim=2)
        if np.isnan(table).any() or (table < 0).any() or not np.all(table == np.round(table)):
            raise InputValidationError(
                f"{where}: expected `counts` of non-negative integers, got {table[:2].tolist()}..."
            )
        cats = None
    else:
        m = as_float_array(where, "ratings", ratings, ndim=2)
        bad = np.isnan(m).any(axis=1)
        if bad.any():
            if nan_policy == "raise":
                raise InputValidationError(
                    f"{where}: expected no missing ratings (nan_policy='raise'), got {int(bad.sum())} item(s) with NaN."
                )
            if nan_policy == "propagate":
                degenerate(
                    where, nan_policy, f"{int(bad.sum())} item(s) have a missing rating (pass nan_policy='omit')"
                )
                return ReliabilityResult(
                    "fleiss_kappa", float("nan"), None, float("nan"), m.shape[0], method, settings, {}
                )
            m = m[~bad]
        cats = _categories(where, m.ravel(), categories)
        table = np.stack([(m == c).sum(axis=1) for c in cats], axis=1).astype(float)
    r = table.sum(axis=1)
    if table.shape[0] and not np.all(r == r[0]):
        raise InputValidationError(
            f"{where}: expected the same number of ratings per item, got between {int(r.min())} and {int(r.max())}."
        )
    details: dict[str, Any] = {"n_raters": int(r[0]) if r.size else 0, "n_categories": int(table.shape[1])}
    if cats is not None:
        details["categories"] = cats.tolist()
    est = _fleiss_from_counts(table[None], method)[0] if table.shape[0] >= 2 and r[0] >= 2 else np.nan
    if not np.isfinite(est):
        degenerate(
            where,
            nan_policy,
            f"Fleiss' kappa needs 2+ items, 2+ raters per item and 2+ used categories, got table shape {table.shape}",
        )
        return ReliabilityResult(
            "fleiss_kappa",
            float("nan"),
            None if n_boot == 0 else (float("nan"),) * 2,
            float("nan"),
            table.shape[0],
            method,
            settings,
            details,
        )
    sm = require("statsmodels.stats.inter_rater", "stats")
    est = float(sm.fleiss_kappa(table, method=method))
    p = None
    if method == "fleiss":
        n_items, nr = table.shape[0], r[0]
        pj = table.sum(axis=0) / (n_items * nr)
        pq = pj * (1 - pj)
        var0 = 2.0 / (pq.sum() ** 2 * n_items * nr * (nr - 1)) * (pq.sum() ** 2 - np.sum(pq * (1 - 2 * pj)))
        z = est / np.sqrt(var0)
        p = float(2 * stats.norm.sf(abs(z)))
        details["z"] = float(z)
        details["se0"] = float(np.sqrt(var0))
    ci = None
    if n_boot:
        rng = child_rng(seed, "bootstrap")
        idx = rng.integers(0, table.shape[0], size=(n_boot, table.shape[0]))
        reps = np.concatenate([_fleiss_from_counts(table[idx[s : s + 200]], method) for s in range(0, n_boot, 200)])
        ci = percentile_ci(reps, confidence)
        details["n_boot_undefined"] = int(np.sum(~np.isfinite(reps)))
    return ReliabilityResult("fleiss_kappa", est, ci, p, table.shape[0], method, settings, details)
