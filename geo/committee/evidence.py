"""The figures behind an assessment: incidents counted inside an area, the change in words, still hot or not.

An incident counts for an area when its coordinates lie inside the area's polygon, or, placed only
by ward, when its ward is the area's ward (or lies at least half inside a spot or polygon). A ward
is still a hot spot when its Gi* class is hot at 90 % confidence or more; a spot or polygon when a
DBSCAN spot of the period intersects it.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine

from geo import analysis
from geo import periods as pr
from geo.committee.areas import Area, area_km2
from geo.committee.candidates import spot_args
from geo.errors import InputError
from geo.store.queries import check_categories

#: Gi* classes that count as "still a hot spot" (≥ 90 % confidence).
HOT_CODES = ("hot_90", "hot_95", "hot_99")
#: Incidents placed only by ward (no coordinates) count for a spot or polygon when at least
#: this share of their ward lies inside it.
GIVEN_WARD_SHARE = 0.5
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
    cats = check_categories(engine, list(categories))
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
                                      categories=list(categories), **spot_args())
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
