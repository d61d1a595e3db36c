"""Read-side queries over the store: counts per area and period, summaries."""
from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import bindparam, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from geo.categories import split_selection, time_window
from geo.errors import InputError
from geo.format import gettext as _
from geo.store.categories import catalogue
from geo.store.models import AREA_DAY_SELECT, Area, BoundaryVersion, Crosswalk, ImportBatch

WGS84 = "EPSG:4326"


def load_areas(engine_or_conn, version: str | int) -> gpd.GeoDataFrame:
    """The areas of a stored version as a GeoDataFrame (WGS 84) with ``area_id``, sorted by code."""
    cond = BoundaryVersion.id == version if isinstance(version, int) else BoundaryVersion.name == version
    stmt = (select(Area.id.label("area_id"), Area.code, Area.name, Area.parent_code, Area.parent_name,
                   Area.level, Area.population, Area.area_km2, Area.geom_wkb)
            .join(BoundaryVersion).where(cond).order_by(Area.code))
    conn_ctx = engine_or_conn.connect() if isinstance(engine_or_conn, Engine) else _nullctx(engine_or_conn)
    with conn_ctx as conn:
        df = pd.DataFrame(conn.execute(stmt).all(), columns=[
            "area_id", "code", "name", "parent_code", "parent_name", "level", "population",
            "area_km2", "geom_wkb"])
    if df.empty:
        raise InputError(_("No boundary version %(version)r in the store. A shipped set is loaded with: "
                           "flask --app server load-shipped-boundaries --sets NAME (without the Internet: "
                           "flask --app server load-boundaries-bundle FILE.zip); a layer of your own with: "
                           "flask --app server load-boundaries FILE --name NAME.", version=version))
    geom = shapely.from_wkb(df.pop("geom_wkb").to_numpy())
    return gpd.GeoDataFrame(df, geometry=geom, crs=WGS84)


class _nullctx:
    def __init__(self, v):
        self.v = v

    def __enter__(self):
        return self.v

    def __exit__(self, *a):
        return False


def versions(engine: Engine) -> list[BoundaryVersion]:
    with Session(engine) as s:
        out = list(s.scalars(select(BoundaryVersion).order_by(BoundaryVersion.valid_from.desc(),
                                                              BoundaryVersion.name)))
        s.expunge_all()
    return out


def crosswalk_rows(engine: Engine, old: str, new: str) -> pd.DataFrame:
    """The stored crosswalk from version ``old`` to ``new``: old_code, new_code, area_share (the
    share of the old unit's area in the new one); no rows when there is none."""
    o, n = BoundaryVersion.__table__.alias("o"), BoundaryVersion.__table__.alias("n")
    stmt = (select(Crosswalk.old_code, Crosswalk.new_code, Crosswalk.area_share)
            .join(o, o.c.id == Crosswalk.old_version_id).join(n, n.c.id == Crosswalk.new_version_id)
            .where(o.c.name == old, n.c.name == new))
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(stmt).all(), columns=["old_code", "new_code", "area_share"])


def check_categories(engine: Engine, categories: list[str]) -> list[str]:
    """Category codes for a list of category or group codes (and raw labels, ``raw:…``, which are
    left out); unknown codes are an error."""
    return catalogue(engine).check(categories)


def period_query(engine: Engine, sql: str, category_column: str, group_by: str, *, boundary: str,
                 start: dt.date, end: dt.date, categories, raw_column: str | None = None,
                 incident: str | None = None) -> list:
    """Run ``sql`` (a SELECT … WHERE with the parameters :boundary, :start and :end, and :raws,
    :hours and :weekdays when it filters raw labels and times itself) with the category filter (and
    the raw-label filter on ``raw_column``, the hour and weekday filters on the incident table's alias
    ``incident``) and the GROUP BY added; returns the rows."""
    cats = check_categories(engine, categories or [])
    _codes, raws = split_selection(categories)
    sql += (f"AND {category_column} IN :cats " if cats else "") + (
        f"AND {raw_column} IN :raws " if raws and raw_column else "")
    if incident:
        sql += "".join(f"AND {c} " for c in time_conditions(incident, categories))
    sql += f"GROUP BY {group_by}" if group_by else ""
    stmt = text(sql)
    hours, weekdays = time_window(categories)
    params = {"boundary": boundary, "start": start, "end": end}
    for name, values in (("cats", cats), ("raws", raws), ("hours", hours), ("weekdays", weekdays)):
        if values and f":{name}" in sql:
            stmt = stmt.bindparams(bindparam(name, expanding=True))
            params[name] = list(values)
    with engine.connect() as conn:
        return conn.execute(stmt, params).all()


def time_conditions(alias: str, categories) -> list[str]:
    """The SQL conditions on the incident table ``alias`` of a selection's hour and weekday terms
    (an hour window leaves out the incidents without a known time: their hour is NULL)."""
    hours, weekdays = time_window(categories)
    return ([f"{alias}.local_hour IN :hours"] if hours else []) + (
        [f"{alias}.local_weekday IN :weekdays"] if weekdays else [])


def day_rows(engine: Engine, select: str, *, boundary: str, start: dt.date, end: dt.date, categories,
             group_by: str) -> list:
    """Rows of ``SELECT <select>`` over the per unit, day and category aggregates ``d`` of
    ``boundary`` in [start, end], with the unit ``a``: pages never scan the raw incidents.

    The aggregates keep neither the files' labels nor the times of day, so a selection with raw labels
    (``raw:…``) or time terms (``hour:…``, ``weekday:…``) counts the incidents of the period with those
    conditions into the same columns instead (a scan of the period's incidents by the local-date index:
    slower, see the README)."""
    version = "(SELECT id FROM boundary_version WHERE name = :boundary)"
    conds = (["i.category_raw IN :raws"] if split_selection(categories)[1] else []) + time_conditions("i", categories)
    if conds:
        source = (f"({AREA_DAY_SELECT} WHERE ia.version_id = {version} AND i.local_date >= :start "
                  f"AND i.local_date <= :end AND {' AND '.join(conds)} "
                  "GROUP BY ia.version_id, i.local_date, ia.area_id, i.category) d")
    else:
        source = "area_day d"
    sql = (f"SELECT {select} FROM {source} JOIN area a ON a.id = d.area_id "
           f"WHERE d.version_id = {version} AND d.local_date >= :start AND d.local_date <= :end ")
    return period_query(engine, sql, "d.category", group_by, boundary=boundary, start=start, end=end,
                        categories=categories)


def raw_labels(engine: Engine, limit: int = 500) -> list[tuple[str, int]]:
    """The files' own category labels with their incidents, most frequent first."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT category_raw, COUNT(*) FROM incident WHERE category_raw IS NOT NULL GROUP BY category_raw "
            "ORDER BY COUNT(*) DESC, category_raw LIMIT :n"), {"n": limit}).all()]


def counts_by_area(engine: Engine, *, boundary: str, start: dt.date, end: dt.date,
                   categories: list[str] | None = None) -> pd.DataFrame:
    """Incidents per (area_id, category) whose local date lies in [start, end]."""
    rows = day_rows(engine, "d.area_id, d.category, SUM(d.n)", boundary=boundary, start=start, end=end,
                    categories=categories, group_by="d.area_id, d.category")
    return pd.DataFrame(rows, columns=["area_id", "category", "n"])


def area_counts(engine: Engine, *, boundary: str, start: dt.date, end: dt.date,
                categories: list[str] | None = None) -> gpd.GeoDataFrame:
    """Every area of ``boundary`` with ``count`` and ``count_<category>`` over [start, end]."""
    if end < start:
        raise InputError(_("`end` (%(end)s) is before `start` (%(start)s).", end=end, start=start))
    areas = load_areas(engine, boundary)
    counts = counts_by_area(engine, boundary=boundary, start=start, end=end, categories=categories)
    wide = counts.pivot_table(index="area_id", columns="category", values="n", aggfunc="sum", fill_value=0)
    wide.columns = [f"count_{c}" for c in wide.columns]
    out = areas[["area_id", "code", "name", "parent_code", "parent_name", "level", "area_km2",
                 "population", "geometry"]].merge(wide, left_on="area_id", right_index=True, how="left")
    cat_cols = [c for c in out.columns if c.startswith("count_")]
    out[cat_cols] = out[cat_cols].fillna(0).astype(int)
    out.insert(2, "count", out[cat_cols].sum(axis=1).astype(int) if cat_cols else 0)
    return gpd.GeoDataFrame(out.drop(columns="area_id"), geometry="geometry", crs=areas.crs)


def summary(engine: Engine) -> dict:
    """What the home page shows: versions with unit counts, incidents, date range, last imports."""
    with engine.connect() as conn:
        inc = conn.execute(text("SELECT COUNT(*), MIN(local_date), MAX(local_date) FROM incident")).one()
        per_version = dict(conn.execute(text(
            "SELECT version_id, COUNT(*) FROM area GROUP BY version_id")).all())
        batches = conn.execute(text(
            "SELECT id, file_name, source, imported_by, finished_at, accepted, updated, rejected "
            "FROM import_batch WHERE status = 'done' ORDER BY id DESC LIMIT 5")).all()
        by_cat = conn.execute(text("SELECT category, COUNT(*) FROM incident GROUP BY category "
                                   "ORDER BY COUNT(*) DESC")).all()
    return {
        "versions": [(v, per_version.get(v.id, 0)) for v in versions(engine)],
        "incidents": inc[0], "first_date": _d(inc[1]), "last_date": _d(inc[2]),
        "batches": batches, "by_category": by_cat,
    }


def _d(v):
    if v is None or isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(str(v)[:10])


def import_batches(engine: Engine, limit: int = 20) -> list:
    """The newest imports: file, source, who, when and the row counts."""
    with engine.connect() as conn:
        return conn.execute(select(ImportBatch.id, ImportBatch.file_name, ImportBatch.source,
                                   ImportBatch.imported_by, ImportBatch.finished_at, ImportBatch.accepted,
                                   ImportBatch.updated, ImportBatch.rejected)
                            .order_by(ImportBatch.id.desc()).limit(limit)).all()


def finished_import(engine: Engine, source: str, sha256: str):
    """``(id, finished_at)`` of the newest finished import of the file ``sha256`` from ``source``, or None."""
    with engine.connect() as conn:
        return conn.execute(select(ImportBatch.id, ImportBatch.finished_at)
                            .where(ImportBatch.source == source, ImportBatch.sha256 == sha256,
                                   ImportBatch.status == "done")
                            .order_by(ImportBatch.id.desc()).limit(1)).first()


def rejected_rows(engine: Engine, batch_id: int):
    """``(file_name, rejected_csv, rejected_format)`` of an import, or None when there is no such import."""
    with engine.connect() as conn:
        return conn.execute(select(ImportBatch.file_name, ImportBatch.rejected_csv, ImportBatch.rejected_format)
                            .where(ImportBatch.id == batch_id)).first()
