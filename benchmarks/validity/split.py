"""Fix, once and before any result uses it, which HANNA prompts choose and fit a score (dev) and which only
report it (test), and the five folds of the cross-validation by prompt.

The rule is seeded and written down here; the file it writes (`split.json`) is committed before the first
result that uses it, so the git history shows the split came first. Each prompt is named by its index
(story_id % 96) and by a hash of its text, so the assignment can be checked against any copy of HANNA.

Run:  .venv/bin/python benchmarks/validity/tool.py split [--hanna PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from cqmetric.research.hanna import N_PROMPTS, load_hanna

SPLIT_FILE = Path(__file__).resolve().parent / "split.json"
SEED = 20261130  # the date the rule was fixed
N_DEV = 48
N_FOLDS = 5


def make_split(n_prompts: int = N_PROMPTS, *, seed: int = SEED) -> dict:
    """A seeded permutation of the prompt indices: its first half is dev, the rest test; folds deal it round."""
    perm = np.random.default_rng(seed).permutation(n_prompts)
    folds = np.empty(n_prompts, dtype=int)
    folds[perm] = np.arange(n_prompts) % N_FOLDS
    return {
        "dev": sorted(int(p) for p in perm[:N_DEV]),
        "test": sorted(int(p) for p in perm[N_DEV:]),
        "folds": [sorted(int(p) for p in np.flatnonzero(folds == k)) for k in range(N_FOLDS)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hanna", default=None)
    args = parser.parse_args(argv)
    h = load_hanna(args.hanna)
    prompts = h.stories.groupby("prompt_index")["prompt"].first()
    split = make_split()
    payload = {
        "rule": f"numpy.random.default_rng({SEED}).permutation({N_PROMPTS}): the first {N_DEV} prompt indices are "
                f"dev, the other {N_PROMPTS - N_DEV} test; fold of a prompt = its position in that permutation mod "
                f"{N_FOLDS}",
        "seed": SEED,
        **split,
        "prompt_sha256": {int(p): hashlib.sha256(prompts[p].encode("utf-8")).hexdigest()[:16] for p in prompts.index},
    }
    lines = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in payload.items()]  # one key per line
    SPLIT_FILE.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    print(f"wrote {SPLIT_FILE}: {len(split['dev'])} dev and {len(split['test'])} test prompts")
    return 0

