"""Replay per-token log-probabilities recorded earlier (from arrays or JSONL), and record them.

A JSONL file holds one object per line: an `info` line (the BackendInfo of the run that produced it),
`tokens` lines (a text's token ids and character offsets), `context` lines (the tokens a context takes, for runs
with a window) and `logprobs` lines (a context, target ids, the window budget, natural-log probabilities and
optionally entropies). `RecordingBackend` writes such a file while scoring with
any backend; `PrecomputedBackend.from_jsonl` replays it exactly, with no model.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from cqmetric.backends.base import call_score
from cqmetric.errors import BackendError, InputValidationError
from cqmetric.settings import BatchPolicy
from cqmetric.types import BackendInfo, Request, TokenizedText, TokenLogProbs


class PrecomputedBackend:
    """A backend that looks results up instead of running a model.

    Args:
        tokens: text -> (token ids, character offsets).
        logprobs: (context, target ids[, window budget]) -> natural-log probabilities, or (log-probs, entropies).
        info: the settings of the run the numbers came from.
        context_lengths: context -> tokens it takes (needed to replay a run with a window).

    Examples:
        >>> b = PrecomputedBackend.example()
        >>> b.tokenize("A cat sat.").token_ids.tolist()
        [10, 11, 12]
    """

    def __init__(
        self,
        tokens: Mapping[str, tuple[Sequence[int], Sequence[Sequence[int]]]],
        logprobs: Mapping[tuple[str, tuple[int, ...]], Any],
        info: BackendInfo,
        context_lengths: Mapping[str, int] | None = None,
    ) -> None:
        self._context_lengths = dict(context_lengths or {})
        self._tokens = {
            t: TokenizedText(t, np.asarray(ids, dtype=np.int64), np.asarray(off, dtype=np.int64).reshape(-1, 2))
            for t, (ids, off) in tokens.items()
        }
        self._logprobs: dict[tuple[str, tuple[int, ...], int], tuple[np.ndarray, np.ndarray | None]] = {}
        for key, value in logprobs.items():
            context, ids, budget = key if len(key) == 3 else (*key, 0)
            lp, ent = value if isinstance(value, tuple) else (value, None)
            lp = np.asarray(lp, dtype=np.float64)
            if lp.shape != (len(ids),) or np.any(lp > 0) or not np.all(np.isfinite(lp)):
                raise InputValidationError(
                    f"PrecomputedBackend: expected {len(ids)} finite natural-log probabilities <= 0 for context "
                    f"{context!r:.40}, got shape {lp.shape}, max {np.max(lp) if lp.size else 'n/a'}."
                )
            self._logprobs[(context, tuple(int(i) for i in ids), int(budget))] = (
                lp, None if ent is None else np.asarray(ent, dtype=np.float64))
        self._info = info

    @property
    def info(self) -> BackendInfo:
        return self._info

    def context_length(self, context: str) -> int:
        """Tokens of a context, as recorded (needed only for a run with a window)."""
        try:
            return self._context_lengths[context]
        except KeyError:
            raise BackendError(f"PrecomputedBackend: no context length recorded for {context!r:.60}.") from None

    def tokenize(self, text: str) -> TokenizedText:
        try:
            return self._tokens[text]
        except KeyError:
            raise BackendError(f"PrecomputedBackend: no tokenization recorded for text {text!r:.60}.") from None

    def score(self, requests: Sequence[Request], *, entropy: bool = False,
              batch: BatchPolicy | None = None) -> list[TokenLogProbs]:
        """Look the requests up (`batch` is accepted and has nothing to do: there is no model)."""
        out = []
        for req in requests:
            found = self._logprobs.get((req.context, req.target_ids, req.budget))
            if found is None:
                raise BackendError(
                    f"PrecomputedBackend: no log-probs recorded for context {req.context!r:.60} and "
                    f"{len(req.target_ids)} target tokens; record the run with RecordingBackend first."
                )
            lp, ent = found
            if entropy and ent is None:
                raise BackendError("PrecomputedBackend: entropies were asked for but were not recorded.")
            out.append(TokenLogProbs(np.asarray(req.target_ids, dtype=np.int64), lp, ent if entropy else None))
        return out

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> PrecomputedBackend:
        """Build from parsed JSONL records (see the module docstring)."""
        info, tokens, logprobs, lengths = None, {}, {}, {}
        for n, rec in enumerate(records, 1):
            kind = rec.get("type")
            if kind == "info":
                info = BackendInfo(**{k: rec[k] for k in BackendInfo.__dataclass_fields__})
            elif kind == "tokens":
                tokens[rec["text"]] = (rec["token_ids"], rec["offsets"])
            elif kind == "context":
                lengths[rec["context"]] = int(rec["length"])
            elif kind == "logprobs":
                key = (rec["context"], tuple(rec["target_ids"]), int(rec.get("budget", 0)))
                logprobs[key] = (rec["logprobs"], rec.get("entropy"))
            else:
                raise InputValidationError(
                    f"PrecomputedBackend: record {n}: expected type 'info', 'tokens', 'context' or 'logprobs', got "
                    f"{kind!r}."
                )
        if info is None:
            raise InputValidationError("PrecomputedBackend: expected an 'info' record, got none.")
        return cls(tokens, logprobs, info, lengths)

    @classmethod
    def from_jsonl(cls, path: str | os.PathLike[str]) -> PrecomputedBackend:
        """Read a file written by `RecordingBackend`."""
        records = []
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise InputValidationError(f"PrecomputedBackend: {path}:{n}: malformed JSON ({exc.msg}).") from None
        return cls.from_records(records)

    @classmethod
    def example(cls) -> PrecomputedBackend:
        """A hand-made backend for examples: "A cat sat." has 3 tokens of 3 bits each without constraints and
        2 bits each after the prompt "Write about a cat." in the default template."""
        text = "A cat sat."
        ids = (10, 11, 12)
        bits = lambda b: [-b * math.log(2)] * 3  # noqa: E731
        return cls(
            {text: (ids, [[0, 1], [1, 5], [5, 10]])},
            {("Text:\n", ids): bits(3.0), ("Prompt: Write about a cat.\nText:\n", ids): bits(2.0)},
            BackendInfo("example", "none", "n/a", "none", 0, 0),
        )


class RecordingBackend:
    """Wrap a backend and append every tokenization and result to a JSONL file for exact replay."""

    def __init__(self, inner: Any, path: str | os.PathLike[str]) -> None:
        self.inner = inner
        self.path = Path(path)
        with self.path.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps({"type": "info", **asdict(inner.info)}) + "\n")

    @property
    def info(self) -> BackendInfo:
        return self.inner.info

    def _append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def context_length(self, context: str) -> int:
        length = self.inner.context_length(context)
        self._append({"type": "context", "context": context, "length": int(length)})
        return length

    def tokenize(self, text: str) -> TokenizedText:
        tok = self.inner.tokenize(text)
        self._append({"type": "tokens", "text": text, "token_ids": tok.token_ids.tolist(),
                      "offsets": tok.offsets.tolist()})
        return tok

    def score(self, requests: Sequence[Request], *, entropy: bool = False,
              batch: BatchPolicy | None = None) -> list[TokenLogProbs]:
        results = call_score(self.inner, requests, entropy=entropy, batch=batch)
        for req, res in zip(requests, results):
            self._append({"type": "logprobs", "context": req.context, "target_ids": list(req.target_ids),
                          "budget": req.budget,
                          "logprobs": res.logprobs.tolist(),
                          "entropy": None if res.entropy is None else res.entropy.tolist()})
        return results
