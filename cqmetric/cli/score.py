"""`cqmetric score` (score every row of a file, resumably) and `cqmetric demo`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cqmetric.cli.common import non_negative_int, note, positive_int
from cqmetric.errors import CQMetricError, InputValidationError

DEFAULT_CHUNK_SIZE = 64


SCORE_FIELDS = ("calibrated_surprise", "surprise", "residual", "n_tokens")
ADDED_FIELDS = (*SCORE_FIELDS, "signature")


def add_score_parser(sub: Any) -> None:
    """The `score` subcommand."""
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
                    help="also compute freshness, the recommended score (Freshness: needs --constraint-field; "
                         "no pass beyond the default two, plus the bundled reference set once per model)")
    sc.add_argument("--scorer", action="append", default=None, metavar="SPEC",
                    help="also compute this scorer, named as a signature names it, e.g. "
                         "'order_calibration(unit=sentence)' or 'length(unit=word)', or a fitted-scorer file "
                         "(fit_to_experts(...).save('fit.json')) (repeatable)")
    sc.add_argument("--details", action="store_true",
                    help="add each text's per-token surprisal (s, and c and i with constraints) under `tokens`")
    add_options(sc)
    sc.add_argument("--chunk-size", type=positive_int, default=DEFAULT_CHUNK_SIZE, metavar="C",
                    help=f"rows scored and saved together (default {DEFAULT_CHUNK_SIZE}); part of the resume key")
    sc.add_argument("--resume", action="store_true",
                    help="continue an interrupted run from OUT.progress.jsonl, or keep the rows of an existing OUT "
                         "that match the input and the settings (rows of other settings are redone)")
    sc.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sc.set_defaults(func=run_score)


def add_demo_parser(sub: Any) -> None:
    """The `demo` subcommand."""
    demo = sub.add_parser("demo", help="score the bundled example stories with the embedded model")
    demo.add_argument("--batch-size", type=positive_int, default=None,
                      help="sequences per forward pass (default: 1 on a CPU, 8 on a GPU)")
    demo.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """`cqmetric demo`: score the bundled example stories with the embedded model and print the table."""
    from cqmetric.api import score
    from cqmetric.examples import load_examples

    examples = load_examples()
    print(f"Scoring {len(examples)} bundled stories against their prompts with the embedded model...", file=sys.stderr)
    result = score([e["story"] for e in examples], [e["prompt"] for e in examples],
                   batch_size=args.batch_size, progress=True)
    print(result)
    return 0


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The `ScoreOptions` fields given on the command line (flags made from the fields, see `_add_options`)."""
    from cqmetric.options import option_fields

    return {f.name: getattr(args, f.name) for f in option_fields(cli_only=True) if getattr(args, f.name) is not None}


def run_score(args: argparse.Namespace) -> int:
    """`cqmetric score`: check everything, score fixed chunks, save each chunk, then write OUT atomically.

    Rows [k*C, (k+1)*C) form chunk k, so a resumed run feeds the model the same batches as an uninterrupted
    one. Each finished chunk is appended to `OUT.progress.jsonl` (fsynced) with its row indices, input-row
    hashes and the resume key (signature, chunk size, batch size); `--resume` reuses only matching chunks. The
    input, the options and the output path are all checked before the model loads, and `OUT.lock` keeps two
    runs from writing the same output.
    """
    from cqmetric import io, resume
    from cqmetric.api import build_signature, get_backend, score
    from cqmetric.options import ScoreOptions
    from cqmetric.settings import ModelSettings

    where = "score"
    opts = ScoreOptions.from_settings(where, n_boot=0, details=bool(args.details), **_settings(args))
    out_path = Path(args.output)
    out_format = io.file_format(out_path, where=where)
    io.check_output_path(out_path, inputs=[args.input], where=where)
    table = io.read_table(args.input, where=where)
    texts = io.column(table, args.text_field, where=where, option="--text-field")
    constraints = (io.column(table, args.constraint_field, where=where, option="--constraint-field")
                   if args.constraint_field else None)
    if args.recommended and constraints is None:
        raise InputValidationError(
            f"{where}: --recommended (Freshness) reads each text's surprisal under its constraints; expected "
            "--constraint-field, got none."
        )
    scorers = _scorers(args)
    added = _added_fields(scorers, opts, constrained=constraints is not None)
    for i, row in enumerate(table.rows):
        clash = [k for k in added if k in row]
        if clash:
            raise InputValidationError(
                f"{where}: {table.where(i)}: expected no field named {clash[0]!r} (the output adds it), "
                f"got a row with it; rename that field in the input."
            )

    with resume.OutputLock(out_path, where=where):
        # The model settings go to the backend once; each chunk's call then passes the rest (batching included).
        backend = get_backend(args.model, settings=opts.model) if args.server is None else _server_backend(args, opts)
        opts = ScoreOptions.from_settings(where, opts, model=ModelSettings())
        signature = build_signature(backend, constrained=constraints is not None, options=opts,
                                    scorers=scorers).format()
        return _score_rows(args, opts, backend, signature, table, texts, constraints, out_path, out_format, score,
                           scorers=scorers, added=added)


def _scorers(args: argparse.Namespace) -> list[Any] | None:
    """The scorers beside the defaults: the recommended one (Freshness) with --recommended, and each --scorer SPEC,
    built now (a bad spec is an input error before any model loads)."""
    from cqmetric.recommended import recommended_scorer
    from cqmetric.scorers import from_text

    scorers = ([recommended_scorer()] if args.recommended else []) + [from_text(text) for text in args.scorer or []]
    return scorers or None


def _added_fields(scorers: list[Any] | None, opts: Any, *, constrained: bool) -> tuple[str, ...]:
    """The fields the output adds to every input row: the extra scorers' names first, then the default scores,
    the per-token detail with --details, n_tokens and the signature."""
    from cqmetric.scorers import resolve_scorers

    names = resolve_scorers("score", scorers, constrained=constrained, estimator=opts.estimator,
                            normalization=opts.normalization)
    extra = tuple(n for n in names if n not in SCORE_FIELDS)
    return (*extra, *SCORE_FIELDS[:-1], *(("tokens",) if opts.details else ()), "n_tokens", "signature")


def _server_backend(args: argparse.Namespace, opts: Any) -> Any:
    from cqmetric.backends.server import ServerBackend

    if args.model is not None:
        raise InputValidationError("score: expected --model or --server, got both; --server scores with the server's model.")
    for flag, value in (("--device", opts.model.device), ("--batch-size", opts.batch.batch_size),
                        ("--batch-tokens", opts.batch.batch_tokens)):
        if value is not None:
            raise InputValidationError(f"score: {flag} does not apply with --server (the server runs and batches the "
                                       "model).")
    return ServerBackend(args.server, model=args.server_model, tokenizer=args.tokenizer, settings=opts.model)


def _score_rows(args: argparse.Namespace, opts: Any, backend: Any, signature: str, table: Any, texts: list[str],
                constraints: list[Any] | None, out_path: Path, out_format: str, score: Any, *,
                scorers: list[Any] | None, added: tuple[str, ...]) -> int:
    from cqmetric import io, resume

    where = "score"
    n = len(table)
    chunk = args.chunk_size
    hashes = [resume.row_hash(row, args.text_field, args.constraint_field) for row in table.rows]
    sidecar_path = resume.progress_path(out_path)
    key = {"signature": signature, "chunk_size": chunk, "batch_size": opts.batch.batch_size,
           "batch_tokens": opts.batch.batch_tokens or 0}
    progress = resume.ProgressFile(sidecar_path, key, chunk)
    done: dict[int, dict[str, Any]] = {}
    if args.resume and sidecar_path.exists():
        done = progress.load(hashes)
        note(f"resuming: {len(done)} of {n} rows already scored with these settings ({sidecar_path}).")
    elif args.resume and out_path.exists():
        nullable = () if constraints is not None else ("calibrated_surprise", "residual")  # none without prompts
        done = resume.reusable_rows(out_path, table, signature, chunk, added=added, nullable=nullable, where=where)
        note(f"resuming from {out_path} (no progress file): {len(done)} of {n} rows already there with these "
              "settings are kept.")
    elif args.resume:
        note(f"nothing to resume: neither {sidecar_path} nor {out_path} exists; scoring all {n} rows.")
    elif sidecar_path.exists():
        note(f"starting over; the progress of an earlier run in {sidecar_path} is replaced (use --resume to keep it).")
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
                        model=backend, options=opts, scorers=scorers)
            if res.signature.format() != signature:
                raise CQMetricError(f"{where}: the signature changed during the run ({signature} -> {res.signature}).")
            results = [{**rec, "signature": signature} for rec in res.to_records()]
            progress.append(list(idx), hashes, results)
            done.update(zip(idx, results))
            bar.update(len(idx))
    except KeyboardInterrupt:
        bar.close()
        progress.close()
        note(f"interrupted; {len(done)} of {n} rows are saved in {sidecar_path}: rerun with --resume to continue.")
        return 130
    except BaseException:
        bar.close()
        progress.close()
        note(f"{len(done)} of {n} rows are saved in {sidecar_path}: rerun with --resume to continue.")
        raise
    bar.close()

    rows = [{**row, **{k: done[i].get(k) for k in added}} for i, row in enumerate(table.rows)]
    fieldnames = [*table.fieldnames, *added] if out_format == "csv" else None
    io.write_table(out_path, rows, fieldnames=fieldnames, where=where)
    progress.remove()
    note(f"wrote {n} rows to {out_path}.")
    return 0


def add_options(parser: argparse.ArgumentParser) -> None:
    """One flag per command-line field of `ScoreOptions`, with its help text and checks."""
    from cqmetric.options import option_fields

    for f in option_fields(cli_only=True):
        meta = f.metadata
        kind = str if meta["kind"] is not int else (non_negative_int if meta["minimum"] == 0 else positive_int)
        default = None
        shown = " (default: 1 on a CPU, 8 on a GPU)" if f.name == "batch_size" else ""
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=default,
                            choices=meta["choices"], metavar=None if meta["choices"] else "X",
                            help=meta["help"] + shown)


