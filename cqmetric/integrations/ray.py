"""Score a Ray Dataset on a cluster: `map_batches` over a pool of actors, each holding one loaded backend.

Every actor loads its model once (`get_backend`, so "vllm:PATH" runs vLLM and a folder runs transformers) and
calls `cqmetric.score()` on each batch of rows, so a row's numbers are exactly what `score()` gives for it
(backends do not depend on their batch neighbours). The dataset comes back with the score columns,
`n_tokens` and `signature` added; every row carries the signature of the settings that made it.

Examples:
    A local run (the docs show the cluster recipe)::

        import ray, ray.data
        from cqmetric.integrations.ray import score_dataset
        ray.init(num_cpus=2)
        ds = ray.data.from_items([{"id": 1, "story": "...", "prompt": "..."}])
        scored = score_dataset(ds, text_column="story", constraint_column="prompt", model="path/to/model",
                               concurrency=2, num_cpus=1)
        scored.write_parquet("scored/")
"""

from __future__ import annotations

from typing import Any

from cqmetric._validation import check_positive_int, require
from cqmetric.errors import InputValidationError
from cqmetric.options import ScoreOptions

SCORE_COLUMNS = ("calibrated_surprise", "surprise", "residual", "n_tokens", "signature")


class ScoreActor:
    """One model per actor; `__call__` scores a pandas batch and returns it with the score columns added."""

    def __init__(self, model: Any, text_column: str, constraint_column: str | None, options: ScoreOptions) -> None:
        from cqmetric.backends.resolve import get_backend

        self.options = options
        self.text_column = text_column
        self.constraint_column = constraint_column
        self.backend = get_backend(model, settings=options.model, where="score_dataset")

    @staticmethod
    def _column(batch: Any, column: str) -> list[str]:
        """A column's values as texts; a missing value (None, NaN) or a non-text is an error naming its row."""
        values = batch[column].tolist()
        for k, value in enumerate(values):
            if not isinstance(value, str):
                row = {key: batch[key].iloc[k] for key in list(batch.columns)[:4]}
                raise InputValidationError(
                    f"score_dataset: expected column {column!r} to hold a text in every row, got {value!r} in the "
                    f"row {row!r}; drop or fill such rows first (a missing text is never scored as the word 'None')."
                )
        return values

    def __call__(self, batch: Any) -> Any:
        from cqmetric.api import score

        texts = self._column(batch, self.text_column)
        constraints = None if self.constraint_column is None else self._column(batch, self.constraint_column)
        result = score(texts, constraints, model=self.backend, options=self.options)
        batch = batch.copy()
        for name, values in result.scores.items():
            batch[name] = values
        batch["n_tokens"] = result.n_tokens
        batch["signature"] = result.signature.format()
        return batch


def score_dataset(
    ds: Any,
    *,
    text_column: str,
    constraint_column: str | None = None,
    model: Any = None,
    concurrency: int = 1,
    num_cpus: float = 1,
    num_gpus: float = 0,
    rows_per_batch: int = 64,
    options: ScoreOptions | None = None,
    **settings: Any,
) -> Any:
    """`ds` with `calibrated_surprise`, `surprise`, `residual`, `n_tokens` and `signature` columns added (lazily).

    Args:
        ds: a `ray.data.Dataset` with a text column (and a constraint column).
        text_column, constraint_column: the columns holding the texts and their prompts (None: surprise only).
        model: what `score()` takes as a name: None (the embedded model), a model folder, or "vllm:PATH". A
            string travels to the actors, which load the model themselves.
        concurrency: number of actors (one model each).
        num_cpus, num_gpus: resources reserved per actor (num_gpus=1 for one GPU per model).
        rows_per_batch: rows handed to an actor at once (one call of `score()`).
        options, **settings: what `score()` takes (`ScoreOptions` fields: template, normalization, dtype,
            max_length, batch_size, ...), checked here before any actor starts.
    """
    require("ray", "ray")
    if not isinstance(text_column, str) or not text_column:
        raise InputValidationError(f"score_dataset: expected `text_column` to be a column name, got {text_column!r}.")
    if constraint_column is not None and not isinstance(constraint_column, str):
        raise InputValidationError(
            f"score_dataset: expected `constraint_column` to be a column name or None, got {constraint_column!r}.")
    if model is not None and not isinstance(model, str):
        raise InputValidationError(
            "score_dataset: expected `model` to be None, a model folder or 'vllm:PATH' (each actor loads it), got "
            f"{type(model).__name__}; a loaded model cannot be shipped to the actors.")
    columns = list(ds.schema().names)
    for label, column in (("text_column", text_column), ("constraint_column", constraint_column)):
        if column is not None and column not in columns:
            raise InputValidationError(
                f"score_dataset: expected a column {column!r} ({label}), got columns {', '.join(columns)}.")
    clash = [c for c in SCORE_COLUMNS if c in columns]
    if clash:
        raise InputValidationError(
            f"score_dataset: expected no column named {clash[0]!r} (the output adds it); rename it first.")
    # Checked here, before any actor starts; the frozen options travel to the actors as they are (one row's numbers
    # need no corpus interval, and actors show no progress bars).
    opts = ScoreOptions.from_settings("score_dataset", options, **settings)
    opts = ScoreOptions.from_settings("score_dataset", opts, n_boot=0, progress=False)
    check_positive_int("score_dataset", "concurrency", concurrency)
    check_positive_int("score_dataset", "rows_per_batch", rows_per_batch)
    return ds.map_batches(
        ScoreActor,
        fn_constructor_kwargs={"model": model, "text_column": text_column, "constraint_column": constraint_column,
                               "options": opts},
        batch_format="pandas",
        batch_size=rows_per_batch,
        concurrency=concurrency,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
    )
