"""Every exception and warning cqmetric raises (the only module that defines them)."""

from __future__ import annotations

__all__ = [
    "CQMetricError",
    "InputValidationError",
    "BackendError",
    "ModelFolderError",
    "MissingDependencyError",
    "DataNotFoundError",
    "CQMetricWarning",
    "DegenerateInputWarning",
    "SmallSampleWarning",
]


class CQMetricError(Exception):
    """Base class of every error cqmetric raises on purpose."""


class InputValidationError(CQMetricError, ValueError, TypeError):
    """Input of the wrong type, shape, length or value; the message names what was expected and what arrived."""


class BackendError(CQMetricError, RuntimeError):
    """A model backend could not produce log-probabilities (missing weights, failed load, bad output)."""


class ModelFolderError(BackendError, InputValidationError):
    """A model folder cqmetric will not load: it declares custom code, holds only pickle weights or no config.

    It is the caller's input, so the command line exits with status 2, as for any input error.
    """


class MissingDependencyError(CQMetricError, ImportError):
    """An optional dependency is not installed; the message names the pip command that installs it."""


class DataNotFoundError(CQMetricError, FileNotFoundError):
    """A data set (such as HANNA) is not where cqmetric looked; the message says where to obtain it."""


class CQMetricWarning(UserWarning):
    """Base class of cqmetric's warnings."""


class DegenerateInputWarning(CQMetricWarning, RuntimeWarning):
    """A statistic is undefined for this input (constant ratings, n too small); the result is NaN."""


class SmallSampleWarning(CQMetricWarning):
    """Too few data for what is being estimated (e.g. fewer than 10 items per fitted constant): read the interval."""
