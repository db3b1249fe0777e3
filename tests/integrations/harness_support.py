"""Shared by the harness tests: five prompts, a JSONL writer, the harness console scripts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

# Five prompts for the real runs, each with one made-up human rating (the inspect test adds raters).
PROMPTS = [
    {"id": "p1", "prompt": "Write a short story about a lighthouse keeper who finds a letter in a bottle.",
     "human_score": 4.0},
    {"id": "p2", "prompt": "Write a short story about a robot learning to garden.", "human_score": 2.5},
    {"id": "p3", "prompt": "Write a short story about the last day of summer.", "human_score": 3.5},
    {"id": "p4", "prompt": "Write a short story about a dragon who is afraid of fire.", "human_score": 4.5},
    {"id": "p5", "prompt": "Write a short story about a town where it always rains.", "human_score": 1.0},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def harness_command(name: str) -> str:
    """The console script `name` of the environment that runs the tests."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.skip(f"`{name}` is not installed beside {sys.executable}")
    return str(path)
