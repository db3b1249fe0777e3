"""Fitting a composite's weights on a tiny synthetic data set with a known answer."""

import numpy as np
import pytest
from scipy import optimize

from cqmetric.errors import InputValidationError
from cqmetric.research.fitting import fit_weights


def synthetic(seed=0, n_groups=30, per_group=10):
    """Ratings = 2a - b + noise within each group, plus a group offset that a within-group fit must ignore."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), per_group)
    offset = rng.normal(scale=5.0, size=n_groups)[groups]
    a = rng.normal(size=groups.size) + offset  # members carry the group offset too
    b = rng.normal(size=groups.size) - offset
    c = rng.normal(size=groups.size)  # unrelated
    ratings = 2 * (a - offset) - (b + offset) + 10 * offset + rng.normal(scale=0.3, size=groups.size)
    return {"a": a, "b": b, "c": c}, ratings, groups


def test_recovers_the_direction_within_groups():
    members, ratings, groups = synthetic()
    fit = fit_weights(members, ratings, groups=groups, alpha=0.0)
    w = np.array([fit.weights[k] for k in "abc"])
    # On the standardised scale the true weights are (2 sd(a), -sd(b), 0), normalised: computed here, not by the fit.
    truth = np.array([2 * np.std(members["a"], ddof=1), -np.std(members["b"], ddof=1), 0.0])
    truth /= np.linalg.norm(truth)
    assert float(w @ truth) > 0.99 and abs(fit.weights["c"]) < 0.05
    assert fit.n == 300 and fit.n_groups == 30
    assert fit.norms["a"] == pytest.approx((np.mean(members["a"]), np.std(members["a"], ddof=1)))


def test_equals_a_numerical_minimum_of_the_ridge_objective():
    members, ratings, groups = synthetic(seed=1)
    alpha = 5.0
    fit = fit_weights(members, ratings, groups=groups, alpha=alpha)
    # Independent: standardise, centre within groups, and minimise |t - Zw|^2 + alpha |w|^2 numerically.
    X = np.column_stack([members[k] for k in "abc"])
    Z = (X - X.mean(0)) / X.std(0, ddof=1)
    t = ratings.copy()
    for g in np.unique(groups):
        Z[groups == g] -= Z[groups == g].mean(0)
        t[groups == g] -= t[groups == g].mean()
    res = optimize.minimize(lambda w: np.sum((t - Z @ w) ** 2) + alpha * w @ w, np.zeros(3), method="BFGS",
                            options={"gtol": 1e-10})
    expected = res.x / np.linalg.norm(res.x)
    np.testing.assert_allclose([fit.weights[k] for k in "abc"], expected, atol=1e-5)


def test_group_offsets_do_not_change_the_weights():
    members, ratings, groups = synthetic(seed=2)
    shifted = ratings + np.random.default_rng(9).normal(scale=50, size=30)[groups]
    a = fit_weights(members, ratings, groups=groups)
    b = fit_weights(members, shifted, groups=groups)
    assert a.weights == pytest.approx(b.weights, abs=1e-9)


def test_bad_input_is_refused():
    members, ratings, groups = synthetic(seed=3)
    with pytest.raises(InputValidationError, match=r"member\(s\) \['k'\] are constant"):
        fit_weights({**members, "k": np.ones(300)}, ratings, groups=groups)
    with pytest.raises(InputValidationError, match=r"one value per rating \(300\) for every member, got 299"):
        fit_weights({"a": members["a"][:-1]}, ratings, groups=groups)
    with pytest.raises(InputValidationError, match=r"`alpha` >= 0"):
        fit_weights(members, ratings, groups=groups, alpha=-1)
