"""Metric-human correlation at item, group (story) and system level, with clustered bootstrap CIs.

The three levels answer different questions (see ``docs/reliability.md``):

* ``level="item"``: one correlation over all items. Pass ``groups=`` when items are clustered
  (several outputs per prompt): the bootstrap then resamples whole groups, not items.
* ``level="group"``: the correlation *inside* each group (e.g. among the systems' stories for one
  prompt), averaged over groups. This is HANNA's "story level" (Chhun et al., 2022). The bootstrap
  resamples groups; the default p-value permutes the human ratings within each group.
* ``level="system"``: the correlation of per-system means (``systems=`` labels). The bootstrap
  resamples items within each system, or with ``groups=`` whole input groups (Deutsch et al. 2021's
  "inputs" resampling), or systems (``resample="systems"``), or both.

Partial correlation (``covariates=``, e.g. text length) is computed by residualisation: x and y are
regressed (OLS with intercept) on the covariates and the residuals are correlated. For the rank
methods everything (x, y and each covariate) is rank-transformed first, so Spearman's partial
correlation equals :func:`pingouin.partial_corr` with ``method="spearman"``; Kendall's "partial"
correlation is Kendall's tau-b of the rank residuals (an approximation; there is no standard
closed-form partial tau with p-value).

The study design (levels, resampling units, p-values) is :mod:`cqmetric.reliability.protocol`; the
coefficients are computed in :mod:`cqmetric.reliability.kernels`.

References:
    Chhun, C., Colombo, P., Suchanek, F. M., & Clavel, C. (2022). Of Human Criteria and Automatic
    Metrics: A Benchmark of the Evaluation of Story Generation. COLING 2022.

    Deutsch, D., Dror, R., & Roth, D. (2021). A Statistical Analysis of Summarization Evaluation
    Metrics Using Resampling Methods. TACL 9, 1132-1146.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from cqmetric._validation import as_float_array, check_option
from cqmetric.errors import DegenerateInputWarning, InputValidationError
from cqmetric.reliability.inputs import (
    checked,
    degenerate,
    nan_mask,
)
from cqmetric.reliability.kernels import MIN_N
from cqmetric.reliability.protocol import (
    LEVELS,
    METHODS,
    RESAMPLE_UNITS,
    STAT_NAMES,
    build_protocol,
    correlation_settings,
)
from cqmetric.reliability.results import ReliabilityResult
from cqmetric.resampling import CONFIDENCE, N_BOOT, SEED, child_rng, percentile_ci

__all__ = ["correlation", "METHODS", "LEVELS", "RESAMPLE_UNITS"]

PVALUE_METHODS = ("auto", "analytic", "permutation", "none")


def _as_covariates(where: str, covariates: Any, n: int) -> np.ndarray | None:
    """Covariates as an (n, k) float array (a 1-D array is one covariate)."""
    if covariates is None:
        return None
    try:
        ndim = np.asarray(covariates, dtype=float).ndim
    except (TypeError, ValueError):
        ndim = 1
    if ndim not in (1, 2):
        raise InputValidationError(f"{where}: expected `covariates` of shape (n,) or (n, k), got {ndim} dimensions.")
    C = as_float_array(where, "covariates", covariates, ndim=ndim)
    if C.ndim == 1:
        C = C[:, None]
    if C.shape[0] != n:
        raise InputValidationError(
            f"{where}: expected `covariates` with one row per item, got {C.shape[0]} rows for {n} items."
        )
    if C.shape[1] == 0:
        raise InputValidationError(f"{where}: expected at least one covariate column, got shape {C.shape}.")
    return C


def _resolve_pvalue(where: str, pvalue: str, level: str, has_cov: bool) -> str:
    """`auto` -> permutation at group level, analytic otherwise; permutation refuses covariates outside group level."""
    pvalue = check_option(where, "pvalue", pvalue, PVALUE_METHODS)
    if pvalue == "auto":
        pvalue = "permutation" if level == "group" else "analytic"
    if pvalue == "permutation" and has_cov and level != "group":
        raise InputValidationError(
            f"{where}: pvalue='permutation' with `covariates` is only available at level='group'; use pvalue='analytic'."
        )
    return pvalue


@checked("correlation")
def correlation(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    method: str = "spearman",
    level: str = "item",
    groups: Sequence[Any] | np.ndarray | None = None,
    systems: Sequence[Any] | np.ndarray | None = None,
    covariates: Any = None,
    resample: str = "auto",
    n_boot: int = N_BOOT,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    pvalue: str = "auto",
    n_perm: int = 2000,
    alternative: str = "two-sided",
    nan_policy: str = "propagate",
) -> ReliabilityResult:
    """Correlation between metric scores and human ratings, with a bootstrap CI and a p-value.

    Args:
        x: Metric scores, one per item.
        y: Human ratings (e.g. the mean over raters), one per item.
        method: ``"spearman"`` (default), ``"kendall"`` (tau-b, ties handled) or ``"pearson"``.
        level: ``"item"`` (one correlation over all items), ``"group"`` (correlation inside each
            group, averaged over groups; HANNA's story level) or ``"system"`` (correlation of the
            per-system means).
        groups: Group label per item (e.g. prompt id). Needed for ``level="group"``; at the other
            levels it makes the bootstrap resample whole groups (items of one prompt are not
            independent).
        systems: System label per item; needed for ``level="system"``.
        covariates: One covariate (1-D) or several (n x k) to partial out, e.g. text length. See the
            module docstring for the residualisation rule.
        resample: Bootstrap unit: ``"auto"`` (groups when ``groups`` is given or at group level,
            else items), ``"items"``, ``"groups"``, ``"systems"`` or ``"both"`` (systems and
            groups; system level only). At system level ``"items"`` resamples items within each
            system.
        n_boot: Bootstrap resamples for the percentile CI; 0 skips the CI.
        seed: Seed of the resampling (bootstrap and permutation use separate streams of it).
        confidence: Confidence level of the two-sided CI.
        pvalue: ``"auto"`` (a permutation test at group level, else the analytic test),
            ``"analytic"`` (scipy's test of the item or system-mean correlation; at group level a
            one-sample t-test of the per-group correlations over groups), ``"permutation"``
            (at group level y is permuted within groups) or ``"none"``.
        n_perm: Permutations for ``pvalue="permutation"``.
        alternative: ``"two-sided"``, ``"greater"`` or ``"less"`` for the p-value (the CI is two-sided).
        nan_policy: ``"propagate"`` (NaN in the input gives a NaN result with a warning), ``"omit"``
            (drop incomplete items; at group level undefined groups are left out of the average)
            or ``"raise"``.

    Returns:
        ReliabilityResult: ``estimate`` (signed), ``ci``, ``pvalue``, ``n`` (items used),
        ``settings`` and ``details`` (``n_groups``/``n_systems``, per-group values, system means,
        test statistics).

    Raises:
        InputValidationError: Mismatched lengths, an unknown option, a level without its labels,
            fewer than two groups or systems where they are needed, NaN under
            ``nan_policy="raise"``, or an undefined correlation under ``nan_policy="raise"``.

    Warns:
        DegenerateInputWarning: Constant input, fewer than 3 items, or NaN under ``"propagate"``;
            the estimate is NaN.

    Notes:
        With ``groups`` at item level the analytic p-value still treats items as independent and is
        too small when items are clustered; read the (cluster-)bootstrap CI instead, or work at group
        level. HANNA's published tables report absolute values (``abs(result.estimate)``).

    Examples:
        >>> from cqmetric.reliability import correlation
        >>> r = correlation([1, 2, 3, 4, 5, 6], [1.2, 1.9, 3.5, 3.1, 5.0, 6.2], method="spearman", n_boot=0)
        >>> round(r.estimate, 4), round(r.pvalue, 4)
        (0.9429, 0.0048)
        >>> g = [0, 0, 0, 1, 1, 1]
        >>> r = correlation([1, 2, 3, 1, 2, 3], [2, 1, 3, 1, 2, 3], method="kendall", level="group", groups=g, n_boot=0, pvalue="none")
        >>> round(r.estimate, 4)  # mean of tau = 1/3 and tau = 1
        0.6667
    """
    where = "correlation"
    xa = as_float_array(where, "x", x)
    ya = as_float_array(where, "y", y)
    if xa.size != ya.size:
        raise InputValidationError(
            f"{where}: expected `x` and `y` of the same length, got len(x)={xa.size}, len(y)={ya.size}."
        )
    C = _as_covariates(where, covariates, xa.size)
    proto = build_protocol(
        where,
        n=xa.size,
        method=method,
        level=level,
        groups=groups,
        systems=systems,
        resample=resample,
        nan_policy=nan_policy,
    )
    pv = _resolve_pvalue(where, pvalue, proto.level, C is not None)
    settings = correlation_settings(
        proto,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
        pvalue=pv,
        n_perm=n_perm,
        alternative=alternative,
        nan_policy=nan_policy,
        k=0 if C is None else C.shape[1],
    )
    stat_name = ("partial_" if C is not None else "") + STAT_NAMES[proto.method]

    keep = nan_mask(where, nan_policy, x=xa, y=ya, covariates=C)
    if not keep.all() and nan_policy == "propagate":
        degenerate(
            where,
            nan_policy,
            f"the input has {int((~keep).sum())} item(s) with NaN (pass nan_policy='omit' to drop them)",
        )
        return ReliabilityResult(stat_name, float("nan"), None, float("nan"), xa.size, proto.method, settings, {})
    xa, ya = xa[keep], ya[keep]
    C = None if C is None else C[keep]
    proto = proto.subset(keep)
    proto.check_units()

    est, extra = proto.estimate(xa, ya, C)
    details: dict[str, Any] = {}
    if proto.group_labels is not None:
        details["n_groups"] = proto.n_groups
    if proto.system_labels is not None:
        details["n_systems"] = proto.n_systems
    details.update(extra)

    if not np.isfinite(est):
        n_bad = extra.get("n_groups_undefined")
        if proto.level == "group" and n_bad:
            reason = (
                f"{n_bad} of {proto.n_groups} groups have an undefined correlation (constant values or "
                f"< {MIN_N} items)"
                + ("" if nan_policy == "omit" else "; pass nan_policy='omit' to average over the rest")
            )
        else:
            reason = f"the correlation is undefined (constant `x` or `y`, or fewer than {MIN_N} items/systems)"
        degenerate(where, nan_policy, reason)
        return ReliabilityResult(
            stat_name,
            float("nan"),
            None if n_boot == 0 else (float("nan"), float("nan")),
            float("nan"),
            xa.size,
            proto.method,
            settings,
            details,
        )
    if proto.level == "group" and extra.get("n_groups_undefined"):
        warnings.warn(
            f"{where}: {extra['n_groups_undefined']} of {proto.n_groups} groups have an undefined correlation "
            "(constant values or too few items); they were left out of the average.",
            DegenerateInputWarning,
            stacklevel=2,
        )

    ci = None
    if n_boot:
        reps = proto.replicates(proto.bootstrap_plan(child_rng(seed, "bootstrap"), n_boot), xa, ya, C)
        ci = percentile_ci(reps, confidence)
        details["n_boot_undefined"] = int(np.sum(~np.isfinite(reps)))
    p, pdet = proto.pvalue(
        xa, ya, C, est, how=pv, alternative=alternative, n_perm=n_perm, rng=child_rng(seed, "permutation")
    )
    details.update(pdet)
    return ReliabilityResult(stat_name, est, ci, p, xa.size, proto.method, settings, details)
