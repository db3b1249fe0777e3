"""Checks at the boundary of the reliability functions: options, label arrays, NaN, and undefined statistics.

Every public function of :mod:`cqmetric.reliability` validates its input with these before computing
anything (seeds with :func:`cqmetric._validation.check_seed`), so a user's mistake is an
:class:`~cqmetric.errors.InputValidationError` naming what was expected and what arrived.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from cqmetric._validation import (
    NAN_POLICIES,
    check_bool,
    check_option,
    check_positive_int,
    check_seed,
)
from cqmetric.errors import DegenerateInputWarning, InputValidationError

__all__ = ["ALTERNATIVES", "check_n_boot", "check_confidence", "encode_labels", "nan_mask", "degenerate", "checked",
           "STANDARD_CHECKS"]

ALTERNATIVES = ("two-sided", "greater", "less")


def check_n_boot(where: str, n_boot: Any, *, name: str = "n_boot") -> int:
    """Return `n_boot` as int: 0 (no resampling) or >= 100.

    Examples:
        >>> check_n_boot("correlation", 2000)
        2000
    """
    n = check_positive_int(where, name, n_boot, minimum=0)
    if 0 < n < 100:
        raise InputValidationError(f"{where}: expected `{name}` to be 0 (no resampling) or at least 100, got {n}.")
    return n


def check_confidence(where: str, confidence: Any) -> float:
    """Return `confidence` as float if 0 < confidence < 1."""
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.integer, np.floating)):
        raise InputValidationError(f"{where}: expected `confidence` to be a number in (0, 1), got {confidence!r}.")
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise InputValidationError(f"{where}: expected `confidence` in (0, 1), e.g. 0.95, got {confidence!r}.")
    return c


def encode_labels(where: str, name: str, labels: Any, n: int) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Integer codes (order of first appearance) and the distinct labels of a 1-D label array.

    Examples:
        >>> codes, labels = encode_labels("correlation", "groups", ["b", "a", "b"], 3)
        >>> codes.tolist(), labels
        ([0, 1, 0], ('b', 'a'))
    """
    if isinstance(labels, str) or labels is None:
        raise InputValidationError(f"{where}: expected `{name}` to be an array of labels, got {labels!r}.")
    arr = np.asarray(labels, dtype=object)
    if arr.ndim != 1:
        raise InputValidationError(f"{where}: expected `{name}` to be 1-dimensional, got shape {arr.shape}.")
    if arr.size != n:
        raise InputValidationError(
            f"{where}: expected `{name}` to have one label per item, got len({name})={arr.size} for {n} items."
        )
    index: dict[Any, int] = {}
    codes = np.empty(n, dtype=np.intp)
    for i, v in enumerate(arr.tolist()):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            raise InputValidationError(f"{where}: expected `{name}` without missing labels, got {v!r} at position {i}.")
        codes[i] = index.setdefault(v, len(index))
    return codes, tuple(index)


def nan_mask(where: str, nan_policy: str, **arrays: np.ndarray | None) -> np.ndarray:
    """Boolean mask of complete items; raises under nan_policy='raise' when any NaN is present.

    NaN means "missing" (handled by the policy); an infinity is never a score or a rating, so it is refused.
    """
    n = next(len(a) for a in arrays.values() if a is not None)
    ok = np.ones(n, dtype=bool)
    for name, a in arrays.items():
        if a is None:
            continue
        infinite = np.isinf(a)
        if infinite.any():
            pos = np.flatnonzero(infinite.reshape(len(a), -1).any(axis=1))[:5].tolist()
            raise InputValidationError(
                f"{where}: expected finite values (or NaN for a missing one) in `{name}`, got {int(infinite.sum())} "
                f"infinite value(s) at item(s) {pos}.")
        bad = np.isnan(a) if a.ndim == 1 else np.isnan(a).any(axis=tuple(range(1, a.ndim)))
        if bad.any() and nan_policy == "raise":
            pos = np.flatnonzero(bad)[:5].tolist()
            raise InputValidationError(
                f"{where}: expected `{name}` without NaN (nan_policy='raise'), got {int(bad.sum())} NaN "
                f"item(s) at positions {pos}{'...' if bad.sum() > 5 else ''}; pass nan_policy='omit' to drop them."
            )
        ok &= ~bad
    return ok


def degenerate(where: str, nan_policy: str, reason: str) -> None:
    """Warn (nan_policy 'propagate' or 'omit') or raise ('raise') for a statistic the input leaves undefined."""
    if nan_policy == "raise":
        raise InputValidationError(f"{where}: the statistic is undefined for this input: {reason}.")
    warnings.warn(f"{where}: {reason}; the result is NaN.", DegenerateInputWarning, stacklevel=3)


#: The settings every reliability function names the same way, and how each is checked (by name).
STANDARD_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "nan_policy": lambda where, v: check_option(where, "nan_policy", v, NAN_POLICIES),
    "alternative": lambda where, v: check_option(where, "alternative", v, ALTERNATIVES),
    "n_boot": lambda where, v: check_n_boot(where, v),
    "n_perm": lambda where, v: check_n_boot(where, v, name="n_perm"),
    "seed": check_seed,
    "confidence": check_confidence,
    "center_raters": lambda where, v: check_bool(where, "center_raters", v),
}


def checked(where: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Check a public function's standard settings at its boundary, declaratively, before its body runs.

    Every parameter of the function named in `STANDARD_CHECKS` is checked by its rule (errors name `where`) and
    reaches the body in its checked form, so no function repeats the prologue.

    Examples:
        >>> @checked("demo")
        ... def demo(x, *, n_boot=2000, seed=12345):
        ...     return n_boot, seed
        >>> demo(1, n_boot=0)
        (0, 12345)
        >>> demo(1, seed=-1)
        Traceback (most recent call last):
        ...
        cqmetric.errors.InputValidationError: demo: expected `seed` to be a non-negative integer, got -1 (int); pass a fixed integer such as 12345 so the result can be reproduced.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(func)
        names = [n for n in signature.parameters if n in STANDARD_CHECKS]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise InputValidationError(f"{where}: {exc}.") from None
            bound.apply_defaults()
            for name in names:
                bound.arguments[name] = STANDARD_CHECKS[name](where, bound.arguments[name])
            return func(*bound.args, **bound.kwargs)

        return wrapper

    return decorate
