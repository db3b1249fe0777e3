"""Validity round 3, the test numbers: the recommendation (Freshness, frozen on LAMP dev) on LAMP test and HANNA
test with both models, beside text length, surprise alone, the shipped CreativeQuality and the experts' ceiling;
each target of protocol3.md said met or not; and the CQA adapter used as the scoring model.

Reads only committed per-text files (nothing here calls a model):

- `results/features_lamp_{model}.jsonl` (test rows) and LAMP's rankings (read in place);
- `results/features_hanna_test_{model}.jsonl`, `features_hanna-degraded_test_{model}.jsonl` (sentence and word
  shuffles of the human stories) and `features_hanna-swap_test_{model}.jsonl` (each story under another test
  prompt), from `tool.py collect --split test` and `summarise`; HANNA's ratings (read in place);
- `results/cqa_{lamp,hanna}_test_scores.jsonl` (base and epoch-5 adapter, `benchmarks/cqa/run.py`).

Writes `results/validity3.md` and the "round3" section of `results/validity.json` (every result with its CI and
settings, the dev numbers of every lever from validity3_dev.json beside the test numbers of the one carried).

Run:  .venv/bin/python benchmarks/validity/tool.py report [--n-boot 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _meta import provenance  # noqa: E402
from report_split import ceiling_of  # noqa: E402
from sources import RESULTS, write_validity_section  # noqa: E402

from cqmetric.errors import DegenerateInputWarning  # noqa: E402
from cqmetric.reliability import (  # noqa: E402
    correlation,
    pair_validation,
    preference_agreement,
    preference_ceiling,
    preference_difference,
)
from cqmetric.research.hanna import CRITERIA, load_hanna  # noqa: E402
from cqmetric.research.lamp import load_lamp  # noqa: E402

MODELS = {"smollm2": "SmolLM2-135M", "gemma": "Gemma 3 270M"}
SEED, N_PERM = 12345, 10000
#: column -> (label, higher is better). Freshness is the one carried to test; the rest are its baselines and parts.
LAMP_SCORES = {
    "freshness": ("Freshness (recommended)", True),
    "shorter": ("shorter is better (words)", False),
    "surprise": ("surprise alone", True),
    "residual": ("residual H(X\\|Y), lower better (its scorer's direction)", False),
    "easy_tokens": ("easy tokens, lower better", False),
    "calibrated_surprise": ("calibrated surprise", True),
    "creative_quality": ("CreativeQuality 0.2 (superseded)", True),
}
SIMILAR = "|la-lb|/max(la,lb) < 0.1"
SWAP_MODELS = ("smollm2",)  # the prompt swap costs a pass a story; it is collected with the embedded model only
TARGETS = {"accuracy": 0.72, "length_controlled": 0.65, "partial_criteria": 4, "degraded": 0.95, "swap": 0.90}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def missing(path: Path, how: str) -> dict[str, str]:
    print(f"report: {path.name} is missing; {how}", file=sys.stderr)
    return {"missing": f"{path.name}: {how}"}


def cell(res: Any) -> dict[str, Any]:
    """The compact form of a result in the tables: estimate, CI, n."""
    d = res.to_dict()
    return {k: d[k] for k in ("accuracy", "estimate", "ci", "n_pairs", "n_items", "n", "win_rate", "win_rate_ci",
                              "ties", "pvalue") if k in d}


# -- LAMP ------------------------------------------------------------------------------------------------------


def lamp_test(model: str, rankings: Any, n_boot: int) -> dict[str, Any]:
    rows = [r for r in read_jsonl(RESULTS / f"features_lamp_{model}.jsonl") if r["split"] == "test"]
    words = {r["id"]: float(r["n_words"]) for r in rows}
    values = {col: {r["id"]: float(words[r["id"]] if col == "shorter" else r[col]) for r in rows}
              for col in LAMP_SCORES}
    boot = {"n_boot": n_boot, "seed": SEED}
    out: dict[str, Any] = {"signature": sorted({r["signature"] for r in rows}), "agreement": {}, "difference": {}}
    for col, (_, hib) in LAMP_SCORES.items():
        res = preference_agreement(values[col], rankings, higher_is_better=hib, lengths=words, **boot)
        similar = next(c for c in res.length_control if c.label == SIMILAR)
        out["agreement"][col] = {**cell(res), "similar_length": similar.to_dict()}
    for base in ("shorter", "surprise", "creative_quality"):
        res = preference_difference(values["freshness"], values[base], rankings, names=("freshness", base),
                                    baseline_higher_is_better=LAMP_SCORES[base][1], n_perm=N_PERM, **boot)
        out["difference"][base] = res.to_dict()
    return out


def lamp_targets(per_model: dict[str, Any]) -> dict[str, Any]:
    met = {}
    for model, r in per_model.items():
        a = r["agreement"]["freshness"]
        met[model] = {
            f"accuracy >= {TARGETS['accuracy']}": a["accuracy"] >= TARGETS["accuracy"],
            "above shorter, CI excludes 0": r["difference"]["shorter"]["ci"][0] > 0,
            "above surprise, CI excludes 0": r["difference"]["surprise"]["ci"][0] > 0,
            f"length-controlled >= {TARGETS['length_controlled']}":
                a["similar_length"]["accuracy"] >= TARGETS["length_controlled"],
        }
    return met


def cqa_lamp(rankings: Any, n_boot: int) -> dict[str, Any]:
    path = RESULTS / "cqa_lamp_test_scores.jsonl"
    if not path.is_file():
        return missing(path, "run benchmarks/cqa/run.py --lamp-scores base, then epoch-5")
    rows = [r for r in read_jsonl(path) if "id" in r]
    out: dict[str, Any] = {}
    for part in ("surprise", "calibrated_surprise"):
        by = {m: {f"{r['id'][len('lamp/'):]}/{r['condition']}": r[part] for r in rows if (r["model"] == "epoch-5")
                  == (m == "epoch-5")} for m in ("base", "epoch-5")}
        out[part] = {m: cell(preference_agreement(v, rankings, n_boot=n_boot, seed=SEED)) for m, v in by.items()}
        out[part]["epoch-5 - base"] = preference_difference(by["epoch-5"], by["base"], rankings,
                                                            names=("epoch-5", "base"), n_perm=N_PERM, n_boot=n_boot,
                                                            seed=SEED).to_dict()
    return out


# -- HANNA -----------------------------------------------------------------------------------------------------


class HannaTest:
    """HANNA's generated test stories in HANNA's order (Human excluded from the story level, as rounds 1 and 2)."""

    def __init__(self, hanna: Any, test_ids: set[int]) -> None:
        self.hanna = hanna
        self.gen = hanna.generated & np.isin(hanna.story_id, sorted(test_ids))
        self.ids = [int(i) for i in hanna.story_id[self.gen]]
        self.groups = hanna.prompt_index[self.gen]
        self.bartscore = -hanna.metric_scores("BARTScore-PS ¤Δ")[self.gen]  # oriented as in rounds 1 and 2

    def story_tau(self, x: np.ndarray, covariates: np.ndarray | None, n_boot: int) -> dict[str, Any]:
        out = {}
        for c in CRITERIA:
            res = correlation(x, self.hanna.mean_ratings(c)[self.gen], method="kendall", level="group",
                              groups=self.groups, covariates=covariates, n_boot=n_boot, seed=SEED, pvalue="none",
                              nan_policy="omit")
            out[c] = cell(res)
        return out


def hanna_test(model: str, hanna: Any, n_boot: int) -> dict[str, Any]:
    path = RESULTS / f"features_hanna_test_{model}.jsonl"
    if not path.is_file():
        return missing(path, f"run tool.py collect --source hanna --split test --model {model}, then summarise")
    rows = {int(r["id"]): r for r in read_jsonl(path)}
    side = HannaTest(hanna, set(rows))
    col = lambda name: np.array([float(rows[i][name]) for i in side.ids])  # noqa: E731
    words = col("n_words")
    scores = {"freshness": col("freshness"), "surprise": col("surprise"), "creative_quality": col("creative_quality"),
              "length (words)": words, "BARTScore-PS": side.bartscore}
    out: dict[str, Any] = {"signature": sorted({r["signature"] for r in rows.values()}), "n_stories": len(side.ids),
                           "n_prompts": int(np.unique(side.groups).size)}
    out["story_tau"] = {name: side.story_tau(x, None, n_boot) for name, x in scores.items()}
    out["story_tau_length_partialled"] = {name: side.story_tau(scores[name], np.log(words), n_boot)
                                          for name in ("freshness", "surprise", "creative_quality")}
    out["ceiling"] = {c: v["story"] for c, v in ceiling_of(SimpleNamespace(hanna=hanna, gen=side.gen,
                                                                           groups=side.groups), n_boot).items()}
    out["degraded_pairs"] = pairs_against(model, "hanna-degraded", rows, ("sentence_shuffle", "word_shuffle"), n_boot,
                                          parts={"freshness": True, "creative_quality": True, "surprise": True})
    if model in SWAP_MODELS:
        out["prompt_swap"] = pairs_against(model, "hanna-swap", rows, ("prompt_swap",), n_boot,
                                           parts={"freshness": True, "residual": False, "calibrated_surprise": True})
    else:
        out["prompt_swap"] = {"missing": "not collected with this model (Freshness does not claim to measure fit to "
                                         "the prompt; the swap is shown with SmolLM2 as a limit)"}
    return out


def pairs_against(model: str, source: str, rows: dict[int, dict], kinds: tuple[str, ...], n_boot: int,
                  parts: dict[str, bool]) -> dict[str, Any]:
    """Each part's win rate of a story over its changed version (shuffled, or under another prompt)."""
    path = RESULTS / f"features_{source}_test_{model}.jsonl"
    if not path.is_file():
        return missing(path, f"run tool.py collect --source {source} --split test --model {model}, then summarise")
    changed = read_jsonl(path)
    out: dict[str, Any] = {}
    for kind in kinds:
        use = [r for r in changed if r["kind"] == kind]
        out[kind] = {part: cell(pair_validation([rows[int(r["original"])][part] for r in use], [r[part] for r in use],
                                                higher_is_better=hib, n_boot=n_boot, seed=SEED))
                     for part, hib in parts.items()}
    return out


def hanna_targets(r: dict[str, Any]) -> dict[str, Any]:
    if "missing" in r:
        return {"not computed": r["missing"]}
    above = [c for c, v in r["story_tau_length_partialled"]["freshness"].items() if v["ci"] and v["ci"][0] > 0]
    met: dict[str, Any] = {f"length-partialled tau CI above 0 on >= {TARGETS['partial_criteria']} of 6":
                           len(above) >= TARGETS["partial_criteria"], "criteria above 0": above}
    for kind, v in r["degraded_pairs"].items():
        if kind != "missing":
            met[f"{kind} >= {TARGETS['degraded']}"] = v["freshness"]["win_rate"] >= TARGETS["degraded"]
    met["prompt swap"] = "not applicable: Freshness does not claim to measure fit to the prompt (see its card)"
    return met


def cqa_hanna(hanna: Any, n_boot: int) -> dict[str, Any]:
    path = RESULTS / "cqa_hanna_test_scores.jsonl"
    if not path.is_file():
        return missing(path, "run benchmarks/cqa/run.py --hanna-scores base, then epoch-5")
    rows = [r for r in read_jsonl(path) if "id" in r]
    side = HannaTest(hanna, {int(r["id"]) for r in rows})
    out: dict[str, Any] = {}
    for part in ("surprise", "calibrated_surprise"):
        for m in ("base", "epoch-5"):
            by = {int(r["id"]): r[part] for r in rows if (r["model"] == "epoch-5") == (m == "epoch-5")}
            out.setdefault(part, {})[m] = side.story_tau(np.array([by[i] for i in side.ids]), None, n_boot)
    return out


# -- the report ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    lamp = load_lamp()
    test = lamp.subset("test").rankings
    hanna = load_hanna()
    dev = json.loads((RESULTS / "validity3_dev.json").read_text())
    out: dict[str, Any] = {"provenance": provenance(), "protocol": "benchmarks/validity/protocol3.md",
                           "recipe": {"scorer": "freshness", **dev["selection"]},
                           "dev": {k: dev[k] for k in ("single", "composites", "creative_quality", "selection")}}
    out["lamp_test"] = {m: lamp_test(m, test, args.n_boot) for m in MODELS}
    out["lamp_test"]["ceiling"] = cell(preference_ceiling(test, n_boot=args.n_boot, seed=SEED))
    out["lamp_test"]["cqa_adapter"] = cqa_lamp(test, args.n_boot)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateInputWarning)  # a prompt whose ten stories tie on a score
        out["hanna_test"] = {m: hanna_test(m, hanna, args.n_boot) for m in MODELS}
        out["hanna_test"]["cqa_adapter"] = cqa_hanna(hanna, args.n_boot)
    out["targets"] = {"lamp_test": lamp_targets({m: out["lamp_test"][m] for m in MODELS}),
                      "hanna_test": {m: hanna_targets(out["hanna_test"][m]) for m in MODELS},
                      "same recipe and constants on both models": True}
    write_validity_section(args.out, "round3", out)
    text = markdown(out)
    (args.out / "validity3.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


def ci(v: dict[str, Any] | None, key: str = "ci") -> str:
    if not v or v.get(key) is None:
        return ""
    lo, hi = v[key]
    return f" [{lo:.3f}, {hi:.3f}]"


def markdown(out: dict[str, Any]) -> str:
    p = out["provenance"]
    lt, ht = out["lamp_test"], out["hanna_test"]
    lines = ["# Validity round 3: test numbers", "",
             f"cqmetric {p['cqmetric_version']}, commit {p['git_commit'][:10]}, {p['date']}. Protocol: "
             "benchmarks/validity/protocol3.md. The recipe (Freshness: residual and easy tokens in reference units, "
             f"weights {out['recipe'].get('weights_rounded')}) was chosen and frozen on LAMP dev before any number "
             "below was computed; the same constants on both models.", "",
             "## LAMP test: pairwise accuracy against the professional writers (100 items, 95% item-bootstrap CI)",
             "", "| score | " + " | ".join(MODELS.values()) + " | similar length (<10% words): "
             + " / ".join(MODELS.values()) + " |", "|---|---|---|---|"]
    for col, (label, _) in LAMP_SCORES.items():
        a = {m: lt[m]["agreement"][col] for m in MODELS}
        lines.append(f"| {label} | " + " | ".join(f"{a[m]['accuracy']:.3f}{ci(a[m])}" for m in MODELS) + " | "
                     + " / ".join(f"{a[m]['similar_length']['accuracy']:.3f}" for m in MODELS) + " |")
    c = lt["ceiling"]
    lines += [f"| writers' ceiling (each against the other two) | {c['accuracy']:.3f}{ci(c)} (no model) | | |", "",
              "Paired differences (Freshness minus the baseline; item bootstrap CI, sign-flip p by item):", ""]
    for m, name in MODELS.items():
        for base, d in lt[m]["difference"].items():
            lines.append(f"- {name}, minus {LAMP_SCORES[base][0]}: {d['difference']:+.3f}{ci(d)}, p = {d['pvalue']:.4f}")
    lines += ["", "Targets (protocol3.md):", ""]
    for m, met in out["targets"]["lamp_test"].items():
        lines.append(f"- {MODELS[m]}: " + "; ".join(f"{k}: **{'met' if v else 'not met'}**" for k, v in met.items()))
    cq = lt["cqa_adapter"]
    if "missing" not in cq:
        lines += ["", "### The CQA adapter as the scoring model (SmolLM2, LoRA epoch 5 on LAMP dev's expert edits)", "",
                  "| part | base | epoch 5 | epoch 5 minus base |", "|---|---|---|---|"]
        for part, v in cq.items():
            d = v["epoch-5 - base"]
            lines.append(f"| {part} | {v['base']['accuracy']:.3f}{ci(v['base'])} | {v['epoch-5']['accuracy']:.3f}"
                         f"{ci(v['epoch-5'])} | {d['difference']:+.3f}{ci(d)}, p = {d['pvalue']:.4f} |")
    lines += ["", "## HANNA test (48 prompts; story-level Kendall tau per prompt over the 10 generated systems, "
              "95% CI)", ""]
    for m, name in MODELS.items():
        r = ht[m]
        if "missing" in r:
            lines += [f"{name}: not computed ({r['missing']}).", ""]
            continue
        lines += [f"### {name}", "", "| | " + " | ".join(CRITERIA) + " |", "|---" * (len(CRITERIA) + 1) + "|"]
        for score_name, by in r["story_tau"].items():
            lines.append(f"| {score_name} | " + " | ".join(f"{by[c]['estimate']:+.3f}{ci(by[c])}" for c in CRITERIA)
                         + " |")
        for score_name, by in r["story_tau_length_partialled"].items():
            lines.append(f"| {score_name}, length-partialled | "
                         + " | ".join(f"{by[c]['estimate']:+.3f}{ci(by[c])}" for c in CRITERIA) + " |")
        lines.append("| raters' ceiling | " + " | ".join(f"{r['ceiling'][c]['tau']:+.3f}{ci(r['ceiling'][c])}"
                                                        for c in CRITERIA) + " |")
        lines += ["", "| pairs: the story beats its | " + " | ".join(
            f"{s} (win rate)" for s in ("freshness", "creative_quality / residual", "surprise / calibrated surprise"))
            + " |", "|---|---|---|---|"]
        for group in ("degraded_pairs", "prompt_swap"):
            for kind, v in r[group].items():
                if kind == "missing":
                    lines.append(f"| {group}: {v} | | | |")
                    continue
                vals = list(v.values())
                lines.append(f"| {kind.replace('_', ' ')} | " + " | ".join(
                    f"{x['win_rate']:.3f}{ci(x, 'win_rate_ci')}" for x in vals) + " |")
        lines += ["", "Targets: " + "; ".join(f"{k}: {v}" for k, v in out["targets"]["hanna_test"][m].items()), ""]
    cq = ht["cqa_adapter"]
    if "missing" not in cq:
        lines += ["### The CQA adapter on HANNA test (SmolLM2; story-level tau)", "",
                  "| part, model | " + " | ".join(CRITERIA) + " |", "|---" * (len(CRITERIA) + 1) + "|"]
        for part, by_model in cq.items():
            for m, by in by_model.items():
                lines.append(f"| {part}, {m} | " + " | ".join(f"{by[c]['estimate']:+.3f}{ci(by[c])}"
                                                             for c in CRITERIA) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
