"""Pairwise accuracy against expert preference judgements: a scorer, a paired comparison, and the judges' ceiling.

Much of creative-writing evaluation collects preferences, not ratings: writers rank versions of a paragraph
(LAMP), or say which of two texts is better (WQ, LitBench). The unit here is the **judged pair**: each judge's
each pair counted once (a ranking of k texts gives k(k-1)/2 pairs; see :mod:`cqmetric.reliability.judgements`).

* :func:`preference_agreement` — the share of judged pairs on which a scorer prefers the text the judge
  preferred, with an item-clustered bootstrap CI and, given text lengths, the same on pairs of similar length
  and per length-difference bin.
* :func:`preference_difference` — two scorers (e.g. a scorer and "shorter is better") on the same pairs and the
  same resamples: the difference, its CI and a paired sign-flip permutation p-value by item.
* :func:`preference_ceiling` — each judge against the majority of the *other* judges of the same pair, pooled:
  what humans reach, in the same units.

Tie policies (settable, written into every result's settings and counted in ``counts``):

* a tie in the **judgement** (equal ranks, or ``tie=True``): ``judgement_ties="drop"`` (default: the pair is
  left out) or ``"half"`` (kept, credited 0.5 whatever the scorer says);
* a tie in the **score** (equal scores) on an untied judgement: ``score_ties="half"`` (default: credited 0.5, so
  a constant scorer sits at exactly 0.5), ``"drop"`` (left out) or ``"loss"`` (credited 0). For the ceiling the
  same choice applies to a tied majority of the other judges (``majority_ties``).

The bootstrap resamples items (all judges' pairs of an item travel together) with replacement and recomputes
the accuracy over the resampled items' pairs, as a ratio of per-item sums.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from cqmetric._validation import (
    check_option,
    check_positive_int,
    check_seed,
)
from cqmetric.errors import InputValidationError
from cqmetric.reliability.inputs import (
    check_confidence,
    check_n_boot,
    checked,
    degenerate,
)
from cqmetric.reliability.judgements import (
    JudgedPairs,
    as_score_map,
    judged_pairs,
    score_diffs,
)
from cqmetric.reliability.preference_kernels import (
    accuracy_ci,
    item_sums,
    pair_credits,
    per_judge,
    ratio_replicates,
    sign_flip_null,
)
from cqmetric.reliability.preference_results import (
    AccuracyCell,
    PreferenceComparison,
    PreferenceResult,
)
from cqmetric.resampling import (
    CONFIDENCE,
    N_BOOT,
    SEED,
    child_rng,
    cluster_counts,
    percentile_ci,
)

__all__ = [
    "preference_agreement",
    "preference_difference",
    "preference_ceiling",
    "JUDGEMENT_TIES",
    "SCORE_TIES",
    "DEFAULT_LENGTH_BINS",
]

JUDGEMENT_TIES = ("drop", "half")
SCORE_TIES = ("half", "drop", "loss")
PVALUES = ("permutation", "bootstrap", "none")
DEFAULT_LENGTH_TOLERANCE = 0.10
DEFAULT_LENGTH_BINS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)


# -- shared checks ------------------------------------------------------------------------------------------


def _pairs(where: str, judgements: Any) -> JudgedPairs:
    return judgements if isinstance(judgements, JudgedPairs) else judged_pairs(where, judgements)


def _check_common(where: str, judgement_ties: str, n_boot: Any, seed: Any, confidence: Any) -> tuple[int, int, float]:
    check_option(where, "judgement_ties", judgement_ties, JUDGEMENT_TIES)
    return check_n_boot(where, n_boot), check_seed(where, seed), check_confidence(where, confidence)


def _bootstrap_counts(where: str, pairs: JudgedPairs, n_boot: int, seed: int) -> np.ndarray | None:
    if n_boot == 0:
        return None
    if len(pairs.items) < 2:
        raise InputValidationError(
            f"{where}: expected at least 2 items for the item-clustered bootstrap, got {len(pairs.items)} "
            f"({pairs.items!r}); pass n_boot=0 for no interval."
        )
    return cluster_counts(len(pairs.items), child_rng(seed, "bootstrap"), n_boot)


def _margins(where: str, name: str, scores: Any, pairs: JudgedPairs, higher_is_better: Any) -> np.ndarray:
    if not isinstance(higher_is_better, (bool, np.bool_)):
        raise InputValidationError(f"{where}: expected `higher_is_better` to be True or False, got {higher_is_better!r}.")
    return score_diffs(where, name, as_score_map(where, name, scores), pairs, bool(higher_is_better))


def _nan_first(where: str, nan_policy: str, margin: np.ndarray, name: str) -> bool:
    """Apply nan_policy to NaN margins: raise, or warn and tell the caller to return NaN (propagate)."""
    bad = int(np.isnan(margin).sum())
    if not bad:
        return False
    if nan_policy == "raise":
        raise InputValidationError(
            f"{where}: expected finite `{name}` for every judged text (nan_policy='raise'), got {bad} judged pair(s) "
            "with a NaN score; pass nan_policy='omit' to drop those pairs (they are counted)."
        )
    if nan_policy == "propagate":
        degenerate(where, nan_policy, f"{bad} judged pair(s) have a NaN score (pass nan_policy='omit' to drop them)")
        return True
    return False


def _no_pairs(where: str, counts: dict[str, int]) -> InputValidationError:
    shown = ", ".join(f"{k}={v}" for k, v in counts.items())
    return InputValidationError(
        f"{where}: expected at least one judged pair left to score, got none ({shown}); all pairs are ties or "
        "dropped: try judgement_ties='half' or score_ties='half'."
    )


def _check_tolerance(where: str, tolerance: Any) -> float:
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.integer, np.floating)) or not 0 < tolerance <= 1:
        raise InputValidationError(f"{where}: expected `length_tolerance` in (0, 1], e.g. 0.1, got {tolerance!r}.")
    return float(tolerance)


def _length_cells(where: str, lengths: Any, pairs: JudgedPairs, credit: np.ndarray, keep: np.ndarray,
                  boot: np.ndarray | None, confidence: float, tolerance: Any, bins: Any) -> tuple[list[AccuracyCell], dict[str, Any]]:
    tolerance = _check_tolerance(where, tolerance)
    edges = np.asarray(bins, dtype=float) if not isinstance(bins, str) else np.array([])
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0) or edges[0] < 0 or edges[-1] > 1:
        raise InputValidationError(
            f"{where}: expected `length_bins` as increasing edges within [0, 1], e.g. {DEFAULT_LENGTH_BINS}, got {bins!r}."
        )
    lmap = as_score_map(where, "lengths", lengths)
    missing = sorted(t for t in pairs.texts if t not in lmap)
    if missing:
        raise InputValidationError(
            f"{where}: expected a length in `lengths` for every judged text, got {len(missing)} without one: {missing[:5]}."
        )
    bad = sorted(t for t in pairs.texts if not (np.isfinite(lmap[t]) and lmap[t] > 0))
    if bad:
        raise InputValidationError(f"{where}: expected positive finite lengths, got {lmap[bad[0]]!r} for {bad[0]!r}.")
    la = np.array([lmap[t] for t in pairs.winner])
    lb = np.array([lmap[t] for t in pairs.loser])
    rel = np.abs(la - lb) / np.maximum(la, lb)
    tol = float(tolerance)
    masks = [(f"|la-lb|/max(la,lb) < {tol:g}", rel < tol)]
    for k in range(edges.size - 1):
        lo, hi = edges[k], edges[k + 1]
        last = k == edges.size - 2
        inside = (rel >= lo) & ((rel <= hi) if last else (rel < hi))
        masks.append((f"[{lo:g}, {hi:g}{']' if last else ')'}", inside))
    cells = []
    for label, mask in masks:
        est, ci, n_pairs, n_items = accuracy_ci(pairs, credit, keep & mask, boot, confidence)
        cells.append(AccuracyCell(label, est, ci, n_pairs, n_items))
    outside = int((keep & ~((rel >= edges[0]) & (rel <= edges[-1]))).sum())
    return cells, {"length_tolerance": tol, "length_bins": tuple(float(e) for e in edges),
                   "pairs_outside_bins": outside}


# -- public functions ---------------------------------------------------------------------------------------


@checked("preference_agreement")
def preference_agreement(
    scores: Any,
    judgements: Any,
    *,
    higher_is_better: bool = True,
    judgement_ties: str = "drop",
    score_ties: str = "half",
    lengths: Any = None,
    length_tolerance: float = DEFAULT_LENGTH_TOLERANCE,
    length_bins: Sequence[float] = DEFAULT_LENGTH_BINS,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    nan_policy: str = "propagate",
) -> PreferenceResult:
    """Pairwise accuracy of a scorer against preference judgements, with an item-clustered bootstrap CI.

    Args:
        scores: Score per text: a mapping text_id -> number, a pandas Series indexed by text id, or ``(ids, values)``.
            Every judged text needs one; scores of texts nobody judged are ignored.
        judgements: Rankings (``item``, ``judge``, ``text_id``, ``rank``; 1 = best) or pairwise judgements
            (``item``, ``judge``, ``winner``, ``loser``[, ``tie``]) as a DataFrame or a mapping of columns.
        higher_is_better: False when a lower score predicts the preferred text ("shorter is better" is length
            with ``higher_is_better=False``).
        judgement_ties: ``"drop"`` or ``"half"`` (see the module docstring).
        score_ties: ``"half"``, ``"drop"`` or ``"loss"``.
        lengths: Optional length per text (same forms as ``scores``): adds the accuracy on pairs whose lengths
            differ by less than ``length_tolerance`` (|la - lb| / max(la, lb)) and per bin of that difference.
        length_tolerance: The "similar length" threshold (default 0.10).
        length_bins: Edges of the length-difference bins, left-closed (the last bin is closed).
        n_boot: Item-clustered bootstrap resamples; 0 skips the CIs.
        seed: Bootstrap seed.
        confidence: Level of the percentile CIs.
        nan_policy: A NaN score: ``"propagate"`` (NaN result with a warning), ``"omit"`` (drop the pairs,
            counted in ``counts["dropped_nan"]``) or ``"raise"``.

    Returns:
        PreferenceResult.

    Raises:
        InputValidationError: Bad judgements (see :func:`~cqmetric.reliability.judgements.judged_pairs`), a judged
            text without a score, no pair left after the tie rules, fewer than 2 items with ``n_boot > 0``.

    Examples:
        >>> from cqmetric.reliability import preference_agreement
        >>> judged = {"item": ["q1"] * 3 + ["q2"] * 3, "judge": ["ann"] * 6,
        ...           "text_id": ["a", "b", "c", "d", "e", "f"], "rank": [1, 2, 3, 1, 1, 2]}
        >>> length = {"a": 10, "b": 20, "c": 30, "d": 50, "e": 40, "f": 40}
        >>> res = preference_agreement(length, judged, higher_is_better=False, n_boot=0)
        >>> res.accuracy, res.n_pairs, res.counts["dropped_judgement_ties"], res.counts["score_ties"]
        (0.7, 5, 1, 1)
    """
    where = "preference_agreement"
    n_boot, seed, confidence = _check_common(where, judgement_ties, n_boot, seed, confidence)
    check_option(where, "score_ties", score_ties, SCORE_TIES)
    pairs = _pairs(where, judgements)
    margin = _margins(where, "scores", scores, pairs, higher_is_better)
    settings: dict[str, Any] = {
        "higher_is_better": bool(higher_is_better),
        "judgement_ties": judgement_ties,
        "score_ties": score_ties,
        "unit": "judge-pair",
        "resample": "items",
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        "ci": "percentile",
        "nan_policy": nan_policy,
    }
    if lengths is not None:
        settings["length_tolerance"] = _check_tolerance(where, length_tolerance)
    credit, keep, counts = pair_credits(margin, pairs.tie, judgement_ties=judgement_ties, score_ties=score_ties)
    if _nan_first(where, nan_policy, margin, "scores"):
        return PreferenceResult("pairwise_accuracy", float("nan"), None, 0, 0, 0, counts, {}, (), settings, {})
    if not keep.any():
        raise _no_pairs(where, counts)
    boot = _bootstrap_counts(where, pairs, n_boot, seed)
    est, ci, n_pairs, n_items = accuracy_ci(pairs, credit, keep, boot, confidence)
    details: dict[str, Any] = {"source": pairs.source}
    cells: list[AccuracyCell] = []
    if lengths is not None:
        cells, extra = _length_cells(where, lengths, pairs, credit, keep, boot, confidence, length_tolerance, length_bins)
        details.update(extra)
    if boot is not None:
        details["n_boot_undefined"] = int(np.sum(~np.isfinite(ratio_replicates(boot, *item_sums(pairs, credit, keep)))))
    by_judge = per_judge(pairs, credit, keep)
    return PreferenceResult("pairwise_accuracy", est, ci, n_pairs, n_items, len(by_judge), counts, by_judge,
                            tuple(cells), settings, details)


@checked("preference_difference")
def preference_difference(
    scores: Any,
    baseline: Any,
    judgements: Any,
    *,
    names: tuple[str, str] = ("scorer", "baseline"),
    higher_is_better: bool = True,
    baseline_higher_is_better: bool = True,
    judgement_ties: str = "drop",
    score_ties: str = "half",
    pvalue: str = "permutation",
    n_perm: int = 10000,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    nan_policy: str = "propagate",
) -> PreferenceComparison:
    """Paired difference in pairwise accuracy of two scorers on the same judged pairs.

    The CI resamples items once and recomputes both accuracies on each resample (``seed`` gives the same
    resamples as :func:`preference_agreement`). The p-value (two-sided) is

    * ``"permutation"`` (default): a paired sign-flip test by item: under the null the two scorers are
      exchangeable within an item, so each item's two credit sums are swapped with probability 1/2; exact (all
      2^items flips) when 2^items <= ``n_perm``, else ``n_perm`` random flips with p = (1 + hits) / (1 + n_perm);
    * ``"bootstrap"``: twice the share of bootstrap differences on the far side of 0 (at most 1);
    * ``"none"``.

    A pair with a NaN score in either scorer is dropped for both under ``nan_policy="omit"``.

    Examples:
        >>> from cqmetric.reliability import preference_difference
        >>> judged = {"item": [1, 2, 3, 4], "judge": ["j"] * 4, "winner": ["a", "c", "e", "g"],
        ...           "loser": ["b", "d", "f", "h"]}
        >>> good = {"a": 2, "b": 1, "c": 2, "d": 1, "e": 2, "f": 1, "g": 1, "h": 2}
        >>> flat = dict.fromkeys(good, 0.0)
        >>> res = preference_difference(good, flat, judged, n_boot=0)
        >>> res.accuracy_a, res.accuracy_b, res.difference, res.pvalue   # exact: 16 flips
        (0.75, 0.5, 0.25, 0.625)
    """
    where = "preference_difference"
    n_boot, seed, confidence = _check_common(where, judgement_ties, n_boot, seed, confidence)
    check_option(where, "score_ties", score_ties, SCORE_TIES)
    pvalue = check_option(where, "pvalue", pvalue, PVALUES)
    n_perm = check_positive_int(where, "n_perm", n_perm)
    if not (isinstance(names, (tuple, list)) and len(names) == 2 and all(isinstance(s, str) for s in names)):
        raise InputValidationError(f"{where}: expected `names` as two strings, got {names!r}.")
    pairs = _pairs(where, judgements)
    ma = _margins(where, "scores", scores, pairs, higher_is_better)
    mb = _margins(where, "baseline", baseline, pairs, baseline_higher_is_better)
    settings: dict[str, Any] = {
        "higher_is_better": bool(higher_is_better),
        "baseline_higher_is_better": bool(baseline_higher_is_better),
        "judgement_ties": judgement_ties,
        "score_ties": score_ties,
        "unit": "judge-pair",
        "resample": "items",
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        "ci": "percentile",
        "pvalue": pvalue,
        "n_perm": n_perm if pvalue == "permutation" else 0,
        "nan_policy": nan_policy,
    }
    either = np.isnan(ma) | np.isnan(mb)
    ma, mb = np.where(either, np.nan, ma), np.where(either, np.nan, mb)
    if _nan_first(where, nan_policy, ma, "scores or baseline"):
        nan = float("nan")
        return PreferenceComparison(names[0], names[1], nan, nan, nan, None, None, 0, 0, len(pairs.items), settings)
    ca, ka, counts_a = pair_credits(ma, pairs.tie, judgement_ties=judgement_ties, score_ties=score_ties)
    cb, kb, counts_b = pair_credits(mb, pairs.tie, judgement_ties=judgement_ties, score_ties=score_ties)
    if not ka.any() or not kb.any():
        raise _no_pairs(where, counts_a if not ka.any() else counts_b)
    sa, na = item_sums(pairs, ca, ka)
    sb, nb = item_sums(pairs, cb, kb)
    acc_a, acc_b = float(sa.sum() / na.sum()), float(sb.sum() / nb.sum())
    diff = acc_a - acc_b
    boot = _bootstrap_counts(where, pairs, n_boot, seed)
    ci, p = None, None
    details: dict[str, Any] = {"counts_a": counts_a, "counts_b": counts_b}
    if boot is not None:
        reps = ratio_replicates(boot, sa, na) - ratio_replicates(boot, sb, nb)
        ci = percentile_ci(reps, confidence)
        details["n_boot_undefined"] = int(np.sum(~np.isfinite(reps)))
    if pvalue == "bootstrap":
        if boot is None:
            raise InputValidationError(f"{where}: pvalue='bootstrap' needs n_boot > 0, got n_boot=0.")
        ok = reps[np.isfinite(reps)]
        p = float(min(1.0, 2 * min(np.mean(ok <= 0), np.mean(ok >= 0))))
    elif pvalue == "permutation":
        g = len(pairs.items)
        exact = g < 63 and 2**g <= n_perm
        if exact:
            flips = np.array(list(itertools.product((0, 1), repeat=g)), dtype=float)
        else:
            flips = child_rng(seed, "permutation").integers(0, 2, size=(n_perm, g)).astype(float)
        null = sign_flip_null(sa, na, sb, nb, flips)
        hits = int(np.sum(np.abs(null) >= abs(diff) - 1e-12))
        p = hits / flips.shape[0] if exact else (1 + hits) / (1 + n_perm)
        details["permutation"] = "exact" if exact else "monte-carlo"
    return PreferenceComparison(names[0], names[1], acc_a, acc_b, diff, ci, p, int(na.sum()), int(nb.sum()),
                                len(pairs.items), settings, details)


def preference_ceiling(
    judgements: Any,
    *,
    judgement_ties: str = "drop",
    majority_ties: str = "half",
    n_boot: int = N_BOOT,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> PreferenceResult:
    """The judges' own ceiling: each judge against the majority of the other judges of the same pair, pooled.

    For every judged pair (judge j, item, texts a and b), the other judges who judged the same pair of the
    same item vote (a tie is no vote); their net vote for j's winner is the "prediction". It is scored exactly
    like a scorer's margin in :func:`preference_agreement`: j's own tie follows ``judgement_ties``, a tied
    majority (the others split, or all tied) follows ``majority_ties`` (``"half"``, ``"drop"`` or ``"loss"``),
    and a pair nobody else judged is dropped (``counts["dropped_no_other_judge"]``). Pooled over judges, with
    the same item-clustered bootstrap, so it stands in the same units beside a scorer's accuracy.

    Examples:
        >>> from cqmetric.reliability import preference_ceiling
        >>> judged = {"item": ["q"] * 9, "judge": ["ann"] * 3 + ["bob"] * 3 + ["cy"] * 3,
        ...           "text_id": ["a", "b", "c"] * 3, "rank": [1, 2, 3, 1, 2, 3, 2, 1, 3]}
        >>> res = preference_ceiling(judged, n_boot=0)
        >>> round(res.accuracy, 4), res.counts["majority_ties"], round(res.per_judge["cy"], 4)
        (0.7778, 2, 0.6667)
    """
    where = "preference_ceiling"
    n_boot, seed, confidence = _check_common(where, judgement_ties, n_boot, seed, confidence)
    check_option(where, "majority_ties", majority_ties, SCORE_TIES)
    pairs = _pairs(where, judgements)
    keys = pairs.pair_keys()
    vote = np.where(pairs.tie, 0, 1).astype(float)
    # orient each vote to the key's first text: +1 prefers it, -1 prefers the second, 0 a tie
    vote *= np.array([1.0 if w == k[1] else -1.0 for w, k in zip(pairs.winner, keys)])
    total: dict[tuple[int, str, str], float] = {}
    judges: dict[tuple[int, str, str], int] = {}
    for k, v in zip(keys, vote):
        total[k] = total.get(k, 0.0) + v
        judges[k] = judges.get(k, 0) + 1
    margin = np.empty(len(keys))
    absent = np.zeros(len(keys), dtype=bool)
    for r, k in enumerate(keys):
        others = total[k] - vote[r]
        margin[r] = others if pairs.winner[r] == k[1] else -others
        absent[r] = judges[k] < 2
    credit, keep, counts = pair_credits(margin, pairs.tie, judgement_ties=judgement_ties, score_ties=majority_ties,
                                        tie_name="majority", absent=absent)
    settings: dict[str, Any] = {
        "judgement_ties": judgement_ties,
        "majority_ties": majority_ties,
        "reference": "majority-of-other-judges",
        "unit": "judge-pair",
        "resample": "items",
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        "ci": "percentile",
    }
    if not keep.any():
        raise _no_pairs(where, counts)
    boot = _bootstrap_counts(where, pairs, n_boot, seed)
    est, ci, n_pairs, n_items = accuracy_ci(pairs, credit, keep, boot, confidence)
    by_judge = per_judge(pairs, credit, keep)
    details: dict[str, Any] = {"source": pairs.source}
    if boot is not None:
        details["n_boot_undefined"] = int(np.sum(~np.isfinite(ratio_replicates(boot, *item_sums(pairs, credit, keep)))))
    return PreferenceResult("judge_ceiling", est, ci, n_pairs, n_items, len(by_judge), counts, by_judge, (),
                            settings, details)
