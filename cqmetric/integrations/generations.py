"""Score model generations one at a time, as evaluation harnesses hand them over, each against its own prompt.

`GenerationScorer` is what the lm-evaluation-harness task and the inspect_ai scorer share: it resolves the scorer
model once (`cqmetric.get_backend`), calls `cqmetric.score` on one generation and its prompt, and defines the
result for an empty generation, which `score()` refuses.

The empty case: a generation that is empty or only whitespace has no tokens to score. It gets NaN for the three
scores, `n_tokens` 0, `empty_generation` True and no signature; each harness leaves it out of its means and
reports how many there were.

Examples:
    >>> from cqmetric.backends.precomputed import PrecomputedBackend
    >>> scorer = GenerationScorer(PrecomputedBackend.example())
    >>> record = scorer("A cat sat.", "Write about a cat.")
    >>> record["calibrated_surprise"], record["surprise"], record["residual"], record["n_tokens"]
    (1.0, 3.0, 2.0, 3)
    >>> record["signature"].split("|")[0]
    'model:example@none'
    >>> scorer("  ", "Write about a cat.")
    {'calibrated_surprise': nan, 'surprise': nan, 'residual': nan, 'n_tokens': 0, 'empty_generation': True, 'signature': None}
"""

from __future__ import annotations

import math
import threading
from typing import Any

from cqmetric.errors import InputValidationError

__all__ = ["GenerationScorer", "SCORE_NAMES", "empty_record"]

SCORE_NAMES = ("calibrated_surprise", "surprise", "residual")


class GenerationScorer:
    """Scores single generations against their prompts with `cqmetric.score`, loading the scorer model once.

    The scorer model is independent of the model that generated the text. Calls are serialised by a lock, so
    one instance can be shared by threads (a harness that scores samples concurrently).

    Args:
        model: the scorer model: None (the embedded SmolLM2-135M), a local model directory, or a backend object.
        options: a `cqmetric.ScoreOptions` (settings given by keyword override it).
        **settings: any setting of `cqmetric.ScoreOptions` (estimator, normalization, dtype, device, ...),
            checked here, before any model loads.

    Each generation is scored with `score([text], [prompt], aggregation="text", n_boot=0)`: a harness
    averages per-sample values, which is cqmetric's "text" aggregation, and the signature says so.
    """

    def __init__(self, model: Any = None, *, options: Any = None, **settings: Any) -> None:
        from cqmetric.options import ScoreOptions

        settings = {k: v for k, v in settings.items() if v is not None}
        self.model = model
        self.options = ScoreOptions.from_settings("GenerationScorer", options,
                                                  **{"aggregation": "text", "n_boot": 0, **settings})
        self._backend: Any = None
        self._lock = threading.Lock()

    @property
    def backend(self) -> Any:
        """The scorer backend, resolved (loaded) on first use and kept."""
        with self._lock:
            return self._load()

    def _load(self) -> Any:
        if self._backend is None:
            from cqmetric.api import get_backend

            self._backend = get_backend(self.model, settings=self.options.model, where="GenerationScorer")
        return self._backend

    def __call__(self, text: Any, prompt: Any) -> dict[str, Any]:
        """Score one generation against its prompt.

        Args:
            text: the generation.
            prompt: the prompt the generating model saw (the constraints Y).

        Returns:
            `calibrated_surprise`, `surprise`, `residual` (floats; NaN for an empty generation), `n_tokens`,
            `empty_generation` (bool) and `signature` (str; None for an empty generation).

        Raises:
            InputValidationError: the generation is not a string, or the prompt is not a non-empty string.
        """
        where = "GenerationScorer"
        if not isinstance(text, str):
            raise InputValidationError(f"{where}: expected the generation to be a str, got {type(text).__name__}.")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputValidationError(
                f"{where}: expected the prompt to be a non-empty string, got {prompt!r:.60}."
            )
        if not text.strip():
            return empty_record()
        from cqmetric.api import score

        with self._lock:
            result = score([text], [prompt], model=self._load(), options=self.options)
        record = result.to_records()[0]
        out: dict[str, Any] = {name: float(record[name]) for name in SCORE_NAMES}
        out["n_tokens"] = int(record["n_tokens"])
        out["empty_generation"] = False
        out["signature"] = result.signature.format()
        return out


def empty_record() -> dict[str, Any]:
    """The defined result for an empty (or whitespace-only) generation.

    Examples:
        >>> empty_record()["n_tokens"], empty_record()["empty_generation"]
        (0, True)
    """
    out: dict[str, Any] = {name: math.nan for name in SCORE_NAMES}
    out.update(n_tokens=0, empty_generation=True, signature=None)
    return out
