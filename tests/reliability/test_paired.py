"""williams_test resampling variants, wilcoxon_test, sign_test, cohens_dz against scipy and by-hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from cqmetric.errors import DegenerateInputWarning, InputValidationError
from cqmetric.reliability import (
    cohens_dz,
    sign_test,
    wilcoxon_test,
    williams_t,
    williams_test,
)


@pytest.fixture
def hab():
    rng = np.random.default_rng(12)
    h = rng.normal(size=50)
    a = h + rng.normal(0, 0.5, 50)
    b = h + rng.normal(0, 1.5, 50)
    return h, a, b


def test_williams_closed_form_by_hand(hab):
    h, a, b = hab
    r12, r13, r23 = np.corrcoef(h, a)[0, 1], np.corrcoef(h, b)[0, 1], np.corrcoef(a, b)[0, 1]
    n = 50
    det = 1 - r12**2 - r13**2 - r23**2 + 2 * r12 * r13 * r23
    t = (r12 - r13) * math.sqrt(
        (n - 1) * (1 + r23) / (2 * (n - 1) / (n - 3) * det + ((r12 + r13) / 2) ** 2 * (1 - r23) ** 3)
    )
    res = williams_test(h, a, b, n_boot=0)  # Steiger (1980) eq. 7, written out above
    assert res.details["t"] == pytest.approx(t, abs=1e-12)
    assert res.pvalue == pytest.approx(2 * stats.t.sf(abs(t), n - 3), abs=1e-12)
    assert res.estimate == pytest.approx(r12 - r13, abs=1e-12)


@pytest.mark.parametrize("test", ["permutation", "bootstrap"])
def test_williams_resampling_alternatives_seeded(hab, test):
    h, a, b = hab
    r1 = williams_test(h, a, b, test=test, n_boot=300, n_perm=300, seed=1)
    r2 = williams_test(h, a, b, test=test, n_boot=300, n_perm=300, seed=1)
    r3 = williams_test(h, a, b, test=test, n_boot=300, n_perm=300, seed=2)
    assert r1.pvalue == r2.pvalue and r1.ci == r2.ci
    assert r1.ci != r3.ci
    assert r1.pvalue < 0.05  # a correlates clearly better (noise sd 0.5 vs 1.5)
    assert r1.ci[0] > 0
    # swapping the metrics mirrors the difference
    assert williams_test(h, b, a, test=test, n_boot=300, n_perm=300, seed=1).estimate == pytest.approx(
        -r1.estimate, abs=1e-12
    )


def test_williams_permutation_null_when_metrics_are_exchangeable():
    rng = np.random.default_rng(3)
    h = rng.normal(size=40)
    a = h + rng.normal(size=40)
    b = h + rng.normal(size=40)
    res = williams_test(h, a, b, method="kendall", test="permutation", n_boot=0, n_perm=500)
    assert res.pvalue > 0.05


def test_williams_group_and_system_levels(clustered_data):
    x, y, g, s = clustered_data
    noisy = y + np.random.default_rng(0).normal(0, 2, y.size)
    res = williams_test(
        x, y, noisy, method="kendall", level="group", groups=g, test="permutation", n_boot=200, n_perm=200
    )
    assert res.details["n_groups"] == 12 and res.settings["level"] == "group"
    with pytest.raises(InputValidationError, match="test='williams' has no closed form at level='group'"):
        williams_test(x, y, noisy, level="group", groups=g)
    sysres = williams_test(x, y, noisy, level="system", systems=s, n_boot=0)
    assert sysres.details["df"] == 2  # n = 5 systems


def test_williams_errors(hab):
    h, a, b = hab
    with pytest.raises(
        InputValidationError, match=r"same length, got len\(human\)=50, len\(scores_a\)=50, len\(scores_b\)=3"
    ):
        williams_test(h, a, b[:3])
    with pytest.raises(InputValidationError, match="got test='steiger'"):
        williams_test(h, a, b, test="steiger")
    with pytest.raises(InputValidationError, match=r"`r12` to be a correlation in \[-1, 1\], got 1.5"):
        williams_t(30, 1.5, 0.2, 0.1)
    with pytest.raises(InputValidationError, match="`n` to be an integer >= 4, got 3"):
        williams_t(3, 0.5, 0.2, 0.1)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_wilcoxon_matches_scipy(alternative):
    rng = np.random.default_rng(2)
    x = rng.normal(0.3, 1, 25)
    y = rng.normal(0, 1, 25)
    ref = stats.wilcoxon(x, y, alternative=alternative)  # scipy
    res = wilcoxon_test(x, y, alternative=alternative, n_boot=0)
    assert res.pvalue == pytest.approx(ref.pvalue, abs=1e-12)
    d = x - y
    walsh = [(d[i] + d[j]) / 2 for i in range(25) for j in range(i, 25)]
    assert res.estimate == pytest.approx(np.median(walsh), abs=1e-12)  # Hodges-Lehmann by hand
    ranks = stats.rankdata(np.abs(d))
    assert res.details["W"] == pytest.approx(ranks[d > 0].sum())


def test_wilcoxon_boot_ci_seeded():
    d = np.random.default_rng(6).normal(0.5, 1, 30)
    a = wilcoxon_test(d, n_boot=300, seed=1)
    assert a.ci == wilcoxon_test(d, n_boot=300, seed=1).ci
    assert a.ci != wilcoxon_test(d, n_boot=300, seed=2).ci
    assert a.ci[0] < a.estimate < a.ci[1]


def test_sign_test_matches_binomtest():
    x = [3, 5, 2, 8, 7, 4, 6, 9, 5, 5]
    y = [2, 4, 3, 6, 5, 4, 4, 7, 6, 5]
    res = sign_test(x, y, alternative="greater")
    ref = stats.binomtest(6, 8, 0.5, alternative="greater")  # 6 positives, 2 negatives, 2 zeros dropped
    assert res.pvalue == pytest.approx(ref.pvalue, abs=1e-12)
    assert res.estimate == pytest.approx(0.75)
    ci = stats.binomtest(6, 8).proportion_ci(0.95, method="exact")
    assert res.ci == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert res.details == {"n_positive": 6, "n_negative": 2, "n_zero": 2}


def test_cohens_dz_nct_interval_is_exact_inversion():
    d = np.array([0.3, 0.5, -0.1, 0.8, 0.4, 0.2, 0.6, 0.1, 0.05, 0.9])
    res = cohens_dz(d)
    n = d.size
    t = d.mean() / d.std(ddof=1) * math.sqrt(n)
    assert res.estimate == pytest.approx(d.mean() / d.std(ddof=1), abs=1e-12)
    assert res.pvalue == pytest.approx(stats.ttest_1samp(d, 0).pvalue, abs=1e-12)
    lo, hi = res.ci
    # the bounds are the noncentrality parameters (/sqrt n) that put t_obs at the 97.5% / 2.5% quantile (scipy nct)
    assert stats.nct.sf(t, n - 1, lo * math.sqrt(n)) == pytest.approx(0.025, abs=1e-9)
    assert stats.nct.sf(t, n - 1, hi * math.sqrt(n)) == pytest.approx(0.975, abs=1e-9)
    boot = cohens_dz(d, ci_method="bootstrap", n_boot=500)
    assert boot.settings["ci"] == "bootstrap" and boot.ci != res.ci and boot.ci[0] < res.estimate < boot.ci[1]


def test_paired_errors_and_degenerate():
    with pytest.raises(
        InputValidationError,
        match=r"wilcoxon_test: expected `x` and `y` of the same length, got len\(x\)=3, len\(y\)=2",
    ):
        wilcoxon_test([1, 2, 3], [1, 2])
    with pytest.raises(InputValidationError, match="got alternative='bigger'"):
        sign_test([1, 2, 3], alternative="bigger")
    with pytest.raises(InputValidationError, match="expected no NaN"):
        cohens_dz([1, np.nan, 3, 4], nan_policy="raise")
    assert cohens_dz([1, np.nan, 3, 4, 2], nan_policy="omit").n == 4
    with pytest.warns(DegenerateInputWarning, match="not all equal"):
        assert np.isnan(cohens_dz([1, 1, 1, 1]).estimate)
    with pytest.warns(DegenerateInputWarning, match="all differences are zero"):
        assert np.isnan(sign_test([1, 2], [1, 2]).estimate)
    with pytest.warns(DegenerateInputWarning, match="non-zero differences"):
        assert np.isnan(wilcoxon_test([0.0, 0.0, 0.0], n_boot=0).pvalue)
