"""The committee's work: transformation plans, decisions, assessments, flags, programmes, reports.

Every year a crime-prevention committee (Ban Chỉ đạo 138 of the city, of a district
before 1 July 2025, or of a ward after) adopts a plan "chuyển hóa địa bàn trọng
điểm, phức tạp về trật tự, an toàn xã hội": it selects wards, or smaller spots,
and a year later assesses each one as transformed ("đạt") or not ("không đạt").
Areas that fail several years running ("nhiều năm liền") get special attention,
and a transformed area must not become complex again ("tái phức tạp").

This module keeps that record in the store and computes what the pages show:

* :func:`create_plan`, :func:`candidates` (wards ranked by
  :func:`geo.analysis.complex_areas` and DBSCAN spots ranked by
  :func:`geo.analysis.complex_spots`, over the base year), :func:`select_areas`
  (a ward, a spot or a GeoJSON polygon; its polygon and boundary version are
  kept) and :func:`correct_decision`;
* :func:`propose` (the figures behind an assessment: incidents inside the
  area's polygon against the year before with the exact test of
  :func:`clustering.compare.poisson_rate_test`, whether the target is met,
  whether the area is still a hot spot) and :func:`record_assessment`;
* :func:`flags` (repeat failures and relapses), :func:`now_in` (the wards of
  today's boundary versions an area lies in);
* :func:`record_programme_status` and :func:`programme_statuses` (e.g. the
  phases of "xã, phường không ma túy");
* :func:`report` with :func:`report_xlsx`, :func:`report_csv` and
  :func:`report_pdf` (counts against cùng kỳ per ward or district and per
  category, with significance and clearance rate).

Nothing here is overwritten: a correction inserts a row whose ``supersedes_id``
names the row it replaces, and the current value is the newest row. Writers take
``on_write(conn, action, target, detail)``, called inside the same transaction,
so that the web layer can put the change in the audit log atomically. The module
knows nothing of Flask; texts meant for people are passed in by the caller.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from pyproj import Geod
from shapely.geometry import shape
from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.engine import Engine

from clustering.compare import city_total, compare_counts, poisson_rate_test
from geo import analysis
from geo import periods as pr
from geo.categories import label as category_label
from geo.errors import InputError
from geo.render import exports, reasons
from geo.render import format as fmt
from geo.render.exports import xlsx_cell
from geo.store.models import (
    CommitteeArea,
    CommitteeAssessment,
    CommitteeDecision,
    CommitteePlan,
    ProgrammeStatus,
    utcnow,
)
from geo.store.queries import check_categories, versions

LEVELS = ("city", "district", "ward")
KINDS = ("ward", "spot", "polygon")
RESULTS = ("dat", "khong_dat")
DECISION_STATUSES = ("selected", "withdrawn")
PROGRAMME_STATUSES = ("planned", "in_progress", "met", "not_met")
CUTS = ("calendar", "statistical")
#: The headline figure of the plans: social-order crime.
DEFAULT_CATEGORIES = ("trat_tu_xa_hoi",)
#: Gi* classes that count as "still a hot spot" (≥ 90 % confidence).
HOT_CODES = ("hot_90", "hot_95", "hot_99")
#: Significance level of "rose significantly".
ALPHA = 0.05
#: DBSCAN parameters of the spot candidates and of "a spot of that year intersects it"
#: (the defaults of :func:`geo.analysis.complex_spots`).
SPOT_EPS_M = 150.0
SPOT_MIN_SAMPLES = 30
#: Districts were abolished on 1 July 2025: district plans up to 2025, ward plans from 2025.
REFORM_YEAR = 2025
#: A ward of today's boundaries is listed for an area when it holds at least this share of it.
MIN_SHARE = 0.01
#: Incidents placed only by ward (no coordinates) count for a spot or polygon when at least
#: this share of their ward lies inside it.
GIVEN_WARD_SHARE = 0.5
#: Two selected spots or polygons are the same place when their intersection over union is
#: at least this (wards are the same place when they have the same code and boundary version).
SAME_PLACE_IOU = 0.5
MAX_TEXT = 2000

OnWrite = Callable[[object, str, str, dict], None] | None
_GEOD = Geod(ellps="WGS84")


# --------------------------------------------------------------------------- checks

def _text(value, name: str, *, required: bool = True, max_len: int = MAX_TEXT) -> str:
    """``value`` stripped (short fields on one line), required unless told, at most ``max_len``."""
    value = " ".join(str(value or "").split()) if max_len <= 300 else str(value or "").strip()
    if required and not value:
        raise InputError(f"`{name}` is required.")
    if len(value) > max_len:
        raise InputError(f"`{name}` has {len(value)} characters but at most {max_len} are allowed.")
    return value


def _int(value, name: str, lo: int, hi: int) -> int:
    try:
        out = int(str(value).strip())
    except (TypeError, ValueError):
        raise InputError(f"`{name}` was {value!r} but is expected to be a whole number.") from None
    if not lo <= out <= hi:
        raise InputError(f"`{name}` was {out} but must be from {lo} to {hi}.")
    return out


def _date(value, name: str, *, required: bool = True) -> dt.date | None:
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


def _choice(value, name: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise InputError(f"`{name}` was {value!r} but is expected to be one of {', '.join(allowed)}.")
    return value


def _target(value) -> float:
    try:
        out = float(str(value).strip().replace(",", "."))
    except (TypeError, ValueError):
        raise InputError(f"`target_pct` was {value!r} but is expected to be a number of percent "
                         "(e.g. 10 for a reduction of 10 %).") from None
    if not (0 < out <= 100):
        raise InputError(f"`target_pct` was {value!r} but must be above 0 and at most 100 (percent).")
    return out


def _write(on_write: OnWrite, conn, action: str, target: str, detail: dict) -> None:
    if on_write is not None:
        on_write(conn, action, target, detail)


def _cut(value) -> str:
    value = {"stat": "statistical", "cal": "calendar", None: "calendar", "": "calendar"}.get(value, value)
    return _choice(value, "cut", CUTS)


def _latest_id(conn, model, *where):
    """The id of the current record (the latest; corrections supersede, never overwrite)."""
    return conn.execute(select(model.id).where(*where).order_by(model.id.desc()).limit(1)).scalar()


# --------------------------------------------------------------------------- plans

@dataclass(frozen=True)
class Plan:
    """A stored plan (one row of ``committee_plan``)."""

    id: int
    year: int
    level: str
    unit_code: str
    unit_name: str
    boundary: str
    cut: str
    categories: tuple[str, ...]
    title: str
    created_by: str
    created_at: dt.datetime

    @property
    def base_period(self) -> pr.Period:
        """The base year: the year before the plan, whose data the candidates come from."""
        return self.period(self.year - 1)

    def period(self, year: int) -> pr.Period:
        """The assessment period of ``year`` with the plan's cut (calendar or 15th–14th)."""
        return pr.period("year", year, cut=self.cut)


def _plan(row) -> Plan:
    cats = tuple(c for c in (row.categories or "").split(",") if c)
    return Plan(row.id, row.year, row.level, row.unit_code, row.unit_name, row.boundary, row.cut, cats,
                row.title, row.created_by, row.created_at)


def create_plan(engine: Engine, *, year, level: str, boundary: str, unit_code: str = "", unit_name: str = "",
                cut: str = "calendar", categories: Iterable[str] = DEFAULT_CATEGORIES, title: str = "",
                created_by: str = "", on_write: OnWrite = None) -> int:
    """Store a year's plan of one unit and return its id.

    ``level`` "city" needs ``unit_code`` and ``unit_name`` (a 2025 boundary version
    fills them from its province); "district" (plans up to 2025) takes a district
    code that is the parent of wards in ``boundary`` (e.g. 764, Gò Vấp, in
    hcmc-2019); "ward" (plans from 2025) takes a ward code of ``boundary``.
    """
    year = _int(year, "year", 2000, 2100)
    level = _choice(level, "level", LEVELS)
    cut = _cut(cut)
    cats = [c for c in categories if c]
    check_categories(cats)
    wards = analysis._ward_frame(engine, boundary)
    unit_code = _text(unit_code, "unit_code", required=False, max_len=32)
    if level == "city":
        if not unit_code:
            parents = wards["parent_code"].dropna().unique()
            if len(parents) != 1:
                raise InputError(f"`unit_code` is required: the units of {boundary!r} have no single province.")
            unit_code = str(parents[0])
            unit_name = unit_name or str(wards["parent_name"].dropna().iloc[0])
        unit_name = _text(unit_name, "unit_name", max_len=200)
    elif level == "district":
        if year > REFORM_YEAR:
            raise InputError(f"`level` was 'district' but districts were abolished on 1 July {REFORM_YEAR}; "
                             f"make a city or ward plan for {year}.")
        mine = wards[wards["parent_code"] == unit_code]
        if mine.empty:
            raise InputError(f"`unit_code` was {unit_code!r} but no ward of {boundary!r} lies in a district with "
                             "that code; use a boundary version from before July 2025 (e.g. hcmc-2019).")
        unit_name = str(mine["parent_name"].iloc[0])
    else:
        if year < REFORM_YEAR:
            raise InputError(f"`level` was 'ward' but ward committees make their own plans from {REFORM_YEAR}; "
                             f"make a city or district plan for {year}.")
        if unit_code not in wards.index:
            raise InputError(f"`unit_code` was {unit_code!r} but {boundary!r} has no ward with that code.")
        unit_name = str(wards.at[unit_code, "name"])
    title = _text(title, "title", required=False, max_len=300)
    with engine.begin() as conn:
        if conn.execute(select(CommitteePlan.id).where(CommitteePlan.year == year, CommitteePlan.level == level,
                                                       CommitteePlan.unit_code == unit_code)).first():
            raise InputError(f"There is already a {year} plan of {unit_name} ({unit_code}); open it instead.")
        plan_id = conn.execute(insert(CommitteePlan).values(
            year=year, level=level, unit_code=unit_code, unit_name=unit_name, boundary=boundary, cut=cut,
            categories=",".join(cats), title=title, created_by=created_by, created_at=utcnow())).inserted_primary_key[0]
        _write(on_write, conn, "committee_plan", f"plan {plan_id}",
               {"year": year, "level": level, "unit": unit_code, "boundary": boundary, "cut": cut,
                "categories": cats})
    return plan_id


def get_plan(engine: Engine, plan_id: int) -> Plan:
    with engine.connect() as conn:
        row = conn.execute(select(CommitteePlan).where(CommitteePlan.id == plan_id)).first()
    if row is None:
        raise LookupError(f"No plan {plan_id}.")
    return _plan(row)


def list_plans(engine: Engine) -> list[dict]:
    """Every plan, newest year first, with how many areas it selected."""
    with engine.connect() as conn:
        rows = conn.execute(select(CommitteePlan).order_by(CommitteePlan.year.desc(), CommitteePlan.level,
                                                           CommitteePlan.unit_code)).all()
        n = dict(conn.execute(select(CommitteeArea.plan_id, func.count()).group_by(CommitteeArea.plan_id)).all())
    return [{"plan": _plan(r), "areas": n.get(r.id, 0)} for r in rows]


def plan_scope(engine: Engine, plan: Plan) -> gpd.GeoDataFrame:
    """The wards of the plan's boundary version that the plan's unit covers."""
    wards = analysis._ward_frame(engine, plan.boundary)
    if plan.level == "district":
        return wards[wards["parent_code"] == plan.unit_code]
    if plan.level == "ward":
        return wards[wards["code"] == plan.unit_code]
    return wards


@dataclass
class Candidates:
    """Wards and spots ranked over the plan's base year, with the evidence of each."""

    period: pr.Period
    wards: gpd.GeoDataFrame
    spots: gpd.GeoDataFrame
    errors: list[str] = field(default_factory=list)


def _with_reasons(ranked: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The ranked units with their reason sentences (``reason_vi``, ``reason_en``) from ``reasons``."""
    return ranked.assign(**{f"reason_{lang}": [reasons.sentence(r, lang) for r in ranked["reasons"]]
                            for lang in ("vi", "en")})


def _all_ward_candidates(engine: Engine, plan: Plan) -> gpd.GeoDataFrame:
    base = plan.base_period
    ranked = analysis.complex_areas(engine, boundary=plan.boundary, start=base.start, end=base.end,
                                    categories=list(plan.categories))
    codes = set(plan_scope(engine, plan)["code"])
    return _with_reasons(ranked[ranked["code"].isin(codes)].reset_index(drop=True))


def _all_spot_candidates(engine: Engine, plan: Plan) -> gpd.GeoDataFrame:
    base = plan.base_period
    spots = analysis.complex_spots(engine, boundary=plan.boundary, start=base.start, end=base.end,
                                   categories=list(plan.categories), eps_m=SPOT_EPS_M,
                                   min_samples=SPOT_MIN_SAMPLES)
    if plan.level != "city":
        scope = shapely.union_all(plan_scope(engine, plan).geometry.values)
        spots = spots[spots.intersects(scope)]
    return _with_reasons(spots.reset_index(drop=True))


def candidates(engine: Engine, plan: Plan, *, top: int = 20, spots_top: int = 10) -> Candidates:
    """The first ``top`` wards and ``spots_top`` spots of the plan's unit, ranked over its base year.

    For a city plan the wards are exactly ``complex_areas(..., top=top)`` of the base
    year; a district or ward plan keeps the ones inside its unit, in the same order.
    """
    errors = []
    empty = gpd.GeoDataFrame({"code": [], "name": []}, geometry=[], crs="EPSG:4326")
    try:
        wards = _all_ward_candidates(engine, plan).head(top)
    except InputError as exc:
        wards, errors = empty, [str(exc)]
    try:
        spots = _all_spot_candidates(engine, plan).head(spots_top)
    except InputError as exc:
        spots = empty
        errors.append(str(exc))
    return Candidates(plan.base_period, wards, spots, errors)


# --------------------------------------------------------------------------- areas and decisions

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
        raise InputError(f"`polygon` is not valid GeoJSON ({exc}); paste a Polygon, a Feature or a "
                         "FeatureCollection.") from None
    except RecursionError:  # json's own guard against deep nesting ([[[[… thousands deep)
        raise InputError("`polygon` is nested too deeply to be GeoJSON; paste a Polygon, a Feature or a "
                         "FeatureCollection.") from None
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
            raise InputError("`polygon` must hold Polygon or MultiPolygon geometries "
                             f"(got {g.get('type') if isinstance(g, dict) else type(g).__name__}).")
        try:
            parts.append(shapely.make_valid(shape(g)))
        except RecursionError:
            raise InputError("`polygon` has coordinates nested too deeply; a polygon's coordinates are "
                             "rings of [longitude, latitude] pairs.") from None
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            raise InputError(f"`polygon` has a geometry that cannot be read ({exc}).") from None
    if not parts:
        raise InputError("`polygon` holds no polygon.")
    geom = shapely.union_all(parts)
    polys = [p for p in getattr(geom, "geoms", [geom]) if p.geom_type in ("Polygon", "MultiPolygon")]
    geom = shapely.union_all(polys) if polys else None
    if geom is None or geom.is_empty or geom.area == 0:
        raise InputError("`polygon` encloses no area.")
    x0, y0, x1, y1 = geom.bounds
    if x0 < -180 or x1 > 180 or y0 < -90 or y1 > 90:
        raise InputError(f"`polygon` has coordinates outside longitude/latitude ({x0:g}, {y0:g}, {x1:g}, "
                         f"{y1:g}); give WGS 84 degrees (EPSG:4326), not projected metres.")
    return geom


def area_km2(geom) -> float:
    """Geodesic area of a WGS 84 polygon in km²."""
    return abs(_GEOD.geometry_area_perimeter(geom)[0]) / 1e6


def _evidence(row) -> dict:
    out = {}
    for k in ("rank", "score", "count", "base_count", "change_pct", "p_value", "hotspot_code", "reason_vi",
              "reason_en", "ward_codes"):
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
        raise InputError("The incident data changed after the candidates were shown; reload the plan and "
                         "select again.")
    target = _target(target_pct)
    responsible_unit = _text(responsible_unit, "responsible_unit", max_len=300)
    decided_by = _text(decided_by, "decided_by", max_len=200)
    decided_on = _date(decided_on, "decided_on")
    reason = _text(reason, "reason", required=False)
    choices = [c for c in choices if c]
    if not choices and not (polygon or "").strip():
        raise InputError("Choose at least one ward or spot, or give a polygon.")
    new = []  # (kind, source_code, name, boundary, geom, evidence)
    ward_rank = spot_rank = None
    scope = plan_scope(engine, plan)
    for choice in dict.fromkeys(choices):
        kind, _, code = choice.partition(":")
        if kind == "ward":
            if code not in set(scope["code"]):
                raise InputError(f"`choice` {choice!r}: no ward with code {code!r} in the plan's unit "
                                 f"({plan.unit_name}, {plan.boundary}).")
            if ward_rank is None:
                try:
                    ward_rank = _all_ward_candidates(engine, plan).set_index("code", drop=False)
                except InputError:
                    ward_rank = pd.DataFrame(columns=["code"]).set_index("code")
            ev = _evidence(ward_rank.loc[code]) if code in ward_rank.index else {}
            ward = scope.loc[code]
            new.append(("ward", code, str(ward["name"]), plan.boundary, ward.geometry, ev))
        elif kind == "spot":
            if spot_rank is None:
                spot_rank = _all_spot_candidates(engine, plan).set_index("code", drop=False)
            if code not in spot_rank.index:
                raise InputError(f"`choice` {choice!r}: no such spot among the candidates of the base year.")
            row = spot_rank.loc[code]
            new.append(("spot", code, str(row["name"]), plan.boundary, row.geometry, _evidence(row)))
        else:
            raise InputError(f"`choice` was {choice!r} but is expected as 'ward:<code>' or 'spot:<code>'.")
    if (polygon or "").strip():
        geom = parse_polygon(polygon)
        name = _text(polygon_name, "polygon_name", max_len=300)
        if not reason:
            raise InputError("`reason` is required for a drawn polygon.")
        new.append(("polygon", "", name, plan.boundary, geom, {}))
    ids = []
    with engine.begin() as conn:
        taken = {(a.kind, a.source_code) for a in _areas(conn, plan_id=plan_id) if a.selected and a.source_code}
        for kind, code, name, boundary, geom, ev in new:
            if (kind, code) in taken:
                raise InputError(f"{name} is already selected in this plan; correct its decision instead.")
            now = utcnow()
            area_id = conn.execute(insert(CommitteeArea).values(
                plan_id=plan_id, kind=kind, source_code=code, name=name, boundary=boundary,
                geom_wkb=shapely.to_wkb(geom), area_km2=area_km2(geom),
                evidence=json.dumps(ev, ensure_ascii=False, default=float), created_by=recorded_by,
                created_at=now)).inserted_primary_key[0]
            why = reason or ev.get("reason_vi", "")
            if not why:
                raise InputError(f"`reason` is required for {name} (it has no ranked reason).")
            decision_id = conn.execute(insert(CommitteeDecision).values(
                area_id=area_id, status="selected", reason=why, target_pct=target,
                responsible_unit=responsible_unit, decided_by=decided_by, decided_on=decided_on, note="",
                recorded_by=recorded_by, recorded_at=now, supersedes_id=None)).inserted_primary_key[0]
            _write(on_write, conn, "committee_select", f"area {area_id}",
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
    status = _choice(status, "status", DECISION_STATUSES)
    target = _target(target_pct)
    responsible_unit = _text(responsible_unit, "responsible_unit", max_len=300)
    decided_by = _text(decided_by, "decided_by", max_len=200)
    decided_on = _date(decided_on, "decided_on")
    reason = _text(reason, "reason")
    note = _text(note, "note")
    supersedes_id = _int(supersedes_id, "supersedes_id", 1, 2**62)
    with engine.begin() as conn:
        current = _latest_id(conn, CommitteeDecision, CommitteeDecision.area_id == area_id)
        if current is None:
            raise LookupError(f"No area {area_id}.")
        if current != supersedes_id:
            raise InputError(f"Decision {supersedes_id} is no longer the current one (it is {current}); reload "
                             "the page and correct the current decision.")
        new_id = conn.execute(insert(CommitteeDecision).values(
            area_id=area_id, status=status, reason=reason, target_pct=target, responsible_unit=responsible_unit,
            decided_by=decided_by, decided_on=decided_on, note=note, recorded_by=recorded_by,
            recorded_at=utcnow(), supersedes_id=supersedes_id)).inserted_primary_key[0]
        _write(on_write, conn, "committee_decision_fix", f"area {area_id}",
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


# --------------------------------------------------------------------------- counting inside an area

def _given_codes(engine: Engine, area: Area) -> list[str]:
    """Wards of the area's boundary version whose coordinate-less incidents count for it."""
    if area.kind == "ward":
        return [area.source_code]
    units = analysis._ward_frame(engine, area.boundary)
    hit = units[units.intersects(area.geometry)]
    out = []
    for code, g in zip(hit["code"], hit.geometry):
        whole = area_km2(g)
        if whole and area_km2(g.intersection(area.geometry)) / whole >= GIVEN_WARD_SHARE:
            out.append(code)
    return out


def incidents_inside(engine: Engine, area: Area, start: dt.date, end: dt.date,
                     categories: Sequence[str] = ()) -> pd.DataFrame:
    """Incidents in [start, end] (and the categories) that count for ``area``: those whose
    coordinates lie inside its polygon (its border included), and those placed only by
    ward whose ward in the area's boundary version is the area's ward (or, for a spot or
    polygon, lies at least half inside it)."""
    cats = check_categories(list(categories))
    x0, y0, x1, y1 = area.geometry.bounds
    codes = _given_codes(engine, area)
    sql = ("SELECT i.id, i.local_date, i.category, i.cleared, i.lon, i.lat, a.code FROM incident i "
           "LEFT JOIN incident_area ia ON ia.incident_id = i.id AND ia.version_id = "
           "(SELECT id FROM boundary_version WHERE name = :boundary) "
           "LEFT JOIN area a ON a.id = ia.area_id "
           "WHERE i.local_date >= :start AND i.local_date <= :end "
           + ("AND i.category IN :cats " if cats else "")
           + "AND ((i.lon BETWEEN :x0 AND :x1 AND i.lat BETWEEN :y0 AND :y1)"
           + (" OR (i.lon IS NULL AND a.code IN :codes))" if codes else ")"))
    stmt = text(sql)
    params = dict(boundary=area.boundary, start=start, end=end, x0=x0, x1=x1, y0=y0, y1=y1)
    if cats:
        stmt = stmt.bindparams(bindparam("cats", expanding=True))
        params["cats"] = cats
    if codes:
        stmt = stmt.bindparams(bindparam("codes", expanding=True))
        params["codes"] = codes
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(stmt, params).all(),
                          columns=["id", "local_date", "category", "cleared", "lon", "lat", "code"])
    df["local_date"] = pd.to_datetime(df["local_date"]).dt.date
    has_xy = df["lon"].notna() & df["lat"].notna()
    inside = np.zeros(len(df), dtype=bool)
    if has_xy.any():
        inside[has_xy.to_numpy()] = shapely.intersects_xy(area.geometry, df.loc[has_xy, "lon"].to_numpy(float),
                                                          df.loc[has_xy, "lat"].to_numpy(float))
    given = (~has_xy & df["code"].isin(codes)).to_numpy()
    return df[inside | given].reset_index(drop=True)


def counts_inside(engine: Engine, area: Area, periods: Sequence[pr.Period],
                  categories: Sequence[str] = ()) -> list[int]:
    """Incidents counted for ``area`` (:func:`incidents_inside`) in each period."""
    inc = incidents_inside(engine, area, min(p.start for p in periods), max(p.end for p in periods), categories)
    d = inc["local_date"]
    return [int(((d >= p.start) & (d <= p.end)).sum()) for p in periods]


# --------------------------------------------------------------------------- hot or not

def _gi_code(engine: Engine, boundary: str, code: str, period: pr.Period, categories) -> str | None:
    try:
        gi = analysis.gistar_wards(engine, boundary=boundary, start=period.start, end=period.end,
                                   categories=list(categories))
    except InputError:
        return None
    match = gi.loc[gi["code"] == code, "hotspot_code"]
    return str(match.iloc[0]) if len(match) else None


def _spots_over(engine: Engine, area: Area, period: pr.Period, categories) -> int:
    """How many DBSCAN spots of ``period`` intersect the area."""
    try:
        spots = analysis.dbscan_spots(engine, boundary=area.boundary, start=period.start, end=period.end,
                                      categories=list(categories), eps_m=SPOT_EPS_M, min_samples=SPOT_MIN_SAMPLES)
    except InputError:
        return 0
    return int(spots.intersects(area.geometry).sum()) if len(spots) else 0


def hot_status(engine: Engine, area: Area, period: pr.Period, categories) -> dict:
    """Whether the area is still a hot spot in ``period``: for a ward, its Gi* class (hot at
    ≥ 90 %); for a spot or polygon, whether a DBSCAN spot of the period intersects it."""
    if area.kind == "ward":
        code = _gi_code(engine, area.boundary, area.source_code, period, categories)
        return {"hot": code in HOT_CODES, "method": "gistar", "hotspot_code": code}
    n = _spots_over(engine, area, period, categories)
    return {"hot": n > 0, "method": "dbscan", "spots": n}


def change_text(count: int, base: int, lang: str = "vi") -> str:
    """"giảm 8,4%", "tăng 3 vụ" (from nothing), "không đổi"; English with ``lang="en"``."""
    return fmt.count_change(count, base, locale=lang)


def rate_text(x, lang: str = "vi", digits: int = 2) -> str:
    """A fraction as a percentage: 0.8404 -> "84,04%"; "—" when missing."""
    return fmt.percent(x, digits, locale=lang)


def _with_change_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``change_text_vi``/``change_text_en`` made from its counts (None where suppressed)."""
    for lang in ("vi", "en"):
        frame[f"change_text_{lang}"] = [change_text(a, b, lang) for a, b in zip(frame["count"], frame["base_count"])]
    return frame


# --------------------------------------------------------------------------- assessments

def assessable_years(engine: Engine, plan: Plan) -> list[int]:
    """The years an area of ``plan`` can be assessed for: from the plan's year to the last
    year with incidents (at least the plan's year)."""
    span = analysis.data_span(engine)
    last = max(plan.year, span[1].year if span else plan.year)
    return list(range(plan.year, last + 1))


def propose(engine: Engine, area_id: int, year) -> dict:
    """The assessment the data suggest for an area in ``year``.

    Incidents inside the area (:func:`counts_inside`) in the year (the plan's cut)
    against the year before, the exact test of two Poisson rates
    (:func:`clustering.compare.poisson_rate_test`, two-sided), whether the
    decision's target (a reduction of ``target_pct`` %) is met, and whether the
    area is still a hot spot (:func:`hot_status`). ``proposed`` is "dat" when
    the target is met and the area is no longer hot, else "khong_dat".
    ``complete`` is False while the data do not reach the end of the year.
    """
    area = get_area(engine, area_id)
    plan = get_plan(engine, area.plan_id)
    year = _int(year, "year", plan.year, 2100)
    cur = plan.period(year)
    base = cur.same_period_last_year()
    span = analysis.data_span(engine)
    if span is None or cur.start > span[1]:
        raise InputError(f"No incidents recorded in {cur.label(with_dates=True)} yet.")
    k1, k0 = counts_inside(engine, area, [cur, base], plan.categories)
    p = float(poisson_rate_test(k1, cur.days, k0, base.days))
    target = float(area.decision.target_pct) if area.decision is not None else None
    pct = 100.0 * (k1 - k0) / k0 if k0 else None
    if target is None:
        met = None
    elif k0:
        met = bool(pct <= -target)
    else:
        met = k1 == 0
    hot = hot_status(engine, area, cur, plan.categories)
    return {
        "area_id": area.id, "year": year,
        "period": [cur.start.isoformat(), cur.end.isoformat()],
        "period_vi": cur.label("vi", with_dates=True), "period_en": cur.label("en", with_dates=True),
        "base_period": [base.start.isoformat(), base.end.isoformat()],
        "base_vi": base.label("vi", with_dates=True), "base_en": base.label("en", with_dates=True),
        "count": k1, "base_count": k0, "change": k1 - k0, "change_pct": pct,
        "change_text_vi": change_text(k1, k0, "vi"), "change_text_en": change_text(k1, k0, "en"),
        "p_value": p, "significant": p <= ALPHA,
        "direction": "up" if k1 / cur.days > k0 / base.days else ("down" if k1 / cur.days < k0 / base.days else "same"),
        "target_pct": target, "target_met": met, **hot,
        "proposed": "dat" if met and not hot["hot"] else "khong_dat",
        "complete": cur.end <= span[1], "data_until": span[1].isoformat(),
    }


def record_assessment(engine: Engine, area_id: int, *, year, result: str, note: str = "", recorded_by: str = "",
                      supersedes_id=None, on_write: OnWrite = None) -> int:
    """Record the committee's assessment of an area for ``year`` ("dat" or "khong_dat").

    The proposal of :func:`propose` at this moment is stored with it. A second
    assessment of the same year is a correction: it must name the current one in
    ``supersedes_id`` and give a ``note``. Returns the new row's id.
    """
    result = _choice(result, "result", RESULTS)
    area = get_area(engine, area_id)
    plan = get_plan(engine, area.plan_id)
    if not area.selected:
        raise InputError(f"{area.name} was withdrawn from the plan; it cannot be assessed.")
    year = _int(year, "year", plan.year, max(assessable_years(engine, plan)[-1], dt.date.today().year))
    note = _text(note, "note", required=supersedes_id not in (None, ""))
    supersedes_id = None if supersedes_id in (None, "") else _int(supersedes_id, "supersedes_id", 1, 2**62)
    try:
        proposal = propose(engine, area_id, year)
    except InputError as exc:
        proposal = {"error": str(exc)}
    with engine.begin() as conn:
        current = _latest_id(conn, CommitteeAssessment, CommitteeAssessment.area_id == area_id,
                             CommitteeAssessment.year == year)
        if current != supersedes_id:
            if current is None:
                raise InputError(f"There is no assessment of {area.name} for {year} to correct.")
            raise InputError(f"{area.name} already has an assessment for {year} (no. {current}); correct that "
                             "one, after reloading the page if needed.")
        new_id = conn.execute(insert(CommitteeAssessment).values(
            area_id=area_id, year=year, result=result, note=note,
            proposal=json.dumps(proposal, ensure_ascii=False, default=float), recorded_by=recorded_by,
            recorded_at=utcnow(), supersedes_id=supersedes_id)).inserted_primary_key[0]
        _write(on_write, conn, "committee_assess", f"area {area_id}",
               {"assessment": new_id, "year": year, "result": result, "supersedes": supersedes_id, "note": note,
                "proposed": proposal.get("proposed")})
    return new_id


# --------------------------------------------------------------------------- flags

def _iou(a, b) -> float:
    inter = a.intersection(b).area
    union = a.union(b).area
    return inter / union if union else 0.0


def places(areas: Sequence[Area]) -> list[list[Area]]:
    """Group the areas that are the same place across plans: wards with the same code and
    boundary version; and areas of different plans whose polygons overlap by
    :data:`SAME_PLACE_IOU` (intersection over union) or more (a spot selected one year
    where a ward was selected the year before). Within one plan, different selections
    are different places."""
    parent = list(range(len(areas)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(areas):
        for j in range(i):
            b = areas[j]
            if a.kind == b.kind == "ward":
                same = (a.boundary, a.source_code) == (b.boundary, b.source_code)
            else:
                same = (a.plan_id != b.plan_id and a.geometry.intersects(b.geometry)
                        and _iou(a.geometry, b.geometry) >= SAME_PLACE_IOU)
            if same:
                parent[find(i)] = find(j)
    groups: dict[int, list[Area]] = {}
    for i, a in enumerate(areas):
        groups.setdefault(find(i), []).append(a)
    return list(groups.values())


def _by_year(place: Sequence[Area]) -> dict[int, tuple[Area, object]]:
    """The current assessment of the place for each year (the newest among its areas)."""
    out: dict[int, tuple[Area, object]] = {}
    for a in place:
        for year in a.assessments:
            row = a.assessment(year)
            if year not in out or row.id > out[year][1].id:
                out[year] = (a, row)
    return dict(sorted(out.items()))


@dataclass
class Flags:
    """Areas failing several years running, areas that relapsed, and every selected area
    with its flag (``repeat_failure``, ``relapse``, ``both`` or ``none``) for the map."""

    repeat_failures: list[dict]
    relapses: list[dict]
    areas: gpd.GeoDataFrame


def relapse_check(engine: Engine, area: Area, plan: Plan, good_year: int, last: dt.date) -> dict | None:
    """The first year after ``good_year`` (assessed "đạt") in which the area is a hot spot
    again (:func:`hot_status`) or its count rose significantly (two-sided exact test,
    p ≤ :data:`ALPHA`) against ``good_year``; None when there is none up to ``last``.
    A year the data cover only in part is compared over the same days of ``good_year``."""
    good = plan.period(good_year)
    for year in range(good_year + 1, last.year + 1):
        cur = plan.period(year)
        if cur.start > last:
            break
        base = good
        if cur.end > last:  # part of the year: the same days of the đạt year
            cur = pr.custom(cur.start, last)
            shift = year - good_year
            base = pr.custom(good.start, _years_back(last, shift))
        k1, k0 = counts_inside(engine, area, [cur, base], plan.categories)
        p = float(poisson_rate_test(k1, cur.days, k0, base.days))
        rose = p <= ALPHA and k1 / cur.days > k0 / base.days
        hot = hot_status(engine, area, cur, plan.categories)
        if hot["hot"] or rose:
            return {"year": year, "period_vi": cur.label("vi", with_dates=True),
                    "period_en": cur.label("en", with_dates=True), "count": k1, "base_count": k0,
                    "p_value": p, "rose": rose, "change_text_vi": change_text(k1, k0, "vi"),
                    "change_text_en": change_text(k1, k0, "en"), **hot}
    return None


def _years_back(d: dt.date, n: int) -> dt.date:
    try:
        return d.replace(year=d.year - n)
    except ValueError:  # 29 February
        return d.replace(year=d.year - n, day=28)


def flags(engine: Engine, *, plan_id: int | None = None) -> Flags:
    """Repeat failures ("không đạt nhiều năm liền": the place's latest assessments are
    "không đạt" two or more years running) and relapses ("tái phức tạp": after the
    latest year assessed "đạt", :func:`relapse_check` finds a year in which the area is
    hot again). Withdrawn areas are left out; the same place in several plans counts
    once (:func:`places`)."""
    areas = [a for a in all_areas(engine) if a.selected]
    plans = {}
    for a in areas:
        if a.plan_id not in plans:
            plans[a.plan_id] = get_plan(engine, a.plan_id)
    span = analysis.data_span(engine)
    repeat, relapse, flag_of = [], [], {}
    for place in places(areas):
        if plan_id is not None and not any(a.plan_id == plan_id for a in place):
            continue
        by_year = _by_year(place)
        latest = max(place, key=lambda a: a.id)
        ids = [a.id for a in place]
        if by_year:
            years = list(by_year)
            run = []
            for y in reversed(years):
                if by_year[y][1].result != "khong_dat" or (run and run[-1] != y + 1):
                    break
                run.append(y)
            if len(run) >= 2:
                run.reverse()
                repeat.append({"name": latest.name, "area": latest, "area_ids": ids, "years": run,
                               "plans": sorted({plans[a.plan_id].year for a in place})})
                for i in ids:
                    flag_of[i] = "repeat_failure"
            good_years = [y for y, (_, row) in by_year.items() if row.result == "dat"]
            if good_years and span is not None:
                gy = good_years[-1]
                area = by_year[gy][0]
                found = relapse_check(engine, area, plans[area.plan_id], gy, span[1])
                if found:
                    relapse.append({"name": area.name, "area": area, "area_ids": ids, "dat_year": gy, **found})
                    for i in ids:
                        flag_of[i] = "both" if flag_of.get(i) == "repeat_failure" else "relapse"
    shown = [a for a in areas if plan_id is None or a.plan_id == plan_id]
    gdf = gpd.GeoDataFrame({"id": [a.id for a in shown], "name": [a.name for a in shown],
                            "plan_year": [plans[a.plan_id].year for a in shown],
                            "flag": [flag_of.get(a.id, "none") for a in shown]},
                           geometry=[a.geometry for a in shown], crs="EPSG:4326")
    return Flags(repeat, relapse, gdf)


# --------------------------------------------------------------------------- programmes

def record_programme_status(engine: Engine, *, boundary: str, unit_code: str, programme: str, phase: str,
                            status: str, valid_from=None, valid_to=None, note: str = "", recorded_by: str = "",
                            supersedes_id=None, on_write: OnWrite = None) -> int:
    """Record a ward's status in one phase of a programme (e.g. "Xã, phường không ma túy",
    "Giai đoạn 2", 15/12/2023–14/05/2024). The status of a (ward, programme, phase) is
    the newest row; a correction must name it in ``supersedes_id``."""
    wards = analysis._ward_frame(engine, boundary)
    unit_code = _text(unit_code, "unit_code", max_len=32)
    if unit_code not in wards.index:
        raise InputError(f"`unit_code` was {unit_code!r} but {boundary!r} has no ward with that code.")
    programme = _text(programme, "programme", max_len=200)
    phase = _text(phase, "phase", max_len=100)
    status = _choice(status, "status", PROGRAMME_STATUSES)
    valid_from = _date(valid_from, "valid_from", required=False)
    valid_to = _date(valid_to, "valid_to", required=False)
    if valid_from and valid_to and valid_to < valid_from:
        raise InputError(f"`valid_to` ({valid_to}) is before `valid_from` ({valid_from}).")
    note = _text(note, "note", required=supersedes_id not in (None, ""))
    supersedes_id = None if supersedes_id in (None, "") else _int(supersedes_id, "supersedes_id", 1, 2**62)
    unit_name = str(wards.at[unit_code, "name"])
    with engine.begin() as conn:
        current = _latest_id(conn, ProgrammeStatus, ProgrammeStatus.boundary == boundary,
                             ProgrammeStatus.unit_code == unit_code, ProgrammeStatus.programme == programme,
                             ProgrammeStatus.phase == phase)
        if current != supersedes_id:
            if current is None:
                raise InputError(f"There is no status of {unit_name} in {programme}, {phase} to correct.")
            raise InputError(f"{unit_name} already has a status in {programme}, {phase} (no. {current}); "
                             "correct that one.")
        new_id = conn.execute(insert(ProgrammeStatus).values(
            boundary=boundary, unit_code=unit_code, unit_name=unit_name, programme=programme, phase=phase,
            status=status, valid_from=valid_from, valid_to=valid_to, note=note, recorded_by=recorded_by,
            recorded_at=utcnow(), supersedes_id=supersedes_id)).inserted_primary_key[0]
        _write(on_write, conn, "programme_status", f"{boundary}/{unit_code}",
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


# --------------------------------------------------------------------------- periodic report

@dataclass
class Report:
    """Counts of a period against cùng kỳ per unit (ward or district), per category, per
    unit and category, and for the whole area; with the exact test and clearance rates."""

    boundary: str
    level: str
    period: pr.Period
    base: pr.Period
    categories: list[str]
    district: str | None
    units: gpd.GeoDataFrame
    by_category: pd.DataFrame
    detail: pd.DataFrame
    total: dict
    meta: dict = field(default_factory=dict)


def _rate(cleared, count):
    return np.where(np.asarray(count) > 0, np.asarray(cleared, dtype=float) / np.maximum(np.asarray(count), 1),
                    np.nan)


def _grouped(engine: Engine, boundary: str, period: pr.Period, categories) -> pd.DataFrame:
    rows = analysis._period_rows(engine, "a.code, i.category, i.cleared, COUNT(*)", boundary=boundary,
                                 start=period.start, end=period.end, categories=list(categories),
                                 group_by="a.code, i.category, i.cleared")
    df = pd.DataFrame(rows, columns=["code", "category", "cleared", "n"])
    cleared = np.array([v is not None and v == v and bool(v) for v in df["cleared"]], dtype=bool)
    df["cleared_n"] = np.where(cleared, df["n"], 0)
    return df.groupby(["code", "category"], as_index=False)[["n", "cleared_n"]].sum()


def _district_geometry(engine: Engine, boundary: str) -> gpd.GeoDataFrame:
    def compute():
        wards = analysis._ward_frame(engine, boundary).reset_index(drop=True)
        wards = wards[wards["parent_code"].notna()]
        g = wards.groupby("parent_code")
        return gpd.GeoDataFrame({"code": list(g.groups), "name": g["parent_name"].first().to_numpy()},
                                geometry=[shapely.union_all(wards.geometry[idx].values) for idx in g.groups.values()],
                                crs="EPSG:4326")
    return analysis.cached("committee-districts", engine, {"b": boundary}, compute)


def report(engine: Engine, *, boundary: str, period: pr.Period, categories: Sequence[str] = (),
           level: str = "ward", district: str | None = None) -> Report:
    """The periodic report of ``period`` against its cùng kỳ (``period.same_period_last_year()``).

    Ward rows are those of :func:`geo.analysis.compare_wards` (the ``/api/v1/compare``
    figures: FDR over all wards of the version); ``level="district"`` adds up the
    wards of each district (boundary versions from before July 2025) and tests the
    districts. ``district`` keeps the rows of one district. Categories are tested
    against each other (FDR over the categories), and so are the unit × category
    cells. Clearance rate = cleared incidents / incidents.
    """
    level = _choice(level, "level", ("ward", "district"))
    cats = list(categories)
    check_categories(cats)
    base = period.same_period_last_year()
    wards = analysis._ward_frame(engine, boundary)
    parents = wards["parent_code"].dropna().unique()
    if (level == "district" or district) and len(parents) <= 1:
        raise InputError(f"{boundary!r} has no districts (its units have one parent, the province); choose "
                         "level=ward, or a boundary version from before July 2025 such as hcmc-2019.")
    if district and district not in set(parents):
        raise InputError(f"`district` was {district!r} but no ward of {boundary!r} lies in a district with that "
                         "code.")
    cmp, meta = analysis.compare_wards(engine, boundary=boundary, start=period.start, end=period.end,
                                       categories=cats)
    now = _grouped(engine, boundary, period, cats)
    then = _grouped(engine, boundary, base, cats)
    parent = wards["parent_code"].to_dict()
    parent_name = wards["parent_name"].to_dict()
    for df in (now, then):
        df["parent_code"] = df["code"].map(parent)
    if district:
        now = now[now["parent_code"] == district]
        then = then[then["parent_code"] == district]
    cleared_now = now.groupby("code")["cleared_n"].sum()
    cleared_then = then.groupby("code")["cleared_n"].sum()
    if level == "ward":
        units = cmp.copy()
        units.insert(2, "parent_code", units["code"].map(parent))
        units.insert(3, "parent_name", units["code"].map(parent_name))
        if district:
            units = units[units["parent_code"] == district].reset_index(drop=True)
    else:
        key = "parent_code"
        cur = now.groupby(key)["n"].sum().rename("count").reset_index().rename(columns={key: "code"})
        old = then.groupby(key)["n"].sum().rename("count").reset_index().rename(columns={key: "code"})
        geo = _district_geometry(engine, boundary)
        if district:
            geo = geo[geo["code"] == district]
        cur = pd.concat([cur, pd.DataFrame({"code": sorted(set(geo["code"]) - set(cur["code"])), "count": 0})])
        old = pd.concat([old, pd.DataFrame({"code": sorted(set(geo["code"]) - set(old["code"])), "count": 0})])
        tested = compare_counts(cur, old, t_current_days=period.days, t_base_days=base.days)
        units = geo.merge(tested, on="code", how="left")
        units.insert(2, "parent_code", units["code"])
        units.insert(3, "parent_name", units["name"])
        cleared_now = now.groupby("parent_code")["cleared_n"].sum()
        cleared_then = then.groupby("parent_code")["cleared_n"].sum()
    units["cleared_count"] = units["code"].map(cleared_now).fillna(0).astype(int)
    units["clearance_rate"] = _rate(units["cleared_count"], units["count"])
    units["base_cleared_count"] = units["code"].map(cleared_then).fillna(0).astype(int)
    units["base_clearance_rate"] = _rate(units["base_cleared_count"], units["base_count"])
    units = gpd.GeoDataFrame(units, geometry="geometry", crs="EPSG:4326")

    # per category over the whole area (or the district)
    c_now = now.groupby("category")[["n", "cleared_n"]].sum()
    c_then = then.groupby("category")[["n", "cleared_n"]].sum()
    by_cat = compare_counts(c_now["n"].rename("count").reset_index().rename(columns={"category": "code"}),
                            c_then["n"].rename("count").reset_index().rename(columns={"category": "code"}),
                            t_current_days=period.days, t_base_days=base.days) if len(c_now) + len(c_then) else \
        pd.DataFrame(columns=["code", "count", "base_count", "change", "change_pct", "p_value", "q_value",
                              "change_class", "change_text_vi", "change_text_en"])
    by_cat = by_cat.rename(columns={"code": "category"})
    by_cat.insert(1, "label_vi", by_cat["category"].map(lambda c: category_label(c, "vi")))
    by_cat.insert(2, "label_en", by_cat["category"].map(lambda c: category_label(c, "en")))
    by_cat["cleared_count"] = by_cat["category"].map(c_now["cleared_n"]).fillna(0).astype(int)
    by_cat["clearance_rate"] = _rate(by_cat["cleared_count"], by_cat["count"])
    by_cat = by_cat.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)

    # unit x category
    ukey = "code" if level == "ward" else "parent_code"
    d_now = now.groupby([ukey, "category"])[["n", "cleared_n"]].sum()
    d_then = then.groupby([ukey, "category"])[["n"]].sum()
    keys = d_now.index.union(d_then.index)
    if len(keys):
        codes = [f"{u}|{c}" for u, c in keys]
        detail = compare_counts(
            pd.DataFrame({"code": codes, "count": d_now["n"].reindex(keys, fill_value=0).to_numpy()}),
            pd.DataFrame({"code": codes, "count": d_then["n"].reindex(keys, fill_value=0).to_numpy()}),
            t_current_days=period.days, t_base_days=base.days)
        detail.insert(0, "unit_code", detail["code"].str.split("|").str[0])
        detail.insert(1, "category", detail["code"].str.split("|").str[1])
        detail = detail.drop(columns="code")
        names = units.set_index("code")["name"]
        detail.insert(1, "unit_name", detail["unit_code"].map(names))
        detail.insert(3, "label_vi", detail["category"].map(lambda c: category_label(c, "vi")))
        detail.insert(4, "label_en", detail["category"].map(lambda c: category_label(c, "en")))
        cl = d_now["cleared_n"].reindex(keys, fill_value=0).to_numpy()
        detail["cleared_count"] = cl
        detail["clearance_rate"] = _rate(cl, detail["count"])
        detail = detail.sort_values(["unit_code", "count"], ascending=[True, False], kind="stable").reset_index(drop=True)
    else:
        detail = pd.DataFrame(columns=["unit_code", "unit_name", "category", "label_vi", "label_en", "count",
                                       "base_count", "change", "change_pct", "p_value", "q_value", "change_class",
                                       "cleared_count", "clearance_rate"])

    total = city_total(units[["code", "count"]], units[["code", "base_count"]].rename(columns={"base_count": "count"}),
                       t_current_days=period.days, t_base_days=base.days).iloc[0].to_dict()
    total = analysis._plain(total)
    total.update({f"change_text_{lang}": change_text(total["count"], total["base_count"], lang) for lang in ("vi", "en")})
    units, by_cat, detail = (_with_change_text(f) for f in (units, by_cat, detail))
    total["cleared_count"] = int(units["cleared_count"].sum())
    total["clearance_rate"] = (total["cleared_count"] / total["count"]) if total["count"] else None
    total["base_cleared_count"] = int(units["base_cleared_count"].sum())
    total["base_clearance_rate"] = (total["base_cleared_count"] / total["base_count"]) if total["base_count"] else None
    return Report(boundary, level, period, base, cats, district, units, by_cat, detail, total, meta)


# --------------------------------------------------------------------------- report files

#: Rows of the header block of :func:`report_xlsx`; the table header follows a blank row.
XLSX_HEADER_ROWS = 5
XLSX_TABLE_ROW = XLSX_HEADER_ROWS + 2


def _cell(value):
    if value is None:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


NUMBER_FORMATS = {"int": "#,##0", "pct": "0.0", "p": "0.0000", "rate": "0.00%", "text": "@"}


def report_xlsx(sheets: Sequence[tuple[str, pd.DataFrame, Sequence[tuple[str, str, str]]]], *,
                title: str, header: Sequence[tuple[str, str]], total: tuple[str, dict] | None = None) -> bytes:
    """An Excel workbook: each sheet starts with ``title`` and the ``header`` lines
    (``(label, value)``: period, cùng kỳ, generated date, filters), then a blank row,
    then the table (``columns`` = ``[(field, header, kind)]`` with kind one of
    :data:`NUMBER_FORMATS`; numbers stay numbers). ``total`` (label, row) ends the
    first sheet."""


    wb = Workbook()
    wb.remove(wb.active)
    head_fill = PatternFill("solid", fgColor="7F0000")
    for s, (name, frame, columns) in enumerate(sheets):
        ws = wb.create_sheet(name[:31])
        xlsx_cell(ws, 1, 1, title).font = Font(bold=True, size=14, color="7F0000")
        for i, (label, value) in enumerate(header[:XLSX_HEADER_ROWS - 1], start=2):
            xlsx_cell(ws, i, 1, label).font = Font(bold=True)
            xlsx_cell(ws, i, 2, value)
        r0 = XLSX_TABLE_ROW
        for j, (_, head, _) in enumerate(columns, start=1):
            c = xlsx_cell(ws, r0, j, head)
            c.font = Font(bold=True, color="FFFFFF")
            c.fill = head_fill
            c.alignment = Alignment(wrap_text=True, vertical="top")
        records = frame[[f for f, _, _ in columns]].to_dict("records") if len(frame) else []
        rows = [(rec, False) for rec in records]
        if s == 0 and total is not None:
            rows.append(({**total[1], columns[0][0]: total[0]}, True))
        for i, (rec, bold) in enumerate(rows, start=r0 + 1):
            for j, (f, _, kind) in enumerate(columns, start=1):
                c = xlsx_cell(ws, i, j, _cell(rec.get(f)))
                if kind != "text" and c.value is not None:
                    c.number_format = NUMBER_FORMATS[kind]
                if bold:
                    c.font = Font(bold=True)
        for j, (f, head, kind) in enumerate(columns, start=1):
            width = max([len(str(head)) * 0.6, 10] + [min(len(str(rec.get(f) or "")), 60) for rec in records[:500]])
            ws.column_dimensions[get_column_letter(j)].width = min(width + 2, 62)
        ws.freeze_panes = ws.cell(row=r0 + 1, column=2)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def with_words(frame: pd.DataFrame, lang: str = "vi", change_labels: dict | None = None) -> pd.DataFrame:
    """A copy of a report table with the columns people read, in ``lang``: ``change_text``
    ("giảm 8,4 %"), ``change_label`` (``change_labels[change_class]``), ``label`` (the
    category), ``clearance_text`` ("84,04 %") and ``clearance_pct`` (84.04)."""
    out = pd.DataFrame(frame.drop(columns="geometry") if "geometry" in frame.columns else frame).copy()
    if "change_text_vi" in out:
        out["change_text"] = out["change_text_vi" if lang == "vi" else "change_text_en"]
    if "change_class" in out:
        out["change_label"] = out["change_class"].map(change_labels or {})
    if "label_vi" in out:
        out["label"] = out["label_vi" if lang == "vi" else "label_en"]
    if "clearance_rate" in out:
        rate = pd.to_numeric(out["clearance_rate"], errors="coerce")
        out["clearance_text"] = [rate_text(x, lang) for x in rate]
        out["clearance_pct"] = (rate * 100).round(2)
    if "change_pct" in out:
        out["change_pct"] = pd.to_numeric(out["change_pct"], errors="coerce").round(1)
    return out


def report_pdf(rep: Report, *, title: str, period_text: str, filters_text: str, map_title: str,
               classes: dict[str, tuple[str, str]], columns: Sequence[tuple[str, str]], notes: Sequence[str] = (),
               attribution: str = "", lang: str = "vi") -> bytes:
    """The one-page A4 report (:func:`geo.exports.report_pdf`) with a map of the units
    coloured by change class (``classes`` = ``{change_class: (label, colour)}``) and the
    units table (``columns`` = ``[(field, header)]``, fields of :func:`with_words`),
    busiest units first."""

    table = with_words(rep.units, lang, {c: v[0] for c, v in classes.items()})
    table = table.sort_values(["count", "code"], ascending=[False, True], kind="stable",
                              key=lambda c: pd.to_numeric(c, errors="coerce") if c.name == "count" else c)
    png = exports.map_png(rep.units, "change_class", title=map_title, subtitle=rep.period.label(lang, with_dates=True),
                          legend_title=map_title, attribution=attribution, lang=lang, categorical=classes)
    return exports.report_pdf(title=title, period_text=period_text, filters_text=filters_text, map_png=png,
                              table=table, table_columns=list(columns), notes=list(notes), lang=lang)


def report_csv(rep: Report, columns: Sequence[tuple[str, str]], lang: str = "vi",
               change_labels: dict | None = None) -> bytes:
    """The units table as CSV for Excel (:func:`geo.exports.csv_bytes`); ``columns`` are
    ``[(field, header)]`` of :func:`with_words`."""

    return exports.csv_bytes(with_words(rep.units, lang, change_labels), columns=list(columns))
