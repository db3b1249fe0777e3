"""`score()` and the scorers on a tiny random model: alignment, invariance, no duplicate work, errors."""

import math

import numpy as np
import pytest

from cqmetric import (
    CalibratedSurprise,
    Constraint,
    ConstraintFit,
    ConstraintSet,
    ContextCalibration,
    Interaction,
    Length,
    QuietGate,
    Residual,
    Surprise,
    Template,
    WeightedSum,
    dimensions,
    fit_norms,
    profiles,
    score,
)
from cqmetric.backends.hf import HFBackend
from cqmetric.backends.precomputed import PrecomputedBackend, RecordingBackend
from cqmetric.errors import BackendError, InputValidationError
from cqmetric.types import BackendInfo

STORIES = [
    "The cat sat on the mat. It purred. Then it slept by the door.",
    "Rain fell on the town for a hundred years. The people learned to swim.",
    "She opened the letter and read it twice. Then she laughed at the handwriting.",
    "A lighthouse keeper climbed the stairs at dawn. He wiped the salt from the lens.",
]
PROMPTS = ["Write about a cat.", "Write about rain.", "Write about a letter.", "Write about a lighthouse."]
RICH = ConstraintSet((
    Constraint("A story about a cat.", "intent", "mythos"),
    Constraint("Children who like animals.", "audience", "ethos"),
    Constraint("Cats purr when they are content.", "reality", "dianoia"),
))


def test_token_ids_are_identical_in_every_context(tiny_backend, counting):
    spy = counting(tiny_backend)
    score(STORIES, [RICH] * 4, model=spy, scorers=[Interaction()], n_boot=0)
    by_text = {tuple(tiny_backend.tokenize(t).token_ids.tolist()) for t in STORIES}
    full_requests = [r for r in spy.calls[0] if r.target_ids in by_text]
    contexts_per_text = {ids: {r.context for r in full_requests if r.target_ids == ids} for ids in by_text}
    assert all(len(c) == 8 for c in contexts_per_text.values())  # 2^3 subsets, one shared tokenization each
    # What the model is fed ends with exactly those ids after every context.
    for req in full_requests:
        [row] = tiny_backend._rows([req])
        assert (row.tokens, row.first) == (list(req.target_ids), 0)
        assert row.prefix == tiny_backend.context_ids(req.context)


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_per_text_results_do_not_depend_on_batch(tiny_model_dir, batch_size):
    reference = score(STORIES[:1], PROMPTS[:1], model=str(tiny_model_dir), batch_size=1, n_boot=0)
    for neighbours in (STORIES[1:], STORIES[:0:-1], STORIES[2:] * 3):
        res = score([*neighbours[:1], STORIES[0], *neighbours[1:]], [PROMPTS[0]] * (len(neighbours) + 1),
                    model=str(tiny_model_dir), batch_size=batch_size, n_boot=0)
        for key in ("calibrated_surprise", "surprise", "residual"):
            assert res.to_records()[1][key] == pytest.approx(reference.to_records()[0][key], abs=1e-5)


def test_suite_runs_the_model_once_per_distinct_context(tiny_backend, counting):
    from cqmetric.evidence import split_units

    spy = counting(tiny_backend)
    scorers = [ContextCalibration(), Interaction(), QuietGate(ConstraintFit(), Surprise()), Length()]
    texts = STORIES + [STORIES[0]]  # a repeated text costs nothing more
    score(texts, [RICH] * 5, model=spy, scorers=scorers, n_boot=0)
    assert len(spy.calls) == 1
    requests = spy.calls[0]
    assert len(requests) == len(set(requests))
    # Independent count: per distinct text, 2^3 constraint subsets (empty and full included) plus one
    # unit-alone pass per sentence after the first.
    expected = sum(8 + len(split_units(tiny_backend.tokenize(t), "sentence")[0]) - 1 for t in STORIES)
    assert len(requests) == expected


def test_shapley_sums_to_joint_and_singles_match_direct_scores(tiny_backend):
    [analysis] = dimensions(STORIES[:1], [RICH], model=tiny_backend)
    assert sum(analysis.shapley.values()) == pytest.approx(analysis.joint, abs=1e-9)
    joint = score(STORIES[:1], [RICH], model=tiny_backend, n_boot=0)["calibrated_surprise"][0]
    assert analysis.joint == pytest.approx(joint, abs=1e-9)
    for source in ("intent", "audience", "reality"):
        direct = score(STORIES[:1], [RICH.subset({source}, by="source")], model=tiny_backend, n_boot=0)
        assert analysis.single[source] == pytest.approx(direct["calibrated_surprise"][0], abs=1e-9)
    assert analysis.interaction == pytest.approx(joint - sum(analysis.single.values()), abs=1e-9)
    by_aspect = dimensions(STORIES[:1], [RICH], by="aspect", model=tiny_backend)[0]
    assert by_aspect.groups == ("ethos", "mythos", "dianoia")


def test_details_normalisations_and_aggregation_follow_the_formulas(tiny_backend):
    res = score(STORIES, PROMPTS, model=tiny_backend, details=True, n_boot=0)
    recs = res.to_records()
    total_i, total_n = 0.0, 0
    for text, rec in zip(STORIES, recs):
        tok = rec["tokens"]
        i = np.array(tok["s"]) - np.array(tok["c"])
        np.testing.assert_allclose(tok["i"], i, atol=1e-12)
        assert "".join(tok["token"]) == text  # the tokens cover the text exactly
        assert rec["calibrated_surprise"] == pytest.approx(i.mean())
        assert rec["surprise"] - rec["residual"] == pytest.approx(rec["calibrated_surprise"])
        total_i, total_n = total_i + i.sum(), total_n + len(i)
        for norm, denominator in (("byte", len(text.encode())), ("word", len(text.split())), ("sum", 1)):
            other = score([text], [PROMPTS[STORIES.index(text)]], model=tiny_backend, normalization=norm,
                          n_boot=0)
            assert other["calibrated_surprise"][0] == pytest.approx(i.sum() / denominator)
    assert res.corpus["calibrated_surprise"].value == pytest.approx(total_i / total_n)  # token-weighted
    by_text = score(STORIES, PROMPTS, model=tiny_backend, aggregation="text", n_boot=0)
    assert by_text.corpus["calibrated_surprise"].value == pytest.approx(np.mean(res["calibrated_surprise"]))


def test_expected_estimator_uses_prediction_entropies(tiny_backend):
    res = score(STORIES[:2], PROMPTS[:2], model=tiny_backend, estimator="expected", details=True, n_boot=0)
    for rec in res.to_records():
        h0, hy = np.array(rec["tokens"]["h0"]), np.array(rec["tokens"]["hy"])
        assert rec["calibrated_surprise"] == pytest.approx(np.mean(h0 - hy))
        assert rec["surprise"] == pytest.approx(np.mean(h0))


def test_bootstrap_is_seeded(tiny_backend):
    # Four texts have few distinct resamples, so interval ends of two seeds coincide at large n_boot: use 1000.
    a = score(STORIES, PROMPTS, model=tiny_backend, seed=1, n_boot=1000).corpus["surprise"].ci
    b = score(STORIES, PROMPTS, model=tiny_backend, seed=1, n_boot=1000).corpus["surprise"].ci
    c = score(STORIES, PROMPTS, model=tiny_backend, seed=2, n_boot=1000).corpus["surprise"].ci
    assert a == b and a != c
    assert a[0] < score(STORIES, PROMPTS, model=tiny_backend).corpus["surprise"].value < a[1]


def test_surprise_only_without_constraints(tiny_backend):
    recs = score(STORIES, model=tiny_backend, n_boot=0).to_records()
    assert all(r["calibrated_surprise"] is None and r["residual"] is None and r["surprise"] > 0 for r in recs)


def test_every_setting_that_changes_numbers_changes_the_signature(tiny_model_dir):
    base = dict(model=str(tiny_model_dir), n_boot=10)
    variants = [dict(), dict(estimator="expected"), dict(normalization="byte"), dict(aggregation="text"),
                dict(template=Template(name="other", suffix="Story:\n")), dict(seed=7), dict(n_boot=20),
                dict(dtype="bfloat16"), dict(max_length=40), dict(stride=3), dict(start_token="none"),
                dict(scorers=[Length()])]
    sigs = [score(STORIES[:3], PROMPTS[:3], **{**base, **v}).signature.format() for v in variants]
    assert len(set(sigs)) == len(sigs)
    assert score(STORIES[:3], PROMPTS[:3], **base, batch_size=2).signature.format() == sigs[0]  # speed only


def test_weighted_sum_and_quiet_gate_follow_their_formulas(tiny_backend):
    ref = score(STORIES, PROMPTS, model=tiny_backend, n_boot=0)
    norms = fit_norms(ref, ["calibrated_surprise", "surprise"])
    w = WeightedSum({"calibrated_surprise": (CalibratedSurprise(), 0.7), "surprise": (Surprise(), -0.3)}, norms,
                    source="test-corpus")
    # A threshold between the texts' calibrated surprises: the gate opens for some texts and closes for others.
    threshold = float(np.median(ref["calibrated_surprise"]))
    gate = QuietGate(ConstraintFit(threshold=threshold), Surprise(), lam=0.5)
    res = score(STORIES, PROMPTS, model=tiny_backend, scorers=[w, gate], n_boot=0)
    (m1, s1), (m2, s2) = norms["calibrated_surprise"], norms["surprise"]
    expected = 0.7 * (ref["calibrated_surprise"] - m1) / s1 - 0.3 * (ref["surprise"] - m2) / s2
    np.testing.assert_allclose(res["weighted"], expected, atol=1e-12)
    is_open = ref["calibrated_surprise"] > threshold
    assert 0 < is_open.sum() < len(STORIES)
    np.testing.assert_allclose(res["quiet"], np.where(is_open, 1 + 0.5 * ref["surprise"], 0.0), atol=1e-12)
    alone = score(STORIES[1:2], PROMPTS[1:2], model=tiny_backend, scorers=[w], n_boot=0)
    assert alone["weighted"][0] == pytest.approx(res["weighted"][1], abs=1e-5)  # fixed norms: batch-free
    with pytest.raises(InputValidationError, match="expected reference norms for every member"):
        WeightedSum({"x": (Surprise(), 1.0)}, {})


def test_profiles_follow_the_chain_rule(tiny_backend):
    res = score(STORIES, PROMPTS, model=tiny_backend, normalization="sum", n_boot=0)
    sentences = [3, 2, 2, 2]  # counted by hand in STORIES
    for prof, total, n in zip(profiles(STORIES, PROMPTS, model=tiny_backend), res["calibrated_surprise"], sentences):
        assert prof.information.sum() == pytest.approx(total, abs=1e-9)
        assert len(prof.spans) == n


def test_context_calibration_equals_alone_minus_in_place(tiny_backend):
    text = STORIES[1]
    res = score([text], [PROMPTS[1]], model=tiny_backend, scorers=[ContextCalibration()], details=True,
                n_boot=0)
    s = np.array(res.to_records()[0]["tokens"]["s"])
    second = text.index("The people")
    tok = tiny_backend.tokenize(text)
    in_second = tok.offsets[:, 1] - 1 >= second
    start = int(tok.offsets[in_second][0, 0])  # the second sentence's first token, alone in the empty frame
    alone = score([text[start:]], model=tiny_backend, details=True, n_boot=0)
    assert alone.n_tokens[0] == in_second.sum()
    expected = (np.sum(alone.to_records()[0]["tokens"]["s"]) - s[in_second].sum()) / len(s)
    assert res["context_calibration"][0] == pytest.approx(expected, abs=1e-5)


def test_record_and_replay_are_identical(tiny_backend, tmp_path):
    path = tmp_path / "run.jsonl"
    live = score(STORIES, PROMPTS, model=RecordingBackend(tiny_backend, path), estimator="expected", n_boot=0)
    replay = score(STORIES, PROMPTS, model=PrecomputedBackend.from_jsonl(path), estimator="expected", n_boot=0)
    assert replay.to_records() == live.to_records()
    assert replay.signature == live.signature


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(texts=[]), "at least one text, got an empty list"),
        (dict(texts="one story"), "got a single str; wrap it"),
        (dict(texts=["ok", 3]), r"`texts\[1\]` to be a str, got int"),
        (dict(texts=["ok", "  "]), r"`texts\[1\]` to be a non-empty text"),
        (dict(constraints=PROMPTS[:3]), r"same length, got len\(texts\)=4, len\(constraints\)=3"),
        (dict(constraints="Write."), "got a single str"),
        (dict(constraints=[3] * 4), r"`constraints\[0\]` to be a prompt str or a ConstraintSet, got int"),
        (dict(estimator="mean"), "estimator='mean'; allowed: 'pointwise', 'expected'"),
        (dict(normalization="char"), "normalization='char'"),
        (dict(aggregation="median"), "aggregation='median'; allowed: 'token', 'text'"),
        (dict(constraints=None, scorers=[CalibratedSurprise()]), "'calibrated_surprise' needs constraints"),
        (dict(scorers=[Surprise(), Surprise()]), "two scorers are named 'surprise'"),
        (dict(scorers=[object()]), r"expected a scorer \(with name, higher_is_better, needs, compute, params\)"),
        (dict(n_boot=-1), "n_boot"),
        (dict(dtype="float64"), "dtype='float64'"),
    ],
)
def test_bad_input_raises_clear_errors(tiny_model_dir, kwargs, message):
    args = {"texts": STORIES, "constraints": PROMPTS, "model": str(tiny_model_dir), **kwargs}
    with pytest.raises(InputValidationError, match=message):
        score(args.pop("texts"), args.pop("constraints"), **args)


def test_backend_object_with_model_settings_is_refused(tiny_backend):
    with pytest.raises(InputValidationError, match=r"got a backend object and model settings \['dtype'\]"):
        score(STORIES, PROMPTS, model=tiny_backend, dtype="bfloat16")


def test_zero_token_text_and_non_finite_logprobs_are_errors():
    info = BackendInfo("x", "x", "n/a", "none", 0, 0)
    empty = PrecomputedBackend({"odd": ([], [])}, {}, info)
    with pytest.raises(InputValidationError, match=r"gives zero tokens"):
        score(["odd"], model=empty)
    with pytest.raises(InputValidationError, match="finite natural-log probabilities"):
        PrecomputedBackend({"a": ([1], [[0, 1]])}, {("Text:\n", (1,)): [math.nan]}, info)
    missing = PrecomputedBackend({"a": ([1], [[0, 1]])}, {}, info)
    with pytest.raises(BackendError, match="no log-probs recorded"):
        score(["a"], model=missing)


def test_residual_is_lower_is_better_and_scorers_report_params():
    assert Residual().higher_is_better is False and CalibratedSurprise().higher_is_better is True
    assert CalibratedSurprise("expected", "byte").params() == {"estimator": "expected", "normalization": "byte"}
    with pytest.raises(InputValidationError, match="estimator='x'"):
        CalibratedSurprise("x")
    # A gate must declare values in [0, 1]: refused when it is built, before any model runs.
    with pytest.raises(InputValidationError, match=r"`satisfy` to be a judgement in \[0, 1\].*length\(unit=token\)"):
        QuietGate(Length())


def test_build_signature_equals_the_signature_of_a_run(tiny_backend):
    from cqmetric import build_signature

    res = score(STORIES, PROMPTS, model=tiny_backend, normalization="word", seed=3)
    assert build_signature(tiny_backend, normalization="word", seed=3) == res.signature
    custom = score(STORIES, PROMPTS, model=tiny_backend, scorers={"len": Length()}, n_boot=0)
    assert build_signature(tiny_backend, scorers={"len": Length()}, n_boot=0) == custom.signature
    # The same scorers written out in full (the defaults included) sign the same string.
    members = {"calibrated_surprise": CalibratedSurprise(), "surprise": Surprise(), "residual": Residual(),
               "len": Length()}
    assert build_signature(tiny_backend, scorers=members, n_boot=0) == custom.signature
    assert custom.signature["scorers"] == "calibrated_surprise(estimator=pointwise,normalization=token)+surprise(" \
        "estimator=pointwise,normalization=token)+residual(estimator=pointwise,normalization=token)+len=length(unit=token)"


def test_caching_backend_reuses_results_across_calls(tiny_backend, counting):
    from cqmetric.backends.cache import CachingBackend

    spy = counting(tiny_backend)
    cached = CachingBackend(spy)
    first = score(STORIES, PROMPTS, model=cached, n_boot=0)
    swapped = score(STORIES, PROMPTS[1:] + PROMPTS[:1], model=cached, n_boot=0)
    # The second call only needed the four new constrained contexts: the unconstrained passes were reused.
    assert [len(c) for c in spy.calls] == [8, 4]
    plain = score(STORIES, PROMPTS[1:] + PROMPTS[:1], model=tiny_backend, n_boot=0)
    assert swapped.to_records() == plain.to_records() and first.signature == plain.signature
