"""What the recommended score costs: model passes per text and wall time, against one plain pass.

The same 32 LAMP paragraphs (the first 32 of its dev items' texts, with their instructions) are scored in one
process with one loaded model (the embedded SmolLM2-135M, fp32; `--model gemma` for Gemma 3 270M) by:

| contender | what |
|---|---|
| `one_pass` | `score(texts, scorers=[Surprise()])`: no constraints, one pass a text (the unit) |
| `default` | `score(texts, prompts)`: surprise, calibrated surprise, residual (with and without the instruction) |
| `freshness_cold` | `score(texts, prompts, scorers=[Freshness()])` in a process that has not yet scored the bundled reference set with this model |
| `freshness` | the same once the reference set is scored (it is kept per model for the process) |
| `creative_quality` | `score(texts, prompts, scorers=[CreativeQuality()])`, the 0.2 recommendation |

Passes are counted, not estimated: each contender's model is wrapped in a fresh `CachingBackend`, whose misses
are the distinct (context, text) sequences the model ran. Times are the median of `--repeats` runs (after a
warm-up), reported as ratios to `one_pass`. Run it on an idle machine:

    .venv/bin/python benchmarks/speed/cost.py [--model gemma] [--repeats 3]

Writes `results/cost.json` and `results/cost.md` (`cost_gemma.*` for Gemma).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "validity")]

from _meta import provenance  # noqa: E402

RESULTS = HERE.parent / "results"
N_TEXTS = 32


def contenders() -> dict[str, tuple[bool, list[Any] | None, bool]]:
    """name -> (with the instructions, the scorers, clear the reference set first)."""
    from cqmetric.scorers import CreativeQuality, Freshness, Surprise

    return {"one_pass": (False, [Surprise()], False), "default": (True, None, False),
            "freshness_cold": (True, [Freshness()], True), "freshness": (True, [Freshness()], False),
            "creative_quality": (True, [CreativeQuality()], False)}


def run_once(backend: Any, texts: list[str], prompts: list[str], spec: tuple[bool, Any, bool]) -> tuple[float, int]:
    from cqmetric import score
    from cqmetric import evidence
    from cqmetric.backends.cache import CachingBackend

    constrained, scorers, cold = spec
    if cold:
        evidence._REFERENCES.clear()  # noqa: SLF001 (the process-wide reference cache; a cold start is measured)
    counted = CachingBackend(backend)
    started = time.perf_counter()
    score(texts, prompts if constrained else None, model=counted, scorers=scorers, n_boot=0)
    return time.perf_counter() - started, counted.misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("smollm2", "gemma"), default="smollm2")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from sources import lamp_rows, model_argument

    from cqmetric.backends.resolve import get_backend

    rows = [r for r in lamp_rows() if r["split"] == "dev"][:N_TEXTS]
    texts, prompts = [r["text"] for r in rows], [r["constraint"] for r in rows]
    argument = model_argument(args.model)
    backend = get_backend(argument[1] if argument else None)
    specs = contenders()
    run_once(backend, texts[:4], prompts[:4], specs["default"])  # warm-up
    out: dict[str, Any] = {"provenance": provenance(), "model": backend.info.model, "n_texts": len(texts),
                           "repeats": args.repeats, "contenders": {}}
    for _ in range(args.repeats):  # alternate the contenders so that drift hits all alike
        for name, spec in specs.items():
            seconds, passes = run_once(backend, texts, prompts, spec)
            cell = out["contenders"].setdefault(name, {"seconds": [], "passes": passes})
            cell["seconds"].append(seconds)
            if cell["passes"] != passes:
                raise SystemExit(f"{name}: {passes} passes in one run, {cell['passes']} in another")
    base = statistics.median(out["contenders"]["one_pass"]["seconds"])
    for cell in out["contenders"].values():
        cell["median_seconds"] = statistics.median(cell["seconds"])
        cell["time_ratio"] = cell["median_seconds"] / base
        cell["passes_per_text"] = cell["passes"] / len(texts)
    suffix = "" if args.model == "smollm2" else f"_{args.model}"
    (RESULTS / f"cost{suffix}.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    text = markdown(out)
    (RESULTS / f"cost{suffix}.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


def markdown(out: dict[str, Any]) -> str:
    p = out["provenance"]
    lines = [f"# Cost of the recommended score ({out['model']})", "",
             f"cqmetric {p['cqmetric_version']}, commit {p['git_commit'][:10]}, {p['date']}, {p['machine']['cpu']}, "
             f"{p['machine']['cores']} cores. {out['n_texts']} LAMP paragraphs; median of {out['repeats']} runs.", "",
             "| contender | model passes | per text | seconds | time / one plain pass |", "|---|---|---|---|---|"]
    for name, c in out["contenders"].items():
        lines.append(f"| {name} | {c['passes']} | {c['passes_per_text']:.2f} | {c['median_seconds']:.2f} | "
                     f"{c['time_ratio']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
