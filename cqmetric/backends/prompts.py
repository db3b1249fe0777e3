"""Token-id prompts for engines that score a whole prompt at once (vLLM in process, an OpenAI-compatible server).

Such an engine returns the log-probability of every prompt token after the first. A request becomes one prompt
per window (see `plan_request`, the same plan as the transformers backend): the context's ids, then the text
tokens the window feeds; the scored tokens are the prompt's last ones. `read_prompt_logprobs` takes exactly those
positions from the end, checks that each returned id is the id that was sent, and refuses anything that is not
a finite log-probability (servers clamp -inf to -9999 and pass NaN through).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from cqmetric.backends.base import plan_request
from cqmetric.errors import BackendError
from cqmetric.types import Request

#: Log-probabilities at or below this are a server's stand-in for -inf (vLLM's server writes -9999.0).
CLAMPED_LOGPROB = -9999.0


class Prompt(NamedTuple):
    """One engine call: `ids` (context ids then text tokens); the last `n_scored` are scored.

    Their log-probabilities land in request `request` from target position `offset` on.
    """

    ids: tuple[int, ...]
    n_scored: int
    request: int
    offset: int


def plan_prompts(front: Any, requests: Sequence[Request], *, max_length: int, stride: int) -> list[Prompt]:
    """Every window of every request as a token-id prompt (the transformers backend feeds the same ids).

    Examples:
        >>> class Front:  # a stand-in for TokenizerFrontEnd: context "ctx" is the start id 0 and id 5
        ...     def context_ids(self, context): return [0, 5]
        >>> plan_prompts(Front(), [Request("ctx", (7, 8, 9))], max_length=0, stride=0)
        [Prompt(ids=(0, 5, 7, 8, 9), n_scored=3, request=0, offset=0)]
        >>> [p.ids for p in plan_prompts(Front(), [Request("ctx", (7, 8, 9, 10), budget=2)], max_length=4, stride=1)]
        [(0, 5, 7, 8), (0, 5, 8, 9), (0, 5, 9, 10)]
    """
    prompts = []
    for r_index, req in enumerate(requests):
        ctx = list(front.context_ids(req.context))
        target = list(req.target_ids)
        for w in plan_request(len(ctx), len(target), req.budget, max_length=max_length, stride=stride):
            prompts.append(Prompt(tuple(ctx + target[w.start : w.end]), w.end - w.score_from, r_index, w.score_from))
    return prompts


def check_logprobs(values: Sequence[float], prompt: Prompt, *, where: str) -> np.ndarray:
    """The scored values as float64, refusing NaN, infinities, clamped -inf (<= -9999) and positive values."""
    arr = np.asarray(values, dtype=np.float64)
    bad = [k for k, v in enumerate(arr) if not math.isfinite(v) or v <= CLAMPED_LOGPROB or v > 1e-6]
    if bad:
        k = bad[0]
        position = len(prompt.ids) - prompt.n_scored + k
        raise BackendError(
            f"{where}: expected finite log-probabilities <= 0, got {arr[k]!r} for token id {prompt.ids[position]} at "
            f"prompt position {position} ({len(bad)} such value(s) in this prompt); -9999 is a server's stand-in "
            "for -inf and NaN a numerical failure: check the model's dtype (use float32) and weights."
        )
    return np.minimum(arr, 0.0)


def read_prompt_logprobs(entries: Sequence[Any], prompt: Prompt, *, where: str) -> np.ndarray:
    """The log-probabilities of the prompt's last `n_scored` tokens from per-position `{token id: logprob}` entries.

    `entries` has one item per prompt token (the first is None: it has no prediction). Each item maps token ids
    (int, or str as in JSON) to a float or to an object with a `logprob` attribute or key. The sent token must be
    among them; its value is taken.

    Examples:
        >>> p = Prompt((0, 5, 7), n_scored=2, request=0, offset=0)
        >>> read_prompt_logprobs([None, {"5": {"logprob": -1.5}}, {"7": -0.25, "9": -2.0}], p, where="demo").tolist()
        [-1.5, -0.25]
    """
    n = len(prompt.ids)
    if entries is None or len(entries) != n:
        got = "none" if entries is None else f"{len(entries)} positions"
        raise BackendError(
            f"{where}: expected prompt log-probabilities for all {n} prompt positions, got {got}; the engine must "
            "return `prompt_logprobs`."
        )
    values = []
    for position in range(n - prompt.n_scored, n):
        sent = prompt.ids[position]
        entry = entries[position]
        value = None
        if entry is not None:
            value = entry.get(sent, entry.get(str(sent))) if hasattr(entry, "get") else None
        if value is None:
            returned = sorted(entry.keys(), key=str)[:3] if hasattr(entry, "keys") else entry
            raise BackendError(
                f"{where}: the engine returned no log-probability for the sent token id {sent} at prompt position "
                f"{position} (it returned ids {returned}); it scored different tokens than were sent, which means "
                "another tokenizer or a changed prompt."
            )
        if hasattr(value, "logprob"):
            value = value.logprob
        elif isinstance(value, dict):
            value = value.get("logprob")
        values.append(float("nan") if value is None else float(value))
    return check_logprobs(values, prompt, where=where)


def scatter(prompts: Sequence[Prompt], values: Sequence[np.ndarray], requests: Sequence[Request]) -> list[np.ndarray]:
    """Per-request arrays from per-prompt values, checking that every target token got exactly one value."""
    out = [np.full(len(r.target_ids), np.nan) for r in requests]
    for prompt, vals in zip(prompts, values):
        out[prompt.request][prompt.offset : prompt.offset + prompt.n_scored] = vals
    for k, arr in enumerate(out):
        if np.isnan(arr).any():
            raise BackendError(f"prompts: request {k} has {int(np.isnan(arr).sum())} target token(s) without a value.")
    return out
