"""cqmetric.viz: the per-token HTML view and the figures (matplotlib with the Agg canvas, no display)."""

from __future__ import annotations

import builtins
import html
import math
from html.parser import HTMLParser

import numpy as np
import pytest

from cqmetric import score
from cqmetric.backends.precomputed import PrecomputedBackend
from cqmetric.errors import InputValidationError, MissingDependencyError
from cqmetric.information import chain_rule_profile
from cqmetric.types import BackendInfo
from cqmetric.viz import plot_agreement, plot_profile, save_token_html, token_colour, token_html

VOID = {"meta", "br", "img", "link", "input", "hr"}

# Tokens chosen to need escaping, with positive, negative and zero information.
TOKENS = ["<b>", " & ", ' "quoted"', " fish\n", " 'tail'", " end"]
S_BITS = [5.0, 2.0, 3.0, 4.0, 1.5, 2.0]
C_BITS = [1.0, 3.5, 3.0, 2.5, 1.0, 4.0]


def _backend() -> tuple[PrecomputedBackend, str, str]:
    text = "".join(TOKENS)
    offsets, pos = [], 0
    for tok in TOKENS:
        offsets.append([pos, pos + len(tok)])
        pos += len(tok)
    ids = tuple(range(10, 10 + len(TOKENS)))
    prompt = "A prompt."
    nats = lambda bits: [-b * math.log(2) for b in bits]  # noqa: E731
    backend = PrecomputedBackend(
        {text: (ids, offsets)},
        {("Text:\n", ids): nats(S_BITS), (f"Prompt: {prompt}\nText:\n", ids): nats(C_BITS)},
        BackendInfo("toy", "none", "n/a", "none", 0, 0),
    )
    return backend, text, prompt


@pytest.fixture(scope="module")
def result():
    backend, text, prompt = _backend()
    return score([text], [prompt], model=backend, details=True, n_boot=0)


class _Collector(HTMLParser):
    """Checks nesting and collects the token spans (attributes and text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tokens: list[dict] = []
        self.errors: list[str] = []
        self.doctype = False
        self.in_token = False

    def handle_decl(self, decl):
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        self.stack.append(tag)
        attrs = dict(attrs)
        if tag == "span" and attrs.get("class") == "cqm-tok":
            self.tokens.append({**attrs, "text": ""})
            self.in_token = True

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()
        self.in_token = False

    def handle_data(self, data):
        if self.in_token:
            self.tokens[-1]["text"] += data


def _parse(page: str) -> _Collector:
    parser = _Collector()
    parser.feed(page)
    parser.close()
    return parser


def _rgb(style: str) -> tuple[int, int, int]:
    values = style.split("background-color:rgb(")[1].split(")")[0]
    return tuple(int(v) for v in values.split(","))  # type: ignore[return-value]


def test_token_html_is_well_formed_and_complete(result):
    page = token_html(result)
    parsed = _parse(page)
    assert parsed.doctype and not parsed.errors and not parsed.stack
    assert [t["text"] for t in parsed.tokens] == TOKENS
    for tok in TOKENS:  # every token appears escaped in the source, never raw where it would be markup
        assert html.escape(tok, quote=False) in page
    assert "<b>" not in page  # the token "<b>" is text, not markup
    assert "http" not in page and "<script" not in page and "<link" not in page  # self-contained


def test_token_colours_follow_the_sign_of_i(result):
    parsed = _parse(token_html(result))
    expected = np.array(S_BITS) - np.array(C_BITS)
    for tok, i in zip(parsed.tokens, expected):
        r, g, b = _rgb(tok["style"])
        if i > 0:
            assert b > r, (tok, i)
        elif i < 0:
            assert r > b, (tok, i)
        else:
            assert (r, g, b) == (255, 255, 255)
    # The largest |i| saturates the scale by default.
    strongest = int(np.argmax(np.abs(expected)))
    assert _rgb(parsed.tokens[strongest]["style"]) == token_colour(float(expected[strongest]), 4.0)


def test_hover_values_equal_the_per_token_numbers(result):
    detail = result.per_token[0]
    parsed = _parse(token_html(result, digits=4))
    for tok, token, s, c, i in zip(parsed.tokens, detail["token"], detail["s"], detail["c"], detail["i"]):
        lines = tok["title"].split("\n")
        assert lines[0] == repr(token)
        assert lines[1] == f"s_t = {s:.4f} bits"
        assert lines[2] == f"c_t = {c:.4f} bits"
        assert lines[3] == f"i_t = {i:+.4f} bits"
        assert float(tok["data-s"]) == s and float(tok["data-c"]) == c and float(tok["data-i"]) == i


def test_token_html_accepts_records_and_details(result, tmp_path):
    from_result = token_html(result)
    assert token_html(result.to_records()) == from_result
    assert token_html(result.per_token[0]) == from_result
    fragment = token_html(result, full_page=False)
    assert fragment.startswith('<div class="cqm-view">') and "<html" not in fragment
    assert not _parse(fragment).errors
    path = save_token_html(tmp_path / "view.html", result, title="x < y")
    assert path.read_text(encoding="utf-8") == token_html(result, title="x < y")
    assert "<title>x &lt; y</title>" in path.read_text(encoding="utf-8")


def test_token_html_fixed_scale_and_errors(result):
    page = token_html(result, vmax=100.0)
    assert all(max(_rgb(t["style"])) > 200 for t in _parse(page).tokens)  # pale on a wide scale
    with pytest.raises(InputValidationError, match="details=True"):
        token_html(score(["A cat sat."], ["Write about a cat."], model=PrecomputedBackend.example(), n_boot=0))
    with pytest.raises(InputValidationError, match="constraints"):
        token_html({"token": ["a"], "s": [1.0]})
    with pytest.raises(InputValidationError, match="index"):
        token_html(result, index=3)
    with pytest.raises(InputValidationError, match="vmax"):
        token_html(result, vmax=0)
    with pytest.raises(InputValidationError, match="same length"):
        token_html({"token": ["a", "b"], "s": [1.0], "c": [1.0]})


def test_token_colour_scale():
    assert token_colour(0.0, 1.0) == (255, 255, 255)
    assert token_colour(1.0, 1.0) == token_colour(7.0, 1.0)  # clipped
    r1, _, b1 = token_colour(0.5, 1.0)
    assert b1 > r1 and token_colour(-0.5, 1.0)[0] > token_colour(-0.5, 1.0)[2]


# -- figures ------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=False)
def agg(monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")


def test_plot_profile_has_one_bar_per_unit(agg, tmp_path):
    profile = chain_rule_profile(np.array([2.0, 1.0, 0.5, -0.5, 3.0, 1.0, -1.0]), np.array([0, 0, 1, 1, 2, 3, 3]),
                                 [(0, 5), (5, 9), (9, 14), (14, 20)])
    fig = plot_profile(profile)
    bars = fig.axes[0].patches
    assert len(bars) == 4
    assert [b.get_height() for b in bars] == pytest.approx(profile.information.tolist())
    line = fig.axes[1].lines[0]
    assert line.get_ydata()[-1] == pytest.approx(100.0)  # the cumulative share ends at the whole
    assert "top 20%" in fig.axes[0].get_title()
    fig.savefig(tmp_path / "profile.png")
    assert (tmp_path / "profile.png").stat().st_size > 1000

    labelled = plot_profile(profile, labels=["a", "b", "c", "d"], title="mine")
    assert [t.get_text() for t in labelled.axes[0].get_xticklabels()] == ["a", "b", "c", "d"]
    assert labelled.axes[0].get_title() == "mine"
    with pytest.raises(InputValidationError, match="one ChainRuleProfile"):
        plot_profile([profile])


def test_plot_agreement_has_one_point_per_item_and_the_correlation(agg):
    from scipy import stats

    rng = np.random.default_rng(3)
    ratings = rng.integers(1, 6, size=30).astype(float)
    scores = ratings + rng.normal(0, 1.0, size=30)
    fig = plot_agreement(scores, ratings, method="kendall", xlabel="cs", ylabel="rating", n_boot=200, seed=0)
    ax = fig.axes[0]
    assert len(ax.collections[0].get_offsets()) == 30
    assert len([ln for ln in ax.lines if len(ln.get_xdata())]) == 1  # the trend line
    tau = stats.kendalltau(scores, ratings).statistic
    legend = " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert f"Kendall τ = {tau:.3f}" in legend and "95% CI" in legend
    assert f"{tau:.2f}" in ax.get_title()


def test_plot_agreement_group_level(agg):
    from cqmetric.reliability.correlation import correlation

    x = [1, 2, 3, 1, 2, 3, 3, 1, 2]
    y = [2, 1, 3, 1, 2, 3, 1, 2, 3]
    groups = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    fig = plot_agreement(x, y, method="spearman", level="group", groups=groups, n_boot=0)
    expected = correlation(x, y, method="spearman", level="group", groups=groups, n_boot=0).estimate
    legend = " ".join(t.get_text() for t in fig.axes[0].get_legend().get_texts())
    assert f"= {expected:.3f}" in legend and "within groups" in legend


def test_plot_agreement_checks_its_input(agg):
    with pytest.raises(InputValidationError, match="same length"):
        plot_agreement([1, 2, 3], [1, 2])
    with pytest.raises(InputValidationError, match="at least 3"):
        plot_agreement([1, 2], [1, 2])
    with pytest.raises(InputValidationError, match="finite"):
        plot_agreement([1, 2, float("nan")], [1, 2, 3])
    with pytest.raises(InputValidationError, match="method"):
        plot_agreement([1, 2, 3], [1, 2, 3], method="cosine")
    with pytest.raises(InputValidationError, match=r"plot_agreement: expected `seed` to be a non-negative integer"):
        plot_agreement([1, 2, 3], [1, 3, 2], seed=-1)


def test_figures_without_matplotlib_name_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("no matplotlib here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    profile = chain_rule_profile(np.array([1.0]), np.array([0]), [(0, 1)])
    with pytest.raises(MissingDependencyError, match=r"pip install 'cqmetric\[plot\]'"):
        plot_profile(profile)
    with pytest.raises(MissingDependencyError, match=r"pip install 'cqmetric\[plot\]'"):
        plot_agreement([1, 2, 3], [1, 3, 2], n_boot=0)
    assert token_html({"token": ["a"], "s": [1.0], "c": [0.5]})  # the HTML view needs no matplotlib
