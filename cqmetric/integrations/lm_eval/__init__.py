"""An lm-evaluation-harness task pack: creative writing, scored with cqmetric against each prompt.

This folder is an lm-eval task directory shipped inside the package. `task_dir()` returns it; pass it to
`lm-eval run --include_path` or to `lm_eval.tasks.TaskManager(include_path=...)` (`task_manager()` does that):

    CQMETRIC_PROMPTS=prompts.jsonl lm-eval run --model hf --model_args pretrained=MODEL \\
        --include_path "$(python -c 'import cqmetric.integrations.lm_eval as t; print(t.task_dir())')" \\
        --tasks cqmetric_creative_writing --apply_chat_template --log_samples --output_path results

The task `cqmetric_creative_writing` generates one text per prompt with the model under test and scores each
generation against its own prompt in `process_results` (a `metric_list` function would never see the prompt).
The YAML names its functions as `!function utils.<name>`; `utils.py` beside it re-exports them from
`cqmetric.integrations.lm_eval.task`, so they resolve on every lm-eval 0.4.x.

Importing this module never imports lm_eval or datasets.

Examples:
    >>> (task_dir() / f"{TASK_NAME}.yaml").is_file(), (task_dir() / "utils.py").is_file()
    (True, True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cqmetric._validation import require
from cqmetric.integrations.lm_eval.task import (
    PROMPTS_ENV,
    count,
    load_prompts,
    make_process_results,
    process_results,
    read_prompts,
    read_samples,
    unique_signature,
)

__all__ = [
    "TASK_NAME",
    "PROMPTS_ENV",
    "task_dir",
    "task_manager",
    "read_prompts",
    "load_prompts",
    "make_process_results",
    "process_results",
    "count",
    "unique_signature",
    "read_samples",
]

TASK_NAME = "cqmetric_creative_writing"


def task_dir() -> Path:
    """The task directory inside the installed package (its YAML, `utils.py` and README).

    Examples:
        >>> task_dir().name
        'lm_eval'
    """
    return Path(__file__).resolve().parent


def task_manager(**kwargs: Any) -> Any:
    """An `lm_eval.tasks.TaskManager` that also indexes this task directory.

    Args:
        **kwargs: passed to `TaskManager` (for example `metadata={"prompts": "prompts.jsonl"}`).

    Raises:
        MissingDependencyError: lm_eval is not installed (`pip install 'cqmetric[lm-eval]'`).
    """
    tasks = require("lm_eval.tasks", "lm-eval")
    include = kwargs.pop("include_path", None)
    paths = [str(task_dir())] + ([] if include is None else [include] if isinstance(include, str) else list(include))
    return tasks.TaskManager(include_path=paths, **kwargs)
