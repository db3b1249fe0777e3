"""Gather the model evidence that scorers read: every distinct (context, text) pair is scored once.

This is the only module that calls a backend. What it builds (`Evidence`, and the `Need`s scorers declare) lives in
`cqmetric.types`. It renders each needed context with the template, collects the
requests of all texts and all scorers, removes duplicates, asks the backend once, and hands every scorer the
same per-token arrays (in bits).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from cqmetric.backends.base import LogProbBackend, call_score, text_budget
from cqmetric.constraints import ConstraintSet, Template
from cqmetric.errors import BackendError, InputValidationError
from cqmetric.information import all_subsets, entropy_bits, surprisal_bits
from cqmetric.reference import ReferenceEvidence, load_reference
from cqmetric.settings import BatchPolicy
from cqmetric.types import (
    CONSTRAINED,
    ENTROPY,
    REFERENCE,
    Evidence,
    Need,
    Request,
    TokenizedText,
)
from cqmetric.units import (
    fixed_token_units,
    reordered_tokens,
    token_unit_index,
    unit_spans,
)


def split_units(tokens: TokenizedText, kind: str) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Unit spans and the unit index of every token, for "sentence", "paragraph" or "tokens:N"."""
    if kind.startswith("tokens:"):
        try:
            size = int(kind.split(":", 1)[1])
        except ValueError:
            size = 0
        if size < 1:
            raise InputValidationError(f"units: expected 'tokens:N' with N >= 1, got {kind!r}.")
        index = fixed_token_units(tokens.n_tokens, size)
        bounds = [int(b) for b in np.flatnonzero(np.diff(np.r_[-1, index]))]
        spans = [
            (int(tokens.offsets[b, 0]), int(tokens.offsets[e - 1, 1]))
            for b, e in zip(bounds, bounds[1:] + [tokens.n_tokens])
        ]
        return spans, index
    spans = unit_spans(tokens.text, kind)
    index = token_unit_index(tokens.offsets, spans)
    # Units that received no token (possible with odd offsets) are merged away to keep the profile honest.
    used = np.unique(index)
    if len(used) != len(spans):
        spans = [spans[u] for u in used]
        index = np.searchsorted(used, index)
    return spans, index


def _shared_budget(backend: LogProbBackend, tok: TokenizedText, contexts: dict[object, object], max_length: int,
                   *, index: int) -> int:
    """Text tokens per window for one text, the same in all its contexts (0: it fits beside each of them).

    With a window, a text that does not fit is scored in pieces. The room a window has for the text is set by the
    text's longest context, so every token sees the same stretch of the text's own past in every context and the
    difference between contexts measures the contexts alone.
    """
    if not max_length:
        return 0
    context_length = getattr(backend, "context_length", None)
    if not callable(context_length):
        raise BackendError(
            f"gather: the backend {type(backend).__name__} has a window (max_length={max_length}) but no "
            "context_length(context); it needs one to give every context of a text the same window."
        )
    strings = [c for v in contexts.values() for c in (v.values() if isinstance(v, dict) else [v])]
    longest = max(context_length(c) for c in strings)
    try:
        budget = text_budget(longest, max_length=max_length)
    except InputValidationError as exc:
        raise InputValidationError(f"score: text {index}: {exc}") from None
    return 0 if tok.n_tokens <= budget else budget


def gather(
    backend: LogProbBackend,
    tokens: Sequence[TokenizedText],
    constraints: Sequence[ConstraintSet] | None,
    template: Template,
    needs: Iterable[Need],
    *,
    batch: BatchPolicy | None = None,
) -> list[Evidence]:
    """Score every distinct (context, text) pair that `needs` asks for, once, and build one Evidence per text.

    `batch` is the call's batching; it reaches the backend with the call and changes nothing but speed. With the
    `REFERENCE` need, every Evidence also carries the model's evidence about the bundled reference set (scored once
    per model, template and needs in a process; see `cqmetric.reference`).
    """
    needs = set(needs)
    if REFERENCE in needs:
        needs.discard(REFERENCE)
        reference = reference_evidence(backend, template, frozenset(needs), batch=batch)
        evidence = gather(backend, tokens, constraints, template, needs, batch=batch)
        for ev in evidence:
            ev.reference = reference
        return evidence
    if constraints is None and any(n.kind in ("constrained", "dimensions") for n in needs):
        raise InputValidationError(
            "score: the chosen scorers need constraints (a prompt or constraint set per text), got constraints=None."
        )
    want_entropy = ENTROPY in needs
    empty_context = template.render(ConstraintSet())
    max_length = backend.info.max_length
    requests: dict[Request, int] = {}

    plans = []
    for k, tok in enumerate(tokens):
        ys = constraints[k] if constraints is not None else None
        contexts: dict[object, object] = {"s": empty_context}
        if ys is not None and (CONSTRAINED in needs or want_entropy):
            contexts["c"] = template.render(ys)
        for need in needs:
            if need.kind == "dimensions" and ys is not None:
                by = need.option or "source"
                contexts[need] = {s: template.render(ys.subset(s, by=by)) for s in all_subsets(ys.groups(by))}
        budget = _shared_budget(backend, tok, contexts, max_length, index=k)

        def ask(context: str, ids: np.ndarray) -> Request:
            req = Request(context, tuple(int(i) for i in ids), budget if len(ids) > budget else 0)
            requests.setdefault(req, len(requests))
            return req

        plan: dict[object, object] = {}
        for key, context in contexts.items():
            plan[key] = ({s: ask(c, tok.token_ids) for s, c in context.items()} if isinstance(context, dict)
                         else ask(context, tok.token_ids))
        for need in needs:
            if need.kind == "units":
                spans, index = split_units(tok, need.option or "sentence")
                # The first unit has no past: alone and in place are the same, so it needs no extra pass.
                alone = [None] + [ask(empty_context, tok.token_ids[index == j]) for j in range(1, len(spans))]
                plan[need] = (spans, index, alone)
            elif need.kind == "reordered":
                _, index = split_units(tok, need.option or "sentence")
                other = reordered_tokens(tok.token_ids, index)
                plan[need] = None if other is None else ask(empty_context, other)
        plans.append(plan)

    ordered = sorted(requests, key=requests.__getitem__)
    results = call_score(backend, ordered, entropy=want_entropy, batch=batch)
    if len(results) != len(ordered):
        raise BackendError(f"gather: the backend returned {len(results)} results for {len(ordered)} requests.")
    by_request = dict(zip(ordered, results))
    for req, res in by_request.items():
        if res.logprobs.shape != (len(req.target_ids),) or not np.all(np.isfinite(res.logprobs)):
            raise BackendError(
                f"gather: expected {len(req.target_ids)} finite log-probs for a request, got shape "
                f"{res.logprobs.shape} with {int(np.sum(~np.isfinite(res.logprobs)))} non-finite value(s)."
            )

    evidence = []
    for k, (tok, plan) in enumerate(zip(tokens, plans)):
        s_res = by_request[plan["s"]]
        ev = Evidence(tokens=tok, constraints=None if constraints is None else constraints[k],
                      s=surprisal_bits(s_res.logprobs), index=k)
        if "c" in plan:
            c_res = by_request[plan["c"]]
            ev.c = surprisal_bits(c_res.logprobs)
            if want_entropy:
                ev.h0, ev.hy = entropy_bits(s_res.entropy), entropy_bits(c_res.entropy)
        elif want_entropy:
            ev.h0 = entropy_bits(s_res.entropy)
        for need, value in plan.items():
            if not isinstance(need, Need):
                continue
            if need.kind == "dimensions":
                ev.subsets[need.option or "source"] = {
                    s: surprisal_bits(by_request[r].logprobs) for s, r in value.items()
                }
            elif need.kind == "reordered":
                ev.reordered[need.option or "sentence"] = (
                    None if value is None else surprisal_bits(by_request[value].logprobs))
            elif need.kind == "units":
                spans, index, alone = value
                ev.units[need.option or "sentence"] = (
                    spans, index, [ev.s[index == 0] if r is None else surprisal_bits(by_request[r].logprobs)
                                   for r in alone]
                )
        evidence.append(ev)
    return evidence


_REFERENCES: dict[tuple[object, ...], ReferenceEvidence] = {}


def reference_evidence(backend: LogProbBackend, template: Template, needs: frozenset[Need], *,
                       batch: BatchPolicy | None = None) -> ReferenceEvidence:
    """The model's evidence about the reference stories and their word shuffles, with the same needs as the call.

    Kept per (backend settings, template, needs) for the process: backends are immutable and their `info` fixes
    the numbers, so a second call with the same model reuses it, and a text's value never depends on its call.
    """
    key = (backend.info, template.fingerprint, needs)
    found = _REFERENCES.get(key)
    if found is None:
        rows = load_reference()
        texts = [r["story"] for r in rows] + [r["word_shuffled"] for r in rows]
        tokens = [backend.tokenize(t) for t in texts]
        constrained = any(n.kind in ("constrained", "dimensions") for n in needs)
        sets = [ConstraintSet.from_prompt(r["prompt"]) for r in rows] * 2 if constrained else None
        evidence = gather(backend, tokens, sets, template, needs, batch=batch)
        found = _REFERENCES[key] = ReferenceEvidence(evidence[: len(rows)], evidence[len(rows):])
    return found