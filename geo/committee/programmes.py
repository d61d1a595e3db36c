"""Programme statuses per ward and phase (e.g. the phases of "xã, phường không ma túy").

The status of a (ward, programme, phase) is its newest row; a correction names the row it replaces.
:func:`phase_layer` gives every ward of a phase's boundary version with its status (``none`` where
nothing is recorded), :func:`status_counts` how many wards (or how many of each district, on a
version whose wards belong to districts) are in each status, with the share, as the committees
report it ("Đạt tiêu chí không ma túy: 12/16 phường (75%)").
"""
from __future__ import annotations

import datetime as dt
from collections import Counter

import geopandas as gpd
import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from geo import analysis, format
from geo.committee import _checks as check
from geo.committee._checks import OnWrite
from geo.errors import InputError
from geo.store.models import ProgrammeStatus, utcnow

PROGRAMME_STATUSES = ("planned", "in_progress", "met", "not_met")
#: The statuses a phase is counted in: the recorded ones, then the wards with none recorded.
COUNTED_STATUSES = (*PROGRAMME_STATUSES, "none")

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
        raise InputError(format.gettext("%(to)s (%(end)s) is before %(from_)s (%(start)s).",
                                        to=check.field("valid_to"), from_=check.field("valid_from"),
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



def phases(engine: Engine, programme: str | None = None) -> list[dict]:
    """The phases with a recorded status (of ``programme`` when given), in order of their start:
    programme, phase, boundary (the version most of its statuses were recorded on), first and
    last day (the earliest ``valid_from`` and latest ``valid_to`` recorded)."""
    out: dict[tuple, dict] = {}
    for g in programme_statuses(engine):
        r = g["current"]
        if programme and r.programme != programme:
            continue
        d = out.setdefault((r.programme, r.phase), {"programme": r.programme, "phase": r.phase,
                                                   "boundaries": Counter(), "start": None, "end": None})
        d["boundaries"][r.boundary] += 1
        if r.valid_from and (d["start"] is None or r.valid_from < d["start"]):
            d["start"] = r.valid_from
        if r.valid_to and (d["end"] is None or r.valid_to > d["end"]):
            d["end"] = r.valid_to
    rows = [{**{k: v for k, v in d.items() if k != "boundaries"}, "boundary": d["boundaries"].most_common(1)[0][0]}
            for d in out.values()]
    return sorted(rows, key=lambda d: (d["programme"], d["start"] or dt.date.min, d["phase"]))


def phase_layer(engine: Engine, programme: str, phase: str, boundary: str) -> gpd.GeoDataFrame:
    """Every ward of ``boundary`` with its current status in (``programme``, ``phase``): code, name,
    parent_code, parent_name, status (``none`` where nothing is recorded), valid_from, valid_to,
    note, recorded_by, geometry."""
    wards = analysis._ward_frame(engine, boundary)
    current = {g["current"].unit_code: g["current"] for g in programme_statuses(engine)
               if (g["current"].programme, g["current"].phase, g["current"].boundary) == (programme, phase, boundary)}
    layer = wards[["code", "name", "parent_code", "parent_name", "geometry"]].reset_index(drop=True)
    def field(name):
        return [getattr(current[c], name) if c in current else None for c in layer["code"]]
    layer["status"] = [current[c].status if c in current else "none" for c in layer["code"]]
    for name in ("valid_from", "valid_to", "note", "recorded_by"):
        layer[name] = field(name)
    return gpd.GeoDataFrame(layer, geometry="geometry", crs=wards.crs)


def has_districts(layer: gpd.GeoDataFrame) -> bool:
    """Whether the wards of the layer belong to several parents (districts, before 1 July 2025)."""
    return layer["parent_code"].nunique() > 1


def status_counts(layer: gpd.GeoDataFrame, *, by_district: bool = False) -> pd.DataFrame:
    """Wards per status of :func:`phase_layer`: status, count, of (the wards counted), share
    (0–1); with ``by_district`` one block per district (parent_code, parent_name first), the
    districts in name order. Every status of :data:`COUNTED_STATUSES` has a row, zero or not."""
    keys = ["parent_code", "parent_name"] if by_district else []
    groups = layer.groupby(keys, sort=False) if keys else [((), layer)]
    rows = []
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        n = part["status"].value_counts()
        for status in COUNTED_STATUSES:
            rows.append({**dict(zip(keys, key)), "status": status, "count": int(n.get(status, 0)),
                         "of": len(part), "share": n.get(status, 0) / len(part)})
    out = pd.DataFrame(rows, columns=[*keys, "status", "count", "of", "share"])
    return out.sort_values(keys, kind="stable").reset_index(drop=True) if keys else out
