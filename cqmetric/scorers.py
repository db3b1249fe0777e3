"""Composable scorers: small named functions of the model evidence, and ways to combine them.

A scorer reads an `Evidence` (per-token bits gathered once for all scorers) and returns one number per text.
It declares the evidence it needs, so a suite can ask the model once per distinct context. Every setting that
changes a number is in `params()`, which goes into the signature.

Examples:
    >>> import numpy as np
    >>> from cqmetric.evidence import Evidence
    >>> from cqmetric.types import TokenizedText
    >>> tok = TokenizedText("a b", np.array([5, 6]), np.array([[0, 1], [1, 3]]))
    >>> ev = Evidence(tokens=tok, constraints=None, s=np.array([4.0, 2.0]), c=np.array([1.0, 1.0]))
    >>> CalibratedSurprise().compute(ev), Surprise().compute(ev), Residual().compute(ev)
    (2.0, 3.0, 1.0)
    >>> QuietGate(ConstraintFit(threshold=0.5), Surprise(), lam=1.0).compute(ev)
    4.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from cqmetric._validation import check_finite_number, check_option
from cqmetric.errors import InputValidationError
from cqmetric.evidence import CONSTRAINED, ENTROPY, Evidence, Need
from cqmetric.information import (
    NORMALIZATIONS,
    DimensionAnalysis,
    analyze_dimensions,
    context_calibration_bits,
    pointwise_information,
    reduce_bits,
)

ESTIMATORS = ("pointwise", "expected")


@runtime_checkable
class Scorer(Protocol):
    """A named function of the evidence about one text."""

    name: str
    higher_is_better: bool

    @property
    def needs(self) -> frozenset[Need]: ...

    def compute(self, ev: Evidence) -> float: ...

    def params(self) -> dict[str, Any]: ...


def spec(scorer: Scorer) -> str:
    """`name(k=v,...)`: the scorer and its settings, as they appear in a signature."""
    inner = ",".join(f"{k}={v}" for k, v in scorer.params().items())
    return f"{scorer.name}({inner})"


def _denominator(ev: Evidence, normalization: str) -> float:
    return {"token": ev.n_tokens, "sum": 1, "byte": ev.n_bytes, "word": max(ev.n_words, 1)}[normalization]


@dataclass(frozen=True)
class _InformationScorer:
    """Shared settings of the three text-level scores."""

    estimator: str = "pointwise"
    normalization: str = "token"

    def __post_init__(self) -> None:
        check_option(type(self).__name__, "estimator", self.estimator, ESTIMATORS)
        check_option(type(self).__name__, "normalization", self.normalization, NORMALIZATIONS)

    def params(self) -> dict[str, Any]:
        return {"estimator": self.estimator, "normalization": self.normalization}

    def _unconstrained(self, ev: Evidence) -> np.ndarray:
        return ev.s if self.estimator == "pointwise" else ev.h0

    def _constrained(self, ev: Evidence) -> np.ndarray:
        return ev.c if self.estimator == "pointwise" else ev.hy

    def _reduce(self, ev: Evidence, bits: np.ndarray) -> float:
        return reduce_bits(bits, normalization=self.normalization, n_bytes=ev.n_bytes, n_words=max(ev.n_words, 1))

    def pooled(self, ev: Evidence) -> tuple[float, float]:
        """(numerator, denominator) whose corpus sums give the token/byte/word-weighted corpus score."""
        return self.compute(ev) * _denominator(ev, self.normalization), _denominator(ev, self.normalization)


@dataclass(frozen=True)
class CalibratedSurprise(_InformationScorer):
    """I(X;Y) = H(X) - H(X|Y): mean pointwise information of the tokens with the constraints (bits/token).

    With `estimator="expected"`, the difference of the model's prediction entropies instead.
    """

    name: str = field(default="calibrated_surprise", init=False)
    higher_is_better: bool = field(default=True, init=False)

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset({CONSTRAINED} | ({ENTROPY} if self.estimator == "expected" else set()))

    def compute(self, ev: Evidence) -> float:
        return self._reduce(ev, pointwise_information(self._unconstrained(ev), self._constrained(ev)))


@dataclass(frozen=True)
class Surprise(_InformationScorer):
    """H(X): mean surprisal of the text without constraints (bits/token)."""

    name: str = field(default="surprise", init=False)
    higher_is_better: bool = field(default=True, init=False)

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset({ENTROPY}) if self.estimator == "expected" else frozenset()

    def compute(self, ev: Evidence) -> float:
        return self._reduce(ev, self._unconstrained(ev))


@dataclass(frozen=True)
class Residual(_InformationScorer):
    """H(X|Y): mean surprisal left once the constraints act (bits/token; lower is better calibrated)."""

    name: str = field(default="residual", init=False)
    higher_is_better: bool = field(default=False, init=False)

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset({CONSTRAINED} | ({ENTROPY} if self.estimator == "expected" else set()))

    def compute(self, ev: Evidence) -> float:
        return self._reduce(ev, self._constrained(ev))


@dataclass(frozen=True)
class ContextCalibration:
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

    def per_unit(self, ev: Evidence) -> np.ndarray:
        """I(X_j; X_<j) in bits for each unit."""
        _, index, alone = ev.units[self.unit]
        return context_calibration_bits(alone, ev.s, index)

    def compute(self, ev: Evidence) -> float:
        return float(self.per_unit(ev).sum() / ev.n_tokens)


@dataclass(frozen=True)
class Interaction:
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

    def compute(self, ev: Evidence) -> float:
        return dimension_analysis(ev, by=self.by).interaction


def dimension_analysis(ev: Evidence, *, by: str = "source") -> DimensionAnalysis:
    """Per-dimension, joint, interaction and Shapley values (bits/token) from gathered subset evidence."""
    info = {s: float(np.mean(ev.s - bits)) for s, bits in ev.subsets[by].items() if s}
    return analyze_dimensions(ev.constraints.groups(by), info)


@dataclass(frozen=True)
class Length:
    """Text length in tokens or whitespace words: the trivial baseline every validity claim must beat."""

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

    def compute(self, ev: Evidence) -> float:
        return float({"token": ev.n_tokens, "word": ev.n_words, "byte": ev.n_bytes}[self.unit])


@dataclass(frozen=True)
class ConstraintFit:
    """1.0 when a scorer's value exceeds `threshold`, else 0.0: a `satisfy` judgement for the QUIET gate."""

    of: Scorer = field(default_factory=CalibratedSurprise)
    threshold: float = 0.0
    name: str = field(default="constraint_fit", init=False)
    higher_is_better: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        check_finite_number("ConstraintFit", "threshold", self.threshold)

    @property
    def needs(self) -> frozenset[Need]:
        return self.of.needs

    def params(self) -> dict[str, Any]:
        return {"of": spec(self.of), "threshold": self.threshold}

    def compute(self, ev: Evidence) -> float:
        return 1.0 if self.of.compute(ev) > self.threshold else 0.0


@dataclass(frozen=True)
class QuietGate:
    """QUIET's per-item score: satisfy x (1 + lam x surprise), with `satisfy` in [0, 1]."""

    satisfy: Scorer
    surprise: Scorer = field(default_factory=Surprise)
    lam: float = 1.0
    name: str = field(default="quiet", init=False)
    higher_is_better: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        check_finite_number("QuietGate", "lam", self.lam)

    @property
    def needs(self) -> frozenset[Need]:
        return self.satisfy.needs | self.surprise.needs

    def params(self) -> dict[str, Any]:
        return {"satisfy": spec(self.satisfy), "surprise": spec(self.surprise), "lam": self.lam}

    def compute(self, ev: Evidence) -> float:
        gate = self.satisfy.compute(ev)
        if not 0.0 <= gate <= 1.0:
            raise InputValidationError(f"QuietGate: expected `satisfy` in [0, 1], got {gate!r}.")
        return gate * (1.0 + self.lam * self.surprise.compute(ev))


@dataclass(frozen=True)
class WeightedSum:
    """sum_k w_k (x_k - mean_k) / std_k over member scorers, with fixed reference norms.

    The norms are fixed numbers (from a reference corpus, see `fit_norms`), never the current batch, so a
    text's score does not depend on what it is scored with.

    Args:
        members: name -> (scorer, weight).
        norms: name -> (reference mean, reference standard deviation).
        source: where the norms come from (goes into the signature).
    """

    members: Mapping[str, tuple[Scorer, float]]
    norms: Mapping[str, tuple[float, float]]
    source: str = "unspecified"
    name: str = field(default="weighted", init=False)
    higher_is_better: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        missing = sorted(set(self.members) - set(self.norms))
        if missing:
            raise InputValidationError(
                f"WeightedSum: expected reference norms for every member, got none for {missing}; "
                "compute them with cqmetric.fit_norms(result) on a reference corpus."
            )
        for key, (_, std) in self.norms.items():
            if not std > 0:
                raise InputValidationError(f"WeightedSum: expected a positive std for {key!r}, got {std!r}.")

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset().union(*(s.needs for s, _ in self.members.values()))

    def params(self) -> dict[str, Any]:
        parts = ";".join(
            f"{k}:{spec(s)}*{w:g}[{self.norms[k][0]:.4g},{self.norms[k][1]:.4g}]"
            for k, (s, w) in sorted(self.members.items())
        )
        return {"members": parts, "norms": self.source}

    def compute(self, ev: Evidence) -> float:
        total = 0.0
        for key, (scorer, weight) in self.members.items():
            mean, std = self.norms[key]
            total += weight * (scorer.compute(ev) - mean) / std
        return total


DEFAULT_SCORERS: tuple[Scorer, ...] = (CalibratedSurprise(), Surprise(), Residual())


def default_scorers(*, constrained: bool, estimator: str = "pointwise", normalization: str = "token") -> dict[str, Scorer]:
    """The three reported scores (only surprise without constraints)."""
    members: list[Scorer] = [Surprise(estimator, normalization)]
    if constrained:
        members = [CalibratedSurprise(estimator, normalization), members[0], Residual(estimator, normalization)]
    return {s.name: s for s in members}


def check_scorers(where: str, scorers: Any) -> dict[str, Scorer]:
    """Accept a mapping name -> scorer or a list of scorers (keyed by their names); names must not collide."""
    if isinstance(scorers, Mapping):
        items = list(scorers.items())
    elif isinstance(scorers, (list, tuple)):
        items = [(getattr(s, "name", None), s) for s in scorers]
    else:
        raise InputValidationError(
            f"{where}: expected `scorers` to be a list of scorers or a dict name -> scorer, got {type(scorers).__name__}."
        )
    out: dict[str, Scorer] = {}
    for key, scorer in items:
        if not isinstance(scorer, Scorer):
            raise InputValidationError(
                f"{where}: expected each scorer to have name, needs, compute() and params(), got {scorer!r:.80}."
            )
        if key in out:
            raise InputValidationError(
                f"{where}: two scorers are named {key!r}; pass a dict to give them distinct names."
            )
        out[str(key)] = scorer
    return out
