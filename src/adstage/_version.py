"""The package version, on the lowest layer so that run records can name it."""

__version__ = "0.1.0"
