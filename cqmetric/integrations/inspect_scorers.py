"""inspect_ai scorers: calibrated surprise of each sample's output against its input, scored with cqmetric.

Installed with `pip install "cqmetric[inspect]"`, the package registers its scorers with inspect_ai through the
`inspect_ai` entry point, so they are found by name without importing cqmetric:

    inspect score LOG --scorer cqmetric/calibrated_surprise [-S normalization=byte]

In a task, use `scorer=calibrated_surprise()` (imported from here). The prompt is `state.input_text`, the text
`state.output.completion`. `Score.value` holds `calibrated_surprise`, `surprise` and `residual`; `metadata`
holds `signature`, `n_tokens` and `empty_generation`, plus `human_rating` when the sample has one.

This module (no `from __future__ import annotations`: inspect_ai reads the metric's type hints at run time)
imports inspect_ai when it is installed; without it, importing works and calling a scorer raises
`MissingDependencyError`.

Examples:
    >>> result = agreement_with_humans([0.2, 0.5, 0.9, 1.4], [1.0, 2.0, 4.0, 3.0], n_boot=0)
    >>> round(result["spearman"], 6), result["n"]
    (0.8, 4)
"""

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from cqmetric._validation import require
from cqmetric.errors import DegenerateInputWarning, InputValidationError
from cqmetric.integrations.generations import SCORE_NAMES, GenerationScorer
from cqmetric.resampling import N_BOOT, SEED

try:
    import inspect_ai.scorer as _inspect_scorer
except ImportError:  # the scorers below then raise MissingDependencyError when called
    _inspect_scorer = None

__all__ = ["calibrated_surprise", "human_agreement", "agreement_with_humans", "human_rating"]

HUMAN_RATING = "human_rating"  # the Score.metadata key that carries a sample's human rating(s)


def calibrated_surprise(
    model: Any = None,
    dtype: Any = None,
    device: Any = None,
    estimator: str | None = None,
    normalization: str | None = None,
    human_field: Any = "human_score",
    options: Any = None,
) -> Any:
    """Score each sample's output against its input: calibrated surprise, surprise and residual (cqmetric).

    The scorer model is loaded here, once, when the scorer is created (not per sample), and scoring runs in a
    worker thread behind a lock, off inspect's event loop, so concurrent samples share one model.

    Args:
        model: the scorer model: None (the embedded SmolLM2-135M) or a local model directory. It is independent
            of the model under test.
        dtype: "float32" (default) or "bfloat16".
        device: "cpu" (default), "cuda", ...
        estimator: "pointwise" (default, or the options') or "expected".
        normalization: "token" (default, or the options'; bits/token), "sum", "byte" or "word".
        human_field: the sample metadata field with human ratings (a number, or a list with one number per
            rater); None to ignore ratings.
        options: a `cqmetric.ScoreOptions` with any other setting (the keywords above override it).

    Returns:
        An inspect_ai scorer. Metrics: mean and stderr of each score over the non-empty outputs (an empty
        output scores NaN, which inspect counts as unscored), and `human_agreement` on calibrated surprise.
    """
    require("inspect_ai", "inspect")
    import anyio
    from inspect_ai.scorer import Score, Target
    from inspect_ai.solver import TaskState

    scorer = GenerationScorer(model, options=options, dtype=dtype, device=device, estimator=estimator,
                              normalization=normalization)
    scorer.backend  # noqa: B018 - load now, once: a lazy load inside concurrent samples fails

    async def score(state: TaskState, target: Target) -> Score:
        text = state.output.completion
        rating = human_rating(state.metadata.get(human_field)) if human_field else None
        record = await anyio.to_thread.run_sync(scorer, text, state.input_text)
        metadata: dict[str, Any] = {
            "signature": record["signature"],
            "n_tokens": record["n_tokens"],
            "empty_generation": record["empty_generation"],
        }
        if rating is not None:
            metadata[HUMAN_RATING] = rating
        return Score(value={name: record[name] for name in SCORE_NAMES}, answer=text, metadata=metadata)

    return score


def human_agreement(method: str = "spearman", n_boot: int = N_BOOT, seed: int = SEED) -> Any:
    """An inspect_ai metric: the correlation of a score with the samples' human ratings.

    It reads each score's `metadata["human_rating"]` (set by `calibrated_surprise` from the sample metadata) and
    reports `agreement_with_humans`; with no rated sample it reports nothing.

    Args:
        method: "spearman" (default), "kendall" or "pearson".
        n_boot: bootstrap resamples for the interval (0: none).
        seed: seed of the bootstrap.
    """
    require("inspect_ai", "inspect")
    from inspect_ai.scorer import SampleScore

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        values = [s.score.as_float() for s in scores]
        ratings = [(s.score.metadata or {}).get(HUMAN_RATING) for s in scores]
        return agreement_with_humans(values, ratings, method=method, n_boot=n_boot, seed=seed)

    return compute


def human_rating(value: Any) -> float | list[float] | None:
    """A sample's human rating from its metadata: a number, a list with one number per rater, or None.

    Missing ratings (None, NaN, an empty list) give None; a missing rater in a list gives NaN.

    Examples:
        >>> human_rating(4), human_rating([3, None, "4.5"]), human_rating(None)
        (4.0, [3.0, nan, 4.5], None)

    Raises:
        InputValidationError: a rating is not a number.
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        raters = [math.nan if v is None else _rating_number(v) for v in value]
        return raters if any(not math.isnan(v) for v in raters) else None
    number = _rating_number(value)
    return None if math.isnan(number) else number


def _rating_number(value: Any) -> float:
    try:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise InputValidationError(
            f"human_rating: expected a number or a list of numbers (one per rater), got {value!r:.60}."
        ) from None


def agreement_with_humans(
    values: Sequence[float],
    ratings: Sequence[Any],
    *,
    method: str = "spearman",
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> dict[str, float]:
    """How a score agrees with human ratings, item by item (`cqmetric.reliability.correlation`).

    Pairs whose score is NaN (an empty output) or that have no rating are left out. A rating can be a number or a
    list with one number per rater: the correlation uses the mean of the raters, and with several raters the
    raters' own agreement (Krippendorff's alpha, interval) is reported beside it.

    Args:
        values: the score per sample.
        ratings: the rating per sample (see `human_rating`).
        method: "spearman" (default), "kendall" or "pearson".
        n_boot: bootstrap resamples for the correlation's interval (0: none).
        seed: seed of the bootstrap.

    Returns:
        `{}` when no sample is rated; else `n` (rated samples with a score), and from 3 of them on the
        correlation under the method's name, `<method>_ci_low`/`<method>_ci_high` (with `n_boot`), and
        `raters_alpha` (with several raters). An undefined correlation (constant scores or ratings) is NaN.
    """
    from cqmetric.reliability import correlation, krippendorff_alpha

    if len(values) != len(ratings):
        raise InputValidationError(
            f"agreement_with_humans: expected one rating per value, got {len(values)} values and {len(ratings)} ratings."
        )
    parsed = [human_rating(r) for r in ratings]
    if all(r is None for r in parsed):
        return {}
    pairs = [(float(v), r) for v, r in zip(values, parsed) if r is not None and not math.isnan(v)]
    out: dict[str, float] = {}
    if len(pairs) >= 3:
        width = max(len(r) if isinstance(r, list) else 1 for _, r in pairs)
        matrix = np.full((len(pairs), width), np.nan)
        for i, (_, r) in enumerate(pairs):
            row = r if isinstance(r, list) else [r]
            matrix[i, : len(row)] = row
        x = np.array([v for v, _ in pairs])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateInputWarning)
            result = correlation(x, np.nanmean(matrix, axis=1), method=method, n_boot=n_boot, seed=seed, pvalue="none")
            out[method] = float(result.estimate)
            if n_boot and result.ci is not None:
                out[f"{method}_ci_low"], out[f"{method}_ci_high"] = map(float, result.ci)
            if width > 1:
                out["raters_alpha"] = float(krippendorff_alpha(matrix, level="interval", n_boot=0).estimate)
    out["n"] = len(pairs)
    return out


if _inspect_scorer is not None:
    human_agreement = _inspect_scorer.metric(human_agreement)
    calibrated_surprise = _inspect_scorer.scorer(
        metrics={
            "calibrated_surprise": [_inspect_scorer.mean(), _inspect_scorer.stderr(), human_agreement()],
            "surprise": [_inspect_scorer.mean(), _inspect_scorer.stderr()],
            "residual": [_inspect_scorer.mean(), _inspect_scorer.stderr()],
        }
    )(calibrated_surprise)
