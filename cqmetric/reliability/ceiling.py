"""The human ceiling: how well one rater agrees with the others, under a metric's correlation protocol.

A metric's correlation with human ratings can only be read against what humans achieve with each
other. :func:`human_ceiling` correlates each rater with the mean of the *other* raters
(leave-one-rater-out) using exactly the options of :func:`cqmetric.reliability.correlation`
(method, level, groups, systems, resampling), and averages over raters. Put it beside the metric's
number: a metric at 0.30 against a ceiling of 0.35 is close to the noise in the labels; at 0.30
against 0.80 it has far to go.

Reading it correctly: the ceiling compares one rater with a mean of k - 1 raters, while a metric is
usually correlated with the mean of all k. The metric's reference is therefore slightly less noisy
than the ceiling's, so a metric can exceed the leave-one-out ceiling without exceeding human
agreement; report both numbers and their CIs, not a ratio.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from cqmetric._validation import (
    as_float_array,
)
from cqmetric.errors import DegenerateInputWarning, InputValidationError
from cqmetric.reliability.inputs import (
    checked,
    degenerate,
)
from cqmetric.reliability.protocol import build_protocol, correlation_settings
from cqmetric.reliability.ratings import center_matrix
from cqmetric.reliability.results import ReliabilityResult
from cqmetric.resampling import CONFIDENCE, N_BOOT, SEED, child_rng, percentile_ci

__all__ = ["human_ceiling"]


@checked("human_ceiling")
def human_ceiling(
    ratings: Any,
    *,
    method: str = "spearman",
    level: str = "item",
    groups: Sequence[Any] | np.ndarray | None = None,
    systems: Sequence[Any] | np.ndarray | None = None,
    center_raters: bool = False,
    rater_ids: Any = None,
    resample: str = "auto",
    n_boot: int = N_BOOT,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    nan_policy: str = "propagate",
) -> ReliabilityResult:
    """Leave-one-rater-out agreement: each rater against the mean of the others, averaged over raters.

    Args:
        ratings: Items x raters array (k >= 2 columns). Columns may be rater *slots* (different
            people per item, as in HANNA): the ceiling is then that of "one rating vs the others".
        method: As in :func:`correlation`.
        level: As in :func:`correlation` (``"item"``, ``"group"``, ``"system"``).
        groups: As in :func:`correlation`.
        systems: As in :func:`correlation`.
        center_raters: Remove rater leniency first (each rater centred on their own mean).
        rater_ids: Items x raters array of who gave each rating; with ``center_raters`` the centring
            is per person instead of per column.
        resample: As in :func:`correlation`; every rater's correlation is recomputed on the same
            resamples, so the CI is that of the average.
        n_boot: Bootstrap resamples; 0 skips the CI.
        seed: Bootstrap seed.
        confidence: Level of the two-sided percentile CI.
        nan_policy: ``"propagate"``, ``"omit"`` (drop items with a missing rating) or ``"raise"``.

    Returns:
        ReliabilityResult with statistic ``"human_ceiling"``, no p-value, and ``details["per_rater"]``
        (each column's leave-one-out correlation).

    Examples:
        >>> from cqmetric.reliability import human_ceiling
        >>> r = [[1, 2, 1], [2, 2, 3], [3, 4, 3], [4, 3, 5], [5, 5, 4], [2, 1, 2]]
        >>> res = human_ceiling(r, method="pearson", n_boot=0)
        >>> round(res.estimate, 4), [round(float(v), 4) for v in res.details["per_rater"]]
        (0.8084, [0.9456, 0.7232, 0.7563])
    """
    where = "human_ceiling"
    m = as_float_array(where, "ratings", ratings, ndim=2)
    n, k = m.shape
    if k < 2:
        raise InputValidationError(f"{where}: expected at least 2 raters (columns), got shape {m.shape}.")
    proto = build_protocol(
        where, n=n, method=method, level=level, groups=groups, systems=systems, resample=resample, nan_policy=nan_policy
    )
    settings = correlation_settings(
        proto,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
        pvalue="none",
        n_perm=0,
        alternative="two-sided",
        nan_policy=nan_policy,
    )
    settings["center_raters"] = bool(center_raters)
    settings["reference"] = "mean-of-others"
    if center_raters:
        if rater_ids is not None:
            ids = np.asarray(rater_ids, dtype=object)
            if ids.shape != m.shape:
                raise InputValidationError(
                    f"{where}: expected `rater_ids` of shape {m.shape} (like `ratings`), got {ids.shape}."
                )
            m = center_matrix(m, ids)
        else:
            m = center_matrix(m)
    elif rater_ids is not None:
        raise InputValidationError(
            f"{where}: `rater_ids` is only used with center_raters=True; got center_raters=False."
        )
    bad = np.isnan(m).any(axis=1)
    if bad.any():
        if nan_policy == "raise":
            raise InputValidationError(
                f"{where}: expected a complete ratings matrix (nan_policy='raise'), got {int(bad.sum())} item(s) with NaN; pass nan_policy='omit'."
            )
        if nan_policy == "propagate":
            degenerate(
                where,
                nan_policy,
                f"{int(bad.sum())} item(s) have a missing rating (pass nan_policy='omit' to drop them)",
            )
            return ReliabilityResult("human_ceiling", float("nan"), None, None, n, proto.method, settings, {"k": k})
        m = m[~bad]
        proto = proto.subset(~bad)
    proto.check_units()
    others = (m.sum(axis=1, keepdims=True) - m) / (k - 1)
    per_rater = []
    n_undefined = 0
    for j in range(k):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            est_j, extra = proto.estimate(m[:, j], others[:, j], None)
        per_rater.append(est_j)
        n_undefined = max(n_undefined, int(extra.get("n_groups_undefined", 0)))
    per = np.array(per_rater)
    if n_undefined and np.all(np.isfinite(per)):
        warnings.warn(
            f"{where}: up to {n_undefined} of {proto.n_groups} groups have an undefined leave-one-out correlation "
            "(a constant rater or constant mean of the others); they were left out of the average.",
            DegenerateInputWarning,
            stacklevel=2,
        )
    details: dict[str, Any] = {"k": k, "per_rater": per}
    if proto.group_labels is not None:
        details["n_groups"] = proto.n_groups
    if proto.system_labels is not None:
        details["n_systems"] = proto.n_systems
    if not np.all(np.isfinite(per)):
        reason = "a leave-one-out correlation is undefined (a constant rater or constant mean of the others"
        reason += (
            f" in {n_undefined} group(s); pass nan_policy='omit' to average over the rest)" if n_undefined else ")"
        )
        degenerate(where, nan_policy, reason)
        return ReliabilityResult(
            "human_ceiling",
            float("nan"),
            None if n_boot == 0 else (float("nan"),) * 2,
            None,
            m.shape[0],
            proto.method,
            settings,
            details,
        )
    est = float(per.mean())
    ci = None
    if n_boot:
        plan = proto.bootstrap_plan(child_rng(seed, "bootstrap"), n_boot)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            reps = np.mean([proto.replicates(plan, m[:, j], others[:, j], None) for j in range(k)], axis=0)
        ci = percentile_ci(reps, confidence)
        details["n_boot_undefined"] = int(np.sum(~np.isfinite(reps)))
    return ReliabilityResult("human_ceiling", est, ci, None, m.shape[0], proto.method, settings, details)
