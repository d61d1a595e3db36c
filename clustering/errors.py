"""Errors whose message is meant for the user: what is wrong, where, and what to do."""


class InputError(ValueError):
    """Bad input (file, parameter, argument). The message names the place and the fix."""
