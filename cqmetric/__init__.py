"""cqmetric: creative-quality metrics from language-model likelihoods.

Calibrated surprise I(X;Y) = H(X) - H(X|Y): how surprising a text is without its constraints, and how fully
the constraints (the author's intent, the audience's expectations, the logic of reality) explain it.

Examples:
    >>> from cqmetric import score
    >>> from cqmetric.backends.precomputed import PrecomputedBackend
    >>> result = score(["A cat sat."], ["Write about a cat."], model=PrecomputedBackend.example(), n_boot=0)
    >>> result.to_records()[0]["calibrated_surprise"]
    1.0
"""

from cqmetric.api import (
    AnalysisResult,
    CorpusScore,
    ScoreResult,
    build_signature,
    dimensions,
    fit_norms,
    get_backend,
    profiles,
    score,
)
from cqmetric.constraints import (
    CHAT_TEMPLATE,
    DEFAULT_TEMPLATE,
    Constraint,
    ConstraintSet,
    Template,
)
from cqmetric.errors import (
    BackendError,
    CQMetricError,
    CQMetricWarning,
    DataNotFoundError,
    DegenerateInputWarning,
    InputValidationError,
    MissingDependencyError,
    ModelFolderError,
    SmallSampleWarning,
)
from cqmetric.experts import ExpertFit, fit_to_experts
from cqmetric.options import ScoreOptions
from cqmetric.recommended import CreativeQuality, Freshness
from cqmetric.scorers import (
    CalibratedSurprise,
    ConstraintFit,
    ContextCalibration,
    EasyTokens,
    External,
    Interaction,
    Length,
    OrderCalibration,
    QuietGate,
    Residual,
    SoftGate,
    SurprisalQuantile,
    Surprise,
    WeightedSum,
    load_scorer,
)
from cqmetric.signature import Signature
from cqmetric.version import __version__

__all__ = [
    "__version__",
    "score",
    "build_signature",
    "dimensions",
    "profiles",
    "fit_norms",
    "get_backend",
    "ScoreResult",
    "ScoreOptions",
    "CorpusScore",
    "AnalysisResult",
    "Signature",
    "Constraint",
    "ConstraintSet",
    "Template",
    "DEFAULT_TEMPLATE",
    "CHAT_TEMPLATE",
    "CreativeQuality",
    "Freshness",
    "fit_to_experts",
    "ExpertFit",
    "load_scorer",
    "CalibratedSurprise",
    "Surprise",
    "Residual",
    "ContextCalibration",
    "Interaction",
    "Length",
    "EasyTokens",
    "SurprisalQuantile",
    "OrderCalibration",
    "ConstraintFit",
    "QuietGate",
    "SoftGate",
    "External",
    "WeightedSum",
    "BackendError",
    "CQMetricError",
    "CQMetricWarning",
    "DataNotFoundError",
    "DegenerateInputWarning",
    "InputValidationError",
    "MissingDependencyError",
    "ModelFolderError",
    "SmallSampleWarning",
]
