"""Fitted scorers as small files: a scorer written to JSON (never pickle) with a hash, and read back checked.

`cqmetric.experts.ExpertFit.save` writes one; `load_scorer` reads it, refusing a file of another format version or
one changed after it was written (its `sha256` no longer matches its content), and rebuilds the scorer from its
spec (`cqmetric.scorers.registry`). `from_text` is what `score(scorers=[...])`, `cqmetric score --scorer` and the
evaluate plugin do with a string: a path to such a file, or a spec.

Examples:
    >>> from_text("length(unit=word)").params()
    {'unit': 'word'}
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cqmetric.errors import InputValidationError
from cqmetric.scorers.base import Scorer
from cqmetric.scorers.registry import build

__all__ = ["load_scorer", "from_text", "FORMAT", "FORMAT_VERSION"]

FORMAT, FORMAT_VERSION = "cqmetric.fitted-scorer", 1


def _hash(body: dict[str, Any]) -> str:
    payload = json.dumps({k: v for k, v in body.items() if k != "sha256"}, sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()


def load_scorer(path: Any) -> Scorer:
    """The scorer a fitted-scorer file holds, after checking its format version and its hash."""
    where = "load_scorer"
    file = Path(path).expanduser()
    try:
        body = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputValidationError(f"{where}: cannot read {str(file)!r} as a fitted-scorer file ({exc}).") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise InputValidationError(f"{where}: expected a {FORMAT} file, got {str(file)!r} without that format.")
    if body.get("format_version") != FORMAT_VERSION:
        raise InputValidationError(
            f"{where}: {str(file)!r} is a {FORMAT} file of format version {body.get('format_version')!r} (written by "
            f"cqmetric {body.get('cqmetric_version')}); this cqmetric reads version {FORMAT_VERSION}: refit or "
            "upgrade.")
    found = _hash(body)
    if body.get("sha256") != found:
        raise InputValidationError(
            f"{where}: {str(file)!r} was changed after it was written: its sha256 field is {body.get('sha256')!r}, "
            f"its content hashes to {found!r}; refit rather than edit a fitted scorer.")
    return build(body["spec"])


def from_text(text: str) -> Scorer:
    """A scorer named by a string: a fitted-scorer file (a path that exists, or ends in .json), else a spec."""
    if text.strip().endswith(".json") or (len(text) < 4096 and Path(text).expanduser().is_file()):
        return load_scorer(text)
    return build(text)
