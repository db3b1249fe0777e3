"""Comparing two models on the same items: the CQA analysis (Delta I per item, per group, and between groups).

Per item k the difference d_k = scores_b[k] - scores_a[k] (e.g. calibrated surprise after minus
before fine-tuning: Delta I). For all items and for each group (e.g. literary vs factual control)
:func:`compare_models` reports the mean and median of d with bootstrap CIs, the Wilcoxon
signed-rank test (one-sided by default: "b improves on a"), Cohen's d_z with its exact CI, and the
sign counts. With two groups (or ``contrast=``) it adds the *domain selectivity* contrast: the
difference of the groups' mean d, with a bootstrap CI that resamples items within each group
independently, and a Mann-Whitney U test of d between the groups.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from cqmetric._validation import as_float_array, check_option
from cqmetric.errors import InputValidationError
from cqmetric.reliability.inputs import (
    ALTERNATIVES,
    checked,
    degenerate,
    encode_labels,
)
from cqmetric.reliability.paired import cohens_dz, wilcoxon_test
from cqmetric.reliability.results import (
    GroupContrast,
    ModelComparison,
    PairedSummary,
    ReliabilityResult,
)
from cqmetric.resampling import CONFIDENCE, N_BOOT, SEED, child_rng, scipy_percentile_ci

__all__ = ["compare_models"]


def _spread(d: np.ndarray) -> bool:
    """Whether the differences vary beyond floating-point rounding (B = A + c gives sd ~ 1e-17, not 0)."""
    return bool(d.std() > 1e-12 * max(1.0, abs(float(d.mean()))))


def _summary(
    label: str, d: np.ndarray, *, alternative: str, n_boot: int, seed: int, confidence: float, key: str
) -> PairedSummary:
    rng_mean = child_rng(seed, "compare", key, "mean")
    rng_median = child_rng(seed, "compare", key, "median")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_ci = (
            scipy_percentile_ci((d,), np.mean, n_boot=n_boot, rng=rng_mean, confidence=confidence) if d.size else None
        )
        median_ci = (
            scipy_percentile_ci((d,), np.median, n_boot=n_boot, rng=rng_median, confidence=confidence)
            if d.size
            else None
        )
    nan = float("nan")
    wil = (
        wilcoxon_test(d, alternative=alternative, n_boot=0, confidence=confidence, nan_policy="raise")
        if np.any(d != 0) and d.size >= 2
        else None
    )
    dz = (
        cohens_dz(d, alternative=alternative, confidence=confidence, nan_policy="raise")
        if d.size >= 3 and _spread(d)
        else None
    )
    if wil is None:
        wil = ReliabilityResult("wilcoxon", nan, None, nan, d.size, "signed-rank", {"alternative": alternative}, {})
    if dz is None:
        dz = ReliabilityResult("cohens_dz", nan, None, nan, d.size, "d_z", {"alternative": alternative}, {})
    return PairedSummary(
        label=label,
        n=int(d.size),
        mean=float(d.mean()) if d.size else nan,
        mean_ci=mean_ci,
        median=float(np.median(d)) if d.size else nan,
        median_ci=median_ci,
        sd=float(d.std(ddof=1)) if d.size > 1 else nan,
        wilcoxon=wil,
        d_z=dz,
        n_positive=int((d > 0).sum()),
        n_negative=int((d < 0).sum()),
        n_zero=int((d == 0).sum()),
    )


@checked("compare_models")
def compare_models(
    scores_a: Any,
    scores_b: Any,
    *,
    groups: Sequence[Any] | np.ndarray | None = None,
    alternative: str = "greater",
    contrast: tuple[Any, Any] | None = None,
    contrast_alternative: str = "two-sided",
    n_boot: int = N_BOOT,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    nan_policy: str = "propagate",
) -> ModelComparison:
    """Per-item differences d = scores_b - scores_a with tests, effect sizes, per group and between groups.

    Args:
        scores_a: Scores of the baseline model (e.g. before fine-tuning), one per item.
        scores_b: Scores of the other model on the same items (e.g. after fine-tuning).
        groups: Optional label per item (e.g. ``"literary"`` / ``"factual"``); needs at least 2 groups.
        alternative: Alternative of the Wilcoxon and t-tests: ``"greater"`` (default: b > a),
            ``"less"`` or ``"two-sided"``.
        contrast: The two group labels to contrast, ``(first, second)``: estimate = mean d of first
            minus mean d of second. Default: the two groups in order of first appearance when there
            are exactly two, otherwise no contrast.
        contrast_alternative: Alternative of the Mann-Whitney test of the contrast (``"greater"``:
            d is larger in the first group).
        n_boot: Bootstrap resamples for the CIs of mean, median and contrast; 0 skips them.
        seed: Seed (each subset and statistic uses its own named stream of it).
        confidence: Level of the two-sided CIs.
        nan_policy: ``"propagate"`` (warn, NaN results), ``"omit"`` (drop items with NaN) or ``"raise"``.

    Returns:
        ModelComparison with ``overall``, ``groups`` (label -> PairedSummary) and ``contrast``.

    Raises:
        InputValidationError: Mismatched lengths, a single group, an unknown contrast label, bad options.

    Examples:
        >>> from cqmetric.reliability import compare_models
        >>> before = [1.0, 1.2, 0.8, 1.1, 0.9, 1.0, 1.3, 0.7]
        >>> after = [1.4, 1.5, 1.0, 1.6, 0.9, 1.1, 1.2, 0.8]
        >>> res = compare_models(before, after, groups=["lit"] * 4 + ["fact"] * 4, n_boot=0)
        >>> round(res.overall.mean, 4), round(res.groups["lit"].mean, 4), round(res.contrast.estimate, 4)
        (0.1875, 0.35, 0.325)
    """
    where = "compare_models"
    contrast_alternative = check_option(where, "contrast_alternative", contrast_alternative, ALTERNATIVES)
    a = as_float_array(where, "scores_a", scores_a)
    b = as_float_array(where, "scores_b", scores_b)
    if a.size != b.size:
        raise InputValidationError(
            f"{where}: expected `scores_a` and `scores_b` of the same length, got len(scores_a)={a.size}, len(scores_b)={b.size}."
        )
    codes = labels = None
    if contrast is not None and groups is None:
        raise InputValidationError(
            f"{where}: expected `groups` (one label per item) with contrast={contrast!r}, got groups=None; a "
            "contrast compares two groups.")
    if groups is not None:
        codes, labels = encode_labels(where, "groups", groups, a.size)
        if len(labels) < 2:
            raise InputValidationError(
                f"{where}: expected at least 2 distinct groups, got 1 ({labels[0]!r}); drop `groups=` for one group."
            )
    settings = {
        "difference": "b-a",
        "alternative": alternative,
        "contrast_alternative": contrast_alternative,
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        "ci": "percentile",
        "nan_policy": nan_policy,
    }
    d = b - a
    bad = np.isnan(d)
    if bad.any():
        if nan_policy == "raise":
            raise InputValidationError(
                f"{where}: expected no NaN (nan_policy='raise'), got {int(bad.sum())} item(s) with NaN."
            )
        if nan_policy == "propagate":
            degenerate(
                where, nan_policy, f"{int(bad.sum())} item(s) have NaN scores (pass nan_policy='omit' to drop them)"
            )
            empty = _summary(
                "all", np.array([]), key="all", alternative=alternative, n_boot=0, seed=seed, confidence=confidence
            )
            return ModelComparison(empty, {}, None, settings)
        d = d[~bad]
        codes = None if codes is None else codes[~bad]
    kw: dict[str, Any] = dict(alternative=alternative, n_boot=n_boot, seed=seed, confidence=confidence)
    subsets = [("all", "all", d)]
    if codes is not None and labels is not None:
        subsets += [(str(lab), f"group-{gi}", d[codes == gi]) for gi, lab in enumerate(labels)]
    weak = [lab for lab, _, dd in subsets if dd.size < 3 or not _spread(dd)]
    if weak:
        degenerate(
            where,
            nan_policy,
            f"fewer than 3 differences or all differences equal up to rounding in: {', '.join(weak)} (d_z is NaN "
            "there)",
        )
    summaries = {}
    for lab, key, dd in subsets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=Warning)
            summaries[lab] = _summary(lab, dd, key=key, **kw)
    overall = summaries.pop("all")
    contrast_res = None
    if codes is not None and labels is not None:
        if contrast is None and len(labels) == 2:
            contrast = (labels[0], labels[1])
        if contrast is not None:
            if (
                len(contrast) != 2
                or contrast[0] not in labels
                or contrast[1] not in labels
                or contrast[0] == contrast[1]
            ):
                raise InputValidationError(
                    f"{where}: expected `contrast` to name two different groups among {list(labels)}, got {contrast!r}."
                )
            d1 = d[codes == labels.index(contrast[0])]
            d2 = d[codes == labels.index(contrast[1])]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                ci = scipy_percentile_ci(
                    (d1, d2),
                    lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis),
                    n_boot=n_boot,
                    rng=child_rng(seed, "compare", "contrast"),
                    confidence=confidence,
                )
                mw = stats.mannwhitneyu(d1, d2, alternative=contrast_alternative)
            rbc = 2.0 * float(mw.statistic) / (d1.size * d2.size) - 1.0
            contrast_res = GroupContrast(
                str(contrast[0]),
                str(contrast[1]),
                float(d1.mean() - d2.mean()),
                ci,
                float(mw.statistic),
                float(mw.pvalue),
                contrast_alternative,
                rbc,
            )
    return ModelComparison(overall, summaries, contrast_res, settings)
