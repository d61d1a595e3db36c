"""The checks every committee form goes through, and the audit hook of every writer.

Each check returns the clean value or raises :class:`geo.errors.InputError` naming the field.
Writers take ``on_write(conn, action, target, detail)`` (:data:`OnWrite`), called inside their
transaction so that the web layer puts the change in the audit log atomically.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import select

from geo.errors import InputError

CUTS = ("calendar", "statistical")
MAX_TEXT = 2000

OnWrite = Callable[[object, str, str, dict], None] | None


def text(value, name: str, *, required: bool = True, max_len: int = MAX_TEXT) -> str:
    """``value`` stripped (short fields on one line), required unless told, at most ``max_len``."""
    value = " ".join(str(value or "").split()) if max_len <= 300 else str(value or "").strip()
    if required and not value:
        raise InputError(f"`{name}` is required.")
    if len(value) > max_len:
        raise InputError(f"`{name}` has {len(value)} characters but at most {max_len} are allowed.")
    return value


def number(value, name: str, lo: int, hi: int) -> int:
    """A whole number from ``lo`` to ``hi``."""
    try:
        out = int(str(value).strip())
    except (TypeError, ValueError):
        raise InputError(f"`{name}` was {value!r} but is expected to be a whole number.") from None
    if not lo <= out <= hi:
        raise InputError(f"`{name}` was {out} but must be from {lo} to {hi}.")
    return out


def date(value, name: str, *, required: bool = True) -> dt.date | None:
    """A date (a ``date``, a ``datetime`` or YYYY-MM-DD text)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if value in (None, ""):
        if required:
            raise InputError(f"`{name}` is required (YYYY-MM-DD).")
        return None
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"`{name}` was {value!r} but is expected as YYYY-MM-DD.") from None


def choice(value, name: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise InputError(f"`{name}` was {value!r} but is expected to be one of {', '.join(allowed)}.")
    return value


def target(value) -> float:
    """A decision's target: a reduction in percent, above 0 and at most 100 ("8,5" allowed)."""
    try:
        out = float(str(value).strip().replace(",", "."))
    except (TypeError, ValueError):
        raise InputError(f"`target_pct` was {value!r} but is expected to be a number of percent "
                         "(e.g. 10 for a reduction of 10 %).") from None
    if not (0 < out <= 100):
        raise InputError(f"`target_pct` was {value!r} but must be above 0 and at most 100 (percent).")
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
