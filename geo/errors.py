"""Errors whose message is meant for the user (the statistics' own :class:`clustering.errors.InputError`)."""
from clustering.errors import InputError
from geo import format as fmt

__all__ = ["InputError", "message"]


def message(exc: Exception, locale: str | None = None) -> str:
    """The error's message in ``locale`` (default: the reader's): a statistic's msgid and parameters
    translated through the catalogue; a message made in geo or web (already in words) as it is."""
    if isinstance(exc, InputError) and exc.params:
        return fmt.gettext(exc.msgid, locale, **exc.params)
    if isinstance(exc, InputError) and exc.msgid:
        return fmt.gettext(exc.msgid, locale)
    return str(exc)
