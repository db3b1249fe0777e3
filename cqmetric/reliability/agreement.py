"""Agreement among human raters: ICC, Krippendorff's alpha, Cohen's and Fleiss' kappa.

Ratings come as a wide array (rows = targets/units/items, columns = raters, NaN = not rated) or,
for :func:`icc` and :func:`krippendorff_alpha`, as long data (a pandas DataFrame or a mapping of
columns) with ``targets=``, ``raters=`` and ``values=`` naming the columns.

**Rater leniency.** Some raters are systematically harsher than others. ``center_raters=True``
replaces every rating x_ij by x_ij - mean_j + grand mean, where mean_j is rater j's mean over the
targets they rated; the scale (grand mean) is kept. This removes rater main effects, so absolute
agreement becomes consistency (ICC2 moves towards ICC3). It is offered where ratings are treated as
interval numbers (ICC, interval alpha, the human ceiling); it is *not* offered for kappa, nominal,
ordinal or ratio alpha, where shifted values are no longer categories or ratios. The columns must be
the same people: on crowd data where columns are slots (HANNA), centre on worker ids with
:func:`~cqmetric.reliability.center_ratings` (``rater_ids=``; see :mod:`cqmetric.reliability.ratings`) or use
long data keyed by worker.

References:
    Shrout, P. E., & Fleiss, J. L. (1979). Intraclass correlations: Uses in assessing rater
    reliability. Psychological Bulletin, 86(2), 420-428.

    McGraw, K. O., & Wong, S. P. (1996). Forming inferences about some intraclass correlation
    coefficients. Psychological Methods, 1(1), 30-46.

    Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg School for
    Communication Departmental Papers 43; Krippendorff, K. (2004). Content Analysis, 2nd ed., Sage.

    Cohen, J. (1960). A coefficient of agreement for nominal scales. Educational and Psychological
    Measurement, 20, 37-46. Fleiss, J. L. (1971). Measuring nominal scale agreement among many
    raters. Psychological Bulletin, 76(5), 378-382. Fleiss, J. L., Levin, B., & Paik, M. C. (2003).
    Statistical Methods for Rates and Proportions, 3rd ed. (null variance of Fleiss' kappa).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from cqmetric._validation import (
    as_float_array,
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
from cqmetric.reliability.results import ICCResult, ReliabilityResult
from cqmetric.resampling import CONFIDENCE, N_BOOT, SEED, child_rng, percentile_ci

__all__ = [
    "icc",
    "krippendorff_alpha",
    "cohens_kappa",
    "fleiss_kappa",
    "ICC_FORMS",
    "ALPHA_LEVELS",
]

ICC_FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")
_MCGRAW_WONG = ("ICC(1,1)", "ICC(A,1)", "ICC(C,1)", "ICC(1,k)", "ICC(A,k)", "ICC(C,k)")
_ICC_DESCRIPTION = (
    "one-way random, single rater",
    "two-way random, absolute agreement, single rater",
    "two-way mixed, consistency, single rater",
    "one-way random, mean of k raters",
    "two-way random, absolute agreement, mean of k raters",
    "two-way mixed, consistency, mean of k raters",
)
ALPHA_LEVELS = ("nominal", "ordinal", "interval", "ratio")
KAPPA_WEIGHTS = (None, "linear", "quadratic")


# --------------------------------------------------------------------------------------------
# ICC
# --------------------------------------------------------------------------------------------


def _icc_cis(
    mean_squares: tuple[float, float, float, float], n: int, k: int, icc2: float, confidence: float
) -> list[tuple[float, float]]:
    """F-based CIs of the six forms at any `confidence` (Shrout & Fleiss 1979; McGraw & Wong 1996).

    These are the formulas of :func:`pingouin.intraclass_corr` and ``psych::ICC``; pingouin fixes the
    level at 95% and rounds its ``CI95`` column to two decimals, so the intervals are computed here from
    pingouin's ANOVA mean squares (rows, within, raters, residual).
    """
    msb, msw, msj, mse = mean_squares
    a = 1.0 - confidence
    f1 = msb / msw
    df1, df1kd, df2kd = n - 1, n * (k - 1), (n - 1) * (k - 1)
    f1l = f1 / stats.f.ppf(1 - a / 2, df1, df1kd)
    f1u = f1 * stats.f.ppf(1 - a / 2, df1kd, df1)
    f3 = msb / mse
    f3l = f3 / stats.f.ppf(1 - a / 2, df1, df2kd)
    f3u = f3 * stats.f.ppf(1 - a / 2, df2kd, df1)
    fj = msj / mse
    vn = df2kd * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = df1 * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    f2u = stats.f.ppf(1 - a / 2, n - 1, v)
    f2l = stats.f.ppf(1 - a / 2, v, n - 1)
    l2 = n * (msb - f2u * mse) / (f2u * (k * msj + (k * n - k - n) * mse) + n * msb)
    u2 = n * (f2l * msb - mse) / (k * msj + (k * n - k - n) * mse + n * f2l * msb)
    return [
        ((f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)),
        (l2, u2),
        ((f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)),
        (1 - 1 / f1l, 1 - 1 / f1u),
        (l2 * k / (1 + l2 * (k - 1)), u2 * k / (1 + u2 * (k - 1))),
        (1 - 1 / f3l, 1 - 1 / f3u),
    ]


@checked("icc")
def icc(
    ratings: Any,
    *,
    targets: str | None = None,
    raters: str | None = None,
    values: str | None = None,
    confidence: float = CONFIDENCE,
    center_raters: bool = False,
    nan_policy: str = "propagate",
) -> ICCResult:
    """All six Shrout-Fleiss intraclass correlations with F-tests and confidence intervals.

    The ICCs, F statistics, degrees of freedom and p-values come from
    :func:`pingouin.intraclass_corr`; the confidence intervals use the same F-based formulas (those of
    ``psych::ICC``) on pingouin's ANOVA mean squares, at the requested ``confidence`` (pingouin's own
    intervals are 95% only).

    Which form to report:

    * **ICC1** (one-way random): each target is rated by a *different* random set of raters,
      e.g. crowd workers assigned per item (HANNA's rater slots). Rater effects cannot be separated.
    * **ICC2** (two-way random, absolute agreement): the same raters rate every target and stand for
      a larger population of raters; systematic offsets between raters count as disagreement. The
      usual choice for "would other annotators give the same scores?".
    * **ICC3** (two-way mixed, consistency): the same, fixed raters; offsets are ignored, only the
      ordering/linear agreement counts (equal to ICC2 after ``center_raters=True``).
    * The **k** forms give the reliability of the *mean* of the k ratings: report them when the mean
      rating is the human reference a metric is correlated with; the single-rater forms when one
      rating is what matters. ICC3k equals Cronbach's alpha of the raters.

    If ICC3 is clearly above ICC2, raters differ in leniency (the F-test of rater means is the
    ``msj/mse`` part); report both.

    Args:
        ratings: Wide array (rows = targets, columns = raters) or long data with ``targets``,
            ``raters`` and ``values`` column names.
        targets: Column naming the rated target (long data).
        raters: Column naming the rater (long data).
        values: Column holding the rating (long data).
        confidence: Level of the two-sided F-based confidence intervals.
        center_raters: Centre each rater on their own mean first (see the module docstring).
        nan_policy: Missing ratings: ``"propagate"`` (NaN results with a warning), ``"omit"`` (drop
            targets with any missing rating; listwise, as pingouin) or ``"raise"``.

    Returns:
        ICCResult: six :class:`ReliabilityResult` rows; ``res["ICC2"]`` or ``res["ICC(A,1)"]``.

    Raises:
        InputValidationError: Fewer than 2 raters, malformed long data, NaN under ``"raise"``.

    Warns:
        DegenerateInputWarning: Fewer than 3 complete targets or constant ratings (NaN results).

    Examples:
        >>> from cqmetric.reliability import icc
        >>> sf = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
        >>> res = icc(sf)  # the worked example of Shrout & Fleiss (1979)
        >>> [round(res[f].estimate, 2) for f in ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")]
        [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]

    References:
        Shrout & Fleiss (1979); McGraw & Wong (1996); Koo & Li (2016), J. Chiropractic Medicine 15(2).
    """
    where = "icc"
    m, _, _ = ratings_matrix(where, ratings, targets=targets, raters=raters, values=values)
    if m.shape[1] < 2:
        raise InputValidationError(f"{where}: expected at least 2 raters (columns), got shape {m.shape}.")
    settings = {
        "confidence": confidence,
        "ci": "F-distribution",
        "center_raters": check_bool(where, "center_raters", center_raters),
        "nan_policy": nan_policy,
    }
    if center_raters:
        m = center_matrix(m)
    bad = np.isnan(m).any(axis=1)
    if bad.any():
        if nan_policy == "raise":
            raise InputValidationError(
                f"{where}: expected a complete ratings matrix (nan_policy='raise'), got {int(bad.sum())} target(s) with missing ratings; "
                "pass nan_policy='omit' to drop them."
            )
        if nan_policy == "propagate":
            degenerate(
                where,
                nan_policy,
                f"{int(bad.sum())} target(s) have missing ratings (pass nan_policy='omit' for listwise deletion)",
            )
            return _nan_icc(m.shape[0], m.shape[1], settings)
        m = m[~bad]
    n, k = m.shape
    if n < 3 or np.all(m == m.flat[0]):
        degenerate(
            where,
            nan_policy,
            f"ICC needs at least 3 targets with varying ratings, got {n} target(s)"
            + (" with constant ratings" if n >= 3 else ""),
        )
        return _nan_icc(n, k, settings)
    pd = require("pandas", "stats")
    pg = require("pingouin", "stats")
    long = pd.DataFrame({"target": np.repeat(np.arange(n), k), "rater": np.tile(np.arange(k), n), "rating": m.ravel()})
    with warnings.catch_warnings():
        # pingouin's internals raise pandas deprecation and numpy runtime warnings that are not the user's concern
        warnings.simplefilter("ignore")
        table = pg.intraclass_corr(data=long, targets="target", raters="rater", ratings="rating")
        anova = pg.anova(data=long, dv="rating", between=["target", "rater"], ss_type=2).set_index("Source")
    table = table.set_index("Type").loc[list(_MCGRAW_WONG)]
    ss, df = anova["SS"], anova["DF"]  # the two-way ANOVA without replication that intraclass_corr runs
    mean_squares = (
        float(ss["target"] / df["target"]),
        float((ss["rater"] + ss["target * rater"]) / (df["rater"] + df["target * rater"])),
        float(ss["rater"] / df["rater"]),
        float(ss["target * rater"] / df["target * rater"]),
    )
    cis = _icc_cis(mean_squares, n, k, float(table.loc["ICC(A,1)", "ICC"]), confidence)
    forms = []
    for name, mw, desc, ci in zip(ICC_FORMS, _MCGRAW_WONG, _ICC_DESCRIPTION, cis):
        row = table.loc[mw]
        forms.append(
            ReliabilityResult(
                "icc",
                float(row["ICC"]),
                (float(ci[0]), float(ci[1])),
                float(row["pval"]),
                n,
                name,
                settings,
                {
                    "mcgraw_wong": mw,
                    "description": desc,
                    "F": float(row["F"]),
                    "df1": int(row["df1"]),
                    "df2": int(row["df2"]),
                    "k": k,
                },
            )
        )
    return ICCResult(tuple(forms), n, k, settings)


def _nan_icc(n: int, k: int, settings: Mapping[str, Any]) -> ICCResult:
    nan = float("nan")
    forms = tuple(
        ReliabilityResult(
            "icc", nan, (nan, nan), nan, n, name, settings, {"mcgraw_wong": mw, "description": desc, "k": k}
        )
        for name, mw, desc in zip(ICC_FORMS, _MCGRAW_WONG, _ICC_DESCRIPTION)
    )
    return ICCResult(forms, n, k, settings)


# --------------------------------------------------------------------------------------------
# Krippendorff's alpha
# --------------------------------------------------------------------------------------------


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
