"""The forecast page, its API and downloads on the demo store, checked against counts made here from the
store's incidents with pandas and geopandas (not through the service's queries or the engine)."""
from __future__ import annotations

import html
import io
import re
import shutil

import geopandas as gpd
import pandas as pd
import pytest

from clustering.outlook import REGISTRY
from tests.conftest import signed_in

Q = "boundary=hcmc-2025&period=2025&category=giet_nguoi"  # murders: a small selection with small counts
FAST = {"TESTING": True, "SECRET_KEY": "test", "PRECOMPUTE_PAGES": False, "PAGE_INLINE_INCIDENTS": 10**8,
        "FORECAST_INLINE_CELLS": 10**12, "FORECAST_MAX_CELLS": 10**13}


@pytest.fixture(scope="module")
def fc_app(demo_template, tmp_path_factory):
    """One app over a copy of the demo store for the whole module, so each forecast is computed once."""
    from server import create_app

    path = tmp_path_factory.mktemp("forecast") / "demo.db"
    shutil.copyfile(demo_template, path)
    return create_app(dict(FAST, DATABASE_URL=f"sqlite:///{path}"))


@pytest.fixture(scope="module")
def truth(fc_app):
    """Every murder of the store in the ward whose polygon holds it (geopandas), and the ward codes."""
    from geo.store.models import make_engine
    from geo.store.queries import load_areas

    eng = make_engine(fc_app.config["DATABASE_URL"])
    inc = pd.read_sql("SELECT lon, lat, local_date, category FROM incident WHERE category = 'giet_nguoi'", eng)
    wards = load_areas(eng, "hcmc-2025")[["code", "geometry"]]
    eng.dispose()
    pts = gpd.GeoDataFrame(inc, geometry=gpd.points_from_xy(inc["lon"], inc["lat"]), crs="EPSG:4326")
    joined = gpd.sjoin(pts, wards.to_crs("EPSG:4326"), predicate="intersects", how="inner")
    joined = joined[~joined.index.duplicated()]
    joined["local_date"] = pd.to_datetime(joined["local_date"])
    return joined, sorted(wards["code"])


def _between(frame, a, b):
    return frame[(frame["local_date"] >= a) & (frame["local_date"] <= b)]


def test_the_api_forecast_agrees_with_counts_of_the_store(fc_app, truth):
    joined, codes = truth
    c = signed_in(fc_app, "analyst")
    res = c.get(f"/api/v1/forecast?{Q}&horizon=quarter")
    assert res.status_code == 200, res.get_data(as_text=True)[:300]
    body = res.get_json()
    meta = body["meta"]
    # the day after the filter period, for a quarter: Q1 2026
    assert (meta["start"], meta["end"], meta["horizon"]) == ("2026-01-01", "2026-03-31", "quarter")
    assert meta["period"] == "Quý I/2026 (01/01/2026 – 31/03/2026)"
    props = pd.DataFrame([f["properties"] for f in body["features"]])
    assert sorted(props["code"]) == codes  # every unit, Côn Đảo too
    # last year: the same quarter of 2025, counted here
    last = _between(joined, "2025-01-01", "2025-03-31").groupby("code").size()
    assert props.set_index("code")["last_year"].to_dict() == {k: float(last.get(k, 0)) for k in codes}
    # the expected counts share out the expected total, made as the total model says: the quarter just
    # before (Q4 2025), the 2025 count per day over the quarter's 90 days, or Q1 2025 times the trend
    year, before = len(_between(joined, "2025-01-01", "2025-12-31")), len(_between(joined, "2024-01-01", "2024-12-31"))
    total = {"previous": len(_between(joined, "2025-10-01", "2025-12-31")), "average": year / 365 * 90,
             "seasonal": last.sum() * year / before}[meta["total_model"]]
    assert props["expected"].sum() == pytest.approx(total, rel=1e-9) == meta["expected_total"]
    assert (props["low95"] <= props["low80"]).all() and (props["high80"] <= props["high95"]).all()
    assert (props["low80"] <= props["expected"]).all()
    big = props[props["expected"] >= 1]  # an integer range of a count below one may end at 0
    assert (big["expected"] <= big["high80"]).all()
    assert props.sort_values("rank")["expected"].is_monotonic_decreasing
    assert set(props["method"]) == {meta["count_method"]} and meta["count_method"] in REGISTRY
    assert {"80", "95", "pairs"} <= set(meta["interval_coverage"]) and meta["interval_coverage"]["pairs"] > 0

    # the chosen method is the one with the best mean hit rate over the coverages
    bt = c.get(f"/api/v1/forecast/backtest?{Q}&horizon=quarter")
    assert bt.status_code == 200 and bt.mimetype == "application/json"
    rows = pd.DataFrame(bt.get_json()["rows"])
    assert sorted(rows["coverage"].unique()) == [0.01, 0.05, 0.1]
    score = rows.groupby("method")["hit_rate"].mean()
    assert meta["method"] == score.idxmax() and set(rows.loc[rows["chosen"], "method"]) == {score.idxmax()}
    assert (rows["hit_low"] <= rows["hit_rate"] + 1e-12).all() and (rows["hit_rate"] <= rows["hit_high"] + 1e-12).all()
    assert (rows["pai"] <= rows["pai_max"] + 1e-9).all()


def test_the_page_names_the_winner_and_the_downloads_hold_every_unit(fc_app, truth):
    _joined, codes = truth
    c = signed_in(fc_app, "analyst")
    res = c.get(f"/map/forecast?{Q}")  # the default horizon: a quarter
    text = res.get_data(as_text=True)
    assert res.status_code == 200
    assert "Dự báo Quý I/2026 (01/01/2026 – 31/03/2026)" in text
    assert re.search(r"Phương pháp “[^”]+” dự báo đúng nhất trong 12 kỳ gần đây: bắt được \d+% số vụ trên 5% "
                     r"diện tích", text)
    assert "Khoảng 80%: từ" in text and "Trong các kỳ đã kiểm tra, khoảng dự báo 80% chứa đúng" in text
    csv = pd.read_csv(io.BytesIO(c.get(f"/export/forecast.csv?{Q}").data), dtype={"Mã": str}, encoding="utf-8-sig")
    assert sorted(csv["Mã"]) == codes and csv["#"].tolist() == list(range(1, len(codes) + 1))
    gdf = gpd.read_file(io.BytesIO(c.get(f"/export/forecast.geojson?{Q}&layer=wards").data))
    assert sorted(gdf["code"]) == codes and "score" not in gdf.columns
    assert {"expected", "low80", "high80", "low95", "high95", "last_year"} <= set(gdf.columns)


def test_a_statistical_half_year_runs_from_the_15th_to_the_14th(fc_app, truth):
    joined, codes = truth
    c = signed_in(fc_app, "analyst")
    res = c.get("/api/v1/forecast?boundary=hcmc-2025&period=2025-H1&cut=stat&category=giet_nguoi&horizon=half")
    assert res.status_code == 200, res.get_data(as_text=True)[:300]
    meta = res.get_json()["meta"]
    assert (meta["start"], meta["end"]) == ("2025-06-15", "2025-12-14")
    assert meta["period"] == "6 tháng cuối năm 2025 (15/06/2025 – 14/12/2025)"
    props = pd.DataFrame([f["properties"] for f in res.get_json()["features"]]).set_index("code")
    last = _between(joined, "2024-06-15", "2024-12-14").groupby("code").size()
    assert props["last_year"].to_dict() == {k: float(last.get(k, 0)) for k in codes}


def test_viewers_see_no_count_below_the_minimum(fc_app):
    c = signed_in(fc_app, "viewer")
    minimum = fc_app.config["MIN_PUBLISHED_COUNT"]
    props = pd.DataFrame([f["properties"] for f in c.get(f"/api/v1/forecast?{Q}").get_json()["features"]])
    for col in ("last_year", "expected"):
        shown = props[col].dropna()
        assert not ((shown >= 1) & (shown < minimum)).any(), col
    assert props["suppressed"].any() and props.loc[props["suppressed"], "low80"].isna().all()
    text = c.get(f"/map/forecast?{Q}").get_data(as_text=True)
    assert f"dưới {minimum}" in text


@pytest.mark.parametrize("query, message", [
    ("horizon=decade", "`horizon` là 'decade'"),
    ("start=2026-01-03", "bắt đầu từ ngày 1 của tháng, hoặc ngày 15"),
    ("start=2026-1-1", "`start` là '2026-1-1' nhưng phải có dạng YYYY-MM-DD"),
    ("start=2027-01-01", "số liệu chỉ có đến ngày 31/12/2025"),
])
def test_a_bad_horizon_or_start_is_refused_with_the_reason(fc_app, query, message):
    c = signed_in(fc_app, "analyst")
    res = c.get(f"/api/v1/forecast?{Q}&{query}")
    assert res.status_code == 400 and message in res.get_json()["error"]
    if query.startswith("horizon"):
        page = c.get(f"/map/forecast?{Q}&{query}")
        assert page.status_code == 400 and message in html.unescape(page.get_data(as_text=True))


@pytest.fixture(scope="module")
def month_app(store_template, tmp_path_factory):
    """A store holding one month of the demo's incidents (December 2025)."""
    from geo.ingest import demo
    from geo.ingest.importer import import_file
    from geo.store.models import make_engine
    from geo.store.queries import load_areas
    from server import create_app

    folder = tmp_path_factory.mktemp("month")
    shutil.copyfile(store_template, folder / "store.db")
    eng = make_engine(f"sqlite:///{folder / 'store.db'}")
    records, _truth = demo.generate(load_areas(eng, "hcmc-2025"), n=6000, seed=7)
    when = pd.to_datetime(records["Thời gian xảy ra"].str[:10], format="%d/%m/%Y")  # some have no time of day
    demo.write_csv(records[(when >= "2025-12-01") & (when < "2026-01-01")], folder / "month.csv")
    import_file(eng, folder / "month.csv", source="month")
    eng.dispose()
    return create_app(dict(FAST, DATABASE_URL=f"sqlite:///{folder / 'store.db'}"))


def test_a_month_of_history_gives_the_page_with_its_warnings(month_app):
    c = signed_in(month_app, "analyst")
    res = c.get("/map/forecast?boundary=hcmc-2025&period=2025-12&horizon=month")
    text = res.get_data(as_text=True)
    assert res.status_code == 200, text[:300]
    assert "Dự báo Tháng 1/2026 (01/01/2026 – 31/01/2026)" in text
    assert "Chưa đủ số liệu để kiểm tra phương pháp nào trên các kỳ đã qua" in text
    assert "Số liệu chưa có cùng kỳ năm trước" in text
    # nothing before the start: the page says so, still 200
    res = c.get("/map/forecast?boundary=hcmc-2025&period=2024&horizon=month")
    assert res.status_code == 200
    assert "Không có vụ việc nào của lựa chọn này trước ngày 01/01/2025" in res.get_data(as_text=True)


def test_every_forecasting_method_has_its_name_in_vietnamese(fc_app):
    from geo.render.layers import method_label

    with fc_app.test_request_context("/?lang=vi"):
        names = {k: method_label(k, "vi") for k in REGISTRY}
    with fc_app.test_request_context("/?lang=en"):
        english = {k: method_label(k, "en") for k in REGISTRY}
    assert english == {k: s.label for k, s in REGISTRY.items()}
    assert all(names[k] != english[k] for k in REGISTRY), names
