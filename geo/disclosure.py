"""What users below analyst may see: aggregates only (the minimum-count rule).

Viewers and committee members see counts, never small groups of incidents that
could be traced back to a person or a place. Analysts and admins see everything.
The web layer calls these functions with ``minimum`` (the setting
``MIN_PUBLISHED_COUNT``) for users below analyst and publishes what they return;
the analyses themselves are unchanged.

The rule, as statistics offices apply it to count tables:

* **Primary suppression.** Every published count from 1 to ``minimum - 1`` (a ward,
  a ward and category, a ward and period) is published as null, and its row gets
  ``suppressed: true``. Zero is published.
* **Derived figures.** In a row with a suppressed count, the figures computed from it
  (per km², per 10 000 residents, harm, rates, shares, changes, test statistics,
  the reason text) are null too.
* **Secondary suppression.** A table whose total is published elsewhere (the city
  total of a column, the ward total of a row of categories or periods) must not hold
  exactly one suppressed cell in a row or a column, or the cell is the total minus the
  others. So when a row or column holds exactly one, the next smallest published count
  (ties by code) is suppressed as well, until no row or column holds exactly one.
* **Places.** KDE contour polygons and DBSCAN/HDBSCAN spots are published only when
  they hold at least ``minimum`` incidents; the KDE is not offered at all when the
  selection holds fewer than :data:`KDE_FACTOR` × ``minimum`` incidents.
* **Whole selection.** A request whose selection (period, categories, boundary) holds
  fewer than ``minimum`` incidents is refused.

Pages and exports show a suppressed figure as ``< 5`` (``dưới 5``).
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import shapely
from flask_babel import gettext as _

from geo import analysis
from geo.errors import InputError

#: The KDE is refused to users below analyst when the selection holds fewer than
#: KDE_FACTOR × minimum incidents: a density surface of a handful of points draws them.
KDE_FACTOR = 3

#: Figures computed from a ward's count: null wherever that count is suppressed.
WARD_DERIVED = ("harm", "per_km2", "per_10k", "harm_per_km2", "cleared_count", "clearance_rate", "share",
                "base_cleared_count", "base_clearance_rate")
#: Figures computed from a count and its same-period count.
CHANGE_DERIVED = ("change", "change_pct", "p_value", "q_value", "change_text_vi", "change_text_en",
                  "change_text", "clearance_text", "clearance_pct")
#: Local statistics computed from the ward's own count.
STAT_DERIVED = ("gi_z", "gi_p", "gi_p_norm", "gi_q", "lisa_i", "lisa_z", "lisa_p", "lisa_q")
#: What the complex-area ranking writes about a unit (its reason quotes the counts).
RANK_DERIVED = ("components", "reasons", "reason", "reason_vi", "reason_en")
#: Text columns: null when suppressed, but not labelled "< 5" on pages.
TEXT = {"change_text_vi", "change_text_en", "change_text", "clearance_text", "components", "reasons", "reason",
        "reason_vi", "reason_en"}
ALL_DERIVED = WARD_DERIVED + CHANGE_DERIVED + STAT_DERIVED + RANK_DERIVED


def label(minimum: int) -> str:
    """How pages and exports show a suppressed figure: "< 5", in Vietnamese "dưới 5"."""
    return _("< %(n)s", n=minimum)


def selection_total(engine, *, boundary, start, end, categories) -> int:
    """Incidents of the selection (in a unit of ``boundary``), cached by data version."""

    return analysis.cached("selection-total", engine, dict(b=boundary, s=start, e=end, c=tuple(categories)),
                           lambda: analysis.period_incidents(engine, boundary=boundary, start=start, end=end,
                                                             categories=list(categories)))


def check_selection(engine, minimum: int, *, kde: bool = False, **selection) -> int:
    """Refuse (400: widen the request) a selection with fewer than ``minimum`` incidents or,
    for the KDE, fewer than KDE_FACTOR × ``minimum``; else return its number of incidents."""
    total = selection_total(engine, **selection)
    if total < minimum:
        raise InputError(_(
            "The selected period and categories hold fewer than %(n)s incidents, too few to publish; "
            "choose a longer period or more categories.", n=minimum))
    if kde and total < KDE_FACTOR * minimum:
        raise InputError(_(
            "The selected period and crime categories hold too few incidents to publish a density map; "
            "choose a longer period."))
    return total


# --------------------------------------------------------------------------- counts

def mask(values: np.ndarray, minimum: int, *, row_total: int | None = None, keys=None,
         preset: np.ndarray | None = None) -> np.ndarray:
    """Which cells of the count table ``values`` (rows × columns) to suppress.

    ``row_total`` is the index of the column that holds each row's total (the other
    columns add up to it); without it the rows are not linked. Every column's total is
    taken as published (the city totals are). ``preset`` marks cells already suppressed
    in another table (a unit total). Returns a boolean array like ``values``.
    """
    v = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
    if v.ndim == 1:
        v = v[:, None]
    m = (v >= 1) & (v < minimum)
    if preset is not None:
        m |= preset.reshape(m.shape)
    order = np.argsort(np.asarray(keys if keys is not None else np.arange(len(v))).astype(str), kind="stable")
    rank = np.empty(len(v), dtype=int)
    rank[order] = np.arange(len(v))  # ties between rows broken by code, so every view agrees

    def close(line_m, line_v, tie):
        """The line holds exactly one suppressed cell: suppress its smallest published count too."""
        if line_m.sum() != 1:
            return None
        free = np.flatnonzero(~line_m & (line_v >= 1))
        if not len(free):
            return None
        return free[np.lexsort((tie[free], line_v[free]))[0]]

    changed = True
    while changed:  # each pass only adds cells, so this ends
        changed = False
        if row_total is not None:
            cols = np.arange(v.shape[1])
            for i in range(len(v)):
                j = close(m[i], v[i], cols)
                if j is not None:
                    m[i, j] = changed = True
        for j in range(v.shape[1]):
            i = close(m[:, j], v[:, j], rank)
            if i is not None:
                m[i, j] = changed = True
    return m


def protect(frame: pd.DataFrame, minimum: int, columns, *, row_total: str | None = None,
            derived=ALL_DERIVED) -> pd.DataFrame:
    """A copy of ``frame`` with its small counts (``columns``) suppressed as null, the
    ``derived`` figures of those rows null, and a ``suppressed`` flag per row."""
    cols = [c for c in columns if c in frame.columns]
    keys = frame["code"].to_numpy() if "code" in frame.columns else None
    m = mask(frame[cols].to_numpy(dtype=float) if cols else np.zeros((len(frame), 0)), minimum,
             row_total=cols.index(row_total) if row_total in cols else None, keys=keys)
    out = frame.copy()
    for j, c in enumerate(cols):
        out[c] = _nulled(out[c], m[:, j])
    hit = m.any(axis=1) if cols else np.zeros(len(frame), dtype=bool)
    for c in derived:
        if c in out.columns and c not in cols:
            out[c] = _nulled(out[c], hit)
    out["suppressed"] = hit
    return out


def _nulled(col: pd.Series, where: np.ndarray) -> pd.Series:
    values = col.tolist()
    return pd.Series([None if w else x for x, w in zip(values, where)], index=col.index, dtype=object)


def areas(gdf, minimum: int):
    """The areas API: ``count`` and ``count_<category>`` (which add up to ``count``)."""
    cats = [c for c in gdf.columns if c.startswith("count_")]
    return protect(gdf, minimum, [*cats, "count"], row_total="count")


def wards(gdf, minimum: int):
    """Ward counts and what is computed from them (maps, Gi*, local Moran)."""
    return protect(gdf, minimum, ["count"])


def compare(gdf, meta: dict, minimum: int):
    """Counts against the same period: both counts suppressed, the change of such rows null."""
    out = protect(gdf, minimum, ["count", "base_count"])
    return out, dict(meta, total=_total(meta.get("total", {}), minimum))


def series(gdf, minimum: int, column: str = "series"):
    """Per-bin counts of each ward (a list per row): the row's total is published by the
    areas API, so the bins of a row are linked to it."""
    table = np.array([list(s) for s in gdf[column]], dtype=float)
    if table.size == 0:
        return gdf.assign(suppressed=False)
    full = np.column_stack([table, table.sum(axis=1)])
    m = mask(full, minimum, row_total=full.shape[1] - 1,
             keys=gdf["code"].to_numpy() if "code" in gdf.columns else None)[:, :-1]
    out = gdf.copy()
    out[column] = [[None if hide else int(x) for x, hide in zip(row, mrow)] for row, mrow in zip(table, m)]
    out["suppressed"] = m.any(axis=1)
    return out


def cells(frame: pd.DataFrame, minimum: int, *, row: str, col: str, values=("count", "base_count"),
          hidden_totals=()) -> pd.DataFrame:
    """Unit × category rows: the cells of each unit add up to its total (``hidden_totals``:
    the units whose total is suppressed elsewhere), those of a category to its total."""
    out = frame.copy()
    hit = np.zeros(len(frame), dtype=bool)
    for v in values:
        wide = frame.pivot_table(index=row, columns=col, values=v, aggfunc="sum", fill_value=0)
        if wide.empty:
            continue
        table = wide.to_numpy(dtype=float)
        full = np.column_stack([table, table.sum(axis=1)])
        preset = np.zeros(full.shape, dtype=bool)
        preset[:, -1] = wide.index.isin(list(hidden_totals))
        m = mask(full, minimum, row_total=full.shape[1] - 1, keys=wide.index.to_numpy(), preset=preset)[:, :-1]
        hidden = pd.DataFrame(m, index=wide.index, columns=wide.columns)
        where = np.array([bool(hidden.at[r, c]) for r, c in zip(frame[row], frame[col])], dtype=bool)
        out[v] = _nulled(out[v], where)
        hit |= where
    for c in ALL_DERIVED:
        if c in out.columns and c not in values:
            out[c] = _nulled(out[c], hit)
    out["suppressed"] = hit
    return out


def _total(total: dict, minimum: int) -> dict:
    total = dict(total)
    if any(1 <= (total.get(k) or 0) < minimum for k in ("count", "base_count")):
        total.update({k: None for k in ("count", "base_count", *CHANGE_DERIVED, *WARD_DERIVED) if k in total},
                     suppressed=True)
    if 1 <= (total.get("serious_count") or 0) < minimum:       # the serious cases' clearance rate
        total.update({k: None for k in ("serious_count", "serious_cleared_count", "serious_clearance_rate")})
    return total


def report(rep, minimum: int):
    """The committee's periodic report (:class:`geo.committee.Report`) as users below analyst see it."""

    units = protect(rep.units, minimum, ["count", "base_count"])
    hidden = set(units.loc[pd.isna(units["count"].astype(float)), "code"])
    detail = cells(rep.detail, minimum, row="unit_code", col="category", hidden_totals=hidden) \
        if len(rep.detail) else rep.detail.assign(suppressed=False)
    by_category = protect(rep.by_category, minimum, ["count", "base_count"])
    return dataclasses.replace(rep, units=units, by_category=by_category, detail=detail,
                               total=_total(rep.total, minimum),
                               groups=_groups(rep.groups, by_category, minimum),
                               matrix=_matrix(rep.matrix, detail, rep.matrix_keys))


def _groups(groups: pd.DataFrame, by_category: pd.DataFrame, minimum: int) -> pd.DataFrame:
    """Report groups (sums of categories): a small group, and a group with a suppressed member
    (the group minus the other members would give it away), are suppressed whole."""
    if not len(groups):
        return groups.assign(suppressed=False)
    out = protect(groups, minimum, ["count", "base_count"])
    hidden = set(by_category.loc[by_category["suppressed"].astype(bool), "category"])
    hit = out["suppressed"].to_numpy() | np.array([bool(hidden & set(m)) for m in out["members"]])
    for c in ("count", "base_count", *CHANGE_DERIVED, *WARD_DERIVED):
        if c in out.columns:
            out[c] = _nulled(out[c], hit)
    out["suppressed"] = hit
    return out


def _matrix(matrix: pd.DataFrame, detail: pd.DataFrame, keys) -> pd.DataFrame:
    """The wide unit × category table: a cell (a category, or a group of categories) is null
    when one of its members is suppressed in the protected long table ``detail``."""
    if not len(matrix) or not len(detail):
        return matrix
    hidden = set(zip(detail.loc[detail["suppressed"].astype(bool), "unit_code"],
                     detail.loc[detail["suppressed"].astype(bool), "category"]))
    out = matrix.copy()
    for key, _label, members in keys:
        hit = np.array([any((u, m) in hidden for m in members) for u in out["code"]])
        for f in ("count", "base_count", "change"):
            out[f"{key}|{f}"] = _nulled(out[f"{key}|{f}"], hit)
    return out


def ranked(gdf, minimum: int):
    """Complex areas and spots: the counts, the change and the reason that quotes them."""
    return protect(gdf, minimum, ["count", "base_count"])


def spots(gdf, minimum: int):
    """DBSCAN/HDBSCAN spots with at least ``minimum`` incidents; the per-category counts of
    the remaining ones reduced to the category names (a small category would be the
    spot's count minus the others)."""
    out = gdf[gdf["count"] >= minimum].copy()
    if "categories" in out.columns:
        out["categories"] = out["categories"].map(
            lambda s: ", ".join(re.sub(r":\s*\d+$", "", p.strip()) for p in str(s).split(",") if p.strip())
            if isinstance(s, str) else s)
    return out


def contours(gdf, points, minimum: int):
    """KDE contour polygons holding at least ``minimum`` of ``points`` (lon, lat): each
    level's (multi)polygon is split into its parts, the parts with fewer incidents are
    dropped, and a level left with no part is dropped."""

    pts = points.dropna(subset=["lon", "lat"])
    tree = shapely.STRtree(shapely.points(pts["lon"].to_numpy(), pts["lat"].to_numpy()))
    keep, shapes = [], []
    for i, geom in enumerate(gdf.geometry):
        parts = [p for p in shapely.get_parts(geom) if not p.is_empty]
        big = [p for p in parts if len(tree.query(p, predicate="intersects")) >= minimum]
        if big:
            keep.append(i)
            shapes.append(shapely.union_all(big) if len(big) > 1 else big[0])
    out = gdf.iloc[keep].copy()
    out["geometry"] = shapes
    if "cells" in out.columns:  # the cell counts and area of the dropped parts are gone too
        out = out.drop(columns=[c for c in ("cells", "area_km2") if c in out.columns])
    return out


def selection_contours(engine, gdf, minimum: int, *, boundary, start, end, categories):
    """:func:`contours` counted over the incidents of the selection that lie in a unit of ``boundary``."""

    inc = analysis.incidents(engine, boundary=boundary, start=start, end=end, categories=list(categories))
    return contours(gdf, inc[inc["code"].notna()], minimum)


def ward_detail(detail: dict, area_row: dict | None, minimum: int) -> dict:
    """The ward panel: the count and the per-category counts as the areas API publishes
    them (``area_row``, so the two agree), the months linked to the ward's total and the
    months of cùng kỳ to its total."""
    out = dict(detail)
    months = detail["months"]
    counts = np.array([[m["count"] for m in months] + [detail["count"]]], dtype=float)
    m = mask(counts, minimum, row_total=counts.shape[1] - 1)[0]
    out["months"] = [dict(mo, count=None if hide else mo["count"]) for mo, hide in zip(months, m[:-1])]
    if area_row is not None:
        out["count"] = area_row.get("count")
        out["categories"] = {k: area_row.get(f"count_{k}", v) for k, v in detail["categories"].items()}
    hidden = out["count"] is None or m.any() or any(v is None for v in out["categories"].values())
    if out["count"] is None:
        out["clearance_rate"] = None
    cmp = dict(detail["compare"])
    if out["count"] is None or 1 <= (cmp.get("base_count") or 0) < minimum:
        cmp.update({k: None for k in ("count", "base_count", "change_pct", "p_value", "q_value",
                                      "change_text")})
        hidden = True
    out["compare"] = cmp
    if "base_months" in detail:  # the same months a year earlier, linked to cùng kỳ's total the same way
        base = detail["base_months"]
        b = mask(np.array([[mo["count"] for mo in base] + [detail["compare"]["base_count"] or 0]], dtype=float),
                 minimum, row_total=len(base))[0]
        gone = cmp["base_count"] is None
        out["base_months"] = [dict(mo, count=None if gone or hide else mo["count"]) for mo, hide in zip(base, b[:-1])]
        hidden = hidden or bool(b.any())
    out["suppressed"] = bool(hidden)
    out["suppressed_text"] = label(minimum)
    return out


#: Columns that hold a count (or the forecast of one) beside the ``count_<category>`` ones.
COUNTS = ("count", "base_count", "last_year", "expected")


def labelled(table: pd.DataFrame, minimum: int) -> pd.DataFrame:
    """A display copy of a protected table: its suppressed numbers as "< 5" text."""
    if "suppressed" not in table.columns or not table["suppressed"].any():
        return table
    out = table.copy()
    text = label(minimum)
    rows = out["suppressed"].astype(bool).to_numpy()
    for c in out.columns:
        if c in TEXT or c == "geometry" or not (c in COUNTS or c.startswith("count_") or c in ALL_DERIVED):
            continue
        hide = rows & out[c].isna().to_numpy()
        if hide.any():
            out[c] = [text if h else x for x, h in zip(out[c].astype(object).tolist(), hide)]
    return out
