"""Ratings as a matrix (rows = targets, columns = raters), from wide or long data, and rater-leniency centring.

Wide input is an array with NaN for "not rated"; long input is a pandas DataFrame or a mapping of
equally long columns, with ``targets=``, ``raters=`` and ``values=`` naming the columns.

**Rater leniency.** Some raters are systematically harsher than others. Centring replaces every
rating x_ij by x_ij - mean_j + grand mean, where mean_j is rater j's mean over the targets they rated;
the scale (grand mean) is kept. With ``rater_ids`` each *person* is centred on their own mean, for
data whose columns are slots filled by different people (HANNA).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from cqmetric._validation import as_float_array
from cqmetric.errors import InputValidationError
from cqmetric.reliability.inputs import encode_labels

__all__ = ["ratings_matrix", "center_matrix", "center_ratings"]


def _column(where: str, table: Any, name: str) -> np.ndarray:
    try:
        col = table[name]
    except (KeyError, TypeError, IndexError):
        cols = list(getattr(table, "columns", table.keys() if isinstance(table, Mapping) else []))
        raise InputValidationError(
            f"{where}: expected a column {name!r} in the ratings table, got columns {cols}."
        ) from None
    return np.asarray(col, dtype=object)


def ratings_matrix(
    where: str, ratings: Any, *, targets: str | None = None, raters: str | None = None, values: str | None = None
) -> tuple[np.ndarray, tuple[Any, ...] | None, tuple[Any, ...] | None]:
    """Return (matrix n_targets x n_raters with NaN for missing, target labels, rater labels).

    Wide input when `targets`, `raters` and `values` are all None; long input (a DataFrame or a mapping
    of equally long columns) when all three are given.
    """
    long_args = (targets, raters, values)
    if all(a is None for a in long_args):
        if isinstance(ratings, Mapping) or hasattr(ratings, "columns"):
            raise InputValidationError(
                f"{where}: got a table for `ratings` but no column names; pass targets=, raters= and values= "
                "(long data), or a 2-D array (rows = targets, columns = raters)."
            )
        m = as_float_array(where, "ratings", ratings, ndim=2)
        return m, None, None
    if any(a is None for a in long_args):
        raise InputValidationError(
            f"{where}: long data needs all of targets=, raters= and values=, got targets={targets!r}, raters={raters!r}, values={values!r}."
        )
    t = _column(where, ratings, str(targets))
    r = _column(where, ratings, str(raters))
    v = as_float_array(where, str(values), _column(where, ratings, str(values)))
    n = v.size
    tc, tl = encode_labels(where, str(targets), t, n)
    rc, rl = encode_labels(where, str(raters), r, n)
    m = np.full((len(tl), len(rl)), np.nan)
    seen = np.zeros(m.shape, dtype=bool)
    for i, j, val in zip(tc, rc, v):
        if seen[i, j]:
            raise InputValidationError(
                f"{where}: expected one rating per (target, rater), got two for target {tl[i]!r} and rater {rl[j]!r}."
            )
        seen[i, j] = True
        m[i, j] = val
    return m, tl, rl


def center_matrix(m: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
    """x_ij - (mean of rater j, or of the person ids[i, j]) + grand mean, on a checked float matrix."""
    out = np.array(m, dtype=float)
    ok = ~np.isnan(out)
    if not ok.any():
        return out
    grand = out[ok].mean()
    if ids is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            col_means = np.nanmean(out, axis=0)
        return out - col_means[None, :] + grand
    codes, labels = encode_labels("center_ratings", "rater_ids", ids.ravel(), ids.size)
    codes = codes.reshape(ids.shape)
    flat_ok = ok.ravel()
    sums = np.bincount(codes.ravel()[flat_ok], weights=out.ravel()[flat_ok], minlength=len(labels))
    cnts = np.bincount(codes.ravel()[flat_ok], minlength=len(labels))
    with np.errstate(all="ignore"):
        means = sums / cnts
    return out - means[codes] + grand


def center_ratings(ratings: Any, *, rater_ids: Any = None) -> np.ndarray:
    """Remove rater leniency: x_ij - (mean of rater j) + (grand mean), NaN kept as missing.

    Args:
        ratings: Wide array, rows = targets, columns = raters (NaN = not rated).
        rater_ids: Optional array of the same shape naming who gave each rating; then each *person*
            is centred on their own mean (needed when columns are slots filled by different people,
            as in HANNA). Without it each column is one rater.

    Returns:
        A new float array of the same shape.

    Examples:
        >>> from cqmetric.reliability import center_ratings
        >>> center_ratings([[1, 3], [2, 4], [3, 5]]).tolist()
        [[2.0, 2.0], [3.0, 3.0], [4.0, 4.0]]
    """
    m = as_float_array("center_ratings", "ratings", ratings, ndim=2)
    if rater_ids is None:
        return center_matrix(m)
    ids = np.asarray(rater_ids, dtype=object)
    if ids.shape != m.shape:
        raise InputValidationError(
            f"center_ratings: expected `rater_ids` of the same shape as `ratings` {m.shape}, got {ids.shape}."
        )
    return center_matrix(m, ids)
