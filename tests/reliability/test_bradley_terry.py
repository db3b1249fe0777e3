"""Bradley-Terry strengths of systems and a scorer's agreement with them (cqmetric.reliability.bradley_terry).

Independent references: the closed form for two systems (the maximum-likelihood strength difference is
log(wins_a / wins_b)), and the package `choix` (0.4.1, pinned in requirements/pins.txt as a test-only
reference), whose I-LSR and Newton fits are a separate implementation. choix centres its parameters to mean 0,
as cqmetric reports them; its penalised fit minimises alpha * sum(s**2), which is cqmetric's ridge = 2 * alpha.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cqmetric.errors import InputValidationError
from cqmetric.reliability import bradley_terry, fit_bradley_terry, system_agreement


def _pairs(outcomes):
    """Judgements from (winner system, loser system, tie) tuples, one item per comparison."""
    judged = {"item": [], "judge": [], "winner": [], "loser": [], "tie": []}
    systems = {}
    for k, (w, lo, tie) in enumerate(outcomes):
        judged["item"].append(k)
        judged["judge"].append("j")
        judged["winner"].append(f"{w}{k}w")
        judged["loser"].append(f"{lo}{k}l")
        judged["tie"].append(tie)
        systems[f"{w}{k}w"], systems[f"{lo}{k}l"] = w, lo
    return judged, systems


def test_two_systems_closed_form():
    judged, systems = _pairs([("A", "B", False)] * 7 + [("B", "A", False)] * 3)
    res = bradley_terry(judged, systems)
    assert res.ranking == ["A", "B"] and res.n_comparisons == 10
    # closed form: s_A - s_B = log(7 / 3); centred: s_A = -s_B
    assert res.strengths["A"] - res.strengths["B"] == pytest.approx(math.log(7 / 3), abs=1e-9)
    assert res.strengths["A"] == pytest.approx(-res.strengths["B"], abs=1e-12)
    assert res.wins == ((0.0, 7.0), (3.0, 0.0))


def test_two_systems_with_ties_as_half_wins():
    judged, systems = _pairs([("A", "B", False)] * 7 + [("B", "A", False)] * 3 + [("A", "B", True)] * 2)
    half = bradley_terry(judged, systems, judgement_ties="half")
    # closed form with each tie half a win each way: log((7 + 1) / (3 + 1))
    assert half.strengths["A"] - half.strengths["B"] == pytest.approx(math.log(8 / 4), abs=1e-9)
    drop = bradley_terry(judged, systems)
    assert drop.counts["dropped_judgement_ties"] == 2 and drop.n_comparisons == 10
    assert drop.strengths["A"] - drop.strengths["B"] == pytest.approx(math.log(7 / 3), abs=1e-9)


def _random_comparisons(seed, n_systems=5, n=400):
    rng = np.random.default_rng(seed)
    truth = rng.normal(0, 1, n_systems)
    data = []
    for _ in range(n):
        i, j = rng.choice(n_systems, size=2, replace=False)
        p = 1 / (1 + math.exp(truth[j] - truth[i]))
        data.append((int(i), int(j)) if rng.random() < p else (int(j), int(i)))
    return data


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_maximum_likelihood_matches_choix(seed):
    choix = pytest.importorskip("choix", reason="choix==0.4.1 (requirements/pins.txt) is the reference")
    data = _random_comparisons(seed)
    wins = np.zeros((5, 5))
    for w, lo in data:
        wins[w, lo] += 1
    ours = fit_bradley_terry(wins)
    lsr = choix.ilsr_pairwise(5, data, alpha=0.0, tol=1e-12, max_iter=1000)
    newton = choix.opt_pairwise(5, data, alpha=0.0, method="Newton-CG", tol=1e-12)
    assert ours.mean() == pytest.approx(0, abs=1e-12)
    np.testing.assert_allclose(ours, lsr - lsr.mean(), atol=1e-7)
    np.testing.assert_allclose(ours, newton - newton.mean(), atol=1e-6)


def test_ridge_matches_choix_map_estimate():
    choix = pytest.importorskip("choix", reason="choix==0.4.1 (requirements/pins.txt) is the reference")
    data = [(0, 1)] * 5 + [(1, 2)] * 4 + [(0, 2)] * 3  # system 0 never loses: no finite ML estimate
    wins = np.zeros((3, 3))
    for w, lo in data:
        wins[w, lo] += 1
    with pytest.raises(InputValidationError, match=r"never losing.*ridge > 0"):
        fit_bradley_terry(wins, labels=["x", "y", "z"])
    alpha = 0.05
    ours = fit_bradley_terry(wins, ridge=2 * alpha)
    theirs = choix.opt_pairwise(3, data, alpha=alpha, method="Newton-CG", tol=1e-12)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_disconnected_graph_is_an_error():
    judged, systems = _pairs([("A", "B", False), ("B", "A", False), ("C", "D", False), ("D", "C", False)])
    with pytest.raises(InputValidationError, match=r"2 groups of systems never compared.*\['A', 'B'\].*\['C', 'D'\]"):
        bradley_terry(judged, systems)
    with pytest.raises(InputValidationError, match="never compared"):
        bradley_terry(judged, systems, ridge=1.0)


def test_bad_systems_input():
    judged, systems = _pairs([("A", "B", False), ("B", "A", False)])
    with pytest.raises(InputValidationError, match="system in `systems` for every judged text"):
        bradley_terry(judged, {k: v for k, v in list(systems.items())[1:]})
    with pytest.raises(InputValidationError, match="square win matrix"):
        fit_bradley_terry([[0, 1, 2]])
    with pytest.raises(InputValidationError, match="non-negative"):
        fit_bradley_terry([[0, -1], [1, 0]])


def test_same_system_pairs_are_counted_and_left_out():
    judged, systems = _pairs([("A", "B", False), ("B", "A", False), ("A", "A", False)])
    res = bradley_terry(judged, {**systems})
    assert res.counts["dropped_same_system"] == 1 and res.n_comparisons == 2


def test_bootstrap_ci_and_printing():
    judged, systems = _pairs([("A", "B", False)] * 12 + [("B", "A", False)] * 8 + [("B", "C", False)] * 9
                             + [("C", "B", False)] * 6 + [("A", "C", False)] * 7 + [("C", "A", False)] * 3)
    res = bradley_terry(judged, systems, n_boot=300, seed=4)
    assert res.ranking == ["A", "B", "C"]
    for s in res.ranking:
        lo, hi = res.ci[s]
        assert lo <= res.strengths[s] <= hi
    assert "Bradley-Terry strengths" in str(res) and res.to_dict()["signature"].startswith("stat:bradley_terry")


def test_system_agreement_by_mean_and_by_scorer_bradley_terry():
    # judges: A > B > C with a cycle (C beat A once); "shorter is better" ranks A (85) > B (110) > C (150)
    judged = {"item": [1, 1, 2, 2, 3], "judge": ["j"] * 5, "winner": ["a1", "b1", "a2", "b2", "c3"],
              "loser": ["b1", "c1", "b2", "c2", "a3"]}
    system = {f"{s}{i}": s.upper() for s in "abc" for i in (1, 2, 3)}
    length = {"a1": 90, "b1": 120, "c1": 150, "a2": 80, "b2": 100, "c2": 160, "a3": 85, "c3": 140}
    short = system_agreement(length, judged, system, higher_is_better=False, n_boot=0)
    assert short.judges.ranking == ["A", "B", "C"] and short.tau == 1.0
    assert short.scorer_values == {"A": -85.0, "B": -110.0, "C": -150.0}   # negated means of the judged texts
    long = system_agreement(length, judged, system, higher_is_better=True, n_boot=0)
    assert long.tau == -1.0
    # the scorer's own preferences: shorter wins every judged pair, so A beats B twice, B beats C twice, A beats C
    # once: A never loses, so the scorer's fit needs a ridge; it still orders A > B > C
    with pytest.raises(InputValidationError, match="ridge > 0"):
        system_agreement(length, judged, system, higher_is_better=False, scorer_systems="bradley-terry", n_boot=0)
    bt = system_agreement(length, judged, system, higher_is_better=False, scorer_systems="bradley-terry",
                          ridge=0.1, n_boot=0)
    assert bt.scorer_ranking == ["A", "B", "C"] and bt.tau == 1.0
    with pytest.raises(InputValidationError, match="finite scores"):
        system_agreement({**length, "a1": float("nan")}, judged, system, n_boot=0)
