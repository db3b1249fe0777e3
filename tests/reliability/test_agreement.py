"""icc, krippendorff_alpha, cohens_kappa, fleiss_kappa, center_ratings: behaviour, bootstrap, errors."""

from __future__ import annotations

import json

import krippendorff
import numpy as np
import pytest

from cqmetric.errors import DegenerateInputWarning, InputValidationError
from cqmetric.reliability import (
    center_ratings,
    cohens_kappa,
    fleiss_kappa,
    icc,
    krippendorff_alpha,
)
from cqmetric.reliability.agreement import (
    interval_alpha_from_stats,
    interval_alpha_unit_stats,
)


@pytest.fixture
def lenient():
    """Seeded 30 targets x 4 raters with strong rater offsets (leniency)."""
    rng = np.random.default_rng(42)
    true = rng.normal(3, 1, 30)
    return np.round(true[:, None] + np.array([0.0, 1.0, -0.8, 0.4]) + rng.normal(0, 0.5, (30, 4)), 1)


def test_icc_long_and_wide_agree(lenient):
    pd = pytest.importorskip("pandas")
    n, k = lenient.shape
    long = pd.DataFrame({"t": np.repeat(np.arange(n), k), "r": np.tile(list("abcd"), n), "v": lenient.ravel()})
    a = icc(lenient)
    b = icc(long.sample(frac=1.0, random_state=0), targets="t", raters="r", values="v")  # row order must not matter
    for f in ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"):
        assert b[f].estimate == pytest.approx(a[f].estimate, abs=1e-12)
    assert a["ICC(A,1)"] is a["ICC2"]


def test_icc_matches_pingouin_directly(lenient, monkeypatch):
    pd = pytest.importorskip("pandas")
    pg = pytest.importorskip("pingouin")
    monkeypatch.setitem(pg.options, "round.column.CI95", None)  # pingouin rounds its 95% CI to 2 decimals by default
    n, k = lenient.shape
    long = pd.DataFrame({"t": np.repeat(np.arange(n), k), "r": np.tile(np.arange(k), n), "v": lenient.ravel()})
    ref = pg.intraclass_corr(long, targets="t", raters="r", ratings="v").set_index("Type")
    res = icc(lenient)  # confidence=0.95, the only level pingouin offers; other levels: the R reference tests
    for form in ("ICC(1,1)", "ICC(A,1)", "ICC(C,1)", "ICC(1,k)", "ICC(A,k)", "ICC(C,k)"):
        assert res[form].estimate == pytest.approx(float(ref.loc[form, "ICC"]), abs=1e-12)
        assert res[form].pvalue == pytest.approx(float(ref.loc[form, "pval"]), abs=1e-12)
        assert res[form].ci == pytest.approx(tuple(ref.loc[form, "CI95"]), abs=1e-12)


def test_center_raters_turns_absolute_agreement_into_consistency(lenient):
    raw = icc(lenient)
    centred = icc(lenient, center_raters=True)
    assert raw["ICC3"].estimate - raw["ICC2"].estimate > 0.2  # leniency lowers absolute agreement
    assert centred["ICC2"].estimate == pytest.approx(raw["ICC3"].estimate, abs=0.02)
    assert centred["ICC3"].estimate == pytest.approx(raw["ICC3"].estimate, abs=1e-12)  # consistency is unchanged
    assert centred.settings["center_raters"] is True
    c = center_ratings(lenient)
    np.testing.assert_allclose(c.mean(axis=0), lenient.mean(), atol=1e-12)  # every rater on the grand mean


def test_center_ratings_by_person_ids():
    r = np.array([[1.0, 5.0], [2.0, 4.0], [3.0, 3.0]])
    ids = np.array([["ann", "bob"], ["bob", "ann"], ["ann", "bob"]])
    # ann gave 1, 4, 3 (mean 8/3); bob gave 5, 2, 3 (mean 10/3); grand mean 3
    expected = np.array(
        [[1 - 8 / 3 + 3, 5 - 10 / 3 + 3], [2 - 10 / 3 + 3, 4 - 8 / 3 + 3], [3 - 8 / 3 + 3, 3 - 10 / 3 + 3]]
    )
    np.testing.assert_allclose(center_ratings(r, rater_ids=ids), expected, atol=1e-12)
    with pytest.raises(InputValidationError, match=r"`rater_ids` of the same shape as `ratings` \(3, 2\), got \(2,\)"):
        center_ratings(r, rater_ids=["a", "b"])


def test_icc_nan_policies_and_errors(lenient):
    m = lenient.copy()
    m[2, 1] = np.nan
    with pytest.warns(DegenerateInputWarning, match="missing ratings"):
        assert np.isnan(icc(m)["ICC2"].estimate)
    omit = icc(m, nan_policy="omit")
    assert omit["ICC2"].estimate == pytest.approx(icc(np.delete(lenient, 2, axis=0))["ICC2"].estimate, abs=1e-12)
    assert omit.n_targets == 29
    with pytest.raises(InputValidationError, match="expected a complete ratings matrix"):
        icc(m, nan_policy="raise")
    with pytest.raises(InputValidationError, match=r"at least 2 raters \(columns\), got shape \(30, 1\)"):
        icc(lenient[:, :1])
    with pytest.raises(InputValidationError, match="expected `ratings` to have 2 dimension"):
        icc([1, 2, 3])
    with pytest.raises(InputValidationError, match="long data needs all of targets=, raters= and values="):
        icc({"t": [1]}, targets="t")
    with pytest.warns(DegenerateInputWarning, match="constant ratings"):
        assert np.isnan(icc(np.full((5, 3), 2.0))["ICC1"].estimate)
    with pytest.raises(InputValidationError, match="undefined"):
        icc(np.full((5, 3), 2.0), nan_policy="raise")


def test_icc_table_and_json(lenient):
    res = icc(lenient, confidence=0.9)
    text = str(res)
    assert "90% CI" in text and "ICC(A,1)" in text and "two-way" not in text.splitlines()[0]
    d = json.loads(res.to_json())
    assert [f["method"] for f in d["forms"]] == ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"]
    assert d["forms"][1]["details"]["mcgraw_wong"] == "ICC(A,1)"
    with pytest.raises(KeyError, match="no form 'ICC4'"):
        res["ICC4"]


def test_interval_alpha_fast_bootstrap_kernel_matches_package():
    rng = np.random.default_rng(1)
    m = rng.integers(1, 6, size=(40, 3)).astype(float) + rng.normal(0, 0.3, (40, 3))
    m[rng.random(m.shape) < 0.2] = np.nan
    st = interval_alpha_unit_stats(m)
    pair = (~np.isnan(m)).sum(axis=1) >= 2
    for _ in range(5):
        idx = rng.integers(0, pair.sum(), pair.sum())
        ref = krippendorff.alpha(reliability_data=m[pair][idx].T, level_of_measurement="interval")  # the package
        assert interval_alpha_from_stats(st[idx].sum(axis=0)) == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_bootstrap_seeded(level):
    rng = np.random.default_rng(8)
    base = rng.integers(1, 6, 50)
    m = np.clip(base[:, None] + rng.integers(-1, 2, (50, 3)), 1, 5).astype(float)
    a = krippendorff_alpha(m, level=level, n_boot=200, seed=1)
    b = krippendorff_alpha(m, level=level, n_boot=200, seed=1)
    c = krippendorff_alpha(m, level=level, n_boot=200, seed=2)
    assert a.ci == b.ci and a.ci != c.ci
    assert a.ci[0] < a.estimate < a.ci[1]
    assert a.estimate == pytest.approx(krippendorff.alpha(reliability_data=m.T, level_of_measurement=level), abs=1e-12)


def test_alpha_ignores_rater_labels_but_centring_uses_them():
    # Alpha depends only on the values given to each unit: permuting ratings within units changes nothing.
    rng = np.random.default_rng(4)
    m = rng.integers(1, 6, (25, 3)).astype(float)
    shuffled = np.array([rng.permutation(row) for row in m])
    a = krippendorff_alpha(m, n_boot=0).estimate
    assert krippendorff_alpha(shuffled, n_boot=0).estimate == pytest.approx(a, abs=1e-12)
    assert krippendorff_alpha(m, center_raters=True, n_boot=0).estimate != pytest.approx(a, abs=1e-6)


def test_alpha_errors_and_degenerate():
    with pytest.raises(
        InputValidationError, match="got level='continuous'; allowed: 'nominal', 'ordinal', 'interval', 'ratio'"
    ):
        krippendorff_alpha([[1, 2], [2, 2]], level="continuous")
    with pytest.raises(InputValidationError, match="center_raters=True needs level='interval'"):
        krippendorff_alpha([[1, 2], [2, 2]], level="ordinal", center_raters=True)
    with pytest.raises(InputValidationError, match="level='ratio' needs non-negative ratings"):
        krippendorff_alpha([[1, -2], [2, 2]], level="ratio", n_boot=0)
    with pytest.warns(DegenerateInputWarning, match="2\\+ distinct values"):
        res = krippendorff_alpha([[3, 3], [3, 3], [3, np.nan]], n_boot=0)
    assert np.isnan(res.estimate)
    with pytest.raises(InputValidationError, match="undefined"):
        krippendorff_alpha([[3, 3], [3, 3]], n_boot=0, nan_policy="raise")


def test_cohens_kappa_bootstrap_and_errors():
    rng = np.random.default_rng(5)
    a = rng.integers(1, 4, 80)
    b = np.where(rng.random(80) < 0.7, a, rng.integers(1, 4, 80))
    r1 = cohens_kappa(a, b, n_boot=300, seed=3)
    r2 = cohens_kappa(a, b, n_boot=300, seed=3)
    r3 = cohens_kappa(a, b, n_boot=300, seed=4)
    assert r1.ci == r2.ci and r1.ci != r3.ci and r1.ci[0] < r1.estimate < r1.ci[1]
    # agreement by hand: kappa = (po - pe) / (1 - pe)
    po = np.mean(a == b)
    pe = sum(np.mean(a == c) * np.mean(b == c) for c in (1, 2, 3))
    assert r1.estimate == pytest.approx((po - pe) / (1 - pe), abs=1e-12)
    assert cohens_kappa(a, b, categories=[1, 2, 3, 4], n_boot=0).estimate == pytest.approx(r1.estimate, abs=1e-12)
    with pytest.raises(InputValidationError, match=r"got weights='cubic'; allowed: None, 'linear', 'quadratic'"):
        cohens_kappa(a, b, weights="cubic")
    with pytest.raises(InputValidationError, match=r"same length, got len\(rater_a\)=80, len\(rater_b\)=3"):
        cohens_kappa(a, b[:3])
    with pytest.raises(InputValidationError, match=r"among categories \[1.0, 2.0\], got \[3.0\]"):
        cohens_kappa(a, b, categories=[1, 2])
    with pytest.warns(DegenerateInputWarning, match="single category"):
        assert np.isnan(cohens_kappa([1, 1, 1], [1, 1, 1], n_boot=0).estimate)


def test_fleiss_ratings_and_counts_agree_and_errors():
    ratings = np.array([[1, 1, 2], [2, 2, 2], [3, 3, 1], [1, 2, 3], [3, 3, 3]], dtype=float)
    counts = np.array([[2, 1, 0], [0, 3, 0], [1, 0, 2], [1, 1, 1], [0, 0, 3]])
    a = fleiss_kappa(ratings, n_boot=0)
    b = fleiss_kappa(counts=counts, n_boot=0)
    assert a.estimate == pytest.approx(b.estimate, abs=1e-12)
    # Randolph's free-marginal kappa: (Pbar - 1/K) / (1 - 1/K)
    pbar = np.mean(((counts**2).sum(axis=1) - 3) / 6)
    assert fleiss_kappa(counts=counts, method="randolph", n_boot=0).estimate == pytest.approx(
        (pbar - 1 / 3) / (2 / 3), abs=1e-12
    )
    with pytest.raises(InputValidationError, match="exactly one of `ratings`"):
        fleiss_kappa(ratings, counts=counts)
    with pytest.raises(InputValidationError, match="the same number of ratings per item, got between 2 and 3"):
        fleiss_kappa(counts=[[1, 1, 0], [1, 1, 1]])
    m = ratings.copy()
    m[0, 0] = np.nan
    with pytest.raises(InputValidationError, match="no missing ratings"):
        fleiss_kappa(m, nan_policy="raise")
    assert fleiss_kappa(m, nan_policy="omit", n_boot=0).n == 4
