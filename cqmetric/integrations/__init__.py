"""Integrations with other evaluation frameworks.

The Hugging Face `evaluate` metric ships inside this package (as package data) and is loaded by path:

    >>> import evaluate  # doctest: +SKIP
    >>> metric = evaluate.load(evaluate_module_path())  # doctest: +SKIP

Importing this module never imports `evaluate` (that costs seconds); only `evaluate.load` does.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cqmetric.errors import InputValidationError

__all__ = ["evaluate_module_path", "evaluate_compute", "compute_signature", "settings_help", "check_metric_inputs",
           "EVALUATE_MODULE_NAME"]

EVALUATE_MODULE_NAME = "cqmetric_creativity"


def evaluate_module_path() -> str:
    """The folder of the `evaluate` metric module inside the installed package.

    Pass it to `evaluate.load`; it works offline, since nothing is fetched from the Hub.

    Returns:
        The absolute path of `integrations/hf_evaluate/cqmetric_creativity`, whose script has the folder's name.

    Examples:
        >>> path = evaluate_module_path()
        >>> Path(path, "cqmetric_creativity.py").is_file()
        True
    """
    return str(Path(__file__).resolve().parent / "hf_evaluate" / EVALUATE_MODULE_NAME)


def check_metric_inputs(predictions: Any, references: Any) -> None:
    """The evaluate metric's inputs, checked before evaluate stores them (its own errors name no fix).

    Predictions must be a list of strings (a single string would be scored character by character); references,
    when given, one prompt (a string, or None/"" for none) per prediction.

    Examples:
        >>> check_metric_inputs(["A text."], ["A prompt.", "Another."])
        Traceback (most recent call last):
        ...
        cqmetric.errors.InputValidationError: cqmetric_creativity: expected one reference per prediction (1), got 2.
    """
    where = "cqmetric_creativity"
    for name, value in (("predictions", predictions), ("references", references)):
        if isinstance(value, str):
            raise InputValidationError(
                f"{where}: expected `{name}` to be a list of strings, got a single str; wrap it: [text]."
            )
    if predictions is None:
        return
    preds = list(predictions)
    for i, p in enumerate(preds):
        if not isinstance(p, str):
            raise InputValidationError(f"{where}: expected `predictions[{i}]` to be a str, got {type(p).__name__} ({p!r:.40}).")
    if references is not None:
        refs = list(references)
        if len(refs) != len(preds):
            raise InputValidationError(f"{where}: expected one reference per prediction ({len(preds)}), got {len(refs)}.")
        for i, r in enumerate(refs):
            if r is not None and not isinstance(r, str):
                raise InputValidationError(
                    f"{where}: expected `references[{i}]` to be a prompt (str) or None, got {type(r).__name__}.")


def _constraints(references: Sequence[Any] | None, n: int) -> list[str] | None:
    """References as prompts: None, or all empty/None, means no constraints; a mix is refused."""
    if references is None:
        return None
    if isinstance(references, str):
        raise InputValidationError(
            "cqmetric_creativity: expected `references` to be a list with one prompt per prediction, got a single "
            "str; wrap it: [prompt]."
        )
    refs = list(references)
    if len(refs) != n:
        raise InputValidationError(
            f"cqmetric_creativity: expected one reference per prediction ({n}), got {len(refs)}."
        )
    missing = [i for i, r in enumerate(refs) if r is None or (isinstance(r, str) and not r.strip())]
    if len(missing) == n:
        return None
    if missing:
        raise InputValidationError(
            f"cqmetric_creativity: expected every reference to be a prompt, or none at all, got an empty "
            f"reference at index {missing[0]} among {n - len(missing)} non-empty ones."
        )
    return refs


def evaluate_compute(
    predictions: Sequence[str],
    references: Sequence[str | None] | None = None,
    *,
    model: Any = None,
    recommended: bool = False,
    scorers: Sequence[str] | None = None,
    options: Any = None,
    **settings: Any,
) -> dict[str, Any]:
    """What the `evaluate` metric returns: `cqmetric.score` as plain floats plus the signature.

    The loaded model is reused across calls (`cqmetric.get_backend` keeps it per process).

    Args:
        predictions: the texts.
        references: one prompt per text, or None (or all empty) to score surprise only.
        model: None (the embedded SmolLM2-135M), a local model path, or a backend object.
        recommended: also return `freshness`, the recommended score (`cqmetric.Freshness`; needs references).
        scorers: more scorers by name: specs as a signature writes them ("order_calibration(unit=sentence)") or
            paths of fitted-scorer files (`cqmetric.fit_to_experts(...).save(path)`).
        options: a `cqmetric.ScoreOptions` holding the settings (those given by keyword override it).
        **settings: any field of `cqmetric.ScoreOptions` (estimator, normalization, aggregation, n_boot,
            seed, confidence, dtype, device, start_token, max_length, stride, batch_size, ...).

    Returns:
        Per-text lists under each score name (`calibrated_surprise`, `surprise`, `residual`; only `surprise`
        without references) and `n_tokens`; `corpus_<name>` (float) and `corpus_<name>_ci` ([low, high] or
        None) for each score; and `signature` (str).

    Examples:
        >>> from cqmetric.backends.precomputed import PrecomputedBackend
        >>> out = evaluate_compute(["A cat sat."], ["Write about a cat."], model=PrecomputedBackend.example(),
        ...                        n_boot=0)
        >>> out["calibrated_surprise"], out["corpus_calibrated_surprise"]
        ([1.0], 1.0)
    """
    from cqmetric._validation import check_texts
    from cqmetric.api import score

    texts = check_texts("cqmetric_creativity", predictions, name="predictions")
    if settings.get("details") or (options is not None and getattr(options, "details", False)):
        raise InputValidationError(
            "cqmetric_creativity: per-token details are not part of the metric's output; call cqmetric.score("
            "..., details=True) for them."
        )
    if not isinstance(recommended, bool):
        raise InputValidationError(f"cqmetric_creativity: expected `recommended` to be True or False, got {recommended!r}.")
    constraints = _constraints(references, len(texts))
    if recommended and constraints is None:
        raise InputValidationError(
            "cqmetric_creativity: recommended=True (Freshness) reads each text's surprisal under its prompt; expected "
            "`references` (one prompt per text), got none."
        )
    from cqmetric.recommended import recommended_scorer
    from cqmetric.scorers import from_text

    if scorers is not None and (isinstance(scorers, str) or not all(isinstance(s, str) for s in scorers)):
        raise InputValidationError(
            f"cqmetric_creativity: expected `scorers` to be a list of scorer specs or fitted-scorer file paths, got "
            f"{scorers!r:.80}.")
    extra = ([recommended_scorer()] if recommended else []) + [from_text(s) for s in scorers or []]
    result = score(texts, constraints, model=model, scorers=extra or None, options=options, **settings)
    out: dict[str, Any] = {name: [float(v) for v in values] for name, values in result.scores.items()}
    out["n_tokens"] = [int(v) for v in result.n_tokens]
    for name, corpus in result.corpus.items():
        out[f"corpus_{name}"] = float(corpus.value)
        out[f"corpus_{name}_ci"] = None if corpus.ci is None else [float(corpus.ci[0]), float(corpus.ci[1])]
    out["signature"] = result.signature.format()
    return out


def compute_signature() -> inspect.Signature:
    """`_compute(self, predictions, references=None, model=None, *, recommended=False, <every ScoreOptions field>)`.

    Examples:
        >>> list(compute_signature().parameters)[:5]
        ['self', 'predictions', 'references', 'model', 'recommended']
    """
    from cqmetric.options import option_fields

    P = inspect.Parameter
    head = [P("self", P.POSITIONAL_OR_KEYWORD), P("predictions", P.POSITIONAL_OR_KEYWORD),
            P("references", P.POSITIONAL_OR_KEYWORD, default=None), P("model", P.POSITIONAL_OR_KEYWORD, default=None)]
    return inspect.Signature(head + [P("recommended", P.KEYWORD_ONLY, default=False),
                                     P("scorers", P.KEYWORD_ONLY, default=None),
                                     P("options", P.KEYWORD_ONLY, default=None)]
                             + [P(f.name, P.KEYWORD_ONLY, default=f.default) for f in option_fields()])


def settings_help() -> str:
    """One line per `ScoreOptions` field (name: help), for the metric card and the docs."""
    from cqmetric.options import option_fields

    return "\n".join(f"    {f.name}: {f.metadata['help']}" for f in option_fields())
