"""Portable units and the recommended `Freshness`.

- The bundled reference set is what its seeded recipe makes (the word shuffles regenerate from seed 12345).
- A model's reference units are the same for a text scored alone or in a batch (one reference pass per model),
  so a text's Freshness does not depend on its neighbours.
- Freshness equals its formula written out here: reference units computed by hand from the reference evidence's
  per-token bits (means over the ten stories and their shuffles), then the fitted weights.
- Its spec builds it back; a spec naming another reference set is refused.
"""

from __future__ import annotations

import numpy as np
import pytest

from cqmetric import score
from cqmetric.constraints import DEFAULT_TEMPLATE
from cqmetric.errors import BackendError, InputValidationError
from cqmetric.evidence import reference_evidence
from cqmetric.reference import REFERENCE_NAME, load_reference
from cqmetric.scorers import FRESHNESS_FITTED, Freshness, build, spec
from cqmetric.types import CONSTRAINED

TEXTS = ["The cat sat on the mat. The dog slept by the door.", "Rain fell on the town for a hundred years.",
         "She opened the letter, read it twice, and laughed."]
PROMPTS = ["Write about pets.", "Write about weather.", "Write about a letter."]
THRESHOLD = 8.0  # a random tiny model finds no token below 0.5 bits; 8 bits splits its tokens


def test_the_bundled_reference_set_regenerates_from_its_seed():
    from cqmetric.examples import load_examples
    from cqmetric.research.perturb import perturb_texts

    rows = load_reference()
    examples = load_examples()
    assert [r["story"] for r in rows] == [e["story"] for e in examples]
    again = perturb_texts([e["story"] for e in examples], kind="word_shuffle", seed=12345)
    assert [r["word_shuffled"] for r in rows] == list(again.texts)
    assert REFERENCE_NAME.startswith("bundled-v1@")


def test_reference_units_and_values_are_the_same_alone_and_in_a_batch(tiny_model_dir):
    f = Freshness(threshold=THRESHOLD)
    batch = score(TEXTS, PROMPTS, model=str(tiny_model_dir), scorers=[f], n_boot=0)
    for i in range(len(TEXTS)):
        alone = score(TEXTS[i:i + 1], PROMPTS[i:i + 1], model=str(tiny_model_dir), scorers=[f], n_boot=0,
                      batch_size=1)
        assert alone["freshness"][0] == batch["freshness"][i]  # exactly: one reference evidence per model


def test_the_reference_units_do_not_depend_on_how_the_reference_set_is_batched(tiny_model_dir, monkeypatch):
    # The units are computed once per process; here twice from scratch, one text a batch and eight a batch.
    from cqmetric import evidence
    from cqmetric.backends.resolve import get_backend
    from cqmetric.settings import BatchPolicy

    backend = get_backend(str(tiny_model_dir))
    units = []
    for policy in (BatchPolicy(batch_size=1), BatchPolicy(batch_size=8)):
        monkeypatch.setattr(evidence, "_REFERENCES", {})
        ref = reference_evidence(backend, DEFAULT_TEMPLATE, frozenset({CONSTRAINED}), batch=policy)
        units.append([x for u in (ref.units("residual", lambda ev: float(ev.c.mean())),
                                                     ref.units("surprise", lambda ev: float(ev.s.mean())))
                      for x in (u.location, u.unit)])
    assert units[0] == pytest.approx(units[1], rel=1e-6, abs=1e-6)  # batch invariance: equal up to fp32 rounding


def test_freshness_is_its_formula_on_hand_computed_reference_units(tiny_model_dir):
    from cqmetric.backends.resolve import get_backend

    f = Freshness(threshold=THRESHOLD)
    res = score(TEXTS, PROMPTS, model=str(tiny_model_dir), scorers=[f], details=True, n_boot=0)
    ref = reference_evidence(get_backend(str(tiny_model_dir)), DEFAULT_TEMPLATE, frozenset({CONSTRAINED}))

    def mean_over(evidence, value):
        return sum(value(ev) for ev in evidence) / len(evidence)

    residual = lambda ev: float(np.sum(ev.c) / len(ev.c))  # noqa: E731
    easy = lambda ev: float(np.sum(ev.s < THRESHOLD) / len(ev.s))  # noqa: E731
    loc_r, loc_e = mean_over(ref.originals, residual), mean_over(ref.originals, easy)
    unit_r = mean_over(ref.shuffled, residual) - loc_r
    unit_e = mean_over(ref.shuffled, easy) - loc_e
    for k, row in enumerate(res.per_token):
        c, s = np.array(row["c"]), np.array(row["s"])
        expected = (FRESHNESS_FITTED["residual_weight"] * (c.mean() - loc_r) / abs(unit_r)
                    + FRESHNESS_FITTED["easy_weight"] * ((s < THRESHOLD).mean() - loc_e) / abs(unit_e))
        assert res["freshness"][k] == pytest.approx(expected, rel=1e-9)


def test_a_spec_builds_it_back_and_other_units_are_refused():
    f = Freshness(residual_weight=0.5, easy_weight=-0.25, threshold=1.0, fitted_on="mine")
    assert build(spec(f)) == f
    assert f"units={REFERENCE_NAME}" in spec(Freshness())
    with pytest.raises(InputValidationError, match="reference set 'bundled-v0@00000000'"):
        build("freshness(residual=1,easy=-1,threshold=0.5,units=bundled-v0@00000000,fitted=x)")


def test_an_undefined_unit_is_a_clear_error(tiny_model_dir):
    with pytest.raises(BackendError, match="portable unit is undefined"):
        score(TEXTS[:1], PROMPTS[:1], model=str(tiny_model_dir), scorers=[Freshness(threshold=0.5)], n_boot=0)


def test_settings_are_checked():
    with pytest.raises(InputValidationError, match="threshold"):
        Freshness(threshold=0)
    with pytest.raises(InputValidationError, match="estimator='pointwise'"):
        score(TEXTS[:1], PROMPTS[:1], scorers=[Freshness()], estimator="expected")


@pytest.mark.slow
def test_with_the_embedded_model_stock_phrasing_scores_below_a_fresh_telling(embedded_backend):
    # Hand-written pairs: the same event told in stock phrases and told freshly, under the same prompt. The card's
    # claim (fewer near-certain tokens and more left to the writer under the prompt is better) in miniature.
    prompt = "Write two sentences about a storm reaching a fishing village."
    stock = ["It was a dark and stormy night. The storm was very bad and everyone was very scared.",
             "Once upon a time there was a big storm. All of a sudden the wind started to blow really hard."]
    fresh = ["The gale arrived sideways, salting the chapel bell until it rang by itself. By dawn the nets hung "
             "from the church roof like laundry nobody would claim.",
             "Gulls walked inland that evening, which the old men read as a warrant. The harbour emptied of boats "
             "and filled with an argument between the tide and the moon."]
    res = score(stock + fresh, [prompt] * 4, model=embedded_backend, scorers=[Freshness()], n_boot=0)
    values = res["freshness"]
    assert max(values[:2]) < min(values[2:]), list(values)
