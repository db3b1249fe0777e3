"""The scorer contract, the functional layer and the registry.

- Every shipped scorer meets the whole `Scorer` contract; a user's scorer with the five required members is
  adapted with the defaults of the rest, and nothing else is read from it.
- Each class computes what its formula says, checked against a hand-written reference in this file (not the
  library's functional layer), and the class, the functional layer and the reference agree.
- A scorer's spec, as the signature writes it, builds the scorer back (`registry.build`), so a run can be repeated
  from its signature; `cqmetric score --scorer SPEC` reads the same specs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cqmetric import score
from cqmetric.backends.precomputed import PrecomputedBackend
from cqmetric.errors import InputValidationError
from cqmetric.scorers import (
    BaseScorer,
    CalibratedSurprise,
    ConstraintFit,
    ContextCalibration,
    CreativeQuality,
    EasyTokens,
    Freshness,
    Interaction,
    Length,
    OrderCalibration,
    QuietGate,
    Residual,
    Scorer,
    SoftGate,
    SurprisalQuantile,
    Surprise,
    WeightedSum,
    as_scorer,
    build,
    spec,
)
from cqmetric.scorers import functional as F
from cqmetric.scorers.registry import REGISTRY, parse
from cqmetric.types import Evidence, TokenizedText

SHIPPED = [
    CalibratedSurprise(), Surprise(normalization="byte"), Residual(estimator="expected"), OrderCalibration("pointwise"),
    ContextCalibration(unit="paragraph"), Interaction(by="aspect"), Length(unit="word"),
    EasyTokens(threshold=1.5, constrained=True), SurprisalQuantile(q=0.25),
    ConstraintFit(threshold=0.25), SoftGate(Surprise(), center=3.0, scale=0.5),
    QuietGate(SoftGate(CalibratedSurprise(), 0.0, 0.05), Surprise(), lam=2.5),
    WeightedSum({"s": (Surprise(), 1.0), "r": (Residual(), -0.5)}, {"s": (4.0, 1.0), "r": (3.5, 0.25)}, source="dev"),
    Freshness(), Freshness(residual_weight=0.5, easy_weight=-0.5, threshold=2.0, fitted_on="mine"),
    CreativeQuality(), CreativeQuality(order_center=0.1, order_scale=0.02, fit_center=-0.05, fit_scale=0.1, lam=3.0,
                                       fitted_on="my-experts@abc"),
]


def _evidence() -> Evidence:
    tok = TokenizedText("A b. C d.", np.array([5, 6, 7, 8]), np.array([[0, 1], [1, 4], [4, 6], [6, 9]]))
    return Evidence(tokens=tok, constraints=None, s=np.array([4.0, 2.0, 3.0, 3.0]), c=np.array([3.0, 2.0, 3.0, 2.0]),
                    reordered={"sentence": np.array([5.0, 3.0, 4.0, 3.0])})


@pytest.mark.parametrize("scorer", SHIPPED, ids=lambda s: s.name)
def test_every_shipped_scorer_meets_the_whole_contract(scorer):
    assert isinstance(scorer, Scorer)
    for member in ("name", "higher_is_better", "bounds", "poolable", "needs", "params", "units", "statistics",
                   "compute", "with_settings", "check"):
        assert hasattr(scorer, member), member


@pytest.mark.parametrize("scorer", SHIPPED, ids=lambda s: s.name)
def test_a_spec_builds_its_scorer_back(scorer):
    rebuilt = build(spec(scorer))
    assert spec(rebuilt) == spec(scorer)
    assert type(rebuilt) is type(scorer)


def test_every_registered_name_builds_with_its_defaults():
    for name in REGISTRY:
        if name in ("weighted", "quiet"):
            continue  # they have no defaults for their members
        assert build(f"{name}()").name == name


def test_specs_from_the_command_line_and_bad_specs():
    assert build(" order_calibration(unit=paragraph) ") == OrderCalibration(unit="paragraph")
    assert parse("soft_gate(of=surprise(),center=1,scale=0.5)") == (
        "soft_gate", {"of": ("surprise", {}), "center": 1, "scale": 0.5})
    for bad, message in [("length", r"expected 'name\(key=value,...\)'"), ("length(unit)", "key=value"),
                         ("length(unit=(word)", "unbalanced"), ("length(colour=red)", "length: .*colour"),
                         ("external(source=judge)", "values given from outside cannot be rebuilt"),
                         ("length(unit=inches)", "unit='inches'")]:
        with pytest.raises(InputValidationError, match=message):
            build(bad)


def test_a_users_minimal_scorer_gets_the_defaults_and_nothing_else_is_read():
    class Minimal:
        name, higher_is_better, needs = "const", True, frozenset()

        def compute(self, ev):
            return 2.0

        def params(self):
            return {"k": 1}

    res = score(["A cat sat."], ["Write about a cat."], model=PrecomputedBackend.example(), scorers=[Minimal()],
                n_boot=0)
    assert res["const"].tolist() == [2.0] and res.units["const"] == "?"
    assert "const(k=1)" in res.signature["scorers"]
    with pytest.raises(InputValidationError, match="lacks compute, params"):
        as_scorer(type("Half", (), {"name": "h", "higher_is_better": True, "needs": frozenset()})(), where="doc")


def test_information_scorers_equal_their_formulas():
    ev = _evidence()  # s = 4, 2, 3, 3 bits; c = 3, 2, 3, 2 bits; 9 bytes, 4 words
    assert CalibratedSurprise().compute(ev) == (1 + 0 + 0 + 1) / 4  # mean of s - c
    assert Surprise().compute(ev) == 12 / 4 and Residual().compute(ev) == 10 / 4
    assert Surprise(normalization="byte").compute(ev) == 12 / 9
    assert Surprise(normalization="word").compute(ev) == 12 / 4
    assert Surprise(normalization="sum").compute(ev) == 12
    assert OrderCalibration().compute(ev) == (15 - 12) / 4  # reordered bits minus own-order bits, per token
    assert Surprise().statistics(ev) == (12.0, 4.0) and Surprise(normalization="sum").poolable is False
    assert EasyTokens(threshold=2.5).compute(ev) == 1 / 4  # one of s = 4, 2, 3, 3 bits is below 2.5
    assert EasyTokens(threshold=2.5, constrained=True).compute(ev) == 2 / 4  # c = 3, 2, 3, 2 bits
    assert EasyTokens(threshold=2.5).statistics(ev) == (1.0, 4.0)
    assert SurprisalQuantile(q=0.5).compute(ev) == 3.0 and SurprisalQuantile(q=0.0).compute(ev) == 2.0


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_gates_and_composites_equal_hand_written_references():
    ev = _evidence()
    s, cs, oc = 3.0, 0.5, 0.75  # surprise, calibrated surprise, order calibration of the evidence above
    assert SoftGate(CalibratedSurprise(), 0.2, 0.1).compute(ev) == pytest.approx(_logistic((cs - 0.2) / 0.1))
    assert ConstraintFit(threshold=0.5).compute(ev) == 0.0 and ConstraintFit(threshold=0.49).compute(ev) == 1.0
    quiet = QuietGate(SoftGate(CalibratedSurprise(), 0.2, 0.1), Surprise(), lam=2.0)
    assert quiet.compute(ev) == pytest.approx(_logistic(3.0) * (1 + 2.0 * s))
    w = WeightedSum({"s": (Surprise(), 2.0), "r": (Residual(), -1.0)}, {"s": (2.0, 0.5), "r": (2.0, 0.25)})
    assert w.compute(ev) == pytest.approx(2.0 * (s - 2.0) / 0.5 - 1.0 * (2.5 - 2.0) / 0.25)
    constants = dict(order_center=0.5, order_scale=0.2, fit_center=0.1, fit_scale=0.3, lam=4.0)
    cq = CreativeQuality(**constants)
    reference = _logistic((oc - 0.5) / 0.2) * _logistic((cs - 0.1) / 0.3) * (1 + 4.0 * s)
    assert cq.compute(ev) == pytest.approx(reference, rel=1e-12)
    # The functional layer, vectorised over candidates, gives the same number.
    grid = F.creative_quality(oc, cs, s, **{k: np.array([v, v]) for k, v in constants.items()})
    np.testing.assert_allclose(grid, [reference, reference], rtol=1e-12)


def test_base_scorer_defaults():
    class Mine(BaseScorer):
        name, higher_is_better, needs = "mine", True, frozenset()

        def compute(self, ev):
            return 1.5

        def params(self):
            return {}

    mine = Mine()
    assert mine.statistics(_evidence()) == (1.5, 1.0) and mine.with_settings("pointwise", "token") is mine
    assert mine.bounds is None and mine.units() == "?" and mine.check("doc", 3) is None
