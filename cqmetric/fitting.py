"""Moved to `cqmetric.research.fitting` (the research wing); this name still works for one release."""

import warnings

from cqmetric.research.fitting import *  # noqa: F403
from cqmetric.research.fitting import __all__  # noqa: F401

warnings.warn("cqmetric.fitting moved to cqmetric.research.fitting; the old name will be removed in 0.4.", DeprecationWarning,
              stacklevel=2)
