"""The expert-judged sources of the validity study, as rows a `cqmetric score` run reads, and the models.

Each row has an `id`, its `item` (the unit of the dev/test split and of every clustered interval), its `split`,
the `text` and the `constraint` (the prompt or instruction it answers). `collect` in `tool.py` writes them as
JSONL and scores them with the library's own command line (`cqmetric score --resume`), so a killed run continues
where it stopped and every row carries the signature of the settings that made it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
CACHE = RESULTS / "cache"  # per-token outputs (large, not committed: `tool.py collect` recreates them)

#: Model name -> how `cqmetric score` reaches it (None: the embedded model; a callable: a folder found at run time).
MODELS = ("smollm2", "gemma")


def model_argument(name: str) -> list[str]:
    """The `--model` arguments of `cqmetric score` for a model name."""
    if name == "smollm2":
        return []
    if name == "gemma":
        from cqmetric.backends.embedded import gemma_model_dir

        return ["--model", str(gemma_model_dir()[0])]
    raise SystemExit(f"unknown model {name!r}; known: {', '.join(MODELS)}")


def lamp_rows() -> list[dict[str, Any]]:
    """Every LAMP paragraph (200 items x 3 conditions) with its instruction as the constraint."""
    from cqmetric.research.lamp import load_lamp

    lamp = load_lamp()
    rows = []
    for r in lamp.texts.itertuples(index=False):
        rows.append({"id": r.text_id, "item": r.item, "split": lamp.split[r.item], "condition": r.condition,
                     "text": r.text, "constraint": r.instruction})
    return rows


def hanna_rows() -> list[dict[str, Any]]:
    """Every HANNA story (96 prompts x 11 systems) with its prompt; the split is benchmarks/validity/split.json."""
    from cqmetric.research.hanna import load_hanna

    hanna = load_hanna()
    split = json.loads((HERE / "split.json").read_text())
    side = {p: "dev" for p in split["dev"]} | {p: "test" for p in split["test"]}
    rows = []
    for r in hanna.stories.itertuples(index=False):
        rows.append({"id": int(r.story_id), "item": int(r.prompt_index), "split": side[int(r.prompt_index)],
                     "system": r.system, "text": r.story, "constraint": r.prompt})
    return rows


def hanna_degraded_rows() -> list[dict[str, Any]]:
    """HANNA's human stories, sentence-shuffled and word-shuffled (the seeded shuffles of rounds 1 and 2), each
    with its own prompt: the degraded side of the degraded pairs."""
    from cqmetric.research.perturb import perturb_texts

    human = [r for r in hanna_rows() if r["system"] == "Human"]
    rows = []
    for kind in ("sentence_shuffle", "word_shuffle"):
        result = perturb_texts([r["text"] for r in human], kind=kind, seed=12345)
        for r, text, changed in zip(human, result.texts, result.changed):
            if changed:  # an unchanged text is a tie, not a pair
                rows.append({**r, "id": f"{r['id']}/{kind}", "original": r["id"], "kind": kind, "text": text})
    return rows


def hanna_swap_rows() -> list[dict[str, Any]]:
    """HANNA's test stories, each with another test prompt (the seeded derangement over prompts of rounds 1 and 2,
    `perm[p]` for the story of prompt p, kept only where both prompts are test prompts; a test prompt whose partner
    is a dev prompt takes the next test prompt in that derangement's cycle): the other side of the prompt swap."""
    from cqmetric.research.hanna import load_hanna
    from cqmetric.research.perturb import derangement

    hanna = load_hanna()
    perm = derangement(int(hanna.prompt_index.max()) + 1, seed=12345)
    prompts = {int(r.prompt_index): r.prompt for r in hanna.stories.itertuples(index=False)}
    rows = []
    for r in hanna_rows():
        if r["split"] != "test":
            continue
        other = int(perm[r["item"]])
        while other == r["item"] or not _is_test(other):
            other = int(perm[other])
        rows.append({**r, "id": f"{r['id']}/prompt_swap", "original": r["id"], "kind": "prompt_swap",
                     "swap_item": other, "constraint": prompts[other]})
    return rows


def _is_test(prompt: int) -> bool:
    return prompt in set(json.loads((HERE / "split.json").read_text())["test"])


SOURCES = {"lamp": lamp_rows, "hanna": hanna_rows, "hanna-degraded": hanna_degraded_rows, "hanna-swap": hanna_swap_rows}
#: The scorers `collect` asks for besides the per-token detail (order calibration costs two more passes a text,
#: so the prompt swap, which changes only the constrained pass, skips it).
COLLECT_SCORERS = {"hanna-swap": ("residual()",)}
DEFAULT_COLLECT_SCORERS = ("order_calibration(unit=sentence)",)


def fingerprint(rows: list[dict[str, Any]]) -> str:
    """sha256 (16 hex) of the rows as written: which data a result was computed on."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


def write_validity_section(out: Path, section: str, report: dict[str, Any]) -> None:
    """Put one round's section into `out/validity.json`; in a fresh folder, start from the committed file's other
    sections (each round's step writes its own section and keeps the rest)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "validity.json"
    if not path.exists():
        path.write_text((RESULTS / "validity.json").read_text(encoding="utf-8"), encoding="utf-8")
    whole = json.loads(path.read_text(encoding="utf-8"))
    whole[section] = report
    path.write_text(json.dumps(whole, indent=2, allow_nan=False, default=str) + "\n", encoding="utf-8")
