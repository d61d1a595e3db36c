"""Errors whose message is meant for the user (the statistics' own :class:`clustering.errors.InputError`)."""
from clustering.errors import InputError

__all__ = ["InputError"]
