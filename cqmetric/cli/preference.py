"""`cqmetric report SCORES --judgements FILE`: the preference half of the report command.

`cqmetric.cli.analyze` adds these options to `report` (:func:`add_report_options`) and hands over to
:func:`run_preference_report`
when ``--judgements`` is given. The judgements file (.jsonl or .csv) is in long format, either rankings
(``item``, ``judge``, ``text_id``, ``rank``; 1 = best, equal ranks a tie) or pairs (``item``, ``judge``,
``winner``, ``loser`` and an optional ``tie``); its text ids are the ``--id-field`` values of the scores file.
The table is :func:`cqmetric.reliability.preference_report`'s: each score column, each baseline column in both
directions, and the judges' ceiling, in pairwise accuracy.
"""

from __future__ import annotations

import argparse
from typing import Any

from cqmetric.cli.common import emit, run_statistics
from cqmetric.errors import InputValidationError

__all__ = ["add_report_options", "run_preference_report"]

DEFAULT_SCORE_FIELDS = ("calibrated_surprise", "surprise", "residual")
RATING_OPTIONS = {"criteria": "--criteria", "rater_field": "--rater-field", "group_field": "--group-field",
                  "system_field": "--system-field", "center_raters": "--center-raters"}


def add_report_options(parser: argparse.ArgumentParser) -> None:
    """The preference options of `cqmetric report`."""
    parser.add_argument("--judgements", default=None, metavar="JUDGEMENTS",
                        help="preference judgements file (.jsonl/.csv) instead of --ratings: rankings (item, judge, "
                             "text_id, rank; 1 = best) or pairs (item, judge, winner, loser[, tie]); text ids are "
                             "the --id-field values of SCORES")
    parser.add_argument("--judgement-ties", default="drop", choices=("drop", "half"),
                        help="with --judgements: a tied judgement is left out (drop, default) or credited 0.5 (half)")
    parser.add_argument("--score-ties", default="half", choices=("half", "drop", "loss"),
                        help="with --judgements: equal scores on a judged pair count 0.5 (half, default), are left "
                             "out (drop) or count 0 (loss)")
    parser.add_argument("--lower-is-better", action="append", default=None, metavar="F",
                        help="with --judgements: score column whose lower values predict the preferred text "
                             "(repeatable)")


def _judgement_columns(where: str, table: Any) -> dict[str, list[Any]]:
    from cqmetric import io

    names = set(table.fieldnames)
    if {"text_id", "rank"} <= names:
        kinds = {"item": "label", "judge": "label", "text_id": "label", "rank": "number"}
    elif {"winner", "loser"} <= names:
        kinds = {"item": "label", "judge": "label", "winner": "label", "loser": "label"}
        if "tie" in names:
            kinds["tie"] = "any"
    else:
        raise InputValidationError(
            f"{where}: expected the judgements file {str(table.path)!r} to have fields item, judge, text_id, rank "
            f"(rankings) or item, judge, winner, loser[, tie] (pairs), got {', '.join(table.fieldnames)}."
        )
    return {c: io.column(table, c, where=where, option="--judgements", kind=k) for c, k in kinds.items()}


def run_preference_report(args: argparse.Namespace) -> int:
    """Read SCORES and the judgements, run `preference_report`, print or write the result."""
    from cqmetric import io
    from cqmetric.reliability.preference_report import preference_report

    where = "report"
    if args.ratings is not None:
        raise InputValidationError(f"{where}: expected --ratings or --judgements, got both.")
    used = [flag for name, flag in RATING_OPTIONS.items() if getattr(args, name, None)]
    used += [f"--{k} {getattr(args, k)}" for k, d in (("method", "spearman"), ("level", "item"))
             if getattr(args, k) != d]
    if used:
        raise InputValidationError(f"{where}: {', '.join(used)} apply to --ratings, not to --judgements.")
    scores_tbl = io.read_table(args.scores, where=where)
    ids = io.index_by(scores_tbl, args.id_field, where=where, option="--id-field")
    score_fields = args.score_field or [
        f for f in DEFAULT_SCORE_FIELDS
        if f in scores_tbl.fieldnames and any(r.get(f) not in (None, "") for r in scores_tbl.rows)
    ]
    if not score_fields:
        raise InputValidationError(
            f"{where}: expected score columns in {str(scores_tbl.path)!r} ({', '.join(DEFAULT_SCORE_FIELDS)}, or name "
            f"them with --score-field), got fields {', '.join(scores_tbl.fieldnames)}."
        )
    flipped = [f for f in args.lower_is_better or [] if f not in score_fields]
    if flipped:
        raise InputValidationError(
            f"{where}: expected --lower-is-better to name score columns ({', '.join(score_fields)}), got {flipped}."
        )
    keys = list(ids)

    def by_id(field: str, option: str, kind: str) -> dict[str, float]:
        values = io.column(scores_tbl, field, where=where, option=option, kind=kind)
        return {k: values[ids[k]] for k in keys}

    scores = {f: by_id(f, "--score-field", "rating") for f in score_fields}
    baselines = {f: by_id(f, "--baseline-field", "number") for f in args.baseline_field or []}
    judgements = _judgement_columns(where, io.read_table(args.judgements, where=where))
    result = run_statistics(
        where, preference_report, scores, judgements, baselines=baselines or None,
        higher_is_better={f: f not in (args.lower_is_better or []) for f in score_fields},
        judgement_ties=args.judgement_ties, score_ties=args.score_ties, ceiling=not args.no_ceiling,
        n_boot=args.n_boot, seed=args.seed, confidence=args.confidence, nan_policy=args.nan_policy,
    )
    emit(result, args)
    return 0
