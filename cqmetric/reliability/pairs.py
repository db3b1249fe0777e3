"""Degraded-pair validation: does a scorer prefer each original text over its degraded version?

This is the check of the calibrated-surprise paper (20/20 pairs, mean margin about +0.37
bit/token): score each original and its degraded counterpart (made, for example, with the seeded
generators in :mod:`cqmetric.research.perturb`) and summarise the wins. The exact binomial test treats the
pairs as independent; if several degraded versions come from one original, aggregate them per
original first.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import stats

from cqmetric._validation import (
    as_float_array,
    check_bool,
)
from cqmetric.errors import InputValidationError
from cqmetric.reliability.inputs import (
    checked,
    degenerate,
)
from cqmetric.reliability.results import PairValidationResult
from cqmetric.resampling import CONFIDENCE, N_BOOT, SEED, child_rng, scipy_percentile_ci

__all__ = ["pair_validation"]


@checked("pair_validation")
def pair_validation(
    original: Any,
    degraded: Any,
    *,
    higher_is_better: bool = True,
    alternative: str = "greater",
    n_boot: int = N_BOOT,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    nan_policy: str = "propagate",
) -> PairValidationResult:
    """Win rate, exact binomial test and mean margin of original over degraded scores.

    Args:
        original: Scores of the original texts.
        degraded: Scores of their degraded versions (same order).
        higher_is_better: If False (e.g. perplexity), the margin is degraded - original, so a positive
            margin and a "win" still mean the original is preferred.
        alternative: Alternative of the binomial test on wins among non-tied pairs: ``"greater"``
            (default: the original wins more often than chance), ``"two-sided"`` or ``"less"``.
        n_boot: Bootstrap resamples for the CI of the mean margin; 0 skips it.
        seed: Bootstrap seed.
        confidence: Level of the two-sided CIs (Clopper-Pearson for the win rate).
        nan_policy: ``"propagate"``, ``"omit"`` (drop pairs with NaN) or ``"raise"``.

    Returns:
        PairValidationResult.

    Examples:
        >>> from cqmetric.reliability import pair_validation
        >>> res = pair_validation([2.1, 1.8, 2.5, 2.0, 1.9], [1.7, 1.9, 2.0, 1.6, 1.5], n_boot=0)
        >>> res.wins, res.losses, round(res.pvalue, 4), round(res.mean_margin, 2)
        (4, 1, 0.1875, 0.32)
    """
    where = "pair_validation"
    o = as_float_array(where, "original", original)
    g = as_float_array(where, "degraded", degraded)
    if o.size != g.size:
        raise InputValidationError(
            f"{where}: expected `original` and `degraded` of the same length, got len(original)={o.size}, len(degraded)={g.size}."
        )
    settings = {
        "higher_is_better": check_bool(where, "higher_is_better", higher_is_better),
        "alternative": alternative,
        "ties": "excluded",
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        "ci": "percentile",
        "nan_policy": nan_policy,
    }
    m = o - g if higher_is_better else g - o
    bad = np.isnan(m)
    nan = float("nan")
    if bad.any():
        if nan_policy == "raise":
            raise InputValidationError(
                f"{where}: expected no NaN (nan_policy='raise'), got {int(bad.sum())} pair(s) with NaN."
            )
        if nan_policy == "propagate":
            degenerate(where, nan_policy, f"{int(bad.sum())} pair(s) have NaN scores (pass nan_policy='omit')")
            return PairValidationResult(o.size, 0, 0, 0, nan, None, nan, nan, None, nan, settings)
        m = m[~bad]
    wins, losses = int((m > 0).sum()), int((m < 0).sum())
    ties = int(m.size - wins - losses)
    if wins + losses == 0:
        degenerate(where, nan_policy, f"no non-tied pairs among {m.size}")
        return PairValidationResult(
            int(m.size),
            wins,
            losses,
            ties,
            nan,
            None,
            nan,
            float(m.mean()) if m.size else nan,
            None,
            float(np.median(m)) if m.size else nan,
            settings,
        )
    test = stats.binomtest(wins, wins + losses, 0.5, alternative=alternative)
    ci = stats.binomtest(wins, wins + losses, 0.5).proportion_ci(confidence_level=confidence, method="exact")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mci = scipy_percentile_ci((m,), np.mean, n_boot=n_boot, rng=child_rng(seed, "bootstrap"), confidence=confidence)
    return PairValidationResult(
        n_pairs=int(m.size),
        wins=wins,
        losses=losses,
        ties=ties,
        win_rate=wins / (wins + losses),
        win_rate_ci=(float(ci.low), float(ci.high)),
        pvalue=float(test.pvalue),
        mean_margin=float(m.mean()),
        mean_margin_ci=mci,
        median_margin=float(np.median(m)),
        settings=settings,
    )
