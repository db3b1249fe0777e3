"""The per-token picture of a CQA result: where in the texts the tuned models gain or lose log-probability.

Each item's tokens are placed by relative position (0 = first token, 1 = last) into equal bins; per group and
checkpoint the picture shows the mean over all tokens in a bin of (top row) the log-prob difference tuned −
base under the constraints and (bottom row) the token's change in information (that difference minus the
one without constraints). Drawn in `cqmetric.viz`'s style: a matplotlib Figure without pyplot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cqmetric._validation import check_positive_int
from cqmetric.errors import InputValidationError, MissingDependencyError
from cqmetric.viz import POSITIVE_RGB

__all__ = ["token_shift_profile", "plot_token_shift"]


def token_shift_profile(result: Any, checkpoint: str, group: str, *, bins: int = 10) -> dict[str, np.ndarray]:
    """Mean per-token differences (bits) by relative-position bin for one checkpoint and group.

    Returns:
        {"centre": bin centres in [0, 1], "diff": mean log-prob difference under the constraints,
        "delta_information": mean change of per-token information, "n": tokens per bin}.
    """
    bins = check_positive_int("token_shift_profile", "bins", bins)
    result._check_checkpoint(checkpoint)
    if group not in result.groups:
        raise InputValidationError(f"token_shift_profile: expected a group among {list(result.groups)}, got {group!r}.")
    base, tuned = result.logprobs[result.base], result.logprobs[checkpoint]
    sums = np.zeros((2, bins))
    counts = np.zeros(bins)
    for k, g in enumerate(result.item_groups):
        if g != group:
            continue
        n = base[k].shape[1]
        where = np.minimum((np.arange(n) + 0.5) / n * bins, bins - 1).astype(int)
        d_c = tuned[k][1] - base[k][1]
        d_i = d_c - (tuned[k][0] - base[k][0])
        np.add.at(sums[0], where, d_c)
        np.add.at(sums[1], where, d_i)
        np.add.at(counts, where, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    return {"centre": (np.arange(bins) + 0.5) / bins, "diff": means[0], "delta_information": means[1], "n": counts}


def plot_token_shift(result: Any, checkpoints: Sequence[str] | None = None, *, bins: int = 10,
                     title: str | None = None) -> Any:
    """A Figure: one column per group, one line per checkpoint (lighter = earlier), two rows (see the module).

    Raises:
        MissingDependencyError: without matplotlib (`pip install 'cqmetric[plot]'`).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(
            "plot_per_token needs matplotlib; install it with: pip install 'cqmetric[plot]'") from None
    labels = list(result.checkpoints) if checkpoints is None else list(checkpoints)
    for label in labels:
        result._check_checkpoint(label)
    groups = list(result.groups)
    fig = Figure(figsize=(max(5.0, 3.6 * len(groups)), 5.6), layout="constrained")
    axes = fig.subplots(2, len(groups), sharex=True, sharey="row", squeeze=False)
    end = np.array(POSITIVE_RGB) / 255
    for j, group in enumerate(groups):
        for i, label in enumerate(labels):
            prof = token_shift_profile(result, label, group, bins=bins)
            t = 0.35 + 0.65 * (i + 1) / len(labels)
            colour = tuple(1 - t * (1 - end))
            for row, key in enumerate(("diff", "delta_information")):
                axes[row, j].plot(prof["centre"], prof[key], color=colour, marker="o", markersize=3,
                                  linewidth=1.6, label=label)
        for row in range(2):
            axes[row, j].axhline(0, color="#555", linewidth=0.8)
        axes[0, j].set_title(f"{group} (n = {result.groups[group].n})", fontsize=10)
        axes[1, j].set_xlabel("relative position in the text")
    axes[0, 0].set_ylabel("Δ log₂ p under Y (bits)")
    axes[1, 0].set_ylabel("Δ information per token (bits)")
    axes[0, -1].legend(fontsize=7, frameon=False, title="checkpoint", title_fontsize=7)
    fig.suptitle(title or "Per-token change, tuned − base (darker = later checkpoint)", fontsize=10)
    return fig
