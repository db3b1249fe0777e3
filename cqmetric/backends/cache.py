"""Reuse results across calls: a backend wrapper that scores each distinct request once per process.

Useful when the same texts are scored again with other constraints (a prompt swap, a constraint ablation):
the unconstrained pass is then not repeated.

Examples:
    >>> from cqmetric.backends.precomputed import PrecomputedBackend
    >>> from cqmetric.types import Request
    >>> cached = CachingBackend(PrecomputedBackend.example())
    >>> req = Request("Text:\\n", (10, 11, 12))
    >>> _ = cached.score([req]); _ = cached.score([req, req])
    >>> cached.hits, cached.misses
    (2, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cqmetric.backends.base import call_score
from cqmetric.settings import BatchPolicy
from cqmetric.types import BackendInfo, Request, TokenizedText, TokenLogProbs


class CachingBackend:
    """Wrap `inner`; identical requests (same context string and target ids) are scored once.

    A call's batching (`batch`) reaches the wrapped backend unchanged; the wrapper holds no settings of its own.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._store: dict[tuple[Request, bool], TokenLogProbs] = {}
        self.hits = 0
        self.misses = 0

    @property
    def info(self) -> BackendInfo:
        return self.inner.info

    @property
    def supports_entropy(self) -> bool:
        return getattr(self.inner, "supports_entropy", True)

    def tokenize(self, text: str) -> TokenizedText:
        return self.inner.tokenize(text)

    def context_length(self, context: str) -> int:
        return self.inner.context_length(context)

    def score(self, requests: Sequence[Request], *, entropy: bool = False,
              batch: BatchPolicy | None = None) -> list[TokenLogProbs]:
        # A result with entropies also serves a request without them.
        def lookup(req: Request) -> TokenLogProbs | None:
            return self._store.get((req, True)) or (None if entropy else self._store.get((req, False)))

        missing = list(dict.fromkeys(r for r in requests if lookup(r) is None))
        self.hits += len(requests) - len(missing)
        self.misses += len(missing)
        if missing:
            for req, res in zip(missing, call_score(self.inner, missing, entropy=entropy, batch=batch)):
                self._store[(req, entropy)] = res
        return [lookup(r) for r in requests]
