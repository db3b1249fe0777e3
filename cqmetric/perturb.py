"""Moved to `cqmetric.research.perturb` (the research wing); this name still works for one release."""

import warnings

from cqmetric.research.perturb import *  # noqa: F403
from cqmetric.research.perturb import __all__  # noqa: F401

warnings.warn("cqmetric.perturb moved to cqmetric.research.perturb; the old name will be removed in 0.4.", DeprecationWarning,
              stacklevel=2)
