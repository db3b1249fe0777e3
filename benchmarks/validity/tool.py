"""The validity study as one tool: `collect` per-token evidence, `fit` a recipe on dev, `report` it on test.

    python benchmarks/validity/tool.py collect --source lamp --model smollm2        # resumable; hours on 2 cores
    python benchmarks/validity/tool.py fit --source lamp                             # on the dev items only
    python benchmarks/validity/tool.py report                                        # test numbers, every table

`collect` writes the source's rows (`sources.py`) as JSONL and scores them with the library's own command line,
`cqmetric score --details --scorer order_calibration(unit=sentence) --resume`, into `results/cache/` (per-token
surprisal under the empty and the constrained context, order calibration, the signature on every row). A killed
run continues where it stopped. Everything after reads those files.
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

from sources import CACHE, MODELS, SOURCES, fingerprint, model_argument  # noqa: E402

COLLECT_SCORERS = ("order_calibration(unit=sentence)",)


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
               *[arg for spec in COLLECT_SCORERS for arg in ("--scorer", spec)], *model_argument(args.model)]
    print(f"collect: {len(rows)} rows of {args.source} ({args.split}; data {fingerprint(rows)}) with {args.model} "
          f"-> {out}", file=sys.stderr)
    started = time.time()
    code = subprocess.call(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    print(f"collect: exit {code} after {time.time() - started:.0f} s", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
