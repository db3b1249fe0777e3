"""Text units, constraint sets and templates, signatures."""

import numpy as np
import pytest

from cqmetric import Constraint, ConstraintSet, Signature, Template
from cqmetric.errors import InputValidationError
from cqmetric.units import paragraph_spans, sentence_spans, token_unit_index


def test_sentence_spans_partition_the_text():
    text = '"Run!" she said. He ran? Yes… and then he stopped.  '
    spans = sentence_spans(text)
    assert "".join(text[a:b] for a, b in spans) == text
    assert [text[a:b].strip() for a, b in spans] == ['"Run!" she said.', "He ran?", "Yes… and then he stopped."]


def test_paragraph_spans():
    text = "One.\nStill one.\n\nTwo.\n\n\nThree."
    assert [text[a:b].strip() for a, b in paragraph_spans(text)] == ["One.\nStill one.", "Two.", "Three."]


def test_token_goes_to_unit_of_its_last_character():
    # " He" starts with the space that closes unit 0 but belongs to unit 1.
    offsets = np.array([[0, 3], [3, 6], [6, 9]])
    assert token_unit_index(offsets, [(0, 4), (4, 9)]).tolist() == [0, 1, 1]


def test_constraint_validation_messages():
    with pytest.raises(InputValidationError, match=r"source='author'; allowed: 'intent', 'audience', 'reality'"):
        Constraint("x", source="author")
    with pytest.raises(InputValidationError, match=r"aspect='plot'"):
        Constraint("x", aspect="plot")
    with pytest.raises(InputValidationError, match="non-empty string"):
        Constraint("  ")


def test_subsets_and_groups():
    ys = ConstraintSet((Constraint("a", "reality", "mythos"), Constraint("b", "intent", "ethos"),
                        Constraint("c", "intent", "lexis")))
    assert ys.groups("source") == ("intent", "reality")  # canonical order, not input order
    assert [c.text for c in ys.subset({"intent"}, by="source").constraints] == ["b", "c"]
    assert ys.groups("aspect") == ("ethos", "mythos", "lexis")
    assert ConstraintSet.from_dict(ys.to_list()) == ys


def test_template_unconstrained_context_is_the_empty_rendering():
    t = Template(name="t", line="[{label}] {text}\n", suffix="Story:\n", labels={"intent": "P", "audience": "A",
                                                                                 "reality": "R"})
    assert t.render(ConstraintSet.from_prompt("  a dragon ")) == "[P] a dragon\nStory:\n"
    assert t.render(ConstraintSet()) == "Story:\n"
    assert t.fingerprint != Template(name="t").fingerprint  # every field is in the fingerprint


def test_signature_golden_strings_and_parse():
    sig = Signature.build(model="m@abc", dtype="fp32", start="prepend:0", window="64/32", template="t@1",
                          estimator="pointwise", units="bits", norm="token", agg="token", scorers="default",
                          bootstrap="1000@0.95", seed=12345, version="0.1.0")
    assert sig.format() == ("model:m@abc|dtype:fp32|start:prepend:0|window:64/32|template:t@1|estimator:pointwise|"
                            "units:bits|norm:token|agg:token|scorers:default|bootstrap:1000@0.95|seed:12345|"
                            "version:0.1.0")
    assert sig.format(short=True).startswith("m:m@abc|dt:fp32|st:prepend:0|win:64/32|tpl:t@1|est:pointwise|")
    assert Signature.parse(sig.format()) == sig == Signature.parse(sig.format(short=True))
    assert sig.to_dict()["seed"] == "12345"


def test_signature_rejects_unknown_keys_and_pipes():
    with pytest.raises(InputValidationError, match="unknown key"):
        Signature.build(colour="red")
    with pytest.raises(InputValidationError, match="may not contain '|'"):
        Signature.build(model="a|b")
