"""The lm-evaluation-harness task pack: its helpers, its YAML under lm-eval's loaders, and real `lm-eval run`s."""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import cqmetric.integrations.lm_eval as pack
from cqmetric.api import score
from cqmetric.backends.precomputed import PrecomputedBackend
from cqmetric.errors import InputValidationError, MissingDependencyError
from cqmetric.integrations.generations import SCORE_NAMES
from cqmetric.integrations.lm_eval import task as task_module

from .harness_support import PROMPTS, harness_command, write_jsonl

YAML = pack.task_dir() / f"{pack.TASK_NAME}.yaml"
TOLERANCE = 1e-5


# -- the prompt file ----------------------------------------------------------------------------------------


def test_read_prompts_reads_jsonl_json_and_csv(tmp_path):
    rows = [{"id": "a", "prompt": "Write about a cat.", "human_score": 3}, {"id": "b", "prompt": "Write a fable."}]
    assert pack.read_prompts(write_jsonl(tmp_path / "p.jsonl", rows)) == rows
    (tmp_path / "p.json").write_text(json.dumps(rows), encoding="utf-8")
    assert pack.read_prompts(tmp_path / "p.json") == rows
    (tmp_path / "p.csv").write_text("id,prompt\na,Write about a cat.\n", encoding="utf-8")
    assert pack.read_prompts(tmp_path / "p.csv") == [{"id": "a", "prompt": "Write about a cat."}]
    assert pack.read_prompts(write_jsonl(tmp_path / "q.jsonl", [{"text": "Go."}]), prompt_field="text") == [{"text": "Go."}]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("p.jsonl", '{"prompt": "Write."}\n{"id": 2}\n', r"p\.jsonl:2: expected field 'prompt'.*got a row without it"),
    ("p.jsonl", '{"prompt": "  "}\n', r"p\.jsonl:1: expected field 'prompt' to be a non-empty string"),
    ("p.jsonl", '{"prompt": "Write."}\n{"prompt": }\n', r"p\.jsonl:2: expected a JSON object, got malformed JSON"),
    ("p.jsonl", "\n", r"expected at least one row"),
    ("p.json", '{"prompt": "Write."}', r"expected a JSON list of objects, got a JSON dict"),
    ("p.json", "[]", r"expected a JSON list of objects, got an empty list"),
    ("p.json", '[{"prompt": "Write."}, "Write more."]', r"item 1: expected a JSON object, got a JSON str"),
    ("p.json", '[{"prompt": "Write."}, {"id": 1}]', r"item 1: expected field 'prompt'.*got a record without it \(fields: 'id'\)"),
    ("p.json", "[{", r"expected a JSON list of objects, got malformed JSON"),
    ("p.txt", "Write.", r"expected a prompt file ending in \.jsonl, \.ndjson, \.json, \.csv"),
])
def test_read_prompts_refuses_bad_files_naming_the_place(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputValidationError, match=message):
        pack.read_prompts(path)


def test_read_prompts_names_a_missing_file(tmp_path):
    with pytest.raises(InputValidationError, match="cannot read .*nope.jsonl"):
        pack.read_prompts(tmp_path / "nope.jsonl")


def test_load_prompts_from_metadata_or_environment(tmp_path, monkeypatch):
    rows = [{"id": "a", "prompt": "Write about a cat."}, {"id": "b", "prompt": "Write a fable.", "human_score": [3, 4]}]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    monkeypatch.delenv(pack.PROMPTS_ENV, raising=False)
    # lm-eval passes the task metadata (version, model arguments, ...) as keyword arguments too
    split = pack.load_prompts(prompts=str(path), version=1.0, pretrained="some/model")["test"]
    assert split.to_list() == [{**rows[0], "human_score": None}, rows[1]]  # a field of a later row is kept
    monkeypatch.setenv(pack.PROMPTS_ENV, str(path))
    assert pack.load_prompts()["test"]["prompt"] == [r["prompt"] for r in rows]


def test_load_prompts_without_a_file_says_how_to_name_one(monkeypatch):
    monkeypatch.delenv(pack.PROMPTS_ENV, raising=False)
    with pytest.raises(InputValidationError, match=r"got none; set CQMETRIC_PROMPTS=.*--metadata"):
        pack.load_prompts(version=1.0)


def test_load_prompts_refuses_a_field_of_mixed_types(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Write.", "x": {"a": 1}}, {"prompt": "Go.", "x": "text"}])
    with pytest.raises(InputValidationError, match="values of one type"):
        pack.load_prompts(prompts=str(path))


# -- process_results and the aggregations --------------------------------------------------------------------


def test_process_results_scores_the_generation_against_the_doc_prompt():
    process = pack.make_process_results(model=PrecomputedBackend.example())
    out = process({"id": "x", "prompt": "Write about a cat."}, ["A cat sat."])
    # hand-built log-probs: 3 bits/token without the prompt, 2 with it
    assert {k: out[k] for k in SCORE_NAMES} == {"calibrated_surprise": 1.0, "surprise": 3.0, "residual": 2.0}
    assert (out["n_tokens"], out["empty_generations"]) == (3, 0)
    assert out["signature"] == score(["A cat sat."], ["Write about a cat."], model=PrecomputedBackend.example(),
                                     aggregation="text", n_boot=0).signature.format()


@pytest.mark.parametrize("generation", ["", "   \n"])
def test_empty_generation_reports_only_its_count_and_length(generation):
    out = pack.make_process_results(model=PrecomputedBackend.example())({"prompt": "Write about a cat."}, [generation])
    assert out == {"n_tokens": 0, "empty_generations": 1}


def test_process_results_names_a_missing_prompt_field_and_extra_generations():
    process = pack.make_process_results(model=PrecomputedBackend.example(), prompt_field="instruction")
    with pytest.raises(InputValidationError, match=r"expected a document field 'instruction', got fields \['prompt'\]"):
        process({"prompt": "Write about a cat."}, ["A cat sat."])
    with pytest.raises(InputValidationError, match="expected one generation per document, got 2"):
        process({"instruction": "Write about a cat."}, ["A cat sat.", "A cat sat."])


def test_aggregations():
    assert pack.count([0, 1, 1, 0, 1]) == 3
    assert pack.unique_signature(["s1", "s1", "s1"]) == "s1"
    assert pack.unique_signature(["s1", "s2", "s1"]) == "s1 ; s2"  # a mix stays visible


def test_yaml_declares_exactly_what_process_results_returns():
    config = yaml.load(YAML.read_text(encoding="utf-8"), Loader=_unresolved_loader())
    declared = {m["metric"]: m for m in config["metric_list"]}
    returned = pack.make_process_results(model=PrecomputedBackend.example())(
        {"prompt": "Write about a cat."}, ["A cat sat."])
    assert set(declared) == set(returned)
    # lm-eval computes a closed-form standard error only for its own `mean`: the scores must use it
    assert all(declared[name]["aggregation"] == "mean" for name in SCORE_NAMES)
    assert [declared[n]["higher_is_better"] for n in SCORE_NAMES] == [True, True, False]
    assert config["output_type"] == "generate_until" and config["process_results"] == "utils.process_results"


def _unresolved_loader():
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))
    return Loader


def test_read_samples_flattens_a_samples_file(tmp_path):
    doc = {"id": "a", "prompt": "Write about a cat."}
    lines = [
        {"doc_id": 0, "doc": doc, "filtered_resps": ["A cat sat."], "n_tokens": 3, "empty_generations": 0,
         "calibrated_surprise": 1.0, "surprise": 3.0, "residual": 2.0, "signature": "sig"},
        {"doc_id": 1, "doc": doc, "filtered_resps": [""], "n_tokens": 0, "empty_generations": 1},
    ]
    records = pack.read_samples(write_jsonl(tmp_path / "samples.jsonl", lines))
    assert records[0] == {**doc, "doc_id": 0, "generation": "A cat sat.", "calibrated_surprise": 1.0, "surprise": 3.0,
                          "residual": 2.0, "n_tokens": 3, "empty_generation": False, "signature": "sig"}
    assert records[1]["empty_generation"] is True and math.isnan(records[1]["calibrated_surprise"])
    with pytest.raises(InputValidationError, match=r"samples\.jsonl:1: expected a sample of the cqmetric task"):
        pack.read_samples(write_jsonl(tmp_path / "samples.jsonl", [{"doc_id": 0, "doc": doc}]))


# -- without lm_eval ------------------------------------------------------------------------------------------


def test_importing_the_pack_imports_neither_lm_eval_nor_datasets():
    code = ("import sys, cqmetric.integrations.lm_eval, cqmetric.integrations.lm_eval.utils; "
            "print(sorted(m for m in ('lm_eval', 'datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_task_manager_without_lm_eval_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lm_eval", None)
    monkeypatch.setitem(sys.modules, "lm_eval.tasks", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'cqmetric\[lm-eval\]'"):
        pack.task_manager()


# -- under lm_eval's loaders ------------------------------------------------------------------------------------


@pytest.mark.lm_eval
def test_function_tags_resolve_with_the_current_and_the_legacy_loader():
    pytest.importorskip("lm_eval")
    from lm_eval.tasks._yaml_loader import load_yaml
    from lm_eval.utils import import_function

    wanted = {"custom_dataset": task_module.load_prompts, "process_results": task_module.process_results}
    current = load_yaml(YAML, resolve_func=True)  # utils.py beside the YAML, else an importable module
    # the loader of earlier 0.4.x releases: only a utils.py beside the YAML
    legacy_loader = type("Legacy", (yaml.FullLoader,), {})
    legacy_loader.add_constructor("!function", functools.partial(import_function, yaml_path=YAML))
    legacy = yaml.load(YAML.read_text(encoding="utf-8"), Loader=legacy_loader)  # noqa: S506
    for config in (current, legacy):
        assert {k: config[k] for k in wanted} == wanted
        aggregations = {m["metric"]: m["aggregation"] for m in config["metric_list"]}
        assert aggregations["empty_generations"] is task_module.count
        assert aggregations["signature"] is task_module.unique_signature


def _write_own_task(folder: Path, prompts_file: Path) -> Path:
    """A task of the user's own: includes the shipped one, reads the prompts with `dataset_path: json`, and
    scores with settings of its own (bits per byte)."""
    folder.mkdir()
    (folder / "my_stories.yaml").write_text(
        f"include: {YAML}\ntask: my_stories\ncustom_dataset: null\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {prompts_file}\n"
        "process_results: !function my_utils.process_results\n", encoding="utf-8")
    (folder / "my_utils.py").write_text(
        "from cqmetric.integrations.lm_eval import make_process_results\n\n"
        "process_results = make_process_results(normalization='byte')\n", encoding="utf-8")
    return folder / "my_stories.yaml"


@pytest.mark.lm_eval
@pytest.mark.slow
def test_python_api_with_empty_generations_and_an_own_task(prompts_file, tmp_path, monkeypatch):
    """simple_evaluate with fixed generations, two of them empty, on the shipped task (prompts from the
    metadata) and on a task that includes it (prompts through `dataset_path: json`, offline, bits per byte)."""
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.api.model import LM

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.delenv(pack.PROMPTS_ENV, raising=False)
    own = _write_own_task(tmp_path / "my_tasks", prompts_file)
    texts = [" The keeper read the letter twice and wept.", "", " Summer ended with a thunderstorm.", "  \n",
             " The rain never stopped, so the town learned to sing underwater."]
    outputs = {p["prompt"]: text for p, text in zip(PROMPTS, texts)}

    class FixedOutputs(LM):
        def generate_until(self, requests, disable_tqdm=False):
            return [outputs[request.doc["prompt"]] for request in requests]

        def loglikelihood(self, requests, disable_tqdm=False):
            raise NotImplementedError

        def loglikelihood_rolling(self, requests, disable_tqdm=False):
            raise NotImplementedError

    manager = pack.task_manager(include_path=str(own.parent), include_defaults=False,  # skip indexing ~1000s of tasks
                                metadata={"prompts": str(prompts_file)})
    results = lm_eval.simple_evaluate(model=FixedOutputs(), tasks=[pack.TASK_NAME, "my_stories"], log_samples=True,
                                      bootstrap_iters=0, task_manager=manager)
    scored = [i for i, t in enumerate(texts) if t.strip()]
    for task, options in ((pack.TASK_NAME, {}), ("my_stories", {"normalization": "byte"})):
        got = results["results"][task]
        samples = sorted(results["samples"][task], key=lambda s: s["doc_id"])
        assert [s["doc"] for s in samples] == PROMPTS  # every field of the prompt file reaches the doc
        expected = score([texts[i] for i in scored], [PROMPTS[i]["prompt"] for i in scored], aggregation="text",
                         n_boot=0, **options)
        assert got["empty_generations,none"] == 2
        assert [s["empty_generations"] for s in samples] == [0, 1, 0, 1, 0]
        for name in SCORE_NAMES:
            assert [s.get(name) for s in samples if not s["empty_generations"]] == pytest.approx(
                list(expected[name]), abs=TOLERANCE)
            assert got[f"{name},none"] == pytest.approx(float(np.mean(expected[name])), abs=TOLERANCE)
        n_tokens = dict(zip(scored, expected.n_tokens.tolist()))
        assert [s["n_tokens"] for s in samples] == [n_tokens.get(i, 0) for i in range(5)]
        assert got["signature,none"] == expected.signature.format()


# -- a real command-line run ------------------------------------------------------------------------------------


@pytest.mark.lm_eval
@pytest.mark.slow
def test_lm_eval_run_from_the_command_line(prompts_file, embedded_model_dir, offline_env, tmp_path):
    """`lm-eval run`, hf model on the embedded model's folder, 5 prompts from CQMETRIC_PROMPTS, greedy 32 tokens."""
    pytest.importorskip("lm_eval")
    out = tmp_path / "results"
    command = [harness_command("lm-eval"), "run", "--model", "hf",
               "--model_args", f"pretrained={embedded_model_dir},dtype=float32", "--device", "cpu",
               "--include_path", str(pack.task_dir()), "--tasks", pack.TASK_NAME,
               "--apply_chat_template", "--gen_kwargs", "max_gen_toks=32", "--batch_size", "5",
               "--log_samples", "--output_path", str(out)]
    proc = subprocess.run(command, env={**offline_env, pack.PROMPTS_ENV: str(prompts_file)}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (results_file,) = out.rglob("results_*.json")
    results = json.loads(results_file.read_text(encoding="utf-8"))
    got = results["results"][pack.TASK_NAME]
    (samples_file,) = out.rglob(f"samples_{pack.TASK_NAME}_*.jsonl")
    samples = sorted(pack.read_samples(samples_file), key=lambda r: r["doc_id"])
    assert [s["prompt"] for s in samples] == [p["prompt"] for p in PROMPTS]
    assert all(s["n_tokens"] > 0 and not s["empty_generation"] for s in samples), samples
    assert got["empty_generations,none"] == 0 and results["n-samples"][pack.TASK_NAME]["effective"] == 5
    # the logged generations and their prompts, scored here in one batch
    expected = score([s["generation"] for s in samples], [s["prompt"] for s in samples], aggregation="text",
                     n_boot=0)
    for name in SCORE_NAMES:
        values = [s[name] for s in samples]
        assert values == pytest.approx(list(expected[name]), abs=TOLERANCE), name
        # lm-eval's mean, and its closed-form standard error of the mean (sample sd / sqrt(n))
        assert got[f"{name},none"] == pytest.approx(np.mean(values), abs=1e-12)
        assert got[f"{name}_stderr,none"] == pytest.approx(np.std(values, ddof=1) / math.sqrt(5), abs=1e-12)
    assert [s["n_tokens"] for s in samples] == expected.n_tokens.tolist()
    assert {s["signature"] for s in samples} == {expected.signature.format()}
    assert got["signature,none"] == expected.signature.format()
