"""Join incidents to wards in PostGIS (on the units' pieces, on the whole polygons) and in Python.

On a throwaway PostgreSQL/PostGIS server (started as the tests start it, ``tests/pg.py``) with the
HCMC 2025 and 2019 boundaries, for each size of ``--rows`` the demo incidents
(``geo.ingest.demo.generate``) are imported once with the Python join, which gives the reference
wards; then, in the same run and on the same stored incidents, each join writes the wards of both
versions again (in a transaction that is rolled back) and is compared with the reference (same unit
and method per incident, distances to 0.01 m):

- Python: ``join_rows`` (``assign_wards`` per version, what an import runs) alone, and with writing
  its rows into ``incident_area`` (what an import then does);
- PostGIS, pieces find points: ``geo.ingest.postgis.join_in_database`` (each piece of a unit looks
  up the points in their own GiST index), and the same on the whole polygons (``units=POLYGONS``);
- PostGIS, points find pieces/polygons: each point looks up the units' GiST index (the join as it
  was before the pieces, :func:`join_by_probes`).

Each statement is stopped after ``--timeout`` seconds (shown as "> N"). ``--imports`` times whole
imports (``import_file``) with each join, in turns, ``--repeat`` times each into a fresh copy of the
store (``--stored N``: a store already holding N incidents), and shows the medians: the measure
behind ``IN_DATABASE_JOIN_ROWS``.

    python bench/pg_join.py [--rows 150000 1000000] [--timeout 300] [--imports 20000 50000 150000]
                            [--repeat 3] [--stored 1000000]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BOUNDARIES = ROOT.parent / "shared" / "data" / "boundaries"
VERSIONS = ("hcmc-2025", "hcmc-2019")


def make_template(server) -> str:
    from geo.ingest.shipped import load_shipped
    from geo.store.models import make_engine, upgrade

    url = server.create("template_bench")
    upgrade(url)
    eng = make_engine(url)
    load_shipped(eng, BOUNDARIES, names=list(VERSIONS))
    eng.dispose()
    return "template_bench"


def import_csv(url: str, csv: Path, threshold: int | None) -> float:
    from geo.ingest import postgis
    from geo.ingest.importer import import_file
    from geo.store.models import make_engine

    postgis.IN_DATABASE_JOIN_ROWS = threshold
    eng = make_engine(url)
    t = time.perf_counter()
    import_file(eng, csv, source="bench")
    seconds = time.perf_counter() - t
    eng.dispose()
    return seconds


def stored_wards(conn, version_ids):
    import pandas as pd
    from sqlalchemy import bindparam, text

    return pd.read_sql(text("SELECT version_id, incident_id, area_id, method, distance_m FROM incident_area "
                            "WHERE version_id IN :v ORDER BY version_id, incident_id")
                       .bindparams(bindparam("v", expanding=True)), conn, params={"v": list(version_ids)})


def same(got, ref) -> bool:
    """The same unit and method per (version, incident), distances equal to 0.01 m."""
    import numpy as np

    if len(got) != len(ref):
        return False
    a, b = got.reset_index(drop=True), ref.reset_index(drop=True)
    keys = (a[["version_id", "incident_id", "area_id"]].to_numpy() == b[["version_id", "incident_id",
                                                                        "area_id"]].to_numpy()).all()
    methods = (a["method"].to_numpy() == b["method"].to_numpy()).all()
    da, db = a["distance_m"].fillna(0).to_numpy(), b["distance_m"].fillna(0).to_numpy()
    return bool(keys and methods and np.all(np.abs(da - db) <= 0.01 + 1e-9))


def join_by_probes(conn, version_ids, tolerance_m: float, units: str) -> None:
    """The join as it was before the pieces: each incident looks its units up in their GiST index.

    Kept here for comparison only (same rules and SQL as ``geo.ingest.postgis`` otherwise)."""
    import geopandas as gpd
    import shapely
    from sqlalchemy import text

    from clustering.projection import metric_crs_for

    point = "ST_SetSRID(ST_MakePoint(i.lon, i.lat), 4326)"
    for vid in version_ids:
        params = {"v": vid, "tol": tolerance_m, "deg": tolerance_m / 100_000 + 1e-4}
        conn.execute(text(
            "INSERT INTO incident_area (version_id, incident_id, area_id, method, distance_m) "
            "SELECT DISTINCT ON (i.id) :v, i.id, u.area_id, 'within', NULL FROM incident i "
            f"JOIN {units} u ON u.version_id = :v AND ST_Intersects(u.geom, {point}) "
            "WHERE i.lon IS NOT NULL ORDER BY i.id, u.code"), params)
        extent = conn.execute(text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                                   "(SELECT ST_Extent(geom) AS e FROM area WHERE version_id = :v) s"), params).one()
        params["srid"] = metric_crs_for(gpd.GeoSeries([shapely.box(*extent)], crs="EPSG:4326")).to_epsg()
        metric = f"ST_Distance(ST_Transform(u.geom, :srid), ST_Transform({point}, :srid))"
        conn.execute(text(
            "INSERT INTO incident_area (version_id, incident_id, area_id, method, distance_m) "
            f"SELECT DISTINCT ON (i.id) :v, i.id, u.area_id, 'nearest', round({metric}::numeric, 2) FROM incident i "
            f"JOIN {units} u ON u.version_id = :v AND u.geom && ST_Expand({point}, :deg) AND {metric} <= :tol "
            "WHERE i.lon IS NOT NULL AND NOT EXISTS (SELECT 1 FROM incident_area x "
            "WHERE x.version_id = :v AND x.incident_id = i.id) "
            f"ORDER BY i.id, {metric}, u.code"), params)


def measure(url: str, timeout_s: int) -> list[tuple[str, float | None, bool | None]]:
    """(join, seconds or None when stopped at the timeout, identical to the reference or None)."""
    import numpy as np
    import pandas as pd
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from geo.ingest import postgis
    from geo.ingest.importer import _insert_areas, join_rows, load_versions
    from geo.store.models import make_engine

    eng = make_engine(url)
    out = []
    with eng.connect() as conn:
        versions = [v for v in load_versions(conn) if v.name in VERSIONS]
        vids = [v.id for v in versions]
        ref = stored_wards(conn, vids)
        pts = pd.read_sql(text("SELECT id, lon, lat FROM incident ORDER BY id"), conn)
        nones = np.full(len(pts), None)
        conn.rollback()

        t = time.perf_counter()
        joined = join_rows(versions, pts["lon"], pts["lat"], nones, nones, tolerance_m=50.0)
        python = time.perf_counter() - t
        out.append(("Python (join_rows)", python, None))

        with conn.begin() as tx:
            conn.execute(text("DELETE FROM incident_area"))
            t = time.perf_counter()
            _insert_areas(conn, pts["id"].to_numpy(), joined)
            out.append(("Python (join_rows + write)", python + time.perf_counter() - t,
                        same(stored_wards(conn, vids), ref)))
            tx.rollback()

        joins = {
            "PostGIS, pieces find points": lambda: postgis.join_in_database(conn, vids, 50.0),
            "PostGIS, polygons find points": lambda: postgis.join_in_database(conn, vids, 50.0,
                                                                              units=postgis.POLYGONS),
            "PostGIS, points find pieces": lambda: join_by_probes(conn, vids, 50.0, postgis.PIECES),
            "PostGIS, points find polygons": lambda: join_by_probes(conn, vids, 50.0, postgis.POLYGONS),
        }
        for label, join in joins.items():
            with conn.begin() as tx:
                conn.execute(text("DELETE FROM incident_area"))
                conn.execute(text(f"SET LOCAL statement_timeout = '{int(timeout_s)}s'"))
                t = time.perf_counter()
                try:
                    join()
                    out.append((label, time.perf_counter() - t, same(stored_wards(conn, vids), ref)))
                except OperationalError as exc:  # the statement timeout (QueryCanceled)
                    if "statement timeout" not in str(exc):
                        raise
                    out.append((label, None, None))
                tx.rollback()
    eng.dispose()
    return out


def import_times(server, template: str, csv: Path, repeat: int) -> tuple[float, float, bool]:
    """Median seconds of whole imports of ``csv`` with the Python join and with the PostGIS join, in
    turns, each into a fresh copy of the store; and whether both stored the same wards."""
    import statistics

    from geo.store.models import make_engine

    seconds = {None: [], 1: []}
    wards = {}
    for k in range(repeat):
        for threshold in ((None, 1) if k % 2 == 0 else (1, None)):
            url = server.create(f"import_{csv.stem}_{k}_{threshold}", template=template)
            seconds[threshold].append(import_csv(url, csv, threshold))
            if k == 0:
                eng = make_engine(url)
                with eng.connect() as conn:
                    wards[threshold] = stored_wards(conn, [1, 2])
                eng.dispose()
            server.sql(f'DROP DATABASE "import_{csv.stem}_{k}_{threshold}"')
    return statistics.median(seconds[None]), statistics.median(seconds[1]), same(wards[1], wards[None])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="*", default=[150_000, 1_000_000], help="Sizes of the join comparison.")
    ap.add_argument("--timeout", type=int, default=300, help="Seconds allowed to each statement of a PostGIS join.")
    ap.add_argument("--imports", type=int, nargs="*", default=[], help="Sizes of the whole-import comparison.")
    ap.add_argument("--repeat", type=int, default=3, help="Imports of each kind per size (the median is shown).")
    ap.add_argument("--stored", type=int, default=0, help="Import into a store already holding this many incidents.")
    args = ap.parse_args()

    from geo.ingest import demo
    from geo.store.models import make_engine
    from geo.store.queries import load_areas
    from tests.pg import Server

    server = Server()
    try:
        template = make_template(server)
        eng = make_engine(server.url(template))
        wards = load_areas(eng, "hcmc-2025")
        with eng.connect() as conn:
            pieces = conn.exec_driver_sql("SELECT count(*), max(ST_NPoints(geom)) FROM area_piece "
                                          "JOIN boundary_version v ON v.id = version_id AND v.name = 'hcmc-2025'").one()
        eng.dispose()
        print(f"machine: {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} cores; "
              f"hcmc-2025: {len(wards)} wards, {int(wards.geometry.count_coordinates().sum()):,} vertices, "
              f"{pieces[0]:,} pieces of at most {pieces[1]} vertices")
        with tempfile.TemporaryDirectory() as tmp:
            def incidents(n: int, seed: int = 1) -> Path:
                csv = Path(tmp) / f"incidents_{n}_{seed}.csv"
                if not csv.exists():
                    records = demo.generate(wards, n=n, seed=seed)[0]
                    records["Mã vụ"] = f"S{seed}-" + records["Mã vụ"]  # new incidents, not updates
                    demo.write_csv(records, csv)
                return csv

            warm = server.create("warm_up", template=template)  # the first import loads modules and caches
            import_csv(warm, incidents(1_000), None)
            import_csv(warm, incidents(1_000), 1)
            for n in args.rows:
                url = server.create(f"joins_{n}", template=template)
                import_csv(url, incidents(n), None)  # the reference wards, joined in Python
                results = measure(url, args.timeout)
                base = {r[0]: r[1] for r in results}
                print_table([(n, *r) for r in results], base["Python (join_rows)"],
                            base["Python (join_rows + write)"], args.timeout)
                server.sql(f'DROP DATABASE "joins_{n}"')
            if args.imports and args.stored:
                url = server.create("stored", template=template)
                import_csv(url, incidents(args.stored), None)
                server.sql("VACUUM ANALYZE", "stored")
                template = "stored"
                print(f"\nimports into a store already holding {args.stored:,} incidents", end="")
            if args.imports:
                print(f"\n{'rows':>10}{'import, Python join':>22}{'import, PostGIS join':>22}{'ratio':>8}  identical")
            for n in args.imports:
                python, in_db, ok = import_times(server, template, incidents(n, seed=2), args.repeat)
                print(f"{n:>10,}{python:>22.2f}{in_db:>22.2f}{in_db / python:>8.2f}  {'yes' if ok else 'NO'}",
                      flush=True)
    finally:
        server.stop()


def print_table(rows, python: float, python_write: float, timeout_s: int) -> None:
    print(f"\n{'rows':>10}  {'join':<30}{'seconds':>10}{'vs join_rows':>14}{'vs +write':>11}  identical")
    for n, label, seconds, ok in rows:
        shown = f"> {timeout_s}" if seconds is None else f"{seconds:.2f}"
        r1 = "" if seconds is None else f"{seconds / python:.2f}"
        r2 = "" if seconds is None else f"{seconds / python_write:.2f}"
        flag = "" if ok is None else ("yes" if ok else "NO")
        print(f"{n:>10,}  {label:<30}{shown:>10}{r1:>14}{r2:>11}  {flag}", flush=True)


if __name__ == "__main__":
    main()
