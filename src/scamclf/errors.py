"""Typed errors raised by the scamclf library (the CLI turns them into one-line messages)."""

__all__ = [
    "DataError",
    "ModelError",
    "ModelIntegrityError",
    "OutputExistsError",
    "ScamclfError",
]


class ScamclfError(Exception):
    """Base class of every error scamclf raises on purpose."""


class DataError(ScamclfError):
    """An input file, column, row or label is not what scamclf can use."""


class ModelError(ScamclfError):
    """A model file is missing, unreadable or of an unknown format."""


class ModelIntegrityError(ModelError):
    """A model file does not verify: modified, truncated, or holding disallowed objects."""


class OutputExistsError(ScamclfError):
    """The target file exists and ``force`` was not given."""
