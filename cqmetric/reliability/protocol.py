"""The study design of a metric-human correlation: level, method, groups and systems, resampling unit.

A :class:`Protocol` is built once per call from validated labels (:func:`build_protocol`) and
shared by :func:`~cqmetric.reliability.correlation`, :func:`~cqmetric.reliability.human_ceiling`
and :func:`~cqmetric.reliability.williams_test`, so the three compute the same number the same way:

* ``estimate`` — the correlation at item level, the mean of the per-group correlations at group
  level, the correlation of the per-system means at system level;
* ``bootstrap_plan`` / ``replicates`` — the resampling unit (items, groups, systems or both), drawn
  once and applied to any pair of variables, so paired statistics share their resamples;
* ``pvalue`` — scipy's analytic tests, a t-test over groups, or a permutation test (within groups at
  group level).

The arithmetic itself is in :mod:`cqmetric.reliability.kernels`: estimates use scipy's coefficients
(:func:`~cqmetric.reliability.kernels.corr`, :func:`~cqmetric.reliability.kernels.corr_rows`), resampling
loops the equal but faster :func:`~cqmetric.reliability.kernels.resample_corr_rows`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import stats

from cqmetric._validation import check_option
from cqmetric.errors import InputValidationError
from cqmetric.reliability.inputs import encode_labels
from cqmetric.reliability.kernels import (
    corr,
    corr_rows,
    p_from_t,
    partial_corr,
    partial_corr_inputs,
    permutation_pvalue,
    resample_corr_rows,
    snap_ties,
)
from cqmetric.resampling import cluster_indices

__all__ = [
    "METHODS",
    "LEVELS",
    "RESAMPLE_UNITS",
    "STAT_NAMES",
    "Protocol",
    "BootstrapPlan",
    "build_protocol",
    "correlation_settings",
]

METHODS = ("spearman", "kendall", "pearson")
LEVELS = ("item", "group", "system")
RESAMPLE_UNITS = ("auto", "items", "groups", "systems", "both")
STAT_NAMES = {"pearson": "pearson_r", "spearman": "spearman_rho", "kendall": "kendall_tau_b"}


class BootstrapPlan(NamedTuple):
    """The resamples of one bootstrap, drawn once: `kind` says what `draws` holds.

    * ``"items"``: (B, n) item indices; ``"clusters"``: B arrays of item indices (whole groups);
    * ``"groups"``: (B, g) group indices (group level);
    * ``"sys_items"``: one (B, size) index array per system; ``"sys_systems"``: (B, s) system indices;
      ``"sys_groups"``: (B, g) counts of each group; ``"sys_both"``: (counts, (B, s) system indices).
    """

    kind: str
    draws: Any


@dataclass(frozen=True)
class Protocol:
    """Validated, NaN-free design of a correlation on `n` items (see the module docstring)."""

    where: str
    method: str
    level: str
    n: int
    resample: str
    omit_undefined: bool
    group_codes: np.ndarray | None = None
    group_labels: tuple[Any, ...] | None = None
    system_codes: np.ndarray | None = None
    system_labels: tuple[Any, ...] | None = None

    # ---- structure ----
    @property
    def n_groups(self) -> int:
        return len(self.group_labels or ())

    @property
    def n_systems(self) -> int:
        return len(self.system_labels or ())

    @staticmethod
    def _members(codes: np.ndarray | None, n_labels: int) -> list[np.ndarray]:
        if codes is None:  # internal invariant
            raise RuntimeError("internal error: resampling state missing")
        order = np.argsort(codes, kind="stable")
        bounds = np.cumsum(np.bincount(codes, minlength=n_labels))
        return np.split(order, bounds[:-1])

    @property
    def group_members(self) -> list[np.ndarray]:
        """Item indices of each group, in label order."""
        return self._members(self.group_codes, self.n_groups)

    @property
    def system_members(self) -> list[np.ndarray]:
        """Item indices of each system, in label order."""
        return self._members(self.system_codes, self.n_systems)

    def subset(self, keep: np.ndarray) -> Protocol:
        """The protocol restricted to items `keep` (labels re-encoded; empty groups/systems dropped)."""
        if keep.all():
            return self
        relabelled: dict[str, Any] = {}
        for codes_name, labels_name in (("group_codes", "group_labels"), ("system_codes", "system_labels")):
            codes = getattr(self, codes_name)
            if codes is None:
                relabelled[codes_name], relabelled[labels_name] = None, None
                continue
            labels = getattr(self, labels_name)
            kept = codes[keep]
            used = np.unique(kept)
            remap = np.full(len(labels), -1)
            remap[used] = np.arange(used.size)
            relabelled[codes_name] = remap[kept]
            relabelled[labels_name] = tuple(labels[i] for i in used)
        return Protocol(
            self.where, self.method, self.level, int(keep.sum()), self.resample, self.omit_undefined, **relabelled
        )

    def check_units(self) -> None:
        """Raise when the design has fewer than two groups/systems where it needs them."""
        if self.level == "group" or self.resample in ("groups", "both"):
            if self.n_groups < 2:
                raise InputValidationError(
                    f"{self.where}: expected at least 2 distinct groups for level={self.level!r} / "
                    f"resample={self.resample!r}, got {self.n_groups} "
                    f"({', '.join(map(repr, (self.group_labels or ())[:3]))})."
                )
        if self.level == "system" and self.n_systems < 2:
            raise InputValidationError(
                f"{self.where}: expected at least 2 distinct systems for level='system', got {self.n_systems}."
            )

    # ---- per-group values ----
    def group_values(self, x: np.ndarray, y: np.ndarray, C: np.ndarray | None) -> np.ndarray:
        """The correlation inside each group (NaN where undefined)."""
        members = self.group_members
        vals = np.full(len(members), np.nan)
        if C is None:
            by_size: dict[int, list[int]] = {}
            for g, mem in enumerate(members):
                by_size.setdefault(mem.size, []).append(g)
            for gs in by_size.values():
                idx = np.stack([members[g] for g in gs])
                vals[gs] = corr_rows(x[idx], y[idx], self.method)
        else:
            for g, mem in enumerate(members):
                vals[g] = partial_corr(x[mem], y[mem], C[mem], self.method)
        return vals

    def _average(self, vals: np.ndarray, axis: int | None = None) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(vals, axis=axis) if self.omit_undefined else np.mean(vals, axis=axis)

    # ---- system means ----
    def system_means(self, v: np.ndarray) -> np.ndarray:
        """Mean of `v` (n,) or of each column of `v` (n, k) per system, with exact ties restored."""
        if self.system_codes is None:  # internal invariant
            raise RuntimeError("internal error: resampling state missing")
        s = self.n_systems
        cnt = np.bincount(self.system_codes, minlength=s).astype(float)
        if v.ndim == 1:
            return snap_ties(np.bincount(self.system_codes, weights=v, minlength=s) / cnt)
        return np.column_stack(
            [snap_ties(np.bincount(self.system_codes, weights=v[:, j], minlength=s) / cnt) for j in range(v.shape[1])]
        )

    # ---- point estimate ----
    def estimate(self, x: np.ndarray, y: np.ndarray, C: np.ndarray | None) -> tuple[float, dict[str, Any]]:
        """The (partial) correlation of x and y at the protocol's level, and its details."""
        if self.level == "item":
            return partial_corr(x, y, C, self.method), {}
        if self.level == "group":
            vals = self.group_values(x, y, C)
            n_bad = int(np.isnan(vals).sum())
            est = float(self._average(vals)) if n_bad < vals.size else float("nan")
            return est, {"group_values": vals, "n_groups_undefined": n_bad}
        mx, my = self.system_means(x), self.system_means(y)
        mc = None if C is None else self.system_means(C)
        return partial_corr(mx, my, mc, self.method), {"system_means_x": mx, "system_means_y": my}

    # ---- bootstrap ----
    def bootstrap_plan(self, rng: np.random.Generator, n_boot: int) -> BootstrapPlan:
        """Draw `n_boot` resamples of the protocol's unit."""
        r = self.resample
        if self.level == "item":
            if r == "items":
                return BootstrapPlan("items", rng.integers(0, self.n, size=(n_boot, self.n)))
            return BootstrapPlan("clusters", cluster_indices(self.group_members, rng, n_boot))
        if self.level == "group":
            g = self.n_groups
            return BootstrapPlan("groups", rng.integers(0, g, size=(n_boot, g)))
        s = self.n_systems
        if r == "items":
            return BootstrapPlan(
                "sys_items", [rng.integers(0, m.size, size=(n_boot, m.size)) for m in self.system_members]
            )
        if r == "systems":
            return BootstrapPlan("sys_systems", rng.integers(0, s, size=(n_boot, s)))
        g = self.n_groups
        gd = rng.integers(0, g, size=(n_boot, g))
        counts = np.stack([np.bincount(row, minlength=g) for row in gd]).astype(float)
        if r == "groups":
            return BootstrapPlan("sys_groups", counts)
        return BootstrapPlan("sys_both", (counts, rng.integers(0, s, size=(n_boot, s))))

    def _boot_means(self, kind: str, draws: Any, v: np.ndarray) -> np.ndarray:
        """(B, S) system means of `v` under a system-level plan."""
        s = self.n_systems
        if kind == "sys_items":
            return np.column_stack([v[m][p].mean(axis=1) for m, p in zip(self.system_members, draws)])
        if kind == "sys_systems":
            return self.system_means(v)[draws]
        counts = draws if kind == "sys_groups" else draws[0]
        if self.group_codes is None or self.system_codes is None:  # internal invariant
            raise RuntimeError("internal error: resampling state missing")
        onehot = np.zeros((self.n, s))
        onehot[np.arange(self.n), self.system_codes] = 1.0
        w = counts[:, self.group_codes]
        with np.errstate(all="ignore"):
            means = (w * v) @ onehot / (w @ onehot)
        if kind == "sys_both":
            means = np.take_along_axis(means, draws[1], axis=1)
        return means

    def replicates(self, plan: BootstrapPlan, x: np.ndarray, y: np.ndarray, C: np.ndarray | None) -> np.ndarray:
        """The estimate on each resample of `plan` (NaN where undefined)."""
        kind, p = plan
        if kind == "items" and C is None and self.method != "kendall":
            out = np.empty(p.shape[0])
            for s in range(0, p.shape[0], 256):
                idx = p[s : s + 256]
                out[s : s + 256] = resample_corr_rows(x[idx], y[idx], self.method)
            return out
        if kind == "clusters" and C is None and self.method != "kendall":
            return np.array([resample_corr_rows(x[i][None], y[i][None], self.method)[0] for i in p])
        if kind in ("items", "clusters"):
            return np.array([partial_corr(x[i], y[i], None if C is None else C[i], self.method) for i in p])
        if kind == "groups":
            vals = self.group_values(x, y, C)
            return np.asarray(self._average(vals[p], axis=1), dtype=float)
        mx, my = self._boot_means(kind, p, x), self._boot_means(kind, p, y)
        if C is None:
            mx = np.apply_along_axis(snap_ties, 1, mx)
            my = np.apply_along_axis(snap_ties, 1, my)
            return resample_corr_rows(mx, my, self.method)
        mc = np.stack([self._boot_means(kind, p, C[:, j]) for j in range(C.shape[1])], axis=2)
        return np.array([partial_corr(snap_ties(a), snap_ties(b), c, self.method) for a, b, c in zip(mx, my, mc)])

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
        """p-value of `estimate` by `how` ("analytic", "permutation" or "none"), and the test's details."""
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
            return self._group_permutation_pvalue(x, y, C, estimate, alternative, n_perm, rng), {}
        if self.level == "system":
            xs, ys = self.system_means(x), self.system_means(y)
            cs = None if C is None else self.system_means(C)
        else:
            xs, ys, cs = x, y, C
        if how == "permutation":

            def stat(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
                a2, b2 = np.atleast_2d(a), np.atleast_2d(b)
                rows = resample_corr_rows(a2.reshape(-1, a2.shape[-1]), b2.reshape(-1, b2.shape[-1]), self.method)
                return rows.reshape(a2.shape[:-1])

            vec = self.method != "kendall" or xs.size <= 200
            with np.errstate(all="ignore"):
                res = stats.permutation_test(
                    (xs, ys),
                    stat if vec else (lambda a, b: corr(a, b, self.method)),
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
            tx, ty, _ = partial_corr_inputs(xs, ys, cs, self.method)
            return float(stats.kendalltau(tx, ty, alternative=alternative).pvalue), {}
        df = n - 2 - k
        r = estimate
        t = r * np.sqrt(df / max(1e-300, 1 - r * r)) if df > 0 else float("nan")
        return p_from_t(t, df, alternative), {"t": float(t), "df": int(df)}

    def _group_permutation_pvalue(
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
        members = self.group_members
        buckets: dict[tuple[int, str], list[tuple[np.ndarray, np.ndarray]]] = {}
        for mem in members:
            tx, ty, base = partial_corr_inputs(x[mem], y[mem], None if C is None else C[mem], self.method)
            buckets.setdefault((mem.size, base), []).append((tx, ty))
        g = len(members)
        sums = np.zeros(n_perm)
        counts = np.zeros(n_perm)
        for (_size, base), items in buckets.items():
            TX = np.stack([a for a, _ in items])
            TY = np.stack([b for _, b in items])
            for b in range(n_perm):
                r = resample_corr_rows(TX, rng.permuted(TY, axis=1), base)
                if self.omit_undefined:
                    sums[b] += np.nansum(r)
                    counts[b] += np.isfinite(r).sum()
                else:
                    sums[b] += r.sum()
                    counts[b] += r.size
        with np.errstate(all="ignore"):
            null = sums / counts if self.omit_undefined else sums / g
        return permutation_pvalue(estimate, null, alternative)


def _resolve_resample(where: str, level: str, resample: str, has_groups: bool) -> str:
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
) -> Protocol:
    """Validate the options and labels of a correlation on `n` items and return its protocol."""
    method = check_option(where, "method", method, METHODS)
    level = check_option(where, "level", level, LEVELS)
    group_codes = group_labels = system_codes = system_labels = None
    if groups is not None:
        group_codes, group_labels = encode_labels(where, "groups", groups, n)
    if systems is not None:
        system_codes, system_labels = encode_labels(where, "systems", systems, n)
    if level == "group" and groups is None:
        raise InputValidationError(f"{where}: level='group' needs `groups=` labels (e.g. prompt ids), got groups=None.")
    if level == "system" and systems is None:
        raise InputValidationError(f"{where}: level='system' needs `systems=` labels, got systems=None.")
    resample = _resolve_resample(where, level, resample, groups is not None)
    return Protocol(
        where, method, level, n, resample, nan_policy == "omit", group_codes, group_labels, system_codes, system_labels
    )


def correlation_settings(
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
    """The settings of a correlation-like result, in signature order (`k` = number of covariates)."""
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
