"""Choose CreativeQuality's constants on the dev prompts only, and write them down with the evidence of the choice.

Reads the dev rows written by `order_pass.py --split dev` and HANNA in place. The objective is
the benchmark's own: story-level Kendall tau-b per prompt over the ten generated systems (Human excluded),
averaged over prompts and then over the six criteria; a candidate must prefer each human story to both of its
shuffles in at least 95% of the dev pairs (`cqmetric.research.fitting.fit_creative_quality`). Test prompts are never read.

Writes benchmarks/results/recommendation_fit.json; copy its constants into cqmetric/recommended.py (FITTED), where
a test checks that the shipped constants are these.

Run:  .venv/bin/python benchmarks/validity/tool.py fit-recommendation [--hanna PATH] [--name smollm2]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _meta import provenance  # noqa: E402
from order_pass import RESULTS, SPLIT, read_jsonl  # noqa: E402

from cqmetric.research.fitting import DEFAULT_GRID, fit_creative_quality  # noqa: E402
from cqmetric.research.hanna import load_hanna  # noqa: E402

CRITERIA = ("Relevance", "Coherence", "Empathy", "Surprise", "Engagement", "Complexity")
PARTS = ("order_calibration", "calibrated_surprise", "surprise")
KINDS = ("sentence_shuffle", "word_shuffle")


def dev_data(hanna, rows: list[dict], prompts: list[int]):
    """Parts, ratings and groups of the generated dev stories; parts of the human stories and their shuffles."""
    by = {}
    for r in rows:
        by.setdefault(r["variant"], {})[r["story_id"]] = r
    original = by.get("original", {})
    use = np.isin(hanna.prompt_index, prompts)
    missing = [int(i) for i in hanna.story_id[use] if int(i) not in original]
    if missing:
        raise SystemExit(f"fit_recommendation: {len(missing)} dev stories are not scored yet (e.g. {missing[:5]}); "
                         "finish order_pass.py --split dev first.")
    gen = use & hanna.generated
    ids = hanna.story_id[gen]
    parts = {k: np.array([original[int(i)][k] for i in ids]) for k in PARTS}
    ratings = {c: hanna.mean_ratings(c)[gen] for c in CRITERIA}
    pairs = {}
    for kind in KINDS:
        shuffled = by.get(kind, {})
        keep = [i for i in sorted(shuffled) if shuffled[i].get("changed", True)]
        pairs[kind] = ({k: np.array([original[i][k] for i in keep]) for k in PARTS},
                       {k: np.array([shuffled[i][k] for i in keep]) for k in PARTS})
    return parts, ratings, hanna.prompt_index[gen], pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hanna", default=None)
    parser.add_argument("--name", default="smollm2")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for recommendation_fit.json")
    args = parser.parse_args(argv)
    split = json.loads(SPLIT.read_text(encoding="utf-8"))
    hanna = load_hanna(args.hanna)
    rows = read_jsonl(RESULTS / f"order_{args.name}_dev.jsonl")
    parts, ratings, groups, pairs = dev_data(hanna, rows, split["dev"])
    fit = fit_creative_quality(parts, ratings, groups, pairs=pairs, min_pair_win=0.95)
    report = {
        **provenance(),
        "split": "dev",
        "model": args.name,
        "prompts": len(split["dev"]),
        "generated_stories": int(len(groups)),
        "pairs": {k: int(len(v[0]["surprise"])) for k, v in pairs.items()},
        "parts_from": f"benchmarks/results/order_{args.name}_dev.jsonl (order_pass.py)",
        "rule": "maximise the mean over the six criteria of the story-level Kendall tau-b (per prompt over the 10 "
                "generated systems, averaged over prompts) among candidates that win >= 95% of the dev degraded "
                "pairs of both kinds",
        "grid": {k: list(v) for k, v in DEFAULT_GRID.items()},
        "fit": fit.to_dict(),
    }
    path = args.out / "recommendation_fit.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["fit"], indent=2))
    print(f"wrote {path}")
    return 0

