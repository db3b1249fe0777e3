"""Count how the package is laid out: where each setting is defined, module sizes, and import circles.

A setting is *defined* at a place that names it for itself: a function parameter, a dataclass/class field, or
the setting's name as a string in a hand-kept list or tuple. Run from the repository root:

    python benchmarks/house/counts.py            # a table on stdout
    python benchmarks/house/counts.py --json     # the same as JSON
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections import defaultdict
from pathlib import Path

SETTINGS = ("dtype", "device", "start_token", "max_length", "stride", "batch_size", "batch_tokens", "progress",
            "n_boot", "n_boot", "seed", "confidence")
ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "cqmetric"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def setting_places(tree: ast.AST) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                if a.arg in SETTINGS:
                    counts[a.arg] += 1
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.target.id in SETTINGS:
                    counts[item.target.id] += 1
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            for elt in node.elts:
                if isinstance(elt, ast.Constant) and elt.value in SETTINGS:
                    counts[elt.value] += 1
    return counts


def imports_of(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("cqmetric"):
                out.add(mod)
                for alias in node.names:
                    out.add(f"{mod}.{alias.name}")
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("cqmetric")}
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p): p for p in files}
    per_setting: dict[str, dict[str, int]] = {s: {} for s in SETTINGS}
    graph: dict[str, set[str]] = {}
    sizes = {}
    for name, path in modules.items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        sizes[name] = len(text.splitlines())
        for setting, n in setting_places(tree).items():
            per_setting[setting][name] = n
        graph[name] = {m for m in imports_of(tree, name, path.name == "__init__.py") if m in modules and m != name}
    # A package's __init__ re-exports; an import of a package is not a dependency on every module in it.
    result = {
        "settings": {s: {"places": sum(v.values()), "modules": len(v)} for s, v in per_setting.items()},
        "modules_over_450_lines": {k: v for k, v in sorted(sizes.items()) if v > 450},
        "import_circles": cycles({k: {m for m in v if not modules[m].name == "__init__.py"}
                                  for k, v in graph.items() if modules[k].name != "__init__.py"}),
        "n_modules": len(modules),
        "total_lines": sum(sizes.values()),
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print("setting        places  modules")
    for s, v in result["settings"].items():
        print(f"{s:<14} {v['places']:>6}  {v['modules']:>7}")
    print("modules over 450 lines:", result["modules_over_450_lines"])
    print("import circles:", result["import_circles"])
    print(f"{result['n_modules']} modules, {result['total_lines']} lines")


if __name__ == "__main__":
    main()
