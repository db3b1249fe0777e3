"""The transformers backend on a tiny random model, checked against a plain reference forward pass."""

import support
import numpy as np
import pytest
import torch

from cqmetric.backends.hf import HFBackend
from cqmetric.settings import BatchPolicy
from cqmetric.errors import InputValidationError
from cqmetric.types import Request

TEXTS = [
    "The cat sat on the mat.",
    "A lighthouse keeper climbed the stairs at dawn and wiped the salt from the lens. Rain fell.",
    "She laughed.",
    "Rain fell on the town for a hundred years, and the people learned to swim in the streets.",
    "The dog slept by the door while the letter waited, unopened, on the table by the window.",
    "Write a story.",
    "He read it twice.",
    "The robot gardener trimmed the grass around the dandelion every morning without fail.",
]
CONTEXTS = ["Text:\n", "Prompt: Write about a cat.\nText:\n"]


def reference_logprobs(backend, context, text_ids):
    """The independent reference pass (tests/support.py), with the tiny model's start token (EOS, id 0) given here."""
    assert backend.tokenizer.eos_token_id == 0 and backend.tokenizer.bos_token_id is not None
    start = 0 if backend.info.start_token == "prepend:0" else None
    return support.reference_logprobs(backend.model, backend.tokenizer, start, context, text_ids)


def test_matches_reference_forward_pass(tiny_backend):
    reqs = [Request(c, tuple(tiny_backend.tokenize(t).token_ids.tolist())) for t in TEXTS for c in CONTEXTS]
    results = tiny_backend.score(reqs)
    for req, res in zip(reqs, results):
        np.testing.assert_allclose(res.logprobs, reference_logprobs(tiny_backend, req.context, req.target_ids),
                                   atol=1e-5)
        assert res.token_ids.tolist() == list(req.target_ids)


def test_expected_estimator_entropy_matches_reference(tiny_backend):
    ids = tiny_backend.tokenize(TEXTS[0]).token_ids.tolist()
    res = tiny_backend.score([Request(CONTEXTS[1], tuple(ids))], entropy=True)[0]
    full = [0] + tiny_backend.tokenizer(CONTEXTS[1], add_special_tokens=False)["input_ids"] + ids  # start: EOS id 0
    with torch.no_grad():
        p = torch.softmax(tiny_backend.model(torch.tensor([full])).logits[0].double(), dim=-1)
    n_ctx = len(full) - len(ids)
    expected = [float(-(p[n_ctx - 1 + t] * p[n_ctx - 1 + t].log()).sum()) for t in range(len(ids))]  # H = -sum p log p
    np.testing.assert_allclose(res.entropy, expected, atol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_batch_invariance_across_sizes_and_neighbours(tiny_model_dir, batch_size):
    backend = HFBackend(tiny_model_dir, batch_size=batch_size)
    solo = HFBackend(tiny_model_dir, batch_size=1)
    target = Request(CONTEXTS[1], tuple(solo.tokenize(TEXTS[1]).token_ids.tolist()))
    expected = solo.score([target])[0].logprobs
    rng = np.random.default_rng(batch_size)
    for _ in range(3):  # different neighbours each time
        others = [Request(CONTEXTS[k % 2], tuple(solo.tokenize(TEXTS[k]).token_ids.tolist()))
                  for k in rng.choice(len(TEXTS), size=7)]
        mixed = others[:3] + [target] + others[3:]
        got = backend.score(mixed)[3].logprobs
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_long_text_is_scored_in_full_with_a_sliding_window(tiny_model_dir):
    wide = HFBackend(tiny_model_dir)
    narrow = HFBackend(tiny_model_dir, max_length=24, stride=5)
    long_text = " ".join(TEXTS)  # far more tokens than the 24-token window
    ids = tuple(narrow.tokenize(long_text).token_ids.tolist())
    assert len(ids) > 60
    res = narrow.score([Request(CONTEXTS[0], ids)])[0]
    assert res.logprobs.shape == (len(ids),) and np.all(np.isfinite(res.logprobs))
    # Independent check of every window: token t is predicted from the context plus the text tokens that the
    # window keeps before it (window = 24 tokens including the context).
    ctx = narrow.context_ids(CONTEXTS[0])
    budget = 24 - len(ctx)
    end, start_scored = min(budget, len(ids)), 0
    while True:
        first = max(0, end - budget)
        ref = reference_logprobs(narrow, CONTEXTS[0], ids[first:end])[start_scored - first:]
        np.testing.assert_allclose(res.logprobs[start_scored:end], ref, atol=1e-5)
        if end == len(ids):
            break
        start_scored, end = end, min(end + 5, len(ids))
    # Where a window covers the text, windowed and plain results match.
    short = tuple(narrow.tokenize(TEXTS[2]).token_ids.tolist())
    np.testing.assert_allclose(narrow.score([Request(CONTEXTS[0], short)])[0].logprobs,
                               wide.score([Request(CONTEXTS[0], short)])[0].logprobs, atol=1e-6)


def test_context_longer_than_window_is_an_error(tiny_model_dir):
    narrow = HFBackend(tiny_model_dir, max_length=8)
    with pytest.raises(InputValidationError, match=r"the context takes \d+ tokens but the window is 8"):
        narrow.score([Request("Prompt: " + TEXTS[1] + "\nText:\n", (5, 6))])


def test_start_token_policies(tiny_model_dir, tiny_model_factory, tmp_path):
    assert HFBackend(tiny_model_dir).info.start_token == "prepend:0"
    with_bos = tiny_model_factory(tmp_path / "bos", add_bos=True)
    detected = HFBackend(with_bos)
    assert detected.info.start_token == "tokenizer:1"  # the id the tokenizer adds itself
    assert detected.context_ids("Text:\n")[0] == 1
    assert 1 not in detected.tokenize("Text").token_ids.tolist()  # never inside the text
    none = HFBackend(tiny_model_dir, start_token="none")
    assert none.context_ids("Text:\n")[0] != 0
    with pytest.raises(InputValidationError, match="the context is empty and start_token='none'"):
        none.context_ids("")


def test_bf16_is_an_option_with_bounded_error(tiny_model_dir):
    fp32, bf16 = HFBackend(tiny_model_dir), HFBackend(tiny_model_dir, dtype="bfloat16")
    assert (fp32.info.dtype, bf16.info.dtype) == ("fp32", "bf16")
    req = [Request(CONTEXTS[0], tuple(fp32.tokenize(TEXTS[1]).token_ids.tolist()))]
    a, b = fp32.score(req)[0].logprobs, bf16.score(req)[0].logprobs
    assert not np.array_equal(a, b)
    np.testing.assert_allclose(a, b, atol=0.2)


def test_loaded_model_and_tokenizer_pair(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    from_objects = HFBackend(model, tok, name="tiny")
    from_path = HFBackend(tiny_model_dir)
    req = [Request(CONTEXTS[1], tuple(from_path.tokenize(TEXTS[0]).token_ids.tolist()))]
    np.testing.assert_allclose(from_objects.score(req)[0].logprobs, from_path.score(req)[0].logprobs, atol=1e-6)
    assert from_objects.info.model == "tiny"
    with pytest.raises(InputValidationError, match="expected a `tokenizer` with a loaded model"):
        HFBackend(model)


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(InputValidationError, match="expected a local model folder, a .gguf file or the id of a model "
                                                   "already in the local Hugging Face cache, got '.*nowhere'"):
        HFBackend(tmp_path / "nowhere")


def _fed_shapes(backend):
    """Record the shape of every batch of ids the model's embedding layer sees (a forward pre-hook)."""
    seen = []
    backend.model.get_input_embeddings().register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape)))
    return seen


def test_shared_context_runs_once_and_matches_the_plain_path(tiny_model_dir):
    shared, plain = HFBackend(tiny_model_dir, batch_size=3), HFBackend(tiny_model_dir, batch_size=3, share_prefix=False)
    assert shared.batch.share_prefix == "auto" and plain.batch.share_prefix is False
    brief = "Prompt: A long brief that several texts share, with an audience and a fact or two.\nText:\n"
    reqs = [Request(brief, tuple(shared.tokenize(t).token_ids.tolist())) for t in TEXTS]
    fed_shared, fed_plain = _fed_shapes(shared), _fed_shapes(plain)
    a, b = shared.score(reqs, entropy=True), plain.score(reqs, entropy=True)
    fed_shared, fed_plain = list(fed_shared), list(fed_plain)  # before the reference passes below add to them
    for x, y, req in zip(a, b, reqs):
        np.testing.assert_allclose(x.logprobs, y.logprobs, atol=1e-5, rtol=0)
        np.testing.assert_allclose(x.entropy, y.entropy, atol=1e-5, rtol=0)
        np.testing.assert_allclose(x.logprobs, reference_logprobs(plain, req.context, req.target_ids), atol=1e-5)
    n_ctx, n_texts = len(shared.context_ids(brief)), len(TEXTS)
    assert fed_shared.count((1, n_ctx)) == 1  # the brief goes through the model once
    # Both paths batch the texts alike (longest first). Plain: each text is fed after its own copy of the brief.
    # Shared: the brief once, then each text without its last token (it predicts nothing). So the plain path
    # feeds exactly (n_texts - 1) * n_ctx + n_texts more positions.
    fed = lambda shapes: sum(b * n for b, n in shapes)  # noqa: E731
    assert fed(fed_plain) - fed(fed_shared) == (n_texts - 1) * n_ctx + n_texts


def test_a_context_used_once_goes_the_plain_way(tiny_model_dir):
    backend = HFBackend(tiny_model_dir)
    fed = _fed_shapes(backend)
    ids = tuple(backend.tokenize(TEXTS[1]).token_ids.tolist())
    res = backend.score([Request(CONTEXTS[1], ids)])[0]
    assert fed == [(1, len(backend.context_ids(CONTEXTS[1])) + len(ids))]
    np.testing.assert_allclose(res.logprobs, reference_logprobs(backend, CONTEXTS[1], ids), atol=1e-5)


def test_auto_shares_only_a_context_long_beside_its_texts(tiny_model_dir):
    backend = HFBackend(tiny_model_dir)
    fed = _fed_shapes(backend)
    long_texts = [TEXTS[1] + " " + TEXTS[3], TEXTS[4] + " " + TEXTS[7], TEXTS[3] + " " + TEXTS[4]]
    short_prompt = [Request(CONTEXTS[0], tuple(backend.tokenize(t).token_ids.tolist())) for t in long_texts]
    n_ctx = len(backend.context_ids(CONTEXTS[0]))
    assert n_ctx < min(len(r.target_ids) for r in short_prompt) / 4  # "Text:\n" is short beside these texts
    backend.score(short_prompt)
    assert (1, n_ctx) not in fed  # recomputed with each text: sharing would save nothing measurable
    backend.score(short_prompt, batch=BatchPolicy(share_prefix=True))  # this call's policy, not the backend's
    assert fed.count((1, n_ctx)) == 1
    assert backend.batch.share_prefix == "auto"  # the backend is unchanged


def test_share_prefix_setting_is_checked(tiny_model_dir):
    with pytest.raises(InputValidationError, match="got share_prefix='yes'; allowed: True, False, 'auto'"):
        HFBackend(tiny_model_dir, share_prefix="yes")


def test_shared_context_with_sliding_windows_and_one_token_texts(tiny_model_dir):
    shared = HFBackend(tiny_model_dir, max_length=24, stride=5, share_prefix=True)
    plain = HFBackend(tiny_model_dir, max_length=24, stride=5, share_prefix=False)
    long_ids = tuple(plain.tokenize(" ".join(TEXTS)).token_ids.tolist())
    one = tuple(plain.tokenize("A").token_ids.tolist())
    assert len(one) == 1
    reqs = [Request(CONTEXTS[0], long_ids), Request(CONTEXTS[0], one), Request(CONTEXTS[0], long_ids[:7])]
    for x, y in zip(shared.score(reqs), plain.score(reqs)):
        np.testing.assert_allclose(x.logprobs, y.logprobs, atol=1e-5, rtol=0)


def test_a_model_whose_cached_path_fails_falls_back(tiny_model_dir, monkeypatch):
    def broken(self, rows, logprobs, entropies, memo):
        raise TypeError("no cache here")

    monkeypatch.setattr(HFBackend, "_score_shared", broken)
    backend = HFBackend(tiny_model_dir, share_prefix=True)
    assert backend._prefix_path_ok is False  # the probe at construction found the cached path unusable
    reqs = [Request(CONTEXTS[1], tuple(backend.tokenize(t).token_ids.tolist())) for t in TEXTS[:3]]
    np.testing.assert_allclose(backend.score(reqs)[2].logprobs,
                               reference_logprobs(backend, CONTEXTS[1], reqs[2].target_ids), atol=1e-5)


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_llama_dir"])
def test_learned_and_rotary_positions_match_the_reference_alone_batched_and_shared(request, fixture):
    # GPT-2 (learned positions, byte-level BPE) and Llama (rotary positions, grouped key/value heads, a
    # SentencePiece-style tokenizer that adds <s> itself): every path equals plain unpadded forward passes.
    folder = request.getfixturevalue(fixture)
    shared = HFBackend(folder, batch_size=3, share_prefix=True)
    plain = HFBackend(folder, batch_size=1, share_prefix=False)
    tok = shared.tokenizer
    start = tok.bos_token_id if fixture == "tiny_llama_dir" else tok.eos_token_id  # what each tokenizer starts with
    assert shared.info.start_token == ("tokenizer:1" if fixture == "tiny_llama_dir" else "prepend:0")
    brief = "Prompt: A brief that all the texts share, long enough to be worth sharing.\nText:\n"
    reqs = [Request(c, tuple(tok(t, add_special_tokens=False)["input_ids"])) for t in TEXTS for c in (*CONTEXTS, brief)]
    for a, b, req in zip(shared.score(reqs, entropy=True), plain.score(reqs, entropy=True), reqs):
        ref = support.reference_logprobs(shared.model, tok, start, req.context, req.target_ids)
        np.testing.assert_allclose(a.logprobs, ref, atol=1e-5)
        np.testing.assert_allclose(b.logprobs, ref, atol=1e-5)
        np.testing.assert_allclose(a.entropy, b.entropy, atol=1e-5)
