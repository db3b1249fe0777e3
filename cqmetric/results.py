"""What `score()`, `dimensions()` and `profiles()` return: frozen results with their signature.

`ScoreResult` holds the per-text scores, the corpus aggregate of each with its interval, the signature, and
per-token detail on request; it prints as a table and converts to records and JSON (the package's one JSON policy:
`cqmetric.serialization`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cqmetric.scorers import DEFAULT_NAMES
from cqmetric.serialization import dumps
from cqmetric.signature import Signature

__all__ = ["CorpusScore", "ScoreResult", "AnalysisResult"]


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
        """The result as JSON text (NaN and infinities as null, the package's one JSON policy)."""
        return dumps(self.to_dict())

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


def _clip(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _fmt_corpus(c: CorpusScore) -> str:
    return f"{c.value:.3f}" if c.ci is None else f"{c.value:.3f} [{c.ci[0]:.3f}, {c.ci[1]:.3f}]"


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
