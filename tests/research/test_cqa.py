"""The CQA workflow: statistics against scipy and hand counts, Holm, tiny tuned models, and refused inputs."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from cqmetric.errors import DegenerateInputWarning, InputValidationError, ModelFolderError
from cqmetric.reliability.multiplicity import holm
from cqmetric.research import cqa as cqa_module
from cqmetric.research.cqa import check_groups, cqa_statistics, run_cqa

try:  # the statistics tests need neither; the model tests skip without peft (extra `cqa`)
    import peft
    import torch
except ImportError:
    peft = torch = None

LITERARY = [
    ("The lighthouse keeper climbed the stairs at dawn and wiped the salt from the lens.", "Write about a keeper."),
    ("Rain fell on the town for a hundred years, and the people learned to swim.", "Write about endless rain."),
    ("She opened the letter, read it twice, and laughed at the strange handwriting.", "Write about a letter."),
    ("The cat sat on the mat. The dog slept by the door.", "Write about two pets."),
    ("A robot gardener hummed to the roses and the roses leaned toward it.", "Write about a robot gardener."),
    ("The keeper found a bottle on the rocks, and inside it a map of the stairs.", "Write about a found map."),
]
FACTUAL = [
    ("Water boils at one hundred degrees at sea level.", "Explain the boiling point of water."),
    ("The heart pumps blood through the arteries and veins.", "Explain what the heart does."),
    ("Paris is the capital of France and lies on the Seine.", "Explain where Paris is."),
    ("A year has twelve months and about three hundred sixty five days.", "Explain the calendar year."),
    ("Iron rusts when it meets water and oxygen for a long time.", "Explain how iron rusts."),
    ("Plants turn light, water and air into sugar and oxygen.", "Explain photosynthesis."),
]
GROUPS = {"literary": LITERARY, "factual": FACTUAL}


# -- statistics: Holm and the per-checkpoint summaries -------------------------------------------------------


def test_holm_hand_computed():
    # Hand count: sorted p = .005, .01, .03, .04 (m = 4) -> 4*.005 = .02, 3*.01 = .03, 2*.03 = .06,
    # 1*.04 = .04 raised to the running maximum .06; back in input order: .03, .06, .06, .02.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-12)
    # Capped at 1: 3*.5 = 1.5 -> 1.
    assert holm([0.5, 0.6, 0.01]) == pytest.approx([1.0, 1.0, 0.03], abs=1e-12)
    # A test not performed stays NaN and does not count in m (m = 2 here: 2*.02 = .04).
    out = holm([0.02, float("nan"), 0.3])
    assert out[0] == pytest.approx(0.04) and math.isnan(out[1]) and out[2] == pytest.approx(0.3)


def test_holm_against_statsmodels():
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    rng = np.random.default_rng(0)
    for size in (1, 2, 5, 17):
        p = rng.uniform(0, 0.2, size)
        p[: size // 3] = p[0]  # ties
        assert holm(p) == pytest.approx(multipletests(p, method="holm")[1], abs=1e-12)


def test_holm_refuses_values_outside_unit_interval():
    with pytest.raises(InputValidationError, match=r"holm: expected p-values in \[0, 1\]"):
        holm([0.2, 1.5])


def test_statistics_against_scipy_and_hand():
    rng = np.random.default_rng(3)
    base = rng.normal(1.0, 0.3, 24)
    d1 = np.r_[rng.normal(0.20, 0.1, 12), rng.normal(0.0, 0.1, 12)]
    d2 = np.r_[rng.normal(0.05, 0.1, 12), rng.normal(0.0, 0.1, 12)]
    labels = ["lit"] * 12 + ["fact"] * 12
    res = cqa_statistics(base, {"e1": base + d1, "e2": base + d2}, labels, n_boot=500, seed=7)
    pvals = {}
    for label, d in (("e1", d1), ("e2", d2)):
        for g, sl in (("lit", slice(0, 12)), ("fact", slice(12, 24))):
            s = res[label].groups[g]
            dd = d[sl]
            assert s.n == 12
            assert s.mean == pytest.approx(dd.mean(), abs=1e-12)
            assert s.median == pytest.approx(np.median(dd), abs=1e-12)
            assert s.wilcoxon.pvalue == pytest.approx(stats.wilcoxon(dd, alternative="greater").pvalue, rel=1e-9)
            assert s.d_z.estimate == pytest.approx(dd.mean() / dd.std(ddof=1), rel=1e-9)  # d_z by hand
            assert s.mean_ci[0] < s.mean < s.mean_ci[1]
            pvals[label, g] = s.wilcoxon.pvalue
        c = res[label].contrast
        assert c.estimate == pytest.approx(d[:12].mean() - d[12:].mean(), abs=1e-12)
        assert c.pvalue == pytest.approx(stats.mannwhitneyu(d[:12], d[12:], alternative="greater").pvalue, rel=1e-9)
    for g in ("lit", "fact"):  # Holm over two checkpoints by hand: min p doubled, the other kept (>= the first)
        lo, hi = sorted([pvals["e1", g], pvals["e2", g]])
        expected = [min(1, 2 * lo), min(1, max(2 * lo, hi))]
        got = sorted([res["e1"].holm[g], res["e2"].holm[g]])
        assert got == pytest.approx(expected, abs=1e-12)


def test_statistics_one_group():
    base = [0.1, 0.2, 0.3, 0.4, 0.5]
    res = cqa_statistics(base, {"e1": [0.3, 0.3, 0.6, 0.5, 0.9]}, ["lit"] * 5, n_boot=0)
    d = np.array([0.2, 0.1, 0.3, 0.1, 0.4])
    assert res["e1"].groups["lit"].mean == pytest.approx(d.mean())
    assert res["e1"].holm["lit"] == pytest.approx(res["e1"].groups["lit"].wilcoxon.pvalue)  # family of one
    assert res["e1"].contrast is None and res["e1"].contrast_holm is None


# -- tiny models: a base, a LoRA adapter trained on the literary items, and variants -------------------------


def _ids(tokenizer, prompt, text):
    """Ids as a plain reading of the template: BOS, 'Prompt: ...\\nText:\\n' (or 'Text:\\n'), then the text."""
    context = ("" if prompt is None else f"Prompt: {prompt}\n") + "Text:\n"
    ctx = [tokenizer.bos_token_id] + tokenizer(context, add_special_tokens=False)["input_ids"]
    return ctx, tokenizer(text, add_special_tokens=False)["input_ids"]


def _train_adapter(base_dir: Path, out: Path, up, down, *, steps: int = 40, seed: int = 0) -> Path:
    """A LoRA adapter trained a few steps to raise log p(text | prompt) - log p(text) on the items `up` and lower
    it on the items `down`: a controlled injection of a known sign into each group's Δ(ΔI)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    cfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], lora_dropout=0.0)
    model = peft.get_peft_model(model, cfg)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    schedule = [(item, 1.0) for item in up] + [(item, -1.0) for item in down]
    for step in range(steps):
        (text, prompt), sign = schedule[step % len(schedule)]
        lp = []
        for p in (None, prompt):
            ctx, ids = _ids(tok, p, text)
            logp = torch.log_softmax(model(input_ids=torch.tensor([ctx + ids])).logits[0], -1)[len(ctx) - 1 : -1]
            lp.append(logp[torch.arange(len(ids)), torch.tensor(ids)].mean())
        loss = -sign * (lp[1] - lp[0])
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(out)
    return out


def _reference_cs(model_dir_or_model, tokenizer, items):
    """Calibrated surprise per item from plain forward passes (bits/token): mean_t [log2 p(x_t|Y) - log2 p(x_t)]."""
    model = model_dir_or_model
    out = []
    with torch.no_grad():
        for text, prompt in items:
            lp = []
            for p in (None, prompt):
                ctx, ids = _ids(tokenizer, p, text)
                logits = model(input_ids=torch.tensor([ctx + ids])).logits[0].double()
                logp = torch.log_softmax(logits, -1)[len(ctx) - 1 : -1]
                lp.append(logp[torch.arange(len(ids)), torch.tensor(ids)].numpy() / math.log(2))
            out.append(float(np.mean(lp[1] - lp[0])))
    return np.array(out)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_model_dir):
    if peft is None:
        pytest.skip("needs peft: pip install 'cqmetric[cqa]'")
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("cqa")
    trained = _train_adapter(tiny_model_dir, root / "trained", LITERARY, FACTUAL)
    zero = root / "zero"  # LoRA's default start: B = 0, so the merged model equals the base exactly
    peft.get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                        peft.LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"])).save_pretrained(zero)
    merged = peft.PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), trained)
    full = root / "full"
    merged.merge_and_unload().save_pretrained(full)
    return {"root": root, "base": tiny_model_dir, "trained": trained, "zero": zero, "full": full}


@pytest.fixture(scope="module")
def result(tiny):
    # The zero adapter's differences are all 0: its d_z and Wilcoxon are undefined, and cqmetric says so.
    with pytest.warns(DegenerateInputWarning, match="all differences equal"):
        return run_cqa(tiny["base"], {"trained": tiny["trained"], "zero": tiny["zero"]}, GROUPS, n_boot=200, seed=1,
                       batch_size=4)


def test_recovers_the_injected_difference(tiny, result):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny["base"])
    items = LITERARY + FACTUAL
    base_ref = _reference_cs(AutoModelForCausalLM.from_pretrained(tiny["base"]).eval(), tok, items)
    tuned_ref = _reference_cs(AutoModelForCausalLM.from_pretrained(tiny["full"]).eval(), tok, items)
    # The size: per item, Δ(ΔI) equals the one computed from plain forward passes.
    assert result.base_scores == pytest.approx(base_ref, abs=1e-5)
    assert result.delta("trained") == pytest.approx(tuned_ref - base_ref, abs=1e-5)
    # The sign: the injection raised what the prompts tell about the literary texts and lowered it for the factual.
    lit = result.checkpoints["trained"].groups["literary"]
    fact = result.checkpoints["trained"].groups["factual"]
    assert lit.mean > 0.05 and lit.n_positive == 6
    assert fact.mean < -0.05 and fact.n_negative == 6
    assert lit.mean == pytest.approx(np.mean((tuned_ref - base_ref)[:6]), abs=1e-5)
    contrast = result.checkpoints["trained"].contrast
    assert contrast.estimate == pytest.approx(lit.mean - fact.mean, abs=1e-12) and contrast.ci[0] > 0
    # The null injection: a LoRA adapter whose B matrices are zero changes nothing.
    assert np.abs(result.delta("zero")).max() < 1e-6


def test_adapter_and_full_checkpoint_agree_and_alone_equals_batched(tiny, result):
    alone = run_cqa(tiny["base"], {"trained": tiny["full"]}, GROUPS, n_boot=200, seed=1, batch_size=1)
    assert alone.delta("trained") == pytest.approx(result.delta("trained"), abs=1e-5)
    a, b = alone.checkpoints["trained"].groups["literary"], result.checkpoints["trained"].groups["literary"]
    assert a.wilcoxon.pvalue == pytest.approx(b.wilcoxon.pvalue)
    assert a.mean_ci == pytest.approx(b.mean_ci, abs=1e-5)
    # Alone, the family has one member: Holm leaves p as it is; with two checkpoints it can only grow.
    assert alone.checkpoints["trained"].holm["literary"] == pytest.approx(a.wilcoxon.pvalue)
    assert result.checkpoints["trained"].holm["literary"] >= b.wilcoxon.pvalue
    ps = [result.checkpoints[c].groups["literary"].wilcoxon.pvalue for c in ("trained", "zero")]
    assert [result.checkpoints[c].holm["literary"] for c in ("trained", "zero")] == pytest.approx(holm(ps), nan_ok=True)


def test_result_renders_and_serialises(result):
    text = str(result)
    assert "Holm" in text and "literary" in text and "contrast" in text
    data = json.loads(result.to_json())
    assert data["items"]["group"] == ["literary"] * 6 + ["factual"] * 6
    assert [m["kind"] for m in data["models"]] == ["base", "adapter", "adapter"]
    assert data["models"][1]["weights"] != data["models"][0]["weights"]  # merged parameters hashed
    for key in ("models:", "n_boot:200", "seed:1", "groups:literary:6:", "holm:across-checkpoints-within-group",
                "est:pointwise"):
        assert key in result.signature
    assert "per_token" not in data and "per_token" in json.loads(result.to_json(per_token=True))
    with pytest.raises(AttributeError):
        result.base_scores = None  # frozen
    with pytest.raises(ValueError):
        result.base_scores[0] = 1.0  # read-only arrays


def test_per_token_table_adds_up_to_the_item_delta(result):
    rows = result.per_token_table("trained", group="literary")
    assert {r["group"] for r in rows} == {"literary"}
    for k in range(6):
        info = [r["delta_information"] for r in rows if r["item"] == k]
        assert len(info) == result.n_tokens[k]
        assert np.mean(info) == pytest.approx(result.delta("trained")[k], abs=1e-9)
    with pytest.raises(InputValidationError, match="expected a checkpoint among"):
        result.per_token_table("epoch-9")


def test_per_token_picture(result):
    pytest.importorskip("matplotlib")
    fig = result.plot_per_token(bins=4)
    axes = fig.get_axes()
    assert len(axes) == 4  # 2 rows x 2 groups
    assert len(axes[0].get_lines()) == 3  # two checkpoints and the zero line


# -- bad input: each refused with a clear error before any model pass ----------------------------------------


@pytest.fixture()
def no_model_pass(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model pass ran before the input was refused")

    monkeypatch.setattr(cqa_module, "_score", refuse)


def test_items_without_constraints_or_empty_groups(tiny, no_model_pass):
    with pytest.raises(InputValidationError, match="item 1 of group 'lit' has no constraint"):
        run_cqa(tiny["base"], tiny["zero"], {"lit": [("A text.", "A prompt."), ("Another text.", None)]})
    with pytest.raises(InputValidationError, match=r"item 0 of group 'lit' to be a \(text, constraint\) pair"):
        run_cqa(tiny["base"], tiny["zero"], {"lit": ["A text without its prompt."]})
    with pytest.raises(InputValidationError, match="expected group 'fact' to hold at least one"):
        run_cqa(tiny["base"], tiny["zero"], {"lit": LITERARY, "fact": []})
    with pytest.raises(InputValidationError, match="expected `contrast` to name two different groups"):
        run_cqa(tiny["base"], tiny["zero"], GROUPS, contrast=("literary", "poetry"))
    with pytest.raises(InputValidationError, match="expected `groups` to be a non-empty dict"):
        check_groups([("a", "b")])


def test_checkpoint_with_another_tokenizer(tiny, tiny_llama_dir, no_model_pass):
    with pytest.raises(InputValidationError, match="has another tokenizer than the base"):
        run_cqa(tiny["base"], {"other": tiny_llama_dir}, GROUPS)


def test_checkpoint_that_declares_code(tiny, no_model_pass):
    folder = tiny["root"] / "with-code"
    folder.mkdir()
    for f in tiny["full"].iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFolderError, match=r"declares custom code \(config.json -> modeling_evil.py\)"):
        run_cqa(tiny["base"], folder, GROUPS)
    adapter = tiny["root"] / "adapter-with-code"
    adapter.mkdir()
    for f in tiny["trained"].iterdir():
        (adapter / f.name).write_bytes(f.read_bytes())
    (adapter / "tokenizer_config.json").write_text(json.dumps({"auto_map": {"AutoTokenizer": ["evil.Tok", None]}}))
    with pytest.raises(ModelFolderError, match="declares custom code"):
        run_cqa(tiny["base"], adapter, GROUPS)


def test_adapter_for_another_base(tiny, tiny_llama_dir, tmp_path, no_model_pass):
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    # Made for a Llama: its target modules do not exist in the GPT-2 base.
    llama_adapter = tmp_path / "llama-adapter"
    peft.get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama_dir),
                        peft.LoraConfig(r=2, target_modules=["q_proj", "v_proj"])).save_pretrained(llama_adapter)
    with pytest.raises(InputValidationError, match=r"does not fit the base: its target modules .*q_proj"):
        run_cqa(tiny["base"], llama_adapter, GROUPS)
    # Made for a wider GPT-2: the same module names, other shapes.
    base_cfg = AutoModelForCausalLM.from_pretrained(tiny["base"]).config.to_dict()
    wide = GPT2LMHeadModel(GPT2Config(**{**base_cfg, "n_embd": 64}))
    wide_adapter = tmp_path / "wide-adapter"
    peft.get_peft_model(wide, peft.LoraConfig(r=2, target_modules=["c_attn"])).save_pretrained(wide_adapter)
    with pytest.raises(InputValidationError, match=r"have other shapes than the base's layers need"):
        run_cqa(tiny["base"], wide_adapter, GROUPS)


def test_bad_checkpoint_arguments(tiny, no_model_pass):
    with pytest.raises(InputValidationError, match="expected a checkpoint folder"):
        run_cqa(tiny["base"], tiny["root"] / "missing", GROUPS)
    with pytest.raises(InputValidationError, match="expected distinct checkpoint labels"):
        run_cqa(tiny["base"], [tiny["zero"], tiny["zero"]], GROUPS)
    with pytest.raises(InputValidationError, match="expected at least one checkpoint"):
        run_cqa(tiny["base"], [], GROUPS)
    pickled = tiny["root"] / "pickled-adapter"
    pickled.mkdir()
    (pickled / "adapter_config.json").write_text((tiny["zero"] / "adapter_config.json").read_text())
    (pickled / "adapter_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelFolderError, match="only pickle weights"):
        run_cqa(tiny["base"], pickled, GROUPS)
    with pytest.raises(InputValidationError, match="expected `n_boot`"):
        run_cqa(tiny["base"], tiny["zero"], GROUPS, n_boot=-1)


# -- the command line --------------------------------------------------------------------------------------


def test_cli_cqa(tiny, tmp_path, capsys):
    from cqmetric.cli import main

    items = tmp_path / "items.jsonl"
    rows = [{"group": g, "text": t, "constraint": c} for g, its in GROUPS.items() for t, c in its]
    items.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "cqa.json"
    code = main(["cqa", str(items), "-o", str(out), "--base", str(tiny["base"]), "--checkpoint", str(tiny["trained"]),
                 "--label", "trained", "--n-boot", "200", "--seed", "1", "--batch-size", "4", "-q"])
    assert code == 0
    data = json.loads(out.read_text())
    lit = data["checkpoints"]["trained"]["groups"]["literary"]
    assert lit["n"] == 6 and lit["mean"] > 0
    rows[3]["constraint"] = ""
    items.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["cqa", str(items), "-o", str(out), "--base", str(tiny["base"]), "--checkpoint",
                 str(tiny["trained"]), "-q"]) == 2
    assert "items.jsonl:4: expected field 'constraint' to hold the item's constraint" in capsys.readouterr().err


def test_cache_reads_instead_of_scoring(tiny, tmp_path, monkeypatch):
    first = run_cqa(tiny["base"], {"trained": tiny["trained"]}, GROUPS, n_boot=0, cache=tmp_path)
    assert len(list(tmp_path.glob("cqa-scores-*.json"))) == 2  # the base and the checkpoint

    def refuse(*args, **kwargs):
        raise AssertionError("scored again although the cache holds these scores")

    monkeypatch.setattr(cqa_module, "_score", refuse)
    again = run_cqa(tiny["base"], {"trained": tiny["trained"]}, GROUPS, n_boot=0, cache=tmp_path)
    assert np.array_equal(again.delta("trained"), first.delta("trained"))
    assert again.signature == first.signature
    assert all(np.array_equal(a, b) for a, b in zip(again.logprobs["trained"], first.logprobs["trained"]))
    with pytest.raises(AssertionError, match="scored again"):  # another model's scores are not in the cache
        run_cqa(tiny["base"], {"zero": tiny["zero"]}, GROUPS, n_boot=0, cache=tmp_path)
    with pytest.raises(InputValidationError, match="expected `cache` to be an existing folder"):
        run_cqa(tiny["base"], tiny["zero"], GROUPS, cache=tmp_path / "missing")
