"""The HTTP API, the pages and the command line, against a real SQLite store."""
from __future__ import annotations

import json

import pytest

from geo.ingest.importer import import_file
from tests.conftest import DATA, NOW, SHARED_BOUNDARIES, table_counts


@pytest.fixture
def loaded(engine):
    import_file(engine, DATA / "incidents_good.csv", source="s", now=NOW)
    return engine


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_healthz_reports_an_unreachable_store(tmp_path):
    from server import create_app

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/../../nope/x.db", "TESTING": True})
    (tmp_path / "nope").mkdir()
    (tmp_path / "nope" / "x.db").write_bytes(b"this is not a database" * 100)
    res = app.test_client().get("/healthz")
    assert res.status_code == 503 and res.get_json()["status"] == "unreachable"


def test_areas_counts_per_ward_and_category(client, loaded):
    res = client.get("/api/v1/areas?boundary=hcmc-2025&start=2024-03-01&end=2024-12-31")
    assert res.status_code == 200 and res.mimetype == "application/geo+json"
    fc = res.get_json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 168
    props = {f["properties"]["name"]: f["properties"] for f in fc["features"]}
    # by hand from incidents_good.csv: V001, V003 and V005(2025, outside the range) in Bến Thành;
    # V002 and V007 in Sài Gòn; V004 (P.7 Gò Vấp) carried to Hạnh Thông
    assert props["Phường Bến Thành"]["count"] == 2
    assert props["Phường Bến Thành"]["count_trom_cap_tai_san"] == 1
    assert props["Phường Bến Thành"]["count_cuop_giat_tai_san"] == 1
    assert props["Phường Sài Gòn"]["count"] == 2
    assert props["Phường Hạnh Thông"]["count_ma_tuy"] == 1
    assert sum(p["count"] for p in props.values()) == 5
    ring = fc["features"][0]["geometry"]["coordinates"][0][0]
    assert 106 < ring[0][0] < 108 and 8 < ring[0][1] < 12  # lon, lat order (RFC 7946)


def test_areas_date_range_is_inclusive_in_local_time(client, loaded):
    # V007 happened at 23:30 on 31/12/2024 local time (16:30 UTC)
    one_day = client.get("/api/v1/areas?boundary=hcmc-2025&start=2024-12-31&end=2024-12-31").get_json()
    assert sum(f["properties"]["count"] for f in one_day["features"]) == 1
    next_day = client.get("/api/v1/areas?boundary=hcmc-2025&start=2025-01-01&end=2025-01-01").get_json()
    assert sum(f["properties"]["count"] for f in next_day["features"]) == 0


def test_areas_category_and_group_filter(client, loaded):
    fc = client.get("/api/v1/areas?boundary=hcmc-2019&start=2024-01-01&end=2024-12-31"
                    "&category=duong_pho").get_json()
    total = sum(f["properties"]["count"] for f in fc["features"])
    # street crime = robbery, snatch theft, theft, public disorder: V001, V002, V003, V007 (not V004 drugs)
    assert total == 4


@pytest.mark.parametrize("query, message", [
    ("start=2024-13-01&end=2024-12-31", "`start` là '2024-13-01' nhưng phải có dạng YYYY-MM-DD."),
    ("end=2024-12-31", "Cần có `start` (dạng YYYY-MM-DD)."),
    ("start=2024-12-31&end=2024-01-01", "`end` (2024-01-01) sớm hơn `start` (2024-12-31)."),
    ("start=2024-01-01&end=2024-12-31&boundary=nowhere", "Không có phiên bản ranh giới 'nowhere' trong kho dữ liệu."),
    ("start=2024-01-01&end=2024-12-31&category=bogus", "`category` có mã không xác định 'bogus'"),
])
def test_areas_bad_parameters_are_400_with_the_reason(client, query, message):
    res = client.get(f"/api/v1/areas?{query}")
    assert res.status_code == 400
    assert res.get_json()["error"].startswith(message)


def test_home_page_lists_versions_counts_and_attribution(client, loaded):
    html = client.get("/").get_data(as_text=True)
    assert "7 vụ việc từ 15/03/2024 đến 05/08/2025." in html
    assert "hcmc-2019" in html and "hanoi-2025" in html
    assert "thanglequoc/vietnamese-provinces-database" in html  # attribution shown
    en = client.get("/?lang=en").get_data(as_text=True)
    assert "7 incidents from 15/03/2024 to 05/08/2025." in en


def test_cli_import_reports_counts_and_rejects(runner, engine, tmp_path):
    out = tmp_path / "rej.csv"
    res = runner.invoke(args=["import-incidents", str(DATA / "incidents_bad.csv"), "--source", "cli",
                              "--rejects-out", str(out)])
    assert res.exit_code == 0, res.output
    assert "Đã nhận 2, cập nhật 0, từ chối 15" in res.output
    assert out.read_text(encoding="utf-8-sig").count("\n") == 16


def test_cli_wholly_bad_file_fails_and_changes_nothing(runner, engine):
    before = table_counts(engine)
    res = runner.invoke(args=["import-incidents", str(DATA / "incidents_all_bad.csv"), "--source", "cli"])
    assert res.exit_code == 1
    assert "không nhập được dòng nào" in res.output
    assert table_counts(engine) == before


def test_cli_export_geojson(runner, loaded, tmp_path):
    out = tmp_path / "areas.geojson"
    res = runner.invoke(args=["export-geojson", str(out), "--boundary", "hcmc-2025", "--start", "2024-01-01",
                              "--end", "2024-12-31"])
    assert res.exit_code == 0, res.output
    import geopandas as gpd

    gdf = gpd.read_file(out)
    assert len(gdf) == 168 and gdf.crs.to_epsg() == 4326
    assert int(gdf.loc[gdf["name"] == "Phường Sài Gòn", "count"].iloc[0]) == 2


def test_cli_load_boundaries_bad_field(runner):
    res = runner.invoke(args=["load-boundaries", str(SHARED_BOUNDARIES / "hcmc_wards_2019.geojson"),
                              "--name", "x", "--code-field", "ma"])
    assert res.exit_code == 1
    assert "trường `ma` (cho code) không có trong lớp bản đồ" in res.output


def test_geojson_export_is_rfc7946(client, loaded):
    fc = json.loads(client.get("/api/v1/areas?start=2024-01-01&end=2024-12-31").get_data())
    assert "crs" not in fc
    assert {"code", "name", "count"} <= set(fc["features"][0]["properties"])


def test_named_periods_in_the_query(client, loaded):
    # Quý I/2024 on the statistical cut runs from 15/12/2023 to 14/03/2024: V001 (15/03) falls out
    stat = client.get("/api/v1/areas?boundary=hcmc-2025&period=2024-Q1:stat").get_json()
    cal = client.get("/api/v1/areas?boundary=hcmc-2025&period=2024-Q1").get_json()
    assert sum(f["properties"]["count"] for f in stat["features"]) == 0
    assert sum(f["properties"]["count"] for f in cal["features"]) == 4  # V001, V002, V003, V004
    bad = client.get("/api/v1/areas?period=2024-Q5")
    assert bad.status_code == 400 and bad.get_json()["error"].startswith("`period` là '2024-Q5'")


def test_pages_answer_503_when_the_store_is_unreadable_and_recover(tmp_path, store_template):
    import shutil

    from server import create_app

    path = tmp_path / "store.db"
    shutil.copyfile(store_template, path)
    good = path.read_bytes()
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "t"})
    from tests.conftest import signed_in

    client = signed_in(app, "viewer")
    assert client.get("/").status_code == 200
    path.write_bytes(b"garbage" * 1000)  # the file is damaged
    res = client.get("/")
    assert res.status_code == 503 and "Không truy cập được kho dữ liệu" in res.get_data(as_text=True)
    api = client.get("/api/v1/areas?start=2024-01-01&end=2024-12-31")
    assert api.status_code == 503 and "error" in api.get_json()
    path.write_bytes(good)  # the cause is gone
    app.extensions.pop("hotspot_engine").dispose()
    assert client.get("/").status_code == 200


def test_backup_and_restore_round_trip_every_table(runner, engine, tmp_path, app):
    import pandas as pd
    from sqlalchemy import inspect

    from geo.ingest.importer import import_file

    import_file(engine, DATA / "incidents_good.csv", source="s", now=NOW)
    tables = ["boundary_version", "area", "crosswalk", "incident", "incident_area", "import_batch",
              "user_account", "audit_log", "alembic_version"]

    def dump():
        # ordered by each table's primary key: a restore need not keep the rows' physical order
        keys = {t: inspect(engine).get_pk_constraint(t)["constrained_columns"] or [1] for t in tables}
        with engine.connect() as conn:
            return {t: pd.read_sql(f"SELECT * FROM {t} ORDER BY {', '.join(map(str, keys[t]))}", conn) for t in tables}

    before = dump()
    out = tmp_path / "backup.db"
    res = runner.invoke(args=["backup", str(out)])
    assert res.exit_code == 0, res.output
    import_file(engine, DATA / "incidents_vn2000.csv", source="later", now=NOW)  # a change after the backup
    res = runner.invoke(args=["restore", str(out), "--yes"])
    assert res.exit_code == 0, res.output
    after = dump()
    for t in tables:
        pd.testing.assert_frame_equal(before[t], after[t], obj=t)
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database")
    res = runner.invoke(args=["restore", str(bad), "--yes"])
    assert res.exit_code == 1 and "bad.db: không phải tệp sao lưu kho dữ liệu (" in res.output
