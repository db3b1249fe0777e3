"""Preference judgements in, judged pairs out: the checks at the boundary of the preference functions.

Two long formats are read, from a pandas DataFrame or a mapping of equal-length sequences:

* **rankings**: columns ``item``, ``judge``, ``text_id``, ``rank`` (1 = best; equal ranks are a tie). A judge's
  ranking of k texts of an item becomes its k(k-1)/2 pairs.
* **pairwise**: columns ``item``, ``judge``, ``winner``, ``loser`` and optionally ``tie`` (true: the judge
  found the two texts equal; which one is in ``winner`` does not matter).

Every judged pair is kept once per judge (:class:`JudgedPairs`); what the statistics drop later (ties, NaN
scores) they count themselves. Scores are a mapping text_id -> number, a pandas Series indexed by text id, or a
pair ``(ids, values)`` of equal-length sequences (:func:`as_score_map`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cqmetric.errors import InputValidationError

__all__ = ["JudgedPairs", "judged_pairs", "as_score_map", "score_diffs", "RANKING_COLUMNS", "PAIR_COLUMNS"]

RANKING_COLUMNS = ("item", "judge", "text_id", "rank")
PAIR_COLUMNS = ("item", "judge", "winner", "loser")


@dataclass(frozen=True)
class JudgedPairs:
    """One row per (judge, pair of texts of an item): who was preferred, or a tie.

    Attributes:
        item: Item code per pair (index into ``items``).
        judge: Judge code per pair (index into ``judges``).
        winner: Text id of the preferred text (for a tie, the smaller id).
        loser: Text id of the other text.
        tie: True where the judge found the two texts equal.
        items: Item labels, in order of first appearance.
        judges: Judge labels, in order of first appearance.
        source: ``"rankings"`` or ``"pairwise"``.
        n_rows: Rows of the input.
    """

    item: np.ndarray
    judge: np.ndarray
    winner: np.ndarray
    loser: np.ndarray
    tie: np.ndarray
    items: tuple[Any, ...]
    judges: tuple[Any, ...]
    source: str
    n_rows: int

    def __len__(self) -> int:
        return int(self.item.size)

    @property
    def texts(self) -> list[str]:
        """Every text id named, sorted."""
        return sorted(set(self.winner.tolist()) | set(self.loser.tolist()))

    def pair_keys(self) -> list[tuple[int, str, str]]:
        """(item code, smaller text id, larger text id) per pair: the same pair for every judge."""
        return [(int(i), *sorted((w, l))) for i, w, l in zip(self.item, self.winner, self.loser)]


def _columns(where: str, judgements: Any) -> dict[str, list[Any]]:
    """The input as a dict of equal-length lists (DataFrame columns or mapping values)."""
    if hasattr(judgements, "columns") and hasattr(judgements, "to_dict"):
        return {str(c): judgements[c].tolist() for c in judgements.columns}
    if not isinstance(judgements, Mapping):
        raise InputValidationError(
            f"{where}: expected `judgements` as a pandas DataFrame or a mapping of equal-length columns "
            f"({', '.join(RANKING_COLUMNS)} or {', '.join(PAIR_COLUMNS)}[, tie]), got {type(judgements).__name__}."
        )
    out = {}
    for k, v in judgements.items():
        if isinstance(v, (str, bytes)) or not isinstance(v, (Sequence, np.ndarray)) and not hasattr(v, "tolist"):
            raise InputValidationError(f"{where}: expected judgements[{k!r}] to be a sequence, got {type(v).__name__}.")
        out[str(k)] = list(v.tolist() if hasattr(v, "tolist") else v)
    lengths = {k: len(v) for k, v in out.items()}
    if len(set(lengths.values())) > 1:
        raise InputValidationError(
            f"{where}: expected judgement columns of equal length, got {', '.join(f'len({k})={n}' for k, n in lengths.items())}."
        )
    return out


def _label(where: str, column: str, value: Any, row: int) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        raise InputValidationError(f"{where}: expected a label in judgements[{column!r}] at row {row}, got {value!r}.")
    if isinstance(value, np.generic):
        value = value.item()
    return value


def _text_id(where: str, column: str, value: Any, row: int) -> str:
    return str(_label(where, column, value, row))


def _tie_flag(where: str, value: Any, row: int) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no", ""):
        return value.strip().lower() in ("true", "1", "yes")
    raise InputValidationError(f"{where}: expected judgements['tie'] to be true or false at row {row}, got {value!r}.")


def _codes(labels: list[Any]) -> tuple[np.ndarray, tuple[Any, ...]]:
    index: dict[Any, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in labels), dtype=np.intp, count=len(labels))
    return codes, tuple(index)


def judged_pairs(where: str, judgements: Any) -> JudgedPairs:
    """Read rankings or pairwise judgements (see the module docstring) into :class:`JudgedPairs`.

    Raises:
        InputValidationError: Missing columns, unequal lengths, a missing label or rank, a judge ranking the same
            text twice or judging the same pair twice, a ranking of one text, a pair of a text with itself, or no
            judgement at all.

    Examples:
        >>> jp = judged_pairs("demo", {"item": ["q", "q", "q"], "judge": ["ann"] * 3,
        ...                            "text_id": ["a", "b", "c"], "rank": [2, 1, 2]})
        >>> list(zip(jp.winner, jp.loser, jp.tie.tolist()))
        [('b', 'a', False), ('a', 'c', True), ('b', 'c', False)]
    """
    cols = _columns(where, judgements)
    have = set(cols)
    if set(RANKING_COLUMNS) <= have and not {"winner", "loser"} & have:
        return _from_rankings(where, cols)
    if set(PAIR_COLUMNS) <= have and not {"text_id", "rank"} & have:
        return _from_pairs(where, cols)
    raise InputValidationError(
        f"{where}: expected judgement columns {list(RANKING_COLUMNS)} (rankings) or {list(PAIR_COLUMNS)} plus an "
        f"optional 'tie' (pairwise), got {sorted(have)}."
    )


def _from_rankings(where: str, cols: dict[str, list[Any]]) -> JudgedPairs:
    n = len(cols["item"])
    if n == 0:
        raise InputValidationError(f"{where}: expected at least one ranking row, got an empty table.")
    groups: dict[tuple[Any, Any], dict[str, float]] = {}
    for r in range(n):
        item = _label(where, "item", cols["item"][r], r)
        judge = _label(where, "judge", cols["judge"][r], r)
        text = _text_id(where, "text_id", cols["text_id"][r], r)
        rank = cols["rank"][r]
        if isinstance(rank, bool) or not isinstance(rank, (int, float, np.integer, np.floating)) or not math.isfinite(float(rank)):
            raise InputValidationError(f"{where}: expected judgements['rank'] to be a finite number at row {r}, got {rank!r}.")
        ranking = groups.setdefault((item, judge), {})
        if text in ranking:
            raise InputValidationError(
                f"{where}: expected each judge to rank a text once per item, got judge {judge!r} ranking text "
                f"{text!r} of item {item!r} twice (row {r})."
            )
        ranking[text] = float(rank)
    item_l, judge_l, win, lose, tie = [], [], [], [], []
    for (item, judge), ranking in groups.items():
        if len(ranking) < 2:
            raise InputValidationError(
                f"{where}: expected a ranking of at least 2 texts, got judge {judge!r} ranking only "
                f"{list(ranking)} in item {item!r}."
            )
        ids = list(ranking)
        for x in range(len(ids)):
            for y in range(x + 1, len(ids)):
                a, b = ids[x], ids[y]
                ra, rb = ranking[a], ranking[b]
                if ra == rb:
                    a, b = sorted((a, b))
                elif rb < ra:
                    a, b = b, a
                item_l.append(item)
                judge_l.append(judge)
                win.append(a)
                lose.append(b)
                tie.append(ra == rb)
    return _assemble(item_l, judge_l, win, lose, tie, "rankings", n)


def _from_pairs(where: str, cols: dict[str, list[Any]]) -> JudgedPairs:
    n = len(cols["item"])
    if n == 0:
        raise InputValidationError(f"{where}: expected at least one judgement row, got an empty table.")
    ties = cols.get("tie")
    seen: dict[tuple[Any, Any, str, str], int] = {}
    item_l, judge_l, win, lose, tie = [], [], [], [], []
    for r in range(n):
        item = _label(where, "item", cols["item"][r], r)
        judge = _label(where, "judge", cols["judge"][r], r)
        a = _text_id(where, "winner", cols["winner"][r], r)
        b = _text_id(where, "loser", cols["loser"][r], r)
        if a == b:
            raise InputValidationError(f"{where}: expected two different texts in a pair, got {a!r} against itself (row {r}).")
        t = False if ties is None else _tie_flag(where, ties[r], r)
        key = (item, judge, *sorted((a, b)))
        if key in seen:
            raise InputValidationError(
                f"{where}: expected each judge to judge a pair once per item, got judge {judge!r} judging "
                f"({key[2]!r}, {key[3]!r}) of item {item!r} twice (rows {seen[key]} and {r})."
            )
        seen[key] = r
        if t:
            a, b = sorted((a, b))
        item_l.append(item)
        judge_l.append(judge)
        win.append(a)
        lose.append(b)
        tie.append(t)
    return _assemble(item_l, judge_l, win, lose, tie, "pairwise", n)


def _assemble(item_l: list[Any], judge_l: list[Any], win: list[str], lose: list[str], tie: list[bool], source: str,
              n_rows: int) -> JudgedPairs:
    items, item_labels = _codes(item_l)
    judges, judge_labels = _codes(judge_l)
    return JudgedPairs(items, judges, np.array(win, dtype=object), np.array(lose, dtype=object),
                       np.array(tie, dtype=bool), item_labels, judge_labels, source, n_rows)


def as_score_map(where: str, name: str, scores: Any) -> dict[str, float]:
    """Scores as a dict text_id -> float (NaN kept: the caller's nan_policy decides).

    Accepts a mapping text_id -> number, a pandas Series indexed by text id, or ``(ids, values)``.

    Examples:
        >>> as_score_map("demo", "scores", (["a", "b"], [1, 2.5]))
        {'a': 1.0, 'b': 2.5}
    """
    if hasattr(scores, "index") and hasattr(scores, "to_numpy") and not hasattr(scores, "columns"):
        ids, values = [str(i) for i in scores.index], list(scores.to_numpy())
    elif isinstance(scores, Mapping):
        ids, values = [str(k) for k in scores], list(scores.values())
    elif isinstance(scores, (tuple, list)) and len(scores) == 2 and not isinstance(scores[0], (str, bytes)):
        ids_in, values = scores
        if isinstance(ids_in, (str, bytes)) or not hasattr(ids_in, "__len__") or not hasattr(values, "__len__"):
            raise InputValidationError(f"{where}: expected `{name}` as (ids, values), two sequences, got {type(ids_in).__name__}.")
        if len(ids_in) != len(values):
            raise InputValidationError(
                f"{where}: expected `{name}` as (ids, values) of equal length, got {len(ids_in)} ids and {len(values)} values."
            )
        ids, values = [str(i) for i in ids_in], list(values)
    else:
        raise InputValidationError(
            f"{where}: expected `{name}` as a mapping text_id -> score, a pandas Series indexed by text id, or "
            f"(ids, values), got {type(scores).__name__}."
        )
    out: dict[str, float] = {}
    for i, v in zip(ids, values):
        if i in out:
            raise InputValidationError(f"{where}: expected each text id once in `{name}`, got {i!r} twice.")
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise InputValidationError(f"{where}: expected `{name}` values to be numbers, got {v!r} for text {i!r}.")
        out[i] = float(v)
    if not out:
        raise InputValidationError(f"{where}: expected `{name}` to hold at least one score, got none.")
    return out


def score_diffs(where: str, name: str, scores: Mapping[str, float], pairs: JudgedPairs,
                higher_is_better: bool) -> np.ndarray:
    """score(winner) - score(loser) per pair (negated when lower is better); unknown text ids raise.

    Examples:
        >>> jp = judged_pairs("demo", {"item": [1], "judge": ["j"], "winner": ["a"], "loser": ["b"]})
        >>> score_diffs("demo", "scores", {"a": 1.0, "b": 3.0}, jp, higher_is_better=False).tolist()
        [2.0]
    """
    missing = sorted({t for t in pairs.texts if t not in scores})
    if missing:
        raise InputValidationError(
            f"{where}: expected a score in `{name}` for every judged text, got {len(missing)} judged text id(s) "
            f"without one: {missing[:5]}{'...' if len(missing) > 5 else ''}."
        )
    w = np.array([scores[t] for t in pairs.winner], dtype=float)
    lo = np.array([scores[t] for t in pairs.loser], dtype=float)
    d = w - lo
    return d if higher_is_better else -d
