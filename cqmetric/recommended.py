"""The recommended score: `Freshness` since 0.3 (it lives in `cqmetric.scorers.portable`).

`recommended_scorer()` is what `cqmetric score --recommended` and the evaluate plugin's `recommended=True` add.
`CreativeQuality`, the recommendation of 0.2, is superseded but kept, unchanged, here and by name
(`creative_quality(...)`): on the writers' preferences of LAMP test it is below Freshness with both models, and its
constants are in one model's bits (benchmarks/results/validity3.md).

Examples:
    >>> from cqmetric.recommended import recommended_scorer
    >>> recommended_scorer().name
    'freshness'
"""

from cqmetric.scorers.composite import FITTED, FITTED_ON, CreativeQuality
from cqmetric.scorers.portable import FRESHNESS_FITTED, FRESHNESS_FITTED_ON, Freshness

__all__ = ["Freshness", "FRESHNESS_FITTED", "FRESHNESS_FITTED_ON", "CreativeQuality", "FITTED", "FITTED_ON",
           "recommended_scorer"]


def recommended_scorer() -> Freshness:
    """The recommended scorer with its fitted constants (needs constraints: one pass with and one without)."""
    return Freshness()
