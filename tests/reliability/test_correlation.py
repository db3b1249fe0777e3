"""correlation(): values against scipy / pingouin, resampling units, seeds, NaN policy and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from cqmetric.errors import DegenerateInputWarning, InputValidationError
from cqmetric.reliability import correlation
from cqmetric.reliability.kernels import corr_rows, resample_corr_rows, snap_ties

SCIPY = {"pearson": stats.pearsonr, "spearman": stats.spearmanr, "kendall": stats.kendalltau}


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    y = 0.5 * x + rng.normal(size=60)
    y[::7] = np.round(y[::7])  # a few ties
    return x, np.round(y, 1)


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_item_level_matches_scipy(xy, method, alternative):
    x, y = xy
    ref = SCIPY[method](x, y, alternative=alternative)  # independent source: scipy.stats
    res = correlation(x, y, method=method, n_boot=0, alternative=alternative)
    assert res.estimate == pytest.approx(ref.statistic, abs=1e-12)
    assert res.pvalue == pytest.approx(ref.pvalue, abs=1e-12)
    assert res.n == 60 and res.statistic.startswith(method)


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_group_level_is_mean_of_within_group_correlations(clustered_data, method):
    x, y, g, _ = clustered_data
    expected = np.mean([SCIPY[method](x[g == k], y[g == k]).statistic for k in range(12)])  # scipy per group
    res = correlation(x, y, method=method, level="group", groups=g, n_boot=0, pvalue="none")
    assert res.estimate == pytest.approx(expected, abs=1e-12)
    assert res.details["n_groups"] == 12 and res.pvalue is None
    np.testing.assert_allclose(
        res.details["group_values"], [SCIPY[method](x[g == k], y[g == k]).statistic for k in range(12)], atol=1e-12
    )


def test_group_level_analytic_p_is_t_test_over_groups(clustered_data):
    x, y, g, _ = clustered_data
    vals = [stats.kendalltau(x[g == k], y[g == k]).statistic for k in range(12)]
    ref = stats.ttest_1samp(vals, 0.0)  # scipy one-sample t-test over the 12 groups
    res = correlation(x, y, method="kendall", level="group", groups=g, n_boot=0, pvalue="analytic")
    assert res.pvalue == pytest.approx(ref.pvalue, abs=1e-12)
    assert res.details["df"] == 11


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_system_level_is_correlation_of_system_means(clustered_data, method):
    x, y, _, s = clustered_data
    mx = np.array([x[s == k].mean() for k in range(5)])
    my = np.array([y[s == k].mean() for k in range(5)])
    ref = SCIPY[method](mx, my)  # scipy on the 5 system means
    res = correlation(x, y, method=method, level="system", systems=s, n_boot=0)
    assert res.estimate == pytest.approx(ref.statistic, abs=1e-12)
    assert res.pvalue == pytest.approx(ref.pvalue, abs=1e-12)
    np.testing.assert_allclose(res.details["system_means_x"], mx, atol=1e-12)


def test_system_means_equal_in_exact_arithmetic_are_tied():
    # Mean ratings of 3 raters (k/3) averaged per system: systems 0 and 1 both have the exact mean 10/3,
    # but float summation gives 3.3333333333333335 vs 3.333333333333333. Kendall must see a tie.
    y = np.array([3, 15, 14, 8, 10, 5, 11, 14, 3, 3, 6, 6]) / 3
    s = np.repeat([0, 1, 2], 4)
    x = np.repeat([3.0, 2.0, 1.0], 4)
    raw = np.bincount(s, weights=y) / 4
    assert raw[0] != raw[1]  # the float artefact this guards against
    res = correlation(x, y, method="kendall", level="system", systems=s, n_boot=0)
    assert res.details["system_means_y"][0] == res.details["system_means_y"][1]
    assert res.estimate == pytest.approx(
        stats.kendalltau([3, 2, 1], [1, 1, 0]).statistic, abs=1e-12
    )  # scipy with the exact tie
    v = snap_ties(np.array([1.0, 1.0 + 4e-16, 2.0]))
    assert v[0] == v[1] and v[2] == 2.0


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
@pytest.mark.parametrize("rows", [corr_rows, resample_corr_rows], ids=["estimates", "resampling"])
def test_row_kernels_match_scipy(method, rows):
    # corr_rows calls scipy for Pearson/Spearman; resample_corr_rows (bootstrap and permutation loops) and the
    # Kendall tau-b of both are computed in cqmetric, so every row is checked against scipy.stats here
    rng = np.random.default_rng(3)
    X = rng.integers(0, 4, size=(30, 9)).astype(float)  # many ties
    Y = rng.integers(0, 4, size=(30, 9)).astype(float)
    X[0] = 1.0  # constant row -> NaN
    got = rows(X, Y, method)
    assert np.isnan(got[0])
    for i in range(1, 30):
        assert got[i] == pytest.approx(SCIPY[method](X[i], Y[i]).statistic, abs=1e-12)
    assert np.isnan(rows(X[:, :2], Y[:, :2], method)).all()  # fewer than 3 points: undefined


def test_resampling_kernel_keeps_precision_on_tiny_values():
    # CIDEr reaches 1e-318 (subnormal) on HANNA; scaling each row before centring keeps the exact answer:
    # x = (1, 2, 3) * 1e-318 against y = (1, 3, 2) has Pearson r = 0.5 exactly (closed form)
    x = np.array([[1.0, 2.0, 3.0]]) * 1e-318
    y = np.array([[1.0, 3.0, 2.0]])
    assert resample_corr_rows(x, y, "pearson")[0] == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_partial_correlation_matches_pingouin(xy, method):
    pd = pytest.importorskip("pandas")
    pg = pytest.importorskip("pingouin")
    x, y = xy
    rng = np.random.default_rng(9)
    z = x * 0.3 + rng.normal(size=x.size)
    ref = pg.partial_corr(pd.DataFrame({"x": x, "y": y, "z": z}), x="x", y="y", covar="z", method=method)  # pingouin
    res = correlation(x, y, method=method, covariates=z, n_boot=0)
    assert res.estimate == pytest.approx(float(ref["r"].iloc[0]), abs=1e-10)
    assert res.pvalue == pytest.approx(
        float(ref["p_val"].iloc[0] if "p_val" in ref else ref["p-val"].iloc[0]), abs=1e-10
    )
    assert res.statistic == f"partial_{'pearson_r' if method == 'pearson' else 'spearman_rho'}"
    assert res.settings["covariates"] == 1


def test_partial_kendall_residualises_ranks(xy):
    x, y = xy
    z = np.arange(x.size, dtype=float)
    rz = stats.rankdata(z)
    A = np.column_stack([np.ones_like(rz), rz])

    def resid(v):
        r = stats.rankdata(v)
        return r - A @ np.linalg.lstsq(A, r, rcond=None)[0]

    expected = stats.kendalltau(resid(x), resid(y)).statistic  # residualised ranks, by hand
    res = correlation(x, y, method="kendall", covariates=z, n_boot=0)
    assert res.estimate == pytest.approx(expected, abs=1e-12)


def test_bootstrap_same_seed_same_ci_other_seed_other_ci(clustered_data):
    x, y, g, _ = clustered_data
    a = correlation(x, y, method="kendall", groups=g, n_boot=300, seed=1)
    b = correlation(x, y, method="kendall", groups=g, n_boot=300, seed=1)
    c = correlation(x, y, method="kendall", groups=g, n_boot=300, seed=2)
    assert a.ci == b.ci and a.to_dict() == b.to_dict()
    assert a.ci != c.ci
    assert a.estimate == c.estimate
    assert a.ci[0] < a.estimate < a.ci[1]


def test_permutation_p_depends_on_seed_but_not_on_n_boot(clustered_data):
    x, y, g, _ = clustered_data
    r1 = correlation(x, y, level="group", groups=g, n_boot=0, n_perm=200, seed=5)
    r2 = correlation(x, y, level="group", groups=g, n_boot=200, n_perm=200, seed=5)
    assert r1.pvalue == r2.pvalue
    y0 = np.random.default_rng(1).permutation(y)
    q1 = correlation(x, y0, level="group", groups=g, n_boot=0, n_perm=200, seed=5)
    q2 = correlation(x, y0, level="group", groups=g, n_boot=0, n_perm=200, seed=6)
    assert q1.pvalue != q2.pvalue


def test_cluster_bootstrap_resamples_groups_not_items(clustered_data):
    # With a strong shared group effect, resampling items ignores the clustering and understates the
    # uncertainty: the group (cluster) bootstrap interval must be wider.
    x, y, g, _ = clustered_data
    items = correlation(x, y, method="pearson", n_boot=1000)
    groups = correlation(x, y, method="pearson", groups=g, n_boot=1000)
    assert items.settings["resample"] == "items" and groups.settings["resample"] == "groups"
    assert items.estimate == groups.estimate
    assert (groups.ci[1] - groups.ci[0]) > (items.ci[1] - items.ci[0])


def test_group_level_ci_matches_the_exact_bootstrap_distribution(clustered_data):
    # At group level the bootstrap draws the 12 groups with replacement and averages their correlations, so the
    # ideal bootstrap distribution (infinitely many resamples) is that of the mean of 12 draws from the 12
    # per-group values. Spearman's rho of 5 untied points is a multiple of 0.1, so that distribution is exact:
    # the 12-fold convolution of the uniform distribution on the values (no random numbers involved).
    x, y, g, _ = clustered_data
    n_boot = 20_000
    res = correlation(x, y, method="spearman", level="group", groups=g, n_boot=n_boot, seed=3, pvalue="none")
    vals = np.array([stats.spearmanr(x[g == k], y[g == k]).statistic for k in range(12)])  # scipy, per group
    tenths = np.rint(vals * 10).astype(int)
    assert np.allclose(tenths / 10, vals, atol=1e-12)
    one_draw = np.bincount(tenths - tenths.min()) / 12
    pmf = np.array([1.0])
    for _ in range(12):
        pmf = np.convolve(pmf, one_draw)
    means = (np.arange(pmf.size) + 12 * tenths.min()) / 120  # the mean of 12 draws, for each point of pmf

    def below(v):  # P(mean < v) under the exact bootstrap distribution
        return pmf[means < v - 1e-9].sum()

    def at_most(v):  # P(mean <= v)
        return pmf[means <= v + 1e-9].sum()

    # A percentile endpoint at level q lies between two order statistics of the n_boot draws, whose exact CDF
    # values are Beta-distributed around q with sd sqrt(q (1 - q) / n_boot); 5 sd fail once in a million seeds.
    for q, end in zip((0.025, 0.975), res.ci):
        tol = 5 * np.sqrt(q * (1 - q) / n_boot) + 1 / n_boot
        assert below(end) <= q + tol and at_most(end) >= q - tol, (q, end, below(end), at_most(end))
    assert res.ci[0] < res.estimate < res.ci[1]
    assert res.estimate == pytest.approx(vals.mean(), abs=1e-12)


@pytest.mark.parametrize("resample", ["items", "groups", "systems", "both"])
def test_system_level_resampling_units(clustered_data, resample):
    x, y, g, s = clustered_data
    res = correlation(x, y, method="pearson", level="system", systems=s, groups=g, resample=resample, n_boot=300)
    assert res.settings["resample"] == resample
    assert res.ci[0] <= res.ci[1] and -1 <= res.ci[0] and res.ci[1] <= 1


def test_nan_policies(xy):
    x, y = xy
    x = x.copy()
    x[3] = np.nan
    with pytest.warns(DegenerateInputWarning, match="NaN"):
        prop = correlation(x, y, n_boot=0)
    assert np.isnan(prop.estimate)
    omit = correlation(x, y, n_boot=0, nan_policy="omit")
    keep = ~np.isnan(x)
    assert omit.estimate == pytest.approx(stats.spearmanr(x[keep], y[keep]).statistic, abs=1e-12)
    assert omit.n == 59
    with pytest.raises(
        InputValidationError,
        match=r"expected `x` without NaN \(nan_policy='raise'\), got 1 NaN item\(s\) at positions \[3\]",
    ):
        correlation(x, y, n_boot=0, nan_policy="raise")


def test_constant_input_warns_or_raises():
    with pytest.warns(DegenerateInputWarning, match="undefined"):
        res = correlation([1, 1, 1, 1], [1, 2, 3, 4], n_boot=0)
    assert np.isnan(res.estimate) and np.isnan(res.pvalue)
    with pytest.raises(InputValidationError, match="undefined"):
        correlation([1, 1, 1, 1], [1, 2, 3, 4], n_boot=0, nan_policy="raise")
    with pytest.warns(DegenerateInputWarning):
        assert np.isnan(correlation([1, 2], [2, 1], n_boot=0).estimate)  # n < 3


def test_undefined_groups_propagate_or_are_omitted():
    x = [1, 2, 3, 1, 2, 3, 4, 5, 6]
    y = [1, 1, 1, 3, 1, 2, 1, 3, 2]  # group 0 has constant y
    g = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    with pytest.warns(DegenerateInputWarning, match="1 of 3 groups"):
        prop = correlation(x, y, level="group", groups=g, n_boot=0, pvalue="none")
    assert np.isnan(prop.estimate)
    with pytest.warns(DegenerateInputWarning, match="left out of the average"):
        omit = correlation(x, y, level="group", groups=g, n_boot=0, pvalue="none", nan_policy="omit")
    assert omit.estimate == pytest.approx(
        (stats.spearmanr([1, 2, 3], [3, 1, 2]).statistic + stats.spearmanr([4, 5, 6], [1, 3, 2]).statistic) / 2
    )


def test_bad_input_errors(clustered_data):
    x, y, _, s = clustered_data
    with pytest.raises(
        InputValidationError,
        match=r"correlation: expected `x` and `y` of the same length, got len\(x\)=5, len\(y\)=4\.",
    ):
        correlation([1, 2, 3, 4, 5], [1, 2, 3, 4])
    with pytest.raises(InputValidationError, match=r"got method='tau'; allowed: 'spearman', 'kendall', 'pearson'"):
        correlation(x, y, method="tau")
    with pytest.raises(InputValidationError, match=r"got level='story'; allowed"):
        correlation(x, y, level="story")
    with pytest.raises(InputValidationError, match="level='group' needs `groups=`"):
        correlation(x, y, level="group")
    with pytest.raises(InputValidationError, match="level='system' needs `systems=`"):
        correlation(x, y, level="system")
    with pytest.raises(InputValidationError, match=r"expected at least 2 distinct groups .* got 1"):
        correlation(x, y, level="group", groups=np.zeros(x.size))
    with pytest.raises(
        InputValidationError, match=r"expected `groups` to have one label per item, got len\(groups\)=3 for 60 items"
    ):
        correlation(x, y, groups=[1, 2, 3])
    with pytest.raises(InputValidationError, match="resample='systems' for level='item'"):
        correlation(x, y, resample="systems")
    with pytest.raises(InputValidationError, match="resample='both' needs `groups=`"):
        correlation(x, y, level="system", systems=s, resample="both")
    with pytest.raises(InputValidationError, match="`seed` to be a non-negative integer"):
        correlation(x, y, seed=None)
    with pytest.raises(InputValidationError, match=r"`n_boot` to be 0 .* or at least 100, got 10"):
        correlation(x, y, n_boot=10)
    with pytest.raises(InputValidationError, match=r"`confidence` in \(0, 1\)"):
        correlation(x, y, confidence=95)
    with pytest.raises(
        InputValidationError, match="expected `covariates` with one row per item, got 3 rows for 60 items"
    ):
        correlation(x, y, covariates=[1, 2, 3])
    with pytest.raises(InputValidationError, match="pvalue='permutation' with `covariates`"):
        correlation(x, y, covariates=x**2, pvalue="permutation")
    with pytest.raises(InputValidationError, match="expected `groups` without missing labels"):
        correlation([1, 2, 3], [1, 2, 3], groups=["a", None, "b"])


def test_result_is_frozen_printable_and_json_safe(clustered_data):
    x, y, g, _ = clustered_data
    res = correlation(x, y, method="kendall", level="group", groups=g, n_boot=200, n_perm=200)
    with pytest.raises(AttributeError):
        res.estimate = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        res.settings["seed"] = 1  # type: ignore[index]
    text = str(res)
    assert "kendall_tau_b (kendall)" in text and "95% CI" in text and "n_groups" in text
    d = json.loads(res.to_json())
    assert d["estimate"] == pytest.approx(res.estimate) and d["settings"]["seed"] == 12345
    assert d["settings"]["level"] == "group" and d["settings"]["resample"] == "groups"
    assert len(d["details"]["group_values"]) == 12
    assert res.signature.startswith(
        "stat:kendall_tau_b|method:kendall|level:group|resample:groups|n_boot:200|seed:12345"
    )
    with pytest.warns(DegenerateInputWarning):
        nan_res = correlation([1, 1, 1], [1, 2, 3], n_boot=0)
    assert json.loads(nan_res.to_json())["estimate"] is None  # NaN -> null
