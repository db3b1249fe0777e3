"""The public entry points in one place: `score()`, its signature, the analyses and the results they return.

Each lives in the module that does its job (`scoring`, `analyses`, `results`, `backends.resolve`); this module
gathers them for `from cqmetric.api import ...`.
"""

from cqmetric.analyses import dimensions, fit_norms, profiles
from cqmetric.backends.resolve import get_backend
from cqmetric.options import AGGREGATIONS
from cqmetric.results import AnalysisResult, CorpusScore, ScoreResult
from cqmetric.scoring import build_signature, score

__all__ = ["score", "build_signature", "dimensions", "profiles", "fit_norms", "get_backend", "ScoreResult",
           "CorpusScore", "AnalysisResult", "AGGREGATIONS"]
