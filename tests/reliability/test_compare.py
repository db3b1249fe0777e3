"""compare_models (the CQA analysis) and pair_validation (degraded pairs) against scipy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from cqmetric.errors import DegenerateInputWarning, InputValidationError
from cqmetric.reliability import compare_models, pair_validation


@pytest.fixture
def cqa():
    rng = np.random.default_rng(21)
    before = rng.normal(1.0, 0.3, 40)
    gain = np.where(np.arange(40) < 20, 0.15, 0.0)  # literary items improve, factual do not
    after = before + gain + rng.normal(0, 0.1, 40)
    groups = np.where(np.arange(40) < 20, "literary", "factual")
    return before, after, groups


def test_compare_models_values_match_scipy(cqa):
    before, after, groups = cqa
    res = compare_models(before, after, groups=groups, n_boot=300)
    d = after - before
    lit, fac = d[:20], d[20:]
    assert res.overall.mean == pytest.approx(d.mean(), abs=1e-12)
    assert res.overall.median == pytest.approx(np.median(d), abs=1e-12)
    assert res.overall.wilcoxon.pvalue == pytest.approx(
        stats.wilcoxon(d, alternative="greater").pvalue, abs=1e-12
    )  # scipy
    assert res.groups["literary"].wilcoxon.pvalue == pytest.approx(
        stats.wilcoxon(lit, alternative="greater").pvalue, abs=1e-12
    )
    assert res.groups["factual"].d_z.estimate == pytest.approx(fac.mean() / fac.std(ddof=1), abs=1e-12)
    assert res.groups["literary"].d_z.pvalue == pytest.approx(
        stats.ttest_1samp(lit, 0, alternative="greater").pvalue, abs=1e-12
    )
    c = res.contrast
    assert (c.first, c.second) == ("literary", "factual")
    assert c.estimate == pytest.approx(lit.mean() - fac.mean(), abs=1e-12)
    mw = stats.mannwhitneyu(lit, fac, alternative="two-sided")  # scipy
    assert c.mannwhitney_u == pytest.approx(mw.statistic) and c.pvalue == pytest.approx(mw.pvalue, abs=1e-12)
    assert c.ci[0] > 0  # the literary gain is selective
    assert res.groups["literary"].wilcoxon.pvalue < 0.001 and res.groups["factual"].wilcoxon.pvalue > 0.05


def test_compare_models_seeded_and_printable(cqa):
    before, after, groups = cqa
    a = compare_models(before, after, groups=groups, n_boot=200, seed=3)
    b = compare_models(before, after, groups=groups, n_boot=200, seed=3)
    c = compare_models(before, after, groups=groups, n_boot=200, seed=4)
    assert a.to_dict() == b.to_dict()
    assert a.overall.mean_ci != c.overall.mean_ci and a.contrast.ci != c.contrast.ci
    text = str(a)
    assert "literary" in text and "contrast mean d[literary] - mean d[factual]" in text
    d = json.loads(a.to_json())
    assert d["settings"]["seed"] == 3 and set(d["groups"]) == {"literary", "factual"}


def test_compare_models_explicit_contrast_and_errors(cqa):
    before, after, _ = cqa
    g3 = np.array(["a", "b", "c", "d"] * 10)
    res = compare_models(before, after, groups=g3, n_boot=0)
    assert res.contrast is None and len(res.groups) == 4
    res = compare_models(before, after, groups=g3, contrast=("c", "a"), contrast_alternative="greater", n_boot=0)
    assert res.contrast.first == "c" and res.contrast.alternative == "greater"
    with pytest.raises(InputValidationError, match=r"expected at least 2 distinct groups, got 1 \('x'\)"):
        compare_models(before, after, groups=["x"] * 40)
    with pytest.raises(InputValidationError, match="`contrast` to name two different groups"):
        compare_models(before, after, groups=g3, contrast=("a", "z"))
    with pytest.raises(InputValidationError, match=r"same length, got len\(scores_a\)=40, len\(scores_b\)=39"):
        compare_models(before, after[:-1])
    with pytest.raises(InputValidationError, match="got alternative='up'"):
        compare_models(before, after, alternative="up")
    bad = after.copy()
    bad[0] = np.nan
    with pytest.raises(InputValidationError, match="expected no NaN"):
        compare_models(before, bad, nan_policy="raise")
    assert compare_models(before, bad, nan_policy="omit", n_boot=0).overall.n == 39
    with pytest.warns(DegenerateInputWarning, match="NaN scores"):
        assert np.isnan(compare_models(before, bad, n_boot=0).overall.mean)


def test_pair_validation_matches_binomtest():
    orig = np.array([2.1, 1.8, 2.5, 2.0, 1.9, 2.2, 2.2, 1.7])
    degr = np.array([1.7, 1.9, 2.0, 1.6, 1.5, 2.2, 1.8, 1.1])
    res = pair_validation(orig, degr, n_boot=300)
    assert (res.wins, res.losses, res.ties) == (6, 1, 1)
    assert res.pvalue == pytest.approx(stats.binomtest(6, 7, 0.5, alternative="greater").pvalue, abs=1e-12)  # scipy
    ci = stats.binomtest(6, 7).proportion_ci(0.95, method="exact")
    assert res.win_rate == pytest.approx(6 / 7) and res.win_rate_ci == pytest.approx((ci.low, ci.high))
    assert res.mean_margin == pytest.approx(np.mean(orig - degr), abs=1e-12)
    assert res.mean_margin_ci[0] < res.mean_margin < res.mean_margin_ci[1]
    assert res.mean_margin_ci == pair_validation(orig, degr, n_boot=300).mean_margin_ci
    assert res.mean_margin_ci != pair_validation(orig, degr, n_boot=300, seed=9).mean_margin_ci
    assert "win rate" in str(res) and json.loads(res.to_json())["wins"] == 6


def test_pair_validation_twenty_of_twenty():
    # the theory paper's result: 20/20 wins -> exact one-sided p = 0.5 ** 20
    res = pair_validation(np.ones(20) + 0.37, np.ones(20), n_boot=0)
    assert res.wins == 20 and res.pvalue == pytest.approx(0.5**20, rel=1e-12)
    assert res.mean_margin == pytest.approx(0.37)


def test_pair_validation_lower_is_better_and_errors():
    ppl_orig, ppl_degr = [10.0, 12.0, 9.0], [14.0, 11.0, 15.0]
    res = pair_validation(ppl_orig, ppl_degr, higher_is_better=False, n_boot=0)
    assert (res.wins, res.losses) == (2, 1) and res.mean_margin == pytest.approx(3.0)
    with pytest.raises(InputValidationError, match=r"same length, got len\(original\)=3, len\(degraded\)=2"):
        pair_validation([1, 2, 3], [1, 2])
    with pytest.warns(DegenerateInputWarning, match="no non-tied pairs"):
        assert np.isnan(pair_validation([1, 2], [1, 2], n_boot=0).pvalue)
