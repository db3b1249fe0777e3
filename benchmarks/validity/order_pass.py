"""Order calibration for every story of one side of the split, at the cost of one model pass per story.

`OrderCalibration` = mean bits/token of the text with its sentences in another order - mean bits/token in its own
order, both without constraints and over the same tokens. The own-order half of an original story is its
`surprise`, which score_hanna.py already computed with `score()` (benchmarks/results/hanna_scores.jsonl, with
its calibrated surprise), so for the originals this script asks the model only for the other order: the request `gather()` builds for
`Need("reordered", "sentence")` (the same tokenizer, sentence splitter, seeded order and empty-constraint context).

The shuffled human stories are scored whole by `score()` (their text depends on the sentence splitter, which has
changed since). Before it trusts the shortcut it checks it: the first chunk is also scored by `score()` with OrderCalibration and
Surprise, and the run stops unless both agree with the shortcut and with hanna_scores.jsonl to 1e-4 bits/token
(the agreement is written into every row).

A second model (`--model gemma`, Gemma 3 270M) has no earlier run to take a shortcut from: every text, original or
shuffled, is scored whole by `score()`. Its passes cost about twice the embedded model's, so `--n-prompts N` scores
a subset of the split's prompts, drawn by the rule in `prompt_subset` (fixed before any of its rows existed).

Rows: benchmarks/results/order_<model>_<split>.jsonl (resumable). Each has story_id, variant, surprise (from
hanna_scores.jsonl for originals), calibrated_surprise and order_calibration, in bits/token, and how they were
computed.

Run:  .venv/bin/python benchmarks/validity/tool.py order-pass --split dev
      .venv/bin/python benchmarks/validity/tool.py order-pass --split test --model gemma --n-prompts 12
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
from cqmetric import DEFAULT_TEMPLATE, ConstraintSet, OrderCalibration, Surprise, score
from cqmetric.api import get_backend
from cqmetric.backends.cache import CachingBackend
from cqmetric.errors import DegenerateInputWarning
from cqmetric.evidence import split_units
from cqmetric.research.hanna import load_hanna
from cqmetric.information import surprisal_bits
from cqmetric.research.perturb import derangement, perturb_texts
from cqmetric.types import Request
from cqmetric.units import reordered_tokens

RESULTS = Path(__file__).resolve().parents[1] / "results"
SPLIT = Path(__file__).resolve().parent / "split.json"
SEED = 12345  # the shuffles' seed, as in score_hanna.py
CHUNK = 11
TOLERANCE = 1e-4
MODELS = {"embedded": "smollm2", "gemma": "gemma3-270m"}  # --model -> the rows' file name
SUBSET_SEED = 20261201


def prompt_subset(prompts: list[int], n: int | None) -> list[int]:
    """`n` of a split side's prompts, drawn without replacement by default_rng(SUBSET_SEED) from the side's sorted
    list (all of them when n is None); the same n gives the same prompts on every machine."""
    prompts = sorted(int(p) for p in prompts)
    if n is None or n >= len(prompts):
        return prompts
    return sorted(int(p) for p in np.random.default_rng(SUBSET_SEED).choice(prompts, size=n, replace=False))


def swapped_prompt_of(stories) -> dict[int, str]:
    """prompt index -> the prompt score_hanna.py swapped in for it (a seeded derangement over the 96 prompts)."""
    prompt_of = stories.groupby("prompt_index")["prompt"].first()
    perm = derangement(len(prompt_of), seed=SEED)
    return {int(p): prompt_of[int(perm[p])] for p in prompt_of.index}


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line from a killed run
    return rows


def reordered_bits(backend, texts: list[str]) -> list[np.ndarray | None]:
    """Per text, the per-token bits of its sentences in the other order (None: one sentence, no other order): the
    request `gather()` builds for Need("reordered", "sentence")."""
    empty = DEFAULT_TEMPLATE.render(ConstraintSet())
    requests, where = [], []
    for text in texts:
        tok = backend.tokenize(text)
        _, index = split_units(tok, "sentence")
        other = reordered_tokens(tok.token_ids, index)
        where.append(None if other is None else len(requests))
        if other is not None:
            requests.append(Request(empty, tuple(int(i) for i in other), 0))
    results = backend.score(requests) if requests else []
    return [None if k is None else surprisal_bits(results[k].logprobs) for k in where]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test"), required=True)
    parser.add_argument("--model", choices=tuple(MODELS), default="embedded")
    parser.add_argument("--n-prompts", type=int, default=None, help="score a seeded subset of the side's prompts")
    parser.add_argument("--hanna", default=None)
    args = parser.parse_args(argv)

    split = json.loads(SPLIT.read_text(encoding="utf-8"))
    hanna = load_hanna(args.hanna)
    keep = np.isin(hanna.prompt_index, prompt_subset(split[args.split], args.n_prompts))
    stories = hanna.stories.set_index("story_id")
    # The shuffles are drawn over all 96 human stories in order, exactly as score_hanna.py drew them.
    every_human = [int(i) for i in hanna.story_id[hanna.system == "Human"]]
    human = [int(i) for i in hanna.story_id[keep & (hanna.system == "Human")]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateInputWarning)
        perturbed = {kind: dict(zip(every_human, perturb_texts([stories.loc[i, "story"] for i in every_human],
                                                                kind=kind, seed=SEED).texts))
                     for kind in ("sentence_shuffle", "word_shuffle")}
    swapped_prompt = swapped_prompt_of(stories)
    v01 = {(r["story_id"], r["variant"]): r for r in read_jsonl(RESULTS / "hanna_scores.jsonl")}
    out = RESULTS / f"order_{MODELS[args.model]}_{args.split}.jsonl"
    done = {(r["story_id"], r["variant"]) for r in read_jsonl(out)}

    jobs = [(int(i), "original", stories.loc[int(i), "story"]) for i in hanna.story_id[keep]]
    jobs = [j for j in jobs if (j[0], j[1]) not in done]
    for kind in perturbed:  # chunks never mix originals and shuffles
        todo = [(i, kind, perturbed[kind][i]) for i in human if (i, kind) not in done]
        jobs += todo + [None] * (-len(todo) % CHUNK)
    if args.model == "gemma":
        from cqmetric.backends.embedded import load_gemma

        # Cached, so that the prompt swap's second call repeats only the pass under the other prompt.
        backend = CachingBackend(load_gemma())
    else:
        backend = get_backend(None)
    print(f"cqmetric {cqmetric.__version__}; {len(done)} rows done, {len(jobs)} to go; writing {out}", file=sys.stderr)
    check = None
    start, n_tok = time.time(), 0
    for k in range(0, len(jobs), CHUNK):
        chunk = [j for j in jobs[k : k + CHUNK] if j is not None]
        if not chunk:
            continue
        ids, variant, texts = [j[0] for j in chunk], chunk[0][1], [j[2] for j in chunk]
        swap_cs = None
        if variant == "original" and args.model == "embedded":
            other = reordered_bits(backend, texts)
            surprise = np.array([v01[(i, variant)]["surprise"] for i in ids])
            cs = np.array([v01[(i, variant)]["cs_mean"] for i in ids])
            oc = np.array([0.0 if o is None else float(o.mean()) - s for o, s in zip(other, surprise)])
            if check is None:  # the shortcut against score() itself, once per run
                ref = score(texts, None, model=backend, scorers=[OrderCalibration(), Surprise()], defaults=False,
                            n_boot=0)
                check = {"order_calibration_max_abs_diff": float(np.max(np.abs(ref["order_calibration"] - oc))),
                         "surprise_max_abs_diff_vs_hanna_scores": float(np.max(np.abs(ref["surprise"] - surprise))),
                         "checked_on": len(texts), "signature": ref.signature.format()}
                print(f"shortcut check: {check}", file=sys.stderr, flush=True)
                if max(check["order_calibration_max_abs_diff"],
                       check["surprise_max_abs_diff_vs_hanna_scores"]) > TOLERANCE:
                    raise SystemExit("order_pass: the shortcut disagrees with score(); not writing rows.")
            source = {"how": "reordered pass + hanna_scores.jsonl", "check": check}
        else:
            # A shuffle's text depends on the sentence splitter, which changed since hanna_scores.jsonl was
            # written, and a second model has no earlier run: score the text whole with score() (own order, other
            # order and with its prompt).
            prompts = [stories.loc[i, "prompt"] for i in ids]
            res = score(texts, prompts, model=backend, scorers=[OrderCalibration()], n_boot=0)
            surprise, cs, oc = res["surprise"], res["calibrated_surprise"], res["order_calibration"]
            source = {"how": "score()", "signature": res.signature.format()}
            if variant == "original":  # the prompt swap, with score_hanna.py's derangement of the prompts
                swapped = [swapped_prompt[int(stories.loc[i, "prompt_index"])] for i in ids]
                res = score(texts, swapped, model=backend, n_boot=0)
                swap_cs = res["calibrated_surprise"]
        with out.open("a", encoding="utf-8") as fh:
            for k, (i, t) in enumerate(zip(ids, texts)):
                row = {"story_id": i, "variant": variant, "surprise": float(surprise[k]),
                       "calibrated_surprise": float(cs[k]), "order_calibration": float(oc[k]),
                       "changed": t != stories.loc[i, "story"], **source}
                if swap_cs is not None:
                    row["calibrated_surprise_prompt_swap"] = float(swap_cs[k])
                fh.write(json.dumps(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        n_tok += sum(len(backend.tokenize(t).token_ids) for t in texts)
        elapsed = time.time() - start
        print(f"[{k + len(chunk)}/{len(jobs)}] {variant}: {elapsed / 60:.1f} min; {n_tok / elapsed:.0f} text tokens/s",
              file=sys.stderr, flush=True)
    return 0

