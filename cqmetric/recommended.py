"""The recommended creative-quality score: two soft gates and a surprise term, with constants fitted on HANNA dev.

    creative_quality = gate(order calibration) x gate(calibrated surprise) x (1 + lam x surprise)

- **order gate**: is the text explained by its own order? `OrderCalibration` (bits/token a text costs with its
  sentences in another order) is about 0 for a shuffle or a loop of repeated sentences, and positive for a text
  whose sentences follow from one another.
- **fit gate**: does the text draw information from its constraints? `CalibratedSurprise` above about 0.
- **surprise**: among texts that pass both gates, the more surprising (bits/token without constraints) scores
  higher, as in QUIET's `satisfy x (1 + lam x surprise)`.

Each gate is a logistic of (value - center) / scale. The five constants were chosen on the 48 dev prompts of
`benchmarks/validity/split.json` by `benchmarks/validity/fit_recommendation.py` (its output:
`benchmarks/results/recommendation_fit.json`) and are written into the signature. They are in bits/token of the
pointwise estimator, so the scorer refuses other settings rather than compare numbers in another unit. Numbers on
the held-out test prompts, and its limits: docs/metrics/creative-quality.md.

Examples:
    >>> import numpy as np
    >>> from cqmetric.evidence import Evidence
    >>> from cqmetric.types import TokenizedText
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

from dataclasses import dataclass, field, replace
from typing import Any

from cqmetric._validation import check_finite_number
from cqmetric.errors import InputValidationError
from cqmetric.evidence import Evidence, Need
from cqmetric.scorers import CalibratedSurprise, OrderCalibration, SoftGate, Surprise

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
class CreativeQuality:
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
        """The member scorers: the two gates and the surprise term, each in bits/token (pointwise)."""
        return {
            "order_gate": SoftGate(OrderCalibration("pointwise", "token"), self.order_center, self.order_scale),
            "fit_gate": SoftGate(CalibratedSurprise("pointwise", "token"), self.fit_center, self.fit_scale),
            "surprise": Surprise("pointwise", "token"),
        }

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset().union(*(p.needs for p in self.parts.values()))

    def params(self) -> dict[str, Any]:
        return {
            "order": f"{self.order_center:g}/{self.order_scale:g}",
            "fit": f"{self.fit_center:g}/{self.fit_scale:g}",
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
        """Each part's value for one text: order gate, fit gate and surprise (for failure analysis)."""
        return {key: part.compute(ev) for key, part in self.parts.items()}

    def compute(self, ev: Evidence) -> float:
        parts = self.components(ev)
        return parts["order_gate"] * parts["fit_gate"] * (1.0 + self.lam * parts["surprise"])
