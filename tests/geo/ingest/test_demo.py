"""Synthetic incident generator: determinism, geography, category mix, seasonality, planted truth."""
from __future__ import annotations

import datetime as dt
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.categories import CATEGORIES, SEVERITY
from geo.ingest.demo import (
    COLUMNS,
    DESCRIPTION_PREFIX,
    TET_DATES,
    TRUTH_COLUMNS,
    _generate,
    generate,
    write_csv,
)
from tests.conftest import SHARED_BOUNDARIES  # noqa: E402

pytestmark = pytest.mark.xdist_group("demo")  # one worker: the module's fixtures are built once

WARDS_FILE = SHARED_BOUNDARIES / "hcmc_wards_2025.geojson"

START, END = dt.date(2023, 1, 1), dt.date(2025, 12, 31)
LABEL_TO_CODE = {vi: code for code, (vi, _, _) in CATEGORIES.items()}
SEVERITY_TO_GRADE = {vi: g for g, (vi, _, _) in SEVERITY.items()}


@pytest.fixture(scope="module")
def wards():
    return gpd.read_file(WARDS_FILE)


@pytest.fixture(scope="module")
def generated(wards):
    return _generate(wards, n=60_000, start=START, end=END, seed=138)


@pytest.fixture(scope="module")
def records(generated):
    return generated[0]


@pytest.fixture(scope="module")
def truth(generated):
    return generated[1]


@pytest.fixture(scope="module")
def times(records):
    # a record without a time of day (the date alone) is at midnight of its day
    return pd.to_datetime(records["Thời gian xảy ra"], format="mixed", dayfirst=True)


def test_deterministic_for_a_seed(wards):
    a = generate(wards, n=3_000, seed=7)
    b = generate(wards, n=3_000, seed=7)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    c = generate(wards, n=3_000, seed=8)
    assert not a[0]["Kinh độ"].equals(c[0]["Kinh độ"])


def test_public_generate_matches_internal(wards, records, truth):
    r, t = generate(wards)
    pd.testing.assert_frame_equal(r, records)
    pd.testing.assert_frame_equal(t, truth)


def test_shape_columns_and_labels(records):
    assert list(records.columns) == COLUMNS
    assert len(records) == 60_000
    ids = records["Mã vụ"]
    assert ids.is_unique
    assert ids.str.fullmatch(r"DEMO-\d{7}").all()
    assert records["Thời gian xảy ra"].str.fullmatch(r"\d{2}/\d{2}/\d{4}( \d{2}:\d{2})?").all()
    assert records["Đến giờ"].dropna().str.fullmatch(r"\d{2}:\d{2}").all()
    assert set(records["Loại tội phạm"]) <= set(LABEL_TO_CODE)
    assert set(records["Mức độ"]) <= set(SEVERITY_TO_GRADE)
    assert set(records["Đã khám phá"]) == {"Có", "Không"}
    assert records["Mô tả"].str.startswith(DESCRIPTION_PREFIX + " ").all()
    assert records["Địa chỉ"].str.fullmatch(r"\d+ đường Số \d+").all()
    for col in ("Kinh độ", "Vĩ độ"):
        v = records[col].to_numpy()
        assert np.allclose(v, np.round(v, 6), rtol=0, atol=1e-9)


def test_times_within_period_and_sorted(times, records):
    assert times.min() >= pd.Timestamp(START)
    assert times.max() < pd.Timestamp(END) + pd.Timedelta(days=1)
    assert times.dt.normalize().is_monotonic_increasing
    known = records["Thời gian xảy ra"].str.len() > 10
    assert times[known].is_monotonic_increasing


def test_unknown_times_and_ranges(records):
    """A share of the records has no time, a share of the thefts a range; drawn apart, so the rest of
    each record is what it was (the same seed's dates, places and categories)."""
    unknown = records["Thời gian xảy ra"].str.len() == 10
    assert unknown.mean() == pytest.approx(0.06, abs=0.005)
    theft = records["Loại tội phạm"].map(LABEL_TO_CODE) == "trom_cap_tai_san"
    ranged = records["Đến giờ"].notna()
    assert not (ranged & (unknown | ~theft)).any()
    assert ranged[theft & ~unknown].mean() == pytest.approx(0.25, abs=0.02)


def test_every_point_inside_an_hcmc_ward(records, wards):
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(records["Kinh độ"], records["Vĩ độ"]), crs=wards.crs)
    joined = gpd.sjoin(pts, wards[["code", "name", "geometry"]], predicate="within", how="left")
    first = joined[~joined.index.duplicated()]
    assert first["code"].notna().all()
    assert not first["name"].str.contains("Côn Đảo").any()


def test_most_incidents_in_the_urban_core(records):
    lon, lat = records["Kinh độ"].to_numpy(), records["Vĩ độ"].to_numpy()
    km = np.hypot((lon - 106.6981) * 111.32 * np.cos(np.radians(10.7725)), (lat - 10.7725) * 111.32)
    share = (km <= 26).mean()  # ward centroids within 25 km; their polygons reach a little further
    assert 0.9 < share < 0.99


def test_category_shares(records):
    share = records["Loại tội phạm"].map(LABEL_TO_CODE).value_counts(normalize=True)
    expected = {"trom_cap_tai_san": 0.40, "cuop_giat_tai_san": 0.10, "lua_dao": 0.12,
                "co_y_gay_thuong_tich": 0.08, "ma_tuy": 0.12, "danh_bac": 0.05, "cuop_tai_san": 0.03,
                "gay_roi": 0.04}
    for code, p in expected.items():
        assert share[code] == pytest.approx(p, abs=0.015), code
    assert share["giet_nguoi"] < 0.006
    assert set(share.index) == set(CATEGORIES)


def test_severity_and_clearance_depend_on_category(records):
    cat = records["Loại tội phạm"].map(LABEL_TO_CODE)
    grade = records["Mức độ"].map(SEVERITY_TO_GRADE)
    assert (grade[cat == "giet_nguoi"] == 4).mean() > 0.75
    assert grade[cat == "trom_cap_tai_san"].isin([1, 2]).mean() > 0.9
    cleared = (records["Đã khám phá"] == "Có").groupby(cat).mean()
    assert cleared["giet_nguoi"] > 0.85
    assert cleared["trom_cap_tai_san"] == pytest.approx(0.6, abs=0.05)
    assert cleared["lua_dao"] == pytest.approx(0.4, abs=0.05)


def test_rise_before_tet_and_dip_in_tet_week(times):
    daily = times.dt.normalize().value_counts().sort_index()
    mean_3w = daily.mean() * 21
    checked = 0
    for tet in TET_DATES:
        t = pd.Timestamp(tet)
        if not (pd.Timestamp(START) + pd.Timedelta(days=21) <= t <= pd.Timestamp(END) - pd.Timedelta(days=7)):
            continue
        pre = daily[t - pd.Timedelta(days=21):t - pd.Timedelta(days=1)].sum()
        week = daily[t:t + pd.Timedelta(days=6)].sum()
        assert pre > 1.1 * mean_3w, tet
        assert week < 0.8 * mean_3w / 3, tet
        checked += 1
    assert checked == 3


def test_street_crime_peaks_in_the_evening(records, times):
    cat = records["Loại tội phạm"].map(LABEL_TO_CODE)
    hours = times.dt.hour[cat.isin(["cuop_giat_tai_san", "trom_cap_tai_san", "cuop_tai_san"])]
    assert hours.between(18, 22).mean() > 2 * hours.between(2, 6).mean()


def test_truth_table(truth, wards):
    assert list(truth.columns) == TRUTH_COLUMNS
    kinds = truth["kind"].value_counts()
    assert kinds["persistent"] >= 2 and kinds["emerging"] >= 2 and kinds["fading"] >= 1
    assert truth["sigma_m"].between(150, 400).all()
    assert truth["n"].between(200, 5_000).all()
    codes = set(wards["code"])
    for wc in truth["ward_codes"]:
        assert wc and set(wc.split(",")) <= codes
    # Some spots sit on the border between two wards.
    on_border = 0
    for _, h in truth.iterrows():
        centre = shapely.Point(h["lon"], h["lat"])
        near = shapely.distance(np.asarray(wards.geometry.values), centre) < 5e-5  # about 5 m
        on_border += near.sum() >= 2
    assert on_border >= 2
    assert (truth.loc[truth["kind"] == "persistent", ["start", "end"]] == [START, END]).all().all()
    assert truth.loc[truth["kind"] == "emerging", "start"].between(dt.date(2024, 4, 1), dt.date(2024, 9, 30)).all()
    assert (truth.loc[truth["kind"] == "fading", "end"] < dt.date(2025, 1, 1)).all()


def test_planted_spots_follow_their_kind(generated, times):
    records, truth, spot = generated
    years = times.dt.year.to_numpy()
    day = times.dt.date.to_numpy()
    for i, h in truth.iterrows():
        mine = spot == i
        assert mine.sum() == h["n"]
        per_year = {y: int((years[mine] == y).sum()) for y in (2023, 2024, 2025)}
        assert (day[mine] >= h["start"]).all() and (day[mine] <= h["end"]).all(), h["name"]
        if h["kind"] == "persistent":
            assert min(per_year.values()) > 0.2 * h["n"], h["name"]
        elif h["kind"] == "emerging":
            assert per_year[2023] == 0 and per_year[2025] > per_year[2024], h["name"]
        else:
            assert per_year[2025] == 0 and per_year[2023] > per_year[2024], h["name"]
        # The blob stays near its centre.
        dx = (records["Kinh độ"].to_numpy()[mine] - h["lon"]) * 111_320 * np.cos(np.radians(h["lat"]))
        dy = (records["Vĩ độ"].to_numpy()[mine] - h["lat"]) * 111_320
        assert np.median(np.hypot(dx, dy)) < 1.5 * h["sigma_m"]


def test_spots_visible_from_records_and_truth_alone(records, truth, times):
    """Membership recomputed from the centre, sigma and dates shows the planted pattern."""
    lon, lat = records["Kinh độ"].to_numpy(), records["Vĩ độ"].to_numpy()
    day = times.dt.date.to_numpy()
    for _, h in truth.iterrows():
        near = np.hypot((lon - h["lon"]) * 111_320 * np.cos(np.radians(h["lat"])),
                        (lat - h["lat"]) * 111_320) < h["sigma_m"]
        active = (day >= h["start"]) & (day <= h["end"])
        rate_in = (near & active).sum() / max(1, (h["end"] - h["start"]).days)
        rate_out = (near & ~active).sum() / max(1, len(set(day)) - (h["end"] - h["start"]).days)
        if h["kind"] != "persistent":
            assert rate_in > 3 * rate_out, h["name"]


def test_repeated_addresses(records):
    coords = records.groupby(["Kinh độ", "Vĩ độ"]).size()
    assert coords.max() >= 100
    top = records[(records["Kinh độ"] == coords.idxmax()[0]) & (records["Vĩ độ"] == coords.idxmax()[1])]
    assert top["Địa chỉ"].nunique() == 1


def test_write_csv_round_trip(records, tmp_path):
    sample = records.head(2_000)
    path = tmp_path / "demo.csv"
    write_csv(sample, path)
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"
    back = pd.read_csv(path, encoding="utf-8-sig")
    assert list(back.columns) == COLUMNS
    pd.testing.assert_frame_equal(back, sample.reset_index(drop=True), check_dtype=False,
                                  check_exact=False, rtol=1e-12, atol=1e-9)


def test_fast_enough(wards):
    t0 = time.perf_counter()
    generate(wards, n=60_000, seed=1)
    assert time.perf_counter() - t0 < 5


def test_other_periods_and_sizes(wards):
    r, t = generate(wards, n=500, start=dt.date(2024, 3, 1), end=dt.date(2024, 3, 31), seed=3)
    assert len(r) == 500
    assert (t["start"] >= dt.date(2024, 3, 1)).all() and (t["end"] <= dt.date(2024, 3, 31)).all()
    times = pd.to_datetime(r["Thời gian xảy ra"], format="mixed", dayfirst=True)
    assert times.dt.month.eq(3).all()
    with pytest.raises(ValueError):
        generate(wards, n=10, start=dt.date(2024, 2, 1), end=dt.date(2024, 1, 1))
