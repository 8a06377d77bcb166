"""Vigil: a coalition platform against election interference."""

__version__ = "0.1.0"
