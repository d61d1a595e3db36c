"""Text for people: the catalogue, numbers, percentages, changes and dates as committees write them.

Pages, PNG, PDF, spreadsheets and the command line all format through here, in the user's
language: the request's locale (Flask-Babel), else ``BABEL_DEFAULT_LOCALE`` of the running app
(command line, background jobs), else Vietnamese; ``locale=`` overrides it.

>>> number(1234.5, locale="vi"), number(1234.5, locale="en"), number(None, locale="vi")
('1.234,5', '1,234.5', '—')
>>> percent(0.8404, 2, locale="vi"), change(-8.4, locale="vi"), change(24, locale="en")
('84,04%', 'giảm 8,4%', 'up 24.0%')
>>> import datetime as dt
>>> date(dt.date(2025, 7, 1), locale="vi"), date(dt.date(2025, 7, 1), locale="en")
('01/07/2025', '01/07/2025')
"""
from __future__ import annotations

import math
from functools import lru_cache

import babel.dates
import babel.numbers
from babel.support import Translations
from flask import current_app, has_app_context, has_request_context
from flask_babel import get_locale  # Flask-Babel's choice of language for a request

from geo.resources import resource

DEFAULT_LOCALE = "vi"
#: The languages the catalogue speaks.
LOCALES = ("vi", "en")
#: How a figure that is unknown or not published is shown, everywhere.
MISSING = "—"


def N_(message: str) -> str:
    """Marks a message for the catalogue where it is defined (a table); translate it with :func:`gettext`."""
    return message


def current_locale(locale: str | None = None) -> str:
    if locale:
        return locale
    if has_request_context():
        chosen = get_locale()
        if chosen is not None:
            return str(chosen)
    if has_app_context():
        return current_app.config.get("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    return DEFAULT_LOCALE


@lru_cache(maxsize=8)
def _catalogue(locale: str) -> Translations:
    # the catalogue Flask-Babel serves, loaded without an app so that geo also speaks outside one
    return Translations.load(str(resource("translations")), [locale])


def gettext(message: str, locale: str | None = None, **params) -> str:
    """``message`` from the catalogue in ``locale`` (see module doc), with ``%(name)s`` filled from ``params``.

    >>> gettext("Incidents", locale="vi"), gettext("Incidents", locale="en")
    ('Vụ việc', 'Incidents')
    """
    text = _catalogue(current_locale(locale)).gettext(message)
    return text % params if params else text


def missing(x) -> bool:
    try:
        return x is None or math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def number(x, digits: int | None = None, *, locale: str | None = None) -> str:
    """``x`` with the locale's separators; ``digits=None`` shows up to two decimals, trailing zeros dropped."""
    if missing(x):
        return MISSING
    fmt = "#,##0." + ("#" * 2 if digits is None else "0" * digits) if digits != 0 else "#,##0"
    value = float(x)
    if round(value, 2 if digits is None else digits) == 0:
        value = 0.0                                     # no "-0" for a value that rounds to zero
    return babel.numbers.format_decimal(value, format=fmt, locale=current_locale(locale))


def percent(fraction, digits: int = 1, *, locale: str | None = None) -> str:
    """A share as a percentage: ``percent(0.8404, 2)`` → "84,04%"."""
    if missing(fraction):
        return MISSING
    fmt = "#,##0" + ("." + "0" * digits if digits else "") + "%"
    return babel.numbers.format_percent(float(fraction), format=fmt, locale=current_locale(locale))


def change(pct, digits: int = 1, *, locale: str | None = None) -> str:
    """A change in percent as reports write it: "giảm 8,4%", "tăng 24,0%", "không đổi"."""
    if missing(pct):
        return MISSING
    if pct == 0:
        return gettext("no change", locale)
    value = percent(abs(float(pct)) / 100, digits, locale=locale)
    return gettext("up %(value)s", locale, value=value) if pct > 0 else gettext("down %(value)s", locale, value=value)


def count_change(count, base, digits: int = 1, *, locale: str | None = None) -> str:
    """How a count moved against its base period: "giảm 8,4%", "tăng 3 vụ" (from none), "không đổi".

    >>> count_change(458, 500, locale="vi"), count_change(3, 0, locale="vi"), count_change(0, 0, locale="en")
    ('giảm 8,4%', 'tăng 3 vụ', 'no change')
    """
    if missing(count) or missing(base):
        return MISSING
    if base == 0:
        if count == 0:
            return gettext("no change", locale)
        return gettext("up %(n)s incidents", locale, n=number(count, locale=locale))
    return change(100.0 * (float(count) - float(base)) / float(base), digits, locale=locale)


def date(d, *, locale: str | None = None) -> str:
    """dd/mm/yyyy, the way the committees date their documents (in both languages)."""
    if d is None:
        return MISSING
    return babel.dates.format_date(d, "dd/MM/yyyy", locale=current_locale(locale))


def date_range(start, end, *, locale: str | None = None) -> str:
    return date(start, locale=locale) if start == end else f"{date(start, locale=locale)} – {date(end, locale=locale)}"
