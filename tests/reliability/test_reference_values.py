"""cqmetric.reliability against values computed in R (tests/reference/reliability_reference.R -> .json)."""

from __future__ import annotations

import numpy as np
import pytest

from cqmetric.reliability import (
    cohens_kappa,
    fleiss_kappa,
    icc,
    krippendorff_alpha,
    williams_t,
    williams_test,
)

ATOL = 1e-6


def _matrix(rows):
    return np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=float)


@pytest.mark.parametrize("case", ["shrout_fleiss", "shrout_fleiss_90", "random_25x3"])
def test_icc_matches_psych(reference, case):
    ref = reference["icc"][case]  # psych::ICC(m, lmer = FALSE, alpha = 1 - confidence)$results
    res = icc(np.array(ref["ratings"], dtype=float), confidence=ref["confidence"])
    for i, form in enumerate(ref["type"]):
        row = res[form]
        assert row.estimate == pytest.approx(ref["icc"][i], abs=ATOL)
        assert row.details["F"] == pytest.approx(ref["F"][i], abs=ATOL)
        assert row.details["df1"] == ref["df1"][i]
        assert row.details["df2"] == ref["df2"][i]
        assert row.pvalue == pytest.approx(ref["p"][i], abs=ATOL)
        assert row.ci[0] == pytest.approx(ref["lower"][i], abs=ATOL)
        assert row.ci[1] == pytest.approx(ref["upper"][i], abs=ATOL)


def test_icc_shrout_fleiss_published_table():
    # Shrout & Fleiss (1979), worked example (6 targets x 4 judges), published to two decimals:
    # ICC(1,1)=.17, ICC(2,1)=.29, ICC(3,1)=.71, ICC(1,4)=.44, ICC(2,4)=.62, ICC(3,4)=.91
    sf = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    res = icc(sf)
    got = [round(res[f].estimate, 2) for f in ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")]
    assert got == [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]


def test_icc3k_equals_cronbach_alpha_from_psych(reference):
    ref = reference["cronbach"]  # psych::alpha(df)$total$raw_alpha
    res = icc(np.array(ref["ratings"], dtype=float))
    assert res["ICC3k"].estimate == pytest.approx(ref["alpha"], abs=ATOL)


@pytest.mark.parametrize("i", range(4))
def test_williams_t_matches_psych_r_test(reference, i):
    ref = reference["williams_r"][i]  # psych::r.test(n, r12, r13, r23): $t, $p (two-tailed)
    res = williams_t(ref["n"], ref["r12"], ref["r13"], ref["r23"])
    assert res.details["t"] == pytest.approx(ref["t"], abs=ATOL)
    assert res.pvalue == pytest.approx(ref["p"], abs=ATOL)
    assert res.estimate == pytest.approx(ref["r12"] - ref["r13"], abs=1e-12)


@pytest.mark.parametrize("j", [0, 1])
def test_williams_test_on_data_matches_psych(reference, j):
    data = reference["williams_data"]
    ref = data["cases"][j]  # R: cor(h, a/b, method) then psych::r.test(n = 40, r12, r13, r23)
    res = williams_test(data["human"], data["a"], data["b"], method=ref["method"], n_boot=0)
    assert res.details["r_human_a"] == pytest.approx(ref["r12"], abs=ATOL)
    assert res.details["r_human_b"] == pytest.approx(ref["r13"], abs=ATOL)
    assert res.details["r_ab"] == pytest.approx(ref["r23"], abs=ATOL)
    assert res.details["t"] == pytest.approx(ref["t"], abs=ATOL)
    assert res.pvalue == pytest.approx(ref["p"], abs=ATOL)


def test_williams_one_sided_halves_the_two_sided_p(reference):
    ref = reference["williams_r"][1]  # psych::r.test two-tailed p; the one-tailed p is half of it
    res = williams_t(ref["n"], ref["r12"], ref["r13"], ref["r23"], alternative="greater")
    assert res.pvalue == pytest.approx(ref["p"] / 2, abs=ATOL)


def test_cohens_kappa_matches_psych(reference):
    ref = reference["cohen"]  # psych::cohen.kappa(cbind(a, b)): $kappa, $weighted.kappa (quadratic weights)
    assert cohens_kappa(ref["a"], ref["b"], n_boot=0).estimate == pytest.approx(ref["kappa"], abs=ATOL)
    assert cohens_kappa(ref["a"], ref["b"], weights="quadratic", n_boot=0).estimate == pytest.approx(
        ref["weighted_quadratic"], abs=ATOL
    )


def test_fleiss_kappa_published_example(reference):
    ref = reference["fleiss"]["fleiss_1971"]  # R definition (Fleiss 1971; z as irr::kappam.fleiss)
    res = fleiss_kappa(counts=ref["counts"], n_boot=0)
    assert res.estimate == pytest.approx(ref["kappa"], abs=ATOL)
    assert res.details["z"] == pytest.approx(ref["z"], abs=ATOL)
    assert round(res.estimate, 3) == 0.210  # the worked example's published value


def test_fleiss_kappa_from_ratings_matches_r(reference):
    ref = reference["fleiss"]["random_30x5"]  # R definition on items x raters codes (tabulated in R)
    res = fleiss_kappa(np.array(ref["ratings"], dtype=float), n_boot=0)
    assert res.estimate == pytest.approx(ref["kappa"], abs=ATOL)
    assert res.pvalue == pytest.approx(ref["p"], abs=ATOL)


@pytest.mark.parametrize("case", ["krippendorff_2011", "random_30x4"])
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_alpha_matches_r_definition(reference, case, level):
    ref = reference["krippendorff"][case]  # R coincidence-matrix implementation of Krippendorff (2011)
    res = krippendorff_alpha(_matrix(ref["ratings"]), level=level, n_boot=0)
    assert res.estimate == pytest.approx(ref[level], abs=ATOL)


def test_krippendorff_2011_published_values(reference):
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", worked example with missing data.
    m = _matrix(reference["krippendorff"]["krippendorff_2011"]["ratings"])
    got = {
        lv: round(krippendorff_alpha(m, level=lv, n_boot=0).estimate, 3)
        for lv in ("nominal", "ordinal", "interval", "ratio")
    }
    assert got == {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}
