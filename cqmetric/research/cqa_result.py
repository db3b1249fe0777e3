"""The frozen result of `run_cqa`: per checkpoint and group the Δ(ΔI) statistics, Holm-adjusted, and per token.

Δ(ΔI) per item = calibrated surprise under the tuned checkpoint minus under the base. The statistics of each
checkpoint come from `cqmetric.reliability.compare_models`; Holm's correction runs across the checkpoints,
separately within each group (and within the family of contrasts). The per-token view holds, for every item
and model, the log-probability of each text token under the constraints and without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cqmetric.errors import InputValidationError
from cqmetric.reliability.results import (
    JSONResult,
    ModelComparison,
    PairedSummary,
    fmt_ci,
    fmt_num,
    fmt_p,
    format_grid,
    freeze,
    jsonable,
    make_signature,
)

__all__ = ["ModelInfo", "GroupInfo", "CheckpointResult", "CQAResult"]


def _readonly(a: Any) -> np.ndarray:
    arr = np.array(a, dtype=np.float64)
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True)
class ModelInfo:
    """One model of the comparison: its label, kind ("base", "full", "adapter"), folder and hashes.

    `weights` is the hash in the scoring signature (the merged parameters for an adapter); `files` hashes the
    folder's weight files (the adapter file for an adapter).
    """

    label: str
    kind: str
    path: str | None
    weights: str
    files: str

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "kind": self.kind, "path": self.path, "weights": self.weights,
                "files": self.files}


@dataclass(frozen=True)
class GroupInfo:
    """One group of items: its size, fingerprint (sha256 of texts and constraints) and median token count."""

    name: str
    n: int
    fingerprint: str
    median_tokens: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "n": self.n, "fingerprint": self.fingerprint,
                "median_tokens": self.median_tokens}


@dataclass(frozen=True)
class CheckpointResult(JSONResult):
    """One checkpoint against the base: `compare_models`' result plus the Holm-adjusted p-values.

    Attributes:
        label: the checkpoint.
        groups: group name -> PairedSummary of Δ(ΔI) (mean, median, CIs, one-sided Wilcoxon, d_z).
        comparison: the full `compare_models` result (None with a single group: its summary is in `groups`).
        holm: group name -> Holm-adjusted Wilcoxon p (family: this group's tests over all checkpoints).
        contrast_holm: Holm-adjusted contrast p (family: the contrasts over all checkpoints), or None.
    """

    label: str
    groups: Mapping[str, PairedSummary]
    comparison: ModelComparison | None
    holm: Mapping[str, float]
    contrast_holm: float | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", freeze(self.groups))
        object.__setattr__(self, "holm", freeze(self.holm))

    @property
    def contrast(self) -> Any:
        """The group contrast (`GroupContrast`) or None."""
        return None if self.comparison is None else self.comparison.contrast

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "groups": {k: v.to_dict() for k, v in self.groups.items()},
            "holm": jsonable(self.holm),
            "contrast": None if self.contrast is None else self.contrast.to_dict(),
            "contrast_holm": jsonable(self.contrast_holm),
            "comparison_signature": None if self.comparison is None else self.comparison.signature,
        }


@dataclass(frozen=True)
class CQAResult(JSONResult):
    """Result of `run_cqa`: models, groups, per-checkpoint statistics, per-item scores and per-token detail.

    Attributes:
        models: the base first, then each checkpoint.
        groups: group name -> GroupInfo.
        checkpoints: checkpoint label -> CheckpointResult.
        item_groups: the group of each item, in input order (groups one after another).
        base_scores: the base's calibrated surprise per item (bits/token).
        tuned_scores: checkpoint label -> its calibrated surprise per item.
        n_tokens: tokens per item (the same for every model: they share the tokenizer).
        tokens: per item, the text of each token.
        logprobs: model label -> per item, a (2, n_tokens) array of log2-probabilities of each text token:
            row 0 without the constraints, row 1 under them.
        settings: every setting that changes a number.
    """

    models: tuple[ModelInfo, ...]
    groups: Mapping[str, GroupInfo]
    checkpoints: Mapping[str, CheckpointResult]
    item_groups: tuple[str, ...]
    base_scores: np.ndarray
    tuned_scores: Mapping[str, np.ndarray]
    n_tokens: np.ndarray
    tokens: tuple[tuple[str, ...], ...] = field(repr=False)
    logprobs: Mapping[str, tuple[np.ndarray, ...]] = field(repr=False)
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_scores", _readonly(self.base_scores))
        object.__setattr__(self, "n_tokens", _readonly(self.n_tokens).astype(np.int64))
        object.__setattr__(self, "tuned_scores", freeze({k: _readonly(v) for k, v in self.tuned_scores.items()}))
        object.__setattr__(self, "logprobs", freeze({k: tuple(_readonly(a) for a in v)
                                                     for k, v in self.logprobs.items()}))
        for name in ("groups", "checkpoints", "settings"):
            object.__setattr__(self, name, freeze(getattr(self, name)))

    @property
    def base(self) -> str:
        """The base model's label."""
        return self.models[0].label

    @property
    def signature(self) -> str:
        """Every setting behind the numbers: models with weight hashes, scoring, statistics, groups."""
        models = ";".join(f"{m.label}={m.kind}:{m.weights}/{m.files}" for m in self.models)
        groups = ";".join(f"{g.name}:{g.n}:{g.fingerprint}" for g in self.groups.values())
        return make_signature({"stat": "cqa", "models": models, **self.settings, "groups": groups})

    def delta(self, checkpoint: str) -> np.ndarray:
        """Δ(ΔI) per item for `checkpoint` (tuned minus base, bits/token)."""
        self._check_checkpoint(checkpoint)
        return self.tuned_scores[checkpoint] - self.base_scores

    def _check_checkpoint(self, checkpoint: str) -> None:
        if checkpoint not in self.checkpoints:
            raise InputValidationError(
                f"CQAResult: expected a checkpoint among {list(self.checkpoints)}, got {checkpoint!r}."
            )

    def per_token_table(self, checkpoint: str | None = None, group: str | None = None) -> list[dict[str, Any]]:
        """One row per token: log2-probs under the constraints (base, tuned) and their difference, per item.

        Columns: checkpoint, group, item (index in input order), position, token, logprob_base, logprob_tuned,
        diff (tuned - base under the constraints, bits), diff_unconstrained (the same without them) and
        delta_information (diff - diff_unconstrained: the token's change in information; its mean over an
        item's tokens is that item's Δ(ΔI)).
        """
        labels = list(self.checkpoints) if checkpoint is None else [checkpoint]
        for label in labels:
            self._check_checkpoint(label)
        if group is not None and group not in self.groups:
            raise InputValidationError(f"CQAResult: expected a group among {list(self.groups)}, got {group!r}.")
        rows = []
        base = self.logprobs[self.base]
        for label in labels:
            tuned = self.logprobs[label]
            for k, g in enumerate(self.item_groups):
                if group is not None and g != group:
                    continue
                for t, tok in enumerate(self.tokens[k]):
                    d_c = tuned[k][1, t] - base[k][1, t]
                    d_s = tuned[k][0, t] - base[k][0, t]
                    rows.append({"checkpoint": label, "group": g, "item": k, "position": t, "token": tok,
                                 "logprob_base": float(base[k][1, t]), "logprob_tuned": float(tuned[k][1, t]),
                                 "diff": float(d_c), "diff_unconstrained": float(d_s),
                                 "delta_information": float(d_c - d_s)})
        return rows

    def plot_per_token(self, checkpoints: Any = None, *, bins: int = 10, title: str | None = None) -> Any:
        """The per-token picture (see `cqmetric.research.cqa_plot.plot_token_shift`); needs matplotlib."""
        from cqmetric.research.cqa_plot import plot_token_shift

        return plot_token_shift(self, checkpoints, bins=bins, title=title)

    def to_dict(self, *, per_token: bool = False) -> dict[str, Any]:
        """JSON-safe dictionary; the per-token log-probs only with `per_token=True` (they are large)."""
        out: dict[str, Any] = {
            "signature": self.signature,
            "settings": jsonable(self.settings),
            "models": [m.to_dict() for m in self.models],
            "groups": {k: v.to_dict() for k, v in self.groups.items()},
            "checkpoints": {k: v.to_dict() for k, v in self.checkpoints.items()},
            "items": {
                "group": list(self.item_groups),
                "n_tokens": [int(n) for n in self.n_tokens],
                "base": jsonable(self.base_scores),
                "tuned": {k: jsonable(v) for k, v in self.tuned_scores.items()},
            },
        }
        if per_token:
            out["per_token"] = {"tokens": [list(t) for t in self.tokens],
                                "logprobs": {k: [jsonable(a) for a in v] for k, v in self.logprobs.items()}}
        return out

    def to_json(self, *, per_token: bool = False, **kwargs: Any) -> str:
        """The result as JSON text (`to_dict(per_token=...)`; NaN written as null)."""
        import json

        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(per_token=per_token), **kwargs)

    def __str__(self) -> str:
        conf = float(self.settings.get("confidence", 0.95))
        c = f"{round(100 * conf, 2):g}% CI"
        headers = ["checkpoint", "group", "n", "mean Δ(ΔI)", c, "median", c, "Wilcoxon p (>)", "Holm p", "d_z",
                   f"d_z {c}"]
        rows = []
        for label, res in self.checkpoints.items():
            for g, s in res.groups.items():
                rows.append([label, g, str(s.n), fmt_num(s.mean), fmt_ci(s.mean_ci), fmt_num(s.median),
                             fmt_ci(s.median_ci), fmt_p(s.wilcoxon.pvalue), fmt_p(res.holm.get(g)),
                             fmt_num(s.d_z.estimate, 3), fmt_ci(s.d_z.ci, 3)])
        title = (f"CQA: Δ(ΔI) = calibrated surprise (tuned) - (base {self.base}), bits/token; Holm across "
                 f"{len(self.checkpoints)} checkpoint(s) within each group")
        out = format_grid(headers, rows, title=title)
        contrasts = [(label, res) for label, res in self.checkpoints.items() if res.contrast is not None]
        if contrasts:
            k0 = contrasts[0][1].contrast
            crow = [[label, fmt_num(r.contrast.estimate), fmt_ci(r.contrast.ci), fmt_p(r.contrast.pvalue),
                     fmt_p(r.contrast_holm)] for label, r in contrasts]
            out += "\n\n" + format_grid(
                ["checkpoint", "mean diff", c, f"Mann-Whitney p ({k0.alternative})", "Holm p"], crow,
                title=f"contrast: mean Δ(ΔI)[{k0.first}] - mean Δ(ΔI)[{k0.second}]")
        return out + f"\nsignature: {self.signature}"
