"""The committee pages (the ``committee`` blueprint, ``/committee``).

Plans and the areas they select, the decisions and the yearly assessments
("đạt"/"không đạt") with the figures the data propose, the flags (repeat
failures, relapses) on a list and a map, programme statuses per ward and phase,
and the periodic report against cùng kỳ as a page, XLSX, CSV and a one-page PDF.

Everyone signed in reads; committee members, analysts and admins record.
Every record goes to the audit log in the same transaction. The store logic is
in :mod:`geo.committee`; the views here read the form, call it and render.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re

import geopandas as gpd
import pandas as pd
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from geo import analysis, disclosure, format, methods
from geo import periods as pr
from geo.committee import areas, assessments, candidates, plans
from geo.committee import flags as fl
from geo.committee import places as cplaces
from geo.committee import programmes as pg
from geo.committee import report as rp
from geo.errors import InputError
from geo.names import fold
from geo.render import document, maps, palette
from geo.render import layers as view_layers
from geo.render.exports import csv_bytes
from geo.render.maps import parts as map_parts
from geo.store.queries import versions
from web import current_categories as _categories
from web import engine as _engine
from web.args import choice_arg
from web.auth import audit, role_required
from web.maps import (
    boundary_choices,
    category_choices,
    data_span,
    page_args,
    period_choices,
    raw_choices,
    read_filters,
)
from web.maps import lang as _lang
from web.responses import published_minimum

committee = Blueprint("committee", __name__, url_prefix="/committee")

FLAG_COLOURS = {"repeat_failure": "#b2182b", "relapse": "#f4a582", "both": "#67001f", "none": "#bababa"}
REPORT_FORMATS = ("xlsx", "csv", "excel.csv", "pdf", "docx")


def engine():
    return _engine()


def lang() -> str:
    return _lang()


def _on_write(conn, action, target, detail):
    audit(action, target, detail, conn=conn)


def _me() -> str:
    return current_user.username


def _labels() -> dict:
    """Words the pages show for the stored codes."""
    return {
        "level": {"city": _("City"), "district": _("District"), "ward": _("Ward")},
        "kind": {"ward": _("Ward"), "spot": _("Cluster of incidents"), "polygon": _("Drawn area")},
        "place_kind": {"address": _("Same address"), "group": _("Points within 50 m"), "camera": _("Camera"),
                       "patrol": _("Patrol post")},
        "result": {"dat": _("Transformed (đạt)"), "khong_dat": _("Not transformed (không đạt)")},
        "phase_status": {"planned": _("Not started"), "in_progress": _("In progress"),
                         "met": _("Meets the drug-free criteria"), "not_met": _("Does not meet the criteria"),
                         "none": _("No status recorded")},
        "status": {"selected": _("Selected"), "withdrawn": _("Withdrawn")},
        "cut": {"calendar": _("Calendar"), "statistical": _("Statistical (15th–14th)")},
        "flag": {"repeat_failure": _("Not transformed several years running"), "relapse": _("Complex again"),
                 "both": _("Both"), "none": _("No flag")},
        "change": {"significant_increase": _("Significant increase"),
                   "significant_decrease": _("Significant decrease"),
                   "no_significant_change": _("No significant change")},
        "hot": {"hot_99": _("Still a hot spot"), "hot_95": _("Still a hot spot"), "hot_90": _("Still a hot spot"),
                "not_significant": _("Not a hot spot"), "cold_90": _("Not a hot spot"),
                "cold_95": _("Not a hot spot"), "cold_99": _("Not a hot spot")},
    }


def _num(x, digits=None) -> str:
    """A figure as committees write it; a suppressed one ("< 5") as it is."""
    return x if isinstance(x, str) else format.number(x, digits)


def _when(d) -> str:
    """dd/mm/yyyy, with the time (in Vietnam) for a stored moment."""
    if d is None:
        return ""
    if isinstance(d, dt.datetime):  # stored in UTC (SQLite gives it back without the zone)
        d = (d if d.tzinfo else d.replace(tzinfo=dt.timezone.utc)).astimezone(pr.zone())
        return f"{format.date(d)} {d:%H:%M}"
    return format.date(d)


def _helpers() -> dict:
    return dict(labels=_labels(), num=_num, when=_when, rate=lambda x: format.percent(x, 2), lang=lang(),
                reason=candidates.reason,
                category_text=lambda codes: ", ".join(_category(c) for c in codes) or _("All categories"))


def _category(code: str) -> str:
    return _categories().label(code, lang())


def _render(template: str, **context):
    return render_template(template, **_helpers(), **context)


def _back(endpoint: str, **values):
    return redirect(url_for(endpoint, **values))


def _plan_or_404(plan_id: int) -> plans.Plan:
    try:
        return plans.get_plan(engine(), plan_id)
    except LookupError:
        abort(404, description=_("No such plan."))


def _area_or_404(area_id: int) -> areas.Area:
    try:
        return areas.get_area(engine(), area_id)
    except LookupError:
        abort(404, description=_("No such area."))


# --------------------------------------------------------------------------- maps

#: Candidate wards are coloured by rank, this many ranks to a colour (the darkest: the first ranks).
RANK_STEP = 5
SELECTED_COLOUR = "#2166ac"
OTHER_COLOUR = "#f0f0f0"
NOW_IN_COLOUR = "#000000"
#: The style static/js/committee_map.js gives a unit chosen on the map, and the outline-only style of
#: the areas already selected (their inside stays clickable, so the wards under them can be chosen).
CHOSEN_STYLE = {"color": "#08306b", "weight": 4, "fillOpacity": 0.9}
OUTLINE_STYLE = {"fill": False, "color": SELECTED_COLOUR, "weight": 3, "dashArray": "6 4"}


def _base_map(bounds):
    return maps.base_map(bounds, static_url=lambda x: url_for("static", filename=x),
                         tiles_url=current_app.config.get("TILE_URL") or None,
                         tiles_attribution=current_app.config.get("TILE_ATTRIBUTION") or "", lang=lang())


def _built_map(name: str, params: dict, build):
    """A page's map as (parts, script data, extra), built once for the page and its script (which
    the browser asks for right after it; the map's element names are fixed, so the two agree).
    ``build()`` returns the folium map, its picks (see :func:`_script_data`) and anything else."""

    def make():
        m, picks, *extra = build()
        parts = map_parts(m)
        return parts, _script_data(m, picks), extra
    return analysis.cached(name, engine(), {**params, "lang": lang()}, make)


def _script_data(m, picks: list[dict]) -> dict:
    """What static/js/committee_map.js reads (after map_parts, which fixes the element names): the
    map, and per layer its units in feature order with what a click on one does in a form (``pick``)
    or the style the layer takes (``style``)."""
    layers = [{**{k: v for k, v in pk.items() if k != "layer"}, "var": pk["layer"].get_name()} for pk in picks]
    return {"map": m.get_name(), "layers": layers, "chosen": CHOSEN_STYLE}


def _script(parts: dict):
    """The map's script, served from its own URL (the pages allow no inline script)."""
    return current_app.response_class(parts["script"], mimetype="application/javascript")


def _draw_words() -> dict:
    """The words of the drawing tools (Leaflet-Geoman's keys)."""
    return {"tooltips": {"firstVertex": _("Click to place the first corner"),
                         "continueLine": _("Click to place the next corner"),
                         "finishPoly": _("Click the first corner to close the area")},
            "actions": {"finish": _("Finish"), "cancel": _("Cancel"), "removeLastVertex": _("Remove the last corner")},
            "buttonTitles": {"drawPolyButton": _("Draw an area"), "editButton": _("Edit the drawn area"),
                             "deleteButton": _("Remove the drawn area")}}


def _rank_classes(n: int) -> list[tuple[str, str, str]]:
    groups = max(1, math.ceil(n / RANK_STEP))
    colours = palette.ramp("YlOrRd", min(groups, 9))[::-1]
    return [(f"r{i}", _("Ranks %(first)s–%(last)s", first=i * RANK_STEP + 1, last=min((i + 1) * RANK_STEP, n)),
             colours[min(i, 8)]) for i in range(groups)]


def _plan_map(p: plans.Plan, cands: candidates.Candidates, selected: list[areas.Area]):
    """The plan's unit on a map: its candidate wards coloured by rank, the candidate spots, the other
    wards of the unit and the areas already selected; with what a click on each does in the form."""
    eng = engine()
    scope = plans.plan_scope(eng, p).reset_index(drop=True)
    shown = view_layers._with_display_geometry(eng, p.boundary, scope[["code", "name", "geometry"]])
    ward_codes = cands.wards["code"].tolist()
    chosen = [a for a in selected if a.selected]
    # the map opens on the candidates and the selected areas (a city's outlying islands would
    # otherwise shrink them to a corner); on the whole unit when there is none
    focus = [*shown.loc[shown["code"].isin(set(ward_codes)), "geometry"], *cands.spots.geometry,
             *(a.geometry for a in chosen)]
    m = _base_map(gpd.GeoSeries(focus, crs="EPSG:4326").total_bounds if focus else shown.total_bounds)
    picks = []
    others = shown[~shown["code"].isin(set(ward_codes))].reset_index(drop=True).assign(role="other")
    if len(others):
        drawn = maps.categorical(m, others, "role", [("other", _("Other ward of the unit"), OTHER_COLOUR)],
                                 legend=False, fill_opacity=0.6,
                                 tooltip_fields=[("name", _("Ward")), ("code", _("Code"))])
        picks.append({"layer": drawn["layer"], "codes": others["code"].tolist(),
                      "pick": {"kind": "list", "form": "select-form", "field": "ward_codes"}})
    if ward_codes:
        geom = shown.set_index("code")["geometry"]
        cw = gpd.GeoDataFrame(
            cands.wards[["code", "name", "rank", "score", "count"]].reset_index(drop=True)
            .assign(group=[f"r{(int(r) - 1) // RANK_STEP}" for r in cands.wards["rank"]]),
            geometry=geom.reindex(ward_codes).to_numpy(), crs="EPSG:4326")
        drawn = maps.categorical(m, cw, "group", _rank_classes(len(cw)), legend_title=_("Candidate wards"),
                                 tooltip_fields=[("rank", "#"), ("name", _("Ward")), ("code", _("Code")),
                                                 ("score", _("Score")), ("count", _("Incidents"))])
        maps.outlines(m, cw, label_field="name", lines=False, layer=drawn["layer"])
        picks.append({"layer": drawn["layer"], "codes": ward_codes,
                      "pick": {"kind": "check", "form": "select-form", "prefix": "ward:"}})
    if len(cands.spots):
        spots = cands.spots[["code", "name", "rank", "count", "geometry"]].reset_index(drop=True)
        layer = maps.spots(m, spots, number_field="rank",
                           tooltip_fields=[("name", _("Spot")), ("count", _("Incidents"))])
        picks.append({"layer": layer, "codes": spots["code"].tolist(),
                      "pick": {"kind": "check", "form": "select-form", "prefix": "spot:"}})
    if chosen:
        kinds = _labels()["kind"]
        sel = gpd.GeoDataFrame({"name": [a.name for a in chosen], "kind": [kinds[a.kind] for a in chosen],
                                "state": "taken"}, geometry=[a.geometry for a in chosen], crs="EPSG:4326")
        drawn = maps.categorical(m, sel, "state", [("taken", _("Already selected"), SELECTED_COLOUR)],
                                 tooltip_fields=[("name", _("Selected area")), ("kind", _("Kind"))])
        picks.append({"layer": drawn["layer"], "codes": [str(a.id) for a in chosen], "style": OUTLINE_STYLE})
    maps.freeze_ids(m)
    return m, picks


def _density_period(p: plans.Plan) -> pr.Period | None:
    """The latest year of the plan's assessments that holds data (to the last day of the data)."""
    span = analysis.data_span(engine())
    if span is None:
        return None
    year = plans.assessable_years(engine(), p)[-1]
    start, end = dt.date(year, 1, 1), min(dt.date(year, 12, 31), span[1])
    return pr.custom(start, end) if start <= end else None


def _area_map(a: areas.Area, p: plans.Plan, now_in: list[dict]):
    """The area on a map over the incidents per km² of the wards it overlaps (in the latest year of
    the plan), with the wards of today's boundaries it lies in outlined. Returns the map, what the
    page script does to its layers and the density table (rows: name, count, per_km2)."""
    eng = engine()
    m = _base_map(a.geometry.bounds)
    density = None
    period = _density_period(p)
    if period is not None:
        wards = analysis.ward_counts(eng, boundary=a.boundary, start=period.start, end=period.end,
                                     categories=list(p.categories))
        near = wards[wards.intersects(a.geometry)].sort_values("per_km2", ascending=False, kind="stable")
        near = near[["code", "name", "count", "per_km2", "area_km2", "geometry"]].reset_index(drop=True)
        minimum = published_minimum()
        if minimum:
            near = disclosure.wards(near, minimum)
        if len(near):
            title = _("Incidents per km², %(period)s", period=period.label(lang()))
            maps.choropleth(m, near, "per_km2", legend_title=title, k=min(5, len(near)),
                            tooltip_fields=[("name", _("Ward")), ("count", _("Incidents")),
                                            ("per_km2", _("Incidents per km²"))])
            rows = near.drop(columns="geometry")
            density = {"title": title,
                       "rows": (disclosure.labelled(rows, minimum) if minimum else rows).to_dict("records")}
    shapes = []
    for boundary in dict.fromkeys(u["boundary"] for u in now_in):
        frame = analysis._ward_frame(eng, boundary)
        shapes.append(frame.loc[[u["code"] for u in now_in if u["boundary"] == boundary], ["name", "geometry"]])
    if shapes:
        maps.outlines(m, gpd.GeoDataFrame(pd.concat(shapes, ignore_index=True), crs="EPSG:4326"),
                      colour=NOW_IN_COLOUR, weight=2.5, label_min_zoom=0)
    kinds = _labels()["kind"]
    shape = gpd.GeoDataFrame({"name": [a.name], "kind": [kinds[a.kind]], "state": ["area"]},
                             geometry=[a.geometry], crs="EPSG:4326")
    drawn = maps.categorical(m, shape, "state", [("area", _("This area"), SELECTED_COLOUR)],
                             tooltip_fields=[("name", _("Selected area")), ("kind", _("Kind"))])
    maps.freeze_ids(m)
    return m, [{"layer": drawn["layer"], "codes": [str(a.id)], "style": OUTLINE_STYLE}], density


# --------------------------------------------------------------------------- plans

@committee.get("/")
def index():
    span = analysis.data_span(engine())
    return _render("committee/index.html", plans=plans.list_plans(engine()), boundaries=boundary_choices(),
                   categories=category_choices(), default_boundary=current_app.config["DEFAULT_BOUNDARY"],
                   default_year=(span[1].year + 1) if span else dt.date.today().year)


@committee.post("/plans")
@role_required("committee")
def create_plan():
    f = request.form
    try:
        plan_id = plans.create_plan(
            engine(), year=f.get("year"), level=f.get("level", ""), boundary=f.get("boundary", ""),
            unit_code=f.get("unit_code", ""), unit_name=f.get("unit_name", ""), cut=f.get("cut", "calendar"),
            categories=[c for c in [f.get("category", "")] if c], title=f.get("title", ""), created_by=_me(),
            on_write=_on_write)
    except InputError as exc:
        flash(str(exc), "error")
        return _back("committee.index")
    flash(_("Plan created."))
    return _back("committee.plan", plan_id=plan_id)


@committee.get("/plans/<id:plan_id>")
def plan(plan_id):
    p = _plan_or_404(plan_id)
    eng = engine()
    selected = areas.plan_areas(eng, plan_id)
    cands = candidates.candidates(eng, p, top=20, spots_top=10)
    taken = {(a.kind, a.source_code) for a in selected if a.selected}
    parts, data, _extra = _plan_map_parts(p, selected, lambda: cands)
    draw = current_user.can("committee")
    return _render("committee/plan.html", plan=p, areas=selected, cands=cands, taken=taken,
                   years=plans.assessable_years(eng, p),
                   now_in={a.id: areas.now_in(eng, a.geometry) for a in selected},
                   data_version=areas.data_version_text(eng), decided_on=plans.decision_date(p).isoformat(),
                   places=cplaces.plan_places(eng, plan_id),
                   me=current_user.full_name or current_user.username, map=parts,
                   map_data={**data, "draw": _draw_words() if draw else None})


@committee.get("/plans/<id:plan_id>.js")
def plan_script(plan_id):
    p = _plan_or_404(plan_id)
    eng = engine()
    parts, _data, _extra = _plan_map_parts(p, areas.plan_areas(eng, plan_id),
                                           lambda: candidates.candidates(eng, p, top=20, spots_top=10))
    return _script(parts)


def _plan_map_parts(p: plans.Plan, selected: list[areas.Area], cands):
    """The plan map (:func:`_plan_map`) for the plan's areas and decisions as they stand."""
    state = [(a.id, a.decision.id if a.decision else None) for a in selected]
    return _built_map("committee-plan-map", {"plan": p.id, "areas": state},
                      lambda: _plan_map(p, cands(), selected))


@committee.post("/plans/<id:plan_id>/select")
@role_required("committee")
def select(plan_id):
    _plan_or_404(plan_id)
    f = request.form
    choices = f.getlist("choice") + [f"ward:{c.strip()}" for c in (f.get("ward_codes") or "").split(",")
                                     if c.strip()]
    try:
        ids = areas.select_areas(
            engine(), plan_id, choices, target_pct=f.get("target_pct"), responsible_unit=f.get("responsible_unit"),
            decided_by=f.get("decided_by"), decided_on=f.get("decided_on"), reason=f.get("reason", ""),
            polygon=f.get("polygon") or None, polygon_name=f.get("polygon_name", ""), recorded_by=_me(),
            data_version=f.get("data_version") or None, on_write=_on_write)
    except InputError as exc:
        flash(str(exc), "error")
        return _back("committee.plan", plan_id=plan_id)
    flash(_("%(n)s areas selected.", n=len(ids)))
    return _back("committee.plan", plan_id=plan_id)


@committee.post("/places")
@role_required("committee")
def adopt_place():
    """Add a place of the repeat-places page (its selection is this URL's query) to a plan."""
    f = read_filters()
    form = request.form
    try:
        cplaces.adopt_place(engine(), form.get("plan_id"), form.get("place", ""), boundary=f.boundary,
                            start=f.start, end=f.end, categories=f.categories,
                            min_count=page_args("places")["min_count"], minimum=published_minimum(),
                            note=form.get("note", ""), recorded_by=_me(), on_write=_on_write)
    except InputError as exc:
        flash(str(exc), "error")
        return redirect(url_for("maps.map_page", page="places") + "?" + request.query_string.decode())
    flash(_("Place added to the plan."))
    return _back("committee.plan", plan_id=int(form["plan_id"]), _anchor="plan-places")


@committee.post("/sites")
@role_required("committee")
def attach_sites():
    """Add the sites of the camera and patrol sites page (its selection and parameters are this URL's
    query) to a plan."""
    f = read_filters()
    form = request.form
    args = page_args("sites")
    try:
        added, left = cplaces.attach_sites(
            engine(), form.get("plan_id"), boundary=f.boundary, start=f.start, end=f.end, categories=f.categories,
            units=f.units, purpose=args["purpose"], k=args["k"],
            radius_m=methods.site_radius(args["purpose"], args["radius"]), spacing_m=args["spacing"],
            candidates=args["candidates"], gateway_m=args["gateway"], existing=analysis.existing_sites(args["existing"]),
            weigh=args["weigh"], minimum=published_minimum(), note=form.get("note", ""), recorded_by=_me(),
            on_write=_on_write)
    except InputError as exc:
        flash(str(exc), "error")
        return redirect(url_for("maps.map_page", page="sites") + "?" + request.query_string.decode())
    flash(_("%(n)s sites added to the plan.", n=added) + (" " + _("%(n)s sites were left out (outside the plan's "
                                                                  "unit, already in it, or too few incidents).",
                                                                  n=left) if left else ""))
    return _back("committee.plan", plan_id=int(form["plan_id"]), _anchor="plan-places")


# --------------------------------------------------------------------------- areas

@committee.get("/areas/<id:area_id>")
def area(area_id):
    a = _area_or_404(area_id)
    eng = engine()
    p = plans.get_plan(eng, a.plan_id)
    proposals = {}
    for year in plans.assessable_years(eng, p):
        try:
            proposals[year] = assessments.propose(eng, area_id, year)
        except InputError as exc:
            proposals[year] = {"error": str(exc)}
    now_in = areas.now_in(eng, a.geometry)
    parts, data, (density,) = _area_map_parts(a, p, now_in)
    return _render("committee/area.html", area=a, plan=p, proposals=proposals, now_in=now_in,
                   map=parts, map_data=data, density=density)


@committee.get("/areas/<id:area_id>.js")
def area_script(area_id):
    a = _area_or_404(area_id)
    eng = engine()
    parts, _data, _extra = _area_map_parts(a, plans.get_plan(eng, a.plan_id), areas.now_in(eng, a.geometry))
    return _script(parts)


def _area_map_parts(a: areas.Area, p: plans.Plan, now_in: list[dict]):
    return _built_map("committee-area-map", {"area": a.id, "minimum": published_minimum()},
                      lambda: _area_map(a, p, now_in))


@committee.post("/areas/<id:area_id>/decision")
@role_required("committee")
def correct_decision(area_id):
    f = request.form
    try:
        areas.correct_decision(
            engine(), area_id, supersedes_id=f.get("supersedes_id"), status=f.get("status", "selected"),
            target_pct=f.get("target_pct"), responsible_unit=f.get("responsible_unit"),
            decided_by=f.get("decided_by"), decided_on=f.get("decided_on"), reason=f.get("reason", ""),
            note=f.get("note", ""), recorded_by=_me(), on_write=_on_write)
    except LookupError:
        abort(404, description=_("No such area."))
    except InputError as exc:
        flash(str(exc), "error")
        return _back("committee.area", area_id=area_id)
    flash(_("Decision corrected."))
    return _back("committee.area", area_id=area_id)


@committee.post("/areas/<id:area_id>/assessments")
@role_required("committee")
def assess(area_id):
    _area_or_404(area_id)
    f = request.form
    try:
        assessments.record_assessment(engine(), area_id, year=f.get("year"), result=f.get("result", ""),
                             note=f.get("note", ""), supersedes_id=f.get("supersedes_id") or None,
                             recorded_by=_me(), on_write=_on_write)
    except InputError as exc:
        flash(str(exc), "error")
        return _back("committee.area", area_id=area_id)
    flash(_("Assessment recorded."))
    return _back("committee.area", area_id=area_id, _anchor=f"year-{f.get('year')}")


# --------------------------------------------------------------------------- flags

def _plan_arg() -> int | None:
    raw = request.args.get("plan")
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InputError(_("`plan` was %(value)s but is expected to be a plan number.", value=repr(raw))) from None


def _flags_map(flags: fl.Flags):
    """The selected areas coloured by flag on an offline map, or None when there is none."""

    if flags.areas.empty:
        return None
    labels = _labels()["flag"]
    m = _base_map(flags.areas.total_bounds)
    layer = flags.areas.assign(flag_label=flags.areas["flag"].map(labels))
    legend = maps.categorical(m, layer, "flag", [(c, labels[c], FLAG_COLOURS[c]) for c in FLAG_COLOURS],
                              name=_("Flags"), legend_title=_("Flags"),
                              tooltip_fields=[("name", _("Selected area")), ("plan_year", _("Plan")),
                                              ("flag_label", _("Flag"))])
    maps.outlines(m, layer, label_field="name", lines=False, layer=legend["layer"], label_min_zoom=0)
    maps.freeze_ids(m)
    return m, legend


@committee.get("/flags")
def flags():
    plan_id = _plan_arg()
    f = fl.flags(engine(), plan_id=plan_id)
    built = _flags_map(f)
    parts = None
    if built is not None:

        parts = map_parts(built[0])
    return _render("committee/flags.html", flags=f, map=parts, plan_id=plan_id,
                   plans=[d["plan"] for d in plans.list_plans(engine())])


@committee.get("/flags.js")
def flags_script():
    built = _flags_map(fl.flags(engine(), plan_id=_plan_arg()))
    if built is None:
        return current_app.response_class("", mimetype="application/javascript")

    return current_app.response_class(map_parts(built[0])["script"], mimetype="application/javascript")


# --------------------------------------------------------------------------- programmes

DEFAULT_PROGRAMME = "Xã, phường không ma túy"
PROGRAMME_COLOURS = {"met": "#1a9850", "in_progress": "#fee08b", "not_met": "#d73027", "planned": "#91bfdb",
                     "none": "#e0e0e0"}
PROGRAMME_FORMATS = ("csv", "excel.csv", "xlsx", "geojson")


@dataclasses.dataclass
class _Phase:
    """The chosen programme phase with every ward's status and the counts."""

    phases: list[dict]
    programme: str
    chosen: dict | None
    layer: object = None
    by_district: bool = False


def _chosen_phase() -> _Phase:
    """The phase of the ``programme`` and ``phase`` arguments (default: the latest phase)."""
    rows = pg.phases(engine())
    programme = request.args.get("programme") or (rows[-1]["programme"] if rows else DEFAULT_PROGRAMME)
    mine = [r for r in rows if r["programme"] == programme]
    phase = request.args.get("phase")
    chosen = next((r for r in mine if r["phase"] == phase), None) if phase else (mine[-1] if mine else None)
    if phase and chosen is None:
        raise InputError(_("`phase` was %(value)s but %(programme)s has no phase of that name.",
                           value=repr(phase), programme=programme))
    out = _Phase(rows, programme, chosen)
    if chosen is not None:
        out.layer = pg.phase_layer(engine(), programme, chosen["phase"], chosen["boundary"])
        out.layer["status_label"] = out.layer["status"].map(_labels()["phase_status"])
        out.by_district = pg.has_districts(out.layer)
    return out


def _status_words(counts) -> list[str]:
    """ "Đạt tiêu chí không ma túy: 12/16 phường, xã (75,0%)", one line per status."""
    labels = _labels()["phase_status"]
    return [_("%(status)s: %(n)s/%(of)s wards (%(share)s)", status=labels[r.status], n=format.number(r.count),
              of=format.number(r.of), share=format.percent(r.share, 1)) for r in counts.itertuples()]


def _phase_table(p: _Phase) -> list[dict]:
    """Every phase of the programme with its counts per status (the phase-by-status table)."""
    out = []
    for r in p.phases:
        if r["programme"] != p.programme:
            continue
        counts = pg.status_counts(pg.phase_layer(engine(), r["programme"], r["phase"], r["boundary"]))
        out.append({**r, "counts": {c.status: c for c in counts.itertuples()}})
    return out


def _programme_map(p: _Phase):
    """The wards of the chosen phase coloured by status on an offline map, or None."""
    if p.layer is None or p.layer.empty:
        return None
    labels = _labels()["phase_status"]
    m = _base_map(p.layer.total_bounds)
    legend = maps.categorical(m, p.layer, "status", [(c, labels[c], PROGRAMME_COLOURS[c]) for c in pg.COUNTED_STATUSES],
                              name=_("Status"), legend_title=p.chosen["phase"],
                              tooltip_fields=[("name", _("Ward")), ("code", _("Code")),
                                              ("parent_name", _("District / province")),
                                              ("status_label", _("Status"))])
    maps.freeze_ids(m)
    # a click on a ward puts its code (and the phase's boundary version) into the record form
    pick = {"layer": legend["layer"], "codes": p.layer["code"].tolist(),
            "pick": {"kind": "field", "form": "programme-form", "field": "unit_code",
                     "set": {"boundary": p.chosen["boundary"]}}}
    return m, legend, [pick]


def _programme_query(p: _Phase) -> dict:
    return {"programme": p.programme, "phase": p.chosen["phase"]} if p.chosen else {}


@committee.get("/programmes")
def programmes():
    p = _chosen_phase()
    built = _programme_map(p)
    parts = map_parts(built[0]) if built else None
    data = _script_data(built[0], built[2]) if built else None
    counts = pg.status_counts(p.layer) if p.layer is not None else None
    return _render("committee/programmes.html", rows=pg.programme_statuses(engine()), boundaries=boundary_choices(),
                   default_boundary=current_app.config["DEFAULT_BOUNDARY"], default_programme=DEFAULT_PROGRAMME,
                   phase=p, map=parts, map_data=data,
                   status_words=_status_words(counts)
                   if counts is not None else [], phase_table=_phase_table(p),
                   districts=pg.status_counts(p.layer, by_district=True) if p.by_district else None,
                   statuses=pg.COUNTED_STATUSES, query=_programme_query(p), formats=PROGRAMME_FORMATS,
                   share=lambda x: format.percent(x, 1))


@committee.get("/programmes.js")
def programmes_script():
    built = _programme_map(_chosen_phase())
    body = map_parts(built[0])["script"] if built else ""
    return current_app.response_class(body, mimetype="application/javascript")


def _programme_columns() -> list[tuple[str, str, str]]:
    return [("code", _("Code"), "text"), ("name", _("Ward"), "text"), ("parent_name", _("District / province"), "text"),
            ("status", _("Status code"), "text"), ("status_label", _("Status"), "text"),
            ("valid_from", _("From"), "text"), ("valid_to", _("To"), "text"), ("note", _("Note"), "text")]


def _count_columns(by_district: bool) -> list[tuple[str, str, str]]:
    return [*([("parent_name", _("District"), "text")] if by_district else []),
            ("status_label", _("Status"), "text"), ("count", _("Wards"), "int"), ("of", _("Of"), "int"),
            ("share", _("Share"), "rate")]


@committee.get("/programmes.<fmt>")
def programmes_download(fmt):
    if fmt not in PROGRAMME_FORMATS:
        abort(404, description=_("No such export."))
    p = _chosen_phase()
    if p.chosen is None:
        abort(404, description=_("No programme status recorded yet."))
    labels = _labels()["phase_status"]
    layer = p.layer.assign(valid_from=[d.isoformat() if d else "" for d in p.layer["valid_from"]],
                           valid_to=[d.isoformat() if d else "" for d in p.layer["valid_to"]],
                           note=p.layer["note"].fillna(""))
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", fold(f"{p.programme}_{p.chosen['phase']}")).strip("-")
    audit("programme_export", f"{p.programme} / {p.chosen['phase']}", {"format": fmt})
    if fmt in ("csv", "excel.csv"):
        cols = [(f, h) for f, h, _k in _programme_columns()]
        return _download(csv_bytes(layer, columns=cols, excel=fmt == "excel.csv"),
                         f"{stem}{'_excel' if fmt == 'excel.csv' else ''}.csv", "text/csv; charset=utf-8")
    counts = pg.status_counts(p.layer).assign(status_label=lambda d: d["status"].map(labels))
    if fmt == "xlsx":
        header = [(_("Programme"), p.programme), (_("Phase"), p.chosen["phase"]),
                  (_("Boundaries"), p.chosen["boundary"]),
                  (_("Generated on"), format.date(dt.datetime.now(pr.zone()).date()))]
        sheets = [(_("Wards per status"), counts, _count_columns(False)), (_("Ward"), layer, _programme_columns())]
        if p.by_district:
            districts = pg.status_counts(p.layer, by_district=True).assign(
                status_label=lambda d: d["status"].map(labels))
            sheets.insert(1, (_("By district"), districts, _count_columns(True)))
        body = rp.report_xlsx(sheets, title=f"{p.programme} – {p.chosen['phase']}", header=header)
        return _download(body, f"{stem}.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    doc = json.loads(layer[["code", "name", "parent_code", "parent_name", "status", "status_label", "valid_from",
                            "valid_to", "note", "geometry"]].to_json(drop_id=True))
    doc["metadata"] = {"programme": p.programme, "phase": p.chosen["phase"], "boundary": p.chosen["boundary"],
                       "start": p.chosen["start"].isoformat() if p.chosen["start"] else None,
                       "end": p.chosen["end"].isoformat() if p.chosen["end"] else None,
                       "generated": dt.datetime.now(pr.zone()).isoformat(timespec="seconds"),
                       "statuses": {c: labels[c] for c in pg.COUNTED_STATUSES},
                       "counts": counts[["status", "count", "of", "share"]].to_dict("records")}
    return _download(json.dumps(doc, ensure_ascii=False).encode("utf-8"), f"{stem}.geojson", "application/geo+json")


@committee.post("/programmes")
@role_required("committee")
def record_programme():
    f = request.form
    try:
        pg.record_programme_status(
            engine(), boundary=f.get("boundary", ""), unit_code=f.get("unit_code", ""),
            programme=f.get("programme", ""), phase=f.get("phase", ""), status=f.get("status", ""),
            valid_from=f.get("valid_from") or None, valid_to=f.get("valid_to") or None, note=f.get("note", ""),
            supersedes_id=f.get("supersedes_id") or None, recorded_by=_me(), on_write=_on_write)
    except InputError as exc:
        flash(str(exc), "error")
        return _back("committee.programmes")
    flash(_("Programme status recorded."))
    return _back("committee.programmes")


# --------------------------------------------------------------------------- report

def _report_args():
    f = read_filters()
    if f.period == "custom":
        period = pr.custom(f.start, f.end)
    else:
        period = pr.parse_period(f.period + (":stat" if f.cut == "stat" and ":" not in f.period else ""),
                                 name="period")
    level = choice_arg("level", "ward", ("ward", "district"))
    order = choice_arg("order", "answer", rp.ORDERS)
    return f, period, level, order


def _report(f, period, level, order) -> rp.Report:
    return _published(rp.report(engine(), boundary=f.boundary, period=period, categories=list(f.categories),
                                level=level, units=f.units, order=order))


def _version(boundary: str):
    return {v.name: v for v in versions(engine())}.get(boundary)


def _selection_text(f) -> str:
    """The units of the report in words: the whole version as the area control names it ("toàn Thành
    phố Hồ Chí Minh") where its units share one parent, else by its title; the districts whose every
    ward is chosen, or the names of the chosen units."""
    if not f.units:
        v = _version(f.boundary)
        return (v.title if v and v.title else f.boundary) if rp.districts(engine(), f.boundary) else f.scope_label
    wards = analysis._ward_frame(engine(), f.boundary)
    chosen = wards.loc[list(f.units)]
    whole = [name for code, name in rp.districts(engine(), f.boundary)
             if set(wards.index[wards["parent_code"] == code]) <= set(f.units)]
    covered = set(chosen.index[chosen["parent_name"].isin(whole)])
    names = whole + [n for c, n in zip(chosen.index, chosen["name"]) if c not in covered]
    return ", ".join(names)


def _report_texts(rep: rp.Report, f) -> dict:
    l = lang()
    v = _version(f.boundary)
    categories = "; ".join([_category(f.category) if f.category else _("All categories"), *f.raw])
    return {"title": _("Crime situation against the same period last year"),
            "period": rep.period.label(l, with_dates=True), "base": rep.base.label(l, with_dates=True),
            "boundary": (v.title if v and v.title else "") or f.boundary, "selection": _selection_text(f),
            "categories": categories, "generated": format.date(dt.datetime.now(pr.zone()).date())}


def _published(rep: rp.Report) -> rp.Report:
    """The report as the reader may see it: below analyst, a selection with too few incidents
    is refused and small figures are suppressed, shown as "< 5" (geo.disclosure)."""
    minimum = published_minimum()
    if not minimum:
        return rep
    disclosure.check_selection(engine(), minimum, boundary=rep.boundary, start=rep.period.start,
                               end=rep.period.end, categories=rep.categories)
    safe = disclosure.report(rep, minimum)
    small = disclosure.label(minimum)
    total = {k: (small if v is None and k in ("count", "base_count", "serious_count") else v)
             for k, v in safe.total.items()}
    matrix = safe.matrix.copy()
    for c in matrix.columns:
        if "|" in c:
            matrix[c] = [small if v is None else v for v in matrix[c]]
    return dataclasses.replace(safe, units=disclosure.labelled(safe.units, minimum),
                               by_category=disclosure.labelled(safe.by_category, minimum),
                               groups=disclosure.labelled(safe.groups, minimum),
                               detail=disclosure.labelled(safe.detail, minimum), total=total, matrix=matrix)


def _report_document_texts(f, texts: dict) -> rp.Texts:
    c = current_app.config
    return rp.Texts(place=texts["selection"], boundary_title=texts["boundary"], categories=texts["categories"],
                    issuer=c["REPORT_ISSUER"], issuer_parent=c["REPORT_ISSUER_PARENT"], town=c["REPORT_PLACE"],
                    signer=str(c["REPORT_SIGNER"]).replace("\\n", "\n"), recipients=c["REPORT_RECIPIENTS"],
                    clearance_target=float(c["CLEARANCE_TARGET"]),
                    serious_target=float(c["SERIOUS_CLEARANCE_TARGET"]), attribution=_attribution(f.boundary))


def _sort_value(value, kind: str) -> str:
    """The machine value a sortable table sorts a cell by (numbers with a dot)."""
    if isinstance(value, str) and kind != "text":
        return ""
    if kind == "text":
        return "" if value is None else str(value)
    return "" if format.missing(value) else repr(float(value))


def _cell_text(value, kind: str) -> str:
    return rp._text(value, {"int": "int", "pct": "pct", "rate": "rate", "p": "p"}.get(kind, "text"))


@committee.get("/report")
def report():
    f, period, level, order = _report_args()
    rep, error = None, None
    try:
        rep = _report(f, period, level, order)
    except InputError as exc:
        error = str(exc)
    analyst = not published_minimum()
    texts = _report_texts(rep, f) if rep else None
    mx, keys = rp.matrix_table(rep) if rep else (None, [])
    return _render("committee/report.html", f=f, rep=rep, error=error, level=level, order=order,
                   units=rp.unit_table(rep) if rep else None,
                   by_category=rp.category_table(rep) if rep else None, matrix=mx, matrix_keys=keys,
                   matrix_fields=[(fld, _(h), k) for fld, h, k in rp.MATRIX_FIELDS],
                   unit_columns=[c for c in rp.columns(rp.UNIT_COLUMNS, level, analyst=analyst)
                                 if c[0] != "q_value"],
                   category_columns=[c for c in rp.columns(rp.CATEGORY_COLUMNS, analyst=analyst)
                                     if c[0] not in ("q_value", "category")],
                   texts=texts, summary=rp.summary(rep, texts["selection"]) if rep else "",
                   clearance=rp.clearance_text(rep, float(current_app.config["CLEARANCE_TARGET"]),
                                               float(current_app.config["SERIOUS_CLEARANCE_TARGET"])) if rep else "",
                   significant=rp.significant_text(rep) if rep else "",
                   cell=_cell_text, sort_value=_sort_value,
                   periods=period_choices(data_span()), categories=category_choices(), raw_labels=raw_choices(),
                   boundaries=boundary_choices(), has_districts=bool(rp.districts(engine(), f.boundary)),
                   query=f.query(level=level, order=order), formats=REPORT_FORMATS)


@committee.get("/report.<fmt>")
def report_download(fmt):
    if fmt not in REPORT_FORMATS:
        abort(404, description=_("No such export."))
    f, period, level, order = _report_args()
    rep = _report(f, period, level, order)
    texts = _report_texts(rep, f)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", f"bao-cao_{f.boundary}_{level}_{period.start}_{period.end}")
    audit("committee_report", stem, {"format": fmt})
    if fmt == "xlsx":
        header = [(_("Period"), texts["period"]), (_("Same period last year"), texts["base"]),
                  (_("Generated on"), texts["generated"]), (_("Boundary version"), texts["boundary"]),
                  (_("Units of the report"), texts["selection"]), (_("Category"), texts["categories"])]
        return _download(rp.xlsx(rep, title=texts["title"], header=header), f"{stem}.xlsx",
                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    if fmt in ("csv", "excel.csv"):
        return _download(rp.report_csv(rep, excel=fmt == "excel.csv"), f"{stem}.{fmt}", "text/csv; charset=utf-8")
    doc = rp.document(rep, _report_document_texts(f, texts))
    if fmt == "docx":
        return _download(document.docx(doc), f"{stem}.docx",
                         "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    return _download(document.pdf(doc), f"{stem}.pdf", "application/pdf")


def _attribution(boundary: str) -> str:
    v = {v.name: v for v in versions(engine())}.get(boundary)
    return (v.attribution if v else "") or ""


def _download(body: bytes, filename: str, mimetype: str):
    resp = current_app.response_class(body, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp
