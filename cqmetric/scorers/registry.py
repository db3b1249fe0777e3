"""Scorers by name: a scorer's spec, as a signature or the command line writes it, builds the scorer back.

A spec is `name(key=value,...)`, exactly what `spec(scorer)` writes into a signature; a value is a number, a word
or another spec (`soft_gate(of=calibrated_surprise(estimator=pointwise,normalization=token),center=0,scale=0.05)`).
`build("order_calibration(unit=paragraph)")` gives `OrderCalibration(unit="paragraph")`; settings left out take
their defaults. `cqmetric score --scorer SPEC` reads the same specs.

Examples:
    >>> from cqmetric.scorers import spec
    >>> build("order_calibration(unit=paragraph)") == OrderCalibration(unit="paragraph")
    True
    >>> s = build("soft_gate(of=calibrated_surprise(),center=0.1,scale=0.05)")
    >>> spec(s)
    'soft_gate(of=calibrated_surprise(estimator=pointwise,normalization=token),center=0.1,scale=0.05)'
    >>> spec(build(spec(s))) == spec(s)  # the same settings, so the same signature
    True
    >>> build("novelty()")
    Traceback (most recent call last):
    ...
    cqmetric.errors.InputValidationError: scorer spec: got an unknown scorer 'novelty' in 'novelty()'; known: calibrated_surprise, surprise, residual, order_calibration, context_calibration, interaction, length, easy_tokens, surprisal_quantile, constraint_fit, soft_gate, quiet, weighted, creative_quality, freshness.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from cqmetric.errors import InputValidationError
from cqmetric.scorers.base import Scorer
from cqmetric.scorers.composite import CreativeQuality, WeightedSum
from cqmetric.scorers.gates import ConstraintFit, QuietGate, SoftGate
from cqmetric.scorers.information import (
    CalibratedSurprise,
    ContextCalibration,
    EasyTokens,
    Interaction,
    Length,
    OrderCalibration,
    Residual,
    SurprisalQuantile,
    Surprise,
)
from cqmetric.scorers.portable import Freshness

__all__ = ["build", "parse", "REGISTRY"]

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_CLOSE = {"(": ")", "[": "]"}


def _split_top(text: str, sep: str) -> list[str]:
    """`text` split at `sep` outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _literal(text: str) -> Any:
    """A spec value: a nested spec, an int, a float, True/False/None, or the text itself."""
    if re.fullmatch(r"[a-z_][a-z0-9_]*\(.*\)", text, flags=re.S):
        return parse(text)
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(text, text)


def parse(text: str) -> tuple[str, dict[str, Any]]:
    """(name, settings) of a spec, nested specs parsed too (not built).

    Examples:
        >>> parse("length(unit=word)")
        ('length', {'unit': 'word'})
    """
    where = "scorer spec"
    if not isinstance(text, str):
        raise InputValidationError(f"{where}: expected a spec such as 'length(unit=word)', got {type(text).__name__}.")
    text = text.strip()
    head = _NAME.match(text)
    if not head or not text.endswith(")") or text[head.end():head.end() + 1] != "(":
        raise InputValidationError(f"{where}: expected 'name(key=value,...)', got {text!r}.")
    inner = text[head.end() + 1:-1]
    if inner.count("(") != inner.count(")") or inner.count("[") != inner.count("]"):
        raise InputValidationError(f"{where}: unbalanced brackets in {text!r}.")
    settings: dict[str, Any] = {}
    for part in _split_top(inner, ",") if inner.strip() else []:
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or not _NAME.fullmatch(key):
            raise InputValidationError(f"{where}: expected 'key=value' settings, got {part!r} in {text!r}.")
        settings[key] = _literal(value.strip())
    return head.group(0), settings


def _weighted(settings: dict[str, Any]) -> WeightedSum:
    """`weighted(members=key:SPEC*W[MEAN,STD];...,norms=SOURCE)` back into a WeightedSum."""
    members, norms = {}, {}
    for item in _split_top(str(settings.get("members", "")), ";"):
        found = re.fullmatch(r"([^:]+):(.+)\*([^*\[]+)\[([^,\]]+),([^\]]+)\]", item.strip(), flags=re.S)
        if not found:
            raise InputValidationError(f"scorer spec: expected weighted members as key:SPEC*W[MEAN,STD], got {item!r}.")
        key, member, weight, mean, std = found.groups()
        members[key] = (build(member), float(weight))
        norms[key] = (float(mean), float(std))
    return WeightedSum(members, norms, source=str(settings.get("norms", "unspecified")))


def _creative_quality(settings: dict[str, Any]) -> CreativeQuality:
    """`creative_quality(order=C/S,fit=C/S,lam=L,fitted=SOURCE)` back into a CreativeQuality."""
    kwargs: dict[str, Any] = {}
    for key in ("order", "fit"):
        if key in settings:
            center, _, scale = str(settings.pop(key)).partition("/")
            kwargs[f"{key}_center"], kwargs[f"{key}_scale"] = float(center), float(scale)
    if "fitted" in settings:
        kwargs["fitted_on"] = str(settings.pop("fitted"))
    return CreativeQuality(**kwargs, **settings)


def _freshness(settings: dict[str, Any]) -> Freshness:
    """`freshness(residual=W,easy=W,threshold=T,units=REFERENCE,fitted=SOURCE)` back into a Freshness; the units
    must be this cqmetric's reference set (another set would give other numbers)."""
    from cqmetric.reference import REFERENCE_NAME

    units = settings.pop("units", REFERENCE_NAME)
    if units != REFERENCE_NAME:
        raise InputValidationError(
            f"scorer spec: freshness in units of reference set {units!r}, but this cqmetric ships {REFERENCE_NAME!r}.")
    renamed = {"residual": "residual_weight", "easy": "easy_weight", "fitted": "fitted_on"}
    return Freshness(**{renamed.get(k, k): v for k, v in settings.items()})


def _built(settings: dict[str, Any]) -> dict[str, Any]:
    """Nested (name, settings) pairs built into scorers."""
    return {k: _build_parsed(*v) if isinstance(v, tuple) else v for k, v in settings.items()}


#: name -> a function of the spec's settings that builds the scorer.
REGISTRY: dict[str, Callable[[dict[str, Any]], Scorer]] = {
    "calibrated_surprise": lambda s: CalibratedSurprise(**s),
    "surprise": lambda s: Surprise(**s),
    "residual": lambda s: Residual(**s),
    "order_calibration": lambda s: OrderCalibration(**s),
    "context_calibration": lambda s: ContextCalibration(**s),
    "interaction": lambda s: Interaction(**s),
    "length": lambda s: Length(**s),
    "easy_tokens": lambda s: EasyTokens(**s),
    "surprisal_quantile": lambda s: SurprisalQuantile(**s),
    "constraint_fit": lambda s: ConstraintFit(**s),
    "soft_gate": lambda s: SoftGate(**s),
    "quiet": lambda s: QuietGate(**s),
    "weighted": _weighted,
    "creative_quality": _creative_quality,
    "freshness": lambda s: _freshness(s),
}


def _build_parsed(name: str, settings: dict[str, Any], text: str = "") -> Scorer:
    where = "scorer spec"
    builder = REGISTRY.get(name)
    if builder is None:
        extra = " (values given from outside cannot be rebuilt from a spec)" if name == "external" else ""
        raise InputValidationError(
            f"{where}: got an unknown scorer {name!r} in {text or name + '(...)'!r}{extra}; known: "
            f"{', '.join(REGISTRY)}.")
    try:
        return builder(settings if name == "weighted" else _built(settings))
    except TypeError as exc:
        raise InputValidationError(f"{where}: {name}: {exc} (in {text or name!r}).") from None


def build(text: str) -> Scorer:
    """The scorer a spec names, with its settings (see the module docstring)."""
    name, settings = parse(text)
    return _build_parsed(name, settings, text.strip())
