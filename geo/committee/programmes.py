"""Programme statuses per ward and phase (e.g. the phases of "xã, phường không ma túy").

The status of a (ward, programme, phase) is its newest row; a correction names the row it replaces.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from geo import analysis, format
from geo.committee import _checks as check
from geo.committee._checks import OnWrite
from geo.errors import InputError
from geo.store.models import ProgrammeStatus, utcnow

PROGRAMME_STATUSES = ("planned", "in_progress", "met", "not_met")

def record_programme_status(engine: Engine, *, boundary: str, unit_code: str, programme: str, phase: str,
                            status: str, valid_from=None, valid_to=None, note: str = "", recorded_by: str = "",
                            supersedes_id=None, on_write: OnWrite = None) -> int:
    """Record a ward's status in one phase of a programme (e.g. "Xã, phường không ma túy",
    "Giai đoạn 2", 15/12/2023–14/05/2024). The status of a (ward, programme, phase) is
    the newest row; a correction must name it in ``supersedes_id``."""
    wards = analysis._ward_frame(engine, boundary)
    unit_code = check.text(unit_code, "unit_code", max_len=32)
    if unit_code not in wards.index:
        raise InputError(format.gettext("`unit_code` was %(code)s but %(boundary)s has no ward with that code.",
                                        code=repr(unit_code), boundary=repr(boundary)))
    programme = check.text(programme, "programme", max_len=200)
    phase = check.text(phase, "phase", max_len=100)
    status = check.choice(status, "status", PROGRAMME_STATUSES)
    valid_from = check.date(valid_from, "valid_from", required=False)
    valid_to = check.date(valid_to, "valid_to", required=False)
    if valid_from and valid_to and valid_to < valid_from:
        raise InputError(format.gettext("`valid_to` (%(end)s) is before `valid_from` (%(start)s).",
                                        end=format.date(valid_to), start=format.date(valid_from)))
    note = check.text(note, "note", required=supersedes_id not in (None, ""))
    supersedes_id = None if supersedes_id in (None, "") else check.number(supersedes_id, "supersedes_id", 1, 2**62)
    unit_name = str(wards.at[unit_code, "name"])
    with engine.begin() as conn:
        check.supersedes_current(
            conn, ProgrammeStatus, ProgrammeStatus.boundary == boundary, ProgrammeStatus.unit_code == unit_code,
            ProgrammeStatus.programme == programme, ProgrammeStatus.phase == phase, supersedes_id=supersedes_id,
            nothing=format.gettext("There is no status of %(unit)s in %(programme)s, %(phase)s to correct.",
                                   unit=unit_name, programme=programme, phase=phase),
            already=lambda current: format.gettext(
                "%(unit)s already has a status in %(programme)s, %(phase)s (no. %(id)s); correct that one.",
                unit=unit_name, programme=programme, phase=phase, id=current))
        new_id = conn.execute(insert(ProgrammeStatus).values(
            boundary=boundary, unit_code=unit_code, unit_name=unit_name, programme=programme, phase=phase,
            status=status, valid_from=valid_from, valid_to=valid_to, note=note, recorded_by=recorded_by,
            recorded_at=utcnow(), supersedes_id=supersedes_id)).inserted_primary_key[0]
        check.audit(on_write, conn, "programme_status", f"{boundary}/{unit_code}",
                    {"id": new_id, "programme": programme, "phase": phase, "status": status,
                     "valid_from": valid_from, "valid_to": valid_to, "supersedes": supersedes_id})
    return new_id


def programme_statuses(engine: Engine) -> list[dict]:
    """The current status of every (ward, programme, phase), each with its earlier rows
    (``history``, newest first); sorted by programme, phase start, ward."""
    with engine.connect() as conn:
        rows = conn.execute(select(ProgrammeStatus).order_by(ProgrammeStatus.id.desc())).all()
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault((r.boundary, r.unit_code, r.programme, r.phase), []).append(r)
    out = [{"current": g[0], "history": g[1:]} for g in groups.values()]
    return sorted(out, key=lambda d: (d["current"].programme, d["current"].valid_from or dt.date.min,
                                      d["current"].phase, d["current"].unit_code))

