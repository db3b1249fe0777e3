"""CreativeQuality, the recommended scorer, and the grid search that chose its constants."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from cqmetric import CreativeQuality, OrderCalibration, Surprise, build_signature, score
from cqmetric.errors import InputValidationError
from cqmetric.research.fitting import fit_creative_quality, within_group_kendall
from cqmetric.recommended import FITTED
from support import reference_creative_quality

FIT_FILE = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "recommendation_fit.json"
STORIES = [
    "The cat sat on the mat. It purred. Then it slept by the door.",
    "Rain fell on the town for a hundred years. The people learned to swim. Nobody missed the sun.",
    "She opened the letter and read it twice. Then she laughed at the handwriting.",
    "A lighthouse keeper climbed the stairs at dawn. He wiped the salt from the lens. The ships were late.",
]
PROMPTS = ["Write about a cat.", "Write about rain.", "Write about a letter.", "Write about a lighthouse."]


def logistic(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_within_group_kendall_is_the_mean_of_scipys_tau_b_per_group():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(12), 10)
    scores = rng.integers(0, 6, size=groups.size).astype(float)  # many ties in both
    ratings = rng.integers(1, 5, size=groups.size).astype(float)
    ratings[groups == 4] = 2.0  # one group with constant ratings: left out
    expected = np.mean([stats.kendalltau(scores[groups == g], ratings[groups == g]).statistic
                        for g in range(12) if g != 4])
    assert within_group_kendall(scores, ratings, groups)[0] == pytest.approx(expected, abs=1e-12)
    many = within_group_kendall(np.stack([scores, -scores]), ratings, groups)
    assert many == pytest.approx([expected, -expected], abs=1e-12)


def synthetic(seed=0, n_groups=24, per_group=10):
    """Ratings follow surprise within each prompt; each story has a shuffle that is more surprising but whose
    order calibration is near 0, so only a candidate with a working order gate wins the pairs."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), per_group)
    n = groups.size
    parts = {"order_calibration": rng.uniform(0.15, 0.4, n), "calibrated_surprise": rng.uniform(0.02, 0.2, n),
             "surprise": rng.normal(4.0, 0.6, n)}
    ratings = {"quality": parts["surprise"] + rng.normal(scale=0.3, size=n),
               "other": parts["surprise"] + rng.normal(scale=1.0, size=n)}
    shuffled = {"order_calibration": rng.normal(0.02, 0.02, n), "calibrated_surprise": parts["calibrated_surprise"],
                "surprise": parts["surprise"] + 1.5}
    return parts, ratings, groups, {"shuffle": (parts, shuffled)}


GRID = {"order_center": (0.0, 0.1), "order_scale": (0.02,), "fit_center": (-0.2, 0.1), "fit_scale": (0.05,),
        "lam": (0.3, 3.0)}


def test_the_grid_search_picks_the_best_candidate_that_wins_the_pairs():
    parts, ratings, groups, pairs = synthetic()
    fit = fit_creative_quality(parts, ratings, groups, pairs=pairs, grid=GRID)
    # Independent brute force: every candidate's values by the formula written here, scipy's tau-b per group.
    best = None
    for oc in GRID["order_center"]:
        for fc in GRID["fit_center"]:
            for lam in GRID["lam"]:
                def value(p, oc=oc, fc=fc, lam=lam):
                    return (logistic((p["order_calibration"] - oc) / 0.02) * logistic((p["calibrated_surprise"] - fc)
                            / 0.05) * (1 + lam * p["surprise"]))
                v = value(parts)
                tau = np.mean([np.mean([stats.kendalltau(v[groups == g], r[groups == g]).statistic
                                        for g in np.unique(groups)]) for r in ratings.values()])
                win = np.mean(value(pairs["shuffle"][0]) > value(pairs["shuffle"][1]))
                if win >= 0.95 and (best is None or tau > best[0] + 1e-12):
                    best = (tau, {"order_center": oc, "fit_center": fc, "lam": lam}, win)
    assert fit.met_pairs and fit.n_candidates == 8
    assert fit.objective == pytest.approx(best[0], abs=1e-9)
    assert {k: fit.constants[k] for k in best[1]} == best[1]
    assert fit.pair_win["shuffle"] == pytest.approx(best[2])
    assert fit.constants["order_center"] == 0.1  # without the order gate the shuffles win (set up so)


def test_the_grid_search_says_when_no_candidate_wins_the_pairs():
    parts, ratings, groups, _ = synthetic(seed=1)
    hopeless = {"shuffle": (parts, {**parts, "surprise": parts["surprise"] + 1.0})}  # same gates, more surprise
    fit = fit_creative_quality(parts, ratings, groups, pairs=hopeless, grid=GRID)
    assert not fit.met_pairs and fit.n_eligible == 0 and fit.pair_win["shuffle"] < 0.95


def test_the_grid_search_refuses_an_incomplete_grid():
    parts, ratings, groups, _ = synthetic()
    with pytest.raises(InputValidationError, match="lam"):
        fit_creative_quality(parts, ratings, groups, grid={k: v for k, v in GRID.items() if k != "lam"})


def test_the_signature_lists_the_fitted_constants_and_their_source(tiny_backend):
    sig = build_signature(tiny_backend, scorers=[CreativeQuality()]).format()
    assert "creative_quality(" in sig
    assert f"fit={FITTED['fit_center']:g}/{FITTED['fit_scale']:g}" in sig
    assert f"order={FITTED['order_center']:g}/{FITTED['order_scale']:g}" in sig
    assert f"lam={FITTED['lam']}" in sig and "hanna-dev" in sig
    other = build_signature(tiny_backend, scorers=[CreativeQuality(lam=FITTED["lam"] + 1)]).format()
    assert other != sig


def test_the_shipped_constants_are_the_ones_the_dev_fit_chose():
    if not FIT_FILE.exists():
        pytest.fail(f"{FIT_FILE} is missing: run benchmarks/validity/fit_recommendation.py")
    fit = json.loads(FIT_FILE.read_text(encoding="utf-8"))
    assert fit["fit"]["constants"] == FITTED
    assert fit["split"] == "dev"


def test_alone_and_in_a_batch_give_the_same_numbers(tiny_llama_dir):
    cq = CreativeQuality()
    batch = score(STORIES, PROMPTS, model=str(tiny_llama_dir), scorers=[cq], batch_size=3, n_boot=0)
    for i in range(len(STORIES)):
        alone = score(STORIES[i : i + 1], PROMPTS[i : i + 1], model=str(tiny_llama_dir), scorers=[cq],
                      batch_size=1, n_boot=0)
        assert alone["creative_quality"][0] == pytest.approx(batch["creative_quality"][i], rel=1e-5, abs=1e-6)


def test_the_scorer_is_the_fitted_formula_on_its_parts(tiny_llama_dir):
    res = score(STORIES, PROMPTS, model=str(tiny_llama_dir), scorers=[CreativeQuality(), OrderCalibration()],
                n_boot=0)
    parts = {k: res[k] for k in ("order_calibration", "calibrated_surprise", "surprise")}
    np.testing.assert_allclose(res["creative_quality"], reference_creative_quality(parts, FITTED), rtol=1e-9)


def test_constants_are_in_bits_per_token_so_other_units_are_refused(tiny_backend):
    with pytest.raises(InputValidationError, match="bits/token"):
        score(STORIES, PROMPTS, model="no/such/model", scorers=[CreativeQuality()], normalization="byte")
    with pytest.raises(InputValidationError, match="pointwise"):
        build_signature(tiny_backend, scorers=[CreativeQuality()], estimator="expected")


@pytest.mark.parametrize("bad", [{"order_scale": 0}, {"fit_scale": -1.0}, {"lam": -0.5}, {"lam": float("nan")},
                                 {"order_center": "0.1"}])
def test_bad_constants_are_refused_when_built(bad):
    with pytest.raises(InputValidationError, match=next(iter(bad))):
        CreativeQuality(**bad)


def test_it_needs_constraints():
    with pytest.raises(InputValidationError, match="constraints"):
        score(STORIES, None, model="no/such/model", scorers=[CreativeQuality(), Surprise()])


def test_the_grid_search_refuses_empty_or_ragged_pairs():
    parts, ratings, groups, pairs = synthetic()
    empty = {k: v[:0] for k, v in parts.items()}
    with pytest.raises(InputValidationError, match="at least one pair"):
        fit_creative_quality(parts, ratings, groups, pairs={"shuffle": (empty, empty)}, grid=GRID)
    ragged = {**pairs["shuffle"][1], "surprise": pairs["shuffle"][1]["surprise"][:-1]}
    with pytest.raises(InputValidationError, match="one value per pair"):
        fit_creative_quality(parts, ratings, groups, pairs={"shuffle": (pairs["shuffle"][0], ragged)}, grid=GRID)

