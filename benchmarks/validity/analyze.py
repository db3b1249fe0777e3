"""Validity on HANNA: each scorer against the six human criteria, beside text length, published peers and the
human ceiling; prompt-swap accuracy; degraded-pair win rates. Uses only cqmetric's own statistics.

Reads benchmarks/results/hanna_scores.jsonl (written by score_hanna.py) and HANNA in place.
Writes benchmarks/results/validity.json and validity.md.

Run:  .venv/bin/python benchmarks/validity/tool.py analyze [--hanna PATH] [--n-boot 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _meta import provenance  # noqa: E402

from cqmetric.errors import DegenerateInputWarning  # noqa: E402
from cqmetric.research.hanna import load_hanna  # noqa: E402
from cqmetric.reliability import correlation, human_ceiling, pair_validation  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results"
CRITERIA = ("Relevance", "Coherence", "Empathy", "Surprise", "Engagement", "Complexity")
ABBREV = ("RE", "CH", "EM", "SU", "EG", "CX")
# Scorer -> direction it is declared in (+1: higher is better). Residual is the constraint-explained remainder:
# lower is better, so its correlation is reported with the sign flipped.
SCORERS = {
    "cs_mean": 1, "cs_sum": 1, "surprise": 1, "residual": -1, "cs_expected": 1, "surprise_expected": 1,
    "residual_expected": -1, "context_calibration": 1,
}
PEERS = {"BARTScore-PS": "BARTScore-PS ¤Δ", "BARTScore-SP": "BARTScore-SP ¤Δ", "chrF": "chrF Ξ§",
         "BERTScore-F1": "BERTScore F1 Ξε"}
TARGET_BARTSCORE_PS = (0.04, 0.10, 0.05, 0.16, 0.16, 0.22)
TARGET_LENGTH = (0.14, 0.20, 0.20, 0.21, 0.27, 0.40)


def load_scores(path: Path) -> dict[str, dict[int, dict]]:
    by_variant: dict[str, dict[int, dict]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        by_variant.setdefault(row["variant"], {})[row["story_id"]] = row
    return by_variant


def summarise(res) -> dict:
    return {"tau": res.estimate, "ci": list(res.ci) if res.ci else None, "n": res.n}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hanna", default=None)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--scores", type=Path, default=RESULTS / "hanna_scores.jsonl")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    h = load_hanna(args.hanna)
    scores = load_scores(args.scores)
    original = scores.get("original", {})
    # Only prompts whose 11 stories are all scored take part (score_hanna.py --limit-prompts N scores a subset).
    scored = np.array([int(i) in original for i in h.story_id])
    prompts = sorted(p for p in set(h.prompt_index.tolist()) if scored[h.prompt_index == p].all())
    if len(prompts) < 2:
        raise SystemExit("analyze: fewer than 2 prompts have all their stories scored; run score_hanna.py first.")
    use = np.isin(h.prompt_index, prompts)
    ids = h.story_id[use]
    gen = h.generated[use]
    groups, systems = h.prompt_index[use][gen], h.system[use][gen]
    table = {k: np.array([original[i][k] for i in ids]) for k in SCORERS}
    length = np.array([original[i]["length_tokens"] for i in ids])
    rows: dict[str, dict] = {}
    opts = dict(method="kendall", n_boot=args.n_boot, pvalue="none", nan_policy="omit")

    def both_levels(x: np.ndarray, y: np.ndarray, sign: int = 1, covariates=None) -> dict:
        story = correlation(sign * x[gen], y[gen], level="group", groups=groups, covariates=covariates, **opts)
        system = correlation(sign * x[gen], y[gen], level="system", systems=systems, **opts)
        return {"story": summarise(story), "system": summarise(system)}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateInputWarning)  # constant metrics inside a prompt: omitted
        for ci, criterion in enumerate(CRITERIA):
            y = h.mean_ratings(criterion)[use]
            print(f"{criterion}...", file=sys.stderr, flush=True)
            for name, sign in SCORERS.items():
                rows.setdefault(name, {})[criterion] = both_levels(table[name], y, sign)
            rows.setdefault("cs_mean_partial_loglen", {})[criterion] = {
                "story": summarise(correlation(table["cs_mean"][gen], y[gen], level="group", groups=groups,
                                               covariates=np.log(length[gen]), **opts))}
            rows.setdefault("length_tokens", {})[criterion] = both_levels(length.astype(float), y)
            for label, column in PEERS.items():
                rows.setdefault(label, {})[criterion] = both_levels(h.metric_scores(column)[use], y)
            ratings = h.criterion_ratings(criterion)[use][gen]
            for label, centre in (("human_ceiling_raw", False), ("human_ceiling_worker_centred", True)):
                ceiling = human_ceiling(ratings, method="kendall", level="group", groups=groups,
                                        center_raters=centre, rater_ids=h.worker_ids[use][gen] if centre else None,
                                        n_boot=args.n_boot, nan_policy="omit")
                rows.setdefault(label, {})[criterion] = {"story": summarise(ceiling)}

    # Prompt swap: is each story explained better by its own prompt than by another one?
    swap = scores.get("prompt_swap", {})
    swapped = [i for i in ids if i in swap]
    swap_result = pair_validation([original[i]["cs_mean"] for i in swapped], [swap[i]["cs_mean"] for i in swapped],
                                  n_boot=args.n_boot)
    # Degraded pairs: each human story against its shuffled versions.
    degraded = {}
    for kind in ("sentence_shuffle", "word_shuffle"):
        pairs = scores.get(kind, {})
        ids_k = [i for i in sorted(pairs) if pairs[i].get("changed", True) and i in original]
        degraded[kind] = {}
        for name, sign in (("cs_mean", 1), ("surprise", -1), ("residual", -1), ("context_calibration", 1)):
            res = pair_validation([original[i][name] for i in ids_k], [pairs[i][name] for i in ids_k],
                                  higher_is_better=sign > 0, n_boot=args.n_boot)
            degraded[kind][name] = res.to_dict()

    def story_tau(name: str, c: str) -> float:
        return rows[name][c]["story"]["tau"]

    targets = {}
    for name in [*SCORERS, "cs_mean_partial_loglen"]:
        beats_bart = [story_tau(name, c) > t for c, t in zip(CRITERIA, TARGET_BARTSCORE_PS)]
        beats_len = [story_tau(name, c) > t for c, t in zip(CRITERIA, TARGET_LENGTH)]
        # The same comparison against the peers recomputed on exactly the scored stories (signed, oriented).
        same_bart = [story_tau(name, c) > abs(story_tau("BARTScore-PS", c)) for c in CRITERIA]
        same_len = [story_tau(name, c) > story_tau("length_tokens", c) for c in CRITERIA]
        targets[name] = {"beats_BARTScore-PS_on": int(sum(beats_bart)), "beats_length_on": int(sum(beats_len)),
                         "met_all6_bartscore": all(beats_bart), "met_3_length": sum(beats_len) >= 3,
                         "beats_BARTScore-PS_same_stories_on": int(sum(same_bart)),
                         "beats_length_same_stories_on": int(sum(same_len))}
    partial_ci_above_0 = sum(
        1 for c in CRITERIA if (rows["cs_mean_partial_loglen"][c]["story"]["ci"] or [0])[0] > 0)
    report = {
        **provenance(),
        "signature": original[int(ids[0])]["signature"],
        "prompts_scored": len(prompts), "stories_scored": int(len(ids)),
        "protocol": "Kendall tau-b; story level = per prompt over the 10 generated systems (Human excluded), "
                    "averaged over the prompts scored, CI from a bootstrap over prompts; system level = over the 10 "
                    "generated systems' means. Scores are oriented so that positive means agreement in the "
                    "scorer's declared direction (residual flipped). Published values drop the sign.",
        "n_boot": args.n_boot, "correlations": rows, "prompt_swap": swap_result.to_dict(),
        "degraded_pairs": degraded, "targets": targets,
        "target_partial_ci_above_zero_on": partial_ci_above_0,
        "target_prompt_swap_accuracy_0.95": swap_result.win_rate >= 0.95,
    }
    args.out.mkdir(exist_ok=True)
    path = args.out / "validity.json"
    if path.is_file():  # the later rounds' sections (report-split's "split", report's "round3") stay
        kept = json.loads(path.read_text())
        report.update({k: kept[k] for k in ("split", "round3") if k in kept})
    path.write_text(json.dumps(report, indent=2, allow_nan=False, default=str) + "\n")
    text = summary(report)
    (args.out / "validity.md").write_text(text)
    print(text)
    return 0


def _cell(d: dict | None) -> str:
    if not d:
        return ""
    ci = d.get("ci")
    return f"{d['tau']:+.3f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")


def summary(r: dict) -> str:
    lines = [f"# Validity on HANNA (cqmetric {r['cqmetric_version']}, commit {r['git_commit'][:10]}, {r['date']})",
             "", f"Machine: {r['machine']['cpu']}, {r['machine']['cores']} cores.", "",
             f"Signature of the scores: `{r['signature']}`", "",
             f"Prompts scored: {r['prompts_scored']} of 96 ({r['stories_scored']} stories); every comparison below "
             "uses exactly these stories.", "", r["protocol"], "",
             "## Story-level Kendall τ (95% CI over prompts)", "",
             "| scorer | " + " | ".join(ABBREV) + " |", "|---" * (len(ABBREV) + 1) + "|"]
    for name, per in r["correlations"].items():
        lines.append(f"| {name} | " + " | ".join(_cell(per[c].get("story")) for c in CRITERIA) + " |")
    lines += ["", "## System-level Kendall τ (10 generated systems)", "",
              "| scorer | " + " | ".join(ABBREV) + " |", "|---" * (len(ABBREV) + 1) + "|"]
    for name, per in r["correlations"].items():
        if "system" in per[CRITERIA[0]]:
            lines.append(f"| {name} | " + " | ".join(f"{per[c]['system']['tau']:+.3f}" for c in CRITERIA) + " |")
    s = r["prompt_swap"]
    lines += ["", "## Prompt swap", "",
              f"I(X; own prompt) > I(X; another prompt) for {s['wins']} of {s['n_pairs']} stories: accuracy "
              f"{s['win_rate']:.3f} (target 0.95: {'met' if r['target_prompt_swap_accuracy_0.95'] else 'NOT met'}).",
              "", "## Degraded pairs (the human stories of these prompts)", "", "| perturbation | scorer | win rate | 95% CI | p | mean margin |",
              "|---|---|---:|---|---:|---:|"]
    for kind, per in r["degraded_pairs"].items():
        for name, d in per.items():
            ci = d.get("win_rate_ci") or [float("nan")] * 2
            lines.append(f"| {kind} | {name} | {d['win_rate']:.3f} | [{ci[0]:.2f}, {ci[1]:.2f}] | "
                         f"{d['pvalue']:.2g} | {d['mean_margin']:+.3f} |")
    lines += ["", "## Targets", "", "Published values (all 96 prompts): BARTScore-PS |τ| .04 .10 .05 .16 .16 .22; text "
              "length .14 .20 .20 .21 .27 .40. A scorer 'beats' one when its oriented story-level τ is larger.", ""]
    for name, t in r["targets"].items():
        lines.append(f"- {name}: beats BARTScore-PS on {t['beats_BARTScore-PS_on']}/6 (target 6: "
                     f"{'met' if t['met_all6_bartscore'] else 'NOT met'}); beats text length on "
                     f"{t['beats_length_on']}/6 (target 3: {'met' if t['met_3_length'] else 'NOT met'}); on the same "
                     f"stories: |BARTScore-PS| beaten on {t['beats_BARTScore-PS_same_stories_on']}/6, our token "
                     f"length on {t['beats_length_same_stories_on']}/6.")
    lines.append(f"- length-partialled calibrated surprise: CI above 0 on {r['target_partial_ci_above_zero_on']}/6 "
                 f"criteria (target 3: {'met' if r['target_partial_ci_above_zero_on'] >= 3 else 'NOT met'}).")
    return "\n".join(lines) + "\n"

