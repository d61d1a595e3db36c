"""The committee's periodic report: counts of a period against cùng kỳ per unit and category, and its files.

:func:`report` gives the figures (per ward or district, per category, per unit and category,
and for the whole area; the exact test and the clearance rate); :func:`report_xlsx`,
:func:`report_csv` and :func:`report_pdf` write them through :mod:`geo.render` with the
headers and words the caller passes in. Texts are in the user's language (:mod:`geo.format`).
"""
from __future__ import annotations

import datetime as dt
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
from geo.format import N_
from geo.render import exports
from geo.render.document import Document, Table
from geo.render.exports import xlsx_cell
from geo.render.palette import CHANGE_COLOURS, answer_order, label
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
    if not len(keys):                                  # nothing in either period
        return pd.DataFrame(columns=["code", "count", "base_count", "change", "change_pct", "p_value", "q_value",
                                     "change_class", "change_text"])
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
    groups = _tested(g_now[keep], g_then[keep], period, base, method="none")
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
    matrix_keys += [(c, labels.label(c, loc), (c,)) for c in by_size if c not in set(groups["group"])]
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


# --------------------------------------------------------------------------- tables people read

_ = format.gettext

#: The units table of the page, the XLSX, both CSVs: ``(field, header msgid, kind)``; kind is one of
#: :data:`NUMBER_FORMATS`. ``p`` and ``q`` are for analysts and files, never the signed document.
UNIT_COLUMNS = [("stt", N_("No."), "int"), ("code", N_("Code"), "text"), ("name", N_("Ward"), "text"),
                ("parent_name", N_("District / province"), "text"), ("count", N_("Incidents"), "int"),
                ("base_count", N_("Same period last year"), "int"), ("change", N_("Change"), "int"),
                ("change_pct", N_("Change (%)"), "pct"), ("change_text", N_("Against the same period"), "text"),
                ("p_value", "p", "p"), ("q_value", "q", "p"), ("change_label", N_("Result"), "text"),
                ("cleared_count", N_("Cleared"), "int"), ("clearance_rate", N_("Clearance rate"), "rate")]
CATEGORY_COLUMNS = [("stt", N_("No."), "int"), ("category", N_("Code"), "text"), ("label", N_("Category"), "text"),
                    *UNIT_COLUMNS[4:]]
DETAIL_COLUMNS = [("unit_code", N_("Code"), "text"), ("unit_name", N_("Ward"), "text"),
                  ("category", N_("Category code"), "text"), ("label", N_("Category"), "text"), *UNIT_COLUMNS[4:]]
#: the three figures of each matrix cell
MATRIX_FIELDS = (("count", N_("Incidents"), "int"), ("base_count", N_("Same period last year"), "int"),
                 ("change", N_("Change"), "int"))
#: the matrix of the signed document shows the groups and this many categories (the rest as one column)
DOCUMENT_CATEGORIES = 6


def columns(spec, level: str = "ward", *, analyst: bool = True) -> list[tuple[str, str, str]]:
    """``spec`` (:data:`UNIT_COLUMNS`, …) with headers in the user's language; the unit header says
    ward or district; ``analyst=False`` leaves out the p- and q-values."""
    out = []
    for f, head, kind in spec:
        if kind == "p" and not analyst:
            continue
        if f in ("name", "unit_name") and level == "district":
            head = N_("District")
        if f == "parent_name" and level == "district":
            continue
        out.append((f, _(head) if kind != "p" else head, kind))
    return out


def _plain_change(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(frame.drop(columns="geometry") if "geometry" in frame.columns else frame).copy()
    if "change_class" in out:
        out["change_label"] = [label(c) for c in out["change_class"]]
    if "change_pct" in out:
        out["change_pct"] = [x if isinstance(x, str) else (None if format.missing(x) else round(float(x), 1))
                             for x in out["change_pct"]]
    if "clearance_rate" in out:
        out["clearance_pct"] = [x if isinstance(x, str) else (None if format.missing(x) else round(100 * float(x), 2))
                                for x in out["clearance_rate"]]
    return out


def _summary_row(row: dict, **extra) -> dict:
    out = {k: row.get(k) for k in ("count", "base_count", "change", "change_pct", "p_value", "q_value",
                                   "change_class", "change_text", "cleared_count", "clearance_rate")}
    return {**out, **extra}


def unit_table(rep: Report) -> pd.DataFrame:
    """The units in the report's order with ``stt``, then the total row (``row_kind`` "total")
    and the report groups' subtotal rows ("subtotal": "of which …"), with ``change_label`` and
    ``clearance_pct``: the one table of the page, the XLSX, both CSVs and Phụ lục 1."""
    units = pd.DataFrame(rep.units.drop(columns="geometry")).assign(row_kind="unit")
    extra = [_summary_row(rep.total, code="", name=_("Whole area"), row_kind="total")]
    extra += [_summary_row(g, code=g["group"], name=_("of which: %(group)s", group=g["label"]), row_kind="subtotal")
              for g in rep.groups.to_dict("records")]
    return _plain_change(pd.concat([units, pd.DataFrame(extra)], ignore_index=True))


def category_table(rep: Report) -> pd.DataFrame:
    """The categories in the report's order with ``stt``, then the total row."""
    cats = pd.DataFrame(rep.by_category).assign(row_kind="category")
    total = _summary_row(rep.total, category="", label=_("Total"), row_kind="total")
    return _plain_change(pd.concat([cats, pd.DataFrame([total])], ignore_index=True))


def detail_table(rep: Report) -> pd.DataFrame:
    return _plain_change(rep.detail)


def _key_total(rep: Report, key: str) -> dict:
    for frame, col in ((rep.groups, "group"), (rep.by_category, "category")):
        hit = frame[frame[col] == key] if len(frame) else frame
        if len(hit):
            return hit.iloc[0].to_dict()
    return {}


def matrix_table(rep: Report, keys=None) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The wide unit × category table with its total row, and its ``(key, label)`` columns
    (``keys`` defaults to all of :attr:`Report.matrix_keys`)."""
    keys = keys or [(k, lab) for k, lab, _m in rep.matrix_keys]
    rows = pd.DataFrame(rep.matrix).assign(row_kind="unit")
    total = {"stt": None, "code": "", "name": _("Whole area"), "row_kind": "total"}
    for key, _lab in keys:
        t = _key_total(rep, key)
        for f, _h, _k in MATRIX_FIELDS:
            total[f"{key}|{f}"] = t.get(f)
    return pd.concat([rows, pd.DataFrame([total])], ignore_index=True), keys


def _text(value, kind: str) -> str:
    """A cell as people read it (geo.format); a suppressed figure ("< 5") as it is."""
    if isinstance(value, str):
        return value
    if format.missing(value):
        return ""
    if kind == "int":
        return format.number(value, 0)
    if kind == "signed":
        return ("+" if value > 0 else "") + format.number(value, 0)
    if kind == "pct":
        return ("+" if value > 0 else "") + format.number(value, 1)
    if kind == "rate":
        return format.percent(value, 2)
    if kind == "p":
        return format.number(value, 4)
    return str(value)


# --------------------------------------------------------------------------- report files

#: Rows of the header block of :func:`report_xlsx` (title and six facts); the table header follows a blank row.
XLSX_HEADER_ROWS = 7
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
                title: str, header: Sequence[tuple[str, str]]) -> bytes:
    """An Excel workbook: each sheet starts with ``title`` and the ``header`` lines
    (``(label, value)``: period, cùng kỳ, generated date, boundary, selection, categories), then
    a blank row, then the table (``columns`` = ``[(field, header, kind)]`` with kind one of
    :data:`NUMBER_FORMATS`; numbers stay numbers). Rows whose ``row_kind`` is "total" or
    "subtotal" are bold."""
    wb = Workbook()
    wb.remove(wb.active)
    head_fill = PatternFill("solid", fgColor="7F0000")
    for name, frame, cols in sheets:
        ws = wb.create_sheet(name[:31])
        xlsx_cell(ws, 1, 1, title).font = Font(bold=True, size=14, color="7F0000")
        for i, (lab, value) in enumerate(header[:XLSX_HEADER_ROWS - 1], start=2):
            xlsx_cell(ws, i, 1, lab).font = Font(bold=True)
            xlsx_cell(ws, i, 2, value)
        r0 = XLSX_TABLE_ROW
        for j, (_f, head, _k) in enumerate(cols, start=1):
            c = xlsx_cell(ws, r0, j, head)
            c.font = Font(bold=True, color="FFFFFF")
            c.fill = head_fill
            c.alignment = Alignment(wrap_text=True, vertical="top")
        records = frame.to_dict("records") if len(frame) else []
        for i, rec in enumerate(records, start=r0 + 1):
            bold = rec.get("row_kind") in ("total", "subtotal")
            for j, (f, _h, kind) in enumerate(cols, start=1):
                c = xlsx_cell(ws, i, j, _cell(rec.get(f)))
                if kind != "text" and c.value is not None and not isinstance(c.value, str):
                    c.number_format = NUMBER_FORMATS[kind]
                if bold:
                    c.font = Font(bold=True)
        for j, (f, head, _k) in enumerate(cols, start=1):
            width = max([len(str(head)) * 0.6, 6] + [min(len(str(rec.get(f) or "")), 60) for rec in records[:500]])
            ws.column_dimensions[get_column_letter(j)].width = min(width + 2, 62)
        ws.freeze_panes = ws.cell(row=r0 + 1, column=3)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xlsx(rep: Report, *, title: str, header: Sequence[tuple[str, str]]) -> bytes:
    """The workbook of the report: "Theo đơn vị" (with the total and subtotal rows), "Theo loại
    tội phạm" (with its total), "Ma trận" (unit × category, wide) and "Chi tiết" (the long list)."""
    mx, keys = matrix_table(rep)
    mcols = [("stt", _("No."), "int"), ("code", _("Code"), "text"),
             ("name", _("Ward") if rep.level == "ward" else _("District"), "text")]
    mcols += [(f"{k}|{f}", f"{lab}: {_(h)}", kind) for k, lab in keys for f, h, kind in MATRIX_FIELDS]
    return report_xlsx([(_("By unit"), unit_table(rep), columns(UNIT_COLUMNS, rep.level)),
                        (_("By category"), category_table(rep), columns(CATEGORY_COLUMNS)),
                        (_("Matrix"), mx, mcols),
                        (_("Details"), detail_table(rep), columns(DETAIL_COLUMNS, rep.level))],
                       title=title, header=header)


def csv_columns(level: str) -> list[tuple[str, str]]:
    """The CSV columns: those of the units table (the clearance rate in percent), and the kind of row."""
    cols = [(f, h) for f, h, _k in columns(UNIT_COLUMNS, level) if f != "clearance_rate"]
    return cols + [("clearance_pct", _("Clearance rate (%)")), ("row_kind", _("Row"))]


def report_csv(rep: Report, *, excel: bool = False) -> bytes:
    """Every row of the units table (units, total, subtotals), machine CSV or, with ``excel``,
    the CSV for Vietnamese Excel (:func:`geo.render.exports.csv_bytes`)."""
    table = unit_table(rep)
    table["row_kind"] = table["row_kind"].map({"unit": _("Unit"), "total": _("Total"), "subtotal": _("Of which")})
    return exports.csv_bytes(table, columns=csv_columns(rep.level), excel=excel)


# --------------------------------------------------------------------------- the signed document

@dataclass
class Texts:
    """What the document says besides the figures: who issues and signs it, where, and the words
    of the selection. Settings REPORT_ISSUER … REPORT_RECIPIENTS, CLEARANCE_TARGET,
    SERIOUS_CLEARANCE_TARGET fill it in the web layer."""

    place: str                       # "trên địa bàn …": the selection in words
    boundary_title: str
    categories: str                  # the category filter in words
    issuer: str = "BAN CHỈ ĐẠO 138"
    issuer_parent: str = ""
    town: str = ""                   # the place of the date line ("Gò Vấp"); "" → "……"
    signer: str = "TM. BAN CHỈ ĐẠO\nTRƯỞNG BAN"
    recipients: str = "Như trên;Lưu: VT"
    clearance_target: float = 0.70
    serious_target: float = 0.90
    today: dt.date | None = None
    attribution: str = ""


def _moved(count, base) -> str:
    """"giảm 29 vụ (-7,9%)", "tăng 3 vụ", "không thay đổi": a count against cùng kỳ as reports write it."""
    if format.missing(count) or format.missing(base) or isinstance(count, str) or isinstance(base, str):
        return _("against the same period: figures withheld")
    diff = int(count) - int(base)
    if diff == 0:
        return _("unchanged")
    pct = f" ({_text(100.0 * diff / base, 'pct')}%)" if base else ""
    words = _("down %(n)s incidents", n=format.number(-diff, 0)) if diff < 0 else \
        _("up %(n)s incidents", n=format.number(diff, 0))
    return words + pct


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:] if format.current_locale() == "vi" else s


def _count(x) -> str:
    return x if isinstance(x, str) else format.number(x, 0)


def summary(rep: Report, place: str) -> str:
    """The headline, in the seeds' phrasing: social-order crime first, then every incident, then the
    other groups; "trong đó …"."""
    lang = format.current_locale()
    p = rep.period
    head = _("In %(period)s (from %(start)s to %(end)s), in %(place)s",
             period=_lower_first(p.label(lang)) if p.kind != "custom" else _("the period"),
             start=format.date(p.start), end=format.date(p.end), place=place)
    groups = {g["group"]: g for g in rep.groups.to_dict("records")}
    parts = []
    social = groups.pop("trat_tu_xa_hoi", None)
    if social is not None:
        parts.append(_("%(count)s incidents of %(group)s, %(moved)s against the same period",
                       count=_count(social["count"]), group=_lower_first(social["label"]),
                       moved=_moved(social["count"], social["base_count"])))
        parts.append(_("in all %(count)s incidents, %(moved)s", count=_count(rep.total["count"]),
                       moved=_moved(rep.total["count"], rep.total["base_count"])))
    else:
        parts.append(_("%(count)s incidents, %(moved)s against the same period", count=_count(rep.total["count"]),
                       moved=_moved(rep.total["count"], rep.total["base_count"])))
    rest = [_("%(group)s %(count)s incidents, %(moved)s", group=_lower_first(g["label"]), count=_count(g["count"]),
              moved=_moved(g["count"], g["base_count"])) for g in groups.values()]
    text = head + " " + "; ".join(parts)
    if rest:
        text += "; " + _("of which %(rest)s", rest=", ".join(rest))
    return text + "."


def clearance_text(rep: Report, target: float, serious_target: float) -> str:
    """"Tỷ lệ điều tra khám phá đạt 68,75% (chỉ tiêu 70%, chưa đạt); án rất nghiêm trọng và đặc biệt
    nghiêm trọng đạt 91,30% (chỉ tiêu 90%, đạt)."""
    def one(rate, goal):
        if rate is None or isinstance(rate, str) or format.missing(rate):
            return format.MISSING
        met = _("met") if rate >= goal else _("not met")
        return _("%(rate)s (target %(target)s, %(met)s)", rate=format.percent(rate, 2),
                 target=format.percent(goal, 0), met=met)
    t = rep.total
    return _("The clearance rate reached %(all)s; for very serious and especially serious cases %(serious)s.",
             all=one(t.get("clearance_rate"), target), serious=one(t.get("serious_clearance_rate"), serious_target))


def significant_text(rep: Report) -> str:
    """The units with a significant increase and those with a significant decrease, by name."""
    out = []
    for cls in ("significant_increase", "significant_decrease"):
        rows = rep.units[rep.units["change_class"] == cls]
        if len(rows):
            names = ", ".join(_("%(name)s (%(n)s incidents)", name=n, n=_text(c, "signed"))
                              if not isinstance(c, str) else n for n, c in zip(rows["name"], rows["change"]))
            out.append(_("%(result)s in: %(units)s.", result=label(cls), units=names))
    return " ".join(out) or _("No unit changed significantly against the same period.")


def method_note(rep: Report, boundary_title: str) -> str:
    return _("How a change is judged: a unit's count is compared with its count in the same period last year "
             "by the exact test for two counts (Poisson); a change is \"significant\" when it is too large to be "
             "chance, after allowing for testing every unit of %(boundary)s at once (false discovery rate 5%%). "
             "The ward results are those of all units of that version; totals and groups are over the units "
             "of this report, each tested on its own.", boundary=boundary_title)


def place_date(town: str, day: dt.date) -> str:
    """"Gò Vấp, ngày 15 tháng 6 năm 2025" (days below 10 and months 1–2 with a leading zero, as the
    decree writes them); no town: "……"."""
    d = f"{day.day:02d}" if day.day < 10 else str(day.day)
    m = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return _("%(place)s, day %(d)s month %(m)s year %(y)s", place=town or "……", d=d, m=m, y=str(day.year))


def _doc_rows(frame: pd.DataFrame, cols) -> tuple[list[list[str]], set[int]]:
    kinds = ["signed" if f == "change" else kind for f, _h, kind in cols]     # "+232", "-34"
    rows = [[_text(r.get(f), k) for (f, _h, _k), k in zip(cols, kinds)] for r in frame.to_dict("records")]
    bold = {i for i, k in enumerate(frame.get("row_kind", pd.Series(dtype=object))) if k in ("total", "subtotal")}
    return rows, bold


def _doc_columns(cols) -> list[tuple[str, str]]:
    return [(h, "text" if kind == "text" else "num") for _f, h, kind in cols]


def document(rep: Report, texts: Texts) -> Document:
    """The signed report (:class:`geo.render.document.Document`): the header of an administrative
    document, the body in the seeds' phrasing, the map, the signature, and the appendices: by
    unit, by category and the unit × category matrix, every row, with STT and the bold total and
    subtotal rows. No p-values and no codes: names and labels only."""
    lang = format.current_locale()
    today = texts.today or dt.datetime.now(pr.zone()).date()
    base_year = rep.base.year or rep.base.end.year
    subtitle = _("Crime situation in %(period)s against the same period of %(year)s",
                 period=_lower_first(rep.period.label(lang)), year=str(base_year))
    body = [("para", summary(rep, texts.place)),
            ("para", clearance_text(rep, texts.clearance_target, texts.serious_target)),
            ("para", significant_text(rep))]
    shown = rep.units.copy()
    shown["map_label"] = [f"{n}\n{_count(c)}" for n, c in zip(shown["name"], shown["count"])]
    classes = {c: (label(c), CHANGE_COLOURS[c]) for c in CHANGE_COLOURS}
    png = exports.map_png(shown, "change_class", title=_("Change against the same period last year"),
                          subtitle=rep.period.label(lang, with_dates=True), legend_title=_("Result"),
                          attribution=texts.attribution, lang=lang, categorical=classes, label_field="map_label")
    unit_cols = [c for c in columns(UNIT_COLUMNS, rep.level, analyst=False)
                 if c[0] not in ("code", "change_text")]
    cat_cols = [c for c in columns(CATEGORY_COLUMNS, analyst=False) if c[0] not in ("category", "change_text")]
    widths = {"stt": 0.7, "name": 2.6, "parent_name": 1.6, "label": 2.6, "change_label": 2.0}
    t1 = Table(_("Appendix 1. By ward") if rep.level == "ward" else _("Appendix 1. By district"), _doc_columns(unit_cols), *_doc_rows(unit_table(rep), unit_cols),
               widths=[widths.get(f, 1.0) for f, _h, _k in unit_cols], landscape=True,
               note=method_note(rep, texts.boundary_title))
    t2 = Table(_("Appendix 2. By category"), _doc_columns(cat_cols), *_doc_rows(category_table(rep), cat_cols),
               widths=[widths.get(f, 1.0) for f, _h, _k in cat_cols], landscape=True)
    return Document(issuer=texts.issuer.upper(), issuer_parent=texts.issuer_parent.upper(),
                    number=_("No.:        /BC-BCĐ"), place_date=place_date(texts.town, today),
                    title=_("REPORT"), subtitle=subtitle + (f" ({texts.place})" if texts.place else ""),
                    body=body, tables=[t1, t2, _matrix_appendix(rep)],
                    figures=[(png, _("Change against the same period last year, by unit"))],
                    recipients=[f"- {r.strip()};" if i < len(texts.recipients.split(";")) - 1 else f"- {r.strip()}."
                                for i, r in enumerate(texts.recipients.split(";")) if r.strip()],
                    signer=[*texts.signer.split("\n"), "", "", ""], lang=lang,
                    properties={"title": subtitle, "author": texts.issuer, "subject": texts.place})


def _matrix_appendix(rep: Report) -> Table:
    """Phụ lục 3: a column per group and category, each cell "count (change)"; beyond
    :data:`DOCUMENT_CATEGORIES` categories the rest add up to one "other categories" column."""
    groups = [(k, lab) for k, lab, m in rep.matrix_keys if k in set(rep.groups.get("group", []))]
    cats = [(k, lab) for k, lab, m in rep.matrix_keys if (k, lab) not in groups]
    shown, rest = (cats, []) if len(groups) + len(cats) <= 12 else (cats[:DOCUMENT_CATEGORIES], cats[DOCUMENT_CATEGORIES:])
    mx, keys = matrix_table(rep, groups + shown)
    if rest:
        full, _k = matrix_table(rep, rest)
        for f, _h, _kind in MATRIX_FIELDS:
            part = full[[f"{k}|{f}" for k, _l in rest]]
            # a withheld part ("< 5" or null) withholds the sum
            mx[f"other|{f}"] = [next((v for v in r if isinstance(v, str) or v is None), None)
                                if any(isinstance(v, str) or v is None for v in r) else int(sum(r))
                                for r in part.itertuples(index=False)]
        keys = keys + [("other", _("Other categories"))]

    def cell(r, key):
        k, ch = r.get(f"{key}|count"), r.get(f"{key}|change")
        if isinstance(k, str) or format.missing(k):          # withheld (small counts) or none
            return _text(k, "int")
        return f"{_text(k, 'int')}\n({_text(ch, 'signed') if not format.missing(ch) else '—'})"

    rows = [[_text(r["stt"], "int"), str(r["name"]), *[cell(r, k) for k, _l in keys]] for r in mx.to_dict("records")]
    bold = {len(rows) - 1}
    cols = [(_("No."), "num"), (_("Ward") if rep.level == "ward" else _("District"), "text")]
    cols += [(lab, "num") for _k, lab in keys]
    return Table(_("Appendix 3. By unit and category"), cols, rows, bold=bold, landscape=True,
                 widths=[0.7, 2.2] + [1.0] * len(keys),
                 note=_("Each cell: incidents (change against the same period last year)."))

