"""Load a causal language model and its tokenizer from a local folder without running code that came with it.

cqmetric never executes a model folder's own Python: a folder that declares custom code (`auto_map` in
`config.json` or `tokenizer_config.json`) is refused before transformers sees it, and transformers is called with
`trust_remote_code=False`, so it never asks on the terminal either. Weights load from safetensors; a folder whose
weights exist only as pickle files (`*.bin`, `*.pt`, `*.pth`, `*.ckpt`) is refused unless the caller opts in with
`allow_pickle=True`. A `.gguf` file is converted once into a safetensors folder in cqmetric's cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cqmetric._validation import require
from cqmetric.errors import BackendError, InputValidationError, ModelFolderError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
CODE_CONFIGS = ("config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json")


def _read_json(path: Path, where: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackendError(f"{where}: cannot read {str(path)!r} as JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise BackendError(f"{where}: expected {str(path)!r} to hold a JSON object, got a {type(data).__name__}.")
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
