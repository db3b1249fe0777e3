"""Fit a composite scorer's constants to your own experts, and say honestly how well it does on items it never saw.

`fit_to_experts` takes per-text values of a composite's parts (from `score()`), and your experts' judgements:
preference rankings or pairs (long format, as `cqmetric.reliability.preference_agreement` reads them) or ratings
with the item of each text. It fits

- `"creative_quality"`: `CreativeQuality`'s five constants (two logistic gates and the surprise weight), by a grid
  search that maximises agreement with the experts;
- `"weighted"`: a `WeightedSum` of the parts you name (weights of standardised parts, unit length): a logistic
  (Bradley-Terry) fit on the judged pairs, or a ridge fit within items on ratings, its penalty chosen by an inner
  cross-validation inside each training fold.

Agreement is pairwise accuracy on preferences (each judge's pair once; a tied score counts 0.5; tied judgements
are left out) and the mean within-item Kendall tau-b on ratings. The **held-out** figure is cross-validated by
item: the whole fitting procedure (with its own inner choice of penalty) is rerun on each training fold and
scored on the held-out items, which are then pooled, with an item-bootstrap interval. The **in-sample** figure,
the fit scored on the data it was fitted to, is reported beside it so the optimism shows; quote the held-out one.
With fewer than `ITEMS_PER_CONSTANT` items per constant a `SmallSampleWarning` says so.

The fitted scorer carries its constants, the label and a fingerprint of the data in its signature, and saves to a
small JSON file (`ExpertFit.save`; `cqmetric.scorers.load_scorer` reads it, checking its hash) that `score()`,
`cqmetric score --scorer FILE` and the evaluate plugin take by path.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ids = [f"t{i}" for i in range(120)]
    >>> parts = {"surprise": rng.normal(4, 0.5, 120), "residual": rng.normal(4, 0.5, 120)}
    >>> truth = parts["surprise"] - 0.5 * parts["residual"]
    >>> judgements = {"item": [], "judge": [], "winner": [], "loser": []}
    >>> for k in range(0, 120, 2):  # items of two texts; one judge prefers the truly better one
    ...     a, b = (k, k + 1) if truth[k] > truth[k + 1] else (k + 1, k)
    ...     for col, v in zip(judgements, (k, "j", ids[a], ids[b])):
    ...         judgements[col].append(v)
    >>> fit = fit_to_experts("weighted", parts, ids, judgements=judgements, members=["surprise", "residual"])
    >>> w = np.array([fit.scorer.members[m][1] for m in ("surprise", "residual")])
    >>> bool(w @ np.array([1, -0.5]) / np.linalg.norm([1, -0.5]) > 0.98)  # the direction of (1, -0.5) (equal spreads)
    True
    >>> fit.held_out.estimate > 0.9 and fit.held_out.ci is not None
    True
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize

from cqmetric._validation import (
    as_float_array,
    check_option,
    check_positive_int,
    check_seed,
)
from cqmetric.errors import InputValidationError, SmallSampleWarning
from cqmetric.reliability.inputs import check_confidence, check_n_boot
from cqmetric.reliability.judgements import judged_pairs
from cqmetric.reliability.kernels import tau_b_rows
from cqmetric.resampling import CONFIDENCE, N_BOOT, SEED, child_rng, percentile_ci
from cqmetric.scorers import CreativeQuality, WeightedSum, build, spec
from cqmetric.scorers import functional as F
from cqmetric.scorers.files import FORMAT, FORMAT_VERSION, _hash
from cqmetric.serialization import jsonable

__all__ = ["fit_to_experts", "ExpertFit", "Agreement", "KINDS", "ITEMS_PER_CONSTANT", "DEFAULT_GRID", "QUALITY_PARTS"]

KINDS = ("creative_quality", "weighted")
#: The parts CreativeQuality combines, in the order `functional.creative_quality` takes them.
QUALITY_PARTS = ("order_calibration", "calibrated_surprise", "surprise")
#: The constants' candidate values of the grid search (the shipped constants were chosen on this grid).
DEFAULT_GRID: dict[str, tuple[float, ...]] = {
    "order_center": (0.0, 0.04, 0.08, 0.12, 0.16, 0.2),
    "order_scale": (0.01, 0.02, 0.04),
    "fit_center": (-0.2, -0.1, -0.05, 0.0, 0.05),
    "fit_scale": (0.02, 0.05, 0.1),
    "lam": (0.1, 0.3, 1.0, 3.0, 10.0),
}
#: Fewer items than this per fitted constant and the fit warns (a rule of thumb for a stable fit).
ITEMS_PER_CONSTANT = 10
ALPHAS = (0.01, 0.1, 1.0, 10.0)
FILE_FORMAT = (FORMAT, FORMAT_VERSION)


@dataclass(frozen=True)
class Agreement:
    """Agreement with the experts: pairwise accuracy (preferences) or mean within-item tau-b (ratings)."""

    statistic: str
    estimate: float
    ci: tuple[float, float] | None
    n_items: int

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self.__dict__)


@dataclass(frozen=True)
class ExpertFit:
    """A composite fitted to experts: the scorer, and its agreement held out and in sample.

    Attributes:
        scorer: the fitted scorer (its signature names the label and the data fingerprint).
        kind: "creative_quality" or "weighted".
        constants: the fitted constants (CreativeQuality's five, or the weights).
        held_out: agreement on held-out items, cross-validated by item (quote this one).
        in_sample: agreement of the final fit on all the data it was fitted to (optimistic).
        per_fold: each outer fold's constants and held-out agreement.
        fingerprint: sha256 (12 hex) of the parts, the text ids and the judgements.
        settings: folds, seed, grid or penalties, tie rules.
    """

    scorer: Any
    kind: str
    constants: dict[str, Any]
    held_out: Agreement
    in_sample: Agreement
    per_fold: tuple[dict[str, Any], ...]
    fingerprint: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"format": FILE_FORMAT[0], "format_version": FILE_FORMAT[1], "spec": spec(self.scorer),
                         "kind": self.kind, "constants": self.constants, "held_out": self.held_out,
                         "in_sample": self.in_sample, "per_fold": list(self.per_fold),
                         "fingerprint": self.fingerprint, "settings": self.settings})

    def save(self, path: Any) -> None:
        """Write the fitted scorer as a small JSON file (never pickle), with a hash that loading checks."""
        from cqmetric.io import write_text
        from cqmetric.version import __version__

        body = {**self.to_dict(), "cqmetric_version": __version__}
        body["sha256"] = _hash(body)
        write_text(path, json.dumps(body, indent=1, sort_keys=True) + "\n", where="ExpertFit.save")

    def __str__(self) -> str:
        stat = self.held_out.statistic
        ci = "" if self.held_out.ci is None else f" [{self.held_out.ci[0]:.3f}, {self.held_out.ci[1]:.3f}]"
        return (f"{spec(self.scorer)}\n{stat}: held out {self.held_out.estimate:.3f}{ci} "
                f"({self.settings.get('folds')} folds by item, {self.held_out.n_items} items); "
                f"in sample {self.in_sample.estimate:.3f} (optimistic)")


# -- inputs ---------------------------------------------------------------------------------------------------
def _parts(where: str, parts: Any, text_ids: Any, needed: Sequence[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    scores = getattr(parts, "scores", parts)  # a ScoreResult or a mapping name -> values
    if not isinstance(scores, Mapping):
        raise InputValidationError(f"{where}: expected `parts` to be a ScoreResult or a dict name -> values, got "
                                   f"{type(parts).__name__}.")
    if isinstance(text_ids, str) or not hasattr(text_ids, "__len__"):
        raise InputValidationError(f"{where}: expected `text_ids`, one id per text, got {text_ids!r:.60}.")
    ids = [str(t) for t in text_ids]
    if len(set(ids)) != len(ids):
        raise InputValidationError(f"{where}: expected each text id once in `text_ids`, got repeats.")
    missing = [n for n in needed if n not in scores]
    if missing:
        raise InputValidationError(f"{where}: expected the parts {list(needed)}, got none for {missing}; score them "
                                   f"first (score(..., scorers=[...])).")
    out = {}
    for name in needed:
        values = as_float_array(where, f"parts[{name!r}]", scores[name])
        if values.size != len(ids):
            raise InputValidationError(f"{where}: expected one value of {name!r} per text id ({len(ids)}), got "
                                       f"{values.size}.")
        if not np.all(np.isfinite(values)):
            raise InputValidationError(f"{where}: expected finite values of {name!r}, got "
                                       f"{int(np.sum(~np.isfinite(values)))} NaN or infinite.")
        out[name] = values
    return out, ids


class _Data:
    """The experts' signal, indexed by text position: judged pairs (preferences) or ratings within items."""

    def __init__(self, where: str, ids: list[str], judgements: Any, ratings: Any, items: Any) -> None:
        position = {t: k for k, t in enumerate(ids)}
        if (judgements is None) == (ratings is None):
            raise InputValidationError(f"{where}: expected either `judgements` (preferences) or `ratings`, got "
                                       f"{'both' if judgements is not None else 'neither'}.")
        if judgements is not None:
            pairs = judged_pairs(where, judgements)
            unknown = sorted({t for t in pairs.texts if t not in position})
            if unknown:
                raise InputValidationError(f"{where}: the judgements name {len(unknown)} text id(s) that `text_ids` "
                                           f"lacks: {unknown[:5]}.")
            keep = ~pairs.tie
            self.kind, self.statistic = "preferences", "pairwise_accuracy"
            self.winner = np.array([position[t] for t in pairs.winner])[keep]
            self.loser = np.array([position[t] for t in pairs.loser])[keep]
            self.pair_item = pairs.item[keep]
            self.item_labels = list(pairs.items)
            self.n_dropped_ties = int(pairs.tie.sum())
            raw = [list(map(str, pairs.winner)), list(map(str, pairs.loser)), list(map(str, pairs.item)),
                   pairs.tie.tolist()]
        else:
            self.kind, self.statistic = "ratings", "mean_item_kendall_tau_b"
            self.rating = as_float_array(where, "ratings", ratings)
            if self.rating.size != len(ids) or items is None or len(items) != len(ids):
                raise InputValidationError(f"{where}: expected one rating and one item label per text ({len(ids)}).")
            labels = [str(i) for i in items]
            self.item_labels = list(dict.fromkeys(labels))
            self.text_item = np.array([self.item_labels.index(x) for x in labels])
            self.n_dropped_ties = 0
            raw = [self.rating.tolist(), labels]
        if len(self.item_labels) < 2:
            raise InputValidationError(f"{where}: expected judgements on at least 2 items, got {len(self.item_labels)}.")
        self.raw = raw

    @property
    def n_items(self) -> int:
        return len(self.item_labels)

    def per_item(self, values: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per item of `items`: (agreement numerator, denominator) for each row of `values` (candidates x texts)."""
        values = np.atleast_2d(values)
        if self.kind == "preferences":
            sums = np.zeros((values.shape[0], items.size))
            counts = np.zeros(items.size)
            for j, item in enumerate(items):
                rows = self.pair_item == item
                margin = values[:, self.winner[rows]] - values[:, self.loser[rows]]
                sums[:, j] = (0.5 * (1 + np.sign(margin))).sum(axis=1)  # a tied score counts 0.5
                counts[j] = rows.sum()
            return sums, counts
        taus = np.full((values.shape[0], items.size), np.nan)
        for j, item in enumerate(items):
            members = np.flatnonzero(self.text_item == item)
            if members.size >= 2:
                taus[:, j] = tau_b_rows(values[:, members], np.broadcast_to(self.rating[members],
                                                                             (values.shape[0], members.size)))
        ok = np.isfinite(taus)
        return np.where(ok, taus, 0.0), ok.astype(float)

    def agreement(self, values: np.ndarray, items: np.ndarray) -> np.ndarray:
        num, den = self.per_item(values, items)
        with np.errstate(invalid="ignore", divide="ignore"):
            return num.sum(axis=-1) / np.atleast_2d(den).sum(axis=-1)

    def texts_of(self, items: np.ndarray) -> np.ndarray:
        """Positions of the texts that the judgements on `items` touch."""
        if self.kind == "preferences":
            rows = np.isin(self.pair_item, items)
            return np.unique(np.r_[self.winner[rows], self.loser[rows]])
        return np.flatnonzero(np.isin(self.text_item, items))


# -- the two procedures -----------------------------------------------------------------------------------------
def _fit_creative_quality(parts: dict[str, np.ndarray], data: _Data, items: np.ndarray,
                          grid: Mapping[str, Sequence[float]]) -> dict[str, float]:
    keys = list(DEFAULT_GRID)
    mesh = np.array(np.meshgrid(*(np.asarray(grid[k], dtype=float) for k in keys), indexing="ij"))
    candidates = mesh.reshape(len(keys), -1).T
    columns = {k: candidates[:, i][:, None] for i, k in enumerate(keys)}
    values = F.creative_quality(*(parts[p][None, :] for p in QUALITY_PARTS), **columns)
    score = np.nan_to_num(data.agreement(values, items), nan=-np.inf)
    best = int(np.argmax(score))  # the first of equal candidates, in grid order
    return dict(zip(keys, map(float, candidates[best])))


def _member_scorers(where: str, parts: Any, names: Sequence[str]) -> dict[str, Any]:
    """The scorers a weighted sum's parts are, in the units the parts were scored in (a ScoreResult's signature;
    pointwise bits per token for a plain dict), so the fitted sum computes on the same numbers."""
    signature = getattr(parts, "signature", None)
    estimator = signature["estimator"] if signature is not None else "pointwise"
    normalization = signature["norm"] if signature is not None else "token"
    out = {}
    for name in names:
        try:
            scorer = build(f"{name}()")
        except InputValidationError:
            raise InputValidationError(
                f"{where}: a weighted sum's member must be a registered scorer (its part name, e.g. 'surprise'), got "
                f"{name!r}.") from None
        out[name] = scorer.with_settings(estimator, normalization, where=where)
    return out


def _standardise(parts: dict[str, np.ndarray], members: Sequence[str], texts: np.ndarray) -> dict[str, tuple[float, float]]:
    norms = {}
    for m in members:
        values = parts[m][texts]
        std = float(np.std(values, ddof=1))
        if not std > 0:
            raise InputValidationError(f"fit_to_experts: the part {m!r} is constant on the fitting data; drop it.")
        norms[m] = (float(np.mean(values)), std)
    return norms


def _weights(parts: dict[str, np.ndarray], members: Sequence[str], data: _Data, items: np.ndarray,
             norms: dict[str, tuple[float, float]], alpha: float) -> np.ndarray:
    Z = np.column_stack([(parts[m] - norms[m][0]) / norms[m][1] for m in members])
    if data.kind == "preferences":
        rows = np.isin(data.pair_item, items)
        X = Z[data.winner[rows]] - Z[data.loser[rows]]

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:  # logistic (Bradley-Terry) likelihood with ridge
            m = X @ w
            p = 0.5 * (1 + np.tanh(0.5 * m))
            return float(np.logaddexp(0, -m).sum() + 0.5 * alpha * w @ w), -(X.T @ (1 - p)) + alpha * w

        w = optimize.minimize(loss, np.zeros(len(members)), jac=True, method="L-BFGS-B").x
    else:
        texts = np.flatnonzero(np.isin(data.text_item, items))
        Zc, yc = Z[texts].copy(), data.rating[texts].copy()
        for item in np.unique(data.text_item[texts]):  # within items: what counts is which text of an item is better
            rows = data.text_item[texts] == item
            Zc[rows] -= Zc[rows].mean(axis=0)
            yc[rows] -= yc[rows].mean()
        w = np.linalg.solve(Zc.T @ Zc + alpha * np.eye(len(members)), Zc.T @ yc)
    norm = float(np.linalg.norm(w))
    return w / norm if norm > 0 else w


def _fit_weighted(parts: dict[str, np.ndarray], members: Sequence[str], data: _Data, items: np.ndarray,
                  alphas: Sequence[float], inner: int, rng: np.random.Generator) -> tuple[np.ndarray, dict, float]:
    """Weights and norms on `items`, the ridge penalty chosen by an inner cross-validation by item."""
    norms = _standardise(parts, members, data.texts_of(items))
    if len(alphas) == 1 or items.size < 2 * inner:
        alpha = float(alphas[0])
    else:
        folds = np.array_split(rng.permutation(items), inner)
        score = []
        for alpha in alphas:
            num = den = 0.0
            for held in folds:
                train = np.setdiff1d(items, held)
                train_norms = _standardise(parts, members, data.texts_of(train))
                w = _weights(parts, members, data, train, train_norms, alpha)
                n, d = data.per_item(F.weighted_sum(parts, dict(zip(members, w)), train_norms), held)
                num, den = num + n.sum(), den + d.sum()
            score.append(num / den if den else -np.inf)
        alpha = float(alphas[int(np.argmax(score))])
    return _weights(parts, members, data, items, norms, alpha), norms, alpha


def fit_to_experts(
    kind: str,
    parts: Any,
    text_ids: Sequence[str],
    *,
    judgements: Any = None,
    ratings: Any = None,
    items: Sequence[Any] | None = None,
    members: Sequence[str] | None = None,
    grid: Mapping[str, Sequence[float]] | None = None,
    alphas: Sequence[float] = ALPHAS,
    folds: int = 5,
    label: str = "my-experts",
    n_boot: int = N_BOOT,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> ExpertFit:
    """Fit a composite scorer to experts; report its agreement held out (cross-validated by item) and in sample.

    Args:
        kind: "creative_quality" (its five constants, by grid search) or "weighted" (weights of `members`).
        parts: the parts' per-text values: a `ScoreResult` or a dict name -> values (CreativeQuality needs
            order_calibration, calibrated_surprise and surprise, in bits/token; a weighted sum, `members`).
        text_ids: one id per text, in the order of `parts` (the ids the judgements name).
        judgements: preferences in long format (rankings: item, judge, text_id, rank; or pairs: item, judge,
            winner, loser[, tie]); tied judgements are left out and counted in `settings`.
        ratings: instead of judgements, one rating per text.
        items: with ratings, one item label per text (agreement is within items).
        members: the parts a weighted sum combines.
        grid: constant -> values to try for "creative_quality" (default `DEFAULT_GRID`).
        alphas: ridge penalties the inner cross-validation chooses from ("weighted").
        folds: outer folds by item for the held-out estimate (2 or more).
        label: names your experts in the scorer's signature (with the data's fingerprint).
        n_boot: resamples of the item bootstrap of the held-out interval (0: none).
        seed: the seed of the folds and of the bootstrap.
        confidence: the level of the interval.

    Returns:
        ExpertFit; `.scorer` is fitted on all the data, `.held_out` is the figure to report.

    Warns:
        SmallSampleWarning: fewer than `ITEMS_PER_CONSTANT` items per fitted constant.
    """
    where = "fit_to_experts"
    kind = check_option(where, "kind", kind, KINDS)
    folds = check_positive_int(where, "folds", folds, minimum=2)
    seed, n_boot, confidence = check_seed(where, seed), check_n_boot(where, n_boot), check_confidence(where, confidence)
    if not isinstance(label, str) or not label or any(c in label for c in "|,;()=@"):
        raise InputValidationError(f"{where}: expected `label` to be a plain name (no | , ; ( ) = @), got {label!r}.")
    if kind == "weighted":
        if not members or isinstance(members, str) or len(set(members)) != len(members) or len(members) < 2:
            raise InputValidationError(f"{where}: a weighted sum needs `members`, two or more distinct part names, "
                                       f"got {members!r}.")
        needed = list(members)
        members_built = _member_scorers(where, parts, needed)
    else:
        needed = list(QUALITY_PARTS)
        grid = dict(DEFAULT_GRID if grid is None else grid)
        if sorted(grid) != sorted(DEFAULT_GRID):
            raise InputValidationError(f"{where}: expected grid values for {sorted(DEFAULT_GRID)}, got {sorted(grid)}.")
    values, ids = _parts(where, parts, text_ids, needed)
    data = _Data(where, ids, judgements, ratings, items)
    n_constants = len(needed) if kind == "weighted" else len(DEFAULT_GRID)
    if data.n_items < folds:
        raise InputValidationError(f"{where}: expected at least {folds} items for {folds} folds, got {data.n_items}.")
    if data.n_items < ITEMS_PER_CONSTANT * n_constants:
        warnings.warn(f"{where}: {data.n_items} items for {n_constants} constants (fewer than "
                      f"{ITEMS_PER_CONSTANT} per constant): the fit may not hold on other data; read the held-out "
                      "figure and its interval, and prefer fewer constants.", SmallSampleWarning, stacklevel=2)
    fingerprint = hashlib.sha256(json.dumps([ids, [values[n].round(12).tolist() for n in needed], data.raw],
                                            default=str).encode()).hexdigest()[:12]
    rng = child_rng(seed, "folds")
    all_items = np.arange(data.n_items)
    outer = np.array_split(rng.permutation(all_items), folds)

    def fit_on(train: np.ndarray) -> tuple[dict[str, Any], Any]:
        if kind == "creative_quality":
            constants = _fit_creative_quality(values, data, train, grid)
            return constants, lambda: F.creative_quality(*(values[p] for p in QUALITY_PARTS), **constants)
        w, norms, alpha = _fit_weighted(values, needed, data, train, alphas, folds, child_rng(seed, "inner", *train[:3]))
        constants = {"weights": dict(zip(needed, w.tolist())), "norms": norms, "alpha": alpha}
        return constants, lambda: F.weighted_sum(values, dict(zip(needed, w)), norms)

    per_fold, held_num, held_den = [], np.zeros(data.n_items), np.zeros(data.n_items)
    for k, held in enumerate(outer):
        constants, predict = fit_on(np.setdiff1d(all_items, held))
        num, den = data.per_item(predict(), held)
        held_num[held], held_den[held] = num[0], den
        per_fold.append({"fold": k, "items": int(held.size), "constants": constants,
                         "agreement": float(num.sum() / den.sum()) if den.sum() else None})
    held_out = _pooled(data.statistic, held_num, held_den, n_boot, seed, confidence)
    constants, predict = fit_on(all_items)
    num, den = data.per_item(predict(), all_items)
    in_sample = _pooled(data.statistic, num[0], den, 0, seed, confidence)
    fitted_on = f"{label}@{fingerprint}"
    if kind == "creative_quality":
        scorer = CreativeQuality(**constants, fitted_on=fitted_on)
    else:
        scorer = WeightedSum({m: (members_built[m], constants["weights"][m]) for m in needed}, constants["norms"],
                             source=fitted_on)
    settings = {"folds": folds, "seed": seed, "n_boot": n_boot, "confidence": confidence, "signal": data.kind,
                "n_items": data.n_items, "n_texts": len(ids), "tied_judgements_left_out": data.n_dropped_ties,
                "score_ties": "half", "grid": grid if kind == "creative_quality" else None,
                "alphas": list(alphas) if kind == "weighted" else None}
    return ExpertFit(scorer, kind, constants, held_out, in_sample, tuple(per_fold), fingerprint, settings)


def _pooled(statistic: str, num: np.ndarray, den: np.ndarray, n_boot: int, seed: int,
            confidence: float) -> Agreement:
    """Agreement pooled over items (sum of credits / pairs, or the mean of item taus), with an item bootstrap."""
    estimate = float(num.sum() / den.sum()) if den.sum() else float("nan")
    ci = None
    if n_boot:
        draws = child_rng(seed, "held_out").integers(0, num.size, size=(n_boot, num.size))
        with np.errstate(invalid="ignore", divide="ignore"):
            ci = percentile_ci(num[draws].sum(axis=1) / den[draws].sum(axis=1), confidence)
    return Agreement(statistic, estimate, ci, int(num.size))
