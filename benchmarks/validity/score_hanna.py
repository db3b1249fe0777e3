"""Score every HANNA story with the embedded model, and the perturbations the validity analysis needs.

Writes one JSON line per (story, variant) to benchmarks/results/hanna_scores.jsonl, chunk by chunk, so a killed
run continues where it stopped (rows are keyed by the signature: a changed setting starts afresh).

Variants:
    original          the story with its own prompt (all scorers)
    prompt_swap       the story with another prompt (a seeded derangement over prompts): calibrated surprise
    sentence_shuffle  human stories only, sentences shuffled (seeded), with their own prompt
    word_shuffle      human stories only, words shuffled within sentences (seeded), with their own prompt

Run:  .venv/bin/python benchmarks/validity/tool.py score-hanna [--hanna PATH] [--limit-prompts N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import cqmetric
from cqmetric import CalibratedSurprise, ContextCalibration, Length, Residual, Surprise, score
from cqmetric.backends.cache import CachingBackend
from cqmetric.backends.embedded import load_embedded
from cqmetric.errors import DegenerateInputWarning
from cqmetric.research.hanna import load_hanna
from cqmetric.research.perturb import derangement, perturb_texts

OUT = Path(__file__).resolve().parents[1] / "results" / "hanna_scores.jsonl"
SEED = 12345
CHUNK = 24

SCORERS = {
    "cs_mean": CalibratedSurprise(),
    "cs_sum": CalibratedSurprise(normalization="sum"),
    "surprise": Surprise(),
    "residual": Residual(),
    "cs_expected": CalibratedSurprise(estimator="expected"),
    "surprise_expected": Surprise(estimator="expected"),
    "residual_expected": Residual(estimator="expected"),
    "context_calibration": ContextCalibration(),
    "length_tokens": Length(),
}
SWAP_SCORERS = {"cs_mean": CalibratedSurprise(), "residual": Residual()}


def _done(signature_by_variant: dict[str, str]) -> set[tuple[int, str]]:
    done = set()
    if OUT.exists():
        for line in OUT.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a killed run
            if row.get("signature") == signature_by_variant.get(row.get("variant")):
                done.add((row["story_id"], row["variant"]))
    return done


def _append(rows: list[dict]) -> None:
    with OUT.open("a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hanna", default=None, help="HANNA folder (default: $CQMETRIC_HANNA or ../shared/data/hanna)")
    parser.add_argument("--limit-prompts", type=int, default=96, help="score only the first N prompts (smoke runs)")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)

    hanna = load_hanna(args.hanna)
    keep = hanna.prompt_index < args.limit_prompts
    ids = hanna.story_id[keep]
    stories = hanna.stories.set_index("story_id")
    backend = CachingBackend(load_embedded(batch_size=args.batch_size))

    # The prompt swap pairs prompt p with prompt perm[p] (no prompt keeps its own), for every story.
    n_prompts = int(hanna.prompt_index.max()) + 1
    perm = derangement(n_prompts, seed=SEED)
    prompts_by_index = stories.groupby("prompt_index")["prompt"].first()
    human = ids[hanna.system[keep] == "Human"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateInputWarning)  # one-sentence stories stay unchanged (flagged)
        perturbed = {kind: perturb_texts([stories.loc[i, "story"] for i in human], kind=kind, seed=SEED)
                     for kind in ("sentence_shuffle", "word_shuffle")}

    probe = lambda sc: score(["x y."], ["z."], model=backend, scorers=sc, n_boot=0).signature.format()  # noqa: E731
    sigs = {"original": probe(SCORERS), "prompt_swap": probe(SWAP_SCORERS)}
    sigs["sentence_shuffle"] = sigs["word_shuffle"] = sigs["original"]
    done = _done(sigs)
    print(f"cqmetric {cqmetric.__version__}; {len(done)} rows already done; writing {OUT}", file=sys.stderr)

    jobs = []  # (variant, story ids, texts, prompts, extra fields)
    # Each variant's missing rows are found on their own, so a run killed between an original chunk and its
    # swap chunk still completes both.
    todo = {variant: [int(i) for i in ids if (int(i), variant) not in done] for variant in ("original", "prompt_swap")}
    for k in range(0, max(map(len, todo.values())), CHUNK):
        chunk = todo["original"][k : k + CHUNK]
        if chunk:
            texts = [stories.loc[i, "story"] for i in chunk]
            jobs.append(("original", chunk, texts, [stories.loc[i, "prompt"] for i in chunk], SCORERS, {}))
        swap = todo["prompt_swap"][k : k + CHUNK]
        if swap:
            jobs.append(("prompt_swap", swap, [stories.loc[i, "story"] for i in swap],
                         [prompts_by_index[perm[stories.loc[i, "prompt_index"]]] for i in swap], SWAP_SCORERS,
                         {i: {"swap_prompt_index": int(perm[stories.loc[i, "prompt_index"]])} for i in swap}))
    for kind, result in perturbed.items():
        rows = [(int(i), t, c) for i, t, c in zip(human, result.texts, result.changed) if (int(i), kind) not in done]
        for k in range(0, len(rows), CHUNK):
            part = rows[k : k + CHUNK]
            jobs.append((kind, [r[0] for r in part], [r[1] for r in part],
                         [stories.loc[r[0], "prompt"] for r in part], SCORERS,
                         {r[0]: {"changed": bool(r[2])} for r in part}))

    start = time.time()
    n_tokens = 0
    for j, (variant, chunk, texts, prompts, scorers, extra) in enumerate(jobs, 1):
        res = score(texts, prompts, model=backend, scorers=scorers, n_boot=0)
        assert res.signature.format() == sigs[variant]
        records = res.to_records()
        _append([{"story_id": i, "variant": variant, **extra.get(i, {}),
                  **{k: rec[k] for k in scorers}, "n_tokens": rec["n_tokens"], "signature": sigs[variant]}
                 for i, rec in zip(chunk, records)])
        n_tokens += int(res.n_tokens.sum())
        elapsed = time.time() - start
        print(f"[{j}/{len(jobs)}] {variant}: {len(chunk)} stories; {elapsed/60:.1f} min; "
              f"{n_tokens/elapsed:.0f} text tokens/s; cache hits {backend.hits}", file=sys.stderr, flush=True)
    return 0

