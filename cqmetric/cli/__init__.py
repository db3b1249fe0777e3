"""The `cqmetric` command line.

Subcommands:
    score    score the texts of a JSONL/CSV file row by row (resumable), writing JSONL/CSV.
    report   reliability of metric scores against expert ratings or preference judgements.
    compare  two models' scores on the same items: the difference and its uncertainty.
    cqa      score items with a base and tuned checkpoints: Delta(Delta I) per group (the CQA experiment).
    demo     score the bundled example stories with the embedded model.

Errors in the input print one line, `cqmetric: error: ...`, and exit with status 2; other errors (a model
that cannot be loaded) exit with status 1. An existing output file is replaced only once the new output is
complete. Each subcommand lives in a module of its own (`score`, `analyze`, `preference`, `cqa`); `common` holds
what they share.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cqmetric.cli.score import ADDED_FIELDS
from cqmetric.errors import CQMetricError, InputValidationError

__all__ = ["main", "build_parser", "ADDED_FIELDS"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `cqmetric` command."""
    from cqmetric.cli import analyze, cqa, score
    from cqmetric.version import __version__

    parser = argparse.ArgumentParser(prog="cqmetric", description="Creative-quality metrics from LM likelihoods.")
    parser.add_argument("--version", action="version", version=f"cqmetric {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    score.add_score_parser(sub)
    analyze.add_parsers(sub)
    cqa.add_parser(sub)
    score.add_demo_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments (default: `sys.argv[1:]`).

    Returns:
        The exit status: 0 on success, 2 for bad input, 1 for other errors, 130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except InputValidationError as exc:
        print(f"cqmetric: error: {exc}", file=sys.stderr)
        return 2
    except CQMetricError as exc:
        print(f"cqmetric: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cqmetric: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`cqmetric report ... | head`)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
