"""Metric-human correlation at item, group (story) and system level, with clustered bootstrap CIs.

The three levels answer different questions (see ``docs/reliability.md``):

* ``level="item"``: one correlation over all items. Pass ``groups=`` when items are clustered
  (several outputs per prompt): the bootstrap then resamples whole groups, not items.
* ``level="group"``: the correlation *inside* each group (e.g. among the systems' stories for one
  prompt), averaged over groups. This is HANNA's "story level" (Chhun et al., 2022). The bootstrap
  resamples groups; the default p-value permutes the human ratings within each group.
* ``level="system"``: the correlation of per-system means (``systems=`` labels). The bootstrap
  resamples items within each system, or with ``groups=`` whole input groups (Deutsch et al. 2021's
  "inputs" resampling), or systems (``resample="systems"``), or both.

Partial correlation (``covariates=``, e.g. text length) is computed by residualisation: x and y are
regressed (OLS with intercept) on the covariates and the residuals are correlated. For the rank
methods everything (x, y and each covariate) is rank-transformed first, so Spearman's partial
correlation equals :func:`pingouin.partial_corr` with ``method="spearman"``; Kendall's "partial"
correlation is Kendall's tau-b of the rank residuals (an approximation; there is no standard
closed-form partial tau with p-value).

References:
    Chhun, C., Colombo, P., Suchanek, F. M., & Clavel, C. (2022). Of Human Criteria and Automatic
    Metrics: A Benchmark of the Evaluation of Story Generation. COLING 2022.

    Deutsch, D., Dror, R., & Roth, D. (2021). A Statistical Analysis of Summarization Evaluation
    Metrics Using Resampling Methods. TACL 9, 1132-1146.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from cqmetric._validation import NAN_POLICIES, as_float_array, check_option
from cqmetric.errors import DegenerateInputWarning, InputValidationError
from cqmetric.reliability._bootstrap import (
    check_confidence,
    check_n_boot,
    check_seed,
    child_rng,
    cluster_indices,
    percentile_ci,
)
from cqmetric.reliability._result import ReliabilityResult

__all__ = ["correlation", "METHODS", "LEVELS", "RESAMPLE_UNITS"]

METHODS = ("spearman", "kendall", "pearson")
LEVELS = ("item", "group", "system")
RESAMPLE_UNITS = ("auto", "items", "groups", "systems", "both")
PVALUE_METHODS = ("auto", "analytic", "permutation", "none")
ALTERNATIVES = ("two-sided", "greater", "less")
STAT_NAMES = {"pearson": "pearson_r", "spearman": "spearman_rho", "kendall": "kendall_tau_b"}
_MIN_N = 3  # a correlation of fewer than 3 points is reported as undefined


# --------------------------------------------------------------------------------------------
# Correlation kernels
# --------------------------------------------------------------------------------------------


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < _MIN_N:
        return float("nan")
    # scale before centring, as scipy does: tiny values (CIDEr reaches 1e-300) lose precision or underflow
    sx, sy = np.max(np.abs(x)), np.max(np.abs(y))
    if not (sx > 0 and sy > 0):
        return float("nan")
    xc = x / sx
    yc = y / sy
    xc = xc - xc.mean()
    yc = yc - yc.mean()
    den = np.sqrt(np.dot(xc, xc) * np.dot(yc, yc))
    if not den > 0:
        return float("nan")
    return float(np.clip(np.dot(xc, yc) / den, -1.0, 1.0))


def _is_constant(v: np.ndarray) -> bool:
    return bool(v.size == 0 or np.all(v == v[0]))


def _corr(x: np.ndarray, y: np.ndarray, method: str) -> float:
    """Correlation of two NaN-free vectors; NaN when n < 3 or either is constant."""
    if x.size < _MIN_N or _is_constant(x) or _is_constant(y):
        return float("nan")
    if method == "pearson":
        return _pearson(x, y)
    if method == "spearman":
        return _pearson(stats.rankdata(x), stats.rankdata(y))
    return float(stats.kendalltau(x, y).statistic)


def _corr_rows(X: np.ndarray, Y: np.ndarray, method: str) -> np.ndarray:
    """Row-wise correlation of two (B, m) arrays; NaN for rows with m < 3 or a constant row."""
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    b, m = X.shape
    if m < _MIN_N:
        return np.full(b, np.nan)
    if method == "spearman":
        X = stats.rankdata(X, axis=1)
        Y = stats.rankdata(Y, axis=1)
        method = "pearson"
    if method == "pearson":
        with np.errstate(all="ignore"):  # scale rows before centring (as scipy): tiny values must not underflow
            sx = np.abs(X).max(axis=1, keepdims=True)
            sy = np.abs(Y).max(axis=1, keepdims=True)
            Xc = X / np.where(sx > 0, sx, 1.0)
            Yc = Y / np.where(sy > 0, sy, 1.0)
        Xc = Xc - Xc.mean(axis=1, keepdims=True)
        Yc = Yc - Yc.mean(axis=1, keepdims=True)
        num = np.einsum("ij,ij->i", Xc, Yc)
        den = np.sqrt(np.einsum("ij,ij->i", Xc, Xc) * np.einsum("ij,ij->i", Yc, Yc))
        const = (X == X[:, :1]).all(axis=1) | (Y == Y[:, :1]).all(axis=1)
        with np.errstate(all="ignore"):
            r = np.clip(num / den, -1.0, 1.0)
        r[const | ~(den > 0)] = np.nan
        return r
    # Kendall tau-b: sum sign(dx) sign(dy) / sqrt(#untied-x pairs * #untied-y pairs), over i < j.
    iu, ju = np.triu_indices(m, k=1)
    out = np.empty(b)
    chunk = max(1, int(4_000_000 // max(iu.size, 1)))
    for s in range(0, b, chunk):
        sx = np.sign(X[s : s + chunk, iu] - X[s : s + chunk, ju])
        sy = np.sign(Y[s : s + chunk, iu] - Y[s : s + chunk, ju])
        num = (sx * sy).sum(axis=1)
        den = np.sqrt(np.abs(sx).sum(axis=1) * np.abs(sy).sum(axis=1))
        with np.errstate(all="ignore"):
            out[s : s + chunk] = np.where(den > 0, num / den, np.nan)
    return out


def _rank_cols(C: np.ndarray) -> np.ndarray:
    return stats.rankdata(C, axis=0)


def _residualise(v: np.ndarray, C: np.ndarray) -> np.ndarray:
    A = np.column_stack([np.ones(v.size), C])
    beta, *_ = np.linalg.lstsq(A, v, rcond=None)
    r = v - A @ beta
    scale = np.sum((v - v.mean()) ** 2)
    if not scale > 0 or np.sum(r**2) <= 1e-12 * scale:
        return np.zeros_like(v)  # fully explained (or constant): correlation undefined
    return r


def _transform(x: np.ndarray, y: np.ndarray, C: np.ndarray | None, method: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Return (tx, ty, base) such that the (partial) correlation is `base`-correlation of tx, ty.

    Without covariates: (x, y, method). With covariates: the (rank) residuals and 'pearson'
    (for pearson/spearman) or 'kendall' (for kendall).
    """
    if C is None:
        return x, y, method
    if method != "pearson":
        x, y, C = stats.rankdata(x), stats.rankdata(y), _rank_cols(C)
    if x.size < C.shape[1] + _MIN_N:
        return np.zeros_like(x), np.zeros_like(y), "pearson"
    rx, ry = _residualise(x, C), _residualise(y, C)
    return rx, ry, ("kendall" if method == "kendall" else "pearson")


def _partial(x: np.ndarray, y: np.ndarray, C: np.ndarray | None, method: str) -> float:
    tx, ty, base = _transform(x, y, C, method)
    if C is not None and (np.allclose(tx, 0) or np.allclose(ty, 0)):
        return float("nan")
    return _corr(tx, ty, base)


def _snap_ties(v: np.ndarray, rtol: float = 1e-12) -> np.ndarray:
    """Make values that agree to `rtol` (relative to the largest magnitude) exactly equal.

    Averages of ratings that are equal in exact arithmetic can differ in the last bits after
    floating-point summation; for rank correlations that would silently break true ties.
    """
    v = np.array(v, dtype=float)
    if v.size < 2 or not np.all(np.isfinite(v)):
        return v
    order = np.argsort(v, kind="stable")
    s = v[order]
    tol = rtol * float(np.max(np.abs(s)))
    for i in range(1, s.size):
        if s[i] - s[i - 1] <= tol:
            s[i] = s[i - 1]
    v[order] = s
    return v


# --------------------------------------------------------------------------------------------
# Labels, NaN handling
# --------------------------------------------------------------------------------------------


def encode_labels(where: str, name: str, labels: Any, n: int) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Integer codes (order of first appearance) and the distinct labels of a 1-D label array."""
    if isinstance(labels, str) or labels is None:
        raise InputValidationError(f"{where}: expected `{name}` to be an array of labels, got {labels!r}.")
    arr = np.asarray(labels, dtype=object)
    if arr.ndim != 1:
        raise InputValidationError(f"{where}: expected `{name}` to be 1-dimensional, got shape {arr.shape}.")
    if arr.size != n:
        raise InputValidationError(
            f"{where}: expected `{name}` to have one label per item, got len({name})={arr.size} for {n} items."
        )
    index: dict[Any, int] = {}
    codes = np.empty(n, dtype=np.intp)
    for i, v in enumerate(arr.tolist()):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            raise InputValidationError(f"{where}: expected `{name}` without missing labels, got {v!r} at position {i}.")
        codes[i] = index.setdefault(v, len(index))
    return codes, tuple(index)


def nan_mask(where: str, nan_policy: str, **arrays: np.ndarray | None) -> np.ndarray:
    """Boolean mask of complete items; raises under nan_policy='raise' when any NaN is present."""
    n = next(len(a) for a in arrays.values() if a is not None)
    ok = np.ones(n, dtype=bool)
    for name, a in arrays.items():
        if a is None:
            continue
        bad = np.isnan(a) if a.ndim == 1 else np.isnan(a).any(axis=tuple(range(1, a.ndim)))
        if bad.any() and nan_policy == "raise":
            pos = np.flatnonzero(bad)[:5].tolist()
            raise InputValidationError(
                f"{where}: expected `{name}` without NaN (nan_policy='raise'), got {int(bad.sum())} NaN "
                f"item(s) at positions {pos}{'...' if bad.sum() > 5 else ''}; pass nan_policy='omit' to drop them."
            )
        ok &= ~bad
    return ok


def degenerate(where: str, nan_policy: str, reason: str) -> None:
    """Warn (propagate/omit) or raise (raise) for an undefined statistic."""
    if nan_policy == "raise":
        raise InputValidationError(f"{where}: the statistic is undefined for this input: {reason}.")
    warnings.warn(f"{where}: {reason}; the result is NaN.", DegenerateInputWarning, stacklevel=3)


def _p_from_t(t: float, df: float, alternative: str) -> float:
    if not np.isfinite(t) or df <= 0:
        return float("nan")
    if alternative == "greater":
        return float(stats.t.sf(t, df))
    if alternative == "less":
        return float(stats.t.cdf(t, df))
    return float(min(1.0, 2 * stats.t.sf(abs(t), df)))


def _perm_p(observed: float, null: np.ndarray, alternative: str) -> float:
    """Permutation p-value with the +1 correction; two-sided = 2 * min(one-sided), capped at 1 (as scipy)."""
    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    if not np.isfinite(observed) or null.size == 0:
        return float("nan")
    tol = 1e-12 * max(1.0, abs(observed))
    p_ge = (1 + np.sum(null >= observed - tol)) / (null.size + 1)
    p_le = (1 + np.sum(null <= observed + tol)) / (null.size + 1)
    if alternative == "greater":
        return float(p_ge)
    if alternative == "less":
        return float(p_le)
    return float(min(1.0, 2 * min(p_ge, p_le)))


# --------------------------------------------------------------------------------------------
# The protocol: level + method + labels, with estimate, resampling plans and p-values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Protocol:
    """Validated, NaN-free design of a correlation (internal; shared by ceiling, williams, report)."""

    where: str
    method: str
    level: str
    n: int
    resample: str
    omit_undefined: bool
    gcodes: np.ndarray | None = None
    glabels: tuple[Any, ...] | None = None
    scodes: np.ndarray | None = None
    slabels: tuple[Any, ...] | None = None

    # ---- structure ----
    @property
    def gmembers(self) -> list[np.ndarray]:
        if self.gcodes is None:  # internal invariant
            raise RuntimeError("internal error: resampling state missing")
        order = np.argsort(self.gcodes, kind="stable")
        bounds = np.cumsum(np.bincount(self.gcodes, minlength=len(self.glabels or ())))
        return np.split(order, bounds[:-1])

    @property
    def smembers(self) -> list[np.ndarray]:
        if self.scodes is None:  # internal invariant
            raise RuntimeError("internal error: resampling state missing")
        order = np.argsort(self.scodes, kind="stable")
        bounds = np.cumsum(np.bincount(self.scodes, minlength=len(self.slabels or ())))
        return np.split(order, bounds[:-1])

    @property
    def n_units(self) -> int:
        """Number of independent units the bootstrap resamples (items, groups or systems)."""
        if self.resample in ("groups", "both"):
            return len(self.glabels or ())
        if self.resample == "systems":
            return len(self.slabels or ())
        return self.n

    # ---- per-group values ----
    def group_values(self, x: np.ndarray, y: np.ndarray, C: np.ndarray | None) -> np.ndarray:
        members = self.gmembers
        vals = np.full(len(members), np.nan)
        if C is None:
            by_size: dict[int, list[int]] = {}
            for g, mem in enumerate(members):
                by_size.setdefault(mem.size, []).append(g)
            for gs in by_size.values():
                idx = np.stack([members[g] for g in gs])
                vals[gs] = _corr_rows(x[idx], y[idx], self.method)
        else:
            for g, mem in enumerate(members):
                vals[g] = _partial(x[mem], y[mem], C[mem], self.method)
        return vals

    def _average(self, vals: np.ndarray, axis: int | None = None) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(vals, axis=axis) if self.omit_undefined else np.mean(vals, axis=axis)

    # ---- system means ----
    def system_means(self, v: np.ndarray) -> np.ndarray:
        if self.scodes is None:  # internal invariant
            raise RuntimeError("internal error: resampling state missing")
        s = len(self.slabels or ())
        cnt = np.bincount(self.scodes, minlength=s).astype(float)
        if v.ndim == 1:
            return _snap_ties(np.bincount(self.scodes, weights=v, minlength=s) / cnt)
        return np.column_stack(
            [_snap_ties(np.bincount(self.scodes, weights=v[:, j], minlength=s) / cnt) for j in range(v.shape[1])]
        )

    # ---- point estimate ----
    def estimate(self, x: np.ndarray, y: np.ndarray, C: np.ndarray | None) -> tuple[float, dict[str, Any]]:
        if self.level == "item":
            return _partial(x, y, C, self.method), {}
        if self.level == "group":
            vals = self.group_values(x, y, C)
            n_bad = int(np.isnan(vals).sum())
            est = float(self._average(vals)) if n_bad < vals.size else float("nan")
            return est, {"group_values": vals, "n_groups_undefined": n_bad}
        mx, my = self.system_means(x), self.system_means(y)
        mc = None if C is None else self.system_means(C)
        return _partial(mx, my, mc, self.method), {"system_means_x": mx, "system_means_y": my}

    # ---- bootstrap ----
    def make_plan(self, rng: np.random.Generator, n_boot: int) -> tuple[str, Any]:
        r = self.resample
        if self.level == "item":
            if r == "items":
                return ("items", rng.integers(0, self.n, size=(n_boot, self.n)))
            return ("clusters", cluster_indices(self.gmembers, rng, n_boot))
        if self.level == "group":
            g = len(self.glabels or ())
            return ("groups", rng.integers(0, g, size=(n_boot, g)))
        s = len(self.slabels or ())
        if r == "items":
            return ("sys_items", [rng.integers(0, m.size, size=(n_boot, m.size)) for m in self.smembers])
        if r == "systems":
            return ("sys_systems", rng.integers(0, s, size=(n_boot, s)))
        g = len(self.glabels or ())
        gd = rng.integers(0, g, size=(n_boot, g))
        counts = np.stack([np.bincount(row, minlength=g) for row in gd]).astype(float)
        if r == "groups":
            return ("sys_groups", counts)
        return ("sys_both", (counts, rng.integers(0, s, size=(n_boot, s))))

    def _boot_means(self, kind: str, plan: Any, v: np.ndarray) -> np.ndarray:
        """(B, S) system means of `v` under a system-level plan."""
        s = len(self.slabels or ())
        if kind == "sys_items":
            return np.column_stack([v[m][p].mean(axis=1) for m, p in zip(self.smembers, plan)])
        if kind == "sys_systems":
            return self.system_means(v)[plan]
        counts = plan if kind == "sys_groups" else plan[0]
        if self.gcodes is None or self.scodes is None:  # internal invariant
            raise RuntimeError("internal error: resampling state missing")
        onehot = np.zeros((self.n, s))
        onehot[np.arange(self.n), self.scodes] = 1.0
        w = counts[:, self.gcodes]
        with np.errstate(all="ignore"):
            means = (w * v) @ onehot / (w @ onehot)
        if kind == "sys_both":
            means = np.take_along_axis(means, plan[1], axis=1)
        return means

    def replicates(self, plan: tuple[str, Any], x: np.ndarray, y: np.ndarray, C: np.ndarray | None) -> np.ndarray:
        kind, p = plan
        if kind == "items" and C is None and self.method != "kendall":
            out = np.empty(p.shape[0])
            for s in range(0, p.shape[0], 256):
                idx = p[s : s + 256]
                out[s : s + 256] = _corr_rows(x[idx], y[idx], self.method)
            return out
        if kind in ("items", "clusters"):
            return np.array([_partial(x[i], y[i], None if C is None else C[i], self.method) for i in p])
        if kind == "groups":
            vals = self.group_values(x, y, C)
            return np.asarray(self._average(vals[p], axis=1), dtype=float)
        mx, my = self._boot_means(kind, p, x), self._boot_means(kind, p, y)
        if C is None:
            mx = np.apply_along_axis(_snap_ties, 1, mx)
            my = np.apply_along_axis(_snap_ties, 1, my)
            return _corr_rows(mx, my, self.method)
        mc = np.stack([self._boot_means(kind, p, C[:, j]) for j in range(C.shape[1])], axis=2)
        return np.array([_partial(_snap_ties(a), _snap_ties(b), c, self.method) for a, b, c in zip(mx, my, mc)])

    # ---- p-values ----
    def pvalue(
        self,
        x: np.ndarray,
        y: np.ndarray,
        C: np.ndarray | None,
        estimate: float,
        *,
        how: str,
        alternative: str,
        n_perm: int,
        rng: np.random.Generator,
    ) -> tuple[float | None, dict[str, Any]]:
        if how == "none" or not np.isfinite(estimate):
            return (None if how == "none" else float("nan")), {}
        k = 0 if C is None else C.shape[1]
        if self.level == "group":
            if how == "analytic":
                vals = self.group_values(x, y, C)
                vals = vals[np.isfinite(vals)]
                if vals.size < 2:
                    return float("nan"), {}
                res = stats.ttest_1samp(vals, 0.0, alternative=alternative)
                return float(res.pvalue), {"t": float(res.statistic), "df": int(vals.size - 1)}
            return self._group_perm_p(x, y, C, estimate, alternative, n_perm, rng), {}
        if self.level == "system":
            xs, ys = self.system_means(x), self.system_means(y)
            cs = None if C is None else self.system_means(C)
        else:
            xs, ys, cs = x, y, C
        if how == "permutation":

            def stat(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
                a2, b2 = np.atleast_2d(a), np.atleast_2d(b)
                return _corr_rows(a2.reshape(-1, a2.shape[-1]), b2.reshape(-1, b2.shape[-1]), self.method).reshape(
                    a2.shape[:-1]
                )

            vec = self.method != "kendall" or xs.size <= 200
            with np.errstate(all="ignore"):
                res = stats.permutation_test(
                    (xs, ys),
                    stat if vec else (lambda a, b: _corr(a, b, self.method)),
                    permutation_type="pairings",
                    vectorized=vec,
                    n_resamples=n_perm,
                    alternative=alternative,
                    rng=rng,
                )
            return float(res.pvalue), {}
        n = xs.size
        if cs is None:
            fn = {"pearson": stats.pearsonr, "spearman": stats.spearmanr, "kendall": stats.kendalltau}[self.method]
            return float(fn(xs, ys, alternative=alternative).pvalue), {}
        if self.method == "kendall":
            tx, ty, _ = _transform(xs, ys, cs, self.method)
            return float(stats.kendalltau(tx, ty, alternative=alternative).pvalue), {}
        df = n - 2 - k
        r = estimate
        t = r * np.sqrt(df / max(1e-300, 1 - r * r)) if df > 0 else float("nan")
        return _p_from_t(t, df, alternative), {"t": float(t), "df": int(df)}

    def _group_perm_p(
        self,
        x: np.ndarray,
        y: np.ndarray,
        C: np.ndarray | None,
        estimate: float,
        alternative: str,
        n_perm: int,
        rng: np.random.Generator,
    ) -> float:
        """Permute y within each group (the null of no within-group association)."""
        members = self.gmembers
        buckets: dict[tuple[int, str], list[tuple[np.ndarray, np.ndarray]]] = {}
        for mem in members:
            tx, ty, base = _transform(x[mem], y[mem], None if C is None else C[mem], self.method)
            buckets.setdefault((mem.size, base), []).append((tx, ty))
        g = len(members)
        sums = np.zeros(n_perm)
        counts = np.zeros(n_perm)
        for (_size, base), items in buckets.items():
            TX = np.stack([a for a, _ in items])
            TY = np.stack([b for _, b in items])
            for b in range(n_perm):
                r = _corr_rows(TX, rng.permuted(TY, axis=1), base)
                if self.omit_undefined:
                    sums[b] += np.nansum(r)
                    counts[b] += np.isfinite(r).sum()
                else:
                    sums[b] += r.sum()
                    counts[b] += r.size
        with np.errstate(all="ignore"):
            null = sums / counts if self.omit_undefined else sums / g
        return _perm_p(estimate, null, alternative)


def resolve_resample(where: str, level: str, resample: str, has_groups: bool) -> str:
    """Pick the resampling unit for `resample="auto"` and check that the requested one fits the design."""
    resample = check_option(where, "resample", resample, RESAMPLE_UNITS)
    if resample == "auto":
        if level == "group":
            return "groups"
        return "groups" if has_groups else "items"
    allowed = {"item": ("items", "groups"), "group": ("groups",), "system": ("items", "groups", "systems", "both")}[
        level
    ]
    if resample not in allowed:
        raise InputValidationError(
            f"{where}: got resample={resample!r} for level={level!r}; allowed: {', '.join(map(repr, allowed))}."
        )
    if resample in ("groups", "both") and not has_groups:
        raise InputValidationError(f"{where}: resample={resample!r} needs `groups=` labels, got groups=None.")
    return resample


def build_protocol(
    where: str,
    *,
    n: int,
    method: str,
    level: str,
    groups: Any,
    systems: Any,
    resample: str,
    nan_policy: str,
) -> tuple[Protocol, np.ndarray | None, np.ndarray | None]:
    """Validate options and labels; return the protocol (on all n items) and the label codes."""
    method = check_option(where, "method", method, METHODS)
    level = check_option(where, "level", level, LEVELS)
    gcodes = glabels = scodes = slabels = None
    if groups is not None:
        gcodes, glabels = encode_labels(where, "groups", groups, n)
    if systems is not None:
        scodes, slabels = encode_labels(where, "systems", systems, n)
    if level == "group":
        if groups is None:
            raise InputValidationError(
                f"{where}: level='group' needs `groups=` labels (e.g. prompt ids), got groups=None."
            )
    if level == "system" and systems is None:
        raise InputValidationError(f"{where}: level='system' needs `systems=` labels, got systems=None.")
    res = resolve_resample(where, level, resample, groups is not None)
    proto = Protocol(where, method, level, n, res, nan_policy == "omit", gcodes, glabels, scodes, slabels)
    return proto, gcodes, scodes


def subset_protocol(proto: Protocol, keep: np.ndarray) -> Protocol:
    """The protocol restricted to items `keep` (labels re-encoded; empty groups/systems dropped)."""
    if keep.all():
        return proto
    kw: dict[str, Any] = {}
    for codes_name, labels_name in (("gcodes", "glabels"), ("scodes", "slabels")):
        codes = getattr(proto, codes_name)
        if codes is None:
            kw[codes_name], kw[labels_name] = None, None
            continue
        labels = getattr(proto, labels_name)
        kept = codes[keep]
        used = np.unique(kept)
        remap = np.full(len(labels), -1)
        remap[used] = np.arange(used.size)
        kw[codes_name] = remap[kept]
        kw[labels_name] = tuple(labels[i] for i in used)
    return Protocol(proto.where, proto.method, proto.level, int(keep.sum()), proto.resample, proto.omit_undefined, **kw)


def check_units(where: str, proto: Protocol) -> None:
    """Raise when the design has fewer than two groups/systems where it needs them."""
    ng = len(proto.glabels or ())
    ns = len(proto.slabels or ())
    if proto.level == "group" or proto.resample in ("groups", "both"):
        if ng < 2:
            raise InputValidationError(
                f"{where}: expected at least 2 distinct groups for level={proto.level!r} / resample={proto.resample!r}, "
                f"got {ng} ({', '.join(map(repr, (proto.glabels or ())[:3]))})."
            )
    if proto.level == "system" and ns < 2:
        raise InputValidationError(f"{where}: expected at least 2 distinct systems for level='system', got {ns}.")


def as_covariates(where: str, covariates: Any, n: int) -> np.ndarray | None:
    """Covariates as an (n, k) float array (a 1-D array is one covariate)."""
    if covariates is None:
        return None
    try:
        ndim = np.asarray(covariates, dtype=float).ndim
    except (TypeError, ValueError):
        ndim = 1
    if ndim not in (1, 2):
        raise InputValidationError(f"{where}: expected `covariates` of shape (n,) or (n, k), got {ndim} dimensions.")
    C = as_float_array(where, "covariates", covariates, ndim=ndim)
    if C.ndim == 1:
        C = C[:, None]
    if C.shape[0] != n:
        raise InputValidationError(
            f"{where}: expected `covariates` with one row per item, got {C.shape[0]} rows for {n} items."
        )
    if C.shape[1] == 0:
        raise InputValidationError(f"{where}: expected at least one covariate column, got shape {C.shape}.")
    return C


def common_settings(
    proto: Protocol,
    *,
    n_boot: int,
    seed: int,
    confidence: float,
    pvalue: str,
    n_perm: int,
    alternative: str,
    nan_policy: str,
    k: int = 0,
) -> dict[str, Any]:
    """The settings block shared by correlation-like results (ordered; it becomes the signature)."""
    s: dict[str, Any] = {
        "level": proto.level,
        "resample": proto.resample,
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        "ci": "percentile",
    }
    s["pvalue"] = pvalue
    if pvalue == "permutation":
        s["n_perm"] = n_perm
    s["alternative"] = alternative
    if k:
        s["covariates"] = k
        s["partial"] = "residualise-ranks" if proto.method != "pearson" else "residualise"
    s["nan_policy"] = nan_policy
    return s


def resolve_pvalue(where: str, pvalue: str, level: str, has_cov: bool) -> str:
    """`auto` -> permutation at group level, analytic otherwise; permutation refuses covariates outside group level."""
    pvalue = check_option(where, "pvalue", pvalue, PVALUE_METHODS)
    if pvalue == "auto":
        pvalue = "permutation" if level == "group" else "analytic"
    if pvalue == "permutation" and has_cov and level != "group":
        raise InputValidationError(
            f"{where}: pvalue='permutation' with `covariates` is only available at level='group'; use pvalue='analytic'."
        )
    return pvalue


# --------------------------------------------------------------------------------------------
# Public function
# --------------------------------------------------------------------------------------------


def correlation(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    method: str = "spearman",
    level: str = "item",
    groups: Sequence[Any] | np.ndarray | None = None,
    systems: Sequence[Any] | np.ndarray | None = None,
    covariates: Any = None,
    resample: str = "auto",
    n_boot: int = 2000,
    seed: int = 12345,
    confidence: float = 0.95,
    pvalue: str = "auto",
    n_perm: int = 2000,
    alternative: str = "two-sided",
    nan_policy: str = "propagate",
) -> ReliabilityResult:
    """Correlation between metric scores and human ratings, with a bootstrap CI and a p-value.

    Args:
        x: Metric scores, one per item.
        y: Human ratings (e.g. the mean over raters), one per item.
        method: ``"spearman"`` (default), ``"kendall"`` (tau-b, ties handled) or ``"pearson"``.
        level: ``"item"`` (one correlation over all items), ``"group"`` (correlation inside each
            group, averaged over groups; HANNA's story level) or ``"system"`` (correlation of the
            per-system means).
        groups: Group label per item (e.g. prompt id). Needed for ``level="group"``; at the other
            levels it makes the bootstrap resample whole groups (items of one prompt are not
            independent).
        systems: System label per item; needed for ``level="system"``.
        covariates: One covariate (1-D) or several (n x k) to partial out, e.g. text length. See the
            module docstring for the residualisation rule.
        resample: Bootstrap unit: ``"auto"`` (groups when ``groups`` is given or at group level,
            else items), ``"items"``, ``"groups"``, ``"systems"`` or ``"both"`` (systems and
            groups; system level only). At system level ``"items"`` resamples items within each
            system.
        n_boot: Bootstrap resamples for the percentile CI; 0 skips the CI.
        seed: Seed of the resampling (bootstrap and permutation use separate streams of it).
        confidence: Confidence level of the two-sided CI.
        pvalue: ``"auto"`` (a permutation test at group level, else the analytic test),
            ``"analytic"`` (scipy's test of the item or system-mean correlation; at group level a
            one-sample t-test of the per-group correlations over groups), ``"permutation"``
            (at group level y is permuted within groups) or ``"none"``.
        n_perm: Permutations for ``pvalue="permutation"``.
        alternative: ``"two-sided"``, ``"greater"`` or ``"less"`` for the p-value (the CI is two-sided).
        nan_policy: ``"propagate"`` (NaN in the input gives a NaN result with a warning), ``"omit"``
            (drop incomplete items; at group level undefined groups are left out of the average)
            or ``"raise"``.

    Returns:
        ReliabilityResult: ``estimate`` (signed), ``ci``, ``pvalue``, ``n`` (items used),
        ``settings`` and ``details`` (``n_groups``/``n_systems``, per-group values, system means,
        test statistics).

    Raises:
        InputValidationError: Mismatched lengths, an unknown option, a level without its labels,
            fewer than two groups or systems where they are needed, NaN under
            ``nan_policy="raise"``, or an undefined correlation under ``nan_policy="raise"``.

    Warns:
        DegenerateInputWarning: Constant input, fewer than 3 items, or NaN under ``"propagate"``;
            the estimate is NaN.

    Notes:
        With ``groups`` at item level the analytic p-value still treats items as independent and is
        too small when items are clustered; read the (cluster-)bootstrap CI instead, or work at group
        level. HANNA's published tables report absolute values (``abs(result.estimate)``).

    Examples:
        >>> from cqmetric.reliability import correlation
        >>> r = correlation([1, 2, 3, 4, 5, 6], [1.2, 1.9, 3.5, 3.1, 5.0, 6.2], method="spearman", n_boot=0)
        >>> round(r.estimate, 4), round(r.pvalue, 4)
        (0.9429, 0.0048)
        >>> g = [0, 0, 0, 1, 1, 1]
        >>> r = correlation([1, 2, 3, 1, 2, 3], [2, 1, 3, 1, 2, 3], method="kendall", level="group", groups=g, n_boot=0, pvalue="none")
        >>> round(r.estimate, 4)  # mean of tau = 1/3 and tau = 1
        0.6667
    """
    where = "correlation"
    nan_policy = check_option(where, "nan_policy", nan_policy, NAN_POLICIES)
    alternative = check_option(where, "alternative", alternative, ALTERNATIVES)
    xa = as_float_array(where, "x", x)
    ya = as_float_array(where, "y", y)
    if xa.size != ya.size:
        raise InputValidationError(
            f"{where}: expected `x` and `y` of the same length, got len(x)={xa.size}, len(y)={ya.size}."
        )
    n_boot = check_n_boot(where, n_boot)
    n_perm = check_n_boot(where, n_perm, name="n_perm")
    seed = check_seed(where, seed)
    confidence = check_confidence(where, confidence)
    C = as_covariates(where, covariates, xa.size)
    proto, _, _ = build_protocol(
        where,
        n=xa.size,
        method=method,
        level=level,
        groups=groups,
        systems=systems,
        resample=resample,
        nan_policy=nan_policy,
    )
    pv = resolve_pvalue(where, pvalue, proto.level, C is not None)
    settings = common_settings(
        proto,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
        pvalue=pv,
        n_perm=n_perm,
        alternative=alternative,
        nan_policy=nan_policy,
        k=0 if C is None else C.shape[1],
    )
    stat_name = ("partial_" if C is not None else "") + STAT_NAMES[proto.method]

    keep = nan_mask(where, nan_policy, x=xa, y=ya, covariates=C)
    if not keep.all() and nan_policy == "propagate":
        degenerate(
            where,
            nan_policy,
            f"the input has {int((~keep).sum())} item(s) with NaN (pass nan_policy='omit' to drop them)",
        )
        return ReliabilityResult(stat_name, float("nan"), None, float("nan"), xa.size, proto.method, settings, {})
    xa, ya = xa[keep], ya[keep]
    C = None if C is None else C[keep]
    proto = subset_protocol(proto, keep)
    check_units(where, proto)

    est, extra = proto.estimate(xa, ya, C)
    details: dict[str, Any] = {}
    if proto.glabels is not None:
        details["n_groups"] = len(proto.glabels)
    if proto.slabels is not None:
        details["n_systems"] = len(proto.slabels)
    details.update(extra)

    if not np.isfinite(est):
        n_bad = extra.get("n_groups_undefined")
        if proto.level == "group" and n_bad:
            reason = (
                f"{n_bad} of {len(proto.glabels or ())} groups have an undefined correlation (constant values or "
                f"< {_MIN_N} items)"
                + ("" if nan_policy == "omit" else "; pass nan_policy='omit' to average over the rest")
            )
        else:
            reason = f"the correlation is undefined (constant `x` or `y`, or fewer than {_MIN_N} items/systems)"
        degenerate(where, nan_policy, reason)
        return ReliabilityResult(
            stat_name,
            float("nan"),
            None if n_boot == 0 else (float("nan"), float("nan")),
            float("nan"),
            xa.size,
            proto.method,
            settings,
            details,
        )
    if proto.level == "group" and extra.get("n_groups_undefined"):
        warnings.warn(
            f"{where}: {extra['n_groups_undefined']} of {len(proto.glabels or ())} groups have an undefined correlation "
            "(constant values or too few items); they were left out of the average.",
            DegenerateInputWarning,
            stacklevel=2,
        )

    ci = None
    if n_boot:
        reps = proto.replicates(proto.make_plan(child_rng(seed, "bootstrap"), n_boot), xa, ya, C)
        ci = percentile_ci(reps, confidence)
        details["n_boot_undefined"] = int(np.sum(~np.isfinite(reps)))
    p, pdet = proto.pvalue(
        xa, ya, C, est, how=pv, alternative=alternative, n_perm=n_perm, rng=child_rng(seed, "permutation")
    )
    details.update(pdet)
    return ReliabilityResult(stat_name, est, ci, p, xa.size, proto.method, settings, details)
