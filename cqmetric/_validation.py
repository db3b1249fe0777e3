"""Boundary checks shared by the public functions. Inner functions trust what these have checked."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence, Sized
from typing import Any

import numpy as np

from cqmetric.errors import InputValidationError, MissingDependencyError

NAN_POLICIES = ("propagate", "raise", "omit")


def check_option(where: str, name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return `value` if it is one of `allowed`, else raise naming the allowed values."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise InputValidationError(
            f"{where}: got {name}={value!r}; allowed: {', '.join(repr(a) for a in allowed)}."
        )
    return value


def check_positive_int(where: str, name: str, value: Any, *, minimum: int = 1) -> int:
    """Return `value` as int if it is an integer >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputValidationError(
            f"{where}: expected `{name}` to be an integer >= {minimum}, got {value!r}."
        )
    return int(value)


def check_bool(where: str, name: str, value: Any) -> bool:
    """Return `value` if it is True or False (a string such as "no" is not: it would read as True).

    Examples:
        >>> check_bool("icc", "center_raters", "no")
        Traceback (most recent call last):
        ...
        cqmetric.errors.InputValidationError: icc: expected `center_raters` to be True or False, got 'no'.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise InputValidationError(f"{where}: expected `{name}` to be True or False, got {value!r}.")
    return bool(value)


def check_finite_number(where: str, name: str, value: Any) -> float:
    """Return `value` as float if it is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputValidationError(f"{where}: expected `{name}` to be a number, got {value!r}.")
    if not math.isfinite(float(value)):
        raise InputValidationError(f"{where}: expected `{name}` to be finite, got {value!r}.")
    return float(value)


def check_texts(where: str, texts: Any, *, name: str = "texts") -> list[str]:
    """Return `texts` as a list of non-empty strings; a single string is refused (wrap it in a list)."""
    if isinstance(texts, str):
        raise InputValidationError(
            f"{where}: expected `{name}` to be a list of strings, got a single str; wrap it: [text]."
        )
    if not isinstance(texts, Sequence) and not isinstance(texts, np.ndarray):
        raise InputValidationError(
            f"{where}: expected `{name}` to be a list of strings, got {type(texts).__name__}."
        )
    out = list(texts)
    if not out:
        raise InputValidationError(f"{where}: expected `{name}` to hold at least one text, got an empty list.")
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise InputValidationError(
                f"{where}: expected `{name}[{i}]` to be a str, got {type(t).__name__} ({t!r:.60})."
            )
        if not t.strip():
            raise InputValidationError(
                f"{where}: expected `{name}[{i}]` to be a non-empty text, got {t!r}; drop empty texts first."
            )
        check_encodable(where, f"{name}[{i}]", t)
    return out


def check_encodable(where: str, name: str, text: str) -> None:
    """Raise unless `text` is valid Unicode (UTF-8 encodable): a lone surrogate such as "\\ud800" is not."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputValidationError(
            f"{where}: expected `{name}` to be valid Unicode text, got a lone surrogate {text[exc.start]!r} at "
            f"character {exc.start} ({text[max(0, exc.start - 20):exc.start]!r} before it)."
        ) from None


def check_same_length(where: str, **arrays: Sized) -> int:
    """Raise unless every named sequence has the same length; return that length."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"len({k})={n}" for k, n in lengths.items())
        raise InputValidationError(f"{where}: expected sequences of the same length, got {desc}.")
    return next(iter(lengths.values()))


def as_float_array(where: str, name: str, values: Any, *, ndim: int = 1) -> np.ndarray:
    """Convert to a float64 array of `ndim` dimensions, naming what arrived when that fails."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(
            f"{where}: expected `{name}` to be numeric, got {type(values).__name__} ({exc})."
        ) from None
    if arr.ndim != ndim:
        raise InputValidationError(
            f"{where}: expected `{name}` to have {ndim} dimension(s), got shape {arr.shape}."
        )
    return arr


def require(module: str, extra: str) -> Any:
    """Import an optional dependency or raise MissingDependencyError with the install command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"`{module}` is required for this feature; install it with: pip install 'cqmetric[{extra}]'"
        ) from None


def check_seed(where: str, seed: Any) -> int:
    """Return `seed` as int if it is an integer >= 0.

    A seed is a plain integer, never None or a Generator: it is written into the settings and signature of a result,
    and the independent random streams of one call are derived from it by name, so the same seed always
    reproduces the same numbers.

    Examples:
        >>> check_seed("correlation", 7)
        7
        >>> check_seed("correlation", None)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        cqmetric.errors.InputValidationError: correlation: expected `seed` to be a non-negative integer, got None ...
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputValidationError(
            f"{where}: expected `seed` to be a non-negative integer, got {seed!r} ({type(seed).__name__}); "
            "pass a fixed integer such as 12345 so the result can be reproduced."
        )
    return int(seed)
