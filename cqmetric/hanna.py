"""Moved to `cqmetric.research.hanna` (the research wing); this name still works for one release."""

import warnings

from cqmetric.research.hanna import *  # noqa: F403
from cqmetric.research.hanna import __all__  # noqa: F401

warnings.warn("cqmetric.hanna moved to cqmetric.research.hanna; the old name will be removed in 0.4.", DeprecationWarning,
              stacklevel=2)
