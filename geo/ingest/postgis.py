"""Joining stored incidents to units inside PostgreSQL (PostGIS), by the rules of
:func:`geo.ingest.join.assign_wards`.

The units are detailed (Hồ Chí Minh City 2025: 168 wards, 217,340 vertices), so each is also kept
cut into pieces of at most :data:`PIECE_VERTICES` vertices (``ST_Subdivide``, table ``area_piece``
of migration 0014, GiST index, written by :func:`build_pieces` when a version is saved). A piece
carries its unit's id, code and version, so the join reads only pieces: each piece looks up the
points in its box, and a point in no unit looks up the pieces near it for the nearest one.
"""
from __future__ import annotations

import geopandas as gpd
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from clustering.projection import metric_crs_for

# Imports of at least this many rows on PostgreSQL are joined here, after the rows are written,
# instead of by shapely before (None: never). Whole imports measured by bench/pg_join.py (HCMC 2025
# + 2019, demo incidents, time with this join / time with the Python join): 1.01 at 5,000 rows,
# 0.83 at 20,000, 0.91 at 50,000, 0.68 at 150,000, 0.81 at 1,000,000 into an empty store; 1.00 at
# 20,000 and 0.98 at 50,000 into a store already holding 1,000,000 incidents.
IN_DATABASE_JOIN_ROWS: int | None = 50_000

#: Largest number of vertices of a piece (ST_Subdivide's max_vertices).
PIECE_VERTICES = 255

#: The units as the join reads them: their pieces (the default), or the whole polygons (for comparison).
PIECES = "area_piece"
POLYGONS = "(SELECT id AS area_id, version_id, code, geom FROM area)"


def joins_in_database(bind: Connection | Engine, rows: int) -> bool:
    """Whether an import of ``rows`` rows into the store behind ``bind`` is joined in the database."""
    return bind.dialect.name == "postgresql" and IN_DATABASE_JOIN_ROWS is not None and rows >= IN_DATABASE_JOIN_ROWS


def build_pieces(conn: Connection, version_id: int) -> int:
    """Cut the units of version ``version_id`` into pieces; returns the number of pieces (0 off PostgreSQL).

    The pieces go with their unit (ON DELETE CASCADE), so removing or replacing a version removes them.
    """
    if conn.dialect.name != "postgresql":
        return 0
    n = conn.execute(text(
        "INSERT INTO area_piece (area_id, version_id, code, geom) "
        "SELECT id, version_id, code, ST_Subdivide(geom, :vertices) FROM area WHERE version_id = :v"),
        {"v": version_id, "vertices": PIECE_VERTICES}).rowcount
    conn.execute(text("ANALYZE area_piece"))  # the planner sees the new pieces for the join that follows
    return n


def join_in_database(conn: Connection, version_ids: list[int], tolerance_m: float, *,
                     batch_id: int | None = None, units: str = PIECES) -> dict[int, dict[str, int]]:
    """Write the unit of each stored incident with coordinates in each version of ``version_ids`` (method
    ``within`` or ``nearest``, distance in metres) into ``incident_area``; returns the rows added per
    version and method. ``batch_id`` limits it to one import's incidents.

    The rules of :func:`geo.ingest.join.assign_wards`: a point inside or on the border of several
    units goes to the lowest code; a point in no unit but within ``tolerance_m`` metres of one goes
    to the nearest (ties: lowest code), the distance measured in the UTM zone of the version
    (:func:`clustering.projection.metric_crs_for`); farther points get no row. The distance to a
    unit is the smallest distance to its pieces, since the pieces cover exactly the unit.
    ``units`` is :data:`PIECES` or, to compare, :data:`POLYGONS`.
    """
    # The points get a GiST index of their own (a temporary table) and each piece looks up the
    # points in its box: measured 2-2.5 times faster than each point looking up the pieces
    # (bench/pg_join.py), since a lookup costs about as much as the test against a small piece.
    # The table is written in the order of the geometries (PostGIS sorts them along a Hilbert
    # curve), so that the points of a piece lie on few pages: at 1,000,000 points the join of
    # one version took 6 s instead of 20 s.
    # The planner overestimates these joins (millions of rows for each point once) and compiles them
    # with LLVM, which cost more than the join itself at 150,000 points: no JIT for them.
    jit = conn.execute(text("SELECT current_setting('jit')")).scalar()
    conn.execute(text("SELECT set_config('jit', 'off', true)"))
    conn.execute(text("DROP TABLE IF EXISTS pg_temp.join_point"))
    conn.execute(text(
        "CREATE TEMPORARY TABLE join_point AS SELECT id, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS g "
        "FROM incident WHERE lon IS NOT NULL" + (" AND batch_id = :b" if batch_id is not None else "")
        + " ORDER BY g"),
        {"b": batch_id})
    conn.execute(text("CREATE INDEX ON join_point USING gist (g)"))
    conn.execute(text("ANALYZE join_point"))
    out = {vid: _join_version(conn, vid, tolerance_m, units) for vid in version_ids}
    conn.execute(text("DROP TABLE join_point"))
    conn.execute(text("SELECT set_config('jit', :jit, true)"), {"jit": jit})
    return out


def _join_version(conn: Connection, version_id: int, tolerance_m: float, units: str) -> dict[str, int]:
    params = {"v": version_id, "tol": tolerance_m,
              "deg": tolerance_m / 100_000 + 1e-4}  # a degree is at least 100 km in Viet Nam
    within = conn.execute(text(
        "INSERT INTO incident_area (version_id, incident_id, area_id, method, distance_m) "
        "SELECT DISTINCT ON (p.id) :v, p.id, u.area_id, 'within', NULL "
        f"FROM {units} u JOIN join_point p ON ST_Intersects(u.geom, p.g) "
        "WHERE u.version_id = :v ORDER BY p.id, u.code"), params).rowcount
    nearest = 0
    extent = conn.execute(text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                               "(SELECT ST_Extent(geom) AS e FROM area WHERE version_id = :v) s"),
                          {"v": version_id}).one()
    if tolerance_m > 0 and extent[0] is not None:
        # metres in the UTM zone of the version, as assign_wards measures them (metric_crs_for)
        params["srid"] = metric_crs_for(gpd.GeoSeries([shapely.box(*extent)], crs="EPSG:4326")).to_epsg()
        metric = "ST_Distance(ST_Transform(u.geom, :srid), ST_Transform(p.g, :srid))"
        nearest = conn.execute(text(
            "INSERT INTO incident_area (version_id, incident_id, area_id, method, distance_m) "
            f"SELECT DISTINCT ON (p.id) :v, p.id, u.area_id, 'nearest', round({metric}::numeric, 2) "
            "FROM join_point p "
            # the box test uses the pieces' GiST index; the distance in metres then decides
            f"JOIN {units} u ON u.version_id = :v AND u.geom && ST_Expand(p.g, :deg) AND {metric} <= :tol "
            "WHERE NOT EXISTS (SELECT 1 FROM incident_area x WHERE x.version_id = :v AND x.incident_id = p.id) "
            f"ORDER BY p.id, {metric}, u.code"), params).rowcount
    return {"within": within, "nearest": nearest}
