"""The functions behind the lm-evaluation-harness task: read the prompt file, score each generation, aggregate.

lm-eval calls `load_prompts` (the task's `custom_dataset`) once, `process_results(doc, results)` once per
document, and each metric's aggregation once over the per-document values. None of them imports lm_eval;
`load_prompts` needs `datasets`, which lm_eval depends on.

Examples:
    >>> import json, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "prompts.jsonl"
    >>> _ = path.write_text(json.dumps({"id": "p1", "prompt": "Write about a cat."}) + "\\n")
    >>> read_prompts(path)
    [{'id': 'p1', 'prompt': 'Write about a cat.'}]
    >>> from cqmetric.backends.precomputed import PrecomputedBackend
    >>> process = make_process_results(model=PrecomputedBackend.example())
    >>> out = process({"prompt": "Write about a cat."}, ["A cat sat."])
    >>> out["calibrated_surprise"], out["surprise"], out["residual"], out["n_tokens"], out["empty_generations"]
    (1.0, 3.0, 2.0, 3, 0)
    >>> process({"prompt": "Write about a cat."}, [""])
    {'n_tokens': 0, 'empty_generations': 1}
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cqmetric._validation import require
from cqmetric.errors import InputValidationError
from cqmetric.integrations.generations import SCORE_NAMES, GenerationScorer
from cqmetric.io import column, read_table

__all__ = [
    "PROMPTS_ENV",
    "read_prompts",
    "load_prompts",
    "make_process_results",
    "process_results",
    "count",
    "unique_signature",
    "read_samples",
]

PROMPTS_ENV = "CQMETRIC_PROMPTS"
PROMPT_FORMATS = (".jsonl", ".ndjson", ".json", ".csv")
_WHERE = "cqmetric lm-eval task"


def read_prompts(path: str | os.PathLike[str], *, prompt_field: str = "prompt") -> list[dict[str, Any]]:
    """Read a prompt file: JSON Lines (`.jsonl`, `.ndjson`: one object per line), a JSON list of objects
    (`.json`) or CSV (`.csv`).

    Every record needs a non-empty string under `prompt_field`; its other fields are kept as they are (an
    `id`, human ratings, ...).

    Args:
        path: the file.
        prompt_field: the field that holds the prompt.

    Returns:
        The records, in file order.

    Raises:
        InputValidationError: the file cannot be read or parsed, holds no record, or a record lacks a prompt
            (the message names the file and the line or item).
    """
    path = Path(path)
    if path.suffix.lower() not in PROMPT_FORMATS:
        raise InputValidationError(
            f"{_WHERE}: expected a prompt file ending in {', '.join(PROMPT_FORMATS)}, got {str(path)!r}."
        )
    if path.suffix.lower() != ".json":
        table = read_table(path, where=_WHERE)
        column(table, prompt_field, where=_WHERE, kind="text")
        return table.rows
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise InputValidationError(f"{_WHERE}: cannot read {str(path)!r}: {exc.strerror or exc}.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputValidationError(f"{_WHERE}: {path}: expected a JSON list of objects, got malformed JSON ({exc}).") from None
    if not isinstance(data, list) or not data:
        got = "an empty list" if data == [] else f"a JSON {type(data).__name__}"
        raise InputValidationError(f"{_WHERE}: {path}: expected a JSON list of objects, got {got}.")
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise InputValidationError(f"{_WHERE}: {path}: item {i}: expected a JSON object, got a JSON {type(row).__name__}.")
        value = row.get(prompt_field)
        if not isinstance(value, str) or not value.strip():
            got = f"a record without it (fields: {', '.join(map(repr, row)) or 'none'})" if prompt_field not in row else f"{value!r:.60}"
            raise InputValidationError(
                f"{_WHERE}: {path}: item {i}: expected field {prompt_field!r} to be a non-empty string, got {got}."
            )
    return data


def load_prompts(prompts: str | os.PathLike[str] | None = None, prompt_field: str = "prompt", **_: Any) -> Any:
    """The task's `custom_dataset`: the prompt file as a `datasets.DatasetDict` with one split, `test`.

    lm-eval passes the task's `metadata` (with anything given to `--metadata`, and the model arguments) and
    `dataset_kwargs` as keyword arguments; only `prompts` and `prompt_field` are read. Without `prompts`, the
    path comes from the environment variable `CQMETRIC_PROMPTS`.

    Raises:
        InputValidationError: no path was given, or the file is not a valid prompt file (see `read_prompts`).
        MissingDependencyError: `datasets` is not installed.
    """
    path = prompts if prompts is not None else os.environ.get(PROMPTS_ENV)
    if not path:
        raise InputValidationError(
            f"{_WHERE}: expected a prompt file (JSONL, JSON or CSV with a {prompt_field!r} field), got none; set "
            f"{PROMPTS_ENV}=path/to/prompts.jsonl or pass --metadata '{{\"prompts\": \"path/to/prompts.jsonl\"}}'."
        )
    rows = read_prompts(path, prompt_field=prompt_field)
    datasets = require("datasets", "lm-eval")
    names = list(dict.fromkeys(name for row in rows for name in row))
    try:
        split = datasets.Dataset.from_dict({name: [row.get(name) for row in rows] for name in names})
    except Exception as exc:  # pyarrow refuses a field whose values mix types
        raise InputValidationError(
            f"{_WHERE}: {path}: expected each field to hold values of one type in every record, got {exc}."
        ) from None
    return datasets.DatasetDict({"test": split})


def make_process_results(
    *,
    model: Any = None,
    dtype: str | None = None,
    device: str | None = None,
    estimator: str | None = None,
    normalization: str | None = None,
    prompt_field: str = "prompt",
    options: Any = None,
) -> Callable[[Mapping[str, Any], Sequence[str]], dict[str, Any]]:
    """A `process_results(doc, results)` for the task, scoring with these settings (passed to `cqmetric.score`).

    Args:
        model: the scorer model: None (the embedded SmolLM2-135M), a local model directory, or a backend
            object. It is independent of the model under test and is loaded once, at the first document.
        dtype: "float32" (default) or "bfloat16".
        device: "cpu" (default), "cuda", ...
        estimator: "pointwise" (default, or the options') or "expected".
        normalization: "token" (default, or the options'; bits/token), "sum", "byte" or "word".
        prompt_field: the document field that holds the prompt (the constraints Y).
        options: a `cqmetric.ScoreOptions` with any other setting (the keywords above override it).

    Returns:
        A function that, for one document and its one generation, returns `calibrated_surprise`, `surprise`,
        `residual`, `signature`, `n_tokens` and `empty_generations` (0). For an empty generation it returns only
        `n_tokens` (0) and `empty_generations` (1): lm-eval then leaves the document out of the three means,
        and the `empty_generations` aggregate counts it.
    """
    scorer = GenerationScorer(model, options=options, dtype=dtype, device=device, estimator=estimator,
                              normalization=normalization)

    def process_results(doc: Mapping[str, Any], results: Sequence[str]) -> dict[str, Any]:
        if prompt_field not in doc:
            raise InputValidationError(
                f"{_WHERE}: expected a document field {prompt_field!r}, got fields {sorted(doc)}."
            )
        if len(results) != 1:
            raise InputValidationError(
                f"{_WHERE}: expected one generation per document, got {len(results)} (set `repeats: 1`)."
            )
        record = scorer(results[0], doc[prompt_field])
        out: dict[str, Any] = {"n_tokens": record["n_tokens"], "empty_generations": int(record["empty_generation"])}
        if not record["empty_generation"]:
            out.update({name: record[name] for name in SCORE_NAMES})
            out["signature"] = record["signature"]
        return out

    return process_results


process_results = make_process_results()
"""The task's default `process_results`: the embedded scorer model, bits per token."""


def count(items: Sequence[int]) -> int:
    """Aggregation of `empty_generations`: how many documents had an empty generation.

    Examples:
        >>> count([0, 1, 0, 1])
        2
    """
    return int(sum(items))


def unique_signature(items: Sequence[str]) -> str:
    """Aggregation of `signature`: the signature shared by every scored document.

    Documents scored with different settings would give different signatures; all of them are then listed,
    joined by " ; ", so the mix is visible rather than hidden.

    Examples:
        >>> unique_signature(["model:a|norm:token", "model:a|norm:token"])
        'model:a|norm:token'
    """
    return " ; ".join(dict.fromkeys(items))


def read_samples(path: str | os.PathLike[str], *, prompt_field: str = "prompt") -> list[dict[str, Any]]:
    """Read a samples file that `lm-eval run --log_samples` wrote for the task, one flat record per document.

    Each record holds the document's fields, `doc_id`, `generation` (the scored text) and the cqmetric values
    (`calibrated_surprise`, `surprise`, `residual` as NaN for an empty generation, `n_tokens`,
    `empty_generation`, `signature`), ready for `cqmetric.reliability` or `cqmetric report`.

    Raises:
        InputValidationError: the file cannot be read, or a line is not a sample of this task.
    """
    table = read_table(path, where=_WHERE)
    out = []
    for i, sample in enumerate(table.rows):
        doc, generation = sample.get("doc"), sample.get("filtered_resps")
        if not isinstance(doc, dict) or prompt_field not in doc or not isinstance(generation, list) or "n_tokens" not in sample:
            raise InputValidationError(
                f"{_WHERE}: {table.where(i)}: expected a sample of the cqmetric task (with 'doc', 'filtered_resps' "
                f"and 'n_tokens'), got fields {sorted(sample)}."
            )
        record = dict(doc)
        record["doc_id"] = sample.get("doc_id")
        record["generation"] = generation[0] if generation else None
        for name in SCORE_NAMES:
            record[name] = float(sample.get(name, math.nan))
        record["n_tokens"] = int(sample["n_tokens"])
        record["empty_generation"] = bool(sample.get("empty_generations", 0))
        record["signature"] = sample.get("signature")
        out.append(record)
    return out
