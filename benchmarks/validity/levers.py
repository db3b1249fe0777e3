"""The constraint-side levers tried on HANNA, written down before they were scored.

Each condition is a constraint set built from a story's own prompt (or, for the prompt swap, another prompt).
The audience statements state what strong craft does (`good`) and, word for word in the same places, what weak
craft does (`weak`), one statement per aspect of the framework (ethos, mythos, lexis, dianoia). The difference
of a text's surprisal under the two sets, per token, is a quality direction that does not grow with length.
"""

from __future__ import annotations

from cqmetric import Constraint, ConstraintSet

GOOD = {
    "ethos": "The characters feel like real people, with clear wants and believable choices.",
    "mythos": "The plot holds together: each event follows from the last, and the ending pays off.",
    "lexis": "The prose is clean, precise and vivid, with fresh words and no needless repetition.",
    "dianoia": "The story has a point: its idea is clear, surprising and worth thinking about.",
}
WEAK = {
    "ethos": "The characters feel like empty names, with no wants and random choices.",
    "mythos": "The plot falls apart: events come from nowhere, and the ending goes nowhere.",
    "lexis": "The prose is sloppy, vague and flat, with stale words and much needless repetition.",
    "dianoia": "The story has no point: its idea is muddled, predictable and not worth thinking about.",
}
ASPECTS = tuple(GOOD)


def prompt_only(prompt: str) -> ConstraintSet:
    """The author's intent alone: the prompt."""
    return ConstraintSet.from_prompt(prompt)


def with_audience(prompt: str, statements: dict[str, str]) -> ConstraintSet:
    """The prompt (intent) and one audience statement per aspect."""
    return ConstraintSet((Constraint(prompt, "intent"),
                          *(Constraint(statements[a], "audience", a) for a in ASPECTS)))


CONDITIONS = {
    "prompt": lambda prompt: prompt_only(prompt),
    "good": lambda prompt: with_audience(prompt, GOOD),
    "weak": lambda prompt: with_audience(prompt, WEAK),
}
