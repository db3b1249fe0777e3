"""`get_backend`: what `model=` names, as a backend, loaded once per process and shared.

A model name (None for the embedded model, a folder, a `.gguf` file, "vllm:PATH") and its `ModelSettings` make
one backend per process; later calls with the same name and settings reuse it. Backends are immutable, so sharing
them is safe: a call's batching travels with the call, never on the backend.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cqmetric.backends.base import LogProbBackend
from cqmetric.errors import InputValidationError
from cqmetric.settings import BATCH_FIELDS, ModelSettings

__all__ = ["get_backend"]

_BACKENDS: dict[tuple[Any, ...], LogProbBackend] = {}


def get_backend(model: Any = None, *, settings: ModelSettings | None = None, where: str = "score",
                **overrides: Any) -> LogProbBackend:
    """Resolve `model` to a backend, loading it once per process and reusing it afterwards.

    Args:
        model: None (the embedded SmolLM2-135M), a local model folder, a `.gguf` file, an id already in the local
            Hugging Face cache, "vllm:PATH" (vLLM in process), a `(model, tokenizer)` pair, or any object with the
            backend protocol (then the settings that change numbers belong on that object, not here).
        settings: the `ModelSettings` (dtype, device, start token, window); each may also be given by keyword.
        where: the caller's name, for error messages.

    Examples:
        >>> from cqmetric.backends.precomputed import PrecomputedBackend
        >>> backend = PrecomputedBackend.example()
        >>> get_backend(backend) is backend
        True
        >>> get_backend(backend, batch_size=4)
        Traceback (most recent call last):
        ...
        cqmetric.errors.InputValidationError: score: batch settings ('batch_size') belong to each call, not to a backend; pass them to score(...).
    """
    speed = sorted(set(overrides) & set(BATCH_FIELDS))
    if speed:
        raise InputValidationError(
            f"{where}: batch settings ({', '.join(map(repr, speed))}) belong to each call, not to a backend; pass "
            "them to score(...).")
    settings = ModelSettings.from_settings(where, settings, **overrides)
    given = settings.given()
    if isinstance(model, LogProbBackend):
        if given:
            raise InputValidationError(
                f"{where}: got a backend object and model settings {sorted(given)}; set them on the backend instead."
            )
        return model
    if isinstance(model, tuple) and len(model) == 2:
        from cqmetric.backends.hf import HFBackend

        return HFBackend(model[0], model[1], settings=settings)
    if model is None or isinstance(model, (str, os.PathLike)):
        key = (_cache_key(model), tuple(sorted(given.items())))
        backend = _BACKENDS.get(key)
        if backend is None:
            backend = _BACKENDS[key] = _load(model, settings, where)
        return backend
    raise InputValidationError(
        f"{where}: expected `model` to be None (the embedded model), a local model path, a (model, tokenizer) "
        f"pair or a backend object, got {type(model).__name__} ({model!r:.60})."
    )


def _cache_key(model: str | os.PathLike[str] | None) -> str | None:
    """What identifies a model name across calls: a local path resolved (so "model" in another working folder is
    another model), a hub id or a missing path as it is."""
    if model is None:
        return None
    text = str(model)
    prefix = "vllm:" if text.startswith("vllm:") else ""
    path = Path(text[len(prefix):]).expanduser()
    return prefix + str(path.resolve()) if path.exists() else text


def _load(model: str | os.PathLike[str] | None, settings: ModelSettings, where: str) -> LogProbBackend:
    """A new backend for a model name (None: the embedded model; "vllm:PATH": vLLM in process)."""
    if model is None:
        from cqmetric.backends.embedded import load_embedded

        return load_embedded(settings=settings)
    if str(model).startswith("vllm:"):
        path = str(model)[len("vllm:"):]
        if not path:
            raise InputValidationError(f"{where}: expected model='vllm:PATH' with a model folder after 'vllm:', got nothing.")
        from cqmetric.backends.vllm import (
            VLLMBackend,  # raises MissingDependencyError naming the install if absent
        )

        return VLLMBackend(path, settings=settings)
    from cqmetric.backends.hf import HFBackend

    return HFBackend(model, settings=settings)
