"""The join in PostGIS (geo.ingest.postgis) against geo.ingest.join.assign_wards, on real PostgreSQL:
points on and around the borders of the Hồ Chí Minh City 2025 wards; the units' pieces (migration 0014)
written by a boundary load, removed by a delete, cut by the migration for a store that had none."""
from __future__ import annotations

import itertools
import os

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from alembic import command
from pyproj import Transformer
from sqlalchemy import text

from geo.ingest import boundaries as gb
from geo.ingest import postgis
from geo.ingest.importer import import_file
from geo.ingest.join import assign_wards
from geo.store.models import alembic_config, make_engine
from geo.store.queries import load_areas
from tests.conftest import HCMC_WARDS_FILE, NOW

_databases = itertools.count()
UTM48 = "EPSG:32648"


@pytest.fixture
def pg_engine(pg_server, pg_template):
    """A copy of the PostgreSQL test store (the three shipped sets, loaded by save_version)."""
    eng = make_engine(pg_server.create(f"pieces{os.environ.get('PYTEST_XDIST_WORKER', '')}_{next(_databases)}",
                                     template=pg_template))
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def wards_2025() -> gpd.GeoDataFrame:
    return gb.read_layer(HCMC_WARDS_FILE).sort_values("code").reset_index(drop=True)


def _offset(lon, lat, rng, low_m: float, high_m: float):
    """The points moved by a random distance in [low_m, high_m] metres, in a random direction (UTM 48N)."""
    to_m = Transformer.from_crs("EPSG:4326", UTM48, always_xy=True)
    back = Transformer.from_crs(UTM48, "EPSG:4326", always_xy=True)
    x, y = to_m.transform(lon, lat)
    r, a = rng.uniform(low_m, high_m, len(x)), rng.uniform(0, 2 * np.pi, len(x))
    return back.transform(x + r * np.cos(a), y + r * np.sin(a))


def border_points(wards: gpd.GeoDataFrame, seed: int = 25) -> pd.DataFrame:
    """Points on and around the wards' borders, with the kind of each and, for the vertices shared by
    wards, the lowest code among the wards that have that vertex (the border rule, worked out from the
    polygons' own vertex lists)."""
    rng = np.random.default_rng(seed)
    xy, owner = shapely.get_coordinates(wards.geometry.values, return_index=True)
    vertices = pd.DataFrame({"lon": xy[:, 0], "lat": xy[:, 1], "code": wards["code"].to_numpy()[owner]})
    by_vertex = vertices.drop_duplicates().groupby(["lon", "lat"])["code"].agg(["nunique", "min"]).reset_index()
    shared = by_vertex[by_vertex["nunique"] >= 2]
    rings = shapely.get_exterior_ring(shapely.get_parts(shapely.coverage_union_all(wards.geometry.values)))
    exterior, ring = shapely.get_coordinates(rings, return_index=True)
    outer = pd.MultiIndex.from_frame(shared[["lon", "lat"]]).isin(pd.MultiIndex.from_arrays(exterior.T))
    parts = [
        # on a border shared by two or more wards: exactly on a common vertex
        shared.sample(300, random_state=seed).assign(kind="shared vertex"),
        shared[shared["nunique"] >= 3].assign(kind="vertex of three wards"),
    ]
    near = shared.sample(300, random_state=seed + 1)
    lon, lat = _offset(near["lon"].to_numpy(), near["lat"].to_numpy(), rng, 0.01, 2.0)
    parts.append(pd.DataFrame({"lon": lon, "lat": lat, "kind": "beside a shared border"}))
    # outside the city, beside the end of a border between two wards, on the bisector of the city's
    # edge there: where the corner is convex the end is the nearest point of both wards, a tie
    ends = shared[outer]
    at = pd.Series(np.arange(len(exterior)), index=pd.MultiIndex.from_arrays(exterior.T))
    at = at[~at.index.duplicated()].loc[pd.MultiIndex.from_frame(ends[["lon", "lat"]])].to_numpy()
    at = at[(at > 0) & (ring[at - 1] == ring[at])]  # not the first vertex of a ring: it has both neighbours
    to_m = Transformer.from_crs("EPSG:4326", UTM48, always_xy=True)
    v, before, after = (np.column_stack(to_m.transform(*exterior[i].T)) for i in (at, at - 1, at + 1))
    unit = lambda d: d / np.hypot(*d.T)[:, None]  # noqa: E731
    away = -unit(unit(before - v) + unit(after - v))
    lon, lat = Transformer.from_crs(UTM48, "EPSG:4326", always_xy=True).transform(
        *(np.repeat(v, 3, axis=0) + np.tile([3.0, 10.0, 25.0], len(v))[:, None] * np.repeat(away, 3, axis=0)).T)
    parts.append(pd.DataFrame({"lon": lon, "lat": lat, "kind": "beside the end of a border"}))
    lon, lat = _offset(np.repeat(ends["lon"].to_numpy(), 2), np.repeat(ends["lat"].to_numpy(), 2), rng, 1, 45)
    parts.append(pd.DataFrame({"lon": lon, "lat": lat, "kind": "beside the end of a border"}))
    # around the city's edge: inside, outside within the 50 m tolerance, and beyond it
    edge = exterior[rng.choice(len(exterior), 600, replace=False)]
    lon, lat = _offset(edge[:, 0], edge[:, 1], rng, 0, 120)
    parts.append(pd.DataFrame({"lon": lon, "lat": lat, "kind": "around the edge"}))
    minx, miny, maxx, maxy = wards.total_bounds
    parts.append(pd.DataFrame({"lon": rng.uniform(minx, maxx, 300), "lat": rng.uniform(miny, maxy, 300),
                               "kind": "anywhere"}))
    return pd.concat(parts, ignore_index=True).rename(columns={"min": "lowest_code"})[
        ["lon", "lat", "kind", "lowest_code"]]


def stored_points(engine, source: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text("SELECT id, external_id, lon, lat FROM incident WHERE source = :s ORDER BY id"),
                           conn, params={"s": source})


def stored_wards(engine, version: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text(
            "SELECT ia.incident_id AS id, ia.area_id, ia.method, ia.distance_m FROM incident_area ia "
            "JOIN boundary_version v ON v.id = ia.version_id WHERE v.name = :v ORDER BY ia.incident_id"),
            conn, params={"v": version})


def reference(points: pd.DataFrame, areas: gpd.GeoDataFrame) -> pd.DataFrame:
    """assign_wards's unit, method and distance for each point placed in ``areas`` (sorted by code)."""
    a = assign_wards(points["lon"].to_numpy(), points["lat"].to_numpy(), areas, tolerance_m=50.0)
    placed = a.index >= 0
    return pd.DataFrame({"id": points["id"].to_numpy()[placed],
                         "area_id": areas["area_id"].to_numpy()[a.index[placed]],
                         "method": a.method[placed].astype(str), "distance_m": a.distance_m[placed]})


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got, want = got.reset_index(drop=True), want.reset_index(drop=True)
    assert got["id"].tolist() == want["id"].tolist()
    assert (got["area_id"].to_numpy() == want["area_id"].to_numpy()).all()
    assert (got["method"].to_numpy() == want["method"].to_numpy()).all()
    nearest = want["method"].to_numpy() == "nearest"
    assert got["distance_m"][~nearest].isna().all()
    assert np.abs(got["distance_m"][nearest].to_numpy() - want["distance_m"][nearest].to_numpy()).max() <= 0.01


def test_the_database_join_places_border_points_as_assign_wards_does(pg_engine, wards_2025, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setattr(postgis, "IN_DATABASE_JOIN_ROWS", 1)  # this import joins in PostGIS
    points = border_points(wards_2025)
    points.index = pd.Index([f"B{i}" for i in range(len(points))])
    path = tmp_path / "borders.csv"
    pd.DataFrame({"Mã vụ": points.index, "Ngày xảy ra": "15/03/2024", "Loại tội phạm": "Trộm cắp tài sản",
                  "Kinh độ": points["lon"], "Vĩ độ": points["lat"]}).to_csv(path, index=False)
    r = import_file(pg_engine, path, source="borders", now=NOW)
    assert r.accepted == len(points)
    # the import keeps 7 decimals (about 1 cm): its join is checked on the stored coordinates
    stored = stored_points(pg_engine, "borders")
    areas, old = load_areas(pg_engine, "hcmc-2025"), load_areas(pg_engine, "hcmc-2019")
    assert areas["code"].tolist() == wards_2025["code"].tolist()
    want = reference(stored, areas)
    assert_same(stored_wards(pg_engine, "hcmc-2025"), want)
    assert_same(stored_wards(pg_engine, "hcmc-2019"), reference(stored, old))
    methods = stored["id"].map(want.set_index("id")["method"]).fillna("outside")
    assert r.nearest["hcmc-2025"] == (methods == "nearest").sum() >= 100
    assert r.outside["hcmc-2025"] == (methods == "outside").sum() >= 100

    # exactly on the shared vertices, joined by a boundary load (the database joins every stored incident)
    ids = stored.set_index("external_id")["id"]
    points = points.assign(id=ids.loc[points.index].to_numpy()).sort_values("id")
    with pg_engine.begin() as conn:
        conn.execute(text("UPDATE incident SET lon = :lon, lat = :lat WHERE id = :id"),
                     points[["lon", "lat", "id"]].to_dict("records"))
    exact = stored_points(pg_engine, "borders")
    assert np.array_equal(exact["lon"], points["lon"]) and np.array_equal(exact["lat"], points["lat"])
    gb.save_version(pg_engine, areas.drop(columns=["area_id", "area_km2"]), "hcmc-2025-copy", valid_from="2025-07-01")
    copy = load_areas(pg_engine, "hcmc-2025-copy")
    want = reference(points, copy)
    assert_same(stored_wards(pg_engine, "hcmc-2025-copy"), want)
    by_id = want.set_index("id")
    methods = points["id"].map(by_id["method"]).fillna("outside")
    assert (methods == "nearest").sum() >= 100 and (methods == "outside").sum() >= 100
    # on a shared vertex the lowest code of the wards that have it wins
    on_vertex = points["lowest_code"].notna()
    code_of = dict(zip(copy["area_id"], copy["code"]))
    got_codes = points["id"][on_vertex].map(by_id["area_id"]).map(code_of)
    assert on_vertex.sum() >= 500 and (got_codes == points["lowest_code"][on_vertex]).all()
    # outside beside the end of a border, some points are equally near two wards: the lowest code wins
    metric = copy.to_crs(UTM48).geometry
    ends = points[(points["kind"] == "beside the end of a border").to_numpy() & (methods == "nearest").to_numpy()]
    ends_m = gpd.GeoSeries(gpd.points_from_xy(ends["lon"], ends["lat"]), crs=4326).to_crs(UTM48)
    distances = np.array([metric.distance(p).to_numpy() for p in ends_m])
    ties = (distances == distances.min(axis=1, keepdims=True)).sum(axis=1) >= 2
    assert ties.sum() >= 5
    tied_lowest = [copy["area_id"].iloc[np.flatnonzero(d == d.min())[0]] for d in distances[ties]]
    assert ends["id"][ties].map(by_id["area_id"]).tolist() == tied_lowest


def pieces(engine, version: str | None = None) -> pd.DataFrame:
    """Per unit of the store: its pieces, their largest vertex count and their area against the unit's."""
    with engine.connect() as conn:
        return pd.read_sql(text(
            "SELECT a.id, a.code, v.name, count(p.area_id) AS n, max(ST_NPoints(p.geom)) AS vertices, "
            "sum(ST_Area(p.geom)) AS area, ST_Area(a.geom) AS unit_area, "
            "bool_and(p.code = a.code AND p.version_id = a.version_id) AS labelled "
            "FROM area a JOIN boundary_version v ON v.id = a.version_id "
            "LEFT JOIN area_piece p ON p.area_id = a.id "
            + ("WHERE v.name = :v " if version else "") + "GROUP BY a.id, a.code, v.name ORDER BY a.id"),
            conn, params={"v": version})


def test_a_boundary_load_cuts_its_units_into_pieces_and_a_delete_removes_them(pg_engine, wards_2025):
    some = wards_2025.head(5)
    vid = gb.save_version(pg_engine, some, "thu-nghiem")
    got = pieces(pg_engine, "thu-nghiem")
    assert got["code"].tolist() == some["code"].tolist()
    assert (got["n"] >= 1).all() and got["labelled"].all() and (got["vertices"] <= postgis.PIECE_VERTICES).all()
    # the pieces cover each unit: their areas add up to the unit's own (shapely, from the file)
    assert np.allclose(got["area"], shapely.area(some.geometry.values), rtol=1e-9, atol=0)
    detailed = some.geometry.count_coordinates().to_numpy() > postgis.PIECE_VERTICES
    assert detailed.any() and (got["n"].to_numpy()[detailed] > 1).all()

    gb.save_version(pg_engine, wards_2025.head(3), "thu-nghiem", replace=True)
    assert pieces(pg_engine, "thu-nghiem")["code"].tolist() == some["code"].head(3).tolist()
    gb.delete_version(pg_engine, "thu-nghiem")
    with pg_engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM area_piece WHERE version_id = :v OR area_id NOT IN "
                                 "(SELECT id FROM area)"), {"v": vid}).scalar()
        others = conn.execute(text("SELECT count(DISTINCT area_id) FROM area_piece")).scalar()
        units = conn.execute(text("SELECT count(*) FROM area")).scalar()
    assert left == 0 and others == units  # the shipped sets keep theirs


def test_the_migration_cuts_the_units_of_an_existing_store(pg_engine):
    before = pieces(pg_engine)
    cfg = alembic_config(pg_engine.url.render_as_string(hide_password=False))
    command.downgrade(cfg, "0013")
    with pg_engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('area_piece')")).scalar() is None
    command.upgrade(cfg, "head")
    after = pieces(pg_engine)
    assert set(after["name"]) == {"hcmc-2025", "hcmc-2019", "hanoi-2025"}
    pd.testing.assert_frame_equal(after, before)
    assert (after["n"] >= 1).all() and after["labelled"].all()
    assert np.allclose(after["area"], after["unit_area"], rtol=1e-9, atol=0)


def test_sqlite_has_no_pieces_and_imports_join_in_python(store_template, tmp_path):
    import shutil

    path = tmp_path / "store.db"
    shutil.copyfile(store_template, path)
    url = f"sqlite:///{path}"
    eng = make_engine(url)
    command.downgrade(alembic_config(url), "0013")
    command.upgrade(alembic_config(url), "head")
    with eng.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sqlite_master WHERE name = 'area_piece'")).scalar() == 0
        assert postgis.build_pieces(conn, 1) == 0
    assert not postgis.joins_in_database(eng, 10**7)
    eng.dispose()
