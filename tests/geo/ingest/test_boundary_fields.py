"""Boundary layers from users: the guessed fields, crosswalk checks, replacing and removing versions."""
from __future__ import annotations

import zipfile

import geopandas as gpd
import pandas as pd
import pytest
from sqlalchemy import text

from geo.committee import plans
from geo.errors import InputError
from geo.ingest import boundaries as gb
from geo.ingest.importer import import_file
from tests.conftest import HCMC_WARDS_FILE, NOW, SHARED_BOUNDARIES, table_counts

LAYERS_2025 = ["hcmc_wards_2025", "hanoi_wards_2025", "haiphong_wards_2025", "hue_wards_2025",
               "vietnam_communes_2025"]


def fields(f: gb.FieldMap) -> tuple:
    return f.code, f.name, f.parent_code, f.parent_name, f.level, f.population


@pytest.mark.parametrize("layer", LAYERS_2025)
def test_the_shared_layers_own_headers_are_recognised(layer):
    g = gpd.read_file(SHARED_BOUNDARIES / f"{layer}.geojson")
    assert fields(gb.guess_fields(g)) == ("code", "name", "province_code", "province", "level", None)


def test_the_2019_layer_takes_the_district_as_parent():
    g = gpd.read_file(SHARED_BOUNDARIES / "hcmc_wards_2019.geojson")
    assert fields(gb.guess_fields(g)) == ("code", "name", "district_code", "district", "level", None)


@pytest.mark.parametrize("rename, expected", [
    ({"code": "MA_XA", "name": "TEN_XA", "province_code": "MA_TINH", "province": "TEN_TINH", "level": "CAP"},
     ("MA_XA", "TEN_XA", "MA_TINH", "TEN_TINH", "CAP", None)),
    ({"code": "maxa", "name": "tenxa", "province_code": "matinh", "province": "tentinh", "level": "loai"},
     ("maxa", "tenxa", "matinh", "tentinh", "loai", None)),
    ({"code": "Mã phường", "name": "Tên phường", "province_code": "Mã tỉnh", "province": "Tỉnh", "level": "Cấp"},
     ("Mã phường", "Tên phường", "Mã tỉnh", "Tỉnh", "Cấp", None)),
    # GADM's headers
    ({"code": "GID_3", "name": "NAME_3", "province_code": "GID_1", "province": "NAME_1", "level": "TYPE_3"},
     ("GID_3", "NAME_3", "GID_1", "NAME_1", "TYPE_3", None)),
])
def test_vietnamese_gis_headers_are_recognised(rename, expected):
    g = gpd.read_file(HCMC_WARDS_FILE)[list(rename) + ["geometry"]].rename(columns=rename)
    assert fields(gb.guess_fields(g)) == expected


def test_without_known_headers_the_values_decide():
    """Opaque headers: the code is the unique id-like field (not the province code, repeated), the
    name the unique text field (the first of several); the rest is left to the user."""
    g = gpd.read_file(HCMC_WARDS_FILE)
    g = g[["level", "province_code", "name", "name_en", "code", "geometry"]]
    g.columns = ["F1", "F2", "F3", "F4", "F5", "geometry"]
    assert fields(gb.guess_fields(g)) == ("F5", "F3", None, None, None, None)


def test_a_shapefile_written_by_geopandas(tmp_path):
    """A 2019 layer as a zipped Shapefile with the headers of a district's GIS office (DBF: at most 10
    characters) and a population column."""
    g = gpd.read_file(SHARED_BOUNDARIES / "hcmc_wards_2019.geojson").head(30)
    g = g.assign(DAN_SO=range(1000, 1030))[["code", "name", "district_code", "district", "level", "DAN_SO",
                                             "geometry"]]
    g.columns = ["MA_PHUONG", "TEN_PHUONG", "MA_QUAN", "TEN_QUAN", "CAP", "DAN_SO", "geometry"]
    g.to_crs(32648).to_file(tmp_path / "phuong.shp", engine="pyogrio")
    zpath = tmp_path / "phuong.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in tmp_path.glob("phuong.*"):
            z.write(f, f.name)
    back = gpd.read_file(zpath, engine="pyogrio")
    assert fields(gb.guess_fields(back)) == ("MA_PHUONG", "TEN_PHUONG", "MA_QUAN", "TEN_QUAN", "CAP", "DAN_SO")


def test_a_code_header_with_repeated_values_is_not_taken_as_the_code():
    g = gpd.read_file(HCMC_WARDS_FILE)[["province_code", "code", "name", "geometry"]]
    g.columns = ["ma", "id", "ten", "geometry"]  # "ma" (79 everywhere) is a code header, but repeats
    assert gb.guess_fields(g).code == "id"


# --------------------------------------------------------------------------- crosswalks

def test_crosswalk_rows_are_checked(tmp_path):
    path = tmp_path / "cw.csv"
    pd.DataFrame({"old_code": ["A", "A", "B", "C", "B"], "new_code": ["X", "Y", "X", "Z", "X"],
                  "area_share": ["0.5", "0.5", "0,7", "abc", "0.3"]}).to_csv(path, index=False)
    with pytest.raises(InputError) as e:
        gb.read_crosswalk(path, {"A", "B"}, {"X", "Y"}, old="cu", new="moi")
    msg = str(e.value)
    assert "dòng 5: old_code 'C' không phải đơn vị của cu" in msg
    assert "dòng 5: new_code 'Z' không phải đơn vị của moi" in msg
    assert "dòng 5: area_share 'abc' không phải số lớn hơn 0 và không quá 1" in msg
    assert "dòng 4, 6: cặp 'B' → 'X' xuất hiện nhiều lần" in msg
    assert "old_code 'A'" not in msg  # 0.5 + 0.5
    ok = pd.DataFrame({"old_code": ["A", "A", "B"], "new_code": ["X", "Y", "X"], "area_share": ["0.4", "0.6", "1"]})
    ok.to_csv(path, index=False)
    got = gb.read_crosswalk(path, {"A", "B"}, {"X", "Y"})
    assert got["area_share"].tolist() == [0.4, 0.6, 1.0]
    ok.assign(area_share=["0.4", "0.5", "1"]).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"dòng 2, 3: tổng tỷ lệ của old_code 'A' là 0.9000, không phải 1"):
        gb.read_crosswalk(path, {"A", "B"}, {"X", "Y"})


def test_save_crosswalk_checks_the_codes_of_both_versions(engine, tmp_path):
    path = tmp_path / "cw.csv"
    pd.DataFrame({"old_code": ["26734"], "new_code": ["nowhere"], "area_share": [1]}).to_csv(path, index=False)
    before = table_counts(engine)
    with pytest.raises(InputError, match="dòng 2: new_code 'nowhere' không phải đơn vị của hcmc-2025"):
        gb.save_crosswalk(engine, path, "hcmc-2019", "hcmc-2025")
    assert table_counts(engine) == before


# --------------------------------------------------------------------------- replacing and removing

def _ward_code_csv(tmp_path, codes) -> str:
    path = tmp_path / "theo_phuong.csv"
    pd.DataFrame({"Mã vụ": [f"W{i}" for i in range(len(codes))], "Ngày xảy ra": ["2025-08-01"] * len(codes),
                  "Loại tội phạm": ["Trộm cắp tài sản"] * len(codes), "Mã phường": codes}).to_csv(path, index=False)
    return path


def _given(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(text("SELECT i.external_id, a.code, v.name FROM incident i JOIN area a "
                                 "ON a.id = i.given_area_id JOIN boundary_version v ON v.id = a.version_id "
                                 "ORDER BY i.external_id")).all()


def test_replacing_keeps_the_incidents_placed_by_ward(engine, tmp_path):
    wards = gb.read_layer(HCMC_WARDS_FILE, gb.FieldMap(parent_code="province_code", parent_name="province"))
    codes = list(wards["code"][:3])
    import_file(engine, _ward_code_csv(tmp_path, codes), source="theo-phuong", now=NOW)
    given = _given(engine)
    assert [(c, v) for _e, c, v in given] == [(c, "hcmc-2025") for c in codes]
    # a layer that lacks one of those wards is refused, and nothing changes
    before = table_counts(engine)
    with pytest.raises(InputError, match=f"mã đơn vị {codes[1]}"):
        gb.save_version(engine, wards[wards["code"] != codes[1]], "hcmc-2025", replace=True)
    assert table_counts(engine) == before and _given(engine) == given
    # the same wards again: the incidents keep their wards, and are counted in them
    gb.save_version(engine, wards, "hcmc-2025", replace=True)
    assert _given(engine) == given
    with engine.connect() as conn:
        placed = conn.execute(text(
            "SELECT a.code FROM incident_area ia JOIN area a ON a.id = ia.area_id JOIN boundary_version v "
            "ON v.id = ia.version_id WHERE v.name = 'hcmc-2025' ORDER BY a.code")).scalars().all()
    assert placed == sorted(codes)
    # and they keep the version from being removed
    with pytest.raises(InputError, match="3 vụ việc không có tọa độ"):
        gb.delete_version(engine, "hcmc-2025", with_crosswalks=True)


def test_delete_version_removes_it_in_one_transaction(engine):
    before = table_counts(engine)
    with pytest.raises(InputError, match="Bảng chuyển đổi với hcmc-2025"):
        gb.delete_version(engine, "hcmc-2019")
    with pytest.raises(InputError, match="phiên bản ranh giới mặc định"):
        gb.delete_version(engine, "hanoi-2025", default="hanoi-2025")
    plan = plans.create_plan(engine, year=2026, level="city", boundary="hanoi-2025", created_by="c")
    with pytest.raises(InputError, match="1 kế hoạch của Ban chỉ đạo"):
        gb.delete_version(engine, "hanoi-2025")
    assert table_counts(engine) == before and plan

    def fail(conn):
        raise RuntimeError("audit failed")

    with pytest.raises(RuntimeError):
        gb.delete_version(engine, "hcmc-2019", with_crosswalks=True, on_write=fail)
    assert table_counts(engine) == before  # the failed audit rolled the removal back
    assert gb.delete_version(engine, "hcmc-2019", with_crosswalks=True) == 322
    after = table_counts(engine)
    assert (before["area"] - after["area"], before["crosswalk"] - after["crosswalk"]) == (322, 558)
