"""The HTML pages (the ``maps`` blueprint): overview, hot spots, compare, trends, complex areas.

A page is a filter form and a Folium map. The map's HTML is part of the page;
its JavaScript is served from ``/maps/<page>.js`` with the same query string
(no inline script, so a strict Content-Security-Policy holds). Every page's
state is in its URL, so a map can be shared as a link.
"""
from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass, replace

import geopandas as gpd
import pandas as pd
from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from geo import analysis, disclosure, methods, scope
from geo import periods as pr
from geo.analysis import cached
from geo.analysis import data_span as span
from geo.categories import raw_terms, time_label, time_terms, weekday_names
from geo.committee.plans import list_plans
from geo.disclosure import labelled
from geo.errors import InputError
from geo.format import date as fmt_date
from geo.format import number, percent
from geo.render import exports
from geo.render import layers as maps_pages
from geo.render.layers import View
from geo.render.maps import parts
from geo.store import jobs
from geo.store.queries import raw_labels, versions
from web import current_categories as _categories
from web import engine as _engine
from web.args import (
    check_range,
    choice_arg,
    date_arg,
    former_arg,
    from_params,
    param_value,
    period_arg,
    raw_arg,
    time_args,
    to_params,
    unit_arg,
)
from web.auth import audit
from web.responses import job_failure, job_progress, published_minimum, run_budgeted

pages = Blueprint("maps", __name__)

PAGES = ("overview", "hotspots", "compare", "trends", "complex", "forecast", "places", "near-repeat", "sites")
MEASURES = ("count", "per_km2", "per_10k", "harm")
SCHEMES = ("natural_breaks", "quantiles")


@dataclass(frozen=True)
class Filters:
    """The filters every page shares, read from the query string (frozen: part of cache keys)."""

    boundary: str
    period: str
    cut: str
    start: dt.date
    end: dt.date
    category: str
    label: str
    raw: tuple = ()  # the files' own labels (exact, after normalise_raw)
    units: tuple = ()  # the unit codes the page is limited to; () for the whole version
    former: str = ""  # the former district the units came from ("hcmc-2019:764"), for the form and links
    scope_label: str = ""  # the selection in words (geo.scope.describe), for headings and reports
    hour_from: int | None = None  # the hour window (web.args.time_args); None for every hour
    hour_to: int | None = None
    weekdays: tuple = ()  # local weekdays, 0 = Monday; () for every day

    @property
    def categories(self) -> tuple:
        """The selection of the analyses: the category or group, and the raw labels as ``raw:…``."""
        return (((self.category,) if self.category else ()) + raw_terms(self.raw)
                + time_terms(self.hour_from, self.hour_to, self.weekdays))

    @property
    def timed(self) -> bool:
        """An hour or weekday filter is on."""
        return self.hour_from is not None or bool(self.weekdays)

    def query(self, **extra) -> dict:
        """The query string of these filters (for links, the map script and exports)."""
        q = {"boundary": self.boundary, "period": self.period, "cut": self.cut, "category": self.category,
             "raw": list(self.raw), "hour_from": self.hour_from, "hour_to": self.hour_to,
             "weekday": list(self.weekdays)}
        q.update({"former": self.former} if self.former else {"unit": list(self.units)})
        if self.period == "custom":
            q.update(start=self.start.isoformat(), end=self.end.isoformat())
        for k, v in extra.items():
            if v in (None, ""):
                continue
            # the complex page's own ``unit`` (ward or spot) goes beside the unit codes, not over them
            q[k] = q.get(k, []) + [v] if k == "unit" and isinstance(q.get(k), list) else v
        return {k: v for k, v in q.items() if v not in (None, "", [])}

    def weekday_choices(self) -> list[tuple[int, str]]:
        """What the weekday filter offers: (0, "Thứ Hai") … (6, "Chủ nhật")."""
        return list(enumerate(weekday_names()))

    def untimed_note(self) -> str:
        """With an hour window on: how many incidents of the selection (without the window) have no
        known time of day and are therefore left out; "" without a window."""
        if self.hour_from is None:
            return ""
        res = analysis.hour_weekday(engine(), boundary=self.boundary, start=self.start, end=self.end,
                                    categories=replace(self, hour_from=None, hour_to=None).categories,
                                    units=self.units)
        n, minimum = res["unknown"], published_minimum()
        if minimum and 0 < n < minimum:
            return _("Fewer than %(n)s incidents of the selection have no known time of day and are left out by "
                     "the hour filter.", n=minimum)
        return _("%(n)s incidents of the selection (%(share)s) have no known time of day and are left out by the "
                 "hour filter.", n=number(n), share=percent(n / res["total"] if res["total"] else 0, 1))

    def scope_choices(self) -> dict:
        """What the "Area" control offers: the former districts and the units of the version."""
        return {"former": scope.choices(engine(), self.boundary), "units": scope.unit_choices(engine(), self.boundary)}


def engine():
    return _engine()


def lang() -> str:
    return str(get_locale() or "vi")


def data_span() -> tuple[dt.date, dt.date] | None:
    return span(engine())


def read_filters() -> Filters:
    """Filters from the URL, defaulting to the last year with data."""
    args = request.args
    boundary = args.get("boundary") or current_app.config["DEFAULT_BOUNDARY"]
    cut = choice_arg("cut", "calendar", ("calendar", "stat"))
    span = data_span()
    period = args.get("period") or (str(span[1].year) if span else str(dt.date.today().year))
    if period != "custom" and args.get("start") and args.get("end"):
        # Dates beside a preset period (a link, or the form without script, which sends both) are typed
        # dates, so the period is custom, unless they are the preset's own or those the form showed
        # (``shown``: then only the period menu changed).
        p = period_arg(period + (":stat" if cut == "stat" and ":" not in period else ""))
        dates = (date_arg("start"), date_arg("end"))
        if dates != (p.start, p.end) and ",".join(d.isoformat() for d in dates) != args.get("shown"):
            period = "custom"
    if period == "custom":

        start, end = date_arg("start"), date_arg("end")
        check_range(start, end)
        p = pr.custom(start, end)
    else:
        p = period_arg(period + (":stat" if cut == "stat" and ":" not in period else ""))
    category = args.get("category") or ""
    cat = _categories()
    if category and category not in cat.categories and category not in cat.groups:
        raise InputError(_("`category` was %(value)s: not a known category or group.", value=repr(category)))
    former = former_arg(engine(), boundary)
    units = (tuple(scope.former_units(engine(), boundary, *scope.parse_former(former))) if former
             else unit_arg(set(analysis._ward_frame(engine(), boundary).index)))
    hour_from, hour_to, weekdays = time_args()
    label = ", ".join(x for x in (p.label(lang(), with_dates=True), time_label(hour_from, hour_to, weekdays))
                      if x)
    return Filters(boundary, period, cut, p.start, p.end, category, label, raw_arg(), units, former,
                   scope.describe(engine(), boundary, units, former), hour_from, hour_to, weekdays)


def raw_choices() -> list[str]:
    """The raw labels the filter form offers: those of at least the user's smallest published count."""
    minimum = published_minimum() or 1
    return [lab for lab, n in cached("raw-labels", engine(), {}, lambda: raw_labels(engine())) if n >= minimum]


def period_choices(span) -> list[tuple[str, str]]:
    """Presets for the period menu: years, 9 and 6 months, quarters and months of the data's years."""
    if not span:
        return []
    out = []
    for year in range(span[1].year, span[0].year - 1, -1):
        for spec in [str(year), f"{year}-9M", f"{year}-H2", f"{year}-H1", *(f"{year}-Q{q}" for q in (4, 3, 2, 1))]:
            out.append((spec, pr.parse_period(spec).label(lang())))
        for m in range(12, 0, -1):
            spec = f"{year}-{m:02d}"
            out.append((spec, pr.parse_period(spec).label(lang())))
    return out


def category_choices() -> list[tuple[str, str]]:
    return _categories().choices(lang())


def boundary_choices() -> list[tuple[str, str]]:
    return [(v.name, v.title or v.name) for v in versions(engine())]


def given(args: dict) -> dict:
    """The page parameters the URL sets (defaults are left out of links, so a viewer's map
    script does not look as if it set an analyst's parameter)."""
    return {k: v for k, v in _query_values(args).items() if k in request.args}


def form_params(page: str, args: dict) -> list[tuple]:
    """(parameter, value) of the inputs the page's form shows this user (templates/_params.html)."""
    analyst = current_user.is_authenticated and current_user.can("analyst")
    return [(p, args.get(p.name)) for p in methods.of_page(page)
            if p.page == "form" and (analyst or not p.analyst)]


def common_context(page: str, f: Filters, args: dict) -> dict:
    span, set_here = data_span(), given(args)
    return dict(page=page, f=f, periods=period_choices(span), categories=category_choices(),
                has_population=bool((analysis._ward_frame(engine(), f.boundary)["population"].fillna(0) > 0).any()),
                raw_labels=raw_choices(), boundaries=boundary_choices(), span=span, lang=lang(), given=set_here,
                form_params=form_params(page, args),
                script_url=url_for("maps.map_script", page=page, **f.query(**set_here)), **_query_values(args))


# --------------------------------------------------------------------------- maps

def _static_url(path: str) -> str:
    return url_for("static", filename=path)


def page_args(page: str) -> dict:
    """The page's own parameters, checked, with their defaults: the overview's display choices and
    the parameters of the page's methods (geo.methods)."""

    if page not in PAGES + ("change",):
        raise InputError(_("No page %(page)s.", page=repr(page)))
    if page == "overview":
        return dict(measure=choice_arg("measure", "count", MEASURES),
                    scheme=choice_arg("scheme", "natural_breaks", SCHEMES))
    return {p.name: param_value(p) for p in methods.of_page("compare" if page == "change" else page)}


def build(page: str, f: Filters, args: dict, minimum: int | None, report=None):
    """The page's Folium map and what the page shows beside it (legends, tables), for the
    disclosure level ``minimum`` (server.published_minimum); ``report(progress, stage)`` hears how
    far it is (a job's progress box)."""

    if minimum:  # below analyst: a selection with too few incidents is not shown at all
        disclosure.check_selection(engine(), minimum, boundary=f.boundary, start=f.start, end=f.end,
                                   categories=f.categories)

    def compute():
        view = maps_pages.build(page, engine(), f, args, static_url=_static_url, lang=lang(),
                                tiles_url=current_app.config.get("TILE_URL") or None,
                                tiles_attribution=current_app.config.get("TILE_ATTRIBUTION") or "",
                                minimum=minimum, report=report)
        view.parts = parts(view.map)  # rendered once: the page and its script both need it
        return view

    # The page and its map script ask for the same view: build and render it once per data version
    # and disclosure level.
    view = analysis.cached("view", engine(), dict(page=page, f=f, args=args, lang=lang(), minimum=minimum,
                                                  tiles=current_app.config.get("TILE_URL")), compute)
    view.query_extra = given(args)
    return view


def _page_budget(page: str, args: dict) -> str | None:
    """The budget (geo.analysis.budget) of the pages whose work grows with the incidents: every page
    that may take more than about a second is a background job beyond PAGE_INLINE_INCIDENTS (the
    forecast beyond FORECAST_INLINE_CELLS); the overview and compare read day aggregates only."""
    if page == "complex":
        return "complex-spots" if args.get("unit") == "spot" else "complex"
    return {"hotspots": "hotspots", "forecast": "forecast", "trends": "trends", "near-repeat": "near-repeat",
            "sites": "sites"}.get(page)


def _job_params(page: str, f: Filters, args: dict, minimum: int | None) -> dict:
    """The parameters of a page's job: the same for a visitor's request and for the precompute."""
    return {"page": page, "query": f.query(), "args": to_params(args), "lang": lang(), "minimum": minimum}


def page_view(page: str, f: Filters, args: dict):
    """``(view, None)``, or ``(None, job)`` while a background job computes the view. A view too
    costly even for a job is refused (400) before any work."""


    minimum = published_minimum()
    what = _page_budget(page, args)
    if what is None:
        return build(page, f, args, minimum), None
    state, value = run_budgeted(
        "page:" + page, what, dict(boundary=f.boundary, start=f.start, end=f.end, categories=f.categories,
                                   units=f.units),
        lambda: build(page, f, args, minimum), _job_params(page, f, args, minimum),
        url=url_for("maps.map_page", page=page, **f.query(**given(args))), page=True)
    if state == "pending":
        return None, value
    if state == "failed":
        message, code = job_failure(value)
        if code == 400:
            raise InputError(message)
        abort(code, description=message)
    if state == "done":  # computed by a job, maybe in another process

        view = cached("job-view", engine(), {"job": value.id}, lambda: view_from_text(jobs.result(engine(), value.id)))
        view.query_extra = given(args)
        return view, None
    return value, None


def pending(page: str, f: Filters, job, args: dict | None = None):
    """The page's frame (navigation, filter form, side panel) with a progress box where the map will
    be: static/js/pending.js follows the job and loads the page when it is done; without script a
    meta refresh (in <noscript>) reloads it."""
    args = page_args(page) if args is None else args
    url = json.loads(job.params)["url"]
    box = render_template("_pending.html", job=job, progress=job_progress(job), url=url)
    return render_template("pending.html", job=job, view={"meta": {}}, map={"css": [], "js": [], "html": box},
                           url=url, **common_context(page, f, args)), 202, {"Retry-After": "3"}


def view_text(view) -> str:
    """A view as JSON text for the job row (the map already rendered; the layer as GeoJSON)."""
    def plain(o):
        return o.item() if hasattr(o, "item") else str(o)

    table = None if view.table is None else view.table.to_json(orient="split", date_format="iso",
                                                               default_handler=str, double_precision=15)
    def frame(t):
        return t.to_json(orient="split", date_format="iso", default_handler=str, double_precision=15)

    return json.dumps({"parts": view.parts, "extra_parts": view.extra_parts, "legends": view.legends,
                       "layers": {k: v.to_json(drop_id=True, to_wgs84=True, na="null", default=str)
                                  for k, v in view.layers.items()},
                       "extra_tables": [(title, frame(t), cols) for title, t, cols in view.extra_tables],
                       "table_title": view.table_title, "table_columns": view.table_columns, "meta": view.meta,
                       "png": view.png, "table": table,
                       "layer": view.layer.to_json(drop_id=True, to_wgs84=True, na="null", default=str)},
                      default=plain, ensure_ascii=False)


def view_from_text(text: str):
    d = json.loads(text)
    layer = gpd.GeoDataFrame.from_features(json.loads(d["layer"]), crs="EPSG:4326")
    table = None if d["table"] is None else pd.read_json(io.StringIO(d["table"]), orient="split", dtype=False)
    layers = {k: _features(v) for k, v in d["layers"].items()}
    extra = [(title, pd.read_json(io.StringIO(t), orient="split", dtype=False), [tuple(c) for c in cols])
             for title, t, cols in d["extra_tables"]]
    return View(map=None, layer=layer, legends=d["legends"], table=table,
                table_columns=[tuple(c) for c in d["table_columns"]], table_title=d["table_title"],
                meta=d["meta"], extra_parts=d["extra_parts"], png=d["png"], parts=d["parts"],
                layers=layers, extra_tables=extra)


def _features(text: str) -> gpd.GeoDataFrame:
    collection = json.loads(text)
    if not collection["features"]:  # from_features needs one feature to find the geometry
        return gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    return gpd.GeoDataFrame.from_features(collection, crs="EPSG:4326")


def run_page_job(app, params: dict, report=None) -> str:
    """The job of a page: the view built as the page's request would build it."""

    with app.test_request_context(f"/map/{params['page']}", query_string={**params["query"], "lang": params["lang"]}):
        return view_text(build(params["page"], read_filters(), from_params(params["args"]), params["minimum"],
                               report=report))


def precompute(app, *, start_worker: bool = True) -> list[int]:
    """Queue the default view of every map page (the filters of a URL without query string) for
    analysts and for viewers, in the default language, so that the first visitor after an import finds
    it computed (PRECOMPUTE_PAGES switches it off). Returns the jobs' ids. A command-line import
    passes ``start_worker=False``: its process ends soon, so the queue is left to the web process
    (which starts its worker on its first request, see ``_start_waiting_jobs``) or to `worker`."""

    if not app.config.get("PRECOMPUTE_PAGES", True):
        return []
    ids = []
    default = app.config.get("BABEL_DEFAULT_LOCALE") or "vi"
    for minimum in (app.config["MIN_PUBLISHED_COUNT"], None):
        for page in PAGES:
            with app.test_request_context(f"/map/{page}", query_string={"lang": default}):
                try:
                    f, args = read_filters(), page_args(page)
                except InputError:  # no data yet, or no such default: nothing to compute
                    return ids
                job = jobs.submit(app, engine(), "page:" + page,
                                  dict(_job_params(page, f, args, minimum),
                                       url=url_for("maps.map_page", page=page, **f.query())),
                                  analysis.data_version(engine()), start_worker=start_worker)
                ids.append(job.id)
    return ids


@pages.before_app_request
def _start_waiting_jobs():
    """A web process starts its worker thread on its first request when jobs wait (those queued by a
    command-line import), so that they run before anyone asks for them."""
    app = current_app._get_current_object()
    if app.config.get("JOB_WORKER", "thread") != "thread" or app.config["DATABASE_URL"] in _checked:
        return
    try:
        waiting = jobs.waiting(engine())
    except SQLAlchemyError:  # the store is down: the request itself says so (the health probe, a 503)
        return
    _checked.add(app.config["DATABASE_URL"])
    if waiting:
        jobs.ensure_thread(app)


_checked: set = set()  # stores whose queue this process has looked at


@pages.get("/map/<page>")
def map_page(page):
    if page not in PAGES:
        return render_template("error.html", message=_("No such page.")), 404
    f = read_filters()
    args = page_args(page)
    view, job = page_view(page, f, args)
    if job is not None:
        return pending(page, f, job, args)
    return render_template(f"{page.replace('-', '_')}.html", view=view, map=view.parts, **_page_context(page, f),
                           **common_context(page, f, args))


def _page_context(page: str, f: Filters) -> dict:
    """What one page shows beyond the common context: the repeat-places and sites pages' plans of the
    boundary version, for committee members to adopt a place or attach the sites to."""
    if page not in ("places", "sites") or not current_user.can("committee"):
        return {}
    return {"plans": [d["plan"] for d in list_plans(engine()) if d["plan"].boundary == f.boundary]}


def _query_values(args: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in args.items() if v is not None}


@pages.get("/maps/<page>.js")
def map_script(page):
    if page not in PAGES + ("change",):
        return "", 404
    view, job = page_view(page, read_filters(), page_args(page))
    if job is not None:  # the page that loads this script is shown once the job is done
        return current_app.response_class("", status=202, mimetype="application/javascript")
    return current_app.response_class(view.parts["script"], mimetype="application/javascript")


def _attribution() -> str:
    names = {v.name: v for v in versions(engine())}
    v = names.get(request.args.get("boundary") or current_app.config["DEFAULT_BOUNDARY"])
    return (v.attribution if v else "") or ""


EXPORT_FORMATS = ("geojson", "csv", "excel.csv", "xlsx", "png", "pdf")


# ``any`` names the pages so that "compare.excel.csv" reads as page "compare", format "excel.csv".
@pages.get(f"/export/<any({', '.join(map(repr, PAGES))}):page>.<fmt>")
def export(page, fmt):
    """A layer of the page as GeoJSON (``layer=``, with its metadata), the whole table as CSV (for
    programs, or for Vietnamese Excel), XLSX (a header block, one sheet per table), the map as PNG,
    and a PDF report holding every row, in the page's order."""

    if fmt not in EXPORT_FORMATS:
        return render_template("error.html", message=_("No such export.")), 404

    f = read_filters()
    view, job = page_view(page, f, page_args(page))
    if job is not None:
        return pending(page, f, job)
    stem = f"{page}_{f.boundary}_{f.start.isoformat()}_{f.end.isoformat()}"
    audit("export", f"{page}.{fmt}", f.query())
    words = _header_lines(page, f, view)
    if fmt == "geojson":
        name, layer = view.geo_layer(request.args.get("layer"))
        body = exports.geojson_bytes(layer, _metadata(page, f, view, name))
        return _download(body, f"{stem}_{name}.geojson", "application/geo+json")
    tables = _export_tables(view)
    _title, table, columns = tables[0]
    if fmt in ("csv", "excel.csv"):
        body = exports.csv_bytes(table, columns=[c[:2] for c in columns], excel=fmt == "excel.csv")
        return _download(body, f"{stem}{'_excel' if fmt == 'excel.csv' else ''}.csv", "text/csv; charset=utf-8")
    if fmt == "xlsx":
        body = exports.xlsx_bytes(tables, header=words, title=view.png["title"])
        return _download(body, f"{stem}.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    png = exports.map_png(view.layer, view.png["column"], title=view.png["title"], subtitle=f.label,
                          legend_title=view.png["title"], attribution=_attribution(), lang=lang(),
                          categorical=view.png.get("categorical"),
                          scheme=view.png.get("scheme", "natural_breaks"), cmap=view.png.get("cmap", "YlOrRd"))
    if fmt == "png":
        return _download(png, f"{stem}.png", "image/png")
    period = "; ".join(x for x in (f.label, view.meta.get("base_label")) if x)
    pdf = exports.report_pdf(title=view.png["title"], period_text=period, filters_text=_filters_text(f),
                             map_png=png, table=table, table_columns=columns,
                             notes=[n for n in [view.meta.get("total_text"), _disclosure_note(view), _attribution()]
                                    if n], lang=lang())
    return _download(pdf, f"{stem}.pdf", "application/pdf")


def _export_table(view):
    """The page's table for the downloads, every row in the page's order, as (table, [(field, header,
    kind), …]); suppressed figures as "< 5" text for users below analyst."""

    if view.table is not None:
        table, columns = view.table, list(view.table_columns)
    else:
        table = view.layer.drop(columns="geometry")
        columns = [(c, c, "text") for c in table.columns]
    minimum = view.meta.get("min_count")
    return (labelled(table, minimum) if minimum else table), columns


def _export_tables(view):
    """(title, table, columns) of every table of the page (the XLSX's sheets), its own first."""
    table, columns = _export_table(view)
    minimum = view.meta.get("min_count")
    return [(view.table_title or view.png["title"], table, columns)] + [
        (title, labelled(t, minimum) if minimum else t, list(cols)) for title, t, cols in view.extra_tables]


def _boundary_title(name: str) -> str:
    v = {v.name: v for v in versions(engine())}.get(name)
    return (v.title if v else "") or name


def _filters_text(f: Filters) -> str:
    """The filters in words: the boundary version by its title, the category by its label, the
    files' own labels, the units by name."""
    names = analysis._ward_frame(engine(), f.boundary)["name"]
    parts = [_boundary_title(f.boundary), dict(category_choices()).get(f.category, "") or _("All categories"),
             *f.raw, ", ".join(str(names.get(u, u)) for u in f.units)]
    return "; ".join(x for x in parts if x)


def _disclosure_note(view) -> str:
    minimum = view.meta.get("min_count")
    return _("Figures under %(n)s incidents are not published (shown as %(label)s).", n=minimum,
             label=disclosure.label(minimum)) if minimum else ""


def _header_lines(page: str, f: Filters, view) -> list[tuple[str, str]]:
    """The XLSX's header block: period, cùng kỳ, boundary version, filters, date of the file."""
    today = dt.datetime.now(pr.zone()).date()
    lines = [(_("Time period"), f.label)]
    if view.meta.get("base_label"):
        lines.append((_("Base period"), view.meta["base_label"].split(": ", 1)[-1]))
    lines += [(_("Boundary version"), _boundary_title(f.boundary)), (_("Filters"), _filters_text(f)),
              (_("Generated on"), fmt_date(today))]
    note = _disclosure_note(view)
    return lines + ([(_("Notes"), note)] if note else [])


def _metadata(page: str, f: Filters, view, layer: str) -> dict:
    """What a GeoJSON layer is (its top-level "metadata", RFC 7946 §6.1)."""
    args = page_args(page)
    params = {}
    for p in methods.of_page(page):
        if p.name in args:
            params[p.keyword or p.name] = {"value": _query_values({p.name: args[p.name]}).get(p.name),
                                           "unit": p.unit, "label": _(p.label)}
    for key, unit in (("bandwidth_m", "m"), ("cell_m", "m"), ("eps_m", "m"), ("min_samples", "incidents")):
        # the values used when "automatic"
        if view.meta.get(key) is not None:
            value = int(view.meta[key]) if unit == "incidents" else float(view.meta[key])
            params[key] = dict(params.get(key, {"label": key}), value=value, unit=unit)
    if page == "overview":
        params.update({k: {"value": args[k], "unit": "", "label": k} for k in ("measure", "scheme")})
    cats = _categories()
    base = view.meta.get("base_period")
    out = {
        "layer": layer, "crs": "EPSG:4326",
        "period": {"label": f.label, "start": f.start.isoformat(), "end": f.end.isoformat()},
        "boundary": {"name": f.boundary, "title": _boundary_title(f.boundary)},
        "categories": {"codes": [f.category] if f.category else [],
                       "labels": [cats.label(f.category, lang())] if f.category else [_("All categories")]},
        "raw_labels": list(f.raw), "units": list(f.units), "parameters": params,
        "generated_at": dt.datetime.now(pr.zone()).isoformat(timespec="seconds"),
    }
    if base:
        out["base_period"] = {"label": view.meta.get("base_label", "").split(": ", 1)[-1],
                              "start": base[0], "end": base[1]}
    if view.meta.get("min_count"):
        out["disclosure"] = {"minimum": view.meta["min_count"], "note": _disclosure_note(view)}
    return out


def _download(body: bytes, filename: str, mimetype: str):
    resp = current_app.response_class(body, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp
