"""Loader for LAMP (Chakrabarty et al., CHI 2025): professional writers rank three versions of a paragraph.

The data are never copied into the project: :func:`load_lamp` reads the upstream JSON files where they are
(``salesforce/creativity_eval``, folder ``Writing_Alignment/preference_ranking/batch1..batch7``, BSD 3-Clause).
In each batch folder, every writer has ``NAME.json`` (the items they saw: an instruction, three responses and
the mapping ``"Response k" -> condition``) and ``NAME_rankings.json`` (their ranking, best first, by
``instruction_id``). ``batchN.json`` (the batch's edit metadata) is not read.

Where it looks (first hit wins), when ``root`` is not given:

1. the directory in the environment variable ``CQMETRIC_LAMP`` (if set, only there);
2. ``../shared/data/lamp`` relative to the current directory;
3. ``shared/data/lamp`` next to the repository that holds the ``cqmetric`` package.

What the loader keeps, and counts in :attr:`LampData.dropped` (nothing is left out silently):

* Items are keyed ``"batchN/id"``; texts ``"batchN/id/condition"`` (conditions: ``AI-generated``,
  ``AI-edited``, ``Human-edited``).
* One item id appears twice in one batch under two instruction ids (``batch6/gene_batch1_10``, instruction ids
  5 and 32, with different AI-edited texts). Per (item, writer) the ranking with the **lowest instruction id**
  (the one shown first) is kept and the others are dropped (``dropped["duplicate_rankings"]``, 3 on the
  upstream data); the item's texts come from the kept entries.
* A few texts differ by a character or a word between the copies shown to different writers (e.g. a comma).
  The text of an (item, condition) is the version most of its writers saw (ties: the version of the writer whose
  name sorts first); ``dropped["text_variants"]`` counts the (item, condition) pairs that had more than one
  version (5 on the upstream data), and :attr:`LampData.text_variants` lists them.

Requires pandas (``pip install 'cqmetric[stats]'``).

References:
    Chakrabarty, T., Laban, P., & Wu, C.-S. (2025). Can AI writing be salvaged? Mitigating idiosyncrasies and
    improving human-AI alignment in the writing process through edits. CHI 2025.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cqmetric._validation import check_option, require
from cqmetric.errors import DataNotFoundError, InputValidationError

__all__ = ["load_lamp", "default_lamp_root", "LampData", "CONDITIONS", "LAMP_SOURCE"]

LAMP_SOURCE = "https://github.com/salesforce/creativity_eval (Writing_Alignment/preference_ranking)"
CONDITIONS = ("AI-generated", "AI-edited", "Human-edited")
SPLIT_FILE = "split.json"
RESPONSES = ("Response 1", "Response 2", "Response 3")


def _candidates() -> list[Path]:
    env = os.environ.get("CQMETRIC_LAMP")
    if env:
        return [Path(env).expanduser()]
    repo = Path(__file__).resolve().parents[2]
    return [Path.cwd() / ".." / "shared" / "data" / "lamp", repo.parent / "shared" / "data" / "lamp"]


def _is_lamp(folder: Path) -> bool:
    return (folder / SPLIT_FILE).is_file() and any(folder.glob("batch*/*_rankings.json"))


def default_lamp_root() -> Path | None:
    """The first candidate folder that holds ``split.json`` and ``batch*/NAME_rankings.json``, or None.

    Examples:
        >>> from cqmetric.research.lamp import default_lamp_root
        >>> root = default_lamp_root()
        >>> root is None or (root / "split.json").is_file()
        True
    """
    for c in _candidates():
        if _is_lamp(c):
            return c.resolve()
    return None


def _not_found(tried: list[Path]) -> DataNotFoundError:
    where = ", ".join(str(p) for p in tried)
    return DataNotFoundError(
        f"load_lamp: expected the LAMP folder ({SPLIT_FILE} and batch*/NAME_rankings.json), got no such files in: "
        f"{where}. Get batch1..batch7 from {LAMP_SOURCE} (BSD 3-Clause) and the split file, then pass "
        "root=<folder> or set CQMETRIC_LAMP=<folder>."
    )


def _responses(where: str, value: Any) -> list[str]:
    """The three responses: a list, or a JSON / Python-literal list in a string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                raise InputValidationError(f"{where}: expected `responses` to be a list of 3 texts, got an unreadable string.") from None
    if not isinstance(value, list) or len(value) != 3 or not all(isinstance(t, str) and t.strip() for t in value):
        raise InputValidationError(f"{where}: expected `responses` to be a list of 3 non-empty texts, got {value!r:.80}.")
    return value


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputValidationError(f"load_lamp: expected JSON in {path}, got an unreadable file ({exc}).") from None


def _writer_files(base: Path) -> list[tuple[str, str, Path, Path]]:
    """(batch, writer, items file, rankings file) for every writer of every batch, in a fixed order."""
    out = []
    for batch_dir in sorted(p for p in base.glob("batch*") if p.is_dir()):
        for rk in sorted(batch_dir.glob("*_rankings.json")):
            writer = rk.name[: -len("_rankings.json")]
            items = batch_dir / f"{writer}.json"
            if not items.is_file():
                raise InputValidationError(f"load_lamp: expected {items} beside {rk.name}, got no such file.")
            out.append((batch_dir.name, writer, items, rk))
    return out


@dataclass(frozen=True)
class LampData:
    """LAMP as tables: texts, rankings in long format, and the dev/test split.

    Attributes:
        root: The folder the files were read from.
        texts: DataFrame, one row per text (600): ``text_id`` (``"batchN/id/condition"``), ``item``
            (``"batchN/id"``), ``condition``, ``instruction``, ``text`` and ``n_words`` (whitespace-separated
            words).
        rankings: DataFrame in long format, one row per (ranking, text) (1,800): ``item``, ``judge`` (the
            writer), ``text_id``, ``rank`` (1 = best), ``instruction_id`` (upstream).
        split: Mapping item -> ``"dev"`` or ``"test"`` (from ``split.json``).
        dropped: Counts of what was not kept, by rule (see the module docstring).
        text_variants: The ``text_id`` of every text that had more than one version across writers.
        checksum: SHA-256 of the folder's ``SHA256SUMS`` file (None when it has none): which data these are.
    """

    root: Path
    texts: Any
    rankings: Any
    split: Mapping[str, str]
    dropped: Mapping[str, int]
    text_variants: tuple[str, ...]
    checksum: str | None

    @property
    def items(self) -> list[str]:
        """Item keys in sorted order."""
        return sorted(self.split)

    @property
    def judges(self) -> list[str]:
        """The writers, sorted."""
        return sorted(set(self.rankings["judge"]))

    def subset(self, split: str) -> LampData:
        """The texts and rankings of the ``"dev"`` or ``"test"`` items only."""
        split = check_option("LampData.subset", "split", split, ("dev", "test"))
        keep = {k for k, v in self.split.items() if v == split}
        return LampData(
            self.root,
            self.texts[self.texts["item"].isin(keep)].reset_index(drop=True),
            self.rankings[self.rankings["item"].isin(keep)].reset_index(drop=True),
            {k: v for k, v in self.split.items() if k in keep},
            self.dropped,
            tuple(t for t in self.text_variants if t.rsplit("/", 1)[0] in keep),
            self.checksum,
        )

    def condition_of(self) -> dict[str, str]:
        """Mapping text_id -> condition (the "systems" of a Bradley-Terry fit)."""
        return dict(zip(self.texts["text_id"], self.texts["condition"]))


def _read_split(base: Path, items: set[str]) -> dict[str, str]:
    raw = _read_json(base / SPLIT_FILE)
    if not isinstance(raw, dict) or not isinstance(raw.get("dev"), list) or not isinstance(raw.get("test"), list):
        raise InputValidationError(f"load_lamp: expected {SPLIT_FILE} with lists 'dev' and 'test', got {type(raw).__name__}.")
    split = {k: "dev" for k in raw["dev"]}
    both = [k for k in raw["test"] if k in split]
    split.update({k: "test" for k in raw["test"]})
    if both or set(split) != items:
        raise InputValidationError(
            f"load_lamp: expected {SPLIT_FILE} to split the {len(items)} items into dev and test, got "
            f"{len(both)} item(s) in both, {len(set(split) - items)} unknown, {len(items - set(split))} missing."
        )
    return split


def load_lamp(root: str | os.PathLike[str] | None = None) -> LampData:
    """Read LAMP from `root` (or the default locations) without copying it.

    Args:
        root: Folder holding ``batch1..batch7`` and ``split.json``.

    Returns:
        LampData.

    Raises:
        DataNotFoundError: The folder or its files are missing (a FileNotFoundError naming where to get them).
        InputValidationError: The files do not have LAMP's layout.

    Examples:
        >>> from cqmetric.research.lamp import load_lamp, default_lamp_root
        >>> if default_lamp_root() is not None:
        ...     lamp = load_lamp()
        ...     assert len(lamp.texts) == 600 and len(lamp.rankings) == 1800
    """
    if root is None:
        found = default_lamp_root()
        if found is None:
            raise _not_found(_candidates())
        base = found
    else:
        base = Path(root).expanduser()
        if not _is_lamp(base):
            raise _not_found([base])
    pd = require("pandas", "stats")

    # entries[(item, writer)] = [(instruction_id, entry, ranking), ...]
    entries: dict[tuple[str, str], list[tuple[int, dict[str, Any], dict[str, Any]]]] = {}
    for batch, writer, items_path, rank_path in _writer_files(base):
        shown = _read_json(items_path)
        ranked = _read_json(rank_path)
        by_iid = {}
        for e in shown:
            if e.get("instruction_id") in by_iid:
                raise InputValidationError(f"load_lamp: {items_path}: expected each instruction_id once, got {e.get('instruction_id')!r} again.")
            by_iid[e.get("instruction_id")] = e
        seen = set()
        for r in ranked:
            iid = r.get("instruction_id")
            where = f"load_lamp: {rank_path}: instruction_id {iid!r}"
            if iid not in by_iid or iid in seen:
                raise InputValidationError(f"{where}: expected one ranking per item of {items_path.name}, got an unknown or repeated id.")
            seen.add(iid)
            order = [r.get(f"rank_{k}") for k in (1, 2, 3)]
            if sorted(map(str, order)) != list(RESPONSES):
                raise InputValidationError(f"{where}: expected rank_1..rank_3 to name {RESPONSES} once each, got {order}.")
            e = by_iid[iid]
            mapping = e.get("mapping")
            if not isinstance(mapping, dict) or sorted(mapping) != list(RESPONSES) or sorted(mapping.values()) != sorted(CONDITIONS):
                raise InputValidationError(f"{where}: expected `mapping` from {RESPONSES} to {CONDITIONS}, got {mapping!r}.")
            item = f"{batch}/{e.get('id')}"
            entries.setdefault((item, writer), []).append((int(iid), e, r))
        if seen != set(by_iid):
            raise InputValidationError(f"load_lamp: {rank_path}: expected a ranking of every item in {items_path.name}, got {len(seen)} of {len(by_iid)}.")

    n_duplicates = 0
    versions: dict[tuple[str, str], Counter[str]] = {}
    first_writer: dict[tuple[str, str, str], str] = {}
    instruction: dict[str, str] = {}
    rows = []
    for (item, writer), found in sorted(entries.items()):
        found.sort(key=lambda t: t[0])
        n_duplicates += len(found) - 1
        iid, e, r = found[0]  # the lowest instruction id: the first shown
        texts = _responses(f"load_lamp: {item} ({writer})", e.get("responses"))
        instruction.setdefault(item, str(e.get("instruction")))
        by_response = dict(zip(RESPONSES, texts))
        for response, condition in e["mapping"].items():
            versions.setdefault((item, condition), Counter())[by_response[response]] += 1
            first_writer.setdefault((item, condition, by_response[response]), writer)
        for k in (1, 2, 3):
            rows.append({"item": item, "judge": writer, "text_id": f"{item}/{e['mapping'][r[f'rank_{k}']]}",
                         "rank": k, "instruction_id": iid})

    text_rows, variants = [], []
    for (item, condition), counts in sorted(versions.items()):
        # most writers first; among equals, the version of the writer whose name sorts first
        best = min(counts, key=lambda t: (-counts[t], first_writer[item, condition, t]))
        if len(counts) > 1:
            variants.append(f"{item}/{condition}")
        text_rows.append({"text_id": f"{item}/{condition}", "item": item, "condition": condition,
                          "instruction": instruction[item], "text": best, "n_words": len(best.split())})
    texts_df = pd.DataFrame(text_rows, columns=["text_id", "item", "condition", "instruction", "text", "n_words"])
    rankings_df = pd.DataFrame(rows, columns=["item", "judge", "text_id", "rank", "instruction_id"])
    split = _read_split(base, set(texts_df["item"]))
    sums = base / "SHA256SUMS"
    checksum = hashlib.sha256(sums.read_bytes()).hexdigest() if sums.is_file() else None
    return LampData(
        base.resolve(),
        texts_df,
        rankings_df,
        split,
        {"duplicate_rankings": n_duplicates, "text_variants": len(variants)},
        tuple(variants),
        checksum,
    )
