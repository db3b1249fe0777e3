"""Seeded fuzzing of the input boundary: odd strings through `score()` and odd files through the CLI readers.

Every case must end either in a result (finite scores, every text kept, in order) or in an
`InputValidationError` with a message; anything else (a TypeError, a tokenizer's exception, a traceback from
the CSV or JSON parser) is a bug.
"""

import json
import math
import random

import pytest

from cqmetric import score
from cqmetric.errors import InputValidationError
from cqmetric.io import read_table

SEED = 20261130
PIECES = [
    "a", "The cat sat.", " ", "\n", "\t", "\r\n", "\x00", "\x1b[31m", "\u200b", "\u202e", "\ufeff", "é", "e\u0301",
    "日本語。", "🙂", "👩‍👩‍👧", "\ud800", "\udfff", "\uffff", "𝔘𝔫𝔦", "\\", '"', "'", ",", "{", "}", "[", "]", ":",
    "<|endoftext|>", "<|im_start|>", "Prompt:", "Text:\n", "...", "!?", "\u0085", "\u2028", "\u00a0", "ـ",
]


VALID = [p for p in PIECES if p not in ("\ud800", "\udfff")]


def odd_string(rng: random.Random) -> str:
    """Mostly valid Unicode (so that many cases get through to the model), now and then a lone surrogate."""
    pool = PIECES if rng.random() < 0.15 else VALID
    n = rng.choice([0, 1, 2, 5, 20, 120])
    return "".join(rng.choice(pool) for _ in range(n))


def test_score_gives_a_result_or_a_clear_error_for_odd_strings(tiny_backend):
    rng = random.Random(SEED)
    outcomes = {"scored": 0, "refused": 0}
    for _ in range(60):
        texts = [odd_string(rng) for _ in range(rng.choice([1, 2, 3]))]
        prompts = [odd_string(rng) for _ in texts] if rng.random() < 0.7 else None
        try:
            res = score(texts, prompts, model=tiny_backend, n_boot=0)
        except InputValidationError as exc:
            assert str(exc).startswith("score"), str(exc)
            outcomes["refused"] += 1
            continue
        assert list(res.texts) == texts  # nothing dropped or reordered
        for rec in res.to_records():
            assert rec["n_tokens"] > 0
            assert all(math.isfinite(v) for k, v in rec.items() if k != "n_tokens" and v is not None)
        outcomes["scored"] += 1
    assert outcomes["scored"] >= 10 and outcomes["refused"] >= 10, outcomes  # both paths were exercised


def odd_file(rng: random.Random, suffix: str) -> bytes:
    kind = rng.choice(["bytes", "json", "csv", "mixed"])
    if kind == "bytes":
        return bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 30, 300])))
    if kind == "json":
        rows = []
        for _ in range(rng.choice([0, 1, 3])):
            value = rng.choice([odd_string(rng), 1, None, [1, 2], {"a": 1}, 1e309, float("nan")])
            rows.append(json.dumps({"text": value, "id": rng.randrange(5)}, allow_nan=True))
        if rng.random() < 0.3:
            rows.append('{"text": "torn')
        return "\n".join(rows).encode("utf-8", "surrogatepass")
    if kind == "csv":
        lines = ["text,id"] + [f"{odd_string(rng)},{rng.randrange(5)}" for _ in range(rng.choice([0, 1, 3]))]
        return "\n".join(lines).encode("utf-8", "surrogatepass")
    return odd_string(rng).encode("utf-8", "surrogatepass") + bytes([0xFF, 0xFE])


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_the_cli_readers_give_a_table_or_a_clear_error_for_odd_files(tmp_path, suffix):
    rng = random.Random(SEED + len(suffix))
    outcomes = {"read": 0, "refused": 0}
    for k in range(80):
        path = tmp_path / f"case{k}{suffix}"
        path.write_bytes(odd_file(rng, suffix))
        try:
            table = read_table(path, where="score")
        except InputValidationError as exc:
            assert str(exc).startswith("score"), str(exc)
            outcomes["refused"] += 1
            continue
        assert len(table.rows) >= 1
        outcomes["read"] += 1
    assert outcomes["read"] >= 5 and outcomes["refused"] >= 5, outcomes
