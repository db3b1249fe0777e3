"""The backend protocol (texts and contexts in, per-token log-probs out) and the sliding-window plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cqmetric.errors import InputValidationError
from cqmetric.types import BackendInfo, Request, TokenizedText, TokenLogProbs


@runtime_checkable
class LogProbBackend(Protocol):
    """What a model backend must do. Backends load their model once and keep it."""

    @property
    def info(self) -> BackendInfo:
        """The settings that change the numbers."""
        ...

    def tokenize(self, text: str) -> TokenizedText:
        """Tokenize `text` on its own, without special tokens."""
        ...

    def score(self, requests: Sequence[Request], *, entropy: bool = False) -> list[TokenLogProbs]:
        """Log-probabilities of each request's target tokens, in request order."""
        ...


@dataclass(frozen=True)
class Window:
    """Text tokens [start, end) are fed after the context; tokens [score_from, end) are scored."""

    start: int
    end: int
    score_from: int


def plan_windows(n_context: int, n_target: int, *, max_length: int, stride: int) -> list[Window]:
    """Cover every target token with windows of at most `max_length` tokens (context included).

    The first window scores as many text tokens as fit after the context; each later window moves on by
    `stride` new tokens and keeps the preceding text that still fits as history. Every token is scored
    exactly once; a text that fits is one window, so the windowed result equals the plain one.

    Examples:
        >>> plan_windows(2, 5, max_length=10, stride=4)
        [Window(start=0, end=5, score_from=0)]
        >>> plan_windows(2, 10, max_length=6, stride=2)
        [Window(start=0, end=4, score_from=0), Window(start=2, end=6, score_from=4), Window(start=4, end=8, score_from=6), Window(start=6, end=10, score_from=8)]
    """
    if max_length <= 0:
        return [Window(0, n_target, 0)]
    budget = max_length - n_context
    if budget < 1:
        raise InputValidationError(
            f"plan_windows: the context takes {n_context} tokens but the window is {max_length}; "
            "expected a context shorter than `max_length` (shorten the constraints or raise max_length)."
        )
    if not 1 <= stride <= budget:
        raise InputValidationError(
            f"plan_windows: expected `stride` between 1 and {budget} (window minus context), got {stride}."
        )
    windows = [Window(0, min(budget, n_target), 0)]
    while windows[-1].end < n_target:
        end = min(windows[-1].end + stride, n_target)
        windows.append(Window(max(0, end - budget), end, windows[-1].end))
    return windows
