"""Fit to your own experts, shown on two dev sets: the held-out (cross-validated by item) figure beside the
in-sample one, so the optimism of fitting shows.

- LAMP dev (100 items, the writers' rankings): CreativeQuality's five constants, and a weighted sum of surprise,
  calibrated surprise and order calibration, from `results/features_lamp_smollm2.jsonl` (`tool.py summarise`).
- HANNA dev (48 prompts, 480 stories; ratings: the mean over raters and the six criteria, agreement within each
  prompt): the same two, from `results/order_smollm2_dev.jsonl`.

Writes `results/experts_fit.json` and `.md`. Runs in about a minute.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
from _meta import provenance

from cqmetric import fit_to_experts
from cqmetric.errors import SmallSampleWarning
from sources import RESULTS

WEIGHTED = ["surprise", "calibrated_surprise", "order_calibration"]


def _fits(parts, ids, **signal):
    out = {}
    for kind, extra in (("creative_quality", {}), ("weighted", {"members": WEIGHTED})):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SmallSampleWarning)
            fit = fit_to_experts(kind, parts, ids, label="dev", **extra, **signal)
        out[kind] = {"spec": str(fit.scorer.name), "constants": fit.constants, "held_out": fit.held_out.to_dict(),
                     "in_sample": fit.in_sample.to_dict(), "optimism": fit.in_sample.estimate - fit.held_out.estimate,
                     "per_fold": list(fit.per_fold), "fingerprint": fit.fingerprint, "settings": fit.settings,
                     "warnings": [str(w.message) for w in caught]}
    return out


def lamp_dev() -> dict:
    from cqmetric.research.lamp import load_lamp

    rows = [json.loads(line) for line in (RESULTS / "features_lamp_smollm2.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["split"] == "dev"]
    lamp = load_lamp().subset("dev")
    parts = {p: np.array([r[p] for r in rows]) for p in ("order_calibration", "calibrated_surprise", "surprise")}
    return _fits(parts, [r["id"] for r in rows], judgements=lamp.rankings[["item", "judge", "text_id", "rank"]])


def hanna_dev() -> dict:
    from cqmetric.research.hanna import load_hanna

    hanna = load_hanna()
    rows = [json.loads(line) for line in (RESULTS / "order_smollm2_dev.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["variant"] == "original"]
    mean = hanna.mean_ratings().mean(axis=1)  # over raters, then over the six criteria
    ids = [str(r["story_id"]) for r in rows]
    parts = {p: np.array([r[p] for r in rows]) for p in ("order_calibration", "calibrated_surprise", "surprise")}
    return _fits(parts, ids, ratings=[float(mean[r["story_id"]]) for r in rows],
                 items=[int(hanna.prompt_index[r["story_id"]]) for r in rows])


def _markdown(out: dict) -> str:
    lines = ["# Fit to your own experts on two dev sets", "",
             f"cqmetric {out['provenance']['cqmetric_version']}, commit {out['provenance']['git_commit'][:10]}. "
             "Held out: 5 folds by item, the whole fit rerun per training fold, item-bootstrap 95% interval. "
             "In sample: the final fit scored on the data it was fitted to.", "",
             "| data | scorer | held out | in sample | optimism |", "|---|---|---|---|---|"]
    for data, fits in (("LAMP dev (pairwise accuracy)", out["lamp_dev"]),
                       ("HANNA dev (within-prompt tau-b, mean rating)", out["hanna_dev"])):
        for kind, f in fits.items():
            h, i = f["held_out"], f["in_sample"]
            lines.append(f"| {data} | {kind} | {h['estimate']:.3f} [{h['ci'][0]:.3f}, {h['ci'][1]:.3f}] | "
                         f"{i['estimate']:.3f} | {f['optimism']:+.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    out = {"provenance": provenance(), "lamp_dev": lamp_dev(), "hanna_dev": hanna_dev()}
    (args.out / "experts_fit.json").write_text(json.dumps(out, indent=1, default=str) + "\n", encoding="utf-8")
    (args.out / "experts_fit.md").write_text(_markdown(out), encoding="utf-8")
    print(_markdown(out))
    return 0
