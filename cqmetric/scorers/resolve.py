"""Which scorers a call computes: the defaults and the given ones, named, bound to the call's units and checked.

`resolve_scorers` is the one function that decides what `score()` computes and what its signature lists, so the
two cannot differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cqmetric.errors import InputValidationError
from cqmetric.scorers.base import Scorer, as_scorer, spec
from cqmetric.scorers.files import from_text
from cqmetric.scorers.information import CalibratedSurprise, Residual, Surprise

DEFAULT_NAMES = ("calibrated_surprise", "surprise", "residual")


def default_scorers(*, constrained: bool, estimator: str = "pointwise", normalization: str = "token") -> dict[str, Scorer]:
    """The three reported scores (only surprise without constraints)."""
    members: list[Scorer] = [Surprise(estimator, normalization)]
    if constrained:
        members = [CalibratedSurprise(estimator, normalization), members[0], Residual(estimator, normalization)]
    return {s.name: s for s in members}


def check_scorers(where: str, scorers: Any) -> dict[str, Scorer]:
    """Accept a mapping name -> scorer or a list of scorers (keyed by their names); names must not collide."""
    if isinstance(scorers, Mapping):
        items = [(k, from_text(s) if isinstance(s, str) else s) for k, s in scorers.items()]
    elif isinstance(scorers, (list, tuple)):
        built = [from_text(s) if isinstance(s, str) else s for s in scorers]  # a spec or a fitted-scorer file
        items = [(getattr(s, "name", None), s) for s in built]
    else:
        raise InputValidationError(
            f"{where}: expected `scorers` to be a list of scorers or a dict name -> scorer, got {type(scorers).__name__}."
        )
    out: dict[str, Scorer] = {}
    for key, scorer in items:
        scorer = as_scorer(scorer, where=where)
        if not isinstance(key, str) or not key or key in ("n_tokens", "signature"):
            raise InputValidationError(
                f"{where}: expected each scorer's name to be a non-empty string other than n_tokens and signature "
                f"(the records hold those), got {key!r}."
            )
        if key in out:
            raise InputValidationError(
                f"{where}: two scorers are named {key!r}; pass a dict to give them distinct names."
            )
        out[key] = scorer
    return out


def resolve_scorers(
    where: str,
    scorers: Any,
    *,
    constrained: bool,
    estimator: str,
    normalization: str,
    defaults: bool = True,
    n_texts: int | None = None,
) -> dict[str, Scorer]:
    """The scorers a call computes: the defaults (unless `defaults=False`) and the given ones, bound and checked.

    This one function decides what `score()` computes and what its signature lists, so the two cannot differ.
    Given scorers inherit the call's estimator and normalization (a differing explicit one is refused); a given
    scorer may not silently replace a default of the same name: equal ones merge, different ones need
    `defaults=False` or another name. Everything is checked before any model runs.
    """
    members = default_scorers(constrained=constrained, estimator=estimator, normalization=normalization) if defaults else {}
    if scorers is not None:
        for key, scorer in check_scorers(where, scorers).items():
            scorer = scorer.with_settings(estimator, normalization, where=where)
            if key in members:
                if spec(members[key]) == spec(scorer):
                    continue  # the same computation as the default of that name
                raise InputValidationError(
                    f"{where}: {spec(scorer)} would replace the default score {key!r}; pass defaults=False to "
                    f"compute only your scorers, or give it another name with a dict {{'my_{key}': scorer}}."
                )
            members[key] = scorer
    if not members:
        raise InputValidationError(f"{where}: nothing to compute: defaults=False and no `scorers` given.")
    for key, scorer in members.items():
        if not constrained and any(n.kind in ("constrained", "dimensions") for n in scorer.needs):
            raise InputValidationError(
                f"{where}: the scorer {key!r} needs constraints (a prompt or constraint set per text), got "
                "constraints=None."
            )
        if n_texts is not None:
            scorer.check(where, n_texts)
    return members
