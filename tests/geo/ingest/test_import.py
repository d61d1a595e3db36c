"""Importing incident files: each parser rule, each rejection, upserts, atomicity."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from flask import Flask
from pyproj import Transformer
from sqlalchemy import text

from geo.errors import InputError
from geo.ingest.importer import import_file
from tests.conftest import DATA, NOW, day_aggregates, table_counts


def english_context():
    """The context of an app whose language is English (BABEL_DEFAULT_LOCALE = en)."""
    app = Flask(__name__)
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    return app.app_context()


@pytest.fixture
def english():
    with english_context():
        yield


def incidents(engine, source=None) -> pd.DataFrame:
    """Stored incidents with their ward in each version, one row per incident."""
    sql = ("SELECT i.external_id, i.occurred_at, i.local_date, i.category, i.severity, i.cleared, "
           "i.lon, i.lat, i.orig_crs, v.name AS version, a.code, a.name AS ward, ia.method "
           "FROM incident i LEFT JOIN incident_area ia ON ia.incident_id = i.id "
           "LEFT JOIN boundary_version v ON v.id = ia.version_id LEFT JOIN area a ON a.id = ia.area_id"
           + (" WHERE i.source = :s" if source else ""))
    with engine.connect() as conn:
        df = pd.read_sql(text(sql), conn, params={"s": source})
    wide = df.dropna(subset=["version"]).pivot(index="external_id", columns="version", values="ward")
    base = df.drop_duplicates("external_id").set_index("external_id")
    out = base.drop(columns=["version", "code", "ward", "method"]).join(wide)
    for v in ("hcmc-2019", "hcmc-2025", "hanoi-2025"):
        if v not in out:
            out[v] = None
    return out


GOOD_EXPECTED = {
    # id: (UTC time, local date, category, severity, cleared, ward 2019, ward 2025)
    "V001": ("2024-03-15 07:30", "2024-03-15", "trom_cap_tai_san", 1, True, "Phường Bến Thành", "Phường Bến Thành"),
    "V002": ("2024-03-16 14:05", "2024-03-16", "cuop_giat_tai_san", 2, False, "Phường Bến Nghé", "Phường Sài Gòn"),
    "V003": ("2024-03-18 17:00", "2024-03-19", "cuop_giat_tai_san", None, None, "Phường Bến Thành", "Phường Bến Thành"),
    "V004": ("2024-03-20 01:15", "2024-03-20", "ma_tuy", 3, True, "Phường 7", "Phường Hạnh Thông"),
    "V005": ("2025-07-31 17:00", "2025-08-01", "lua_dao", None, False, "Phường Bến Thành", "Phường Bến Thành"),
    "V006": ("2025-08-05 16:10", "2025-08-05", "khac", None, None, None, None),
    "V007": ("2024-12-31 16:30", "2024-12-31", "gay_roi", 2, True, "Phường Bến Nghé", "Phường Sài Gòn"),
}


@pytest.mark.parametrize("name", ["incidents_good.csv", "incidents_cp1258.csv", "incidents_utf16.txt"])
def test_good_file_in_every_encoding(engine, name):
    r = import_file(engine, DATA / name, source="s", now=NOW)
    assert (r.accepted, r.updated, r.rejected) == (7, 0, 0)
    assert r.warnings == [  # in the language of the command line and jobs (BABEL_DEFAULT_LOCALE: vi)
        "1 dòng có loại tội phạm không có trong danh mục nên được xếp vào 'Khác': 'Tai nạn giao thông' (1)",
        "1 dòng bị đảo kinh độ và vĩ độ (hoặc X và Y) và đã được sửa: các dòng 4",
        "Các cột không dùng đến: Ghi chú",
    ]
    got = incidents(engine)
    for ext, (utc, local, cat, sev, cleared, w19, w25) in GOOD_EXPECTED.items():
        row = got.loc[ext]
        assert str(row.occurred_at)[:16] == utc, ext
        assert str(row.local_date)[:10] == local, ext
        assert row.category == cat
        assert (None if pd.isna(row.severity) else int(row.severity)) == sev, ext
        assert (None if pd.isna(row.cleared) else bool(row.cleared)) == cleared, ext
        assert (None if pd.isna(row["hcmc-2019"]) else row["hcmc-2019"]) == w19, ext
        assert (None if pd.isna(row["hcmc-2025"]) else row["hcmc-2025"]) == w25, ext
    assert got.loc["V006", "hanoi-2025"] == "Phường Hoàn Kiếm"
    # the swapped row was put right, the comma decimals read
    assert got.loc["V003", ["lon", "lat"]].tolist() == pytest.approx([106.6953, 10.7770])
    assert got.loc["V002", ["lon", "lat"]].tolist() == pytest.approx([106.6990, 10.7798])


def test_bad_rows_are_reported_with_row_column_value_and_reason(engine):
    r = import_file(engine, DATA / "incidents_bad.csv", source="s", now=NOW)
    assert (r.accepted, r.rejected) == (2, 15)
    got = [tuple(x) for x in r.rejects[["row", "column", "value"]].itertuples(index=False)]
    assert got == [
        (3, "Ngày xảy ra", "31/02/2024"), (4, "Ngày xảy ra", ""), (5, "Ngày xảy ra", "01/01/2099"),
        (6, "Loại tội phạm", ""), (7, "Mức độ", "rất rất nặng"), (8, "Đã khám phá", "có lẽ"),
        (9, "Vĩ độ", ""), (10, "Kinh độ", "abc"), (11, "Kinh độ", "2.352200, 48.856600"),
        (12, "Phường/Xã", "Phường 1"), (13, "Phường/Xã", "Phường Không Tồn Tại"),
        (14, "Phường/Xã", "99999"), (15, "Mã vụ", "B001"), (16, "Kinh độ", ""), (17, "Giờ", "25:00"),
    ]
    reasons = dict(zip(r.rejects["row"], r.rejects["reason"]))  # in Vietnamese (BABEL_DEFAULT_LOCALE)
    assert reasons[3].startswith("không phải ngày")
    assert reasons[4] == "thiếu ngày"
    assert reasons[5] == "ngày ở tương lai"
    assert reasons[6] == "thiếu loại tội phạm"
    assert reasons[7].startswith("mức độ không xác định")
    assert reasons[8] == "không phải giá trị có/không (cần Có/Không)"
    assert reasons[9] == "thiếu một toạ độ (toạ độ còn lại có ghi)"
    assert reasons[10] == "không phải số"
    assert reasons[11].startswith("điểm nằm ngoài vùng của các ranh giới đã nạp")
    assert reasons[12].startswith("tên phường 'Phường 1' chưa rõ trong hcmc-2019: có 11 đơn vị trùng tên")
    assert "Phường 1 (Quận Gò Vấp, mã 26896)" in reasons[12] and reasons[12].endswith(
        "hãy ghi thêm quận/huyện hoặc mã phường")
    assert reasons[13] == "không có phường tên 'Phường Không Tồn Tại' trong các ranh giới đã nạp"
    assert reasons[14] == "không có mã phường '99999'"
    assert reasons[15] == "mã vụ bị trùng (lần đầu ở dòng 2)"
    assert reasons[16] == "không có toạ độ và không ghi phường để xác định nơi xảy ra vụ việc"
    assert reasons[17] == "không phải giờ trong ngày (cần dạng HH:MM hoặc 14h30)"
    # the rejected rows are kept with the batch, as CSV
    with engine.connect() as conn:
        csv_text, rejected = conn.execute(text("SELECT rejected_csv, rejected FROM import_batch")).one()
    assert rejected == 15 and csv_text.splitlines()[0] == (  # the file's own columns, then the row and reasons
        "Mã vụ,Ngày xảy ra,Giờ,Loại tội phạm,Mức độ,Đã khám phá,Kinh độ,Vĩ độ,Phường/Xã,Quận/Huyện,"
        "Dòng trong tệp gốc,Lý do bị từ chối")
    assert len(pd.read_csv(pd.io.common.StringIO(csv_text))) == 15
    # "Phường 1" with its district is found
    assert incidents(engine).loc["B016", "hcmc-2019"] == "Phường 1"
    with english_context():  # an English-speaking importer gets the reasons in English
        again = import_file(engine, DATA / "incidents_bad.csv", source="s2", now=NOW)
        assert again.rejects_csv.splitlines()[0] == "row,column,value,reason"
    reasons = dict(zip(again.rejects["row"], again.rejects["reason"]))
    assert (reasons[4], reasons[15]) == ("no date", "duplicate incident id (first at row 2)")
    assert reasons[12].startswith("ward name 'Phường 1' is ambiguous in hcmc-2019: 11 units match")
    assert "Phường 1 (Quận Gò Vấp, code 26896)" in reasons[12]


def test_xlsx_dates_cells_and_serials(engine):
    r = import_file(engine, DATA / "incidents.xlsx", source="x", now=NOW)
    assert (r.accepted, r.rejected) == (4, 1)
    assert r.rejects.iloc[0][["row", "column", "value"]].tolist() == [6, "Ngày xảy ra", "không rõ"]
    got = incidents(engine)
    assert str(got.loc["X001", "occurred_at"])[:16] == "2024-03-15 07:30"  # a datetime cell
    assert str(got.loc["X002", "occurred_at"])[:16] == "2024-03-19 11:00"  # serial 45370.75 = 19/03 18:00
    assert str(got.loc["1004", "local_date"])[:10] == "2024-03-21"  # numeric id kept as text
    assert got.loc["X003", "hcmc-2019"] == "Phường Bến Thành"


def test_geojson_points(engine):
    r = import_file(engine, DATA / "incidents.geojson", source="g", now=NOW)
    assert (r.accepted, r.rejected) == (3, 0)
    got = incidents(engine)
    assert got.loc["G2", "hanoi-2025"] == "Phường Ba Đình"
    assert str(got.loc["G2", "occurred_at"])[:16] == "2025-09-02 01:00"


def test_vn2000_tm3_agrees_with_the_ministry_parameters(engine):
    """X/Y in VN-2000 TM-3 zones (X = northing, as surveys write it) against the 7-parameter
    transformation of Decision 05/2007/QĐ-BTNMT written as an independent proj string."""
    r = import_file(engine, DATA / "incidents_vn2000.csv", source="vn", now=NOW)
    assert (r.accepted, r.rejected, r.warnings) == (3, 0, [])
    towgs84 = "-191.90441429,-39.30318279,-111.45032835,-0.00928836,0.01975479,-0.00427372,0.252906278"
    src = pd.read_csv(DATA / "incidents_vn2000.csv")
    got = incidents(engine)
    for row in src.itertuples():
        lon0 = float(row._6.split(":")[1])
        proj = (f"+proj=tmerc +lat_0=0 +lon_0={lon0} +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 "
                f"+towgs84={towgs84} +units=m +no_defs")
        lon, lat = Transformer.from_crs(proj, "EPSG:4326", always_xy=True).transform(row.Y, row.X)
        to_m = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)
        a = np.array(to_m.transform(lon, lat))
        b = np.array(to_m.transform(got.loc[row._1, "lon"], got.loc[row._1, "lat"]))
        assert np.hypot(*(a - b)) < 2.0  # metres
    assert got.loc["N1", "hcmc-2025"] == "Phường Bến Thành"
    assert got.loc["N3", "hanoi-2025"] == "Phường Hoàn Kiếm"


def test_reimport_updates_and_never_duplicates(engine, tmp_path):
    first = import_file(engine, DATA / "incidents_good.csv", source="s", now=NOW)
    again = import_file(engine, DATA / "incidents_good.csv", source="s", now=NOW)
    # the same file again: every row is stored as it is, none is written again
    assert (first.accepted, again.accepted, again.updated, again.unchanged) == (7, 0, 0, 7)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT DISTINCT batch_id FROM incident")).scalars().all() == [first.batch_id]
        assert conn.execute(text("SELECT accepted, updated FROM import_batch WHERE id = :b"),
                            {"b": again.batch_id}).one() == (0, 0)
    before = table_counts(engine)
    assert before["incident"] == 7 and before["incident_area"] == 13  # 6 + 6 in HCMC, 1 in Hà Nội
    # a newer version of the file: one row changed, one added
    newer = tmp_path / "newer.csv"
    body = (DATA / "incidents_good.csv").read_text(encoding="utf-8-sig")
    body = body.replace("V001,15/03/2024,14h30,Trộm cắp tài sản", "V001,15/03/2024,14h30,Cướp tài sản")
    body += "V008,01/04/2024,,Trộm cắp tài sản,,,106.6981,10.7725,,,,,\n"
    newer.write_text(body, encoding="utf-8")
    r = import_file(engine, newer, source="s", now=NOW)
    assert (r.accepted, r.updated, r.unchanged) == (1, 1, 6)
    got = incidents(engine)
    assert len(got) == 8 and got.loc["V001", "category"] == "cuop_tai_san"
    assert table_counts(engine)["incident_area"] == 15
    with engine.connect() as conn:  # only the changed and the new row carry the newer batch
        assert sorted(conn.execute(text("SELECT external_id FROM incident WHERE batch_id = :b"),
                                   {"b": r.batch_id}).scalars()) == ["V001", "V008"]
    # the same ids from another source are other incidents
    assert import_file(engine, DATA / "incidents_good.csv", source="other", now=NOW).accepted == 7


def test_wholly_bad_file_changes_nothing(engine):
    before = table_counts(engine)
    with pytest.raises(InputError, match=r"incidents_all_bad.csv: không nhập được dòng nào \(2 dòng, đều bị "
                                         r"loại; lỗi đầu tiên: dòng 2, cột 'Ngày xảy ra'") as exc:
        import_file(engine, DATA / "incidents_all_bad.csv", source="s", now=NOW)
    assert len(exc.value.result.rejects) == 2
    assert table_counts(engine) == before


@pytest.mark.sqlite_only("the failure is planted with a SQLite trigger")
def test_error_half_way_leaves_the_store_unchanged(engine):
    import_file(engine, DATA / "incidents_good.csv", source="s", now=NOW)
    before = table_counts(engine)
    with engine.begin() as conn:  # a real failure inside the database, after the incidents are written
        conn.exec_driver_sql(
            "CREATE TRIGGER fail_late BEFORE INSERT ON incident_area "
            "WHEN NEW.incident_id > 8 BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(Exception, match="disk full"):
        import_file(engine, DATA / "incidents_good.csv", source="new-source", now=NOW)
    assert table_counts(engine) == before
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER fail_late")
    assert import_file(engine, DATA / "incidents_good.csv", source="new-source", now=NOW).accepted == 7


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    ("Ngày,Loại tội phạm\n01/01/2024,Trộm\n".encode(), "no coordinate columns"),
    ("Kinh độ,Vĩ độ,Loại tội phạm\n106.7,10.7,Trộm\n".encode(), "no date column"),
    ("Ngày,Kinh độ,Vĩ độ\n01/01/2024,106.7,10.7\n".encode(), "no category column"),
    ("Ngày,Ngày,Kinh độ\n".encode(), "column 'Ngày' appears twice"),
    ("Ngày,Loại,Kinh độ,Vĩ độ\n01/01/2024,Trộm,106.7,10.7,1,2,3\n".encode(), "line 2 has 7 fields but the header has 4"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data, not a CSV file"),
    (("," * 600 + "\n").encode(), "601 columns; at most 500"),
])
def test_structural_errors_name_the_file(engine, tmp_path, content, message, english):
    path = tmp_path / "upload.csv"
    path.write_bytes(content)
    before = table_counts(engine)
    with pytest.raises(InputError, match=f"upload.csv: .*{message}"):
        import_file(engine, path, source="s", now=NOW)
    assert table_counts(engine) == before


def test_explicit_mapping_and_unknown_mapping(engine, tmp_path, english):
    path = tmp_path / "odd.csv"
    path.write_text("Số,Khi nào,Việc gì,Đông,Bắc\n1,15/03/2024,Trộm cắp tài sản,106.6981,10.7725\n",
                    encoding="utf-8")
    mapping = {"external_id": "Số", "occurred_at": "Khi nào", "category": "Việc gì", "lon": "Đông",
               "lat": "Bắc"}
    r = import_file(engine, path, source="s", mapping=mapping, now=NOW)
    assert r.accepted == 1
    with pytest.raises(InputError, match="mapping lon='Kinh' but there is no such column"):
        import_file(engine, path, source="s", mapping={**mapping, "lon": "Kinh"}, now=NOW)


def test_tolerance_places_points_just_outside(engine, tmp_path):
    """A point 30 m off the coast of a ward is counted in it; 300 m off is outside."""
    import geopandas as gpd

    from geo.store.queries import load_areas

    wards = load_areas(engine, "hcmc-2025").to_crs(32648)
    geom = wards.loc[wards["name"] == "Xã Cần Giờ", "geometry"].iloc[0]
    miny = geom.bounds[1]
    # the ward's southernmost vertex, then straight south (the sea)
    x = next(c[0] for g in geom.geoms for c in g.exterior.coords if abs(c[1] - miny) < 1e-3)
    pts = gpd.GeoSeries.from_xy([x, x], [miny - 30, miny - 300], crs=32648).to_crs(4326)
    path = tmp_path / "coast.csv"
    path.write_text("Mã vụ,Ngày xảy ra,Loại tội phạm,Kinh độ,Vĩ độ\n"
                    f"C1,15/08/2025,Trộm cắp tài sản,{pts.x[0]:.7f},{pts.y[0]:.7f}\n"
                    f"C2,15/08/2025,Trộm cắp tài sản,{pts.x[1]:.7f},{pts.y[1]:.7f}\n", encoding="utf-8")
    r = import_file(engine, path, source="coast", now=NOW)
    assert r.nearest["hcmc-2025"] == 1 and r.outside["hcmc-2025"] == 1
    got = incidents(engine)
    assert got.loc["C1", "hcmc-2025"] == "Xã Cần Giờ" and pd.isna(got.loc["C2", "hcmc-2025"])


@pytest.mark.sqlite_only("copies the store file")
def test_same_file_into_copied_store_is_identical(db_url, tmp_path):
    """Importing is deterministic: two stores fed the same file hold the same rows."""
    from geo.store.models import make_engine

    other = tmp_path / "copy.db"
    shutil.copyfile(db_url.removeprefix("sqlite:///"), other)
    frames = []
    for url in (db_url, f"sqlite:///{other}"):
        eng = make_engine(url)
        import_file(eng, DATA / "incidents_good.csv", source="s", now=NOW)
        frames.append(incidents(eng).sort_index())
        eng.dispose()
    pd.testing.assert_frame_equal(frames[0], frames[1])


def test_day_aggregates_follow_imports_and_updates(engine, tmp_path):
    import_file(engine, DATA / "incidents_good.csv", source="s", now=NOW)
    kept, expected = day_aggregates(engine)
    assert len(kept) == 13  # 7 incidents: 6 in each HCMC version, 1 in Hà Nội, each its own day
    pd.testing.assert_frame_equal(kept, expected, check_dtype=False)
    # an update moves V001 to another year and category; its old day must be emptied
    newer = tmp_path / "newer.csv"
    body = (DATA / "incidents_good.csv").read_text(encoding="utf-8-sig")
    body = body.replace("V001,15/03/2024,14h30,Trộm cắp tài sản", "V001,15/03/2023,14h30,Cướp tài sản")
    newer.write_text(body, encoding="utf-8")
    import_file(engine, newer, source="s", now=NOW)
    kept, expected = day_aggregates(engine)
    pd.testing.assert_frame_equal(kept, expected, check_dtype=False)
    assert not ((kept["local_date"] == "2024-03-15") & (kept["category"] == "trom_cap_tai_san")).any()
    # new incidents on days that already have some are added to them
    import_file(engine, DATA / "incidents_good.csv", source="another", now=NOW)
    kept, expected = day_aggregates(engine)
    pd.testing.assert_frame_equal(kept, expected, check_dtype=False)
    assert kept["n"].max() == 2


def test_text_wider_than_its_column_is_refused_with_a_message_not_a_database_error(engine, tmp_path):
    # PostgreSQL raises on over-long text and SQLite keeps it: both must refuse it the same way
    before = table_counts(engine)
    with pytest.raises(InputError, match=r"`source` có 150 ký tự nhưng chỉ được tối đa 100 ký tự"):
        import_file(engine, DATA / "incidents_good.csv", source="s" * 150, now=NOW)
    with english_context(), pytest.raises(InputError, match=r": `source` has 150 characters but may have at most "
                                                             r"100; shorten it and try again\.$"):
        import_file(engine, DATA / "incidents_good.csv", source="s" * 150, now=NOW)
    assert table_counts(engine) == before
    path = tmp_path / "long_id.csv"
    path.write_text("Mã vụ,Ngày xảy ra,Loại tội phạm,Kinh độ,Vĩ độ\n"
                    f"{'A' * 101},15/03/2024 14:30,Trộm cắp tài sản,106.6983,10.7725\n"
                    "OK1,15/03/2024 14:30,Trộm cắp tài sản,106.6983,10.7725\n", encoding="utf-8")
    r = import_file(engine, path, source="s", now=NOW)
    assert (r.accepted, r.rejected) == (1, 1)
    row = r.rejects.iloc[0]
    assert (row["row"], row["column"]) == (2, "Mã vụ") and "100" in row["reason"]
