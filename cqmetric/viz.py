"""Pictures of scores: tokens coloured by information, chain-rule profiles, agreement with human ratings.

`token_html` needs only the standard library. The figures need matplotlib, which is optional: install it with
`pip install 'cqmetric[plot]'`. Figures are built as `matplotlib.figure.Figure` objects without pyplot, so
nothing is registered globally and no display is needed: save them with `fig.savefig(path)`, or let Jupyter
show them.

Examples:
    >>> from cqmetric import score
    >>> from cqmetric.backends.precomputed import PrecomputedBackend
    >>> result = score(["A cat sat."], ["Write about a cat."], model=PrecomputedBackend.example(),
    ...                details=True, n_boot=0)
    >>> page = token_html(result)
    >>> page.startswith("<!DOCTYPE html>"), page.count('class="cqm-tok"')
    (True, 3)
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cqmetric._validation import (
    as_float_array,
    check_option,
    check_same_length,
    check_seed,
)
from cqmetric.errors import InputValidationError, MissingDependencyError

__all__ = ["token_html", "save_token_html", "token_colour", "plot_profile", "plot_agreement"]

# Diverging scale: red for tokens the constraints made *less* likely, blue for tokens they made more likely.
NEGATIVE_RGB = (178, 24, 43)
POSITIVE_RGB = (33, 102, 172)
ZERO_RGB = (255, 255, 255)
CORRELATIONS = ("kendall", "spearman", "pearson")
_SYMBOL = {"kendall": "Kendall τ", "spearman": "Spearman ρ", "pearson": "Pearson r"}


# -- per-token HTML -----------------------------------------------------------------------------------------


def token_colour(value: float, vmax: float) -> tuple[int, int, int]:
    """RGB colour of a pointwise information `value` on a diverging scale centred at 0 and clipped at ±`vmax`.

    Examples:
        >>> token_colour(0.0, 2.0), token_colour(2.0, 2.0), token_colour(-5.0, 2.0)
        ((255, 255, 255), (33, 102, 172), (178, 24, 43))
    """
    if not vmax > 0:
        raise InputValidationError(f"token_colour: expected `vmax` > 0, got {vmax!r}.")
    if not math.isfinite(value):
        return (200, 200, 200)
    t = min(abs(value) / vmax, 1.0)
    end = POSITIVE_RGB if value > 0 else NEGATIVE_RGB
    return tuple(round(z + t * (e - z)) for z, e in zip(ZERO_RGB, end))  # type: ignore[return-value]


def _detail(result_or_records: Any, index: int) -> dict[str, Any]:
    """The per-token detail dict (token, s, c, i) of text `index`, from any of the accepted inputs."""
    where = "token_html"
    source = result_or_records
    if hasattr(source, "per_token") and hasattr(source, "texts"):  # a ScoreResult
        if source.per_token is None:
            raise InputValidationError(
                f"{where}: the result has no per-token detail; score with details=True (and constraints)."
            )
        items: Sequence[Any] = source.per_token
    elif isinstance(source, Mapping):
        items = [source]
    elif isinstance(source, Sequence) and not isinstance(source, (str, bytes)):
        items = source
    else:
        raise InputValidationError(
            f"{where}: expected a ScoreResult, a list of records from to_records(), or one per-token dict, "
            f"got {type(source).__name__}."
        )
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(items):
        raise InputValidationError(f"{where}: expected `index` in [0, {len(items)}), got {index!r}.")
    item = items[int(index)]
    if isinstance(item, Mapping) and "tokens" in item and "token" not in item:  # a record from to_records()
        item = item["tokens"]
    if not isinstance(item, Mapping) or "token" not in item or "s" not in item:
        raise InputValidationError(
            f"{where}: expected per-token detail with keys 'token', 's', 'c', 'i' (score with details=True), "
            f"got {type(item).__name__}."
        )
    if "c" not in item:
        raise InputValidationError(
            f"{where}: the detail has no constrained surprisal 'c'; score with constraints to colour by i_t."
        )
    tokens = [str(t) for t in item["token"]]
    s = as_float_array(where, "s", item["s"])
    c = as_float_array(where, "c", item["c"])
    i = as_float_array(where, "i", item["i"]) if "i" in item else s - c
    check_same_length(where, token=tokens, s=s, c=c, i=i)
    return {"token": tokens, "s": s, "c": c, "i": i}


_CSS = """
.cqm-view{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;max-width:60em}
.cqm-view h1{font-size:1.15em;margin:0 0 .4em}
.cqm-summary{margin:0 0 .8em;color:#444}
.cqm-text{white-space:pre-wrap;word-wrap:break-word;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
 font-size:.92em;line-height:1.9;padding:.6em .8em;border:1px solid #ddd;border-radius:4px;background:#fff}
.cqm-tok{border-radius:2px;padding:.1em 0;cursor:help}
.cqm-tok:hover{outline:2px solid #222}
.cqm-legend{display:flex;align-items:center;gap:.5em;margin:.8em 0 0;font-size:.85em;color:#444}
.cqm-scale{display:flex}
.cqm-scale span{display:inline-block;width:2.2em;height:1.1em;border:1px solid #ccc;margin-left:-1px}
.cqm-note{font-size:.85em;color:#555;margin:.4em 0 0}
"""


def token_html(
    result_or_records: Any,
    index: int = 0,
    *,
    title: str | None = None,
    vmax: float | None = None,
    digits: int = 3,
    full_page: bool = True,
) -> str:
    """A self-contained HTML view of one text, each token coloured by its pointwise information i_t.

    The colour scale diverges at 0: blue tokens were made more likely by the constraints (i_t > 0), red tokens
    less likely (i_t < 0), white ones not at all. Hovering a token shows s_t, c_t and i_t in bits (its `title`
    attribute). The page has inline CSS only: no scripts, fonts or external files.

    Args:
        result_or_records: a `ScoreResult` scored with `details=True` and constraints, the list returned by
            its `to_records()`, or one per-token dict with keys `token`, `s`, `c` (and `i`).
        index: which text to show.
        title: heading of the view (default: "Pointwise information with the constraints").
        vmax: |i_t| in bits at which the colour saturates (default: the largest |i_t| of the text).
        digits: decimals of the numbers shown.
        full_page: a complete HTML document (True) or a `<div>` fragment with its own `<style>` for embedding.

    Returns:
        The HTML as a string.

    Raises:
        InputValidationError: when the input carries no per-token detail or no constrained surprisal.
    """
    detail = _detail(result_or_records, index)
    i = detail["i"]
    finite = np.abs(i[np.isfinite(i)])
    if vmax is None:
        vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    elif not (isinstance(vmax, (int, float)) and math.isfinite(vmax) and vmax > 0):
        raise InputValidationError(f"token_html: expected `vmax` to be a positive number, got {vmax!r}.")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 10:
        raise InputValidationError(f"token_html: expected `digits` to be an integer in [0, 10], got {digits!r}.")

    spans = []
    for tok, s, c, v in zip(detail["token"], detail["s"], detail["c"], i):
        r, g, b = token_colour(float(v), vmax)
        ink = "#fff" if (0.299 * r + 0.587 * g + 0.114 * b) < 140 else "#111"
        hover = (f"{tok!r}\ns_t = {s:.{digits}f} bits\nc_t = {c:.{digits}f} bits\ni_t = {v:+.{digits}f} bits")
        spans.append(
            f'<span class="cqm-tok" style="background-color:rgb({r},{g},{b});color:{ink}" '
            f'data-s="{float(s)!r}" data-c="{float(c)!r}" data-i="{float(v)!r}" '
            f'title="{html.escape(hover, quote=True)}">{html.escape(tok, quote=False)}</span>'
        )
    steps = np.linspace(-vmax, vmax, 9)
    swatches = "".join(
        '<span style="background-color:rgb({},{},{})" title="{:+.{d}f} bits"></span>'.format(
            *token_colour(float(x), vmax), x, d=digits)
        for x in steps
    )
    n = len(i)
    summary = (
        f"{n} tokens &middot; mean i<sub>t</sub> (calibrated surprise) {np.mean(i):+.{digits}f} bits/token "
        f"&middot; mean s<sub>t</sub> (surprise) {np.mean(detail['s']):.{digits}f} "
        f"&middot; mean c<sub>t</sub> (residual) {np.mean(detail['c']):.{digits}f}"
    )
    heading = html.escape(title if title is not None else "Pointwise information with the constraints")
    body = (
        f'<div class="cqm-view"><style>{_CSS}</style>'
        f"<h1>{heading}</h1>"
        f'<p class="cqm-summary">{summary}</p>'
        f'<div class="cqm-text">{"".join(spans)}</div>'
        f'<div class="cqm-legend"><span>i<sub>t</sub> = {-vmax:.{digits}f} bits</span>'
        f'<span class="cqm-scale">{swatches}</span><span>{vmax:+.{digits}f} bits</span></div>'
        '<p class="cqm-note">Blue: the constraints made the token more likely (i<sub>t</sub> &gt; 0). '
        "Red: less likely (i<sub>t</sub> &lt; 0). Hover over a token for s<sub>t</sub>, c<sub>t</sub> and "
        "i<sub>t</sub> in bits.</p></div>"
    )
    if not full_page:
        return body
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{heading}</title></head><body>{body}</body></html>\n"
    )


def save_token_html(path: str | os.PathLike[str], result_or_records: Any, index: int = 0, **kwargs: Any) -> Path:
    """Write `token_html(result_or_records, index, **kwargs)` to `path` (UTF-8) and return the path."""
    out = Path(path)
    out.write_text(token_html(result_or_records, index, **kwargs), encoding="utf-8")
    return out


# -- figures ------------------------------------------------------------------------------------------------


def _figure(where: str, ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    """A new constrained-layout Figure and Axes (or the given Axes and its figure), importing matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(
            f"{where} needs matplotlib; install it with: pip install 'cqmetric[plot]'"
        ) from None
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def plot_profile(profile: Any, *, labels: Sequence[str] | None = None, title: str | None = None, ax: Any = None) -> Any:
    """Bar chart of a chain-rule profile: bits per unit, with the cumulative share of the total as a line.

    Args:
        profile: one `ChainRuleProfile` (an element of `cqmetric.profiles(...)`).
        labels: tick labels for the units (default: 1, 2, ...).
        title: the figure title (default: units, total bits, and the share of the top 20% of units).
        ax: draw into this Axes instead of a new figure.

    Returns:
        The matplotlib Figure; its first Axes holds one bar per unit, the twin Axes the cumulative share (%).

    Raises:
        MissingDependencyError: when matplotlib is not installed.
    """
    where = "plot_profile"
    if isinstance(profile, (list, tuple)):
        raise InputValidationError(
            f"{where}: expected one ChainRuleProfile, got a {type(profile).__name__}; pass profiles(...)[k]."
        )
    if not hasattr(profile, "information") or not hasattr(profile, "top20_share"):
        raise InputValidationError(f"{where}: expected a ChainRuleProfile, got {type(profile).__name__}.")
    bits = np.asarray(profile.information, dtype=float)
    n = len(bits)
    if labels is not None:
        labels = [str(x) for x in labels]
        check_same_length(where, labels=labels, units=bits)
    fig, ax = _figure(where, ax, (max(5.0, min(12.0, 0.45 * n + 3)), 3.6))
    x = np.arange(1, n + 1)
    colours = [_hex(POSITIVE_RGB) if b >= 0 else _hex(NEGATIVE_RGB) for b in bits]
    ax.bar(x, bits, color=colours, width=0.75, label="I(X_j; Y | X_<j) per unit")
    ax.axhline(0, color="#555", linewidth=0.8)
    ax.set_xlabel("unit j")
    ax.set_ylabel("bits")
    ax.set_xticks(x, labels if labels is not None else [str(v) for v in x],
                  rotation=0 if labels is None else 45, ha="center" if labels is None else "right")
    total = float(bits.sum())
    if total != 0 and n:
        twin = ax.twinx()
        twin.plot(x, 100 * np.cumsum(bits) / total, color="#e08214", marker="o", markersize=3.5,
                  linewidth=1.6, label="cumulative share of the total")
        twin.set_ylabel("cumulative share (%)")
        twin.axhline(100, color="#e08214", linewidth=0.6, linestyle=":")
    if title is None:
        top = profile.top20_share
        share = "undefined" if not math.isfinite(top) else f"{top:.0%}"
        title = f"Chain-rule profile: {n} units, {total:.2f} bits in all; top 20% of units carry {share}"
    ax.set_title(title, fontsize=10)
    return fig


def plot_agreement(
    scores: Any,
    ratings: Any,
    *,
    method: str = "kendall",
    level: str = "item",
    groups: Any = None,
    xlabel: str = "score",
    ylabel: str = "human rating",
    title: str | None = None,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    ax: Any = None,
) -> Any:
    """Scatter of a scorer's values against human ratings, with a least-squares trend and the correlation.

    The correlation and its percentile-bootstrap confidence interval come from `cqmetric.reliability.correlation`.
    They are shown in the legend, and the estimate in the title.

    Args:
        scores: one score per item.
        ratings: one human rating per item (e.g. the mean over raters).
        method: "kendall" (default), "spearman" or "pearson".
        level: "item" (one correlation over all points) or "group" (the correlation inside each group,
            averaged over groups: HANNA's story level); see `cqmetric.reliability.correlation`.
        groups: group label per item (e.g. the prompt); needed for level="group", and at item level it makes
            the bootstrap resample whole groups.
        xlabel: the x-axis label (the scorer's name).
        ylabel: the y-axis label (the criterion).
        title: the figure title (default: "<xlabel> vs <ylabel>").
        confidence: level of the interval.
        n_boot: bootstrap resamples for the interval (0: no interval).
        seed: seed of the bootstrap.
        ax: draw into this Axes instead of a new figure.

    Returns:
        The matplotlib Figure: one scatter point per item and one trend line.

    Raises:
        InputValidationError: for unequal lengths, fewer than 3 items or non-finite values.
        MissingDependencyError: when matplotlib is not installed.
    """
    where = "plot_agreement"
    check_option(where, "method", method, CORRELATIONS)
    x = as_float_array(where, "scores", scores)
    y = as_float_array(where, "ratings", ratings)
    check_same_length(where, scores=x, ratings=y)
    if len(x) < 3:
        raise InputValidationError(f"{where}: expected at least 3 items, got {len(x)}.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InputValidationError(f"{where}: expected finite scores and ratings; drop missing items first.")
    from scipy import stats

    from cqmetric.reliability.correlation import correlation

    check_option(where, "level", level, ("item", "group"))
    seed = check_seed(where, seed)
    res = correlation(x, y, method=method, level=level, groups=groups, n_boot=n_boot, seed=seed,
                      confidence=confidence, pvalue="none")
    value = res.estimate
    ci = res.ci if res.ci is not None and all(map(math.isfinite, res.ci)) else None
    fig, ax = _figure(where, ax, (5.2, 4.8))
    ax.scatter(x, y, s=22, alpha=0.75, color=_hex(POSITIVE_RGB), edgecolors="white", linewidths=0.5,
               label=f"items (n = {len(x)})")
    if np.ptp(x) > 0:
        fit = stats.linregress(x, y)
        grid = np.linspace(x.min(), x.max(), 50)
        ax.plot(grid, fit.intercept + fit.slope * grid, color="#e08214", linewidth=1.8,
                label=f"least-squares trend (slope {fit.slope:.3g})")
    ci_text = "" if ci is None else f" [{ci[0]:.2f}, {ci[1]:.2f}] ({confidence:.0%} CI)"
    scope = " (within groups, averaged)" if level == "group" else ""
    ax.plot([], [], " ", label=f"{_SYMBOL[method]}{scope} = {value:.3f}{ci_text}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize=8, frameon=False)  # below: hides no point
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title if title is not None else f"{xlabel} vs {ylabel}: {_SYMBOL[method]} = {value:.2f}",
                 fontsize=10)
    return fig
