"""Small frozen data types passed between backends, estimators and scorers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class TokenizedText:
    """A text tokenized once, on its own: these ids are scored in every context.

    Attributes:
        text: the text.
        token_ids: (T,) int64 ids, no special tokens.
        offsets: (T, 2) character offsets of each token in `text`.
    """

    text: str
    token_ids: np.ndarray
    offsets: np.ndarray

    @property
    def n_tokens(self) -> int:
        return int(self.token_ids.shape[0])


@dataclass(frozen=True)
class Request:
    """Score `target_ids` after `context` (a string the backend encodes with its start-token policy).

    Attributes:
        context: the context string.
        target_ids: the text's token ids.
        budget: text tokens per window when the text does not fit in one window with its longest context
            (0: it fits). Every context of one text gets the same budget, so each text token sees the same
            history of the text in every context.
    """

    context: str
    target_ids: tuple[int, ...]
    budget: int = 0


@dataclass(frozen=True, eq=False)
class TokenLogProbs:
    """Natural-log probabilities of each target token, and optionally the entropy (nats) of each prediction."""

    token_ids: np.ndarray
    logprobs: np.ndarray
    entropy: np.ndarray | None = None


@dataclass(frozen=True)
class BackendInfo:
    """Everything about a backend that changes the numbers; all of it goes into the signature.

    Attributes:
        model: the model's name.
        weights: a hash of the weights, or a revision.
        dtype: "fp32" or "bf16" (or "n/a" for replays).
        start_token: the start-token policy as applied, e.g. "prepend:0" or "none".
        max_length: the window in tokens (context + text), or 0 when unbounded.
        stride: new text tokens scored per window after the first.
    """

    model: str
    weights: str
    dtype: str
    start_token: str
    max_length: int
    stride: int
