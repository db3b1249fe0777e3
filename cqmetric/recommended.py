"""The recommended score, `CreativeQuality` (kept importable here; it lives in `cqmetric.scorers.composite`)."""

from cqmetric.scorers.composite import FITTED, FITTED_ON, CreativeQuality

__all__ = ["CreativeQuality", "FITTED", "FITTED_ON"]
