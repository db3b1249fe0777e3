"""Figures of the committed benchmark results for the docs site (docs/assets/bench_*.png).

Run:  .venv/bin/python benchmarks/plot.py
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS, ASSETS = ROOT / "benchmarks" / "results", ROOT / "docs" / "assets"
CRITERIA = ("Relevance", "Coherence", "Empathy", "Surprise", "Engagement", "Complexity")


def _bars(ax, runs: dict, title: str) -> None:
    runs = {k: v for k, v in runs.items() if "tokens_per_s" in v}
    names = list(runs)
    ax.barh(names, [runs[n]["tokens_per_s"] for n in names],
            color=["tab:blue" if n == "cqmetric" else "tab:gray" for n in names])
    for i, n in enumerate(names):
        ax.text(runs[n]["tokens_per_s"], i, f" {runs[n]['tokens_per_s']:.0f}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("text tokens scored per second (higher is better)", fontsize=8)
    ax.set_title(title, fontsize=9)


def speed() -> None:
    r = json.loads((RESULTS / "speed.json").read_text())
    brief = r.get("shared_brief", {}).get("runs")
    fig, axes = plt.subplots(1 + bool(brief), 1, figsize=(7, 5.2 if brief else 3.2),
                             gridspec_kw={"height_ratios": [2, 1]} if brief else None)
    axes = list(axes) if brief else [axes]
    _bars(axes[0], r["peers"], f"HANNA stories, same work, same model (SmolLM2-135M fp32), "
                               f"{r['machine']['cores']} CPU cores")
    if brief:
        _bars(axes[1], brief, "one long brief shared by many short texts")
        right = max(v.get("tokens_per_s", 0) for v in [*r["peers"].values(), *brief.values()]) * 1.15
        for ax in axes:
            ax.set_xlim(0, right)
    fig.tight_layout()
    fig.savefig(ASSETS / "bench_speed.png", dpi=110)


def validity() -> None:
    r = json.loads((RESULTS / "validity.json").read_text())
    rows = r["correlations"]
    shown = [("cs_mean", "calibrated surprise"), ("surprise", "surprise"),
             ("context_calibration", "context calibration"), ("cs_mean_partial_loglen", "CS, length partialled"),
             ("length_tokens", "text length"), ("BARTScore-PS", "BARTScore-PS"),
             ("human_ceiling_worker_centred", "human ceiling (centred)")]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(shown)
    for k, (key, label) in enumerate(shown):
        xs = [i + (k - len(shown) / 2) * width + width / 2 for i in range(len(CRITERIA))]
        taus = [rows[key][c]["story"]["tau"] for c in CRITERIA]
        los = [t - (rows[key][c]["story"]["ci"] or [t, t])[0] for t, c in zip(taus, CRITERIA)]
        his = [(rows[key][c]["story"]["ci"] or [t, t])[1] - t for t, c in zip(taus, CRITERIA)]
        ax.bar(xs, taus, width, yerr=[los, his], label=label, capsize=1.5, error_kw={"lw": 0.6})
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(range(len(CRITERIA)), CRITERIA, fontsize=8)
    ax.set_ylabel("story-level Kendall τ")
    ax.set_title(f"HANNA, {r['prompts_scored']} prompts: agreement with the six criteria (95% CI over prompts)",
                 fontsize=9)
    ax.legend(fontsize=7, ncol=4, loc="upper left")
    fig.tight_layout()
    fig.savefig(ASSETS / "bench_validity.png", dpi=110)


if __name__ == "__main__":
    ASSETS.mkdir(exist_ok=True)
    if (RESULTS / "speed.json").exists():
        speed()
    if (RESULTS / "validity.json").exists():
        validity()
