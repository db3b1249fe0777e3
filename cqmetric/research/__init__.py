"""Research wing: loaders of expert-judged sets and experiment workflows, outside the core estimator.

* :mod:`cqmetric.research.lamp` — :func:`~cqmetric.research.lamp.load_lamp`: LAMP (professional writers rank
  three versions of a paragraph), read in place, as texts, long-format rankings and the dev/test split.
"""
