"""The LAMP loader (cqmetric.research.lamp): its rules on a small folder written here, and its counts on the data.

The data tests read /work/shared/data/lamp (or $CQMETRIC_LAMP) and skip when it is absent. Their expected
counts come from the data's README (13 writers, 603 rankings of 200 items, one item id twice in one batch,
"shorter is better" about 0.60 on about 1,770 untied pairs), from split.json's stated rule, and from a plain
loop over the raw JSON files written in this test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from cqmetric.errors import DataNotFoundError
from cqmetric.reliability import preference_agreement, preference_ceiling
from cqmetric.research.lamp import CONDITIONS, LAMP_SOURCE, load_lamp

pytest.importorskip("pandas")


def lamp_root() -> Path:
    env = os.environ.get("CQMETRIC_LAMP")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared/data/lamp"


@pytest.fixture(scope="module")
def lamp():
    root = lamp_root()
    if not (root / "split.json").is_file():
        pytest.skip(f"LAMP data not found at {root}: get salesforce/creativity_eval (Writing_Alignment/"
                    "preference_ranking) and split.json, and set CQMETRIC_LAMP=<folder> to run the LAMP tests.")
    return load_lamp(root)


def _entry(iid, item, texts, order=("AI-generated", "AI-edited", "Human-edited")):
    return {"instruction": f"Write {item}.", "responses": list(texts), "id": item, "instruction_id": iid,
            "mapping": {f"Response {k + 1}": c for k, c in enumerate(order)}}


def _write(folder: Path, writer: str, entries, rankings):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{writer}.json").write_text(json.dumps(entries))
    (folder / f"{writer}_rankings.json").write_text(json.dumps(rankings))


def test_rules_on_a_small_folder(tmp_path):
    b = tmp_path / "batch1"
    x, y = ["x gen", "x ai edit", "x human edit"], ["y gen", "y ai edit", "y human, edit"]
    y_variant = ["y gen", "y ai edit", "y human edit"]  # one comma less: the copy shown to w2 only
    rank = lambda iid, a, b_, c: {"instruction_id": iid, "rank_1": a, "rank_2": b_, "rank_3": c}  # noqa: E731
    # x appears twice (instruction ids 1 and 3); the ranking of id 1 is kept for every writer
    for writer, ys in (("w1", y), ("w2", y_variant), ("w3", y)):
        entries = [_entry(1, "x", x), _entry(2, "y", ys), _entry(3, "x", ["x gen", "x other edit", "x human edit"])]
        if writer == "w3":
            entries[1]["responses"] = json.dumps(ys)  # a JSON list in a string, as upstream sometimes has
        _write(b, writer, entries, [rank(1, "Response 3", "Response 2", "Response 1"),
                                    rank(2, "Response 1", "Response 3", "Response 2"),
                                    rank(3, "Response 2", "Response 1", "Response 3")])
    (b / "batch1.json").write_text("[]")  # the batch's edit metadata: not read
    (tmp_path / "split.json").write_text(json.dumps({"dev": ["batch1/x"], "test": ["batch1/y"]}))
    data = load_lamp(tmp_path)
    assert data.dropped == {"duplicate_rankings": 3, "text_variants": 1}
    assert data.text_variants == ("batch1/y/Human-edited",)
    texts = data.texts.set_index("text_id")["text"]
    assert texts["batch1/x/AI-edited"] == "x ai edit"          # from instruction id 1, not 3
    assert texts["batch1/y/Human-edited"] == "y human, edit"   # the version 2 of 3 writers saw
    assert len(data.rankings) == 3 * 2 * 3 and set(data.rankings["instruction_id"]) == {1, 2}
    top = data.rankings[(data.rankings["rank"] == 1) & (data.rankings["judge"] == "w1")]
    assert sorted(top["text_id"]) == ["batch1/x/Human-edited", "batch1/y/AI-generated"]
    assert data.subset("dev").items == ["batch1/x"] and len(data.subset("test").rankings) == 9
    assert data.checksum is None


def test_missing_folder_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError, match="salesforce/creativity_eval") as exc:
        load_lamp(tmp_path)
    assert isinstance(exc.value, FileNotFoundError) and str(tmp_path) in str(exc.value)
    assert "creativity_eval" in LAMP_SOURCE
    monkeypatch.setenv("CQMETRIC_LAMP", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_lamp()


def test_counts_match_the_readme(lamp):
    assert len(lamp.judges) == 13
    assert len(lamp.items) == 200 and len(lamp.texts) == 600
    conditions = lamp.texts.groupby("item")["condition"].apply(lambda c: tuple(sorted(c)))
    assert set(conditions) == {tuple(sorted(CONDITIONS))}
    # 603 rankings upstream, 3 of them the second copy of batch6/gene_batch1_10 (instruction id 32): 600 kept
    assert lamp.dropped["duplicate_rankings"] == 3
    assert len(lamp.rankings) == 3 * 600
    per_item = lamp.rankings.groupby("item")["judge"].nunique()
    assert (per_item == 3).all()
    dup = lamp.rankings[lamp.rankings["item"] == "batch6/gene_batch1_10"]
    assert set(dup["instruction_id"]) == {5} and dup["judge"].nunique() == 3
    assert lamp.dropped["text_variants"] == len(lamp.text_variants) == 5
    assert sorted(lamp.split.values()).count("dev") == 100


def test_split_follows_its_stated_rule(lamp):
    rule = json.loads((lamp_root() / "split.json").read_text())["rule"]
    assert "default_rng(20261202).permutation" in rule
    keys = sorted(lamp.split)
    perm = np.random.default_rng(20261202).permutation(len(keys))
    dev = {keys[i] for i in perm[:100]}
    assert dev == {k for k, v in lamp.split.items() if v == "dev"}


def _raw_shorter_is_better(root: Path) -> tuple[int, int]:
    """(agreeing, untied) pairs of "fewer words is better", straight from the upstream files (ids 32 of
    batch6/gene_batch1_10 left out, as the loader does)."""
    agree = untied = 0
    for rk in sorted(root.glob("batch*/*_rankings.json")):
        shown = {e["instruction_id"]: e for e in json.loads(rk.with_name(rk.name.replace("_rankings", "")).read_text())}
        for r in json.loads(rk.read_text()):
            e = shown[r["instruction_id"]]
            if rk.parent.name == "batch6" and e["id"] == "gene_batch1_10" and r["instruction_id"] == 32:
                continue
            texts = dict(zip([f"Response {k}" for k in (1, 2, 3)], e["responses"]))
            words = [len(texts[r[f"rank_{k}"]].split()) for k in (1, 2, 3)]  # best first
            for i in range(3):
                for j in range(i + 1, 3):
                    if words[i] != words[j]:
                        untied += 1
                        agree += words[i] < words[j]
    return agree, untied


def test_shorter_is_better_on_all_rankings(lamp):
    agree, untied = _raw_shorter_is_better(lamp_root())
    words = dict(zip(lamp.texts["text_id"], lamp.texts["n_words"]))
    res = preference_agreement(words, lamp.rankings, higher_is_better=False, score_ties="drop", n_boot=0)
    assert res.n_pairs == untied and res.accuracy == pytest.approx(agree / untied, abs=1e-12)
    assert abs(res.accuracy - 0.60) < 0.01 and abs(res.n_pairs - 1770) < 15   # README: about 0.60 on about 1,770
    assert res.counts["judged"] == 1800 and res.counts["judgement_ties"] == 0


def test_writers_ceiling_runs_on_lamp(lamp):
    res = preference_ceiling(lamp.rankings, n_boot=0)
    # every pair of every item has two other writers, and LAMP rankings have no ties
    assert res.counts["dropped_no_other_judge"] == 0 and res.n_pairs == 1800 and res.n_judges == 13
    assert 0.5 < res.accuracy < 1
