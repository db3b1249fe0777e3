"""The scorers' formulas as pure functions: arrays in, numbers out, no model and no objects.

Each formula is written once, here. The scorer classes, the fitting code and the benchmarks all call these, so a
number computed from stored per-token bits equals the number `score()` gives. Per-token inputs are bits (see
`cqmetric.information`); the gate and composite functions broadcast over NumPy arrays, so one call evaluates many
texts (or many candidate constants) at once.

Examples:
    >>> import numpy as np
    >>> s, c = np.array([4.0, 2.0]), np.array([1.0, 1.0])
    >>> calibrated_surprise(s, c), surprise(s), residual(c)
    (2.0, 3.0, 1.0)
    >>> round(float(soft_gate(0.1, center=0.0, scale=0.05)), 4)
    0.8808
    >>> round(float(creative_quality(0.3, 0.2, 3.0, order_center=0.0, order_scale=0.01, fit_center=0.0,
    ...                              fit_scale=0.01, lam=1.0)), 6)  # both gates open: 1 + 1.0 x 3.0
    4.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cqmetric.information import (
    context_calibration_bits,
    pointwise_information,
    reduce_bits,
)

__all__ = ["calibrated_surprise", "surprise", "residual", "order_calibration", "context_calibration", "easy_share",
           "surprisal_quantile", "soft_gate", "hard_gate", "quiet", "creative_quality", "weighted_sum"]


def surprise(s_bits: np.ndarray, *, normalization: str = "token", n_bytes: int = 0, n_words: int = 0) -> float:
    """H(X): the text's surprisal without constraints, reduced per token (or per byte, per word, or summed)."""
    return reduce_bits(s_bits, normalization=normalization, n_bytes=n_bytes, n_words=n_words)


def residual(c_bits: np.ndarray, *, normalization: str = "token", n_bytes: int = 0, n_words: int = 0) -> float:
    """H(X|Y): the surprisal left once the constraints act, reduced like `surprise`."""
    return reduce_bits(c_bits, normalization=normalization, n_bytes=n_bytes, n_words=n_words)


def calibrated_surprise(s_bits: np.ndarray, c_bits: np.ndarray, *, normalization: str = "token", n_bytes: int = 0,
                        n_words: int = 0) -> float:
    """I(X;Y) = H(X) - H(X|Y): the mean pointwise information of the tokens with the constraints."""
    return reduce_bits(pointwise_information(s_bits, c_bits), normalization=normalization, n_bytes=n_bytes,
                       n_words=n_words)


def order_calibration(s_bits: np.ndarray, reordered_bits: np.ndarray | None, *, normalization: str = "token",
                      n_bytes: int = 0, n_words: int = 0) -> float:
    """The bits a text costs with its units in another order, less its bits in its own order (0 without another).

    Examples:
        >>> order_calibration(np.array([1.0, 1.0]), np.array([2.0, 3.0]))
        1.5
        >>> order_calibration(np.array([1.0, 1.0]), None)
        0.0
    """
    if reordered_bits is None:
        return 0.0
    kw = {"normalization": normalization, "n_bytes": n_bytes, "n_words": n_words}
    return reduce_bits(reordered_bits, **kw) - reduce_bits(s_bits, **kw)


def context_calibration(alone_bits: list[np.ndarray], s_bits: np.ndarray, unit_index: np.ndarray) -> float:
    """Sum over units of I(X_j; X_<j) (each unit alone versus in place), per text token."""
    return float(context_calibration_bits(alone_bits, s_bits, unit_index).sum() / len(s_bits))


def easy_share(bits: np.ndarray, *, threshold: float) -> float:
    """The share of tokens the model found near certain: surprisal below `threshold` bits.

    Examples:
        >>> easy_share(np.array([0.1, 0.4, 2.0, 7.0]), threshold=0.5)
        0.5
    """
    return float(np.mean(np.asarray(bits) < threshold))


def surprisal_quantile(bits: np.ndarray, *, q: float) -> float:
    """The `q`-quantile of the per-token surprisal (bits; numpy's default, linear interpolation).

    Examples:
        >>> surprisal_quantile(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), q=0.5)
        3.0
    """
    return float(np.quantile(np.asarray(bits), q))


def soft_gate(value: Any, *, center: float, scale: float) -> Any:
    """The logistic of (value - center) / scale, in (0, 1): a graded `satisfy` judgement (no overflow)."""
    return 0.5 * (1.0 + np.tanh(0.5 * (np.asarray(value, dtype=np.float64) - center) / scale))


def hard_gate(value: Any, *, threshold: float) -> Any:
    """1.0 where value exceeds `threshold`, else 0.0."""
    return np.where(np.asarray(value, dtype=np.float64) > threshold, 1.0, 0.0)


def quiet(gate: Any, surprise_value: Any, *, lam: float) -> Any:
    """QUIET's per-item score: satisfy x (1 + lam x surprise)."""
    return np.asarray(gate, dtype=np.float64) * (1.0 + lam * np.asarray(surprise_value, dtype=np.float64))


def creative_quality(order_calibration_value: Any, calibrated_surprise_value: Any, surprise_value: Any, *,
                     order_center: Any, order_scale: Any, fit_center: Any, fit_scale: Any, lam: Any) -> Any:
    """CreativeQuality: gate(order calibration) x gate(calibrated surprise) x (1 + lam x surprise).

    Every argument broadcasts: parts as rows and constants as columns evaluate many candidates at once.
    """
    gate = soft_gate(order_calibration_value, center=order_center, scale=order_scale)
    gate = gate * soft_gate(calibrated_surprise_value, center=fit_center, scale=fit_scale)
    return quiet(gate, surprise_value, lam=lam)


def weighted_sum(values: Mapping[str, Any], weights: Mapping[str, float],
                 norms: Mapping[str, tuple[float, float]]) -> Any:
    """sum_k w_k (x_k - mean_k) / std_k with fixed reference norms.

    Examples:
        >>> float(weighted_sum({"a": 3.0, "b": 1.0}, {"a": 1.0, "b": -2.0}, {"a": (1.0, 2.0), "b": (0.0, 1.0)}))
        -1.0
    """
    total: Any = 0.0
    for key, weight in weights.items():
        mean, std = norms[key]
        total = total + weight * (np.asarray(values[key], dtype=np.float64) - mean) / std
    return total
