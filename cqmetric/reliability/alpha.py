"""Krippendorff's alpha: agreement among raters at any level of measurement, with missing ratings.

Nominal, ordinal and ratio levels come from the `krippendorff` package; the interval level is computed here from
per-unit sums (so a bootstrap over units resamples statistics, not ratings). See :mod:`cqmetric.reliability.agreement`
for rater leniency (``center_raters``).

References:
    Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg School for
    Communication Departmental Papers 43; Krippendorff, K. (2004). Content Analysis, 2nd ed., Sage.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from cqmetric._validation import (
    check_bool,
    check_option,
    require,
)
from cqmetric.errors import InputValidationError
from cqmetric.reliability.inputs import (
    checked,
    degenerate,
)
from cqmetric.reliability.ratings import center_matrix, ratings_matrix
from cqmetric.reliability.results import ReliabilityResult
from cqmetric.resampling import CONFIDENCE, N_BOOT, SEED, child_rng, percentile_ci

__all__ = ["krippendorff_alpha", "interval_alpha_unit_stats", "interval_alpha_from_stats", "ALPHA_LEVELS"]

ALPHA_LEVELS = ("nominal", "ordinal", "interval", "ratio")


def interval_alpha_unit_stats(m: np.ndarray) -> np.ndarray:
    """Per pairable unit: (m_u, sum, sum of squares, within-unit disagreement D_u)."""
    ok = ~np.isnan(m)
    cnt = ok.sum(axis=1)
    x = np.where(ok, m, 0.0)
    s1 = x.sum(axis=1)
    s2 = (x * x).sum(axis=1)
    keep = cnt >= 2
    cnt, s1, s2 = cnt[keep].astype(float), s1[keep], s2[keep]
    d = 2.0 * (cnt * s2 - s1 * s1) / (cnt - 1.0)
    return np.column_stack([cnt, s1, s2, d])


def interval_alpha_from_stats(tot: np.ndarray) -> np.ndarray:
    """Interval alpha, 1 - (N - 1) * sum D_u / (2 (N S2 - S1^2)), for rows of summed unit statistics."""
    n, s1, s2, d = tot[..., 0], tot[..., 1], tot[..., 2], tot[..., 3]
    with np.errstate(all="ignore"):
        de = 2.0 * (n * s2 - s1 * s1)
        return np.where(de > 1e-12 * np.maximum(1.0, n * s2), 1.0 - (n - 1.0) * d / de, np.nan)


@checked("krippendorff_alpha")
def krippendorff_alpha(
    ratings: Any,
    *,
    targets: str | None = None,
    raters: str | None = None,
    values: str | None = None,
    level: str = "interval",
    center_raters: bool = False,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    nan_policy: str = "propagate",
) -> ReliabilityResult:
    """Krippendorff's alpha for nominal, ordinal, interval or ratio ratings, missing ratings allowed.

    alpha = 1 - D_o / D_e (observed over expected disagreement); 1 is perfect agreement, 0 is the
    agreement expected by chance, negative values are systematic disagreement. Krippendorff asks for
    alpha >= 0.800, and >= 0.667 for tentative conclusions. The point estimate comes from the
    ``krippendorff`` package; the CI is a percentile bootstrap over *units* (targets), so it reflects
    the sampling of items, not of raters. Alpha depends only on which values were given to the same
    unit, never on which rater gave them: rater labels (slots vs worker ids) do not change it, except
    through ``center_raters``.

    Args:
        ratings: Wide array (rows = units/targets, columns = raters; NaN = not rated) or long data.
            Note the ``krippendorff`` package's own layout is the transpose (raters x units).
        targets: Column naming the unit (long data).
        raters: Column naming the rater (long data).
        values: Column holding the rating (long data).
        level: ``"nominal"``, ``"ordinal"``, ``"interval"`` (default) or ``"ratio"``.
        center_raters: Centre each rater on their own mean first (interval only).
        n_boot: Bootstrap resamples of units; 0 skips the CI.
        seed: Bootstrap seed.
        confidence: Level of the two-sided percentile CI.
        nan_policy: NaN always means "not rated"; this only decides whether an undefined alpha (no
            pairable units, a single value overall) warns and returns NaN (``"propagate"``/``"omit"``)
            or raises (``"raise"``).

    Returns:
        ReliabilityResult with ``n`` = pairable units (units with at least 2 ratings), no p-value,
        and ``details`` with the number of pairable values.

    Examples:
        >>> from cqmetric.reliability import krippendorff_alpha
        >>> nan = float("nan")
        >>> data = [[1, 1, nan, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
        ...         [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [nan, 5, 5, 5], [nan, nan, 1, 1], [nan, 3, nan, nan]]
        >>> round(krippendorff_alpha(data, level="interval", n_boot=0).estimate, 3)  # Krippendorff (2011): 0.849
        0.849
    """
    where = "krippendorff_alpha"
    level = check_option(where, "level", level, ALPHA_LEVELS)
    if center_raters and level != "interval":
        raise InputValidationError(
            f"{where}: center_raters=True needs level='interval' (shifted ratings are not {level} data), got level={level!r}."
        )
    m, _, _ = ratings_matrix(where, ratings, targets=targets, raters=raters, values=values)
    if center_raters:
        m = center_matrix(m)
    if level == "ratio" and np.isfinite(m).any() and np.nanmin(m) < 0:
        raise InputValidationError(f"{where}: level='ratio' needs non-negative ratings, got minimum {np.nanmin(m)!r}.")
    settings = {
        "level": level,
        "center_raters": check_bool(where, "center_raters", center_raters),
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        "ci": "percentile",
        "resample": "units",
        "nan_policy": nan_policy,
    }
    pairable = (~np.isnan(m)).sum(axis=1) >= 2
    mp = m[pairable]
    vals = mp[~np.isnan(mp)]
    details = {"n_units": int(m.shape[0]), "n_raters": int(m.shape[1]), "n_pairable_values": int(vals.size)}
    if mp.shape[0] < 2 or np.unique(vals).size < 2:
        degenerate(
            where,
            nan_policy,
            f"alpha needs at least 2 units with 2+ ratings and 2+ distinct values, got {mp.shape[0]} pairable unit(s) and {np.unique(vals).size} distinct value(s)",
        )
        return ReliabilityResult(
            "krippendorff_alpha",
            float("nan"),
            None if n_boot == 0 else (float("nan"),) * 2,
            None,
            int(mp.shape[0]),
            level,
            settings,
            details,
        )
    kd = require("krippendorff", "stats")
    domain = np.unique(vals)
    est = float(kd.alpha(reliability_data=mp.T, level_of_measurement=level))
    ci = None
    if n_boot:
        rng = child_rng(seed, "bootstrap")
        idx = rng.integers(0, mp.shape[0], size=(n_boot, mp.shape[0]))
        if level == "interval":
            st = interval_alpha_unit_stats(mp)
            reps = np.stack([interval_alpha_from_stats(st[i].sum(axis=0)) for i in idx])
        else:
            counts = np.stack([(mp == v).sum(axis=1) for v in domain], axis=1)
            reps = np.empty(n_boot)
            for b, i in enumerate(idx):
                c = counts[i]
                used = c.sum(axis=0) > 0
                if used.sum() < 2:
                    reps[b] = np.nan
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    reps[b] = kd.alpha(value_counts=c[:, used], value_domain=domain[used], level_of_measurement=level)
        ci = percentile_ci(reps, confidence)
        details["n_boot_undefined"] = int(np.sum(~np.isfinite(reps)))
    return ReliabilityResult("krippendorff_alpha", est, ci, None, int(mp.shape[0]), level, settings, details)


# --------------------------------------------------------------------------------------------
# Kappas
# --------------------------------------------------------------------------------------------


