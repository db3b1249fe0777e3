"""cqmetric.research.perturb: deterministic seeded degradations, flagged no-ops, derangements."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from cqmetric.errors import DegenerateInputWarning, InputValidationError
from cqmetric.units import sentence_spans
from cqmetric.research.perturb import (
    derangement,
    perturb_texts,
    shuffle_sentences,
    shuffle_words,
    swap_constraints,
)

TEXT = "The door opened. A cat walked in! Nobody moved? Then the lights went out. \u201cRun,\u201d she said."


def _sentences(text):
    """The sentences as cqmetric counts them (cqmetric.units.sentence_spans), stripped."""
    return [text[a:b].strip() for a, b in sentence_spans(text)]


def test_the_shuffles_use_cqmetrics_sentences():
    # The splitter is cqmetric.units.sentence_spans, the units of the chain-rule profile: a shuffle moves exactly
    # the sentences a profile would show. Expected splits written by hand.
    assert _sentences(TEXT) == [
        "The door opened.",
        "A cat walked in!",
        "Nobody moved?",
        "Then the lights went out.",
        "\u201cRun,\u201d she said.",
    ]
    assert _sentences("Dots... and more. End") == ["Dots... and more.", "End"]  # "..." before lower case: no end
    assert _sentences("\u4eca\u5929\u4e0b\u96e8\u4e86\u3002\u6211\u4eec\u5728\u5bb6\uff01") == [
        "\u4eca\u5929\u4e0b\u96e8\u4e86\u3002",
        "\u6211\u4eec\u5728\u5bb6\uff01",
    ]
    assert _sentences("First para\n\nSecond para.") == ["First para", "Second para."]
    # Lower-cased text (HANNA's GPT and HINT stories have no capital at all) is split too, and so shuffled:
    lower = "the rain came at dawn. nobody left the house. by noon the river was gone."
    assert _sentences(lower) == ["the rain came at dawn.", "nobody left the house.", "by noon the river was gone."]
    out = shuffle_sentences(lower, seed=0)
    assert out != lower and sorted(_sentences(out)) == sorted(_sentences(lower))
    # In cased text, what follows "!" or "..." in lower case continues the sentence (dialogue, hesitation)
    assert _sentences("\u201cRun!\u201d he called. It was... something. Fine.") == [
        "\u201cRun!\u201d he called.",
        "It was... something.",
        "Fine.",
    ]


def test_sentence_shuffle_is_deterministic_and_a_real_permutation():
    a = shuffle_sentences(TEXT, seed=1)
    assert a == shuffle_sentences(TEXT, seed=1)
    assert a != TEXT
    assert sorted(_sentences(a)) == sorted(_sentences(TEXT))
    outs = {shuffle_sentences(TEXT, seed=s) for s in range(10)}
    assert len(outs) > 5  # different seeds give different orders
    # two sentences: the only non-identity order is the swap, for every seed
    assert {shuffle_sentences("One. Two.", seed=s) for s in range(20)} == {"Two. One."}


def test_word_shuffle_keeps_words_and_sentence_order():
    out = shuffle_words(TEXT, seed=5)
    assert out == shuffle_words(TEXT, seed=5) and out != TEXT
    # a shuffled sentence may start in lower case, so the output is cut by the source sentences' word counts
    words = out.split()
    for s in _sentences(TEXT):
        d, words = " ".join(words[: len(s.split())]), words[len(s.split()) :]
        assert Counter(s.rstrip(".!?").split()) == Counter(d.rstrip(".!?").split())
        assert s[-1] == d[-1]  # the sentence-final punctuation stays at the end
    assert words == []


def test_unperturbable_texts_are_returned_unchanged_with_a_warning():
    with pytest.warns(DegenerateInputWarning, match="fewer than two distinct sentences; returned unchanged"):
        assert shuffle_sentences("Only one sentence here.", seed=3) == "Only one sentence here."
    with pytest.warns(DegenerateInputWarning, match="fewer than two distinct sentences"):
        assert shuffle_sentences("Again. Again.") == "Again. Again."
    with pytest.warns(DegenerateInputWarning, match="no sentence has two distinct words"):
        assert shuffle_words("Hi. Yes!") == "Hi. Yes!"


def test_perturb_texts_flags_and_child_streams():
    texts = ["A b. C d. E f.", "Single sentence.", "X. Y."]
    with pytest.warns(DegenerateInputWarning, match=r"1 of 3 text\(s\) could not be perturbed .* \(indices \[1\]\)"):
        res = perturb_texts(texts, seed=11)
    assert res.changed == (True, False, True) and res.n_unchanged == 1
    assert res.texts[1] == "Single sentence." and res.texts[2] == "Y. X."
    with pytest.warns(DegenerateInputWarning):
        again = perturb_texts(texts, seed=11)
    assert again == res
    # text i's result does not depend on the other texts
    assert (
        perturb_texts(["Q. R. S. T."] + texts[:1], seed=11).texts[1]
        == perturb_texts(["Z. W."] + texts[:1], seed=11).texts[1]
    )
    with pytest.raises(InputValidationError, match="got kind='drop'; allowed: 'sentence_shuffle', 'word_shuffle'"):
        perturb_texts(texts, kind="drop")


def test_derangement_and_constraint_swap():
    for seed in range(20):
        p = derangement(7, seed=seed)
        assert sorted(p.tolist()) == list(range(7)) and not np.any(p == np.arange(7))
    assert np.array_equal(derangement(7, seed=3), derangement(7, seed=3))
    cons = ["a sea story", "a heist", "a love letter", "a ghost story"]
    out = swap_constraints(cons, seed=2)
    assert out == swap_constraints(cons, seed=2)
    assert sorted(out) == sorted(cons) and all(o != c for o, c in zip(out, cons))
    with pytest.warns(DegenerateInputWarning, match="identical copy of their own constraint"):
        swap_constraints(["same", "same", "other"], seed=0)
    with pytest.raises(InputValidationError, match="at least 2 constraints"):
        swap_constraints(["only one"])
    with pytest.raises(InputValidationError, match="`n` to be an integer >= 2"):
        derangement(1)


def test_bad_inputs():
    with pytest.raises(InputValidationError, match="expected `text` to be a str, got list"):
        shuffle_sentences(["a. b."])
    with pytest.raises(InputValidationError, match="non-empty `text`"):
        shuffle_words("   ")
    with pytest.raises(InputValidationError, match="`seed` to be a non-negative integer, got -1"):
        shuffle_sentences("A. B.", seed=-1)
