"""Small frozen data types passed between backends, estimators and scorers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class Need:
    """One kind of evidence a scorer reads: "constrained", "entropy", ("dimensions", by), ("units", kind),
    ("reordered", kind): the text with its units in another order (`cqmetric.units.reordered_tokens`)."""

    kind: str
    option: str | None = None


CONSTRAINED = Need("constrained")
ENTROPY = Need("entropy")
#: The model's evidence about the bundled reference set too (`cqmetric.reference`: portable units).
REFERENCE = Need("reference")


@dataclass
class Evidence:
    """Everything the model said about one text, in bits. Scorers read it and never call the model.

    Attributes:
        tokens: the text tokenized once; these ids are scored in every context.
        constraints: the constraint set (None when scoring surprise only).
        s: per-token surprisal without constraints.
        c: per-token surprisal under the full constraint set (None without constraints).
        h0, hy: per-token prediction entropy without / with constraints (only when entropy was asked).
        subsets: per grouping ("source"/"aspect"), per subset of dimensions, per-token surprisal under it.
        units: per unit kind, (spans, unit index per token, per-unit surprisal when scored alone).
        reordered: per unit kind, per-token surprisal of the text with its units in another order (None when
            it has fewer than two units), without constraints.
        index: the text's position in the call (for values given per text, such as a judge's verdicts).
        reference: the model's evidence about the bundled reference set (`cqmetric.reference.ReferenceEvidence`),
            when a scorer asked for it; the same object for every text of a call.
    """

    tokens: TokenizedText
    constraints: Any  # a cqmetric.ConstraintSet, or None when scoring surprise only
    s: np.ndarray
    c: np.ndarray | None = None
    h0: np.ndarray | None = None
    hy: np.ndarray | None = None
    subsets: dict[str, dict[frozenset[str], np.ndarray]] = field(default_factory=dict)
    units: dict[str, tuple[list[tuple[int, int]], np.ndarray, list[np.ndarray]]] = field(default_factory=dict)
    reordered: dict[str, np.ndarray | None] = field(default_factory=dict)
    index: int = 0
    reference: Any = None

    @property
    def text(self) -> str:
        return self.tokens.text

    @property
    def n_tokens(self) -> int:
        return self.tokens.n_tokens

    @property
    def n_bytes(self) -> int:
        return len(self.text.encode("utf-8"))

    @property
    def n_words(self) -> int:
        return len(self.text.split())
