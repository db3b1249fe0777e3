"""The settings of a model backend, in two frozen parts: what changes numbers, and what changes only speed.

- `ModelSettings`: the dtype, the device, the start-token policy and the window. Every engine (transformers,
  vLLM, a server, Ray's actors) takes one, resolves what is left unset by the same rules (`cqmetric.backends.folder`
  reads the rules a model folder carries), and writes the result into its `BackendInfo`, hence the signature.
- `BatchPolicy`: sequences and tokens per forward pass, shared-context reuse and the progress bar. It travels
  with each call (`backend.score(requests, batch=...)`), so a backend is never changed by scoring, and it never
  changes a number.

Each field's metadata (help, allowed values, kind) is the one list the API, the command line, the evaluate
plugin and the engines read; `check_fields` applies it at the boundary.

Examples:
    >>> ModelSettings(dtype="bf16").dtype_label
    'bf16'
    >>> ModelSettings(dtype="float64")
    Traceback (most recent call last):
    ...
    cqmetric.errors.InputValidationError: ModelSettings: got dtype='float64'; allowed: 'float32', 'fp32', 'bfloat16', 'bf16', 'float16', 'fp16'.
    >>> BatchPolicy(batch_size=4).resolve(accelerator=False).batch_size
    4
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, fields, replace
from typing import Any

from cqmetric._validation import check_option, check_positive_int
from cqmetric.errors import InputValidationError

#: Every dtype name any engine accepts -> (the framework's name, the label in signatures). One table for all.
DTYPES: dict[str, tuple[str, str]] = {
    "float32": ("float32", "fp32"), "fp32": ("float32", "fp32"),
    "bfloat16": ("bfloat16", "bf16"), "bf16": ("bfloat16", "bf16"),
    "float16": ("float16", "fp16"), "fp16": ("float16", "fp16"),
}
START_TOKENS = ("auto", "prepend", "none")
SHARE_PREFIX = (True, False, "auto")


def setting(help: str, *, choices: tuple[Any, ...] | None = None, kind: type = str, minimum: int | None = None,
            cli: bool = True, default: Any = None) -> Any:
    """A dataclass field carrying its help text, allowed values and kind (the metadata `check_fields` reads)."""
    return field(default=default, metadata={"help": help, "choices": choices, "kind": kind, "minimum": minimum,
                                            "cli": cli})


def check_value(where: str, name: str, value: Any, meta: dict[str, Any]) -> Any:
    """`value` checked against one field's metadata; None always passes (it means: the default)."""
    if value is None:
        return None
    if meta["choices"]:
        return check_option(where, name, value, meta["choices"])
    kind = meta["kind"]
    if kind is int:
        return check_positive_int(where, name, value, minimum=meta["minimum"] if meta["minimum"] is not None else 1)
    if kind is bool:
        if not isinstance(value, bool):
            raise InputValidationError(f"{where}: expected `{name}` to be True or False, got {value!r}.")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < float(value) < 1:
            raise InputValidationError(f"{where}: expected `{name}` to be a number in (0, 1), got {value!r}.")
        return float(value)
    if kind is not str:
        if not isinstance(value, kind):
            raise InputValidationError(f"{where}: expected `{name}` to be a {kind.__name__}, got {type(value).__name__}.")
        return value
    if not isinstance(value, str) or not value:
        raise InputValidationError(f"{where}: expected `{name}` to be a non-empty string, got {value!r}.")
    return value


def check_fields(obj: Any, where: str) -> None:
    """Check every field of a settings dataclass against its metadata (fields without metadata are skipped).

    A value of another accepted type is stored in its plain form (a numpy float as a float).
    """
    for f in fields(obj):
        if "help" in f.metadata:
            value = check_value(where, f.name, getattr(obj, f.name), f.metadata)
            if value is not None and type(value) is not type(getattr(obj, f.name)):
                object.__setattr__(obj, f.name, value)


def _from_settings(cls: type, where: str, base: Any, settings: dict[str, Any]) -> Any:
    """An instance of `cls`: `base` (or the defaults) with `settings` applied, checked with errors naming `where`."""
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(settings) - set(names))
    if unknown:
        raise InputValidationError(
            f"{where}: got unknown setting(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(names)}.")
    if base is not None and not isinstance(base, cls):
        raise InputValidationError(f"{where}: expected a cqmetric.{cls.__name__}, got {type(base).__name__}.")
    obj = object.__new__(cls)  # checked below, with `where` in the messages, instead of by __post_init__
    for f in fields(cls):
        value = settings[f.name] if f.name in settings else (f.default if base is None else getattr(base, f.name))
        object.__setattr__(obj, f.name, value)
    check_fields(obj, where)
    return obj


@dataclass(frozen=True)
class ModelSettings:
    """Settings that change the numbers; None leaves each to the engine's rule (written into the signature).

    Attributes:
        dtype: the weights' and activations' dtype (default float32, the reference).
        device: where the model runs (default cpu); not in the signature, but an accelerator may round otherwise.
        start_token: what precedes every context: "auto" (the model folder's rule, else the start token the
            tokenizer adds, else BOS or EOS), "prepend" (always `start_token_id`, default BOS or EOS) or "none".
        start_token_id: the id "prepend" puts first.
        max_length: the window in tokens (context + text); longer texts are scored with a sliding window. Default:
            the model's positions less one, on every engine (vLLM keeps one position for the token it generates).
        stride: new text tokens scored per window after the first (default: half of what a window holds).
    """

    dtype: str | None = setting("float32 (default), bfloat16 or float16", choices=tuple(DTYPES))
    device: str | None = setting("cpu (default), cuda, cuda:1, ...")
    start_token: str | None = setting("auto (default), prepend or none: what precedes every context",
                                      choices=START_TOKENS)
    start_token_id: int | None = setting("the id start_token='prepend' puts before every context", kind=int,
                                         minimum=0)
    max_length: int | None = setting(
        "window in tokens (default: the model's positions less one); longer texts are scored with a sliding "
        "window, never truncated", kind=int)
    stride: int | None = setting("new text tokens per window after the first", kind=int)

    def __post_init__(self) -> None:
        check_fields(self, "ModelSettings")

    @classmethod
    def from_settings(cls, where: str, base: ModelSettings | None = None, **settings: Any) -> ModelSettings:
        """`base` (or the defaults) with `settings` applied, checked; errors name `where`."""
        return _from_settings(cls, where, base, settings)

    @property
    def dtype_label(self) -> str:
        """"fp32", "bf16" or "fp16" (float32 when unset)."""
        return DTYPES[self.dtype or "float32"][1]

    @property
    def dtype_name(self) -> str:
        """"float32", "bfloat16" or "float16" (float32 when unset)."""
        return DTYPES[self.dtype or "float32"][0]

    def given(self) -> dict[str, Any]:
        """The settings that are set (not None)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class BatchPolicy:
    """How one call batches its forward passes: speed only, never a number.

    Attributes:
        batch_size: sequences per forward pass (default: 1 on a CPU, where padding costs more than batching
            gains, 8 on an accelerator).
        batch_tokens: tokens per forward pass, padding included (0 or None: no limit).
        share_prefix: run a context shared by several texts once and reuse its key/value cache: "auto" (when the
            context is long beside its texts), True or False. Used where the engine's cached path reproduces
            its plain one.
        progress: show a progress bar.
    """

    batch_size: int | None = setting("sequences per forward pass (speed only: results do not depend on it)",
                                     kind=int)
    batch_tokens: int | None = setting("tokens per forward pass, padding included (speed only; 0: no limit)",
                                       kind=int, minimum=0)
    share_prefix: bool | str | None = setting("reuse a shared context's cache: auto (default), True or False",
                                              choices=SHARE_PREFIX, cli=False)
    progress: bool | None = setting("show a progress bar (default: no)", kind=bool, cli=False)

    def __post_init__(self) -> None:
        check_fields(self, "BatchPolicy")

    @classmethod
    def from_settings(cls, where: str, base: BatchPolicy | None = None, **settings: Any) -> BatchPolicy:
        """`base` (or the defaults) with `settings` applied, checked; errors name `where`."""
        return _from_settings(cls, where, base, settings)

    def over(self, default: BatchPolicy | None) -> BatchPolicy:
        """This policy, with the fields it leaves unset taken from `default` (a backend's own policy)."""
        if default is None:
            return self
        return replace(default, **{f.name: getattr(self, f.name) for f in fields(self)
                                   if getattr(self, f.name) is not None})

    def resolve(self, *, accelerator: bool) -> BatchPolicy:
        """Every field set: the defaults filled in for a model on a CPU or on an accelerator.

        Examples:
            >>> BatchPolicy().resolve(accelerator=True)
            BatchPolicy(batch_size=8, batch_tokens=0, share_prefix='auto', progress=False)
        """
        return replace(self, batch_size=self.batch_size or (8 if accelerator else 1),
                       batch_tokens=self.batch_tokens or 0,
                       share_prefix="auto" if self.share_prefix is None else self.share_prefix,
                       progress=bool(self.progress))


def settings_fields(cls: type) -> list[Any]:
    """The fields of a settings dataclass that carry help text."""
    return [f for f in fields(cls) if "help" in f.metadata]


MODEL_FIELDS = tuple(f.name for f in fields(ModelSettings))
BATCH_FIELDS = tuple(f.name for f in fields(BatchPolicy))


def split_settings(where: str, settings: ModelSettings | None, batch: BatchPolicy | None,
                   overrides: dict[str, Any]) -> tuple[ModelSettings, BatchPolicy]:
    """A backend's settings: `settings` and `batch` with keyword overrides routed to the part they belong to.

    Examples:
        >>> m, b = split_settings("doc", None, None, {"dtype": "bf16", "batch_size": 4})
        >>> m.dtype, b.batch_size
        ('bf16', 4)
    """
    unknown = sorted(set(overrides) - set(MODEL_FIELDS) - set(BATCH_FIELDS))
    if unknown:
        raise InputValidationError(
            f"{where}: got unknown setting(s) {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join(MODEL_FIELDS + BATCH_FIELDS)}.")
    model = ModelSettings.from_settings(where, settings, **{k: v for k, v in overrides.items() if k in MODEL_FIELDS})
    policy = BatchPolicy.from_settings(where, batch, **{k: v for k, v in overrides.items() if k in BATCH_FIELDS})
    return model, policy
