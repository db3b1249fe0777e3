"""A transformers backend for any causal language model.

Batches are sorted by length and padded per batch on the right with an attention mask, so a text's
log-probabilities do not depend on its neighbours. Only the positions that predict text tokens go through the
output layer, and the log-softmax runs in fp32 on those rows alone. Texts longer than the window are scored
completely with a sliding window (see `plan_request`); nothing is truncated.

When several texts share a long context (many short texts for one long brief), the context goes through the
model once and its key/value cache is reused for each of them (`share_prefix`). The two paths agree to fp32
rounding (tested to 1e-5 nats), like batches of different sizes.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import inspect
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cqmetric._validation import require
from cqmetric.backends.base import Immutable, plan_request
from cqmetric.backends.loading import (
    check_device,
    config_positions,
    convert_gguf,
    default_window,
    load_local,
    local_folder_of,
    read_rules,
    resolve_model_folder,
    weights_fingerprint,
)
from cqmetric.backends.tokens import FrontEndMixin, front_end
from cqmetric.errors import InputValidationError
from cqmetric.settings import DTYPES, BatchPolicy, ModelSettings, split_settings
from cqmetric.types import BackendInfo, Request, TokenLogProbs

logger = logging.getLogger("cqmetric")

_HEAD_CHUNK = 512  # rows of logits materialised at once (512 x 49k vocab x 4 B = 100 MB)


def _parameters_fingerprint(model: Any) -> str:
    """sha256 (12 hex) over a loaded model's parameters, for models passed as objects."""
    torch = require("torch", "hf")
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:12]


def _dtype_label(dtype: Any) -> str | None:
    """"fp32", "bf16" or "fp16" for a torch dtype (None for any other)."""
    return {"torch.float32": "fp32", "torch.bfloat16": "bf16", "torch.float16": "fp16"}.get(str(dtype))


def _cache_of(output: Any) -> Any:
    """The key/value cache of a forward pass's output (`cache` in transformers 5.20 and later, else the older name)."""
    return output.cache if hasattr(output, "cache") else getattr(output, "past_key_values", None)


class Row(NamedTuple):
    """One forward pass worth of work: `tokens` fed after the context, `tokens[first:]` scored.

    The scores land in request `request` from target position `offset` on.
    """

    context: str
    prefix: list[int]
    tokens: list[int]
    first: int
    request: int
    offset: int


class HFBackend(FrontEndMixin, Immutable):
    """Per-token log-probabilities from a transformers causal LM.

    Args:
        model: a local folder, a `.gguf` file (converted once into the cache), an id already in the local Hugging
            Face cache, or a loaded model (used as it is: never moved or cast).
        tokenizer: the tokenizer; loaded from `model` when it is a path. Must be a fast tokenizer.
        settings: the `ModelSettings` (dtype, device, start token, window); each may also be given by keyword.
            For a loaded model, dtype and device are its own (asking for others is an error: cast or move it
            yourself). "auto" start token: the model folder's rule (`cqmetric-model.json`), else the start token
            the tokenizer adds, else BOS or EOS. Default window: the model's positions less one.
        batch: the default `BatchPolicy` of this backend's calls (batch_size, batch_tokens, share_prefix,
            progress; each may also be given by keyword); a call's own policy overrides it field by field.
            Speed only: results do not depend on batching.
        device_map: passed to `from_pretrained` for models larger than one device.
        allow_pickle: load a folder whose weights exist only as pickle files (which can run code when loaded).
        name: the model's name in the signature (default: the folder's rule, else its name or the config's).
        weights: a hash or revision for the signature (default: the folder's rule, else computed from the weight
            files or tensors).

    A model folder that declares custom code (`auto_map`) is refused: cqmetric never runs a model's own code. The
    backend is immutable once built.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        settings: ModelSettings | None = None,
        batch: BatchPolicy | None = None,
        device_map: Any = None,
        allow_pickle: bool = False,
        name: str | None = None,
        weights: str | None = None,
        **overrides: Any,
    ) -> None:
        torch = require("torch", "hf")
        where = "HFBackend"
        settings, batch = split_settings(where, settings, batch, overrides)

        if isinstance(model, (str, os.PathLike)):
            if tokenizer is not None:
                raise InputValidationError(f"{where}: got a model path and a tokenizer; the tokenizer comes from the path.")
            path = Path(model).expanduser()
            if path.suffix.lower() == ".gguf" and path.is_file():
                folder = convert_gguf(path)[0]
            else:
                folder = resolve_model_folder(model, where=where)
            rules = read_rules(folder, where=where)
            target = check_device(settings.device or "cpu", where=where) if device_map is None else None
            loaded, tokenizer = load_local(folder, dtype=getattr(torch, settings.dtype_name), device_map=device_map,
                                           allow_pickle=allow_pickle, where=where)
            name = name or rules.name or (path.name if path.exists() else str(model))
            weights = weights or rules.weights or weights_fingerprint(folder)
            model = loaded.to(target) if device_map is None else loaded
            model.eval()  # cqmetric's own copy
        else:
            model = self._check_loaded(model, tokenizer, settings, device_map, where)
            rules = read_rules(local_folder_of(model), where=where)
            name = name or rules.name or getattr(model.config, "_name_or_path", None) or type(model).__name__
            weights = weights or _parameters_fingerprint(model)
        on_cpu = next(model.parameters()).device.type == "cpu"

        self._torch = torch
        self.model = model
        self.tokenizer = tokenizer
        self.batch = batch.resolve(accelerator=not on_cpu)
        self.front = front_end(tokenizer, settings, rules, where=where)
        positions = config_positions(model.config)
        self.max_length = default_window(positions) if settings.max_length is None else settings.max_length
        if positions and self.max_length > positions:
            raise InputValidationError(
                f"{where}: expected `max_length` <= the model's {positions} positions, got {self.max_length}."
            )
        self.stride = settings.stride or 0
        if self.max_length and self.stride >= self.max_length:
            raise InputValidationError(
                f"{where}: expected `stride` smaller than the window (max_length={self.max_length}), got {self.stride}."
            )
        self._info = BackendInfo(
            model=str(name), weights=str(weights), dtype=_dtype_label(next(model.parameters()).dtype),
            start_token=self.front.start_label, max_length=self.max_length, stride=self.stride,
        )
        # The key/value cache goes in as `cache` (transformers 5.20 and later) or `past_key_values` (earlier).
        self._cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        with self._eval_mode():
            self._use_head_path = self._check_head_path()
            self._prefix_path_ok = self._check_prefix_path()
        self._seal()

    @contextlib.contextmanager
    def _eval_mode(self) -> Any:
        """Evaluation mode (no dropout) for the duration of a call; a model passed in training mode gets each of its
        modules' own mode back afterwards (a model is scored mid-fine-tuning without being changed)."""
        modes = [(m, m.training) for m in self.model.modules()] if self.model.training else []
        if modes:
            self.model.eval()
        try:
            yield
        finally:
            for module, training in modes:
                module.training = training

    @staticmethod
    def _check_loaded(model: Any, tokenizer: Any, settings: ModelSettings, device_map: Any, where: str) -> Any:
        """A loaded model is used as it is; settings that would change it are refused, never applied in place."""
        torch = require("torch", "hf")
        if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
            raise InputValidationError(
                f"{where}: expected a local model path or a loaded transformers model, got {type(model).__name__}."
            )
        if tokenizer is None:
            raise InputValidationError(f"{where}: expected a `tokenizer` with a loaded model, got None; pass both.")
        param = next(model.parameters())
        label = _dtype_label(param.dtype)
        if label is None:
            raise InputValidationError(
                f"{where}: expected a loaded model in float32, bfloat16 or float16, got {param.dtype}; cast a copy first."
            )
        if settings.dtype is not None and DTYPES[settings.dtype][1] != label:
            raise InputValidationError(
                f"{where}: the loaded model is in {param.dtype} but dtype={settings.dtype!r} was asked for; cqmetric "
                "does not cast a model you pass in place: cast it (or a copy) yourself, or leave dtype unset."
            )
        asked = None if settings.device is None else check_device(settings.device, where=where)
        if asked is not None and (asked.type != param.device.type
                                  or asked.index not in (None, param.device.index)):
            raise InputValidationError(
                f"{where}: the loaded model is on {param.device} but device={settings.device!r} was asked for; "
                "cqmetric does not move a model you pass: move it yourself, or leave device unset."
            )
        if device_map is not None:
            raise InputValidationError(f"{where}: `device_map` applies to model paths only; the model is already loaded.")
        return model

    # -- settings ---------------------------------------------------------------------------------------
    @property
    def info(self) -> BackendInfo:
        return self._info

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    # -- scoring ----------------------------------------------------------------------------------------
    def _check_head_path(self) -> bool:
        """Use base model + output layer on selected rows only if it reproduces the full forward pass."""
        torch = self._torch
        base = getattr(self.model, getattr(self.model, "base_model_prefix", ""), None)
        head = self.model.get_output_embeddings()
        if base is None or head is None or base is self.model:
            return False
        ids = torch.tensor([[self.front.start_id or 0, 1, 2, 3]], device=self.device)
        with torch.inference_mode():
            full = self.model(input_ids=ids).logits.float()
            split = head(base(input_ids=ids).last_hidden_state).float()
        same = bool(torch.allclose(full, split, atol=1e-4, rtol=1e-4))
        if not same:
            logger.info("HFBackend: output layer path differs from the full forward; using the full forward.")
        return same

    def _check_prefix_path(self) -> bool:
        """Use a cached shared context only if it reproduces the plain forward pass on a probe."""
        probe = Row("", [self.front.start_id or 0, 1, 2], [3, 4, 5, 6], 0, 0, 0)
        plain, cached = [np.empty(4)], [np.empty(4)]
        try:
            self._score_plain([probe], plain, None)
            self._score_shared([probe], cached, None, {})
        except Exception as exc:  # an architecture without a usable key/value cache
            logger.info("HFBackend: shared contexts are recomputed per text (%s: %s).", type(exc).__name__, exc)
            return False
        same = bool(np.allclose(plain[0], cached[0], atol=1e-4))
        if not same:
            logger.info("HFBackend: the cached-context path differs from the plain one; recomputing per text.")
        return same

    def _rows(self, requests: Sequence[Request]) -> list[Row]:
        """Every window of every request, as context + the text tokens it feeds (see `plan_request`)."""
        rows = []
        for r_index, req in enumerate(requests):
            ctx = self.context_ids(req.context)
            target = list(req.target_ids)
            for w in plan_request(len(ctx), len(target), req.budget, max_length=self.max_length, stride=self.stride):
                rows.append(Row(req.context, ctx, target[w.start : w.end], w.score_from - w.start, r_index,
                                w.score_from))
        return rows

    def _batches(self, rows: list[Row], policy: BatchPolicy) -> list[tuple[bool, list[Row]]]:
        """(shared?, rows) per forward pass; a context worth sharing (see `share_prefix`) is run once and cached."""
        by_context: dict[str, list[Row]] = {}
        for row in rows:
            by_context.setdefault(row.context, []).append(row)
        groups: list[tuple[bool, list[Row]]] = []
        plain: list[Row] = []
        for group in by_context.values():
            if self._worth_sharing(group, policy.share_prefix):
                groups.append((True, group))
            else:
                plain += group
        groups.append((False, plain))
        batches: list[tuple[bool, list[Row]]] = []
        for shared, group in groups:
            group = sorted(group, key=lambda r: -(len(r.prefix) + len(r.tokens)))
            batches += [(shared, batch) for batch in self._fill(group, policy)]
        return batches

    @staticmethod
    def _fill(rows: list[Row], policy: BatchPolicy) -> list[list[Row]]:
        """Consecutive length-sorted rows, at most `batch_size` per batch and `batch_tokens` padded tokens."""
        batches: list[list[Row]] = []
        for row in rows:
            if batches:
                batch = batches[-1]
                width = len(batch[0].prefix) + len(batch[0].tokens)  # the longest: rows come longest first
                fits = len(batch) < policy.batch_size and (not policy.batch_tokens
                                                           or (len(batch) + 1) * width <= policy.batch_tokens)
                if fits:
                    batch.append(row)
                    continue
            batches.append([row])
        return batches

    def _worth_sharing(self, group: list[Row], share_prefix: bool | str) -> bool:
        """Whether to run this group's context once: always, never, or ("auto") when it is long beside its texts.

        Only where the cached path reproduced the plain one on a probe at construction.
        """
        if share_prefix is False or not self._prefix_path_ok or len(group) < 2:
            return False
        mean_text = sum(len(r.tokens) for r in group) / len(group)
        return share_prefix is True or len(group[0].prefix) >= mean_text / 4

    def score(self, requests: Sequence[Request], *, entropy: bool = False,
              batch: BatchPolicy | None = None) -> list[TokenLogProbs]:
        policy = self.batch if batch is None else batch.over(self.batch)  # the backend's policy is fully set
        logprobs = [np.empty(len(r.target_ids)) for r in requests]
        entropies = [np.empty(len(r.target_ids)) for r in requests] if entropy else None
        batches = self._batches(self._rows(requests), policy)
        if policy.progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="scoring", unit="batch", leave=False)
        memo: dict[str, Any] = {}  # the current shared context's states and cache (its batches come together)
        with self._eval_mode():
            for shared, rows in batches:
                if shared:
                    self._score_shared(rows, logprobs, entropies, memo)
                else:
                    self._score_plain(rows, logprobs, entropies)
        return [
            TokenLogProbs(
                token_ids=np.asarray(r.target_ids, dtype=np.int64), logprobs=lp,
                entropy=None if entropies is None else entropies[k],
            )
            for k, (r, lp) in enumerate(zip(requests, logprobs))
        ]

    def _forward(self, ids, mask, **cache_args):
        """Hidden states (head path) or logits for every position, and the key/value cache when asked."""
        if self._use_head_path:
            base = getattr(self.model, self.model.base_model_prefix)
            out = base(input_ids=ids, attention_mask=mask, **cache_args)
            return out.last_hidden_state, _cache_of(out)
        out = self.model(input_ids=ids, attention_mask=mask, **cache_args)
        return out.logits, _cache_of(out)

    def _score_plain(self, rows: list[Row], logprobs, entropies) -> None:
        """Context and text in one padded batch; the hidden state at p predicts token p + 1."""
        torch = self._torch
        width = max(len(r.prefix) + len(r.tokens) for r in rows)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        row_idx, pos_idx = [], []
        for b, row in enumerate(rows):
            seq = row.prefix + row.tokens
            ids[b, : len(seq)] = torch.tensor(seq)
            mask[b, : len(seq)] = 1
            positions = range(len(row.prefix) + row.first - 1, len(seq) - 1)
            row_idx += [b] * len(positions)
            pos_idx += list(positions)
        with torch.inference_mode():
            states, _ = self._forward(ids.to(self.device), mask.to(self.device))
            self._store(states[self._index(row_idx), self._index(pos_idx)], rows, logprobs, entropies)

    def _score_shared(self, rows: list[Row], logprobs, entropies, memo: dict[str, Any]) -> None:
        """One context, run once; its cache is repeated across the batch and the texts continue from it."""
        torch = self._torch
        device = self.device
        prefix = rows[0].prefix
        width = max(len(r.tokens) for r in rows) - 1  # the last text token predicts nothing
        with torch.inference_mode():
            if memo.get("context") != rows[0].context:
                ctx = torch.tensor([prefix], device=device)
                memo.clear()
                memo["context"] = rows[0].context
                memo["states"], memo["cache"] = self._forward(ctx, torch.ones_like(ctx), use_cache=True)
            ctx_states, cache = memo["states"], memo["cache"]
            last = ctx_states[:, -1:].expand(len(rows), 1, -1)  # predicts every text's first token
            if width > 0:
                ids = torch.zeros((len(rows), width), dtype=torch.long)
                mask = torch.zeros((len(rows), len(prefix) + width), dtype=torch.long)
                mask[:, : len(prefix)] = 1
                for b, row in enumerate(rows):
                    ids[b, : len(row.tokens) - 1] = torch.tensor(row.tokens[:-1])
                    mask[b, len(prefix) : len(prefix) + len(row.tokens) - 1] = 1
                cache = copy.deepcopy(cache)
                cache.batch_repeat_interleave(len(rows))
                positions = torch.arange(len(prefix), len(prefix) + width, device=device).expand(len(rows), -1)
                states, _ = self._forward(ids.to(device), mask.to(device), **{self._cache_arg: cache},
                                          position_ids=positions, use_cache=True)
                states = torch.cat([last, states], dim=1)  # index j now predicts text token j
            else:
                states = last
            row_idx, pos_idx = [], []
            for b, row in enumerate(rows):
                row_idx += [b] * (len(row.tokens) - row.first)
                pos_idx += list(range(row.first, len(row.tokens)))
            self._store(states[self._index(row_idx), self._index(pos_idx)], rows, logprobs, entropies)

    def _index(self, values: list[int]):
        return self._torch.tensor(values, dtype=self._torch.long, device=self.device)

    def _store(self, states, rows: list[Row], logprobs, entropies) -> None:
        """Log-softmax (fp32, in chunks) of the selected rows; scores go to their requests in row order."""
        torch = self._torch
        project = self.model.get_output_embeddings() if self._use_head_path else (lambda h: h)
        targets = self._index([t for row in rows for t in row.tokens[row.first :]])
        lp_parts, ent_parts = [], []
        for start in range(0, states.shape[0], _HEAD_CHUNK):
            lsm = torch.log_softmax(project(states[start : start + _HEAD_CHUNK]).float(), dim=-1)
            lp_parts.append(lsm.gather(1, targets[start : start + _HEAD_CHUNK, None])[:, 0])
            if entropies is not None:
                ent_parts.append(-(lsm.exp() * lsm).sum(dim=-1))
        flat_lp = torch.cat(lp_parts).double().cpu().numpy() if lp_parts else np.empty(0)
        flat_ent = torch.cat(ent_parts).double().cpu().numpy() if ent_parts else np.empty(0)
        cursor = 0
        for row in rows:
            n = len(row.tokens) - row.first
            logprobs[row.request][row.offset : row.offset + n] = flat_lp[cursor : cursor + n]
            if entropies is not None:
                entropies[row.request][row.offset : row.offset + n] = flat_ent[cursor : cursor + n]
            cursor += n
