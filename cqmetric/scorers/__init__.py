"""Composable scorers: small named functions of the model evidence, and ways to combine them.

A scorer reads an `Evidence` (per-token bits gathered once for all scorers) and returns one number per text. It
declares the evidence it needs, so a suite asks the model once per distinct context. The package's rooms:

- `base`: the contract every scorer meets (`Scorer`), its defaults (`BaseScorer`), `as_scorer` and `spec`;
- `functional`: each formula once, as a pure function of arrays (the classes, the fitting code and the
  benchmarks all call it);
- `information`: calibrated surprise, surprise, residual, order and context calibration, interaction, length;
- `gates`: judgements in [0, 1] and the QUIET gate; `composite`: `WeightedSum` and `CreativeQuality`;
  `portable`: `Freshness`, the recommendation, in units that mean the same on any model;
- `registry`: a spec (`name(key=value,...)`) builds its scorer back; `files`: a fitted scorer saved as JSON and
  read back checked; `resolve`: what one call computes.

Examples:
    >>> import numpy as np
    >>> from cqmetric.types import Evidence, TokenizedText
    >>> tok = TokenizedText("a b", np.array([5, 6]), np.array([[0, 1], [1, 3]]))
    >>> ev = Evidence(tokens=tok, constraints=None, s=np.array([4.0, 2.0]), c=np.array([1.0, 1.0]))
    >>> CalibratedSurprise().compute(ev), Surprise().compute(ev), Residual().compute(ev)
    (2.0, 3.0, 1.0)
    >>> QuietGate(ConstraintFit(threshold=0.5), Surprise(), lam=1.0).compute(ev)
    4.0
"""

from cqmetric.scorers.base import BaseScorer, Scorer, as_scorer, spec
from cqmetric.scorers.composite import FITTED, FITTED_ON, CreativeQuality, WeightedSum
from cqmetric.scorers.files import from_text, load_scorer
from cqmetric.scorers.gates import ConstraintFit, External, QuietGate, SoftGate
from cqmetric.scorers.information import (
    ESTIMATORS,
    CalibratedSurprise,
    ContextCalibration,
    EasyTokens,
    Interaction,
    Length,
    OrderCalibration,
    Residual,
    SurprisalQuantile,
    Surprise,
    dimension_analysis,
)
from cqmetric.scorers.portable import FRESHNESS_FITTED, FRESHNESS_FITTED_ON, Freshness
from cqmetric.scorers.registry import build
from cqmetric.scorers.resolve import (
    DEFAULT_NAMES,
    check_scorers,
    default_scorers,
    resolve_scorers,
)

__all__ = [
    "Scorer", "BaseScorer", "as_scorer", "spec", "build", "load_scorer", "from_text",
    "CalibratedSurprise", "Surprise", "Residual", "OrderCalibration", "ContextCalibration", "Interaction", "Length",
    "EasyTokens", "SurprisalQuantile",
    "ConstraintFit", "SoftGate", "External", "QuietGate", "WeightedSum", "CreativeQuality", "FITTED", "FITTED_ON",
    "Freshness", "FRESHNESS_FITTED", "FRESHNESS_FITTED_ON",
    "DEFAULT_NAMES", "default_scorers", "check_scorers", "resolve_scorers", "dimension_analysis", "ESTIMATORS",
]
