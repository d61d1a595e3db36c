"""Errors whose message is meant for the user: what is wrong, where, and what to do."""


def N_(message: str) -> str:
    """Marks a user-facing message for the catalogue (``make i18n`` extracts ``N_``); clustering
    itself never translates."""
    return message


class InputError(ValueError):
    """Bad input (file, parameter, argument). The message names the place and the fix.

    A message that reaches users is given as a catalogue msgid marked with :func:`N_` (English, ``%(name)s`` placeholders)
    and its ``params``: ``str()`` is the English text; ``geo.errors.message`` translates it, as
    clustering knows no catalogue (it imports nothing of the service).

    >>> e = InputError("`%(name)s` was %(value)s.", name="eps", value=5)
    >>> str(e), e.msgid, e.params
    ('`eps` was 5.', '`%(name)s` was %(value)s.', {'name': 'eps', 'value': 5})
    """

    def __init__(self, message: str = "", **params):
        self.msgid, self.params = message, params
        super().__init__(message % params if params else message)
