"""Loader for HANNA (Chhun et al., COLING 2022): 1,056 stories x 3 raters x 6 criteria, read in place.

The data are never copied into the project: :func:`load_hanna` reads the upstream CSV files where they
are. Get them from https://github.com/dig-team/hanna-benchmark-asg (MIT licence):
``hanna_stories_annotations.csv``, ``hanna_metric_scores_coling.csv`` (optional
``hanna_metric_scores_llm.csv``) and the ``rankings_coling/`` folder.

Where it looks (first hit wins), when ``root`` is not given:

1. the directory in the environment variable ``CQMETRIC_HANNA`` (if set, only there);
2. ``../shared/data/hanna`` relative to the current directory;
3. ``shared/data/hanna`` next to the repository that holds the ``cqmetric`` package (i.e.
   ``<repo>/../shared/data/hanna``).

Layout facts the loader relies on and checks: story ids 0-1055 come in blocks of 96 per system in
:data:`SYSTEMS` order, the prompt index is ``story_id % 96``, every story has exactly 3 ratings
(rows in file order = rater *slots*, which are not consistent people; ``worker_ids`` says who rated),
and each cell of the metric-score files is a JSON list of 96 values for one system.

Requires pandas (``pip install 'cqmetric[stats]'``).

References:
    Chhun, C., Colombo, P., Suchanek, F. M., & Clavel, C. (2022). Of Human Criteria and Automatic
    Metrics: A Benchmark of the Evaluation of Story Generation. COLING 2022.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cqmetric._validation import check_option, require
from cqmetric.errors import DataNotFoundError, InputValidationError

__all__ = [
    "load_hanna",
    "default_hanna_root",
    "HannaData",
    "HannaNotFoundError",
    "CRITERIA",
    "CRITERIA_ABBREV",
    "SYSTEMS",
    "HANNA_SOURCE",
]

HANNA_SOURCE = "https://github.com/dig-team/hanna-benchmark-asg"
CRITERIA = ("Relevance", "Coherence", "Empathy", "Surprise", "Engagement", "Complexity")
CRITERIA_ABBREV = ("RE", "CH", "EM", "SU", "EG", "CX")
SYSTEMS = (
    "Human",
    "BertGeneration",
    "CTRL",
    "GPT",
    "GPT-2 (tag)",
    "GPT-2",
    "RoBERTa",
    "XLNet",
    "Fusion",
    "HINT",
    "TD-VAE",
)
N_PROMPTS = 96
N_RATERS = 3
N_STORIES = N_PROMPTS * len(SYSTEMS)
ANNOTATIONS = "hanna_stories_annotations.csv"
METRIC_FILES = {"coling": "hanna_metric_scores_coling.csv", "llm": "hanna_metric_scores_llm.csv"}
TEXT_LENGTH_COLUMN = "Text length \u00a4\u00a7"


HannaNotFoundError = DataNotFoundError  # the name this module has always exported


def _candidates() -> list[Path]:
    env = os.environ.get("CQMETRIC_HANNA")
    if env:
        return [Path(env).expanduser()]
    repo = Path(__file__).resolve().parents[1]
    return [Path.cwd() / ".." / "shared" / "data" / "hanna", repo.parent / "shared" / "data" / "hanna"]


def default_hanna_root() -> Path | None:
    """The first candidate directory that holds ``hanna_stories_annotations.csv``, or None.

    Examples:
        >>> from cqmetric.research.hanna import default_hanna_root
        >>> root = default_hanna_root()
        >>> root is None or (root / "hanna_stories_annotations.csv").is_file()
        True
    """
    for c in _candidates():
        if (c / ANNOTATIONS).is_file():
            return c.resolve()
    return None


def _not_found(tried: list[Path]) -> HannaNotFoundError:
    where = ", ".join(str(p) for p in tried)
    return HannaNotFoundError(
        f"load_hanna: expected {ANNOTATIONS} in the HANNA folder, got no such file in: {where}. "
        f"Download the HANNA files from {HANNA_SOURCE} (MIT licence) and pass root=<folder> or set CQMETRIC_HANNA=<folder>."
    )


def _json_column(where: str, table: Any, column: str) -> np.ndarray:
    if column not in table.columns:
        raise InputValidationError(
            f"{where}: no column {column!r}; available: {list(table.columns)[:8]}... (see metric_names())."
        )
    blocks = [json.loads(cell) if isinstance(cell, str) else cell for cell in table[column]]
    arr = np.asarray(blocks, dtype=float)
    if arr.shape != (len(SYSTEMS), N_PROMPTS):
        raise InputValidationError(
            f"{where}: expected column {column!r} to hold {len(SYSTEMS)} lists of {N_PROMPTS} values, got shape {arr.shape}."
        )
    return arr.ravel()


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class HannaData:
    """HANNA, story by story (rows in story-id order 0..1055).

    Attributes:
        root: The folder the files were read from.
        stories: DataFrame with ``story_id``, ``prompt_index`` (= story_id % 96), ``system``,
            ``prompt``, ``story`` and ``human`` (the human reference story for the prompt).
        ratings: Read-only float array (1056 stories, 3 rater slots, 6 criteria); slot order is the
            file order of the story's rows.
        worker_ids: Read-only (1056, 3) array of MTurk worker ids, aligned with ``ratings``.
        criteria: The criterion names, in the last axis of ``ratings``.
        text_length: Read-only (1056,) token counts from ``hanna_metric_scores_coling.csv``
            (column ``Text length ¤§``).
    """

    root: Path
    stories: Any
    ratings: np.ndarray
    worker_ids: np.ndarray
    criteria: tuple[str, ...]
    text_length: np.ndarray
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def story_id(self) -> np.ndarray:
        """Story ids 0..1055."""
        return self.stories["story_id"].to_numpy()

    @property
    def prompt_index(self) -> np.ndarray:
        """Prompt index per story (story_id % 96): HANNA's grouping for story-level correlations."""
        return self.stories["prompt_index"].to_numpy()

    @property
    def system(self) -> np.ndarray:
        """System name per story."""
        return self.stories["system"].to_numpy(dtype=object)

    @property
    def generated(self) -> np.ndarray:
        """Boolean mask of the 960 machine-generated stories (system != "Human")."""
        return self.system != "Human"

    def _criterion_index(self, criterion: str) -> int:
        names = list(self.criteria)
        if criterion in names:
            return names.index(criterion)
        if criterion in CRITERIA_ABBREV:
            return CRITERIA_ABBREV.index(criterion)
        raise InputValidationError(
            f"HannaData: got criterion={criterion!r}; allowed: {', '.join(map(repr, names + list(CRITERIA_ABBREV)))}."
        )

    def criterion_ratings(self, criterion: str) -> np.ndarray:
        """The (1056, 3) ratings of one criterion (name or abbreviation such as ``"RE"``)."""
        return self.ratings[:, :, self._criterion_index(criterion)]

    def mean_ratings(self, criterion: str | None = None) -> np.ndarray:
        """Mean over the 3 raters: (1056, 6), or (1056,) for one criterion."""
        if criterion is None:
            return self.ratings.mean(axis=1)
        return self.criterion_ratings(criterion).mean(axis=1)

    def _metric_table(self, source: str) -> Any:
        source = check_option("HannaData", "source", source, tuple(METRIC_FILES))
        if source not in self._cache:
            path = self.root / METRIC_FILES[source]
            if not path.is_file():
                raise HannaNotFoundError(
                    f"HannaData: expected {path}, got no such file; download it from {HANNA_SOURCE}."
                )
            pd = require("pandas", "stats")
            table = pd.read_csv(path)
            if list(table["Model"]) != list(SYSTEMS):
                raise InputValidationError(
                    f"HannaData: expected the rows of {path.name} in system order {SYSTEMS}, got {list(table['Model'])}."
                )
            self._cache[source] = table
        return self._cache[source]

    def metric_names(self, source: str = "coling") -> list[str]:
        """Columns of the metric-score file (``"coling"`` or ``"llm"``) after ``Model``."""
        return [c for c in self._metric_table(source).columns if c != "Model"]

    def metric_scores(self, column: str, *, source: str = "coling") -> np.ndarray:
        """One metric-score column as a (1056,) array in story-id order (JSON lists unpacked).

        Examples:
            >>> from cqmetric.research.hanna import load_hanna, default_hanna_root
            >>> if default_hanna_root() is not None:
            ...     h = load_hanna()
            ...     assert h.metric_scores("Relevance").round(6).tolist() == h.mean_ratings("Relevance").round(6).tolist()
        """
        return _readonly(_json_column("HannaData.metric_scores", self._metric_table(source), column))

    def rankings(self, level: str = "story", method: str = "kendall") -> Any:
        """A published correlation table: ``rankings_coling/{level}_{method}.csv``.

        Rows are metrics, columns criteria; values are absolute correlations (HANNA drops the sign).
        """
        level = check_option("HannaData.rankings", "level", level, ("story", "system"))
        method = check_option("HannaData.rankings", "method", method, ("kendall", "spearman", "pearson"))
        key = f"rank:{level}:{method}"
        if key not in self._cache:
            path = self.root / "rankings_coling" / f"{level}_{method}.csv"
            if not path.is_file():
                raise HannaNotFoundError(
                    f"HannaData: expected {path}, got no such file; download rankings_coling/ from {HANNA_SOURCE}."
                )
            pd = require("pandas", "stats")
            t = pd.read_csv(path).set_index("Model")
            t.columns = [c.split("_")[0] for c in t.columns]
            self._cache[key] = t
        return self._cache[key]

    def published(self, metric: str, criterion: str, *, level: str = "story", method: str = "kendall") -> float:
        """One published (absolute) correlation, e.g. ``published("Text length ¤§", "Relevance")``."""
        table = self.rankings(level, method)
        crit = self.criteria[self._criterion_index(criterion)]
        if metric not in table.index:
            raise InputValidationError(f"HannaData.published: no metric {metric!r}; e.g. {list(table.index)[:5]}.")
        return float(table.loc[metric, crit])


def load_hanna(root: str | os.PathLike[str] | None = None) -> HannaData:
    """Read HANNA from `root` (or the default locations) without copying it.

    Args:
        root: Folder holding ``hanna_stories_annotations.csv`` (and the metric and ranking files).

    Returns:
        HannaData.

    Raises:
        HannaNotFoundError: The files are missing (a FileNotFoundError naming where to get them).
        InputValidationError: The files do not have HANNA's layout.

    Examples:
        >>> from cqmetric.research.hanna import load_hanna, default_hanna_root
        >>> if default_hanna_root() is not None:
        ...     h = load_hanna()
        ...     assert h.ratings.shape == (1056, 3, 6) and h.worker_ids.shape == (1056, 3)
    """
    if root is None:
        found = default_hanna_root()
        if found is None:
            raise _not_found(_candidates())
        base = found
    else:
        base = Path(root).expanduser()
        if not (base / ANNOTATIONS).is_file():
            raise _not_found([base])
    pd = require("pandas", "stats")
    ann = pd.read_csv(base / ANNOTATIONS)
    need = ["Story ID", "Prompt", "Human", "Story", "Model", *CRITERIA, "Worker ID"]
    missing = [c for c in need if c not in ann.columns]
    if missing:
        raise InputValidationError(f"load_hanna: expected columns {need} in {ANNOTATIONS}, missing {missing}.")
    ann = ann.sort_values("Story ID", kind="stable")  # stable: keeps the file order of a story's rows
    ids = ann["Story ID"].to_numpy()
    counts = np.bincount(ids, minlength=N_STORIES)
    if ids.min() < 0 or ids.max() >= N_STORIES or not np.all(counts == N_RATERS):
        raise InputValidationError(
            f"load_hanna: expected story ids 0..{N_STORIES - 1} with {N_RATERS} ratings each, got ids {ids.min()}..{ids.max()} "
            f"and {np.unique(counts).tolist()} ratings per story."
        )
    first = ann.groupby("Story ID", sort=True).first()
    system = first["Model"].to_numpy(dtype=object)
    expected = np.repeat(np.array(SYSTEMS, dtype=object), N_PROMPTS)
    if not np.array_equal(system, expected):
        raise InputValidationError(f"load_hanna: expected blocks of {N_PROMPTS} stories per system in order {SYSTEMS}.")
    sid = np.arange(N_STORIES)
    stories = pd.DataFrame(
        {
            "story_id": sid,
            "prompt_index": sid % N_PROMPTS,
            "system": system,
            "prompt": first["Prompt"].to_numpy(dtype=object),
            "story": first["Story"].to_numpy(dtype=object),
            "human": first["Human"].to_numpy(dtype=object),
        }
    )
    ratings = ann[list(CRITERIA)].to_numpy(dtype=float).reshape(N_STORIES, N_RATERS, len(CRITERIA))
    workers = ann["Worker ID"].to_numpy(dtype=object).reshape(N_STORIES, N_RATERS)
    data = HannaData(base.resolve(), stories, _readonly(ratings), _readonly(workers), CRITERIA, np.empty(0))
    object.__setattr__(data, "text_length", data.metric_scores(TEXT_LENGTH_COLUMN))
    return data
