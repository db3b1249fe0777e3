"""Score every LAMP paragraph with the embedded model, its instruction as the constraint (default settings).

Writes one JSON line per text to benchmarks/results/lamp_scores_smollm2.jsonl: text_id, item, condition,
n_tokens, surprise, calibrated_surprise, residual (bits/token) and the signature, chunk by chunk, so a killed run
continues where it stopped (rows whose signature differs from this run's are redone). The analysis
(benchmarks/validity/tool.py lamp-preference) reads that file and runs in seconds.

Run (about 10 minutes on 2 cores):  nice -n 19 .venv/bin/python benchmarks/validity/tool.py score-lamp [--lamp PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cqmetric
from cqmetric import score
from cqmetric.backends.embedded import load_embedded
from cqmetric.research.lamp import load_lamp

OUT = Path(__file__).resolve().parents[1] / "results" / "lamp_scores_smollm2.jsonl"
CHUNK = 25
FIELDS = ("n_tokens", "surprise", "calibrated_surprise", "residual")


def _done(signature: str) -> set[str]:
    done = set()
    if OUT.exists():
        for line in OUT.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a killed run
            if row.get("signature") == signature:
                done.add(row["text_id"])
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lamp", default=None, help="LAMP folder (default: $CQMETRIC_LAMP or ../shared/data/lamp)")
    args = parser.parse_args(argv)

    lamp = load_lamp(args.lamp)
    backend = load_embedded()
    signature = score(["x y."], ["z."], model=backend, n_bootstrap=0).signature.format()
    done = _done(signature)
    if OUT.exists() and done:
        keep = [line for line in OUT.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("signature") == signature]
        OUT.write_text("".join(k + "\n" for k in keep), encoding="utf-8")
    elif OUT.exists():
        OUT.unlink()
    todo = lamp.texts[~lamp.texts["text_id"].isin(done)]
    print(f"cqmetric {cqmetric.__version__}; {len(done)} of {len(lamp.texts)} texts already scored; writing {OUT}",
          file=sys.stderr)
    start = time.time()
    for k in range(0, len(todo), CHUNK):
        part = todo.iloc[k : k + CHUNK]
        res = score(list(part["text"]), list(part["instruction"]), model=backend, n_bootstrap=0)
        if res.signature.format() != signature:
            raise RuntimeError(f"the signature changed during the run: {res.signature.format()} != {signature}")
        with OUT.open("a", encoding="utf-8") as fh:
            for (_, row), rec in zip(part.iterrows(), res.to_records()):
                fh.write(json.dumps({"text_id": row["text_id"], "item": row["item"], "condition": row["condition"],
                                     **{f: rec[f] for f in FIELDS}, "signature": signature}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        print(f"{min(k + CHUNK, len(todo))}/{len(todo)} texts; {(time.time() - start) / 60:.1f} min", file=sys.stderr,
              flush=True)
    return 0

