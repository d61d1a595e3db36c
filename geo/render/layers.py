"""What each page shows: its map (Folium, offline) and the table and legends beside it.

``build(page, engine, filters, args, …)`` returns a :class:`View`; the views in
``pages.py`` only render it. Figures come from :mod:`geo.analysis` (cached), so
the page and its map script compute once.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from clustering.compare import city_total
from clustering.outlook import REGISTRY
from clustering.projection import metric_crs_for
from geo import analysis, disclosure, errors, methods
from geo import categories as cat
from geo import format as fmt
from geo import periods as pr
from geo.format import N_
from geo.names import fold, spot_name
from geo.render import maps, palette, reasons
from geo.store.categories import catalogue
from geo.store.queries import versions

MEASURE_LABELS = {"count": N_("Number of incidents"), "per_km2": N_("Incidents per km²"),
                  "per_10k": N_("Incidents per 10,000 residents"), "harm": N_("Harm-weighted count")}
#: The table downloads of every map page (format, plain name); the GeoJSON ones are per layer (LAYER_NAMES).
EXPORTS = [("xlsx", N_("Table for Excel (XLSX)")), ("excel.csv", N_("Table CSV for Vietnamese Excel (;)")),
           ("csv", N_("Table CSV for programs (,)")), ("png", N_("Map image PNG")), ("pdf", N_("PDF report"))]
#: Plain names of the layers a page can download as GeoJSON (``/export/<page>.geojson?layer=…``).
LAYER_NAMES = {"wards": N_("Wards/communes (GeoJSON, open with QGIS)"),
               "gistar": N_("Hot and cold spots by ward (GeoJSON, open with QGIS)"),
               "spots": N_("Incident clusters (GeoJSON, open with QGIS)"),
               "contours": N_("Density contours (GeoJSON, open with QGIS)"),
               "areas": N_("Candidate areas (GeoJSON, open with QGIS)"),
               "cells": N_("Most at-risk areas (GeoJSON, open with QGIS)"),
               "places": N_("Repeat places (GeoJSON, open with QGIS)"),
               "risk": N_("At-risk areas (GeoJSON, open with QGIS)"),
               "sites": N_("Camera and patrol sites (GeoJSON, open with QGIS)")}
#: What a statistical figure means, in one plain sentence (the "?" beside it: templates/_table.html).
GLOSSARY = {
    "p": N_("p: the chance of a change this large if nothing had really changed; under 0.05 the change is clear."),
    "q": N_("q (FDR): p corrected for looking at many wards at once; under 0.05 the change is clear even so."),
    "z": N_("Trend (z): how steadily incidents rose (above 0) or fell (below 0) over the periods; beyond ±1.96 "
            "the trend is clear."),
    "gi": N_("Gi*: compares each ward and its neighbours with the whole area; a hot spot is a group of wards "
             "with clearly more incidents."),
    "kde": N_("KDE (density): incidents per km² smoothed over the map; the contours mark the densest places."),
    "pai": N_("PAI (accuracy): the share of the incidents caught divided by the share of the area flagged; 1 is "
              "no better than chance, higher is better."),
    "dbscan": N_("DBSCAN: groups incidents lying close together (within the radius) into clusters of at least "
                 "the minimum number of incidents."),
    "knox": N_("Knox ratio: the pairs of incidents this close in place and in time, divided by the pairs expected "
               "if the dates were shuffled; above 1 with p under 0.05, one incident is clearly followed by others "
               "nearby."),
}
#: The glossary entry of a table column.
FIELD_TERMS = {"pai": "pai", "p_value": "p", "q_value": "q", "trend_z": "z", "gi_z": "gi", "gi_p": "p", "gi_q": "q"}
#: The page table shows at most this many rows (a national set has 3,321 communes); the downloads hold all.
PAGE_ROWS = 500
#: Column kinds of ``View.table_columns``: one number of decimals per column ("floatN": N decimals).
TEXT, DATE, INT = "text", "date", "int"
#: Reading order of the emerging patterns: hot ones from the most pressing, then the cold ones alike.
TREND_ORDER = [f"{p}_{t}" for t in ("hot", "cold") for p in (
    "intensifying", "persistent", "new", "consecutive", "sporadic", "oscillating", "diminishing", "historical")]


#: Code column of the statistics -> the one label column shown beside it, in the user's language.
LABEL_COLUMNS = {"hotspot_code": "hotspot_label", "lisa_code": "lisa_label", "change_class": "change_label",
                 "pattern": "pattern_label", "trend": "trend_label"}


def in_words(frame, locale: str | None = None):
    """A copy of an analysis table with its words in ``locale`` (default: the user's): a label beside
    each class code (:data:`LABEL_COLUMNS`, from :mod:`geo.render.palette`), ``change_text``
    ("giảm 8,4%") beside ``count``/``base_count`` and ``reason`` made from ``reasons``. Figures a
    viewer may not see (None) give no words."""
    out = frame.copy()
    for code, col in LABEL_COLUMNS.items():
        if code in out.columns:
            out[col] = [palette.label(c, locale) for c in out[code]]
    if "change_class" in out.columns and {"count", "base_count"} <= set(out.columns):
        out["change_text"] = [None if fmt.missing(a) or fmt.missing(b) else fmt.count_change(a, b, locale=locale)
                              for a, b in zip(out["count"], out["base_count"])]
    if "reasons" in out.columns:
        out["reason"] = [reasons.sentence(r, locale) or None for r in out["reasons"]]
    if {"street", "ward_name", "spot_id"} <= set(out.columns):   # spots: "Khu vực đường …, Phường …"
        out["name"] = [spot_name(*row, locale) for row in zip(out["street"], out["ward_name"], out["spot_id"])]
    return out


@dataclass
class View:
    map: object
    layer: gpd.GeoDataFrame  # the main layer, for the GeoJSON export
    legends: list = field(default_factory=list)
    table: pd.DataFrame | None = None
    table_columns: list = field(default_factory=list)  # (field, header, kind): kind TEXT, DATE, INT or "floatN"
    table_title: str = ""
    meta: dict = field(default_factory=dict)
    extra_parts: dict = field(default_factory=dict)
    query_extra: dict = field(default_factory=dict)
    png: dict = field(default_factory=dict)  # how to draw the PNG export: column, categorical, title
    parts: dict = field(default_factory=dict)  # the rendered map (geo.render.maps.parts)
    layers: dict = field(default_factory=dict)  # name -> GeoDataFrame, each a GeoJSON download (LAYER_NAMES)
    extra_tables: list = field(default_factory=list)  # (title, table, columns): more tables (XLSX sheets)

    @property
    def exports(self):
        return [(k, _(msg, self.meta.get("lang"))) for k, msg in EXPORTS]

    @property
    def layer_exports(self):
        """(layer, plain name) of the GeoJSON downloads."""
        return [(k, _(LAYER_NAMES[k], self.meta.get("lang"))) for k in (self.layers or {"wards": None})]

    def geo_layer(self, name: str | None):
        """The layer ``name`` (None: the first); InputError naming the layers for another name."""
        layers = self.layers or {"wards": self.layer}
        if name in (None, ""):
            return next(iter(layers)), next(iter(layers.values()))
        if name not in layers:
            raise analysis.InputError(_("`layer` was %(value)s; this page has the layers %(names)s.",
                                        self.meta.get("lang"), value=repr(name), names=", ".join(layers)))
        return name, layers[name]

    def tables(self):
        """(title, table, columns) of every table of the view, the page's own first."""
        main = [] if self.table is None else [(self.table_title, self.table, self.table_columns)]
        return main + [tuple(t) for t in self.extra_tables]

    @property
    def glossary(self) -> dict:
        """field -> the plain meaning of its figure (and "title": of the table's method)."""
        lang = self.meta.get("lang")
        fields = [c[0] for c in self.table_columns] + [c[0] for _t, _tb, cols in self.extra_tables for c in cols]
        out = {f: _(GLOSSARY[FIELD_TERMS[f]], lang) for f in fields if f in FIELD_TERMS}
        if self.meta.get("term"):
            out["title"] = _(GLOSSARY[self.meta["term"]], lang)
        return out

    @property
    def table_count(self) -> int:
        return 0 if self.table is None else len(self.table)

    @property
    def table_rows(self):
        return table_rows(self.table, self.table_columns, self.meta.get("lang"), self.meta.get("min_count"))

    @property
    def more_tables(self):
        """The other tables as (title, columns, rows) for the page."""
        return [(title, cols, table_rows(t, cols, self.meta.get("lang"), self.meta.get("min_count")))
                for title, t, cols in self.extra_tables]


def digits(kind: str) -> int | None:
    """Decimals of a column kind; None for text and dates."""
    return 0 if kind == INT else int(kind[5:]) if kind.startswith("float") else None


def cell(value, kind: str, lang: str | None = None) -> tuple[str, str]:
    """(text, machine value) of a table cell: "1.234,5" and "1234.5"; a date dd/mm/yyyy and ISO;
    a suppressed "< 5" or a missing figure has an empty machine value (sorts as the smallest)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "", ""
    if kind == DATE:
        day = dt.date.fromisoformat(str(value)[:10])
        return fmt.date(day, locale=lang), day.isoformat()
    if kind == TEXT:
        return str(value), str(value)
    if isinstance(value, str):  # a suppressed figure's "< 5"
        return value, ""
    return fmt.number(value, digits(kind), locale=lang), repr(float(value))


def table_rows(table, columns, lang, minimum=None, limit: int = PAGE_ROWS):
    """The first ``limit`` rows of ``table`` as [(text, kind, machine value), …] per row."""
    if table is None:
        return []
    table = disclosure.labelled(table, minimum) if minimum else table
    rows = []
    for rec in table.head(limit).to_dict("records"):
        rows.append([(text, kind, key) for (text, key), kind in
                     ((cell(rec.get(f), kind, lang), kind) for f, _header, kind in columns)])
    return rows


def figure(x, lang: str | None = None, digits: int | None = None) -> str:
    """A table figure as the reports write it (1.234,5 in Vietnamese): whole numbers without
    decimals, small ones with four, others with one; "" when missing, a suppressed "< 5" as is."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    if isinstance(x, str):  # a suppressed figure's "< 5"
        return x
    if isinstance(x, (int, np.integer)) or (isinstance(x, float) and float(x).is_integer() and digits is None):
        digits = 0
    elif digits is None:
        digits = 4 if abs(x) < 0.1 else 1
    return fmt.number(x, digits, locale=lang)


def _categorical(family: str, lang, codes=None) -> dict:
    """code -> (label, colour) of a class family, as the PNG and PDF exports take it."""
    return {c: (label, colour) for c, label, colour in palette.classes(family, lang, codes)}


def _(message: str, lang: str | None = None, **params) -> str:
    return fmt.gettext(message, lang, **params)


# A set wider than this (the whole country) is drawn simplified at NATIONAL_TOLERANCE_M: its 3,321
# communes would send 20.9 MB of GeoJSON at the city tolerance of 45 m, and send 3.6 MB at 400 m.
NATIONAL_EXTENT_KM = 600.0
NATIONAL_TOLERANCE_M = 400.0


def _display(engine, boundary):
    """Ward polygons simplified for display (shared borders kept), cached per version."""
    def make():
        frame = analysis._ward_frame(engine, boundary)
        x0, y0, x1, y1 = frame.to_crs(metric_crs_for(frame)).total_bounds
        wide = max(x1 - x0, y1 - y0) / 1000 > NATIONAL_EXTENT_KM
        return maps.display_geometry(frame, NATIONAL_TOLERANCE_M) if wide else maps.display_geometry(frame)
    return analysis.cached("display", engine, {"b": boundary}, make)


def _with_display_geometry(engine, boundary, gdf):
    """``gdf`` with the display polygons, and the units' parent and level (for the map's search box
    and its tooltips' level word)."""
    disp = _display(engine, boundary).set_index("code")
    out = gdf.copy()
    out["geometry"] = disp["geometry"].reindex(out["code"]).to_numpy()
    for col in ("parent_name", "level"):
        if col not in out.columns:
            out[col] = disp[col].reindex(out["code"]).to_numpy()
    return gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")


#: The tooltip's word for a unit, by the level the boundary file gives its units (folded).
LEVEL_TOOLTIP = {"phuong": N_("Ward/commune"), "xa": N_("Ward/commune"), "thi tran": N_("Ward/commune"),
                 "dac khu": N_("Ward/commune"), "quan": N_("District/town"), "huyen": N_("District/town"),
                 "thi xa": N_("District/town"), "tinh": N_("Province/city"), "thanh pho": N_("Province/city")}


def _unit_word(frame, lang):
    """"Phường/xã", "Quận/huyện" or "Tỉnh/thành phố": the word of the layer's most common unit level
    (a city with a parent is a district-level city); "Phường/xã" when the file gives no level."""
    if "level" not in frame.columns or not frame["level"].notna().any():
        return _("Ward/commune", lang)
    level = fold(frame["level"].dropna().astype(str).mode().iloc[0])
    if level == "thanh pho" and "parent_name" in frame.columns and frame["parent_name"].notna().any():
        level = "quan"
    return _(LEVEL_TOOLTIP.get(level, N_("Ward/commune")), lang)


def _labels(m, shown, drawn, priority=None, lang=None):
    """Unit names on the map, reusing the polygons already drawn (the geometry is sent once): a layer
    of its own, decluttered, the units with the largest ``priority`` figure named first."""
    maps.outlines(m, shown, label_field="name", lines=False, layer=drawn["layer"], label_min_zoom=0,
                  label_name=_("Unit names", lang), label_priority=priority)


def _focus(engine, f):
    """Where the map opens: the selected units (``f.units``); else the wards that hold the central
    95 % of the period's incidents (:func:`central_bounds`: an outlying island such as Côn Đảo, or the
    thinly reported former provinces of the new city, would otherwise shrink the core to a corner);
    else the whole boundary version. The workbench's "whole area" button is one click away."""
    if f.units:
        return analysis._ward_frame(engine, f.boundary).loc[list(f.units)].total_bounds
    counts = analysis.ward_counts(engine, boundary=f.boundary, start=f.start, end=f.end,
                                  categories=list(f.categories))
    busy = counts[counts["count"] > 0]
    return central_bounds(busy, "count") if len(busy) else counts.total_bounds


def central_bounds(frame, weight: str, share: float = 0.95):
    """Bounds (minx, miny, maxx, maxy) of the units whose representative point lies inside the
    weighted quantiles (1 − share)/2 … (1 + share)/2 of the points' longitudes and of their
    latitudes, each unit weighing ``frame[weight]`` (numpy's weighted inverted-CDF quantile)."""
    pts = frame.geometry.representative_point()
    x, y, w = pts.x.to_numpy(), pts.y.to_numpy(), frame[weight].to_numpy(dtype=float)
    q = [(1 - share) / 2, (1 + share) / 2]
    (x0, x1), (y0, y1) = (np.quantile(v, q, weights=w, method="inverted_cdf") for v in (x, y))
    keep = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    return frame[keep].total_bounds


def _same_place(a, b) -> bool:
    """Whether two versions cover one place: their areas overlap on half of the smaller one, and
    neither is more than 4 times the other (the whole country is not another version of a city)."""
    a, b = a.geometry.union_all(), b.geometry.union_all()
    small, large = sorted((a.area, b.area))
    return small > 0 and large <= 4 * small and a.intersection(b).area >= 0.5 * small


def _other_versions(engine, m, boundary, lang):
    """The outlines of each other stored version of the same place (:func:`_same_place`), as a layer
    that is off until the user turns it on: hcmc-2019's wards over hcmc-2025's."""
    here = _display(engine, boundary)
    for v in versions(engine):
        if v.name == boundary:
            continue
        other = _display(engine, v.name)
        if _same_place(here, other):
            maps.outlines(m, other[["geometry"]], label_field=None, show=False, colour="#1f4e79", weight=1.4,
                          name=_("Boundaries of %(version)s", lang, version=v.title or v.name))


def _new_map(engine, f, static_url, lang, tiles_url, tiles_attribution, dual=False):
    bounds = _focus(engine, f)
    if dual:
        return maps.dual_map(bounds, static_url=static_url, lang=lang)
    return maps.base_map(bounds, static_url=static_url, tiles_url=tiles_url,
                         tiles_attribution=tiles_attribution, lang=lang)


def _only(f, frame):
    """The rows of a unit table (a ``code`` column) that the page is limited to (``f.units``);
    all rows for the whole version. The statistics stay those of the whole version."""
    return frame[frame["code"].isin(f.units)] if f.units else frame


def _touching(f, spots):
    """The spots with an incident in the selected units (``ward_codes``: "a,b"); all without a selection."""
    if not f.units or spots is None or "ward_codes" not in spots.columns:
        return spots
    chosen = set(f.units)
    return spots[[bool(chosen & set(str(c).split(","))) for c in spots["ward_codes"]]]


def _clipped(engine, f, frame):
    """``frame``'s geometries clipped to the selected units (all of them without a selection)."""
    if not f.units or frame is None or not len(frame):
        return frame
    shape = analysis._ward_frame(engine, f.boundary).loc[list(f.units)].to_crs(frame.crs).union_all()
    out = frame.copy()
    out["geometry"] = out.geometry.intersection(shape)
    return out[~out.geometry.is_empty]


def _silent(progress: float, stage: str) -> None:
    """The ``report`` of a view built within a request: nobody is waiting on a progress box."""


# what a page's job says it is doing (catalogue msgids, put in the reader's words when read)
STAGES = {"forecast": N_("Reading the incidents for the forecast"),
          "backtest": N_("Checking each forecasting method on past periods"),
          "intervals": N_("Estimating the ranges of the forecast"),
          "gistar": N_("Finding the hot spots"), "kde": N_("Computing the density of incidents"),
          "dbscan": N_("Finding clusters of incidents"), "trends": N_("Computing the trends"),
          "complex": N_("Ranking the areas"), "near-repeat": N_("Comparing incidents close in place and time"),
          "sites": N_("Choosing the sites"), "drawing": N_("Drawing the map")}


def build(page, engine, f, args, *, static_url, lang, tiles_url=None, tiles_attribution="", minimum=None,
          report=None):
    """``minimum``: the figures are those users below analyst may see (:mod:`geo.disclosure`).
    ``report(progress, stage)``: told how far the build is (a background job's progress box)."""
    make = {"overview": _overview, "hotspots": _hotspots, "compare": _compare, "change": _change,
            "trends": _trends, "complex": _complex, "forecast": _forecast, "places": _places,
            "near-repeat": _near_repeat, "sites": _sites}[page]
    args = dict(args, minimum=minimum, report=report or _silent)
    view = make(engine, f, args, lambda dual=False: _new_map(engine, f, static_url, lang, tiles_url,
                                                             tiles_attribution, dual), lang)
    view.meta["lang"] = lang
    view.meta["min_count"] = minimum
    if f.units and page in ("hotspots", "compare", "change", "trends", "complex", "near-repeat"):
        view.meta["scope_note"] = _("The figures of each ward are computed over the whole city, because "
                                    "neighbouring wards count; only the chosen area is shown.", lang)
    _other_versions(engine, view.map.m1 if isinstance(view.map, maps.DualMap) else view.map, f.boundary, lang)
    if page == "compare":
        change = _change(engine, f, args, lambda: _new_map(engine, f, static_url, lang, tiles_url,
                                                           tiles_attribution), lang)
        maps.freeze_ids(change.map, prefix="c")  # the same ids as /maps/change.js builds
        view.extra_parts = maps.parts(change.map)
    maps.freeze_ids(view.map, prefix="c" if page == "change" else "m")
    return view


def _overview(engine, f, args, new_map, lang):
    measure, scheme = args["measure"], args["scheme"]
    counts = analysis.ward_counts(engine, boundary=f.boundary, start=f.start, end=f.end,
                                  categories=list(f.categories))
    layer = counts[["code", "name", "parent_name", "count", "per_km2", "per_10k", "harm", "clearance_rate",
                    "geometry"]].reset_index(drop=True)
    layer = _only(f, layer).reset_index(drop=True)
    if args["minimum"]:
        layer = disclosure.wards(layer, args["minimum"])
    m = new_map()
    title = _(MEASURE_LABELS[measure], lang)
    shown = _with_display_geometry(engine, f.boundary, layer)
    res = maps.choropleth(m, shown, measure, scheme=scheme, palette="YlOrRd", legend_title=title,
                          tooltip_fields=[("name", _unit_word(shown, lang)),
                                          ("code", _("Code", lang)), (measure, title)],
                          name=title, number_format=lang)
    _labels(m, shown, res, measure, lang)
    order = pd.to_numeric(layer[measure], errors="coerce")
    if "suppressed" in layer.columns:  # a suppressed ward has 1 to 4 incidents: after the others, before zero
        order = order.mask(layer["suppressed"].astype(bool) & order.isna(), 1e-9)
    table = layer.drop(columns="geometry").assign(_order=order.to_numpy()) \
        .sort_values(["_order", "code"], ascending=[False, True]).drop(columns="_order")
    cols = [("code", _("Code", lang), TEXT), ("name", _("Ward/commune", lang), TEXT),
            ("count", _(MEASURE_LABELS["count"], lang), INT),
            ("per_km2", _(MEASURE_LABELS["per_km2"], lang), "float1"),
            ("per_10k", _(MEASURE_LABELS["per_10k"], lang), "float1"),
            ("harm", _(MEASURE_LABELS["harm"], lang), "float1")]
    return View(map=m, layer=layer, layers={"wards": layer}, legends=[res["legend_html"]], table=table,
                table_columns=cols,
                table_title=_("Wards with the highest figures", lang),
                png={"column": measure, "title": title, "scheme": scheme, "cmap": "YlOrRd"})


def _hotspots(engine, f, args, new_map, lang):
    cats = list(f.categories)
    args["report"](0.0, STAGES["gistar"])
    gi = analysis.gistar_wards(engine, boundary=f.boundary, start=f.start, end=f.end, categories=cats,
                               permutations=args["permutations"])
    layer = gi[["code", "name", "count", "gi_z", "gi_p", "gi_q", "hotspot", "hotspot_code", "geometry"]] \
        .reset_index(drop=True)
    layer = _only(f, layer).reset_index(drop=True)
    minimum = args["minimum"]
    if minimum:
        layer = disclosure.wards(layer, minimum)
    m = new_map()
    shown = _with_display_geometry(engine, f.boundary, layer)
    legends = []
    gi_title = _("Gi* hot spots (Getis-Ord)", lang)
    gi_layer = maps.categorical(
        m, shown, "hotspot_code", palette.classes("gi", lang),
        name=gi_title, legend_title=gi_title,
        tooltip_fields=[("name", _unit_word(shown, lang)), ("count", _("Number of incidents", lang)),
                        ("gi_z", "z"), ("gi_p", "p")])
    legends.append(gi_layer["legend_html"])
    meta = {"term": "dbscan"}
    contours = None
    try:
        if minimum:
            disclosure.check_selection(engine, minimum, kde=True, boundary=f.boundary, start=f.start, end=f.end,
                                       categories=cats)
        args["report"](0.4, STAGES["kde"])
        surface = analysis.kde_surface(engine, boundary=f.boundary, start=f.start, end=f.end, categories=cats,
                                       bandwidth_m=args["bandwidth"], cell_m=args["cell"], kernel=args["kernel"])
        contours = _clipped(engine, f, surface.contours())
        if minimum:
            contours = disclosure.selection_contours(engine, contours, minimum, boundary=f.boundary, start=f.start,
                                                     end=f.end, categories=cats)
        legends.append(maps.contours(m, contours, name=_("Density contours (KDE)", lang))["legend_html"])
        meta.update(bandwidth_m=surface.bandwidth_m, cell_m=surface.cell_m)
    except analysis.InputError as exc:
        meta["kde_error"] = errors.message(exc, lang)
    spots = None
    try:
        args["report"](0.7, STAGES["dbscan"])
        spots = analysis.dbscan_spots(engine, boundary=f.boundary, start=f.start, end=f.end, categories=cats,
                                      eps_m=args["eps"], min_samples=args["min_samples"],
                                      max_span_m=args["max_span"])
        meta.update(eps_m=spots.attrs.get("eps_m"), min_samples=spots.attrs.get("min_samples"))
        meta["spot_note"] = _spot_note(spots.attrs, args["max_span"], lang)
        spots = _touching(f, spots)
        if minimum:
            spots = disclosure.spots(spots, minimum)
        spots = _spots_in_words(engine, f.boundary, spots, lang)
        if len(spots):
            maps.spots(m, spots, number_field="spot_id", name=_("Hot spots by incidents", lang),
                       tooltip_fields=[("name", _("Area", lang)), ("count", _("Number of incidents", lang)),
                                       ("categories", _("Main categories", lang))])
    except analysis.InputError as exc:
        meta["dbscan_error"] = errors.message(exc, lang)
    args["report"](0.9, STAGES["drawing"])
    _labels(m, shown, gi_layer, "count", lang)
    if not minimum:
        _incident_points(m, engine, f, args["points_max"], lang)
    table, cols = None, []
    layers = {"gistar": layer}
    if spots is not None:
        cols = [("spot_id", "#", INT), ("name", _("Area", lang), TEXT),
                ("count", _("Number of incidents", lang), INT),
                ("wards", _("Wards", lang), TEXT), ("categories", _("Main categories", lang), TEXT),
                ("first_date", _("First incident", lang), DATE), ("last_date", _("Latest incident", lang), DATE),
                ("span_m", _("Span (m)", lang), INT), ("per_km2", _("Incidents per km²", lang), INT)]
        table = spots.drop(columns="geometry").sort_values(["count", "spot_id"], ascending=[False, True])
        layers["spots"] = spots[[c for c, _h, _k in cols] + ["geometry"]]
    if contours is not None:
        keep = [c for c in ("level", "threshold", "cells", "area_km2") if c in contours.columns]
        layers["contours"] = contours[keep + ["geometry"]].rename(columns={"threshold": "per_km2"})
    return View(map=m, layer=layer, layers=layers, legends=[lg for lg in legends if lg], table=table,
                table_columns=cols, table_title=_("Hot spots by incidents", lang), meta=meta,
                png={"column": "hotspot_code", "title": gi_title,
                     "categorical": _categorical("gi", lang)})


def _spot_note(attrs, max_span, lang) -> str:
    """What happened to the spots wider than ``max_span`` m, and what to do."""
    width = fmt.number(max_span, 0, locale=lang)
    notes = []
    if attrs.get("split"):
        notes.append(_("%(n)s hot spots wider than %(width)s m were split into their denser parts.", lang,
                       n=fmt.number(attrs["split"], 0, locale=lang), width=width))
    if attrs.get("wide"):
        notes.append(_("%(n)s hot spots are still wider than %(width)s m: narrow the period or the categories to "
                       "see where they are densest.", lang, n=fmt.number(attrs["wide"], 0, locale=lang),
                       width=width))
    return " ".join(notes)


def _spots_in_words(engine, boundary, spots, lang):
    """DBSCAN spots (or repeat places) with their wards by name (with the parent where names repeat),
    their main categories by label ("Trộm cắp tài sản (120)") instead of codes, and for spots their
    name ("Khu vực đường Quang Trung, Phường 10 (Gò Vấp)") and incidents per km²."""
    names = analysis._ward_frame(engine, boundary)["name"]
    labels = catalogue(engine)

    def category_text(text):
        if not isinstance(text, str):
            return text
        out = []
        for part in (p.strip() for p in text.split(",") if p.strip()):
            code, _sep, n = part.partition(":")
            name = code[len(cat.RAW):] if code.startswith(cat.RAW) else labels.label(code.strip(), lang or "vi")
            out.append(f"{name} ({fmt.number(int(n), 0, locale=lang)})" if n.strip().isdigit() else name)
        return ", ".join(out)

    out = spots.copy()
    out["categories"] = out["categories"].map(category_text)
    out["wards"] = out["ward_codes"].map(lambda s: ", ".join(str(names.get(c.strip(), c.strip()))
                                                          for c in str(s or "").split(",") if c.strip()))
    if "spot_id" not in out.columns:  # repeat places: no spot name nor density of their own
        return out
    blank = pd.Series("", index=out.index)
    out["name"] = [spot_name(street, names.get(ward) if ward else None, sid, lang) for street, ward, sid in
                   zip(out.get("street", blank), out.get("main_ward", blank), out["spot_id"])]
    out["per_km2"] = pd.to_numeric(out["count"], errors="coerce") / (out["area_m2"] / 1e6)
    return out


def _compare_data(engine, f, args):
    gdf, meta = analysis.compare_wards(engine, boundary=f.boundary, start=f.start, end=f.end,
                                       base_start=args.get("base_start"), base_end=args.get("base_end"),
                                       categories=list(f.categories))
    if args.get("minimum"):
        gdf, meta = disclosure.compare(gdf, meta, args["minimum"])
    return in_words(gdf), meta


def _compare(engine, f, args, new_map, lang):
    gdf, meta = _compare_data(engine, f, args)
    layer = _only(f, gdf).reset_index(drop=True)
    shown = _with_display_geometry(engine, f.boundary, layer)
    dual = new_map(dual=True)
    now_title = _("This period", lang)
    base_title = _("Base period", lang)
    legend = maps.choropleth(dual.m1, shown, "count", scheme="natural_breaks", palette="YlOrRd",
                             legend_title=now_title, name=now_title, number_format=lang,
                             tooltip_fields=[("name", _unit_word(shown, lang)),
                                             ("count", now_title), ("base_count", base_title)])
    right = maps.choropleth(dual.m2, shown, "base_count", bins=legend["bins"], palette="YlOrRd",
                    legend_title=base_title, name=base_title, number_format=lang,
                    tooltip_fields=[("name", _unit_word(shown, lang)),
                                    ("count", now_title), ("base_count", base_title)])
    _labels(dual.m1, shown, legend, "count", lang)
    _labels(dual.m2, shown, right, "base_count", lang)
    table = palette.answer_order(layer.drop(columns="geometry"))
    cols = [("code", _("Code", lang), TEXT), ("name", _("Ward/commune", lang), TEXT),
            ("count", now_title, INT), ("base_count", base_title, INT),
            ("change", _("Change", lang), INT), ("change_pct", _("Change (%)", lang), "float1"),
            ("p_value", "p", "float4"), ("q_value", "q", "float4"),
            ("change_label", _("Result", lang), TEXT)]
    table["change_label"] = [palette.label(c, lang) for c in table["change_class"]]
    total = _selection_total(f, layer, meta)
    base = pr.custom(*[dt.date.fromisoformat(d) for d in meta["base_period"]])
    if f.period != "custom" and not args.get("base_start"):  # cùng kỳ of a named period keeps its name
        base = pr.parse_period(f.period + (":stat" if f.cut == "stat" else "")).same_period_last_year()
    if total.get("suppressed"):
        small = disclosure.label(args["minimum"])
        total_text = _("Whole area: ", lang) + " / ".join(
            small if total[k] is None else figure(total[k], lang) for k in ("count", "base_count"))
    else:
        total_text = (_("Whole area: ", lang)
                      + f"{figure(total['count'], lang)} / {figure(total['base_count'], lang)} — "
                      + fmt.count_change(total["count"], total["base_count"], locale=lang)
                      + f" (p = {figure(total['p_value'], lang, 4)})")
    meta = dict(meta, base_label=_("Base period: ", lang) + base.label(lang, with_dates=True),
                total_text=total_text)
    return View(map=dual, layer=layer, layers={"wards": layer}, legends=[legend["legend_html"]], table=table,
                table_columns=cols, table_title=_("Change by ward", lang), meta=meta,
                png={"column": "change_class", "title": _("Change against the base period", lang),
                     "categorical": _categorical("change", lang)})


def _change(engine, f, args, new_map, lang):
    gdf, meta = _compare_data(engine, f, args)
    layer = _only(f, gdf).reset_index(drop=True)
    shown = _with_display_geometry(engine, f.boundary, layer)
    m = new_map()
    title = _("Change against the base period", lang)
    legend = maps.categorical(m, shown, "change_class",
                              palette.classes("change", lang),
                              name=title, legend_title=title,
                              tooltip_fields=[("name", _unit_word(shown, lang)),
                                              ("change_text", "%"),
                                              ("p_value", "p"), ("q_value", "q")])
    _labels(m, shown, legend, "count", lang)
    return View(map=m, layer=layer, legends=[legend["legend_html"]], meta=meta)


def _trends(engine, f, args, new_map, lang):
    report = args["report"]
    report(0.0, STAGES["trends"])
    gdf, _ehs = analysis.emerging_wards(engine, boundary=f.boundary, start=f.start, end=f.end,
                                     categories=list(f.categories), bins=args["bins"],
                                     progress=lambda x: report(0.9 * x, STAGES["trends"]))
    report(0.9, STAGES["drawing"])
    if args["minimum"]:
        gdf = disclosure.series(gdf, args["minimum"])
    small = disclosure.label(args["minimum"]) if args["minimum"] else ""
    layer = _only(f, gdf).reset_index(drop=True).rename(columns={"pattern": "trend"})
    layer = in_words(layer, lang)
    layer["series_text"] = layer["series"].map(lambda s: " ".join(small if v is None else str(int(v)) for v in s))
    m = new_map()
    shown = _with_display_geometry(engine, f.boundary, layer.drop(columns="series"))
    title = _("Emerging hot spots", lang)
    present = set(layer["trend"])
    legend = maps.categorical(m, shown, "trend", palette.classes("emerging", lang, present),
                              name=title, legend_title=title,
                              tooltip_fields=[("name", _unit_word(shown, lang)),
                                              ("trend_label", title), ("series_text", _("Series", lang))])
    _labels(m, shown, legend, None, lang)
    rank = layer["trend"].map({t: i for i, t in enumerate(TREND_ORDER)}).fillna(len(TREND_ORDER))
    size = -pd.to_numeric(layer["trend_z"], errors="coerce").abs().fillna(0)
    order = pd.DataFrame({"r": rank, "z": size, "c": layer["code"].astype(str)}) \
        .sort_values(["r", "z", "c"], kind="stable").index
    table = layer.loc[order].drop(columns=["geometry", "series"])
    cols = [("code", _("Code", lang), TEXT), ("name", _("Ward/commune", lang), TEXT),
            ("trend_label", title, TEXT), ("trend_z", _("Trend (z)", lang), "float2"),
            ("series_text", _("Incidents per bin", lang), TEXT)]
    wards = layer.drop(columns="series")
    return View(map=m, layer=wards, layers={"wards": wards}, legends=[legend["legend_html"]], table=table,
                table_columns=cols,
                table_title=title, meta={"bins": gdf.attrs["bins"]},
                png={"column": "trend", "title": title,
                     "categorical": _categorical("emerging", lang, present)})


def _selection_total(f, layer, meta) -> dict:
    """The total line of the compare page: the whole version's (meta), or with a selection the exact
    test of the selected units added up (the same test, over their counts)."""
    total = meta["total"]
    if not f.units or total.get("suppressed") or layer[["count", "base_count"]].isna().any().any():
        return total
    days = [(dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days + 1 for a, b in
            (meta["period"], meta["base_period"])]
    row = city_total(layer[["code", "count"]], layer[["code", "base_count"]].rename(columns={"base_count": "count"}),
                     t_current_days=days[0], t_base_days=days[1]).iloc[0]
    return dict(total, count=int(row["count"]), base_count=int(row["base_count"]), p_value=float(row["p_value"]))


def _reranked(gdf):
    """The ranking among the rows kept: ranks 1, 2, … in the order of the whole version's ranks."""
    out = gdf.sort_values("rank").copy()
    out["rank"] = np.arange(1, len(out) + 1)
    return out


def _complex(engine, f, args, new_map, lang):
    cats = list(f.categories)
    args["report"](0.0, STAGES["complex"])
    if args["unit"] == "spot":
        gdf = analysis.complex_spots(engine, boundary=f.boundary, start=f.start, end=f.end, categories=cats,
                                     eps_m=args["eps"], min_samples=args["min_samples"])
        gdf = _reranked(_touching(f, gdf))
        if args["minimum"]:
            gdf = disclosure.ranked(disclosure.spots(gdf, args["minimum"]), args["minimum"])
        shown = gdf
    else:
        gdf = _reranked(_only(f, analysis.complex_areas(engine, boundary=f.boundary, start=f.start, end=f.end,
                                                        categories=cats)))
        if args["minimum"]:
            gdf = disclosure.ranked(gdf, args["minimum"])
        shown = _with_display_geometry(engine, f.boundary, gdf)
    args["report"](0.8, STAGES["drawing"])
    reason = "reason"
    gdf, shown = in_words(gdf, lang), in_words(shown, lang)
    layer = gdf[["rank", "code", "name", "score", "count", "base_count", "change_pct", reason, "geometry",
                 *(["suppressed"] if "suppressed" in gdf.columns else [])]]
    shown = shown[layer.columns]
    m = new_map()
    title = _("Complexity score (0–100)", lang)
    res = maps.choropleth(m, shown, "score", scheme="quantiles", palette="PuRd", legend_title=title, name=title,
                          number_format=lang,
                          tooltip_fields=[("rank", "#"), ("name", _("Area", lang)), ("score", title),
                                          (reason, _("Reason", lang))])
    if args["unit"] == "ward":
        _labels(m, shown, res, "score", lang)
    table = layer.drop(columns="geometry").sort_values(["rank", "code"])
    cols = [("rank", "#", INT), ("name", _("Area", lang), TEXT), ("score", title, "float1"),
            ("count", _("Number of incidents", lang), INT), ("change_pct", _("Change (%)", lang), "float1"),
            (reason, _("Reason", lang), TEXT)]
    return View(map=m, layer=layer, layers={"areas": layer}, legends=[res["legend_html"]], table=table,
                table_columns=cols,
                table_title=_("Candidate areas for the plan", lang),
                png={"column": "score", "title": title, "scheme": "quantiles", "cmap": "PuRd"})


#: The two kinds of repeat place (clustering.places).
PLACE_KINDS = {"address": N_("Same address"), "group": N_("Points within 50 m")}


def place_label(kind: str, address: str, lang: str | None = None) -> str:
    """A repeat place in words: its address, or "Nhóm điểm gần <its most common address>"."""
    if kind == "address":
        return address
    return _("Group of points near %(address)s", lang, address=address) if address else _("Group of points", lang)


def _incident_points(m, engine, f, cap, lang):
    """The analysts' layer of the selection's incidents as points (clustered, the latest ``cap``),
    with date, category and address on hover (escaped: :func:`geo.render.maps.points`). Never for
    users below analyst: the caller draws it only without a disclosure minimum."""
    inc = analysis.incident_rows(engine, boundary=f.boundary, start=f.start, end=f.end,
                                 categories=list(f.categories))
    if f.units:
        inc = inc[inc["code"].isin(f.units)]
    labels = catalogue(engine)
    inc["category_label"] = [labels.label(c, lang or "vi") for c in inc["category"]]
    return maps.points(m, inc, cap=int(cap), name=_("Incidents (points)", lang),
                       tooltip_fields=[("local_date", _("Date", lang)), ("category_label", _("Category", lang)),
                                       ("address", _("Address", lang))], show=False)


def _count_units(m, engine, f, minimum, count: str, lang):
    """The units under a page of points (repeat places, sites), shaded by their incidents and labelled:
    the page's unit layer, whose clicks open the unit panel; small counts hidden below analyst.
    Returns the layer's choropleth and the units' counts."""
    wards = _only(f, analysis.ward_counts(engine, boundary=f.boundary, start=f.start, end=f.end,
                                          categories=list(f.categories))[["code", "name", "count", "geometry"]])
    wards = disclosure.wards(wards.reset_index(drop=True), minimum) if minimum else wards.reset_index(drop=True)
    shown = _with_display_geometry(engine, f.boundary, wards)
    units = maps.choropleth(m, shown, "count", scheme="natural_breaks", palette="Blues", legend_title=count,
                            name=count, number_format=lang,
                            tooltip_fields=[("name", _("Ward/commune", lang)), ("count", count)])
    _labels(m, shown, units, "count", lang)
    return units, wards


def _places(engine, f, args, new_map, lang):
    """Repeat places: circles sized by their incidents, and the table in rank order. Below analyst,
    only places of at least the disclosure minimum, their recent count suppressed when small and
    their categories without counts; no incident points."""
    minimum = args["minimum"]
    places = analysis.repeat_places(engine, boundary=f.boundary, start=f.start, end=f.end,
                                    categories=list(f.categories), min_count=args["min_count"])
    places = _only(f, places)
    if minimum:
        places = disclosure.protect(disclosure.spots(places, minimum), minimum, ["count_recent"])
    places = places.reset_index(drop=True)
    places["place_id"] = np.arange(1, len(places) + 1)  # ranks of the places shown, without gaps
    places = _spots_in_words(engine, f.boundary, places.assign(ward_codes=places["code"].fillna("")), lang)
    places["label"] = [place_label(kind, address, lang) for kind, address in zip(places["kind"], places["address"])]
    places["kind_label"] = [_(PLACE_KINDS[k], lang) for k in places["kind"]]
    m = new_map()
    title = _("Repeat places", lang)
    count = _("Number of incidents", lang)
    units, _wards = _count_units(m, engine, f, minimum, count, lang)
    if len(places):
        maps.circles(m, places, "count", name=title,
                     tooltip_fields=[("place_id", "#"), ("label", _("Place", lang)), ("name", _("Ward/commune", lang)),
                                     ("count", count), ("last_date", _("Latest incident", lang))])
    if not minimum:
        _incident_points(m, engine, f, args["points_max"], lang)
    cols = [("place_id", "#", INT), ("label", _("Place", lang), TEXT), ("kind_label", _("Kind of place", lang), TEXT),
            ("name", _("Ward/commune", lang), TEXT), ("count", count, INT),
            ("count_recent", _("In the last 90 days", lang), INT),
            ("first_date", _("First incident", lang), DATE), ("last_date", _("Latest incident", lang), DATE),
            ("categories", _("Main categories", lang), TEXT), ("radius_m", _("Radius (m)", lang), INT),
            ("lon", _("Longitude", lang), "float6"), ("lat", _("Latitude", lang), "float6")]
    keep = [c for c, _h, _k in cols] + ["key", "code"] + (["suppressed"] if "suppressed" in places.columns else [])
    layer = gpd.GeoDataFrame(places[keep], geometry=places.geometry.to_numpy(), crs="EPSG:4326")
    return View(map=m, layer=layer, layers={"places": layer}, legends=[units["legend_html"]],
                table=layer.drop(columns="geometry"),
                table_columns=cols, table_title=title,
                meta={"place_min": args["min_count"]},
                png={"column": "count", "title": title, "scheme": "natural_breaks", "cmap": "YlOrRd"})


#: The colour of the at-risk areas (the map's circles around recent incidents).
RISK_COLOUR = "#d7301f"
#: Circles around incidents of a "same location" window are drawn this wide (metres), to be seen.
SAME_PLACE_DRAWN_M = 25.0


def knox_bands(k, lang: str | None = None) -> tuple[list[str], list[str]]:
    """The row and column labels of a Knox table as the calculator writes them: "Cùng vị trí",
    "1–100 m", …; "0–7 ngày", "8–14 ngày", …"""
    rows = [_("Same location", lang)] + [
        _("%(low)s to %(high)s m", lang, low=fmt.number(lo, 0, locale=lang), high=fmt.number(hi, 0, locale=lang))
        for lo, hi in k.distance_edges()[1:]]
    cols = [_("%(low)s to %(high)s days", lang, low=fmt.number(lo, 0, locale=lang), high=fmt.number(hi, 0, locale=lang))
            for lo, hi in k.day_edges()]
    return rows, cols


def _lower(label: str) -> str:
    return label[:1].lower() + label[1:]


def near_repeat_sentence(category_label: str, extent: dict, lang: str | None = None) -> str:
    """The near-repeat window in one plain sentence: "Sau một vụ trộm cắp tài sản, nguy cơ một vụ khác
    trong vòng 200 m tăng 1,8 lần trong 14 ngày." (``category_label`` "" for every category)."""
    ratio = fmt.number(extent["ratio"], 1, locale=lang)
    days = fmt.number(extent["days"], 0, locale=lang)
    radius = fmt.number(extent["radius_m"], 0, locale=lang)
    if not category_label:
        if extent["radius_m"] == 0:
            return _("After an incident, the risk of another at the same place is %(ratio)s times as high for "
                     "%(days)s days.", lang, ratio=ratio, days=days)
        return _("After an incident, the risk of another within %(radius)s m is %(ratio)s times as high for "
                 "%(days)s days.", lang, ratio=ratio, days=days, radius=radius)
    if extent["radius_m"] == 0:
        return _("After an incident of %(category)s, the risk of another at the same place is %(ratio)s times as "
                 "high for %(days)s days.", lang, category=_lower(category_label), ratio=ratio, days=days)
    return _("After an incident of %(category)s, the risk of another within %(radius)s m is %(ratio)s times as "
             "high for %(days)s days.", lang, category=_lower(category_label), ratio=ratio, days=days, radius=radius)


def risk_sentence(days_left: int, radius_m: float, place: str, lang: str | None = None) -> str:
    """One warning: "Trong 14 ngày tới, khu vực bán kính 200 m quanh <place> có nguy cơ xảy ra vụ việc
    tương tự." (``place`` an address, or the recent incidents of a ward)."""
    days = fmt.number(days_left, 0, locale=lang)
    if radius_m == 0:
        return _("In the next %(days)s days, %(place)s is at risk of a similar incident.", lang, days=days,
                 place=place)
    return _("In the next %(days)s days, the area within %(radius)s m of %(place)s is at risk of a similar "
             "incident.", lang, days=days, radius=fmt.number(radius_m, 0, locale=lang), place=place)


def knox_rows(result: dict, label: str, lang: str | None = None) -> pd.DataFrame:
    """The long Knox table of one table of :func:`geo.analysis.near_repeat`: one row per cell with its
    words (``table``, ``distance``, ``days``), ``count`` (the observed pairs), ``expected``, ``ratio``,
    ``p_value`` and ``significant``."""
    k = result["knox"]
    rows, cols = knox_bands(k, lang)
    t = k.table()
    return pd.DataFrame({"table": label, "category": result["category"], "distance_band": t["distance_band"],
                         "day_band": t["day_band"], "distance": [rows[r] for r in t["distance_band"]],
                         "days": [cols[c] for c in t["day_band"]], "count": t["observed"],
                         "expected": t["expected"], "ratio": t["ratio"], "p_value": t["p_value"],
                         "significant": t["significant"]})


def _knox_matrix(rows: pd.DataFrame, k, minimum, lang) -> dict:
    """A Knox table as the page draws it: per distance band its label and per time band the ratio
    ("1,85*" when significant), observed, expected and p in the cell's hover text."""
    labels, cols = knox_bands(k, lang)
    withheld = disclosure.label(minimum) if minimum else ""
    out = []
    for r, label in enumerate(labels):
        cells = []
        for rec in rows[rows["distance_band"] == r].sort_values("day_band").to_dict("records"):
            if rec["count"] is None or (not isinstance(rec["count"], str) and pd.isna(rec["count"])):
                cells.append({"text": withheld or fmt.MISSING, "title": "", "sig": False})
                continue
            sig = bool(rec["significant"])
            text = fmt.MISSING if fmt.missing(rec["ratio"]) else fmt.number(rec["ratio"], 2, locale=lang) + (
                "*" if sig else "")
            title = _("Observed %(observed)s pairs, expected %(expected)s; p = %(p)s", lang,
                      observed=fmt.number(rec["count"], 0, locale=lang),
                      expected=fmt.number(rec["expected"], 1, locale=lang),
                      p=fmt.number(rec["p_value"], 3, locale=lang))
            cells.append({"text": text, "title": title, "sig": sig})
        out.append({"label": label, "cells": cells})
    return {"columns": cols, "rows": out}


def near_repeat_view(engine, f, args, minimum, lang, progress=None) -> dict:
    """What the page, its downloads and ``/api/v1/near-repeat`` publish of
    :func:`geo.analysis.near_repeat` for the selection ``f`` (``boundary``, ``start``, ``end``,
    ``category``, ``categories``, ``units``: the page's filters) and the parameters ``args`` (by argument
    name, geo.methods "near-repeat"), for the disclosure level ``minimum``: ``tables`` (per table its ``category``, ``title``,
    the table itself, its ``rows`` (:func:`knox_rows`, protected below analyst), ``extent`` and
    ``sentence``), ``summary`` (the sentences), ``risk`` (the at-risk places, each with its ``warning``;
    below analyst per ward: :func:`_risk_by_ward`), ``res`` (the analysis)."""
    res = analysis.near_repeat(
        engine, boundary=f.boundary, start=f.start, end=f.end, categories=tuple(f.categories),
        distance_m=args["distance"], distance_bands=args["distance_bands"], day_bandwidth=args["days"],
        day_bands=args["day_bands"], permutations=args["permutations"], max_incidents=args["max_incidents"],
        progress=progress)
    labels = catalogue(engine)
    own = labels.label(f.category, lang or "vi") if f.category else ""
    tables, summary = [], []
    for t in analysis_tables(res, minimum):
        label = labels.label(t["category"], lang or "vi") if t["category"] else own
        title = label or _("All categories", lang)
        rows = knox_rows(t, title, lang)
        if minimum:
            rows = disclosure.protect(rows, minimum, ["count"], derived=("ratio", "p_value", "significant"))
            rows["significant"] = rows["significant"].fillna(False).astype(bool)
        sentence = near_repeat_sentence(label, t["extent"], lang) if t["extent"] else ""
        summary += [sentence] if sentence else []
        tables.append(dict(t, title=title, rows=rows, sentence=sentence))
    windows = [t["category"] for t in tables if t["extent"]]
    risk = res["at_risk"]
    risk = _only(f, risk[risk["table"].isin(windows)]).reset_index(drop=True)   # the windows published
    risk["category_label"] = [labels.label(c, lang or "vi") for c in risk["category"]]
    if minimum:
        risk = _risk_by_ward(risk, minimum, lang)
    else:
        risk["local_date"] = pd.to_datetime(risk["local_date"])
        risk["place"] = [a if isinstance(a, str) and a.strip() else
                         _("the incident of %(date)s", lang, date=fmt.date(d.date(), locale=lang))
                         for a, d in zip(risk["address"], risk["local_date"])]
        risk["warning"] = [risk_sentence(n, r, p, lang)
                           for n, r, p in zip(risk["days_left"], risk["radius_m"], risk["place"])]
        risk["local_date"] = risk["local_date"].dt.date.astype(str)
        risk["until"] = risk["until"].astype(str)
    return {"tables": tables, "summary": summary, "risk": risk, "res": res}


def _near_repeat(engine, f, args, new_map, lang):
    """Near repeats: the Knox table of the selection (and of each of its categories), a sentence per
    window found, and the at-risk places. Below analyst: small pair counts withheld (with the ratios
    and p-values computed from them), no window whose pairs are fewer than the minimum, and the at-risk
    places as counts per ward, never as points."""
    report, minimum = args["report"], args["minimum"]
    report(0.0, STAGES["near-repeat"])
    out = near_repeat_view(engine, f, args, minimum, lang, progress=lambda x: report(0.9 * x, STAGES["near-repeat"]))
    report(0.9, STAGES["drawing"])
    res, risk = out["res"], out["risk"]
    matrices = [dict(_knox_matrix(t["rows"], t["knox"], minimum, lang), title=t["title"], summary=t["sentence"],
                     open=bool(t["sentence"]) or i == 0,
                     note=_("%(n)s incidents, %(pairs)s pairs within %(reach)s m.", lang,
                            n=fmt.number(t["n"], 0, locale=lang), pairs=fmt.number(t["knox"].pairs, 0, locale=lang),
                            reach=fmt.number(t["knox"].distance_m * t["knox"].distance_bands, 0, locale=lang)))
                for i, t in enumerate(out["tables"])]
    table = pd.concat([t["rows"] for t in out["tables"]], ignore_index=True)
    table["significant_text"] = [_("Yes", lang) if s else "" for s in table["significant"]]

    wards = _only(f, analysis._ward_frame(engine, f.boundary)[["code", "name", "geometry"]]).reset_index(drop=True)
    at_risk = res["at_risk"]
    at_risk = _only(f, at_risk[at_risk["table"].isin([t["category"] for t in out["tables"] if t["extent"]])])
    wards["count"] = wards["code"].map(at_risk.groupby("code").size()).fillna(0).astype(int)
    if minimum:
        wards = disclosure.wards(wards, minimum)
    count = _("At-risk places", lang)
    m = new_map()
    shown = _with_display_geometry(engine, f.boundary, wards)
    units = maps.choropleth(m, shown, "count", scheme="natural_breaks", palette="YlOrRd", legend_title=count,
                            name=count, number_format=lang,
                            tooltip_fields=[("name", _unit_word(shown, lang)), ("count", count)])
    _labels(m, shown, units, "count", lang)
    layers = {"wards": wards}
    if minimum:
        risk_title, risk_cols = _("At-risk places by ward", lang), RISK_WARD_COLUMNS
    else:
        circles = _risk_circles(risk)
        if len(circles):
            title = _("At-risk areas", lang)
            maps.categorical(m, circles, "level", [("at_risk", title, RISK_COLOUR)], name=title, legend_title=title,
                             fill_opacity=0.35,
                             tooltip_fields=[("place", _("Place", lang)), ("local_date", _("Date", lang)),
                                             ("category_label", _("Category", lang)),
                                             ("days_left", _("Days of raised risk left", lang))])
        layers["risk"] = circles
        risk_title, risk_cols = count, RISK_COLUMNS
    risk_cols = [(c, _(h, lang), k) for c, h, k in risk_cols]
    meta = {"knox": matrices, "summary": out["summary"], "term": "knox", "as_of": res["as_of"].isoformat(),
            "as_of_text": _("Counted from %(date)s, the last day with data in the period.", lang,
                            date=fmt.date(res["as_of"], locale=lang))}
    if res["n"] < res["total"]:
        meta["cut_note"] = _("Only the latest %(n)s of the %(total)s incidents of the period were compared.", lang,
                             n=fmt.number(res["n"], 0, locale=lang), total=fmt.number(res["total"], 0, locale=lang))
    if not out["summary"]:
        meta["none_text"] = _("No near repeats: incidents close to each other were not closer in time than chance "
                              "would make them.", lang)
    cols = [(c, _(h, lang), k) for c, h, k in KNOX_COLUMNS]
    return View(map=m, layer=wards, layers=layers, legends=[units["legend_html"]], table=table, table_columns=cols,
                table_title=_("Knox table", lang), extra_tables=[(risk_title, risk, risk_cols)], meta=meta,
                png={"column": "count", "title": _("Near-repeat warnings", lang), "scheme": "natural_breaks",
                     "cmap": "YlOrRd"})


#: The columns of the long Knox table (the page's second table and the downloads).
KNOX_COLUMNS = [("table", N_("Category"), TEXT), ("distance", N_("Distance"), TEXT), ("days", N_("Time apart"), TEXT),
                ("count", N_("Pairs observed"), INT), ("expected", N_("Pairs expected"), "float1"),
                ("ratio", N_("Knox ratio"), "float2"), ("p_value", "p", "float3"),
                ("significant_text", N_("Clearly more than chance"), TEXT)]
#: The analysts' at-risk places, one per recent incident.
RISK_COLUMNS = [("name", N_("Ward/commune"), TEXT), ("place", N_("Place"), TEXT), ("category_label", N_("Category"), TEXT),
                ("local_date", N_("Date"), DATE), ("radius_m", N_("Radius (m)"), INT),
                ("until", N_("Raised risk until"), DATE), ("days_left", N_("Days of raised risk left"), INT),
                ("warning", N_("Warning"), TEXT), ("lon", N_("Longitude"), "float6"), ("lat", N_("Latitude"), "float6")]
#: The at-risk places below analyst: per ward and window.
RISK_WARD_COLUMNS = [("name", N_("Ward/commune"), TEXT), ("category_label", N_("Category"), TEXT),
                     ("count", N_("Recent incidents"), INT), ("radius_m", N_("Radius (m)"), INT),
                     ("days_left", N_("Days of raised risk left"), INT), ("warning", N_("Warning"), TEXT)]


def analysis_tables(res: dict, minimum) -> list[dict]:
    """The tables of :func:`geo.analysis.near_repeat` as a user may see them: below analyst, a window whose
    pairs are fewer than ``minimum`` is not published."""
    if not minimum:
        return res["tables"]
    return [dict(t, extent=t["extent"] if t["extent"] and t["extent"]["observed"] >= minimum else None)
            for t in res["tables"]]


def _risk_circles(risk) -> gpd.GeoDataFrame:
    """The at-risk areas: a circle of the window's radius around each recent incident, in metres."""
    pts = gpd.GeoDataFrame(risk[["place", "local_date", "category_label", "days_left", "radius_m", "until", "name"]],
                           geometry=gpd.points_from_xy(risk["lon"], risk["lat"]), crs="EPSG:4326")
    if not len(pts):
        return pts.assign(level=[])
    metric = pts.to_crs(metric_crs_for(pts))
    metric["geometry"] = metric.buffer(np.maximum(metric["radius_m"].to_numpy(dtype=float), SAME_PLACE_DRAWN_M))
    return metric.to_crs("EPSG:4326").assign(level="at_risk")


def _risk_by_ward(risk, minimum, lang):
    """The at-risk places as users below analyst see them (:data:`RISK_WARD_COLUMNS`): per ward and
    window, the number of recent incidents (small ones withheld) and the longest risk left, in one
    sentence."""
    if not len(risk):
        return pd.DataFrame(columns=[c for c, _h, _k in RISK_WARD_COLUMNS] + ["code", "suppressed"])
    by = (risk.assign(category_label=[_("All categories", lang) if t == "" else c
                                      for t, c in zip(risk["table"], risk["category_label"])])
          .groupby(["code", "name", "table", "category_label"], dropna=False)
          .agg(count=("id", "size"), radius_m=("radius_m", "max"), days_left=("days_left", "max"),
               days=("days", "max")).reset_index())
    by = by.sort_values(["days_left", "count", "code"], ascending=[False, False, True]).reset_index(drop=True)
    # the days left follow from the latest incident's date: withheld with a small count, whose sentence
    # then gives the whole window
    by = disclosure.protect(by, minimum, ["count"], derived=("days_left",))
    by["warning"] = [risk_sentence(d if n is None else n, r, _("the latest incidents in %(ward)s", lang, ward=w), lang)
                     for n, d, r, w in zip(by["days_left"], by["days"], by["radius_m"], by["name"])]
    return by
#: A site of the sites page (and of a plan) by purpose and whether it exists already.
SITE_KINDS = {"camera": N_("Camera"), "patrol": N_("Patrol post")}
SITE_WORDS = {("camera", False): N_("Camera %(n)s"), ("camera", True): N_("Existing camera %(n)s"),
              ("patrol", False): N_("Patrol post %(n)s"), ("patrol", True): N_("Existing patrol post %(n)s")}
SITE_COLOURS = {False: "#b2182b", True: "#2166ac"}  # new, existing


def site_label(purpose: str, rank: int, existing: bool, ward: str | None, lang: str | None = None) -> str:
    """A site in words: "Camera 2, Phường 10 (Gò Vấp)"."""
    text = _(SITE_WORDS[(purpose, bool(existing))], lang, n=int(rank))
    return f"{text}, {ward}" if isinstance(ward, str) and ward else text


def busiest_text(hour_from, hour_to, weekdays, lang: str | None = None) -> str | None:
    """The busiest hours (end exclusive) and weekdays ("5,6") in words: "18h–22h, Thứ Bảy và Chủ nhật"."""
    if hour_from is None or (isinstance(hour_from, float) and np.isnan(hour_from)):
        return None
    days = tuple(int(d) for d in str(weekdays or "").split(",") if d.strip())
    return cat.time_label(int(hour_from), (int(hour_to) - 1) % 24, days, lang)


def site_frame(res: dict, purpose: str, minimum: int | None, lang: str | None = None) -> gpd.GeoDataFrame:
    """The chosen sites of :func:`geo.analysis.sites` as a page, a download and the API show them:
    label, kind, ward, WGS 84 and VN-2000 coordinates, covered incidents and share (%), busiest hours.
    Below analyst, a site covering fewer than ``minimum`` incidents keeps its place but not its figures."""
    out = res["sites"].copy()
    out["share_pct"] = out["share"] * 100
    if minimum:
        out = disclosure.protect(out, minimum, ["incidents"], derived=("share", "share_pct", "weight", "hour_from",
                                                                          "hour_to", "weekdays"))
    out["label"] = [site_label(purpose, r, e, n, lang) for r, e, n in zip(out["rank"], out["existing"], out["name"])]
    out["kind_label"] = [_(SITE_KINDS[purpose], lang)] * len(out)
    out["hours_text"] = [busiest_text(a, b, d, lang) for a, b, d in zip(out["hour_from"], out["hour_to"],
                                                                         out["weekdays"])]
    return out


def site_curve(res: dict, minimum: int | None, lang: str | None = None) -> pd.DataFrame:
    """The 1…k curve with its words ("Thêm camera thứ 3: phủ thêm 4,2%"). Below analyst, a step that
    adds fewer than ``minimum`` incidents is not published."""
    curve = res["curve"].copy()
    curve["share_pct"] = curve["share"] * 100
    curve["gain_pct"] = curve["gain"] * 100
    curve["added"] = curve["incidents"].diff().fillna(curve["incidents"]).astype(int)
    curve = curve[curve["k"] > 0].reset_index(drop=True)
    if minimum:
        small = (curve["added"] > 0) & (curve["added"] < minimum)
        for c in ("share_pct", "gain_pct", "added", "incidents", "share", "gain", "weight"):
            curve[c] = [None if h else v for v, h in zip(curve[c].astype(object), small)]
        curve["suppressed"] = small
    curve["text"] = [None if g is None or (isinstance(g, float) and np.isnan(g)) else
                     _("Site %(k)s adds %(gain)s", lang, k=int(k), gain=fmt.percent(g / 100, 1, locale=lang))
                     for k, g in zip(curve["k"], curve["gain_pct"])]
    return curve


def _sites(engine, f, args, new_map, lang):
    """Where k cameras or patrol teams cover the most incidents: the coverage circles numbered, the
    sites' table, the 1…k curve and the share the same sites cover out of sample. Below analyst, no
    incident points and small figures suppressed."""
    minimum, purpose = args["minimum"], args["purpose"]
    radius = methods.site_radius(purpose, args["radius"])
    existing = analysis.existing_sites(args["existing"])  # a bad line is the request's error (400)
    args["report"](0.0, STAGES["sites"])
    try:
        res = _site_result(engine, f, args, radius, existing)
    except analysis.InputError as exc:  # e.g. the whole city at 50 m: the page says what to choose instead
        res = {"sites": gpd.GeoDataFrame({c: [] for c in SITE_FIELDS}, geometry=[], crs="EPSG:4326"),
               "curve": pd.DataFrame({"k": [], "weight": [], "incidents": [], "share": [], "gain": []}),
               "share": 0.0, "incidents": 0, "count": 0, "check": None, "radius_m": radius, "vn2000": None,
               "problem": None, "message": errors.message(exc, lang)}
    args["report"](0.9, STAGES["drawing"])
    sites = site_frame(res, purpose, minimum, lang) if len(res["sites"]) else res["sites"].assign(
        share_pct=[], label=[], kind_label=[], hours_text=[])
    curve = site_curve(res, minimum, lang)
    m = new_map()
    count = _("Number of incidents", lang)
    units, wards = _count_units(m, engine, f, minimum, count, lang)
    title = _("Camera and patrol sites", lang)
    covered = _("Incidents covered", lang)
    if len(sites):
        crs = metric_crs_for(sites)
        for existing in (False, True):
            part = sites[sites["existing"] == existing]
            if len(part):
                circles = part.to_crs(crs).buffer(radius).to_crs("EPSG:4326")
                maps.spots(m, gpd.GeoDataFrame(part.drop(columns="geometry"), geometry=circles.to_numpy(),
                                               crs="EPSG:4326"),
                           number_field="rank", colour=SITE_COLOURS[existing],
                           name=_("Existing sites", lang) if existing else title,
                           tooltip_fields=[("label", _("Site", lang)), ("incidents", covered),
                                           ("hours_text", _("Busiest hours", lang))])
    if not minimum and res.get("message") is None:
        _incident_points(m, engine, f, args.get("points_max") or methods.POINTS.default, lang)
    cols = [("rank", "#", INT), ("label", _("Site", lang), TEXT), ("name", _("Ward/commune", lang), TEXT),
            ("incidents", covered, INT), ("share_pct", _("Share of the incidents (%)", lang), "float1"),
            ("hours_text", _("Busiest hours", lang), TEXT),
            ("lon", _("Longitude", lang), "float6"), ("lat", _("Latitude", lang), "float6"),
            ("x_vn2000", _("VN-2000 x (m)", lang), "float1"), ("y_vn2000", _("VN-2000 y (m)", lang), "float1")]
    keep = [c for c, _h, _k in cols] + ["kind_label", "existing", "code", "hour_from", "hour_to", "weekdays"] + (
        ["suppressed"] if "suppressed" in sites.columns else [])
    layer = gpd.GeoDataFrame(sites[keep], geometry=sites.geometry.to_numpy(), crs="EPSG:4326")
    curve_cols = [("k", _("Sites", lang), INT), ("share_pct", _("Share covered (%)", lang), "float1"),
                  ("gain_pct", _("Added by this site (%)", lang), "float1"), ("incidents", covered, INT),
                  ("text", _("In words", lang), TEXT)]
    meta = {"purpose": purpose, "radius_m": radius, "vn2000": res["vn2000"], "problem": res["problem"],
            "words": _site_words(res, purpose, radius, minimum, lang), "curve_max": float(curve["share_pct"].max()
                                                                                        if len(curve) else 0)}
    # the PNG draws the sites, or the units' counts when there is no site to draw
    png_layer, png_column = (layer, "incidents") if len(layer) else (wards, "count")
    return View(map=m, layer=png_layer, layers={"sites": layer}, legends=[units["legend_html"]],
                table=layer.drop(columns="geometry"), table_columns=cols, table_title=title,
                extra_tables=[(_("Coverage by number of sites", lang), curve, curve_cols)], meta=meta,
                png={"column": png_column, "title": title, "scheme": "natural_breaks", "cmap": "YlOrRd"})


SITE_FIELDS = ("rank", "existing", "lon", "lat", "x_vn2000", "y_vn2000", "code", "name", "incidents", "weight",
               "share", "hour_from", "hour_to", "weekdays", "timed")


def _site_result(engine, f, args, radius, existing):
    return analysis.sites(engine, boundary=f.boundary, start=f.start, end=f.end, categories=list(f.categories),
                          units=f.units, purpose=args["purpose"], k=args["k"], radius_m=radius,
                          spacing_m=args["spacing"], candidates=args["candidates"], gateway_m=args["gateway"],
                          existing=existing, weigh=args["weigh"],
                          progress=lambda x: args["report"](0.9 * x, STAGES["sites"]))


def _site_words(res, purpose, radius, minimum, lang) -> dict:
    """The page's sentences: what the sites cover, and what they cover out of sample."""
    if res.get("message"):
        return {"cover": res["message"]}
    new = int((~res["sites"]["existing"]).sum()) if len(res["sites"]) else 0
    what = _("cameras", lang) if purpose == "camera" else _("patrol posts", lang)
    small = minimum and 0 < res["incidents"] < minimum
    out = {"cover": _("%(n)s %(what)s within %(radius)s m cover %(share)s of the %(total)s incidents of the period.",
                      lang, n=fmt.number(new, 0, locale=lang), what=what, radius=fmt.number(radius, 0, locale=lang),
                      share=fmt.percent(res["share"], 1, locale=lang), total=fmt.number(res["count"], 0, locale=lang))
            if not small else _("The sites cover fewer than %(n)s incidents.", lang, n=minimum)}
    check = res["check"]
    if check is None:
        out["check"] = _("No other period of the same length has data to check these sites on.", lang)
    else:
        dates = f"{fmt.date(dt.date.fromisoformat(check['start']), locale=lang)} – " \
                f"{fmt.date(dt.date.fromisoformat(check['end']), locale=lang)}"
        msg = (N_("In the next period of the same length (%(dates)s) the same sites covered %(share)s of the incidents.")
               if check["which"] == "next" else
               N_("In the previous period of the same length (%(dates)s) the same sites covered %(share)s of the "
                  "incidents (the data do not reach the end of the next one yet)."))
        out["check"] = _(msg, lang, dates=dates, share=fmt.percent(check["share"], 1, locale=lang))
    return out


#: The forecasting methods in plain words, by their key in :data:`clustering.outlook.REGISTRY`; a key
#: not listed here (a method added to the engine later) is shown by the engine's own English label.
METHOD_LABELS = {"counts_prev": N_("Counts of the previous period"),
                 "kde_prev": N_("Density (250 m) of the previous period"),
                 "counts_12m": N_("Counts of the last 12 months"),
                 "counts_all": N_("Counts of the whole history"),
                 "kde_12m": N_("Density (300 m) of the last 12 months"),
                 "kde_all": N_("Density (300 m) of the whole history"),
                 "prospective": N_("Prospective hot spots (recent and near incidents)"),
                 "prospective_12m": N_("Prospective hot spots of the last 12 months"),
                 "kde_multi": N_("Density at several scales (100-800 m) of the last 12 months"),
                 "blend_12m": N_("Counts and density (300 m) of the last 12 months, blended"),
                 "boost": N_("Learned from past counts at several scales (gradient boosting)")}
#: A forecast horizon in words, as in "for a quarter ahead".
HORIZON_WORDS = {"month": N_("a month"), "quarter": N_("a quarter"), "half": N_("6 months"), "year": N_("a year")}
#: The forecast's warning codes (clustering.outlook) in plain words; their parameters fill the placeholders.
WARNINGS = {
    "short_history": N_("There was only enough data to check the methods on %(cutoffs)s past periods "
                        "(%(wanted)s are usual), so the choice of method is less certain."),
    "no_backtest": N_("There is not yet enough data to check any method on past periods: the forecast simply "
                      "repeats the counts of the period just before."),
    "not_clear": N_("No method forecast clearly better than the simplest ones (the counts or the density of the "
                    "period just before): read the figures as a rough guide."),
    "proxy_horizon": N_("No past period is long enough to check a forecast %(asked)s ahead: the method was "
                        "chosen by checking forecasts of %(horizon)s."),
    "no_last_year": N_("The data do not reach back to the same period last year: there is nothing to compare "
                       "the forecast with."),
}
GENERIC_WARNING = N_("This forecast comes with a caveat that this page cannot put in words yet (%(code)s).")
#: Figures of the ward table that are counts (or forecasts of one): suppressed below analyst.
FORECAST_COUNTS = ["last_year", "expected"]
FORECAST_DERIVED = ("low80", "high80", "low95", "high95", "change_text", "range80", "range95")


def method_label(key: str, lang: str | None = None) -> str:
    """A forecasting method in the reader's words (:data:`METHOD_LABELS`), else the engine's label."""
    if key in METHOD_LABELS:
        return _(METHOD_LABELS[key], lang)
    spec = REGISTRY.get(key)
    return spec.label if spec else key


def warning_text(code: str, params: dict, horizon: str, lang: str | None = None) -> str:
    """One warning of the forecast as a sentence; a code without words gets the generic one."""
    values = {k: _(HORIZON_WORDS[v], lang) if k == "horizon" and v in HORIZON_WORDS else
              fmt.number(v, locale=lang) if isinstance(v, (int, float)) else v for k, v in (params or {}).items()}
    values.setdefault("asked", _(HORIZON_WORDS.get(horizon, horizon), lang))
    if code in WARNINGS:
        try:
            return _(WARNINGS[code], lang, **values)
        except (KeyError, ValueError, TypeError):  # the engine gave other parameters than these words take
            pass
    return _(GENERIC_WARNING, lang, code=code)


def forecast_wards(o, lang: str | None = None, minimum: int | None = None) -> pd.DataFrame:
    """The forecast per ward as the page, the downloads and the API give it: ``rank``, ``code``, ``name``,
    ``expected``, the 80 % and 95 % ranges, ``last_year`` and ``change_text``; below analyst the small
    counts suppressed (with their ranges and change) and a ``suppressed`` flag."""
    out = o.wards[["rank", "code", "name", "expected", "low80", "high80", "low95", "high95", "last_year"]].copy()
    for col in ("low80", "high80", "low95", "high95"):
        out[col] = out[col].astype(int)
    out["change_text"] = [None if fmt.missing(b) else fmt.count_change(round(e, 1), b, locale=lang)
                          for e, b in zip(out["expected"], out["last_year"])]
    out["method"] = o.count_method or o.chosen
    if minimum:
        out = disclosure.protect(out, minimum, FORECAST_COUNTS, derived=FORECAST_DERIVED)
    return out


def forecast_backtest(o, lang: str | None = None) -> pd.DataFrame:
    """The backtest per method × coverage, best method first: hit rate and PAI with their 95 %
    intervals, a perfect forecast's PAI and the score against the best simple baseline."""
    methods = o.methods.set_index("method")
    bt = o.backtest.copy()
    bt["order"] = bt["method"].map({m: i for i, m in enumerate(o.methods["method"])})
    bt = bt.sort_values(["order", "coverage"], kind="stable").drop(columns="order").reset_index(drop=True)
    bt["label"] = [method_label(m, lang) for m in bt["method"]]
    bt["vs_baseline"] = methods["vs_baseline"].reindex(bt["method"]).to_numpy()
    for col in ("hit_rate", "hit_low", "hit_high"):
        bt[col.replace("rate", "pct") if col == "hit_rate" else col + "_pct"] = 100 * bt[col]
    bt["vs_baseline_pct"] = 100 * bt["vs_baseline"]
    bt["coverage_text"] = [fmt.percent(c, 0, locale=lang) for c in bt["coverage"]]
    bt["chosen_text"] = [_("Chosen", lang) if c else "" for c in bt["chosen"]]
    return bt


def forecast_words(o, period, moved: bool, last_day, lang: str | None = None) -> dict:
    """The forecast's sentences: heading, history, the winner with its hit rate at 5 %, the ranges'
    measured coverage and every warning."""
    words = {"heading": _("Forecast for %(period)s", lang, period=period.label(lang, with_dates=True)),
             "history": _("From the %(n)s incidents up to %(last)s.", lang, n=fmt.number(o.n_history, locale=lang),
                          last=fmt.date(o.start - dt.timedelta(days=1), locale=lang))}
    if moved:
        words["moved"] = _("The data end on %(last)s, so the forecast starts after the last full month of data, "
                           "on %(start)s.", lang, last=fmt.date(last_day, locale=lang),
                           start=fmt.date(o.start, locale=lang))
    at5 = o.backtest[(o.backtest["method"] == o.chosen) & np.isclose(o.backtest["coverage"], 0.05)]
    if o.cutoffs and len(at5) and not fmt.missing(at5["hit_rate"].iloc[0]):
        words["winner"] = _("The method “%(method)s” forecast best over the last %(n)s periods checked: it caught "
                            "%(hit)s of the incidents on %(area)s of the area.", lang, method=method_label(o.chosen, lang),
                            n=len(o.cutoffs), hit=fmt.percent(at5["hit_rate"].iloc[0], 0, locale=lang),
                            area=fmt.percent(0.05, 0, locale=lang))
    else:
        words["winner"] = _("The forecast uses the method “%(method)s”: no past period could be checked yet.", lang,
                            method=method_label(o.chosen, lang))
    if o.count_method and o.count_method != o.chosen:
        words["counts"] = _("The expected count of each unit follows the method “%(method)s”, which shared out the "
                            "incidents between the units most closely in the past periods checked.", lang,
                            method=method_label(o.count_method, lang))
    cov = o.interval_coverage
    if cov.get("pairs") and not fmt.missing(cov.get("80")):
        words["coverage"] = _("In the past periods checked, the %(level80)s range held the actual count in "
                              "%(share80)s of the cases and the %(level95)s range in %(share95)s.", lang,
                              level80=fmt.percent(0.8, 0, locale=lang), level95=fmt.percent(0.95, 0, locale=lang),
                              share80=fmt.percent(cov["80"], 0, locale=lang),
                              share95=fmt.percent(cov["95"], 0, locale=lang))
    elif o.cutoffs:
        words["coverage"] = _("The data are still too short to check these ranges on past periods of this length.",
                              lang)
    words["warnings"] = [warning_text(code, params, o.horizon, lang) for code, params in o.warnings]
    return words


def top_cells(o) -> gpd.GeoDataFrame:
    """The top 1, 5 and 10 % of the area as one merged outline per class (``top``: its coverage),
    in WGS 84: a few polygons instead of thousands of squares."""
    rows = []
    for c in sorted(set(o.cells["top"])):
        part = o.cells[o.cells["top"] == c]
        if len(part):
            rows.append({"top": float(c), "cells": len(part), "geometry": shapely.coverage_union_all(part.geometry.values)})
    frame = gpd.GeoDataFrame(rows, columns=["top", "cells", "geometry"], geometry="geometry", crs=o.cells.crs)
    return frame.to_crs("EPSG:4326")


#: Headings of the forecast's ranges ("Khoảng 80%: từ"), with the level as a parameter.
RANGE, RANGE_FROM, RANGE_TO = N_("%(level)s range"), N_("%(level)s range: from"), N_("%(level)s range: to")


def _level(message: str, level: int, lang: str | None) -> str:
    """A heading of a forecast range ("Khoảng 80%: từ") with the level as the reader writes it."""
    return _(message, lang, level=fmt.percent(level / 100, 0, locale=lang))


def _forecast(engine, f, args, new_map, lang):
    report, minimum = args["report"], args["minimum"]
    report(0.0, STAGES["forecast"])
    start, moved = analysis.forecast_start(engine, f.end, f.cut)
    period = analysis.forecast_period(start, args["horizon"])

    def progress(x):
        report(0.9 * x, STAGES["backtest"] if x < 0.8 else STAGES["intervals"])
    o = analysis.outlook(engine, boundary=f.boundary, start=start, horizon=args["horizon"],
                         categories=list(f.categories), progress=progress)
    report(0.9, STAGES["drawing"])
    m = new_map()
    heading = _("Forecast for %(period)s", lang, period=period.label(lang, with_dates=True))
    title = _("Expected number of incidents", lang)
    if o is None:  # nothing before the start: the page says so instead of failing
        wards = _only(f, analysis._ward_frame(engine, f.boundary)[["code", "name", "geometry"]]).reset_index(drop=True)
        shown = _with_display_geometry(engine, f.boundary, wards)
        maps.outlines(m, shown, label_field="name", label_min_zoom=0, label_name=_("Unit names", lang))
        message = _("There are no incidents of this selection before %(start)s: there is nothing to forecast from. "
                    "Choose a later period or other categories.", lang, start=fmt.date(start, locale=lang))
        return View(map=m, layer=wards, layers={"wards": wards}, meta={"words": {"heading": heading},
                                                                       "message": message},
                    png={"column": "name", "title": title})
    span = analysis.data_span(engine)
    meta = {"words": forecast_words(o, period, moved, span[1] if span else None, lang), "cell_m": o.cell_m,
            "start": o.start.isoformat(), "end": o.end.isoformat(), "horizon": o.horizon, "method": o.chosen}
    table = _only(f, forecast_wards(o, lang, minimum)).reset_index(drop=True)
    total = float(pd.to_numeric(_only(f, o.wards)["expected"]).sum())
    meta["total_text"] = _("Expected in all: %(n)s incidents.", lang, n=fmt.number(total, 0, locale=lang))
    layer = table.merge(analysis._ward_frame(engine, f.boundary)[["code", "geometry"]].reset_index(drop=True),
                        on="code", how="left")
    layer = gpd.GeoDataFrame(layer, geometry="geometry", crs="EPSG:4326")
    shown = _with_display_geometry(engine, f.boundary, layer)
    for level in (80, 95):
        shown[f"range{level}"] = [None if fmt.missing(lo) else f"{fmt.number(lo, 0, locale=lang)}–"
                                  f"{fmt.number(hi, 0, locale=lang)}" for lo, hi in
                                  zip(shown[f"low{level}"], shown[f"high{level}"])]
    res = maps.choropleth(m, shown, "expected", scheme="natural_breaks", palette="YlOrRd", legend_title=title,
                          name=title, number_format=lang,
                          tooltip_fields=[("name", _unit_word(shown, lang)), ("expected", title),
                                          ("range80", _level(RANGE, 80, lang)),
                                          ("range95", _level(RANGE, 95, lang)),
                                          ("last_year", _("Same period last year", lang))])
    cells = _clipped(engine, f, top_cells(o))
    classes = sorted(set(o.cells["top"]))
    share_words = {c: _("The %(share)s of the area most at risk", lang, share=fmt.percent(c, 0, locale=lang))
                   for c in classes}
    cells["level"] = [f"top{i}" for i in map(classes.index, cells["top"])]
    cells["label"] = [share_words[t] for t in cells["top"]]
    cells_title = _("Most at-risk areas (cells of %(cell)s m)", lang, cell=fmt.number(o.cell_m, 0, locale=lang))
    colours = palette.ramp("PuRd", max(len(classes), 3))[::-1]
    maps.categorical(m, cells, "level", [(f"top{i}", share_words[c], colours[i]) for i, c in enumerate(classes)],
                     name=cells_title, legend_title=cells_title, tooltip_fields=[("label", cells_title)])
    _labels(m, shown, res, "expected", lang)
    cols = [("rank", "#", INT), ("code", _("Code", lang), TEXT), ("name", _unit_word(shown, lang), TEXT),
            ("expected", _("Expected incidents", lang), "float1"),
            *((f"{end}{level}", _level(words, level, lang), INT) for level in (80, 95)
              for end, words in (("low", RANGE_FROM), ("high", RANGE_TO))),
            ("last_year", _("Same period last year", lang), INT),
            ("change_text", _("Against the same period last year", lang), TEXT)]
    bt = forecast_backtest(o, lang)
    bt_cols = [("label", _("Method", lang), TEXT), ("coverage_text", _("Share of the area flagged", lang), TEXT),
               ("hit_pct", _("Incidents caught (%)", lang), "float1"),
               ("hit_low_pct", _("Incidents caught: at least (%)", lang), "float1"),
               ("hit_high_pct", _("Incidents caught: at most (%)", lang), "float1"),
               ("pai", _("Accuracy (PAI)", lang), "float1"), ("pai_low", _("PAI: at least", lang), "float1"),
               ("pai_high", _("PAI: at most", lang), "float1"),
               ("pai_max", _("PAI of a perfect forecast", lang), "float1"),
               ("vs_baseline_pct", _("Against the best simple method (%)", lang), "float1"),
               ("chosen_text", _("Chosen", lang), TEXT)]
    keep = ["rank", "code", "name", "expected", "low80", "high80", "low95", "high95", "last_year", "change_text",
            "method", *(["suppressed"] if "suppressed" in layer.columns else []), "geometry"]
    return View(map=m, layer=layer[keep], layers={"wards": layer[keep], "cells": cells[["top", "label", "cells",
                                                                                        "geometry"]]},
                legends=[res["legend_html"]], table=table, table_columns=cols, table_title=heading,
                extra_tables=[(_("How well each method forecast the past periods", lang), bt, bt_cols)],
                meta=meta, png={"column": "expected", "title": f"{heading}: {title}", "scheme": "natural_breaks",
                                "cmap": "YlOrRd"})
