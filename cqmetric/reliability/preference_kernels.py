"""The arithmetic under the preference functions: pair credits, per-item sums, bootstrap ratios, sign flips.

Inputs are arrays the public functions of :mod:`cqmetric.reliability.preference` have already checked. A pair's
*margin* is the prediction's preference for the judged winner (score(winner) - score(loser), or the other
judges' net votes); its *credit* is 1 (agrees), 0 (disagrees) or 0.5 (a tie credited half). Accuracy over any
set of items is a ratio of per-item sums, so a cluster-bootstrap replicate is ``counts @ sums / counts @ n``.
"""

from __future__ import annotations

import numpy as np

from cqmetric.reliability.judgements import JudgedPairs
from cqmetric.resampling import percentile_ci

__all__ = ["pair_credits", "item_sums", "ratio_replicates", "sign_flip_null", "accuracy_ci", "per_judge"]


def pair_credits(margin: np.ndarray, tie: np.ndarray, *, judgement_ties: str, score_ties: str,
                 tie_name: str = "score", absent: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Credit per judged pair (1 agree, 0 disagree, 0.5 a credited tie), which pairs count, and the counts.

    `margin` is the prediction's preference for the judged winner (score(winner) - score(loser), or the other
    judges' net votes); NaN margins are dropped first, then pairs without a prediction (`absent`), then judgement
    ties (``"drop"``), then prediction ties (``"drop"``). ``used`` = judged minus every dropped count.

    Examples:
        >>> credit, keep, counts = pair_credits(np.array([1.0, -2.0, 0.0, 3.0]), np.array([False, False, False, True]),
        ...                                     judgement_ties="drop", score_ties="half")
        >>> credit[keep].tolist(), counts["used"], counts["dropped_judgement_ties"]
        ([1.0, 0.0, 0.5], 3, 1)
    """
    n = margin.size
    keep = np.ones(n, dtype=bool)
    credit = np.zeros(n)
    counts: dict[str, int] = {"judged": n}
    nan = np.isnan(margin)
    counts["dropped_nan"] = int(nan.sum())
    keep &= ~nan
    if absent is not None:
        counts["dropped_no_other_judge"] = int((absent & keep).sum())
        keep &= ~absent
    jt = tie & keep
    counts["judgement_ties"] = int(tie.sum())
    if judgement_ties == "drop":
        counts["dropped_judgement_ties"] = int(jt.sum())
        keep &= ~tie
    else:
        counts["dropped_judgement_ties"] = 0
        credit[jt] = 0.5
    decided = keep & ~tie
    with np.errstate(invalid="ignore"):
        credit[decided & (margin > 0)] = 1.0
        st = decided & (margin == 0)
    counts[f"{tie_name}_ties"] = int(st.sum())
    if score_ties == "half":
        credit[st] = 0.5
    if score_ties == "drop":
        keep &= ~st
        counts[f"dropped_{tie_name}_ties"] = int(st.sum())
    else:
        counts[f"dropped_{tie_name}_ties"] = 0
    counts["used"] = int(keep.sum())
    return credit, keep, counts


def item_sums(pairs: JudgedPairs, credit: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-item credit sums and pair counts over the kept pairs (all items, zeros where none is kept)."""
    g = len(pairs.items)
    return (np.bincount(pairs.item[keep], weights=credit[keep], minlength=g),
            np.bincount(pairs.item[keep], minlength=g).astype(float))


def ratio_replicates(counts: np.ndarray, sums: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Accuracy on each bootstrap replicate: (counts @ sums) / (counts @ n); NaN where no pair was drawn."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (counts @ sums) / (counts @ n)


def sign_flip_null(sa: np.ndarray, na: np.ndarray, sb: np.ndarray, nb: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """acc_a - acc_b with the two scorers' per-item sums swapped in the items where `flips` is 1."""
    keep = 1 - flips
    with np.errstate(invalid="ignore", divide="ignore"):
        a = (keep @ sa + flips @ sb) / (keep @ na + flips @ nb)
        b = (keep @ sb + flips @ sa) / (keep @ nb + flips @ na)
    return a - b


def accuracy_ci(pairs: JudgedPairs, credit: np.ndarray, keep: np.ndarray, boot: np.ndarray | None,
                confidence: float) -> tuple[float, tuple[float, float] | None, int, int]:
    """Accuracy over the kept pairs, its percentile CI over the bootstrap `boot` counts, pairs and items used."""
    s, n = item_sums(pairs, credit, keep)
    est = float(s.sum() / n.sum()) if n.sum() else float("nan")
    ci = None if boot is None else percentile_ci(ratio_replicates(boot, s, n), confidence)
    return est, ci, int(n.sum()), int((n > 0).sum())


def per_judge(pairs: JudgedPairs, credit: np.ndarray, keep: np.ndarray) -> dict[str, float]:
    """Accuracy on each judge's kept pairs (judges with none are left out)."""
    g = len(pairs.judges)
    s = np.bincount(pairs.judge[keep], weights=credit[keep], minlength=g)
    n = np.bincount(pairs.judge[keep], minlength=g)
    return {str(j): float(s[k] / n[k]) for k, j in enumerate(pairs.judges) if n[k]}
