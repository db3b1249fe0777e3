"""The framework's arithmetic on per-token log-probabilities: pure NumPy, no model calls.

Units are bits: natural-log values divided by ln 2. For a text x_1..x_T:

- s_t = -log2 p(x_t | x_<t, no constraints)     surprisal without constraints (pointwise H(X))
- c_t = -log2 p(x_t | x_<t, Y)                  surprisal under the constraints (pointwise H(X|Y))
- i_t = s_t - c_t                                pointwise mutual information of the token with Y

Examples:
    >>> import numpy as np
    >>> s = surprisal_bits(np.log([0.25, 0.5]))           # 2 bits, 1 bit
    >>> c = surprisal_bits(np.log([0.5, 0.5]))            # 1 bit, 1 bit
    >>> pointwise_information(s, c).tolist()
    [1.0, 0.0]
    >>> reduce_bits(pointwise_information(s, c), normalization="token")
    0.5
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from cqmetric.errors import InputValidationError

LN2 = math.log(2.0)
NORMALIZATIONS = ("token", "sum", "byte", "word")


def surprisal_bits(logprobs_nats: np.ndarray) -> np.ndarray:
    """-log2 p from natural-log probabilities."""
    return -np.asarray(logprobs_nats, dtype=np.float64) / LN2


def entropy_bits(entropy_nats: np.ndarray) -> np.ndarray:
    """Entropy of each prediction in bits, from nats."""
    return np.asarray(entropy_nats, dtype=np.float64) / LN2


def pointwise_information(s_bits: np.ndarray, c_bits: np.ndarray) -> np.ndarray:
    """i_t = s_t - c_t for aligned per-token arrays (the same token ids in both conditions)."""
    if s_bits.shape != c_bits.shape:
        raise InputValidationError(
            f"pointwise_information: expected aligned arrays, got shapes {s_bits.shape} and {c_bits.shape}."
        )
    return s_bits - c_bits


def reduce_bits(values: np.ndarray, *, normalization: str = "token", n_bytes: int = 0, n_words: int = 0) -> float:
    """Reduce per-token bits to one text-level number.

    Args:
        values: per-token bits.
        normalization: "token" (mean, bits/token), "sum" (bits), "byte" (bits/UTF-8 byte), "word"
            (bits/whitespace word).
        n_bytes: the text's UTF-8 length, for "byte".
        n_words: the text's whitespace word count, for "word".

    Examples:
        >>> reduce_bits(np.array([1.0, 2.0, 3.0]), normalization="sum")
        6.0
        >>> reduce_bits(np.array([1.0, 2.0, 3.0]), normalization="byte", n_bytes=12)
        0.5
    """
    total = float(np.sum(values))
    if normalization == "token":
        return total / len(values)
    if normalization == "sum":
        return total
    if normalization == "byte":
        return total / n_bytes
    if normalization == "word":
        return total / n_words
    raise InputValidationError(
        f"reduce_bits: got normalization={normalization!r}; allowed: {', '.join(map(repr, NORMALIZATIONS))}."
    )


# -- dimension analysis (the static argument) ---------------------------------------------------------------


def all_subsets(groups: Sequence[str]) -> list[frozenset[str]]:
    """Every subset of `groups` (2^k of them), smallest first."""
    return [frozenset(c) for r in range(len(groups) + 1) for c in itertools.combinations(groups, r)]


def shapley_values(groups: Sequence[str], value: Callable[[frozenset[str]], float]) -> dict[str, float]:
    """Exact Shapley attributions of `value` (a set function with value(empty) = 0) over `groups`.

    phi_d = sum over S not containing d of |S|! (k - |S| - 1)! / k! * (v(S + d) - v(S)).
    They sum to value(all groups) - value(empty).

    Examples:
        >>> v = {frozenset(): 0, frozenset("a"): 1, frozenset("b"): 2, frozenset("ab"): 5}
        >>> shapley_values(["a", "b"], v.__getitem__)
        {'a': 2.0, 'b': 3.0}
    """
    k = len(groups)
    phi: dict[str, float] = {}
    for d in groups:
        others = [g for g in groups if g != d]
        total = 0.0
        for r in range(len(others) + 1):
            weight = math.factorial(r) * math.factorial(k - r - 1) / math.factorial(k)
            for subset in itertools.combinations(others, r):
                s = frozenset(subset)
                total += weight * (value(s | {d}) - value(s))
        phi[d] = total
    return phi


@dataclass(frozen=True)
class DimensionAnalysis:
    """I(X; Y_S) for every subset S of the constraint dimensions of one text, and what follows from it.

    Attributes:
        groups: the dimensions present, in canonical order.
        information: I(X; Y_S) per subset (bits/token unless stated otherwise).
        single: I(X; Y_d) for each dimension alone.
        joint: I(X; Y) with all dimensions together.
        interaction: joint minus the sum of singles (positive: the constraints act together beyond their sum).
        shapley: exact Shapley attributions, summing to `joint`.
    """

    groups: tuple[str, ...]
    information: dict[frozenset[str], float]
    single: dict[str, float]
    joint: float
    interaction: float
    shapley: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        return {
            "groups": list(self.groups),
            "information": {"+".join(sorted(s)) or "(none)": v for s, v in self.information.items()},
            "single": self.single, "joint": self.joint, "interaction": self.interaction, "shapley": self.shapley,
        }


def analyze_dimensions(groups: Sequence[str], information: dict[frozenset[str], float]) -> DimensionAnalysis:
    """Singles, joint, interaction and Shapley values from I(X; Y_S) for all subsets (I of the empty set is 0)."""
    groups = tuple(groups)
    value = lambda s: 0.0 if not s else information[s]  # noqa: E731
    single = {d: value(frozenset([d])) for d in groups}
    joint = value(frozenset(groups))
    return DimensionAnalysis(
        groups=groups, information=dict(information), single=single, joint=joint,
        interaction=joint - sum(single.values()), shapley=shapley_values(groups, value),
    )


# -- chain-rule profile (the dynamic argument) --------------------------------------------------------------


@dataclass(frozen=True)
class ChainRuleProfile:
    """Per-unit I(X_j; Y | X_<j) = sum of i_t over the unit's tokens (bits), with shares and concentration.

    Attributes:
        spans: character span of each unit.
        information: bits per unit; they sum to the text's total I in bits.
        n_tokens: tokens per unit.
        shares: information / total (NaN when the total is 0).
        top20_share: share of the total carried by the top 20% of units (at least one unit), ranked by bits.
    """

    spans: tuple[tuple[int, int], ...]
    information: np.ndarray
    n_tokens: np.ndarray
    shares: np.ndarray
    top20_share: float

    def to_dict(self) -> dict[str, object]:
        return {
            "spans": [list(s) for s in self.spans], "information": self.information.tolist(),
            "n_tokens": self.n_tokens.tolist(), "shares": self.shares.tolist(), "top20_share": self.top20_share,
        }


def chain_rule_profile(
    per_token_bits: np.ndarray, unit_index: np.ndarray, spans: Sequence[tuple[int, int]]
) -> ChainRuleProfile:
    """Sum per-token bits into units and summarise how concentrated they are.

    Examples:
        >>> p = chain_rule_profile(np.array([1.0, 1.0, 2.0, 0.0, 0.0]), np.array([0, 0, 1, 2, 2]),
        ...                        [(0, 5), (5, 9), (9, 20)])
        >>> p.information.tolist(), p.shares.tolist(), p.top20_share
        ([2.0, 2.0, 0.0], [0.5, 0.5, 0.0], 0.5)
    """
    n_units = len(spans)
    info = np.bincount(unit_index, weights=per_token_bits, minlength=n_units)
    counts = np.bincount(unit_index, minlength=n_units)
    total = float(info.sum())
    shares = info / total if total != 0 else np.full(n_units, np.nan)
    k = max(1, int(math.ceil(0.2 * n_units)))
    top = float(np.sort(info)[::-1][:k].sum() / total) if total != 0 else float("nan")
    return ChainRuleProfile(tuple(map(tuple, spans)), info, counts, shares, top)


def context_calibration_bits(alone_bits: Sequence[np.ndarray], in_place_bits: np.ndarray, unit_index: np.ndarray) -> np.ndarray:
    """I(X_j; X_<j) per unit: surprisal of unit j scored alone minus in place after X_<j (bits).

    The first unit has no past; its value is 0 by definition (scored alone equals in place).

    Examples:
        >>> context_calibration_bits([np.array([1.0]), np.array([3.0, 3.0])],
        ...                          np.array([1.0, 1.0, 2.0]), np.array([0, 1, 1])).tolist()
        [0.0, 3.0]
    """
    out = np.zeros(len(alone_bits))
    for j, alone in enumerate(alone_bits):
        if j == 0:
            continue
        out[j] = float(np.sum(alone) - np.sum(in_place_bits[unit_index == j]))
    return out
