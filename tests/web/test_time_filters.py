"""Hour and weekday filters, the hour x weekday table and the monthly counts on the demo store, against
independent pandas counts of the demo file (its own local times) and of the incidents table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from flask import render_template
from sqlalchemy import text

from geo.store.models import make_engine
from tests.conftest import signed_in

pytestmark = [pytest.mark.reads_demo, pytest.mark.xdist_group("time_filters")]  # one worker: the module's fixtures are built once

Q = "boundary=hcmc-2025&period=2025"
NIGHT_WEEKEND = "hour_from=22&hour_to=4&weekday=5&weekday=6"  # 22:00–05:00, Saturday and Sunday
WEEKDAYS_VI = ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật"]


@pytest.fixture(scope="module")
def demo_file(demo_template) -> pd.DataFrame:
    """The demo file's 2025 records with the local hour (None without a time) and weekday they give."""
    df = pd.read_csv(demo_template.parent / "demo.csv", encoding="utf-8-sig", dtype=str)
    when = df["Thời gian xảy ra"]
    df["date"] = pd.to_datetime(when.str[:10], format="%d/%m/%Y")
    df["known"] = when.str.len() > 10
    df["hour"] = pd.to_numeric(when.str[11:13], errors="coerce")
    df["weekday"] = df["date"].dt.day_of_week
    return df[df["date"].dt.year == 2025]


@pytest.fixture(scope="module")
def stored(demo_template) -> pd.DataFrame:
    """The stored 2025 incidents with their hcmc-2025 unit; local hour worked out here by pandas."""
    eng = make_engine(f"sqlite:///{demo_template}")
    with eng.connect() as conn:
        df = pd.read_sql(text(
            "SELECT i.occurred_at, i.local_date, i.time_known, i.category, a.code FROM incident i "
            "JOIN incident_area ia ON ia.incident_id = i.id JOIN area a ON a.id = ia.area_id "
            "JOIN boundary_version v ON v.id = ia.version_id WHERE v.name = 'hcmc-2025' "
            "AND i.local_date BETWEEN '2025-01-01' AND '2025-12-31'"), conn)
    eng.dispose()
    local = pd.to_datetime(df["occurred_at"], utc=True, format="ISO8601").dt.tz_convert("Asia/Ho_Chi_Minh")
    df["hour"] = local.dt.hour
    df["weekday"] = pd.to_datetime(df["local_date"]).dt.day_of_week
    df["month"] = pd.to_datetime(df["local_date"]).dt.strftime("%Y-%m")
    return df


def night_weekend(df):
    return df[df["known"].astype(bool) & df["hour"].isin([22, 23, 0, 1, 2, 3, 4]) & df["weekday"].isin([5, 6])]


def test_hour_and_weekday_filters_count_what_pandas_counts(demo_client, demo_file, stored):
    res = demo_client.get(f"/api/v1/areas?{Q}&{NIGHT_WEEKEND}")
    assert res.status_code == 200, res.get_data(as_text=True)[:300]
    got = {f["properties"]["code"]: f["properties"]["count"] for f in res.get_json()["features"]}
    expected = night_weekend(demo_file)
    assert 0 < sum(got.values()) == len(expected) < len(demo_file) / 10
    by_unit = night_weekend(stored.rename(columns={"time_known": "known"}))["code"].value_counts()
    assert {c: n for c, n in got.items() if n} == by_unit.to_dict()
    # weekdays alone keep the incidents without a time
    res = demo_client.get(f"/api/v1/areas?{Q}&weekday=0")
    assert sum(f["properties"]["count"] for f in res.get_json()["features"]) == (demo_file["weekday"] == 0).sum()


def test_the_page_names_the_filter_and_what_it_leaves_out(demo_client, demo_file):
    res = demo_client.get(f"/map/overview?{Q}&{NIGHT_WEEKEND}")
    html = res.get_data(as_text=True)
    assert res.status_code == 200, html[:500]
    assert "22h–5h, Thứ Bảy và Chủ nhật" in html  # the period label names the window and the days
    # the form and its note, as the map pages include them
    from web.maps import read_filters

    with demo_client.application.test_request_context(f"/map/overview?{Q}&{NIGHT_WEEKEND}&lang=vi"):
        form = render_template("_time.html", f=read_filters(), page="overview")
    unknown = int((~demo_file["known"] & demo_file["weekday"].isin([5, 6])).sum())
    assert f"{unknown:,}".replace(",", ".") + " vụ trong phạm vi đã chọn" in form
    assert '<option value="22" selected>22h</option>' in form and '<option value="4" selected>5h</option>' in form
    assert 'value="5" checked> Thứ Bảy' in form and 'name="weekday" value="0" > Thứ Hai' in form
    assert 'id="month-slider"' in form
    res = demo_client.get(f"/map/overview?{Q}&hour_from=22")
    assert res.status_code == 400 and "hour_to" in res.get_data(as_text=True)


def test_hours_table_sums_to_the_known_incidents(demo_client, demo_file, stored):
    data = demo_client.get(f"/api/v1/hours?{Q}").get_json()
    assert data["weekdays"] == WEEKDAYS_VI and data["hours"] == list(range(24))
    m = np.array(data["matrix"], dtype=float)
    assert m.shape == (7, 24)
    assert data["total"] == len(demo_file)
    assert data["unknown"] == (~demo_file["known"]).sum() > 0
    assert m.sum() == pytest.approx(demo_file["known"].sum(), abs=0.01 * 24 * 7)  # cells rounded to 0.01
    assert data["unknown_text"].endswith("số vụ không rõ giờ xảy ra.")
    # fraud has no time ranges in the demo data: the table is the plain count per weekday and hour
    fraud = demo_client.get(f"/api/v1/hours?{Q}&category=lua_dao").get_json()
    known = demo_file[demo_file["known"] & (demo_file["Loại tội phạm"] == "Lừa đảo chiếm đoạt tài sản")]
    expected = pd.crosstab(known["weekday"], known["hour"]).reindex(index=range(7), columns=range(24), fill_value=0)
    assert np.array_equal(np.array(fraud["matrix"]), expected.to_numpy())
    # one unit, as the unit panel asks for it
    code = stored["code"].value_counts().index[0]
    one = demo_client.get(f"/api/v1/hours?{Q}&unit={code}").get_json()
    mine = stored[stored["code"] == code]
    assert one["total"] == len(mine) and one["unknown"] == int((~mine["time_known"].astype(bool)).sum())
    assert np.array(one["matrix"], dtype=float).sum() == pytest.approx(mine["time_known"].astype(bool).sum(), abs=2)


def test_viewers_see_no_small_cells(demo_app, stored):
    viewer = signed_in(demo_app, "viewer")
    minimum = demo_app.config["MIN_PUBLISHED_COUNT"]
    code = stored["code"].value_counts().index[-1]  # the unit with the fewest incidents
    data = viewer.get(f"/api/v1/hours?{Q}&unit={code}").get_json()
    cells = [v for row in data["matrix"] for v in row]
    assert data["minimum"] == minimum and None in cells
    assert not [v for v in cells if v is not None and 0 < v < minimum]
    months = viewer.get(f"/api/v1/months?{Q}").get_json()
    values = [v for month in months["counts"] for v in month]
    assert None in values and not [v for v in values if v is not None and 0 < v < minimum]


def test_months_sum_to_the_period_total(demo_client, stored):
    data = demo_client.get(f"/api/v1/months?{Q}").get_json()
    assert data["months"] == [f"2025-{m:02d}" for m in range(1, 13)]
    assert data["labels"][2] == "03/2025" and data["titles"][2] == "Tháng 03/2025"
    counts = np.array(data["counts"])
    assert counts.shape == (12, len(data["codes"]))
    assert counts.sum() == len(stored)
    assert counts.sum(axis=1).tolist() == stored["month"].value_counts().sort_index().tolist()
    per_unit = dict(zip(data["codes"], counts.sum(axis=0)))
    assert {c: n for c, n in per_unit.items() if n} == stored["code"].value_counts().to_dict()
    assert data["bins"] == sorted(data["bins"]) and len(data["colours"]) == len(data["bins"]) == 5
    assert data["bins"][-1] == counts.max()  # one classification over every month


def test_bad_time_arguments_say_which(demo_client):
    for query, name in (("hour_from=25&hour_to=4", "hour_from"), ("hour_from=1&hour_to=x", "hour_to"),
                        ("weekday=7", "weekday")):
        res = demo_client.get(f"/api/v1/hours?{Q}&{query}")
        assert res.status_code == 400 and name in res.get_data(as_text=True), query
