"""Validity round 3 on LAMP dev: every lever measured, and the recipe chosen by the rule in protocol3.md.

Reads the committed per-text parts (`results/features_lamp_{smollm2,gemma}.jsonl`, from `tool.py collect` and
`summarise`) and each model's reference units (the bundled reference set scored by the library,
`cqmetric.evidence.reference_evidence`), and writes `results/validity3_dev.json` and `.md`:

- every part alone, on each model (pairwise accuracy against the writers on the dev items);
- weighted sums of two or three parts in each model's reference units (lever 1, portable), fitted once on both
  models' dev pairs together (a logistic fit on the judged pairs), held out by 5-fold cross-validation by item;
  the same in raw bits (not portable) for comparison;
- CreativeQuality as shipped, and refitted per model on LAMP dev with `fit_to_experts` (held out);
- the selection, by the protocol's rule, and the chosen recipe's constants fitted on all dev items.

Nothing here reads a test item.
"""

from __future__ import annotations

import argparse
import itertools
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _meta import provenance
from scipy import optimize

from sources import RESULTS, model_argument

MODELS = ("smollm2", "gemma")
PARTS = {  # part -> higher is better (the direction of its scorer)
    "surprise": True, "calibrated_surprise": True, "residual": False, "easy_tokens": False,
    "easy_tokens_constrained": False, "surprisal_quantile": True, "order_calibration": True,
}
FOLDS, SEED = 5, 12345


def features(model: str, split: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (RESULTS / f"features_lamp_{model}.jsonl").read_text().splitlines()]
    return [r for r in rows if r["split"] == split]


def reference_units(model: str) -> dict[str, dict[str, float]]:
    """Each part's location and unit on the model's reference set, computed by the library."""
    from cqmetric.backends.resolve import get_backend
    from cqmetric.constraints import DEFAULT_TEMPLATE
    from cqmetric.evidence import reference_evidence
    from cqmetric.scorers import functional as F
    from cqmetric.types import CONSTRAINED, Need

    argument = model_argument(model)
    backend = get_backend(argument[1] if argument else None)
    ref = reference_evidence(backend, DEFAULT_TEMPLATE, frozenset({CONSTRAINED, Need("reordered", "sentence")}))
    fns = {
        "surprise": lambda ev: F.surprise(ev.s), "calibrated_surprise": lambda ev: F.calibrated_surprise(ev.s, ev.c),
        "residual": lambda ev: F.residual(ev.c), "easy_tokens": lambda ev: F.easy_share(ev.s, threshold=0.5),
        "easy_tokens_constrained": lambda ev: F.easy_share(ev.c, threshold=0.5),
        "surprisal_quantile": lambda ev: F.surprisal_quantile(ev.s, q=0.1),
        "order_calibration": lambda ev: F.order_calibration(ev.s, ev.reordered["sentence"]),
    }
    out = {}
    for part, fn in fns.items():
        u = ref.units(part, fn)
        out[part] = {"location": u.location, "unit": u.unit}
    return out


class Pairs:
    """The writers' judged pairs of one split, as positions into that split's texts."""

    def __init__(self, split: str) -> None:
        from cqmetric.research.lamp import load_lamp

        part = load_lamp().subset(split)
        self.ids = list(part.texts["text_id"])
        self.rankings = part.rankings
        position = {t: k for k, t in enumerate(self.ids)}
        w, lo, it = [], [], []
        for (item, _judge), g in part.rankings.groupby(["item", "judge"]):
            order = list(g.sort_values("rank")["text_id"])
            for a, b in itertools.combinations(range(len(order)), 2):
                w.append(position[order[a]]), lo.append(position[order[b]]), it.append(item)
        self.winner, self.loser, self.item = np.array(w), np.array(lo), np.array(it)
        self.items = np.unique(self.item)

    def accuracy(self, values: np.ndarray, rows: np.ndarray | None = None) -> float:
        margin = values[self.winner] - values[self.loser]
        if rows is not None:
            margin = margin[rows]
        return float(np.mean(0.5 * (1 + np.sign(margin))))  # a tied score counts 0.5


def logistic_weights(D: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Weights maximising the (ridge-penalised) Bradley-Terry likelihood of the judged pairs' differences."""
    loss = lambda w: float(np.logaddexp(0, -(D @ w)).sum() + 0.5 * alpha * w @ w)  # noqa: E731
    w = optimize.minimize(loss, np.zeros(D.shape[1]), method="L-BFGS-B").x
    return w / np.linalg.norm(w)


def composite_cv(pairs: Pairs, Z: dict[str, np.ndarray]) -> dict[str, float]:
    """5-fold-by-item held-out accuracy per model of one weight vector fitted on both models' training pairs."""
    folds = np.array_split(np.random.default_rng(SEED).permutation(pairs.items), FOLDS)
    credit = {m: [] for m in Z}
    for held in folds:
        train = ~np.isin(pairs.item, held)
        w = logistic_weights(np.vstack([Z[m][pairs.winner[train]] - Z[m][pairs.loser[train]] for m in Z]))
        for m in Z:
            v = Z[m] @ w
            margin = v[pairs.winner[~train]] - v[pairs.loser[~train]]
            credit[m] += list(0.5 * (1 + np.sign(margin)))
    return {m: float(np.mean(c)) for m, c in credit.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    pairs = Pairs("dev")
    rows = {m: {r["id"]: r for r in features(m, "dev")} for m in MODELS}
    values = {m: {p: np.array([rows[m][t][p] for t in pairs.ids]) for p in PARTS} for m in MODELS}
    units = {m: reference_units(m) for m in MODELS}
    out: dict[str, Any] = {"provenance": provenance(), "reference_units": units,
                           "data": {"items": int(pairs.items.size), "judged_pairs": int(pairs.winner.size)}}
    out["single"] = {p: {m: pairs.accuracy(values[m][p] if hib else -values[m][p]) for m in MODELS}
                     for p, hib in PARTS.items()}
    surprise = out["single"]["surprise"]

    def in_units(m: str, combo: tuple[str, ...], how: str) -> np.ndarray:
        cols = [(values[m][p] - units[m][p]["location"]) / abs(units[m][p]["unit"]) if how == "reference"
                else values[m][p] for p in combo]
        return np.column_stack(cols)

    composites = []
    for k in (2, 3):
        for combo in itertools.combinations(PARTS, k):
            entry = {"parts": list(combo), "constants": k}
            for how in ("reference", "raw"):
                entry[how] = composite_cv(pairs, {m: in_units(m, combo, how) for m in MODELS})
            composites.append(entry)
    out["composites"] = sorted(composites, key=lambda e: -np.mean(list(e["reference"].values())))

    from cqmetric import fit_to_experts
    from cqmetric.errors import SmallSampleWarning
    from cqmetric.scorers import FITTED
    from cqmetric.scorers import functional as F

    cq: dict[str, Any] = {}
    for m in MODELS:
        shipped = F.creative_quality(values[m]["order_calibration"], values[m]["calibrated_surprise"],
                                     values[m]["surprise"], **FITTED)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallSampleWarning)
            refit = fit_to_experts("creative_quality", {p: values[m][p] for p in PARTS}, pairs.ids,
                                   judgements=pairs.rankings[["item", "judge", "text_id", "rank"]], label="lamp-dev",
                                   n_boot=0)
        cq[m] = {"shipped": pairs.accuracy(shipped), "refit_held_out": refit.held_out.estimate,
                 "refit_in_sample": refit.in_sample.estimate, "refit_constants": refit.constants}
    out["creative_quality"] = cq

    # The protocol's rule: above surprise alone on both models; the highest mean; within 0.005, fewer constants;
    # then fewer model passes (no constraints needed); then the order of PARTS.
    candidates = [{"recipe": [p], "constants": 0, "dev": acc} for p, acc in out["single"].items()]
    candidates += [{"recipe": e["parts"], "constants": e["constants"], "dev": e["reference"]} for e in composites]
    candidates += [{"recipe": ["creative_quality_refit"], "constants": 5,
                    "dev": {m: cq[m]["refit_held_out"] for m in MODELS}}]
    eligible = [c for c in candidates if all(c["dev"][m] > surprise[m] for m in MODELS)]
    passes = lambda c: int(any(p in ("calibrated_surprise", "residual", "easy_tokens_constrained",  # noqa: E731
                                     "creative_quality_refit", "order_calibration") for p in c["recipe"]))
    if eligible:
        best = max(np.mean(list(c["dev"].values())) for c in eligible)
        near = [c for c in eligible if np.mean(list(c["dev"].values())) >= best - 0.005]
        chosen = min(near, key=lambda c: (c["constants"], -round(np.mean(list(c["dev"].values())), 9), passes(c)))
    else:
        chosen = {"recipe": ["surprise"], "constants": 0, "dev": surprise}
    final: dict[str, Any] = {"chosen": chosen, "n_eligible": len(eligible), "n_candidates": len(candidates)}
    if len(chosen["recipe"]) > 1:
        Z = {m: in_units(m, tuple(chosen["recipe"]), "reference") for m in MODELS}
        w = logistic_weights(np.vstack([Z[m][pairs.winner] - Z[m][pairs.loser] for m in MODELS]))
        final["weights"] = dict(zip(chosen["recipe"], w.tolist()))
        final["weights_rounded"] = {p: round(x, 3) for p, x in final["weights"].items()}
        final["in_sample"] = {m: pairs.accuracy(Z[m] @ w) for m in MODELS}
    out["selection"] = final
    (args.out / "validity3_dev.json").write_text(json.dumps(out, indent=1, default=str) + "\n", encoding="utf-8")
    (args.out / "validity3_dev.md").write_text(markdown(out), encoding="utf-8")
    print(markdown(out))
    return 0


def markdown(out: dict[str, Any]) -> str:
    p = out["provenance"]
    lines = ["# Validity round 3 on LAMP dev: every lever, and the choice", "",
             f"cqmetric {p['cqmetric_version']}, commit {p['git_commit'][:10]}, {p['date']}. LAMP dev: "
             f"{out['data']['items']} items, {out['data']['judged_pairs']} judged pairs. Pairwise accuracy against the "
             "writers (a tied score counts 0.5). Protocol: benchmarks/validity/protocol3.md.", "",
             "## Each part alone", "", "| part | SmolLM2-135M | Gemma 3 270M |", "|---|---|---|"]
    for part, acc in out["single"].items():
        lines.append(f"| {part} ({'higher' if PARTS[part] else 'lower'} better) | {acc['smollm2']:.3f} | "
                     f"{acc['gemma']:.3f} |")
    lines += ["", "## Composites (fitted once on both models' dev pairs; 5-fold by item, held out)", "",
              "| parts | reference units: SmolLM2 / Gemma | raw bits: SmolLM2 / Gemma |", "|---|---|---|"]
    for e in out["composites"][:12]:
        r, b = e["reference"], e["raw"]
        lines.append(f"| {', '.join(e['parts'])} | {r['smollm2']:.3f} / {r['gemma']:.3f} | "
                     f"{b['smollm2']:.3f} / {b['gemma']:.3f} |")
    cq = out["creative_quality"]
    lines += ["", "## CreativeQuality", "", "| | SmolLM2 | Gemma |", "|---|---|---|",
              f"| shipped (fitted on HANNA dev) | {cq['smollm2']['shipped']:.3f} | {cq['gemma']['shipped']:.3f} |",
              f"| refitted on LAMP dev, held out | {cq['smollm2']['refit_held_out']:.3f} | "
              f"{cq['gemma']['refit_held_out']:.3f} |", "", "## The choice", ""]
    s = out["selection"]
    lines.append(f"{s['n_eligible']} of {s['n_candidates']} candidates beat surprise alone on both models. Chosen: "
                 f"**{' + '.join(s['chosen']['recipe'])}** (dev {s['chosen']['dev']['smollm2']:.3f} / "
                 f"{s['chosen']['dev']['gemma']:.3f}).")
    if "weights" in s:
        lines.append(f"Weights in reference units, fitted on all dev items of both models: {s['weights_rounded']}; "
                     f"in sample {s['in_sample']['smollm2']:.3f} / {s['in_sample']['gemma']:.3f}.")
    return "\n".join(lines) + "\n"
