"""Every committed benchmark number that can be recomputed from committed files is recomputed and compared.

The analysis steps of `benchmarks/validity/tool.py` read the committed per-story and per-text scores (HANNA, LAMP)
and write their tables into a temporary folder; every number must equal the committed one (to 1e-9). Only what
names the run itself may differ: the provenance (commit, date, machine) and the version inside signatures. So a
change to the library that moves any reported number fails here, unless the committed results are regenerated
and the change is flagged in CHANGELOG.md.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PROVENANCE = {"provenance", "git_commit", "library_dirty", "date", "machine", "cqmetric_version", "elapsed_s",
              "seconds"}
VERSION = re.compile(r"(version|v):[0-9][^|]*")

pytestmark = pytest.mark.slow


def _needs(folder: str, variable: str) -> None:
    import os

    found = os.environ.get(variable) or (ROOT.parent / "shared" / "data" / folder)
    if not Path(found).is_dir():
        pytest.skip(f"the {folder} data are not here ({found}); see README 'Data'")


def differences(new, old, path=""):
    """Every leaf where two JSON documents differ (numbers to 1e-9; provenance and versions ignored)."""
    if isinstance(new, dict) and isinstance(old, dict):
        out = []
        for key in sorted(set(new) | set(old)):
            if key in PROVENANCE:
                continue
            if key not in new or key not in old:
                out.append((f"{path}/{key}", "only in one"))
                continue
            out += differences(new[key], old[key], f"{path}/{key}")
        return out
    if isinstance(new, list) and isinstance(old, list):
        if len(new) != len(old):
            return [(path, f"{len(new)} items, committed {len(old)}")]
        return [d for i, (a, b) in enumerate(zip(new, old)) for d in differences(a, b, f"{path}[{i}]")]
    if isinstance(new, float) and isinstance(old, (int, float)) and not isinstance(old, bool):
        return [] if abs(new - old) <= 1e-9 * max(1.0, abs(old)) else [(path, new, old)]
    if isinstance(new, str) and isinstance(old, str):
        return [] if VERSION.sub("version", new) == VERSION.sub("version", old) else [(path, new, old)]
    return [] if new == old else [(path, new, old)]


@pytest.fixture(scope="module")
def tool():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT / "benchmarks" / "validity"))
    import tool as module

    yield module
    sys.path.remove(str(ROOT / "benchmarks" / "validity"))
    sys.path.remove(str(ROOT / "benchmarks"))


@pytest.mark.parametrize(("step", "name", "section", "data"), [
    ("analyze", "validity.json", None, "hanna"),  # round 1: everything but the split section
    ("report-split", "validity.json", "split", "hanna"),  # round 2: the split section
    ("fit-recommendation", "recommendation_fit.json", None, "hanna"),
    ("lamp-preference", "lamp_preference.json", None, "lamp"),
    ("report", "validity.json", "round3", "lamp"),  # round 3's test numbers (LAMP and HANNA, from features files)
])
def test_a_committed_result_is_recomputed_exactly(tool, tmp_path, step, name, section, data):
    _needs(data, f"CQMETRIC_{data.upper()}")
    if step == "report":
        _needs("hanna", "CQMETRIC_HANNA")
    assert tool.main([step, "--out", str(tmp_path)]) == 0
    new = json.loads((tmp_path / name).read_text(encoding="utf-8"))
    old = json.loads((RESULTS / name).read_text(encoding="utf-8"))
    if section is None:
        for later in ("split", "round3"):  # written by the later rounds' steps
            new.pop(later, None), old.pop(later, None)
    else:
        new, old = new[section], old[section]
    found = differences(new, old)
    assert not found, f"{step}: {len(found)} number(s) differ from the committed {name}: {found[:5]}"
    if step == "report":  # the page the docs include is the same report, line for line (but its provenance line)
        def lines(path):
            return [line for line in path.read_text(encoding="utf-8").splitlines()
                    if not re.match(r"cqmetric \S+, commit ", line)]

        assert lines(tmp_path / "validity3.md") == lines(RESULTS / "validity3.md")
