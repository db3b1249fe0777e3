"""Correlation kernels and p-values: the arithmetic under :func:`~cqmetric.reliability.correlation`.

Inputs are NaN-free float arrays that the public functions have already checked. A correlation of
fewer than :data:`MIN_N` points, or of a constant vector, is NaN.

* :func:`corr` — Pearson, Spearman or Kendall's tau-b of two vectors (:mod:`scipy.stats`).
* :func:`corr_rows` — the same for each row of two (B, m) arrays (the groups of a group-level
  correlation): scipy for Pearson and Spearman, :func:`tau_b_rows` for Kendall (scipy has no row-wise tau).
* :func:`resample_corr_rows` — the same coefficients for the thousands of rows of a bootstrap or a
  permutation null, 5 times faster than scipy (see its docstring for the measurement).
* :func:`partial_corr_inputs` / :func:`partial_corr` — partial correlation by residualisation.
* :func:`snap_ties` — make means that are equal in exact arithmetic exactly equal.
* :func:`p_from_t`, :func:`permutation_pvalue` — p-values from a t statistic or a null distribution.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

__all__ = [
    "MIN_N",
    "corr",
    "corr_rows",
    "resample_corr_rows",
    "tau_b_rows",
    "partial_corr_inputs",
    "partial_corr",
    "snap_ties",
    "p_from_t",
    "permutation_pvalue",
]

MIN_N = 3  # a correlation of fewer than 3 points is reported as undefined


def _is_constant(v: np.ndarray) -> bool:
    return bool(v.size == 0 or np.all(v == v[0]))


def corr(x: np.ndarray, y: np.ndarray, method: str) -> float:
    """Correlation of two NaN-free vectors by :mod:`scipy.stats`; NaN when n < 3 or either is constant.

    Examples:
        >>> round(corr(np.array([1.0, 2, 3, 4]), np.array([1.0, 3, 2, 4]), "kendall"), 4)
        0.6667
    """
    if x.size < MIN_N or _is_constant(x) or _is_constant(y):
        return float("nan")
    if method == "pearson":
        return float(stats.pearsonr(x, y).statistic)
    if method == "spearman":
        return float(stats.spearmanr(x, y).statistic)
    return float(stats.kendalltau(x, y).statistic)


def corr_rows(X: np.ndarray, Y: np.ndarray, method: str) -> np.ndarray:
    """Correlation of each row of X with the same row of Y, (B, m) arrays; NaN for m < 3 or a constant row.

    Pearson is :func:`scipy.stats.pearsonr` along the rows; Spearman the same on the row ranks (its
    definition, as in :func:`scipy.stats.spearmanr`); Kendall's tau-b is :func:`tau_b_rows`, because
    scipy has no row-wise Kendall. Used for the estimates; resampling loops use :func:`resample_corr_rows`.

    Examples:
        >>> corr_rows(np.array([[1.0, 2, 3], [1, 1, 1]]), np.array([[1.0, 3, 2], [1, 2, 3]]), "pearson").round(4)
        array([0.5, nan])
    """
    X, Y, method, m = _row_inputs(X, Y, method)
    if m < MIN_N:
        return np.full(X.shape[0], np.nan)
    if method == "kendall":
        return tau_b_rows(X, Y)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", stats.ConstantInputWarning)  # constant rows give NaN, as documented
        return np.asarray(stats.pearsonr(X, Y, axis=1).statistic, dtype=float)


def resample_corr_rows(X: np.ndarray, Y: np.ndarray, method: str) -> np.ndarray:
    """:func:`corr_rows` for the thousands of rows of a bootstrap or a permutation null.

    The same coefficients, computed here with two dot products per row instead of calling
    :func:`scipy.stats.pearsonr`, which also computes a p-value per row: 0.16 ms instead of 0.85 ms for
    96 rows of 10 (HANNA's prompts), which makes a group-level permutation test with 2000 permutations
    take 0.3 s instead of 2 s. Rows are scaled by their largest magnitude before centring, so values
    down to 1e-300 keep their precision. ``tests/reliability/test_correlation.py`` checks every row
    against scipy.
    """
    X, Y, method, m = _row_inputs(X, Y, method)
    if m < MIN_N:
        return np.full(X.shape[0], np.nan)
    if method == "kendall":
        return tau_b_rows(X, Y)
    with np.errstate(all="ignore"):
        sx = np.abs(X).max(axis=1, keepdims=True)
        sy = np.abs(Y).max(axis=1, keepdims=True)
        Xc = X / np.where(sx > 0, sx, 1.0)
        Yc = Y / np.where(sy > 0, sy, 1.0)
    Xc = Xc - Xc.mean(axis=1, keepdims=True)
    Yc = Yc - Yc.mean(axis=1, keepdims=True)
    num = np.einsum("ij,ij->i", Xc, Yc)
    den = np.sqrt(np.einsum("ij,ij->i", Xc, Xc) * np.einsum("ij,ij->i", Yc, Yc))
    const = (X == X[:, :1]).all(axis=1) | (Y == Y[:, :1]).all(axis=1)
    with np.errstate(all="ignore"):
        r = np.clip(num / den, -1.0, 1.0)
    r[const | ~(den > 0)] = np.nan
    return r


def _row_inputs(X: np.ndarray, Y: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray, str, int]:
    """Float (B, m) arrays (row ranks for Spearman) and the method to apply to them."""
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    if method == "spearman" and X.shape[1] >= MIN_N:
        return stats.rankdata(X, axis=1), stats.rankdata(Y, axis=1), "pearson", X.shape[1]
    return X, Y, method, X.shape[1]


def tau_b_rows(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row pair of two (B, m) arrays (NaN where a row is constant).

    tau-b = sum over i < j of sign(dx) sign(dy) / sqrt(#pairs untied in x * #pairs untied in y). scipy's
    :func:`~scipy.stats.kendalltau` takes one pair of vectors; a loop over it is 200-300 times slower on
    short rows (96 groups x 2000 permutations). ``tests/reliability/test_correlation.py`` checks every row
    against scipy.
    """
    b, m = X.shape
    iu, ju = np.triu_indices(m, k=1)
    out = np.empty(b)
    chunk = max(1, int(4_000_000 // max(iu.size, 1)))
    for s in range(0, b, chunk):
        sx = np.sign(X[s : s + chunk, iu] - X[s : s + chunk, ju])
        sy = np.sign(Y[s : s + chunk, iu] - Y[s : s + chunk, ju])
        num = (sx * sy).sum(axis=1)
        den = np.sqrt(np.abs(sx).sum(axis=1) * np.abs(sy).sum(axis=1))
        with np.errstate(all="ignore"):
            out[s : s + chunk] = np.where(den > 0, num / den, np.nan)
    return out


def _residualise(v: np.ndarray, C: np.ndarray) -> np.ndarray:
    A = np.column_stack([np.ones(v.size), C])
    beta, *_ = np.linalg.lstsq(A, v, rcond=None)
    r = v - A @ beta
    scale = np.sum((v - v.mean()) ** 2)
    if not scale > 0 or np.sum(r**2) <= 1e-12 * scale:
        return np.zeros_like(v)  # fully explained (or constant): correlation undefined
    return r


def partial_corr_inputs(
    x: np.ndarray, y: np.ndarray, C: np.ndarray | None, method: str
) -> tuple[np.ndarray, np.ndarray, str]:
    """Return (tx, ty, base) such that the (partial) correlation is the `base` correlation of tx and ty.

    Without covariates: (x, y, method). With covariates: the residuals of x and y on C (of their
    ranks on the ranks of C for the rank methods) and ``"pearson"`` (Pearson, Spearman) or
    ``"kendall"`` (Kendall).
    """
    if C is None:
        return x, y, method
    if method != "pearson":
        x, y, C = stats.rankdata(x), stats.rankdata(y), stats.rankdata(C, axis=0)
    if x.size < C.shape[1] + MIN_N:
        return np.zeros_like(x), np.zeros_like(y), "pearson"
    rx, ry = _residualise(x, C), _residualise(y, C)
    return rx, ry, ("kendall" if method == "kendall" else "pearson")


def partial_corr(x: np.ndarray, y: np.ndarray, C: np.ndarray | None, method: str) -> float:
    """Correlation of x and y with the covariates C (n, k) partialled out; plain correlation when C is None."""
    tx, ty, base = partial_corr_inputs(x, y, C, method)
    if C is not None and (np.allclose(tx, 0) or np.allclose(ty, 0)):
        return float("nan")
    return corr(tx, ty, base)


def snap_ties(v: np.ndarray, rtol: float = 1e-12) -> np.ndarray:
    """Make values that agree to `rtol` (relative to the largest magnitude) exactly equal.

    Averages of ratings that are equal in exact arithmetic can differ in the last bits after
    floating-point summation; for rank correlations that would silently break true ties.
    """
    v = np.array(v, dtype=float)
    if v.size < 2 or not np.all(np.isfinite(v)):
        return v
    order = np.argsort(v, kind="stable")
    s = v[order]
    tol = rtol * float(np.max(np.abs(s)))
    for i in range(1, s.size):
        if s[i] - s[i - 1] <= tol:
            s[i] = s[i - 1]
    v[order] = s
    return v


def p_from_t(t: float, df: float, alternative: str) -> float:
    """p-value of a t statistic with `df` degrees of freedom (NaN when t is not finite or df <= 0)."""
    if not np.isfinite(t) or df <= 0:
        return float("nan")
    if alternative == "greater":
        return float(stats.t.sf(t, df))
    if alternative == "less":
        return float(stats.t.cdf(t, df))
    return float(min(1.0, 2 * stats.t.sf(abs(t), df)))


def permutation_pvalue(observed: float, null: np.ndarray, alternative: str) -> float:
    """Permutation p-value with the +1 correction; two-sided = 2 * min(one-sided), capped at 1 (as scipy)."""
    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    if not np.isfinite(observed) or null.size == 0:
        return float("nan")
    tol = 1e-12 * max(1.0, abs(observed))
    p_ge = (1 + np.sum(null >= observed - tol)) / (null.size + 1)
    p_le = (1 + np.sum(null <= observed + tol)) / (null.size + 1)
    if alternative == "greater":
        return float(p_ge)
    if alternative == "less":
        return float(p_le)
    return float(min(1.0, 2 * min(p_ge, p_le)))
