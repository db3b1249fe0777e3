"""The `cqmetric` command line.

Subcommands:
    score    score the texts of a JSONL/CSV file row by row (resumable), writing JSONL/CSV.
    report   reliability of metric scores against expert ratings.
    compare  two models' scores on the same items: the difference and its uncertainty.
    cqa      score items with a base and tuned checkpoints: Delta(Delta I) per group (cqmetric.research.cqa_cli).
    demo     score the bundled example stories with the embedded model.

Errors in the input print one line, `cqmetric: error: ...`, and exit with status 2; other errors (a model
that cannot be loaded) exit with status 1. An existing output file is replaced only once the new output is
complete.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cqmetric.errors import CQMetricError, InputValidationError

SCORE_FIELDS = ("calibrated_surprise", "surprise", "residual", "n_tokens")
ADDED_FIELDS = (*SCORE_FIELDS, "signature")
RECOMMENDED_FIELD = "creative_quality"
DEFAULT_CHUNK_SIZE = 64


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _note(message: str) -> None:
    print(f"cqmetric: {message}", file=sys.stderr, flush=True)


# -- demo ---------------------------------------------------------------------------------------------------
def _demo(args: argparse.Namespace) -> int:
    """`cqmetric demo`: score the bundled example stories with the embedded model and print the table."""
    from cqmetric.api import score
    from cqmetric.examples import load_examples

    examples = load_examples()
    print(f"Scoring {len(examples)} bundled stories against their prompts with the embedded model...", file=sys.stderr)
    result = score([e["story"] for e in examples], [e["prompt"] for e in examples],
                   batch_size=args.batch_size, progress=True)
    print(result)
    return 0


# -- score --------------------------------------------------------------------------------------------------
def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The `ScoreOptions` fields given on the command line (flags made from the fields, see `_add_options`)."""
    from cqmetric.options import option_fields

    return {f.name: getattr(args, f.name) for f in option_fields(cli_only=True) if getattr(args, f.name) is not None}


def _score(args: argparse.Namespace) -> int:
    """`cqmetric score`: check everything, score fixed chunks, save each chunk, then write OUT atomically.

    Rows [k*C, (k+1)*C) form chunk k, so a resumed run feeds the model the same batches as an uninterrupted
    one. Each finished chunk is appended to `OUT.progress.jsonl` (fsynced) with its row indices, input-row
    hashes and the resume key (signature, chunk size, batch size); `--resume` reuses only matching chunks. The
    input, the options and the output path are all checked before the model loads, and `OUT.lock` keeps two
    runs from writing the same output.
    """
    from cqmetric import io
    from cqmetric.api import build_signature, get_backend, score
    from cqmetric.options import ScoreOptions

    where = "score"
    opts = ScoreOptions.from_settings(where, n_bootstrap=0, **_settings(args))
    out_path = Path(args.output)
    out_format = io.file_format(out_path, where=where)
    io.check_output_path(out_path, inputs=[args.input], where=where)
    table = io.read_table(args.input, where=where)
    texts = io.column(table, args.text_field, where=where, option="--text-field")
    constraints = (io.column(table, args.constraint_field, where=where, option="--constraint-field")
                   if args.constraint_field else None)
    if args.recommended and constraints is None:
        raise InputValidationError(
            f"{where}: --recommended (CreativeQuality) judges each text against its constraints; expected "
            "--constraint-field, got none."
        )
    for i, row in enumerate(table.rows):
        clash = [k for k in _added_fields(args) if k in row]
        if clash:
            raise InputValidationError(
                f"{where}: {table.where(i)}: expected no field named {clash[0]!r} (the output adds it), "
                f"got a row with it; rename that field in the input."
            )

    with io.OutputLock(out_path, where=where):
        settings = opts.backend_settings()
        if args.server is None:
            backend = get_backend(args.model, **settings)
        else:  # the server's backend takes the window and start-token settings itself; batching is the server's
            backend = get_backend(_server_backend(args, settings))
        signature = build_signature(backend, constrained=constraints is not None, options=opts,
                                    scorers=_scorers(args)).format()
        return _score_rows(args, opts, backend, signature, table, texts, constraints, out_path, out_format, score)


def _scorers(args: argparse.Namespace) -> list[Any] | None:
    """The scorers beside the defaults: the recommended CreativeQuality with --recommended."""
    from cqmetric.recommended import CreativeQuality

    return [CreativeQuality()] if args.recommended else None


def _added_fields(args: argparse.Namespace) -> tuple[str, ...]:
    """The fields the output adds to every input row."""
    return (RECOMMENDED_FIELD, *ADDED_FIELDS) if args.recommended else ADDED_FIELDS


def _server_backend(args: argparse.Namespace, settings: dict[str, Any]) -> Any:
    from cqmetric.backends.server import ServerBackend

    if args.model is not None:
        raise InputValidationError("score: expected --model or --server, got both; --server scores with the server's model.")
    given = {k: v for k, v in settings.items() if v is not None and k in ("start_token", "max_length", "stride", "dtype")}
    if settings.get("device") is not None:
        raise InputValidationError("score: --device does not apply with --server (the server runs the model).")
    return ServerBackend(args.server, model=args.server_model, tokenizer=args.tokenizer, **given)


def _score_rows(args: argparse.Namespace, opts: Any, backend: Any, signature: str, table: Any, texts: list[str],
                constraints: list[Any] | None, out_path: Path, out_format: str, score: Any) -> int:
    from cqmetric import io
    from cqmetric.options import ScoreOptions

    where = "score"
    # The backend already carries the model settings; each chunk's call passes only the rest.
    opts = ScoreOptions.from_settings(where, opts, **{k: None for k in ("dtype", "device", "start_token", "max_length",
                                                                         "stride")})
    n = len(table)
    chunk = args.chunk_size
    hashes = [io.row_hash(row, args.text_field, args.constraint_field) for row in table.rows]
    sidecar_path = io.progress_path(out_path)
    key = {"signature": signature, "chunk_size": chunk, "batch_size": opts.batch_size,
           "batch_tokens": opts.batch_tokens or 0}
    progress = io.ProgressFile(sidecar_path, key, chunk)
    done: dict[int, dict[str, Any]] = {}
    if args.resume and sidecar_path.exists():
        done = progress.load(hashes)
        _note(f"resuming: {len(done)} of {n} rows already scored with these settings ({sidecar_path}).")
    elif args.resume and out_path.exists():
        done = io.reusable_rows(out_path, table, signature, chunk, added=_added_fields(args), where=where)
        _note(f"resuming from {out_path} (no progress file): {len(done)} of {n} rows already there with these "
              "settings are kept.")
    elif args.resume:
        _note(f"nothing to resume: neither {sidecar_path} nor {out_path} exists; scoring all {n} rows.")
    elif sidecar_path.exists():
        _note(f"starting over; the progress of an earlier run in {sidecar_path} is replaced (use --resume to keep it).")
    progress.start(hashes, done)  # rewrites the file with only the reusable rows

    from tqdm.auto import tqdm

    bar = tqdm(total=n, initial=len(done), desc="scoring", unit="text", file=sys.stderr, disable=args.quiet,
               dynamic_ncols=True)
    try:
        for start in range(0, n, chunk):
            idx = range(start, min(start + chunk, n))
            if idx[0] in done:
                continue
            res = score([texts[i] for i in idx], None if constraints is None else [constraints[i] for i in idx],
                        model=backend, options=opts, scorers=_scorers(args))
            if res.signature.format() != signature:
                raise CQMetricError(f"{where}: the signature changed during the run ({signature} -> {res.signature}).")
            results = [{**rec, "signature": signature} for rec in res.to_records()]
            progress.append(list(idx), hashes, results)
            done.update(zip(idx, results))
            bar.update(len(idx))
    except KeyboardInterrupt:
        bar.close()
        progress.close()
        _note(f"interrupted; {len(done)} of {n} rows are saved in {sidecar_path}: rerun with --resume to continue.")
        return 130
    except BaseException:
        bar.close()
        progress.close()
        _note(f"{len(done)} of {n} rows are saved in {sidecar_path}: rerun with --resume to continue.")
        raise
    bar.close()

    added = _added_fields(args)
    rows = [{**row, **{k: done[i].get(k) for k in added}} for i, row in enumerate(table.rows)]
    fieldnames = [*table.fieldnames, *added] if out_format == "csv" else None
    io.write_table(out_path, rows, fieldnames=fieldnames, where=where)
    progress.remove()
    _note(f"wrote {n} rows to {out_path}.")
    return 0


# -- report and compare -------------------------------------------------------------------------------------
def _reliability(name: str) -> Any:
    import importlib

    module = importlib.import_module("cqmetric.reliability")
    if not hasattr(module, name):
        raise CQMetricError(f"this installation's cqmetric.reliability has no `{name}`.")
    return getattr(module, name)


def _run_statistics(where: str, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call `func`, printing cqmetric's warnings (degenerate input) as `cqmetric: warning:` lines."""
    import warnings

    from cqmetric.errors import CQMetricWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CQMetricWarning)
        result = func(*args, **kwargs)
    for w in caught:
        if issubclass(w.category, CQMetricWarning):
            _note(f"warning: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result


def _emit(result: Any, args: argparse.Namespace) -> None:
    """Print the result's table (or JSON with --json), or write it to -o (JSON when the name ends in .json)."""
    as_json = args.json or (args.output is not None and args.output.lower().endswith(".json"))
    text = result.to_json() if as_json else str(result)
    if args.output:
        from cqmetric.io import write_text

        write_text(args.output, text + "\n", where=args.command)
        _note(f"wrote {args.output}.")
    else:
        print(text)


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


def _report(args: argparse.Namespace) -> int:
    """`cqmetric report`: join scores and ratings on the id field and run `cqmetric.reliability.report`."""
    import numpy as np

    from cqmetric import io

    where = "report"
    report = _reliability("report")
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
            _note(f"{f}: {len(missing)} of {len(values)} row(s) have no value (first: {scores_tbl.where(missing[0])}); "
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
        _note(f"ignoring {len(unscored)} rated item(s) without scores (first: {unscored[0]!r}).")

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
    result = _run_statistics(
        where, report,
        {f: [v[i] for i in order] for f, v in scores.items()}, ratings,
        baselines={f: [v[i] for i in order] for f, v in baselines.items()} or None,
        method=args.method, level=args.level, groups=groups, systems=systems, ceiling=not args.no_ceiling,
        center_raters=args.center_raters, n_boot=args.n_boot, seed=args.seed, confidence=args.confidence,
        nan_policy=args.nan_policy,
    )
    _emit(result, args)
    return 0


def _compare(args: argparse.Namespace) -> int:
    """`cqmetric compare`: join two score files on the id field and run `cqmetric.reliability.compare_models`."""
    from cqmetric import io

    where = "compare"
    compare_models = _reliability("compare_models")
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
            _note(f"warning: {tbl.path} mixes rows of several signatures (settings).")
    contrast = tuple(args.contrast) if args.contrast else None
    result = _run_statistics(
        where, compare_models, [a[a_ids[k]] for k in keys], [b[b_ids[k]] for k in keys], groups=groups,
        alternative=args.alternative, contrast=contrast, n_boot=args.n_boot, seed=args.seed,
        confidence=args.confidence,
    )
    _emit(result, args)
    return 0


# -- parser -------------------------------------------------------------------------------------------------
def _add_statistics_options(parser: argparse.ArgumentParser, *, n_boot: int) -> None:
    parser.add_argument("--n-boot", type=int, default=n_boot, metavar="N",
                        help=f"bootstrap resamples (default {n_boot}; 0: no intervals)")
    parser.add_argument("--seed", type=int, default=12345, help="bootstrap seed (default 12345)")
    parser.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("-o", "--output", default=None, metavar="FILE",
                        help="write to FILE instead of printing (JSON when it ends in .json)")


def _add_options(parser: argparse.ArgumentParser) -> None:
    """One flag per command-line field of `ScoreOptions`, with its help text and checks."""
    from cqmetric.options import option_fields

    for f in option_fields(cli_only=True):
        meta = f.metadata
        kind = _positive_int if meta["kind"] is int and f.name != "batch_tokens" else (
            _non_negative_int if meta["kind"] is int else str)
        default = None
        shown = " (default: 1 on a CPU, 8 on a GPU)" if f.name == "batch_size" else ""
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=default,
                            choices=meta["choices"], metavar=None if meta["choices"] else "X",
                            help=meta["help"] + shown)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `cqmetric` command."""
    from cqmetric.version import __version__

    parser = argparse.ArgumentParser(prog="cqmetric", description="Creative-quality metrics from LM likelihoods.")
    parser.add_argument("--version", action="version", version=f"cqmetric {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sc = sub.add_parser(
        "score", help="score every row of a JSONL/CSV file (resumable)",
        description="Score the texts of INPUT (JSONL or CSV) and write every input row with calibrated_surprise, "
                    "surprise, residual (bits per unit), n_tokens and the signature added.",
    )
    sc.add_argument("input", metavar="INPUT", help="input file: .jsonl/.ndjson or .csv")
    sc.add_argument("-o", "--output", required=True, metavar="OUT", help="output file: .jsonl/.ndjson or .csv")
    sc.add_argument("--text-field", default="text", metavar="F", help="field holding the text (default: text)")
    sc.add_argument("--constraint-field", default=None, metavar="G",
                    help="field holding the prompt/constraint; without it only surprise is computed")
    sc.add_argument("--model", default=None, metavar="PATH",
                    help="local causal-LM folder or .gguf file, or vllm:PATH for vLLM in process (default: the "
                         "embedded SmolLM2-135M)")
    sc.add_argument("--server", default=None, metavar="URL",
                    help="score with a running vLLM (or compatible) server's /v1/completions at URL instead")
    sc.add_argument("--server-model", default=None, metavar="NAME", help="with --server: the served model's name")
    sc.add_argument("--tokenizer", default=None, metavar="PATH",
                    help="with --server: local folder of the served model's tokenizer (required)")
    sc.add_argument("--recommended", action="store_true",
                    help="also compute creative_quality, the recommended score (CreativeQuality: needs "
                         "--constraint-field; two more model passes per text)")
    _add_options(sc)
    sc.add_argument("--chunk-size", type=_positive_int, default=DEFAULT_CHUNK_SIZE, metavar="C",
                    help=f"rows scored and saved together (default {DEFAULT_CHUNK_SIZE}); part of the resume key")
    sc.add_argument("--resume", action="store_true",
                    help="continue an interrupted run from OUT.progress.jsonl, or keep the rows of an existing OUT "
                         "that match the input and the settings (rows of other settings are redone)")
    sc.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sc.set_defaults(func=_score)

    rp = sub.add_parser(
        "report", help="reliability of scores against expert ratings",
        description="Correlate score columns (and baselines) with each rating criterion, beside the human "
                    "ceiling (cqmetric.reliability.report). Items are joined on --id-field.",
    )
    rp.add_argument("scores", metavar="SCORES", help="scores file (.jsonl/.csv): an id field and score columns")
    rp.add_argument("--ratings", required=True, metavar="RATINGS",
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
    _add_statistics_options(rp, n_boot=1000)
    rp.set_defaults(func=_report)

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
    _add_statistics_options(cp, n_boot=2000)
    cp.set_defaults(func=_compare)

    from cqmetric.research.cqa_cli import add_parser as add_cqa_parser

    add_cqa_parser(sub)

    demo = sub.add_parser("demo", help="score the bundled example stories with the embedded model")
    demo.add_argument("--batch-size", type=_positive_int, default=None,
                      help="sequences per forward pass (default: 1 on a CPU, 8 on a GPU)")
    demo.set_defaults(func=_demo)
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
