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
from geo.render.palette import answer_order
from geo.store.categories import catalogue
from geo.store.queries import check_categories


@dataclass
class Report:
    """Counts of a period against cùng kỳ per unit (ward or district), per report group, per
    category, per unit and category (long ``detail`` and wide ``matrix``), and for the whole
    selection; with the exact test and clearance rates. Tables are in the report's ``order``."""

    boundary: str
    level: str
    period: pr.Period
    base: pr.Period
    categories: list[str]
    selection: tuple[str, ...]
    units: gpd.GeoDataFrame
    by_category: pd.DataFrame
    detail: pd.DataFrame
    total: dict
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)
    matrix: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: the matrix columns: ``(key, label, member categories)``, the groups first, then the categories
    matrix_keys: list = field(default_factory=list)
    order: str = "answer"
    meta: dict = field(default_factory=dict)


#: The report groups in the order a report states them (``ma_tuy`` is a category reported on its own).
REPORT_GROUPS = ("trat_tu_xa_hoi", "duong_pho", "te_nan", "ma_tuy")
ORDERS = ("answer", "admin")
#: severity grades of "án rất nghiêm trọng và đặc biệt nghiêm trọng"
SERIOUS = (3, 4)


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
    """Incidents, cleared ones and serious ones (severity 3–4) per unit and category."""
    rows = analysis._period_rows(engine, "a.code, i.category, i.cleared, i.severity, COUNT(*)", boundary=boundary,
                                 start=period.start, end=period.end, categories=list(categories),
                                 group_by="a.code, i.category, i.cleared, i.severity")
    df = pd.DataFrame(rows, columns=["code", "category", "cleared", "severity", "n"])
    cleared = np.array([v is not None and v == v and bool(v) for v in df["cleared"]], dtype=bool)
    serious = pd.to_numeric(df["severity"], errors="coerce").isin(SERIOUS).to_numpy()
    df["cleared_n"] = np.where(cleared, df["n"], 0)
    df["serious_n"] = np.where(serious, df["n"], 0)
    df["serious_cleared_n"] = np.where(serious & cleared, df["n"], 0)
    return df.groupby(["code", "category"], as_index=False)[["n", "cleared_n", "serious_n",
                                                             "serious_cleared_n"]].sum()


def districts(engine: Engine, boundary: str) -> list[tuple[str, str]]:
    """The ``(code, name)`` of the districts of ``boundary``'s wards, by name; none when its wards have
    a single parent (the province: boundary versions from July 2025)."""
    wards = analysis._ward_frame(engine, boundary)
    pairs = wards[["parent_code", "parent_name"]].dropna().drop_duplicates().sort_values("parent_name")
    return [tuple(p) for p in pairs.itertuples(index=False)] if pairs["parent_code"].nunique() > 1 else []


def _ordered(frame: pd.DataFrame, order: str, key: str = "code") -> pd.DataFrame:
    """Rows in the report's order (:func:`geo.render.palette.answer_order`, or by code) numbered ``stt``."""
    out = answer_order(frame) if order == "answer" else frame.sort_values(key, kind="stable")
    out = out.reset_index(drop=True)
    out.insert(0, "stt", np.arange(1, len(out) + 1))
    return out


def _tested(now: pd.Series, then: pd.Series, period: pr.Period, base: pr.Period, **kw) -> pd.DataFrame:
    keys = now.index.union(then.index)
    return _in_words(compare_counts(pd.DataFrame({"code": list(keys), "count": now.reindex(keys, fill_value=0).values}),
                                    pd.DataFrame({"code": list(keys), "count": then.reindex(keys, fill_value=0).values}),
                                    t_current_days=period.days, t_base_days=base.days, **kw))


def report(engine: Engine, *, boundary: str, period: pr.Period, categories: Sequence[str] = (),
           level: str = "ward", units: Sequence[str] | None = None, order: str = "answer") -> Report:
    """The periodic report of ``period`` against its cùng kỳ (``period.same_period_last_year()``).

    ``units`` (codes of ``boundary``; None or empty: all) limits the report to some units. Ward
    statistics are those of :func:`geo.analysis.compare_wards` (the ``/api/v1/compare`` figures:
    FDR over all wards of the version), their rows restricted to the units; ``level="district"``
    adds up the selected wards of each district (boundary versions from before July 2025) and
    tests the districts. Totals, groups and categories are over the selected units: the total
    and each report group (:data:`REPORT_GROUPS`, with a category filter the filter's part of
    each) by the single exact test, the categories and the unit × category cells with FDR among
    themselves. Clearance rate = cleared incidents / incidents, also for the serious ones
    (severity 3–4). ``order`` "answer" (increases, decreases, the rest) or "admin" (by code).
    """
    level = check.choice(level, "level", ("ward", "district"))
    order = check.choice(order, "order", ORDERS)
    cats = list(categories)
    check_categories(engine, cats)
    labels = catalogue(engine)
    loc = format.current_locale()

    base = period.same_period_last_year()
    wards = analysis._ward_frame(engine, boundary)
    if level == "district" and wards["parent_code"].dropna().nunique() <= 1:
        raise InputError(format.gettext("%(boundary)s has no districts (its units have one parent, the province); "
                                        "choose level=ward, or a boundary version from before July 2025 such as "
                                        "hcmc-2019.", boundary=repr(boundary)))
    selection = tuple(dict.fromkeys(units or ()))
    unknown = [c for c in selection if c not in wards.index]
    if unknown:
        raise InputError(format.gettext("`unit` was %(codes)s but %(boundary)s has no unit with that code; "
                                        "choose units of the list.", codes=", ".join(map(repr, unknown)),
                                        boundary=repr(boundary)))
    chosen = list(selection) if selection else list(wards.index)
    cmp, meta = analysis.compare_wards(engine, boundary=boundary, start=period.start, end=period.end,
                                       categories=cats)
    now = _grouped(engine, boundary, period, cats)
    then = _grouped(engine, boundary, base, cats)
    now, then = now[now["code"].isin(chosen)].copy(), then[then["code"].isin(chosen)].copy()
    parent = wards["parent_code"].to_dict()
    parent_name = wards["parent_name"].to_dict()
    ukey = "code"
    if level == "ward":
        table = _in_words(cmp.copy())
        table = table[table["code"].isin(chosen)]
        table.insert(2, "parent_code", table["code"].map(parent))
        table.insert(3, "parent_name", table["code"].map(parent_name))
    else:
        ukey = "parent_code"
        for df in (now, then):
            df["parent_code"] = df["code"].map(parent)
        picked = wards.loc[chosen].dropna(subset=["parent_code"])
        g = picked.groupby("parent_code")
        geo = gpd.GeoDataFrame({"code": list(g.groups), "name": g["parent_name"].first().to_numpy()},
                               geometry=[shapely.union_all(picked.geometry.loc[idx].values)
                                         for idx in g.groups.values()], crs="EPSG:4326")
        tested = _tested(now.groupby(ukey)["n"].sum().reindex(geo["code"], fill_value=0),
                         then.groupby(ukey)["n"].sum().reindex(geo["code"], fill_value=0), period, base)
        table = geo.merge(tested, on="code", how="left")
        table.insert(2, "parent_code", table["code"])
        table.insert(3, "parent_name", table["name"])
    sums_now = now.groupby(ukey)[["cleared_n", "serious_n", "serious_cleared_n"]].sum()
    sums_then = then.groupby(ukey)[["cleared_n"]].sum()
    table["cleared_count"] = table["code"].map(sums_now["cleared_n"]).fillna(0).astype(int)
    table["clearance_rate"] = _rate(table["cleared_count"], table["count"])
    table["base_cleared_count"] = table["code"].map(sums_then["cleared_n"]).fillna(0).astype(int)
    table["base_clearance_rate"] = _rate(table["base_cleared_count"], table["base_count"])
    table = gpd.GeoDataFrame(_ordered(table, order), geometry="geometry", crs="EPSG:4326")

    # per category over the selection
    c_now = now.groupby("category")[["n", "cleared_n"]].sum()
    c_then = then.groupby("category")[["n", "cleared_n"]].sum()
    by_cat = _tested(c_now["n"], c_then["n"], period, base).rename(columns={"code": "category"})
    by_cat.insert(1, "label", [labels.label(c, loc) for c in by_cat["category"]])
    by_cat["cleared_count"] = by_cat["category"].map(c_now["cleared_n"]).fillna(0).astype(int)
    by_cat["clearance_rate"] = _rate(by_cat["cleared_count"], by_cat["count"])
    by_cat["base_cleared_count"] = by_cat["category"].map(c_then["cleared_n"]).fillna(0).astype(int)
    by_cat["base_clearance_rate"] = _rate(by_cat["base_cleared_count"], by_cat["base_count"])
    rank = {c: i for i, c in enumerate(labels.categories)}
    by_cat["code"] = by_cat["category"].map(lambda c: f"{rank.get(c, len(rank)):04d}{c}")  # admin order: catalogue's
    by_cat = _ordered(by_cat, order).drop(columns="code")

    # report groups (the filter's part of each), tested one by one like the total
    members = {g: (labels.groups.get(g) or (g,)) for g in REPORT_GROUPS}
    g_now = pd.Series({g: int(c_now["n"].reindex(m).fillna(0).sum()) for g, m in members.items()})
    g_then = pd.Series({g: int(c_then["n"].reindex(m).fillna(0).sum()) for g, m in members.items()})
    keep = [g for g in REPORT_GROUPS if g_now[g] or g_then[g]]
    groups = _tested(g_now[keep], g_then[keep], period, base, method="none") if keep else \
        _tested(pd.Series(dtype=int), pd.Series(dtype=int), period, base)
    groups = groups.set_index("code").reindex(keep).reset_index().rename(columns={"code": "group"})
    groups.insert(1, "label", [labels.label(g, loc) for g in groups["group"]])
    groups["cleared_count"] = [int(c_now["cleared_n"].reindex(members[g]).fillna(0).sum()) for g in keep]
    groups["clearance_rate"] = _rate(groups["cleared_count"], groups["count"])
    groups["base_cleared_count"] = [int(c_then["cleared_n"].reindex(members[g]).fillna(0).sum()) for g in keep]
    groups["base_clearance_rate"] = _rate(groups["base_cleared_count"], groups["base_count"])
    groups["members"] = [tuple(members[g]) for g in keep]

    # unit x category
    d_now = now.groupby([ukey, "category"])[["n", "cleared_n"]].sum()
    d_then = then.groupby([ukey, "category"])[["n"]].sum()
    keys = d_now.index.union(d_then.index)
    names = table.set_index("code")["name"]
    if len(keys):
        codes = pd.Index([f"{u}|{c}" for u, c in keys])
        detail = _tested(pd.Series(d_now["n"].reindex(keys, fill_value=0).to_numpy(), index=codes),
                         pd.Series(d_then["n"].reindex(keys, fill_value=0).to_numpy(), index=codes), period, base)
        detail.insert(0, "unit_code", detail["code"].str.split("|").str[0])
        detail.insert(1, "category", detail["code"].str.split("|").str[1])
        detail = detail.drop(columns="code")
        detail.insert(1, "unit_name", detail["unit_code"].map(names))
        detail.insert(3, "label", [labels.label(c, loc) for c in detail["category"]])
        cl = d_now["cleared_n"].reindex(pd.MultiIndex.from_arrays([detail["unit_code"], detail["category"]]),
                                        fill_value=0).to_numpy()
        detail["cleared_count"] = cl
        detail["clearance_rate"] = _rate(cl, detail["count"])
        pos = {c: i for i, c in enumerate(table["code"])}
        detail = detail.assign(_u=detail["unit_code"].map(pos)).sort_values(
            ["_u", "count"], ascending=[True, False], kind="stable").drop(columns="_u").reset_index(drop=True)
    else:
        detail = pd.DataFrame(columns=["unit_code", "unit_name", "category", "label", "count",
                                       "base_count", "change", "change_pct", "p_value", "q_value", "change_class",
                                       "change_text", "cleared_count", "clearance_rate"])
    by_size = by_cat.sort_values(["count", "base_count"], ascending=False, kind="stable")["category"].tolist()
    matrix_keys = [(g, lab, m) for g, lab, m in zip(groups["group"], groups["label"], groups["members"])]
    matrix_keys += [(c, labels.label(c, loc), (c,)) for c in by_size]
    matrix = matrix_frame(table, detail, matrix_keys)

    total = city_total(table[["code", "count"]], table[["code", "base_count"]].rename(columns={"base_count": "count"}),
                       t_current_days=period.days, t_base_days=base.days).iloc[0].to_dict()
    total = analysis._plain(_in_words(pd.DataFrame([total])).iloc[0].to_dict())
    total["cleared_count"] = int(table["cleared_count"].sum())
    total["clearance_rate"] = (total["cleared_count"] / total["count"]) if total["count"] else None
    total["base_cleared_count"] = int(table["base_cleared_count"].sum())
    total["base_clearance_rate"] = (total["base_cleared_count"] / total["base_count"]) if total["base_count"] else None
    total["serious_count"] = int(now["serious_n"].sum())
    total["serious_cleared_count"] = int(now["serious_cleared_n"].sum())
    total["serious_clearance_rate"] = (total["serious_cleared_count"] / total["serious_count"]
                                       if total["serious_count"] else None)
    return Report(boundary, level, period, base, cats, selection, table, by_cat, detail, total, groups=groups,
                  matrix=matrix, matrix_keys=matrix_keys, order=order, meta=meta)


def matrix_frame(units: pd.DataFrame, detail: pd.DataFrame, keys) -> pd.DataFrame:
    """The unit × category table, wide: one row per unit (``units``' order, with ``stt``, ``code``,
    ``name``), and for each ``(key, label, members)`` of ``keys`` the columns ``key|count``,
    ``key|base_count`` and ``key|change`` (sums of the members' cells of ``detail``; a cell is
    null when one of its members is null there, i.e. suppressed)."""
    out = pd.DataFrame(units[["stt", "code", "name"]]).reset_index(drop=True)
    for field_ in ("count", "base_count"):
        wide = detail.pivot_table(index="unit_code", columns="category", values=field_, aggfunc="sum",
                                  fill_value=0, dropna=False) if len(detail) else pd.DataFrame()
        hidden = detail.assign(_h=pd.to_numeric(detail[field_], errors="coerce").isna()).pivot_table(
            index="unit_code", columns="category", values="_h", aggfunc="max", fill_value=False) \
            if len(detail) else pd.DataFrame()
        for key, _label, members in keys:
            m = [c for c in members if c in wide.columns]
            vals = wide.reindex(out["code"])[m].apply(pd.to_numeric, errors="coerce").fillna(0).sum(axis=1) \
                if m else pd.Series(0, index=out["code"])
            hid = hidden.reindex(out["code"])[m].fillna(False).astype(bool).any(axis=1) if m else \
                pd.Series(False, index=out["code"])
            out[f"{key}|{field_}"] = [None if h else int(v) for v, h in zip(vals.to_numpy(), hid.to_numpy())]
    for key, _label, _m in keys:
        k, b = out[f"{key}|count"], out[f"{key}|base_count"]
        out[f"{key}|change"] = [None if x is None or y is None else x - y for x, y in zip(k, b)]
    return out


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
