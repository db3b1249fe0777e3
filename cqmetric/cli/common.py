"""What the subcommands share: argument types, notes on stderr, statistics with their warnings, and output."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cqmetric.errors import CQMetricError
from cqmetric.resampling import CONFIDENCE, SEED


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def note(message: str) -> None:
    print(f"cqmetric: {message}", file=sys.stderr, flush=True)




def reliability_function(name: str) -> Any:
    import importlib

    module = importlib.import_module("cqmetric.reliability")
    if not hasattr(module, name):
        raise CQMetricError(f"this installation's cqmetric.reliability has no `{name}`.")
    return getattr(module, name)


def run_statistics(where: str, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call `func`, printing cqmetric's warnings (degenerate input) as `cqmetric: warning:` lines."""
    import warnings

    from cqmetric.errors import CQMetricWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CQMetricWarning)
        result = func(*args, **kwargs)
    for w in caught:
        if issubclass(w.category, CQMetricWarning):
            note(f"warning: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result


def emit(result: Any, args: argparse.Namespace) -> None:
    """Print the result's table (or JSON with --json), or write it to -o (JSON when the name ends in .json)."""
    as_json = args.json or (args.output is not None and args.output.lower().endswith(".json"))
    text = result.to_json() if as_json else str(result)
    if args.output:
        from cqmetric.io import write_text

        write_text(args.output, text + "\n", where=args.command)
        note(f"wrote {args.output}.")
    else:
        print(text)


def check_output(args: argparse.Namespace, where: str, *, inputs: list[str]) -> None:
    """`-o FILE` checked before any statistics run (a folder, a missing folder, an input file)."""
    if args.output:
        from cqmetric.io import check_output_path

        check_output_path(args.output, inputs=inputs, where=where)


def add_statistics_options(parser: argparse.ArgumentParser, *, n_boot: int) -> None:
    parser.add_argument("--n-boot", type=int, default=n_boot, metavar="N",
                        help=f"bootstrap resamples (default {n_boot}; 0: no intervals)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"bootstrap seed (default {SEED})")
    parser.add_argument("--confidence", type=float, default=CONFIDENCE, help=f"interval level (default {CONFIDENCE})")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("-o", "--output", default=None, metavar="FILE",
                        help="write to FILE instead of printing (JSON when it ends in .json)")
