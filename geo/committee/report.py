"""The committee's periodic report: counts of a period against cùng kỳ per unit and category, and its files.

:func:`report` gives the figures (per ward or district, per category, per unit and category,
and for the whole area; the exact test and the clearance rate); :func:`report_xlsx`,
:func:`report_csv` and :func:`report_pdf` write them through :mod:`geo.render` with the
headers and words the caller passes in. Texts are in the user's language (:mod:`geo.format`).
"""
from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy.engine import Engine

from clustering.compare import city_total, compare_counts
from geo import analysis, format
from geo import periods as pr
from geo.committee import _checks as check
from geo.errors import InputError
from geo.render import exports
from geo.render.exports import xlsx_cell
from geo.store.categories import catalogue
from geo.store.queries import check_categories


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


def _in_words(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (rows of :func:`clustering.compare.compare_counts`) with one ``change_text`` in the
    user's language (:func:`geo.format.count_change`) in place of the statistics' pair."""
    out = frame.drop(columns=[c for c in ("change_text_vi", "change_text_en") if c in frame.columns])
    out["change_text"] = [format.count_change(int(k), int(b)) for k, b in zip(out["count"], out["base_count"])]
    return out


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


def districts(engine: Engine, boundary: str) -> list[tuple[str, str]]:
    """The ``(code, name)`` of the districts of ``boundary``'s wards, by name; none when its wards have
    a single parent (the province: boundary versions from July 2025)."""
    wards = analysis._ward_frame(engine, boundary)
    pairs = wards[["parent_code", "parent_name"]].dropna().drop_duplicates().sort_values("parent_name")
    return [tuple(p) for p in pairs.itertuples(index=False)] if pairs["parent_code"].nunique() > 1 else []


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
    level = check.choice(level, "level", ("ward", "district"))
    cats = list(categories)
    check_categories(engine, cats)
    labels = catalogue(engine)

    def _category(code: str) -> str:
        return labels.label(code, format.current_locale())

    base = period.same_period_last_year()
    wards = analysis._ward_frame(engine, boundary)
    parents = wards["parent_code"].dropna().unique()
    if (level == "district" or district) and len(parents) <= 1:
        raise InputError(format.gettext("%(boundary)s has no districts (its units have one parent, the province); "
                                        "choose level=ward, or a boundary version from before July 2025 such as "
                                        "hcmc-2019.", boundary=repr(boundary)))
    if district and district not in set(parents):
        raise InputError(format.gettext("`district` was %(code)s but no ward of %(boundary)s lies in a district "
                                        "with that code.", code=repr(district), boundary=repr(boundary)))
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
        units = _in_words(cmp.copy())
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
        tested = _in_words(compare_counts(cur, old, t_current_days=period.days, t_base_days=base.days))
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
                              "change_class"])
    by_cat = _in_words(by_cat.rename(columns={"code": "category"}))
    by_cat.insert(1, "label", by_cat["category"].map(_category))
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
        detail = _in_words(detail)
        detail.insert(0, "unit_code", detail["code"].str.split("|").str[0])
        detail.insert(1, "category", detail["code"].str.split("|").str[1])
        detail = detail.drop(columns="code")
        names = units.set_index("code")["name"]
        detail.insert(1, "unit_name", detail["unit_code"].map(names))
        detail.insert(3, "label", detail["category"].map(_category))
        cl = d_now["cleared_n"].reindex(keys, fill_value=0).to_numpy()
        detail["cleared_count"] = cl
        detail["clearance_rate"] = _rate(cl, detail["count"])
        detail = detail.sort_values(["unit_code", "count"], ascending=[True, False], kind="stable").reset_index(drop=True)
    else:
        detail = pd.DataFrame(columns=["unit_code", "unit_name", "category", "label", "count",
                                       "base_count", "change", "change_pct", "p_value", "q_value", "change_class",
                                       "cleared_count", "clearance_rate"])

    total = city_total(units[["code", "count"]], units[["code", "base_count"]].rename(columns={"base_count": "count"}),
                       t_current_days=period.days, t_base_days=base.days).iloc[0].to_dict()
    total = analysis._plain(_in_words(pd.DataFrame([total])).iloc[0].to_dict())
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


def with_words(frame: pd.DataFrame, change_labels: dict | None = None) -> pd.DataFrame:
    """A copy of a report table with the columns people read: ``change_label``
    (``change_labels[change_class]``), ``clearance_text`` ("84,04%") and ``clearance_pct``
    (84.04); ``change_pct`` rounded to one decimal."""
    out = pd.DataFrame(frame.drop(columns="geometry") if "geometry" in frame.columns else frame).copy()
    if "change_class" in out:
        out["change_label"] = out["change_class"].map(change_labels or {})
    if "clearance_rate" in out:
        rate = pd.to_numeric(out["clearance_rate"], errors="coerce")
        out["clearance_text"] = [format.percent(x, 2) for x in rate]
        out["clearance_pct"] = (rate * 100).round(2)
    if "change_pct" in out:
        out["change_pct"] = pd.to_numeric(out["change_pct"], errors="coerce").round(1)
    return out


def report_pdf(rep: Report, *, title: str, period_text: str, filters_text: str, map_title: str,
               classes: dict[str, tuple[str, str]], columns: Sequence[tuple[str, str]], notes: Sequence[str] = (),
               attribution: str = "") -> bytes:
    """The one-page A4 report (:func:`geo.render.exports.report_pdf`) with a map of the units
    coloured by change class (``classes`` = ``{change_class: (label, colour)}``) and the
    units table (``columns`` = ``[(field, header)]``, fields of :func:`with_words`),
    busiest units first."""
    lang = format.current_locale()
    table = with_words(rep.units, {c: v[0] for c, v in classes.items()})
    table = table.sort_values(["count", "code"], ascending=[False, True], kind="stable",
                              key=lambda c: pd.to_numeric(c, errors="coerce") if c.name == "count" else c)
    png = exports.map_png(rep.units, "change_class", title=map_title, subtitle=rep.period.label(lang, with_dates=True),
                          legend_title=map_title, attribution=attribution, lang=lang, categorical=classes)
    return exports.report_pdf(title=title, period_text=period_text, filters_text=filters_text, map_png=png,
                              table=table, table_columns=list(columns), notes=list(notes), lang=lang)


def report_csv(rep: Report, columns: Sequence[tuple[str, str]], change_labels: dict | None = None) -> bytes:
    """The units table as CSV for Excel (:func:`geo.render.exports.csv_bytes`); ``columns`` are
    ``[(field, header)]`` of :func:`with_words`."""
    return exports.csv_bytes(with_words(rep.units, change_labels), columns=list(columns))
