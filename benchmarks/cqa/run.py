"""The CQA mini-replication (protocol.md): score the groups with the base and the five epoch adapters, report.

Writes benchmarks/results/cqa_replication.json (every number, the verdict, provenance) and .md (the tables)
and docs/assets/cqa_per_token.png (the per-token picture). With --lamp-scores (--hanna-scores) it writes
instead benchmarks/results/cqa_lamp_test_scores.jsonl (cqa_hanna_test_scores.jsonl): base and epoch-5 scores of all
LAMP (HANNA) test texts, for the agreement analysis of `tool.py report`; one model per call.

Run after tune.py: nice -n 19 .venv/bin/python benchmarks/cqa/run.py [--adapters DIR] [--lamp-scores|--hanna-scores base|epoch-5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import data  # noqa: E402
from _meta import provenance  # noqa: E402
from tune import EPOCHS, default_out  # noqa: E402

REPO = HERE.parents[1]
RESULTS = REPO / "benchmarks" / "results"
PICTURE = REPO / "docs" / "assets" / "cqa_per_token.png"
SEED = 20261205
N_BOOT = 2000
ALPHA = 0.05


def verdict(result) -> dict:
    """The protocol's reading: per epoch the Holm-adjusted tests, then replicates / partly / does not."""
    rows, replicating, moving = [], [], []
    for label, res in result.checkpoints.items():
        lit, fact, con = res.groups["literary"], res.groups["factual"], res.contrast
        row = {"checkpoint": label, "literary_mean": lit.mean, "literary_holm_p": res.holm["literary"],
               "factual_mean": fact.mean, "factual_holm_p": res.holm["factual"], "contrast": con.estimate,
               "contrast_holm_p": res.contrast_holm}
        lit_moves = row["literary_holm_p"] < ALPHA and lit.mean > 0
        selective = row["contrast_holm_p"] < ALPHA and con.estimate > 0 and row["factual_holm_p"] >= ALPHA
        row["literary_moves"], row["selective"] = lit_moves, bool(lit_moves and selective)
        moving += [label] if lit_moves else []
        replicating += [label] if lit_moves and selective else []
        rows.append(row)
    outcome = "replicates" if replicating else ("partly replicates" if moving else "does not replicate")
    e5 = result.checkpoints[f"epoch-{EPOCHS}"]
    uncorrected = {
        "literary_p": e5.groups["literary"].wilcoxon.pvalue, "factual_p": e5.groups["factual"].wilcoxon.pvalue,
        "contrast_p": e5.contrast.pvalue,
        "would_pass": bool(e5.groups["literary"].wilcoxon.pvalue < ALPHA and e5.groups["literary"].mean > 0
                           and e5.groups["factual"].wilcoxon.pvalue >= ALPHA and e5.contrast.pvalue < ALPHA
                           and e5.contrast.estimate > 0),
    }
    return {"alpha": ALPHA, "outcome": outcome, "epochs_replicating": replicating, "epochs_literary_moves": moving,
            "per_epoch": rows, "epoch5_uncorrected": uncorrected, "model_size": "135M"}


def secondary(result, ids) -> list[dict]:
    """Descriptive only: the literary group's LAMP and HANNA parts (compare_models on the same per-item scores)."""
    import numpy as np

    from cqmetric.reliability import compare_models

    out = []
    for part, prefix in (("literary: LAMP test", "lamp/"), ("literary: HANNA human", "hanna/")):
        idx = np.array([i for i, k in enumerate(ids) if k.startswith(prefix)])
        for label in result.checkpoints:
            s = compare_models(result.base_scores[idx], result.tuned_scores[label][idx], n_boot=N_BOOT, seed=SEED).overall
            out.append({"part": part, "checkpoint": label, **s.to_dict()})
    return out


def test_rows(source: str) -> list[dict]:
    """The test texts a scoring model is judged on: LAMP's 300 test paragraphs (3 conditions) with their
    instructions, or HANNA's test stories (benchmarks/validity/split.json, 48 prompts x 11) with their prompts."""
    if source == "lamp":
        items = data.lamp_items()
        return [{"id": f"lamp/{k}", "condition": c, "text": items[k]["texts"][c], "constraint": items[k]["instruction"]}
                for k in data.lamp_split()["test"] for c in data.CONDITIONS]
    sys.path.insert(0, str(HERE.parent / "validity"))
    from sources import hanna_rows

    return [{"id": r["id"], "system": r["system"], "text": r["text"], "constraint": r["constraint"]}
            for r in hanna_rows() if r["split"] == "test"]


def test_scores(adapters: Path, source: str, which: str, batch_size: int | None) -> list[dict]:
    """Scores of a source's test texts with their constraints, by the base or the epoch-5 adapter."""
    from cqmetric import score
    from cqmetric.options import ScoreOptions
    from cqmetric.research import models
    from cqmetric.research.cqa import backend_for

    rows = test_rows(source)
    base_model, tok, name, sha, start = models.load_base(None)
    opts = ScoreOptions.from_settings("run", batch_size=batch_size, n_boot=0)
    if which == "base":
        label, model, weights = name, base_model, sha
    else:
        spec = models.inspect_checkpoint(adapters / f"epoch-{EPOCHS}", label=f"epoch-{EPOCHS}")
        label, model, weights = spec.label, models.merged_model(spec, base_model), None
    backend = backend_for(model, tok, label, weights, start, opts)
    res = score([r["text"] for r in rows], [r["constraint"] for r in rows], model=backend, options=opts)
    sig = res.signature.format()
    keep = [k for k in ("id", "condition", "system")]
    return [{**{k: r[k] for k in keep if k in r}, "model": label, "calibrated_surprise": rec["calibrated_surprise"],
             "surprise": rec["surprise"], "n_tokens": rec["n_tokens"], "signature": sig}
            for r, rec in zip(rows, res.to_records())]


def scored_groups() -> dict:
    scored = data.scored_groups()  # protocol.md, amendment 1
    return {name: [(r["text"], r["constraint"]) for r in rows] for name, rows in scored.items()}


def prescore(args, cache: Path) -> int:
    """Score the base, then each epoch's adapter once tune.py has saved it, into the cache (no statistics)."""
    from cqmetric.research.cqa import score_models

    groups = scored_groups()
    t0 = time.perf_counter()
    timings = cache / "timings.json"

    def note(label: str, seconds: float) -> None:
        done = json.loads(timings.read_text()) if timings.is_file() else {}
        timings.write_text(json.dumps({**done, label: seconds}))
        print(f"{label} scored ({seconds:.0f} s)", flush=True)

    score_models(None, [], groups, batch_size=args.batch_size, cache=cache)
    note("base", time.perf_counter() - t0)
    for e in args.epochs:
        weights = args.adapters / f"epoch-{e}" / "adapter_model.safetensors"
        while not weights.is_file() or time.time() - weights.stat().st_mtime < 20:
            time.sleep(15)
        t1 = time.perf_counter()
        score_models(None, {f"epoch-{e}": weights.parent}, groups, batch_size=args.batch_size, cache=cache)
        note(f"epoch-{e}", time.perf_counter() - t1)
    return 0


WHAT = {"lamp": "per-text scores of the 300 LAMP test paragraphs (3 conditions each, instruction as the constraint)",
        "hanna": "per-text scores of HANNA's 528 test stories (48 test prompts x 11 systems, prompt as the constraint)"}


def write_test_scores(args, source: str, which: str) -> int:
    """`--lamp-scores` / `--hanna-scores` base|epoch-5: one model's rows into a part file; with both parts, the
    committed JSONL (results/cqa_{source}_test_scores.jsonl)."""
    t0 = time.perf_counter()
    rows = test_scores(args.adapters, source, which, args.batch_size)
    parts = args.adapters / f"{source}-test-parts"
    parts.mkdir(parents=True, exist_ok=True)
    head = {"model": which, "provenance": provenance(), "wall_seconds": time.perf_counter() - t0}
    (parts / f"{which}.json").write_text(json.dumps({"header": head, "rows": rows}))
    done = {p.stem: json.loads(p.read_text()) for p in parts.glob("*.json")}
    if set(done) != {"base", f"epoch-{EPOCHS}"}:
        print(f"wrote the {which} part; score the other model to finish the file")
        return 0
    header = {"what": f"{WHAT[source]} by the base and the epoch-5 adapter (benchmarks/cqa/protocol.md)",
              "lamp_split_fingerprint": data.fingerprint(data.lamp_split()),
              "parts": [done[m]["header"] for m in ("base", f"epoch-{EPOCHS}")]}
    out = RESULTS / f"cqa_{source}_test_scores.jsonl"
    with out.open("w") as fh:
        fh.write(json.dumps({"header": header}) + "\n")
        for m in ("base", f"epoch-{EPOCHS}"):
            for row in done[m]["rows"]:
                fh.write(json.dumps(row) + "\n")
    print(f"wrote {out}")
    return 0


def fmt(x, digits=3):
    return "–" if x is None else f"{x:.{digits}f}"


def fmt_p(p):
    return "–" if p is None else (f"{p:.1e}" if p < 1e-3 else f"{p:.3f}")


def ci(pair, digits=3):
    return "–" if pair is None else f"[{pair[0]:.{digits}f}, {pair[1]:.{digits}f}]"


def scoring_minutes(report: dict) -> float:
    """The scoring time: this run's, plus the --prescore runs' that filled the cache it read."""
    return (report["wall_seconds"]["scoring"] + sum(report["wall_seconds"].get("prescore", {}).values())) / 60


def markdown(report: dict) -> str:
    res, v, prov = report["result"], report["verdict"], report["provenance"]
    lines = [
        "# CQA mini-replication at 135M (protocol: benchmarks/cqa/protocol.md)", "",
        f"cqmetric {prov['cqmetric_version']}, commit {prov['git_commit'][:10]}, {prov['date']}, "
        f"{prov['machine']['cpu']} ({prov['machine']['cores']} cores, shared; one torch thread); scoring wall time "
        f"{scoring_minutes(report):.1f} min, tuning {report['tuning']['wall_seconds'] / 60:.1f} min "
        f"(seed {report['tuning']['seed']}, data {report['tuning']['data']['fingerprint']}).", "",
        f"Signature: `{res['signature']}`", "",
        "Δ(ΔI) = calibrated surprise (tuned) − (base), bits/token, per item; one-sided Wilcoxon (H1: tuned > base); "
        "Holm across the 5 epochs within each group; 95% percentile-bootstrap CIs "
        f"({res['settings']['n_boot']} resamples, seed {res['settings']['seed']}).", "",
        "| epoch | group | n | mean Δ(ΔI) [95% CI] | median [95% CI] | Wilcoxon p | Holm p | d_z [95% CI] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, ck in res["checkpoints"].items():
        for g, s in ck["groups"].items():
            lines.append(f"| {label} | {g} | {s['n']} | {fmt(s['mean'], 4)} {ci(s['mean_ci'], 4)} | "
                         f"{fmt(s['median'], 4)} {ci(s['median_ci'], 4)} | {fmt_p(s['wilcoxon']['pvalue'])} | "
                         f"{fmt_p(ck['holm'][g])} | {fmt(s['d_z']['estimate'])} {ci(s['d_z']['ci'])} |")
    lines += ["", "Contrast: mean Δ(ΔI)[literary] − mean Δ(ΔI)[factual], one-sided Mann-Whitney (H1: literary > "
              "factual), Holm across the 5 epochs.", "",
              "| epoch | contrast [95% CI] | Mann-Whitney p | Holm p |", "|---|---|---|---|"]
    for label, ck in res["checkpoints"].items():
        c = ck["contrast"]
        lines.append(f"| {label} | {fmt(c['estimate'], 4)} {ci(c['ci'], 4)} | {fmt_p(c['pvalue'])} | "
                     f"{fmt_p(ck['contrast_holm'])} |")
    lines += ["", "Descriptive only (no test counts towards the verdict): the literary group's two parts.", "",
              "| part | epoch | n | mean Δ(ΔI) [95% CI] | Wilcoxon p (uncorrected) | d_z |", "|---|---|---|---|---|---|"]
    for s in report["secondary"]:
        lines.append(f"| {s['part']} | {s['checkpoint']} | {s['n']} | {fmt(s['mean'], 4)} {ci(s['mean_ci'], 4)} | "
                     f"{fmt_p(s['wilcoxon']['pvalue'])} | {fmt(s['d_z']['estimate'])} |")
    g = report["data"]["groups"]
    lines += ["", "Groups: " + "; ".join(
        f"{name} n = {d['n']} (median {d['median_words']:.0f} words, {d['median_tokens']:.0f} tokens; "
        f"{', '.join(f'{k} {n}' for k, n in d['parts'].items())})" for name, d in g.items()) + ".", "",
        f"**Verdict ({v['model_size']}): {v['outcome']}.** Epochs where the literary group moves after Holm: "
        f"{', '.join(v['epochs_literary_moves']) or 'none'}; where the move is also selective (contrast significant, "
        f"factual not): {', '.join(v['epochs_replicating']) or 'none'}. Epoch 5 read alone, uncorrected: literary "
        f"p = {fmt_p(v['epoch5_uncorrected']['literary_p'])}, factual p = {fmt_p(v['epoch5_uncorrected']['factual_p'])}, "
        f"contrast p = {fmt_p(v['epoch5_uncorrected']['contrast_p'])} (would pass uncorrected: "
        f"{'yes' if v['epoch5_uncorrected']['would_pass'] else 'no'}).", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapters", type=Path, default=default_out(), help="the folder tune.py wrote")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the backend's (1 on a CPU)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, see tune.py)")
    parser.add_argument("--prescore", action="store_true",
                        help="fill the score cache: the base now, then each epoch's adapter as soon as tune.py has "
                             "saved it (run beside tune.py); the report itself then reads the cache")
    parser.add_argument("--epochs", type=int, nargs="+", default=list(range(1, EPOCHS + 1)),
                        help="with --prescore: the epochs to score, in this order (two processes can share the work)")
    parser.add_argument("--lamp-scores", choices=("base", f"epoch-{EPOCHS}"), default=None,
                        help="only score the 300 LAMP test paragraphs with this model; the second of the two writes "
                             "cqa_lamp_test_scores.jsonl")
    parser.add_argument("--hanna-scores", choices=("base", f"epoch-{EPOCHS}"), default=None,
                        help="only score HANNA's 528 test stories with this model; the second of the two writes "
                             "cqa_hanna_test_scores.jsonl")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.lamp_scores:
        return write_test_scores(args, "lamp", args.lamp_scores)
    if args.hanna_scores:
        return write_test_scores(args, "hanna", args.hanna_scores)
    cache = args.adapters / "score-cache"
    cache.mkdir(parents=True, exist_ok=True)
    if args.prescore:
        return prescore(args, cache)
    from cqmetric.research.cqa import run_cqa

    tuning = json.loads((RESULTS / "cqa_tuning.json").read_text())
    scored = data.scored_groups()  # protocol.md, amendment 1
    literary, factual = scored["literary"], scored["factual"]
    groups = scored_groups()
    checkpoints = {f"epoch-{e}": args.adapters / f"epoch-{e}" for e in range(1, EPOCHS + 1)}
    t0 = time.perf_counter()
    result = run_cqa(None, checkpoints, groups, contrast=("literary", "factual"), n_boot=N_BOOT, seed=SEED,
                     batch_size=args.batch_size, progress=True, cache=cache)
    scoring = time.perf_counter() - t0
    ids = [r["id"] for r in literary + factual]
    fig = result.plot_per_token(title="Per-token change, epoch adapters − base (darker = later epoch), 135M")
    fig.savefig(PICTURE, dpi=110)
    n_tok = dict(zip(ids, result.n_tokens))
    data_info = {"groups": {}, "ids": ids, "fingerprints": {}}
    for name, rows in (("literary", literary), ("factual", factual)):
        parts = {"lamp": sum(r["id"].startswith("lamp/") for r in rows),
                 "hanna": sum(r["id"].startswith("hanna/") for r in rows),
                 "wikipedia": sum(r["id"].startswith("wiki/") for r in rows)}
        data_info["groups"][name] = {
            "n": len(rows), "parts": {k: n for k, n in parts.items() if n},
            "median_words": statistics.median(len(r["text"].split()) for r in rows),
            "median_tokens": statistics.median(int(n_tok[r["id"]]) for r in rows),
            "fingerprint": data.fingerprint(rows)}
    data_info["wikipedia_file_sha256"] = data.WIKI_SHA256
    data_info["lamp_split_fingerprint"] = data.fingerprint(data.lamp_split())
    report = {"what": "CQA mini-replication, embedded SmolLM2-135M, LoRA epochs 1-5 (benchmarks/cqa/protocol.md)",
              "provenance": provenance(), "tuning": tuning, "data": data_info, "result": result.to_dict(),
              "secondary": secondary(result, ids), "verdict": verdict(result),
              "wall_seconds": {"scoring": scoring}}
    if (cache / "timings.json").is_file():  # the models scored beforehand by --prescore
        report["wall_seconds"]["prescore"] = json.loads((cache / "timings.json").read_text())
    print(result)
    from cqmetric.reliability.results import jsonable

    report = jsonable(report)  # NaN (an undefined statistic) as null
    (RESULTS / "cqa_replication.json").write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    (RESULTS / "cqa_replication.md").write_text(markdown(report))
    print(f"verdict: {report['verdict']['outcome']}; wrote {RESULTS / 'cqa_replication.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
