"""Every lever's per-story value, as a pure function of the collected per-token evidence (`collect.py`).

All values are per token (or per unit of text), so none grows with length by construction; `LENGTH` is the
baseline. Bits throughout. Directions: +1 when higher should mean better.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cqmetric.scorers import functional as F


def _a(rec: dict, key: str, sub: str | None = None) -> np.ndarray:
    value = rec[key] if sub is None else rec[key][sub]
    return np.asarray(value, dtype=np.float64)


def context_calibration(rec: dict, *, skip_first: bool) -> float:
    """sum over units j >= 1 of (bits of unit j alone - bits in place), per text token.

    With `skip_first`, each unit's first token is left out of both sums: scored alone it follows the template's
    "Text:" line (a leading-space token there is rare, which inflates it), in place it follows the last unit.
    """
    s = _a(rec, "s")
    index = np.asarray(rec["units"]["index"])
    total = 0.0
    for j, alone in enumerate(rec["units"]["alone"]):
        if j == 0 or alone is None:
            continue
        alone = np.asarray(alone)
        in_place = s[index == j]
        if skip_first:
            alone, in_place = alone[1:], in_place[1:]
        total += float(alone.sum() - in_place.sum())
    return total / len(s)


FEATURES: dict[str, tuple[Callable[[dict], float], int]] = {
    # the three default scores, pointwise (the library's own formulas)
    "cs": (lambda r: F.calibrated_surprise(_a(r, "s"), _a(r, "c", "prompt")), +1),
    "surprise": (lambda r: F.surprise(_a(r, "s")), +1),
    "residual": (lambda r: F.residual(_a(r, "c", "prompt")), -1),
    # the expected (entropy) estimator
    "cs_expected": (lambda r: float(np.mean(_a(r, "h0") - _a(r, "hy", "prompt"))), +1),
    "entropy": (lambda r: float(np.mean(_a(r, "h0"))), +1),
    # how far the observed tokens are from what the model expected (local typicality)
    "surprise_minus_entropy": (lambda r: float(np.mean(_a(r, "s") - _a(r, "h0"))), -1),
    "typicality_gap": (lambda r: float(np.mean(np.abs(_a(r, "s") - _a(r, "h0")))), -1),
    # normalisation per word instead of per token
    "cs_per_word": (lambda r: float(np.sum(_a(r, "s") - _a(r, "c", "prompt")) / max(r["n_words"], 1)), +1),
    "surprise_per_word": (lambda r: float(np.sum(_a(r, "s")) / max(r["n_words"], 1)), +1),
    # the contrastive audience pair: bits the weak-craft expectation needs beyond the strong-craft one
    "craft_contrast": (lambda r: float(np.mean(_a(r, "c", "weak") - _a(r, "c", "good"))), +1),
    "cs_audience_good": (lambda r: F.calibrated_surprise(_a(r, "s"), _a(r, "c", "good")), +1),
    "cs_audience_weak": (lambda r: F.calibrated_surprise(_a(r, "s"), _a(r, "c", "weak")), +1),
    # the text's own past as a constraint
    "context_calibration": (lambda r: context_calibration(r, skip_first=False), +1),  # = F.context_calibration
    "context_calibration_first_fixed": (lambda r: context_calibration(r, skip_first=True), +1),
}
# The reverse direction, I(X;Y) = H(Y) - H(Y|X): how much the story explains its own prompt (bits per prompt token).
REVERSE = {
    "reverse_pmi": (lambda r: float(np.mean(_a(r["reverse"], "own_alone") - _a(r["reverse"], "own_after"))), +1),
}


def reverse_swap(rec: dict) -> tuple[float, float]:
    """(own, swapped) prompt's information from the story, bits per prompt token."""
    rev = rec["reverse"]
    return (float(np.mean(_a(rev, "own_alone") - _a(rev, "own_after"))),
            float(np.mean(_a(rev, "swap_alone") - _a(rev, "swap_after"))))
LENGTH = ("length_tokens", lambda r: float(r["n_tokens"]))


def table(records: dict[int, dict], ids: list[int], names: list[str] | None = None) -> dict[str, np.ndarray]:
    """name -> per-story values (in the order of `ids`), oriented so that higher means better."""
    available = {**FEATURES, **(REVERSE if all("reverse" in records[i] for i in ids) else {})}
    names = names or list(available)
    out = {n: np.array([available[n][1] * available[n][0](records[i]) for i in ids]) for n in names}
    out[LENGTH[0]] = np.array([LENGTH[1](records[i]) for i in ids])
    return out
