"""One table for validating a scorer against expert ratings: scorer(s), baselines and the human ceiling.

:func:`report` correlates each scorer and each baseline (e.g. text length) with the mean human rating
of each criterion, and computes the leave-one-rater-out human ceiling of each criterion, all under
one protocol (method, level, groups, systems, resampling, seed). Reading it: a scorer is useful for
a criterion when it beats the trivial baselines *and* its CI is not far below the ceiling.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cqmetric._validation import as_float_array, check_bool
from cqmetric.errors import InputValidationError
from cqmetric.reliability.ceiling import human_ceiling
from cqmetric.reliability.correlation import correlation
from cqmetric.reliability.inputs import checked
from cqmetric.reliability.preference_report import (
    PreferenceReport,
    preference_from_report,
)
from cqmetric.reliability.ratings import center_matrix
from cqmetric.reliability.results import (
    JSONResult,
    ReliabilityResult,
    fmt_ci,
    fmt_num,
    format_grid,
    freeze,
    jsonable,
    make_signature,
)
from cqmetric.resampling import CONFIDENCE, N_BOOT, SEED

__all__ = ["report", "ReliabilityReport", "ReportRow"]

ROW_KINDS = ("scorer", "baseline", "ceiling")


@dataclass(frozen=True)
class ReportRow(JSONResult):
    """One cell of the report: `name` (a scorer, a baseline or "human ceiling") for one criterion."""

    name: str
    kind: str
    criterion: str
    result: ReliabilityResult

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {"name": self.name, "kind": self.kind, "criterion": self.criterion, "result": self.result.to_dict()}


@dataclass(frozen=True)
class ReliabilityReport(JSONResult):
    """Agreement of scorers and baselines with each criterion, beside the human ceiling.

    ``str(report)`` is a table (rows: scorers, baselines, ceiling; columns: criteria; cells:
    estimate and CI); ``report.get(name, criterion)`` returns the underlying ReliabilityResult.
    """

    rows: tuple[ReportRow, ...]
    criteria: tuple[str, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", freeze(self.settings))

    def get(self, name: str, criterion: str) -> ReliabilityResult:
        """The result of `name` (scorer, baseline or ``"human ceiling"``) for `criterion`."""
        for r in self.rows:
            if r.name == name and r.criterion == criterion:
                return r.result
        raise KeyError(
            f"ReliabilityReport: no row {name!r} for criterion {criterion!r}; names: {self.names}, criteria: {list(self.criteria)}."
        )

    @property
    def names(self) -> list[str]:
        """Row names in table order."""
        out: list[str] = []
        for r in self.rows:
            if r.name not in out:
                out.append(r.name)
        return out

    @property
    def signature(self) -> str:
        """Reproducibility signature of the settings."""
        return make_signature({"stat": "report", **self.settings})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary: criteria, settings, and every cell with its full result."""
        return {
            "criteria": list(self.criteria),
            "settings": jsonable(self.settings),
            "rows": [r.to_dict() for r in self.rows],
            "signature": self.signature,
        }

    def __str__(self) -> str:
        kinds = {r.name: r.kind for r in self.rows}
        table_rows = []
        for name in self.names:
            cells = [f"{name} ({kinds[name]})" if kinds[name] != "ceiling" else name]
            for c in self.criteria:
                try:
                    res = self.get(name, c)
                    cells.append(f"{fmt_num(res.estimate, 3)} {fmt_ci(res.ci, 3)}")
                except KeyError:
                    cells.append("-")
            table_rows.append(cells)
        conf = float(self.settings.get("confidence", 0.95))
        title = f"reliability report: {self.settings.get('method')} correlation at {self.settings.get('level')} level, estimate [{round(100 * conf, 2):g}% CI]"
        return format_grid(["", *self.criteria], table_rows, title=title) + f"\n{self.signature}"


def _as_named(where: str, name: str, value: Any, n: int | None) -> dict[str, np.ndarray]:
    if value is None:
        return {}
    items = value.items() if isinstance(value, Mapping) else [(name, value)]
    out = {}
    for k, v in items:
        arr = as_float_array(where, f"{name}[{k!r}]" if isinstance(value, Mapping) else name, v)
        if n is not None and arr.size != n:
            raise InputValidationError(
                f"{where}: expected `{name}` with one value per item ({n}), got {arr.size} for {k!r}."
            )
        out[str(k)] = arr
    return out


def _ratings_by_criterion(where: str, ratings: Any, criteria: Sequence[str] | None) -> dict[str, np.ndarray]:
    if isinstance(ratings, Mapping):
        out = {}
        for k, v in ratings.items():
            arr = as_float_array(where, f"ratings[{k!r}]", v, ndim=np.ndim(v))
            if arr.ndim not in (1, 2):
                raise InputValidationError(
                    f"{where}: expected ratings[{k!r}] of shape (n,) or (n, raters), got {arr.shape}."
                )
            out[str(k)] = arr if arr.ndim == 2 else arr[:, None]
        if criteria is not None:
            raise InputValidationError(
                f"{where}: `criteria` is taken from the keys of a ratings mapping; pass criteria=None."
            )
        return out
    arr = as_float_array(where, "ratings", ratings, ndim=np.ndim(ratings))
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise InputValidationError(
            f"{where}: expected `ratings` of shape (n, raters) or (n, raters, criteria), got {arr.shape}."
        )
    names = list(criteria) if criteria is not None else [f"criterion_{j}" for j in range(arr.shape[2])]
    if len(names) != arr.shape[2]:
        raise InputValidationError(f"{where}: expected {arr.shape[2]} criterion names, got {len(names)}.")
    return {str(c): arr[:, :, j] for j, c in enumerate(names)}


@checked("report")
def report(
    scores: Any,
    ratings: Any = None,
    *,
    judgements: Any = None,
    preference_options: Mapping[str, Any] | None = None,
    criteria: Sequence[str] | None = None,
    baselines: Mapping[str, Any] | None = None,
    method: str = "spearman",
    level: str = "item",
    groups: Sequence[Any] | np.ndarray | None = None,
    systems: Sequence[Any] | np.ndarray | None = None,
    ceiling: bool = True,
    center_raters: bool = False,
    rater_ids: Any = None,
    resample: str = "auto",
    n_boot: int = N_BOOT,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    pvalue: str = "auto",
    alternative: str = "two-sided",
    nan_policy: str = "propagate",
) -> ReliabilityReport | PreferenceReport:
    """Correlate scorers and baselines with every criterion and put the human ceiling beside them.

    With ``judgements=`` instead of ``ratings`` (rankings or pairwise preferences), the same table is made in
    pairwise accuracy by :func:`~cqmetric.reliability.preference_report`: scorers, each baseline in both
    directions, and the judges' ceiling.

    Args:
        scores: One scorer's scores (1-D, named ``"scorer"``) or a mapping name -> scores. With
            ``judgements``: scores per text id (see :func:`~cqmetric.reliability.preference_agreement`).
        ratings: Human ratings: (n, raters) for one criterion, (n, raters, criteria), or a mapping
            criterion -> (n, raters) (or (n,) already averaged; then there is no ceiling for it).
            The human reference of a criterion is the mean over raters (NaN ignored).
        judgements: Preference judgements instead of ratings (rankings or pairwise, long format).
        preference_options: With ``judgements``: more options of :func:`preference_report`
            (``higher_is_better``, ``judgement_ties``, ``score_ties``, ``pvalue``, ``n_perm``).
        criteria: Names of the criteria (last axis of a 3-D ``ratings``).
        baselines: Mapping name -> per-item values of trivial predictors (e.g. text length).
        method: As in :func:`correlation`.
        level: As in :func:`correlation`.
        groups: As in :func:`correlation`.
        systems: As in :func:`correlation`.
        ceiling: Add the human-ceiling row (needs at least 2 raters).
        center_raters: Remove rater leniency before averaging (and in the ceiling).
        rater_ids: Who gave each rating, (n, raters) (or (n, raters, criteria)), for per-person centring.
        resample: As in :func:`correlation`.
        n_boot: Bootstrap resamples per cell; 0 skips the CIs.
        seed: Seed (the same for every cell, so the cells share their resamples).
        confidence: Level of the CIs.
        pvalue: As in :func:`correlation` (scorer and baseline rows).
        alternative: As in :func:`correlation`.
        nan_policy: As in :func:`correlation`.

    Returns:
        ReliabilityReport.

    Examples:
        >>> from cqmetric.reliability import report
        >>> ratings = [[1, 2], [2, 2], [3, 4], [4, 3], [5, 5], [2, 1]]
        >>> rep = report([0.1, 0.3, 0.5, 0.4, 0.9, 0.2], ratings, criteria=["quality"],
        ...              baselines={"length": [10, 12, 30, 25, 28, 9]}, method="pearson", n_boot=0)
        >>> round(rep.get("scorer", "quality").estimate, 3), round(rep.get("human ceiling", "quality").estimate, 3)
        (0.958, 0.815)
    """
    where = "report"
    ceiling = check_bool(where, "ceiling", ceiling)
    if judgements is not None or ratings is None:
        rating_only = dict(criteria=criteria, method=method, level=level, groups=groups, systems=systems,
                           center_raters=center_raters, rater_ids=rater_ids, resample=resample, pvalue=pvalue,
                           alternative=alternative)
        return preference_from_report(where, scores, ratings, judgements, preference_options, rating_only,
                                      baselines=baselines, ceiling=ceiling, n_boot=n_boot, seed=seed,
                                      confidence=confidence, nan_policy=nan_policy)
    if preference_options is not None:
        raise InputValidationError(f"{where}: `preference_options` applies only with `judgements`; got ratings.")
    by_crit = _ratings_by_criterion(where, ratings, criteria)
    n = next(iter(by_crit.values())).shape[0]
    for c, m in by_crit.items():
        if m.shape[0] != n:
            raise InputValidationError(
                f"{where}: expected every criterion to have {n} items, got {m.shape[0]} for {c!r}."
            )
    sc = _as_named(where, "scorer", scores, n)
    bl = _as_named(where, "baselines", baselines, n)
    clash = set(sc) & set(bl)
    if clash or "human ceiling" in sc or "human ceiling" in bl:
        raise InputValidationError(
            f"{where}: expected distinct row names, got duplicates {sorted(clash) or ['human ceiling']}."
        )
    ids_by_crit: dict[str, Any] = {}
    if rater_ids is not None:
        ids = np.asarray(rater_ids, dtype=object)
        for j, c in enumerate(by_crit):
            ids_by_crit[c] = ids[:, :, j] if ids.ndim == 3 else ids
    opts: dict[str, Any] = dict(
        method=method,
        level=level,
        groups=groups,
        systems=systems,
        resample=resample,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
        nan_policy=nan_policy,
    )
    rows: list[ReportRow] = []
    for c, m in by_crit.items():
        mm: np.ndarray = m
        if center_raters and m.shape[1] > 1:
            cids = ids_by_crit.get(c)
            if cids is not None and cids.shape != m.shape:
                raise InputValidationError(f"{where}: expected `rater_ids` of shape {m.shape}, got {cids.shape}.")
            mm = center_matrix(m, cids)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = np.nanmean(mm, axis=1)
        for name, v in sc.items():
            rows.append(
                ReportRow(name, "scorer", c, correlation(v, ref, pvalue=pvalue, alternative=alternative, **opts))
            )
        for name, v in bl.items():
            rows.append(
                ReportRow(name, "baseline", c, correlation(v, ref, pvalue=pvalue, alternative=alternative, **opts))
            )
        if ceiling and m.shape[1] >= 2:
            rows.append(ReportRow("human ceiling", "ceiling", c, human_ceiling(mm, **opts)))
    first = rows[0].result.settings if rows else {}
    settings = {
        "method": rows[0].result.method if rows else method,
        **dict(first),
        "center_raters": bool(center_raters),
    }
    return ReliabilityReport(tuple(rows), tuple(by_crit), settings)
