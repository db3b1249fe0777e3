"""Frozen result objects of :mod:`cqmetric.reliability` and their text/JSON rendering.

Every public function of the subpackage returns one of these. They never change after creation
(``dataclasses.replace`` makes a modified copy), print as a readable table (``str(result)``), and
convert to JSON-safe dictionaries (``to_dict()``; NaN and infinities become ``None``) and to JSON text
(``to_json()``). The ``settings`` mapping holds every option that changes the number (method, level,
resampling unit, ``n_boot``, ``seed``, confidence level, ...), and ``signature`` renders it in a
stable, sacrebleu-like ``key:value|...|version:X`` form so a number can be pasted with its provenance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cqmetric.reliability.tables import (
    _fields_dict,
    _settings_str,
    fmt_ci,
    fmt_num,
    fmt_p,
    format_grid,
    freeze,
    make_signature,
)
from cqmetric.serialization import jsonable

__all__ = [
    "ReliabilityResult",
    "ICCResult",
    "PairedSummary",
    "GroupContrast",
    "ModelComparison",
    "PairValidationResult",
]


# --------------------------------------------------------------------------------------------
# JSON and number formatting helpers
# --------------------------------------------------------------------------------------------


class JSONResult:
    """Base of the result classes: ``to_json()`` from the ``to_dict()`` each subclass defines."""

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_json(self, **kwargs: Any) -> str:
        """The result as JSON text (``json.dumps`` of ``to_dict()``; NaN written as null)."""
        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(), **kwargs)


# --------------------------------------------------------------------------------------------
# Single estimates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=True)
class ReliabilityResult(JSONResult):
    """One estimate with its confidence interval, p-value, sample size and settings.

    Attributes:
        statistic: What was estimated, e.g. ``"kendall_tau"``, ``"icc"``, ``"krippendorff_alpha"``.
        estimate: The point estimate (NaN when undefined for the input).
        ci: Two-sided confidence interval ``(low, high)`` at ``settings["confidence"]``, or None.
        pvalue: p-value of the test named in ``settings`` (None where no test is defined).
        n: Number of items (observations) that entered the estimate.
        method: The variant, e.g. ``"kendall"``, ``"ICC2"``, ``"interval"``.
        settings: Every option that changes the number, including the seed.
        details: Secondary quantities (test statistic, degrees of freedom, per-group values, ...).
    """

    statistic: str
    estimate: float
    ci: tuple[float, float] | None
    pvalue: float | None
    n: int
    method: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "estimate", float(self.estimate))
        if self.ci is not None:
            object.__setattr__(self, "ci", (float(self.ci[0]), float(self.ci[1])))
        if self.pvalue is not None:
            object.__setattr__(self, "pvalue", float(self.pvalue))
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "settings", freeze(self.settings))
        details = {k: (tuple(v.tolist()) if isinstance(v, np.ndarray) else v) for k, v in dict(self.details).items()}
        object.__setattr__(self, "details", freeze(details))

    @property
    def signature(self) -> str:
        """Reproducibility signature: ``statistic:...|method:...|<settings>|version:X``."""
        return make_signature({"stat": self.statistic, "method": self.method, **self.settings})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every field plus the signature."""
        return {
            "statistic": self.statistic,
            "estimate": jsonable(self.estimate),
            "ci": jsonable(self.ci),
            "pvalue": jsonable(self.pvalue),
            "n": self.n,
            "method": self.method,
            "settings": jsonable(self.settings),
            "details": jsonable(self.details),
            "signature": self.signature,
        }

    def _detail_rows(self) -> list[tuple[str, str]]:
        rows = []
        for k, v in self.details.items():
            if isinstance(v, (list, tuple, np.ndarray, Mapping)):
                if isinstance(v, Mapping) and len(v) <= 8:
                    rows.append((k, ", ".join(f"{kk}={fmt_num(vv)}" for kk, vv in v.items())))
                elif not isinstance(v, Mapping) and len(v) <= 8:
                    rows.append((k, ", ".join(fmt_num(x) for x in v)))
                else:
                    rows.append((k, f"<{len(v)} values; see to_dict()>"))
            else:
                rows.append((k, fmt_num(v) if not isinstance(v, str) else v))
        return rows

    def __str__(self) -> str:
        conf = self.settings.get("confidence", 0.95)
        rows = [
            ("estimate", fmt_num(self.estimate)),
            (f"{round(100 * float(conf), 2):g}% CI", fmt_ci(self.ci)),
            ("p-value", fmt_p(self.pvalue)),
            ("n", str(self.n)),
        ]
        rows += self._detail_rows()
        rows.append(("settings", _settings_str(self.settings)))
        return format_grid(["field", "value"], rows, title=f"{self.statistic} ({self.method})", align_right=False)


@dataclass(frozen=True)
class ICCResult(JSONResult):
    """All six Shrout-Fleiss intraclass correlations of one ratings matrix.

    Index it by form: ``res["ICC2"]`` (Shrout-Fleiss name) or ``res["ICC(A,1)"]`` (McGraw-Wong name).
    """

    forms: tuple[ReliabilityResult, ...]
    n_targets: int
    n_raters: int
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", freeze(self.settings))

    def __getitem__(self, key: str) -> ReliabilityResult:
        for f in self.forms:
            if key in (f.method, f.details.get("mcgraw_wong")):
                return f
        names = ", ".join(f"{f.method}/{f.details.get('mcgraw_wong')}" for f in self.forms)
        raise KeyError(f"ICCResult: no form {key!r}; available: {names}.")

    @property
    def signature(self) -> str:
        """Reproducibility signature of the settings."""
        return make_signature({"stat": "icc", **self.settings})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary with one entry per form."""
        return {
            "statistic": "icc",
            "n_targets": self.n_targets,
            "n_raters": self.n_raters,
            "settings": jsonable(self.settings),
            "forms": [f.to_dict() for f in self.forms],
            "signature": self.signature,
        }

    def __str__(self) -> str:
        conf = float(self.settings.get("confidence", 0.95))
        headers = ["form", "McGraw-Wong", "ICC", f"{round(100 * conf, 2):g}% CI", "F", "df1", "df2", "p-value"]
        rows = [
            [
                f.method,
                str(f.details.get("mcgraw_wong")),
                fmt_num(f.estimate),
                fmt_ci(f.ci),
                fmt_num(f.details.get("F")),
                fmt_num(f.details.get("df1")),
                fmt_num(f.details.get("df2")),
                fmt_p(f.pvalue),
            ]
            for f in self.forms
        ]
        title = f"intraclass correlation ({self.n_targets} targets x {self.n_raters} raters; {_settings_str(self.settings)})"
        return format_grid(headers, rows, title=title)


# --------------------------------------------------------------------------------------------
# Paired differences (compare_models)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedSummary(JSONResult):
    """Summary of per-item differences d = b - a for one set of items.

    Attributes:
        label: Which items ("all" or a group label).
        n: Number of pairs.
        mean / mean_ci: Mean difference and its bootstrap CI.
        median / median_ci: Median difference and its bootstrap CI.
        sd: Standard deviation of the differences (ddof=1).
        wilcoxon: The Wilcoxon signed-rank result (estimate = Hodges-Lehmann pseudo-median).
        d_z: Cohen's d_z (mean / sd of the differences) with its noncentral-t CI and t-test p.
        n_positive / n_negative / n_zero: Sign counts of the differences.
    """

    label: str
    n: int
    mean: float
    mean_ci: tuple[float, float] | None
    median: float
    median_ci: tuple[float, float] | None
    sd: float
    wilcoxon: ReliabilityResult
    d_z: ReliabilityResult
    n_positive: int
    n_negative: int
    n_zero: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {
            "label": self.label,
            "n": self.n,
            "mean": jsonable(self.mean),
            "mean_ci": jsonable(self.mean_ci),
            "median": jsonable(self.median),
            "median_ci": jsonable(self.median_ci),
            "sd": jsonable(self.sd),
            "wilcoxon": self.wilcoxon.to_dict(),
            "d_z": self.d_z.to_dict(),
            "n_positive": self.n_positive,
            "n_negative": self.n_negative,
            "n_zero": self.n_zero,
        }

    def row(self) -> list[str]:
        """One table row (used by ModelComparison.__str__)."""
        return [
            self.label,
            str(self.n),
            fmt_num(self.mean),
            fmt_ci(self.mean_ci),
            fmt_num(self.median),
            fmt_ci(self.median_ci),
            fmt_p(self.wilcoxon.pvalue),
            fmt_num(self.d_z.estimate, 3),
            fmt_ci(self.d_z.ci, 3),
            f"{self.n_positive}/{self.n_negative}/{self.n_zero}",
        ]


@dataclass(frozen=True)
class GroupContrast(JSONResult):
    """Between-group contrast of differences: mean(d | first) - mean(d | second)."""

    first: str
    second: str
    estimate: float
    ci: tuple[float, float] | None
    mannwhitney_u: float
    pvalue: float
    alternative: str
    rank_biserial: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {k: jsonable(v) for k, v in _fields_dict(self).items()}


@dataclass(frozen=True)
class ModelComparison(JSONResult):
    """Result of :func:`cqmetric.reliability.compare_models` (the CQA analysis)."""

    overall: PairedSummary
    groups: Mapping[str, PairedSummary]
    contrast: GroupContrast | None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", freeze(self.groups))
        object.__setattr__(self, "settings", freeze(self.settings))

    @property
    def signature(self) -> str:
        """Reproducibility signature of the settings."""
        return make_signature({"stat": "compare_models", **self.settings})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {
            "overall": self.overall.to_dict(),
            "groups": {k: v.to_dict() for k, v in self.groups.items()},
            "contrast": None if self.contrast is None else self.contrast.to_dict(),
            "settings": jsonable(self.settings),
            "signature": self.signature,
        }

    def __str__(self) -> str:
        conf = float(self.settings.get("confidence", 0.95))
        c = f"{round(100 * conf, 2):g}% CI"
        alt = self.settings.get("alternative")
        headers = ["items", "n", "mean d", c, "median d", c, f"Wilcoxon p ({alt})", "d_z", f"d_z {c}", "+/-/0"]
        rows = [self.overall.row()] + [g.row() for g in self.groups.values()]
        out = format_grid(
            headers, rows, title=f"compare_models: d = scores_b - scores_a ({_settings_str(self.settings)})"
        )
        if self.contrast is not None:
            k = self.contrast
            out += (
                f"\ncontrast mean d[{k.first}] - mean d[{k.second}] = {fmt_num(k.estimate)} {c} {fmt_ci(k.ci)}; "
                f"Mann-Whitney U = {fmt_num(k.mannwhitney_u, 1)}, p ({k.alternative}) = {fmt_p(k.pvalue)}, "
                f"rank-biserial = {fmt_num(k.rank_biserial, 3)}"
            )
        return out


# --------------------------------------------------------------------------------------------
# Degraded pairs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairValidationResult(JSONResult):
    """Result of :func:`cqmetric.reliability.pair_validation`.

    Attributes:
        n_pairs: Number of (original, degraded) pairs.
        wins / losses / ties: Pairs where the original scored higher / lower / equal.
        win_rate: wins / (wins + losses) (ties excluded, as in the sign test).
        win_rate_ci: Exact (Clopper-Pearson) two-sided CI of the win rate.
        pvalue: Exact binomial test of wins among non-tied pairs against 1/2 (``alternative``).
        mean_margin / mean_margin_ci: Mean of original - degraded and its bootstrap CI.
        median_margin: Median of original - degraded.
    """

    n_pairs: int
    wins: int
    losses: int
    ties: int
    win_rate: float
    win_rate_ci: tuple[float, float] | None
    pvalue: float
    mean_margin: float
    mean_margin_ci: tuple[float, float] | None
    median_margin: float
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", freeze(self.settings))

    @property
    def signature(self) -> str:
        """Reproducibility signature of the settings."""
        return make_signature({"stat": "pair_validation", **self.settings})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        d = {k: jsonable(v) for k, v in _fields_dict(self).items() if k != "settings"}
        d["settings"] = jsonable(self.settings)
        d["signature"] = self.signature
        return d

    def __str__(self) -> str:
        conf = float(self.settings.get("confidence", 0.95))
        c = f"{round(100 * conf, 2):g}% CI"
        rows = [
            ("pairs", str(self.n_pairs)),
            ("wins / losses / ties", f"{self.wins} / {self.losses} / {self.ties}"),
            ("win rate", f"{fmt_num(self.win_rate)} {c} {fmt_ci(self.win_rate_ci)}"),
            (f"binomial p ({self.settings.get('alternative')})", fmt_p(self.pvalue)),
            ("mean margin", f"{fmt_num(self.mean_margin)} {c} {fmt_ci(self.mean_margin_ci)}"),
            ("median margin", fmt_num(self.median_margin)),
            ("settings", _settings_str(self.settings)),
        ]
        return format_grid(
            ["field", "value"], rows, title="degraded-pair validation (original - degraded)", align_right=False
        )
