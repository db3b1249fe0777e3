"""Fit the weights of a composite score to expert ratings, within groups, so they can be fixed and signed.

A composite (`WeightedSum`) adds standardised member scores with weights. `fit_weights` chooses the weights on
a development set: each member is standardised with the development set's mean and standard deviation (the
norms that are then fixed in the scorer), members and ratings are centred within each group (a prompt: what
counts is which of a prompt's texts is better), and ridge regression finds the weights. Fit on one set of
prompts, report on another.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> groups = np.repeat(np.arange(20), 10)
    >>> a, b = rng.normal(size=200), rng.normal(size=200)
    >>> ratings = 2 * a - b + rng.normal(scale=0.1, size=200)
    >>> fit = fit_weights({"a": a, "b": b}, ratings, groups=groups, alpha=0.0)
    >>> {k: round(v, 1) for k, v in fit.weights.items()}  # the true direction is (2, -1) / sqrt(5) = (0.89, -0.45)
    {'a': 0.9, 'b': -0.5}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from cqmetric._validation import as_float_array, check_finite_number
from cqmetric.errors import InputValidationError
from cqmetric.experts import DEFAULT_GRID, QUALITY_PARTS
from cqmetric.reliability.kernels import tau_b_rows
from cqmetric.scorers import functional as F
from cqmetric.scorers.composite import FITTED

__all__ = ["FittedWeights", "fit_weights", "FittedQuality", "fit_creative_quality", "within_group_kendall",
           "creative_quality_values", "DEFAULT_GRID"]


@dataclass(frozen=True)
class FittedWeights:
    """Weights (unit length) and norms (mean, std) of each member, and what they were fitted on.

    Attributes:
        weights: member -> weight; the vector has length 1 (only directions matter for rankings).
        norms: member -> (mean, standard deviation) on the fitting data.
        alpha: the ridge penalty used.
        n: items fitted on; n_groups: groups among them.
    """

    weights: dict[str, float]
    norms: dict[str, tuple[float, float]]
    alpha: float
    n: int
    n_groups: int

    def to_dict(self) -> dict[str, Any]:
        return {"weights": self.weights, "norms": {k: list(v) for k, v in self.norms.items()}, "alpha": self.alpha,
                "n": self.n, "n_groups": self.n_groups}


def _centre_within(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    out = values.astype(np.float64).copy()
    for g in np.unique(groups):
        rows = groups == g
        out[rows] -= out[rows].mean(axis=0)
    return out


def fit_weights(
    members: Mapping[str, Any],
    ratings: Any,
    *,
    groups: Any = None,
    alpha: float = 1.0,
) -> FittedWeights:
    """Ridge weights of standardised members that best predict the ratings within groups.

    Args:
        members: member name -> one value per item (e.g. `result.scores[name]`), oriented as you like: the sign
            of a weight says which way a member counts.
        ratings: one rating per item (e.g. the mean of the experts' ratings).
        groups: one group label per item (e.g. the prompt); None treats all items as one group.
        alpha: ridge penalty on the standardised, centred scale (0: least squares).

    Returns:
        FittedWeights; pass `weights` and `norms` to `WeightedSum`, or use `to_weighted_sum`.
    """
    where = "fit_weights"
    if not isinstance(members, Mapping) or not members:
        raise InputValidationError(f"{where}: expected `members` to be a non-empty dict name -> values, got {members!r:.60}.")
    y = as_float_array(where, "ratings", ratings)
    names = list(members)
    X = np.column_stack([as_float_array(where, f"members[{n!r}]", members[n]) for n in names])
    if X.shape[0] != y.size:
        raise InputValidationError(f"{where}: expected one value per rating ({y.size}) for every member, got {X.shape[0]}.")
    g = np.zeros(y.size, dtype=int) if groups is None else np.asarray(groups)
    if g.shape != y.shape:
        raise InputValidationError(f"{where}: expected one group label per rating ({y.size}), got shape {g.shape}.")
    alpha = check_finite_number(where, "alpha", alpha)
    if alpha < 0:
        raise InputValidationError(f"{where}: expected `alpha` >= 0, got {alpha!r}.")
    keep = np.isfinite(y) & np.isfinite(X).all(axis=1)
    X, y, g = X[keep], y[keep], g[keep]
    mean, std = X.mean(axis=0), X.std(axis=0, ddof=1)
    flat = [n for n, s in zip(names, std) if not s > 0]
    if flat:
        raise InputValidationError(f"{where}: member(s) {flat} are constant on the fitting data; drop them.")
    Z = _centre_within((X - mean) / std, g)
    t = _centre_within(y[:, None], g)[:, 0]
    w = np.linalg.solve(Z.T @ Z + alpha * np.eye(Z.shape[1]), Z.T @ t)
    norm = float(np.linalg.norm(w))
    if not norm > 0:
        raise InputValidationError(f"{where}: the ratings do not vary within groups; nothing to fit.")
    w = w / norm
    return FittedWeights(
        weights={n: float(v) for n, v in zip(names, w)},
        norms={n: (float(m), float(s)) for n, m, s in zip(names, mean, std)},
        alpha=alpha, n=int(y.size), n_groups=int(np.unique(g).size),
    )


def within_group_kendall(scores: Any, ratings: Any, groups: Any) -> np.ndarray:
    """Kendall tau-b inside each group, averaged over groups, for one or many score vectors at once.

    Args:
        scores: one value per item, or a 2-D array with one row of values per candidate score.
        ratings: one rating per item.
        groups: one group label per item (e.g. the prompt).

    Returns:
        One mean tau-b per row of `scores`; a group where the score or the ratings are all tied is left out
        (NaN when every group is).

    Examples:
        >>> within_group_kendall([1, 2, 3, 3, 2, 1], [1, 2, 3, 1, 2, 3], [0, 0, 0, 1, 1, 1])
        array([0.])
    """
    where = "within_group_kendall"
    X = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    y = as_float_array(where, "ratings", ratings)
    g = np.asarray(groups)
    if X.shape[1] != y.size or g.shape != y.shape:
        raise InputValidationError(
            f"{where}: expected scores, ratings and groups of one length, got {X.shape[1]}, {y.size} and {g.size}."
        )
    per_group = [tau_b_rows(X[:, members], np.broadcast_to(y[members], (X.shape[0], members.size)))
                 for members in (np.flatnonzero(g == label) for label in np.unique(g))]
    taus = np.stack(per_group, axis=1) if per_group else np.full((X.shape[0], 1), np.nan)
    counted = np.isfinite(taus).sum(axis=1)
    return np.where(counted > 0, np.nansum(taus, axis=1) / np.maximum(counted, 1), np.nan)


def creative_quality_values(parts: Mapping[str, Any], constants: Mapping[str, Any]) -> np.ndarray:
    """CreativeQuality's formula (`cqmetric.scorers.functional.creative_quality`) on precomputed parts."""
    oc, cs, s = (np.asarray(parts[k], dtype=np.float64) for k in QUALITY_PARTS)
    return F.creative_quality(oc, cs, s, **{k: constants[k] for k in FITTED})




@dataclass(frozen=True)
class FittedQuality:
    """The constants chosen for `CreativeQuality`, and the evidence of the choice.

    Attributes:
        constants: order_center, order_scale, fit_center, fit_scale, lam.
        objective: the mean over criteria of the mean within-group Kendall tau-b, at the chosen constants.
        per_criterion: that tau per criterion.
        pair_win: degraded-pair kind -> share of pairs the original wins, at the chosen constants.
        met_pairs: whether the chosen constants meet `min_pair_win` on every kind.
        n_candidates: candidates tried; n_eligible: those meeting `min_pair_win`.
        runners_up: the next best eligible candidates (constants and objective), to show how flat the optimum is.
    """

    constants: dict[str, float]
    objective: float
    per_criterion: dict[str, float]
    pair_win: dict[str, float]
    met_pairs: bool
    n_candidates: int
    n_eligible: int
    runners_up: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def fit_creative_quality(
    parts: Mapping[str, Any],
    ratings: Mapping[str, Any],
    groups: Any,
    *,
    pairs: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]] | None = None,
    min_pair_win: float = 0.95,
    grid: Mapping[str, tuple[float, ...]] | None = None,
) -> FittedQuality:
    """Choose CreativeQuality's constants on development data by a grid search.

    The chosen candidate has the highest mean within-group Kendall tau-b with the ratings (averaged over the
    criteria) among those that prefer the original to its degraded version in at least `min_pair_win` of the pairs
    of every kind; when none does, the candidate with the highest worst-kind win rate is taken (`met_pairs` False).

    Args:
        parts: order_calibration, calibrated_surprise and surprise -> one value per rated item.
        ratings: criterion -> one rating per item.
        groups: one group label per item (the prompt).
        pairs: degraded-pair kind -> (parts of the originals, parts of their degraded versions), aligned.
        min_pair_win: the share of pairs a candidate must win on every kind.
        grid: constant -> values to try (default `DEFAULT_GRID`).

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> groups = np.repeat(np.arange(10), 8)
        >>> parts = {"order_calibration": rng.uniform(0.2, 0.4, 80), "calibrated_surprise": rng.uniform(0.0, 0.2, 80),
        ...          "surprise": rng.normal(4, 0.5, 80)}
        >>> fit = fit_creative_quality(parts, {"quality": parts["surprise"]}, groups)
        >>> round(fit.objective, 2)  # surprise ranks the items exactly; the gates stay open
        1.0
    """
    where = "fit_creative_quality"
    grid = dict(DEFAULT_GRID if grid is None else grid)
    missing = sorted(set(DEFAULT_GRID) - set(grid))
    if missing:
        raise InputValidationError(f"{where}: expected grid values for every constant, got none for {missing}.")
    if not 0.0 <= check_finite_number(where, "min_pair_win", min_pair_win) <= 1.0:
        raise InputValidationError(f"{where}: expected `min_pair_win` in [0, 1], got {min_pair_win!r}.")
    if not isinstance(ratings, Mapping) or not ratings:
        raise InputValidationError(f"{where}: expected `ratings` to be a non-empty dict criterion -> ratings.")
    keys = list(DEFAULT_GRID)
    mesh = np.array(np.meshgrid(*(np.asarray(grid[k], dtype=np.float64) for k in keys), indexing="ij"))
    candidates = mesh.reshape(len(keys), -1).T
    as_constants = lambda row: dict(zip(keys, map(float, row)))  # noqa: E731
    columns = {k: candidates[:, i][:, None] for i, k in enumerate(keys)}
    def candidate_values(side: Mapping[str, Any]) -> np.ndarray:
        """One row of CreativeQuality values per candidate (parts as rows, constants as columns)."""
        rows = {k: np.asarray(side[k], dtype=np.float64)[None, :] for k in QUALITY_PARTS}
        return creative_quality_values(rows, columns)

    values = candidate_values(parts)
    taus = {c: within_group_kendall(values, r, groups) for c, r in ratings.items()}
    objective = np.mean(np.stack(list(taus.values())), axis=0)
    wins: dict[str, np.ndarray] = {}
    for kind, (original, degraded) in (pairs or {}).items():
        sizes = {len(np.atleast_1d(side[k])) for side in (original, degraded) for k in original}
        if len(sizes) != 1 or 0 in sizes:
            raise InputValidationError(
                f"{where}: expected the degraded pairs {kind!r} to hold at least one pair, with one value per pair "
                f"in every part of both sides, got lengths {sorted(sizes)}."
            )
        wins[kind] = (candidate_values(original) > candidate_values(degraded)).mean(axis=1)
    worst = np.min(np.stack(list(wins.values())), axis=0) if wins else np.ones(len(candidates))
    eligible = worst >= min_pair_win
    score = np.where(np.isfinite(objective), objective, -np.inf)
    order = np.lexsort((-score, ~eligible)) if eligible.any() else np.lexsort((-score, -worst))
    best = int(order[0])
    return FittedQuality(
        constants=as_constants(candidates[best]),
        objective=float(objective[best]),
        per_criterion={c: float(t[best]) for c, t in taus.items()},
        pair_win={kind: float(w[best]) for kind, w in wins.items()},
        met_pairs=bool(eligible[best]),
        n_candidates=int(len(candidates)),
        n_eligible=int(eligible.sum()),
        runners_up=[{**as_constants(candidates[i]), "objective": float(objective[i])} for i in order[1:6]],
    )
