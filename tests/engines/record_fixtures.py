"""Record the real vLLM engine's and server's replies on the tiny Llama into tests/engines/fixtures/ (run once).

    LD_PRELOAD=<libiomp5.so of .venv-vllm> .venv-vllm/bin/python tests/engines/record_fixtures.py

The contract tests replay these files through a fake engine and a fake HTTP server, so they run in the main
environment without vLLM. Beside each recording it stores the transformers backend's log-probabilities for the
same requests on the same weights (same run): a plain transformers forward pass per window (`ReferenceBackend`),
the reference the replayed numbers are checked against.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    import tempfile

    import httpx
    import vllm

    from cqmetric.backends.base import text_budget
    from cqmetric.backends.prompts import plan_prompts
    from cqmetric.backends.server import PROBE_TEXT
    from cqmetric.backends.vllm import VLLMBackend
    from cqmetric.types import Request
    from engine_tools import CONTEXTS, LONG_TEXT, TEXTS, ReferenceBackend, VLLMServer

    root_conftest = _module(HERE.parent / "conftest.py", "root_conftest")
    engines_conftest = _module(HERE / "conftest.py", "engines_conftest")
    tmp = Path(tempfile.mkdtemp(prefix="cqmetric-record-"))
    tok_dir = root_conftest.build_tiny_model(tmp / "gpt2")
    model_dir = engines_conftest.build_tiny_llama(tmp / "tiny-llama", tok_dir)

    hf = ReferenceBackend(model_dir, max_length=255)  # vLLM keeps one of the 256 positions for generation
    reqs = [Request(c, tuple(hf.tokenize(t).token_ids.tolist())) for t in TEXTS for c in CONTEXTS]
    long_ids = tuple(hf.tokenize(LONG_TEXT).token_ids.tolist())
    budget = text_budget(max(hf.context_length(c) for c in CONTEXTS), max_length=255)
    reqs += [Request(c, long_ids, budget) for c in CONTEXTS]
    reference = [r.logprobs.tolist() for r in hf.score(reqs)]

    backend = VLLMBackend(model_dir)
    captured = []
    real_generate = backend.engine.generate

    def recording_generate(prompts, params, **kwargs):
        outputs = real_generate(prompts, params, **kwargs)
        for out in outputs:
            captured.append({
                "prompt_token_ids": list(out.prompt_token_ids),
                "prompt_logprobs": [None if e is None else {str(k): v.logprob for k, v in e.items()}
                                    for e in out.prompt_logprobs],
            })
        return outputs

    backend.engine.generate = recording_generate
    engine_scores = backend.score(reqs)
    engine = {
        "vllm_version": vllm.__version__,
        "requests": [{"context": r.context, "target_ids": list(r.target_ids), "budget": r.budget} for r in reqs],
        "outputs": captured,
        "transformers_logprobs": reference,  # ReferenceBackend: plain forward passes, fp32
        "engine_max_abs_difference": max(
            max(abs(a - b) for a, b in zip(g.logprobs.tolist(), e)) for g, e in zip(engine_scores, reference)),
    }
    (HERE / "fixtures").mkdir(exist_ok=True)
    (HERE / "fixtures" / "vllm_engine.json").write_text(json.dumps(engine) + "\n")
    del backend

    server = VLLMServer(model_dir, tmp / "server.log").start()
    try:
        client = httpx.Client(base_url=server.url, timeout=120)
        # The texts that fit in one window (the long text's windows are covered by the engine recording).
        prompts = plan_prompts(hf.front, [r for r in reqs if not r.budget], max_length=255, stride=0)
        probe = hf.context_ids("") + hf.tokenize(PROBE_TEXT).token_ids[:8].tolist()
        all_ids = [list(p.ids) for p in prompts] + [probe]
        replies = {"prompt_logprobs": [], "echo": []}
        for ids in all_ids:
            for mode, extra in (("prompt_logprobs", {"max_tokens": 1, "prompt_logprobs": 0}),
                                ("echo", {"max_tokens": 0, "echo": True, "logprobs": 0,
                                          "return_tokens_as_token_ids": True})):
                body = {"model": "tiny-llama", "prompt": [ids], "temperature": 0.0, **extra}
                reply = client.post("/v1/completions", json=body)
                reply.raise_for_status()
                replies[mode].append({"prompt": ids, "choice": reply.json()["choices"][0]})
        recorded = {
            "models": client.get("/v1/models").json(),
            "version": client.get("/version").json(),
            "tokenize": {"prompt": PROBE_TEXT, "reply": client.post(
                "/tokenize", json={"model": "tiny-llama", "prompt": PROBE_TEXT, "add_special_tokens": False}).json()},
            "completions": replies,
        }
    finally:
        server.stop()
    (HERE / "fixtures" / "vllm_server.json").write_text(json.dumps(recorded) + "\n")
    print(f"recorded {len(captured)} engine outputs and {len(all_ids)} x 2 server replies; engine vs transformers "
          f"max |difference| {engine['engine_max_abs_difference']:.2e} nats")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
