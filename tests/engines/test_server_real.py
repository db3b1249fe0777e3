"""A real vLLM OpenAI-compatible server on 127.0.0.1: scores equal to the transformers backend, both request
modes, and the command line's `--resume` after the server is killed mid-run.

Marked `vllm`: run with `make test-vllm`. The server starts in about a minute on 2 cores; the kill test starts it
a second time.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from engine_tools import CONTEXTS, LONG_TEXT, TEXTS, ReferenceBackend, VLLMServer

from cqmetric.types import Request

pytestmark = pytest.mark.vllm
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def server(tiny_llama_dir, tmp_path_factory):
    srv = VLLMServer(tiny_llama_dir, tmp_path_factory.mktemp("server") / "server.log").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def hf(tiny_llama_dir):
    return ReferenceBackend(tiny_llama_dir, max_length=255)


@pytest.mark.parametrize("mode", ["auto", "echo"])
def test_server_scores_equal_transformers(server, hf, tiny_llama_dir, mode):
    from cqmetric.backends.server import ServerBackend

    backend = ServerBackend(server.url, tokenizer=tiny_llama_dir, mode=mode, dtype="float32", concurrency=3,
                            prompts_per_request=3)
    assert backend.mode == ("prompt_logprobs" if mode == "auto" else "echo")
    assert backend.model == "tiny-llama" and backend.info.max_length == 255 == hf.info.max_length
    reqs = [Request(c, tuple(hf.tokenize(t).token_ids.tolist())) for t in TEXTS for c in CONTEXTS]
    got, expected = backend.score(reqs), hf.score(reqs)
    worst = max(float(np.max(np.abs(g.logprobs - e.logprobs))) for g, e in zip(got, expected))
    print(f"{mode}: largest per-token |server - transformers|: {worst:.2e} nats")
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.logprobs, e.logprobs, atol=1e-5, rtol=0)
    alone = [backend.score([r])[0] for r in reqs[:4]]
    for a, g in zip(alone, got):
        np.testing.assert_allclose(a.logprobs, g.logprobs, atol=1e-5, rtol=0)
    long_ids = tuple(hf.tokenize(LONG_TEXT).token_ids.tolist())
    budget = 255 - max(hf.context_length(c) for c in CONTEXTS)
    long_reqs = [Request(c, long_ids, budget) for c in CONTEXTS]
    for g, e in zip(backend.score(long_reqs), hf.score(long_reqs)):
        np.testing.assert_allclose(g.logprobs, e.logprobs, atol=1e-5, rtol=0)
    backend.close()


def test_a_different_tokenizer_is_refused(server, tmp_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from cqmetric.backends.server import ServerBackend
    from cqmetric.errors import BackendError

    tok = Tokenizer(models.BPE())  # the same kind of tokenizer with fewer merges: other ids for the same text
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(TEXTS, trainers.BpeTrainer(vocab_size=280, special_tokens=["<|endoftext|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>").save_pretrained(tmp_path / "other")
    with pytest.raises(BackendError, match="tokenizer differs"):
        ServerBackend(server.url, tokenizer=tmp_path / "other")


# -- the server killed mid-run, then --resume -----------------------------------------------------------------
def _rows(n: int) -> list[dict]:
    rng = random.Random(3)
    words = " ".join(TEXTS).lower().replace(".", "").replace(",", "").split()
    return [{"id": f"r{i}", "story": " ".join(rng.choice(words) for _ in range(40)).capitalize() + ".",
             "prompt": f"Write about the {rng.choice(words)}."} for i in range(n)]


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_server_killed_mid_run_then_resume_scores_every_row_once(server, tiny_llama_dir, tmp_path):
    rows = _rows(40)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out, ref = tmp_path / "out.jsonl", tmp_path / "ref.jsonl"
    sidecar = tmp_path / "out.jsonl.progress.jsonl"
    common = ["--text-field", "story", "--constraint-field", "prompt", "--server", server.url,
              "--tokenizer", str(tiny_llama_dir), "--chunk-size", "4", "-q"]
    argv = ["score", str(src), "-o", str(out), *common, "--resume"]
    # The run sleeps 0.5 s before each chunk (numbers unchanged) so that the server dies mid-way.
    slow = ("import sys, time, cqmetric.api as a; real = a.score; "
            "a.score = lambda *x, **k: (time.sleep(0.5), real(*x, **k))[1]; "
            "from cqmetric.cli import main; raise SystemExit(main(sys.argv[1:]))")
    err_path = tmp_path / "first.err"
    with err_path.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-c", slow, *argv], env=ENV, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 300
        while _lines(sidecar) < 3:  # a header line and at least two chunks saved
            assert proc.poll() is None, err_path.read_text()
            assert time.monotonic() < deadline, err_path.read_text()
            time.sleep(0.01)
        server.kill()
        code = proc.wait(timeout=300)  # the client retries with backoff, then gives up
    first_err = err_path.read_text()
    assert code == 1, first_err
    assert "failed" in first_err and "rerun with --resume" in first_err
    assert not out.exists()
    saved = _lines(sidecar)
    assert 2 <= saved < 41

    server.start()
    resumed = subprocess.run([sys.executable, "-m", "cqmetric.cli", *argv], env=ENV, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    reused = int(resumed.stderr.split("resuming: ")[1].split(" of 40")[0])
    assert 4 <= reused < 40 and reused % 4 == 0
    assert not sidecar.exists()

    fresh = subprocess.run([sys.executable, "-m", "cqmetric.cli", "score", str(src), "-o", str(ref), *common],
                           env=ENV, capture_output=True, text=True, timeout=600)
    assert fresh.returncode == 0, fresh.stderr
    got = [json.loads(line) for line in out.read_text().splitlines()]
    expected = [json.loads(line) for line in ref.read_text().splitlines()]
    assert [r["id"] for r in got] == [r["id"] for r in rows]  # every input row exactly once, in order
    for a, b in zip(got, expected):
        assert a["signature"] == b["signature"] and a["signature"].startswith("model:vllm-server-")
        assert {k: a[k] for k in ("id", "story", "prompt", "n_tokens")} == {k: b[k] for k in ("id", "story", "prompt", "n_tokens")}
        for name in ("calibrated_surprise", "surprise", "residual"):
            assert a[name] == pytest.approx(b[name], abs=1e-6)
