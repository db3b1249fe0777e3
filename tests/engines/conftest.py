"""Engines: a tiny random fp32 Llama (head_dim 32, which vLLM's CPU attention needs), and the `vllm` marker's skip.

Tests marked `vllm` start the real vLLM engine or its server; they run in `.venv-vllm` (`make test-vllm`). Where
vLLM is not installed they are skipped with a message that says so.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from pathlib import Path

import pytest

HAS_VLLM = importlib.util.find_spec("vllm") is not None
VLLM_SKIP = "vLLM is not installed in this environment; run these tests with `make test-vllm` (.venv-vllm)"


_EXIT: dict[str, int] = {}


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """Shut the in-process vLLM engines down while the interpreter is whole, and keep the session's exit status.

    vLLM's engine client can abort the interpreter during its own finalization (a monitor thread writes to a closed
    stream, then "terminate called without an active exception"), turning a passing run into exit 134.
    """
    if "vllm" not in sys.modules:
        return
    _EXIT["status"] = int(exitstatus)
    import gc

    from vllm import LLM

    for engine in [obj for obj in gc.get_objects() if type(obj) is LLM]:  # type(): no lazy attribute lookups
        with contextlib.suppress(Exception):
            engine.llm_engine.engine_core.shutdown()
    gc.collect()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """After the report is written, leave with the session's status without the engines' interpreter finalization."""
    if "status" in _EXIT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT["status"])


def pytest_collection_modifyitems(config, items):
    if HAS_VLLM:
        return
    skip = pytest.mark.skip(reason=VLLM_SKIP)
    for item in items:
        if "vllm" in item.keywords:
            item.add_marker(skip)


def build_tiny_llama(path: Path, tokenizer_source: Path, *, positions: int = 256, seed: int = 0) -> Path:
    """A 2-layer random Llama (hidden 64, 2 heads of 32) in fp32 with the tiny BPE tokenizer, saved to `path`."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(tokenizer_source))
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=positions,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=False,
                         torch_dtype="float32")
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.float32)
    with torch.no_grad():  # larger weights than the default init, so log-probs differ between tokens and contexts
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.1)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), tiny_model_dir)
