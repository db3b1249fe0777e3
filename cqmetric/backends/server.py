"""A running vLLM (or OpenAI-compatible) server's `/v1/completions`, fed token ids, read for prompt log-probabilities.

cqmetric tokenizes locally with the served model's tokenizer (`TokenizerFrontEnd`, as every backend does) and
sends token-id prompts, so the server never re-tokenizes a text. Each window of each request is one prompt
(`plan_prompts`, the transformers backend's plan). The request asks for `prompt_logprobs=0` (vLLM's extension:
the log-probability of every prompt token) with `max_tokens=1`; a server without it is asked with the classic
`echo=true, logprobs=0, max_tokens=0` instead, with token ids in place of token strings. Which of the two a
server answers is found once, at start-up, with a probe.

Checks: the served model and its window (`max_model_len`) come from `/v1/models`; the server's tokenizer must
tokenize a probe text to the same ids as the local one (`/tokenize`, where the server has it); every returned
position must carry the id that was sent; NaN and -9999 (the server's stand-in for -inf) are refused.

Requests run on a bounded pool of threads (`concurrency`), several prompts per request; 429, 5xx, timeouts and
refused connections are retried with exponential backoff and jitter (capped), honouring `Retry-After`. An API
key is read from `$CQMETRIC_API_KEY` (else `$OPENAI_API_KEY`) and sent as a Bearer header; it is never written
into results, logs, errors or the signature.

HTTP client: httpx (connection pooling and keep-alive across threads, separate connect/read timeouts, a
well-kept library that the OpenAI and vLLM clients use themselves).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from cqmetric._validation import check_option, check_positive_int, require
from cqmetric.backends.base import Immutable
from cqmetric.backends.loading import (
    default_window,
    load_tokenizer,
    model_positions,
    read_rules,
    weights_fingerprint,
)
from cqmetric.backends.prompts import (
    Prompt,
    plan_prompts,
    read_prompt_logprobs,
    scatter,
)
from cqmetric.backends.tokens import FrontEndMixin, front_end
from cqmetric.errors import BackendError, InputValidationError
from cqmetric.settings import BatchPolicy, ModelSettings, split_settings
from cqmetric.types import BackendInfo, Request, TokenLogProbs

logger = logging.getLogger("cqmetric")

API_KEY_VARIABLES = ("CQMETRIC_API_KEY", "OPENAI_API_KEY")
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MODES = ("auto", "prompt_logprobs", "echo")
PROBE_TEXT = "The cat sat on the mat, and the quick brown fox jumped over the lazy dog."


class ServerBackend(FrontEndMixin, Immutable):
    """Per-token log-probabilities from a running vLLM (or compatible) server.

    Args:
        base_url: the server, e.g. "http://127.0.0.1:8000" (a trailing "/v1" is accepted).
        model: the served model's name (default: the only model the server lists).
        tokenizer: a local folder holding the served model's tokenizer (required: cqmetric tokenizes). When it
            also holds the weights (the folder the server was started from), their hash goes into the signature,
            and the folder's rules (`cqmetric-model.json`: name, weights id, start token) apply as on every engine.
        settings: the `ModelSettings` (each may also be given by keyword): start_token, start_token_id,
            max_length, stride as for `HFBackend`; the window defaults to the model's positions less one (the
            server generates one token after each prompt), within the server's `max_model_len`; dtype is the
            dtype the server runs, for the signature (default "unknown": a server does not say); device must be
            unset.
        batch: the default `BatchPolicy` (only `progress` applies: the server batches itself).
        weights: a hash or revision of the served weights for the signature (default: the folder's rule, else
            the hash of the weight files in `tokenizer`'s folder, else "unverified").
        concurrency: requests in flight at once.
        prompts_per_request: prompts sent together in one request.
        timeout: seconds to wait for one response.
        max_retries: retries of one request after 429, 5xx, a timeout or a refused connection.
        backoff, backoff_cap: the first retry waits about `backoff` seconds, each next one twice as long (with
            jitter), never more than `backoff_cap`.
        mode: "auto" (probe the server), "prompt_logprobs" or "echo".
        progress: show a progress bar over requests.
    """

    supports_entropy = False

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        tokenizer: str | os.PathLike[str] | None = None,
        settings: ModelSettings | None = None,
        batch: BatchPolicy | None = None,
        weights: str | None = None,
        concurrency: int = 8,
        prompts_per_request: int = 8,
        timeout: float = 120.0,
        max_retries: int = 6,
        backoff: float = 0.5,
        backoff_cap: float = 30.0,
        mode: str = "auto",
        **overrides: Any,
    ) -> None:
        where = "ServerBackend"
        self._httpx = require("httpx", "server")
        settings, batch = split_settings(where, settings, batch, overrides)
        if settings.device is not None:
            raise InputValidationError(f"{where}: got device={settings.device!r}; the server decides where it runs.")
        check_option(where, "mode", mode, MODES)
        self.base_url = self._check_url(base_url, where)
        if tokenizer is None:
            raise InputValidationError(
                f"{where}: expected `tokenizer`, a local folder with the served model's tokenizer (cqmetric "
                "tokenizes and sends ids), got None; on the command line: --tokenizer PATH."
            )
        folder = Path(tokenizer).expanduser()
        if not folder.is_dir():
            raise InputValidationError(f"{where}: expected `tokenizer` to be a local folder, got {str(tokenizer)!r}.")
        self.concurrency = check_positive_int(where, "concurrency", concurrency)
        self.prompts_per_request = check_positive_int(where, "prompts_per_request", prompts_per_request)
        self.max_retries = check_positive_int(where, "max_retries", max_retries, minimum=0)
        for label, value in (("timeout", timeout), ("backoff", backoff), ("backoff_cap", backoff_cap)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InputValidationError(f"{where}: expected `{label}` to be a number > 0, got {value!r}.")
        self.timeout, self.backoff, self.backoff_cap = float(timeout), float(backoff), float(backoff_cap)
        self.batch = batch.resolve(accelerator=True)

        self.tokenizer = load_tokenizer(folder, where=where)
        rules = read_rules(folder, where=where)
        self.front = front_end(self.tokenizer, settings, rules, where=where)
        key = next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = self._httpx.Client(
            headers=headers, timeout=self._httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
            limits=self._httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
        )

        self.model, served_window = self._served_model(model, where)
        # The same default window as every engine (the model's positions less one), within what the server takes.
        rule_window = default_window(model_positions(folder)) if (folder / "config.json").is_file() else 0
        window = settings.max_length or (min(rule_window, served_window) if rule_window and served_window
                                         else rule_window or served_window)
        if not window:
            raise InputValidationError(
                f"{where}: the server does not report max_model_len for {self.model!r}; pass max_length (the window).")
        if served_window and window > served_window:
            raise InputValidationError(
                f"{where}: expected `max_length` <= {served_window} (the server's max_model_len less the one "
                f"token it generates), got {window}.")
        self.max_length = window
        self.stride = settings.stride or 0
        if self.stride >= self.max_length:
            raise InputValidationError(
                f"{where}: expected `stride` smaller than the window (max_length={self.max_length}), got {self.stride}.")
        self._check_tokenizer(where)
        self.mode = self._probe_mode(mode, where)
        engine = self._engine_version()
        if weights is None:
            found = rules.weights or weights_fingerprint(folder)
            weights = "unverified" if found == "unknown" else found
        self._info = BackendInfo(
            model=f"{engine}:{self.model}", weights=str(weights),
            dtype=settings.dtype_label if settings.dtype else "unknown",
            start_token=self.front.start_label, max_length=self.max_length, stride=self.stride,
        )
        self._seal()

    def __repr__(self) -> str:  # never shows the headers (the API key)
        return f"ServerBackend({self.base_url!r}, model={self.model!r}, mode={self.mode!r})"

    @staticmethod
    def _check_url(base_url: Any, where: str) -> str:
        if not isinstance(base_url, str):
            raise InputValidationError(f"{where}: expected `base_url` to be a URL string, got {type(base_url).__name__}.")
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputValidationError(
                f"{where}: expected an http(s) URL such as http://127.0.0.1:8000, got {base_url!r}.")
        url = base_url.strip().rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url

    # -- HTTP -------------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                 optional: bool = False) -> Any:
        """JSON of one request, retried on 429/5xx/timeouts/refused connections; None for 404/405 if `optional`."""
        httpx = self._httpx
        url = f"{self.base_url}{path}"
        last = ""
        for attempt in range(self.max_retries + 1):
            wait = None
            try:
                resp = self._client.request(method, url, json=body)
            except httpx.TimeoutException as exc:
                last = f"no response within {self.timeout:g} s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if optional and resp.status_code in (404, 405):
                    return None
                if resp.status_code in RETRY_STATUS:
                    last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                    wait = self._retry_after(resp)
                elif resp.status_code >= 400:
                    raise BackendError(
                        f"ServerBackend: {method} {url} was refused with HTTP {resp.status_code}: "
                        f"{' '.join(resp.text.split())[:400]}"
                    )
                else:
                    try:
                        return resp.json()
                    except ValueError:
                        raise BackendError(
                            f"ServerBackend: {method} {url} answered HTTP {resp.status_code} with something that is "
                            f"not JSON: {resp.text[:200]!r}") from None
            if attempt == self.max_retries:
                break
            delay = min(self.backoff_cap, self.backoff * 2 ** attempt)
            delay = delay * random.uniform(0.5, 1.0) if wait is None else min(self.backoff_cap, wait)
            logger.warning("ServerBackend: %s %s failed (%s); retry %d of %d in %.1f s.", method, url, last,
                           attempt + 1, self.max_retries, delay)
            time.sleep(delay)
        raise BackendError(
            f"ServerBackend: {method} {url} failed {self.max_retries + 1} time(s); last: {last}. Is the server up?"
        )

    @staticmethod
    def _retry_after(resp: Any) -> float | None:
        value = resp.headers.get("retry-after")
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None

    # -- start-up checks --------------------------------------------------------------------------------
    def _served_model(self, model: str | None, where: str) -> tuple[str, int]:
        listing = self._request("GET", "/v1/models")
        if not isinstance(listing, dict) or not isinstance(listing.get("data"), list):
            raise BackendError(
                f"{where}: expected {self.base_url}/v1/models to answer an OpenAI model listing "
                f"({{\"data\": [...]}}), got {str(listing)[:120]!r}; is this a vLLM (or compatible) server?")
        entries = [m for m in listing["data"] if isinstance(m, dict) and m.get("id")]
        names = [m["id"] for m in entries]
        if model is None:
            if len(names) != 1:
                raise InputValidationError(
                    f"{where}: the server lists {len(names)} models ({', '.join(names) or 'none'}); name one with "
                    "model=... (on the command line: --server-model NAME).")
            model = names[0]
        elif names and model not in names:
            raise InputValidationError(
                f"{where}: expected model {model!r} among the served models, got {', '.join(names)}.")
        entry = next((m for m in entries if m["id"] == model), {})
        served = int(entry.get("max_model_len") or 0)
        return model, max(0, served - 1)  # a prompt plus the one token the server generates must fit

    def _engine_version(self) -> str:
        found = self._request("GET", "/version", optional=True)
        version = found.get("version") if isinstance(found, dict) else None
        return f"vllm-server-{version}" if version else "openai-server"

    def _check_tokenizer(self, where: str) -> None:
        """The server must tokenize a probe text to the ids the local tokenizer gives (skipped without /tokenize)."""
        local = [int(i) for i in self.tokenizer(PROBE_TEXT, add_special_tokens=False)["input_ids"]]
        found = self._request("POST", "/tokenize", {"model": self.model, "prompt": PROBE_TEXT,
                                                    "add_special_tokens": False}, optional=True)
        if found is None:
            logger.info("ServerBackend: the server has no /tokenize; the tokenizer is checked by ids only.")
            return
        remote = found.get("tokens") if isinstance(found, dict) else None
        if remote != local:
            raise BackendError(
                f"{where}: the server's tokenizer differs from the local one at {self.tokenizer.name_or_path!r}: a "
                f"probe text gives {len(local)} ids locally ({local[:6]}...) and {len(remote or [])} on the server "
                f"({(remote or [])[:6]}...); pass the served model's own tokenizer folder."
            )

    def _probe_mode(self, mode: str, where: str) -> str:
        ids = self.front.context_ids("") + [int(i) for i in self.front.tokenize(PROBE_TEXT).token_ids[:8]]
        probe = Prompt(tuple(ids), len(ids) - 1, 0, 0)
        tried = []
        for candidate in (("prompt_logprobs", "echo") if mode == "auto" else (mode,)):
            try:
                self._post([probe], candidate)
                return candidate
            except BackendError as exc:
                tried.append(f"{candidate}: {exc}")
        raise BackendError(
            f"{where}: the server returned no prompt log-probabilities for a token-id prompt; cqmetric needs "
            "`prompt_logprobs` (vLLM) or `echo` with `logprobs`. Tried " + " / ".join(tried))

    # -- the backend protocol ---------------------------------------------------------------------------
    @property
    def info(self) -> BackendInfo:
        return self._info

    def score(self, requests: Sequence[Request], *, entropy: bool = False,
              batch: BatchPolicy | None = None) -> list[TokenLogProbs]:
        if entropy:
            raise InputValidationError(
                "ServerBackend: estimator='expected' needs the model's full distribution at every position, which "
                "a server does not return; use estimator='pointwise' or the transformers backend."
            )
        policy = self.batch if batch is None else batch.over(self.batch)
        prompts = plan_prompts(self.front, requests, max_length=self.max_length, stride=self.stride)
        size = self.prompts_per_request
        chunks = [prompts[i : i + size] for i in range(0, len(prompts), size)]
        values: list[np.ndarray] = []
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="cqmetric-server") as pool:
            results = pool.map(lambda chunk: self._post(chunk, self.mode), chunks)
            if policy.progress:
                from tqdm.auto import tqdm

                results = tqdm(results, total=len(chunks), desc="scoring", unit="request", leave=False)
            for chunk_values in results:
                values += chunk_values
        logprobs = scatter(prompts, values, requests)
        return [TokenLogProbs(np.asarray(r.target_ids, dtype=np.int64), lp) for r, lp in zip(requests, logprobs)]

    def _post(self, chunk: list[Prompt], mode: str) -> list[np.ndarray]:
        """One /v1/completions request for `chunk`; the scored log-probabilities of each prompt, in order."""
        where = "ServerBackend"
        body: dict[str, Any] = {"model": self.model, "prompt": [list(p.ids) for p in chunk], "temperature": 0.0}
        if mode == "prompt_logprobs":
            body.update(max_tokens=1, prompt_logprobs=0)
        else:
            body.update(max_tokens=0, echo=True, logprobs=0, return_tokens_as_token_ids=True)
        reply = self._request("POST", "/v1/completions", body)
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not isinstance(choices, list) or len(choices) != len(chunk):
            raise BackendError(
                f"{where}: expected {len(chunk)} choices from /v1/completions, got "
                f"{len(choices) if isinstance(choices, list) else 'none'}.")
        choices = sorted(choices, key=lambda c: c.get("index", 0))
        out = []
        for prompt, choice in zip(chunk, choices):
            entries = choice.get("prompt_logprobs") if mode == "prompt_logprobs" else self._echo_entries(choice, prompt)
            if entries is None:
                raise BackendError(
                    f"{where}: the server's reply has no `{'prompt_logprobs' if mode == 'prompt_logprobs' else 'logprobs'}`"
                    " for a prompt; it does not return prompt log-probabilities in this mode.")
            out.append(read_prompt_logprobs(entries, prompt, where=where))
        return out

    @staticmethod
    def _echo_entries(choice: dict[str, Any], prompt: Prompt) -> list[Any] | None:
        """`[None, {id: logprob}, ...]` from an echo reply whose tokens are "token_id:N" strings."""
        logprobs = choice.get("logprobs")
        if not isinstance(logprobs, dict) or logprobs.get("token_logprobs") is None:
            return None
        tokens, values = logprobs.get("tokens") or [], logprobs["token_logprobs"]
        n = len(prompt.ids)
        if len(tokens) < n or len(values) < n:
            raise BackendError(
                f"ServerBackend: the echo reply covers {min(len(tokens), len(values))} of the prompt's {n} tokens.")
        entries: list[Any] = [None]
        for token, value in zip(tokens[1:n], values[1:n]):
            if not (isinstance(token, str) and token.startswith("token_id:")):
                raise BackendError(
                    f"ServerBackend: the echo reply names tokens as text ({token!r}), not ids, so the ids cannot be "
                    "checked; the server must honour return_tokens_as_token_ids or support prompt_logprobs.")
            entries.append({int(token.split(":", 1)[1]): value})
        return entries

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()
