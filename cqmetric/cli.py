"""The `cqmetric` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cqmetric.errors import CQMetricError


def _demo(args: argparse.Namespace) -> int:
    from cqmetric.api import score
    from cqmetric.examples import load_examples

    examples = load_examples()
    print(f"Scoring {len(examples)} bundled stories against their prompts with the embedded model...", file=sys.stderr)
    result = score([e["story"] for e in examples], [e["prompt"] for e in examples],
                   batch_size=args.batch_size, progress=True)
    print(result)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cqmetric", description="Creative-quality metrics from LM likelihoods.")
    from cqmetric.version import __version__

    parser.add_argument("--version", action="version", version=f"cqmetric {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="score the bundled example stories with the embedded model")
    demo.add_argument("--batch-size", type=int, default=8)
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CQMetricError as exc:
        print(f"cqmetric: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
