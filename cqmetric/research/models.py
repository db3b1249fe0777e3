"""The models of a before/after comparison: a base and its tuned checkpoints, checked before any model pass.

A checkpoint is a local folder holding either a full model (config.json and safetensors weights) or a PEFT
LoRA adapter (adapter_config.json and adapter_model.safetensors) that is applied to the base and merged in
memory. Every folder goes through `cqmetric.backends.loading`'s checks: a folder that declares its own code
(`auto_map`) is refused and transformers runs with `trust_remote_code=False`; pickle-only weights are refused.

Before anything is scored, each checkpoint must share the base's tokenizer (same vocabulary, same special
tokens, same ids on probe texts: a difference in information is only defined over the same token ids), and an
adapter must fit the base (its target modules exist there and its matrices have the shapes the base's layers
need; checked on a weightless copy of the base's architecture).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cqmetric._validation import require
from cqmetric.backends.loading import (
    PICKLE_SUFFIXES,
    check_model_folder,
    custom_code_files,
    load_local,
)
from cqmetric.errors import BackendError, InputValidationError, ModelFolderError

__all__ = ["Checkpoint", "inspect_checkpoint", "check_same_tokenizer", "check_adapter_fits", "load_base",
           "merged_model", "files_fingerprint", "load_tokenizer", "has_tokenizer", "load_full",
           "check_vocab_size"]

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PROBES = ("The keeper climbed the stairs at dawn.", "  Leading spaces, tabs\tand\nnewlines.",
          "Numbers 1234567 and punctuation: (a), [b]; {c}!?", "Unicode: café, naïve, 東京, emoji 🙂.")


@dataclass(frozen=True)
class Checkpoint:
    """One model of the comparison, as inspected (nothing loaded yet).

    Attributes:
        label: its name in the result (default: the folder's name).
        path: the folder.
        kind: "full" (a whole model) or "adapter" (a PEFT LoRA adapter for the base).
        files: sha256 (12 hex) of its weight files, for the signature.
    """

    label: str
    path: Path
    kind: str
    files: str


def files_fingerprint(folder: Path, suffixes: Sequence[str] = (".safetensors",)) -> str:
    """sha256 (12 hex) over the named weight files of a folder, in name order.

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "a.safetensors").write_bytes(b"abc")
        >>> files_fingerprint(d)
        'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    for f in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in suffixes):
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def _read_adapter_config(folder: Path, where: str) -> dict[str, Any]:
    try:
        data = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFolderError(f"{where}: cannot read {str(folder / ADAPTER_CONFIG)!r} as JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise ModelFolderError(f"{where}: expected {str(folder / ADAPTER_CONFIG)!r} to hold a JSON object.")
    return data


def inspect_checkpoint(path: Any, *, label: str | None = None, where: str = "run_cqa") -> Checkpoint:
    """Check a checkpoint folder without loading it: a full model or a LoRA adapter, no code, no pickle.

    Raises:
        InputValidationError: not a folder.
        ModelFolderError: the folder declares custom code, holds only pickle weights, or is neither a model
            nor a LoRA adapter.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputValidationError(
            f"{where}: expected a checkpoint folder path, got {type(path).__name__} ({path!r:.60}).")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise InputValidationError(
            f"{where}: expected a checkpoint folder, got {str(folder)!r}, which is not a folder.")
    name = label or folder.name
    if not (folder / ADAPTER_CONFIG).is_file():
        check_model_folder(folder, where=f"{where}: checkpoint {name!r}")
        return Checkpoint(name, folder, "full", files_fingerprint(folder))
    code = custom_code_files(folder, where=where)
    if code:
        raise ModelFolderError(
            f"{where}: the adapter folder {str(folder)!r} declares custom code ({'; '.join(code)}); cqmetric never "
            "runs code that comes with a model."
        )
    config = _read_adapter_config(folder, where)
    if config.get("peft_type") != "LORA":
        raise ModelFolderError(
            f"{where}: expected a LoRA adapter (peft_type 'LORA') in {str(folder)!r}, got peft_type "
            f"{config.get('peft_type')!r}; only LoRA adapters are merged."
        )
    if not (folder / ADAPTER_WEIGHTS).is_file():
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
        got = f"only pickle weights ({', '.join(pickles)}), which can run code when loaded" if pickles else "none"
        raise ModelFolderError(
            f"{where}: expected the adapter weights {ADAPTER_WEIGHTS} in {str(folder)!r}, got {got}.")
    return Checkpoint(name, folder, "adapter", files_fingerprint(folder))


def load_tokenizer(folder: Path, where: str = "run_cqa") -> Any:
    """A checked folder's tokenizer, offline, remote code off."""
    transformers = require("transformers", "hf")
    try:
        return transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds; all mean "not loadable"
        reason = f"{type(exc).__name__}: " + " ".join(str(exc).split())[:200]
        raise BackendError(f"{where}: could not load the tokenizer of {str(folder)!r}: {reason}") from None


def has_tokenizer(folder: Path) -> bool:
    """Whether a folder carries tokenizer files of its own."""
    return any((folder / n).is_file() for n in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"))


def check_same_tokenizer(base: Any, other: Any, *, label: str, texts: Sequence[str] = (),
                         where: str = "run_cqa") -> None:
    """Refuse a tokenizer that differs from the base's in vocabulary, special tokens or ids on probe texts.

    Raises:
        InputValidationError: naming the first difference.
    """
    def refuse(what: str) -> None:
        raise InputValidationError(
            f"{where}: checkpoint {label!r} has another tokenizer than the base ({what}); a difference in "
            "information between two models is only defined over the same token ids: tune from the base and keep "
            "its tokenizer."
        )

    vb, vo = base.get_vocab(), other.get_vocab()
    if len(vb) != len(vo):
        refuse(f"vocabulary of {len(vo)} entries, expected {len(vb)}")
    if vb != vo:
        diff = next(t for t in sorted(set(vb) | set(vo), key=str) if vb.get(t) != vo.get(t))
        refuse(f"token {diff!r} has id {vo.get(diff)} there, {vb.get(diff)} in the base")
    for attr in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"):
        if getattr(base, attr, None) != getattr(other, attr, None):
            refuse(f"{attr} {getattr(other, attr, None)}, expected {getattr(base, attr, None)}")
    for text in (*PROBES, *texts):
        a = base(text, add_special_tokens=True)["input_ids"]
        b = other(text, add_special_tokens=True)["input_ids"]
        if list(a) != list(b):
            refuse(f"the probe text {text!r:.50} gives other ids")


def check_vocab_size(checkpoint: Checkpoint, base_config: Any, *, where: str = "run_cqa") -> None:
    """Refuse a full checkpoint whose output layer covers another vocabulary size than the base's."""
    config = json.loads((checkpoint.path / "config.json").read_text(encoding="utf-8"))
    size, expected = config.get("vocab_size"), getattr(base_config, "vocab_size", None)
    if size != expected:
        raise InputValidationError(
            f"{where}: checkpoint {checkpoint.label!r} has another tokenizer than the base (a vocabulary of {size} "
            f"ids, expected {expected}); a difference in information between two models is only defined over the "
            "same token ids."
        )


def check_adapter_fits(checkpoint: Checkpoint, base_config: Any, *, where: str = "run_cqa") -> None:
    """Refuse a LoRA adapter whose target modules or matrix shapes do not fit the base's architecture.

    The adapter is attached to a weightless (meta-device) copy of the base's architecture, and the shapes it
    expects are compared with those stored in the adapter file; nothing is computed.

    Raises:
        InputValidationError: the adapter was made for another base.
    """
    torch = require("torch", "hf")
    transformers = require("transformers", "hf")
    peft = require("peft", "cqa")
    from safetensors import safe_open

    intro = f"{where}: the LoRA adapter {checkpoint.label!r} ({str(checkpoint.path)!r}) does not fit the base"
    config = _read_adapter_config(checkpoint.path, where)
    base_name = config.get("base_model_name_or_path")
    made_for = f"; it names {base_name!r} as its base" if base_name else ""
    try:
        lora = peft.LoraConfig.from_pretrained(str(checkpoint.path))
        with torch.device("meta"):
            skeleton = transformers.AutoModelForCausalLM.from_config(copy.deepcopy(base_config))
        expected = peft.get_peft_model_state_dict(peft.get_peft_model(skeleton, lora))
    except Exception as exc:  # noqa: BLE001 - peft raises ValueError and its own kinds for a missing target
        reason = " ".join(str(exc).split())[:240]
        raise InputValidationError(
            f"{intro}: its target modules {config.get('target_modules')!r} cannot be attached ({type(exc).__name__}: "
            f"{reason}){made_for}."
        ) from None
    want = {k: tuple(v.shape) for k, v in expected.items()}
    with safe_open(str(checkpoint.path / ADAPTER_WEIGHTS), "pt") as fh:
        have = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])
    if wrong:
        k = wrong[0]
        raise InputValidationError(
            f"{intro}: {len(wrong)} matrix(es) have other shapes than the base's layers need, e.g. {k} is "
            f"{have[k]} in the adapter, the base needs {want[k]}{made_for}."
        )
    if missing or extra:
        k = (missing or extra)[0]
        raise InputValidationError(
            f"{intro}: {len(missing)} matrix(es) the base's layers need are absent and {len(extra)} in the file "
            f"match no layer of the base (first: {k}){made_for}."
        )


def load_base(base: Any, *, where: str = "run_cqa") -> tuple[Any, Any, str, str, dict[str, Any]]:
    """The base model, its tokenizer, name, weights hash and start-token settings (None: the embedded model).

    The start-token settings are applied to every checkpoint too, so all models see the same ids.
    """
    torch = require("torch", "hf")
    if base is None:
        from cqmetric.backends.embedded import embedded_model_dir
        from cqmetric.backends.loading import read_rules

        folder = embedded_model_dir()[0]
        rules = read_rules(folder, where=where)  # the folder's own rules: name, weights id, start token
        name, sha = rules.name, rules.weights
        start = {"start_token": rules.start_token, "start_token_id": rules.start_token_id}
    else:
        if not isinstance(base, (str, os.PathLike)):
            raise InputValidationError(
                f"{where}: expected `base` to be None (the embedded model) or a local model folder, got "
                f"{type(base).__name__} ({base!r:.60})."
            )
        folder = Path(base).expanduser()
        if not folder.is_dir():
            raise InputValidationError(f"{where}: expected `base` to be a model folder, got {str(folder)!r}.")
        name, sha, start = folder.name, files_fingerprint(folder), {"start_token": "auto"}
    model, tokenizer = load_local(folder, dtype=torch.float32, where=f"{where}: base")
    model.eval()
    return model, tokenizer, name, sha, start


def load_full(checkpoint: Checkpoint, *, where: str = "run_cqa") -> Any:
    """A full-model checkpoint, fp32, on the CPU."""
    torch = require("torch", "hf")
    model, _ = load_local(checkpoint.path, dtype=torch.float32, load_tokenizer=False,
                          where=f"{where}: checkpoint {checkpoint.label!r}")
    return model.eval()


def merged_model(checkpoint: Checkpoint, base_model: Any, *, where: str = "run_cqa") -> Any:
    """The base with a LoRA adapter applied and merged, as a new model (the base is left unchanged)."""
    peft = require("peft", "cqa")
    try:
        wrapped = peft.PeftModel.from_pretrained(copy.deepcopy(base_model), str(checkpoint.path), is_trainable=False)
        merged = wrapped.merge_and_unload()
    except Exception as exc:  # noqa: BLE001 - peft and torch raise many kinds; all mean "does not fit"
        reason = f"{type(exc).__name__}: " + " ".join(str(exc).split())[:300]
        raise BackendError(f"{where}: could not apply the adapter {checkpoint.label!r} to the base: {reason}") from None
    return merged.eval()
