"""Constraint sets Y and the template that renders them into a context prefix.

A constraint set holds statements, each from one judgement source (the author's `intent`, the `audience`'s
reasonable expectation, the logic of `reality`) and optionally about one aspect (`ethos`, `mythos`, `lexis`,
`dianoia`). A plain prompt string is a one-statement set with source `intent`.

The unconstrained context is the same template with the constraint block empty, so framing words never count
as information.

Examples:
    >>> ys = ConstraintSet.of(intent="A story about a lighthouse keeper.", audience="Readers of short fiction.")
    >>> print(DEFAULT_TEMPLATE.render(ys), end="")
    Prompt: A story about a lighthouse keeper.
    Audience: Readers of short fiction.
    Text:
    >>> print(DEFAULT_TEMPLATE.render(ys.empty()), end="")
    Text:
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cqmetric._validation import check_encodable
from cqmetric.errors import InputValidationError

SOURCES = ("intent", "audience", "reality")
ASPECTS = ("ethos", "mythos", "lexis", "dianoia")


@dataclass(frozen=True)
class Constraint:
    """One constraint statement.

    Args:
        text: the statement, as the model should read it.
        source: which judgement source it comes from: "intent", "audience" or "reality".
        aspect: optionally, which dimension it constrains: "ethos", "mythos", "lexis" or "dianoia".
    """

    text: str
    source: str = "intent"
    aspect: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InputValidationError(
                f"Constraint: expected `text` to be a non-empty string, got {self.text!r}."
            )
        check_encodable("Constraint", "text", self.text)
        if self.source not in SOURCES:
            raise InputValidationError(
                f"Constraint: got source={self.source!r}; allowed: {', '.join(map(repr, SOURCES))}."
            )
        if self.aspect is not None and self.aspect not in ASPECTS:
            raise InputValidationError(
                f"Constraint: got aspect={self.aspect!r}; allowed: None, {', '.join(map(repr, ASPECTS))}."
            )

    def group(self, by: str) -> str | None:
        """The dimension this statement belongs to when grouping `by` "source" or "aspect"."""
        return self.source if by == "source" else self.aspect


@dataclass(frozen=True)
class ConstraintSet:
    """An ordered, immutable set of constraint statements (possibly empty)."""

    constraints: tuple[Constraint, ...] = ()

    @classmethod
    def of(cls, **by_source: str | Iterable[str]) -> ConstraintSet:
        """Build a set from keyword arguments named by source: `ConstraintSet.of(intent=..., reality=[...])`."""
        items: list[Constraint] = []
        for source, texts in by_source.items():
            if source not in SOURCES:
                raise InputValidationError(
                    f"ConstraintSet: got source {source!r}; allowed: {', '.join(map(repr, SOURCES))}."
                )
            if isinstance(texts, str):
                texts = [texts]
            elif not isinstance(texts, (list, tuple)):
                raise InputValidationError(
                    f"ConstraintSet: expected the {source!r} statements to be a string or a list of strings, "
                    f"got {type(texts).__name__} ({texts!r:.60})."
                )
            for text in texts:
                items.append(Constraint(text, source=source))
        return cls(tuple(items))

    @classmethod
    def from_prompt(cls, prompt: str) -> ConstraintSet:
        """A one-statement set: the prompt as the author's intent."""
        return cls((Constraint(prompt, source="intent"),))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> ConstraintSet:
        """Read `[{"text":..., "source":..., "aspect":...}, ...]` or `{"intent": "...", ...}`."""
        if isinstance(data, Mapping):
            return cls.of(**data)
        items = []
        for i, d in enumerate(data):
            if not isinstance(d, Mapping):
                raise InputValidationError(
                    f"ConstraintSet: expected statement {i} to be a dict with 'text' (and 'source', 'aspect'), "
                    f"got {type(d).__name__} ({d!r:.60})."
                )
            extra = sorted(set(d) - {"text", "source", "aspect"})
            if extra or "text" not in d:
                raise InputValidationError(
                    f"ConstraintSet: expected statement {i} to have the keys 'text' (required), 'source' and 'aspect', "
                    f"got {sorted(d)}."
                )
            items.append(Constraint(**dict(d)))
        return cls(tuple(items))

    def to_list(self) -> list[dict[str, Any]]:
        """JSON-safe form, read back by `from_dict`."""
        return [{"text": c.text, "source": c.source, "aspect": c.aspect} for c in self.constraints]

    def empty(self) -> ConstraintSet:
        """The empty set (the unconstrained condition)."""
        return ConstraintSet(())

    def groups(self, by: str) -> tuple[str, ...]:
        """Dimensions present in this set, in canonical order, when grouping `by` "source" or "aspect"."""
        if by not in ("source", "aspect"):
            raise InputValidationError(f"ConstraintSet.groups: got by={by!r}; allowed: 'source', 'aspect'.")
        order = SOURCES if by == "source" else ASPECTS
        present = {c.group(by) for c in self.constraints}
        if by == "aspect" and None in present:
            raise InputValidationError(
                "ConstraintSet.groups: grouping by aspect needs an aspect on every statement; "
                f"got {sum(c.aspect is None for c in self.constraints)} statement(s) without one."
            )
        return tuple(g for g in order if g in present)

    def subset(self, groups: Iterable[str], *, by: str) -> ConstraintSet:
        """The statements whose dimension is in `groups`, order kept."""
        keep = set(groups)
        return ConstraintSet(tuple(c for c in self.constraints if c.group(by) in keep))

    def __len__(self) -> int:
        return len(self.constraints)


@dataclass(frozen=True)
class Template:
    """Renders a constraint set into the context that precedes the text.

    Each statement becomes `line.format(label=..., text=...)`; the block is preceded by `prefix` and followed by
    `suffix`. Labels are per source. The text is tokenized on its own and appended after the context's tokens, so
    whitespace at the start of the text belongs to the text. A chat model's turn markers go into `prefix` and
    `suffix` (see `CHAT_TEMPLATE`).
    """

    name: str = "labelled-v1"
    line: str = "{label}: {text}\n"
    suffix: str = "Text:\n"
    prefix: str = ""
    labels: Mapping[str, str] = field(
        default_factory=lambda: {"intent": "Prompt", "audience": "Audience", "reality": "Facts"}
    )

    def __post_init__(self) -> None:
        where = "Template"
        for name in ("name", "line", "suffix", "prefix"):
            if not isinstance(getattr(self, name), str):
                raise InputValidationError(
                    f"{where}: expected `{name}` to be a str, got {type(getattr(self, name)).__name__}.")
        if not self.name:
            raise InputValidationError(f"{where}: expected a non-empty `name` (it goes into the signature), got ''.")
        try:
            placeholders = {f for _, f, _, _ in string.Formatter().parse(self.line) if f is not None}
        except ValueError as exc:
            raise InputValidationError(f"{where}: `line` {self.line!r} is not a format string ({exc}).") from None
        unknown = sorted(placeholders - {"label", "text"})
        if unknown:
            raise InputValidationError(
                f"{where}: expected `line` to use only {{label}} and {{text}}, got {', '.join('{' + u + '}' for u in unknown)}"
                f" in {self.line!r}.")
        if "text" not in placeholders:
            raise InputValidationError(
                f"{where}: expected `line` to contain {{text}} (where each statement goes), got {self.line!r}; "
                "without it the constraints would never reach the model.")
        if not isinstance(self.labels, Mapping):
            raise InputValidationError(f"{where}: expected `labels` to be a dict source -> label, got {self.labels!r:.60}.")
        missing = [src for src in SOURCES if not isinstance(self.labels.get(src), str)]
        if missing:
            raise InputValidationError(
                f"{where}: expected a label (a str) for every source {', '.join(SOURCES)}, got none for "
                f"{', '.join(missing)} in {dict(self.labels)!r}.")

    def render(self, constraints: ConstraintSet) -> str:
        """The context string for `constraints` (the empty set gives the unconstrained context)."""
        block = "".join(
            self.line.format(label=self.labels[c.source], text=c.text.strip()) for c in constraints.constraints
        )
        return self.prefix + block + self.suffix

    @property
    def fingerprint(self) -> str:
        """Name plus a short hash of every field, for the signature."""
        fields = [self.line, self.suffix, sorted(self.labels.items())] + ([self.prefix] if self.prefix else [])
        payload = json.dumps(fields).encode()
        return f"{self.name}@{hashlib.sha256(payload).hexdigest()[:7]}"


DEFAULT_TEMPLATE = Template()
#: The constraints as a user turn and the text as the assistant's answer, in the ChatML markup of the embedded
#: SmolLM2-Instruct (and other ChatML models); the unconstrained context is the same turn with no statements.
CHAT_TEMPLATE = Template(name="chatml-story-v1", prefix="<|im_start|>user\nWrite a story.\n",
                         line="{label}: {text}\n", suffix="<|im_end|>\n<|im_start|>assistant\n")


def as_constraint_set(value: Any, *, where: str, index: int) -> ConstraintSet:
    """Accept a prompt string, a ConstraintSet, or its dict/list form; raise naming what arrived otherwise."""
    if isinstance(value, ConstraintSet):
        return value
    if isinstance(value, str):
        if not value.strip():
            raise InputValidationError(
                f"{where}: expected `constraints[{index}]` to be a non-empty prompt, got {value!r}; "
                "pass constraints=None to score surprise only."
            )
        try:
            return ConstraintSet.from_prompt(value)
        except InputValidationError as exc:
            raise InputValidationError(f"{where}: constraints[{index}]: {exc}") from None
    if isinstance(value, (Mapping, list, tuple)):
        try:
            ys = ConstraintSet.from_dict(value)
        except InputValidationError as exc:
            raise InputValidationError(f"{where}: constraints[{index}]: {exc}") from None
        if not len(ys):
            raise InputValidationError(
                f"{where}: expected `constraints[{index}]` to hold at least one statement, got an empty "
                f"{type(value).__name__}; pass constraints=None to score surprise only."
            )
        return ys
    raise InputValidationError(
        f"{where}: expected `constraints[{index}]` to be a prompt str or a ConstraintSet, "
        f"got {type(value).__name__}."
    )
