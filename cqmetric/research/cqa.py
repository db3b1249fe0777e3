"""The CQA experiment as one call: how tuning changes the information constraints give about texts, per group.

Per item k, ΔI_k = calibrated surprise CS(X_k; Y_k) (cqmetric's default `calibrated_surprise`, bits/token), and
Δ(ΔI)_k = ΔI_k(tuned) − ΔI_k(base). `run_cqa` scores every item with the base and with each tuned checkpoint
(a full model folder, or a PEFT LoRA adapter merged into the base in memory), then reports per checkpoint and
group the mean and median Δ(ΔI) with bootstrap CIs, the one-sided Wilcoxon signed-rank test (H1: tuned >
base), Cohen's d_z (all from `cqmetric.reliability.compare_models`), Holm's correction across the checkpoints
within each group, and the contrast of two groups (e.g. literary − factual).

Every check runs before the first model pass: the groups (non-empty, every item a text with its
constraints), the options, every checkpoint folder (no declared code, no pickle-only weights), every
checkpoint's tokenizer against the base's, and every adapter's fit to the base's architecture.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cqmetric._validation import check_seed, check_texts
from cqmetric.constraints import (
    DEFAULT_TEMPLATE,
    ConstraintSet,
    Template,
    as_constraint_set,
)
from cqmetric.errors import InputValidationError
from cqmetric.options import ScoreOptions
from cqmetric.reliability.inputs import check_confidence, check_n_boot
from cqmetric.reliability.multiplicity import holm
from cqmetric.resampling import CONFIDENCE, N_BOOT, SEED
from cqmetric.research import models as _models
from cqmetric.research.cqa_result import (
    CheckpointResult,
    CQAResult,
    GroupInfo,
    ModelInfo,
)

__all__ = ["run_cqa", "score_models", "check_groups", "cqa_statistics", "backend_for"]

WHERE = "run_cqa"


def _fingerprint(texts: Sequence[str], sets: Sequence[ConstraintSet]) -> str:
    payload = json.dumps([[t, ys.to_list()] for t, ys in zip(texts, sets)], ensure_ascii=False).encode()
    return hashlib.sha256(payload).hexdigest()[:12]


def check_groups(groups: Any, *,
                 where: str = WHERE) -> tuple[list[str], list[ConstraintSet], list[str], dict[str, str]]:
    """Flatten name -> [(text, constraint), ...] into texts, constraint sets, group labels and fingerprints.

    Raises:
        InputValidationError: not a mapping, an empty group, an item that is not a (text, constraint) pair,
            an item without constraints.

    Examples:
        >>> texts, sets, labels, fps = check_groups({"lit": [("A cat sat.", "Write about a cat.")]})
        >>> texts, labels, len(fps["lit"])
        (['A cat sat.'], ['lit'], 12)
        >>> check_groups({"lit": []})
        Traceback (most recent call last):
        ...
        cqmetric.errors.InputValidationError: run_cqa: expected group 'lit' to hold at least one (text, constraint) item, got an empty list.
    """
    if not isinstance(groups, Mapping) or not groups:
        raise InputValidationError(
            f"{where}: expected `groups` to be a non-empty dict name -> list of (text, constraint) items, got "
            f"{type(groups).__name__} ({groups!r:.60})."
        )
    texts: list[str] = []
    sets: list[ConstraintSet] = []
    labels: list[str] = []
    fingerprints: dict[str, str] = {}
    for name, items in groups.items():
        if not isinstance(name, str) or not name.strip():
            raise InputValidationError(f"{where}: expected group names to be non-empty strings, got {name!r}.")
        if isinstance(items, (str, bytes)) or not isinstance(items, (Sequence, np.ndarray)):
            raise InputValidationError(
                f"{where}: expected group {name!r} to be a list of (text, constraint) items, got "
                f"{type(items).__name__}."
            )
        if len(items) == 0:
            raise InputValidationError(
                f"{where}: expected group {name!r} to hold at least one (text, constraint) item, got an empty list."
            )
        g_texts, g_sets = [], []
        for i, item in enumerate(items):
            if isinstance(item, (str, bytes)) or not isinstance(item, (tuple, list)) or len(item) != 2:
                raise InputValidationError(
                    f"{where}: expected item {i} of group {name!r} to be a (text, constraint) pair, got "
                    f"{type(item).__name__} ({item!r:.60}); every item needs its constraints."
                )
            text, constraint = item
            if constraint is None or (isinstance(constraint, str) and not constraint.strip()):
                raise InputValidationError(
                    f"{where}: item {i} of group {name!r} has no constraint (got {constraint!r}); Δ(ΔI) measures "
                    "what the constraints tell about the text, so every item needs them."
                )
            g_texts += check_texts(where, [text], name=f"groups[{name!r}][{i}].text")
            g_sets.append(as_constraint_set(constraint, where=f"{where}: group {name!r}", index=i))
        texts += g_texts
        sets += g_sets
        labels += [name] * len(g_texts)
        fingerprints[name] = _fingerprint(g_texts, g_sets)
    return texts, sets, labels, fingerprints


def _checkpoint_list(checkpoints: Any, where: str) -> list[tuple[str | None, Any]]:
    """(label or None, path) per checkpoint, from a path, a list of paths, or a dict label -> path."""
    if isinstance(checkpoints, (str, os.PathLike)):
        return [(None, checkpoints)]
    if isinstance(checkpoints, Mapping):
        out = list(checkpoints.items())
        bad = [k for k, _ in out if not isinstance(k, str) or not k.strip()]
        if bad:
            raise InputValidationError(f"{where}: expected checkpoint labels to be non-empty strings, got {bad[0]!r}.")
    elif isinstance(checkpoints, Sequence):
        out = [(None, p) for p in checkpoints]
    else:
        raise InputValidationError(
            f"{where}: expected `checkpoints` to be a folder, a list of folders or a dict label -> folder, got "
            f"{type(checkpoints).__name__}."
        )
    if not out:
        raise InputValidationError(f"{where}: expected at least one checkpoint, got none.")
    return out


def cqa_statistics(base_scores: Any, tuned_scores: Mapping[str, Any], item_groups: Sequence[str], *,
                   contrast: tuple[str, str] | None = None, n_boot: int = N_BOOT, seed: int = SEED,
                   confidence: float = CONFIDENCE) -> dict[str, CheckpointResult]:
    """Per checkpoint `compare_models` (one-sided, tuned > base) and Holm across checkpoints within each group.

    Examples:
        >>> base = [0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4]
        >>> tuned = {"e1": [0.3, 0.5, 0.4, 0.8, 0.1, 0.3, 0.2, 0.4]}
        >>> res = cqa_statistics(base, tuned, ["lit"] * 4 + ["fact"] * 4, n_boot=0)
        >>> round(res["e1"].groups["lit"].mean, 4), round(res["e1"].contrast.estimate, 4)
        (0.25, 0.25)
    """
    from cqmetric.reliability.compare import compare_models

    names = list(dict.fromkeys(item_groups))
    if contrast is None and len(names) == 2:
        contrast = (names[0], names[1])
    comparisons = {}
    for label, tuned in tuned_scores.items():
        if len(names) >= 2:
            comp = compare_models(base_scores, tuned, groups=list(item_groups), alternative="greater",
                                  contrast=contrast, contrast_alternative="greater", n_boot=n_boot, seed=seed,
                                  confidence=confidence)
            comparisons[label] = (comp, dict(comp.groups))
        else:
            comp = compare_models(base_scores, tuned, alternative="greater", n_boot=n_boot, seed=seed,
                                  confidence=confidence)
            comparisons[label] = (None, {names[0]: comp.overall})
    labels = list(tuned_scores)
    adjusted = {g: holm([comparisons[c][1][g].wilcoxon.pvalue for c in labels]) for g in names}
    contrast_adj = (holm([comparisons[c][0].contrast.pvalue for c in labels])
                    if contrast is not None and len(names) >= 2 else None)
    return {
        c: CheckpointResult(c, comparisons[c][1], comparisons[c][0], {g: float(adjusted[g][i]) for g in names},
                            None if contrast_adj is None else float(contrast_adj[i]))
        for i, c in enumerate(labels)
    }


def _score(backend: Any, texts: list[str], sets: list[ConstraintSet], opts: ScoreOptions) -> Any:
    from cqmetric.api import score

    return score(texts, sets, model=backend, options=opts)


def _model_scores(backend: Any, texts: list[str], sets: list[ConstraintSet], opts: ScoreOptions,
                  cache: Path | None) -> dict[str, Any]:
    """One model's calibrated surprise, token counts, tokens and per-token log2-probs (s row 0, c row 1).

    With `cache`, they are read from (or written to) a file named by the hash of the scoring signature (which
    names the model's weights hash and every setting) and of the items: the same model, settings and items
    always give the same file, so a run can be resumed or spread over several processes.
    """
    key = path = None
    if cache is not None:
        from cqmetric.api import build_signature

        signature = build_signature(backend, options=opts).format()
        key = hashlib.sha256(json.dumps([signature, _fingerprint(texts, sets)]).encode()).hexdigest()[:20]
        path = cache / f"cqa-scores-{key}.json"
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            return {"signature": data["signature"], "cs": np.array(data["cs"]), "n_tokens": np.array(data["n_tokens"]),
                    "tokens": tuple(tuple(t) for t in data["tokens"]),
                    "logprobs": tuple(np.array(a) for a in data["logprobs"])}
    res = _score(backend, texts, sets, opts)
    out = {"signature": res.signature.format(), "cs": np.asarray(res["calibrated_surprise"]),
           "n_tokens": np.asarray(res.n_tokens), "tokens": tuple(tuple(d["token"]) for d in res.per_token),
           "logprobs": tuple(-np.vstack([np.asarray(d["s"]), np.asarray(d["c"])]) for d in res.per_token)}
    if path is not None:
        from cqmetric.io import write_text

        payload = {"signature": out["signature"], "cs": out["cs"].tolist(), "n_tokens": out["n_tokens"].tolist(),
                   "tokens": [list(t) for t in out["tokens"]], "logprobs": [a.tolist() for a in out["logprobs"]]}
        write_text(path, json.dumps(payload), where=WHERE)
    return out


def backend_for(model: Any, tokenizer: Any, name: str, weights: str | None, start: dict[str, Any],
                opts: ScoreOptions) -> Any:
    """An HFBackend on a loaded model with the base's start-token settings (`load_base`) and `opts`' batching."""
    from cqmetric.backends.hf import HFBackend

    return HFBackend(model, tokenizer, name=name, weights=weights, batch=opts.batch,
                     start_token=start["start_token"], start_token_id=start.get("start_token_id"))


def _score_settings(signature: str) -> str:
    """The scoring signature without its model field (each model's hash is in the models field), ','-joined."""
    from cqmetric.signature import Signature

    return ",".join(p for p in Signature.parse(signature).format(short=True).split("|") if not p.startswith("m:"))


def score_models(
    base: Any,
    checkpoints: Any,
    groups: Mapping[str, Sequence[tuple[str, Any]]],
    *,
    estimator: str = "pointwise",
    template: Template = DEFAULT_TEMPLATE,
    batch_size: int | None = None,
    batch_tokens: int | None = None,
    progress: bool = False,
    cache: str | os.PathLike[str] | None = None,
    where: str = WHERE,
) -> dict[str, Any]:
    """The scoring half of `run_cqa`: every check, then each model's scores (no statistics).

    `checkpoints` may be empty here (the base alone: e.g. to fill `cache` while checkpoints are still being
    trained). Returns a dict with `item_groups`, `fingerprints`, `models` (ModelInfo, base first), `base` and
    `tuned` (label -> scores: `cs`, `n_tokens`, `tokens`, `logprobs`, `signature`).
    """
    opts = ScoreOptions.from_settings(where, estimator=estimator, template=template, batch_size=batch_size,
                                      batch_tokens=batch_tokens, progress=progress, details=True, n_boot=0)
    texts, sets, item_groups, fingerprints = check_groups(groups, where=where)
    if cache is not None:
        if not isinstance(cache, (str, os.PathLike)) or not Path(cache).is_dir():
            raise InputValidationError(f"{where}: expected `cache` to be an existing folder, got {cache!r}.")
        cache = Path(cache)
    empty = isinstance(checkpoints, (list, tuple, dict)) and not checkpoints
    pairs = [] if empty else _checkpoint_list(checkpoints, where)
    specs = [_models.inspect_checkpoint(p, label=label, where=where) for label, p in pairs]
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        dup = next(x for x in labels if labels.count(x) > 1)
        raise InputValidationError(
            f"{where}: expected distinct checkpoint labels, got {dup!r} twice; pass a dict label -> folder."
        )
    base_model, tokenizer, base_name, base_sha, start = _models.load_base(base, where=where)
    if base_name in labels:
        raise InputValidationError(f"{where}: a checkpoint is labelled {base_name!r} like the base; relabel it.")
    probe_texts = list(dict.fromkeys(texts))
    for spec in specs:
        if _models.has_tokenizer(spec.path):  # a folder without tokenizer files is read with the base's
            other = _models.load_tokenizer(spec.path, where)
            _models.check_same_tokenizer(tokenizer, other, label=spec.label, texts=probe_texts, where=where)
        if spec.kind == "full":
            _models.check_vocab_size(spec, base_model.config, where=where)
        else:
            _models.check_adapter_fits(spec, base_model.config, where=where)

    # -- model passes: everything above was checked first ---------------------------------------------------
    base_backend = backend_for(base_model, tokenizer, base_name, base_sha, start, opts)
    base_res = _model_scores(base_backend, texts, sets, opts, cache)
    infos = [ModelInfo(base_name, "base", None if base is None else str(base), base_sha, base_sha)]
    tuned = {}
    for spec in specs:
        if spec.kind == "full":
            model = _models.load_full(spec, where=where)
            weights = spec.files
        else:
            model = _models.merged_model(spec, base_model, where=where)
            weights = None  # the merged parameters' hash, computed by the backend
        backend = backend_for(model, tokenizer, spec.label, weights, start, opts)
        res = _model_scores(backend, texts, sets, opts, cache)
        if not np.array_equal(res["n_tokens"], base_res["n_tokens"]):
            raise InputValidationError(f"{where}: checkpoint {spec.label!r} tokenized the texts differently.")
        infos.append(ModelInfo(spec.label, spec.kind, str(spec.path), backend.info.weights, spec.files))
        tuned[spec.label] = res
        del backend, model
    return {"item_groups": item_groups, "fingerprints": fingerprints, "models": infos, "base": base_res,
            "tuned": tuned}


def run_cqa(
    base: Any,
    checkpoints: Any,
    groups: Mapping[str, Sequence[tuple[str, Any]]],
    *,
    contrast: tuple[str, str] | None = None,
    estimator: str = "pointwise",
    template: Template = DEFAULT_TEMPLATE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    batch_size: int | None = None,
    batch_tokens: int | None = None,
    progress: bool = False,
    cache: str | os.PathLike[str] | None = None,
) -> CQAResult:
    """Score every item with the base and each checkpoint; Δ(ΔI) statistics per checkpoint and group.

    Args:
        base: a local model folder, or None for the embedded SmolLM2-135M.
        checkpoints: a folder, a list of folders or a dict label -> folder; each a full model or a PEFT LoRA
            adapter for `base` (merged in memory). Labels default to the folder names.
        groups: group name -> list of (text, constraint) items; a constraint is a prompt string, a
            `ConstraintSet` or its dict/list form.
        contrast: the two groups whose mean Δ(ΔI) is contrasted, (first, second) (one-sided Mann-Whitney, H1:
            first > second); default: the two groups when there are exactly two.
        estimator: "pointwise" (default) or "expected", as in `score()`.
        template: renders the constraints (the unconstrained context is its empty rendering).
        n_boot: bootstrap resamples for the CIs (0: none).
        seed: seed of the bootstrap.
        confidence: level of the CIs.
        batch_size: sequences per forward pass (speed only: the numbers do not depend on it).
        batch_tokens: tokens per forward pass, padding included (speed only).
        progress: show progress bars.
        cache: a folder for each model's scores (named by the hash of the scoring signature, which includes the
            weights hash, and of the items); a later run with the same model, settings and items reads them
            instead of scoring again. None (default): no files.

    Returns:
        CQAResult: prints as a table; `to_dict()`/`to_json()`; `per_token_table()`, `plot_per_token()`.

    Raises:
        InputValidationError: bad groups or options, a checkpoint with another tokenizer than the base, an
            adapter for another base, a folder that declares code (all before any model pass).
    """
    where = WHERE
    n_boot = check_n_boot(where, n_boot)
    seed = check_seed(where, seed)
    confidence = check_confidence(where, confidence)
    _, _, _, fingerprints = check_groups(groups, where=where)
    names = list(fingerprints)
    if contrast is not None:
        if (not isinstance(contrast, (tuple, list)) or len(contrast) != 2 or contrast[0] not in names
                or contrast[1] not in names or contrast[0] == contrast[1]):
            raise InputValidationError(
                f"{where}: expected `contrast` to name two different groups among {names}, got {contrast!r}."
            )
        contrast = (contrast[0], contrast[1])
    _checkpoint_list(checkpoints, where)  # at least one
    scored = score_models(base, checkpoints, groups, estimator=estimator, template=template, batch_size=batch_size,
                          batch_tokens=batch_tokens, progress=progress, cache=cache, where=where)
    base_res, item_groups = scored["base"], scored["item_groups"]
    tuned = {label: res["cs"] for label, res in scored["tuned"].items()}
    logprobs = {scored["models"][0].label: base_res["logprobs"],
                **{label: res["logprobs"] for label, res in scored["tuned"].items()}}
    stats = cqa_statistics(base_res["cs"], tuned, item_groups, contrast=contrast, n_boot=n_boot, seed=seed,
                           confidence=confidence)
    n_tokens = base_res["n_tokens"]
    group_info = {g: GroupInfo(g, item_groups.count(g), fingerprints[g],
                               float(np.median([n for n, x in zip(n_tokens, item_groups) if x == g])))
                  for g in names}
    chosen = contrast if contrast is not None else (tuple(names) if len(names) == 2 else None)
    settings = {
        "score": _score_settings(base_res["signature"]),
        "statistic": "calibrated_surprise", "difference": "tuned-base", "alternative": "greater",
        "holm": "across-checkpoints-within-group", "contrast": "none" if chosen is None else f"{chosen[0]}-{chosen[1]}",
        "contrast_test": "mannwhitney-greater", "n_boot": n_boot, "seed": seed, "confidence": confidence,
    }
    return CQAResult(tuple(scored["models"]), group_info, stats, tuple(item_groups), base_res["cs"], tuned, n_tokens,
                     base_res["tokens"], logprobs, settings)
