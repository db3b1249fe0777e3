"""GenerationScorer: one generation against its prompt, the defined empty result, one model load, thread safety."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest

import cqmetric.api
from cqmetric.api import score
from cqmetric.backends.precomputed import PrecomputedBackend
from cqmetric.errors import InputValidationError
from cqmetric.integrations.generations import SCORE_NAMES, GenerationScorer, empty_record

TEXTS = [
    " The cat sat on the mat. The dog slept by the door.",
    " A lighthouse keeper climbed the stairs at dawn.",
    " Rain fell on the town for a hundred years, and the people learned to swim.",
    " She opened the letter and laughed.",
]
PROMPTS = ["Write about a pet.", "Write about the sea.", "Write a fable.", "Write about a letter."]


def test_hand_built_log_probs_give_the_known_bits():
    # PrecomputedBackend.example(): 3 tokens at 3 bits each without the prompt, 2 bits each with it (by
    # construction), so I = 3 - 2 = 1 bit/token.
    record = GenerationScorer(PrecomputedBackend.example())("A cat sat.", "Write about a cat.")
    assert (record["calibrated_surprise"], record["surprise"], record["residual"]) == (1.0, 3.0, 2.0)
    assert record["n_tokens"] == 3 and record["empty_generation"] is False
    assert "|agg:text|" in record["signature"] and "|bootstrap:0|" in record["signature"]


@pytest.mark.parametrize("options", [{}, {"normalization": "byte"}, {"estimator": "expected", "normalization": "sum"}],
                         ids=["default", "byte", "expected-sum"])
def test_record_equals_score_of_the_same_text_and_prompt(tiny_model_dir, options):
    scorer = GenerationScorer(str(tiny_model_dir), **options)
    for text, prompt in zip(TEXTS, PROMPTS):
        expected = score([text], [prompt], model=str(tiny_model_dir), aggregation="text", n_boot=0, **options)
        record = scorer(text, prompt)
        assert {k: record[k] for k in (*SCORE_NAMES, "n_tokens")} == expected.to_records()[0]
        assert record["signature"] == expected.signature.format()


@pytest.mark.parametrize("text", ["", " ", "\n\n\t"])
def test_empty_generation_has_a_defined_result_without_loading_a_model(text):
    scorer = GenerationScorer("/nonexistent/model/dir")  # loading it would fail: it is never loaded
    record = scorer(text, "Write about a cat.")
    assert all(math.isnan(record[name]) for name in SCORE_NAMES)
    assert (record["n_tokens"], record["empty_generation"], record["signature"]) == (0, True, None)
    assert set(record) == set(empty_record())


@pytest.mark.parametrize(("text", "prompt", "message"), [
    (None, "Write.", "expected the generation to be a str, got NoneType"),
    ("A cat sat.", "", "expected the prompt to be a non-empty string"),
    ("A cat sat.", 3, "expected the prompt to be a non-empty string, got 3"),
])
def test_bad_input_is_refused_with_a_clear_message(text, prompt, message):
    with pytest.raises(InputValidationError, match=message):
        GenerationScorer(PrecomputedBackend.example())(text, prompt)


def test_settings_are_checked_when_the_scorer_is_built():
    with pytest.raises(InputValidationError, match="normalization='bits'"):
        GenerationScorer(normalization="bits")
    with pytest.raises(InputValidationError, match="estimator='mean'"):
        GenerationScorer(estimator="mean")


def test_backend_is_resolved_once(tiny_model_dir, monkeypatch):
    calls = []
    real = cqmetric.api.get_backend

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(cqmetric.api, "get_backend", counting)
    scorer = GenerationScorer(str(tiny_model_dir))
    for text, prompt in zip(TEXTS, PROMPTS):
        scorer(text, prompt)
    # score() itself resolves a backend object passed as `model` (no load); the scorer loads the model once.
    assert calls.count((str(tiny_model_dir),)) == 1


def test_concurrent_calls_give_the_sequential_results(tiny_model_dir):
    scorer = GenerationScorer(str(tiny_model_dir))
    sequential = [scorer(t, p) for t, p in zip(TEXTS, PROMPTS)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(scorer, TEXTS * 3, PROMPTS * 3))
    assert concurrent == sequential * 3


def test_harness_entry_points_take_a_score_options_object(tiny_model_dir):
    from cqmetric import ScoreOptions
    from cqmetric.integrations.lm_eval.task import make_process_results

    options = ScoreOptions.from_settings("test", normalization="byte")
    text, prompt = "The lighthouse keeper climbed the stairs.", "Write about a lighthouse."
    record = GenerationScorer(str(tiny_model_dir), options=options)(text, prompt)
    expected = score([text], [prompt], model=str(tiny_model_dir), normalization="byte", aggregation="text", n_boot=0)
    assert record["surprise"] == pytest.approx(float(expected["surprise"][0])) and "norm:byte" in record["signature"]
    process = make_process_results(model=str(tiny_model_dir), options=options)
    assert process({"prompt": prompt}, [text])["signature"] == record["signature"]
