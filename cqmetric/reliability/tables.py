"""How reliability results print and sign themselves: number formats, plain-text tables, read-only settings.

Every result class (`results.py`, `preference_results.py`) renders through these, so numbers print alike
everywhere (4 significant decimals, p-values as `<0.0001`), and its signature is the package's one signature type
in text form (`make_signature`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cqmetric.signature import Signature

__all__ = ["fmt_num", "fmt_p", "fmt_ci", "format_grid", "make_signature", "FrozenMap", "freeze"]


def fmt_num(value: Any, digits: int = 4) -> str:
    """Format a number for tables; None/NaN print as 'nan', ints without decimals."""
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "nan"
    if v != 0 and (abs(v) < 10 ** (-digits) or abs(v) >= 10**6):
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}f}"


def fmt_p(p: Any) -> str:
    """Format a p-value (scientific below 1e-4)."""
    if p is None:
        return "-"
    p = float(p)
    if math.isnan(p):
        return "nan"
    return f"{p:.2e}" if p < 1e-4 else f"{p:.4f}"


def fmt_ci(ci: tuple[float, float] | None, digits: int = 4) -> str:
    """Format a confidence interval as [lo, hi]."""
    if ci is None:
        return "-"
    return f"[{fmt_num(ci[0], digits)}, {fmt_num(ci[1], digits)}]"


def format_grid(
    headers: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None, *, align_right: bool = True
) -> str:
    """Render a plain-text table (first column left-aligned, the others right-aligned unless `align_right` is False)."""
    cols = list(zip(*([list(headers)] + [list(r) for r in rows]))) if rows else [[h] for h in headers]
    widths = [max(len(str(c)) for c in col) for col in cols]

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(str(c).ljust(w) if i == 0 or not align_right else str(c).rjust(w))
        return "  ".join(out).rstrip()

    parts = []
    if title:
        parts.append(title)
    parts.append(line(headers))
    parts.append("  ".join("-" * w for w in widths))
    parts.extend(line(r) for r in rows)
    return "\n".join(parts)


def _settings_str(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items())


def make_signature(settings: Mapping[str, Any]) -> str:
    """`key:value|...|version:X` from `settings` (insertion order) and the cqmetric version: the package's one
    signature type (`cqmetric.Signature`), in its text form."""
    return Signature.from_settings(settings).format()


class FrozenMap(Mapping[str, Any]):
    """A read-only mapping (picklable and copyable, unlike ``types.MappingProxyType``)."""

    __slots__ = ("_data",)
    _data: dict[str, Any]

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_data", dict(data or {}))

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Any:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("FrozenMap is read-only")

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (self._data,))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def freeze(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """`mapping` as a read-only FrozenMap (unchanged if it already is one)."""
    return mapping if isinstance(mapping, FrozenMap) else FrozenMap(mapping)


def _fields_dict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
