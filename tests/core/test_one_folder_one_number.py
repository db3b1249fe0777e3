"""One model folder, one number: every engine reads a folder's rules the same way, and scoring changes no backend.

- A folder converted by cqmetric carries its rules (`cqmetric-model.json`: name, weights id, start token); the
  embedded model's start token (id 0) is one of them, so `model=None`, `model=str(folder)`, a `(model, tokenizer)`
  pair loaded by the user, and Ray's actors all give the same numbers. (vLLM in process and the server are checked
  on the same folder by tests/engines/test_embedded_parity.py, in `make test-vllm`.)
- Backends are immutable: `score()` never sets anything on a backend the user passes, and a call's batching
  (batch_size, batch_tokens, progress) reaches the model behind a `CachingBackend`.
- One dtype table serves the API, the command line, the plugins and the engines.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from cqmetric import score
from cqmetric.backends.cache import CachingBackend
from cqmetric.backends.hf import HFBackend
from cqmetric.backends.loading import FolderRules, read_rules, write_rules
from cqmetric.errors import InputValidationError
from cqmetric.settings import DTYPES, BatchPolicy

TEXTS = [
    "The cat sat on the mat. The dog slept by the door.",
    "A lighthouse keeper climbed the stairs at dawn and wiped the salt from the lens.",
    "Rain fell on the town for a hundred years, and the people learned to swim.",
    "She opened the letter, read it twice, and laughed at the strange handwriting.",
]
PROMPTS = ["Write about pets.", "Write about the sea.", "Write about weather.", "Write about a letter."]


def _state(backend):
    """Everything a backend holds, by value, apart from the model's tensors and the tokenizer's internals."""
    return {k: copy.copy(v) for k, v in vars(backend).items() if k not in ("model", "tokenizer", "_torch", "front")}


def _fed_widths(backend):
    """The shape of every batch of ids the model's embedding layer sees (a forward pre-hook)."""
    seen = []
    backend.model.get_input_embeddings().register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape)))
    return seen


def test_a_users_backend_is_unchanged_by_score(tiny_model_dir):
    backend = HFBackend(tiny_model_dir, batch_size=2)
    before = _state(backend)
    score(TEXTS, PROMPTS, model=backend, batch_size=3, batch_tokens=64, progress=True, share_prefix=False, n_boot=0)
    after = _state(backend)
    assert after.keys() == before.keys()
    for key in before:
        assert after[key] == before[key] or after[key] is before[key], key
    assert backend.batch == BatchPolicy(batch_size=2, batch_tokens=0, share_prefix="auto", progress=False)


def test_a_backend_refuses_to_be_changed_after_construction(tiny_model_dir):
    backend = HFBackend(tiny_model_dir)
    with pytest.raises(AttributeError, match="immutable once built.*batch_size"):
        backend.batch_size = 4
    with pytest.raises(AttributeError, match="immutable once built.*max_length"):
        backend.max_length = 16


def test_batch_tokens_reaches_the_model_behind_a_cache(tiny_model_dir):
    inner = HFBackend(tiny_model_dir, batch_size=8)
    fed = _fed_widths(inner)
    cached = CachingBackend(inner)
    # Without a token budget all 8 requests (4 texts x 2 contexts) fit into one batch of 8.
    score(TEXTS, PROMPTS, model=CachingBackend(inner), n_boot=0)
    assert max(rows for rows, _ in fed) == 8
    fed.clear()
    score(TEXTS, PROMPTS, model=cached, batch_tokens=60, n_boot=0)
    assert fed and all(rows * width <= 60 or rows == 1 for rows, width in fed), fed  # the call's budget held
    assert max(rows for rows, _ in fed) < 8
    assert cached.misses == 8 and inner.batch.batch_tokens == 0  # neither the wrapper nor the model changed


def test_per_call_batching_changes_no_number(tiny_model_dir):
    backend = HFBackend(tiny_model_dir)
    runs = [score(TEXTS, PROMPTS, model=backend, n_boot=0, **batch).to_records()
            for batch in ({}, {"batch_size": 4}, {"batch_size": 3, "batch_tokens": 50}, {"share_prefix": True})]
    for run in runs[1:]:
        for a, b in zip(run, runs[0]):
            assert a == pytest.approx(b, abs=1e-5)


def test_one_dtype_table_for_api_cli_plugins_and_engines(tiny_model_dir):
    from cqmetric.cli import build_parser
    from cqmetric.integrations import compute_signature
    from cqmetric.options import option_fields

    dtype = next(f for f in option_fields() if f.name == "dtype")
    assert tuple(dtype.metadata["choices"]) == tuple(DTYPES)
    score_parser = build_parser()._subparsers._group_actions[0].choices["score"]
    flag = next(a for a in score_parser._actions if a.dest == "dtype")
    assert tuple(flag.choices) == tuple(DTYPES)
    assert "dtype" in compute_signature().parameters
    half = score(TEXTS[:1], PROMPTS[:1], model=str(tiny_model_dir), dtype="float16", n_boot=0)
    full = score(TEXTS[:1], PROMPTS[:1], model=str(tiny_model_dir), n_boot=0)
    assert half.signature["dtype"] == "fp16" and full.signature["dtype"] == "fp32"
    assert half["surprise"][0] == pytest.approx(full["surprise"][0], abs=0.05)  # half precision, same model
    with pytest.raises(InputValidationError, match="got dtype='float64'; allowed: 'float32', 'fp32', 'bfloat16'"):
        score(TEXTS[:1], model=str(tiny_model_dir), dtype="float64")


def test_a_folders_start_token_rule_is_read_by_every_way_in(tiny_model_dir, tmp_path):
    import shutil

    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path / "ruled"
    shutil.copytree(tiny_model_dir, folder)
    write_rules(folder, FolderRules(name="ruled-model", weights="abc123", start_token="prepend", start_token_id=1))
    assert read_rules(folder) == FolderRules("ruled-model", "abc123", "prepend", 1)
    by_path = score(TEXTS, PROMPTS, model=str(folder), n_boot=0)
    pair = (AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder))
    by_pair = score(TEXTS, PROMPTS, model=pair, n_boot=0)
    explicit = score(TEXTS, PROMPTS, model=str(tiny_model_dir), start_token="prepend", start_token_id=1, n_boot=0)
    plain = score(TEXTS, PROMPTS, model=str(tiny_model_dir), n_boot=0)
    assert by_path.signature["start"] == by_pair.signature["start"] == explicit.signature["start"] == "prepend:1"
    assert plain.signature["start"] == "prepend:0"  # the tiny tokenizer's EOS, without the rule
    assert by_path.signature["model"] == "ruled-model@abc123"
    for name in ("calibrated_surprise", "surprise", "residual"):
        np.testing.assert_allclose(by_path[name], explicit[name], atol=1e-9)
        np.testing.assert_allclose(by_pair[name], explicit[name], atol=1e-5)
    assert np.max(np.abs(plain["surprise"] - explicit["surprise"])) > 1e-4  # the rule changes the numbers
    # An explicit policy wins over the folder's rule.
    assert score(TEXTS[:1], model=str(folder), start_token="none", template=_nonempty(), n_boot=0
                 ).signature["start"] == "none"


def _nonempty():
    from cqmetric import Template

    return Template(name="story", suffix="Story:\n")


def test_a_broken_rules_file_is_a_clear_error(tiny_model_dir, tmp_path):
    import shutil

    folder = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "cqmetric-model.json").write_text('{"start_token": "sometimes"}')
    with pytest.raises(InputValidationError, match="unknown start-token rule"):
        score(TEXTS[:1], model=str(folder))


def test_the_default_window_is_the_models_positions_less_one_on_every_engine(tiny_model_dir):
    backend = HFBackend(tiny_model_dir)
    assert backend.info.max_length == 255  # 256 positions; vLLM must keep one for the token it generates
    assert HFBackend(tiny_model_dir, max_length=256).info.max_length == 256  # an explicit window may use all


@pytest.mark.slow
def test_the_embedded_folder_gives_one_number_every_way_in(embedded_backend):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cqmetric.backends.embedded import EMBEDDED_NAME, embedded_model_dir

    folder, sha = embedded_model_dir()
    assert read_rules(folder) == FolderRules(EMBEDDED_NAME, sha, "prepend", 0)
    default = score(TEXTS, PROMPTS, n_boot=0)
    by_path = score(TEXTS, PROMPTS, model=str(folder), n_boot=0)
    pair = (AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32), AutoTokenizer.from_pretrained(folder))
    by_pair = score(TEXTS, PROMPTS, model=pair, n_boot=0)
    assert default.signature == by_path.signature
    assert by_pair.signature["start"] == default.signature["start"] == "prepend:0"
    for name in ("calibrated_surprise", "surprise", "residual"):
        np.testing.assert_allclose(by_path[name], default[name], atol=1e-9)
        np.testing.assert_allclose(by_pair[name], default[name], atol=1e-5)
