"""Token ids for texts and contexts, shared by every backend that holds a transformers tokenizer.

A text X is tokenized once, on its own, without special tokens; those ids are scored in every context. A context
is the start token (by the start-token policy) followed by the context string's own tokens. The transformers,
vLLM and server backends all use this one front end, so they send the model identical ids.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cqmetric._validation import check_option
from cqmetric.errors import BackendError, InputValidationError
from cqmetric.settings import START_TOKENS as START_TOKEN_POLICIES
from cqmetric.types import TokenizedText


class TokenizerFrontEnd:
    """Tokenize texts on their own and contexts under an explicit start-token policy.

    Args:
        tokenizer: a fast transformers tokenizer (character offsets are needed).
        start_token: "auto" (the start token the tokenizer adds itself, else BOS, else EOS), "prepend" (always
            `start_token_id`, default BOS or EOS) or "none" (no start token: the context must be non-empty).
        start_token_id: the id to prepend under "prepend".
        where: the owner's name, for error messages.

    Attributes:
        start_id: the id put before every context, or None.
        start_label: the policy as applied, for the signature: "tokenizer:ID", "prepend:ID" or "none".
    """

    def __init__(self, tokenizer: Any, *, start_token: str = "auto", start_token_id: int | None = None,
                 where: str = "backend") -> None:
        check_option(where, "start_token", start_token, START_TOKEN_POLICIES)
        if not getattr(tokenizer, "is_fast", False):
            raise BackendError(f"{where}: expected a fast tokenizer (character offsets are needed), got a slow one.")
        self.tokenizer = tokenizer
        self.where = where
        self.start_id, self.start_label = self._resolve(start_token, start_token_id)
        self._contexts: dict[str, list[int]] = {}

    def _resolve(self, policy: str, explicit: int | None) -> tuple[int | None, str]:
        tok = self.tokenizer
        if policy == "none":
            return None, "none"
        if policy == "auto":
            with_special = tok("a", add_special_tokens=True)["input_ids"]
            plain = tok("a", add_special_tokens=False)["input_ids"]
            if len(with_special) > len(plain) and with_special[-len(plain):] == plain:
                added = int(with_special[0])  # the tokenizer adds its own start token: use exactly that one
                return added, f"tokenizer:{added}"
        size = len(tok) if hasattr(tok, "__len__") else None
        if explicit is not None and size is not None and not 0 <= explicit < size:
            raise InputValidationError(
                f"{self.where}: expected `start_token_id` to be an id of the tokenizer's vocabulary (0 to {size - 1}), "
                f"got {explicit}.")
        fallback = explicit if explicit is not None else (
            tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id)
        if fallback is None:
            raise BackendError(
                f"{self.where}: the tokenizer has no BOS or EOS token to start with; "
                "pass start_token_id=... or start_token='none'."
            )
        return int(fallback), f"prepend:{fallback}"

    def tokenize(self, text: str) -> TokenizedText:
        """`text` on its own: ids without special tokens, and each token's character offsets."""
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = np.asarray(enc["input_ids"], dtype=np.int64)
        offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
        return TokenizedText(text=text, token_ids=ids, offsets=offsets)

    def context_ids(self, context: str) -> list[int]:
        """The context's ids under the start-token policy (cached per context string)."""
        ids = self._contexts.get(context)
        if ids is None:
            ids = [] if self.start_id is None else [self.start_id]
            if context:
                ids += [int(i) for i in self.tokenizer(context, add_special_tokens=False)["input_ids"]]
            if not ids:
                raise InputValidationError(
                    f"{self.where}: the context is empty and start_token='none', so the first text token has no "
                    "prediction; use start_token='auto' or a template with a non-empty suffix."
                )
            self._contexts[context] = ids
        return list(ids)

    def context_length(self, context: str) -> int:
        """Number of ids `context_ids(context)` has."""
        return len(self.context_ids(context))


def front_end(tokenizer: Any, settings: Any, rules: Any, *, where: str) -> TokenizerFrontEnd:
    """The front end for `settings` (a ModelSettings), with "auto" resolved by the model folder's rules first.

    Every engine makes its front end here, so one folder gets one start-token rule on every engine.

    Examples:
        >>> from cqmetric.backends.loading import FolderRules
        >>> from cqmetric.settings import ModelSettings
        >>> class Tok:  # a fast tokenizer that adds no special tokens, BOS 1
        ...     is_fast, bos_token_id, eos_token_id = True, 1, 2
        ...     def __call__(self, text, add_special_tokens=False): return {"input_ids": [7]}
        >>> front_end(Tok(), ModelSettings(), FolderRules(), where="doc").start_label
        'prepend:1'
        >>> front_end(Tok(), ModelSettings(), FolderRules(start_token="prepend", start_token_id=0), where="doc").start_label
        'prepend:0'
    """
    policy, start_id = settings.start_token, settings.start_token_id
    if policy in (None, "auto") and rules.start_token is not None:
        policy = rules.start_token
        start_id = start_id if start_id is not None else rules.start_token_id
    return TokenizerFrontEnd(tokenizer, start_token=policy or "auto", start_token_id=start_id, where=where)


class FrontEndMixin:
    """The tokenization half of the backend protocol, for a backend that keeps its `TokenizerFrontEnd` as `front`.

    Every backend tokenizes through the same front end, so texts and contexts get the same ids on every engine.
    """

    front: TokenizerFrontEnd

    def tokenize(self, text: str) -> TokenizedText:
        return self.front.tokenize(text)

    def context_ids(self, context: str) -> list[int]:
        """The context's ids under the start-token policy (cached)."""
        return self.front.context_ids(context)

    def context_length(self, context: str) -> int:
        return self.front.context_length(context)
