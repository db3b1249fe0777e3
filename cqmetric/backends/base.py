"""The backend protocol (texts and contexts in, per-token log-probs out) and the sliding-window plan."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from cqmetric.errors import InputValidationError
from cqmetric.settings import BatchPolicy
from cqmetric.types import BackendInfo, Request, TokenizedText, TokenLogProbs


@runtime_checkable
class LogProbBackend(Protocol):
    """What a model backend must do. Backends load their model once and keep it.

    A backend with a window (`info.max_length` > 0) also has `context_length(context) -> int`, the tokens a
    context takes before a text (start token included), so that every context of one text can be given the
    same window budget (see `Request.budget`). A backend that cannot return prediction entropies (the full
    distribution) sets `supports_entropy = False`, and the `expected` estimator is refused before it runs.
    """

    @property
    def info(self) -> BackendInfo:
        """The settings that change the numbers."""
        ...

    def tokenize(self, text: str) -> TokenizedText:
        """Tokenize `text` on its own, without special tokens."""
        ...

    def score(self, requests: Sequence[Request], *, entropy: bool = False,
              batch: BatchPolicy | None = None) -> list[TokenLogProbs]:
        """Log-probabilities of each request's target tokens, in request order.

        A request whose `budget` is set is scored in windows of that many text tokens (see `plan_request`).
        `batch` is this call's batching (speed only; unset fields fall back to the backend's own policy). A
        backend written before `batch` existed may leave it out: it is then not passed.
        """
        ...


class Immutable:
    """A backend is immutable once built: scoring never changes it, and neither may a caller.

    Per-call settings (batch size, progress) travel with each call as a `BatchPolicy`; settings that change
    numbers are fixed at construction and signed. Build another backend for other settings.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_built"):
            raise AttributeError(
                f"{type(self).__name__} is immutable once built (it was asked to set `{name}`); pass per-call "
                "settings with the call (score(..., batch_size=..., progress=...)) or build a new backend."
            )
        object.__setattr__(self, name, value)

    def _seal(self) -> None:
        """Mark construction as finished; from here on no attribute can be set."""
        object.__setattr__(self, "_built", True)


@functools.lru_cache(maxsize=64)
def _takes_batch(kind: type) -> bool:
    try:
        params = inspect.signature(kind.score).parameters
    except (TypeError, ValueError):
        return False
    return "batch" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def call_score(backend: Any, requests: Sequence[Request], *, entropy: bool,
               batch: BatchPolicy | None) -> list[TokenLogProbs]:
    """`backend.score(requests, ...)`, passing `batch` to every backend that takes it."""
    if batch is not None and _takes_batch(type(backend)):
        return backend.score(requests, entropy=entropy, batch=batch)
    return backend.score(requests, entropy=entropy)


@dataclass(frozen=True)
class Window:
    """Text tokens [start, end) are fed after the context; tokens [score_from, end) are scored."""

    start: int
    end: int
    score_from: int


def plan_windows(n_target: int, *, budget: int, stride: int = 0) -> list[Window]:
    """Cover every target token with windows that feed at most `budget` text tokens after the context.

    The first window scores as many text tokens as fit; each later window moves on by `stride` new tokens (0:
    half the budget) and keeps the preceding text that still fits as history. Every token is scored exactly
    once; a text that fits is one window, so the windowed result equals the plain one.

    Examples:
        >>> plan_windows(5, budget=8, stride=4)
        [Window(start=0, end=5, score_from=0)]
        >>> plan_windows(10, budget=4, stride=2)
        [Window(start=0, end=4, score_from=0), Window(start=2, end=6, score_from=4), Window(start=4, end=8, score_from=6), Window(start=6, end=10, score_from=8)]
    """
    if n_target <= budget:
        return [Window(0, n_target, 0)]
    stride = stride or max(1, budget // 2)
    if not 1 <= stride <= budget:
        raise InputValidationError(
            f"windows: expected `stride` between 1 and {budget} (the text tokens a window holds after the "
            f"context), got {stride}; lower the stride or raise max_length."
        )
    windows = [Window(0, budget, 0)]
    while windows[-1].end < n_target:
        end = min(windows[-1].end + stride, n_target)
        windows.append(Window(max(0, end - budget), end, windows[-1].end))
    return windows


def text_budget(longest_context: int, *, max_length: int) -> int:
    """Text tokens a window of `max_length` holds after a context of `longest_context` tokens.

    Examples:
        >>> text_budget(30, max_length=128)
        98
    """
    budget = max_length - longest_context
    if budget < 1:
        raise InputValidationError(
            f"windows: the context takes {longest_context} tokens but the window is {max_length}; expected a "
            "context shorter than `max_length` (shorten the constraints or raise max_length)."
        )
    return budget


def plan_request(n_context: int, n_target: int, budget: int, *, max_length: int, stride: int = 0) -> list[Window]:
    """The windows of one request: the whole text when it fits, else windows of `budget` text tokens.

    `budget` comes with the request (see `Request`): every context of one text is given the same budget, so each
    text token sees the same history of the text whatever the context. A request without one (0) that does not
    fit gets the room its own context leaves.

    Examples:
        >>> plan_request(3, 5, 0, max_length=16)
        [Window(start=0, end=5, score_from=0)]
        >>> plan_request(3, 12, 6, max_length=10, stride=3)[:2]
        [Window(start=0, end=6, score_from=0), Window(start=3, end=9, score_from=6)]
    """
    if not max_length or (not budget and n_context + n_target <= max_length):
        return [Window(0, n_target, 0)]
    room = text_budget(n_context, max_length=max_length)
    if budget > room:
        raise InputValidationError(
            f"windows: a request asks for {budget} text tokens per window after a context of {n_context} tokens, "
            f"but the window is {max_length}."
        )
    return plan_windows(n_target, budget=budget or room, stride=stride)
