"""Composable scorers: small named functions of the model evidence, and ways to combine them.

A scorer reads an `Evidence` (per-token bits gathered once for all scorers) and returns one number per text.
It declares the evidence it needs, so a suite can ask the model once per distinct context. Every setting that
changes a number is in `params()`, which goes into the signature.

The information scorers (calibrated surprise, surprise, residual) leave `estimator` and `normalization` unset by
default and inherit the call's (`score(..., normalization="byte")`); a scorer given a setting that differs from the
call's is refused before the model runs, so one result never mixes units. Composite scorers pass the call's
settings down to their members.

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

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
    """A named function of the evidence about one text.

    Optional members that cqmetric reads when present: `units()` (what the number is measured in, for tables),
    `bounds` ((low, high) the value always lies in, e.g. (0, 1) for a gate), `with_settings(estimator,
    normalization)` (a copy that inherits the call's settings) and `check(where, n_texts)` (raise before the model
    runs when the scorer cannot work on this call).
    """

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


def unit_of(scorer: Scorer) -> str:
    """What a scorer's numbers are measured in ("?" for a scorer that does not say)."""
    units = getattr(scorer, "units", None)
    return units() if callable(units) else (units or "?")


def bind(scorer: Scorer, *, estimator: str, normalization: str, where: str = "score") -> Scorer:
    """The scorer with the call's estimator and normalization where it leaves them unset (members included).

    A setting the scorer fixes itself must match the call's; otherwise the result would mix units, and it is
    refused.
    """
    with_settings = getattr(scorer, "with_settings", None)
    return with_settings(estimator, normalization, where=where) if callable(with_settings) else scorer


def check_scorer(scorer: Scorer, *, where: str, n_texts: int) -> None:
    """Run the scorer's own check (if any) before the model runs."""
    check = getattr(scorer, "check", None)
    if callable(check):
        check(where, n_texts)


def _denominator(ev: Evidence, normalization: str) -> float:
    return {"token": ev.n_tokens, "sum": 1, "byte": ev.n_bytes, "word": max(ev.n_words, 1)}[normalization]


_UNIT = {"token": "bits/token", "sum": "bits", "byte": "bits/byte", "word": "bits/word"}


@dataclass(frozen=True)
class _InformationScorer:
    """Shared settings of the three text-level scores; None inherits the call's setting."""

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

    def params(self) -> dict[str, Any]:
        return {"estimator": self._estimator, "normalization": self._normalization}

    def units(self) -> str:
        return _UNIT[self._normalization]

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

    def _reduce(self, ev: Evidence, bits: np.ndarray) -> float:
        return reduce_bits(bits, normalization=self._normalization, n_bytes=ev.n_bytes, n_words=max(ev.n_words, 1))

    def pooled(self, ev: Evidence) -> tuple[float, float]:
        """(numerator, denominator) whose corpus sums give the token/byte/word-weighted corpus score."""
        den = _denominator(ev, self._normalization)
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
        return self._reduce(ev, pointwise_information(self._unconstrained(ev), self._constrained(ev)))


@dataclass(frozen=True)
class Surprise(_InformationScorer):
    """H(X): mean surprisal of the text without constraints (bits/token)."""

    name: str = field(default="surprise", init=False)
    higher_is_better: bool = field(default=True, init=False)

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset(self._needs_entropy)

    def compute(self, ev: Evidence) -> float:
        return self._reduce(ev, self._unconstrained(ev))


@dataclass(frozen=True)
class Residual(_InformationScorer):
    """H(X|Y): mean surprisal left once the constraints act (bits/token; lower is better calibrated)."""

    name: str = field(default="residual", init=False)
    higher_is_better: bool = field(default=False, init=False)

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset({CONSTRAINED} | self._needs_entropy)

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

    def units(self) -> str:
        return "bits/token"

    def per_unit(self, ev: Evidence) -> np.ndarray:
        """I(X_j; X_<j) in bits for each unit."""
        _, index, alone = ev.units[self.unit]
        return context_calibration_bits(alone, ev.s, index)

    def compute(self, ev: Evidence) -> float:
        return float(self.per_unit(ev).sum() / ev.n_tokens)


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
        other = ev.reordered[self.unit]
        return 0.0 if other is None else self._reduce(ev, other) - self._reduce(ev, ev.s)


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

    def units(self) -> str:
        return "bits/token"

    def compute(self, ev: Evidence) -> float:
        return dimension_analysis(ev, by=self.by).interaction


def dimension_analysis(ev: Evidence, *, by: str = "source") -> DimensionAnalysis:
    """Per-dimension, joint, interaction and Shapley values (bits/token) from gathered subset evidence."""
    info = {s: float(np.mean(ev.s - bits)) for s, bits in ev.subsets[by].items() if s}
    return analyze_dimensions(ev.constraints.groups(by), info)


@dataclass(frozen=True)
class Length:
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


def _check_member(owner: str, field_name: str, value: Any) -> None:
    if not isinstance(value, Scorer):
        raise InputValidationError(
            f"{owner}: expected `{field_name}` to be a scorer (name, needs, compute(), params()), got {value!r:.80}."
        )


def _check_gate(owner: str, field_name: str, gate: Any) -> None:
    """`gate` must be a scorer that declares its values lie in [0, 1]."""
    _check_member(owner, field_name, gate)
    bounds = getattr(gate, "bounds", None)
    if bounds is None or not (0.0 <= bounds[0] and bounds[1] <= 1.0):
        raise InputValidationError(
            f"{owner}: expected `{field_name}` to be a judgement in [0, 1] (ConstraintFit, SoftGate, External with "
            f"bounds=(0, 1), or a scorer declaring such bounds), got {spec(gate)} with bounds {bounds}."
        )


@dataclass(frozen=True)
class ConstraintFit:
    """1.0 when a scorer's value exceeds `threshold`, else 0.0: a hard `satisfy` judgement for the QUIET gate."""

    of: Scorer = field(default_factory=CalibratedSurprise)
    threshold: float = 0.0
    name: str = field(default="constraint_fit", init=False)
    higher_is_better: bool = field(default=True, init=False)
    bounds: tuple[float, float] = field(default=(0.0, 1.0), init=False)

    def __post_init__(self) -> None:
        _check_member("ConstraintFit", "of", self.of)
        check_finite_number("ConstraintFit", "threshold", self.threshold)

    @property
    def needs(self) -> frozenset[Need]:
        return self.of.needs

    def params(self) -> dict[str, Any]:
        return {"of": spec(self.of), "threshold": self.threshold}

    def units(self) -> str:
        return "0/1"

    def with_settings(self, estimator: str, normalization: str, *, where: str = "score") -> ConstraintFit:
        return replace(self, of=bind(self.of, estimator=estimator, normalization=normalization, where=where))

    def check(self, where: str, n_texts: int) -> None:
        check_scorer(self.of, where=where, n_texts=n_texts)

    def compute(self, ev: Evidence) -> float:
        return 1.0 if self.of.compute(ev) > self.threshold else 0.0


@dataclass(frozen=True)
class SoftGate:
    """A graded `satisfy` judgement in (0, 1): the logistic of (value - center) / scale of a member scorer.

    Unlike `ConstraintFit`, a text just below the threshold is not scored as if it ignored its constraints.
    """

    of: Scorer = field(default_factory=CalibratedSurprise)
    center: float = 0.0
    scale: float = 0.05
    name: str = field(default="soft_gate", init=False)
    higher_is_better: bool = field(default=True, init=False)
    bounds: tuple[float, float] = field(default=(0.0, 1.0), init=False)

    def __post_init__(self) -> None:
        _check_member("SoftGate", "of", self.of)
        check_finite_number("SoftGate", "center", self.center)
        if not check_finite_number("SoftGate", "scale", self.scale) > 0:
            raise InputValidationError(f"SoftGate: expected `scale` > 0, got {self.scale!r}.")

    @property
    def needs(self) -> frozenset[Need]:
        return self.of.needs

    def params(self) -> dict[str, Any]:
        return {"of": spec(self.of), "center": self.center, "scale": self.scale}

    def units(self) -> str:
        return "(0,1)"

    def with_settings(self, estimator: str, normalization: str, *, where: str = "score") -> SoftGate:
        return replace(self, of=bind(self.of, estimator=estimator, normalization=normalization, where=where))

    def check(self, where: str, n_texts: int) -> None:
        check_scorer(self.of, where=where, n_texts=n_texts)

    def compute(self, ev: Evidence) -> float:
        z = (self.of.compute(ev) - self.center) / self.scale
        return float(0.5 * (1.0 + np.tanh(0.5 * z)))  # the logistic function, without overflow


@dataclass(frozen=True)
class External:
    """Per-text values from outside the model (a judge's verdicts, human labels), in the order of the texts.

    Args:
        values: one finite number per text of the call it is used in.
        label: the scorer's name in results.
        source: where the values come from (goes into the signature, with a hash of the values).
        bounds: (low, high) every value lies in, e.g. (0, 1) for a verdict used as a gate; None: unbounded.
    """

    values: tuple[float, ...]
    label: str = "external"
    source: str = "unspecified"
    bounds: tuple[float, float] | None = None
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.values, (str, bytes)) or not hasattr(self.values, "__len__"):
            raise InputValidationError(f"External: expected `values` to be a list of numbers, got {self.values!r:.60}.")
        values = tuple(check_finite_number("External", f"values[{i}]", v) for i, v in enumerate(self.values))
        object.__setattr__(self, "values", values)
        if self.bounds is not None:
            if isinstance(self.bounds, (str, bytes)) or not hasattr(self.bounds, "__len__") or len(self.bounds) != 2:
                raise InputValidationError(
                    f"External: expected `bounds` to be a (low, high) pair or None, got {self.bounds!r:.60}.")
            low, high = (check_finite_number("External", "bounds", b) for b in self.bounds)
            if not low <= high:
                raise InputValidationError(f"External: expected `bounds` (low, high) with low <= high, got {self.bounds!r}.")
            outside = [i for i, v in enumerate(values) if not low <= v <= high]
            if outside:
                raise InputValidationError(
                    f"External: expected every value in [{low:g}, {high:g}], got {values[outside[0]]!r} at index "
                    f"{outside[0]} ({len(outside)} outside)."
                )
            object.__setattr__(self, "bounds", (low, high))

    @property
    def name(self) -> str:
        return self.label

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset()

    def params(self) -> dict[str, Any]:
        digest = hashlib.sha256(json.dumps(self.values).encode()).hexdigest()[:8]
        return {"source": self.source, "n": len(self.values), "sha": digest}

    def units(self) -> str:
        return "given"

    def check(self, where: str, n_texts: int) -> None:
        if len(self.values) != n_texts:
            raise InputValidationError(
                f"{where}: External({self.label!r}) holds {len(self.values)} values, but {n_texts} texts are scored; "
                "expected one value per text, in the same order."
            )

    def compute(self, ev: Evidence) -> float:
        return self.values[ev.index]


@dataclass(frozen=True)
class QuietGate:
    """QUIET's per-item score: satisfy x (1 + lam x surprise), with `satisfy` a judgement in [0, 1].

    `satisfy` must declare bounds within [0, 1] (`ConstraintFit`, `SoftGate`, `External(..., bounds=(0, 1))`);
    anything else is refused when the gate is built, before any model runs.
    """

    satisfy: Scorer
    surprise: Scorer = field(default_factory=Surprise)
    lam: float = 1.0
    name: str = field(default="quiet", init=False)
    higher_is_better: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        _check_gate("QuietGate", "satisfy", self.satisfy)
        _check_member("QuietGate", "surprise", self.surprise)
        check_finite_number("QuietGate", "lam", self.lam)

    @property
    def needs(self) -> frozenset[Need]:
        return self.satisfy.needs | self.surprise.needs

    def params(self) -> dict[str, Any]:
        return {"satisfy": spec(self.satisfy), "surprise": spec(self.surprise), "lam": self.lam}

    def units(self) -> str:
        return f"gate x (1 + lam x {unit_of(self.surprise)})"

    def with_settings(self, estimator: str, normalization: str, *, where: str = "score") -> QuietGate:
        settings = {"estimator": estimator, "normalization": normalization, "where": where}
        return replace(self, satisfy=bind(self.satisfy, **settings), surprise=bind(self.surprise, **settings))

    def check(self, where: str, n_texts: int) -> None:
        for member in (self.satisfy, self.surprise):
            check_scorer(member, where=where, n_texts=n_texts)

    def compute(self, ev: Evidence) -> float:
        gate = self.satisfy.compute(ev)
        if not 0.0 <= gate <= 1.0:
            raise InputValidationError(f"QuietGate: expected `satisfy` in [0, 1], got {gate!r}.")
        return gate * (1.0 + self.lam * self.surprise.compute(ev))


@dataclass(frozen=True)
class WeightedSum:
    """sum_k w_k (x_k - mean_k) / std_k over member scorers, with fixed reference norms.

    The norms are fixed numbers (from a reference corpus, see `fit_norms`), never the current batch, so a
    text's score does not depend on what it is scored with. Fit them under the settings you score with: the
    members inherit the call's estimator and normalization like any scorer.

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
        if not isinstance(self.members, Mapping) or not self.members:
            raise InputValidationError(
                f"WeightedSum: expected `members` to be a non-empty dict name -> (scorer, weight), got {self.members!r:.80}."
            )
        for key, member in self.members.items():
            if not (isinstance(member, tuple) and len(member) == 2):
                raise InputValidationError(
                    f"WeightedSum: expected members[{key!r}] to be a (scorer, weight) pair, got {member!r:.80}."
                )
            _check_member("WeightedSum", f"members[{key!r}][0]", member[0])
            check_finite_number("WeightedSum", f"members[{key!r}][1]", member[1])
        if not isinstance(self.norms, Mapping):
            raise InputValidationError(
                f"WeightedSum: expected `norms` to be a dict name -> (mean, std), got {self.norms!r:.80}.")
        missing = sorted(set(self.members) - set(self.norms))
        if missing:
            raise InputValidationError(
                f"WeightedSum: expected reference norms for every member, got none for {missing}; "
                "compute them with cqmetric.fit_norms(result) on a reference corpus."
            )
        checked = {}
        for key, norm in self.norms.items():
            if isinstance(norm, (str, bytes)) or not hasattr(norm, "__len__") or len(norm) != 2:
                raise InputValidationError(
                    f"WeightedSum: expected norms[{key!r}] to be a (mean, std) pair, got {norm!r:.60}.")
            mean = check_finite_number("WeightedSum", f"norms[{key!r}] mean", norm[0])
            std = check_finite_number("WeightedSum", f"norms[{key!r}] std", norm[1])
            if not std > 0:
                raise InputValidationError(f"WeightedSum: expected a positive std for {key!r}, got {std!r}.")
            checked[key] = (mean, std)
        object.__setattr__(self, "norms", checked)

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset().union(*(s.needs for s, _ in self.members.values()))

    def params(self) -> dict[str, Any]:
        parts = ";".join(
            f"{k}:{spec(s)}*{w:g}[{self.norms[k][0]:.4g},{self.norms[k][1]:.4g}]"
            for k, (s, w) in sorted(self.members.items())
        )
        return {"members": parts, "norms": self.source}

    def units(self) -> str:
        return "z"

    def with_settings(self, estimator: str, normalization: str, *, where: str = "score") -> WeightedSum:
        bound = {k: (bind(s, estimator=estimator, normalization=normalization, where=where), w)
                 for k, (s, w) in self.members.items()}
        return replace(self, members=bound)

    def check(self, where: str, n_texts: int) -> None:
        for member, _ in self.members.values():
            check_scorer(member, where=where, n_texts=n_texts)

    def compute(self, ev: Evidence) -> float:
        total = 0.0
        for key, (scorer, weight) in self.members.items():
            mean, std = self.norms[key]
            total += weight * (scorer.compute(ev) - mean) / std
        return total


DEFAULT_NAMES = ("calibrated_surprise", "surprise", "residual")


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
        if isinstance(scorer, type):
            raise InputValidationError(
                f"{where}: expected scorer objects, got the class {scorer.__name__}; pass {scorer.__name__}() "
                "(with parentheses).")
        if not isinstance(scorer, Scorer):
            raise InputValidationError(
                f"{where}: expected each scorer to have name, needs, compute() and params(), got {scorer!r:.80}."
            )
        if not isinstance(key, str) or not key or key in ("n_tokens", "signature"):
            raise InputValidationError(
                f"{where}: expected each scorer's name to be a non-empty string other than n_tokens and signature "
                f"(the records hold those), got {key!r}."
            )
        if key in out:
            raise InputValidationError(
                f"{where}: two scorers are named {key!r}; pass a dict to give them distinct names."
            )
        out[key] = scorer
    return out


def resolve_scorers(
    where: str,
    scorers: Any,
    *,
    constrained: bool,
    estimator: str,
    normalization: str,
    defaults: bool = True,
    n_texts: int | None = None,
) -> dict[str, Scorer]:
    """The scorers a call computes: the defaults (unless `defaults=False`) and the given ones, bound and checked.

    This one function decides what `score()` computes and what its signature lists, so the two cannot differ.
    Given scorers inherit the call's estimator and normalization (a differing explicit one is refused); a given
    scorer may not silently replace a default of the same name: equal ones merge, different ones need
    `defaults=False` or another name. Everything is checked before any model runs.
    """
    members = default_scorers(constrained=constrained, estimator=estimator, normalization=normalization) if defaults else {}
    if scorers is not None:
        for key, scorer in check_scorers(where, scorers).items():
            scorer = bind(scorer, estimator=estimator, normalization=normalization, where=where)
            if key in members:
                if spec(members[key]) == spec(scorer):
                    continue  # the same computation as the default of that name
                raise InputValidationError(
                    f"{where}: {spec(scorer)} would replace the default score {key!r}; pass defaults=False to "
                    f"compute only your scorers, or give it another name with a dict {{'my_{key}': scorer}}."
                )
            members[key] = scorer
    if not members:
        raise InputValidationError(f"{where}: nothing to compute: defaults=False and no `scorers` given.")
    for key, scorer in members.items():
        if not constrained and any(n.kind in ("constrained", "dimensions") for n in scorer.needs):
            raise InputValidationError(
                f"{where}: the scorer {key!r} needs constraints (a prompt or constraint set per text), got "
                "constraints=None."
            )
        if n_texts is not None:
            check_scorer(scorer, where=where, n_texts=n_texts)
    return members
