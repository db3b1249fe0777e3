"""Analyses beside `score()`: per-dimension information (`dimensions`), the chain-rule profile (`profiles`), and
reference norms for a weighted sum (`fit_norms`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import numpy as np

from cqmetric.backends.resolve import get_backend
from cqmetric.constraints import ConstraintSet
from cqmetric.errors import InputValidationError
from cqmetric.evidence import gather, split_units
from cqmetric.information import chain_rule_profile
from cqmetric.options import ScoreOptions
from cqmetric.results import AnalysisResult, ScoreResult
from cqmetric.scorers import dimension_analysis
from cqmetric.scoring import _prepare, _signature, _tokenize
from cqmetric.settings import BATCH_FIELDS, MODEL_FIELDS
from cqmetric.types import CONSTRAINED, Need

__all__ = ["dimensions", "profiles", "fit_norms"]


_ANALYSIS_SETTINGS = ("template", "model", "batch", *MODEL_FIELDS, *BATCH_FIELDS)


def _analysis_options(where: str, options: ScoreOptions | None, settings: dict[str, Any]) -> ScoreOptions:
    """The settings of `dimensions()`/`profiles()`: the template and the backend's; any other is refused, from
    keywords or from `options` alike, since these analyses report pointwise bits and could not honour it."""
    refused = sorted(set(settings) - set(_ANALYSIS_SETTINGS))
    if options is not None:
        defaults = ScoreOptions()
        refused += sorted(f.name for f in fields(ScoreOptions) if f.name not in _ANALYSIS_SETTINGS
                          and getattr(options, f.name) != getattr(defaults, f.name))
    if refused:
        raise InputValidationError(
            f"{where}: reports bits with the pointwise estimator and takes no {', '.join(map(repr, refused))}; "
            f"its settings are {', '.join(_ANALYSIS_SETTINGS)}."
        )
    return ScoreOptions.from_settings(where, options, n_boot=0, **settings)


def dimensions(
    texts: Sequence[str],
    constraints: Sequence[ConstraintSet],
    *,
    by: str = "source",
    model: Any = None,
    options: ScoreOptions | None = None,
    **settings: Any,
) -> AnalysisResult:
    """Per-dimension I(X;Y_d), joint I(X;Y), interaction and exact Shapley attributions (bits/token) per text.

    With k dimensions present in a text's constraint set, its 2^k subsets are each scored once. Settings: the
    template and the backend settings of `ScoreOptions` (dtype, device, window, batching, progress).
    """
    where = "dimensions"
    opts = _analysis_options(where, options, settings)
    texts, sets = _prepare(where, texts, constraints)
    if sets is None:
        raise InputValidationError(f"{where}: expected one constraint set per text, got constraints=None.")
    if by not in ("source", "aspect"):
        raise InputValidationError(f"{where}: got by={by!r}; allowed: 'source', 'aspect'.")
    for i, ys in enumerate(sets):
        try:
            ys.groups(by)
        except InputValidationError as exc:
            raise InputValidationError(f"{where}: constraints[{i}]: {exc}") from None
    backend = get_backend(model, settings=opts.model, where=where)
    evidence = gather(backend, _tokenize(where, backend, texts), sets, opts.template, {Need("dimensions", by)},
                      batch=opts.batch)
    return AnalysisResult(tuple(dimension_analysis(ev, by=by) for ev in evidence),
                          _signature(backend, opts, None, scorers_field=f"dimensions(by={by})"))


def profiles(
    texts: Sequence[str],
    constraints: Sequence[str | ConstraintSet],
    *,
    unit: str = "sentence",
    model: Any = None,
    options: ScoreOptions | None = None,
    **settings: Any,
) -> AnalysisResult:
    """The chain-rule profile of each text: I(X_j; Y | X_<j) per unit (bits), shares and concentration.

    Units: "sentence", "paragraph" or "tokens:N". Settings as for `dimensions`.
    """
    where = "profiles"
    opts = _analysis_options(where, options, settings)
    texts, sets = _prepare(where, texts, constraints)
    if sets is None:
        raise InputValidationError(f"{where}: expected one prompt or constraint set per text, got None.")
    if not isinstance(unit, str) or not (unit in ("sentence", "paragraph") or unit.startswith("tokens:")):
        raise InputValidationError(f"{where}: got unit={unit!r}; allowed: 'sentence', 'paragraph', 'tokens:N'.")
    backend = get_backend(model, settings=opts.model, where=where)
    tokens = _tokenize(where, backend, texts)
    evidence = gather(backend, tokens, sets, opts.template, {CONSTRAINED}, batch=opts.batch)
    out = []
    for tok, ev in zip(tokens, evidence):
        spans, index = split_units(tok, unit)
        out.append(chain_rule_profile(ev.s - ev.c, index, spans))
    opts = ScoreOptions.from_settings(where, opts, normalization="sum")
    return AnalysisResult(tuple(out), _signature(backend, opts, None, scorers_field=f"profile(unit={unit})"))


def fit_norms(result: ScoreResult, names: Sequence[str] | str | None = None) -> dict[str, tuple[float, float]]:
    """Reference (mean, std) of each named score in `result`, for `WeightedSum` standardisation.

    Args:
        result: a `ScoreResult` on a reference corpus, scored under the settings you will score with.
        names: the scores to fit (one name or a list; default: every score in `result`).
    """
    where = "fit_norms"
    if not isinstance(result, ScoreResult):
        raise InputValidationError(f"{where}: expected a ScoreResult from score(), got {type(result).__name__}.")
    names = [names] if isinstance(names, str) else list(names or result.scores)
    unknown = [n for n in names if n not in result.scores]
    if unknown:
        raise InputValidationError(
            f"{where}: got {unknown[0]!r}, which the result does not hold; expected one of {', '.join(result.scores)}.")
    out = {}
    for name in names:
        values = result.scores[name]
        std = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
        out[name] = (float(np.mean(values)), std)
    return out
