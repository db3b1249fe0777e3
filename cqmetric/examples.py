"""The bundled example stories: ten hand-written prompt/story pairs, used by `cqmetric demo` and the tests.

Examples:
    >>> stories = load_examples()
    >>> len(stories), sorted(stories[0])
    (10, ['id', 'prompt', 'story'])
"""

from __future__ import annotations

import json
from importlib.resources import files


def load_examples() -> list[dict[str, str]]:
    """The example records: `id`, `prompt` and `story`."""
    text = files("cqmetric").joinpath("data/examples.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]
