"""Frozen results of the preference functions: pairwise accuracy, paired differences, Bradley-Terry, system agreement.

Like every result of :mod:`cqmetric.reliability` they never change after creation, print as a table, convert to
JSON-safe dictionaries (``to_dict()``; NaN becomes None) and JSON (``to_json()``), and carry every setting that
changes their number in ``settings`` and ``signature``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cqmetric.reliability.results import (
    JSONResult,
    _settings_str,
    fmt_ci,
    fmt_num,
    fmt_p,
    format_grid,
    freeze,
    jsonable,
    make_signature,
)

__all__ = ["AccuracyCell", "PreferenceResult", "PreferenceComparison", "BradleyTerryResult", "SystemAgreement"]


def _conf(settings: Mapping[str, Any]) -> str:
    return f"{round(100 * float(settings.get('confidence', 0.95)), 2):g}% CI"


def _as_ci(ci: Any) -> tuple[float, float] | None:
    return None if ci is None else (float(ci[0]), float(ci[1]))


@dataclass(frozen=True)
class AccuracyCell(JSONResult):
    """Pairwise accuracy on a subset of the pairs (a length-difference bin, a split).

    Attributes:
        label: Which pairs, e.g. ``"|la-lb|/max < 0.1"`` or ``"[0.1, 0.2)"``.
        accuracy: Credit over the pairs used (NaN when there are none).
        ci: Item-clustered bootstrap CI (None without resampling).
        n_pairs: Pairs used.
        n_items: Items with at least one pair used.
    """

    label: str
    accuracy: float
    ci: tuple[float, float] | None
    n_pairs: int
    n_items: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "accuracy", float(self.accuracy))
        object.__setattr__(self, "ci", _as_ci(self.ci))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {"label": self.label, "accuracy": jsonable(self.accuracy), "ci": jsonable(self.ci),
                "n_pairs": self.n_pairs, "n_items": self.n_items}

    def row(self) -> list[str]:
        """One table row."""
        return [self.label, fmt_num(self.accuracy), fmt_ci(self.ci), str(self.n_pairs), str(self.n_items)]


@dataclass(frozen=True)
class PreferenceResult(JSONResult):
    """Pairwise accuracy of a scorer (or of each judge against the others) on expert preference judgements.

    Attributes:
        statistic: ``"pairwise_accuracy"`` or ``"judge_ceiling"``.
        accuracy: Share of the pairs used on which the prediction agrees with the judge (ties credited per
            ``settings``); NaN when undefined.
        ci: Item-clustered percentile bootstrap CI (None when ``n_boot`` is 0).
        n_pairs: Judged pairs used (each judge's each pair once).
        n_items: Items with at least one pair used.
        n_judges: Judges with at least one pair used.
        counts: Every pair accounted for: ``judged`` (all), ``judgement_ties`` and ``dropped_judgement_ties``,
            ``score_ties`` (the prediction tied on an untied judgement) and ``dropped_score_ties``,
            ``dropped_nan`` (a NaN score), and for the ceiling ``dropped_no_other_judge``; ``used`` = judged minus
            every dropped count.
        per_judge: Accuracy on each judge's pairs.
        length_control: Accuracy on pairs of similar length and per length-difference bin (empty without
            ``lengths``).
        settings: Every option that changes the number.
        details: Secondary quantities (``n_boot_undefined``, the length settings).
    """

    statistic: str
    accuracy: float
    ci: tuple[float, float] | None
    n_pairs: int
    n_items: int
    n_judges: int
    counts: Mapping[str, int]
    per_judge: Mapping[str, float]
    length_control: tuple[AccuracyCell, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "accuracy", float(self.accuracy))
        object.__setattr__(self, "ci", _as_ci(self.ci))
        for name in ("counts", "per_judge", "settings", "details"):
            object.__setattr__(self, name, freeze(getattr(self, name)))
        object.__setattr__(self, "length_control", tuple(self.length_control))

    @property
    def estimate(self) -> float:
        """The accuracy (the name every reliability result uses for its number)."""
        return self.accuracy

    @property
    def signature(self) -> str:
        """Reproducibility signature: ``stat:...|<settings>|version:X``."""
        return make_signature({"stat": self.statistic, **self.settings})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every field plus the signature."""
        return {
            "statistic": self.statistic,
            "accuracy": jsonable(self.accuracy),
            "ci": jsonable(self.ci),
            "n_pairs": self.n_pairs,
            "n_items": self.n_items,
            "n_judges": self.n_judges,
            "counts": jsonable(self.counts),
            "per_judge": jsonable(self.per_judge),
            "length_control": [c.to_dict() for c in self.length_control],
            "settings": jsonable(self.settings),
            "details": jsonable(self.details),
            "signature": self.signature,
        }

    def __str__(self) -> str:
        c = self.counts
        rows = [
            ("accuracy", fmt_num(self.accuracy)),
            (_conf(self.settings), fmt_ci(self.ci)),
            ("pairs used", f"{self.n_pairs} of {c.get('judged')} judged ({self.n_items} items, {self.n_judges} judges)"),
            ("counts", ", ".join(f"{k}={v}" for k, v in c.items() if k not in ("judged", "used"))),
            ("settings", _settings_str(self.settings)),
        ]
        out = format_grid(["field", "value"], rows, title=f"{self.statistic} (each judge's each pair once)",
                          align_right=False)
        if self.length_control:
            out += "\n" + format_grid(["length-controlled pairs", "accuracy", _conf(self.settings), "pairs", "items"],
                                      [cell.row() for cell in self.length_control])
        return out


@dataclass(frozen=True)
class PreferenceComparison(JSONResult):
    """Paired difference in pairwise accuracy of two scorers on the same judged pairs and bootstrap resamples.

    Attributes:
        name_a / name_b: The two scorers.
        accuracy_a / accuracy_b: Their pairwise accuracies.
        difference: accuracy_a - accuracy_b.
        ci: Item-clustered bootstrap CI of the difference (the same resamples for both).
        pvalue: Two-sided p-value of ``settings["pvalue"]`` (None with ``"none"``).
        n_pairs_a / n_pairs_b: Pairs each accuracy used (they differ only when score ties are dropped).
        n_items: Items (the resampling units).
    """

    name_a: str
    name_b: str
    accuracy_a: float
    accuracy_b: float
    difference: float
    ci: tuple[float, float] | None
    pvalue: float | None
    n_pairs_a: int
    n_pairs_b: int
    n_items: int
    settings: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("accuracy_a", "accuracy_b", "difference"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "ci", _as_ci(self.ci))
        object.__setattr__(self, "pvalue", None if self.pvalue is None else float(self.pvalue))
        object.__setattr__(self, "settings", freeze(self.settings))
        object.__setattr__(self, "details", freeze(self.details))

    @property
    def signature(self) -> str:
        """Reproducibility signature."""
        return make_signature({"stat": "delta_pairwise_accuracy", **self.settings})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        out = {k: jsonable(getattr(self, k)) for k in ("name_a", "name_b", "accuracy_a", "accuracy_b", "difference",
                                                       "ci", "pvalue", "n_pairs_a", "n_pairs_b", "n_items")}
        out.update(settings=jsonable(self.settings), details=jsonable(self.details), signature=self.signature)
        return out

    def __str__(self) -> str:
        rows = [
            ("accuracy", f"{self.name_a} {fmt_num(self.accuracy_a)} ({self.n_pairs_a} pairs), "
                         f"{self.name_b} {fmt_num(self.accuracy_b)} ({self.n_pairs_b} pairs)"),
            ("difference", f"{fmt_num(self.difference)} {_conf(self.settings)} {fmt_ci(self.ci)}"),
            (f"p ({self.settings.get('pvalue')}, two-sided)", fmt_p(self.pvalue)),
            ("items", str(self.n_items)),
            ("settings", _settings_str(self.settings)),
        ]
        return format_grid(["field", "value"], rows, title=f"pairwise accuracy: {self.name_a} - {self.name_b}",
                           align_right=False)


@dataclass(frozen=True)
class BradleyTerryResult(JSONResult):
    """Bradley-Terry strengths of systems fitted by maximum likelihood from judged pairs.

    Attributes:
        systems: System labels, strongest first.
        strengths: log-strength per system, centred to mean 0 (P(i beats j) = 1 / (1 + exp(s_j - s_i))).
        ci: Item-clustered bootstrap CI per system (empty without resampling).
        wins: ``wins[i][j]`` = (weighted) times system i was preferred to system j, in ``systems`` order.
        n_comparisons: Judged pairs used (between two different systems).
        log_likelihood: At the fitted strengths (without the ridge term).
        counts: ``judged``, ``judgement_ties`` (used as half a win each way, or dropped), ``dropped_same_system``.
    """

    systems: tuple[str, ...]
    strengths: Mapping[str, float]
    ci: Mapping[str, tuple[float, float]]
    wins: tuple[tuple[float, ...], ...]
    n_comparisons: int
    log_likelihood: float
    counts: Mapping[str, int]
    settings: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("strengths", "ci", "counts", "settings", "details"):
            object.__setattr__(self, name, freeze(getattr(self, name)))

    @property
    def ranking(self) -> list[str]:
        """Systems, strongest first."""
        return list(self.systems)

    @property
    def signature(self) -> str:
        """Reproducibility signature."""
        return make_signature({"stat": "bradley_terry", **self.settings})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {"systems": list(self.systems), "strengths": jsonable(self.strengths), "ci": jsonable(self.ci),
                "wins": jsonable(self.wins), "n_comparisons": self.n_comparisons,
                "log_likelihood": jsonable(self.log_likelihood), "counts": jsonable(self.counts),
                "settings": jsonable(self.settings), "details": jsonable(self.details), "signature": self.signature}

    def __str__(self) -> str:
        rows = [[s, fmt_num(self.strengths[s]), fmt_ci(self.ci.get(s)),
                 fmt_num(sum(self.wins[i]), 1), fmt_num(sum(w[i] for w in self.wins), 1)]
                for i, s in enumerate(self.systems)]
        title = (f"Bradley-Terry strengths ({self.n_comparisons} comparisons; "
                 f"{_settings_str(self.settings)})")
        return format_grid(["system", "strength", _conf(self.settings), "wins", "losses"], rows, title=title)


@dataclass(frozen=True)
class SystemAgreement(JSONResult):
    """Agreement (Kendall tau-b) between the judges' Bradley-Terry ranking of systems and a scorer's.

    Attributes:
        judges: The Bradley-Terry fit of the judgements.
        scorer_values: The scorer's value per system (mean score, or its own Bradley-Terry strength).
        tau: Kendall's tau-b between judges' strengths and scorer values (scipy).
        ci: Item-clustered bootstrap CI of tau (both rankings refitted on each resample).
    """

    judges: BradleyTerryResult
    scorer_values: Mapping[str, float]
    tau: float
    ci: tuple[float, float] | None
    settings: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", float(self.tau))
        object.__setattr__(self, "ci", _as_ci(self.ci))
        for name in ("scorer_values", "settings", "details"):
            object.__setattr__(self, name, freeze(getattr(self, name)))

    @property
    def estimate(self) -> float:
        """Kendall's tau-b."""
        return self.tau

    @property
    def scorer_ranking(self) -> list[str]:
        """Systems by the scorer, best first."""
        return sorted(self.scorer_values, key=lambda s: -self.scorer_values[s])

    @property
    def signature(self) -> str:
        """Reproducibility signature."""
        return make_signature({"stat": "system_agreement", **self.settings})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {"judges": self.judges.to_dict(), "scorer_values": jsonable(self.scorer_values),
                "scorer_ranking": self.scorer_ranking, "tau": jsonable(self.tau), "ci": jsonable(self.ci),
                "settings": jsonable(self.settings), "details": jsonable(self.details), "signature": self.signature}

    def __str__(self) -> str:
        rows = [[s, fmt_num(self.judges.strengths[s]), fmt_num(self.scorer_values[s])] for s in self.judges.systems]
        title = (f"system agreement: Kendall tau-b = {fmt_num(self.tau)} {_conf(self.settings)} {fmt_ci(self.ci)} "
                 f"({_settings_str(self.settings)})")
        return format_grid(["system", "judges (Bradley-Terry)", f"scorer ({self.settings.get('scorer_systems')})"],
                           rows, title=title)
