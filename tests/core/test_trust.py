"""Trust: a model's own code never runs, windows do not bias the estimator, composition cannot mix units, and
every bad input is a clear error that loses nothing (tiny random models; the real model is in test_embedded_model).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import reference_logprobs

from cqmetric import (
    CalibratedSurprise,
    ConstraintFit,
    External,
    Length,
    QuietGate,
    Residual,
    ScoreOptions,
    SoftGate,
    Surprise,
    WeightedSum,
    build_signature,
    dimensions,
    profiles,
    score,
)
from cqmetric.backends.hf import HFBackend
from cqmetric.errors import BackendError, InputValidationError, ModelFolderError

LN2 = np.log(2.0)
STORIES = [
    "The cat sat on the mat. It purred. Then it slept by the door.",
    "Rain fell on the town for a hundred years. The people learned to swim.",
    "She opened the letter and read it twice. Then she laughed at the handwriting.",
]
PROMPTS = ["Write about a cat.", "Write about rain.", "Write about a letter."]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


# -- 1. a model folder's own code never runs ----------------------------------------------------------------
def _custom_code_folder(tiny_model_dir: Path, target: Path, *, where: str = "config.json") -> tuple[Path, Path]:
    """A copy of the tiny model whose config asks transformers to import evil_model.py, which leaves a marker."""
    shutil.copytree(tiny_model_dir, target)
    marker = target / "CODE_RAN"
    (target / "evil_model.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from transformers import GPT2Config, GPT2LMHeadModel\n"
        "class EvilConfig(GPT2Config):\n    model_type = 'gpt2'\n"
        "class EvilModel(GPT2LMHeadModel):\n    config_class = EvilConfig\n"
    )
    config = json.loads((target / where).read_text())
    config["auto_map"] = ({"AutoConfig": "evil_model.EvilConfig", "AutoModelForCausalLM": "evil_model.EvilModel"}
                          if where == "config.json" else {"AutoTokenizer": ["evil_model.EvilTokenizer", None]})
    (target / where).write_text(json.dumps(config))
    return target, marker


def test_the_custom_code_folder_really_runs_code_when_trusted(tiny_model_dir, tmp_path):
    # The fixture is a real custom-code folder: transformers itself runs evil_model.py when trusted. So the tests
    # below, where cqmetric refuses it, could fail.
    folder, marker = _custom_code_folder(tiny_model_dir, tmp_path / "evil")
    code = f"from transformers import AutoConfig; AutoConfig.from_pretrained({str(folder)!r}, trust_remote_code=True)"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=600,
                   env={**ENV, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")})
    assert marker.exists()


def test_score_refuses_a_custom_code_folder_and_names_the_file(tiny_model_dir, tmp_path):
    folder, marker = _custom_code_folder(tiny_model_dir, tmp_path / "evil")
    with pytest.raises(BackendError, match=r"declares custom code \(config.json -> evil_model.py\).*never runs"):
        score(STORIES, PROMPTS, model=str(folder))
    tok_folder, tok_marker = _custom_code_folder(tiny_model_dir, tmp_path / "evil-tok", where="tokenizer_config.json")
    with pytest.raises(ModelFolderError, match=r"tokenizer_config.json -> evil_model.py"):
        HFBackend(tok_folder)
    assert not marker.exists() and not tok_marker.exists()


def test_cli_refuses_a_custom_code_folder_even_with_yes_on_stdin(tiny_model_dir, tmp_path):
    folder, marker = _custom_code_folder(tiny_model_dir, tmp_path / "evil")
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "A cat sat.", "prompt": "Cats."}) + "\n")
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([sys.executable, "-m", "cqmetric.cli", "score", str(src), "-o", str(out), "--model",
                           str(folder), "--constraint-field", "prompt", "-q"], input="y\ny\n", env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "declares custom code (config.json -> evil_model.py)" in lines[0], proc.stderr
    assert not marker.exists() and not out.exists()


def test_pickle_only_weights_are_refused_unless_allowed(tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").unlink()
    torch.save(AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict(), folder / "pytorch_model.bin")
    assert (folder / "pytorch_model.bin").is_file() and not list(folder.glob("*.safetensors"))
    with pytest.raises(ModelFolderError, match=r"only as pickle files \(pytorch_model.bin\).*allow_pickle=True"):
        HFBackend(folder)
    trusted, safe = HFBackend(folder, allow_pickle=True), HFBackend(tiny_model_dir)
    ids = tuple(safe.tokenize(STORIES[0]).token_ids.tolist())
    from cqmetric.types import Request

    np.testing.assert_allclose(trusted.score([Request("Text:\n", ids)])[0].logprobs,
                               safe.score([Request("Text:\n", ids)])[0].logprobs, atol=1e-6)


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "nowhere", r"expected a local model folder, a \.gguf file or the id of a model already in"),
    (lambda d: d, r"expected a model folder with config\.json, got '.*' holding nothing"),
    (lambda d: "no-such-org/no-such-model", r"got 'no-such-org/no-such-model', which is none of these"),
])
def test_missing_or_empty_model_folders_are_clear_errors(tmp_path, make, message):
    with pytest.raises(InputValidationError, match=message):
        score(["A cat sat."], model=make(tmp_path))


def test_a_model_that_is_no_model_is_a_clear_error():
    with pytest.raises(InputValidationError, match=r"expected `model` to be None .* got int \(123\)"):
        score(["A cat sat."], model=123)


def test_an_accelerator_this_machine_lacks_is_a_clear_error(tiny_model_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(InputValidationError, match=r"device='cuda', but this machine has no usable cuda device"):
        score(["A cat sat."], model=str(tiny_model_dir), device="cuda")
    with pytest.raises(InputValidationError, match=r"device='gpu0', which torch does not accept"):
        HFBackend(tiny_model_dir, device="gpu0")


def test_a_loaded_model_is_never_moved_or_cast(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(InputValidationError, match=r"in torch.float32 but dtype='bfloat16' was asked for"):
        HFBackend(model, tok, dtype="bfloat16")
    if not torch.cuda.is_available():
        with pytest.raises(InputValidationError, match=r"no usable cuda device"):
            HFBackend(model, tok, device="cuda")
    backend = HFBackend(model, tok, device="cpu")
    assert backend.info.dtype == "fp32"
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# -- 2. windows do not bias the estimator ---------------------------------------------------------------------
@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_llama_dir"])
def test_windowed_scores_match_a_hand_built_reference_with_one_budget_per_text(request, fixture):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = request.getfixturevalue(fixture)
    model, tok = AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    start = tok.bos_token_id if fixture == "tiny_llama_dir" else tok.eos_token_id  # what each tokenizer starts with
    text = " ".join(STORIES * 2)
    prompt = "A cat, rain and a letter."
    res = score([text], [prompt], model=str(folder), max_length=64, stride=7, details=True, n_boot=0)
    rec = res.to_records()[0]
    ids = tok(text, add_special_tokens=False)["input_ids"]
    contexts = ["Text:\n", f"Prompt: {prompt}\nText:\n"]
    longest = max(1 + len(tok(c, add_special_tokens=False)["input_ids"]) for c in contexts)
    budget = 64 - longest  # one budget for the text in both contexts: its longest context sets it
    assert budget >= 14
    assert len(ids) > 2 * budget  # several windows
    s_ref = -reference_logprobs(model, tok, start, contexts[0], ids, window=(budget, 7)) / LN2
    c_ref = -reference_logprobs(model, tok, start, contexts[1], ids, window=(budget, 7)) / LN2
    np.testing.assert_allclose(rec["tokens"]["s"], s_ref, atol=1e-5)
    np.testing.assert_allclose(rec["tokens"]["c"], c_ref, atol=1e-5)
    assert rec["calibrated_surprise"] == pytest.approx(float(np.mean(s_ref - c_ref)), abs=1e-5)
    # The default stride is half of what the window holds for this text.
    auto = score([text], [prompt], model=str(folder), max_length=64, details=True, n_boot=0).to_records()[0]
    s_auto = -reference_logprobs(model, tok, start, contexts[0], ids, window=(budget, budget // 2)) / LN2
    np.testing.assert_allclose(auto["tokens"]["s"], s_auto, atol=1e-5)


def test_windowed_scores_do_not_depend_on_neighbours(tiny_model_dir):
    text = " ".join(STORIES * 2)
    alone = score([text], [PROMPTS[0]], model=str(tiny_model_dir), max_length=64, n_boot=0).to_records()[0]
    mixed = score([STORIES[1], text, STORIES[2]], [PROMPTS[1], PROMPTS[0], "A much longer prompt " * 2],
                  model=str(tiny_model_dir), max_length=64, batch_size=2, n_boot=0).to_records()[1]
    for key in ("calibrated_surprise", "surprise", "residual"):
        assert mixed[key] == pytest.approx(alone[key], abs=1e-5)


def test_window_settings_are_checked_before_scoring(tiny_model_dir):
    with pytest.raises(InputValidationError, match=r"`max_length` to be an integer >= 1, got 0"):
        score(STORIES, PROMPTS, model=str(tiny_model_dir), max_length=0)
    with pytest.raises(InputValidationError, match=r"`stride` to be an integer >= 1, got 0"):
        score(STORIES, PROMPTS, model=str(tiny_model_dir), stride=0)
    with pytest.raises(InputValidationError, match=r"`stride` smaller than the window \(max_length=16\), got 20"):
        score(STORIES, PROMPTS, model=str(tiny_model_dir), max_length=16, stride=20)
    with pytest.raises(InputValidationError, match=r"text 0: windows: the context takes \d+ tokens but the window"):
        score(STORIES, ["A prompt far longer than the window of eight tokens."] * 3, model=str(tiny_model_dir),
              max_length=8)
    with pytest.raises(InputValidationError, match=r"expected `stride` between 1 and \d+ \(the text tokens a window"):
        score([" ".join(STORIES * 2)], [PROMPTS[0]], model=str(tiny_model_dir), max_length=24, stride=20)


# -- 3. settings and inputs are checked before any model call -------------------------------------------------
class _NoModel:
    """A backend that fails the test if it is ever asked for anything."""

    info = property(lambda self: pytest.fail("the backend was consulted"))

    def tokenize(self, text):
        pytest.fail("the backend was asked to tokenize")

    def score(self, requests, *, entropy=False):
        pytest.fail("the model ran")


@pytest.mark.parametrize(("settings", "message"), [
    (dict(seed="x"), r"`seed` to be an integer >= 0, got 'x'"),
    (dict(confidence="0.9"), r"`confidence` to be a number in \(0, 1\), got '0.9'"),
    (dict(n_boot=1.5), r"`n_boot` to be an integer >= 0, got 1.5"),
    (dict(normalisation="byte"), r"unknown setting\(s\) 'normalisation'; allowed: estimator, normalization"),
    (dict(details="yes"), r"`details` to be True or False, got 'yes'"),
    (dict(constraints=[{"foo": 1}, "p", "p"]), r"constraints\[0\]: ConstraintSet: got source 'foo'"),
    (dict(constraints=[{"intent": 1}, "p", "p"]), r"'intent' statements to be a string or a list of strings, got int"),
    (dict(constraints=[[{"text": "a", "mood": "x"}], "p", "p"]), r"keys 'text' \(required\), 'source' and 'aspect'"),
    (dict(texts=["ok", "bad \ud800 text", "ok"]), r"`texts\[1\]` to be valid Unicode text, got a lone surrogate"),
    (dict(constraints=["p", "bad \udfff", "p"]), r"Constraint: expected `text` to be valid Unicode text"),
    (dict(scorers=[CalibratedSurprise(normalization="token")], normalization="byte"),
     r"CalibratedSurprise\(normalization='token'\) differs from the call's normalization='byte'"),
    (dict(scorers={"calibrated_surprise": CalibratedSurprise(estimator="expected")}, estimator="pointwise"),
     r"differs from the call's estimator='pointwise'"),
    (dict(scorers=[External([0.5, 0.5])]), r"External\('external'\) holds 2 values, but 3 texts are scored"),
])
def test_bad_settings_and_inputs_fail_before_the_model(settings, message):
    args = {"texts": STORIES, "constraints": PROMPTS, **settings}
    with pytest.raises(InputValidationError, match=message):
        score(args.pop("texts"), args.pop("constraints"), model=_NoModel(), **args)


def test_a_gate_must_be_a_judgement_in_the_unit_interval():
    with pytest.raises(InputValidationError, match=r"`satisfy` to be a judgement in \[0, 1\].*surprise\("):
        QuietGate(Surprise())  # satisfy is positional: a common slip, refused when built
    with pytest.raises(InputValidationError, match=r"every value in \[0, 1\], got 1.5 at index 1"):
        External([0.2, 1.5], bounds=(0, 1))
    with pytest.raises(InputValidationError, match=r"SoftGate: expected `scale` > 0"):
        SoftGate(scale=0.0)
    QuietGate(External([1.0, 0.0, 1.0], bounds=(0, 1)))  # a judge's verdicts are a valid gate


# -- 4. composition cannot mix units ----------------------------------------------------------------------------
def test_a_user_scorer_inherits_the_calls_units(tiny_backend):
    res = score(STORIES, PROMPTS, model=tiny_backend, normalization="byte", details=True, n_boot=0,
                scorers=[CalibratedSurprise(), Length()])
    for text, rec in zip(STORIES, res.to_records()):
        tokens = rec["tokens"]
        n_bytes = len(text.encode("utf-8"))
        assert rec["calibrated_surprise"] == pytest.approx(np.sum(tokens["i"]) / n_bytes)  # bits per byte, by hand
        assert rec["surprise"] == pytest.approx(np.sum(tokens["s"]) / n_bytes)
    assert res.units == {"calibrated_surprise": "bits/byte", "surprise": "bits/byte", "residual": "bits/byte",
                         "length": "tokens"}
    footer = str(res).splitlines()[-1]
    assert "length in tokens" in footer and "calibrated_surprise in bits/byte" in footer
    assert res.signature["norm"] == "byte" and res.signature["scorers"].endswith("+length(unit=token)")


def test_replacing_a_default_score_must_be_explicit(tiny_backend):
    with pytest.raises(InputValidationError, match=r"would replace the default score 'residual'; pass defaults=False"):
        score(STORIES, PROMPTS, model=tiny_backend, scorers={"residual": CalibratedSurprise()}, n_boot=0)
    only = score(STORIES, PROMPTS, model=tiny_backend, scorers={"residual": CalibratedSurprise()}, defaults=False,
                 n_boot=0)
    assert list(only.scores) == ["residual"]
    full = score(STORIES, PROMPTS, model=tiny_backend, n_boot=0)
    np.testing.assert_allclose(only["residual"], full["calibrated_surprise"], atol=1e-12)
    assert only.signature["scorers"] == "residual=calibrated_surprise(estimator=pointwise,normalization=token)"
    # A scorer equal to the default of its name merges with it and signs as the defaults.
    same = score(STORIES, PROMPTS, model=tiny_backend, scorers=[CalibratedSurprise()], n_boot=0)
    assert same.signature == full.signature and list(same.scores) == list(full.scores)


def test_soft_gate_external_values_and_composites_follow_their_formulas(tiny_backend):
    ref = score(STORIES, PROMPTS, model=tiny_backend, n_boot=0)
    cs, s = ref["calibrated_surprise"], ref["surprise"]
    threshold = float(np.median(cs))  # the hard gate opens for some texts and closes for others
    verdicts = [1.0, 0.0, 0.5]
    res = score(STORIES, PROMPTS, model=tiny_backend, n_boot=0, scorers={
        "hard": QuietGate(ConstraintFit(threshold=threshold), Surprise(), lam=0.5),
        "soft": SoftGate(CalibratedSurprise(), center=threshold, scale=0.1),
        "judged": QuietGate(External(verdicts, label="judge", bounds=(0, 1)), Surprise(), lam=1.0),
    })
    gate = (cs > threshold).astype(float)
    assert 0 < gate.sum() < len(gate)
    np.testing.assert_allclose(res["hard"], gate * (1 + 0.5 * s), atol=1e-12)
    np.testing.assert_allclose(res["soft"], 1 / (1 + np.exp(-(cs - threshold) / 0.1)), atol=1e-12)
    np.testing.assert_allclose(res["judged"], np.array(verdicts) * (1 + s), atol=1e-12)
    assert "judge" in res.signature["scorers"] and "sha=" in res.signature["scorers"]


def test_weighted_sum_members_inherit_units_too(tiny_backend):
    byte = score(STORIES, PROMPTS, model=tiny_backend, normalization="byte", n_boot=0)
    w = WeightedSum({"cs": (CalibratedSurprise(), 1.0)}, {"cs": (0.0, 1.0)}, source="unit")
    res = score(STORIES, PROMPTS, model=tiny_backend, normalization="byte", scorers=[w], n_boot=0)
    np.testing.assert_allclose(res["weighted"], byte["calibrated_surprise"], atol=1e-12)


def test_dimensions_and_profiles_take_the_settings_and_sign_them(tiny_model_dir):
    from cqmetric import Constraint, ConstraintSet

    rich = ConstraintSet((Constraint("A cat.", "intent", "mythos"), Constraint("Children.", "audience", "ethos")))
    dims = dimensions(STORIES[:1], [rich], model=str(tiny_model_dir), dtype="bfloat16", max_length=64)
    assert dims.signature["dtype"] == "bf16" and dims.signature["window"] == "64/auto"
    assert dims.signature["scorers"] == "dimensions(by=source)" and len(dims) == 1
    prof = profiles(STORIES, PROMPTS, model=str(tiny_model_dir), max_length=64)
    assert prof.signature["scorers"] == "profile(unit=sentence)" and prof.signature["norm"] == "sum"
    assert [p.information.sum() for p in prof] == pytest.approx(
        list(score(STORIES, PROMPTS, model=str(tiny_model_dir), max_length=64, normalization="sum",
                   n_boot=0)["calibrated_surprise"]), abs=1e-9)
    with pytest.raises(InputValidationError, match=r"takes no 'normalization'"):
        profiles(STORIES, PROMPTS, model=str(tiny_model_dir), normalization="byte")


def test_options_object_and_keywords_give_the_same_run(tiny_backend):
    opts = ScoreOptions(normalization="word", seed=3, n_boot=50)
    a = score(STORIES, PROMPTS, model=tiny_backend, options=opts)
    b = score(STORIES, PROMPTS, model=tiny_backend, normalization="word", seed=3, n_boot=50)
    assert a.to_records() == b.to_records() and a.signature == b.signature
    assert build_signature(tiny_backend, options=opts) == a.signature
    c = score(STORIES, PROMPTS, model=tiny_backend, options=opts, normalization="token")  # keywords override
    assert c.signature["norm"] == "token"


# -- the evaluate metric and the CLI refuse strings where lists belong ------------------------------------------
def test_evaluate_compute_refuses_a_single_string():
    from cqmetric.integrations import evaluate_compute

    with pytest.raises(InputValidationError, match=r"`predictions` to be a list of strings, got a single str"):
        evaluate_compute("A cat sat.", model=_NoModel())
    with pytest.raises(InputValidationError, match=r"`references` to be a list with one prompt per prediction"):
        evaluate_compute(["A cat sat."], "Write.", model=_NoModel())


def test_order_calibration_follows_its_definition(tiny_model_dir):
    import hashlib

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cqmetric import OrderCalibration
    from cqmetric.units import sentence_spans, token_unit_index

    text = "The cat sat on the mat. It purred. Then it slept by the door. Rain fell."
    res = score([text, "A single sentence"], model=str(tiny_model_dir), scorers=[OrderCalibration()], n_boot=0)
    model, tok = AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = np.array(enc["input_ids"])
    index = token_unit_index(np.array(enc["offset_mapping"]), sentence_spans(text))
    # The other order, drawn here as documented: a generator seeded by the sha256 of the int64 token ids.
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(ids.astype(np.int64).tobytes()).digest()[:8], "little"))
    order = rng.permutation(4)
    while (order == np.arange(4)).all():
        order = rng.permutation(4)
    other = np.concatenate([ids[index == j] for j in order])
    own_bits = -reference_logprobs(model, tok, 0, "Text:\n", ids) / LN2
    other_bits = -reference_logprobs(model, tok, 0, "Text:\n", other) / LN2
    assert res["order_calibration"][0] == pytest.approx(other_bits.mean() - own_bits.mean(), abs=1e-5)
    assert res["order_calibration"][1] == 0.0  # one unit: no other order
    in_batch = score(["Rain fell.", text], model=str(tiny_model_dir), scorers=[OrderCalibration()], n_boot=0)
    assert in_batch["order_calibration"][1] == pytest.approx(res["order_calibration"][0], abs=1e-5)
    with pytest.raises(InputValidationError, match=r"OrderCalibration is defined on the observed tokens"):
        score([text], model=_NoModel(), scorers=[OrderCalibration()], estimator="expected")


def test_analyses_refuse_settings_they_cannot_honour_from_options_too(tiny_model_dir):
    with pytest.raises(InputValidationError, match=r"profiles: reports bits with the pointwise estimator and takes no "
                                                   r"'estimator', 'normalization'"):
        profiles(STORIES, PROMPTS, model=_NoModel(), options=ScoreOptions(normalization="byte", estimator="expected"))
