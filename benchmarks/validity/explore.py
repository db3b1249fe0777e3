"""Every lever on one split of HANNA's prompts (dev by default): story-level Kendall τ per criterion with a CI over
prompts, the same with log length partialled out, prompt swap for the prompt-fit levers and the degraded pairs,
beside text length, BARTScore-PS and the human ceiling on the same stories.

Sources, all per story: the earlier complete run's scores (`results/hanna_scores.jsonl`, cqmetric 0.1.0, the same
model, template and fp32; its context calibration and shuffles predate the sentence-splitter fix), and the
evidence cache of `collect.py` for the levers added since (reverse direction, audience pair, another order).

Run:  .venv/bin/python benchmarks/validity/tool.py explore --split dev
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

from cqmetric.errors import DegenerateInputWarning  # noqa: E402
from cqmetric.research.hanna import CRITERIA, CRITERIA_ABBREV, load_hanna  # noqa: E402
from cqmetric.reliability import correlation, human_ceiling, pair_validation  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
V1 = RESULTS / "hanna_scores.jsonl"
BART = "BARTScore-PS ¤Δ"


def split_prompts(name: str) -> list[int]:
    split = json.loads((HERE / "split.json").read_text())
    return list(range(96)) if name == "all" else list(split[name])


def load_v1() -> dict[str, dict[int, dict]]:
    out: dict[str, dict[int, dict]] = {}
    for line in V1.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        out.setdefault(row["variant"], {})[row["story_id"]] = row
    return out


def levers(v1: dict, cache: dict[str, dict[int, dict]], ids: list[int], n_words: dict[int, int]) -> dict[str, np.ndarray]:
    """Lever -> per-story value, oriented so that higher should mean better (NaN where a source lacks the story)."""
    o = v1["original"]

    def col(f) -> np.ndarray:
        out = []
        for i in ids:
            try:
                out.append(float(f(i)))
            except (KeyError, TypeError):
                out.append(np.nan)
        return np.array(out)

    rev, aud, reo = cache.get("reverse", {}), cache.get("audience", {}), cache.get("reshuffle", {})
    mean = lambda a: float(np.mean(a))  # noqa: E731
    return {
        "cs": col(lambda i: o[i]["cs_mean"]),
        "surprise": col(lambda i: o[i]["surprise"]),
        "residual": col(lambda i: -o[i]["residual"]),
        "cs_sum": col(lambda i: o[i]["cs_sum"]),
        "cs_per_word": col(lambda i: o[i]["cs_sum"] / n_words[i]),
        "surprise_per_word": col(lambda i: o[i]["surprise"] * o[i]["n_tokens"] / n_words[i]),
        "cs_expected": col(lambda i: o[i]["cs_expected"]),
        "entropy": col(lambda i: o[i]["surprise_expected"]),
        "surprise_minus_entropy": col(lambda i: -(o[i]["surprise"] - o[i]["surprise_expected"])),
        "context_calibration_v1": col(lambda i: o[i]["context_calibration"]),
        "surprise_of_units_alone": col(lambda i: o[i]["surprise"] + o[i]["context_calibration"]),
        "reverse_pmi": col(lambda i: mean(np.subtract(rev[i]["own_alone"], rev[i]["own_after"]))),
        "craft_contrast": col(lambda i: mean(np.subtract(aud[i]["c"]["weak"], aud[i]["c"]["good"]))),
        "cs_audience_good": col(lambda i: o[i]["surprise"] - mean(aud[i]["c"]["good"])),
        # a text of one sentence has no other order: 0 (as OrderCalibration defines it)
        "order_calibration": col(lambda i: reo[i]["s_reordered"] - o[i]["surprise"] if "s_reordered" in reo[i] else 0.0),
        "length_tokens": col(lambda i: o[i]["n_tokens"]),
    }


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
                if np.isnan(x[gen]).all():
                    continue
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


def _pairs(a: list[float], b: list[float]) -> dict | None:
    keep = [(x, y) for x, y in zip(a, b) if np.isfinite(x) and np.isfinite(y)]
    if len(keep) < 5:
        return None
    res = pair_validation([x for x, _ in keep], [y for _, y in keep], n_boot=1000)
    return {"win_rate": res.win_rate, "ci": list(res.win_rate_ci), "n": res.n_pairs, "mean_margin": res.mean_margin}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="smollm2", help="the evidence cache's name (collect.py --name)")
    parser.add_argument("--split", default="dev", choices=("dev", "test", "all"))
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--skip", nargs="*", default=[], help="levers to leave out")
    parser.add_argument("--only", nargs="*", default=None,
                        help="keep only these levers (text length always stays: it is the partial τ's covariate)")
    parser.add_argument("--tag", default=None, help="a suffix for the output file's name")
    parser.add_argument("--covered-only", action="store_true",
                        help="only the prompts every lever has all stories of (while the evidence is being collected)")
    args = parser.parse_args(argv)
    h = load_hanna()
    v1 = load_v1()
    cache = {v: load_cache(args.name, v) for v in ("reverse", "audience", "reshuffle", "reshuffle_sentence_shuffle",
                                                  "reshuffle_word_shuffle")}
    prompts = split_prompts(args.split)
    ids = [int(s) for s in h.story_id if int(h.prompt_index[int(s)]) in set(prompts)]
    stories = h.stories.set_index("story_id")
    n_words = {i: len(stories.loc[i, "story"].split()) for i in ids}
    def wanted(lever: str) -> bool:
        return lever not in args.skip and (args.only is None or lever in {*args.only, "length_tokens"})

    values = {k: v for k, v in levers(v1, cache, ids, n_words).items() if wanted(k)}
    if args.covered_only:
        started = {k: v for k, v in values.items() if np.isfinite(v).any()}
        covered = [p for p in prompts if all(np.isfinite(v[[k for k, i in enumerate(ids)
                                                            if int(h.prompt_index[i]) == p]]).all()
                                             for v in started.values())]
        prompts = covered
        ids = [int(s) for s in h.story_id if int(h.prompt_index[int(s)]) in set(prompts)]
        values = {k: v for k, v in levers(v1, cache, ids, n_words).items() if k in started and wanted(k)}
    else:
        values = {k: v for k, v in values.items() if np.isfinite(v).all()}  # levers still being collected: left out
    index = {int(s): k for k, s in enumerate(h.story_id)}
    values["BARTScore-PS"] = -h.metric_scores(BART)[np.array([index[i] for i in ids])]
    loglen = np.log(values["length_tokens"])
    coverage = {k: int(np.isfinite(v).sum()) for k, v in values.items()}

    # Prompt swap: own prompt against another one (the same derangement as the earlier benchmark).
    swap = v1["prompt_swap"]
    prompt_swap = {"cs": _pairs([v1["original"][i]["cs_mean"] for i in ids], [swap[i]["cs_mean"] for i in ids])}
    rev = cache["reverse"]
    if rev:
        own = [float(np.mean(np.subtract(rev[i]["own_alone"], rev[i]["own_after"]))) if i in rev else np.nan for i in ids]
        other = [float(np.mean(np.subtract(rev[i]["swap_alone"], rev[i]["swap_after"]))) if i in rev else np.nan for i in ids]
        prompt_swap["reverse_pmi"] = _pairs(own, other)
    # Degraded pairs: a human story against its shuffles. The order lever compares each text with another order of
    # itself; its shuffled texts are the current splitter's, the other levers' the earlier run's.
    degraded = {}
    for kind in ("sentence_shuffle", "word_shuffle"):
        d1 = {i: r for i, r in v1[kind].items() if r.get("changed", True) and i in set(ids)}
        degraded[kind] = {
            "cs": _pairs([v1["original"][i]["cs_mean"] for i in d1], [d1[i]["cs_mean"] for i in d1]),
            "surprise": _pairs([v1["original"][i]["surprise"] for i in d1], [d1[i]["surprise"] for i in d1]),
            "context_calibration_v1": _pairs([v1["original"][i]["context_calibration"] for i in d1],
                                             [d1[i]["context_calibration"] for i in d1]),
        }
        reo, reo_deg = cache["reshuffle"], cache[f"reshuffle_{kind}"]
        both = [i for i in reo_deg if i in reo and "s_reordered" in reo[i] and "s_reordered" in reo_deg[i]]
        degraded[kind]["order_calibration"] = _pairs(
            [reo[i]["s_reordered"] - v1["original"][i]["surprise"] for i in both],
            [reo_deg[i]["s_reordered"] - reo_deg[i]["s_own"] for i in both])
    report = {
        "model": args.name, "split": args.split, "prompts": prompts, "n_stories": len(ids), "coverage": coverage,
        "story_tau": story_level(h, values, ids, n_boot=args.n_boot),
        "story_tau_partial_loglen": story_level(h, {k: v for k, v in values.items() if k != "length_tokens"}, ids,
                                                n_boot=args.n_boot, covariate=loglen),
        "human_ceiling": ceiling(h, ids, n_boot=args.n_boot),
        "prompt_swap": prompt_swap, "degraded": degraded,
    }
    out = RESULTS / (f"levers_{args.name}_{args.split}{'_partial' if args.covered_only else ''}"
                     f"{'_' + args.tag if args.tag else ''}.json")
    out.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(f"{args.name}, {args.split}: {len(prompts)} prompts, {len(ids)} stories; written {out}")
    print("| lever | n | " + " | ".join(CRITERIA_ABBREV) + " | partial CI>0 | sent-shuffle | word-shuffle |")
    for name, per in report["story_tau"].items():
        part = report["story_tau_partial_loglen"].get(name)
        n_pos = sum(1 for c in CRITERIA if part and part[c]["ci"] and part[c]["ci"][0] > 0) if part else "-"
        deg = [(degraded[k].get(name) or {}).get("win_rate") for k in ("sentence_shuffle", "word_shuffle")]
        print(f"| {name} | {coverage[name]} | " + " | ".join(f"{per[c]['tau']:+.3f}" for c in CRITERIA) + f" | {n_pos} | "
              + " | ".join("" if d is None else f"{d:.2f}" for d in deg) + " |")
    print("| human ceiling | | " + " | ".join(f"{report['human_ceiling'][c]['tau']:+.3f}" for c in CRITERIA) + " |")
    for name, res in prompt_swap.items():
        if res:
            print(f"prompt swap, {name}: {res['win_rate']:.3f} (n={res['n']})")
    return 0

