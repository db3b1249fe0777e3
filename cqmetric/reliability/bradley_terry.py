"""System level: Bradley-Terry strengths of systems (conditions) from judged pairs, and a scorer's agreement with them.

The Bradley-Terry model says system i is preferred to system j with probability
``1 / (1 + exp(s_j - s_i))``. :func:`fit_bradley_terry` maximises the log-likelihood of a win matrix with
:func:`scipy.optimize.minimize` (``trust-exact``, analytic gradient and Hessian), with the first system's strength
fixed at 0 (or, with ``ridge > 0``, a penalty ``ridge / 2 * sum(s**2)`` instead), and reports strengths centred to
mean 0 (as ``choix`` does). The maximum-likelihood strengths exist only when the comparison graph is strongly
connected (every system both beat and lost to the rest, directly or through others); a graph in pieces is an
error, and a connected but not strongly connected one is an error unless ``ridge > 0``.

* :func:`bradley_terry` — the judges' strengths of the systems, from rankings or pairwise judgements and a
  mapping text_id -> system, with item-clustered bootstrap CIs.
* :func:`system_agreement` — Kendall's tau-b between those strengths and a scorer's ranking of the systems
  (mean score per system, or Bradley-Terry on the scorer's own preferences on the judged pairs).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import optimize, stats
from scipy.sparse.csgraph import connected_components

from cqmetric._validation import check_option, check_seed
from cqmetric.errors import InputValidationError
from cqmetric.reliability.inputs import check_confidence, check_n_boot
from cqmetric.reliability.judgements import (
    JudgedPairs,
    as_score_map,
    judged_pairs,
    score_diffs,
)
from cqmetric.reliability.preference_results import BradleyTerryResult, SystemAgreement
from cqmetric.resampling import child_rng, cluster_counts, percentile_ci

__all__ = ["fit_bradley_terry", "bradley_terry", "system_agreement"]

SCORER_SYSTEMS = ("mean", "bradley-terry")


def _loglik(theta: np.ndarray, wins: np.ndarray) -> float:
    diff = theta[:, None] - theta[None, :]
    return float(-(wins * np.logaddexp(0.0, -diff)).sum())


def fit_bradley_terry(wins: Any, *, ridge: float = 0.0, labels: Any = None) -> np.ndarray:
    """Maximum-likelihood Bradley-Terry log-strengths of a win matrix, centred to mean 0.

    Args:
        wins: Square matrix, ``wins[i, j]`` = (weighted) times i was preferred to j; the diagonal is ignored.
        ridge: 0 (plain maximum likelihood, first strength fixed during the fit) or a penalty > 0 on the squared
            strengths, which gives finite strengths on a graph that is connected but not strongly connected.
        labels: Names of the systems, for error messages.

    Returns:
        The strengths, ``s - s.mean()``.

    Raises:
        InputValidationError: A non-square or negative matrix, fewer than 2 systems, a comparison graph in
            several pieces, or (with ``ridge=0``) one that is not strongly connected.

    Examples:
        >>> s = fit_bradley_terry([[0, 3], [1, 0]])     # closed form: s_0 - s_1 = log(3 / 1)
        >>> round(float(s[0] - s[1]), 6)
        1.098612
    """
    where = "fit_bradley_terry"
    w = np.array(wins, dtype=float)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] < 2:
        raise InputValidationError(f"{where}: expected a square win matrix of at least 2 systems, got shape {w.shape}.")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise InputValidationError(f"{where}: expected finite, non-negative win counts, got {w.tolist()}.")
    if isinstance(ridge, bool) or not isinstance(ridge, (int, float, np.integer, np.floating)) or not ridge >= 0:
        raise InputValidationError(f"{where}: expected `ridge` >= 0, got {ridge!r}.")
    np.fill_diagonal(w, 0.0)
    k = w.shape[0]
    names = [str(x) for x in labels] if labels is not None else [str(i) for i in range(k)]
    n_weak, weak = connected_components(w + w.T > 0, directed=False)
    if n_weak > 1:
        parts = [[names[i] for i in range(k) if weak[i] == c] for c in range(n_weak)]
        raise InputValidationError(
            f"{where}: expected a connected comparison graph, got {n_weak} groups of systems never compared with "
            f"each other: {parts}; their strengths cannot be put on one scale."
        )
    n_strong, strong = connected_components(w > 0, directed=True, connection="strong")
    if n_strong > 1 and ridge == 0:
        lost = [c for c in range(n_strong) if not w[np.ix_(strong != c, strong == c)].any()]
        never = [[names[i] for i in range(k) if strong[i] == c] for c in lost]
        raise InputValidationError(
            f"{where}: expected every system to both win and lose against the others (a strongly connected graph), "
            f"got {never} never losing to the rest (or never winning), so the maximum-likelihood strengths are "
            "infinite; pass ridge > 0 (e.g. 1e-3) for finite, shrunk strengths."
        )
    n = w + w.T
    free = slice(1, None) if ridge == 0 else slice(None)

    def full(x: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], x]) if ridge == 0 else x

    def fun(x: np.ndarray) -> float:
        th = full(x)
        return -_loglik(th, w) + 0.5 * ridge * float(th @ th)

    def jac(x: np.ndarray) -> np.ndarray:
        th = full(x)
        p = 1.0 / (1.0 + np.exp(-(th[:, None] - th[None, :])))
        g = -(w - n * p).sum(axis=1) + ridge * th
        return g[free]

    def hess(x: np.ndarray) -> np.ndarray:
        th = full(x)
        p = 1.0 / (1.0 + np.exp(-(th[:, None] - th[None, :])))
        v = n * p * (1.0 - p)
        h = -v
        np.fill_diagonal(h, v.sum(axis=1))
        h += ridge * np.eye(k)
        return h[free, free]

    x0 = np.zeros(k - 1 if ridge == 0 else k)
    res = optimize.minimize(fun, x0, jac=jac, hess=hess, method="trust-exact", options={"gtol": 1e-10})
    x = res.x
    # trust-exact may stop a hair short of gtol; Newton steps on this strictly convex objective finish the job
    for _ in range(20):
        g = jac(x)
        if np.max(np.abs(g)) <= 1e-12 * max(1.0, float(w.sum())):
            break
        step = np.linalg.solve(hess(x), g)
        t = 1.0
        while fun(x - t * step) > fun(x) + 1e-15 * abs(fun(x)) and t > 1e-8:
            t /= 2
        x = x - t * step
    if np.max(np.abs(jac(x))) > 1e-8 * max(1.0, float(w.sum())):
        raise InputValidationError(f"{where}: the fit did not converge ({res.message}); check the win matrix {w.tolist()}.")
    th = full(x)
    return th - th.mean()


def _label_map(where: str, systems: Any) -> dict[str, str]:
    if hasattr(systems, "index") and hasattr(systems, "to_numpy") and not hasattr(systems, "columns"):
        items = zip(systems.index, systems.to_numpy())
    elif isinstance(systems, Mapping):
        items = systems.items()
    elif isinstance(systems, (tuple, list)) and len(systems) == 2 and len(systems[0]) == len(systems[1]):
        items = zip(*systems)
    else:
        raise InputValidationError(
            f"{where}: expected `systems` as a mapping text_id -> system, a pandas Series, or (ids, systems) of equal "
            f"length, got {type(systems).__name__}."
        )
    out = {}
    for t, s in items:
        if s is None or s == "" or (isinstance(s, float) and np.isnan(s)):
            raise InputValidationError(f"{where}: expected a system label for text {t!r}, got {s!r}.")
        out[str(t)] = str(s)
    return out


def _system_codes(where: str, pairs: JudgedPairs, systems: Any) -> tuple[np.ndarray, np.ndarray, list[str]]:
    smap = _label_map(where, systems)
    missing = sorted(t for t in pairs.texts if t not in smap)
    if missing:
        raise InputValidationError(
            f"{where}: expected a system in `systems` for every judged text, got {len(missing)} without one: {missing[:5]}."
        )
    names = sorted({smap[t] for t in pairs.texts})
    code = {s: i for i, s in enumerate(names)}
    return (np.array([code[smap[t]] for t in pairs.winner], dtype=np.intp),
            np.array([code[smap[t]] for t in pairs.loser], dtype=np.intp), names)


def _item_wins(pairs: JudgedPairs, sw: np.ndarray, sl: np.ndarray, use: np.ndarray, half: np.ndarray, k: int) -> np.ndarray:
    """(items, k, k) win matrices: a used pair adds 1 to wins[item, winner, loser]; a `half` pair 0.5 each way."""
    out = np.zeros((len(pairs.items), k, k))
    full = use & ~half
    np.add.at(out, (pairs.item[full], sw[full], sl[full]), 1.0)
    h = use & half
    np.add.at(out, (pairs.item[h], sw[h], sl[h]), 0.5)
    np.add.at(out, (pairs.item[h], sl[h], sw[h]), 0.5)
    return out


def _fit_or_nan(wins: np.ndarray, ridge: float) -> np.ndarray:
    try:
        return fit_bradley_terry(wins, ridge=ridge)
    except InputValidationError:
        return np.full(wins.shape[0], np.nan)


def _prepare(where: str, judgements: Any, systems: Any, judgement_ties: str, n_boot: Any, seed: Any,
             confidence: Any) -> tuple[JudgedPairs, np.ndarray, np.ndarray, list[str], np.ndarray, dict[str, int], int, int, float]:
    check_option(where, "judgement_ties", judgement_ties, ("drop", "half"))
    n_boot, seed, confidence = check_n_boot(where, n_boot), check_seed(where, seed), check_confidence(where, confidence)
    pairs = judgements if isinstance(judgements, JudgedPairs) else judged_pairs(where, judgements)
    sw, sl, names = _system_codes(where, pairs, systems)
    same = sw == sl
    use = ~same & (~pairs.tie if judgement_ties == "drop" else True)
    counts = {"judged": len(pairs), "judgement_ties": int(pairs.tie.sum()),
              "dropped_judgement_ties": int((pairs.tie & ~same).sum()) if judgement_ties == "drop" else 0,
              "dropped_same_system": int(same.sum())}
    counts["used"] = int(use.sum())
    per_item = _item_wins(pairs, sw, sl, use, pairs.tie, len(names))
    if n_boot and len(pairs.items) < 2:
        raise InputValidationError(f"{where}: expected at least 2 items for the item-clustered bootstrap, got {len(pairs.items)}.")
    return pairs, sw, sl, names, per_item, counts, n_boot, seed, confidence


def bradley_terry(
    judgements: Any,
    systems: Any,
    *,
    judgement_ties: str = "drop",
    ridge: float = 0.0,
    n_boot: int = 0,
    seed: int = 12345,
    confidence: float = 0.95,
) -> BradleyTerryResult:
    """Bradley-Terry strengths of systems from judged pairs (each judge's each pair once).

    Args:
        judgements: Rankings or pairwise judgements (see :func:`~cqmetric.reliability.preference_agreement`).
        systems: System (condition) of each text: a mapping text_id -> label, a Series, or ``(ids, labels)``.
        judgement_ties: ``"drop"`` (default) or ``"half"`` (a tie is half a win each way).
        ridge: See :func:`fit_bradley_terry`.
        n_boot: Item-clustered bootstrap resamples for per-system CIs (default 0: none).
        seed: Bootstrap seed.
        confidence: Level of the percentile CIs.

    Returns:
        BradleyTerryResult (pairs of two texts of the same system are counted and left out).

    Examples:
        >>> from cqmetric.reliability import bradley_terry
        >>> judged = {"item": [1, 1, 2, 2], "judge": ["j"] * 4, "winner": ["a1", "a1", "b2", "a2"],
        ...           "loser": ["b1", "c1", "a2", "c2"]}
        >>> system = {"a1": "A", "b1": "B", "c1": "C", "a2": "A", "b2": "B", "c2": "C"}
        >>> bradley_terry(judged, system, ridge=0.1).ranking
        ['A', 'B', 'C']
    """
    where = "bradley_terry"
    pairs, _, _, names, per_item, counts, n_boot, seed, confidence = _prepare(
        where, judgements, systems, judgement_ties, n_boot, seed, confidence)
    wins = per_item.sum(axis=0)
    theta = fit_bradley_terry(wins, ridge=ridge, labels=names)
    order = sorted(range(len(names)), key=lambda i: (-theta[i], names[i]))
    ci: dict[str, tuple[float, float]] = {}
    details: dict[str, Any] = {}
    if n_boot:
        boot = cluster_counts(len(pairs.items), child_rng(seed, "bootstrap"), n_boot)
        reps = np.array([_fit_or_nan(w, ridge) for w in np.einsum("bg,gij->bij", boot, per_item)])
        ci = {names[i]: percentile_ci(reps[:, i], confidence) for i in order}
        details["n_boot_undefined"] = int(np.isnan(reps[:, 0]).sum())
    settings = {"judgement_ties": judgement_ties, "ridge": float(ridge), "centred": "mean-zero", "resample": "items",
                "n_boot": n_boot, "seed": seed, "confidence": confidence, "ci": "percentile"}
    return BradleyTerryResult(
        tuple(names[i] for i in order), {names[i]: float(theta[i]) for i in order}, ci,
        tuple(tuple(float(wins[i, j]) for j in order) for i in order), counts["used"],
        _loglik(theta, wins), counts, settings, details)


def _kendall(a: np.ndarray, b: np.ndarray) -> float:
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.kendalltau(a, b).statistic)


def system_agreement(
    scores: Any,
    judgements: Any,
    systems: Any,
    *,
    higher_is_better: bool = True,
    scorer_systems: str = "mean",
    judgement_ties: str = "drop",
    score_ties: str = "half",
    ridge: float = 0.0,
    n_boot: int = 2000,
    seed: int = 12345,
    confidence: float = 0.95,
) -> SystemAgreement:
    """Kendall's tau-b between the judges' Bradley-Terry strengths of systems and a scorer's ranking of them.

    Args:
        scores: Score per text (as in :func:`~cqmetric.reliability.preference_agreement`); every judged text needs a
            finite one.
        judgements: Rankings or pairwise judgements.
        systems: System of each text.
        higher_is_better: The scorer's direction.
        scorer_systems: ``"mean"`` (the mean score of the system's judged texts, negated when lower is better) or
            ``"bradley-terry"`` (strengths fitted from the scorer's own preference on each judged pair, each
            distinct pair once; a score tie is half a win each way with ``score_ties="half"``, left out with
            ``"drop"``).
        judgement_ties: For the judges' fit: ``"drop"`` or ``"half"``.
        score_ties: ``"half"`` or ``"drop"`` (``"bradley-terry"`` only).
        ridge: See :func:`fit_bradley_terry` (both fits).
        n_boot: Item-clustered bootstrap resamples for the CI of tau (both rankings refitted on each resample).
        seed: Bootstrap seed.
        confidence: Level of the CI.

    Returns:
        SystemAgreement.

    Examples:
        >>> from cqmetric.reliability import system_agreement
        >>> judged = {"item": [1, 1, 2, 2, 3], "judge": ["j"] * 5, "winner": ["a1", "b1", "a2", "b2", "c3"],
        ...           "loser": ["b1", "c1", "b2", "c2", "a3"]}
        >>> system = {f"{s}{i}": s.upper() for s in "abc" for i in (1, 2, 3)}
        >>> length = {"a1": 90, "b1": 120, "c1": 150, "a2": 80, "b2": 100, "c2": 160, "a3": 85, "c3": 140}
        >>> res = system_agreement(length, judged, system, higher_is_better=False, n_boot=0)
        >>> res.judges.ranking, res.scorer_ranking, res.tau
        (['A', 'B', 'C'], ['A', 'B', 'C'], 1.0)
    """
    where = "system_agreement"
    check_option(where, "scorer_systems", scorer_systems, SCORER_SYSTEMS)
    check_option(where, "score_ties", score_ties, ("half", "drop"))
    if not isinstance(higher_is_better, (bool, np.bool_)):
        raise InputValidationError(f"{where}: expected `higher_is_better` to be True or False, got {higher_is_better!r}.")
    judges = bradley_terry(judgements, systems, judgement_ties=judgement_ties, ridge=ridge, n_boot=0, seed=seed,
                           confidence=confidence)
    pairs, sw, sl, names, per_item, _, n_boot, seed, confidence = _prepare(
        where, judgements, systems, judgement_ties, n_boot, seed, confidence)
    smap = as_score_map(where, "scores", scores)
    margin = score_diffs(where, "scores", smap, pairs, bool(higher_is_better))
    if np.isnan(margin).any():
        raise InputValidationError(f"{where}: expected finite scores for every judged text, got {int(np.isnan(margin).sum())} pair(s) with NaN.")
    k, g = len(names), len(pairs.items)
    sign = 1.0 if higher_is_better else -1.0
    if scorer_systems == "mean":
        seen: set[tuple[int, str]] = set()
        tot, cnt = np.zeros((g, k)), np.zeros((g, k))
        for i, a, b, s_a, s_b in zip(pairs.item, pairs.winner, pairs.loser, sw, sl):
            for t, s in ((a, s_a), (b, s_b)):
                if (int(i), t) not in seen:
                    seen.add((int(i), t))
                    tot[i, s] += sign * smap[t]
                    cnt[i, s] += 1

        def values(m: np.ndarray) -> np.ndarray:
            with np.errstate(invalid="ignore", divide="ignore"):
                return (m @ tot) / (m @ cnt)
    else:
        first = {}
        for r, key in enumerate(pairs.pair_keys()):
            first.setdefault(key, r)
        distinct = np.zeros(len(pairs), dtype=bool)
        distinct[list(first.values())] = True
        tie = margin == 0
        use = distinct & (sw != sl) & (~tie if score_ties == "drop" else True)
        better_w = np.where(margin >= 0, sw, sl)
        better_l = np.where(margin >= 0, sl, sw)
        scorer_wins = _item_wins(pairs, better_w, better_l, use, tie, k)

        def values(m: np.ndarray) -> np.ndarray:
            return np.array([_fit_or_nan(w, ridge) for w in np.einsum("bg,gij->bij", m, scorer_wins)])
    one = np.ones((1, g))
    mine = values(one)[0]
    if scorer_systems == "bradley-terry" and np.isnan(mine).any():
        mine = fit_bradley_terry(scorer_wins.sum(axis=0), ridge=ridge, labels=names)  # raises with the reason
    human = np.array([judges.strengths[s] for s in names])
    tau = _kendall(human, mine)
    ci = None
    details: dict[str, Any] = {"n_systems": k}
    if n_boot:
        boot = cluster_counts(g, child_rng(seed, "bootstrap"), n_boot)
        hum = np.array([_fit_or_nan(w, ridge) for w in np.einsum("bg,gij->bij", boot, per_item)])
        sc = values(boot)
        reps = np.array([_kendall(h, s) for h, s in zip(hum, sc)])
        ci = percentile_ci(reps, confidence)
        details["n_boot_undefined"] = int(np.sum(~np.isfinite(reps)))
    settings = {"higher_is_better": bool(higher_is_better), "scorer_systems": scorer_systems,
                "judgement_ties": judgement_ties, "score_ties": score_ties, "ridge": float(ridge),
                "method": "kendall-tau-b", "resample": "items", "n_boot": n_boot, "seed": seed,
                "confidence": confidence, "ci": "percentile"}
    return SystemAgreement(judges, {s: float(v) for s, v in zip(names, mine)}, tau, ci, settings, details)
