"""ServerBackend against a local HTTP server on 127.0.0.1 that replays a real vLLM server's recorded replies
(fixtures/vllm_server.json, from tests/engines/record_fixtures.py), with faults injected: 429, 500, timeouts,
a reply without prompt log-probabilities, other token ids, NaN and -9999.

The reference numbers are the transformers backend's on the same weights, recorded in the same run.
"""

from __future__ import annotations

import copy
import http.server
import json
import math
import threading
import time

import numpy as np
import pytest
from engine_tools import load_fixture

from cqmetric.errors import BackendError, InputValidationError
from cqmetric.types import Request

pytest.importorskip("httpx", reason="httpx is not installed: `pip install 'cqmetric[server]'`")

SERVER = load_fixture("vllm_server.json")
ENGINE = load_fixture("vllm_engine.json")


class ReplayServer:
    """Serves the recording. `faults` is a list of fault names, consumed one per /v1/completions request."""

    def __init__(self, *, tokenize=True, echo_only=False, no_logprobs=False, version=True):
        self.faults: list[str] = []
        self.calls: list[dict] = []
        self.auth: list[str | None] = []
        self.modes = {mode: {tuple(r["prompt"]): r["choice"] for r in replies}
                      for mode, replies in SERVER["completions"].items()}
        replay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, payload, headers=None):
                body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                replay.auth.append(self.headers.get("Authorization"))
                if self.path == "/v1/models":
                    self._send(200, SERVER["models"])
                elif self.path == "/version" and version:
                    self._send(200, SERVER["version"])
                else:
                    self._send(404, {"detail": "Not Found"})

            def do_POST(self):
                replay.auth.append(self.headers.get("Authorization"))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/tokenize" and tokenize:
                    assert body["prompt"] == SERVER["tokenize"]["prompt"]
                    return self._send(200, SERVER["tokenize"]["reply"])
                if self.path != "/v1/completions":
                    return self._send(404, {"detail": "Not Found"})
                replay.calls.append(body)
                fault = replay.faults.pop(0) if replay.faults else None
                if fault == "429":
                    return self._send(429, {"error": "busy"}, {"Retry-After": "0"})
                if fault == "500":
                    return self._send(500, {"error": "boom"})
                if fault == "timeout":
                    time.sleep(1.5)
                mode = "prompt_logprobs" if "prompt_logprobs" in body else "echo"
                if (mode == "prompt_logprobs" and echo_only) or no_logprobs:
                    choices = [{"index": i, "text": "x", "logprobs": None} for i in range(len(body["prompt"]))]
                    return self._send(200, {"choices": choices})
                choices = []
                for i, ids in enumerate(body["prompt"]):
                    choice = copy.deepcopy(replay.modes[mode][tuple(ids)])
                    choice["index"] = i
                    if fault in ("nan", "-9999", "wrong-id", "no-prompt-logprobs") and mode == "prompt_logprobs":
                        last = choice["prompt_logprobs"][-1]
                        key = next(iter(last))
                        if fault == "wrong-id":
                            last[str(int(key) + 1)] = last.pop(key)
                        elif fault == "no-prompt-logprobs":
                            choice["prompt_logprobs"] = None
                        else:
                            last[key]["logprob"] = math.nan if fault == "nan" else -9999.0
                    choices.append(choice)
                # NaN is written as the bare token NaN, as Python's and vLLM's JSON encoders do.
                self._send(200, json.dumps({"choices": choices[::-1]}).encode())  # out of order: read by index

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def replay():
    servers = []

    def make(**kwargs):
        servers.append(ReplayServer(**kwargs))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


SHORT = [k for k, r in enumerate(ENGINE["requests"]) if not r["budget"]]  # the server recording has these


def requests():
    return [Request(ENGINE["requests"][k]["context"], tuple(ENGINE["requests"][k]["target_ids"])) for k in SHORT]


def backend_for(server, tokenizer_dir, **kwargs):
    from cqmetric.backends.server import ServerBackend

    kwargs.setdefault("backoff", 0.01)
    return ServerBackend(server.url, tokenizer=tokenizer_dir, **kwargs)


def check_numbers(results):
    assert len(results) == len(SHORT)
    for res, expected in zip(results, [ENGINE["transformers_logprobs"][k] for k in SHORT]):
        np.testing.assert_allclose(res.logprobs, expected, atol=1e-5, rtol=0)


def test_replayed_replies_give_the_transformers_numbers(replay, tiny_llama_dir):
    server = replay()
    backend = backend_for(server, tiny_llama_dir, concurrency=4, prompts_per_request=3)
    assert backend.mode == "prompt_logprobs" and backend.model == "tiny-llama" and backend.max_length == 255
    check_numbers(backend.score(requests()))
    sent = server.calls[-1]
    assert sent["prompt_logprobs"] == 0 and sent["max_tokens"] == 1 and isinstance(sent["prompt"][0][0], int)
    version = SERVER["version"]["version"]
    assert backend.info.model == f"vllm-server-{version}:tiny-llama"
    assert backend.info.dtype == "unknown" and backend.info.weights not in ("unknown", "unverified")


def test_echo_fallback_when_the_server_has_no_prompt_logprobs(replay, tiny_llama_dir):
    server = replay(echo_only=True)
    backend = backend_for(server, tiny_llama_dir, prompts_per_request=5)
    assert backend.mode == "echo"
    check_numbers(backend.score(requests()))
    assert server.calls[-1]["echo"] is True and server.calls[-1]["max_tokens"] == 0


def test_a_server_without_any_prompt_logprobs_is_a_clear_error(replay, tiny_llama_dir):
    with pytest.raises(BackendError, match="returned no prompt log-probabilities"):
        backend_for(replay(no_logprobs=True), tiny_llama_dir)


@pytest.mark.parametrize("faults", [["429", "500", "429"], ["timeout"], ["500"] * 3])
def test_429_5xx_and_timeouts_are_retried(replay, tiny_llama_dir, faults):
    server = replay()
    backend = backend_for(server, tiny_llama_dir, timeout=0.5, max_retries=3, concurrency=1, prompts_per_request=50)
    before = len(server.calls)
    server.faults = list(faults)
    check_numbers(backend.score(requests()))
    assert len(server.calls) - before == len(faults) + 1  # every failure retried, then one success


def test_retries_run_out_with_a_clear_error(replay, tiny_llama_dir):
    server = replay()
    backend = backend_for(server, tiny_llama_dir, max_retries=2, concurrency=1, prompts_per_request=50)
    server.faults = ["500"] * 3
    with pytest.raises(BackendError, match=r"failed 3 time\(s\); last: HTTP 500"):
        backend.score(requests())


def test_an_unreachable_server_is_a_clear_error(tiny_llama_dir):
    from cqmetric.backends.server import ServerBackend
    from engine_tools import free_port

    with pytest.raises(BackendError, match="Is the server up"):
        ServerBackend(f"http://127.0.0.1:{free_port()}", tokenizer=tiny_llama_dir, max_retries=1, backoff=0.01)


@pytest.mark.parametrize("fault, message", [
    ("wrong-id", "no log-probability for the sent token id"), ("nan", "nan"), ("-9999", "-9999"),
    ("no-prompt-logprobs", "has no `prompt_logprobs`"),
])
def test_bad_replies_are_refused(replay, tiny_llama_dir, fault, message):
    server = replay()
    backend = backend_for(server, tiny_llama_dir, concurrency=1, prompts_per_request=50)
    server.faults = [fault]
    with pytest.raises(BackendError, match=message):
        backend.score(requests())


def test_a_different_tokenizer_is_refused(replay, tiny_llama_dir, tmp_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(["The cat sat on the mat."], trainers.BpeTrainer(
        vocab_size=270, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>").save_pretrained(tmp_path / "other")
    with pytest.raises(BackendError, match="tokenizer differs"):
        backend_for(replay(), tmp_path / "other")


def test_the_api_key_is_sent_and_never_written(replay, tiny_llama_dir, monkeypatch, tmp_path):
    from cqmetric import score

    monkeypatch.setenv("CQMETRIC_API_KEY", "sk-secret-123")
    server = replay()
    backend = backend_for(server, tiny_llama_dir)
    assert set(server.auth) == {"Bearer sk-secret-123"}
    res = score(["The cat sat on the mat."], ["Write about a cat."], model=backend, n_boot=0)
    visible = " ".join([repr(backend), str(backend.info), res.signature.format(), json.dumps(res.to_records())])
    assert "sk-secret" not in visible
    backend = backend_for(server, tiny_llama_dir, max_retries=0)  # backends are immutable: a new one
    server.faults = ["500"] * 10
    with pytest.raises(BackendError) as caught:
        backend.score([Request("Text:\n", tuple(ENGINE["requests"][0]["target_ids"]))])
    assert "sk-secret" not in str(caught.value)


def test_settings_are_checked(replay, tiny_llama_dir):
    from cqmetric.backends.server import ServerBackend

    server = replay()
    with pytest.raises(InputValidationError, match="tokenizer"):
        ServerBackend(server.url)
    with pytest.raises(InputValidationError, match="http"):
        ServerBackend("127.0.0.1:8000", tokenizer=tiny_llama_dir)
    with pytest.raises(InputValidationError, match="among the served models"):
        ServerBackend(server.url, tokenizer=tiny_llama_dir, model="other")
    with pytest.raises(InputValidationError, match="max_model_len"):
        ServerBackend(server.url, tokenizer=tiny_llama_dir, max_length=4096)
    with pytest.raises(InputValidationError, match="full distribution"):
        backend_for(server, tiny_llama_dir).score([], entropy=True)


def test_cli_scores_through_the_server(replay, tiny_llama_dir, tmp_path):
    from cqmetric import score
    from cqmetric.cli import main

    server = replay()
    texts = ["The cat sat on the mat.", "She laughed."]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    # Without constraints only the empty context is scored: those prompts are in the recording.
    out = tmp_path / "out.jsonl"
    code = main(["score", str(src), "-o", str(out), "--server", server.url + "/v1", "--tokenizer",
                 str(tiny_llama_dir), "-q"])
    assert code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = score(texts, model=backend_for(server, tiny_llama_dir), n_boot=0)
    assert [r["surprise"] for r in rows] == pytest.approx(expected["surprise"].tolist(), abs=1e-12)
    assert all(r["signature"].startswith(f"model:vllm-server-{SERVER['version']['version']}:tiny-llama@") for r in rows)
