"""Judgements in [0, 1] and the QUIET gate: `satisfy x (1 + lam x surprise)` with any judgement as `satisfy`.

A gate is a scorer whose values lie in [0, 1] and that says so (`bounds`): a hard threshold (`ConstraintFit`), a
logistic (`SoftGate`), or values from outside the model (`External`, such as a judge's verdicts). `QuietGate`
refuses any `satisfy` that does not declare such bounds, before a model runs.

Examples:
    >>> import numpy as np
    >>> from cqmetric.scorers.information import Surprise
    >>> from cqmetric.types import Evidence, TokenizedText
    >>> tok = TokenizedText("a b", np.array([5, 6]), np.array([[0, 1], [1, 3]]))
    >>> ev = Evidence(tokens=tok, constraints=None, s=np.array([4.0, 2.0]), c=np.array([1.0, 1.0]))
    >>> QuietGate(ConstraintFit(threshold=0.5), Surprise(), lam=1.0).compute(ev)
    4.0
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from cqmetric._validation import check_finite_number
from cqmetric.errors import InputValidationError
from cqmetric.scorers import functional as F
from cqmetric.scorers.base import BaseScorer, Scorer, as_scorer, spec
from cqmetric.scorers.information import CalibratedSurprise, Surprise
from cqmetric.types import Evidence, Need


def check_member(owner: str, field_name: str, value: Any) -> Scorer:
    """`value` as a full scorer (a user's minimal scorer gets the contract's defaults), or a clear error."""
    return as_scorer(value, where=f"{owner} (`{field_name}`)")


def check_gate(owner: str, field_name: str, gate: Any) -> Scorer:
    """`gate` must be a scorer that declares its values lie in [0, 1]."""
    gate = check_member(owner, field_name, gate)
    bounds = gate.bounds
    if bounds is None or not (0.0 <= bounds[0] and bounds[1] <= 1.0):
        raise InputValidationError(
            f"{owner}: expected `{field_name}` to be a judgement in [0, 1] (ConstraintFit, SoftGate, External with "
            f"bounds=(0, 1), or a scorer declaring such bounds), got {spec(gate)} with bounds {bounds}."
        )
    return gate


@dataclass(frozen=True)
class ConstraintFit(BaseScorer):
    """1.0 when a scorer's value exceeds `threshold`, else 0.0: a hard `satisfy` judgement for the QUIET gate."""

    of: Scorer = field(default_factory=CalibratedSurprise)
    threshold: float = 0.0
    name: str = field(default="constraint_fit", init=False)
    higher_is_better: bool = field(default=True, init=False)
    bounds: tuple[float, float] = field(default=(0.0, 1.0), init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "of", check_member("ConstraintFit", "of", self.of))
        check_finite_number("ConstraintFit", "threshold", self.threshold)

    @property
    def needs(self) -> frozenset[Need]:
        return self.of.needs

    def params(self) -> dict[str, Any]:
        return {"of": spec(self.of), "threshold": self.threshold}

    def units(self) -> str:
        return "0/1"

    def with_settings(self, estimator: str, normalization: str, *, where: str = "score") -> ConstraintFit:
        return replace(self, of=self.of.with_settings(estimator, normalization, where=where))

    def check(self, where: str, n_texts: int) -> None:
        self.of.check(where, n_texts)

    def compute(self, ev: Evidence) -> float:
        return float(F.hard_gate(self.of.compute(ev), threshold=self.threshold))


@dataclass(frozen=True)
class SoftGate(BaseScorer):
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
        object.__setattr__(self, "of", check_member("SoftGate", "of", self.of))
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
        return replace(self, of=self.of.with_settings(estimator, normalization, where=where))

    def check(self, where: str, n_texts: int) -> None:
        self.of.check(where, n_texts)

    def compute(self, ev: Evidence) -> float:
        return float(F.soft_gate(self.of.compute(ev), center=self.center, scale=self.scale))


@dataclass(frozen=True)
class External(BaseScorer):
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
class QuietGate(BaseScorer):
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
        object.__setattr__(self, "satisfy", check_gate("QuietGate", "satisfy", self.satisfy))
        object.__setattr__(self, "surprise", check_member("QuietGate", "surprise", self.surprise))
        check_finite_number("QuietGate", "lam", self.lam)

    @property
    def needs(self) -> frozenset[Need]:
        return self.satisfy.needs | self.surprise.needs

    def params(self) -> dict[str, Any]:
        return {"satisfy": spec(self.satisfy), "surprise": spec(self.surprise), "lam": self.lam}

    def units(self) -> str:
        return f"gate x (1 + lam x {self.surprise.units()})"

    def with_settings(self, estimator: str, normalization: str, *, where: str = "score") -> QuietGate:
        return replace(self, satisfy=self.satisfy.with_settings(estimator, normalization, where=where),
                       surprise=self.surprise.with_settings(estimator, normalization, where=where))

    def check(self, where: str, n_texts: int) -> None:
        for member in (self.satisfy, self.surprise):
            member.check(where, n_texts)

    def compute(self, ev: Evidence) -> float:
        gate = self.satisfy.compute(ev)
        if not 0.0 <= gate <= 1.0:
            raise InputValidationError(f"QuietGate: expected `satisfy` in [0, 1], got {gate!r}.")
        return float(F.quiet(gate, self.surprise.compute(ev), lam=self.lam))
