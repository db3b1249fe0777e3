"""Per-text values of every part the validity study reads, from `collect`'s per-token evidence (results/cache/).

One JSON line per text: its id, item, split, condition or system, its length (tokens, words), and each part
computed with the library's own formulas (`cqmetric.scorers.functional`) from the per-token surprisal that
`cqmetric score --details` wrote, plus the row's signature. The output is small and committed
(`results/features_{source}_{model}.jsonl`), so `fit` and `report` rerun in seconds without the model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cqmetric.scorers import functional as F
from sources import CACHE, MODELS, RESULTS, SOURCES

#: part name -> (its scorer's spec, a function of (s, c, row) in bits).
PARTS = {
    "surprise": ("surprise()", lambda s, c, row: F.surprise(s)),
    "calibrated_surprise": ("calibrated_surprise()", lambda s, c, row: F.calibrated_surprise(s, c)),
    "residual": ("residual()", lambda s, c, row: F.residual(c)),
    "order_calibration": ("order_calibration(unit=sentence)", lambda s, c, row: float(row["order_calibration"])),
    "easy_tokens": ("easy_tokens(threshold=0.5)", lambda s, c, row: F.easy_share(s, threshold=0.5)),
    "easy_tokens_constrained": ("easy_tokens(threshold=0.5,constrained=True)",
                                lambda s, c, row: F.easy_share(c, threshold=0.5)),
    "surprisal_quantile": ("surprisal_quantile(q=0.1)", lambda s, c, row: F.surprisal_quantile(s, q=0.1)),
}
KEEP = ("id", "item", "split", "condition", "system")


def features_path(source: str, model: str) -> Path:
    return RESULTS / f"features_{source}_{model}.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=sorted(SOURCES), required=True)
    parser.add_argument("--model", choices=MODELS, default="smollm2")
    parser.add_argument("--split", choices=("all", "dev", "test"), default="all")
    args = parser.parse_args(argv)
    name = f"{args.source}_{args.model}.jsonl" if args.split == "all" else f"{args.source}_{args.split}_{args.model}.jsonl"
    rows = [json.loads(line) for line in (CACHE / name).read_text(encoding="utf-8").splitlines()]
    out = []
    for row in rows:
        s, c = np.asarray(row["tokens"]["s"], dtype=float), np.asarray(row["tokens"]["c"], dtype=float)
        rec = {k: row[k] for k in KEEP if k in row}
        rec.update(n_tokens=int(row["n_tokens"]), n_words=len(row["text"].split()))
        rec.update({part: fn(s, c, row) for part, (_, fn) in PARTS.items()})
        if abs(rec["surprise"] - row["surprise"]) > 1e-9 or abs(rec["calibrated_surprise"] - row["calibrated_surprise"]) > 1e-9:
            raise SystemExit(f"{row['id']}: the per-token values do not give the row's own scores")
        rec["signature"] = row["signature"]
        out.append(rec)
    path = features_path(args.source, args.model) if args.split == "all" else RESULTS / f"features_{args.source}_{args.split}_{args.model}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in out), encoding="utf-8")
    print(f"wrote {len(out)} rows to {path}")
    return 0
