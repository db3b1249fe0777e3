"""The scorer contract: what every scorer is, says and does, and the defaults of its optional parts.

A scorer reads an `Evidence` (the per-token bits gathered once for all scorers) and returns one number per text.
Like sacrebleu's metrics, it separates per-text statistics from their corpus reduction: `statistics(ev)` gives a
(numerator, denominator) pair whose value is numerator / denominator, and a corpus pools them (token-weighted)
when `poolable`, or averages the per-text values otherwise. Every setting that changes a number is in
`params()`, which goes into the signature and rebuilds the scorer (`cqmetric.scorers.registry`).

Examples:
    >>> from cqmetric.scorers import Surprise
    >>> isinstance(Surprise(), Scorer)
    True
    >>> class Minimal:  # the five members a user's scorer needs; the rest comes from `as_scorer`
    ...     name, higher_is_better, needs = "const", True, frozenset()
    ...     def compute(self, ev): return 1.0
    ...     def params(self): return {}
    >>> full = as_scorer(Minimal(), where="doc")
    >>> full.units(), full.bounds, full.poolable
    ('?', None, False)
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from cqmetric.errors import InputValidationError
from cqmetric.types import Evidence, Need

#: The members a scorer must have; `as_scorer` supplies the others with their defaults.
REQUIRED = ("name", "higher_is_better", "needs", "compute", "params")


@runtime_checkable
class Scorer(Protocol):
    """Every member cqmetric reads from a scorer; nothing else is read, and nothing is read by `getattr`.

    Attributes:
        name: the scorer's name in results.
        higher_is_better: whether a higher value means a better text.
        bounds: (low, high) every value lies in (a gate: (0, 1)), or None.
        poolable: whether a corpus pools `statistics` (token-weighted) under aggregation="token".
        needs: the evidence it reads (so one model pass serves every scorer).
    """

    name: str
    higher_is_better: bool
    bounds: tuple[float, float] | None
    poolable: bool

    @property
    def needs(self) -> frozenset[Need]: ...

    def params(self) -> dict[str, Any]:
        """Every setting that changes a number; the signature and the registry read it."""
        ...

    def units(self) -> str:
        """What the number is measured in (for tables)."""
        ...

    def statistics(self, ev: Evidence) -> tuple[float, float]:
        """(numerator, denominator) for one text; the value is their ratio."""
        ...

    def compute(self, ev: Evidence) -> float:
        """The value for one text."""
        ...

    def with_settings(self, estimator: str, normalization: str, *, where: str = "score") -> Scorer:
        """A copy with the call's estimator and normalization where it leaves them unset (a differing one is
        refused, so one result never mixes units)."""
        ...

    def check(self, where: str, n_texts: int) -> None:
        """Raise before any model runs when the scorer cannot work on this call."""
        ...


class BaseScorer:
    """The defaults of a scorer's optional members; cqmetric's scorers build on it."""

    bounds: tuple[float, float] | None = None
    poolable: bool = False

    def units(self) -> str:
        return "?"

    def statistics(self, ev: Evidence) -> tuple[float, float]:
        return self.compute(ev), 1.0  # type: ignore[attr-defined]

    def with_settings(self, estimator: str, normalization: str, *, where: str = "score") -> Any:
        return self

    def check(self, where: str, n_texts: int) -> None:
        return None


class _Adapted(BaseScorer):
    """A user's scorer with only the required members, given the defaults of the rest."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.higher_is_better = inner.higher_is_better

    @property
    def needs(self) -> frozenset[Need]:
        return self.inner.needs

    def params(self) -> dict[str, Any]:
        return self.inner.params()

    def compute(self, ev: Evidence) -> float:
        return self.inner.compute(ev)

    def __repr__(self) -> str:
        return repr(self.inner)


def as_scorer(obj: Any, *, where: str) -> Scorer:
    """`obj` as a full `Scorer`: itself when it has every member, else adapted with the defaults of the optional
    ones; an object without the required members, or a class instead of an instance, is refused."""
    if isinstance(obj, type):
        raise InputValidationError(
            f"{where}: expected scorer objects, got the class {obj.__name__}; pass {obj.__name__}() (with parentheses).")
    if isinstance(obj, Scorer):
        return obj
    missing = [m for m in REQUIRED if not hasattr(obj, m)]
    if missing:
        raise InputValidationError(
            f"{where}: expected a scorer (with {', '.join(REQUIRED)}), got {obj!r:.80}, which lacks {', '.join(missing)}.")
    return _Adapted(obj)


def spec(scorer: Any) -> str:
    """`name(k=v,...)`: the scorer and its settings, as they appear in a signature (and rebuild it)."""
    inner = ",".join(f"{k}={v}" for k, v in scorer.params().items())
    return f"{scorer.name}({inner})"
