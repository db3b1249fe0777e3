"""The house's rules, checked on the source (docs/architecture.md draws them).

- No import circles between modules.
- Model calls and arithmetic stay apart: the scorers, the arithmetic, the statistics and the run's settings never
  import torch, transformers or a backend.
- The statistics (`cqmetric.reliability`) take arrays: they never import scorers, backends or the scoring run.
- The research wing uses the core; the core does not use it (the command line's `cqa` subcommand and the old
  module names kept for one release are the only doors).
- One job per module: no module over 460 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cqmetric"
HEAVY = ("torch", "transformers", "vllm", "peft", "cqmetric.backends")
MAX_LINES = 460


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Modules a file imports (at module level only, or anywhere)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


FILES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_no_import_circles():
    graph = {name: {m for m in _imports(path, top_level_only=False) if m in FILES and m != name}
             for name, path in FILES.items() if path.name != "__init__.py"}
    graph = {k: {m for m in v if FILES[m].name != "__init__.py"} for k, v in graph.items()}
    seen, stack, circles = set(), [], []

    def visit(node, trail):
        if node in trail:
            circles.append(trail[trail.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        for nxt in graph.get(node, ()):
            visit(nxt, trail + [node])

    for start in graph:
        visit(start, stack)
    assert not circles, circles[:3]


@pytest.mark.parametrize("prefix", ["cqmetric.scorers", "cqmetric.information", "cqmetric.reliability",
                                    "cqmetric.resampling", "cqmetric.signature", "cqmetric.serialization",
                                    "cqmetric.options", "cqmetric.settings", "cqmetric.types"])
def test_arithmetic_and_statistics_never_load_a_model(prefix):
    for name, path in FILES.items():
        if name == prefix or name.startswith(prefix + "."):
            heavy = sorted(m for m in _imports(path, top_level_only=False) if m.startswith(HEAVY))
            assert not heavy, f"{name} imports {heavy}"


def test_statistics_take_arrays_not_scorers():
    for name, path in FILES.items():
        if name.startswith("cqmetric.reliability"):
            used = sorted(m for m in _imports(path, top_level_only=False)
                          if m.startswith(("cqmetric.scorers", "cqmetric.backends", "cqmetric.scoring", "cqmetric.api")))
            assert not used, f"{name} imports {used}"


def test_the_core_does_not_use_the_research_wing():
    doors = {"cqmetric.cli.cqa", "cqmetric.hanna", "cqmetric.perturb", "cqmetric.fitting"}
    for name, path in FILES.items():
        if name.startswith("cqmetric.research") or name in doors:
            continue
        used = sorted(m for m in _imports(path, top_level_only=False) if m.startswith("cqmetric.research"))
        assert not used, f"{name} imports {used}"


def test_one_job_per_module_means_a_readable_size():
    big = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in FILES.items()}
    assert not {k: v for k, v in big.items() if v > MAX_LINES}
