"""Scorers in portable units: constants that mean the same on any model (see `cqmetric.reference`).

`Freshness` is cqmetric's recommended creative-quality score since 0.3: the text's surprisal under its
constraints (the residual H(X|Y), bits/token) and the share of tokens the model finds near certain without them
(`EasyTokens`), each put in the scoring model's own units on the bundled reference set (how far a word shuffle
moves the reference stories), combined with two weights fitted once, on the writers' preferences of LAMP's dev
items with two models at a time:

    freshness = w_r x (residual - loc_r) / |unit_r| + w_e x (easy share - loc_e) / |unit_e|

with w_r > 0 (a text the prompt does not make predictable is better) and w_e < 0 (fewer near-certain tokens is
better). Professional writers' edits of AI paragraphs remove stock phrasing; these two track it. The weights and where they were fitted are in its signature; its numbers on held-out data, beside
text length, surprise alone and the writers' own agreement, are in docs/scorers/freshness.md.

Examples:
    >>> import numpy as np
    >>> from cqmetric.reference import ReferenceEvidence
    >>> from cqmetric.types import Evidence, TokenizedText
    >>> def ev(bits):  # the same bits with and without constraints, for the example
    ...     n = len(bits)
    ...     tok = TokenizedText("x" * n, np.arange(n), np.array([[i, i + 1] for i in range(n)]))
    ...     return Evidence(tokens=tok, constraints=None, s=np.array(bits, dtype=float), c=np.array(bits, dtype=float))
    >>> reference = ReferenceEvidence([ev([1.6, 0.4]), ev([3.6, 0.4])], [ev([4.0, 4.0]), ev([5.0, 5.0])])
    >>> text = ev([5.0, 1.0])
    >>> text.reference = reference
    >>> f = Freshness(residual_weight=1.0, easy_weight=-1.0)
    >>> {k: round(v, 9) for k, v in f.components(text).items()}  # 3 bits: 1.5 above the reference (1.5 bits), whose
    ... # shuffles add 3; no easy token: 0.5 below the reference's share (0.5), which shuffles take to 0
    {'residual': 0.5, 'easy_tokens': -1.0}
    >>> round(f.compute(text), 9)
    1.5
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cqmetric._validation import check_finite_number
from cqmetric.errors import BackendError, InputValidationError
from cqmetric.reference import REFERENCE_NAME
from cqmetric.scorers import functional as F
from cqmetric.scorers.base import BaseScorer
from cqmetric.scorers.composite import exact
from cqmetric.types import CONSTRAINED, REFERENCE, Evidence, Need

__all__ = ["Freshness", "FRESHNESS_FITTED", "FRESHNESS_FITTED_ON"]

#: Fitted on LAMP dev (100 items, the writers' rankings) with SmolLM2-135M and Gemma 3 270M at once, in reference
#: units (benchmarks/results/validity3_dev.json; rounded to 3 decimals); the weights have unit length.
FRESHNESS_FITTED = {"residual_weight": 0.738, "easy_weight": -0.674, "threshold": 0.5}
FRESHNESS_FITTED_ON = "lamp-dev100;smollm2+gemma3-270m"


@dataclass(frozen=True)
class Freshness(BaseScorer):
    """Surprisal under the constraints and few near-certain tokens, in portable units: cqmetric's recommended score
    (see the module).

    Args:
        residual_weight: weight of the residual H(X|Y) in reference units (less predictable given the prompt:
            better).
        easy_weight: weight of the share of near-certain tokens in reference units (negative: fewer is better).
        threshold: bits below which a token counts as near certain.
        fitted_on: where the constants come from (goes into the signature).
    """

    residual_weight: float = FRESHNESS_FITTED["residual_weight"]
    easy_weight: float = FRESHNESS_FITTED["easy_weight"]
    threshold: float = FRESHNESS_FITTED["threshold"]
    fitted_on: str = FRESHNESS_FITTED_ON
    name: str = field(default="freshness", init=False)
    higher_is_better: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        for key in ("residual_weight", "easy_weight", "threshold"):
            object.__setattr__(self, key, check_finite_number("Freshness", key, getattr(self, key)))
        if not self.threshold > 0:
            raise InputValidationError(f"Freshness: expected `threshold` > 0 bits, got {self.threshold!r}.")
        if not isinstance(self.fitted_on, str) or not self.fitted_on:
            raise InputValidationError(f"Freshness: expected `fitted_on` to name a source, got {self.fitted_on!r}.")

    @property
    def needs(self) -> frozenset[Need]:
        return frozenset({REFERENCE, CONSTRAINED})

    def params(self) -> dict[str, Any]:
        return {"residual": exact(self.residual_weight), "easy": exact(self.easy_weight),
                "threshold": exact(self.threshold), "units": REFERENCE_NAME, "fitted": self.fitted_on}

    def units(self) -> str:
        return "reference units"

    def with_settings(self, estimator: str, normalization: str, *, where: str = "score") -> Freshness:
        if estimator != "pointwise":
            raise InputValidationError(
                f"{where}: Freshness reads the observed tokens' surprisal; score it in a call with "
                f"estimator='pointwise', got {estimator!r}.")
        return self  # its parts are per token by definition, in reference units whatever the call's normalization

    def _parts(self) -> dict[str, Any]:
        return {"residual": lambda ev: F.residual(ev.c),
                "easy_tokens": lambda ev: F.easy_share(ev.s, threshold=self.threshold)}

    def components(self, ev: Evidence) -> dict[str, float]:
        """Each part in the model's reference units (for failure analysis)."""
        if ev.reference is None:
            raise InputValidationError("Freshness: the evidence has no reference set; score through score().")
        out = {}
        for name, part in self._parts().items():
            units = ev.reference.units((name, self.threshold), part)
            if not abs(units.unit) > 1e-12:
                raise BackendError(
                    f"Freshness: on this model a word shuffle does not change the reference stories' {name} "
                    f"({units.location:g} either way), so its portable unit is undefined (a model that finds no token "
                    f"below {self.threshold:g} bits cannot rank texts by it); use another model or threshold.")
            out[name] = units.apply(part(ev))
        return out

    def compute(self, ev: Evidence) -> float:
        parts = self.components(ev)
        return float(self.residual_weight * parts["residual"] + self.easy_weight * parts["easy_tokens"])
