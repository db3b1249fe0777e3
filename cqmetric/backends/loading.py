"""Load a causal language model and its tokenizer from a local folder without running code that came with it.

cqmetric never executes a model folder's own Python: a folder that declares custom code (`auto_map` in
`config.json` or `tokenizer_config.json`) is refused before transformers sees it, and transformers is called with
`trust_remote_code=False`, so it never asks on the terminal either. Weights load from safetensors; a folder whose
weights exist only as pickle files (`*.bin`, `*.pt`, `*.pth`, `*.ckpt`) is refused unless the caller opts in with
`allow_pickle=True`. A `.gguf` file is converted once into a safetensors folder in cqmetric's cache.

This module owns everything about a model folder that every engine reads the same way: its checks, its weights'
hash, its positions and the default window, and the rules a folder converted by cqmetric carries
(`cqmetric-model.json`: the model's name, its weights id and its start-token rule). The transformers, vLLM and
server backends all resolve their settings here, so one folder gives one number on every engine.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cqmetric._validation import require
from cqmetric.errors import (
    BackendError,
    InputValidationError,
    MissingDependencyError,
    ModelFolderError,
)

logger = logging.getLogger("cqmetric")

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
CODE_CONFIGS = ("config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json")
#: The rules a folder converted by cqmetric carries (name, weights id, start-token rule).
RULES_FILE = "cqmetric-model.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")
_CONVERSION_VERSION = 1  # bump when the conversion changes what is written


def _read_json(path: Path, where: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFolderError(f"{where}: cannot read {str(path)!r} as JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise ModelFolderError(f"{where}: expected {str(path)!r} to hold a JSON object, got a {type(data).__name__}.")
    return data


def custom_code_files(folder: Path, *, where: str = "model") -> list[str]:
    """The code files a folder's configs ask transformers to import (`auto_map`), as `config -> file.py` strings.

    Examples:
        >>> import json, tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "config.json").write_text(json.dumps({"auto_map": {"AutoModelForCausalLM": "evil.Model"}}))
        >>> custom_code_files(d)
        ['config.json -> evil.py']
    """
    found: list[str] = []
    for name in CODE_CONFIGS:
        path = folder / name
        if not path.is_file():
            continue
        auto_map = _read_json(path, where).get("auto_map")
        if not auto_map:
            continue
        refs = auto_map.values() if isinstance(auto_map, dict) else [auto_map]
        for ref in refs:
            for item in ref if isinstance(ref, (list, tuple)) else [ref]:
                if isinstance(item, str) and item:
                    module = item.split("--")[-1].rsplit(".", 1)[0]  # "repo--module.Class" or "module.Class"
                    found.append(f"{name} -> {module}.py")
    return list(dict.fromkeys(found))


def resolve_model_folder(model: str | os.PathLike[str], *, where: str = "model") -> Path:
    """A local model folder: the path itself, or the cached snapshot of a hub id (never downloaded)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise InputValidationError(
            f"{where}: expected a model folder (config.json and weights) or a .gguf file, got the file {str(path)!r}."
        )
    text = str(model)
    if text.count("/") == 1 and not text.startswith((".", "/", "~")):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(text, local_files_only=True))
        except Exception:  # noqa: BLE001 - any failure means: not in the local cache
            pass
    raise InputValidationError(
        f"{where}: expected a local model folder, a .gguf file or the id of a model already in the local Hugging Face "
        f"cache, got {text!r}, which is none of these (nothing is downloaded at run time)."
    )


def check_model_folder(folder: Path, *, allow_pickle: bool = False, where: str = "model") -> None:
    """Refuse a folder that declares custom code, has no config, or holds only pickle weights (unless allowed)."""
    if not (folder / "config.json").is_file():
        listing = ", ".join(sorted(p.name for p in folder.iterdir())[:8]) or "nothing"
        raise ModelFolderError(
            f"{where}: expected a model folder with config.json, got {str(folder)!r} holding {listing}."
        )
    code = custom_code_files(folder, where=where)
    if code:
        raise ModelFolderError(
            f"{where}: the model folder {str(folder)!r} declares custom code ({'; '.join(code)}); cqmetric never "
            "runs code that comes with a model. Use a model whose architecture transformers ships."
        )
    names = [p.name for p in folder.iterdir() if p.is_file()]
    if any(n.endswith(".safetensors") for n in names):
        return
    pickles = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES))
    if pickles and not allow_pickle:
        raise ModelFolderError(
            f"{where}: the model folder {str(folder)!r} holds its weights only as pickle files ({', '.join(pickles)}), "
            "which can run code when loaded; convert them to safetensors, or, if you trust this folder, load it with "
            "cqmetric.backends.hf.HFBackend(path, allow_pickle=True) and pass that backend as model=."
        )
    if not pickles:
        raise ModelFolderError(f"{where}: expected weights (*.safetensors) in {str(folder)!r}, got none.")


def load_local(folder: Path, *, dtype: Any, device_map: Any = None, allow_pickle: bool = False,
               load_tokenizer: bool = True, where: str = "model") -> tuple[Any, Any]:
    """The checked folder's model (and tokenizer), offline, with remote code off."""
    transformers = require("transformers", "hf")
    check_model_folder(folder, allow_pickle=allow_pickle, where=where)
    check_vision_stack(where)
    hf_logging = transformers.utils.logging
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # loading bars are noise in a scoring run
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=dtype, device_map=device_map, local_files_only=True, trust_remote_code=False,
            use_safetensors=None if allow_pickle else True,
        )
        tokenizer = (transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True,
                                                                trust_remote_code=False)
                     if load_tokenizer else None)
    except Exception as exc:  # noqa: BLE001 - transformers and safetensors raise many kinds; all mean "not loadable"
        reason = f"{type(exc).__name__}: " + " ".join(str(exc).split())[:300]
        raise BackendError(f"{where}: could not load a causal LM from {str(folder)!r} offline: {reason}") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return model, tokenizer


def check_device(device: Any, *, where: str = "model") -> Any:
    """A `torch.device` for `device`, refusing names torch does not know and accelerators this machine lacks."""
    torch = require("torch", "hf")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputValidationError(f"{where}: got device={device!r}, which torch does not accept ({exc}).") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "meta": False,
                 "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()}
    if not available.get(dev.type, True):
        raise InputValidationError(
            f"{where}: got device={device!r}, but this machine has no usable {dev.type} device; use device='cpu'."
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputValidationError(
            f"{where}: got device={device!r}, but only {torch.cuda.device_count()} CUDA device(s) are visible."
        )
    return dev


# -- what a folder says about itself -------------------------------------------------------------------------
def weights_fingerprint(folder: Path) -> str:
    """sha256 (12 hex) over the weight files of a local model folder ("unknown" when it has none)."""
    files = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    if not files:
        return "unknown"
    digest = hashlib.sha256()
    for f in files:
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def model_positions(folder: Path) -> int:
    """The model's maximum positions from its config.json (0 when it does not say)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    return config_positions(config.get("text_config", config))


def config_positions(config: Any) -> int:
    """Maximum positions from a config (a dict or a transformers config object; 0 when it does not say)."""
    get = config.get if isinstance(config, dict) else (lambda k: getattr(config, k, None))
    return int(get("max_position_embeddings") or get("n_positions") or 0)


def default_window(positions: int) -> int:
    """The window every engine uses when none is given: the model's positions less one (0: unbounded).

    vLLM, in process or as a server, must fit the one token it generates after a prompt, so its longest window is
    one token short of the model's positions; every engine takes that same window, so a folder gives the same
    numbers and the same signature on each.

    Examples:
        >>> default_window(8192), default_window(0)
        (8191, 0)
    """
    return max(0, positions - 1)


@dataclass(frozen=True)
class FolderRules:
    """What a folder converted by cqmetric says about itself (`cqmetric-model.json`); None where it says nothing.

    Attributes:
        name: the model's name in signatures.
        weights: the id of its weights in signatures (e.g. the source file's sha256).
        start_token, start_token_id: the start-token rule "auto" resolves to for this model.
    """

    name: str | None = None
    weights: str | None = None
    start_token: str | None = None
    start_token_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def read_rules(folder: Path | None, *, where: str = "model") -> FolderRules:
    """The rules in `folder`'s `cqmetric-model.json` (empty rules for a folder without one, or for None)."""
    if folder is None or not (Path(folder) / RULES_FILE).is_file():
        return FolderRules()
    data = _read_json(Path(folder) / RULES_FILE, where)
    known = {k: data[k] for k in ("name", "weights", "start_token", "start_token_id") if k in data}
    if known.get("start_token") not in (None, "auto", "prepend", "none") or not isinstance(
            known.get("start_token_id", 0), int):
        raise ModelFolderError(f"{where}: {str(Path(folder) / RULES_FILE)!r} holds an unknown start-token rule: {data}.")
    return FolderRules(**known)


def write_rules(folder: Path, rules: FolderRules) -> None:
    """Write `rules` into `folder` atomically (a reader never sees half a file)."""
    tmp = folder / f".{RULES_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(rules.to_dict(), sort_keys=True), encoding="utf-8")
    os.replace(tmp, folder / RULES_FILE)


def local_folder_of(model: Any) -> Path | None:
    """The local folder a loaded transformers model came from, if it names one that exists."""
    name = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", None)
    if isinstance(name, str) and name and Path(name).expanduser().is_dir():
        return Path(name).expanduser()
    return None


# -- loading ------------------------------------------------------------------------------------------------
def check_vision_stack(where: str = "model") -> None:
    """Refuse to load when torchvision is installed but broken (built for another torch).

    transformers imports torchvision, when it is installed, while it resolves model classes; a torchvision built
    for another torch then fails every load with "Could not import module 'LlamaConfig'". cqmetric needs neither
    torchvision nor torchaudio, so the fix is to remove them or install the builds made for this torch.
    """
    if importlib.util.find_spec("torchvision") is None:
        return
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any failure to import it breaks transformers' model classes
        torch = require("torch", "hf")
        reason = f"{type(exc).__name__}: " + " ".join(str(exc).split())[:200]
        raise MissingDependencyError(
            f"{where}: torchvision is installed but does not import with torch {torch.__version__} ({reason}); "
            "transformers then fails to load any model. cqmetric needs neither torchvision nor torchaudio: "
            "`pip uninstall -y torchvision torchaudio torchcodec`, or install the builds made for this torch."
        ) from None


def load_tokenizer(folder: Path, *, where: str) -> Any:
    """A fast tokenizer from a local folder, offline, refusing a folder that declares custom code."""
    code = custom_code_files(folder, where=where)
    if code:
        raise ModelFolderError(
            f"{where}: the folder {str(folder)!r} declares custom code ({'; '.join(code)}); cqmetric never runs "
            "code that comes with a model."
        )
    transformers = require("transformers", "hf")
    try:
        return transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001 - any failure means the folder has no loadable tokenizer
        reason = f"{type(exc).__name__}: " + " ".join(str(exc).split())[:300]
        raise BackendError(f"{where}: could not load a tokenizer from {str(folder)!r} offline: {reason}") from None


# -- GGUF files, converted once -----------------------------------------------------------------------------
def cache_dir() -> Path:
    """Where converted models live: `$CQMETRIC_CACHE`, `$XDG_CACHE_HOME/cqmetric` or `~/.cache/cqmetric`."""
    if os.environ.get("CQMETRIC_CACHE"):
        return Path(os.environ["CQMETRIC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cqmetric"


def file_sha256(path: Path) -> str:
    """The sha256 of a file (hex)."""
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
    check_vision_stack("model")
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


def convert_gguf(gguf: str | os.PathLike[str], *, name: str | None = None,
                 start_token: str | None = None, start_token_id: int | None = None) -> tuple[Path, str]:
    """A safetensors folder for a GGUF file, converted once into the cache, and the file's sha256 (12 hex).

    The folder is named after `name` (default: the file's stem), the GGUF's hash, the conversion version and
    transformers' major version, so a changed file, conversion or transformers gets a new folder. Later loads read
    the safetensors in seconds. The folder carries its rules (`cqmetric-model.json`): the name, the file's hash as
    the weights id and, when given, the start-token rule, so every engine that reads the folder treats it alike.
    """
    gguf = Path(gguf)
    if not gguf.is_file():
        raise InputValidationError(f"model: expected a GGUF file, got {str(gguf)!r}, which does not exist.")
    with gguf.open("rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":
        raise InputValidationError(
            f"model: expected a GGUF file (it starts with the bytes 'GGUF'), got {str(gguf)!r}, which is not a GGUF "
            f"file (it starts with {magic!r}).")
    sha = file_sha256(gguf)
    # A folder saved by one major version of transformers may not load in another: one folder per major version.
    major = require("transformers", "hf").__version__.split(".")[0]
    target = cache_dir() / f"{name or gguf.stem}-{sha[:12]}-c{_CONVERSION_VERSION}-tf{major}"
    if not (target / "cqmetric-source.json").is_file():
        _convert(gguf, target, sha)
    rules = FolderRules(name=name or gguf.stem, weights=sha[:12], start_token=start_token,
                        start_token_id=start_token_id)
    if read_rules(target) != rules:  # a folder converted before the rules existed gets them now
        write_rules(target, rules)
    return target, sha[:12]
