"""report(): every cell equals the corresponding correlation / human_ceiling call; table and JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cqmetric.errors import InputValidationError
from cqmetric.reliability import correlation, human_ceiling, report


@pytest.fixture
def panel():
    rng = np.random.default_rng(31)
    n = 40
    quality = rng.normal(size=(n, 2))
    ratings = np.clip(np.round(3 + quality[:, None, :] + rng.normal(0, 0.8, (n, 3, 2))), 1, 5)
    scorer = quality[:, 0] + rng.normal(0, 0.7, n)
    length = rng.normal(size=n) + 0.3 * quality[:, 1]
    groups = np.repeat(np.arange(8), 5)
    return ratings, scorer, length, groups


def test_report_cells_equal_direct_calls(panel):
    ratings, scorer, length, groups = panel
    rep = report(
        {"cq": scorer},
        ratings,
        criteria=["style", "plot"],
        baselines={"length": length},
        method="kendall",
        groups=groups,
        n_boot=200,
        pvalue="analytic",
    )
    for j, c in enumerate(["style", "plot"]):
        ref = ratings[:, :, j].mean(axis=1)
        direct = correlation(scorer, ref, method="kendall", groups=groups, n_boot=200, pvalue="analytic")
        assert rep.get("cq", c) == direct
        assert rep.get("length", c) == correlation(
            length, ref, method="kendall", groups=groups, n_boot=200, pvalue="analytic"
        )
        assert rep.get("human ceiling", c) == human_ceiling(
            ratings[:, :, j], method="kendall", groups=groups, n_boot=200
        )
    assert rep.names == ["cq", "length", "human ceiling"]
    assert rep.get("cq", "style").estimate > rep.get("cq", "plot").estimate  # the scorer tracks criterion 0


def test_report_text_and_json(panel):
    ratings, scorer, length, _ = panel
    rep = report(scorer, ratings, criteria=["style", "plot"], baselines={"length": length}, n_boot=0)
    text = str(rep)
    assert "scorer (scorer)" in text and "length (baseline)" in text and "human ceiling" in text
    assert "spearman correlation at item level" in text
    d = json.loads(rep.to_json())
    assert d["criteria"] == ["style", "plot"] and len(d["rows"]) == 6
    assert d["rows"][0]["result"]["estimate"] == pytest.approx(rep.get("scorer", "style").estimate)
    with pytest.raises(KeyError, match="no row 'bleu'"):
        rep.get("bleu", "style")


def test_report_errors(panel):
    ratings, scorer, length, _ = panel
    with pytest.raises(InputValidationError, match="expected 2 criterion names, got 1"):
        report(scorer, ratings, criteria=["style"])
    with pytest.raises(InputValidationError, match=r"one value per item \(40\), got 39"):
        report(scorer[:-1], ratings)
    with pytest.raises(InputValidationError, match="distinct row names"):
        report({"length": scorer}, ratings, baselines={"length": length})
