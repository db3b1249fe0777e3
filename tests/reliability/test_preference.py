"""Pairwise accuracy, paired differences and the judges' ceiling (cqmetric.reliability.preference).

Expected values come from hand counts written out below (each judged pair listed with its credit), and from a
brute-force enumeration of the item-clustered bootstrap on 3 items (all 27 resamples).
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter

import numpy as np
import pytest

from cqmetric.errors import DegenerateInputWarning, InputValidationError
from cqmetric.reliability import (
    PreferenceResult,
    preference_agreement,
    preference_ceiling,
    preference_difference,
)
from cqmetric.reliability.judgements import judged_pairs
from cqmetric.reliability.preference_kernels import ratio_replicates
from cqmetric.resampling import child_rng, cluster_counts

# Two items, two judges. ann ranks q1 a > b > c and q2 d > e; bob ranks q1 a = b > c (a tie) and q2 e > d.
RANKINGS = {
    "item": ["q1", "q1", "q1", "q2", "q2", "q1", "q1", "q1", "q2", "q2"],
    "judge": ["ann"] * 5 + ["bob"] * 5,
    "text_id": ["a", "b", "c", "d", "e", "a", "b", "c", "d", "e"],
    "rank": [1, 2, 3, 1, 2, 1, 1, 2, 2, 1],
}
# The same judgements as pairs (bob's tie written with the loser first: the order of a tie does not matter).
PAIRS = {
    "item": ["q1", "q1", "q1", "q2", "q1", "q1", "q1", "q2"],
    "judge": ["ann", "ann", "ann", "ann", "bob", "bob", "bob", "bob"],
    "winner": ["a", "a", "b", "d", "b", "a", "b", "e"],
    "loser": ["b", "c", "c", "e", "a", "c", "c", "d"],
    "tie": [False, False, False, False, True, False, False, False],
}
SCORES = {"a": 3.0, "b": 1.0, "c": 1.0, "d": 0.0, "e": 5.0}
# Hand count of the 8 judged pairs (higher score better):
#   ann q1 a>b: 3 vs 1 agree (1)    ann q1 a>c: agree (1)    ann q1 b>c: 1 vs 1 score tie    ann q2 d>e: 0 vs 5 (0)
#   bob q1 a=b: judgement tie       bob q1 a>c: agree (1)    bob q1 b>c: score tie           bob q2 e>d: agree (1)
HAND = {
    ("drop", "half"): (5 / 7, 7),   # 1+1+.5+0 + 1+.5+1 over 7 untied judgements
    ("drop", "drop"): (4 / 5, 5),   # the two score ties left out
    ("drop", "loss"): (4 / 7, 7),   # score ties count 0
    ("half", "half"): (5.5 / 8, 8),  # bob's tie kept at 0.5
}


@pytest.mark.parametrize("policy", list(HAND))
@pytest.mark.parametrize("form", ["rankings", "pairs"])
def test_hand_counted_accuracy_under_each_tie_policy(policy, form):
    judgement_ties, score_ties = policy
    res = preference_agreement(SCORES, RANKINGS if form == "rankings" else PAIRS, judgement_ties=judgement_ties,
                               score_ties=score_ties, n_boot=0)
    expected, used = HAND[policy]
    assert res.accuracy == pytest.approx(expected, abs=1e-15)
    assert res.n_pairs == used and res.n_items == 2 and res.n_judges == 2
    c = res.counts
    assert c["judged"] == 8 and c["judgement_ties"] == 1 and c["score_ties"] == 2 and c["dropped_nan"] == 0
    assert c["dropped_judgement_ties"] == (1 if judgement_ties == "drop" else 0)
    assert c["dropped_score_ties"] == (2 if score_ties == "drop" else 0)
    assert c["used"] == c["judged"] - c["dropped_judgement_ties"] - c["dropped_score_ties"] == used


def test_per_judge_and_direction():
    res = preference_agreement(SCORES, RANKINGS, n_boot=0)
    assert res.per_judge == {"ann": pytest.approx(2.5 / 4), "bob": pytest.approx(2.5 / 3)}  # hand count above
    # lower is better: every decided pair flips, score ties stay 0.5: 1 - 5/7
    low = preference_agreement(SCORES, RANKINGS, higher_is_better=False, n_boot=0)
    assert low.accuracy == pytest.approx(2 / 7)
    # a constant scorer sits at exactly 0.5 under score_ties="half"
    assert preference_agreement(dict.fromkeys(SCORES, 1.0), RANKINGS, n_boot=0).accuracy == 0.5


def test_input_forms_agree(pd=None):
    pd = pytest.importorskip("pandas")
    base = preference_agreement(SCORES, RANKINGS, n_boot=200, seed=3)
    frame = preference_agreement(pd.Series(SCORES), pd.DataFrame(RANKINGS), n_boot=200, seed=3)
    tup = preference_agreement((list(SCORES), list(SCORES.values())), RANKINGS, n_boot=200, seed=3)
    assert base.to_dict() == frame.to_dict() == tup.to_dict()


def test_ranking_of_k_texts_gives_k_choose_2_pairs_per_judge():
    items = {"item": [], "judge": [], "text_id": [], "rank": []}
    for judge in ("j1", "j2", "j3"):
        for k, t in enumerate("abcde"):
            items["item"].append("q")
            items["judge"].append(judge)
            items["text_id"].append(t)
            items["rank"].append(k + 1)
    jp = judged_pairs("test", items)
    assert len(jp) == 3 * math.comb(5, 2)
    assert Counter(jp.judge.tolist()) == {0: 10, 1: 10, 2: 10}


# -- length control -----------------------------------------------------------------------------------------


def test_length_control_hand_count():
    # one judge, four items, one pair each; lengths make relative differences 0.05, 0.15, 0.25 and 0.6
    judged = {"item": [1, 2, 3, 4], "judge": ["j"] * 4, "winner": ["a", "c", "e", "g"], "loser": ["b", "d", "f", "h"]}
    lengths = {"a": 95, "b": 100, "c": 85, "d": 100, "e": 100, "f": 75, "g": 40, "h": 100}
    scores = {"a": 1, "b": 0, "c": 0, "d": 1, "e": 1, "f": 0, "g": 1, "h": 0}  # agree, disagree, agree, agree
    res = preference_agreement(scores, judged, lengths=lengths, length_bins=(0, 0.1, 0.2, 0.5, 1), n_boot=0)
    cells = {c.label: (c.accuracy, c.n_pairs) for c in res.length_control}
    assert cells["|la-lb|/max(la,lb) < 0.1"] == (1.0, 1)          # only the 0.05 pair
    assert cells["[0, 0.1)"] == (1.0, 1)
    assert cells["[0.1, 0.2)"] == (0.0, 1)                        # the 0.15 pair, a disagreement
    assert cells["[0.2, 0.5)"] == (1.0, 1)
    assert cells["[0.5, 1]"] == (1.0, 1)
    wide = preference_agreement(scores, judged, lengths=lengths, length_tolerance=0.2, n_boot=0)
    assert wide.length_control[0].accuracy == 0.5 and wide.length_control[0].n_pairs == 2
    empty = preference_agreement(scores, judged, lengths=lengths, length_bins=(0, 0.01, 1), n_boot=0)
    assert math.isnan(empty.length_control[1].accuracy) and empty.length_control[1].n_pairs == 0


# -- bootstrap: brute force on 3 items --------------------------------------------------------------------


def _three_items():
    # item 1: two pairs, both agree (S=2, N=2); item 2: one pair, disagrees (0, 1); item 3: three pairs, one agrees (1, 3)
    judged = {"item": [1, 1, 2, 3, 3, 3], "judge": ["j"] * 6,
              "winner": ["a", "b", "d", "f", "h", "j"], "loser": ["c", "c", "e", "g", "i", "k"]}
    scores = {"a": 2, "b": 2, "c": 1, "d": 0, "e": 1, "f": 1, "g": 0, "h": 0, "i": 1, "j": 0, "k": 1}
    return judged, scores, np.array([2.0, 0.0, 1.0]), np.array([2.0, 1.0, 3.0])


def test_bootstrap_matches_the_enumeration_of_all_27_resamples():
    judged, scores, s, n = _three_items()
    # the 27 equally likely resamples (ordered draws of 3 items with replacement), each a ratio of sums
    exact = Counter()
    for draw in itertools.product(range(3), repeat=3):
        acc = sum(s[list(draw)]) / sum(n[list(draw)])
        exact[round(acc, 12)] += 1 / 27
    values = sorted(exact)
    cdf = np.cumsum([exact[v] for v in values])

    def exact_quantile(q):
        k = int(np.searchsorted(cdf, q))
        # the level is not on a jump of the CDF, so a large sample's quantile is this value exactly
        assert abs(cdf[k] - q) > 0.005 and (k == 0 or abs(cdf[k - 1] - q) > 0.005)
        return values[k]

    res = preference_agreement(scores, judged, n_boot=100_000, seed=7, confidence=0.9)
    assert res.accuracy == pytest.approx(3 / 6)
    assert res.ci[0] == pytest.approx(exact_quantile(0.05), abs=1e-12)
    assert res.ci[1] == pytest.approx(exact_quantile(0.95), abs=1e-12)

    # the resample multiplicities follow the multinomial law: each (c1, c2, c3) with 3!/(c1!c2!c3!)/27
    counts = cluster_counts(3, child_rng(7, "bootstrap"), 100_000)
    seen = Counter(map(tuple, counts.tolist()))
    for combo in itertools.product(range(4), repeat=3):
        if sum(combo) != 3:
            continue
        p = math.factorial(3) / math.prod(math.factorial(c) for c in combo) / 27
        sd = math.sqrt(p * (1 - p) / 100_000)
        assert abs(seen[combo] / 100_000 - p) < 5 * sd
    # and each resample's accuracy is the ratio of its sums
    enumerated = np.array([np.bincount(d, minlength=3) for d in itertools.product(range(3), repeat=3)])
    reps = ratio_replicates(enumerated, s, n)
    assert sorted(Counter(np.round(reps, 12)).items()) == sorted((v, round(p * 27)) for v, p in exact.items())


def test_bootstrap_is_seeded_and_needs_two_items():
    judged, scores, _, _ = _three_items()
    a = preference_agreement(scores, judged, n_boot=500, seed=1)
    assert a == preference_agreement(scores, judged, n_boot=500, seed=1)
    assert a.ci != preference_agreement(scores, judged, n_boot=500, seed=2).ci
    one = {k: v[:2] for k, v in judged.items()}
    with pytest.raises(InputValidationError, match="at least 2 items"):
        preference_agreement(scores, one, n_boot=500)
    assert preference_agreement(scores, one, n_boot=0).accuracy == 1.0


# -- paired difference --------------------------------------------------------------------------------------


def test_difference_sign_flip_exact_hand_count():
    # items 1-3: scorer right, baseline tied (item diff +0.5 each); item 4: scorer wrong, baseline tied (-0.5).
    # The 16 sign flips give |sum of +-0.5| / 4 >= 0.25 unless two signs are + and two - (6 of 16): p = 10/16.
    judged = {"item": [1, 2, 3, 4], "judge": ["j"] * 4, "winner": ["a", "c", "e", "g"], "loser": ["b", "d", "f", "h"]}
    good = {"a": 2, "b": 1, "c": 2, "d": 1, "e": 2, "f": 1, "g": 1, "h": 2}
    flat = dict.fromkeys(good, 0.0)
    res = preference_difference(good, flat, judged, n_boot=0)
    assert (res.accuracy_a, res.accuracy_b, res.difference) == (0.75, 0.5, 0.25)
    assert res.pvalue == 10 / 16 and res.details["permutation"] == "exact"
    same = preference_difference(good, good, judged, n_boot=1000)
    assert same.difference == 0 and same.ci == (0.0, 0.0) and same.pvalue == 1.0


def test_difference_monte_carlo_p_approaches_the_exact_one():
    rng = np.random.default_rng(5)
    g = 14  # 16384 sign flips: exact with n_perm >= 16384, Monte Carlo below
    judged = {"item": [], "judge": [], "winner": [], "loser": []}
    scores_a, scores_b = {}, {}
    for i in range(g):
        for j in range(3):
            w, lo = f"w{i}{j}", f"l{i}{j}"
            judged["item"].append(i)
            judged["judge"].append(f"judge{j}")
            judged["winner"].append(w)
            judged["loser"].append(lo)
            scores_a[w], scores_a[lo] = rng.normal(0.6, 1), rng.normal(0, 1)
            scores_b[w], scores_b[lo] = rng.normal(0.1, 1), rng.normal(0, 1)
    exact = preference_difference(scores_a, scores_b, judged, n_perm=2**14, n_boot=0)
    mc = preference_difference(scores_a, scores_b, judged, n_perm=10_000, n_boot=0)
    assert exact.details["permutation"] == "exact" and mc.details["permutation"] == "monte-carlo"
    assert 0.01 < exact.pvalue < 0.99
    assert abs(mc.pvalue - exact.pvalue) < 4 * math.sqrt(exact.pvalue * (1 - exact.pvalue) / 10_000) + 1e-4
    boot = preference_difference(scores_a, scores_b, judged, pvalue="bootstrap", n_boot=2000)
    a = preference_agreement(scores_a, judged, n_boot=2000)
    b = preference_agreement(scores_b, judged, n_boot=2000)
    assert boot.difference == pytest.approx(a.accuracy - b.accuracy)
    assert 0 <= boot.pvalue <= 1 and boot.ci[0] <= boot.difference <= boot.ci[1]


# -- the judges' ceiling --------------------------------------------------------------------------------


CEILING = {
    # item q: ann a>b>c, bob a>b>c, cy b>a>c; item r: ann x>y, bob x=y (tie), cy y>x; item s: ann alone u>v
    "item": ["q"] * 9 + ["r"] * 6 + ["s"] * 2,
    "judge": ["ann"] * 3 + ["bob"] * 3 + ["cy"] * 3 + ["ann", "ann", "bob", "bob", "cy", "cy", "ann", "ann"],
    "text_id": ["a", "b", "c"] * 3 + ["x", "y"] * 3 + ["u", "v"],
    "rank": [1, 2, 3, 1, 2, 3, 2, 1, 3, 1, 2, 1, 1, 2, 1, 1, 2],
}
# Hand count, each judge's pair against the net vote of the other two:
#   q (a,b): ann: bob a, cy b -> split (majority tie); bob: the same; cy: both others a -> 0
#   q (a,c), (b,c): everybody agrees -> 1 each (6 pairs)
#   r (x,y): ann: bob tie, cy y -> 0; bob: own tie; cy: ann x, bob tie -> 0
#   s (u,v): nobody else -> dropped
CEILING_HAND = {
    ("drop", "half"): (7 / 11, 11),    # 0.5 + 0.5 + 0 + 6 + 0 + 0
    ("drop", "drop"): (6 / 9, 9),
    ("drop", "loss"): (6 / 11, 11),
    ("half", "half"): (7.5 / 12, 12),  # bob's tie kept at 0.5
}


@pytest.mark.parametrize("policy", list(CEILING_HAND))
def test_ceiling_hand_count(policy):
    judgement_ties, majority_ties = policy
    res = preference_ceiling(CEILING, judgement_ties=judgement_ties, majority_ties=majority_ties, n_boot=0)
    expected, used = CEILING_HAND[policy]
    assert res.accuracy == pytest.approx(expected, abs=1e-15) and res.n_pairs == used
    c = res.counts
    assert c["judged"] == 13 and c["dropped_no_other_judge"] == 1 and c["majority_ties"] == 2
    assert c["judgement_ties"] == 1
    assert c["used"] == c["judged"] - c["dropped_no_other_judge"] - c["dropped_judgement_ties"] - c["dropped_majority_ties"]
    assert res.statistic == "judge_ceiling" and res.settings["reference"] == "majority-of-other-judges"


def test_ceiling_per_judge_and_ci():
    res = preference_ceiling(CEILING, n_boot=1000)
    # ann: .5 + 1 + 1 + 0 over 4; bob: .5 + 1 + 1 over 3 (own tie dropped); cy: 0 + 1 + 1 + 0 over 4
    assert res.per_judge == {"ann": 2.5 / 4, "bob": 2.5 / 3, "cy": 0.5}
    assert res.ci[0] <= res.accuracy <= res.ci[1]


# -- bad input ----------------------------------------------------------------------------------------------


def test_unknown_text_ids_are_an_error():
    with pytest.raises(InputValidationError, match=r"every judged text.*\['e'\]"):
        preference_agreement({k: v for k, v in SCORES.items() if k != "e"}, RANKINGS, n_boot=0)


def test_same_text_twice_one_text_and_self_pairs_are_errors():
    twice = {k: v + v[:1] for k, v in RANKINGS.items()}
    with pytest.raises(InputValidationError, match="ranking text 'a' of item 'q1' twice"):
        preference_agreement(SCORES, twice, n_boot=0)
    single = {"item": ["q", "q", "r"], "judge": ["j", "j", "j"], "text_id": ["a", "b", "c"], "rank": [1, 2, 1]}
    with pytest.raises(InputValidationError, match=r"at least 2 texts.*\['c'\] in item 'r'"):
        preference_agreement(SCORES, single, n_boot=0)
    self_pair = {"item": [1], "judge": ["j"], "winner": ["a"], "loser": ["a"]}
    with pytest.raises(InputValidationError, match="against itself"):
        preference_agreement(SCORES, self_pair, n_boot=0)
    dup = {k: v + v[:1] for k, v in PAIRS.items()}
    with pytest.raises(InputValidationError, match="judging .* twice"):
        preference_agreement(SCORES, dup, n_boot=0)


def test_all_ties_is_an_error_that_names_the_counts():
    ties = {"item": ["q"] * 3, "judge": ["j"] * 3, "text_id": ["a", "b", "c"], "rank": [1, 1, 1]}
    with pytest.raises(InputValidationError, match=r"got none \(judged=3, .*dropped_judgement_ties=3"):
        preference_agreement(SCORES, ties, n_boot=0)
    assert preference_agreement(SCORES, ties, judgement_ties="half", n_boot=0).accuracy == 0.5
    with pytest.raises(InputValidationError, match=r"got none \(judged=3, .*dropped_no_other_judge=3"):
        preference_ceiling(ties, n_boot=0)


def test_nan_scores_follow_nan_policy():
    nan_scores = {**SCORES, "e": float("nan")}
    with pytest.raises(InputValidationError, match="2 judged pair"):
        preference_agreement(nan_scores, RANKINGS, nan_policy="raise", n_boot=0)
    with pytest.warns(DegenerateInputWarning, match="NaN score"):
        res = preference_agreement(nan_scores, RANKINGS, n_boot=0)
    assert math.isnan(res.accuracy) and res.counts["judged"] == 8
    omit = preference_agreement(nan_scores, RANKINGS, nan_policy="omit", n_boot=0)
    assert omit.counts["dropped_nan"] == 2 and omit.n_pairs == 5  # both q2 pairs gone: 1+1+.5 + 1+.5 over 5
    assert omit.accuracy == pytest.approx(4 / 5)


def test_mismatched_lengths_and_wrong_columns():
    with pytest.raises(InputValidationError, match="equal length"):
        preference_agreement(SCORES, {**RANKINGS, "rank": RANKINGS["rank"][:-1]}, n_boot=0)
    with pytest.raises(InputValidationError, match="2 ids and 1 values|equal length"):
        preference_agreement((["a", "b"], [1.0]), RANKINGS, n_boot=0)
    with pytest.raises(InputValidationError, match="expected judgement columns"):
        preference_agreement(SCORES, {"item": [1], "judge": ["j"], "text": ["a"]}, n_boot=0)
    with pytest.raises(InputValidationError, match="DataFrame or a mapping"):
        preference_agreement(SCORES, [("q", "j", "a", 1)], n_boot=0)
    with pytest.raises(InputValidationError, match="rank.*finite number"):
        preference_agreement(SCORES, {**RANKINGS, "rank": [1, 2, None, 1, 2, 1, 1, 2, 2, 1]}, n_boot=0)
    with pytest.raises(InputValidationError, match="score_ties"):
        preference_agreement(SCORES, RANKINGS, score_ties="win", n_boot=0)
    with pytest.raises(InputValidationError, match="higher_is_better"):
        preference_agreement(SCORES, RANKINGS, higher_is_better="no", n_boot=0)
    with pytest.raises(InputValidationError, match="length_bins"):
        preference_agreement(SCORES, RANKINGS, lengths=SCORES, length_bins=(0.5, 0.1), n_boot=0)
    with pytest.raises(InputValidationError, match="length_tolerance` in"):
        preference_agreement(SCORES, RANKINGS, lengths=SCORES, length_tolerance="0.1", n_boot=0)
    with pytest.raises(InputValidationError, match="positive finite lengths"):
        preference_agreement(SCORES, RANKINGS, lengths={**SCORES, "d": 0.0}, n_boot=0)


# -- the result object -----------------------------------------------------------------------------------


def test_result_is_frozen_prints_and_round_trips():
    res = preference_agreement(SCORES, RANKINGS, lengths={"a": 10, "b": 11, "c": 30, "d": 5, "e": 5}, n_boot=200)
    assert isinstance(res, PreferenceResult)
    with pytest.raises(AttributeError):
        res.accuracy = 1.0  # type: ignore[misc]
    text = str(res)
    assert "pairwise_accuracy" in text and "7 of 8 judged" in text and "length-controlled pairs" in text
    d = json.loads(res.to_json())
    assert d["accuracy"] == pytest.approx(5 / 7) and d["counts"]["score_ties"] == 2
    assert d["signature"].startswith("stat:pairwise_accuracy|higher_is_better:True|judgement_ties:drop|score_ties:half")
    assert "n_boot:200|seed:12345" in res.signature and "length_tolerance:0.1" in res.signature
