"""The arithmetic, checked against formulas written out independently in each test."""

import itertools
import math

import numpy as np
import pytest

from cqmetric.errors import InputValidationError
from cqmetric.information import (
    analyze_dimensions,
    chain_rule_profile,
    context_calibration_bits,
    pointwise_information,
    reduce_bits,
    shapley_values,
    surprisal_bits,
)


def test_bits_are_natural_log_over_ln2():
    p = np.array([0.5, 0.125, 1.0])
    # -log2(p) written directly: 1, 3, 0 bits.
    np.testing.assert_allclose(surprisal_bits(np.log(p)), [1.0, 3.0, 0.0], atol=1e-12)


@pytest.mark.parametrize(
    ("normalization", "expected"),
    [("token", 6.0 / 3), ("sum", 6.0), ("byte", 6.0 / 12), ("word", 6.0 / 2)],  # total 6 bits, by hand
)
def test_reduce_bits_normalizations(normalization, expected):
    assert reduce_bits(np.array([1.0, 2.0, 3.0]), normalization=normalization, n_bytes=12, n_words=2) == expected


def test_reduce_bits_rejects_unknown_normalization():
    with pytest.raises(InputValidationError, match=r"normalization='mean'; allowed: 'token', 'sum', 'byte', 'word'"):
        reduce_bits(np.ones(2), normalization="mean")


def test_pointwise_information_needs_aligned_tokens():
    with pytest.raises(InputValidationError, match=r"aligned arrays, got shapes \(2,\) and \(3,\)"):
        pointwise_information(np.ones(2), np.ones(3))


def _shapley_by_permutations(groups, value):
    """Shapley values as the mean marginal contribution over all orderings (the definition)."""
    phi = dict.fromkeys(groups, 0.0)
    orders = list(itertools.permutations(groups))
    for order in orders:
        seen = frozenset()
        for g in order:
            phi[g] += value(seen | {g}) - value(seen)
            seen = seen | {g}
    return {g: v / len(orders) for g, v in phi.items()}


def test_shapley_matches_permutation_definition_and_sums_to_joint():
    rng = np.random.default_rng(0)
    groups = ["intent", "audience", "reality"]
    table = {frozenset(s): float(rng.normal()) for r in range(1, 4) for s in itertools.combinations(groups, r)}
    table[frozenset()] = 0.0
    phi = shapley_values(groups, table.__getitem__)
    reference = _shapley_by_permutations(groups, table.__getitem__)
    for g in groups:
        assert phi[g] == pytest.approx(reference[g], abs=1e-12)
    assert sum(phi.values()) == pytest.approx(table[frozenset(groups)], abs=1e-12)


def test_dimension_analysis_interaction_is_joint_minus_singles():
    info = {frozenset("a"): 0.2, frozenset("b"): 0.1, frozenset("ab"): 0.5}
    d = analyze_dimensions(["a", "b"], info)
    assert d.interaction == pytest.approx(0.5 - 0.2 - 0.1)
    # Two players: phi_a = (v(a) + v(ab) - v(b)) / 2, by hand.
    assert d.shapley["a"] == pytest.approx((0.2 + 0.5 - 0.1) / 2)


def test_chain_rule_profile_sums_to_total_and_ranks_concentration():
    bits = np.array([0.5, 0.5, 3.0, 0.0, 1.0, -1.0])
    index = np.array([0, 0, 1, 2, 3, 4])
    p = chain_rule_profile(bits, index, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)])
    assert p.information.sum() == pytest.approx(bits.sum())  # the chain rule: units add up to the text
    np.testing.assert_allclose(p.information, [1.0, 3.0, 0.0, 1.0, -1.0])
    assert p.top20_share == pytest.approx(3.0 / 4.0)  # top 1 of 5 units carries 3 of 4 bits
    assert p.n_tokens.tolist() == [2, 1, 1, 1, 1]


def test_chain_rule_profile_zero_total_gives_nan_shares():
    p = chain_rule_profile(np.array([1.0, -1.0]), np.array([0, 1]), [(0, 1), (1, 2)])
    assert all(math.isnan(x) for x in p.shares) and math.isnan(p.top20_share)


def test_context_calibration_alone_minus_in_place():
    in_place = np.array([2.0, 1.0, 1.0, 0.5])
    index = np.array([0, 1, 1, 2])
    alone = [np.array([2.0]), np.array([4.0, 2.0]), np.array([1.5])]
    # unit 1: 6 - 2 = 4 bits; unit 2: 1.5 - 0.5 = 1 bit; unit 0 has no past.
    assert context_calibration_bits(alone, in_place, index).tolist() == [0.0, 4.0, 1.0]
