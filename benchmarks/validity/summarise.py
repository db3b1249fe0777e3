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
KEEP = ("id", "item", "split", "condition", "system", "original", "kind")


def scorer_values(model: str, rows: list[dict]) -> dict[str, list[float]]:
    """The recommendation (`Freshness`) and the shipped `CreativeQuality`, computed by the library's own scorers on
    each row's per-token evidence (Freshness reads the model's reference set, scored here once)."""
    from cqmetric.backends.resolve import get_backend
    from cqmetric.constraints import DEFAULT_TEMPLATE
    from cqmetric.evidence import reference_evidence
    from cqmetric.scorers import FITTED, Freshness
    from cqmetric.types import CONSTRAINED, Evidence, TokenizedText
    from sources import model_argument

    argument = model_argument(model)
    reference = reference_evidence(get_backend(argument[1] if argument else None), DEFAULT_TEMPLATE,
                                   frozenset({CONSTRAINED}))
    fresh = Freshness()
    out: dict[str, list[float]] = {"freshness": [], "creative_quality": []}
    for row in rows:
        s, c = np.asarray(row["tokens"]["s"], dtype=float), np.asarray(row["tokens"]["c"], dtype=float)
        tokens = TokenizedText(row["text"], np.zeros(s.size, dtype=np.int64), np.zeros((s.size, 2), dtype=np.int64))
        out["freshness"].append(fresh.compute(Evidence(tokens=tokens, constraints=None, s=s, c=c,
                                                       reference=reference)))
        out["creative_quality"].append(float(F.creative_quality(row["order_calibration"], F.calibrated_surprise(s, c),
                                                                F.surprise(s), **FITTED))
                                       if "order_calibration" in row else float("nan"))
    return out


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
    extra = scorer_values(args.model, rows)
    out = []
    for k, row in enumerate(rows):
        s, c = np.asarray(row["tokens"]["s"], dtype=float), np.asarray(row["tokens"]["c"], dtype=float)
        rec = {k: row[k] for k in KEEP if k in row}
        rec.update(n_tokens=int(row["n_tokens"]), n_words=len(row["text"].split()))
        rec.update({part: fn(s, c, row) for part, (_, fn) in PARTS.items() if part != "order_calibration"
                    or "order_calibration" in row})
        rec.update({name: values[k] for name, values in extra.items()})
        if abs(rec["surprise"] - row["surprise"]) > 1e-9 or abs(rec["calibrated_surprise"] - row["calibrated_surprise"]) > 1e-9:
            raise SystemExit(f"{row['id']}: the per-token values do not give the row's own scores")
        rec["signature"] = row["signature"]
        out.append(rec)
    path = features_path(args.source, args.model) if args.split == "all" else RESULTS / f"features_{args.source}_{args.split}_{args.model}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in out), encoding="utf-8")
    print(f"wrote {len(out)} rows to {path}")
    return 0
