"""The checks every committee form goes through, and the audit hook of every writer.

Each check returns the clean value or raises :class:`geo.errors.InputError` naming the field by
the label its form shows (:data:`FIELDS`; an argument without a form keeps its name).
Writers take ``on_write(conn, action, target, detail)`` (:data:`OnWrite`), called inside their
transaction so that the web layer puts the change in the audit log atomically.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import select

from geo import format
from geo.errors import InputError
from geo.format import N_

CUTS = ("calendar", "statistical")
MAX_TEXT = 2000

OnWrite = Callable[[object, str, str, dict], None] | None

#: The label each field has on the committee's forms, for the messages that name it.
FIELDS = {
    "year": N_("Year"), "level": N_("Level"), "boundary": N_("Boundaries"), "unit_code": N_("Unit code"),
    "unit_name": N_("Unit name (city plans)"), "cut": N_("Cut"), "title": N_("Plan name"),
    "target_pct": N_("Target: reduce by"), "responsible_unit": N_("Responsible unit"),
    "decided_by": N_("Decided by"), "decided_on": N_("Decided on"), "reason": N_("Reason"), "note": N_("Note"),
    "polygon": N_("GeoJSON"), "polygon_name": N_("Name of the area"), "result": N_("Committee's result"),
    "status": N_("Status"), "programme": N_("Programme"), "phase": N_("Phase"), "valid_from": N_("From"),
    "valid_to": N_("To"),
}


def field(name: str) -> str:
    """The form label of field ``name`` in the user's language ("Lý do"), or `name` for an argument
    no form shows."""
    return format.gettext(FIELDS[name]) if name in FIELDS else f"`{name}`"


def text(value, name: str, *, required: bool = True, max_len: int = MAX_TEXT) -> str:
    """``value`` stripped (short fields on one line), required unless told, at most ``max_len``."""
    value = " ".join(str(value or "").split()) if max_len <= 300 else str(value or "").strip()
    if required and not value:
        raise InputError(format.gettext("Enter %(field)s.", field=field(name)))
    if len(value) > max_len:
        raise InputError(format.gettext("%(field)s has %(n)s characters but at most %(max)s are allowed.",
                                         field=field(name), n=format.number(len(value)), max=format.number(max_len)))
    return value


def number(value, name: str, lo: int, hi: int) -> int:
    """A whole number from ``lo`` to ``hi``."""
    try:
        out = int(str(value).strip())
    except (TypeError, ValueError):
        raise InputError(format.gettext("%(field)s was %(value)s but is expected to be a whole number.",
                                         field=field(name), value=repr(value))) from None
    if not lo <= out <= hi:
        raise InputError(format.gettext("%(field)s was %(value)s but must be from %(lo)s to %(hi)s.",
                                         field=field(name), value=out, lo=lo, hi=hi))
    return out


def date(value, name: str, *, required: bool = True) -> dt.date | None:
    """A date (a ``date``, a ``datetime`` or YYYY-MM-DD text)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if value in (None, ""):
        if required:
            raise InputError(format.gettext("Enter %(field)s (a date).", field=field(name)))
        return None
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(format.gettext("%(field)s was %(value)s but is expected as a date (YYYY-MM-DD).",
                                         field=field(name), value=repr(value))) from None


def choice(value, name: str, allowed: Sequence[str]) -> str:
    if value in (None, "") and name in FIELDS:
        raise InputError(format.gettext("Choose %(field)s.", field=field(name)))
    if value not in allowed:
        raise InputError(format.gettext("%(field)s was %(value)s but is expected to be one of %(choices)s.",
                                         field=field(name), value=repr(value), choices=", ".join(allowed)))
    return value


def target(value) -> float:
    """A decision's target: a reduction in percent, above 0 and at most 100 ("8,5" allowed)."""
    try:
        out = float(str(value).strip().replace(",", "."))
    except (TypeError, ValueError):
        raise InputError(format.gettext("%(field)s was %(value)s but is expected to be a number of percent "
                                         "(e.g. 10 for a reduction of 10%%).", field=field("target_pct"),
                                         value=repr(value))) from None
    if not (0 < out <= 100):
        raise InputError(format.gettext("%(field)s was %(value)s but must be above 0 and at most 100 (percent).",
                                         field=field("target_pct"), value=repr(value)))
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
