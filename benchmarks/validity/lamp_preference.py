"""LAMP, preference agreement: length, surprise and calibrated surprise against the writers' rankings.

Reads LAMP in place (cqmetric.research.lamp.load_lamp) and the per-text scores of the embedded model
(benchmarks/results/lamp_scores_smollm2.jsonl, written once by score_lamp.py), and computes with
cqmetric.reliability only:

* "shorter is better" (fewer words) pairwise accuracy over all rankings, dev and test (score ties 0.5, and with
  tied lengths left out: the README's "about 0.60 on about 1,770 untied pairs");
* the writers' leave-one-writer-out ceiling (each writer against the majority of the other two);
* the Bradley-Terry strengths of the three conditions from the writers, and each scorer's agreement with them;
* surprise and calibrated surprise (bits/token), each in both directions, with the paired difference against
  "shorter is better" (sign-flip test by item) and the accuracy on pairs of similar length.

Writes benchmarks/results/lamp_preference.json (every result with its settings and signature, provenance, data
checksums) and lamp_preference.md. Runs in about a minute: nothing here calls the model.

Run:  .venv/bin/python benchmarks/validity/tool.py lamp-preference [--lamp PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _meta import provenance  # noqa: E402

from cqmetric.reliability import (  # noqa: E402
    bradley_terry,
    preference_agreement,
    preference_ceiling,
    preference_difference,
    preference_report,
    system_agreement,
)
from cqmetric.research.lamp import load_lamp  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results"
SCORES = RESULTS / "lamp_scores_smollm2.jsonl"
N_BOOT = 2000
N_PERM = 10000
SEED = 12345
SCORERS = ("surprise", "calibrated_surprise")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _verify(root: Path) -> dict[str, Any]:
    """Check every file listed in SHA256SUMS; the checksum of SHA256SUMS itself names the data."""
    sums = root / "SHA256SUMS"
    listed = [line.split(None, 1) for line in sums.read_text().splitlines() if line.strip()]
    bad = [name for digest, name in listed if _sha256(root / name.strip()) != digest]
    return {"sha256sums_sha256": _sha256(sums), "files_listed": len(listed), "files_mismatched": bad}


def _scores(lamp: Any) -> tuple[dict[str, dict[str, float]], str]:
    rows = [json.loads(line) for line in SCORES.read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = [r["text_id"] for r in rows]
    if sorted(ids) != sorted(lamp.texts["text_id"]) or len(set(r["signature"] for r in rows)) != 1:
        raise SystemExit(f"{SCORES}: expected one row per LAMP text and one signature; rerun score_lamp.py")
    by = {f: {r["text_id"]: float(r[f]) for r in rows} for f in (*SCORERS, "n_tokens", "residual")}
    return by, rows[0]["signature"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lamp", default=None, help="LAMP folder (default: $CQMETRIC_LAMP or ../shared/data/lamp)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for lamp_preference.json and .md")
    args = parser.parse_args(argv)
    lamp = load_lamp(args.lamp)
    scores, signature = _scores(lamp)
    words = dict(zip(lamp.texts["text_id"], lamp.texts["n_words"].astype(float)))
    condition = lamp.condition_of()
    boot = {"n_boot": N_BOOT, "seed": SEED}
    splits = {"all": lamp, "dev": lamp.subset("dev"), "test": lamp.subset("test")}

    out: dict[str, Any] = {"data": {"dropped": dict(lamp.dropped),
                                    "text_variants": list(lamp.text_variants), **_verify(lamp.root),
                                    "n_texts": len(lamp.texts), "n_rankings": len(lamp.rankings) // 3,
                                    "n_items": len(lamp.items), "n_writers": len(lamp.judges)},
                           "scores": {"file": SCORES.name, "sha256": _sha256(SCORES), "signature": signature},
                           "settings": {"length": "words (whitespace split)", **boot, "n_perm": N_PERM,
                                        "judgement_ties": "drop", "score_ties": "half"},
                           "provenance": {**provenance(), "data_root": str(lamp.root)}}  # machine-specific
    res: dict[str, Any] = {}
    for name, part in splits.items():
        r = part.rankings
        cell: dict[str, Any] = {
            "shorter_is_better": preference_agreement(words, r, higher_is_better=False, lengths=words, **boot),
            "shorter_is_better_untied": preference_agreement(words, r, higher_is_better=False, score_ties="drop",
                                                             **boot),
            "shorter_is_better_tokens": preference_agreement(scores["n_tokens"], r, higher_is_better=False, **boot),
            "writers_ceiling": preference_ceiling(r, **boot),
            "bradley_terry_writers": bradley_terry(r, condition, **boot),
        }
        for scorer in SCORERS:
            for direction, hib in (("higher", True), ("lower", False)):
                key = f"{scorer}_{direction}"
                cell[key] = preference_agreement(scores[scorer], r, higher_is_better=hib, lengths=words, **boot)
                cell[f"{key}_minus_shorter"] = preference_difference(
                    scores[scorer], words, r, names=(f"{scorer} ({direction})", "words (lower)"),
                    higher_is_better=hib, baseline_higher_is_better=False, n_perm=N_PERM, **boot)
            cell[f"{scorer}_systems"] = system_agreement(scores[scorer], r, condition, **boot)
        cell["shorter_systems"] = system_agreement(words, r, condition, higher_is_better=False, **boot)
        res[name] = cell
        print(f"{name}: done", file=sys.stderr, flush=True)
    table = preference_report({s: scores[s] for s in SCORERS}, lamp.rankings, baselines={"words": words},
                              n_perm=N_PERM, **boot)
    out["results"] = {s: {k: v.to_dict() for k, v in cell.items()} for s, cell in res.items()}
    out["report_all"] = table.to_dict()
    (args.out / "lamp_preference.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    (args.out / "lamp_preference.md").write_text(_markdown(out, res, table), encoding="utf-8")
    print(table)
    return 0


def _ci(r: Any) -> str:
    return f"{r.accuracy:.3f} [{r.ci[0]:.3f}, {r.ci[1]:.3f}]"


def _markdown(out: dict[str, Any], res: dict[str, Any], table: Any) -> str:
    p = out["provenance"]
    d = out["data"]
    lines = [
        "# LAMP: pairwise accuracy against the writers' rankings",
        "",
        f"cqmetric {p['cqmetric_version']}, commit {p['git_commit']}, {p['date']}. Data: LAMP "
        f"(SHA256SUMS sha256 {d['sha256sums_sha256'][:16]}..., {d['files_listed']} files checked, "
        f"{len(d['files_mismatched'])} mismatched), {d['n_items']} items, {d['n_rankings']} rankings kept "
        f"({d['dropped']['duplicate_rankings']} duplicate rankings dropped), {d['n_writers']} writers. "
        f"Scores: `{out['scores']['file']}` (embedded SmolLM2-135M, instruction as the constraint, default "
        f"settings). Item-clustered percentile bootstrap, n_boot = {N_BOOT}, seed {SEED}; paired p-values: "
        f"sign-flip test by item, {N_PERM} flips. Judged pairs: each writer's 3 pairs per ranking; a tied "
        "score counts 0.5 unless stated. Produced by `benchmarks/validity/tool.py lamp-preference`.",
        "",
        "| | all (200 items) | dev (100) | test (100) |",
        "|---|---|---|---|",
    ]

    def row(label: str, key: str, fmt: Any = _ci) -> str:
        return f"| {label} | " + " | ".join(fmt(res[s][key]) for s in ("all", "dev", "test")) + " |"

    untied = lambda r: f"{r.accuracy:.3f} [{r.ci[0]:.3f}, {r.ci[1]:.3f}] on {r.n_pairs}"  # noqa: E731
    lines += [
        row("shorter is better (words)", "shorter_is_better"),
        row("shorter is better, tied lengths left out (pairs)", "shorter_is_better_untied", untied),
        row("shorter is better (model tokens)", "shorter_is_better_tokens"),
        row("surprise, higher better", "surprise_higher"),
        row("surprise, lower better", "surprise_lower"),
        row("calibrated surprise, higher better", "calibrated_surprise_higher"),
        row("calibrated surprise, lower better", "calibrated_surprise_lower"),
        row("writers' ceiling (each vs the other two)", "writers_ceiling"),
        "",
        "Paired difference against \"shorter is better\" (words), same pairs and resamples:",
        "",
        "| | all | dev | test |",
        "|---|---|---|---|",
    ]
    for scorer in SCORERS:
        for direction in ("higher", "lower"):
            def fmt(c: Any) -> str:
                return f"{c.difference:+.3f} [{c.ci[0]:+.3f}, {c.ci[1]:+.3f}], p = {c.pvalue:.3g}"
            lines.append(row(f"{scorer.replace('_', ' ')} ({direction}) - shorter", f"{scorer}_{direction}_minus_shorter", fmt))
    lines += ["", "Length-controlled (all items): accuracy on pairs whose word counts differ by less than 10%, and by "
              "bin of |la - lb| / max(la, lb):", "",
              "| | " + " | ".join(c.label for c in res["all"]["shorter_is_better"].length_control) + " |",
              "|---|" + "---|" * len(res["all"]["shorter_is_better"].length_control)]
    for key, label in (("shorter_is_better", "shorter is better"), ("surprise_higher", "surprise, higher"),
                       ("calibrated_surprise_higher", "calibrated surprise, higher")):
        cells = res["all"][key].length_control
        lines.append(f"| {label} | " + " | ".join(
            f"{c.accuracy:.3f} [{c.ci[0]:.3f}, {c.ci[1]:.3f}] ({c.n_pairs})" for c in cells) + " |")
    bt = res["all"]["bradley_terry_writers"]
    lines += ["", "Bradley-Terry strengths of the conditions from the writers (all items; centred log-strengths, "
              "95% CI):", ""]
    lines += [f"- {s}: {bt.strengths[s]:+.3f} [{bt.ci[s][0]:+.3f}, {bt.ci[s][1]:+.3f}]" for s in bt.systems]
    lines += ["", "Kendall tau-b of each scorer's condition ranking (mean per condition) with the writers' "
              "Bradley-Terry ranking (3 conditions):", ""]
    for key, label in (("shorter_systems", "shorter is better"), ("surprise_systems", "surprise (higher)"),
                       ("calibrated_surprise_systems", "calibrated surprise (higher)")):
        a = res["all"][key]
        lines.append(f"- {label}: tau = {a.tau:+.3f} [{a.ci[0]:+.3f}, {a.ci[1]:+.3f}], scorer ranking "
                     f"{' > '.join(a.scorer_ranking)}")
    lines += ["", "The report table (all items):", "", "```text", str(table), "```", ""]
    return "\n".join(lines)

