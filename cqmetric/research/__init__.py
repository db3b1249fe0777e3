"""Research wing: loaders of expert-judged sets and experiment workflows, outside the core estimator.

* :mod:`cqmetric.research.hanna` — :func:`~cqmetric.research.hanna.load_hanna`: HANNA (1,056 stories rated on six
  criteria by crowd raters), read in place.
* :mod:`cqmetric.research.lamp` — :func:`~cqmetric.research.lamp.load_lamp`: LAMP (professional writers rank
  three versions of a paragraph), read in place, as texts, long-format rankings and the dev/test split.
* :mod:`cqmetric.research.perturb` — seeded degradations for degraded-pair validation (shuffles, prompt swap).
* :mod:`cqmetric.research.fitting` — fit a composite's constants on development data.
* :mod:`cqmetric.research.cqa` — the CQA experiment: a base model against tuned checkpoints, Δ(ΔI) per group
  (:mod:`cqmetric.research.models` loads the checkpoints and adapters, refusing model code).
"""
