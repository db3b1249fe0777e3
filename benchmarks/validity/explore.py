"""Every lever on one split of HANNA's prompts: story-level Kendall τ per criterion (CI over prompts), the same
with log length partialled out, prompt swap for the prompt-fit levers and degraded pairs, beside text length,
BARTScore-PS and the human ceiling on the same stories. Reads the evidence cache of `collect.py`.

Run:  .venv/bin/python benchmarks/validity/explore.py --name smollm2 --split dev
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collect import load_cache  # noqa: E402
from features import FEATURES, REVERSE, reverse_swap, table  # noqa: E402

from cqmetric.errors import DegenerateInputWarning  # noqa: E402
from cqmetric.hanna import CRITERIA, CRITERIA_ABBREV, load_hanna  # noqa: E402
from cqmetric.reliability import correlation, human_ceiling, pair_validation  # noqa: E402

SPLIT = Path(__file__).resolve().parent / "split.json"
RESULTS = Path(__file__).resolve().parents[1] / "results"
BART = "BARTScore-PS ¤Δ"


def split_prompts(name: str) -> list[int]:
    split = json.loads(SPLIT.read_text())
    return list(range(96)) if name == "all" else list(split[name])


def story_level(h, values: dict[str, np.ndarray], ids: list[int], *, n_boot: int, covariate=None) -> dict:
    """name -> criterion -> {tau, ci}: per prompt over the 10 generated systems, averaged over prompts."""
    index = {int(s): k for k, s in enumerate(h.story_id)}
    rows = np.array([index[i] for i in ids])
    gen = h.generated[rows]
    groups = h.prompt_index[rows][gen]
    out: dict[str, dict] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateInputWarning)
        for criterion in CRITERIA:
            y = h.mean_ratings(criterion)[rows][gen]
            for name, x in values.items():
                res = correlation(x[gen], y, method="kendall", level="group", groups=groups, n_boot=n_boot,
                                  pvalue="none", nan_policy="omit",
                                  covariates=None if covariate is None else covariate[gen])
                out.setdefault(name, {})[criterion] = {"tau": res.estimate, "ci": list(res.ci) if res.ci else None}
    return out


def ceiling(h, ids: list[int], *, n_boot: int) -> dict:
    index = {int(s): k for k, s in enumerate(h.story_id)}
    rows = np.array([index[i] for i in ids])
    gen = h.generated[rows]
    out = {}
    for criterion in CRITERIA:
        res = human_ceiling(h.criterion_ratings(criterion)[rows][gen], method="kendall", level="group",
                            groups=h.prompt_index[rows][gen], center_raters=True,
                            rater_ids=h.worker_ids[rows][gen], n_boot=n_boot, nan_policy="omit")
        out[criterion] = {"tau": res.estimate, "ci": list(res.ci) if res.ci else None}
    return out


def swap_accuracy(original: dict, swap: dict, ids: list[int]) -> dict:
    """I(X; own prompt) > I(X; another prompt): the sign of the mean of c_swap - c_own per story."""
    both = [i for i in ids if i in swap]
    own = [-float(np.mean(original[i]["c"]["prompt"])) for i in both]
    other = [-float(np.mean(swap[i]["c"]["swap"])) for i in both]
    return pair_validation(own, other, n_boot=1000).to_dict()


def degraded(original: dict, shuffled: dict, names: list[str]) -> dict:
    ids = [i for i in sorted(shuffled) if i in original]
    out = {}
    for name in names:
        f, sign = FEATURES[name]
        res = pair_validation([sign * f(original[i]) for i in ids], [sign * f(shuffled[i]) for i in ids], n_boot=1000)
        out[name] = {"win_rate": res.win_rate, "ci": list(res.win_rate_ci) if res.win_rate_ci else None,
                     "n": res.n_pairs}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="smollm2")
    parser.add_argument("--split", default="dev", choices=("dev", "test", "all"))
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    h = load_hanna()
    original = load_cache(args.name, "original")
    wanted = split_prompts(args.split)
    prompts = [p for p in wanted if all(int(s) in original for s in h.story_id[h.prompt_index == p])]
    ids = [int(s) for s in h.story_id if int(h.prompt_index[int(s)]) in set(prompts)]
    print(f"{args.name} {args.split}: {len(prompts)} of {len(wanted)} prompts complete ({len(ids)} stories)",
          file=sys.stderr)
    rev = load_cache(args.name, "reverse")
    for i, rec in rev.items():
        if i in original:
            original[i]["reverse"] = rec
    values = table(original, ids)
    index = {int(s): k for k, s in enumerate(h.story_id)}
    rows = np.array([index[i] for i in ids])
    values["BARTScore-PS"] = -h.metric_scores(BART)[rows]  # oriented: HANNA's BARTScore-PS correlates negatively
    loglen = np.log(values["length_tokens"])
    report = {
        "model": args.name, "split": args.split, "prompts": prompts, "n_stories": len(ids),
        "story_tau": story_level(h, values, ids, n_boot=args.n_boot),
        "story_tau_partial_loglen": story_level(h, {k: v for k, v in values.items() if k != "length_tokens"}, ids,
                                                n_boot=args.n_boot, covariate=loglen),
        "human_ceiling": ceiling(h, ids, n_boot=args.n_boot),
        "prompt_swap": swap_accuracy(original, load_cache(args.name, "prompt_swap"), ids),
        "prompt_swap_reverse": (pair_validation(*zip(*[reverse_swap(original[i]) for i in ids]), n_boot=1000).to_dict()
                                if all("reverse" in original[i] for i in ids) else None),
        "degraded": {kind: degraded(original, load_cache(args.name, kind), list(FEATURES))
                     for kind in ("sentence_shuffle", "word_shuffle")},
    }
    out = args.out or RESULTS / f"levers_{args.name}_{args.split}.json"
    out.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print("| lever | " + " | ".join(CRITERIA_ABBREV) + " | partial (CI>0) | sent-shuf | word-shuf |")
    for name in [*FEATURES, *(n for n in REVERSE if n in values), "length_tokens", "BARTScore-PS"]:
        taus = " | ".join(f"{report['story_tau'][name][c]['tau']:+.3f}" for c in CRITERIA)
        part = report["story_tau_partial_loglen"].get(name)
        n_pos = sum(1 for c in CRITERIA if part and part[c]["ci"] and part[c]["ci"][0] > 0) if part else ""
        deg = [report["degraded"][k].get(name, {}).get("win_rate") for k in ("sentence_shuffle", "word_shuffle")]
        deg_s = " | ".join("" if d is None else f"{d:.2f}" for d in deg)
        print(f"| {name} | {taus} | {n_pos} | {deg_s} |")
    print("| human ceiling | " + " | ".join(f"{report['human_ceiling'][c]['tau']:+.3f}" for c in CRITERIA) + " |")
    print(f"prompt swap accuracy: {report['prompt_swap']['win_rate']:.3f} (n={report['prompt_swap']['n_pairs']})")
    if report["prompt_swap_reverse"]:
        print(f"prompt swap accuracy, reverse direction: {report['prompt_swap_reverse']['win_rate']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
