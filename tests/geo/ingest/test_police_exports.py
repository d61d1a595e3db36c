"""Police exports as they really are (files of tests/data/make_police_files.py): Excel date, datetime
and time cells, qualified coordinate headers, swapped columns, every problem of a row, and the
rejected-rows file that is corrected and imported again.

Each import is checked against an independent reference: the expected points and local times
the files were written from (police_expected.csv), their UTC times computed with zoneinfo, and
their wards by a geopandas ``sjoin`` with the shipped 2025 wards of Hồ Chí Minh City.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from openpyxl import load_workbook
from pyproj import Transformer
from sqlalchemy import text

from geo.errors import InputError
from geo.ingest import postgis
from geo.ingest.boundaries import save_version
from geo.ingest.importer import import_file
from tests.conftest import DATA, HCMC_WARDS_FILE, NOW, table_counts
from tests.data.make_police_files import CATS, cp1258

EXPECTED = pd.read_csv(DATA / "police_expected.csv", dtype={"external_id": str})


@pytest.fixture(scope="module")
def wards_2025():
    return gpd.read_file(HCMC_WARDS_FILE)


def expected(file: str, ids=None) -> pd.DataFrame:
    e = EXPECTED[EXPECTED["file"] == file]
    return e[e["external_id"].isin(ids)] if ids is not None else e


def stored(engine, source: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text(
            "SELECT i.external_id, i.occurred_at, i.local_date, i.lon, i.lat, i.orig_crs, i.address, a.name AS ward "
            "FROM incident i LEFT JOIN incident_area ia ON ia.incident_id = i.id AND ia.version_id = "
            "(SELECT id FROM boundary_version WHERE name = 'hcmc-2025') LEFT JOIN area a ON a.id = ia.area_id "
            "WHERE i.source = :s ORDER BY i.external_id"), conn, params={"s": source})


def check_against_reference(engine, source, exp: pd.DataFrame, wards, tz="Asia/Ho_Chi_Minh"):
    """The stored incidents of ``source`` are exactly ``exp``: ids, UTC times, points, per-ward counts."""
    got = stored(engine, source)
    assert got["external_id"].tolist() == sorted(exp["external_id"])
    exp = exp.set_index("external_id").loc[got["external_id"]]
    zone = ZoneInfo(tz)
    utc = [dt.datetime.strptime(t, "%Y-%m-%d %H:%M").replace(tzinfo=zone).astimezone(dt.timezone.utc)
           .strftime("%Y-%m-%d %H:%M") for t in exp["local_time"]]
    assert pd.to_datetime(got["occurred_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M").tolist() == utc
    assert pd.to_datetime(got["local_date"]).dt.strftime("%Y-%m-%d").tolist() == [t[:10] for t in exp["local_time"]]
    np.testing.assert_allclose(got["lon"], exp["lon"], atol=2e-6)
    np.testing.assert_allclose(got["lat"], exp["lat"], atol=2e-6)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(exp["lon"], exp["lat"]), crs="EPSG:4326")
    ref = gpd.sjoin(pts, wards[["name", "geometry"]], predicate="within")["name"].value_counts().sort_index()
    assert got["ward"].value_counts().sort_index().to_dict() == ref.to_dict()
    return got


def test_excel_date_cells_with_a_text_time_column(engine, wards_2025):
    r = import_file(engine, DATA / "police_text_time.xlsx", source="a", now=NOW)
    assert (r.accepted, r.rejected) == (7, 3)
    check_against_reference(engine, "a", expected("police_text_time.xlsx"), wards_2025)
    lines = [tuple(x) for x in r.rejects[["row", "column", "value"]].itertuples(index=False)]
    assert lines == [(9, "Giờ", "25:70"), (9, "Loại tội phạm", ""), (9, "Vĩ độ (WGS 84)", "10,7x"),
                     (10, "Ngày xảy ra", "15/03/1890"), (11, "Ngày xảy ra", "2031-01-01 00:00:00")]
    reasons = r.rejects.groupby("row")["reason"].apply(list).to_dict()
    assert reasons[9] == ["không phải giờ trong ngày (cần dạng HH:MM hoặc 14h30)", "thiếu loại tội phạm",
                          "không phải số"]  # every problem of the row, in the importer's language
    assert reasons[10] == ["ngày trước năm 1900; hãy kiểm tra năm"]
    assert reasons[11] == ["ngày ở tương lai"]


def test_excel_datetime_cells_and_headers_qualified_after_a_comma(engine, wards_2025):
    r = import_file(engine, DATA / "police_datetime_cells.xlsx", source="b", now=NOW)
    assert (r.accepted, r.rejected, r.warnings) == (5, 0, [])
    check_against_reference(engine, "b", expected("police_datetime_cells.xlsx"), wards_2025)


def test_excel_date_cells_with_time_fractions_and_time_cells(engine, wards_2025):
    r = import_file(engine, DATA / "police_time_fractions.xlsx", source="c", now=NOW)
    assert (r.accepted, r.rejected) == (5, 0)
    got = check_against_reference(engine, "c", expected("police_time_fractions.xlsx"), wards_2025)
    assert pd.to_datetime(got["occurred_at"], utc=True).iloc[0] == pd.Timestamp("2024-07-01 09:31", tz="UTC")


def test_vn2000_utm_zone_named_in_the_headers(engine, wards_2025):
    r = import_file(engine, DATA / "police_vn2000.xlsx", source="d", now=NOW)
    assert (r.accepted, r.rejected, r.warnings) == (6, 0, [])
    got = check_against_reference(engine, "d", expected("police_vn2000.xlsx"), wards_2025)
    assert set(got["orig_crs"]) == {"EPSG:3405"}
    # the user's CRS wins over the headers': read as zone 49 the points leave Viet Nam's south
    with pytest.raises(InputError):
        import_file(engine, DATA / "police_vn2000.xlsx", source="d2", now=NOW, crs="EPSG:3406")


def test_vn2000_tm3_central_meridian_named_in_the_headers(engine, wards_2025):
    r = import_file(engine, DATA / "police_vn2000_tm3.csv", source="e", now=NOW)
    assert (r.accepted, r.rejected) == (4, 0)
    check_against_reference(engine, "e", expected("police_vn2000_tm3.csv"), wards_2025)


def test_columns_holding_latitude_then_longitude_are_swapped_with_a_warning(engine, wards_2025):
    r = import_file(engine, DATA / "police_swapped.csv", source="f", now=NOW)
    assert (r.accepted, r.rejected) == (5, 0)
    check_against_reference(engine, "f", expected("police_swapped.csv"), wards_2025)
    assert any("Tọa độ 1" in w and "Tọa độ 2" in w and "vĩ độ" in w for w in r.warnings), r.warnings


def test_ordinal_headers_in_metres_are_ordered_by_their_values_with_a_warning(engine, tmp_path):
    to3405 = Transformer.from_crs("EPSG:4326", "EPSG:3405", always_xy=True)
    e, n = to3405.transform(106.7009, 10.7769)
    path = tmp_path / "ordinal.csv"
    path.write_text('Mã vụ,Ngày xảy ra,Loại tội phạm,"Tọa độ 1 (VN-2000, múi 48)","Tọa độ 2 (VN-2000, múi 48)"\n'
                    f"O1,01/03/2024,Ma túy,{n:.2f},{e:.2f}\n", encoding="utf-8")
    r = import_file(engine, path, source="o", now=NOW)
    assert r.accepted == 1 and r.warnings == [
        "Cột Tọa độ 1 (VN-2000, múi 48) ghi tọa độ bắc, cột Tọa độ 2 (VN-2000, múi 48) ghi tọa độ đông "
        "(ở Việt Nam, giá trị trên 900.000 m là tọa độ bắc); 1 dòng đã được đọc như vậy."]
    got = stored(engine, "o")
    assert (got["lon"].iloc[0], got["lat"].iloc[0]) == (pytest.approx(106.7009, abs=1e-6), pytest.approx(10.7769, abs=1e-6))


def test_headers_naming_two_coordinate_systems_need_a_choice(engine, tmp_path):
    path = tmp_path / "two.csv"
    to3405 = Transformer.from_crs("EPSG:4326", "EPSG:3405", always_xy=True)
    e, n = to3405.transform(106.7009, 10.7769)
    path.write_text(f'Mã vụ,Ngày xảy ra,Loại tội phạm,"X (VN-2000, múi 48)",Y (WGS84)\nT1,01/03/2024,Ma túy,{e:.2f},{n:.2f}\n',
                    encoding="utf-8")
    before = table_counts(engine)
    with pytest.raises(InputError, match="two.csv: các cột tọa độ ghi những hệ tọa độ khác nhau"):
        import_file(engine, path, source="t", now=NOW)
    assert table_counts(engine) == before
    r = import_file(engine, path, source="t", now=NOW, crs="EPSG:3405")  # the user's choice settles it
    assert r.accepted == 1 and stored(engine, "t")["lon"].iloc[0] == pytest.approx(106.7009, abs=1e-6)


def test_rejected_rows_file_is_the_original_csv_and_imports_again_when_corrected(engine, wards_2025, tmp_path):
    r = import_file(engine, DATA / "police_rejects_cp1258.csv", source="g", now=NOW)
    assert (r.accepted, r.rejected) == (3, 2)
    data, suffix = r.rejects_file()
    assert suffix == ".csv"
    text_ = unicodedata.normalize("NFC", data.decode("cp1258"))  # the file's own encoding and delimiter
    rows = list(csv.reader(io.StringIO(text_), delimiter=";"))
    assert rows[0] == ["Mã vụ", "Ngày xảy ra", "Giờ", "Loại tội phạm", "Kinh độ", "Vĩ độ", "Địa chỉ",
                       "Dòng trong tệp gốc", "Lý do bị từ chối"]
    assert [row[0] for row in rows[1:]] == ["G03", "G04"] and [row[7] for row in rows[1:]] == ["4", "5"]
    assert rows[1][6] == "'=1+2"  # formula-safe
    assert rows[1][8] == ("Giờ: không phải giờ trong ngày (cần dạng HH:MM hoặc 14h30); "
                          "Loại tội phạm: thiếu loại tội phạm; Vĩ độ: không phải số")
    # a user corrects the cells in Excel and imports the file again
    pts = expected("police_rejects_cp1258.csv")
    rows[1][2], rows[1][3], rows[1][5] = "07:45", CATS[2], "10,968151"
    rows[2][1] = "29/02/2024"
    fixed = tmp_path / "rejected_fixed.csv"
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    fixed.write_bytes(cp1258(out.getvalue()))
    again = import_file(engine, fixed, source="g", now=NOW)
    assert (again.accepted, again.updated, again.rejected, again.warnings) == (2, 0, 0, [])
    got = stored(engine, "g")
    assert got["external_id"].tolist() == ["G01", "G02", "G03", "G04", "G05"]
    assert got.set_index("external_id").loc["G03", "address"] == "=1+2"  # the guard was read away
    assert got.set_index("external_id").loc["G02", "address"] == "-5 Nguyễn Huệ"
    g03 = pd.DataFrame({"file": "x", "external_id": ["G03", "G04"], "local_time": ["2024-11-04 07:45", "2024-02-29 10:00"],
                        "lon": [float(rows[1][4].replace(",", ".")), float(rows[2][4].replace(",", "."))],
                        "lat": [10.968151, float(rows[2][5].replace(",", "."))]})
    check_against_reference(engine, "g", pd.concat([pts, g03]), wards_2025)


def test_rejected_rows_of_a_workbook_are_a_workbook_that_imports_again(engine, wards_2025, tmp_path):
    r = import_file(engine, DATA / "police_text_time.xlsx", source="x", now=NOW)
    data, suffix = r.rejects_file()
    assert suffix == ".xlsx"
    path = tmp_path / "rejected.xlsx"
    path.write_bytes(data)
    wb = load_workbook(path)
    ws = wb.active
    header = [c.value for c in ws[1]]
    assert header == ["Mã vụ", "Ngày xảy ra", "Giờ", "Loại tội phạm", "Kinh độ (WGS84)", "Vĩ độ (WGS 84)", "Ghi chú",
                      "Dòng trong tệp gốc", "Lý do bị từ chối"]
    assert [ws.cell(i, 1).value for i in (2, 3, 4)] == ["A08", "A09", "A10"]
    assert ws.cell(2, 7).value == '=HYPERLINK("http://x")' and ws.cell(2, 7).data_type == "s"  # text, not a formula
    ws.cell(2, 3).value, ws.cell(2, 4).value, ws.cell(2, 6).value = "07:30", CATS[3], 10.75
    ws.cell(3, 2).value = "15/03/1990"
    ws.cell(4, 2).value = dt.datetime(2021, 1, 1)
    wb.save(path)
    again = import_file(engine, path, source="x", now=NOW)
    assert (again.accepted, again.rejected, again.warnings) == (3, 0, ["Các cột không dùng đến: Ghi chú"])
    got = stored(engine, "x").set_index("external_id")
    assert len(got) == 10
    assert pd.to_datetime(got.loc[["A08", "A09", "A10"], "occurred_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2024-03-09 00:30", "1990-03-15 03:00", "2021-01-01 03:00"]


def test_times_without_offset_are_read_in_the_timezone_setting(engine, wards_2025):
    r = import_file(engine, DATA / "police_datetime_cells.xlsx", source="tokyo", now=NOW, tz="Asia/Tokyo")
    assert r.accepted == 5
    check_against_reference(engine, "tokyo", expected("police_datetime_cells.xlsx"), wards_2025, tz="Asia/Tokyo")
    first = pd.to_datetime(stored(engine, "tokyo")["occurred_at"], utc=True).iloc[0]
    assert first == pd.Timestamp("2024-06-09 22:00", tz="UTC")  # 07:00 in Tokyo (UTC+9)


def test_join_tolerance_is_measured_in_the_utm_zone_of_the_data(engine, tmp_path, monkeypatch):
    """A ward near Đà Nẵng (108.25°E, UTM zone 49N): a point 40 m outside is placed (its distance 40 m
    by pyproj in zone 49), one 60 m outside is not; on PostgreSQL also when PostGIS joins."""
    monkeypatch.setattr(postgis, "IN_DATABASE_JOIN_ROWS", 1)
    utm49 = Transformer.from_crs("EPSG:4326", "EPSG:32649", always_xy=True)
    back = Transformer.from_crs("EPSG:32649", "EPSG:4326", always_xy=True)
    x0, y0 = utm49.transform(108.25, 16.05)
    ward = gpd.GeoDataFrame({"code": ["99901"], "name": ["Phường Thử"], "parent_name": ["Đà Nẵng"]},
                            geometry=[shapely.box(x0, y0, x0 + 1000, y0 + 1000)], crs="EPSG:32649").to_crs(4326)
    save_version(engine, ward, "danang-test")
    # 40 m and 60 m east of the ward's east side, measured along the zone-49 grid
    (lo1, lo2), (la1, la2) = back.transform([x0 + 1040, x0 + 1060], [y0 + 500, y0 + 500])
    path = tmp_path / "dn.csv"
    path.write_text("Mã vụ,Ngày xảy ra,Loại tội phạm,Kinh độ,Vĩ độ\n"
                    f"N1,01/03/2024,Ma túy,{lo1:.8f},{la1:.8f}\nN2,01/03/2024,Ma túy,{lo2:.8f},{la2:.8f}\n",
                    encoding="utf-8")
    r = import_file(engine, path, source="dn", now=NOW, tolerance_m=50)
    assert r.accepted == 2 and r.outside["danang-test"] == 1 and r.nearest["danang-test"] == 1
    with engine.connect() as conn:
        got = conn.execute(text(
            "SELECT i.external_id, ia.method, ia.distance_m FROM incident i JOIN incident_area ia ON ia.incident_id = i.id "
            "JOIN boundary_version v ON v.id = ia.version_id WHERE v.name = 'danang-test'")).all()
    assert [(g[0], g[1]) for g in got] == [("N1", "nearest")]
    ex, ey = utm49.transform(lo1, la1)
    assert got[0][2] == pytest.approx(ex - (x0 + 1000), abs=0.05) and got[0][2] == pytest.approx(40.0, abs=0.05)


def test_dry_run_writes_nothing_and_says_whether_the_file_would_import(app, engine):
    runner = app.test_cli_runner()
    before = table_counts(engine)
    res = runner.invoke(args=["import-incidents", str(DATA / "police_text_time.xlsx"), "--source", "s", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "Kinh độ (WGS84) -> Kinh độ [EPSG:4326]" in res.output and "Ghi chú -> (không dùng)" in res.output
    assert "01/03/2024 16:31" in res.output and "Sẽ nhập 7 trong 10 dòng, từ chối 3 dòng; chưa ghi gì." in res.output
    assert "1 dòng: Giờ: không phải giờ trong ngày" in res.output
    res = runner.invoke(args=["import-incidents", str(DATA / "incidents_all_bad.csv"), "--source", "s", "--dry-run"])
    assert res.exit_code == 1
    assert table_counts(engine) == before


def test_command_line_writes_the_rejected_rows_as_the_file_was(app, tmp_path):
    runner = app.test_cli_runner()
    out = tmp_path / "rej.csv"
    res = runner.invoke(args=["import-incidents", str(DATA / "police_rejects_cp1258.csv"), "--source", "s",
                              "--rejects-out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.reader(io.StringIO(unicodedata.normalize("NFC", out.read_bytes().decode("cp1258"))),
                           delimiter=";"))
    assert [r[0] for r in rows] == ["Mã vụ", "G03", "G04"]


def test_an_unknown_timezone_stops_the_start(db_url):
    from server import create_app

    with pytest.raises(SystemExit, match="TIMEZONE='Asia/Saigonn'"):
        create_app({"TESTING": True, "DATABASE_URL": db_url, "SECRET_KEY": "x", "TIMEZONE": "Asia/Saigonn"})
