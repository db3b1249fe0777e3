"""`score()`: the one call for notebooks and harnesses, and the result it returns."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from cqmetric._validation import check_positive_int, check_same_length, check_texts
from cqmetric.backends.base import LogProbBackend
from cqmetric.backends.resolve import get_backend
from cqmetric.constraints import ConstraintSet, as_constraint_set
from cqmetric.errors import InputValidationError
from cqmetric.evidence import Evidence, Need, gather
from cqmetric.information import chain_rule_profile
from cqmetric.options import AGGREGATIONS, ScoreOptions
from cqmetric.settings import BATCH_FIELDS, MODEL_FIELDS
from cqmetric.scorers import DEFAULT_NAMES, Scorer, dimension_analysis, resolve_scorers, spec, unit_of
from cqmetric.signature import Signature
from cqmetric.types import TokenizedText
from cqmetric.version import __version__

__all__ = ["score", "build_signature", "dimensions", "profiles", "fit_norms", "get_backend", "ScoreResult",
           "CorpusScore", "AnalysisResult", "AGGREGATIONS"]

@dataclass(frozen=True)
class CorpusScore:
    """A corpus-level score with its bootstrap confidence interval.

    Attributes:
        value: the aggregate.
        ci: (low, high) percentile bootstrap interval, or None for fewer than 3 texts or no bootstrap.
        aggregation: "token" (pooled: total bits over total tokens/bytes/words) or "text" (mean of texts).
        n: number of texts.
    """

    value: float
    ci: tuple[float, float] | None
    aggregation: str
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci": None if self.ci is None else list(self.ci),
                "aggregation": self.aggregation, "n": self.n}


@dataclass(frozen=True)
class ScoreResult:
    """Per-text scores, the corpus aggregate, the signature, and per-token detail on request."""

    texts: tuple[str, ...]
    scores: Mapping[str, np.ndarray]
    n_tokens: np.ndarray
    corpus: Mapping[str, CorpusScore]
    signature: Signature
    per_token: tuple[dict[str, Any], ...] | None = None
    units: Mapping[str, str] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.scores[name]

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-safe dict per text: every score (bits), `n_tokens`, and `tokens` when details were asked."""
        # The default names always head the record (None where not computed, e.g. without constraints), unless
        # the call computed none of them (defaults=False).
        names = list(DEFAULT_NAMES) if any(n in self.scores for n in DEFAULT_NAMES) else []
        names += [n for n in self.scores if n not in names]
        records = []
        for k in range(len(self.texts)):
            row: dict[str, Any] = {
                n: (float(self.scores[n][k]) if n in self.scores else None) for n in names
            }
            row["n_tokens"] = int(self.n_tokens[k])
            if self.per_token is not None:
                row["tokens"] = self.per_token[k]
            records.append(row)
        return records

    def to_dict(self) -> dict[str, Any]:
        return {
            "signature": self.signature.format(),
            "corpus": {k: v.to_dict() for k, v in self.corpus.items()},
            "records": self.to_records(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, default=_json_default)

    def __str__(self) -> str:
        names = list(self.scores)
        head = ["#", "text", *names, "n_tokens"]
        rows = [
            [str(k), _clip(t, 40), *(f"{self.scores[n][k]:.3f}" for n in names), str(self.n_tokens[k])]
            for k, t in enumerate(self.texts)
        ]
        corpus = ["", "corpus", *(_fmt_corpus(self.corpus[n]) for n in names), str(int(self.n_tokens.sum()))]
        widths = [max(len(r[i]) for r in [head, *rows, corpus]) for i in range(len(head))]
        line = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
        rule = "-" * len(line(head))
        units = self.units or {}
        measured = "; ".join(f"{n} in {units.get(n, '?')}" for n in names)
        return "\n".join([line(head), rule, *map(line, rows), rule, line(corpus),
                          f"{measured}; signature: {self.signature.format()}"])


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _clip(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _fmt_corpus(c: CorpusScore) -> str:
    return f"{c.value:.3f}" if c.ci is None else f"{c.value:.3f} [{c.ci[0]:.3f}, {c.ci[1]:.3f}]"


def _corpus_score(numerators: np.ndarray, denominators: np.ndarray, aggregation: str, n_bootstrap: int,
                  seed: int, confidence: float) -> CorpusScore:
    from scipy.stats import bootstrap

    statistic = lambda num, den, axis=-1: np.sum(num, axis=axis) / np.sum(den, axis=axis)  # noqa: E731
    value = float(statistic(numerators, denominators))
    ci = None
    if n_bootstrap and len(numerators) >= 3 and np.ptp(numerators / denominators) > 0:
        res = bootstrap((numerators, denominators), statistic, paired=True, vectorized=True,
                        n_resamples=n_bootstrap, confidence_level=confidence, method="percentile",
                        rng=np.random.default_rng(seed))
        ci = (float(res.confidence_interval.low), float(res.confidence_interval.high))
    return CorpusScore(value, ci, aggregation, len(numerators))


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
        needs |= {Need("constrained")}
    if Need("entropy") in needs and not getattr(backend, "supports_entropy", True):
        raise InputValidationError(
            f"{where}: estimator='expected' needs the model's full distribution at every position, which "
            f"{type(backend).__name__} does not return; use estimator='pointwise' or the transformers backend."
        )
    evidence = gather(backend, tokens, sets, opts.template, needs, batch=opts.batch)

    values = {name: np.array([s.compute(ev) for ev in evidence], dtype=np.float64) for name, s in members.items()}
    corpus = {}
    for name, s in members.items():
        pooled = opts.aggregation == "token" and hasattr(s, "pooled") and getattr(s, "_normalization", "") != "sum"
        if pooled:
            num, den = map(np.array, zip(*(s.pooled(ev) for ev in evidence)))
        else:
            num, den = values[name], np.ones(len(evidence))
        corpus[name] = _corpus_score(num, den, "token" if pooled else "text", opts.n_boot, opts.seed,
                                     opts.confidence)

    return ScoreResult(
        texts=tuple(texts), scores=values, n_tokens=np.array([ev.n_tokens for ev in evidence]),
        corpus=corpus, signature=_signature(backend, opts, members, defaults=bool(defaults)),
        per_token=tuple(_per_token_detail(ev) for ev in evidence) if opts.details else None,
        units={name: unit_of(s) for name, s in members.items()},
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


@dataclass(frozen=True)
class AnalysisResult(Sequence):
    """Per-text analyses (`dimensions()` or `profiles()`) and the signature of the settings behind them.

    Behaves as a sequence of the per-text results.
    """

    items: tuple[Any, ...]
    signature: Signature

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: Any) -> Any:
        return self.items[index]

    def to_dict(self) -> dict[str, Any]:
        return {"signature": self.signature.format(), "items": [item.to_dict() for item in self.items]}


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
    from cqmetric.evidence import split_units

    where = "profiles"
    opts = _analysis_options(where, options, settings)
    texts, sets = _prepare(where, texts, constraints)
    if sets is None:
        raise InputValidationError(f"{where}: expected one prompt or constraint set per text, got None.")
    if not isinstance(unit, str) or not (unit in ("sentence", "paragraph") or unit.startswith("tokens:")):
        raise InputValidationError(f"{where}: got unit={unit!r}; allowed: 'sentence', 'paragraph', 'tokens:N'.")
    backend = get_backend(model, settings=opts.model, where=where)
    tokens = _tokenize(where, backend, texts)
    evidence = gather(backend, tokens, sets, opts.template, {Need("constrained")}, batch=opts.batch)
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
