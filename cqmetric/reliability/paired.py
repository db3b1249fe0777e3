"""Paired tests of one set of differences: Wilcoxon, sign test, Cohen's d_z (Williams' test: `williams`).

References:
    Williams, E. J. (1959). The comparison of regression variables. JRSS B 21(2), 396-399.
    Steiger, J. H. (1980). Tests for comparing elements of a correlation matrix. Psychological
    Bulletin 87(2), 245-251. Graham, Y., & Baldwin, T. (2014). Testing for significance of
    increased correlation with human judgment. EMNLP 2014. Deutsch, D., Dror, R., & Roth, D. (2021).
    A Statistical Analysis of Summarization Evaluation Metrics Using Resampling Methods. TACL 9.
    Wilcoxon, F. (1945). Individual comparisons by ranking methods. Biometrics Bulletin 1(6).
    Lakens, D. (2013). Calculating and reporting effect sizes. Frontiers in Psychology 4:863 (d_z).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy import optimize, stats

from cqmetric._validation import (
    as_float_array,
    check_bool,
    check_option,
)
from cqmetric.errors import InputValidationError
from cqmetric.reliability.inputs import (
    checked,
    degenerate,
)
from cqmetric.reliability.results import ReliabilityResult
from cqmetric.resampling import (
    CONFIDENCE,
    N_BOOT,
    SEED,
    child_rng,
    scipy_percentile_ci,
)

__all__ = ["williams_t", "williams_test", "wilcoxon_test", "sign_test", "cohens_dz"]



# --------------------------------------------------------------------------------------------
# Williams
# --------------------------------------------------------------------------------------------


def _differences(where: str, x: Any, y: Any, nan_policy: str) -> tuple[np.ndarray, int]:
    xa = as_float_array(where, "x", x)
    if y is None:
        d = xa
    else:
        ya = as_float_array(where, "y", y)
        if xa.size != ya.size:
            raise InputValidationError(
                f"{where}: expected `x` and `y` of the same length, got len(x)={xa.size}, len(y)={ya.size}."
            )
        d = xa - ya
    n_all = d.size
    bad = np.isnan(d)
    if bad.any():
        if nan_policy == "raise":
            raise InputValidationError(
                f"{where}: expected no NaN (nan_policy='raise'), got {int(bad.sum())} NaN difference(s)."
            )
        if nan_policy == "omit":
            d = d[~bad]
    return d, n_all


def _hodges_lehmann(d: np.ndarray, axis: int = -1) -> Any:
    d = np.moveaxis(np.asarray(d, dtype=float), axis, -1)
    i, j = np.triu_indices(d.shape[-1])
    return np.median((d[..., i] + d[..., j]) / 2.0, axis=-1)


@checked("wilcoxon_test")
def wilcoxon_test(
    x: Any,
    y: Any = None,
    *,
    alternative: str = "two-sided",
    zero_method: str = "wilcox",
    correction: bool = False,
    exact: str = "auto",
    n_boot: int = N_BOOT,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    nan_policy: str = "propagate",
) -> ReliabilityResult:
    """Wilcoxon signed-rank test of the differences d = x - y (or of x alone) against 0.

    The p-value is :func:`scipy.stats.wilcoxon`'s. The estimate is the Hodges-Lehmann
    pseudo-median of d (median of the Walsh averages), the location estimate that belongs to this
    test, with a percentile bootstrap CI. ``details`` also has W (sum of positive ranks, scipy's
    statistic for one-sided tests) and the matched-pairs rank-biserial correlation
    r = (R+ - R-) / (R+ + R-) (Kerby, 2014).

    Args:
        x: First sample (or the differences when ``y`` is None).
        y: Second sample, paired with ``x``.
        alternative: ``"two-sided"``, ``"greater"`` (d > 0) or ``"less"``.
        zero_method: scipy's treatment of zero differences: ``"wilcox"``, ``"pratt"`` or ``"zsplit"``.
        correction: Continuity correction of the normal approximation.
        exact: scipy's ``method``: ``"auto"``, ``"exact"`` or ``"asymptotic"``.
        n_boot: Bootstrap resamples for the CI; 0 skips it.
        seed: Bootstrap seed.
        confidence: Level of the two-sided CI.
        nan_policy: ``"propagate"``, ``"omit"`` or ``"raise"``.

    Returns:
        ReliabilityResult.

    Examples:
        >>> from cqmetric.reliability import wilcoxon_test
        >>> res = wilcoxon_test([0.3, 0.5, -0.1, 0.8, 0.4, 0.2, 0.6], alternative="greater", n_boot=0)
        >>> round(res.pvalue, 4), round(res.estimate, 3)
        (0.0156, 0.4)
    """
    where = "wilcoxon_test"
    zero_method = check_option(where, "zero_method", zero_method, ("wilcox", "pratt", "zsplit"))
    exact = check_option(where, "exact", exact, ("auto", "exact", "asymptotic"))
    d, n_all = _differences(where, x, y, nan_policy)
    settings = {
        "alternative": alternative,
        "zero_method": zero_method,
        "correction": check_bool(where, "correction", correction),
        "exact": exact,
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        "ci": "percentile",
        "nan_policy": nan_policy,
    }
    if np.isnan(d).any():
        degenerate(where, nan_policy, "the differences contain NaN (pass nan_policy='omit')")
        return ReliabilityResult("wilcoxon", float("nan"), None, float("nan"), n_all, "signed-rank", settings, {})
    nz = d[d != 0]
    if nz.size < 1 or d.size < 2:
        degenerate(
            where,
            nan_policy,
            f"the signed-rank test needs non-zero differences, got n={d.size} with {nz.size} non-zero",
        )
        return ReliabilityResult("wilcoxon", float("nan"), None, float("nan"), d.size, "signed-rank", settings, {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = stats.wilcoxon(d, zero_method=zero_method, correction=correction, alternative=alternative, method=exact)
    ranks = stats.rankdata(np.abs(nz))
    rp, rm = ranks[nz > 0].sum(), ranks[nz < 0].sum()
    details = {
        "W": float(rp),
        "scipy_statistic": float(res.statistic),
        "rank_biserial": float((rp - rm) / (rp + rm)),
        "n_nonzero": int(nz.size),
    }
    ci = None
    if n_boot:
        batch = max(1, int(2_000_000 // (d.size * (d.size + 1) // 2)))
        ci = scipy_percentile_ci(
            (d,), _hodges_lehmann, n_boot=n_boot, rng=child_rng(seed, "bootstrap"), confidence=confidence, batch=batch
        )
    return ReliabilityResult(
        "wilcoxon", float(_hodges_lehmann(d)), ci, float(res.pvalue), d.size, "signed-rank", settings, details
    )


@checked("sign_test")
def sign_test(
    x: Any, y: Any = None, *, alternative: str = "two-sided", confidence: float = CONFIDENCE, nan_policy: str = "propagate"
) -> ReliabilityResult:
    """Exact sign test: are positive differences d = x - y more (or less) frequent than negative ones?

    Zero differences are dropped (the classical convention). The estimate is the share of positive
    differences among non-zero ones, with the exact Clopper-Pearson two-sided CI; the p-value is
    :func:`scipy.stats.binomtest` of the positives against 1/2.

    Args:
        x: First sample (or the differences when ``y`` is None).
        y: Second sample, paired with ``x``.
        alternative: ``"two-sided"``, ``"greater"`` (more positives) or ``"less"``.
        confidence: Level of the CI.
        nan_policy: ``"propagate"``, ``"omit"`` or ``"raise"``.

    Returns:
        ReliabilityResult (``details``: n_positive, n_negative, n_zero).

    Examples:
        >>> from cqmetric.reliability import sign_test
        >>> res = sign_test([1.2, 0.4, 0.9, 1.1, 0.3, 0.7], [1.0, 0.5, 0.2, 0.6, 0.1, 0.7], alternative="greater")
        >>> res.details["n_positive"], res.details["n_negative"], round(res.pvalue, 4)
        (4, 1, 0.1875)
    """
    where = "sign_test"
    d, n_all = _differences(where, x, y, nan_policy)
    settings = {
        "alternative": alternative,
        "confidence": confidence,
        "ci": "clopper-pearson",
        "zeros": "dropped",
        "nan_policy": nan_policy,
    }
    if np.isnan(d).any():
        degenerate(where, nan_policy, "the differences contain NaN (pass nan_policy='omit')")
        return ReliabilityResult("sign_test", float("nan"), None, float("nan"), n_all, "binomial", settings, {})
    pos, neg = int((d > 0).sum()), int((d < 0).sum())
    det = {"n_positive": pos, "n_negative": neg, "n_zero": int(d.size - pos - neg)}
    if pos + neg == 0:
        degenerate(where, nan_policy, "all differences are zero")
        return ReliabilityResult("sign_test", float("nan"), None, float("nan"), d.size, "binomial", settings, det)
    res = stats.binomtest(pos, pos + neg, 0.5, alternative=alternative)
    ci = stats.binomtest(pos, pos + neg, 0.5).proportion_ci(confidence_level=confidence, method="exact")
    return ReliabilityResult(
        "sign_test", pos / (pos + neg), (ci.low, ci.high), res.pvalue, d.size, "binomial", settings, det
    )


def _dz_ci_nct(t_obs: float, df: int, n: int, confidence: float) -> tuple[float, float]:
    """Exact CI of d_z by inverting the noncentral t distribution of t = d_z sqrt(n)."""
    a = (1 - confidence) / 2

    def solve(target: float) -> float:
        f = lambda nc: stats.nct.sf(t_obs, df, nc) - target  # noqa: E731
        lo, hi = t_obs - 10 - abs(t_obs), t_obs + 10 + abs(t_obs)
        while f(lo) > 0:
            lo -= 10 + abs(lo)
        while f(hi) < 0:
            hi += 10 + abs(hi)
        return optimize.brentq(f, lo, hi, xtol=1e-12)

    return (solve(a) / math.sqrt(n), solve(1 - a) / math.sqrt(n))


@checked("cohens_dz")
def cohens_dz(
    x: Any,
    y: Any = None,
    *,
    alternative: str = "two-sided",
    ci_method: str = "nct",
    n_boot: int = N_BOOT,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    nan_policy: str = "propagate",
) -> ReliabilityResult:
    """Cohen's d_z = mean(d) / sd(d) of paired differences, with a CI and the paired t-test.

    Rough reading (Cohen, 1988): 0.2 small, 0.5 medium, 0.8 large; d_z is larger than the
    between-subjects d when the two measurements are positively correlated, so do not compare them.

    Args:
        x: First sample (or the differences when ``y`` is None).
        y: Second sample, paired with ``x``.
        alternative: Alternative of the t-test (:func:`scipy.stats.ttest_1samp`) giving the p-value.
        ci_method: ``"nct"`` (exact under normality: inverts the noncentral t) or ``"bootstrap"``
            (percentile, ``n_boot`` resamples).
        n_boot: Resamples for ``ci_method="bootstrap"``.
        seed: Bootstrap seed.
        confidence: Level of the two-sided CI.
        nan_policy: ``"propagate"``, ``"omit"`` or ``"raise"``.

    Returns:
        ReliabilityResult (``details``: mean, sd, t, df).

    Examples:
        >>> from cqmetric.reliability import cohens_dz
        >>> res = cohens_dz([0.3, 0.5, -0.1, 0.8, 0.4, 0.2, 0.6])
        >>> round(res.estimate, 4), round(res.pvalue, 4)
        (1.3248, 0.0127)
    """
    where = "cohens_dz"
    ci_method = check_option(where, "ci_method", ci_method, ("nct", "bootstrap"))
    d, n_all = _differences(where, x, y, nan_policy)
    settings: dict[str, Any] = {"alternative": alternative, "ci": ci_method, "confidence": confidence}
    if ci_method == "bootstrap":
        settings.update({"n_boot": n_boot, "seed": seed})
    settings["nan_policy"] = nan_policy
    if np.isnan(d).any():
        degenerate(where, nan_policy, "the differences contain NaN (pass nan_policy='omit')")
        return ReliabilityResult("cohens_dz", float("nan"), None, float("nan"), n_all, "d_z", settings, {})
    n = d.size
    sd = float(d.std(ddof=1)) if n > 1 else float("nan")
    mean = float(d.mean())
    if n < 3 or not sd > 1e-12 * max(1.0, abs(mean)):  # equal up to rounding (B = A + c) counts as equal
        degenerate(where, nan_policy, f"d_z needs at least 3 differences that are not all equal (up to rounding), "
                                      f"got n={n} with sd={sd:.3g}")
        return ReliabilityResult("cohens_dz", float("nan"), None, float("nan"), n, "d_z", settings, {})
    dz = mean / sd
    tt = stats.ttest_1samp(d, 0.0, alternative=alternative)
    ci: tuple[float, float] | None
    if ci_method == "nct":
        ci = _dz_ci_nct(dz * math.sqrt(n), n - 1, n, confidence)
    else:
        ci = (
            scipy_percentile_ci(
                (d,),
                lambda v, axis=-1: v.mean(axis=axis) / v.std(axis=axis, ddof=1),
                n_boot=n_boot,
                rng=child_rng(seed, "bootstrap"),
                confidence=confidence,
            )
            if n_boot
            else None
        )
    return ReliabilityResult(
        "cohens_dz",
        dz,
        ci,
        float(tt.pvalue),
        n,
        "d_z",
        settings,
        {"mean": mean, "sd": sd, "t": float(tt.statistic), "df": n - 1},
    )


from cqmetric.reliability.williams import williams_t, williams_test  # noqa: E402  (for old imports)
