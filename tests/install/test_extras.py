"""An install that cannot break itself: with every extra the README offers in one environment, cqmetric imports,
loads the embedded model and scores, through the API, the evaluate plugin, the harness integrations and Ray.

`make test-extras` runs this file in a fresh environment made with the README's own command
(`pip install torch==2.13.0 "cqmetric[hf,stats,evaluate,plot,server,ray,lm-eval,inspect] @ ."`); CI runs it. It also
runs in `make test`, where the same packages come from the pins. A broken vision stack (a torchvision built for
another torch, which makes transformers fail every model load) is turned into one clear message naming the fix.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TEXTS = ["The lighthouse keeper climbed the stairs at dawn.", "Rain fell on the town for a hundred years."]
PROMPTS = ["Write about a lighthouse.", "Write about rain."]


@pytest.mark.extras
@pytest.mark.slow
def test_every_extra_imports_and_the_embedded_model_scores(tmp_path, monkeypatch):
    import evaluate

    from cqmetric import score
    from cqmetric.integrations import evaluate_module_path

    result = score(TEXTS, PROMPTS, n_boot=0)
    assert result.signature["start"] == "prepend:0" and all(r["surprise"] > 0 for r in result.to_records())
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    metric = evaluate.load(evaluate_module_path())
    out = metric.compute(predictions=TEXTS, references=PROMPTS, n_boot=0)
    assert out["surprise"] == pytest.approx(list(result["surprise"]), abs=1e-9)
    for module in ("cqmetric.integrations.lm_eval", "cqmetric.integrations.inspect_scorers",
                   "cqmetric.integrations.ray", "cqmetric.backends.server", "cqmetric.viz", "cqmetric.reliability"):
        importlib.import_module(module)
    for package in ("lm_eval", "inspect_ai", "ray", "httpx", "matplotlib", "pingouin"):
        assert importlib.util.find_spec(package) is not None, package


def test_a_torchvision_built_for_another_torch_is_one_clear_message(tiny_model_dir, tmp_path):
    # A stand-in for the broken install: a torchvision whose import fails the way a build for another torch does.
    fake = tmp_path / "site" / "torchvision"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise RuntimeError("operator torchvision::nms does not exist")\n')
    code = textwrap.dedent(f"""
        from cqmetric import score
        score(["A cat sat."], model={str(tiny_model_dir)!r})
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), *sys.path])}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode != 0
    assert "torchvision is installed but does not import with torch" in run.stderr
    assert "pip uninstall -y torchvision torchaudio torchcodec" in run.stderr
    cli = subprocess.run([sys.executable, "-m", "cqmetric.cli", "score", str(_input(tmp_path)), "-o",
                          str(tmp_path / "out.jsonl"), "--model", str(tiny_model_dir)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
    assert cli.stderr.strip().splitlines()[-1].startswith("cqmetric: error: HFBackend: torchvision is installed")


def _input(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "A cat sat."}\n')
    return path
