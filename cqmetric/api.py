"""`score()`: the one call for notebooks and harnesses, and the result it returns."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cqmetric._validation import check_option, check_positive_int, check_same_length, check_texts
from cqmetric.backends.base import LogProbBackend
from cqmetric.constraints import DEFAULT_TEMPLATE, ConstraintSet, Template, as_constraint_set
from cqmetric.errors import InputValidationError
from cqmetric.evidence import Evidence, Need, gather
from cqmetric.information import NORMALIZATIONS, ChainRuleProfile, DimensionAnalysis, chain_rule_profile
from cqmetric.scorers import ESTIMATORS, Scorer, check_scorers, default_scorers, dimension_analysis, spec
from cqmetric.signature import Signature
from cqmetric.types import TokenizedText
from cqmetric.version import __version__

AGGREGATIONS = ("token", "text")
_BACKENDS: dict[tuple[Any, ...], LogProbBackend] = {}


def get_backend(
    model: Any = None,
    *,
    dtype: str | None = None,
    device: str | None = None,
    start_token: str | None = None,
    max_length: int | None = None,
    stride: int | None = None,
    batch_size: int | None = None,
    progress: bool = False,
) -> LogProbBackend:
    """Resolve `model` to a backend, loading it once per process and setting and reusing it afterwards.

    `model` is None (the embedded SmolLM2-135M), a local path or cached id, a `(model, tokenizer)` pair, or
    any object with the backend protocol (then model settings belong on that object, not here).
    """
    settings = {"dtype": dtype, "device": device, "start_token": start_token, "max_length": max_length,
                "stride": stride}
    if isinstance(model, LogProbBackend):
        given = sorted(k for k, v in settings.items() if v is not None)
        if given:
            raise InputValidationError(
                f"score: got a backend object and model settings {given}; set them on the backend instead."
            )
        backend = model
    else:
        from cqmetric.backends.hf import HFBackend

        options = {k: v for k, v in settings.items() if v is not None}
        if isinstance(model, tuple) and len(model) == 2:
            backend = HFBackend(model[0], model[1], **options)
        else:
            key = (None if model is None else str(model), tuple(sorted(options.items())))
            backend = _BACKENDS.get(key)
            if backend is None:
                if model is None:
                    from cqmetric.backends.embedded import load_embedded

                    backend = load_embedded(**options)
                else:
                    backend = HFBackend(model, **options)
                _BACKENDS[key] = backend
    if batch_size is not None and hasattr(backend, "batch_size"):
        backend.batch_size = check_positive_int("score", "batch_size", batch_size)  # changes speed, not numbers
    if hasattr(backend, "progress"):
        backend.progress = progress
    return backend


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

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.scores[name]

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-safe dict per text: every score (bits), `n_tokens`, and `tokens` when details were asked."""
        names = ["calibrated_surprise", "surprise", "residual"]
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
        return "\n".join([line(head), rule, *map(line, rows), rule, line(corpus),
                          f"scores in bits/{self.signature['norm']}; signature: {self.signature.format()}"])


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
    estimator: str = "pointwise",
    normalization: str = "token",
    aggregation: str = "token",
    template: Template = DEFAULT_TEMPLATE,
    batch_size: int | None = None,
    dtype: str | None = None,
    device: str | None = None,
    start_token: str | None = None,
    max_length: int | None = None,
    stride: int | None = None,
    details: bool = False,
    n_bootstrap: int = 1000,
    seed: int = 12345,
    confidence: float = 0.95,
    progress: bool = False,
) -> ScoreResult:
    """Score texts for calibrated surprise I(X;Y) = H(X) - H(X|Y), surprise H(X) and residual H(X|Y).

    Args:
        texts: the texts X.
        constraints: one prompt string or `ConstraintSet` per text; None scores surprise only.
        model: None (the embedded SmolLM2-135M), a local model path, a (model, tokenizer) pair, or a backend.
        scorers: extra or replacement scorers (list or name -> scorer); default: the three scores above.
        estimator: "pointwise" (log-prob of the observed token) or "expected" (prediction entropy).
        normalization: "token" (bits/token), "sum" (bits), "byte" (bits/byte) or "word" (bits/word).
        aggregation: corpus aggregate: "token" (pooled over all tokens/bytes/words) or "text" (mean of texts).
        template: renders constraints into a context; the unconstrained context is its empty rendering.
        batch_size: sequences per forward pass (speed only: results do not depend on it).
        dtype: "float32" (default) or "bfloat16".
        device: "cpu" (default), "cuda", ...
        start_token: "auto", "prepend" or "none" (see `HFBackend`).
        max_length: window in tokens; longer texts are scored with a sliding window, never truncated.
        stride: new tokens per window after the first.
        details: add per-token s_t, c_t, i_t (and entropies) to the records.
        n_bootstrap: resamples for the corpus confidence interval (0: none).
        seed: seed of the bootstrap.
        confidence: level of the interval.
        progress: show a progress bar.

    Returns:
        ScoreResult with `to_records()`, `corpus`, `signature` and `per_token` (when `details`).

    Examples:
        >>> from cqmetric.backends.precomputed import PrecomputedBackend
        >>> backend = PrecomputedBackend.example()
        >>> res = score(["A cat sat."], ["Write about a cat."], model=backend, n_bootstrap=0)
        >>> res.to_records()[0]
        {'calibrated_surprise': 1.0, 'surprise': 3.0, 'residual': 2.0, 'n_tokens': 3}
    """
    where = "score"
    texts, sets = _prepare(where, texts, constraints)
    check_option(where, "estimator", estimator, ESTIMATORS)
    check_option(where, "normalization", normalization, NORMALIZATIONS)
    check_option(where, "aggregation", aggregation, AGGREGATIONS)
    if not isinstance(template, Template):
        raise InputValidationError(f"{where}: expected `template` to be a cqmetric.Template, got {type(template).__name__}.")
    if not (isinstance(n_bootstrap, int) and n_bootstrap >= 0):
        raise InputValidationError(f"{where}: expected `n_bootstrap` to be an integer >= 0, got {n_bootstrap!r}.")
    if not 0 < confidence < 1:
        raise InputValidationError(f"{where}: expected `confidence` in (0, 1), got {confidence!r}.")
    members = default_scorers(constrained=sets is not None, estimator=estimator, normalization=normalization)
    custom = scorers is not None
    if custom:
        extra = check_scorers(where, scorers)
        members = {**{k: v for k, v in members.items() if k not in extra}, **extra}

    backend = get_backend(model, dtype=dtype, device=device, start_token=start_token, max_length=max_length,
                          stride=stride, batch_size=batch_size, progress=progress)
    tokens = _tokenize(where, backend, texts)
    needs: set[Need] = set().union(*(s.needs for s in members.values()))
    if details and sets is not None:
        needs |= {Need("constrained")}
    evidence = gather(backend, tokens, sets, template, needs)

    values = {name: np.array([s.compute(ev) for ev in evidence]) for name, s in members.items()}
    corpus = {}
    for name, s in members.items():
        pooled = aggregation == "token" and hasattr(s, "pooled") and getattr(s, "normalization", "") != "sum"
        if pooled:
            num, den = map(np.array, zip(*(s.pooled(ev) for ev in evidence)))
        else:
            num, den = values[name], np.ones(len(evidence))
        corpus[name] = _corpus_score(num, den, "token" if pooled else "text", n_bootstrap, seed, confidence)

    signature = build_signature(backend, template=template, estimator=estimator, normalization=normalization,
                                aggregation=aggregation, scorers=members if custom else None,
                                n_bootstrap=n_bootstrap, seed=seed, confidence=confidence)
    return ScoreResult(
        texts=tuple(texts), scores=values, n_tokens=np.array([ev.n_tokens for ev in evidence]),
        corpus=corpus, signature=signature,
        per_token=tuple(_per_token_detail(ev) for ev in evidence) if details else None,
    )


def build_signature(
    backend: LogProbBackend,
    *,
    template: Template = DEFAULT_TEMPLATE,
    estimator: str = "pointwise",
    normalization: str = "token",
    aggregation: str = "token",
    scorers: Mapping[str, Scorer] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 12345,
    confidence: float = 0.95,
) -> Signature:
    """The signature `score()` would give for these settings, without scoring anything.

    `scorers=None` means the default three scores; otherwise every scorer and its params are listed.

    Examples:
        >>> from cqmetric.backends.precomputed import PrecomputedBackend
        >>> build_signature(PrecomputedBackend.example(), n_bootstrap=0).format(short=True)[:40]
        'm:example@none|dt:n/a|st:none|win:none|t'
    """
    info = backend.info
    return Signature.build(
        model=f"{info.model}@{info.weights}", dtype=info.dtype, start=info.start_token,
        window=f"{info.max_length}/{info.stride}" if info.max_length else "none",
        template=template.fingerprint, estimator=estimator, units="bits", norm=normalization, agg=aggregation,
        scorers="default" if scorers is None else "+".join(spec(s) for s in scorers.values()),
        bootstrap=f"{n_bootstrap}@{confidence:g}" if n_bootstrap else "0", seed=seed if n_bootstrap else None,
        version=__version__,
    )


def dimensions(
    texts: Sequence[str],
    constraints: Sequence[ConstraintSet],
    *,
    by: str = "source",
    model: Any = None,
    template: Template = DEFAULT_TEMPLATE,
    batch_size: int | None = None,
) -> list[DimensionAnalysis]:
    """Per-dimension I(X;Y_d), joint I(X;Y), interaction and exact Shapley attributions (bits/token) per text.

    With k dimensions present in a text's constraint set, its 2^k subsets are each scored once.
    """
    texts, sets = _prepare("dimensions", texts, constraints)
    if sets is None:
        raise InputValidationError("dimensions: expected one constraint set per text, got constraints=None.")
    check_option("dimensions", "by", by, ("source", "aspect"))
    backend = get_backend(model, batch_size=batch_size)
    evidence = gather(backend, _tokenize("dimensions", backend, texts), sets, template, {Need("dimensions", by)})
    return [dimension_analysis(ev, by=by) for ev in evidence]


def profiles(
    texts: Sequence[str],
    constraints: Sequence[str | ConstraintSet],
    *,
    unit: str = "sentence",
    model: Any = None,
    template: Template = DEFAULT_TEMPLATE,
    batch_size: int | None = None,
) -> list[ChainRuleProfile]:
    """The chain-rule profile of each text: I(X_j; Y | X_<j) per unit (bits), shares and concentration.

    Units: "sentence", "paragraph" or "tokens:N".
    """
    from cqmetric.evidence import split_units

    texts, sets = _prepare("profiles", texts, constraints)
    if sets is None:
        raise InputValidationError("profiles: expected one prompt or constraint set per text, got None.")
    backend = get_backend(model, batch_size=batch_size)
    tokens = _tokenize("profiles", backend, texts)
    evidence = gather(backend, tokens, sets, template, {Need("constrained")})
    out = []
    for tok, ev in zip(tokens, evidence):
        spans, index = split_units(tok, unit)
        out.append(chain_rule_profile(ev.s - ev.c, index, spans))
    return out


def fit_norms(result: ScoreResult, names: Sequence[str] | None = None) -> dict[str, tuple[float, float]]:
    """Reference (mean, std) of each named score in `result`, for `WeightedSum` standardisation."""
    out = {}
    for name in names or list(result.scores):
        values = result.scores[name]
        std = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
        out[name] = (float(np.mean(values)), std)
    return out
