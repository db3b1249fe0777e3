"""Multiplicity corrections: Holm's step-down adjustment of a family of p-values.

Holm (1979): sort the m p-values, p_(1) <= ... <= p_(m); the adjusted value of the i-th smallest is
max_{j <= i} min(1, (m - j + 1) p_(j)). It controls the family-wise error rate under any dependence, and is
never less powerful than Bonferroni. A p-value that is NaN (a test that could not be computed) stays NaN and
is not counted in m: a test that was not performed cannot be rejected and does not enlarge the family.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cqmetric._validation import as_float_array
from cqmetric.errors import InputValidationError

__all__ = ["holm"]


def holm(pvalues: Any) -> np.ndarray:
    """Holm-adjusted p-values, in the order given.

    Args:
        pvalues: the family's p-values, each in [0, 1] or NaN (not performed: stays NaN, not counted).

    Returns:
        The adjusted p-values as a float array of the same length.

    Raises:
        InputValidationError: a value outside [0, 1], or not one-dimensional.

    Examples:
        >>> holm([0.01, 0.04, 0.03]).round(4).tolist()
        [0.03, 0.06, 0.06]
        >>> holm([0.02, float("nan")]).tolist()
        [0.02, nan]
    """
    where = "holm"
    p = as_float_array(where, "pvalues", pvalues)
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        bad = p[finite][(p[finite] < 0) | (p[finite] > 1)][0]
        raise InputValidationError(f"{where}: expected p-values in [0, 1] (or NaN), got {bad!r}.")
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(finite)
    m = idx.size
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out
