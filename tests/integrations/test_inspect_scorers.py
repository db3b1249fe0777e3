"""The inspect_ai scorer: human ratings and agreement, empty outputs, the entry point, real `inspect eval`/`score`."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from cqmetric.api import score
from cqmetric.errors import InputValidationError
from cqmetric.integrations.generations import SCORE_NAMES
from cqmetric.integrations.inspect_scorers import agreement_with_humans, human_rating

from .harness_support import PROMPTS, harness_command, write_jsonl

TOLERANCE = 1e-5

# The task file a user writes (the docs show the same one).
TASK_FILE = '''\
from inspect_ai import Task, task
from inspect_ai.dataset import FieldSpec, json_dataset
from inspect_ai.solver import generate

from cqmetric.integrations.inspect_scorers import calibrated_surprise


@task
def stories(prompts: str = "prompts.jsonl"):
    return Task(
        dataset=json_dataset(prompts, FieldSpec(input="prompt", id="id", metadata=["human_score"])),
        solver=generate(),
        scorer=calibrated_surprise(),
    )
'''


def test_the_docs_show_this_task_file():
    page = Path(__file__).resolve().parents[2] / "docs" / "harnesses.md"
    if not page.is_file():
        pytest.skip("docs/ is not part of this checkout")
    text = page.read_text(encoding="utf-8")
    start = text.index("```python\n# stories.py\n") + len("```python\n# stories.py\n")
    assert text[start:text.index("```", start)] == TASK_FILE


# -- human ratings and agreement (no inspect_ai needed) ----------------------------------------------------------


def test_human_rating_reads_numbers_and_lists_of_raters():
    assert human_rating(4) == 4.0 and human_rating("3.5") == 3.5
    assert human_rating(None) is None and human_rating(float("nan")) is None and human_rating([]) is None
    assert human_rating([None, None]) is None
    got = human_rating([2, None, 3])
    assert got[0] == 2.0 and math.isnan(got[1]) and got[2] == 3.0
    for bad in ("good", True, {"a": 1}, [1, "x"]):
        with pytest.raises(InputValidationError, match="expected a number or a list of numbers"):
            human_rating(bad)


def test_agreement_matches_scipy_and_krippendorff():
    krippendorff = pytest.importorskip("krippendorff")
    values = [0.8, 1.1, float("nan"), 0.4, 1.6, 1.2, 0.9]  # the NaN (an empty output) is left out
    ratings = [[3, 2], 4, 5, [1, 2], [5, 4], None, [3, 3]]  # the None (unrated) is left out
    got = agreement_with_humans(values, ratings, n_boot=200, seed=3)
    keep = [0, 1, 3, 4, 6]
    x = np.array(values)[keep]
    rows = [[3, 2], [4, np.nan], [1, 2], [5, 4], [3, 3]]
    assert got["n"] == 5
    assert got["spearman"] == pytest.approx(stats.spearmanr(x, np.nanmean(rows, axis=1)).statistic, abs=1e-12)
    # (rounding: the estimate comes from scipy, the interval from resampling; they may differ in the last bit)
    assert got["spearman_ci_low"] - 1e-12 <= got["spearman"] <= got["spearman_ci_high"] + 1e-12
    # the raters' own agreement, from the krippendorff package directly (raters x units)
    alpha = krippendorff.alpha(reliability_data=np.array(rows).T, level_of_measurement="interval")
    assert got["raters_alpha"] == pytest.approx(alpha, abs=1e-12)


def test_agreement_with_few_or_no_ratings():
    assert agreement_with_humans([1.0, 2.0], [None, None]) == {}
    assert agreement_with_humans([1.0, 2.0, 3.0], [4, None, 5]) == {"n": 2}  # too few for a correlation
    constant = agreement_with_humans([1.0, 2.0, 3.0], [4, 4, 4], method="kendall", n_boot=0)
    assert math.isnan(constant["kendall"]) and constant["n"] == 3 and "raters_alpha" not in constant
    with pytest.raises(InputValidationError, match="one rating per value, got 3 values and 2 ratings"):
        agreement_with_humans([1.0, 2.0, 3.0], [4, 5])


def test_without_inspect_ai_importing_works_and_using_names_the_extra():
    code = ("import sys; sys.modules['inspect_ai'] = None\n"
            "import cqmetric.integrations.inspect_scorers as m\n"
            "try:\n    m.calibrated_surprise()\nexcept Exception as exc:\n    print(type(exc).__name__, exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("MissingDependencyError") and "pip install 'cqmetric[inspect]'" in out


# -- inside inspect_ai ------------------------------------------------------------------------------------------


@pytest.mark.inspect
def test_entry_point_names_the_scorer_module():
    from importlib.metadata import entry_points

    (ep,) = [ep for ep in entry_points(group="inspect_ai") if ep.name == "cqmetric"]
    assert ep.value == "cqmetric.integrations.inspect_scorers"


@pytest.mark.inspect
def test_empty_outputs_are_unscored_and_left_out_of_the_means(tiny_model_dir, tmp_path):
    """A real in-process eval whose solver sets fixed outputs, two of them empty; the tiny model scores."""
    inspect_ai = pytest.importorskip("inspect_ai")
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ModelOutput
    from inspect_ai.solver import solver

    from cqmetric.integrations.inspect_scorers import calibrated_surprise

    texts = [" The cat sat on the mat.", "", " A lighthouse keeper climbed the stairs.", " \n ", " Rain fell."]
    fixed = {p["id"]: t for p, t in zip(PROMPTS, texts)}

    @solver
    def fixed_outputs():
        async def solve(state, generate):
            state.output = ModelOutput.from_content("fixed", fixed[state.sample_id])
            return state

        return solve

    samples = [Sample(input=p["prompt"], id=p["id"], metadata={"human_score": p["human_score"]}) for p in PROMPTS]
    task = inspect_ai.Task(dataset=samples, solver=fixed_outputs(), scorer=calibrated_surprise(model=str(tiny_model_dir)))
    (log,) = inspect_ai.eval(task, model="mockllm/model", log_dir=str(tmp_path / "logs"), display="none")
    assert log.status == "success", log.error

    scores = {s.id: s.scores["calibrated_surprise"] for s in log.samples}
    outputs = {s.id: s.output.completion for s in log.samples}
    assert sorted(outputs.values()) == sorted(texts)
    empty = [i for i, t in outputs.items() if not t.strip()]
    scored = [i for i, t in outputs.items() if t.strip()]
    for i in empty:
        assert all(math.isnan(scores[i].value[name]) for name in SCORE_NAMES)
        assert scores[i].metadata["empty_generation"] is True and scores[i].metadata["n_tokens"] == 0
    inputs = {s.id: s.input for s in log.samples}
    expected = score([outputs[i] for i in scored], [inputs[i] for i in scored], model=str(tiny_model_dir),
                     aggregation="text", n_boot=0)
    results = {r.name: r for r in log.results.scores}
    for name in SCORE_NAMES:
        assert [scores[i].value[name] for i in scored] == pytest.approx(list(expected[name]), abs=TOLERANCE)
        assert (results[name].scored_samples, results[name].unscored_samples) == (3, 2)
        assert results[name].metrics["mean"].value == pytest.approx(float(np.mean(expected[name])), abs=TOLERANCE)
    ratings = {p["id"]: p["human_score"] for p in PROMPTS}
    agreement = _agreement({k: m.value for k, m in results["calibrated_surprise"].metrics.items()})
    assert agreement["n"] == 3
    assert agreement["spearman"] == pytest.approx(
        stats.spearmanr(expected["calibrated_surprise"], [ratings[i] for i in scored]).statistic, abs=1e-9)


def _agreement(metrics: dict) -> dict:
    """The human_agreement entries of a scorer's metrics (inspect names them `[package/]human_agreement_<key>`)."""
    found = {k.split("human_agreement_", 1)[1]: v for k, v in metrics.items() if "human_agreement_" in k}
    assert found, f"no human_agreement metrics among {sorted(metrics)}"
    return found


# -- real command-line runs ---------------------------------------------------------------------------------------


def _sample_scores(log: dict) -> list[dict]:
    """Per sample, in dataset order: id, input, completion and the cqmetric Score (value and metadata)."""
    out = [{"id": s["id"], "input": s["input"], "completion": s["output"]["completion"],
            **s["scores"]["calibrated_surprise"]} for s in log["samples"]]
    order = [p["id"] for p in PROMPTS]
    return sorted(out, key=lambda s: order.index(s["id"]))


def _check_log(log: dict, options: dict) -> None:
    samples = _sample_scores(log)
    assert [s["input"] for s in samples] == [p["prompt"] for p in PROMPTS]
    assert all(s["completion"].strip() for s in samples), samples
    # the logged outputs and inputs, scored here in one batch
    expected = score([s["completion"] for s in samples], [s["input"] for s in samples], aggregation="text",
                     n_boot=0, **options)
    results = {r["name"]: r for r in log["results"]["scores"]}
    for name in SCORE_NAMES:
        values = [s["value"][name] for s in samples]
        assert values == pytest.approx(list(expected[name]), abs=TOLERANCE), name
        metrics = results[name]["metrics"]
        assert metrics["mean"]["value"] == pytest.approx(np.mean(values), abs=1e-12)
        assert metrics["stderr"]["value"] == pytest.approx(np.std(values, ddof=1) / math.sqrt(5), abs=1e-12)
    assert [s["metadata"]["n_tokens"] for s in samples] == expected.n_tokens.tolist()
    assert {s["metadata"]["signature"] for s in samples} == {expected.signature.format()}
    # human agreement: Spearman's rho of calibrated surprise with the mean rating (scipy as the reference)
    means = [np.mean(p["raters"]) for p in RATED]
    agreement = _agreement({k: m["value"] for k, m in results["calibrated_surprise"]["metrics"].items()})
    assert agreement["spearman"] == pytest.approx(
        stats.spearmanr([s["value"]["calibrated_surprise"] for s in samples], means).statistic, abs=1e-9)
    assert agreement["n"] == 5


# Ratings for the real run: one to three raters per prompt.
RATED = [{**p, "raters": r} for p, r in zip(PROMPTS, [[4, 5], [2], [3, 4, 3], [5, 4], [1, 2]])]


@pytest.mark.inspect
@pytest.mark.slow
def test_inspect_eval_and_score_from_the_command_line(embedded_model_dir, offline_env, tmp_path):
    """`inspect eval` with hf/local on the embedded model's folder (5 prompts, greedy, 32 tokens), then
    `inspect score --scorer cqmetric/calibrated_surprise` of its log, found through the entry point."""
    pytest.importorskip("inspect_ai")
    inspect = harness_command("inspect")
    rows = [{"id": p["id"], "prompt": p["prompt"], "human_score": p["raters"]} for p in RATED]
    write_jsonl(tmp_path / "prompts.jsonl", rows)
    (tmp_path / "task.py").write_text(TASK_FILE, encoding="utf-8")
    logs = tmp_path / "logs"
    run = [inspect, "eval", "task.py", "--model", "hf/local", "-M", f"model_path={embedded_model_dir}",
           "-M", "device=cpu", "-M", "do_sample=false", "--max-tokens", "32", "--log-format", "json",
           "--log-dir", str(logs), "--display", "plain"]
    proc = subprocess.run(run, env=offline_env, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (log_file,) = logs.glob("*.json")
    log = json.loads(log_file.read_text(encoding="utf-8"))
    assert log["status"] == "success"
    _check_log(log, {})

    rescored = tmp_path / "rescored.json"
    rescore = [inspect, "score", str(log_file), "--scorer", "cqmetric/calibrated_surprise", "-S",
               "normalization=byte", "--action", "overwrite", "--output-file", str(rescored), "--display", "plain"]
    proc = subprocess.run(rescore, env=offline_env, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = json.loads(rescored.read_text(encoding="utf-8"))
    assert log["results"]["scores"][0]["params"] == {"normalization": "byte"}
    _check_log(log, {"normalization": "byte"})
