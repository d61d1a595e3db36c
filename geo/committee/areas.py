"""The areas a plan selected (a ward, a DBSCAN spot or a drawn polygon) and the decisions on them.

An area keeps its polygon and boundary version, the evidence it was selected on, every decision
(target, responsible unit, who decided and when) and every yearly assessment. Nothing is
overwritten: a correction inserts a row whose ``supersedes_id`` names the row it replaces, and the
current value is the newest row.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
import shapely
from pyproj import Geod
from shapely.geometry import shape
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from geo import analysis, format
from geo.committee import _checks as check
from geo.committee._checks import OnWrite
from geo.committee.candidates import ranked_spots, ranked_wards
from geo.committee.plans import get_plan, plan_scope
from geo.errors import InputError
from geo.render import reasons
from geo.store.models import CommitteeArea, CommitteeAssessment, CommitteeDecision, utcnow
from geo.store.queries import versions

KINDS = ("ward", "spot", "polygon")
DECISION_STATUSES = ("selected", "withdrawn")
#: A ward of today's boundaries is listed for an area when it holds at least this share of it.
MIN_SHARE = 0.01
_GEOD = Geod(ellps="WGS84")

@dataclass
class Area:
    """A selected area with its decisions and assessments (newest first)."""

    id: int
    plan_id: int
    kind: str
    source_code: str
    name: str
    boundary: str
    geometry: object
    area_km2: float
    evidence: dict
    created_by: str
    created_at: dt.datetime
    decisions: list = field(default_factory=list)
    assessments: dict = field(default_factory=dict)  # year -> rows, newest first

    @property
    def decision(self):
        """The current decision (the newest row)."""
        return self.decisions[0] if self.decisions else None

    @property
    def selected(self) -> bool:
        return self.decision is not None and self.decision.status == "selected"

    def assessment(self, year: int):
        rows = self.assessments.get(year)
        return rows[0] if rows else None

    @property
    def years(self) -> list[int]:
        return sorted(self.assessments)


def parse_polygon(geojson: str):
    """A polygon (WGS 84 longitude/latitude) from GeoJSON text: a Polygon or MultiPolygon
    geometry, a Feature, or a FeatureCollection (its polygons are merged)."""

    try:
        obj = json.loads(geojson)
    except (TypeError, ValueError) as exc:
        raise InputError(format.gettext("`polygon` is not valid GeoJSON (%(error)s); paste a Polygon, a Feature "
                                        "or a FeatureCollection.", error=exc)) from None
    except RecursionError:  # json's own guard against deep nesting ([[[[… thousands deep)
        raise InputError(format.gettext("`polygon` is nested too deeply to be GeoJSON; paste a Polygon, a "
                                        "Feature or a FeatureCollection.")) from None
    geoms = []
    if isinstance(obj, dict) and obj.get("type") == "FeatureCollection":
        geoms = [f.get("geometry") for f in obj.get("features") or [] if isinstance(f, dict)]
    elif isinstance(obj, dict) and obj.get("type") == "Feature":
        geoms = [obj.get("geometry")]
    elif isinstance(obj, dict):
        geoms = [obj]
    parts = []
    for g in geoms:
        if not isinstance(g, dict) or g.get("type") not in ("Polygon", "MultiPolygon"):
            raise InputError(format.gettext("`polygon` must hold Polygon or MultiPolygon geometries (got %(got)s).",
                                            got=g.get("type") if isinstance(g, dict) else type(g).__name__))
        try:
            parts.append(shapely.make_valid(shape(g)))
        except RecursionError:
            raise InputError(format.gettext("`polygon` has coordinates nested too deeply; a polygon's coordinates "
                                            "are rings of [longitude, latitude] pairs.")) from None
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            raise InputError(format.gettext("`polygon` has a geometry that cannot be read (%(error)s).",
                                            error=exc)) from None
    if not parts:
        raise InputError(format.gettext("`polygon` holds no polygon."))
    geom = shapely.union_all(parts)
    polys = [p for p in getattr(geom, "geoms", [geom]) if p.geom_type in ("Polygon", "MultiPolygon")]
    geom = shapely.union_all(polys) if polys else None
    if geom is None or geom.is_empty or geom.area == 0:
        raise InputError(format.gettext("`polygon` encloses no area."))
    x0, y0, x1, y1 = geom.bounds
    if x0 < -180 or x1 > 180 or y0 < -90 or y1 > 90:
        raise InputError(format.gettext("`polygon` has coordinates outside longitude/latitude (%(bounds)s); give "
                                        "WGS 84 degrees (EPSG:4326), not projected metres.",
                                        bounds=f"{x0:g}, {y0:g}, {x1:g}, {y1:g}"))
    return geom


def area_km2(geom) -> float:
    """Geodesic area of a WGS 84 polygon in km²."""
    return abs(_GEOD.geometry_area_perimeter(geom)[0]) / 1e6


def _evidence(row) -> dict:
    out = {}
    for k in ("rank", "score", "count", "base_count", "change_pct", "p_value", "hotspot_code", "reasons",
              "ward_codes"):
        if k in row and row[k] is not None and not (isinstance(row[k], float) and math.isnan(row[k])):
            v = row[k]
            out[k] = v.item() if hasattr(v, "item") else v
    return out


def select_areas(engine: Engine, plan_id: int, choices: Sequence[str] = (), *, target_pct,
                 responsible_unit: str, decided_by: str, decided_on, reason: str = "",
                 polygon: str | None = None, polygon_name: str = "", recorded_by: str = "",
                 data_version: str | None = None, on_write: OnWrite = None) -> list[int]:
    """Select areas for a plan and record the decision on each; returns the new area ids.

    ``choices`` are ``"ward:<code>"`` (any ward of the plan's unit) and
    ``"spot:<code>"`` (a spot of :func:`candidates`, e.g. ``"spot:spot-3"``);
    ``polygon`` (GeoJSON, WGS 84) adds a drawn area named ``polygon_name``. A blank
    ``reason`` takes the candidate's ranked reason. ``data_version`` (from
    :func:`data_version_text` when the candidates were shown) refuses the selection
    when the data changed since, because spot numbers may then differ.
    """
    plan = get_plan(engine, plan_id)
    if data_version is not None and data_version != data_version_text(engine):
        raise InputError(format.gettext("The incident data changed after the candidates were shown; reload the "
                                        "plan and select again."))
    target = check.target(target_pct)
    responsible_unit = check.text(responsible_unit, "responsible_unit", max_len=300)
    decided_by = check.text(decided_by, "decided_by", max_len=200)
    decided_on = check.date(decided_on, "decided_on")
    reason = check.text(reason, "reason", required=False)
    choices = [c for c in choices if c]
    if not choices and not (polygon or "").strip():
        raise InputError(format.gettext("Choose at least one ward or spot, or give a polygon."))
    new = []  # (kind, source_code, name, boundary, geom, evidence)
    ward_rank = spot_rank = None
    scope = plan_scope(engine, plan)
    for choice in dict.fromkeys(choices):
        kind, _, code = choice.partition(":")
        if kind == "ward":
            if code not in set(scope["code"]):
                raise InputError(format.gettext("`choice` %(choice)s: no ward with code %(code)s in the plan's unit "
                                                "(%(unit)s, %(boundary)s).", choice=repr(choice),
                                                code=repr(code), unit=plan.unit_name, boundary=plan.boundary))
            if ward_rank is None:
                try:
                    ward_rank = ranked_wards(engine, plan).set_index("code", drop=False)
                except InputError:
                    ward_rank = pd.DataFrame(columns=["code"]).set_index("code")
            ev = _evidence(ward_rank.loc[code]) if code in ward_rank.index else {}
            ward = scope.loc[code]
            new.append(("ward", code, str(ward["name"]), plan.boundary, ward.geometry, ev))
        elif kind == "spot":
            if spot_rank is None:
                spot_rank = ranked_spots(engine, plan).set_index("code", drop=False)
            if code not in spot_rank.index:
                raise InputError(format.gettext("`choice` %(choice)s: no such spot among the candidates of the base "
                                                "year.", choice=repr(choice)))
            row = spot_rank.loc[code]
            new.append(("spot", code, str(row["name"]), plan.boundary, row.geometry, _evidence(row)))
        else:
            raise InputError(format.gettext("`choice` was %(choice)s but is expected as 'ward:<code>' or "
                                            "'spot:<code>'.", choice=repr(choice)))
    if (polygon or "").strip():
        geom = parse_polygon(polygon)
        name = check.text(polygon_name, "polygon_name", max_len=300)
        if not reason:
            raise InputError(format.gettext("Enter %(field)s for the drawn area.", field=check.field("reason")))
        new.append(("polygon", "", name, plan.boundary, geom, {}))
    ids = []
    with engine.begin() as conn:
        taken = {(a.kind, a.source_code) for a in _areas(conn, plan_id=plan_id) if a.selected and a.source_code}
        for kind, code, name, boundary, geom, ev in new:
            if (kind, code) in taken:
                raise InputError(format.gettext("%(name)s is already selected in this plan; correct its decision "
                                                "instead.", name=name))
            now = utcnow()
            area_id = conn.execute(insert(CommitteeArea).values(
                plan_id=plan_id, kind=kind, source_code=code, name=name, boundary=boundary,
                geom_wkb=shapely.to_wkb(geom), area_km2=area_km2(geom),
                evidence=json.dumps(ev, ensure_ascii=False, default=float), created_by=recorded_by,
                created_at=now)).inserted_primary_key[0]
            why = reason or reasons.sentence(ev.get("reasons"), "vi")  # the record is kept in Vietnamese
            if not why:
                raise InputError(format.gettext("Enter %(field)s for %(name)s (it has no ranked reason).",
                                                field=check.field("reason"), name=name))
            decision_id = conn.execute(insert(CommitteeDecision).values(
                area_id=area_id, status="selected", reason=why, target_pct=target,
                responsible_unit=responsible_unit, decided_by=decided_by, decided_on=decided_on, note="",
                recorded_by=recorded_by, recorded_at=now, supersedes_id=None)).inserted_primary_key[0]
            check.audit(on_write, conn, "committee_select", f"area {area_id}",
                        {"plan": plan_id, "decision": decision_id, "kind": kind, "code": code, "name": name,
                         "target_pct": target, "responsible_unit": responsible_unit, "decided_by": decided_by,
                         "decided_on": decided_on})
            ids.append(area_id)
    return ids


def correct_decision(engine: Engine, area_id: int, *, supersedes_id, status: str = "selected", target_pct,
                     responsible_unit: str, decided_by: str, decided_on, reason: str, note: str,
                     recorded_by: str = "", on_write: OnWrite = None) -> int:
    """Record a corrected decision on an area (or its withdrawal, ``status="withdrawn"``).

    ``supersedes_id`` must be the current decision, so that a correction made from a
    stale page is refused; ``note`` says why. Returns the new decision's id.
    """
    status = check.choice(status, "status", DECISION_STATUSES)
    target = check.target(target_pct)
    responsible_unit = check.text(responsible_unit, "responsible_unit", max_len=300)
    decided_by = check.text(decided_by, "decided_by", max_len=200)
    decided_on = check.date(decided_on, "decided_on")
    reason = check.text(reason, "reason")
    note = check.text(note, "note")
    supersedes_id = check.number(supersedes_id, "supersedes_id", 1, 2**62)
    with engine.begin() as conn:
        current = check.latest_id(conn, CommitteeDecision, CommitteeDecision.area_id == area_id)
        if current is None:
            raise LookupError(f"No area {area_id}.")
        if current != supersedes_id:
            raise InputError(format.gettext("Decision %(old)s is no longer the current one (it is %(current)s); "
                                            "reload the page and correct the current decision.",
                                            old=supersedes_id, current=current))
        new_id = conn.execute(insert(CommitteeDecision).values(
            area_id=area_id, status=status, reason=reason, target_pct=target, responsible_unit=responsible_unit,
            decided_by=decided_by, decided_on=decided_on, note=note, recorded_by=recorded_by,
            recorded_at=utcnow(), supersedes_id=supersedes_id)).inserted_primary_key[0]
        check.audit(on_write, conn, "committee_decision_fix", f"area {area_id}",
                    {"decision": new_id, "supersedes": supersedes_id, "status": status, "target_pct": target,
                     "responsible_unit": responsible_unit, "decided_by": decided_by, "decided_on": decided_on,
                     "note": note})
    return new_id


def _areas(conn, *, plan_id: int | None = None, area_id: int | None = None) -> list[Area]:
    stmt = select(CommitteeArea).order_by(CommitteeArea.id)
    if plan_id is not None:
        stmt = stmt.where(CommitteeArea.plan_id == plan_id)
    if area_id is not None:
        stmt = stmt.where(CommitteeArea.id == area_id)
    rows = conn.execute(stmt).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    decisions = conn.execute(select(CommitteeDecision).where(CommitteeDecision.area_id.in_(ids))
                             .order_by(CommitteeDecision.id.desc())).all()
    assessments = conn.execute(select(CommitteeAssessment).where(CommitteeAssessment.area_id.in_(ids))
                               .order_by(CommitteeAssessment.id.desc())).all()
    out = {r.id: Area(r.id, r.plan_id, r.kind, r.source_code, r.name, r.boundary, shapely.from_wkb(r.geom_wkb),
                      r.area_km2, json.loads(r.evidence or "{}"), r.created_by, r.created_at) for r in rows}
    for d in decisions:
        out[d.area_id].decisions.append(d)
    for a in assessments:
        out[a.area_id].assessments.setdefault(a.year, []).append(a)
    return list(out.values())


def plan_areas(engine: Engine, plan_id: int) -> list[Area]:
    """The areas a plan selected, in the order they were selected."""
    with engine.connect() as conn:
        return _areas(conn, plan_id=plan_id)


def get_area(engine: Engine, area_id: int) -> Area:
    with engine.connect() as conn:
        found = _areas(conn, area_id=area_id)
    if not found:
        raise LookupError(f"No area {area_id}.")
    return found[0]


def all_areas(engine: Engine) -> list[Area]:
    with engine.connect() as conn:
        return _areas(conn)


def data_version_text(engine: Engine) -> str:
    """The data version (imports and boundary loads) as text, for a form's hidden field."""
    return "-".join(str(v) for v in analysis.data_version(engine))


def now_in(engine: Engine, geom) -> list[dict]:
    """The units of today's boundary versions (no end date) that ``geom`` overlaps, with the
    share of ``geom``'s area in each (largest first; shares below :data:`MIN_SHARE` left out)."""
    out = []
    for v in versions(engine):
        if v.valid_to is not None:
            continue
        units = analysis._ward_frame(engine, v.name)
        hit = units[units.intersects(geom)]
        if hit.empty:
            continue
        part = gpd.GeoSeries(hit.geometry.intersection(geom).values, crs="EPSG:4326")
        whole = area_km2(geom)
        shares = [area_km2(g) / whole if whole else 0.0 for g in part]
        for code, name, share in zip(hit["code"], hit["name"], shares):
            if share >= MIN_SHARE:
                out.append({"boundary": v.name, "code": code, "name": name, "share": float(min(share, 1.0))})
    return sorted(out, key=lambda r: -r["share"])

