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

from cqmetric.types import BackendInfo, Request, TokenizedText, TokenLogProbs


class CachingBackend:
    """Wrap `inner`; identical requests (same context string and target ids) are scored once."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._store: dict[tuple[Request, bool], TokenLogProbs] = {}
        self.hits = 0
        self.misses = 0

    @property
    def info(self) -> BackendInfo:
        return self.inner.info

    def __getattr__(self, name: str) -> Any:  # batch_size, progress, ... reach the wrapped backend
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("batch_size", "progress") and "inner" in self.__dict__:
            setattr(self.inner, name, value)
        else:
            super().__setattr__(name, value)

    def tokenize(self, text: str) -> TokenizedText:
        return self.inner.tokenize(text)

    def context_length(self, context: str) -> int:
        return self.inner.context_length(context)

    def score(self, requests: Sequence[Request], *, entropy: bool = False) -> list[TokenLogProbs]:
        # A result with entropies also serves a request without them.
        def lookup(req: Request) -> TokenLogProbs | None:
            return self._store.get((req, True)) or (None if entropy else self._store.get((req, False)))

        missing = list(dict.fromkeys(r for r in requests if lookup(r) is None))
        self.hits += len(requests) - len(missing)
        self.misses += len(missing)
        if missing:
            for req, res in zip(missing, self.inner.score(missing, entropy=entropy)):
                self._store[(req, entropy)] = res
        return [lookup(r) for r in requests]
