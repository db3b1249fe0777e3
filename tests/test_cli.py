"""The `cqmetric` command line: `score` (exact resume after SIGKILL, formats, errors), `report`, `compare`."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cqmetric.api import score
from cqmetric.cli import ADDED_FIELDS, main

WORDS = ("the cat sat on a mat dog slept by door lighthouse keeper climbed stairs at dawn rain fell town "
         "people learned to swim she opened letter read twice and laughed").split()
# Every subprocess gets the same thread settings, so runs are comparable bit for bit.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def make_rows(n: int, *, seed: int = 0, sentences: int = 3) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        story = " ".join(" ".join(rng.choice(WORDS) for _ in range(10)).capitalize() + "." for _ in range(sentences))
        rows.append({"id": f"s{i}", "story": story, "prompt": f"Write about the {rng.choice(WORDS)}."})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread in this process too (fast and steady on a shared 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def run_cli(tiny_model_dir, capsys):
    """Run `main` in-process with the tiny model; return (exit status, stderr)."""

    def run(*args: str, model: bool = True) -> tuple[int, str]:
        argv = ["score", *args, "-q"] + (["--model", str(tiny_model_dir)] if model else [])
        code = main(argv)
        return code, capsys.readouterr().err

    return run


@pytest.fixture()
def interrupt_after(monkeypatch):
    """Make the n+1-th call of `cqmetric.api.score` raise (KeyboardInterrupt by default)."""
    import cqmetric.api as api

    real = api.score

    def install(n: int, exc: BaseException | type[BaseException] = KeyboardInterrupt) -> list[int]:
        calls: list[int] = []

        def flaky(*args, **kwargs):
            calls.append(len(args[0]))
            if len(calls) > n:
                raise exc
            return real(*args, **kwargs)

        monkeypatch.setattr(api, "score", flaky)
        return calls

    yield install
    monkeypatch.setattr(api, "score", real)


SCORE_ARGS = ("--text-field", "story", "--constraint-field", "prompt", "--chunk-size", "4", "--batch-size", "2")


# -- exact resume after SIGKILL ------------------------------------------------------------------------------
def _complete_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_kill_and_resume_matches_an_uninterrupted_run(tmp_path, tiny_model_dir):
    rows = make_rows(48, seed=1, sentences=4)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out, ref = tmp_path / "out.jsonl", tmp_path / "ref.jsonl"
    sidecar = tmp_path / "out.jsonl.progress.jsonl"
    common = ["--text-field", "story", "--constraint-field", "prompt", "--model", str(tiny_model_dir),
              "--chunk-size", "4", "--batch-size", "1"]
    argv = ["score", str(src), "-o", str(out), *common, "--resume"]
    # The first run sleeps 0.2 s before each chunk (numbers unchanged) so that it is surely killed mid-way.
    slow = ("import sys, time, cqmetric.api as a; real = a.score; "
            "a.score = lambda *x, **k: (time.sleep(0.2), real(*x, **k))[1]; "
            "from cqmetric.cli import main; raise SystemExit(main(sys.argv[1:]))")
    with (tmp_path / "killed.err").open("w") as err:
        proc = subprocess.Popen([sys.executable, "-c", slow, *argv], env=ENV, stdout=subprocess.DEVNULL,
                                stderr=err)
        deadline = time.monotonic() + 120
        while _complete_lines(sidecar) < 4:
            assert proc.poll() is None, (tmp_path / "killed.err").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    saved = _complete_lines(sidecar)
    assert 4 <= saved < 48

    resumed = subprocess.run([sys.executable, "-m", "cqmetric.cli", *argv], env=ENV, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    reused = int(resumed.stderr.split("resuming: ")[1].split(" of 48")[0])
    assert reused >= 4 and reused % 4 == 0 and reused < 48
    assert not sidecar.exists()

    fresh = subprocess.run([sys.executable, "-m", "cqmetric.cli", "score", str(src), "-o", str(ref), *common],
                           env=ENV, capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr
    got, expected = read_jsonl(out), read_jsonl(ref)
    assert len(got) == len(rows) == 48
    assert [r["id"] for r in got] == [r["id"] for r in rows]  # every input row exactly once, in order
    for a, b in zip(got, expected):
        assert a == b  # exact equality of the JSON rows
    assert out.read_bytes() == ref.read_bytes()


# -- in-process runs -----------------------------------------------------------------------------------------
def test_score_jsonl_keeps_fields_and_matches_score(tmp_path, run_cli, tiny_model_dir):
    rows = make_rows(10)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    code, err = run_cli(str(src), "-o", str(out), *SCORE_ARGS)
    assert code == 0, err
    got = read_jsonl(out)
    expected = score([r["story"] for r in rows], [r["prompt"] for r in rows], model=str(tiny_model_dir),
                     n_boot=0)
    for row, line, rec in zip(rows, got, expected.to_records()):
        assert list(line) == [*row, *ADDED_FIELDS]
        assert {k: line[k] for k in row} == row
        assert line["n_tokens"] == rec["n_tokens"]
        for name in ("calibrated_surprise", "surprise", "residual"):
            # Other batches (chunks of 4, batches of 2): equal up to fp32 rounding, as batch invariance promises.
            assert line[name] == pytest.approx(rec[name], rel=1e-6, abs=1e-6)
        assert line["signature"] == expected.signature.format()
    assert not (tmp_path / "out.jsonl.progress.jsonl").exists()


def test_recommended_adds_freshness_as_score_computes_it(tmp_path, run_cli):
    # The embedded model (the default): Freshness's units need a model that finds some tokens near certain, which
    # a tiny random model does not (its error is tested in test_portable.py).
    from cqmetric import Freshness

    rows = make_rows(4, seed=5)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    code, err = run_cli(str(src), "-o", str(out), *SCORE_ARGS, "--recommended", model=False)
    assert code == 0, err
    got = read_jsonl(out)
    expected = score([r["story"] for r in rows], [r["prompt"] for r in rows], scorers=[Freshness()], n_boot=0)
    assert list(got[0]) == [*rows[0], "freshness", *ADDED_FIELDS]
    assert [r["freshness"] for r in got] == pytest.approx(list(expected["freshness"]), rel=1e-5)
    assert "freshness(" in got[0]["signature"] and "creative_quality(" not in got[0]["signature"]
    assert got[0]["signature"] == expected.signature.format()


def test_scorer_specs_and_details_add_what_score_computes(tmp_path, run_cli, tiny_model_dir):
    from cqmetric.scorers import Length, OrderCalibration

    rows = make_rows(5, seed=7)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    code, err = run_cli(str(src), "-o", str(out), *SCORE_ARGS, "--scorer", "order_calibration(unit=sentence)",
                        "--scorer", "length(unit=word)", "--details")
    assert code == 0, err
    got = read_jsonl(out)
    expected = score([r["story"] for r in rows], [r["prompt"] for r in rows], model=str(tiny_model_dir),
                     scorers=[OrderCalibration(unit="sentence"), Length(unit="word")], details=True, n_boot=0)
    assert list(got[0]) == [*rows[0], "order_calibration", "length", *ADDED_FIELDS[:3], "tokens", *ADDED_FIELDS[3:]]
    assert [r["order_calibration"] for r in got] == pytest.approx(list(expected["order_calibration"]), rel=1e-6)
    assert [r["length"] for r in got] == [len(r["story"].split()) for r in rows]
    assert got[0]["tokens"]["s"] == pytest.approx(expected.per_token[0]["s"], rel=1e-6)
    assert got[0]["signature"] == expected.signature.format()
    assert "order_calibration(unit=sentence,normalization=token)+length(unit=word)" in got[0]["signature"]


@pytest.mark.parametrize(("spec", "message"), [("novelty()", "unknown scorer 'novelty'"),
                                               ("length(unit=inches)", "unit='inches'"),
                                               ("length", "expected 'name")])
def test_a_bad_scorer_spec_exits_2_before_the_model_loads(tmp_path, run_cli, spec, message):
    src = write_jsonl(tmp_path / "in.jsonl", make_rows(2))
    code, err = run_cli(str(src), "-o", str(tmp_path / "out.jsonl"), *SCORE_ARGS, "--scorer", spec, model=False)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists()


def test_recommended_without_constraints_exits_2_before_the_model_loads(tmp_path, run_cli):
    src = write_jsonl(tmp_path / "in.jsonl", make_rows(2))
    code, err = run_cli(str(src), "-o", str(tmp_path / "out.jsonl"), "--text-field", "story", "--recommended",
                        model=False)
    assert code == 2 and "--constraint-field" in err and "Traceback" not in err


def test_csv_input_and_output(tmp_path, run_cli):
    rows = make_rows(6, seed=2)
    rows[1]["story"] = rows[1]["story"].replace(". ", ".\n", 1) + ' She said "yes, again".'
    src = tmp_path / "in.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "story", "prompt"])
        writer.writeheader()
        writer.writerows(rows)
    assert run_cli(str(src), "-o", str(tmp_path / "out.csv"), *SCORE_ARGS)[0] == 0
    assert run_cli(str(src), "-o", str(tmp_path / "out.jsonl"), *SCORE_ARGS)[0] == 0
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        table = list(reader)
        assert reader.fieldnames == ["id", "story", "prompt", *ADDED_FIELDS]
    as_json = read_jsonl(tmp_path / "out.jsonl")
    assert [r["story"] for r in table] == [r["story"] for r in rows]
    for cells, line in zip(table, as_json):
        assert float(cells["calibrated_surprise"]) == line["calibrated_surprise"]  # repr round-trips
        assert int(cells["n_tokens"]) == line["n_tokens"]
        assert cells["signature"] == line["signature"]


def test_without_constraint_field_scores_surprise_only(tmp_path, run_cli, tiny_model_dir):
    rows = make_rows(5, seed=3)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    code, err = run_cli(str(src), "-o", str(tmp_path / "out.jsonl"), "--text-field", "story")
    assert code == 0, err
    got = read_jsonl(tmp_path / "out.jsonl")
    expected = score([r["story"] for r in rows], model=str(tiny_model_dir), n_boot=0)
    assert [r["calibrated_surprise"] for r in got] == [None] * 5
    assert [r["residual"] for r in got] == [None] * 5
    assert [r["surprise"] for r in got] == pytest.approx(list(expected["surprise"]), rel=1e-6)


def test_resume_reuses_finished_chunks_exactly(tmp_path, run_cli, interrupt_after):
    src = write_jsonl(tmp_path / "in.jsonl", make_rows(12, seed=4))
    out, ref = tmp_path / "out.jsonl", tmp_path / "ref.jsonl"
    assert run_cli(str(src), "-o", str(ref), *SCORE_ARGS)[0] == 0

    interrupt_after(2)
    code, err = run_cli(str(src), "-o", str(out), *SCORE_ARGS, "--resume")
    assert code == 130 and "rerun with --resume" in err
    assert not out.exists() and _complete_lines(tmp_path / "out.jsonl.progress.jsonl") == 8

    calls = interrupt_after(100)
    code, err = run_cli(str(src), "-o", str(out), *SCORE_ARGS, "--resume")
    assert code == 0, err
    assert "resuming: 8 of 12 rows" in err
    assert calls == [4]  # only the last chunk: the signature is built without scoring
    assert read_jsonl(out) == read_jsonl(ref)
    assert not (tmp_path / "out.jsonl.progress.jsonl").exists()


def test_resume_with_a_changed_setting_recomputes_everything(tmp_path, run_cli, interrupt_after):
    src = write_jsonl(tmp_path / "in.jsonl", make_rows(12, seed=5))
    out, ref = tmp_path / "out.jsonl", tmp_path / "ref.jsonl"
    interrupt_after(2)
    assert run_cli(str(src), "-o", str(out), *SCORE_ARGS, "--resume")[0] == 130
    interrupt_after(100)
    assert run_cli(str(src), "-o", str(ref), *SCORE_ARGS, "--normalization", "byte")[0] == 0

    calls = interrupt_after(100)
    code, err = run_cli(str(src), "-o", str(out), *SCORE_ARGS, "--normalization", "byte", "--resume")
    assert code == 0, err
    assert "resuming: 0 of 12 rows" in err
    assert calls == [4, 4, 4]  # every chunk again; the signature is built without scoring
    got = read_jsonl(out)
    assert got == read_jsonl(ref)
    assert {r["signature"] for r in got} == {got[0]["signature"]} and "norm:byte" in got[0]["signature"]


def test_resume_ignores_a_torn_line_and_redoes_changed_rows(tmp_path, run_cli, interrupt_after):
    rows = make_rows(12, seed=6)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out, ref = tmp_path / "out.jsonl", tmp_path / "ref.jsonl"
    sidecar = tmp_path / "out.jsonl.progress.jsonl"
    interrupt_after(2)
    assert run_cli(str(src), "-o", str(out), *SCORE_ARGS, "--resume")[0] == 130
    with sidecar.open("a") as fh:
        fh.write('{"v": 1, "key": {"signature": "mod')  # a write cut short by a kill
    rows[5]["story"] += " The end."  # row 5 is in chunk 1: that chunk must be scored again
    write_jsonl(src, rows)
    interrupt_after(100)
    assert run_cli(str(src), "-o", str(ref), *SCORE_ARGS)[0] == 0
    code, err = run_cli(str(src), "-o", str(out), *SCORE_ARGS, "--resume")
    assert code == 0, err
    assert "resuming: 4 of 12 rows" in err
    assert read_jsonl(out) == read_jsonl(ref)


# -- errors --------------------------------------------------------------------------------------------------
GOOD = json.dumps({"id": "a", "story": " The cat sat.", "prompt": "Write about a cat."})

BAD_INPUTS = [
    ("missing-field", "in.jsonl", f'{GOOD}\n{GOOD}\n{{"id": "c", "text": "x", "prompt": "y"}}\n', (),
     r"in\.jsonl:3: expected field 'story' \(from --text-field\), got a row without it \(fields: 'id', 'text', "),
    ("missing-constraint", "in.jsonl", f'{GOOD}\n\n{{"id": "c", "story": "x"}}\n', (),
     r"in\.jsonl:3: expected field 'prompt' \(from --constraint-field\)"),
    ("malformed-json", "in.jsonl", f'{GOOD}\n{{"id": "b", "story": \n', (),
     r"in\.jsonl:2: expected a JSON object, got malformed JSON"),
    ("not-an-object", "in.jsonl", f'{GOOD}\n["b", "x"]\n', (), r"in\.jsonl:2: expected a JSON object, got a JSON list"),
    ("empty-text", "in.jsonl", f'{GOOD}\n{{"id": "b", "story": "  ", "prompt": "p"}}\n', (),
     r"in\.jsonl:2: expected field 'story' \(from --text-field\) to be a non-empty string, got '  '"),
    ("clashing-field", "in.jsonl", '{"id": "a", "story": "x", "prompt": "p", "surprise": 1}\n', (),
     r"in\.jsonl:1: expected no field named 'surprise'"),
    ("empty-file", "in.jsonl", "\n", (), r"expected at least one row in .*in\.jsonl', got none"),
    ("csv-fields", "in.csv", "id,story,prompt\na,The cat.,Cats\nb,The dog.\n", (),
     r"in\.csv:3: expected 3 fields \(columns id, story, prompt\), got 2"),
    ("csv-column", "in.csv", "id,text,prompt\na,The cat.,Cats\n", (), r"in\.csv:2: expected field 'story'"),
    ("extension", "in.txt", "hello\n", (), r"expected a file ending in \.jsonl, \.ndjson, \.csv, got '.*in\.txt'"),
    ("unreadable", None, None, (), r"cannot read '.*missing\.jsonl': No such file or directory"),
    ("not-utf8", "in.jsonl", b'{"id": 1, "story": "ok", "prompt": "p"}\n{"story": "caf\xe9"}\n', (),
     r"in\.jsonl:2: expected UTF-8 text, got the byte 0xe9 at column 15 \(byte 54 of the file\)"),
]


@pytest.mark.parametrize(("name", "content", "extra", "message"), [c[1:] for c in BAD_INPUTS],
                         ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gives_one_line_and_exit_2(tmp_path, run_cli, name, content, extra, message):
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    if name is None:
        src = tmp_path / "missing.jsonl"
    else:
        src = tmp_path / name
        src.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, err = run_cli(str(src), "-o", str(out), "--text-field", "story", "--constraint-field", "prompt", *extra)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cqmetric: error: score: "), err
    assert __import__("re").search(message, lines[0]), lines[0]
    assert out.read_text() == "precious\n"  # never truncated


def test_failure_mid_run_keeps_output_and_progress(tmp_path, run_cli, interrupt_after):
    from cqmetric.errors import BackendError

    src = write_jsonl(tmp_path / "in.jsonl", make_rows(8, seed=7))
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    interrupt_after(1, BackendError("model fell over"))
    code, err = run_cli(str(src), "-o", str(out), *SCORE_ARGS)
    assert code == 1
    assert "cqmetric: error: model fell over" in err and "4 of 8 rows are saved" in err
    assert out.read_text() == "precious\n"
    assert _complete_lines(tmp_path / "out.jsonl.progress.jsonl") == 4

    interrupt_after(100)
    code, err = run_cli(str(src), "-o", str(out), *SCORE_ARGS, "--resume")
    assert code == 0 and "resuming: 4 of 8 rows" in err
    assert len(read_jsonl(out)) == 8


def test_missing_model_exits_2_and_a_broken_one_exits_1(tmp_path, run_cli):
    src = write_jsonl(tmp_path / "in.jsonl", make_rows(2))
    code, err = run_cli(str(src), "-o", str(tmp_path / "o.jsonl"), "--text-field", "story",
                        "--model", str(tmp_path / "no-model"), model=False)
    assert code == 2
    assert err.startswith("cqmetric: error: HFBackend: expected a local model folder, a .gguf file or the id")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "gpt2"}')
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    code, err = run_cli(str(src), "-o", str(tmp_path / "o.jsonl"), "--text-field", "story",
                        "--model", str(broken), model=False)
    assert code == 1  # a folder that looks right but fails inside transformers: not the caller's mistake
    assert err.startswith("cqmetric: error: HFBackend: could not load a causal LM from"), err


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--chunk-size", "0", "--chunk-size: expected an integer >= 1, got '0'"),
    ("--max-length", "0", "--max-length: expected an integer >= 1, got '0'"),
    ("--stride", "0", "--stride: expected an integer >= 1, got '0'"),
    ("--normalization", "bits", "--normalization: invalid choice: 'bits'"),
])
def test_bad_option_values_are_usage_errors(tmp_path, capsys, flag, value, message):
    with pytest.raises(SystemExit) as exc:
        main(["score", "in.jsonl", "-o", "out.jsonl", flag, value])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


# -- report and compare --------------------------------------------------------------------------------------
def _toy_scores(n: int = 12, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [{"id": f"s{i}", "calibrated_surprise": rng.gauss(1, 0.5), "surprise": rng.gauss(6, 1),
             "residual": rng.gauss(5, 1), "n_tokens": rng.randint(20, 90), "domain": "lit" if i % 2 else "fact"}
            for i in range(n)]


def test_report_matches_reliability_report(tmp_path, capsys):
    from cqmetric.reliability import report

    scores = _toy_scores()
    rng = random.Random(1)
    raters = ["ann", "bob", "cy"]
    ratings = {c: [[rng.randint(1, 5) for _ in raters] for _ in scores] for c in ("coherence", "creativity")}
    ratings["creativity"][3][1] = float("nan")  # one missing rating: an empty CSV cell
    long = [{"id": s["id"], "rater": r, "coherence": ratings["coherence"][i][j],
             "creativity": "" if i == 3 and j == 1 else ratings["creativity"][i][j]}
            for i, s in enumerate(scores) for j, r in enumerate(raters)]
    rng.shuffle(long)  # the join is by id and rater, not by position
    with (tmp_path / "ratings.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "rater", "coherence", "creativity"])
        writer.writeheader()
        writer.writerows(long)
    write_jsonl(tmp_path / "scores.jsonl", scores)

    code = main(["report", str(tmp_path / "scores.jsonl"), "--ratings", str(tmp_path / "ratings.csv"),
                 "--rater-field", "rater", "--baseline-field", "n_tokens", "--group-field", "domain",
                 "--n-boot", "200", "--seed", "3", "--nan-policy", "omit", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    names = ("calibrated_surprise", "surprise", "residual")
    expected = report({k: [s[k] for s in scores] for k in names}, ratings,
                      baselines={"n_tokens": [s["n_tokens"] for s in scores]},
                      groups=[s["domain"] for s in scores], n_boot=200, seed=3, nan_policy="omit")
    got, want = json.loads(out), json.loads(expected.to_json())
    for g, w in zip(got["rows"], want["rows"]):
        assert g == w, [(k, g["result"][k], w["result"][k]) for k in w["result"] if g["result"][k] != w["result"][k]]
    assert got == want

    code = main(["report", str(tmp_path / "scores.jsonl"), "--ratings", str(tmp_path / "ratings.csv"),
                 "--rater-field", "rater", "--criteria", "coherence", "--n-boot", "0"])
    table = capsys.readouterr().out
    assert code == 0 and "human ceiling" in table and "creativity" not in table.splitlines()[1]

    code = main(["report", str(tmp_path / "scores.jsonl"), "--ratings", str(tmp_path / "ratings.csv"),
                 "--rater-field", "rater", "--n-boot", "0"])
    assert code == 0
    assert "cqmetric: warning: human_ceiling: 1 item(s) have a missing rating" in capsys.readouterr().err


def test_report_with_one_rating_per_item(tmp_path, capsys):
    from cqmetric.reliability import report

    scores = _toy_scores(8, seed=2)
    quality = [float(i % 5) for i in range(8)]
    write_jsonl(tmp_path / "scores.jsonl", scores)
    write_jsonl(tmp_path / "ratings.jsonl", [{"id": s["id"], "quality": q} for s, q in zip(scores, quality)][::-1])
    code = main(["report", str(tmp_path / "scores.jsonl"), "--ratings", str(tmp_path / "ratings.jsonl"),
                 "--score-field", "surprise", "--method", "pearson", "--n-boot", "0", "--json"])
    assert code == 0
    expected = report({"surprise": [s["surprise"] for s in scores]}, {"quality": quality}, method="pearson",
                      n_boot=0)
    assert json.loads(capsys.readouterr().out) == json.loads(expected.to_json())


def test_compare_matches_compare_models(tmp_path, capsys):
    from cqmetric.reliability import compare_models

    a = _toy_scores(12, seed=3)
    b = _toy_scores(12, seed=4)
    write_jsonl(tmp_path / "a.jsonl", a)
    write_jsonl(tmp_path / "b.jsonl", b[::-1])  # joined on id, not position
    out_file = tmp_path / "cmp.json"
    code = main(["compare", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--score-field",
                 "calibrated_surprise", "--id-field", "id", "--group-field", "domain", "--n-boot", "300",
                 "-o", str(out_file)])
    assert code == 0
    expected = compare_models([r["calibrated_surprise"] for r in a], [r["calibrated_surprise"] for r in b],
                              groups=[r["domain"] for r in a], n_boot=300)
    assert json.loads(out_file.read_text()) == json.loads(expected.to_json())

    assert main(["compare", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--n-boot", "0"]) == 0
    assert "compare_models: d = scores_b - scores_a" in capsys.readouterr().out


def test_compare_prints_degenerate_warnings(tmp_path, capsys):
    a = _toy_scores(6, seed=5)
    b = [{**r, "calibrated_surprise": r["calibrated_surprise"] + 0.5} for r in a]  # every d is equal
    write_jsonl(tmp_path / "a.jsonl", a)
    write_jsonl(tmp_path / "b.jsonl", b)
    assert main(["compare", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--n-boot", "0"]) == 0
    assert "cqmetric: warning: compare_models: fewer than 3 differences or all differences equal" in (
        capsys.readouterr().err)


STATS_ERRORS = [
    ("report-unrated", ["report", "scores.jsonl", "--ratings", "ratings.jsonl"],
     [{"id": "s0", "quality": 3}],
     r"report: .*scores\.jsonl:2: expected ratings for item 's1' in '.*ratings\.jsonl', got none"),
    ("report-twice", ["report", "scores.jsonl", "--ratings", "ratings.jsonl", "--rater-field", "r"],
     [{"id": "s0", "r": "x", "q": 1}, {"id": "s1", "r": "x", "q": 2}, {"id": "s0", "r": "x", "q": 2}],
     r"ratings\.jsonl:3: expected one rating of item 's0' by rater 'x', got another \(first at line 1\)"),
    ("report-text", ["report", "scores.jsonl", "--ratings", "ratings.jsonl"],
     [{"id": "s0", "note": "good"}, {"id": "s1", "note": "bad"}],
     r"ratings\.jsonl:1: expected field 'note' \(from a criterion by default; .*\) to be a finite number"),
    ("compare-items", ["compare", "scores.jsonl", "ratings.jsonl"], [{"id": "s0", "calibrated_surprise": 1.0}],
     r"compare: .*scores\.jsonl:2: expected item 's1' in '.*ratings\.jsonl' too"),
    ("compare-field", ["compare", "scores.jsonl", "ratings.jsonl", "--score-field", "fluency"],
     [{"id": "s0", "calibrated_surprise": 1.0}, {"id": "s1", "calibrated_surprise": 1.0}],
     r"scores\.jsonl:1: expected field 'fluency' \(from --score-field\), got a row without it"),
    ("compare-ids", ["compare", "scores.jsonl", "ratings.jsonl"],
     [{"id": "s0", "calibrated_surprise": 1.0}, {"id": "s0", "calibrated_surprise": 2.0}],
     r"ratings\.jsonl:2: expected each 'id' once, got 's0' again \(first at line 1\)"),
]


@pytest.mark.parametrize(("argv", "second", "message"), [c[1:] for c in STATS_ERRORS],
                         ids=[c[0] for c in STATS_ERRORS])
def test_report_and_compare_errors(tmp_path, capsys, argv, second, message):
    write_jsonl(tmp_path / "scores.jsonl", _toy_scores(2))
    write_jsonl(tmp_path / "ratings.jsonl", second)
    code = main([str(tmp_path / a) if a.endswith(".jsonl") else a for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("cqmetric: error: ")
    assert __import__("re").search(message, err), err


# -- trust: every bad input or fault ends in one line and loses nothing --------------------------------------------
def test_a_lone_surrogate_in_jsonl_is_an_input_error_with_its_line(tmp_path, run_cli):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "story": "ok", "prompt": "p"}\n{"id": "b", "story": "bad \\ud800 text", "prompt": "p"}\n')
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    code, err = run_cli(str(src), "-o", str(out), "--text-field", "story", "--constraint-field", "prompt")
    assert code == 2
    assert err.strip() == (f"cqmetric: error: score: {src}:2: expected field 'story' (from --text-field) to be valid "
                           "Unicode, got a lone surrogate '\\ud800' at character 4 (a \\ud800-\\udfff escape without "
                           "its pair).")
    assert out.read_text() == "precious\n"


@pytest.mark.parametrize("case", ["folder", "no-folder", "is-input"])
def test_an_unusable_output_path_fails_before_the_model_loads(tmp_path, run_cli, monkeypatch, case):
    import cqmetric.api as api

    monkeypatch.setattr(api, "get_backend", lambda *a, **k: pytest.fail("the model was loaded"))
    src = write_jsonl(tmp_path / "in.jsonl", make_rows(3))
    (tmp_path / "dir.jsonl").mkdir()
    out = {"folder": tmp_path / "dir.jsonl", "no-folder": tmp_path / "missing" / "out.jsonl", "is-input": src}[case]
    code, err = run_cli(str(src), "-o", str(out), *SCORE_ARGS)
    assert code == 2
    expected = {"folder": "it is a folder; expected a file name", "no-folder": "no such folder",
                "is-input": "is the input file; choose another name"}[case]
    assert err.startswith("cqmetric: error: score: ") and expected in err and len(err.strip().splitlines()) == 1
    assert src.read_text() == "".join(json.dumps(r) + "\n" for r in make_rows(3))


def test_a_second_run_on_the_same_output_is_refused(tmp_path, run_cli):
    from cqmetric.resume import OutputLock

    src = write_jsonl(tmp_path / "in.jsonl", make_rows(3))
    out = tmp_path / "out.jsonl"
    with OutputLock(out):  # another run holds the output
        code, err = run_cli(str(src), "-o", str(out), *SCORE_ARGS)
    assert code == 2 and "another run is writing" in err and not out.exists()
    code, err = run_cli(str(src), "-o", str(out), *SCORE_ARGS)
    assert code == 0 and not (tmp_path / ".out.jsonl.lock").exists()


def test_resume_without_a_progress_file_keeps_matching_rows_of_the_output(tmp_path, run_cli):
    rows = make_rows(12, seed=4)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    assert run_cli(str(src), "-o", str(out), *SCORE_ARGS)[0] == 0
    full = out.read_text()
    out.write_text("".join(full.splitlines(keepends=True)[:6]))  # cut off: rows 0-5 (chunks 0 and half of 1)
    code, err = run_cli(str(src), "-o", str(out), *SCORE_ARGS, "--resume")
    assert code == 0
    assert "resuming from" in err and "4 of 12 rows already there with these settings are kept" in err
    assert [json.loads(x) for x in out.read_text().splitlines()] == [json.loads(x) for x in full.splitlines()]
    (tmp_path / "fresh.jsonl").unlink(missing_ok=True)
    code, err = run_cli(str(src), "-o", str(tmp_path / "fresh.jsonl"), *SCORE_ARGS, "--resume")
    assert code == 0 and "nothing to resume" in err


def test_output_files_follow_the_umask(tmp_path, run_cli):
    src = write_jsonl(tmp_path / "in.jsonl", make_rows(2))
    old = os.umask(0o022)
    try:
        assert run_cli(str(src), "-o", str(tmp_path / "out.jsonl"), *SCORE_ARGS)[0] == 0
    finally:
        os.umask(old)
    assert (tmp_path / "out.jsonl").stat().st_mode & 0o777 == 0o644


def test_report_keeps_a_score_column_with_one_missing_value(tmp_path, capsys):
    scores = _toy_scores(12, seed=5)
    scores[3]["calibrated_surprise"] = None
    write_jsonl(tmp_path / "scores.jsonl", scores)
    write_jsonl(tmp_path / "ratings.jsonl", [{"id": s["id"], "quality": float(i % 4)} for i, s in enumerate(scores)])
    code = main(["report", str(tmp_path / "scores.jsonl"), "--ratings", str(tmp_path / "ratings.jsonl"),
                 "--n-boot", "0", "--json", "--nan-policy", "omit"])
    captured = capsys.readouterr()
    assert code == 0
    assert "calibrated_surprise: 1 of 12 row(s) have no value (first: " in captured.err and ":4)" in captured.err
    table = json.loads(captured.out)
    assert "calibrated_surprise" in json.dumps(table)  # the column is reported, not silently dropped


def test_compare_of_a_constant_shift_is_no_traceback(tmp_path, capsys):
    a = _toy_scores(10, seed=6)
    b = [{**r, "calibrated_surprise": r["calibrated_surprise"] + 0.1} for r in a]
    write_jsonl(tmp_path / "a.jsonl", a)
    write_jsonl(tmp_path / "b.jsonl", b)
    code = main(["compare", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--n-boot", "200", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    assert "warning:" in captured.err and "all differences equal up to rounding in: all" in captured.err
    result = json.loads(captured.out)
    assert json.dumps(result).count("0.1") >= 1


def test_model_settings_on_the_command_line_reach_the_backend_and_the_signature(tmp_path, run_cli, tiny_model_dir):
    rows = make_rows(4, seed=8, sentences=6)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    code, err = run_cli(str(src), "-o", str(out), *SCORE_ARGS, "--max-length", "48", "--stride", "5", "--dtype",
                        "float32", "--start-token", "prepend", "--device", "cpu")
    assert code == 0, err
    got = read_jsonl(out)
    expected = score([r["story"] for r in rows], [r["prompt"] for r in rows], model=str(tiny_model_dir),
                     max_length=48, stride=5, start_token="prepend", n_boot=0)
    assert got[0]["signature"] == expected.signature.format() and "window:48/5" in got[0]["signature"]
    for line, rec in zip(got, expected.to_records()):
        assert line["surprise"] == pytest.approx(rec["surprise"], abs=1e-5)
