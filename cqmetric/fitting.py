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

__all__ = ["FittedWeights", "fit_weights"]


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
