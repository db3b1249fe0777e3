"""Reliability statistics: how well a scorer agrees with expert ratings, and how well experts agree.

Every function takes arrays (no scorer or model objects), validates its input at the boundary,
and returns a frozen result that prints as a table and converts to JSON (``to_dict()``,
``to_json()``), carrying every setting that changes the number, the seed included.

* Metric vs humans: :func:`correlation` (item / group ("story") / system level, clustered bootstrap,
  partial correlation), :func:`human_ceiling` (the raters' own leave-one-out agreement in the same
  protocol), :func:`report` (scorers, baselines and ceiling in one table).
* Raters vs raters: :func:`icc` (six Shrout-Fleiss forms), :func:`krippendorff_alpha`,
  :func:`cohens_kappa`, :func:`fleiss_kappa`, :func:`center_ratings` (rater leniency).
* Preferences (rankings or pairwise judgements): :func:`preference_agreement` (pairwise accuracy with an
  item-clustered bootstrap, length-controlled views), :func:`preference_difference` (two scorers on the same
  pairs), :func:`preference_ceiling` (each judge against the majority of the others), :func:`bradley_terry` and
  :func:`system_agreement` (systems), :func:`preference_report` (scorers, baselines both ways and the ceiling).
* Comparisons: :func:`williams_test` / :func:`williams_t` (metric A vs metric B),
  :func:`wilcoxon_test`, :func:`sign_test`, :func:`cohens_dz`, :func:`compare_models` (the CQA
  analysis), :func:`pair_validation` (degraded pairs; see :mod:`cqmetric.research.perturb`).

See ``docs/reliability.md`` for what to report and how to read it.

Where each number is computed:

* ``correlation.py`` — :func:`correlation` (options, NaN policy, assembling the result);
  ``protocol.py`` — the study design: levels, groups and systems, bootstrap units, p-values;
  ``kernels.py`` — the coefficients themselves (scipy where it has them), partial correlation, p-value arithmetic.
* ``ceiling.py`` — :func:`human_ceiling`; ``report.py`` — :func:`report`.
* ``agreement.py`` — ICC (pingouin); ``alpha.py`` — Krippendorff's alpha (krippendorff); ``kappa.py`` — the
  kappas (statsmodels); ``ratings.py`` — wide/long ratings and rater centring.
* ``williams.py`` — Williams' test; ``paired.py`` — Wilcoxon, sign test, d_z; ``compare.py`` —
  :func:`compare_models`; ``pairs.py`` — :func:`pair_validation`.
* ``judgements.py`` — rankings and pairwise judgements into judged pairs; ``preference.py`` — pairwise
  accuracy, paired difference, judges' ceiling (their arithmetic: ``preference_kernels.py``);
  ``bradley_terry.py`` — systems; ``preference_report.py`` — :func:`preference_report`;
  ``preference_results.py`` — their result classes.
* ``results.py`` — the result classes (``tables.py``: how they print); ``cqmetric.resampling`` — seeded
  streams, bootstrap draws, percentile CIs, shared with ``score()``; ``inputs.py`` — the checks at the boundary
  (``@checked``).
"""

from cqmetric.reliability.agreement import (
    cohens_kappa,
    fleiss_kappa,
    icc,
    krippendorff_alpha,
)
from cqmetric.reliability.bradley_terry import (
    bradley_terry,
    fit_bradley_terry,
    system_agreement,
)
from cqmetric.reliability.ceiling import human_ceiling
from cqmetric.reliability.compare import compare_models
from cqmetric.reliability.correlation import correlation
from cqmetric.reliability.paired import (
    cohens_dz,
    sign_test,
    wilcoxon_test,
    williams_t,
    williams_test,
)
from cqmetric.reliability.pairs import pair_validation
from cqmetric.reliability.preference import (
    preference_agreement,
    preference_ceiling,
    preference_difference,
)
from cqmetric.reliability.preference_report import PreferenceReport, preference_report
from cqmetric.reliability.preference_results import (
    AccuracyCell,
    BradleyTerryResult,
    PreferenceComparison,
    PreferenceResult,
    SystemAgreement,
)
from cqmetric.reliability.ratings import center_ratings
from cqmetric.reliability.report import ReliabilityReport, ReportRow, report
from cqmetric.reliability.results import (
    GroupContrast,
    ICCResult,
    ModelComparison,
    PairedSummary,
    PairValidationResult,
    ReliabilityResult,
)

__all__ = [
    "correlation",
    "human_ceiling",
    "report",
    "ReliabilityReport",
    "ReportRow",
    "icc",
    "krippendorff_alpha",
    "cohens_kappa",
    "fleiss_kappa",
    "center_ratings",
    "williams_t",
    "williams_test",
    "wilcoxon_test",
    "sign_test",
    "cohens_dz",
    "compare_models",
    "pair_validation",
    "preference_agreement",
    "preference_difference",
    "preference_ceiling",
    "preference_report",
    "bradley_terry",
    "fit_bradley_terry",
    "system_agreement",
    "ReliabilityResult",
    "ICCResult",
    "PairedSummary",
    "GroupContrast",
    "ModelComparison",
    "PairValidationResult",
    "PreferenceResult",
    "PreferenceComparison",
    "PreferenceReport",
    "AccuracyCell",
    "BradleyTerryResult",
    "SystemAgreement",
]
