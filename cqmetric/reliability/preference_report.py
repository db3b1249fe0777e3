"""One table for validating a scorer against expert preferences: scorer(s), baselines both ways, the judges' ceiling.

:func:`preference_report` computes the pairwise accuracy of each scorer (in its stated direction) and of each
baseline in **both** directions (a baseline such as length has no direction known in advance: "shorter is
better" is length with ``higher_is_better=False``), the judges' leave-one-judge-out ceiling, and the paired
difference of every scorer against every baseline row, all on the same judged pairs, tie policies and bootstrap
resamples. Reading it: a scorer is useful when it beats the better direction of every trivial baseline *and*
is not far below the ceiling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cqmetric.errors import InputValidationError
from cqmetric.reliability.judgements import judged_pairs
from cqmetric.reliability.preference import (
    preference_agreement,
    preference_ceiling,
    preference_difference,
)
from cqmetric.reliability.preference_results import (
    PreferenceComparison,
    PreferenceResult,
)
from cqmetric.reliability.results import (
    JSONResult,
    fmt_ci,
    fmt_num,
    fmt_p,
    format_grid,
    freeze,
    jsonable,
    make_signature,
)

__all__ = ["preference_report", "PreferenceReport", "PreferenceRow"]

CEILING = "judges' ceiling"


@dataclass(frozen=True)
class PreferenceRow(JSONResult):
    """One row: a scorer, a baseline in one direction, or the judges' ceiling."""

    name: str
    kind: str
    higher_is_better: bool | None
    result: PreferenceResult

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {"name": self.name, "kind": self.kind, "higher_is_better": self.higher_is_better,
                "result": self.result.to_dict()}


@dataclass(frozen=True)
class PreferenceReport(JSONResult):
    """Pairwise accuracy of scorers and baselines beside the judges' ceiling, and the paired differences.

    ``str(report)`` is two tables (accuracies; scorer minus baseline); ``report.get(name)`` returns a row's
    PreferenceResult (baseline rows are named ``"NAME (higher)"`` and ``"NAME (lower)"``, the ceiling
    ``"judges' ceiling"``).
    """

    rows: tuple[PreferenceRow, ...]
    comparisons: tuple[PreferenceComparison, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", freeze(self.settings))

    @property
    def names(self) -> list[str]:
        """Row names in table order."""
        return [r.name for r in self.rows]

    def get(self, name: str) -> PreferenceResult:
        """The result of row `name`."""
        for r in self.rows:
            if r.name == name:
                return r.result
        raise KeyError(f"PreferenceReport: no row {name!r}; rows: {self.names}.")

    def comparison(self, scorer: str, baseline: str) -> PreferenceComparison:
        """The paired difference scorer - baseline row (e.g. ``"n_words (lower)"``)."""
        for c in self.comparisons:
            if c.name_a == scorer and c.name_b == baseline:
                return c
        raise KeyError(f"PreferenceReport: no comparison {scorer!r} - {baseline!r}.")

    @property
    def signature(self) -> str:
        """Reproducibility signature of the settings."""
        return make_signature({"stat": "preference_report", **self.settings})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary: settings, every row and every comparison with its full result."""
        return {"settings": jsonable(self.settings), "rows": [r.to_dict() for r in self.rows],
                "comparisons": [c.to_dict() for c in self.comparisons], "signature": self.signature}

    def __str__(self) -> str:
        conf = f"{round(100 * float(self.settings.get('confidence', 0.95)), 2):g}% CI"
        rows = []
        for r in self.rows:
            res = r.result
            better = "-" if r.higher_is_better is None else ("higher" if r.higher_is_better else "lower")
            ties = res.counts.get("majority_ties" if r.kind == "ceiling" else "score_ties")
            rows.append([r.name, r.kind, better, f"{fmt_num(res.accuracy, 3)} {fmt_ci(res.ci, 3)}", str(res.n_pairs),
                         str(ties)])
        title = (f"preference report: pairwise accuracy [{conf}] (judgement ties: {self.settings.get('judgement_ties')}, "
                 f"score ties: {self.settings.get('score_ties')}; {self.settings.get('n_items')} items)")
        out = format_grid(["", "kind", "better", "accuracy", "pairs", "tied predictions"], rows, title=title)
        if self.comparisons:
            crow = [[f"{c.name_a} - {c.name_b}", f"{fmt_num(c.difference, 3)} {fmt_ci(c.ci, 3)}", fmt_p(c.pvalue)]
                    for c in self.comparisons]
            out += "\n" + format_grid(["difference", f"estimate [{conf}]", f"p ({self.settings.get('pvalue')})"], crow)
        return out + f"\n{self.signature}"


def _is_score_set(value: Any) -> bool:
    """Whether `value` is one scorer's scores (rather than a mapping name -> scores)."""
    if hasattr(value, "to_numpy") or isinstance(value, (tuple, list)):
        return True
    if isinstance(value, Mapping):
        first = next(iter(value.values()), None)
        return isinstance(first, (int, float, np.integer, np.floating)) and not isinstance(first, bool)
    return True


def _named(where: str, name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if _is_score_set(value):
        return {name: value}
    if not isinstance(value, Mapping) or not value:
        raise InputValidationError(f"{where}: expected `{name}` as scores or a mapping name -> scores, got {value!r:.60}.")
    return {str(k): v for k, v in value.items()}


def preference_report(
    scores: Any,
    judgements: Any,
    *,
    baselines: Mapping[str, Any] | None = None,
    higher_is_better: bool | Mapping[str, bool] = True,
    judgement_ties: str = "drop",
    score_ties: str = "half",
    ceiling: bool = True,
    pvalue: str = "permutation",
    n_perm: int = 10000,
    n_boot: int = 1000,
    seed: int = 12345,
    confidence: float = 0.95,
    nan_policy: str = "propagate",
) -> PreferenceReport:
    """Scorers, baselines (both directions) and the judges' ceiling in pairwise accuracy, with paired differences.

    Args:
        scores: One scorer's scores per text (named ``"scorer"``) or a mapping name -> scores; each as in
            :func:`~cqmetric.reliability.preference_agreement`.
        judgements: Rankings or pairwise judgements.
        baselines: Mapping name -> scores of trivial predictors (e.g. length); each gets a row per direction.
        higher_is_better: The scorers' direction: one bool, or a mapping scorer name -> bool.
        judgement_ties: ``"drop"`` or ``"half"``, for every row.
        score_ties: ``"half"``, ``"drop"`` or ``"loss"``, for every row (the ceiling's tied majorities too).
        ceiling: Add the judges' leave-one-judge-out row.
        pvalue: p-value of each scorer - baseline difference (see :func:`preference_difference`).
        n_perm: Sign flips for ``pvalue="permutation"``.
        n_boot: Item-clustered bootstrap resamples (the same resamples for every row); 0 skips the CIs.
        seed: Seed.
        confidence: Level of the CIs.
        nan_policy: As in :func:`~cqmetric.reliability.preference_agreement`.

    Returns:
        PreferenceReport.

    Examples:
        >>> from cqmetric.reliability import preference_report
        >>> judged = {"item": [1, 1, 1, 2, 2, 2], "judge": ["ann", "bob", "cy"] * 2,
        ...           "winner": ["a", "a", "b", "c", "c", "c"], "loser": ["b", "b", "a", "d", "d", "d"]}
        >>> rep = preference_report({"a": 2.0, "b": 1.0, "c": 0.5, "d": 0.1}, judged,
        ...                         baselines={"length": {"a": 10, "b": 30, "c": 50, "d": 20}}, n_boot=0)
        >>> round(rep.get("scorer").accuracy, 4), round(rep.get("length (lower)").accuracy, 4)
        (0.8333, 0.3333)
        >>> round(rep.get("judges' ceiling").accuracy, 4)
        0.6667
    """
    where = "preference_report"
    pairs = judged_pairs(where, judgements)
    sc = _named(where, "scorer", scores)
    bl = _named(where, "baselines", baselines)
    if not sc:
        raise InputValidationError(f"{where}: expected at least one scorer, got none.")
    rows_named = list(sc) + [f"{b} ({d})" for b in bl for d in ("higher", "lower")] + ([CEILING] if ceiling else [])
    if len(set(rows_named)) != len(rows_named):
        raise InputValidationError(f"{where}: expected distinct row names, got {rows_named}.")
    if isinstance(higher_is_better, Mapping):
        unknown = sorted(set(higher_is_better) - set(sc))
        if unknown:
            raise InputValidationError(f"{where}: `higher_is_better` names unknown scorer(s) {unknown}; scorers: {list(sc)}.")
        direction = {k: higher_is_better.get(k, True) for k in sc}
    else:
        direction = dict.fromkeys(sc, higher_is_better)
    opts: dict[str, Any] = dict(judgement_ties=judgement_ties, score_ties=score_ties, n_boot=n_boot, seed=seed,
                                confidence=confidence, nan_policy=nan_policy)
    rows: list[PreferenceRow] = []
    for name, values in sc.items():
        rows.append(PreferenceRow(name, "scorer", bool(direction[name]),
                                  preference_agreement(values, pairs, higher_is_better=direction[name], **opts)))
    for name, values in bl.items():
        for d, hib in (("higher", True), ("lower", False)):
            rows.append(PreferenceRow(f"{name} ({d})", "baseline", hib,
                                      preference_agreement(values, pairs, higher_is_better=hib, **opts)))
    if ceiling:
        rows.append(PreferenceRow(CEILING, "ceiling", None,
                                  preference_ceiling(pairs, judgement_ties=judgement_ties, majority_ties=score_ties,
                                                     n_boot=n_boot, seed=seed, confidence=confidence)))
    comparisons = []
    for name, values in sc.items():
        for b, bvalues in bl.items():
            for d, hib in (("higher", True), ("lower", False)):
                comparisons.append(preference_difference(
                    values, bvalues, pairs, names=(name, f"{b} ({d})"), higher_is_better=direction[name],
                    baseline_higher_is_better=hib, pvalue=pvalue, n_perm=n_perm, **opts))
    settings = {"judgement_ties": judgement_ties, "score_ties": score_ties, "unit": "judge-pair",
                "resample": "items", "n_boot": n_boot, "seed": seed, "confidence": confidence, "ci": "percentile",
                "pvalue": pvalue, "n_perm": n_perm if pvalue == "permutation" else 0, "nan_policy": nan_policy,
                "n_items": len(pairs.items), "n_judges": len(pairs.judges)}
    return PreferenceReport(tuple(rows), tuple(comparisons), settings)


RATING_DEFAULTS = {"criteria": None, "method": "spearman", "level": "item", "groups": None, "systems": None,
                   "center_raters": False, "rater_ids": None, "resample": "auto", "pvalue": "auto",
                   "alternative": "two-sided"}
PREFERENCE_OPTIONS = ("higher_is_better", "judgement_ties", "score_ties", "pvalue", "n_perm")


def preference_from_report(where: str, scores: Any, ratings: Any, judgements: Any,
                           options: Mapping[str, Any] | None, rating_only: Mapping[str, Any],
                           **common: Any) -> PreferenceReport:
    """:func:`~cqmetric.reliability.report` with ``judgements``: check that no ratings option was set, then run
    :func:`preference_report` with the common options and ``options``."""
    if judgements is None:
        raise InputValidationError(f"{where}: expected `ratings` or `judgements`, got neither.")
    if ratings is not None:
        raise InputValidationError(f"{where}: expected `ratings` or `judgements`, got both; report one kind at a time.")
    changed = [k for k, v in rating_only.items()
               if not (v is RATING_DEFAULTS[k] or (isinstance(v, (str, bool)) and v == RATING_DEFAULTS[k]))]
    if changed:
        raise InputValidationError(
            f"{where}: {', '.join(f'`{k}`' for k in changed)} apply to ratings, not to preference judgements; "
            f"pass preference settings in `preference_options` ({', '.join(PREFERENCE_OPTIONS)})."
        )
    opts = dict(options or {})
    unknown = sorted(set(opts) - set(PREFERENCE_OPTIONS))
    if unknown:
        raise InputValidationError(
            f"{where}: expected `preference_options` keys among {PREFERENCE_OPTIONS}, got {unknown}."
        )
    return preference_report(scores, judgements, **common, **opts)
