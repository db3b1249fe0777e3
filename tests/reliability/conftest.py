"""Fixtures of the reliability tests: the committed R reference values and the HANNA data (skipped when absent)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

REFERENCE_JSON = Path(__file__).resolve().parents[1] / "reference" / "reliability_reference.json"


def hanna_root() -> Path:
    """Where the HANNA CSVs are expected: $CQMETRIC_HANNA, else <repo>/../shared/data/hanna."""
    env = os.environ.get("CQMETRIC_HANNA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared/data/hanna"


@pytest.fixture(scope="session")
def reference() -> dict:
    """Values written by tests/reference/reliability_reference.R (R 4.2.2, psych 2.2.9)."""
    with REFERENCE_JSON.open(encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def hanna():
    """HANNA loaded in place with cqmetric.research.hanna.load_hanna; the test is skipped when the folder is absent."""
    root = hanna_root()
    if not (root / "hanna_stories_annotations.csv").is_file():
        pytest.skip(
            f"HANNA data not found at {root}: download https://github.com/dig-team/hanna-benchmark-asg "
            "and set CQMETRIC_HANNA=<folder> to run the HANNA reproduction tests."
        )
    pytest.importorskip("pandas")
    from cqmetric.research.hanna import load_hanna

    return load_hanna(root)


@pytest.fixture
def clustered_data():
    """Seeded toy data: 12 groups (prompts) x 5 systems, with a group effect shared by x and y."""
    rng = np.random.default_rng(2024)
    g = np.repeat(np.arange(12), 5)
    s = np.tile(np.arange(5), 12)
    group_effect = rng.normal(0, 1.0, 12)[g]
    sys_effect = np.linspace(-1, 1, 5)[s]
    x = group_effect + sys_effect + rng.normal(0, 0.7, g.size)
    y = group_effect + 0.6 * sys_effect + rng.normal(0, 0.7, g.size)
    return x, y, g, s
