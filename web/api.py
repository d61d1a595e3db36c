"""The HTTP API under /api/v1: GeoJSON per area or spot, JSON for a ward and a job."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
from flask import Blueprint, abort, jsonify, request
from flask_babel import gettext as _

from geo import analysis, disclosure, methods
from geo import periods as pr
from geo.categories import weekday_names
from geo.committee.report import REPORT_GROUPS
from geo.format import number, percent
from geo.periods import parse_period
from geo.render import layers, palette
from geo.render.layers import in_words
from geo.store import jobs, queries
from web import engine, maps
from web.args import (
    PERIOD_KEYS,
    analysis_args,
    area_query_args,
    date_arg,
    from_params,
    method_args,
    method_kwargs,
    period_arg,
    request_period,
    to_params,
)
from web.responses import (
    NotReady,
    geojson_response,
    geojson_text,
    job_failure,
    job_progress,
    pending_json,
    published_minimum,
    run_budgeted,
    send_cached,
)

api = Blueprint("api", __name__)


@api.get("/areas")
def areas():
    args = area_query_args()

    def build(minimum):
        return _protected_areas(args, minimum) if minimum else queries.area_counts(engine(), **args)
    return geojson_response(build, args)


def _protected_areas(args: dict, minimum: int):
    """The areas API's figures as users below analyst see them (cached: the ward panel reads one row)."""

    sel = dict(args, categories=list(args["categories"]))
    return analysis.cached("areas-protected", engine(), dict(args, m=minimum),
                           lambda: disclosure.areas(queries.area_counts(engine(), **sel), minimum))


@api.get("/ward/<code>")
def ward(code):
    """The unit panel of ``code``: its figures as the user may see them, the months of the period
    and of cùng kỳ, categories largest first, the report groups and the change in words; p and q
    values for analysts only."""
    args = analysis_args()
    detail = analysis.ward_detail(engine(), code, **args)
    minimum = published_minimum()
    if minimum:
        disclosure.check_selection(engine(), minimum, **args)
        row = _protected_areas(args, minimum).set_index("code").loc[code].to_dict()
        detail = disclosure.ward_detail(detail, row, minimum)
        # the statistics' names are for analysts (published_minimum is None for them only)
        detail["compare"] = {k: v for k, v in detail["compare"].items() if k not in ("p_value", "q_value")}
    detail.update(analysis.category_rows(engine(), detail["categories"], REPORT_GROUPS))
    detail.update(_period_names(args))
    detail["compare"]["change_words"] = _change_words(detail["compare"])
    return jsonify(detail)


def _period_names(args: dict) -> dict:
    """The legend's names of the period ("6 tháng đầu năm 2025") and of cùng kỳ ("Cùng kỳ 2024")."""
    current = pr.custom(args["start"], args["end"])
    spec = request_period()
    if spec and spec != "custom":
        named = period_arg(spec)
        if (named.start, named.end) == (current.start, current.end):
            current = named
    base = current.same_period_last_year()
    if base.kind == "custom":
        return {"period_label": current.label(), "base_label": _("Same period: %(dates)s", dates=base.label())}
    return {"period_label": current.label(), "base_label": _("Same period %(year)s", year=base.year)}


def _change_words(c: dict) -> str | None:
    """The change against cùng kỳ in plain words: "Tăng rõ rệt: 34 → 51 vụ (tăng 50,0%) so với cùng kỳ";
    None when its counts are not published."""
    if c.get("count") is None or c.get("base_count") is None:
        return None
    return _("%(verdict)s: %(base)s → %(count)s incidents (%(change)s) against the same period last year",
             verdict=palette.label(c.get("change_class") or "no_significant_change"),
             base=number(c["base_count"]), count=number(c["count"]), change=c["change_text"])


def _ward_statistic(method: str, run, keep: list[str]):
    """A local statistic per ward (Gi*, local Moran) as GeoJSON, its words in the user's language."""
    args, own = analysis_args(), method_kwargs(method)

    def build(minimum):
        gdf = run(engine(), **args, **own)[keep]
        return in_words(disclosure.wards(gdf, minimum) if minimum else gdf)
    return geojson_response(build, args)


@api.get("/gistar")
def gistar():
    return _ward_statistic("gistar", analysis.gistar_wards, [
        "code", "name", "count", "harm", "per_km2", "gi_z", "gi_p", "gi_p_norm", "gi_q", "hotspot",
        "hotspot_code", "geometry"])


@api.get("/lisa")
def lisa():
    return _ward_statistic("lisa", analysis.lisa_wards, [
        "code", "name", "count", "lisa_i", "lisa_z", "lisa_p", "lisa_q", "lisa_code", "geometry"])


@api.get("/compare")
def compare():
    args, own = analysis_args(), method_kwargs("compare")

    def build(minimum):
        gdf, meta = analysis.compare_wards(engine(), **args, **own)
        if minimum:
            gdf, meta = disclosure.compare(gdf, meta, minimum)
        return in_words(gdf), {"meta": meta}
    return geojson_response(build, args)


@api.get("/emerging")
def emerging():
    args, own = analysis_args(), method_kwargs("emerging")

    def build(minimum):
        gdf, _ = analysis.emerging_wards(engine(), **args, **own)
        meta = {"bins": [parse_period(spec).label() for spec in gdf.attrs["bins"]]}
        if minimum:
            gdf = disclosure.series(gdf, minimum)
        return in_words(gdf.rename(columns={"pattern": "trend"})), {"meta": meta}
    return geojson_response(build, args)


@api.get("/dbscan")
def dbscan():
    return budgeted_response("dbscan", dict(analysis_args(), **method_kwargs("dbscan")))


@api.get("/kde")
def kde():
    return budgeted_response("kde", dict(analysis_args(), **method_kwargs("kde")))


@api.get("/complex-areas")
def complex_areas():
    args, own = analysis_args(), method_kwargs("complex-areas")
    if own.pop("unit") == "spot":
        return budgeted_response("complex-spots", dict(args, **own, **method_kwargs("complex-spots")))

    def build(minimum):
        gdf = analysis.complex_areas(engine(), **args, **own)
        return in_words(disclosure.ranked(gdf, minimum) if minimum else gdf)
    return geojson_response(build, args)


# Each body is made for one disclosure level (``minimum``, see published_minimum), so a job's stored
# result is what its requester may see.
def _dbscan_body(eng, a, minimum):
    spots = analysis.dbscan_spots(eng, **a)
    return geojson_text(disclosure.spots(spots, minimum) if minimum else spots)


def _kde_body(eng, a, minimum):
    res = analysis.kde_surface(eng, **a)
    contours = res.contours()
    if minimum:
        contours = disclosure.selection_contours(eng, contours, minimum, **{k: a[k] for k in PERIOD_KEYS})
    return geojson_text(contours, meta={"bandwidth_m": res.bandwidth_m, "cell_m": res.cell_m,
                                        "kernel": res.kernel})


def _complex_spots_body(eng, a, minimum):
    gdf = analysis.complex_spots(eng, **a)
    return geojson_text(in_words(disclosure.ranked(disclosure.spots(gdf, minimum), minimum) if minimum else gdf))

def _outlook(eng, a):
    """The forecast of the request ``a`` (see :func:`forecast_args`); 400 when nothing precedes its start."""
    o = analysis.outlook(eng, boundary=a["boundary"], start=a["forecast_start"], horizon=a["horizon"],
                         categories=list(a["categories"]))
    if o is None:
        raise analysis.InputError(_("`start` was %(value)s but the selection has no incidents before it: there is "
                                    "nothing to forecast from. Choose a later start or other categories.",
                                    value=repr(a["forecast_start"].isoformat())))
    return o


def _plain(value):
    """A JSON value: NaN as null, numpy numbers as Python ones."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and math.isnan(value) else value


def _forecast_body(eng, a, minimum):
    o = _outlook(eng, a)
    wards = layers.forecast_wards(o, minimum=minimum)
    if a.get("units"):
        wards = wards[wards["code"].isin(a["units"])]
    shapes = analysis._ward_frame(eng, a["boundary"])[["code", "geometry"]].reset_index(drop=True)
    gdf = shapes.merge(wards.drop(columns=["change_text"]), on="code").sort_values("rank")
    meta = {"start": o.start.isoformat(), "end": o.end.isoformat(), "horizon": o.horizon,
            "period": analysis.forecast_period(o.start, o.horizon).label(with_dates=True),
            "method": o.chosen, "label": layers.method_label(o.chosen), "clear": bool(o.clear),
            "warnings": [{"code": code, "params": {k: _plain(v) for k, v in (params or {}).items()},
                          "text": layers.warning_text(code, params, o.horizon)} for code, params in o.warnings],
            "interval_coverage": {k: _plain(v) for k, v in o.interval_coverage.items()},
            "cutoffs": [c.isoformat() for c in o.cutoffs], "history": int(o.n_history),
            "count_method": o.count_method or o.chosen, "total_model": o.total_model, "expected_total": _plain(o.expected_total)}
    return geojson_text(gdf, meta=meta)


#: The backtest's fields in the API, in order.
BACKTEST_FIELDS = ("method", "label", "coverage", "hit_rate", "hit_low", "hit_high", "pai", "pai_low", "pai_high",
                   "pai_max", "vs_baseline", "chosen")


def _backtest_body(eng, a, minimum):
    o = _outlook(eng, a)
    bt = layers.forecast_backtest(o)
    rows = [{k: _plain(r[k]) for k in BACKTEST_FIELDS} for r in bt.to_dict("records")]
    return json.dumps({"start": o.start.isoformat(), "end": o.end.isoformat(), "horizon": o.horizon,
                       "method": o.chosen, "cutoffs": len(o.cutoffs), "rows": rows}, ensure_ascii=False)


def _near_repeat_body(eng, a, minimum):
    """The Knox tables (one per table: its bands, and observed, expected, ratio, p_value and
    significant per distance band × time band; ``window``: the near-repeat window found, or null) and
    the at-risk places (below analyst: per ward, without points), as the page shows them."""
    selection = SimpleNamespace(boundary=a["boundary"], start=a["start"], end=a["end"], category=a["category"],
                                categories=tuple(a["categories"]), units=tuple(a["units"]))
    out = layers.near_repeat_view(eng, selection, a, minimum, None)
    tables = []
    for t in out["tables"]:
        k, rows = t["knox"], t["rows"]
        shape = (k.distance_bands + 1, k.day_bands)

        def grid(column, kind=float):
            values = rows.sort_values(["distance_band", "day_band"])[column].tolist()
            return [[None if _plain(v) is None else kind(v) for v in values[r * shape[1]:(r + 1) * shape[1]]]
                    for r in range(shape[0])]
        d_labels, t_labels = layers.knox_bands(k)
        window = None
        if t["extent"]:
            window = {key: _plain(t["extent"][key]) for key in ("radius_m", "days", "observed", "expected", "ratio",
                                                                 "p_value")}
            window["sentence"] = t["sentence"]
        tables.append({"category": t["category"] or None, "label": t["title"], "incidents": t["n"],
                       "incidents_in_period": t["total"], "pairs": k.pairs, "permutations": k.permutations,
                       "distance_bands": [{"from": lo, "to": hi, "label": lab} for (lo, hi), lab in
                                          zip(k.distance_edges(), d_labels)],
                       "day_bands": [{"from": lo, "to": hi, "label": lab} for (lo, hi), lab in
                                     zip(k.day_edges(), t_labels)],
                       "observed": grid("count", int), "expected": grid("expected"), "ratio": grid("ratio"),
                       "p_value": grid("p_value"), "significant": grid("significant", bool), "window": window})
    fields = [c for c, _h, _k in (layers.RISK_WARD_COLUMNS if minimum else layers.RISK_COLUMNS)]
    fields = ["code"] + fields + ([] if minimum else ["id", "category", "address"])
    risk = out["risk"]
    at_risk = [{k: _plain(r.get(k)) for k in fields} for r in risk.to_dict("records")]
    res = out["res"]
    return json.dumps({"boundary": a["boundary"], "start": a["start"].isoformat(), "end": a["end"].isoformat(),
                       "as_of": res["as_of"].isoformat(), "incidents": res["n"], "incidents_in_period": res["total"],
                       "summary": out["summary"], "tables": tables, "at_risk": at_risk,
                       "at_risk_by": "ward" if minimum else "incident", "minimum": minimum},
                      ensure_ascii=False, default=_plain)
def _sites_body(eng, a, minimum):
    """The chosen sites as GeoJSON points (WGS 84 lon/lat and VN-2000 x/y in the properties) with the
    1…k curve, the covered share and the out-of-sample share in ``meta``."""
    site_args = {k: v for k, v in a.items() if k not in PERIOD_KEYS + ("units",)}
    res = analysis.sites(eng, **{k: a[k] for k in PERIOD_KEYS}, units=tuple(a["units"]), **site_args)
    frame = layers.site_frame(res, a["purpose"], minimum)
    keep = ["rank", "label", "existing", "code", "name", "lon", "lat", "x_vn2000", "y_vn2000", "incidents", "share",
            "hour_from", "hour_to", "weekdays", "hours_text"] + (["suppressed"] if "suppressed" in frame.columns else [])
    curve = layers.site_curve(res, minimum)
    small = minimum and 0 < res["incidents"] < minimum
    meta = {"purpose": a["purpose"], "k": a["k"], "radius_m": res["radius_m"], "vn2000_crs": res["vn2000"],
            "share": None if small else res["share"], "incidents": None if small else res["incidents"],
            "total": res["count"], "check": res["check"], "problem": res["problem"],
            "curve": [{c: _plain(r[c]) for c in ("k", "share", "gain", "incidents", "text")}
                      for r in curve.to_dict("records")]}
    return geojson_text(frame[keep + ["geometry"]], meta=meta)


# the analyses whose cost grows with the incidents: answered inline, as a background job or refused
API_BODIES = {"dbscan": _dbscan_body, "kde": _kde_body, "complex-spots": _complex_spots_body,
              "forecast": _forecast_body, "forecast-backtest": _backtest_body, "near-repeat": _near_repeat_body,
              "sites": _sites_body}


@api.get("/sites")
def sites():
    """Where k cameras or patrol teams cover the most incidents of the selection (the filters of the
    map pages, ``unit=`` or ``former=`` for the area, and the parameters of the method "sites")."""
    f = maps.read_filters()
    own = method_kwargs("sites")
    own["radius_m"] = methods.site_radius(own["purpose"], own["radius_m"])
    own["existing"] = analysis.existing_sites(own["existing"])
    return budgeted_response("sites", dict(boundary=f.boundary, start=f.start, end=f.end, categories=f.categories,
                                           units=f.units, **own), what="sites")


def forecast_args() -> dict:
    """The forecast's request: the page's filters (boundary, category, unit, and the period whose end
    sets the default start), ``horizon`` and ``start`` (the first day forecast; by default the day
    after the period, as on the page)."""
    f = maps.read_filters()
    horizon = method_kwargs("forecast")["horizon"]
    if request.args.get("start"):
        start = date_arg("start")
        analysis.check_forecast_start(engine(), start)
    else:
        start = analysis.forecast_start(engine(), f.end, f.cut)[0]
    return dict(boundary=f.boundary, start=f.start, end=f.end, categories=f.categories, units=f.units,
                horizon=horizon, forecast_start=start)


@api.get("/forecast")
def forecast():
    return budgeted_response("forecast", forecast_args(), what="forecast")


@api.get("/forecast/backtest")
def forecast_backtest():
    resp = budgeted_response("forecast-backtest", forecast_args(), what="forecast")
    if resp.status_code in (200, 304):
        resp.mimetype = "application/json"
    return resp


@api.get("/near-repeat")
def near_repeat():
    """The Knox test of near repeats over the page's filters (boundary, period, category, unit) and the
    method's parameters (geo.methods "near-repeat"), as JSON."""
    f = maps.read_filters()
    args = dict(boundary=f.boundary, start=f.start, end=f.end, categories=f.categories, category=f.category,
                units=f.units, **method_args("near-repeat"))
    resp = budgeted_response("near-repeat", args)
    if resp.status_code in (200, 304):
        resp.mimetype = "application/json"
    return resp


def budgeted_response(name: str, args: dict, what: str | None = None):
    """Answer the analysis ``name`` (budgeted as ``what``, default ``name``): its GeoJSON (200, cached as
    bytes), 202 with the job while it is computed, or 400 (too costly, or too few incidents to publish)."""

    minimum = published_minimum()

    def serialise() -> bytes:
        if minimum:
            disclosure.check_selection(engine(), minimum, kde=name == "kde", **{k: args[k] for k in PERIOD_KEYS})
        state, value = run_budgeted("api:" + name, what or name, args,
                                    lambda: API_BODIES[name](engine(), args, minimum),
                                    {"name": name, "args": to_params(args), "minimum": minimum})
        if state in ("inline", "done"):
            return (value if state == "inline" else jobs.result(engine(), value.id)).encode("utf-8")
        if state == "failed":
            message, code = job_failure(value)
            raise NotReady((jsonify(error=message), code))
        raise NotReady(pending_json(value))
    try:
        return send_cached(serialise, minimum)
    except NotReady as exc:
        return exc.response


def run_api_job(app, params: dict, report=None) -> str:
    """The job of an API answer, in the language of the request that asked for it."""
    with app.test_request_context("/api/v1/" + params["name"], query_string={"lang": params.get("lang", "")}):
        return API_BODIES[params["name"]](engine(), from_params(params["args"]), params.get("minimum"))


@api.get("/jobs/<id:job_id>")
def job_status(job_id):
    """A background job's state; jobs hold parameters only, so any signed-in user may see them."""


    job = jobs.find(engine(), job_id)
    if job is None:
        abort(404, description=_("No such job."))
    when = {k: (getattr(job, k).isoformat() if getattr(job, k) else None)
            for k in ("created_at", "started_at", "finished_at")}
    error = job_failure(job)[0] if job.status == "failed" else None
    return jsonify(job=job.id, kind=job.kind, status=job.status, poll=json.loads(job.params)["url"],
                   error=error, **when, **job_progress(job))


# --------------------------------------------------------------------------- time of day and months

def _small(value, minimum):
    """A published count, or None when it is a small one (1 to minimum - 1) for users below analyst."""
    return None if minimum and 0 < value < minimum else value


@api.get("/hours")
def hours():
    """Incidents of the page's selection (its filters, ``unit=`` to limit it) per weekday and hour,
    aoristic (a time range spreads over its hours); cells under the disclosure minimum are null for
    users below analyst."""
    f = maps.read_filters()
    minimum = published_minimum()
    res = analysis.hour_weekday(engine(), boundary=f.boundary, start=f.start, end=f.end, categories=f.categories,
                                units=f.units)
    matrix = np.round(res["matrix"], 2)
    cells = matrix.tolist()
    if minimum:
        # a fraction of an incident is a small count too; the total is published, so close the lines
        hidden = disclosure.mask(np.where((matrix > 0) & (matrix < 1), 1, matrix), minimum)
        cells = [[None if h else v for v, h in zip(row, hid)] for row, hid in zip(cells, hidden)]
    total, unknown = res["total"], res["unknown"]
    share = unknown / total if total else 0.0
    if _small(unknown, minimum) is None:
        share, text = None, _("Fewer than %(n)s incidents have no known time of day.", n=minimum)
    else:
        text = _("%(share)s of the incidents have no known time of day.", share=percent(share, 1)) if total else ""
    return jsonify(weekdays=weekday_names(), hours=list(range(24)), matrix=cells, total=_small(total, minimum),
                   unknown=_small(unknown, minimum), unknown_share=share, unknown_text=text, minimum=minimum,
                   colours=palette.ramp("YlOrRd", 5), withheld=disclosure.label(minimum) if minimum else "")


@api.get("/months")
def months():
    """Incidents per unit and month of the page's selection, with one classification over all months
    (so that the colours of two months compare): what the month slider draws."""
    f = maps.read_filters()
    minimum = published_minimum()
    wide = analysis.monthly_counts(engine(), boundary=f.boundary, start=f.start, end=f.end, categories=f.categories,
                                   units=f.units)
    values = wide.to_numpy(dtype=float, copy=True)
    if minimum:
        # the units' totals over the period are published (the overview), so they close the rows
        with_total = np.column_stack([values, values.sum(axis=1)])
        hidden = disclosure.mask(with_total, minimum, row_total=values.shape[1], keys=wide.index.to_numpy())
        values[hidden[:, :-1]] = np.nan
    y = values[np.isfinite(values) & (values > 0)]
    bins = palette.class_bins(y, "natural_breaks", 5)
    labels = [f"{m[5:]}/{m[:4]}" for m in wide.columns]
    counts = [[None if np.isnan(v) else int(v) for v in col] for col in values.T]
    return jsonify(months=list(wide.columns), labels=labels, titles=[_("Month %(month)s", month=m) for m in labels],
                   codes=list(wide.index), counts=counts, bins=[float(b) for b in bins],
                   colours=palette.ramp("YlOrRd", len(bins)) if len(bins) else [], zero=palette.ZERO_COLOUR,
                   no_data=palette.NO_DATA_COLOUR, minimum=minimum)
