"""Every setting of a scoring run, in one checked object that `score()`, the evaluate metric and the CLI all read.

Each field carries its help text, so the command line's flags and the metric card are made from this list and
cannot drift from `score()`. Settings are checked when the object is made, before any model loads.

Examples:
    >>> ScoreOptions(normalization="byte").normalization
    'byte'
    >>> ScoreOptions.from_settings("score", seed="x")
    Traceback (most recent call last):
    ...
    cqmetric.errors.InputValidationError: score: expected `seed` to be an integer >= 0, got 'x'.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from cqmetric._validation import check_option, check_positive_int
from cqmetric.constraints import DEFAULT_TEMPLATE, Template
from cqmetric.errors import InputValidationError
from cqmetric.information import NORMALIZATIONS

ESTIMATORS = ("pointwise", "expected")
AGGREGATIONS = ("token", "text")
DTYPE_NAMES = ("float32", "fp32", "bfloat16", "bf16")
START_TOKENS = ("auto", "prepend", "none")
#: The settings that configure the model backend (the rest configure the arithmetic and the statistics).
BACKEND_SETTINGS = ("dtype", "device", "start_token", "max_length", "stride", "batch_size", "batch_tokens")


def _doc(text: str, *, cli: bool = True, choices: tuple[str, ...] | None = None, kind: type = str) -> dict[str, Any]:
    return {"help": text, "cli": cli, "choices": choices, "kind": kind}


@dataclass(frozen=True)
class ScoreOptions:
    """The settings of one scoring run (see each field's help); every one that changes a number is signed."""

    estimator: str = field(default="pointwise", metadata=_doc(
        "pointwise (log-prob of the observed token) or expected (the model's prediction entropy)", choices=ESTIMATORS))
    normalization: str = field(default="token", metadata=_doc(
        "per text: token (bits/token), sum (bits), byte (bits/byte) or word (bits/word)", choices=NORMALIZATIONS))
    aggregation: str = field(default="token", metadata=_doc(
        "corpus aggregate: token (pooled over all tokens/bytes/words) or text (mean of texts)", choices=AGGREGATIONS))
    template: Template = field(default=DEFAULT_TEMPLATE, metadata=_doc(
        "renders constraints into a context; the unconstrained context is its empty rendering", cli=False))
    batch_size: int | None = field(default=None, metadata=_doc(
        "sequences per forward pass (speed only: results do not depend on it)", kind=int))
    batch_tokens: int | None = field(default=None, metadata=_doc(
        "tokens per forward pass, padding included (speed only; 0: no limit)", kind=int))
    dtype: str | None = field(default=None, metadata=_doc("float32 (default) or bfloat16", choices=DTYPE_NAMES))
    device: str | None = field(default=None, metadata=_doc("cpu (default), cuda, cuda:1, ..."))
    start_token: str | None = field(default=None, metadata=_doc(
        "auto (default), prepend or none: what precedes every context", choices=START_TOKENS))
    max_length: int | None = field(default=None, metadata=_doc(
        "window in tokens; longer texts are scored with a sliding window, never truncated", kind=int))
    stride: int | None = field(default=None, metadata=_doc("new text tokens per window after the first", kind=int))
    details: bool = field(default=False, metadata=_doc("per-token s_t, c_t, i_t in the records", cli=False, kind=bool))
    n_bootstrap: int = field(default=1000, metadata=_doc(
        "resamples for the corpus confidence interval (0: none)", cli=False, kind=int))
    seed: int = field(default=12345, metadata=_doc("seed of the bootstrap", cli=False, kind=int))
    confidence: float = field(default=0.95, metadata=_doc("level of the interval", cli=False, kind=float))
    progress: bool = field(default=False, metadata=_doc("show a progress bar", cli=False, kind=bool))

    def __post_init__(self) -> None:
        self.check("ScoreOptions")

    def check(self, where: str) -> None:
        """Raise `InputValidationError` naming the first setting that is not allowed."""
        for f in fields(self):
            value = getattr(self, f.name)
            meta = f.metadata
            if f.name == "template":
                if not isinstance(value, Template):
                    raise InputValidationError(
                        f"{where}: expected `template` to be a cqmetric.Template, got {type(value).__name__}.")
            elif value is None and f.default is None:
                continue
            elif meta["choices"]:
                check_option(where, f.name, value, meta["choices"])
            elif meta["kind"] is int:
                minimum = 0 if f.name in ("n_bootstrap", "seed", "batch_tokens") else 1
                check_positive_int(where, f.name, value, minimum=minimum)
            elif meta["kind"] is bool:
                if not isinstance(value, bool):
                    raise InputValidationError(f"{where}: expected `{f.name}` to be True or False, got {value!r}.")
            elif meta["kind"] is float:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                    raise InputValidationError(f"{where}: expected `{f.name}` to be a number in (0, 1), got {value!r}.")
            elif not isinstance(value, str) or not value:
                raise InputValidationError(f"{where}: expected `{f.name}` to be a non-empty string, got {value!r}.")

    @classmethod
    def from_settings(cls, where: str, options: ScoreOptions | None = None, **settings: Any) -> ScoreOptions:
        """`options` (or the defaults) with `settings` applied, checked; errors name `where` and the setting."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(settings) - set(names))
        if unknown:
            raise InputValidationError(
                f"{where}: got unknown setting(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(names)}.")
        if options is not None and not isinstance(options, ScoreOptions):
            raise InputValidationError(
                f"{where}: expected `options` to be a cqmetric.ScoreOptions, got {type(options).__name__}.")
        values = {f.name: f.default if options is None else getattr(options, f.name) for f in fields(cls)}
        values.update(settings)
        obj = object.__new__(cls)
        for name, value in values.items():
            object.__setattr__(obj, name, value)
        obj.check(where)
        return obj

    def backend_settings(self) -> dict[str, Any]:
        """The settings that configure the model backend (None: the backend's own default)."""
        return {name: getattr(self, name) for name in BACKEND_SETTINGS}


def option_fields(*, cli_only: bool = False) -> list[Any]:
    """The fields of `ScoreOptions` (those offered on the command line, with `cli_only`)."""
    return [f for f in fields(ScoreOptions) if f.metadata["cli"] or not cli_only]
