"""The validity study as one tool: every step is a subcommand; each writes into `benchmarks/results/` (or --out).

Round 3 (experts' preferences as the signal, one recipe for any model):

    python benchmarks/validity/tool.py collect --source lamp --model smollm2        # resumable
    python benchmarks/validity/tool.py summarise --source lamp --model smollm2      # per-text parts, committed
    python benchmarks/validity/tool.py fit                                          # on the dev items only
    python benchmarks/validity/tool.py report                                       # test numbers, every table

(HANNA test: `--source hanna|hanna-degraded|hanna-swap --split test` for collect and summarise.)

`collect` writes the source's rows (`sources.py`) as JSONL and scores them with the library's own command line,
`cqmetric score --details --scorer order_calibration(unit=sentence) --resume`, into `results/cache/` (per-token
surprisal under the empty and the constrained context, order calibration, the signature on every row). A killed
run continues where it stopped. `summarise` turns those into small per-text files (`results/features_*.jsonl`,
committed), and everything after reads them.

The steps of the earlier rounds, whose committed results stay reproducible from here:

    summarise           round 3: per-text parts of a collection (results/features_*.jsonl)
    fit                 round 3: every lever on LAMP dev and the protocol's choice (validity3_dev.json)
    report              round 3: the test numbers (validity.json "round3", validity3.md)
    split               HANNA's dev/test split of prompts (split.json; fixed before any result)
    score-hanna         round 1: every HANNA story with every scorer (results/hanna_scores.jsonl)
    analyze             round 1: story- and system-level tau beside length, peers and the ceiling (validity.json)
    order-pass          round 2: order calibration of HANNA's stories and shuffles (results/order_*.jsonl)
    levers              round 2: per-token evidence for the levers tried on dev (explore.py reads it)
    explore             round 2: every lever on dev
    fit-recommendation  round 2: CreativeQuality's constants on HANNA dev (recommendation_fit.json)
    report-split        round 2: dev and test tables (validity.json "split", validity_split.md)
    template-probe      round 2: the chat template probe
    score-lamp          preferences: LAMP's paragraphs with the embedded model (lamp_scores_smollm2.jsonl)
    lamp-preference     preferences: LAMP's pairwise accuracies, ceiling, Bradley-Terry (lamp_preference.json)
    fit-experts         fit_to_experts on LAMP dev and HANNA dev: held out beside in sample (experts_fit.json)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sources import (  # noqa: E402
    CACHE, COLLECT_SCORERS, DEFAULT_COLLECT_SCORERS, MODELS, SOURCES, fingerprint, model_argument)


def scored_path(source: str, model: str) -> Path:
    """Where `collect` writes a source's per-token evidence under a model."""
    return CACHE / f"{source}_{model}.jsonl"


def collect(args: argparse.Namespace) -> int:
    rows = SOURCES[args.source]()
    if args.split != "all":
        rows = [r for r in rows if r["split"] == args.split]
    CACHE.mkdir(parents=True, exist_ok=True)
    inputs = CACHE / f"{args.source}_rows.jsonl" if args.split == "all" else CACHE / f"{args.source}_{args.split}_rows.jsonl"
    inputs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = scored_path(args.source, args.model) if args.split == "all" else CACHE / f"{args.source}_{args.split}_{args.model}.jsonl"
    command = [sys.executable, "-m", "cqmetric.cli", "score", str(inputs), "-o", str(out), "--text-field", "text",
               "--constraint-field", "constraint", "--details", "--resume", "--chunk-size", str(args.chunk_size),
               *[arg for spec in COLLECT_SCORERS.get(args.source, DEFAULT_COLLECT_SCORERS) for arg in ("--scorer", spec)], *model_argument(args.model)]
    print(f"collect: {len(rows)} rows of {args.source} ({args.split}; data {fingerprint(rows)}) with {args.model} "
          f"-> {out}", file=sys.stderr)
    started = time.time()
    code = subprocess.call(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    print(f"collect: exit {code} after {time.time() - started:.0f} s", file=sys.stderr)
    return code


#: Subcommand -> the module whose `main(argv)` runs it.
STEPS = {"summarise": "summarise", "fit": "round3", "report": "round3_report", "fit-experts": "experts_fit", "split": "split", "score-hanna": "score_hanna", "analyze": "analyze", "order-pass": "order_pass",
         "levers": "collect", "explore": "explore", "fit-recommendation": "fit_recommendation",
         "report-split": "report_split", "template-probe": "template_probe", "score-lamp": "score_lamp",
         "lamp-preference": "lamp_preference"}


def run_step(name: str, argv: list[str]) -> int:
    """Run an earlier round's step with its own arguments (`tool.py STEP --help` lists them)."""
    import importlib

    return int(importlib.import_module(STEPS[name]).main(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in STEPS:
        return run_step(argv[0], argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="the other steps: "
                                     + ", ".join(STEPS) + " (each takes its own arguments; STEP --help)")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="score a source's rows with a model, per token, resumably")
    c.add_argument("--source", choices=sorted(SOURCES), required=True)
    c.add_argument("--model", choices=MODELS, default="smollm2")
    c.add_argument("--split", choices=("all", "dev", "test"), default="all")
    c.add_argument("--chunk-size", type=int, default=25)
    c.set_defaults(func=collect)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
