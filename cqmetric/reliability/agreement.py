"""Agreement among human raters: the intraclass correlation (ICC); Krippendorff's alpha and the kappas have their own
modules (`alpha`, `kappa`) and are imported here too.

Ratings come as a wide array (rows = targets/units/items, columns = raters, NaN = not rated) or,
for :func:`icc` and :func:`krippendorff_alpha`, as long data (a pandas DataFrame or a mapping of
columns) with ``targets=``, ``raters=`` and ``values=`` naming the columns.

**Rater leniency.** Some raters are systematically harsher than others. ``center_raters=True``
replaces every rating x_ij by x_ij - mean_j + grand mean, where mean_j is rater j's mean over the
targets they rated; the scale (grand mean) is kept. This removes rater main effects, so absolute
agreement becomes consistency (ICC2 moves towards ICC3). It is offered where ratings are treated as
interval numbers (ICC, interval alpha, the human ceiling); it is *not* offered for kappa, nominal,
ordinal or ratio alpha, where shifted values are no longer categories or ratios. The columns must be
the same people: on crowd data where columns are slots (HANNA), centre on worker ids with
:func:`~cqmetric.reliability.center_ratings` (``rater_ids=``; see :mod:`cqmetric.reliability.ratings`) or use
long data keyed by worker.

References:
    Shrout, P. E., & Fleiss, J. L. (1979). Intraclass correlations: Uses in assessing rater
    reliability. Psychological Bulletin, 86(2), 420-428.

    McGraw, K. O., & Wong, S. P. (1996). Forming inferences about some intraclass correlation
    coefficients. Psychological Methods, 1(1), 30-46.

    Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg School for
    Communication Departmental Papers 43; Krippendorff, K. (2004). Content Analysis, 2nd ed., Sage.

    Cohen, J. (1960). A coefficient of agreement for nominal scales. Educational and Psychological
    Measurement, 20, 37-46. Fleiss, J. L. (1971). Measuring nominal scale agreement among many
    raters. Psychological Bulletin, 76(5), 378-382. Fleiss, J. L., Levin, B., & Paik, M. C. (2003).
    Statistical Methods for Rates and Proportions, 3rd ed. (null variance of Fleiss' kappa).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from cqmetric._validation import (
    check_bool,
    require,
)
from cqmetric.errors import InputValidationError
from cqmetric.reliability.inputs import (
    checked,
    degenerate,
)
from cqmetric.reliability.ratings import center_matrix, ratings_matrix
from cqmetric.reliability.results import ICCResult, ReliabilityResult
from cqmetric.resampling import CONFIDENCE

__all__ = ["icc", "krippendorff_alpha", "cohens_kappa", "fleiss_kappa", "interval_alpha_unit_stats",
           "interval_alpha_from_stats", "ICC_FORMS", "ALPHA_LEVELS", "KAPPA_WEIGHTS"]

ICC_FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")
_MCGRAW_WONG = ("ICC(1,1)", "ICC(A,1)", "ICC(C,1)", "ICC(1,k)", "ICC(A,k)", "ICC(C,k)")
_ICC_DESCRIPTION = (
    "one-way random, single rater",
    "two-way random, absolute agreement, single rater",
    "two-way mixed, consistency, single rater",
    "one-way random, mean of k raters",
    "two-way random, absolute agreement, mean of k raters",
    "two-way mixed, consistency, mean of k raters",
)


# --------------------------------------------------------------------------------------------
# ICC
# --------------------------------------------------------------------------------------------


def _icc_cis(
    mean_squares: tuple[float, float, float, float], n: int, k: int, icc2: float, confidence: float
) -> list[tuple[float, float]]:
    """F-based CIs of the six forms at any `confidence` (Shrout & Fleiss 1979; McGraw & Wong 1996).

    These are the formulas of :func:`pingouin.intraclass_corr` and ``psych::ICC``; pingouin fixes the
    level at 95% and rounds its ``CI95`` column to two decimals, so the intervals are computed here from
    pingouin's ANOVA mean squares (rows, within, raters, residual).
    """
    msb, msw, msj, mse = mean_squares
    a = 1.0 - confidence
    f1 = msb / msw
    df1, df1kd, df2kd = n - 1, n * (k - 1), (n - 1) * (k - 1)
    f1l = f1 / stats.f.ppf(1 - a / 2, df1, df1kd)
    f1u = f1 * stats.f.ppf(1 - a / 2, df1kd, df1)
    f3 = msb / mse
    f3l = f3 / stats.f.ppf(1 - a / 2, df1, df2kd)
    f3u = f3 * stats.f.ppf(1 - a / 2, df2kd, df1)
    fj = msj / mse
    vn = df2kd * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = df1 * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    f2u = stats.f.ppf(1 - a / 2, n - 1, v)
    f2l = stats.f.ppf(1 - a / 2, v, n - 1)
    l2 = n * (msb - f2u * mse) / (f2u * (k * msj + (k * n - k - n) * mse) + n * msb)
    u2 = n * (f2l * msb - mse) / (k * msj + (k * n - k - n) * mse + n * f2l * msb)
    return [
        ((f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)),
        (l2, u2),
        ((f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)),
        (1 - 1 / f1l, 1 - 1 / f1u),
        (l2 * k / (1 + l2 * (k - 1)), u2 * k / (1 + u2 * (k - 1))),
        (1 - 1 / f3l, 1 - 1 / f3u),
    ]


@checked("icc")
def icc(
    ratings: Any,
    *,
    targets: str | None = None,
    raters: str | None = None,
    values: str | None = None,
    confidence: float = CONFIDENCE,
    center_raters: bool = False,
    nan_policy: str = "propagate",
) -> ICCResult:
    """All six Shrout-Fleiss intraclass correlations with F-tests and confidence intervals.

    The ICCs, F statistics, degrees of freedom and p-values come from
    :func:`pingouin.intraclass_corr`; the confidence intervals use the same F-based formulas (those of
    ``psych::ICC``) on pingouin's ANOVA mean squares, at the requested ``confidence`` (pingouin's own
    intervals are 95% only).

    Which form to report:

    * **ICC1** (one-way random): each target is rated by a *different* random set of raters,
      e.g. crowd workers assigned per item (HANNA's rater slots). Rater effects cannot be separated.
    * **ICC2** (two-way random, absolute agreement): the same raters rate every target and stand for
      a larger population of raters; systematic offsets between raters count as disagreement. The
      usual choice for "would other annotators give the same scores?".
    * **ICC3** (two-way mixed, consistency): the same, fixed raters; offsets are ignored, only the
      ordering/linear agreement counts (equal to ICC2 after ``center_raters=True``).
    * The **k** forms give the reliability of the *mean* of the k ratings: report them when the mean
      rating is the human reference a metric is correlated with; the single-rater forms when one
      rating is what matters. ICC3k equals Cronbach's alpha of the raters.

    If ICC3 is clearly above ICC2, raters differ in leniency (the F-test of rater means is the
    ``msj/mse`` part); report both.

    Args:
        ratings: Wide array (rows = targets, columns = raters) or long data with ``targets``,
            ``raters`` and ``values`` column names.
        targets: Column naming the rated target (long data).
        raters: Column naming the rater (long data).
        values: Column holding the rating (long data).
        confidence: Level of the two-sided F-based confidence intervals.
        center_raters: Centre each rater on their own mean first (see the module docstring).
        nan_policy: Missing ratings: ``"propagate"`` (NaN results with a warning), ``"omit"`` (drop
            targets with any missing rating; listwise, as pingouin) or ``"raise"``.

    Returns:
        ICCResult: six :class:`ReliabilityResult` rows; ``res["ICC2"]`` or ``res["ICC(A,1)"]``.

    Raises:
        InputValidationError: Fewer than 2 raters, malformed long data, NaN under ``"raise"``.

    Warns:
        DegenerateInputWarning: Fewer than 3 complete targets or constant ratings (NaN results).

    Examples:
        >>> from cqmetric.reliability import icc
        >>> sf = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
        >>> res = icc(sf)  # the worked example of Shrout & Fleiss (1979)
        >>> [round(res[f].estimate, 2) for f in ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")]
        [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]

    References:
        Shrout & Fleiss (1979); McGraw & Wong (1996); Koo & Li (2016), J. Chiropractic Medicine 15(2).
    """
    where = "icc"
    m, _, _ = ratings_matrix(where, ratings, targets=targets, raters=raters, values=values)
    if m.shape[1] < 2:
        raise InputValidationError(f"{where}: expected at least 2 raters (columns), got shape {m.shape}.")
    settings = {
        "confidence": confidence,
        "ci": "F-distribution",
        "center_raters": check_bool(where, "center_raters", center_raters),
        "nan_policy": nan_policy,
    }
    if center_raters:
        m = center_matrix(m)
    bad = np.isnan(m).any(axis=1)
    if bad.any():
        if nan_policy == "raise":
            raise InputValidationError(
                f"{where}: expected a complete ratings matrix (nan_policy='raise'), got {int(bad.sum())} target(s) with missing ratings; "
                "pass nan_policy='omit' to drop them."
            )
        if nan_policy == "propagate":
            degenerate(
                where,
                nan_policy,
                f"{int(bad.sum())} target(s) have missing ratings (pass nan_policy='omit' for listwise deletion)",
            )
            return _nan_icc(m.shape[0], m.shape[1], settings)
        m = m[~bad]
    n, k = m.shape
    if n < 3 or np.all(m == m.flat[0]):
        degenerate(
            where,
            nan_policy,
            f"ICC needs at least 3 targets with varying ratings, got {n} target(s)"
            + (" with constant ratings" if n >= 3 else ""),
        )
        return _nan_icc(n, k, settings)
    pd = require("pandas", "stats")
    pg = require("pingouin", "stats")
    long = pd.DataFrame({"target": np.repeat(np.arange(n), k), "rater": np.tile(np.arange(k), n), "rating": m.ravel()})
    with warnings.catch_warnings():
        # pingouin's internals raise pandas deprecation and numpy runtime warnings that are not the user's concern
        warnings.simplefilter("ignore")
        table = pg.intraclass_corr(data=long, targets="target", raters="rater", ratings="rating")
        anova = pg.anova(data=long, dv="rating", between=["target", "rater"], ss_type=2).set_index("Source")
    table = table.set_index("Type").loc[list(_MCGRAW_WONG)]
    ss, df = anova["SS"], anova["DF"]  # the two-way ANOVA without replication that intraclass_corr runs
    mean_squares = (
        float(ss["target"] / df["target"]),
        float((ss["rater"] + ss["target * rater"]) / (df["rater"] + df["target * rater"])),
        float(ss["rater"] / df["rater"]),
        float(ss["target * rater"] / df["target * rater"]),
    )
    cis = _icc_cis(mean_squares, n, k, float(table.loc["ICC(A,1)", "ICC"]), confidence)
    forms = []
    for name, mw, desc, ci in zip(ICC_FORMS, _MCGRAW_WONG, _ICC_DESCRIPTION, cis):
        row = table.loc[mw]
        forms.append(
            ReliabilityResult(
                "icc",
                float(row["ICC"]),
                (float(ci[0]), float(ci[1])),
                float(row["pval"]),
                n,
                name,
                settings,
                {
                    "mcgraw_wong": mw,
                    "description": desc,
                    "F": float(row["F"]),
                    "df1": int(row["df1"]),
                    "df2": int(row["df2"]),
                    "k": k,
                },
            )
        )
    return ICCResult(tuple(forms), n, k, settings)


def _nan_icc(n: int, k: int, settings: Mapping[str, Any]) -> ICCResult:
    nan = float("nan")
    forms = tuple(
        ReliabilityResult(
            "icc", nan, (nan, nan), nan, n, name, settings, {"mcgraw_wong": mw, "description": desc, "k": k}
        )
        for name, mw, desc in zip(ICC_FORMS, _MCGRAW_WONG, _ICC_DESCRIPTION)
    )
    return ICCResult(forms, n, k, settings)


from cqmetric.reliability.alpha import (  # noqa: E402  (the rooms beside this one, for old imports)
    ALPHA_LEVELS,
    interval_alpha_from_stats,
    interval_alpha_unit_stats,
    krippendorff_alpha,
)
from cqmetric.reliability.kappa import KAPPA_WEIGHTS, cohens_kappa, fleiss_kappa  # noqa: E402
