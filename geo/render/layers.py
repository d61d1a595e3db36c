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

from clustering import periods as pr
from clustering.emerging import PATTERNS
from geo import analysis, disclosure
from geo.render import maps, palette

GI_CLASSES = list(palette.GI_COLOURS.items())  # (code, colour), hottest first
GI_LABELS = {
    "hot_99": ("Điểm nóng – tin cậy 99 %", "Hot Spot - 99% Confidence"),
    "hot_95": ("Điểm nóng – tin cậy 95 %", "Hot Spot - 95% Confidence"),
    "hot_90": ("Điểm nóng – tin cậy 90 %", "Hot Spot - 90% Confidence"),
    "not_significant": ("Không có ý nghĩa thống kê", "Not Significant"),
    "cold_90": ("Điểm lạnh – tin cậy 90 %", "Cold Spot - 90% Confidence"),
    "cold_95": ("Điểm lạnh – tin cậy 95 %", "Cold Spot - 95% Confidence"),
    "cold_99": ("Điểm lạnh – tin cậy 99 %", "Cold Spot - 99% Confidence"),
}
_CHANGE_TEXT = {
    "significant_increase": ("Tăng có ý nghĩa", "Significant increase"),
    "no_significant_change": ("Không thay đổi có ý nghĩa", "No significant change"),
    "significant_decrease": ("Giảm có ý nghĩa", "Significant decrease"),
}
#: code -> (colour, label_vi, label_en), colours from geo.render.palette.
CHANGE_CLASSES = {c: (palette.CHANGE_COLOURS[c], *t) for c, t in _CHANGE_TEXT.items()}
PATTERN_COLOURS = palette.EMERGING_COLOURS
MEASURE_LABELS = {
    "count": ("Số vụ", "Incidents"), "per_km2": ("Số vụ / km²", "Incidents per km²"),
    "per_10k": ("Số vụ / 10.000 dân", "Incidents per 10,000 residents"),
    "harm": ("Số vụ quy đổi theo mức độ", "Harm-weighted count"),
}
EXPORTS = [("geojson", ("GeoJSON (QGIS)", "GeoJSON (QGIS)")), ("csv", ("Bảng CSV (Excel)", "Table CSV (Excel)")),
           ("png", ("Ảnh bản đồ PNG", "Map image PNG")), ("pdf", ("Báo cáo PDF (1 trang)", "PDF report (1 page)"))]


@dataclass
class View:
    map: object
    layer: gpd.GeoDataFrame  # the main layer, for the GeoJSON export
    legends: list = field(default_factory=list)
    table: pd.DataFrame | None = None
    table_columns: list = field(default_factory=list)  # (field, header, numeric)
    table_title: str = ""
    meta: dict = field(default_factory=dict)
    extra_parts: dict = field(default_factory=dict)
    query_extra: dict = field(default_factory=dict)
    png: dict = field(default_factory=dict)  # how to draw the PNG export: column, categorical, title
    parts: dict = field(default_factory=dict)  # the rendered map (geo.render.maps.parts)

    @property
    def exports(self):
        lang = self.meta.get("lang", "vi")
        return [(k, t[0] if lang == "vi" else t[1]) for k, t in EXPORTS]

    @property
    def table_rows(self):
        if self.table is None:
            return []
        lang = self.meta.get("lang", "vi")
        minimum = self.meta.get("min_count")
        table = disclosure.labelled(self.table, minimum) if minimum else self.table
        rows = []
        for rec in table.to_dict("records"):
            rows.append([(fmt(rec.get(f), lang) if num and not isinstance(rec.get(f), str)
                          else ("" if rec.get(f) is None else rec.get(f)), num)
                         for f, _, num in self.table_columns])
        return rows


def _numeric(col: pd.Series) -> pd.Series:
    """Sort key: a column of numbers with suppressed figures (None) sorts as numbers, None last."""
    if col.dtype == object and col.map(lambda v: v is None or isinstance(v, (int, float, np.number))).all():
        return pd.to_numeric(col, errors="coerce")
    return col


def fmt(x, lang: str, digits: int | None = None) -> str:
    """A number as the reports write it: 1.234,5 in Vietnamese, 1,234.5 in English."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    if isinstance(x, str):  # a suppressed figure's "< 5"
        return x
    if isinstance(x, (int, np.integer)) or (isinstance(x, float) and float(x).is_integer() and digits is None):
        digits = 0
    elif digits is None:
        digits = 4 if abs(x) < 0.1 else 1
    return pr.format_number_vi(x, digits) if lang == "vi" else pr.format_number_en(x, digits)


def _t(pair, lang):
    return pair[0] if lang == "vi" else pair[1]


def _display(engine, boundary):
    """Ward polygons simplified for display (shared borders kept), cached per version."""
    return analysis.cached("display", engine, {"b": boundary},
                           lambda: maps.display_geometry(analysis._ward_frame(engine, boundary)))


def _with_display_geometry(engine, boundary, gdf):
    disp = _display(engine, boundary).set_index("code")["geometry"]
    out = gdf.copy()
    out["geometry"] = disp.reindex(out["code"]).to_numpy()
    return gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")


def _labels(m, shown, drawn):
    """Ward names on the map, reusing the polygons already drawn (the geometry is sent once)."""
    maps.outlines(m, shown, label_field="name", lines=False, layer=drawn["layer"])


def _focus(engine, f):
    """Where the map opens: the wards that hold the period's incidents (an outlying island such as
    Côn Đảo would otherwise shrink the city to a corner), else the whole boundary version."""
    counts = analysis.ward_counts(engine, boundary=f.boundary, start=f.start, end=f.end,
                                  categories=list(f.categories))
    busy = counts[counts["count"] > 0]
    return (busy if len(busy) else counts).total_bounds


def _new_map(engine, f, static_url, lang, tiles_url, tiles_attribution, dual=False):
    bounds = _focus(engine, f)
    if dual:
        return maps.dual_map(bounds, static_url=static_url, lang=lang)
    return maps.base_map(bounds, static_url=static_url, tiles_url=tiles_url,
                         tiles_attribution=tiles_attribution, lang=lang)


def build(page, engine, f, args, *, static_url, lang, tiles_url=None, tiles_attribution="", minimum=None):
    """``minimum``: the figures are those users below analyst may see (:mod:`geo.disclosure`)."""
    make = {"overview": _overview, "hotspots": _hotspots, "compare": _compare, "change": _change,
            "trends": _trends, "complex": _complex, "forecast": _forecast}[page]
    args = dict(args, minimum=minimum)
    view = make(engine, f, args, lambda dual=False: _new_map(engine, f, static_url, lang, tiles_url,
                                                             tiles_attribution, dual), lang)
    view.meta["lang"] = lang
    view.meta["min_count"] = minimum
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
    if args["minimum"]:
        layer = disclosure.wards(layer, args["minimum"])
    m = new_map()
    title = _t(MEASURE_LABELS[measure], lang)
    shown = _with_display_geometry(engine, f.boundary, layer)
    res = maps.choropleth(m, shown, measure, scheme=scheme, palette="YlOrRd", legend_title=title,
                          tooltip_fields=[("name", _t(("Phường/xã", "Ward"), lang)),
                                          ("code", _t(("Mã", "Code"), lang)), (measure, title)],
                          name=title, number_format=lang)
    _labels(m, shown, res)
    order = pd.to_numeric(layer[measure], errors="coerce")
    if "suppressed" in layer.columns:  # a suppressed ward has 1 to 4 incidents: after the others, before zero
        order = order.mask(layer["suppressed"].astype(bool) & order.isna(), 1e-9)
    table = layer.drop(columns="geometry").assign(_order=order.to_numpy()) \
        .sort_values(["_order", "code"], ascending=[False, True]).drop(columns="_order").head(30)
    cols = [("code", _t(("Mã", "Code"), lang), False), ("name", _t(("Phường/xã", "Ward"), lang), False),
            ("count", _t(MEASURE_LABELS["count"], lang), True),
            ("per_km2", _t(MEASURE_LABELS["per_km2"], lang), True),
            ("harm", _t(MEASURE_LABELS["harm"], lang), True)]
    return View(map=m, layer=layer, legends=[res["legend_html"]], table=table, table_columns=cols,
                table_title=_t(("Các phường/xã có số liệu cao nhất", "Wards with the highest figures"), lang),
                png={"column": measure, "title": title, "scheme": scheme, "cmap": "YlOrRd"})


def _hotspots(engine, f, args, new_map, lang):
    cats = list(f.categories)
    gi = analysis.gistar_wards(engine, boundary=f.boundary, start=f.start, end=f.end, categories=cats,
                               permutations=args["permutations"])
    layer = gi[["code", "name", "count", "gi_z", "gi_p", "gi_q", "hotspot", "hotspot_code", "geometry"]] \
        .reset_index(drop=True)
    minimum = args["minimum"]
    if minimum:
        layer = disclosure.wards(layer, minimum)
    m = new_map()
    shown = _with_display_geometry(engine, f.boundary, layer)
    legends = []
    gi_title = _t(("Điểm nóng Gi* (Getis-Ord)", "Gi* hot spots (Getis-Ord)"), lang)
    gi_layer = maps.categorical(
        m, shown, "hotspot_code", [(c, _t(GI_LABELS[c], lang), col) for c, col in GI_CLASSES],
        name=gi_title, legend_title=gi_title,
        tooltip_fields=[("name", _t(("Phường/xã", "Ward"), lang)), ("count", _t(("Số vụ", "Incidents"), lang)),
                        ("gi_z", "z"), ("gi_p", "p")])
    legends.append(gi_layer["legend_html"])
    meta = {}
    try:
        if minimum:
            disclosure.check_selection(engine, minimum, kde=True, boundary=f.boundary, start=f.start, end=f.end,
                                       categories=cats)
        surface = analysis.kde_surface(engine, boundary=f.boundary, start=f.start, end=f.end, categories=cats,
                                       bandwidth_m=args["bandwidth"], cell_m=args["cell"], kernel=args["kernel"])
        contours = surface.contours()
        if minimum:
            contours = disclosure.selection_contours(engine, contours, minimum, boundary=f.boundary, start=f.start,
                                                     end=f.end, categories=cats)
        legends.append(maps.contours(m, contours)["legend_html"])
        meta.update(bandwidth_m=surface.bandwidth_m, cell_m=surface.cell_m)
    except analysis.InputError as exc:
        meta["kde_error"] = str(exc)
    spots = None
    try:
        spots = analysis.dbscan_spots(engine, boundary=f.boundary, start=f.start, end=f.end, categories=cats,
                                      eps_m=args["eps"], min_samples=args["min_samples"])
        if minimum:
            spots = disclosure.spots(spots, minimum)
        if len(spots):
            maps.spots(m, spots, number_field="spot_id", name=_t(("Cụm điểm DBSCAN", "DBSCAN spots"), lang),
                       tooltip_fields=[("spot_id", "#"), ("count", _t(("Số vụ", "Incidents"), lang)),
                                       ("categories", _t(("Loại chính", "Main categories"), lang))])
    except analysis.InputError as exc:
        meta["dbscan_error"] = str(exc)
    _labels(m, shown, gi_layer)
    table, cols = None, []
    if spots is not None and len(spots):
        table = spots.drop(columns="geometry").sort_values("count", ascending=False)
        cols = [("spot_id", "#", False), ("count", _t(("Số vụ", "Incidents"), lang), True),
                ("categories", _t(("Loại chính", "Main categories"), lang), False),
                ("ward_codes", _t(("Phường/xã", "Wards"), lang), False),
                ("first_date", _t(("Từ ngày", "First"), lang), False),
                ("last_date", _t(("Đến ngày", "Last"), lang), False)]
    return View(map=m, layer=layer, legends=[lg for lg in legends if lg], table=table, table_columns=cols,
                table_title=_t(("Các cụm điểm DBSCAN", "DBSCAN spots"), lang), meta=meta,
                png={"column": "hotspot_code", "title": gi_title,
                     "categorical": {c: (_t(GI_LABELS[c], lang), col) for c, col in GI_CLASSES}})


def _compare_data(engine, f, args):
    gdf, meta = analysis.compare_wards(engine, boundary=f.boundary, start=f.start, end=f.end,
                                       base_start=args.get("base_start"), base_end=args.get("base_end"),
                                       categories=list(f.categories))
    return disclosure.compare(gdf, meta, args["minimum"]) if args.get("minimum") else (gdf, meta)


def _compare(engine, f, args, new_map, lang):
    gdf, meta = _compare_data(engine, f, args)
    layer = gdf.reset_index(drop=True)
    shown = _with_display_geometry(engine, f.boundary, layer)
    dual = new_map(dual=True)
    now_title = _t(("Kỳ này", "This period"), lang)
    base_title = _t(("Cùng kỳ", "Base period"), lang)
    legend = maps.choropleth(dual.m1, shown, "count", scheme="natural_breaks", palette="YlOrRd",
                             legend_title=now_title, name=now_title, number_format=lang,
                             tooltip_fields=[("name", _t(("Phường/xã", "Ward"), lang)),
                                             ("count", now_title), ("base_count", base_title)])
    right = maps.choropleth(dual.m2, shown, "base_count", bins=legend["bins"], palette="YlOrRd",
                    legend_title=base_title, name=base_title, number_format=lang,
                    tooltip_fields=[("name", _t(("Phường/xã", "Ward"), lang)),
                                    ("count", now_title), ("base_count", base_title)])
    _labels(dual.m1, shown, legend)
    _labels(dual.m2, shown, right)
    table = layer.drop(columns="geometry").sort_values(["change_class", "p_value"], key=_numeric)
    cols = [("code", _t(("Mã", "Code"), lang), False), ("name", _t(("Phường/xã", "Ward"), lang), False),
            ("count", now_title, True), ("base_count", base_title, True),
            ("change", _t(("Chênh lệch", "Change"), lang), True), ("change_pct", "%", True),
            ("p_value", "p", True), ("q_value", "q", True),
            ("change_label", _t(("Kết luận", "Result"), lang), False)]
    table["change_label"] = table["change_class"].map(lambda c: _t(CHANGE_CLASSES[c][1:], lang))
    total = meta["total"]
    base = pr.custom(*[dt.date.fromisoformat(d) for d in meta["base_period"]])
    if f.period != "custom" and not args.get("base_start"):  # cùng kỳ of a named period keeps its name
        base = pr.parse_period(f.period + (":stat" if f.cut == "stat" else "")).same_period_last_year()
    if total.get("suppressed"):
        small = disclosure.label(args["minimum"])
        total_text = _t(("Toàn địa bàn: ", "Whole area: "), lang) + " / ".join(
            small if total[k] is None else fmt(total[k], lang) for k in ("count", "base_count"))
    else:
        total_text = (_t(("Toàn địa bàn: ", "Whole area: "), lang)
                      + f"{fmt(total['count'], lang)} / {fmt(total['base_count'], lang)} — "
                      + (total["change_text_vi"] if lang == "vi" else total["change_text_en"])
                      + f" (p = {fmt(total['p_value'], lang, 4)})")
    meta = dict(meta, base_label=_t(("Kỳ so sánh: ", "Base period: "), lang) + base.label(lang, with_dates=True),
                total_text=total_text)
    return View(map=dual, layer=layer, legends=[legend["legend_html"]], table=table, table_columns=cols,
                table_title=_t(("Thay đổi theo phường/xã", "Change by ward"), lang), meta=meta,
                png={"column": "change_class", "title": _t(("Thay đổi so với cùng kỳ", "Change"), lang),
                     "categorical": {c: (_t(v[1:], lang), v[0]) for c, v in CHANGE_CLASSES.items()}})


def _change(engine, f, args, new_map, lang):
    gdf, meta = _compare_data(engine, f, args)
    layer = gdf.reset_index(drop=True)
    shown = _with_display_geometry(engine, f.boundary, layer)
    m = new_map()
    title = _t(("Thay đổi so với cùng kỳ", "Change against the base period"), lang)
    legend = maps.categorical(m, shown, "change_class",
                              [(c, _t(v[1:], lang), v[0]) for c, v in CHANGE_CLASSES.items()],
                              name=title, legend_title=title,
                              tooltip_fields=[("name", _t(("Phường/xã", "Ward"), lang)),
                                              ("change_text_vi" if lang == "vi" else "change_text_en", "%"),
                                              ("p_value", "p"), ("q_value", "q")])
    _labels(m, shown, legend)
    return View(map=m, layer=layer, legends=[legend["legend_html"]], meta=meta)


def _trends(engine, f, args, new_map, lang):
    gdf, _ = analysis.emerging_wards(engine, boundary=f.boundary, start=f.start, end=f.end,
                                     categories=list(f.categories), bins=args["bins"])
    if args["minimum"]:
        gdf = disclosure.series(gdf, args["minimum"])
    small = disclosure.label(args["minimum"]) if args["minimum"] else ""
    layer = gdf.reset_index(drop=True).rename(columns={"pattern": "trend"})
    labels = PATTERNS.set_index("code")
    layer["trend_label"] = layer["trend"].map(labels["label_vi" if lang == "vi" else "label"])
    layer["series_text"] = layer["series"].map(lambda s: " ".join(small if v is None else str(int(v)) for v in s))
    m = new_map()
    shown = _with_display_geometry(engine, f.boundary, layer.drop(columns="series"))
    title = _t(("Xu hướng điểm nóng", "Emerging hot spots"), lang)
    present = [c for c in PATTERNS["code"] if c in set(layer["trend"])]
    legend = maps.categorical(m, shown, "trend", [(c, labels.at[c, "label_vi" if lang == "vi" else "label"],
                                                   PATTERN_COLOURS[c]) for c in present],
                              name=title, legend_title=title,
                              tooltip_fields=[("name", _t(("Phường/xã", "Ward"), lang)),
                                              ("trend_label", title), ("series_text", _t(("Chuỗi", "Series"), lang))])
    _labels(m, shown, legend)
    table = layer[layer["trend"] != "no_pattern"].drop(columns=["geometry", "series"])
    cols = [("code", _t(("Mã", "Code"), lang), False), ("name", _t(("Phường/xã", "Ward"), lang), False),
            ("trend_label", title, False), ("trend_z", "z (Mann-Kendall)", True),
            ("series_text", _t(("Số vụ theo kỳ", "Incidents per bin"), lang), False)]
    return View(map=m, layer=layer.drop(columns="series"), legends=[legend["legend_html"]], table=table,
                table_columns=cols,
                table_title=title, meta={"bins": gdf.attrs["bins"]},
                png={"column": "trend", "title": title,
                     "categorical": {c: (labels.at[c, "label_vi" if lang == "vi" else "label"], PATTERN_COLOURS[c])
                                     for c in present}})


def _complex(engine, f, args, new_map, lang):
    cats = list(f.categories)
    if args["unit"] == "spot":
        gdf = analysis.complex_spots(engine, boundary=f.boundary, start=f.start, end=f.end, categories=cats,
                                     eps_m=args["eps"], min_samples=args["min_samples"])
        if args["minimum"]:
            gdf = disclosure.ranked(disclosure.spots(gdf, args["minimum"]), args["minimum"])
        shown = gdf
    else:
        gdf = analysis.complex_areas(engine, boundary=f.boundary, start=f.start, end=f.end, categories=cats)
        if args["minimum"]:
            gdf = disclosure.ranked(gdf, args["minimum"])
        shown = _with_display_geometry(engine, f.boundary, gdf)
    reason = "reason_vi" if lang == "vi" else "reason_en"
    layer = gdf[["rank", "code", "name", "score", "count", "base_count", "change_pct", reason, "geometry",
                 *(["suppressed"] if "suppressed" in gdf.columns else [])]]
    shown = shown[layer.columns]
    m = new_map()
    title = _t(("Điểm phức tạp (0–100)", "Complexity score (0–100)"), lang)
    res = maps.choropleth(m, shown, "score", scheme="quantiles", palette="PuRd", legend_title=title, name=title,
                          number_format=lang,
                          tooltip_fields=[("rank", "#"), ("name", _t(("Địa bàn", "Area"), lang)), ("score", title),
                                          (reason, _t(("Lý do", "Reason"), lang))])
    if args["unit"] == "ward":
        _labels(m, shown, res)
    table = layer.drop(columns="geometry").sort_values("rank").head(30)
    cols = [("rank", "#", True), ("name", _t(("Địa bàn", "Area"), lang), False), ("score", title, True),
            ("count", _t(("Số vụ", "Incidents"), lang), True), ("change_pct", "%", True),
            (reason, _t(("Lý do", "Reason"), lang), False)]
    return View(map=m, layer=layer, legends=[res["legend_html"]], table=table, table_columns=cols,
                table_title=_t(("Địa bàn đề xuất chuyển hóa", "Candidate areas for the plan"), lang),
                png={"column": "score", "title": title, "scheme": "quantiles", "cmap": "PuRd"})


METHOD_LABELS = {"naive_kde": ("KDE kỳ trước (3 tháng)", "Previous-period KDE (3 months)"),
                 "prospective": ("Điểm nóng tiên đoán (Bowers và cộng sự)", "Prospective hot spots (Bowers et al.)"),
                 "counts": ("Đếm số vụ 3 tháng", "Counts over 3 months")}
METHOD_COLOURS = {"naive_kde": "#d95f02", "prospective": "#7570b3", "counts": "#1b9e77"}


def _forecast(engine, f, args, new_map, lang):
    fc = analysis.forecast(engine, boundary=f.boundary, end=f.end, categories=list(f.categories),
                           method=args["method"])
    wards = fc["wards"].merge(_display(engine, f.boundary)[["code", "geometry"]].reset_index(drop=True), on="code")
    wards = gpd.GeoDataFrame(wards, geometry="geometry", crs="EPSG:4326")
    wards["share_pct"] = 100 * wards["share"]
    m = new_map()
    title = _t(("Dự báo tháng sau: tỷ lệ số vụ (%)", "Next month's forecast: share of incidents (%)"), lang)
    res = maps.choropleth(m, wards, "share_pct", scheme="quantiles", palette="PuRd", legend_title=title,
                          name=title, number_format=lang,
                          tooltip_fields=[("name", _t(("Phường/xã", "Ward"), lang)), ("share_pct", "%"),
                                          ("rank", "#")])
    top = fc["cells"].assign(level="top5")
    cells_title = _t(("5 % diện tích có nguy cơ cao nhất", "The 5 % of the area most at risk"), lang)
    maps.categorical(m, top, "level", [("top5", cells_title, "#49006a")], name=cells_title,
                     legend_title=cells_title, tooltip_fields=[("cells", _t(("Số ô", "Cells"), lang))])
    _labels(m, wards, res)
    summary = analysis.backtest_summary(engine, boundary=f.boundary, end=f.end, categories=list(f.categories))
    table = summary.pivot(index="coverage", columns="method", values="pai").reset_index()
    table["coverage"] = (100 * table["coverage"]).round().astype(int).astype(str) + " %"
    cols = [("coverage", _t(("Diện tích", "Coverage"), lang), False)] + [
        (mth, "PAI – " + _t(METHOD_LABELS[mth], lang), True) for mth in analysis.FORECAST_METHODS]
    return View(map=m, layer=wards, legends=[res["legend_html"]], table=table, table_columns=cols,
                table_title=_t(("Kiểm định lùi 6 tháng: chỉ số PAI theo diện tích", "Six-month backtest: PAI by "
                                "coverage"), lang),
                meta={"curves": pai_curves(summary, lang), "cell_m": fc["cell_m"]},
                png={"column": "share_pct", "title": title, "scheme": "quantiles", "cmap": "PuRd"})


def pai_curves(summary: pd.DataFrame, lang: str, width: int = 340, height: int = 220) -> str:
    """PAI against coverage, one line per method, as an inline SVG (no script)."""
    from html import escape

    pad, top = 36, 10
    xs = sorted(summary["coverage"].unique())
    ymax = float(np.ceil(summary["pai"].max() / 10) * 10) or 1.0

    def x(c):
        return pad + (c - xs[0]) / (xs[-1] - xs[0] or 1) * (width - pad - 10)

    def y(v):
        return top + (1 - v / ymax) * (height - top - 30)

    parts = [f'<svg class="curves" viewBox="0 0 {width} {height + 18 * len(METHOD_LABELS)}" role="img" '
             f'aria-label="PAI">']
    for v in np.linspace(0, ymax, 5):
        parts.append(f'<line x1="{pad}" x2="{width - 10}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>'
                     f'<text x="{pad - 4}" y="{y(v) + 3:.1f}" text-anchor="end">{fmt(v, lang, 0)}</text>')
    for c in xs:
        parts.append(f'<text x="{x(c):.1f}" y="{height - 14}" text-anchor="middle">{round(100 * c)}%</text>')
    parts.append(f'<text x="{width / 2}" y="{height - 2}" text-anchor="middle">'
                 f'{escape(_t(("Tỷ lệ diện tích", "Share of the area"), lang))}</text>')
    for i, (method, rows) in enumerate(summary.groupby("method", sort=False)):
        pts = " ".join(f"{x(c):.1f},{y(v):.1f}" for c, v in zip(rows["coverage"], rows["pai"]))
        colour = METHOD_COLOURS.get(method, "#333")
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}"/>')
        ly = height + 14 + 18 * i
        parts.append(f'<line x1="{pad}" x2="{pad + 20}" y1="{ly - 4}" y2="{ly - 4}" stroke="{colour}" '
                     f'stroke-width="3"/><text x="{pad + 26}" y="{ly}">'
                     f'{escape(_t(METHOD_LABELS.get(method, (method, method)), lang))}</text>')
    parts.append("</svg>")
    return "".join(parts)
