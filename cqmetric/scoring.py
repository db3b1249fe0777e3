"""`score()`: the one call for notebooks and harnesses, and `build_signature()`, the signature it would give.

The steps of a call: check the settings and the input (before any model loads), resolve the scorers, resolve the
backend, tokenize each text once, gather the evidence every scorer needs in one pass per distinct context, compute
each scorer per text, aggregate over the corpus, and sign the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cqmetric._validation import check_same_length, check_texts
from cqmetric.backends.base import LogProbBackend
from cqmetric.backends.resolve import get_backend
from cqmetric.constraints import ConstraintSet, as_constraint_set
from cqmetric.errors import InputValidationError
from cqmetric.evidence import gather
from cqmetric.options import ScoreOptions
from cqmetric.resampling import scipy_percentile_ci
from cqmetric.results import CorpusScore, ScoreResult
from cqmetric.scorers import DEFAULT_NAMES, Scorer, resolve_scorers, spec
from cqmetric.signature import Signature
from cqmetric.types import CONSTRAINED, ENTROPY, Evidence, Need, TokenizedText
from cqmetric.version import __version__

__all__ = ["score", "build_signature", "corpus_score"]


def corpus_score(numerators: np.ndarray, denominators: np.ndarray, aggregation: str, n_boot: int, seed: int,
                 confidence: float) -> CorpusScore:
    """sum(numerators) / sum(denominators), with a paired percentile bootstrap interval over texts (3 or more
    texts that differ), drawn by the package's one bootstrap helper."""
    statistic = lambda num, den, axis=-1: np.sum(num, axis=axis) / np.sum(den, axis=axis)  # noqa: E731
    value = float(statistic(numerators, denominators))
    ci = None
    if n_boot and len(numerators) >= 3 and np.ptp(numerators / denominators) > 0:
        ci = scipy_percentile_ci((numerators, denominators), statistic, n_boot=n_boot,
                                 rng=np.random.default_rng(seed), confidence=confidence, paired=True)
    return CorpusScore(value, ci, aggregation, len(numerators))


def corpus_scores(members: Mapping[str, Scorer], evidence: Sequence[Evidence], values: Mapping[str, np.ndarray],
                  opts: ScoreOptions) -> dict[str, CorpusScore]:
    """Each scorer's corpus aggregate: its statistics pooled (token-weighted) when it is poolable and the call
    aggregates by token, else the mean of its per-text values."""
    out = {}
    for name, scorer in members.items():
        pooled = opts.aggregation == "token" and scorer.poolable
        if pooled:
            num, den = (np.array(v, dtype=np.float64) for v in zip(*(scorer.statistics(ev) for ev in evidence)))
        else:
            num, den = values[name], np.ones(len(evidence))
        out[name] = corpus_score(num, den, "token" if pooled else "text", opts.n_boot, opts.seed, opts.confidence)
    return out


def _prepare(where: str, texts: Any, constraints: Any) -> tuple[list[str], list[ConstraintSet] | None]:
    texts = check_texts(where, texts)
    if constraints is None:
        return texts, None
    if isinstance(constraints, (str, ConstraintSet)):
        raise InputValidationError(
            f"{where}: expected `constraints` to be a list with one prompt or constraint set per text, "
            f"got a single {type(constraints).__name__}; use [c] * len(texts) to share it."
        )
    if not isinstance(constraints, (Sequence, np.ndarray)):
        raise InputValidationError(
            f"{where}: expected `constraints` to be a list with one prompt or constraint set per text, "
            f"got {type(constraints).__name__}."
        )
    constraints = list(constraints)
    check_same_length(where, texts=texts, constraints=constraints)
    return texts, [as_constraint_set(c, where=where, index=i) for i, c in enumerate(constraints)]


def _tokenize(where: str, backend: LogProbBackend, texts: Sequence[str]) -> list[TokenizedText]:
    out = []
    for i, text in enumerate(texts):
        tok = backend.tokenize(text)
        if tok.n_tokens == 0:
            raise InputValidationError(f"{where}: `texts[{i}]` ({text!r:.60}) gives zero tokens; expected at least one.")
        out.append(tok)
    return out


def _per_token_detail(ev: Evidence) -> dict[str, Any]:
    a, b = ev.tokens.offsets[:, 0], ev.tokens.offsets[:, 1]
    detail: dict[str, Any] = {"token": [ev.text[x:y] for x, y in zip(a, b)], "s": ev.s.tolist()}
    if ev.c is not None:
        detail["c"] = ev.c.tolist()
        detail["i"] = (ev.s - ev.c).tolist()
    if ev.h0 is not None:
        detail["h0"] = ev.h0.tolist()
    if ev.hy is not None:
        detail["hy"] = ev.hy.tolist()
    return detail


def score(
    texts: Sequence[str],
    constraints: Sequence[str | ConstraintSet] | None = None,
    *,
    model: Any = None,
    scorers: Sequence[Scorer] | Mapping[str, Scorer] | None = None,
    defaults: bool = True,
    options: ScoreOptions | None = None,
    **settings: Any,
) -> ScoreResult:
    """Score texts for calibrated surprise I(X;Y) = H(X) - H(X|Y), surprise H(X) and residual H(X|Y).

    Args:
        texts: the texts X.
        constraints: one prompt string or `ConstraintSet` per text; None scores surprise only.
        model: None (the embedded SmolLM2-135M), a local model folder or `.gguf` file, a `(model, tokenizer)`
            pair, or a backend object (see `get_backend`).
        scorers: more scorers (a list, or a dict name -> scorer). They inherit the call's `estimator` and
            `normalization`; a scorer that fixes another one is refused, and so is one that would silently
            replace a default score of the same name.
        defaults: also compute the three default scores (only `surprise` without constraints).
        options: a `ScoreOptions` holding the settings below (settings given by keyword override it).
        **settings: any setting of `ScoreOptions`, by keyword: estimator, normalization, aggregation, template,
            details, n_boot, seed, confidence; the model settings dtype, device, start_token, start_token_id,
            max_length, stride; the batch policy batch_size, batch_tokens, share_prefix, progress (speed only).
            Everything is checked before the model loads.

    Returns:
        ScoreResult with `to_records()`, `corpus`, `signature`, `units` and `per_token` (with `details=True`).

    Examples:
        >>> from cqmetric.backends.precomputed import PrecomputedBackend
        >>> backend = PrecomputedBackend.example()
        >>> res = score(["A cat sat."], ["Write about a cat."], model=backend, n_boot=0)
        >>> res.to_records()[0]
        {'calibrated_surprise': 1.0, 'surprise': 3.0, 'residual': 2.0, 'n_tokens': 3}
    """
    where = "score"
    opts = ScoreOptions.from_settings(where, options, **settings)
    texts, sets = _prepare(where, texts, constraints)
    members = resolve_scorers(where, scorers, constrained=sets is not None, estimator=opts.estimator,
                              normalization=opts.normalization, defaults=bool(defaults), n_texts=len(texts))

    if opts.details and "tokens" in members:
        raise InputValidationError(f"{where}: a scorer named 'tokens' clashes with the per-token details; rename it.")
    backend = get_backend(model, settings=opts.model)
    tokens = _tokenize(where, backend, texts)
    needs: set[Need] = set().union(*(s.needs for s in members.values()))
    if opts.details and sets is not None:
        needs |= {CONSTRAINED}
    if ENTROPY in needs and not getattr(backend, "supports_entropy", True):
        raise InputValidationError(
            f"{where}: estimator='expected' needs the model's full distribution at every position, which "
            f"{type(backend).__name__} does not return; use estimator='pointwise' or the transformers backend."
        )
    evidence = gather(backend, tokens, sets, opts.template, needs, batch=opts.batch)

    values = {name: np.array([s.compute(ev) for ev in evidence], dtype=np.float64) for name, s in members.items()}
    corpus = corpus_scores(members, evidence, values, opts)

    return ScoreResult(
        texts=tuple(texts), scores=values, n_tokens=np.array([ev.n_tokens for ev in evidence]),
        corpus=corpus, signature=_signature(backend, opts, members, defaults=bool(defaults)),
        per_token=tuple(_per_token_detail(ev) for ev in evidence) if opts.details else None,
        units={name: s.units() for name, s in members.items()},
    )


def _scorers_field(members: Mapping[str, Scorer], *, defaults: bool) -> str:
    """"default" for exactly the default scores; else every member as `name=spec` (or `spec` when it is its name)."""
    if defaults and set(members) <= set(DEFAULT_NAMES):
        return "default"
    return "+".join(spec(s) if s.name == k else f"{k}={spec(s)}" for k, s in members.items())


def _signature(backend: LogProbBackend, opts: ScoreOptions, members: Mapping[str, Scorer] | None, *,
               defaults: bool = True, scorers_field: str | None = None) -> Signature:
    info = backend.info
    return Signature.build(
        model=f"{info.model}@{info.weights}", dtype=info.dtype, start=info.start_token,
        window=f"{info.max_length}/{info.stride or 'auto'}" if info.max_length else "none",
        template=opts.template.fingerprint, estimator=opts.estimator, units="bits", norm=opts.normalization,
        agg=opts.aggregation,
        scorers=scorers_field or _scorers_field(members or {}, defaults=defaults),
        bootstrap=f"{opts.n_boot}@{opts.confidence:g}" if opts.n_boot else "0",
        seed=opts.seed if opts.n_boot else None, version=__version__,
    )


def build_signature(
    backend: LogProbBackend,
    *,
    scorers: Sequence[Scorer] | Mapping[str, Scorer] | None = None,
    defaults: bool = True,
    constrained: bool = True,
    options: ScoreOptions | None = None,
    **settings: Any,
) -> Signature:
    """The signature `score()` would give for these settings, without scoring anything.

    Takes what `score()` takes (scorers, defaults, options and settings) plus `constrained` (whether the call
    passes constraints), and resolves the scorers with the same function, so the two always agree.

    Examples:
        >>> from cqmetric.backends.precomputed import PrecomputedBackend
        >>> build_signature(PrecomputedBackend.example(), n_boot=0).format(short=True)[:40]
        'm:example@none|dt:n/a|st:none|win:none|t'
    """
    if not isinstance(backend, LogProbBackend):
        raise InputValidationError(
            f"build_signature: expected a backend object (e.g. cqmetric.get_backend(model)), got "
            f"{type(backend).__name__} ({backend!r:.60}).")
    opts = ScoreOptions.from_settings("build_signature", options, **settings)
    members = resolve_scorers("build_signature", scorers, constrained=constrained, estimator=opts.estimator,
                              normalization=opts.normalization, defaults=bool(defaults))
    return _signature(backend, opts, members, defaults=bool(defaults))
