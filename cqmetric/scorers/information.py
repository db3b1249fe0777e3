"""The information scorers: calibrated surprise, surprise and residual, and the text's own order and context.

The three text-level scores leave `estimator` and `normalization` unset by default and inherit the call's
(`score(..., normalization="byte")`); one given a setting that differs from the call's is refused before the model
runs, so one result never mixes units. Each computes its formula in `cqmetric.scorers.functional`.

Examples:
    >>> import numpy as np
    >>> from cqmetric.types import Evidence, TokenizedText
    >>> tok = TokenizedText("a b", np.array([5, 6]), np.array([[0, 1], [1, 3]]))
    >>> ev = Evidence(tokens=tok, constraints=None, s=np.array([4.0, 2.0]), c=np.array([1.0, 1.0]))
    >>> CalibratedSurprise().compute(ev), Surprise().compute(ev), Residual().compute(ev)
    (2.0, 3.0, 1.0)
    >>> Surprise().statistics(ev)  # numerator (bits) and denominator (tokens): a corpus pools them
    (6.0, 2.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from cqmetric._validation import check_bool, check_finite_number, check_option
from cqmetric.errors import InputValidationError
from cqmetric.information import (
    NORMALIZATIONS,
    DimensionAnalysis,
    analyze_dimensions,
    context_calibration_bits,
)
from cqmetric.scorers import functional as F
from cqmetric.scorers.base import BaseScorer
from cqmetric.types import CONSTRAINED, ENTROPY, Evidence, Need

ESTIMATORS = ("pointwise", "expected")
UNITS = {"token": "bits/token", "sum": "bits", "byte": "bits/byte", "word": "bits/word"}


def denominator(ev: Evidence, normalization: str) -> float:
    """What a text's bits are divided by under `normalization` (1 for "sum")."""
    return {"token": ev.n_tokens, "sum": 1, "byte": ev.n_bytes, "word": max(ev.n_words, 1)}[normalization]


@dataclass(frozen=True)
class _InformationScorer(BaseScorer):
    """Shared settings of the text-level scores; None inherits the call's setting."""

    estimator: str | None = None
    normalization: str | None = None

    def __post_init__(self) -> None:
        if self.estimator is not None:
            check_option(type(self).__name__, "estimator", self.estimator, ESTIMATORS)
        if self.normalization is not None:
            check_option(type(self).__name__, "normalization", self.normalization, NORMALIZATIONS)

    @property
    def _estimator(self) -> str:
        return self.estimator or "pointwise"

    @property
    def _normalization(self) -> str:
        return self.normalization or "token"

    @property
    def poolable(self) -> bool:  # summed bits have no common denominator to pool over
        return self._normalization != "sum"

    def params(self) -> dict[str, Any]:
        return {"estimator": self._estimator, "normalization": self._normalization}

    def units(self) -> str:
        return UNITS[self._normalization]

    def with_settings(self, estimator: str, normalization: str, *, where: str = "score") -> _InformationScorer:
        """A copy with the call's settings filled in; a differing explicit setting is refused."""
        for field_name, mine, call in (("estimator", self.estimator, estimator),
                                       ("normalization", self.normalization, normalization)):
            if mine is not None and mine != call:
                raise InputValidationError(
                    f"{where}: {type(self).__name__}({field_name}={mine!r}) differs from the call's "
                    f"{field_name}={call!r}, so one result would mix units; leave it unset to inherit the call's "
                    f"setting, or score it in a call of its own."
                )
        return replace(self, estimator=estimator, normalization=normalization)

    def _unconstrained(self, ev: Evidence) -> np.ndarray:
        return ev.s if self._estimator == "pointwise" else ev.h0

    def _constrained(self, ev: Evidence) -> np.ndarray:
        return ev.c if self._estimator == "pointwise" else ev.hy

    def _counts(self, ev: Evidence) -> dict[str, Any]:
        return {"normalization": self._normalization, "n_bytes": ev.n_bytes, "n_words": max(ev.n_words, 1)}

    def statistics(self, ev: Evidence) -> tuple[float, float]:
        """(numerator, denominator) whose corpus sums give the token/byte/word-weighted corpus score."""
        den = float(denominator(ev, self._normalization))
        return self.compute(ev) * den, den

    @property
    def _needs_entropy(self) -> set[Need]:
        return {ENTROPY} if self._estimator == "expected" else set()


@dataclass(frozen=True)
class CalibratedSurprise(_InformationScorer):
    """I(X;Y) = H(X) - H(X|Y): mean pointwise information of the tokens with the constraints (bits/token).

    With `estimator="expected"`, the difference of the model's prediction entropies instead.
    """

    name: str = field(default="calibrated_surprise", init=False)
    higher_is_better: bool = field(default=True, init=False)

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset({CONSTRAINED} | self._needs_entropy)

    def compute(self, ev: Evidence) -> float:
        return F.calibrated_surprise(self._unconstrained(ev), self._constrained(ev), **self._counts(ev))


@dataclass(frozen=True)
class Surprise(_InformationScorer):
    """H(X): mean surprisal of the text without constraints (bits/token)."""

    name: str = field(default="surprise", init=False)
    higher_is_better: bool = field(default=True, init=False)

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset(self._needs_entropy)

    def compute(self, ev: Evidence) -> float:
        return F.surprise(self._unconstrained(ev), **self._counts(ev))


@dataclass(frozen=True)
class Residual(_InformationScorer):
    """H(X|Y): mean surprisal left once the constraints act (bits/token; lower is better calibrated)."""

    name: str = field(default="residual", init=False)
    higher_is_better: bool = field(default=False, init=False)

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset({CONSTRAINED} | self._needs_entropy)

    def compute(self, ev: Evidence) -> float:
        return F.residual(self._constrained(ev), **self._counts(ev))


@dataclass(frozen=True)
class OrderCalibration(_InformationScorer):
    """How much the text's own order explains it: the bits it costs with its units in another order.

    sum_t s_t(units reordered) - sum_t s_t(own order), both without constraints and over the same tokens, per
    token by default (the call's normalization). The other order is drawn from the text's own token ids, so a text
    always gets the same one. Coherent text is explained by its order (positive); a text whose units could come
    in any order (a shuffle, a loop of repeated sentences) is not (about 0). A text of one unit has no other order:
    0. Defined on the observed tokens (the pointwise estimator).
    """

    unit: str = "sentence"
    name: str = field(default="order_calibration", init=False)
    higher_is_better: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_option("OrderCalibration", "unit", self.unit, ("sentence", "paragraph"))
        if self.estimator == "expected":
            raise InputValidationError("OrderCalibration: defined on observed tokens; expected estimator='pointwise'.")

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset({Need("reordered", self.unit)})

    def params(self) -> dict[str, Any]:
        return {"unit": self.unit, "normalization": self._normalization}

    def with_settings(self, estimator: str, normalization: str, *, where: str = "score") -> OrderCalibration:
        if estimator != "pointwise":
            raise InputValidationError(
                f"{where}: OrderCalibration is defined on the observed tokens; score it in a call with "
                f"estimator='pointwise', got {estimator!r}."
            )
        return super().with_settings(estimator, normalization, where=where)

    def compute(self, ev: Evidence) -> float:
        return F.order_calibration(ev.s, ev.reordered[self.unit], **self._counts(ev))


@dataclass(frozen=True)
class ContextCalibration(BaseScorer):
    """Sum over units of I(X_j; X_<j) (each unit alone versus in place), per text token (bits/token).

    High when later choices are explained by earlier ones: the text is calibrated by its own logic.
    """

    unit: str = "sentence"
    name: str = field(default="context_calibration", init=False)
    higher_is_better: bool = field(default=True, init=False)

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset({Need("units", self.unit)})

    def params(self) -> dict[str, Any]:
        return {"unit": self.unit}

    def units(self) -> str:
        return "bits/token"

    def per_unit(self, ev: Evidence) -> np.ndarray:
        """I(X_j; X_<j) in bits for each unit."""
        _, index, alone = ev.units[self.unit]
        return context_calibration_bits(alone, ev.s, index)

    def compute(self, ev: Evidence) -> float:
        _, index, alone = ev.units[self.unit]
        return F.context_calibration(alone, ev.s, index)


@dataclass(frozen=True)
class Interaction(BaseScorer):
    """I(X;Y) - sum_d I(X;Y_d) over constraint dimensions (bits/token): positive when they act together."""

    by: str = "source"
    name: str = field(default="interaction", init=False)
    higher_is_better: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        check_option("Interaction", "by", self.by, ("source", "aspect"))

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset({Need("dimensions", self.by)})

    def params(self) -> dict[str, Any]:
        return {"by": self.by}

    def units(self) -> str:
        return "bits/token"

    def compute(self, ev: Evidence) -> float:
        return dimension_analysis(ev, by=self.by).interaction


def dimension_analysis(ev: Evidence, *, by: str = "source") -> DimensionAnalysis:
    """Per-dimension, joint, interaction and Shapley values (bits/token) from gathered subset evidence."""
    info = {s: float(np.mean(ev.s - bits)) for s, bits in ev.subsets[by].items() if s}
    return analyze_dimensions(ev.constraints.groups(by), info)


@dataclass(frozen=True)
class Length(BaseScorer):
    """Text length in tokens, whitespace words or UTF-8 bytes: the trivial baseline every validity claim must beat."""

    unit: str = "token"
    name: str = field(default="length", init=False)
    higher_is_better: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        check_option("Length", "unit", self.unit, ("token", "word", "byte"))

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset()

    def params(self) -> dict[str, Any]:
        return {"unit": self.unit}

    def units(self) -> str:
        return f"{self.unit}s"

    def compute(self, ev: Evidence) -> float:
        return float({"token": ev.n_tokens, "word": ev.n_words, "byte": ev.n_bytes}[self.unit])


@dataclass(frozen=True)
class EasyTokens(BaseScorer):
    """The share of a text's tokens the model found near certain (surprisal below `threshold` bits).

    Stock phrases and predictable continuations are easy tokens; a writer's own choices are rarely near certain.
    With `constrained`, surprisal under the constraints (what the prompt makes too easy). Lower is better.
    Pooled over a corpus by token.

    Args:
        threshold: bits below which a token counts as easy (0.5 bits: the model put more than 70% on it).
        constrained: measure under the constraints instead of without them.
    """

    threshold: float = 0.5
    constrained: bool = False
    name: str = field(default="easy_tokens", init=False)
    higher_is_better: bool = field(default=False, init=False)
    bounds: tuple[float, float] = field(default=(0.0, 1.0), init=False)
    poolable: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        if not check_finite_number("EasyTokens", "threshold", self.threshold) > 0:
            raise InputValidationError(f"EasyTokens: expected `threshold` > 0 bits, got {self.threshold!r}.")
        object.__setattr__(self, "threshold", float(self.threshold))
        check_bool("EasyTokens", "constrained", self.constrained)

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset({CONSTRAINED}) if self.constrained else frozenset()

    def params(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "constrained": self.constrained}

    def units(self) -> str:
        return "share of tokens"

    def _bits(self, ev: Evidence) -> np.ndarray:
        return ev.c if self.constrained else ev.s

    def statistics(self, ev: Evidence) -> tuple[float, float]:
        return self.compute(ev) * ev.n_tokens, float(ev.n_tokens)

    def compute(self, ev: Evidence) -> float:
        return F.easy_share(self._bits(ev), threshold=self.threshold)


@dataclass(frozen=True)
class SurprisalQuantile(BaseScorer):
    """A quantile of the text's per-token surprisal without constraints (bits): `q=0.1` is how surprising its most
    predictable tenth still is. Higher is better."""

    q: float = 0.1
    name: str = field(default="surprisal_quantile", init=False)
    higher_is_better: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        if not 0 <= check_finite_number("SurprisalQuantile", "q", self.q) <= 1:
            raise InputValidationError(f"SurprisalQuantile: expected `q` in [0, 1], got {self.q!r}.")
        object.__setattr__(self, "q", float(self.q))

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset()

    def params(self) -> dict[str, Any]:
        return {"q": self.q}

    def units(self) -> str:
        return "bits"

    def compute(self, ev: Evidence) -> float:
        return F.surprisal_quantile(ev.s, q=self.q)
