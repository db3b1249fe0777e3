"""Composite scores: a weighted sum of standardised scorers, and `CreativeQuality` (the 0.2 recommendation).

`WeightedSum` adds member scores standardised with fixed reference norms. `CreativeQuality` is
gate(order calibration) x gate(calibrated surprise) x (1 + lam x surprise), with five constants fitted on data
and written into its signature:

- **order gate**: is the text explained by its own order? `OrderCalibration` (bits/token a text costs with its
  sentences in another order) is about 0 for a shuffle or a loop of repeated sentences, and positive for a text
  whose sentences follow from one another.
- **fit gate**: does the text draw information from its constraints? `CalibratedSurprise` above about 0.
- **surprise**: among texts that pass both gates, the more surprising (bits/token without constraints) scores
  higher, as in QUIET's `satisfy x (1 + lam x surprise)`.

Each gate is a logistic of (value - center) / scale. The shipped constants were chosen on the 48 dev prompts of
`benchmarks/validity/split.json` by a grid search (`cqmetric.research.fitting`; its output:
`benchmarks/results/recommendation_fit.json`). They are in bits/token of the pointwise estimator, so the scorer
refuses other settings rather than compare numbers in another unit. Its numbers on held-out data, and its limits:
docs/scorers/creative-quality.md.

Examples:
    >>> import numpy as np
    >>> from cqmetric.types import Evidence, TokenizedText
    >>> tok = TokenizedText("A b. C d.", np.array([5, 6, 7, 8]), np.array([[0, 1], [1, 4], [4, 6], [6, 9]]))
    >>> ev = Evidence(tokens=tok, constraints=None, s=np.array([4.0, 2.0, 3.0, 3.0]),
    ...               c=np.array([3.0, 2.0, 3.0, 2.0]), reordered={"sentence": np.array([5.0, 3.0, 4.0, 3.0])})
    >>> cq = CreativeQuality(order_center=0.1, order_scale=0.05, fit_center=0.0, fit_scale=0.05, lam=1.0)
    >>> {k: round(v, 4) for k, v in cq.components(ev).items()}  # order calibration 0.75, calibrated surprise 0.5
    {'order_gate': 1.0, 'fit_gate': 1.0, 'surprise': 3.0}
    >>> round(cq.compute(ev), 3)  # both gates pass: about 1 + 1.0 x 3.0
    4.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cqmetric._validation import check_finite_number
from cqmetric.errors import InputValidationError
from cqmetric.scorers import functional as F
from cqmetric.scorers.base import BaseScorer, Scorer, spec
from cqmetric.scorers.gates import check_member
from cqmetric.scorers.information import CalibratedSurprise, OrderCalibration, Surprise
from cqmetric.types import Evidence, Need


def exact(value: float) -> str:
    """A constant as a signature writes it: short (`%g`) when that is exact, else every digit it needs (`repr`), so
    the spec builds back the very same scorer.

    Examples:
        >>> exact(0.05), exact(10.0), exact(0.1 + 0.2)
        ('0.05', '10', '0.30000000000000004')
    """
    short = format(value, "g")
    return short if float(short) == value else repr(float(value))


@dataclass(frozen=True)
class WeightedSum(BaseScorer):
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
        members = {}
        for key, member in self.members.items():
            if not (isinstance(member, tuple) and len(member) == 2):
                raise InputValidationError(
                    f"WeightedSum: expected members[{key!r}] to be a (scorer, weight) pair, got {member!r:.80}."
                )
            members[key] = (check_member("WeightedSum", f"members[{key!r}][0]", member[0]),
                            check_finite_number("WeightedSum", f"members[{key!r}][1]", member[1]))
        object.__setattr__(self, "members", members)
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
            f"{k}:{spec(s)}*{exact(w)}[{exact(self.norms[k][0])},{exact(self.norms[k][1])}]"
            for k, (s, w) in sorted(self.members.items())
        )
        return {"members": parts, "norms": self.source}

    def units(self) -> str:
        return "z"

    def with_settings(self, estimator: str, normalization: str, *, where: str = "score") -> WeightedSum:
        bound = {k: (s.with_settings(estimator, normalization, where=where), w) for k, (s, w) in self.members.items()}
        return replace(self, members=bound)

    def check(self, where: str, n_texts: int) -> None:
        for member, _ in self.members.values():
            member.check(where, n_texts)

    def compute(self, ev: Evidence) -> float:
        values = {key: scorer.compute(ev) for key, (scorer, _) in self.members.items()}
        return float(F.weighted_sum(values, {k: w for k, (_, w) in self.members.items()}, self.norms))


# Chosen on the HANNA dev prompts with the embedded model; see benchmarks/results/recommendation_fit.json.
FITTED = {
    "order_center": 0.08,
    "order_scale": 0.04,
    "fit_center": 0.0,
    "fit_scale": 0.05,
    "lam": 10.0,
}
FITTED_ON = "hanna-dev48@split.json;smollm2"


def _positive(owner: str, name: str, value: Any) -> float:
    value = check_finite_number(owner, name, value)
    if not value > 0:
        raise InputValidationError(f"{owner}: expected `{name}` > 0, got {value!r}.")
    return value


@dataclass(frozen=True)
class CreativeQuality(BaseScorer):
    """order gate x fit gate x (1 + lam x surprise): cqmetric's recommended creative-quality score.

    Args:
        order_center: the center of the logistic gate on `OrderCalibration` (bits/token).
        order_scale: its scale (bits/token, > 0).
        fit_center: the center of the logistic gate on `CalibratedSurprise` (bits/token).
        fit_scale: its scale (bits/token, > 0).
        lam: the weight of surprise (bits/token) among texts that pass both gates.
        fitted_on: where the constants come from (goes into the signature).
    """

    order_center: float = FITTED["order_center"]
    order_scale: float = FITTED["order_scale"]
    fit_center: float = FITTED["fit_center"]
    fit_scale: float = FITTED["fit_scale"]
    lam: float = FITTED["lam"]
    fitted_on: str = FITTED_ON
    name: str = field(default="creative_quality", init=False)
    higher_is_better: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        for key in ("order_center", "fit_center"):
            object.__setattr__(self, key, check_finite_number("CreativeQuality", key, getattr(self, key)))
        for key in ("order_scale", "fit_scale"):
            object.__setattr__(self, key, _positive("CreativeQuality", key, getattr(self, key)))
        lam = check_finite_number("CreativeQuality", "lam", self.lam)
        if lam < 0:
            raise InputValidationError(f"CreativeQuality: expected `lam` >= 0, got {lam!r}.")
        object.__setattr__(self, "lam", lam)
        if not isinstance(self.fitted_on, str) or not self.fitted_on:
            raise InputValidationError(f"CreativeQuality: expected `fitted_on` to name a source, got {self.fitted_on!r}.")

    @property
    def parts(self) -> dict[str, Any]:
        """The three quantities it combines, each in bits/token of the pointwise estimator."""
        return {
            "order_calibration": OrderCalibration("pointwise", "token"),
            "calibrated_surprise": CalibratedSurprise("pointwise", "token"),
            "surprise": Surprise("pointwise", "token"),
        }

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset().union(*(p.needs for p in self.parts.values()))

    def params(self) -> dict[str, Any]:
        return {
            "order": f"{exact(self.order_center)}/{exact(self.order_scale)}",
            "fit": f"{exact(self.fit_center)}/{exact(self.fit_scale)}",
            "lam": self.lam,
            "fitted": self.fitted_on,
        }

    def units(self) -> str:
        return "gate x gate x (1 + lam x bits/token)"

    def with_settings(self, estimator: str, normalization: str, *, where: str = "score") -> CreativeQuality:
        if (estimator, normalization) != ("pointwise", "token"):
            raise InputValidationError(
                f"{where}: CreativeQuality's constants are in bits/token of the pointwise estimator; score it in a "
                f"call with estimator='pointwise' and normalization='token', got {estimator!r} and {normalization!r}."
            )
        return replace(self)

    def components(self, ev: Evidence) -> dict[str, float]:
        """Each factor's value for one text: order gate, fit gate and surprise (for failure analysis)."""
        values = {key: part.compute(ev) for key, part in self.parts.items()}
        return {"order_gate": float(F.soft_gate(values["order_calibration"], center=self.order_center,
                                                scale=self.order_scale)),
                "fit_gate": float(F.soft_gate(values["calibrated_surprise"], center=self.fit_center,
                                              scale=self.fit_scale)),
                "surprise": values["surprise"]}

    def compute(self, ev: Evidence) -> float:
        return float(F.creative_quality(self.parts["order_calibration"].compute(ev),
                                        self.parts["calibrated_surprise"].compute(ev),
                                        self.parts["surprise"].compute(ev), **self.constants))

    @property
    def constants(self) -> dict[str, float]:
        """The five constants, as `functional.creative_quality` takes them."""
        return {k: getattr(self, k) for k in FITTED}
