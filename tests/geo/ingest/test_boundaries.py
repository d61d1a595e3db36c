"""Boundary sets: the shipped registry, user layers and their errors, crosswalks."""
from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sqlalchemy import text

from geo.errors import InputError
from geo.ingest import boundaries as gb
from geo.ingest import shipped
from geo.ingest.parsing import sha256_of
from geo.store.queries import load_areas
from tests.conftest import SHARED_BOUNDARIES, table_counts


def test_registry_hashes_match_the_source_files():
    reg = shipped.registry()
    for entry in reg["sets"] + reg["crosswalks"]:
        assert sha256_of(SHARED_BOUNDARIES / entry["file"]) == entry["sha256"], entry["file"]


@pytest.mark.parametrize("name, count", [("hcmc-2025", 168), ("hcmc-2019", 322), ("hanoi-2025", 126)])
def test_shipped_sets_load_with_right_counts_and_valid_geometry(engine, name, count):
    areas = load_areas(engine, name)
    assert len(areas) == count
    assert areas["code"].is_unique
    assert shapely.is_valid(areas.geometry.values).all()
    assert (areas.geometry.geom_type == "MultiPolygon").all()
    # the stored area equals an independent computation in UTM 48N
    src = gpd.read_file(SHARED_BOUNDARIES / shipped.registry()["sets"][[s["name"] for s in shipped.registry()["sets"]].index(name)]["file"])
    km2 = src.to_crs(32648).set_index("code").area / 1e6
    np.testing.assert_allclose(areas.set_index("code")["area_km2"], km2.loc[areas["code"]], rtol=1e-3)


def test_gò_vấp_has_its_sixteen_wards_in_2019(engine):
    areas = load_areas(engine, "hcmc-2019")
    go_vap = areas[areas["parent_name"] == "Quận Gò Vấp"]
    assert sorted(int(n.split()[-1]) for n in go_vap["name"]) == [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                                   13, 14, 15, 16, 17]


def test_crosswalk_loaded(engine):
    with engine.connect() as conn:
        n, total = conn.execute(text("SELECT COUNT(*), SUM(area_share) FROM crosswalk")).one()
        go_vap = conn.execute(text(
            "SELECT c.old_code FROM crosswalk c JOIN area a ON a.code = c.new_code "
            "JOIN boundary_version v ON v.id = a.version_id AND v.name = 'hcmc-2025' "
            "WHERE a.name = 'Phường Gò Vấp' AND c.area_share >= 0.5 ORDER BY c.old_code")).scalars().all()
    assert n == 558 and round(total, 4) == 322.0  # every old ward's shares sum to 1
    # Phường Gò Vấp (2025) takes most of the old Phường 10 and 17 of Gò Vấp
    old = load_areas(engine, "hcmc-2019").set_index("code")
    assert sorted(old.loc[c, "name"] for c in go_vap) == ["Phường 10", "Phường 17"]


def _layer(tmp_path, features, name="layer.geojson", crs=None):
    fc = {"type": "FeatureCollection", "features": features}
    if crs:
        fc["crs"] = {"type": "name", "properties": {"name": crs}}
    path = tmp_path / name
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return path


def _square(x, y, d=0.01):
    return {"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]}


def test_user_layer_errors_name_each_feature(tmp_path):
    feats = [
        {"type": "Feature", "properties": {"ma": "A1", "ten": "Một"}, "geometry": _square(106.7, 10.7)},
        {"type": "Feature", "properties": {"ma": "A1", "ten": "Hai"}, "geometry": _square(106.8, 10.7)},
        {"type": "Feature", "properties": {"ma": "A3", "ten": "Ba"},
         "geometry": {"type": "Point", "coordinates": [106.7, 10.7]}},
        {"type": "Feature", "properties": {"ma": None, "ten": "Bốn"}, "geometry": _square(106.9, 10.7)},
        {"type": "Feature", "properties": {"ma": "A5", "ten": "Năm"}, "geometry": None},
    ]
    path = _layer(tmp_path, feats)
    with pytest.raises(InputError) as exc:
        gb.read_layer(path, gb.FieldMap(code="ma", name="ten"))
    msg = str(exc.value)
    assert msg.startswith("layer.geojson: ")
    assert "đối tượng 5 (mã 'A5'): hình học trống" in msg  # in Vietnamese, the command line's language
    assert "đối tượng 3 (mã 'A3'): hình học là Point, không phải đa giác" in msg
    assert "đối tượng 4: trường `ma` không có mã" in msg
    assert "mã 'A1' được dùng cho các đối tượng 1, 2" in msg
    with pytest.raises(InputError, match=r"trường `code` \(cho code\) không có trong lớp bản đồ; lớp có ma, ten"):
        gb.read_layer(path)


def test_user_layer_repaired_and_reprojected_from_a_zipped_shapefile(engine, tmp_path):
    """A bow-tie polygon is made valid; a VN-2000 / UTM 48N shapefile comes back in WGS 84."""
    bowtie = shapely.Polygon([(106.70, 10.70), (106.72, 10.72), (106.72, 10.70), (106.70, 10.72)])
    gdf = gpd.GeoDataFrame({"MA": ["X1", "X2"], "TEN": ["Khu Một", "Khu Hai"], "DAN_SO": [12000, 8000]},
                           geometry=[bowtie, shapely.box(106.72, 10.70, 106.74, 10.72)], crs=4326)
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    gdf.to_crs(3405).to_file(shp_dir / "khu.shp", engine="pyogrio")
    zpath = tmp_path / "khu.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in shp_dir.iterdir():
            z.write(f, f.name)
    areas = gb.read_layer(zpath, gb.FieldMap(code="MA", name="TEN", population="DAN_SO"))
    assert areas.crs.to_epsg() == 4326
    assert shapely.is_valid(areas.geometry.values).all()
    np.testing.assert_allclose(areas.total_bounds, [106.70, 10.70, 106.74, 10.72], atol=1e-6)
    before = table_counts(engine)
    gb.save_version(engine, areas, "khu-thu", valid_from="2025-07-01")
    after = table_counts(engine)
    assert after["area"] - before["area"] == 2 and after["boundary_version"] - before["boundary_version"] == 1
    stored = load_areas(engine, "khu-thu")
    assert stored["population"].tolist() == [12000, 8000]
    with pytest.raises(InputError, match="Phiên bản ranh giới 'khu-thu' đã có; hãy chọn --name khác hoặc thêm "
                                         "--replace"):
        gb.save_version(engine, areas, "khu-thu")
    assert table_counts(engine) == after


def test_a_new_version_gets_its_wards_and_aggregates_for_stored_incidents(engine, tmp_path):
    from geo.ingest.importer import import_file
    from tests.conftest import DATA, NOW, day_aggregates

    import_file(engine, DATA / "incidents_good.csv", source="s", now=NOW)
    box = gpd.GeoDataFrame({"code": ["B1"], "name": ["Khu trung tâm"]},
                           geometry=[shapely.box(106.69, 10.76, 106.71, 10.78)], crs=4326)
    vid = gb.save_version(engine, box, "trung-tam", valid_from="2020-01-01")
    with engine.connect() as conn:
        n = conn.execute(text("SELECT SUM(n) FROM area_day WHERE version_id = :v"), {"v": vid}).scalar()
    assert n == 5  # V001, V002, V003, V005 (given ward carried by its point) and V007 lie in the box
    kept, expected = day_aggregates(engine)
    import pandas as pd

    pd.testing.assert_frame_equal(kept, expected, check_dtype=False)


@pytest.mark.parametrize("threshold", [None, 1])
def test_joining_in_the_database_equals_the_python_join(engine, tmp_path, monkeypatch, threshold):
    """On PostgreSQL a boundary load, and an import of at least IN_DATABASE_JOIN_ROWS rows, join
    in PostGIS; on SQLite in Python. Either way the wards equal geo.ingest.join.assign_wards's."""
    import pandas as pd

    from geo.ingest import postgis
    from geo.ingest.importer import import_file
    from geo.ingest.join import assign_wards
    from tests.conftest import NOW

    monkeypatch.setattr(postgis, "IN_DATABASE_JOIN_ROWS", threshold)
    rng = np.random.default_rng(3)
    n = 3000
    lon, lat = rng.uniform(106.60, 106.80, n), rng.uniform(10.70, 10.88, n)
    lon[:5] = [106.6981, 106.6990, 106.6953, 106.7040, 106.6885]
    lat[:5] = [10.7725, 10.7798, 10.7770, 10.7718, 10.8256]
    path = tmp_path / "points.csv"
    pd.DataFrame({"Mã vụ": [f"P{i}" for i in range(n)], "Ngày xảy ra": "15/03/2024",
                  "Loại tội phạm": "Trộm cắp tài sản", "Kinh độ": lon, "Vĩ độ": lat}).to_csv(path, index=False)
    import_file(engine, path, source="pts", now=NOW)
    original = load_areas(engine, "hcmc-2025")
    gb.save_version(engine, original.drop(columns=["area_id", "area_km2"]), "hcmc-2025-copy",
                    valid_from="2025-07-01")
    with engine.connect() as conn:
        got = pd.read_sql(text(
            "SELECT i.external_id, v.name, a.code, ia.method FROM incident_area ia "
            "JOIN incident i ON i.id = ia.incident_id JOIN area a ON a.id = ia.area_id "
            "JOIN boundary_version v ON v.id = ia.version_id "
            "WHERE v.name IN ('hcmc-2025', 'hcmc-2025-copy')"), conn)
    wide = got.pivot(index="external_id", columns="name", values="code")
    assert len(wide) > 2500
    assert (wide["hcmc-2025"] == wide["hcmc-2025-copy"]).all()
    expected = assign_wards(lon, lat, original)  # sorted by code: the lowest code wins on borders
    codes = pd.Series(np.where(expected.index >= 0, original["code"].to_numpy()[np.maximum(expected.index, 0)],
                               None), index=[f"P{i}" for i in range(n)]).dropna()
    assert set(codes.index) == set(wide.index)
    assert (wide.loc[codes.index, "hcmc-2025"] == codes).all()
    methods = got.pivot(index="external_id", columns="name", values="method")
    assert (methods["hcmc-2025"] == methods["hcmc-2025-copy"]).all()


def test_names_wider_than_their_columns_are_refused_before_anything_is_written(engine):
    areas = gb.read_layer(SHARED_BOUNDARIES / "hcmc_wards_2025.geojson").head(3)
    before = table_counts(engine)
    with pytest.raises(InputError, match=r"Phiên bản ranh giới: `name` có 80 ký tự nhưng chỉ được tối đa 64 ký tự"):
        gb.save_version(engine, areas, "v" * 80)
    long_code = areas.assign(code=["X" * 40] + list(areas["code"][1:]))
    with pytest.raises(InputError, match=r"Đơn vị 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX': `code` có 40 ký tự nhưng chỉ được tối đa 32 ký tự"):
        gb.save_version(engine, long_code, "long-code")
    assert table_counts(engine) == before
