"""`cqmetric report` (scores against ratings or preference judgements) and `cqmetric compare` (two models)."""

from __future__ import annotations

import argparse
from typing import Any

from cqmetric.cli.common import (
    add_statistics_options,
    check_output,
    emit,
    note,
    reliability_function,
    run_statistics,
)
from cqmetric.cli.preference import add_report_options, run_preference_report
from cqmetric.errors import InputValidationError
from cqmetric.resampling import N_BOOT


def add_parsers(sub: Any) -> None:
    """The `report` and `compare` subcommands."""
    rp = sub.add_parser(
        "report", help="reliability of scores against expert ratings or preference judgements",
        description="Correlate score columns (and baselines) with each rating criterion, beside the human "
                    "ceiling (cqmetric.reliability.report), or with --judgements the pairwise accuracy of each "
                    "score column and each baseline both ways beside the judges' ceiling "
                    "(cqmetric.reliability.preference_report). Items are joined on --id-field.",
    )
    rp.add_argument("scores", metavar="SCORES", help="scores file (.jsonl/.csv): an id field and score columns")
    rp.add_argument("--ratings", default=None, metavar="RATINGS",
                    help="ratings file (.jsonl/.csv): an id field, criteria columns, optional rater/group/system")
    rp.add_argument("--id-field", default="id", metavar="F", help="item id field in both files (default: id)")
    rp.add_argument("--score-field", action="append", metavar="F",
                    help="score column (repeatable; default: calibrated_surprise, surprise, residual if present)")
    rp.add_argument("--baseline-field", action="append", metavar="F",
                    help="baseline column of the scores file, e.g. n_tokens (repeatable)")
    rp.add_argument("--criteria", nargs="+", metavar="C",
                    help="criteria columns of the ratings file (default: every other column)")
    rp.add_argument("--rater-field", default=None, metavar="F",
                    help="rater column (one row per item and rater); needed for the human ceiling")
    rp.add_argument("--group-field", default=None, metavar="F", help="group (prompt/story) column")
    rp.add_argument("--system-field", default=None, metavar="F", help="system (model) column")
    rp.add_argument("--method", default="spearman", help="spearman (default), kendall or pearson")
    rp.add_argument("--level", default="item", help="item (default), group or system")
    rp.add_argument("--center-raters", action="store_true", help="remove rater leniency before averaging")
    rp.add_argument("--no-ceiling", action="store_true", help="leave out the human-ceiling row")
    rp.add_argument("--nan-policy", default="propagate",
                    help="missing ratings: propagate (default: NaN results, with a warning), omit or raise")
    add_report_options(rp)
    add_statistics_options(rp, n_boot=N_BOOT)
    rp.set_defaults(func=run_report)


    cp = sub.add_parser(
        "compare", help="compare two models' scores on the same items (Delta I)",
        description="Per-item differences d = B - A of one score column, joined on --id-field: mean and median "
                    "with bootstrap CIs, Wilcoxon test, Cohen's d_z, per group and between two groups "
                    "(cqmetric.reliability.compare_models).",
    )
    cp.add_argument("a", metavar="A", help="scores of the baseline model (.jsonl/.csv)")
    cp.add_argument("b", metavar="B", help="scores of the other model on the same items (.jsonl/.csv)")
    cp.add_argument("--score-field", default="calibrated_surprise", metavar="F",
                    help="score column (default: calibrated_surprise)")
    cp.add_argument("--id-field", default="id", metavar="F", help="item id field in both files (default: id)")
    cp.add_argument("--group-field", default=None, metavar="G", help="group label column (e.g. domain)")
    cp.add_argument("--contrast", nargs=2, metavar=("G1", "G2"), help="the two groups to contrast")
    cp.add_argument("--alternative", default="greater", help="greater (default: B > A), less or two-sided")
    add_statistics_options(cp, n_boot=N_BOOT)
    cp.set_defaults(func=run_compare)



def _warn_on_other_settings(a_tbl: Any, b_tbl: Any) -> None:
    """Warn when two score files were made with settings that differ in more than the model (units, template...).

    `compare` measures a model's effect: any other setting that differs (bits/token against bits/byte, another
    template) makes the difference mean something else, so it is named.
    """
    from cqmetric.signature import Signature

    def settings(tbl: Any) -> dict[str, str] | None:
        values = {str(r.get("signature")) for r in tbl.rows if r.get("signature")}
        if len(values) != 1:
            return None
        try:
            found = Signature.parse(values.pop()).to_dict()
        except InputValidationError:
            return None
        return {k: v for k, v in found.items() if k not in ("model", "version")}

    a, b = settings(a_tbl), settings(b_tbl)
    if a is None or b is None:
        return
    differ = [f"{k} ({a.get(k)} vs {b.get(k)})" for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]
    if differ:
        note(f"warning: the two files differ in more than the model: {', '.join(differ)}; the differences then "
              "measure those settings too.")


def _labels_for(where: str, field: str, option: str, keys: list[str], sources: list[tuple[Any, dict[str, list[int]]]]) -> list[str]:
    """One label per item from the first table that has `field`; all rows of an item must agree."""
    from cqmetric import io

    for table, rows_of in sources:
        if field not in table.fieldnames:
            continue
        values = io.column(table, field, where=where, option=option, kind="label")
        out = []
        for key in keys:
            rows = rows_of[key]
            labels = {values[r] for r in rows}
            if len(labels) > 1:
                raise InputValidationError(
                    f"{where}: {table.where(rows[1])}: expected one {field!r} per item, got {sorted(labels)} for "
                    f"item {key!r}."
                )
            out.append(values[rows[0]])
        return out
    names = " or ".join(str(t.path) for t, _ in sources)
    raise InputValidationError(f"{where}: expected field {field!r} (from {option}) in {names}, got no such field.")


def run_report(args: argparse.Namespace) -> int:
    """`cqmetric report`: join scores and ratings on the id field and run `cqmetric.reliability.report`."""
    import numpy as np

    from cqmetric import io

    where = "report"
    if args.judgements is not None:  # preferences: cqmetric/cli/preference.py
        return run_preference_report(args)
    if args.ratings is None:
        raise InputValidationError(f"{where}: expected --ratings or --judgements, got neither.")
    report = reliability_function("report")
    check_output(args, where, inputs=[args.scores, args.ratings])
    scores_tbl = io.read_table(args.scores, where=where)
    ratings_tbl = io.read_table(args.ratings, where=where)
    ids = io.index_by(scores_tbl, args.id_field, where=where, option="--id-field")
    keys = list(ids)

    # By default every score column with at least one value (a run without constraints leaves
    # calibrated_surprise and residual empty in every row); a value missing in some rows counts as missing.
    score_fields = args.score_field or [
        f for f in ("calibrated_surprise", "surprise", "residual")
        if f in scores_tbl.fieldnames and any(r.get(f) not in (None, "") for r in scores_tbl.rows)
    ]
    if not score_fields:
        raise InputValidationError(
            f"{where}: expected score columns in {str(scores_tbl.path)!r} (calibrated_surprise, surprise, residual, "
            f"or name them with --score-field), got fields {', '.join(scores_tbl.fieldnames)}."
        )
    scores = {f: io.column(scores_tbl, f, where=where, option="--score-field", kind="rating") for f in score_fields}
    for f, values in scores.items():
        missing = [i for i, v in enumerate(values) if v != v]
        if missing:
            note(f"{f}: {len(missing)} of {len(values)} row(s) have no value (first: {scores_tbl.where(missing[0])}); "
                  f"they count as missing (--nan-policy {args.nan_policy}).")
    baselines = {f: io.column(scores_tbl, f, where=where, option="--baseline-field", kind="number")
                 for f in args.baseline_field or []}

    rating_ids = io.column(ratings_tbl, args.id_field, where=where, option="--id-field", kind="label")
    rows_of: dict[str, list[int]] = {}
    for r, key in enumerate(rating_ids):
        rows_of.setdefault(key, []).append(r)
    unscored = [k for k in rows_of if k not in ids]
    missing = [k for k in keys if k not in rows_of]
    if missing:
        raise InputValidationError(
            f"{where}: {scores_tbl.where(ids[missing[0]])}: expected ratings for item {missing[0]!r} in "
            f"{str(ratings_tbl.path)!r}, got none ({len(missing)} scored item(s) have no ratings)."
        )
    if unscored:
        note(f"ignoring {len(unscored)} rated item(s) without scores (first: {unscored[0]!r}).")

    reserved = {args.id_field, args.rater_field, args.group_field, args.system_field} - {None}
    criteria = args.criteria or [f for f in ratings_tbl.fieldnames if f not in reserved]
    if not criteria:
        raise InputValidationError(f"{where}: expected criteria columns in {str(ratings_tbl.path)!r}, got none.")
    named = "--criteria" if args.criteria else (
        "a criterion by default; choose criteria with --criteria, or name this column with --rater-field, "
        "--group-field or --system-field")
    values = {c: io.column(ratings_tbl, c, where=where, option=named, kind="rating") for c in criteria}
    if args.rater_field:
        raters = io.column(ratings_tbl, args.rater_field, where=where, option="--rater-field", kind="label")
        names = sorted(set(raters))  # columns in a fixed order, whatever the row order
        ratings = {c: np.full((len(keys), len(names)), np.nan) for c in criteria}
        seen: dict[tuple[str, str], int] = {}
        for item, key in enumerate(keys):
            for r in rows_of[key]:
                if (key, raters[r]) in seen:
                    raise InputValidationError(
                        f"{where}: {ratings_tbl.where(r)}: expected one rating of item {key!r} by rater "
                        f"{raters[r]!r}, got another (first at line {ratings_tbl.lines[seen[key, raters[r]]]})."
                    )
                seen[key, raters[r]] = r
                for c in criteria:
                    ratings[c][item, names.index(raters[r])] = values[c][r]
    else:
        repeated = next((k for k in keys if len(rows_of[k]) > 1), None)
        if repeated is not None:
            r = rows_of[repeated][1]
            raise InputValidationError(
                f"{where}: {ratings_tbl.where(r)}: expected one row per item without --rater-field, got item "
                f"{repeated!r} again; name the rater column with --rater-field."
            )
        ratings = {c: np.array([values[c][rows_of[k][0]] for k in keys]) for c in criteria}

    sources = [(ratings_tbl, rows_of), (scores_tbl, {k: [i] for k, i in ids.items()})]
    groups = _labels_for(where, args.group_field, "--group-field", keys, sources) if args.group_field else None
    systems = _labels_for(where, args.system_field, "--system-field", keys, sources) if args.system_field else None
    order = [ids[k] for k in keys]
    result = run_statistics(
        where, report,
        {f: [v[i] for i in order] for f, v in scores.items()}, ratings,
        baselines={f: [v[i] for i in order] for f, v in baselines.items()} or None,
        method=args.method, level=args.level, groups=groups, systems=systems, ceiling=not args.no_ceiling,
        center_raters=args.center_raters, n_boot=args.n_boot, seed=args.seed, confidence=args.confidence,
        nan_policy=args.nan_policy,
    )
    emit(result, args)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """`cqmetric compare`: join two score files on the id field and run `cqmetric.reliability.compare_models`."""
    from cqmetric import io

    where = "compare"
    compare_models = reliability_function("compare_models")
    check_output(args, where, inputs=[args.a, args.b])
    if args.contrast and not args.group_field:
        raise InputValidationError(
            f"{where}: --contrast {' '.join(args.contrast)} compares two groups; expected --group-field naming the "
            "group column, got none.")
    a_tbl = io.read_table(args.a, where=where)
    b_tbl = io.read_table(args.b, where=where)
    a_ids = io.index_by(a_tbl, args.id_field, where=where, option="--id-field")
    b_ids = io.index_by(b_tbl, args.id_field, where=where, option="--id-field")
    for x_ids, x_tbl, y_ids, y_tbl in ((a_ids, a_tbl, b_ids, b_tbl), (b_ids, b_tbl, a_ids, a_tbl)):
        absent = [k for k in x_ids if k not in y_ids]
        if absent:
            raise InputValidationError(
                f"{where}: {x_tbl.where(x_ids[absent[0]])}: expected item {absent[0]!r} in {str(y_tbl.path)!r} too "
                f"(the files must score the same items), got {len(absent)} item(s) missing there."
            )
    keys = list(a_ids)
    a = io.column(a_tbl, args.score_field, where=where, option="--score-field", kind="number")
    b = io.column(b_tbl, args.score_field, where=where, option="--score-field", kind="number")
    groups = None
    if args.group_field:
        sources = [(a_tbl, {k: [i] for k, i in a_ids.items()}), (b_tbl, {k: [i] for k, i in b_ids.items()})]
        groups = _labels_for(where, args.group_field, "--group-field", keys, sources)
    for tbl in (a_tbl, b_tbl):
        if "signature" in tbl.fieldnames and len({str(r.get("signature")) for r in tbl.rows}) > 1:
            note(f"warning: {tbl.path} mixes rows of several signatures (settings).")
    _warn_on_other_settings(a_tbl, b_tbl)
    contrast = tuple(args.contrast) if args.contrast else None
    result = run_statistics(
        where, compare_models, [a[a_ids[k]] for k in keys], [b[b_ids[k]] for k in keys], groups=groups,
        alternative=args.alternative, contrast=contrast, n_boot=args.n_boot, seed=args.seed,
        confidence=args.confidence,
    )
    emit(result, args)
    return 0


