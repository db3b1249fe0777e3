"""Williams' test of two dependent correlations: does metric A agree with the humans more than metric B?

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
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from cqmetric._validation import (
    as_float_array,
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
)

__all__ = ["williams_t", "williams_test", "WILLIAMS_TESTS"]

WILLIAMS_TESTS = ("williams", "permutation", "bootstrap")


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
