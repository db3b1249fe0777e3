"""The worked example of the docs: score a subset of HANNA with the embedded model and compare with the raters.

HANNA (Chhun et al., COLING 2022; MIT licence) holds 1,056 stories: 96 WritingPrompts prompts x 11 systems
(human authors and 10 generators), each rated by 3 crowd workers on six 1-5 criteria. This script takes the
stories of the first N prompts (default 8: 88 stories, none truncated), scores each story against its prompt
with `cqmetric.score(..., model=None)` (the embedded SmolLM2-135M), and computes HANNA's story-level Kendall tau
(inside each prompt, over its 11 stories, averaged over prompts) of every score, and of text length, against
each criterion, with a bootstrap CI over prompts.

It reads HANNA in place with `cqmetric.research.hanna.load_hanna()` (from `$CQMETRIC_HANNA` or `../shared/data/hanna`)
every time it runs. No HANNA data (story text or ratings) is ever copied into the project: the JSON holds only
what cqmetric computed, keyed by HANNA's story_id / prompt_index / system. It writes into `docs/assets/`:

- `hanna_subset.json`: settings, signatures, per-story scores (no text, no ratings) and every correlation;
- `hanna_kendall.png`: story-level tau per criterion, each score beside length;
- `hanna_agreement.png`: calibrated surprise and length against the raters' "Surprise" criterion;
- `example_profile.png`: the chain-rule profile of one of cqmetric's own bundled example stories
  (`cqmetric.examples.load_examples()`), not a HANNA story;
- `example_tokens.html`: that example story with each token coloured by i_t.

Run from the repository root (the model part takes 5 to 15 minutes on 2 busy CPU cores):

    python docs/examples/hanna_subset.py            # score, then statistics and figures
    python docs/examples/hanna_subset.py --reuse    # statistics and figures again from the stored scores
                                                    # (ratings re-read from HANNA; the one example story rescored)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import cqmetric
from cqmetric import (
    CalibratedSurprise,
    ContextCalibration,
    CreativeQuality,
    Length,
    OrderCalibration,
    Residual,
    Surprise,
    profiles,
    score,
)
from cqmetric.examples import load_examples
from cqmetric.research.hanna import load_hanna
from cqmetric.reliability.correlation import correlation
from cqmetric.viz import plot_agreement, plot_profile, save_token_html

ROOT = Path(__file__).resolve().parents[2]
CRITERIA = ("Relevance", "Coherence", "Empathy", "Surprise", "Engagement", "Complexity")
SCORES = ("creative_quality", "calibrated_surprise", "surprise", "residual", "context_calibration",
          "order_calibration", "length")
LABELS = {
    "creative_quality": "CreativeQuality (recommended)",
    "calibrated_surprise": "calibrated surprise I(X;Y)",
    "surprise": "surprise H(X)",
    "residual": "residual H(X|Y)",
    "context_calibration": "context calibration",
    "order_calibration": "order calibration",
    "length": "length (tokens)",
}
N_SYSTEMS = 11
SEED = 12345
EXAMPLE_ID = "ex00"  # the bundled example story drawn in the profile and token view (a lighthouse keeper)


def load_subset(n_prompts: int) -> list[dict]:
    """One record per story of the first `n_prompts` prompts, with the mean of the 3 ratings per criterion.

    Read from HANNA in place, in memory only: the text and ratings never go into the written files.
    """
    hanna = load_hanna()  # $CQMETRIC_HANNA or ../shared/data/hanna, read in place
    means = hanna.mean_ratings()  # (1056, 6), criteria in CRITERIA order
    assert tuple(hanna.criteria) == CRITERIA
    keep = np.flatnonzero(hanna.prompt_index < n_prompts)
    stories = []
    for k in keep:
        row = hanna.stories.iloc[k]
        stories.append({
            "story_id": int(row["story_id"]), "prompt_index": int(row["prompt_index"]), "system": row["system"],
            "prompt": row["prompt"], "story": row["story"], "n_raters": int(hanna.ratings.shape[1]),
            **{c: float(means[k, j]) for j, c in enumerate(CRITERIA)},
        })
    return stories


def kendall_figure(table: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.5, 4.0), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(CRITERIA))
    width = 0.8 / len(SCORES)
    colours = ["#762a83", "#2166ac", "#67a9cf", "#d1e5f0", "#1b7837", "#a6dba0", "#b2182b"]
    for k, name in enumerate(SCORES):
        est = np.array([table[name][c]["estimate"] for c in CRITERIA])
        lo = np.array([table[name][c]["ci"][0] for c in CRITERIA])
        hi = np.array([table[name][c]["ci"][1] for c in CRITERIA])
        ax.bar(x + (k - (len(SCORES) - 1) / 2) * width, est, width, color=colours[k], edgecolor="#333", linewidth=0.4,
               yerr=[est - lo, hi - est], capsize=2, error_kw={"linewidth": 0.7}, label=LABELS[name])
    ax.axhline(0, color="#333", linewidth=0.8)
    ax.set_xticks(x, CRITERIA)
    ax.set_ylabel("story-level Kendall τ")
    ax.set_title("HANNA subset: story-level Kendall τ with each criterion (95% CI over prompts)", fontsize=10)
    ax.legend(fontsize=8, ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    fig.savefig(path, dpi=110)


def run_model(stories: list[dict], batch_size: int) -> tuple[dict, list[dict]]:
    """Score every story against its prompt (the slow part).

    Returns the run's summary (signature, corpus values, timing) and one score record per story, keyed by
    HANNA's story_id / prompt_index / system (cqmetric's numbers only: no text, no ratings).
    """
    texts = [s["story"] for s in stories]
    prompts = [s["prompt"] for s in stories]
    print(f"scoring {len(stories)} stories with the embedded model...", file=sys.stderr)
    start = time.perf_counter()
    result = score(texts, prompts, model=None, details=True, batch_size=batch_size, seed=SEED,
                   scorers=[CreativeQuality(), CalibratedSurprise(), Surprise(), Residual(), ContextCalibration(),
                            OrderCalibration(), Length()])
    elapsed = time.perf_counter() - start
    print(f"scored in {elapsed:.0f} s", file=sys.stderr)
    model = {
        "score_signature": result.signature.format(),
        "corpus": {k: v.to_dict() for k, v in result.corpus.items()},
        "run": {"cqmetric": cqmetric.__version__, "python": platform.python_version(),
                "machine": platform.machine(), "cpus": os.cpu_count(), "seconds": round(elapsed, 1)},
    }
    records = [{**{key: s[key] for key in ("story_id", "prompt_index", "system")},
                **{name: float(result[name][k]) for name in SCORES}, "n_tokens": int(result.n_tokens[k])}
               for k, s in enumerate(stories)]
    return model, records


def reuse_scores(target: Path, stories: list[dict]) -> tuple[dict, list[dict]]:
    """The run summary and per-story score records stored in `target`, in the order of `stories`."""
    stored = json.loads(target.read_text(encoding="utf-8"))
    by_id = {int(r["story_id"]): r for r in stored["records"]}
    missing = [s["story_id"] for s in stories if s["story_id"] not in by_id]
    if missing or len(by_id) != len(stories):
        raise SystemExit(f"{target} holds scores for {len(by_id)} stories, not this subset's {len(stories)} "
                         f"(missing: {missing[:5]}); rerun without --reuse")
    records = []
    for s in stories:
        r = by_id[s["story_id"]]
        if (int(r["prompt_index"]), r["system"]) != (s["prompt_index"], s["system"]):
            raise SystemExit(f"story {s['story_id']}: stored prompt/system differ from HANNA's; "
                             "rerun without --reuse")
        records.append({"story_id": s["story_id"], "prompt_index": s["prompt_index"], "system": s["system"],
                        **{name: float(r[name]) for name in SCORES}, "n_tokens": int(r["n_tokens"])})
    model = {key: stored["model"][key] for key in ("score_signature", "corpus", "run")}
    return model, records


def run_example(example_id: str = EXAMPLE_ID) -> tuple[dict, dict]:
    """Score one bundled example story (cqmetric's own text, not HANNA's) for the profile and the token view.

    Cheap (about 100 tokens), so it is redone on every run, `--reuse` included. Returns the per-token detail
    (for the HTML only) and a summary of cqmetric's numbers for the JSON (no text).
    """
    example = next(e for e in load_examples() if e["id"] == example_id)
    result = score([example["story"]], [example["prompt"]], model=None, details=True, seed=SEED)
    profile = profiles([example["story"]], [example["prompt"]], model=None)[0]
    summary = {
        "id": example_id, "source": "cqmetric.examples.load_examples() (bundled, hand-written)",
        "score_signature": result.signature.format(),
        "scores": {name: float(result[name][0]) for name in ("calibrated_surprise", "surprise", "residual")},
        "n_tokens": int(result.n_tokens[0]),
        "profile": profile.to_dict(),
    }
    return {"tokens": result.per_token[0], "profile": profile, "title":
            f"Example story {example_id} (bundled with cqmetric), scored against its prompt"}, summary


def statistics(stories: list[dict], scores: dict[str, list[float]]) -> tuple[dict, dict]:
    """Story-level (HANNA) Kendall tau of every score with every criterion, plain and with length partialled out.

    Story level: inside each prompt over its 11 stories, averaged over the prompts; the CI resamples prompts.
    """
    groups = [s["prompt_index"] for s in stories]
    table: dict[str, dict[str, dict]] = {}
    for name in SCORES:
        table[name] = {}
        for crit in CRITERIA:
            res = correlation(scores[name], [s[crit] for s in stories], method="kendall", level="group",
                              groups=groups, n_boot=2000, seed=SEED)
            table[name][crit] = {"estimate": res.estimate, "ci": list(res.ci), "pvalue": res.pvalue,
                                 "signature": res.signature}
    partial: dict[str, dict[str, dict]] = {}
    for name in ("creative_quality", "calibrated_surprise", "surprise", "context_calibration"):
        partial[name] = {}
        for crit in CRITERIA:
            res = correlation(scores[name], [s[crit] for s in stories], method="kendall", level="group",
                              groups=groups, covariates=scores["length"], n_boot=2000, seed=SEED)
            partial[name][crit] = {"estimate": res.estimate, "ci": list(res.ci), "pvalue": res.pvalue}
    return table, partial


def figures(stories: list[dict], scores: dict[str, list[float]], example: dict, table: dict, out: Path) -> None:
    """Write the PNG figures and the token view."""
    from matplotlib.figure import Figure

    kendall_figure(table, out / "hanna_kendall.png")
    groups = [s["prompt_index"] for s in stories]
    fig = Figure(figsize=(10, 5.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    rating = [s["Surprise"] for s in stories]
    for ax, name in ((left, "calibrated_surprise"), (right, "length")):
        plot_agreement(scores[name], rating, method="kendall", level="group", groups=groups,
                       n_boot=2000, seed=SEED, xlabel=LABELS[name], ylabel="'Surprise' rating (mean of 3 raters)",
                       title=LABELS[name], ax=ax)
    fig.suptitle(f"{len(stories)} HANNA stories (one point each); τ inside each prompt, averaged over prompts",
                 fontsize=10)
    fig.savefig(out / "hanna_agreement.png", dpi=110)
    plot_profile(example["profile"]).savefig(out / "example_profile.png", dpi=110)
    save_token_html(out / "example_tokens.html", example["tokens"], title=example["title"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8, help="number of prompts (11 stories each)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "assets")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the per-story scores stored in OUT/hanna_subset.json (ratings are re-read "
                             "from HANNA); redo statistics and figures")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "hanna_subset.json"

    stories = load_subset(args.prompts)
    if args.reuse:
        model, records = reuse_scores(target, stories)
    else:
        model, records = run_model(stories, args.batch_size)
        # kept if a later step fails, so that --reuse can pick up from here
        target.write_text(json.dumps({"model": model, "records": records}) + "\n", encoding="utf-8")
    scores = {name: [r[name] for r in records] for name in SCORES}
    table, partial = statistics(stories, scores)
    beats = {name: {c: abs(table[name][c]["estimate"]) > abs(table["length"][c]["estimate"]) for c in CRITERIA}
             for name in SCORES if name != "length"}
    example, example_summary = run_example()
    payload = {
        "description": "HANNA subset scored with cqmetric; story-level Kendall tau (within prompt, averaged). "
                       "Only cqmetric's numbers: HANNA's texts and ratings are read in place, never stored here.",
        "data": {"source": "HANNA hanna_stories_annotations.csv (Chhun et al. 2022, MIT), read in place with "
                           "cqmetric.research.hanna.load_hanna()",
                 "prompts": list(range(args.prompts)), "systems": N_SYSTEMS, "stories": len(stories),
                 "n_raters": int(stories[0]["n_raters"]), "ratings": "mean of 3 raters per criterion (not stored)",
                 "truncated": False},
        "settings": {"scorers": list(SCORES), "correlation": "kendall", "level": "group (prompt)",
                     "n_boot": 2000, "ci": 0.95, "seed": SEED},
        "kendall_story_level": table,
        "kendall_story_level_partial_length": partial,
        "beats_length": beats,
        "records": records,
        "model": model,
        "example": example_summary,
    }
    target.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    figures(stories, scores, example, table, args.out)
    for name in SCORES:
        row = "  ".join(f"{c[:5]} {table[name][c]['estimate']:+.3f}" for c in CRITERIA)
        print(f"{name:>20}: {row}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
