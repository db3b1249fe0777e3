"""Paired tests: Williams' test of two dependent correlations, Wilcoxon, sign test, Cohen's d_z.

**Williams' test** asks whether metric A correlates with the human ratings more strongly than metric
B does, on the *same* items. The two correlations share the human ratings and are themselves
correlated through r(A, B), so comparing their CIs (or Fisher-z tests for independent samples) is
wrong. Williams' T2 (Williams, 1959; recommended by Steiger, 1980) is::

    t = (r12 - r13) * sqrt( (n - 1)(1 + r23) /
                            ( 2 (n - 1)/(n - 3) |R| + rbar^2 (1 - r23)^3 ) ),   df = n - 3,

with 1 = human, 2 = metric A, 3 = metric B, |R| = 1 - r12^2 - r13^2 - r23^2 + 2 r12 r13 r23 and
rbar = (r12 + r13)/2. It is exact for Pearson correlations of normal data and is routinely applied
to Spearman's rho (WMT metrics tasks); for Kendall's tau, or at group level, use the resampling
alternatives of :func:`williams_test` (``test="permutation"`` or ``"bootstrap"``; Deutsch et al., 2021).

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
from collections.abc import Sequence
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
    nan_mask,
)
from cqmetric.reliability.kernels import corr, p_from_t, permutation_pvalue
from cqmetric.reliability.protocol import STAT_NAMES, Protocol, build_protocol
from cqmetric.reliability.results import ReliabilityResult
from cqmetric.resampling import (
    CONFIDENCE,
    N_BOOT,
    SEED,
    child_rng,
    percentile_ci,
    scipy_percentile_ci,
)

__all__ = ["williams_t", "williams_test", "wilcoxon_test", "sign_test", "cohens_dz"]

WILLIAMS_TESTS = ("williams", "permutation", "bootstrap")


# --------------------------------------------------------------------------------------------
# Williams
# --------------------------------------------------------------------------------------------


def _williams(n: float, r12: float, r13: float, r23: float) -> float:
    det = 1 - r12**2 - r13**2 - r23**2 + 2 * r12 * r13 * r23
    rbar = (r12 + r13) / 2
    den = 2 * (n - 1) / (n - 3) * det + rbar**2 * (1 - r23) ** 3
    if not den > 0:
        return float("nan")
    return float((r12 - r13) * math.sqrt((n - 1) * (1 + r23) / den))


def _check_r(where: str, name: str, r: Any) -> float:
    if isinstance(r, bool) or not isinstance(r, (int, float, np.integer, np.floating)) or not -1 <= float(r) <= 1:
        raise InputValidationError(f"{where}: expected `{name}` to be a correlation in [-1, 1], got {r!r}.")
    return float(r)


@checked("williams_t")
def williams_t(n: int, r12: float, r13: float, r23: float, *, alternative: str = "two-sided") -> ReliabilityResult:
    """Williams' T2 for r12 vs r13 given r23 (variable 1 shared), from the three correlations.

    Args:
        n: Number of observations (items, or systems at system level); at least 4.
        r12: Correlation of the human ratings with metric A.
        r13: Correlation of the human ratings with metric B.
        r23: Correlation between metrics A and B.
        alternative: ``"two-sided"``, ``"greater"`` (r12 > r13) or ``"less"``.

    Returns:
        ReliabilityResult: ``estimate`` = r12 - r13, ``details`` = {t, df}; no CI.

    Examples:
        >>> from cqmetric.reliability import williams_t
        >>> res = williams_t(50, 0.5, 0.3, 0.4)  # psych::r.test(n=50, r12=.5, r13=.3, r23=.4): t = 1.44
        >>> round(res.details["t"], 4), round(res.pvalue, 4)
        (1.4378, 0.1571)
    """
    where = "williams_t"
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 4:
        raise InputValidationError(f"{where}: expected `n` to be an integer >= 4, got {n!r}.")
    r12, r13, r23 = (_check_r(where, k, v) for k, v in (("r12", r12), ("r13", r13), ("r23", r23)))
    t = _williams(int(n), r12, r13, r23)
    p = p_from_t(t, int(n) - 3, alternative)
    settings = {"test": "williams", "alternative": alternative}
    return ReliabilityResult(
        "williams_t",
        r12 - r13,
        None,
        p,
        int(n),
        "williams",
        settings,
        {"t": t, "df": int(n) - 3, "r12": r12, "r13": r13, "r23": r23},
    )


@checked("williams_test")
def williams_test(
    human: Any,
    scores_a: Any,
    scores_b: Any,
    *,
    method: str = "pearson",
    level: str = "item",
    groups: Sequence[Any] | np.ndarray | None = None,
    systems: Sequence[Any] | np.ndarray | None = None,
    test: str = "williams",
    resample: str = "auto",
    alternative: str = "two-sided",
    n_boot: int = N_BOOT,
    n_perm: int = 2000,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    nan_policy: str = "propagate",
) -> ReliabilityResult:
    """Is metric A's correlation with the human ratings different from metric B's (same items)?

    The estimate is r(human, A) - r(human, B) under the correlation protocol (method, level,
    groups, systems), with a paired bootstrap CI (both correlations recomputed on the same
    resamples of the protocol's unit). The p-value comes from ``test``:

    * ``"williams"``: Williams' T2 (closed form, df = n - 3; n = items, or systems at system level).
      Not available at group level.
    * ``"permutation"``: per item, A's and B's scores are swapped with probability 1/2 (scores first
      standardised: z-scores for Pearson, z-scored ranks for the rank methods; within groups at group
      level), via :func:`scipy.stats.permutation_test` with ``permutation_type="samples"``
      (the paired permutation test of Deutsch et al., 2021).
    * ``"bootstrap"``: the paired-bootstrap test of the shifted differences (the same resamples as
      the CI): p = share of (delta* - delta) at least as extreme as delta.

    Args:
        human: Human ratings, one per item.
        scores_a: Metric A's scores.
        scores_b: Metric B's scores.
        method: ``"pearson"`` (default), ``"spearman"`` or ``"kendall"``.
        level: ``"item"``, ``"group"`` or ``"system"`` (as in :func:`correlation`).
        groups: As in :func:`correlation`.
        systems: As in :func:`correlation`.
        test: ``"williams"``, ``"permutation"`` or ``"bootstrap"``.
        resample: Bootstrap unit, as in :func:`correlation`.
        alternative: ``"two-sided"``, ``"greater"`` (A correlates more strongly) or ``"less"``.
        n_boot: Bootstrap resamples for the CI (and the bootstrap test); 0 skips the CI.
        n_perm: Permutations for ``test="permutation"``.
        seed: Seed of both resampling streams.
        confidence: Level of the two-sided percentile CI.
        nan_policy: ``"propagate"``, ``"omit"`` (listwise) or ``"raise"``.

    Returns:
        ReliabilityResult with ``details`` r_human_a, r_human_b (and r_ab, t, df for Williams).

    Examples:
        >>> from cqmetric.reliability import williams_test
        >>> h = [1, 2, 3, 4, 5, 6, 7, 8]
        >>> a = [1.1, 2.3, 2.9, 4.2, 4.8, 6.1, 7.2, 7.9]
        >>> b = [2, 1, 4, 3, 6, 5, 8, 7]
        >>> res = williams_test(h, a, b, n_boot=0)
        >>> round(res.estimate, 4), round(res.details["t"], 3), round(res.pvalue, 4)
        (0.0927, 5.935, 0.0019)
    """
    where = "williams_test"
    test = check_option(where, "test", test, WILLIAMS_TESTS)
    h = as_float_array(where, "human", human)
    a = as_float_array(where, "scores_a", scores_a)
    b = as_float_array(where, "scores_b", scores_b)
    if not h.size == a.size == b.size:
        raise InputValidationError(
            f"{where}: expected `human`, `scores_a` and `scores_b` of the same length, got len(human)={h.size}, len(scores_a)={a.size}, len(scores_b)={b.size}."
        )
    proto = build_protocol(
        where,
        n=h.size,
        method=method,
        level=level,
        groups=groups,
        systems=systems,
        resample=resample,
        nan_policy=nan_policy,
    )
    if test == "williams" and proto.level == "group":
        raise InputValidationError(
            f"{where}: test='williams' has no closed form at level='group'; use test='permutation' or 'bootstrap'."
        )
    if test == "bootstrap" and n_boot == 0:
        raise InputValidationError(f"{where}: test='bootstrap' needs n_boot >= 100, got n_boot=0.")
    settings: dict[str, Any] = {"level": proto.level, "test": test, "resample": proto.resample, "n_boot": n_boot}
    if test == "permutation":
        settings["n_perm"] = n_perm
    settings.update(
        {
            "seed": seed,
            "confidence": confidence,
            "ci": "percentile",
            "alternative": alternative,
            "nan_policy": nan_policy,
        }
    )
    stat = f"delta_{STAT_NAMES[proto.method]}"
    keep = nan_mask(where, nan_policy, human=h, scores_a=a, scores_b=b)
    if not keep.all():
        if nan_policy == "propagate":
            degenerate(
                where, nan_policy, f"{int((~keep).sum())} item(s) have NaN (pass nan_policy='omit' to drop them)"
            )
            return ReliabilityResult(stat, float("nan"), None, float("nan"), h.size, proto.method, settings, {})
        h, a, b = h[keep], a[keep], b[keep]
        proto = proto.subset(keep)
    proto.check_units()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ra, _ = proto.estimate(a, h, None)
        rb, _ = proto.estimate(b, h, None)
    delta = ra - rb
    details: dict[str, Any] = {"r_human_a": ra, "r_human_b": rb}
    if not np.isfinite(delta):
        degenerate(where, nan_policy, "a correlation is undefined (constant input or too few items)")
        return ReliabilityResult(stat, float("nan"), None, float("nan"), h.size, proto.method, settings, details)

    reps = None
    ci = None
    if n_boot:
        plan = proto.bootstrap_plan(child_rng(seed, "bootstrap"), n_boot)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            reps = proto.replicates(plan, a, h, None) - proto.replicates(plan, b, h, None)
        ci = percentile_ci(reps, confidence)

    if test == "williams":
        if proto.level == "system":
            hs, as_, bs = proto.system_means(h), proto.system_means(a), proto.system_means(b)
        else:
            hs, as_, bs = h, a, b
        n_units = hs.size
        if n_units < 4:
            degenerate(
                where,
                nan_policy,
                f"Williams' test needs at least 4 {'systems' if proto.level == 'system' else 'items'}, got {n_units}",
            )
            return ReliabilityResult(stat, delta, ci, float("nan"), h.size, proto.method, settings, details)
        rab = corr(as_, bs, proto.method)
        t = _williams(n_units, ra, rb, rab)
        p = p_from_t(t, n_units - 3, alternative)
        details.update({"r_ab": rab, "t": t, "df": n_units - 3})
    elif test == "bootstrap":
        if reps is None:  # internal invariant
            raise RuntimeError("internal error: resampling state missing")
        p = permutation_pvalue(delta, reps - delta, alternative)
    else:
        za, zb = _standardise(a, proto), _standardise(b, proto)

        def diff(x: np.ndarray, y: np.ndarray) -> float:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return proto.estimate(x, h, None)[0] - proto.estimate(y, h, None)[0]

        with np.errstate(all="ignore"):
            res = stats.permutation_test(
                (za, zb),
                diff,
                permutation_type="samples",
                vectorized=False,
                n_resamples=n_perm,
                alternative=alternative,
                rng=child_rng(seed, "permutation"),
            )
        p = float(res.pvalue)
    if proto.group_labels is not None:
        details["n_groups"] = proto.n_groups
    if proto.system_labels is not None:
        details["n_systems"] = proto.n_systems
    return ReliabilityResult(stat, delta, ci, p, h.size, proto.method, settings, details)


def _zscore(v: np.ndarray) -> np.ndarray:
    sd = v.std()
    return (v - v.mean()) / sd if sd > 0 else v - v.mean()


def _standardise(v: np.ndarray, proto: Protocol) -> np.ndarray:
    """z-scores (of ranks for rank methods); within groups at group level."""
    if proto.level != "group":
        return _zscore(stats.rankdata(v) if proto.method != "pearson" else v)
    out = np.empty_like(v, dtype=float)
    for mem in proto.group_members:
        x = v[mem]
        out[mem] = _zscore(stats.rankdata(x) if proto.method != "pearson" else x)
    return out


# --------------------------------------------------------------------------------------------
# One-sample / paired location tests
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
