"""Seeded, deterministic text perturbations for degraded-pair validation (no labels needed).

Three degradations that a creative-quality scorer should rank below the original:

* :func:`shuffle_sentences`: the sentences in a random non-identity order (breaks plot and coherence,
  keeps every sentence);
* :func:`shuffle_words`: the words of each sentence in a random non-identity order (breaks diction and
  syntax, keeps sentence boundaries and the sentence-final punctuation);
* :func:`swap_constraints`: each item paired with *another* item's constraints (prompt, brief): a
  random derangement, so I(X; Y_own) can be compared with I(X; Y_other).

All functions are pure: the same input and seed give the same output on every platform (NumPy's
``Generator`` from ``SeedSequence(seed)``). :func:`perturb_texts` applies a shuffle to a list, text
``i`` using the child stream ``SeedSequence(seed, spawn_key=(i,))`` so each result is independent of
the other texts (it therefore differs from a single call with the same seed).

**Texts that cannot be perturbed** (one sentence for a sentence shuffle, no sentence with two
different words for a word shuffle) are returned *unchanged*, and the function emits a
:class:`~cqmetric.errors.DegenerateInputWarning`; :func:`perturb_texts` also returns a ``changed``
flag per text, so the caller can drop those pairs (an unchanged pair is a tie, not a win).

Sentences are cqmetric's sentences, :func:`cqmetric.units.sentence_spans` (the units of the chain-rule
profile and of context calibration): a sentence ends at ``. ! ? …`` followed by whitespace and a
capital, a digit or an opening quote (any letter in text without capitals), at CJK ``。！？`` and at a
blank line; abbreviations such as "Mr." split a sentence. Sentences are re-joined with one space (no
space for CJK text without whitespace).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cqmetric._validation import check_option, check_seed, check_texts
from cqmetric.errors import DegenerateInputWarning, InputValidationError
from cqmetric.units import sentence_spans

__all__ = [
    "shuffle_sentences",
    "shuffle_words",
    "swap_constraints",
    "derangement",
    "perturb_texts",
    "PerturbedTexts",
    "KINDS",
]

KINDS = ("sentence_shuffle", "word_shuffle")

_FINAL_PUNCT = re.compile(r"""([.!?\u2026\u3002\uff01\uff1f,;:]+["'\u201d\u2019)\]\u300d\u300f]*)$""")


def _sentences(text: str) -> list[str]:
    """The sentences of `text` (:func:`cqmetric.units.sentence_spans`), without their surrounding whitespace."""
    return [text[a:b].strip() for a, b in sentence_spans(text) if text[a:b].strip()]


def _joiner(text: str) -> str:
    return " " if re.search(r"\s", text.strip()) else ""


def _check_text(where: str, text: Any) -> str:
    if not isinstance(text, str):
        raise InputValidationError(f"{where}: expected `text` to be a str, got {type(text).__name__}.")
    if not text.strip():
        raise InputValidationError(f"{where}: expected a non-empty `text`, got {text!r}.")
    return text


def _non_identity_permutation(n: int, rng: np.random.Generator) -> np.ndarray:
    while True:
        p = rng.permutation(n)
        if n < 2 or np.any(p != np.arange(n)):
            return p


def _shuffle_sentences(text: str, rng: np.random.Generator) -> tuple[str, bool]:
    sents = _sentences(text)
    if len(set(sents)) < 2:
        return text, False
    while True:
        order = _non_identity_permutation(len(sents), rng)
        shuffled = [sents[i] for i in order]
        if shuffled != sents:
            return _joiner(text).join(shuffled), True


def _shuffle_words_in(sentence: str, rng: np.random.Generator) -> tuple[str, bool]:
    words = sentence.split()
    if len(words) < 2:
        return sentence, False
    m = _FINAL_PUNCT.search(words[-1])
    tail = ""
    if m and m.start() > 0:
        tail = m.group(1)
        words[-1] = words[-1][: m.start()]
    if len(set(words)) < 2:
        return sentence, False
    while True:
        order = _non_identity_permutation(len(words), rng)
        shuffled = [words[i] for i in order]
        if shuffled != words:
            return " ".join(shuffled) + tail, True


def _shuffle_words(text: str, rng: np.random.Generator) -> tuple[str, bool]:
    sents = _sentences(text)
    out, changed = [], False
    for s in sents:
        t, c = _shuffle_words_in(s, rng)
        out.append(t)
        changed |= c
    if not changed:
        return text, False
    return _joiner(text).join(out), True


def shuffle_sentences(text: str, *, seed: int = 12345) -> str:
    """The sentences of `text` in a random order that differs from the original.

    Args:
        text: The text to degrade.
        seed: Seed of the permutation (same seed, same output).

    Returns:
        The shuffled text (sentences joined by one space), or `text` unchanged, with a
        DegenerateInputWarning, when it has fewer than two distinct sentences.

    Examples:
        >>> from cqmetric.research.perturb import shuffle_sentences
        >>> shuffle_sentences("The door opened. A cat walked in. Nobody moved.", seed=1)
        'Nobody moved. The door opened. A cat walked in.'
    """
    out, changed = _shuffle_sentences(
        _check_text("shuffle_sentences", text),
        np.random.default_rng(np.random.SeedSequence(check_seed("shuffle_sentences", seed))),
    )
    if not changed:
        warnings.warn(
            "shuffle_sentences: the text has fewer than two distinct sentences; returned unchanged.",
            DegenerateInputWarning,
            stacklevel=2,
        )
    return out


def shuffle_words(text: str, *, seed: int = 12345) -> str:
    """The words of each sentence of `text` in a random order (sentence order and final punctuation kept).

    Words are whitespace-separated tokens; punctuation inside a token moves with it, the
    sentence-final punctuation stays at the end. Sentences with fewer than two distinct words are kept.

    Args:
        text: The text to degrade.
        seed: Seed of the permutations.

    Returns:
        The degraded text, or `text` unchanged, with a DegenerateInputWarning, when no sentence has two
        distinct words (e.g. CJK text without spaces).

    Examples:
        >>> from cqmetric.research.perturb import shuffle_words
        >>> shuffle_words("The old man walked home. It rained.", seed=3)
        'home man old walked The. rained It.'
    """
    out, changed = _shuffle_words(
        _check_text("shuffle_words", text),
        np.random.default_rng(np.random.SeedSequence(check_seed("shuffle_words", seed))),
    )
    if not changed:
        warnings.warn(
            "shuffle_words: no sentence has two distinct words; returned unchanged.",
            DegenerateInputWarning,
            stacklevel=2,
        )
    return out


def derangement(n: int, *, seed: int = 12345) -> np.ndarray:
    """A uniformly random permutation of range(n) without fixed points (rejection sampling).

    Examples:
        >>> from cqmetric.research.perturb import derangement
        >>> p = derangement(5, seed=0)
        >>> sorted(p.tolist()) == [0, 1, 2, 3, 4] and all(p != range(5))
        True
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise InputValidationError(
            f"derangement: expected `n` to be an integer >= 2 (one item cannot be swapped), got {n!r}."
        )
    rng = np.random.default_rng(np.random.SeedSequence(check_seed("derangement", seed)))
    while True:
        p = rng.permutation(int(n))
        if not np.any(p == np.arange(int(n))):
            return p


def swap_constraints(constraints: Sequence[str], *, seed: int = 12345) -> list[str]:
    """Give every item another item's constraints: ``out[i] = constraints[p[i]]`` with p a derangement.

    Args:
        constraints: One constraint text (prompt, brief) per item; at least two.
        seed: Seed of the derangement.

    Returns:
        The swapped list. If some items share an identical constraint text, an item can receive a copy
        of its own; that is reported with a DegenerateInputWarning.

    Examples:
        >>> from cqmetric.research.perturb import swap_constraints
        >>> swap_constraints(["a sea story", "a heist", "a love letter"], seed=0)
        ['a love letter', 'a sea story', 'a heist']
    """
    items = check_texts("swap_constraints", constraints, name="constraints")
    if len(items) < 2:
        raise InputValidationError(f"swap_constraints: expected at least 2 constraints to swap, got {len(items)}.")
    p = derangement(len(items), seed=seed)
    out = [items[j] for j in p]
    same = [i for i, (a, b) in enumerate(zip(items, out)) if a == b]
    if same:
        warnings.warn(
            f"swap_constraints: {len(same)} item(s) received an identical copy of their own constraint (duplicate texts), e.g. index {same[0]}.",
            DegenerateInputWarning,
            stacklevel=2,
        )
    return out


@dataclass(frozen=True)
class PerturbedTexts:
    """Result of :func:`perturb_texts`: the degraded texts and which of them actually changed."""

    texts: tuple[str, ...]
    changed: tuple[bool, ...]
    kind: str
    seed: int

    @property
    def n_unchanged(self) -> int:
        """Number of texts returned unchanged (cannot be perturbed)."""
        return sum(not c for c in self.changed)


def perturb_texts(texts: Sequence[str], *, kind: str = "sentence_shuffle", seed: int = 12345) -> PerturbedTexts:
    """Apply a shuffle to every text; text i uses the child stream ``SeedSequence(seed, spawn_key=(i,))``.

    Args:
        texts: The texts.
        kind: ``"sentence_shuffle"`` or ``"word_shuffle"``.
        seed: Base seed.

    Returns:
        PerturbedTexts with ``texts`` and per-text ``changed`` flags. When some texts could not be
        perturbed, one DegenerateInputWarning names how many.

    Examples:
        >>> from cqmetric.research.perturb import perturb_texts
        >>> res = perturb_texts(["One. Two. Three.", "Four. Five."], seed=7)
        >>> res.changed, res.texts[1]
        ((True, True), 'Five. Four.')
    """
    items = check_texts("perturb_texts", texts)
    kind = check_option("perturb_texts", "kind", kind, KINDS)
    seed = check_seed("perturb_texts", seed)
    fn = _shuffle_sentences if kind == "sentence_shuffle" else _shuffle_words
    outs, flags = [], []
    for i, t in enumerate(items):
        o, c = fn(t, np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,))))
        outs.append(o)
        flags.append(c)
    res = PerturbedTexts(tuple(outs), tuple(flags), kind, seed)
    if res.n_unchanged:
        idx = [i for i, c in enumerate(flags) if not c]
        warnings.warn(
            f"perturb_texts: {res.n_unchanged} of {len(items)} text(s) could not be perturbed by {kind} and were returned unchanged "
            f"(indices {idx[:10]}{'...' if len(idx) > 10 else ''}); see `changed`.",
            DegenerateInputWarning,
            stacklevel=2,
        )
    return res
