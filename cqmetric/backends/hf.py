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

import copy
import hashlib
import inspect
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cqmetric._validation import check_option, check_positive_int, require
from cqmetric.backends.base import plan_request
from cqmetric.backends.loading import check_device, load_local, resolve_model_folder
from cqmetric.backends.tokens import START_TOKEN_POLICIES, FrontEndMixin, TokenizerFrontEnd
from cqmetric.errors import InputValidationError
from cqmetric.types import BackendInfo, Request, TokenLogProbs

logger = logging.getLogger("cqmetric")

DTYPES = {"float32": "fp32", "fp32": "fp32", "bfloat16": "bf16", "bf16": "bf16"}
_HEAD_CHUNK = 512  # rows of logits materialised at once (512 x 49k vocab x 4 B = 100 MB)


def _weights_fingerprint(path: Path) -> str:
    """sha256 (12 hex) over the weight files of a local model directory."""
    files = sorted(p for p in path.iterdir() if p.suffix in {".safetensors", ".bin", ".gguf", ".pt"})
    if not files:
        return "unknown"
    digest = hashlib.sha256()
    for f in files:
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def _parameters_fingerprint(model: Any) -> str:
    """sha256 (12 hex) over a loaded model's parameters, for models passed as objects."""
    torch = require("torch", "hf")
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:12]


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


class HFBackend(FrontEndMixin):
    """Per-token log-probabilities from a transformers causal LM.

    Args:
        model: a local folder, a `.gguf` file (converted once into the cache), an id already in the local Hugging
            Face cache, or a loaded model (used as it is: never moved or cast).
        tokenizer: the tokenizer; loaded from `model` when it is a path. Must be a fast tokenizer.
        dtype: "float32" (default for paths, the reference) or "bfloat16"; for a loaded model, its own dtype
            (asking for another one is an error: cast it yourself).
        device: where to run ("cpu", "cuda", "cuda:1"); for a loaded model, where it already is.
        device_map: passed to `from_pretrained` for models larger than one device.
        start_token: "auto" (use the start token the tokenizer adds, else prepend BOS or EOS), "prepend"
            (always prepend `start_token_id`, default BOS or EOS), or "none" (the context must be non-empty).
        start_token_id: the id to prepend under "prepend".
        max_length: the window in tokens (context + text); default: the model's maximum positions.
        stride: new text tokens scored per window after the first; default: half of what a window holds after
            the text's longest context ("auto").
        batch_size: at most this many sequences per forward pass; default: 1 on a CPU (padding there costs more
            than batching gains: see benchmarks/results/scale.md), 8 on an accelerator.
        batch_tokens: at most this many tokens per forward pass, padding included (0: no limit); sequences are
            sorted by length first, so little padding is left. Speed only: results do not depend on batching.
        share_prefix: run a context shared by several texts once and reuse its key/value cache: "auto" (when
            the context is at least a quarter as long as the texts after it, on average; a short prompt saves
            nothing measurable), True (whenever two texts or more share it) or False. Speed only; off for a
            model whose cached path does not reproduce the plain one.
        allow_pickle: load a folder whose weights exist only as pickle files (which can run code when loaded).
        name: the model's name in the signature (default: the path's last part or the config's name).
        weights: a hash or revision for the signature (default: computed from the weight files or tensors).
        progress: show a progress bar over batches.

    A model folder that declares custom code (`auto_map`) is refused: cqmetric never runs a model's own code.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        dtype: str | None = None,
        device: str | None = None,
        device_map: Any = None,
        start_token: str = "auto",
        start_token_id: int | None = None,
        max_length: int | None = None,
        stride: int | None = None,
        batch_size: int | None = None,
        batch_tokens: int = 0,
        share_prefix: bool | str = "auto",
        allow_pickle: bool = False,
        name: str | None = None,
        weights: str | None = None,
        progress: bool = False,
    ) -> None:
        torch = require("torch", "hf")
        where = "HFBackend"
        if dtype is not None:
            check_option(where, "dtype", dtype, DTYPES)
        check_option(where, "start_token", start_token, START_TOKEN_POLICIES)
        if share_prefix not in (True, False, "auto"):
            raise InputValidationError(f"{where}: expected `share_prefix` True, False or 'auto', got {share_prefix!r}.")
        if batch_size is not None:
            check_positive_int(where, "batch_size", batch_size)
        self.batch_tokens = check_positive_int(where, "batch_tokens", batch_tokens, minimum=0)
        self.progress = bool(progress)

        if isinstance(model, (str, os.PathLike)):
            if tokenizer is not None:
                raise InputValidationError(f"{where}: got a model path and a tokenizer; the tokenizer comes from the path.")
            torch_dtype = torch.float32 if DTYPES.get(dtype or "float32") == "fp32" else torch.bfloat16
            path = Path(model).expanduser()
            if path.suffix.lower() == ".gguf" and path.is_file():
                from cqmetric.backends.embedded import convert_gguf

                folder, gguf_sha = convert_gguf(path)
                name, weights = name or path.stem, weights or gguf_sha
            else:
                folder = resolve_model_folder(model, where=where)
                name = name or (path.name if path.exists() else str(model))
            if device_map is None:
                target = check_device(device or "cpu", where=where)
            loaded, tokenizer = load_local(folder, dtype=torch_dtype, device_map=device_map,
                                           allow_pickle=allow_pickle, where=where)
            if weights is None:
                weights = _weights_fingerprint(folder)
            model = loaded.to(target) if device_map is None else loaded
        else:
            model = self._check_loaded(model, tokenizer, dtype, device, device_map, where)
            name = name or getattr(model.config, "_name_or_path", None) or type(model).__name__
            weights = weights or _parameters_fingerprint(model)
        model.eval()
        on_cpu = next(model.parameters()).device.type == "cpu"
        self.batch_size = batch_size if batch_size is not None else (1 if on_cpu else 8)

        self._torch = torch
        self.model = model
        self.tokenizer = tokenizer
        self.front = TokenizerFrontEnd(tokenizer, start_token=start_token, start_token_id=start_token_id, where=where)
        self._dtype_label = "fp32" if next(model.parameters()).dtype == torch.float32 else "bf16"
        limit = int(getattr(model.config, "max_position_embeddings", 0) or getattr(model.config, "n_positions", 0))
        self.max_length = check_positive_int(where, "max_length", max_length) if max_length is not None else limit
        if limit and self.max_length > limit:
            raise InputValidationError(
                f"{where}: expected `max_length` <= the model's {limit} positions, got {self.max_length}."
            )
        self.stride = 0 if stride is None else check_positive_int(where, "stride", stride)
        if self.max_length and self.stride >= self.max_length:
            raise InputValidationError(
                f"{where}: expected `stride` smaller than the window (max_length={self.max_length}), got {self.stride}."
            )
        self._info = BackendInfo(
            model=str(name), weights=str(weights), dtype=self._dtype_label, start_token=self.front.start_label,
            max_length=self.max_length, stride=self.stride,
        )
        # The key/value cache goes in as `cache` (transformers 5.20 and later) or `past_key_values` (earlier).
        self._cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self._use_head_path = self._check_head_path()
        self.share_prefix = share_prefix if share_prefix is False or self._check_prefix_path() else False

    @staticmethod
    def _check_loaded(model: Any, tokenizer: Any, dtype: str | None, device: str | None, device_map: Any,
                      where: str) -> Any:
        """A loaded model is used as it is; settings that would change it are refused, never applied in place."""
        torch = require("torch", "hf")
        if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
            raise InputValidationError(
                f"{where}: expected a local model path or a loaded transformers model, got {type(model).__name__}."
            )
        if tokenizer is None:
            raise InputValidationError(f"{where}: expected a `tokenizer` with a loaded model, got None; pass both.")
        param = next(model.parameters())
        label = {torch.float32: "fp32", torch.bfloat16: "bf16"}.get(param.dtype)
        if label is None:
            raise InputValidationError(
                f"{where}: expected a loaded model in float32 or bfloat16, got {param.dtype}; cast a copy first."
            )
        if dtype is not None and DTYPES[dtype] != label:
            raise InputValidationError(
                f"{where}: the loaded model is in {param.dtype} but dtype={dtype!r} was asked for; cqmetric does not "
                "cast a model you pass in place: cast it (or a copy) yourself, or leave dtype unset."
            )
        asked = None if device is None else check_device(device, where=where)
        if asked is not None and (asked.type != param.device.type
                                  or asked.index not in (None, param.device.index)):
            raise InputValidationError(
                f"{where}: the loaded model is on {param.device} but device={device!r} was asked for; cqmetric does "
                "not move a model you pass: move it yourself, or leave device unset."
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

    def _batches(self, rows: list[Row]) -> list[tuple[bool, list[Row]]]:
        """(shared?, rows) per forward pass; a context worth sharing (see `share_prefix`) is run once and cached."""
        by_context: dict[str, list[Row]] = {}
        for row in rows:
            by_context.setdefault(row.context, []).append(row)
        groups: list[tuple[bool, list[Row]]] = []
        plain: list[Row] = []
        for group in by_context.values():
            if self._worth_sharing(group):
                groups.append((True, group))
            else:
                plain += group
        groups.append((False, plain))
        batches: list[tuple[bool, list[Row]]] = []
        for shared, group in groups:
            group = sorted(group, key=lambda r: -(len(r.prefix) + len(r.tokens)))
            batches += [(shared, batch) for batch in self._fill(group)]
        return batches

    def _fill(self, rows: list[Row]) -> list[list[Row]]:
        """Consecutive length-sorted rows, at most `batch_size` per batch and `batch_tokens` padded tokens."""
        batches: list[list[Row]] = []
        for row in rows:
            if batches:
                batch = batches[-1]
                width = len(batch[0].prefix) + len(batch[0].tokens)  # the longest: rows come longest first
                fits = len(batch) < self.batch_size and (not self.batch_tokens
                                                         or (len(batch) + 1) * width <= self.batch_tokens)
                if fits:
                    batch.append(row)
                    continue
            batches.append([row])
        return batches

    def _worth_sharing(self, group: list[Row]) -> bool:
        """Whether to run this group's context once: always, never, or ("auto") when it is long beside its texts."""
        if self.share_prefix is False or len(group) < 2:
            return False
        mean_text = sum(len(r.tokens) for r in group) / len(group)
        return self.share_prefix is True or len(group[0].prefix) >= mean_text / 4

    def score(self, requests: Sequence[Request], *, entropy: bool = False) -> list[TokenLogProbs]:
        logprobs = [np.empty(len(r.target_ids)) for r in requests]
        entropies = [np.empty(len(r.target_ids)) for r in requests] if entropy else None
        batches = self._batches(self._rows(requests))
        if self.progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="scoring", unit="batch", leave=False)
        memo: dict[str, Any] = {}  # the current shared context's states and cache (its batches come together)
        for shared, batch in batches:
            if shared:
                self._score_shared(batch, logprobs, entropies, memo)
            else:
                self._score_plain(batch, logprobs, entropies)
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
