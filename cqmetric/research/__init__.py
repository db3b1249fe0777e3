"""Research wing: loaders of expert-judged sets and experiment workflows, outside the core estimator."""
