"""Collect the per-token evidence the validity levers are computed from, once per model, story and condition.

For each HANNA story (and the shuffled human stories) this asks the library's own evidence gatherer
(`cqmetric.evidence.gather`, the code `score()` runs) for the surprisal of every token without constraints and
under each condition of `levers.CONDITIONS` (plus the prediction entropies and the sentences scored alone), and
appends them to a gzipped JSONL cache (not committed: it is large and can be rebuilt). Every lever's feature is
then a pure function of this cache (`features.py`), so trying a lever costs no model time. The recommended
scorer's reported numbers do not come from this cache: they come from `score()` itself (`report_test.py`).

Run:  .venv/bin/python benchmarks/validity/tool.py levers --model embedded --split dev
      .venv/bin/python benchmarks/validity/tool.py levers --model PATH/TO/gemma.gguf --name gemma3-270m --split dev
      .venv/bin/python benchmarks/validity/tool.py levers --split dev --n-prompts 12 --variants audience
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from levers import CONDITIONS  # noqa: E402
from order_pass import prompt_subset, swapped_prompt_of  # noqa: E402

from cqmetric import DEFAULT_TEMPLATE  # noqa: E402
from cqmetric.backends.cache import CachingBackend  # noqa: E402
from cqmetric.errors import DegenerateInputWarning  # noqa: E402
from cqmetric.evidence import CONSTRAINED, ENTROPY, Need, gather  # noqa: E402
from cqmetric.research.hanna import load_hanna  # noqa: E402
from cqmetric.research.perturb import perturb_texts  # noqa: E402

CACHE = Path(__file__).resolve().parents[1] / "results" / "cache"
SPLIT = Path(__file__).resolve().parent / "split.json"
SEED = 12345
CHUNK = 11
VARIANTS = ("original", "prompt_swap", "sentence_shuffle", "word_shuffle", "reverse", "audience", "reshuffle",
            "reshuffle_sentence_shuffle", "reshuffle_word_shuffle")
# The reverse direction of I(X;Y) = H(Y) - H(Y|X): the prompt's surprisal after the story, and without it.
REVERSE_AFTER_TEXT = "Text:\n{text}\n\nPrompt:"
REVERSE_ALONE = "Prompt:"


def _round(values: np.ndarray) -> list[float]:
    return [round(float(v), 5) for v in values]


def cache_path(name: str, variant: str) -> Path:
    return CACHE / name / f"{variant}.jsonl.gz"


def load_cache(name: str, variant: str) -> dict[int, dict]:
    """story_id -> record; a torn last line (a killed run) is ignored."""
    path = cache_path(name, variant)
    out: dict[int, dict] = {}
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            try:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    out[rec["story_id"]] = rec
            except EOFError:
                pass
    return out


def _evidence(backend, texts, sets, *, entropy: bool, units: bool):
    needs = {CONSTRAINED} | ({ENTROPY} if entropy else set()) | ({Need("units", "sentence")} if units else set())
    return gather(backend, [backend.tokenize(t) for t in texts], sets, DEFAULT_TEMPLATE, needs)


def reverse(backend, ids: list[int], texts: list[str], prompts: list[str], swap_prompts: list[str]):
    """Per story: bits of its own prompt and of the swapped prompt after the story, and each prompt alone."""
    from cqmetric.types import Request

    requests = []
    for text, own, other in zip(texts, prompts, swap_prompts):
        for prompt in (own, other):
            ids_y = tuple(int(i) for i in backend.tokenize(" " + prompt.strip()).token_ids)
            requests += [Request(REVERSE_AFTER_TEXT.format(text=text), ids_y), Request(REVERSE_ALONE, ids_y)]
    results = backend.score(requests)
    bits = [_round(-r.logprobs / np.log(2)) for r in results]
    return [{"story_id": i, "variant": "reverse", "own_after": bits[4 * k], "own_alone": bits[4 * k + 1],
             "swap_after": bits[4 * k + 2], "swap_alone": bits[4 * k + 3]} for k, i in enumerate(ids)]


def audience(backend, ids: list[int], texts: list[str], prompts: list[str]):
    """Per story: bits of every token under the prompt plus the strong-craft and the weak-craft audience statements
    (the two passes the craft contrast needs, and nothing else)."""
    from cqmetric.types import Request

    requests = []
    for text, prompt in zip(texts, prompts):
        ids_x = tuple(int(i) for i in backend.tokenize(text).token_ids)
        requests += [Request(DEFAULT_TEMPLATE.render(CONDITIONS[name](prompt)), ids_x) for name in ("good", "weak")]
    bits = [_round(-r.logprobs / np.log(2)) for r in backend.score(requests)]
    return [{"story_id": i, "variant": "audience", "c": {"good": bits[2 * k], "weak": bits[2 * k + 1]}}
            for k, i in enumerate(ids)]


def order_permutation(token_ids: np.ndarray, n_units: int) -> np.ndarray:
    """A non-identity permutation of a text's units, seeded by the text's own token ids (so it is a function of the
    text alone, whatever it is scored with)."""
    import hashlib

    seed = int.from_bytes(hashlib.sha256(np.asarray(token_ids, dtype=np.int64).tobytes()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n_units)
        if (perm != np.arange(n_units)).any():
            return perm


def reshuffle(backend, variant: str, ids: list[int], texts: list[str]):
    """Per text: bits per token of the text in its own sentence order and with its sentences (as token spans, their
    whitespace kept) in another order, both without constraints. Their difference is how much the order explains."""
    from cqmetric.evidence import split_units
    from cqmetric.types import Request

    empty = DEFAULT_TEMPLATE.render(CONDITIONS["prompt"]("x").empty())
    requests, plan = [], []
    for text in texts:
        tok = backend.tokenize(text)
        spans, index = split_units(tok, "sentence")
        if len(spans) < 2:
            plan.append(None)
            continue
        perm = order_permutation(tok.token_ids, len(spans))
        permuted = np.concatenate([tok.token_ids[index == j] for j in perm])
        plan.append(len(requests))
        if variant != "reshuffle":  # an original's own order was scored already (the earlier run's surprise)
            requests.append(Request(empty, tuple(int(i) for i in tok.token_ids)))
        requests.append(Request(empty, tuple(int(i) for i in permuted)))
    results = backend.score(requests) if requests else []
    out = []
    for i, k in zip(ids, plan):
        rec = {"story_id": i, "variant": variant}
        if k is not None:
            bits = [-r.logprobs / np.log(2) for r in results[k : k + (1 if variant == "reshuffle" else 2)]]
            if variant != "reshuffle":
                rec["s_own"] = round(float(bits[0].mean()), 6)
            rec.update(s_reordered=round(float(bits[-1].mean()), 6), n_tokens=len(bits[-1]))
        out.append(rec)
    return out


def collect(backend, variant: str, ids: list[int], texts: list[str], prompts: list[str], swap_prompts: list[str]):
    """One record per story: s, h0 and the sentence units once; c (and hy for the prompt) per condition."""
    if variant == "reverse":
        return reverse(backend.reverse, ids, texts, prompts, swap_prompts)
    if variant == "audience":
        return audience(backend, ids, texts, prompts)
    if variant.startswith("reshuffle"):
        return reshuffle(backend, variant, ids, texts)
    if variant == "prompt_swap":
        evs = _evidence(backend, texts, [CONDITIONS["prompt"](p) for p in swap_prompts], entropy=False, units=False)
        return [{"story_id": i, "variant": variant, "n_tokens": ev.n_tokens, "c": {"swap": _round(ev.c)}}
                for i, ev in zip(ids, evs)]
    base = _evidence(backend, texts, [CONDITIONS["prompt"](p) for p in prompts], entropy=True, units=True)
    records = []
    for i, ev in zip(ids, base):
        spans, index, alone = ev.units["sentence"]
        records.append({
            "story_id": i, "variant": variant, "n_tokens": ev.n_tokens, "n_bytes": ev.n_bytes, "n_words": ev.n_words,
            "s": _round(ev.s), "h0": _round(ev.h0), "c": {"prompt": _round(ev.c)}, "hy": {"prompt": _round(ev.hy)},
            "units": {"index": index.tolist(), "alone": [None] + [_round(a) for a in alone[1:]]},
        })
    for name, build in CONDITIONS.items():
        if name == "prompt":
            continue
        evs = _evidence(backend, texts, [build(p) for p in prompts], entropy=False, units=False)
        for rec, ev in zip(records, evs):
            rec["c"][name] = _round(ev.c)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded", help="'embedded' or a model folder / .gguf file")
    parser.add_argument("--name", default=None,
                        help="the cache folder's name (default: smollm2 for the embedded model, else the model's name)")
    parser.add_argument("--split", default="dev", choices=("dev", "test", "all"))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--n-prompts", type=int, default=None,
                        help="a seeded subset of the side's prompts (order_pass.prompt_subset)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--hanna", default=None)
    args = parser.parse_args(argv)

    h = load_hanna(args.hanna)
    split = json.loads(SPLIT.read_text())
    prompts_wanted = set(range(96)) if args.split == "all" else set(prompt_subset(split[args.split], args.n_prompts))
    stories = h.stories.set_index("story_id")
    prompt_of = stories.groupby("prompt_index")["prompt"].first()
    swapped_prompt = swapped_prompt_of(stories)  # the same prompt swap as the earlier benchmark
    # A short brief saves nothing measurable when shared (see the speed benchmark): every text carries its own copy.
    from cqmetric.backends.hf import HFBackend

    if args.model == "embedded":
        from cqmetric.backends.embedded import load_embedded

        inner = load_embedded(batch_size=args.batch_size, share_prefix=False)
    else:
        inner = HFBackend(args.model, batch_size=args.batch_size, share_prefix=False)
    backend = CachingBackend(inner)
    # The story is a long context shared by two short targets (its own and another prompt): run it once.
    backend.reverse = HFBackend(inner.model, inner.tokenizer, start_token="prepend", start_token_id=inner.front.start_id,
                                share_prefix=True, batch_size=args.batch_size, name=inner.info.model,
                                weights=inner.info.weights)
    # The embedded model's cache is "smollm2", the name explore.py reads by default.
    name = args.name or ("smollm2" if args.model == "embedded" else backend.info.model)
    (CACHE / name).mkdir(parents=True, exist_ok=True)
    (CACHE / name / "info.json").write_text(json.dumps({**backend.info.__dict__, "template": DEFAULT_TEMPLATE.fingerprint}))

    # Prompt by prompt (its 11 stories together), so a partial cache holds whole prompts.
    ids_all = sorted((int(i) for i in h.story_id if int(stories.loc[i, "prompt_index"]) in prompts_wanted),
                     key=lambda i: (int(stories.loc[i, "prompt_index"]), i))
    human = [i for i in ids_all if stories.loc[i, "system"] == "Human"]
    start, n_tok = time.time(), 0
    for variant in args.variants:
        done = load_cache(name, variant)
        base = variant.removeprefix("reshuffle_")
        if base in ("sentence_shuffle", "word_shuffle"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DegenerateInputWarning)
                pert = perturb_texts([stories.loc[i, "story"] for i in human], kind=base, seed=SEED)
            todo = [(i, t) for i, t, changed in zip(human, pert.texts, pert.changed) if changed and i not in done]
        else:
            todo = [(i, stories.loc[i, "story"]) for i in ids_all if i not in done]
        print(f"{name} {variant}: {len(done)} done, {len(todo)} to do", file=sys.stderr, flush=True)
        for k in range(0, len(todo), CHUNK):
            part = todo[k : k + CHUNK]
            ids = [i for i, _ in part]
            prompts = [prompt_of[stories.loc[i, "prompt_index"]] for i in ids]
            swaps = [swapped_prompt[int(stories.loc[i, "prompt_index"])] for i in ids]
            records = collect(backend, variant, ids, [t for _, t in part], prompts, swaps)
            with gzip.open(cache_path(name, variant), "at", encoding="utf-8") as fh:
                fh.write("".join(json.dumps(r) + "\n" for r in records))
            n_tok += sum(r.get("n_tokens", 0) for r in records)
            print(f"  {variant} {k + len(part)}/{len(todo)}: {(time.time() - start) / 60:.1f} min, "
                  f"{n_tok / (time.time() - start):.0f} text tok/s", file=sys.stderr, flush=True)
    return 0

