"""The functions the task YAML names with `!function utils.<name>`, re-exported from cqmetric.

lm-eval loads this file by its path, beside the YAML (older 0.4.x releases look nowhere else), so it holds no
logic of its own: everything lives in `cqmetric.integrations.lm_eval.task`.
"""

from cqmetric.integrations.lm_eval.task import (
    count,
    load_prompts,
    process_results,
    unique_signature,
)

__all__ = ["load_prompts", "process_results", "count", "unique_signature"]
