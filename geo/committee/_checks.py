"""The checks every committee form goes through, and the audit hook of every writer.

Each check returns the clean value or raises :class:`geo.errors.InputError` naming the field.
Writers take ``on_write(conn, action, target, detail)`` (:data:`OnWrite`), called inside their
transaction so that the web layer puts the change in the audit log atomically.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import select

from geo import format
from geo.errors import InputError

CUTS = ("calendar", "statistical")
MAX_TEXT = 2000

OnWrite = Callable[[object, str, str, dict], None] | None


def text(value, name: str, *, required: bool = True, max_len: int = MAX_TEXT) -> str:
    """``value`` stripped (short fields on one line), required unless told, at most ``max_len``."""
    value = " ".join(str(value or "").split()) if max_len <= 300 else str(value or "").strip()
    if required and not value:
        raise InputError(format.gettext("`%(name)s` is required.", name=name))
    if len(value) > max_len:
        raise InputError(format.gettext("`%(name)s` has %(n)s characters but at most %(max)s are allowed.", name=name,
                                         n=format.number(len(value)), max=format.number(max_len)))
    return value


def number(value, name: str, lo: int, hi: int) -> int:
    """A whole number from ``lo`` to ``hi``."""
    try:
        out = int(str(value).strip())
    except (TypeError, ValueError):
        raise InputError(format.gettext("`%(name)s` was %(value)s but is expected to be a whole number.",
                                         name=name, value=repr(value))) from None
    if not lo <= out <= hi:
        raise InputError(format.gettext("`%(name)s` was %(value)s but must be from %(lo)s to %(hi)s.", name=name,
                                         value=out, lo=lo, hi=hi))
    return out


def date(value, name: str, *, required: bool = True) -> dt.date | None:
    """A date (a ``date``, a ``datetime`` or YYYY-MM-DD text)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if value in (None, ""):
        if required:
            raise InputError(format.gettext("`%(name)s` is required (YYYY-MM-DD).", name=name))
        return None
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(format.gettext("`%(name)s` was %(value)s but is expected as YYYY-MM-DD.", name=name,
                                         value=repr(value))) from None


def choice(value, name: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise InputError(format.gettext("`%(name)s` was %(value)s but is expected to be one of %(choices)s.",
                                         name=name, value=repr(value), choices=", ".join(allowed)))
    return value


def target(value) -> float:
    """A decision's target: a reduction in percent, above 0 and at most 100 ("8,5" allowed)."""
    try:
        out = float(str(value).strip().replace(",", "."))
    except (TypeError, ValueError):
        raise InputError(format.gettext("`target_pct` was %(value)s but is expected to be a number of percent "
                                         "(e.g. 10 for a reduction of 10%%).", value=repr(value))) from None
    if not (0 < out <= 100):
        raise InputError(format.gettext("`target_pct` was %(value)s but must be above 0 and at most 100 (percent).",
                                         value=repr(value)))
    return out


def cut(value) -> str:
    """The year's cut: "calendar" (also blank or "cal") or "statistical" ("stat": 15th–14th)."""
    value = {"stat": "statistical", "cal": "calendar", None: "calendar", "": "calendar"}.get(value, value)
    return choice(value, "cut", CUTS)


def audit(on_write: OnWrite, conn, action: str, target: str, detail: dict) -> None:
    if on_write is not None:
        on_write(conn, action, target, detail)


def latest_id(conn, model, *where):
    """The id of the current record (the latest; corrections supersede, never overwrite)."""
    return conn.execute(select(model.id).where(*where).order_by(model.id.desc()).limit(1)).scalar()


def supersedes_current(conn, model, *where, supersedes_id, nothing: str, already) -> None:
    """Refuse a write unless ``supersedes_id`` names the current record (None: there is none yet),
    so two people correcting at once cannot both win. ``nothing`` is the message when there is no
    record to correct, ``already(current_id)`` the one when another record is current."""
    current = latest_id(conn, model, *where)
    if current != supersedes_id:
        raise InputError(nothing if current is None else already(current))
