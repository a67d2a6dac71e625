"""The package version (one place, read by the build and by saved model headers)."""

__all__ = ["__version__"]

__version__ = "0.34.0"
