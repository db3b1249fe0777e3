"""Split a text into units (sentences, paragraphs, token windows) as character spans.

Spans partition the text: every character belongs to exactly one unit, and the whitespace after a unit
belongs to it, so summing per-token quantities over units gives the text's total (the chain rule).

Examples:
    >>> text = "It rained. We stayed in!  Then the sun came out."
    >>> [text[a:b] for a, b in sentence_spans(text)]
    ['It rained. ', 'We stayed in!  ', 'Then the sun came out.']
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from cqmetric.errors import InputValidationError

UNIT_KINDS = ("sentence", "paragraph")

# A sentence ends at . ! ? or … (optionally followed by closing quotes/brackets), then whitespace, then
# something that can start a sentence: a capital, a digit, an opening quote or bracket. In a text without any
# capital letter (lower-cased text, e.g. the GPT and HINT stories of HANNA) a lower-case letter can start one too.
# It also ends at Chinese/Japanese full-width 。！？ (no space needed) and at a blank line (a paragraph break).
_WESTERN_END = r"""[.!?…]+["'”’)\]]*\s+"""
_CASED_START = r"""(?=[A-Z0-9"“‘'(\[])"""
_UNCASED_START = r"""(?=[^\W_]|["“‘'(\[])"""
_CJK_END = r"""[。！？]+["'”’)\]」』）]*\s*"""
_BLANK_LINE = r"\n[^\S\n]*\n\s*"
_SENTENCE_END = re.compile(f"{_WESTERN_END}{_CASED_START}|{_CJK_END}|{_BLANK_LINE}")
_SENTENCE_END_UNCASED = re.compile(f"{_WESTERN_END}{_UNCASED_START}|{_CJK_END}|{_BLANK_LINE}")
_PARAGRAPH_END = re.compile(r"\n\s*\n\s*")


def _spans_from_ends(text: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for match in pattern.finditer(text):
        end = match.end()
        if end >= len(text):
            break
        if text[start:end].strip():
            spans.append((start, end))
            start = end
    spans.append((start, len(text)))
    # A leading run of whitespace-only text joins the first unit.
    return spans


def sentence_spans(text: str) -> list[tuple[int, int]]:
    r"""Character spans of the sentences of `text`, covering it completely (cqmetric's notion of a sentence).

    Examples:
        >>> text = "It rained... and rained. Then it stopped.\n\nThe End"
        >>> [text[a:b] for a, b in sentence_spans(text)]
        ['It rained... and rained. ', 'Then it stopped.\n\n', 'The End']
        >>> text = "it rained. we stayed in."  # no capital anywhere: lower-case letters start sentences
        >>> [text[a:b] for a, b in sentence_spans(text)]
        ['it rained. ', 'we stayed in.']
    """
    cased = any(c.isupper() for c in text)
    return _spans_from_ends(text, _SENTENCE_END if cased else _SENTENCE_END_UNCASED)


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the paragraphs (separated by blank lines) of `text`, covering it completely."""
    return _spans_from_ends(text, _PARAGRAPH_END)


def unit_spans(text: str, unit: str) -> list[tuple[int, int]]:
    """Spans for `unit` in {"sentence", "paragraph"}."""
    if unit == "sentence":
        return sentence_spans(text)
    if unit == "paragraph":
        return paragraph_spans(text)
    raise InputValidationError(f"unit_spans: got unit={unit!r}; allowed: {', '.join(map(repr, UNIT_KINDS))}.")


def token_unit_index(offsets: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """Unit index of each token, given token character offsets (T, 2) and unit spans.

    A token belongs to the unit holding its last character, so a token " The" that starts with the space
    closing the previous sentence is counted in the sentence it begins.

    Examples:
        >>> token_unit_index(np.array([[0, 3], [3, 7], [7, 11]]), [(0, 4), (4, 11)]).tolist()
        [0, 1, 1]
    """
    last_char = np.maximum(offsets[:, 1] - 1, offsets[:, 0])
    starts = np.array([a for a, _ in spans])
    return np.searchsorted(starts, last_char, side="right") - 1


def fixed_token_units(n_tokens: int, size: int) -> np.ndarray:
    """Unit index of each token when units are consecutive windows of `size` tokens.

    Examples:
        >>> fixed_token_units(5, 2).tolist()
        [0, 0, 1, 1, 2]
    """
    return np.arange(n_tokens) // size


def reordered_tokens(token_ids: np.ndarray, unit_index: np.ndarray) -> np.ndarray | None:
    """The text's token ids with its units in another order (each unit's tokens, whitespace included, kept whole).

    The order is a non-identity permutation drawn from a generator seeded by the token ids themselves, so it is a
    function of the text alone: the same text gets the same order in any batch, on any machine. None when the
    text has fewer than two units (there is no other order).

    Examples:
        >>> ids, index = np.array([5, 6, 7, 8, 9]), np.array([0, 0, 1, 2, 2])
        >>> reordered_tokens(ids, index).tolist()
        [5, 6, 8, 9, 7]
        >>> reordered_tokens(ids[:2], index[:2]) is None
        True
    """
    n_units = int(unit_index.max()) + 1 if unit_index.size else 0
    if n_units < 2:
        return None
    digest = hashlib.sha256(np.asarray(token_ids, dtype=np.int64).tobytes()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    order = rng.permutation(n_units)
    while (order == np.arange(n_units)).all():
        order = rng.permutation(n_units)
    return np.concatenate([token_ids[unit_index == j] for j in order])
