"""`cqmetric cqa`: the CQA experiment from a JSONL file of items, writing the result as JSON.

Each input row holds a group label, a text and its constraint (a prompt string, or a constraint set in its
dict/list form). `cqmetric.cli` registers the subcommand (`add_parser`); everything else is here.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cqmetric.errors import InputValidationError

__all__ = ["add_parser", "items_from_table", "run_command"]


def items_from_table(table: Any, *, group_field: str, text_field: str, constraint_field: str,
                     where: str = "cqa") -> dict[str, list[tuple[str, Any]]]:
    """Group the rows of a table into name -> [(text, constraint), ...], in order of first appearance.

    Raises:
        InputValidationError: a row without a group, a text or a constraint (the message gives file and line).
    """
    from cqmetric import io

    labels = io.column(table, group_field, where=where, option="--group-field", kind="label")
    texts = io.column(table, text_field, where=where, option="--text-field", kind="text")
    constraints = io.column(table, constraint_field, where=where, option="--constraint-field", kind="any")
    groups: dict[str, list[tuple[str, Any]]] = {}
    for i, (label, text, constraint) in enumerate(zip(labels, texts, constraints)):
        if constraint is None or (isinstance(constraint, str) and not constraint.strip()) or constraint in ([], {}):
            raise InputValidationError(
                f"{where}: {table.where(i)}: expected field {constraint_field!r} to hold the item's constraint, got "
                f"{constraint!r}; Δ(ΔI) needs every item's constraints."
            )
        groups.setdefault(label, []).append((text, constraint))
    return groups


def run_command(args: argparse.Namespace) -> int:
    """Read the items, check the output path, run `run_cqa`, write the result JSON (and print its table)."""
    from cqmetric import io
    from cqmetric.research.cqa import run_cqa

    where = "cqa"
    io.check_output_path(args.output, inputs=[args.input], where=where)
    if io.file_format(args.input, where=where) != "jsonl":
        raise InputValidationError(f"{where}: expected the items as a .jsonl file, got {args.input!r}.")
    table = io.read_table(args.input, where=where)
    groups = items_from_table(table, group_field=args.group_field, text_field=args.text_field,
                              constraint_field=args.constraint_field, where=where)
    checkpoints: Any = args.checkpoint
    if args.label:
        if len(args.label) != len(args.checkpoint):
            raise InputValidationError(
                f"{where}: expected one --label per --checkpoint, got {len(args.label)} label(s) for "
                f"{len(args.checkpoint)} checkpoint(s)."
            )
        checkpoints = dict(zip(args.label, args.checkpoint))
    result = run_cqa(args.base, checkpoints, groups, contrast=tuple(args.contrast) if args.contrast else None,
                     n_boot=args.n_boot, seed=args.seed, confidence=args.confidence, batch_size=args.batch_size,
                     progress=not args.quiet)
    io.write_text(args.output, result.to_json(per_token=args.per_token) + "\n", where=where)
    if not args.quiet:
        print(result)
    print(f"cqmetric: wrote {args.output}.", file=sys.stderr)
    return 0


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `cqa` on the `cqmetric` command's subparsers."""
    from cqmetric.cli.common import positive_int
    from cqmetric.resampling import CONFIDENCE, N_BOOT, SEED

    p = sub.add_parser(
        "cqa", help="how tuning changes what the constraints tell about texts (Δ(ΔI)), per group",
        description="Score the items of ITEMS (JSONL: group, text, constraint) with the base model and each tuned "
                    "checkpoint (a full model folder or a PEFT LoRA adapter), and write per checkpoint and group "
                    "the Δ(ΔI) statistics with Holm's correction across checkpoints (cqmetric.research.cqa).",
    )
    p.add_argument("input", metavar="ITEMS", help="items file (.jsonl): one row per item")
    p.add_argument("-o", "--output", required=True, metavar="OUT.json", help="where to write the result JSON")
    p.add_argument("--checkpoint", action="append", required=True, metavar="DIR",
                   help="a tuned model folder or LoRA adapter folder (repeatable)")
    p.add_argument("--label", action="append", metavar="NAME", help="a label per --checkpoint (default: folder names)")
    p.add_argument("--base", default=None, metavar="DIR", help="the base model folder (default: the embedded model)")
    p.add_argument("--group-field", default="group", metavar="F", help="group field (default: group)")
    p.add_argument("--text-field", default="text", metavar="F", help="text field (default: text)")
    p.add_argument("--constraint-field", default="constraint", metavar="F",
                   help="constraint field (default: constraint)")
    p.add_argument("--contrast", nargs=2, metavar=("G1", "G2"), help="contrast mean Δ(ΔI) of G1 - G2")
    p.add_argument("--n-boot", type=int, default=N_BOOT, metavar="N", help=f"bootstrap resamples (default {N_BOOT})")
    p.add_argument("--seed", type=int, default=SEED, help=f"bootstrap seed (default {SEED})")
    p.add_argument("--confidence", type=float, default=CONFIDENCE, help=f"interval level (default {CONFIDENCE})")
    p.add_argument("--batch-size", type=positive_int, default=None, help="sequences per forward pass")
    p.add_argument("--per-token", action="store_true", help="also write the per-token log-probs (large)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars and no table")
    p.set_defaults(func=run_command)
    return p
