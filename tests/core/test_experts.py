"""Fit to your own experts: recovery of known constants, honest held-out figures, and fitted-scorer files.

Expected values come from the data's construction: judgements and ratings are generated here from known constants
(CreativeQuality's formula written out in this file) or known weights, so a correct fit must find them; pure-noise
judgements must give a held-out accuracy near chance whatever the in-sample fit says.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from cqmetric import fit_to_experts, load_scorer, score
from cqmetric.errors import InputValidationError, SmallSampleWarning
from cqmetric.scorers import CreativeQuality, WeightedSum, spec

TRUE = dict(order_center=0.08, order_scale=0.02, fit_center=0.0, fit_scale=0.05, lam=3.0)  # a point of the grid


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def _creative_quality(oc, cs, s, c):  # the formula, written out independently of the library
    return _logistic((oc - c["order_center"]) / c["order_scale"]) * _logistic((cs - c["fit_center"]) / c["fit_scale"]) \
        * (1 + c["lam"] * s)


def _synthetic(n_items=120, k=4, seed=1):
    rng = np.random.default_rng(seed)
    n = n_items * k
    parts = {"order_calibration": rng.uniform(-0.05, 0.25, n), "calibrated_surprise": rng.uniform(-0.2, 0.2, n),
             "surprise": rng.uniform(2.5, 5.0, n)}
    truth = _creative_quality(parts["order_calibration"], parts["calibrated_surprise"], parts["surprise"], TRUE)
    ids = [f"t{i}" for i in range(n)]
    items = np.repeat(np.arange(n_items), k)
    return parts, truth, ids, items


def _rankings(truth, ids, items, judges=("j",)):
    out = {"item": [], "judge": [], "text_id": [], "rank": []}
    for item in np.unique(items):
        members = np.flatnonzero(items == item)
        for judge in judges:
            for rank, t in enumerate(members[np.argsort(-truth[members])], 1):
                for col, v in zip(out, (int(item), judge, ids[t], rank)):
                    out[col].append(v)
    return out


def test_known_constants_are_recovered_from_rankings_and_from_ratings():
    parts, truth, ids, items = _synthetic()
    by_rank = fit_to_experts("creative_quality", parts, ids, judgements=_rankings(truth, ids, items), n_boot=200)
    by_rating = fit_to_experts("creative_quality", parts, ids, ratings=truth, items=items, n_boot=200)
    for fit in (by_rank, by_rating):
        assert fit.constants == TRUE
        assert fit.held_out.estimate == 1.0 and fit.in_sample.estimate == 1.0
        assert isinstance(fit.scorer, CreativeQuality) and fit.scorer.fitted_on == f"my-experts@{fit.fingerprint}"
    assert by_rank.held_out.statistic == "pairwise_accuracy"
    assert by_rating.held_out.statistic == "mean_item_kendall_tau_b"


def test_known_weights_are_recovered_on_ratings():
    rng = np.random.default_rng(3)
    n_items, k = 80, 5
    a, b, c = (rng.normal(size=n_items * k) for _ in range(3))
    ratings = 2 * a - b + 0.05 * rng.normal(size=a.size)  # c plays no part
    parts = {"surprise": a, "residual": b, "calibrated_surprise": c}
    fit = fit_to_experts("weighted", parts, [f"t{i}" for i in range(a.size)], ratings=ratings,
                         items=np.repeat(np.arange(n_items), k), members=list(parts), n_boot=200)
    w = fit.constants["weights"]
    direction = np.array([2, -1, 0]) / math.sqrt(5)  # a and b have unit spread: the z-weights keep the direction
    assert np.dot([w["surprise"], w["residual"], w["calibrated_surprise"]], direction) > 0.99
    assert isinstance(fit.scorer, WeightedSum) and fit.held_out.estimate > 0.9


def test_noise_gives_chance_held_out_while_the_in_sample_fit_is_optimistic():
    rng = np.random.default_rng(5)
    n_items, k = 60, 3
    parts = {"order_calibration": rng.uniform(-0.05, 0.25, n_items * k),
             "calibrated_surprise": rng.uniform(-0.2, 0.2, n_items * k), "surprise": rng.uniform(2.5, 5, n_items * k)}
    ids = [f"t{i}" for i in range(n_items * k)]
    items = np.repeat(np.arange(n_items), k)
    noise = rng.normal(size=n_items * k)  # the experts follow nothing the parts know
    fit = fit_to_experts("creative_quality", parts, ids, judgements=_rankings(noise, ids, items), n_boot=500)
    assert fit.in_sample.estimate > fit.held_out.estimate  # the grid search fits the noise in sample
    low, high = fit.held_out.ci
    assert low < 0.5 < high  # held out, it is what it is: chance
    assert len(fit.per_fold) == 5 and sum(f["items"] for f in fit.per_fold) == n_items


def test_too_few_items_for_the_constants_warns():
    parts, truth, ids, items = _synthetic(n_items=20, k=3)
    with pytest.warns(SmallSampleWarning, match="20 items for 5 constants"):
        fit_to_experts("creative_quality", parts, ids, judgements=_rankings(truth, ids, items), n_boot=0)


def test_a_fitted_scorer_saves_loads_and_scores_by_path(tmp_path, tiny_model_dir):
    parts, truth, ids, items = _synthetic(n_items=60)
    fit = fit_to_experts("creative_quality", parts, ids, judgements=_rankings(truth, ids, items), label="panel",
                         n_boot=0)
    path = tmp_path / "panel.json"
    fit.save(path)
    body = json.loads(path.read_text())
    assert body["format"] == "cqmetric.fitted-scorer" and body["spec"] == spec(fit.scorer)
    assert body["in_sample"]["estimate"] == 1.0 and body["held_out"]["estimate"] >= 0.99
    loaded = load_scorer(path)
    assert loaded == fit.scorer  # the spec builds back the very same constants
    texts, prompts = ["The cat sat. The dog slept.", "Rain fell. We swam."], ["Write about pets.", "Write about rain."]
    by_path = score(texts, prompts, model=str(tiny_model_dir), scorers=[str(path)], n_boot=0)
    by_object = score(texts, prompts, model=str(tiny_model_dir), scorers=[fit.scorer], n_boot=0)
    assert by_path["creative_quality"].tolist() == by_object["creative_quality"].tolist()
    assert f"fitted=panel@{fit.fingerprint}" in by_path.signature["scorers"]


def test_fitted_weighted_sum_file_is_named_in_score_the_cli_and_the_plugin(tmp_path, tiny_model_dir):
    rng = np.random.default_rng(2)
    parts = {"surprise": rng.normal(4, 1, 60), "residual": rng.normal(4, 1, 60)}
    ids = [f"t{i}" for i in range(60)]
    fit = fit_to_experts("weighted", parts, ids, ratings=parts["surprise"] - parts["residual"],
                         items=np.repeat(np.arange(20), 3), members=["surprise", "residual"], label="lab", n_boot=0)
    path = tmp_path / "lab.json"
    fit.save(path)
    texts, prompts = ["The cat sat on the mat.", "Rain fell all night."], ["Write about a cat.", "Write about rain."]
    res = score(texts, prompts, model=str(tiny_model_dir), scorers=[str(path)], n_boot=0)
    expected = fit.scorer.members["surprise"][1] * (res["surprise"] - fit.scorer.norms["surprise"][0]) \
        / fit.scorer.norms["surprise"][1] + fit.scorer.members["residual"][1] \
        * (res["residual"] - fit.scorer.norms["residual"][0]) / fit.scorer.norms["residual"][1]
    np.testing.assert_allclose(res["weighted"], expected, rtol=1e-12)
    assert f"norms={'lab@' + fit.fingerprint}" in res.signature["scorers"]
    rows = tmp_path / "in.jsonl"
    rows.write_text("".join(json.dumps({"text": t, "prompt": p}) + "\n" for t, p in zip(texts, prompts)))
    run = subprocess.run([sys.executable, "-m", "cqmetric.cli", "score", str(rows), "-o", str(tmp_path / "out.jsonl"),
                          "--constraint-field", "prompt", "--model", str(tiny_model_dir), "--scorer", str(path), "-q"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["weighted"] for r in out] == pytest.approx(list(res["weighted"]), rel=1e-9)
    from cqmetric.integrations import evaluate_compute

    got = evaluate_compute(texts, prompts, model=str(tiny_model_dir), scorers=[str(path)], n_boot=0)
    assert got["weighted"] == pytest.approx(list(res["weighted"]), rel=1e-12)


def test_a_changed_or_foreign_file_is_refused(tmp_path):
    parts, truth, ids, items = _synthetic(n_items=60)
    fit = fit_to_experts("creative_quality", parts, ids, judgements=_rankings(truth, ids, items), n_boot=0)
    path = tmp_path / "fit.json"
    fit.save(path)
    body = json.loads(path.read_text())
    edited = dict(body, spec=body["spec"].replace("lam=3", "lam=30"))
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    with pytest.raises(InputValidationError, match="was changed after it was written"):
        load_scorer(tmp_path / "edited.json")
    future = dict(body, format_version=2)
    (tmp_path / "future.json").write_text(json.dumps(future))
    with pytest.raises(InputValidationError, match="format version 2 .* this cqmetric reads version 1"):
        load_scorer(tmp_path / "future.json")
    (tmp_path / "junk.json").write_text("not json")
    with pytest.raises(InputValidationError, match="cannot read"):
        load_scorer(tmp_path / "junk.json")


@pytest.mark.parametrize(("change", "message"), [
    (lambda a: a.update(judgements={"item": [0], "judge": ["j"], "winner": ["nope"], "loser": ["t1"]}),
     "text id\\(s\\) that `text_ids` lacks"),
    (lambda a: a.update(text_ids=["t0", "t1"]), "one value of 'order_calibration' per text id"),
    (lambda a: a["parts"].update(surprise=np.full(a["parts"]["surprise"].size, np.nan)), "finite values of 'surprise'"),
    (lambda a: a.update(ratings=[1.0] * 4), "either `judgements`.*or `ratings`, got both"),
    (lambda a: a.update(kind="median"), "kind='median'"),
    (lambda a: a.update(label="a|b"), "plain name"),
    (lambda a: a.update(folds=1), "folds"),
    (lambda a: a.update(kind="weighted", members=["surprise"]), "two or more distinct part names"),
    (lambda a: a.update(kind="weighted", members=["surprise", "novelty"]), "registered scorer .* 'novelty'"),
])
def test_bad_input_is_a_clear_error(change, message):
    parts, truth, ids, items = _synthetic(n_items=10, k=2)
    args = {"kind": "creative_quality", "parts": parts, "text_ids": ids, "judgements": _rankings(truth, ids, items),
            "n_boot": 0}
    change(args)
    with pytest.raises(InputValidationError, match=message):  # refused before any fit (and before any warning)
        fit_to_experts(args.pop("kind"), args.pop("parts"), args.pop("text_ids"), **args)
