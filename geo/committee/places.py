"""The repeat places ("tụ điểm") a plan adopted from the repeat-places page, and the camera and
patrol sites it took from the sites page (kinds "camera" and "patrol", ``radius_m`` their reach).

A place is found again on the server from its key and the page's selection (period, categories,
boundary version), so what is stored is what the data say, not what a form sent. A place of
another unit than the plan's, or one a member could not see (below the disclosure minimum), is
refused. Rows are only inserted: a removal is a new row naming the one it ends.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from geo import analysis, format
from geo.committee import _checks as check
from geo.committee._checks import OnWrite
from geo.committee.plans import get_plan, plan_scope
from geo.errors import InputError
from geo.render.layers import place_label, site_label
from geo.store.models import CommitteePlace, utcnow


@dataclass(frozen=True)
class Place:
    """A place of a plan as adopted (one row of ``committee_place``)."""

    id: int
    plan_id: int
    kind: str
    place_key: str
    label: str
    address: str
    lon: float
    lat: float
    radius_m: float
    boundary: str
    unit_code: str
    unit_name: str
    incidents: int
    first_date: dt.date | None
    last_date: dt.date | None
    period_start: dt.date
    period_end: dt.date
    note: str
    recorded_by: str
    recorded_at: dt.datetime


def _chosen_plan(engine: Engine, value):
    """The plan chosen on the form (a clear message for anything but the number of a stored plan)."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise InputError(format.gettext("Choose a plan: %(value)s is not a plan number.", value=repr(value))) from None
    try:
        return get_plan(engine, number)
    except LookupError:
        raise InputError(format.gettext("There is no plan number %(id)s; choose a plan from the list.",
                                        id=number)) from None


def adopt_place(engine: Engine, plan_id, key: str, *, boundary: str, start: dt.date, end: dt.date,
                categories=(), min_count: int = 3, minimum: int | None = None, note: str = "",
                recorded_by: str = "", on_write: OnWrite = None) -> int:
    """Add the repeat place ``key`` (of :func:`geo.analysis.repeat_places` over the selection) to
    plan ``plan_id`` and return the new row's id. ``minimum``: the disclosure minimum of the user
    (a place below it is not theirs to adopt). The label is kept in Vietnamese, as the record is."""
    plan = _chosen_plan(engine, plan_id)
    note = check.text(note, "note", required=False)
    places = analysis.repeat_places(engine, boundary=boundary, start=start, end=end, categories=list(categories),
                                    min_count=min_count)
    found = places[places["key"] == key]
    if found.empty or (minimum and int(found["count"].iloc[0]) < minimum):
        raise InputError(format.gettext("No repeat place %(key)s in the chosen period; reload the page and "
                                        "choose again.", key=repr(key)))
    row = found.iloc[0]
    label = place_label(str(row["kind"]), str(row["address"] or ""), "vi")
    scope = plan_scope(engine, plan)
    if boundary != plan.boundary or row["code"] not in set(scope["code"]):
        raise InputError(format.gettext("%(place)s does not lie in the plan's unit (%(unit)s, %(boundary)s); "
                                        "choose a plan of its unit.", place=label, unit=plan.unit_name,
                                        boundary=plan.boundary))
    with engine.begin() as conn:
        if any(p.place_key == key for p in _current(conn, plan.id)):
            raise InputError(format.gettext("%(place)s is already in this plan.", place=label))
        values = dict(
            plan_id=plan.id, status="adopted", kind=str(row["kind"]), place_key=key, label=label[:400],
            address=str(row["address"] or "")[:400], lon=float(row["lon"]), lat=float(row["lat"]),
            radius_m=float(row["radius_m"]), boundary=boundary, unit_code=str(row["code"]),
            unit_name=str(row["name"] or ""), incidents=int(row["count"]),
            first_date=dt.date.fromisoformat(row["first_date"]), last_date=dt.date.fromisoformat(row["last_date"]),
            period_start=start, period_end=end, note=note, recorded_by=recorded_by, recorded_at=utcnow(),
            supersedes_id=None)
        new_id = conn.execute(insert(CommitteePlace).values(**values)).inserted_primary_key[0]
        check.audit(on_write, conn, "committee_place", f"plan {plan.id}",
                    {"place": new_id, "key": key, "label": label, "unit": values["unit_code"],
                     "incidents": values["incidents"], "period": [start.isoformat(), end.isoformat()]})
    return new_id


def attach_sites(engine: Engine, plan_id, *, boundary: str, start: dt.date, end: dt.date, categories=(), units=(),
                 purpose: str = "camera", minimum: int | None = None, note: str = "", recorded_by: str = "",
                 on_write: OnWrite = None, **site_args) -> tuple[int, int]:
    """Add the new sites of :func:`geo.analysis.sites` over the selection (``site_args``: k, radius_m,
    spacing_m, candidates, gateway_m, existing, weigh) to plan ``plan_id``, as kind ``purpose``
    ("camera" or "patrol") with ``radius_m`` their reach. Sites outside the plan's unit, those already
    in the plan and, for a user below analyst, those covering fewer than ``minimum`` incidents are left
    out. Returns (sites added, sites left out); none added is an error that says why."""
    plan = _chosen_plan(engine, plan_id)
    note = check.text(note, "note", required=False)
    res = analysis.sites(engine, boundary=boundary, start=start, end=end, categories=list(categories), units=units,
                         purpose=purpose, **site_args)
    found = res["sites"][~res["sites"]["existing"]]
    if boundary != plan.boundary:
        raise InputError(format.gettext("These sites are on the boundaries %(boundary)s but the plan uses %(plan)s; "
                                        "choose a plan of these boundaries.", boundary=boundary, plan=plan.boundary))
    inside = set(plan_scope(engine, plan)["code"])
    added, left = 0, 0
    with engine.begin() as conn:
        taken = {p.place_key for p in _current(conn, plan.id)}
        for row in found.itertuples():
            key = f"site:{purpose}:{row.lon:.6f},{row.lat:.6f}"
            if row.code not in inside or key in taken or (minimum and row.incidents < minimum):
                left += 1
                continue
            label = site_label(purpose, int(row.rank), False, row.name, "vi")
            values = dict(
                plan_id=plan.id, status="adopted", kind=purpose, place_key=key, label=label[:400], address="",
                lon=float(row.lon), lat=float(row.lat), radius_m=float(res["radius_m"]), boundary=boundary,
                unit_code=str(row.code), unit_name=str(row.name or ""), incidents=int(row.incidents),
                first_date=None, last_date=None, period_start=start, period_end=end, note=note,
                recorded_by=recorded_by, recorded_at=utcnow(), supersedes_id=None)
            new_id = conn.execute(insert(CommitteePlace).values(**values)).inserted_primary_key[0]
            check.audit(on_write, conn, "committee_place", f"plan {plan.id}",
                        {"place": new_id, "key": key, "label": label, "unit": values["unit_code"],
                         "incidents": values["incidents"], "radius_m": values["radius_m"],
                         "period": [start.isoformat(), end.isoformat()]})
            added += 1
    if not added:
        raise InputError(format.gettext("No site was added: none lies in the plan's unit (%(unit)s) or they are in "
                                        "the plan already.", unit=plan.unit_name))
    return added, left


def _current(conn, plan_id: int) -> list[Place]:
    """The adopted places of a plan: rows not ended by a removal, in the order adopted."""
    rows = conn.execute(select(CommitteePlace).where(CommitteePlace.plan_id == plan_id)
                        .order_by(CommitteePlace.id)).all()
    ended = {r.supersedes_id for r in rows if r.supersedes_id is not None}
    return [Place(r.id, r.plan_id, r.kind, r.place_key, r.label, r.address, r.lon, r.lat, r.radius_m, r.boundary,
                  r.unit_code, r.unit_name, r.incidents, r.first_date, r.last_date, r.period_start, r.period_end,
                  r.note, r.recorded_by, r.recorded_at)
            for r in rows if r.status == "adopted" and r.id not in ended]


def plan_places(engine: Engine, plan_id: int) -> list[Place]:
    """The places plan ``plan_id`` holds now, in the order they were adopted."""
    with engine.connect() as conn:
        return _current(conn, plan_id)
