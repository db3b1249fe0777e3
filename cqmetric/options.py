"""Every setting of a scoring run, in one checked object that `score()`, the plugins and the CLI all read.

`ScoreOptions` composes the run's own settings (estimator, normalization, aggregation, template, the corpus
interval) with the backend's two parts: `ModelSettings` (what changes numbers) and `BatchPolicy` (speed only; it
travels with each call to the backend). Keywords reach the part they belong to, so `score(..., dtype="bf16",
batch_size=4, n_boot=0)` needs no grouping. Each field carries its help text: the command line's flags, the
evaluate plugin's parameters and the metric card are made from these lists and cannot drift from `score()`.
Settings are checked when the object is made, before any model loads.

Examples:
    >>> opts = ScoreOptions.from_settings("score", normalization="byte", dtype="bf16", batch_size=4)
    >>> opts.normalization, opts.model.dtype, opts.batch.batch_size
    ('byte', 'bf16', 4)
    >>> ScoreOptions.from_settings("score", seed="x")
    Traceback (most recent call last):
    ...
    cqmetric.errors.InputValidationError: score: expected `seed` to be an integer >= 0, got 'x'.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields
from typing import Any

from cqmetric.constraints import DEFAULT_TEMPLATE, Template
from cqmetric.errors import InputValidationError
from cqmetric.information import NORMALIZATIONS
from cqmetric.resampling import CONFIDENCE, N_BOOT, SEED
from cqmetric.settings import (
    BATCH_FIELDS,
    MODEL_FIELDS,
    BatchPolicy,
    ModelSettings,
    check_fields,
    setting,
)

ESTIMATORS = ("pointwise", "expected")
AGGREGATIONS = ("token", "text")
#: Old keyword -> new keyword; the old one still works for one release, with a DeprecationWarning.
RENAMED = {"n_bootstrap": "n_boot"}


@dataclass(frozen=True)
class ScoreOptions:
    """The settings of one scoring run (see each field's help); every one that changes a number is signed.

    Attributes:
        model: the backend's `ModelSettings` (dtype, device, start token, window).
        batch: the call's `BatchPolicy` (batch size, tokens per pass, progress): speed only.
    """

    estimator: str = setting("pointwise (log-prob of the observed token) or expected (the model's prediction "
                             "entropy)", choices=ESTIMATORS, default="pointwise")
    normalization: str = setting("per text: token (bits/token), sum (bits), byte (bits/byte) or word (bits/word)",
                                 choices=NORMALIZATIONS, default="token")
    aggregation: str = setting("corpus aggregate: token (pooled over all tokens/bytes/words) or text (mean of "
                               "texts)", choices=AGGREGATIONS, default="token")
    template: Template = field(default=DEFAULT_TEMPLATE, metadata={
        "help": "renders constraints into a context; the unconstrained context is its empty rendering",
        "choices": None, "kind": Template, "minimum": None, "cli": False})
    details: bool = setting("per-token s_t, c_t, i_t in the records", kind=bool, cli=False, default=False)
    n_boot: int = setting("resamples for the corpus confidence interval (0: none)", kind=int, minimum=0,
                          cli=False, default=N_BOOT)
    seed: int = setting("seed of the bootstrap", kind=int, minimum=0, cli=False, default=SEED)
    confidence: float = setting("level of the interval", kind=float, cli=False, default=CONFIDENCE)
    model: ModelSettings = field(default_factory=ModelSettings)
    batch: BatchPolicy = field(default_factory=BatchPolicy)

    def __post_init__(self) -> None:
        self.check("ScoreOptions")

    def check(self, where: str) -> None:
        """Raise `InputValidationError` naming the first setting that is not allowed."""
        if not isinstance(self.template, Template):
            raise InputValidationError(
                f"{where}: expected `template` to be a cqmetric.Template, got {type(self.template).__name__}.")
        for name, kind in (("model", ModelSettings), ("batch", BatchPolicy)):
            if not isinstance(getattr(self, name), kind):
                raise InputValidationError(
                    f"{where}: expected `{name}` to be a cqmetric.{kind.__name__}, got {type(getattr(self, name)).__name__}.")
        check_fields(self, where)
        check_fields(self.model, where)
        check_fields(self.batch, where)

    @classmethod
    def from_settings(cls, where: str, options: ScoreOptions | None = None, **settings: Any) -> ScoreOptions:
        """`options` (or the defaults) with `settings` applied, each to its part; errors name `where` and the setting."""
        for old, new in RENAMED.items():
            if old in settings:
                if new in settings:
                    raise InputValidationError(f"{where}: got both `{old}` and `{new}`; `{old}` is the old name of `{new}`.")
                warnings.warn(f"{where}: `{old}` is now called `{new}`; the old name will be removed in 0.4.",
                              DeprecationWarning, stacklevel=3)
                settings[new] = settings.pop(old)
        own = [f.name for f in fields(cls) if f.name not in ("model", "batch")]
        names = own + list(MODEL_FIELDS) + list(BATCH_FIELDS)
        unknown = sorted(set(settings) - set(names) - {"model", "batch"})
        if unknown:
            raise InputValidationError(
                f"{where}: got unknown setting(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(names)}.")
        if options is not None and not isinstance(options, ScoreOptions):
            raise InputValidationError(
                f"{where}: expected `options` to be a cqmetric.ScoreOptions, got {type(options).__name__}.")
        base = options or ScoreOptions()
        model = settings.pop("model", base.model)
        batch = settings.pop("batch", base.batch)
        if not isinstance(model, ModelSettings) or not isinstance(batch, BatchPolicy):
            raise InputValidationError(
                f"{where}: expected `model` to be a ModelSettings and `batch` a BatchPolicy, got "
                f"{type(model).__name__} and {type(batch).__name__}.")
        model = ModelSettings.from_settings(where, model, **{k: v for k, v in settings.items() if k in MODEL_FIELDS})
        batch = BatchPolicy.from_settings(where, batch, **{k: v for k, v in settings.items() if k in BATCH_FIELDS})
        values = {f: settings.get(f, getattr(base, f)) for f in own}
        obj = object.__new__(cls)
        for name, value in {**values, "model": model, "batch": batch}.items():
            object.__setattr__(obj, name, value)
        obj.check(where)
        return obj


def option_fields(*, cli_only: bool = False) -> list[Any]:
    """Every flat setting of a scoring run (run, model, batch), for flags, plugin parameters and help text."""
    out = [f for cls in (ScoreOptions, ModelSettings, BatchPolicy) for f in fields(cls) if "help" in f.metadata]
    return [f for f in out if f.metadata["cli"] or not cli_only]
