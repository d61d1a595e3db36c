"""Viewers and committee members see aggregates only; analysts see every figure (geo.disclosure)."""
from __future__ import annotations

import io
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.disclosure import mask
from geo.ingest.importer import import_file
from tests.conftest import signed_in

DAY = "2025-03-10"
ONE_DAY_THEFT = f"boundary=hcmc-2025&start={DAY}&end={DAY}&category=trom_cap_tai_san"
MARCH_THEFT = "boundary=hcmc-2025&start=2025-03-01&end=2025-03-31&category=trom_cap_tai_san"
THEFT, SNATCH = "Trộm cắp tài sản", "Cướp giật tài sản"


def _jitter(rng, point, n, metres=25):
    d = metres / 111_000
    return [(point.x + dx, point.y + dy) for dx, dy in rng.uniform(-d, d, size=(n, 2))]


@pytest.fixture
def store(app, engine, tmp_path):
    """On 10/03/2025: one theft in ward A (the lone incident), 6 in B, 3 in C and 2 snatch thefts in
    B; from 11/03 to 20/03, 20 more thefts in B. Returns the rows and the three wards."""
    from geo.store.queries import load_areas

    wards = load_areas(engine, "hcmc-2025").set_index("code", drop=False)
    big = wards.to_crs(3405).area.sort_values(ascending=False).index  # roomy wards: the jitter stays inside
    a, b, c = big[10], big[40], big[70]
    pts = {k: wards.loc[k, "geometry"].representative_point() for k in (a, b, c)}
    rng = np.random.default_rng(5)
    rows = [(DAY, THEFT, *pts[a].coords[0])]
    rows += [(DAY, THEFT, x, y) for x, y in _jitter(rng, pts[b], 6)]
    rows += [(DAY, THEFT, x, y) for x, y in _jitter(rng, pts[c], 3)]
    rows += [(DAY, SNATCH, x, y) for x, y in _jitter(rng, pts[b], 2)]
    rows += [(f"2025-03-{11 + i % 10:02d}", THEFT, x, y) for i, (x, y) in enumerate(_jitter(rng, pts[b], 20))]
    frame = pd.DataFrame(rows, columns=["day", "category", "lon", "lat"])
    csv = pd.DataFrame({"Mã vụ": [f"D{i:03d}" for i in range(len(frame))],
                        "Ngày xảy ra": frame["day"] + "T10:00:00+07:00", "Loại tội phạm": frame["category"],
                        "Kinh độ": frame["lon"].round(6), "Vĩ độ": frame["lat"].round(6)})
    path = tmp_path / "incidents.csv"
    csv.to_csv(path, index=False, encoding="utf-8-sig")
    import_file(engine, path, source="disclosure")
    # the ward of each row, by an independent spatial join of the imported rows
    joined = gpd.sjoin(gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]),
                                        crs=4326), wards[["code", "geometry"]].reset_index(drop=True),
                       predicate="within")
    assert len(joined) == len(frame)
    return joined, (a, b, c), pts[a]


def feats(res):
    assert res.status_code == 200, res.get_data(as_text=True)[:300]
    return {f["properties"]["code"]: f["properties"] for f in res.get_json()["features"]}


def test_viewer_sees_no_small_ward_count_analyst_sees_exact_counts(app, store):
    rows, (a, b, c), _ = store
    expected = rows[(rows["day"] == DAY) & (rows["category"] == THEFT)].groupby("code").size()
    assert expected.to_dict() == {a: 1, b: 6, c: 3}
    for role in ("viewer", "committee"):
        got = feats(signed_in(app, role).get(f"/api/v1/areas?{ONE_DAY_THEFT}"))
        assert not [p for p in got.values() if p["count"] is not None and 1 <= p["count"] <= 4]
        assert got[a]["count"] is None and got[a]["suppressed"] is True and got[a]["name"]
        assert got[c]["count"] is None and got[c]["count_trom_cap_tai_san"] is None
        assert got[b]["count"] == 6 and got[b]["suppressed"] is False
    exact = feats(signed_in(app, "analyst").get(f"/api/v1/areas?{ONE_DAY_THEFT}"))
    assert {k: p["count"] for k, p in exact.items() if p["count"]} == expected.to_dict()
    assert "suppressed" not in exact[a]


def test_one_suppressed_cell_in_a_row_takes_the_next_smallest_with_it(app, store):
    rows, (a, b, c), _ = store
    q = f"boundary=hcmc-2025&start={DAY}&end={DAY}"
    got = feats(signed_in(app, "viewer").get(f"/api/v1/areas?{q}"))
    # ward B: 6 thefts + 2 snatch thefts = 8; publishing 8 and 6 would give the 2 away
    assert got[b]["count"] == 8
    assert got[b]["count_cuop_giat_tai_san"] is None and got[b]["count_trom_cap_tai_san"] is None
    exact = feats(signed_in(app, "analyst").get(f"/api/v1/areas?{q}"))
    assert (exact[b]["count_trom_cap_tai_san"], exact[b]["count_cuop_giat_tai_san"]) == (6, 2)


def test_mask_rule():
    # primary: 1..4; zero is published
    assert mask(np.array([0, 1, 4, 5, 30]), 5)[:, 0].tolist() == [False, True, True, False, False]
    # one small cell in a column whose total is published: the next smallest goes too, ties by code
    m = mask(np.array([3, 9, 7, 7, 40]), 5, keys=["e", "d", "c", "b", "a"])[:, 0]
    assert m.tolist() == [True, False, False, True, False]
    # a row with its total (last column): one small part hides the next smallest part, not the total;
    # the columns are linked too (their totals are published), so the second row gives two up
    m = mask(np.array([[2, 6, 0, 8], [10, 10, 5, 25]]), 5, row_total=3)
    assert m.tolist() == [[True, True, False, False], [True, True, False, False]]
    # no row or column is left with exactly one suppressed cell when it can be helped
    rng = np.random.default_rng(1)
    parts = rng.integers(0, 12, size=(30, 6))
    m = mask(np.column_stack([parts, parts.sum(axis=1)]), 5, row_total=6)
    full = np.column_stack([parts, parts.sum(axis=1)])
    for line, vals in [*zip(m, full), *zip(m.T, full.T)]:
        assert line.sum() != 1 or not (~line & (vals >= 1)).any()


def test_viewer_kde_refused_on_a_small_selection_and_small_contours_dropped(app, store):
    rows, (a, b, c), lone = store
    viewer = signed_in(app, "viewer")
    res = viewer.get(f"/api/v1/kde?{ONE_DAY_THEFT}")
    assert res.status_code == 400
    assert res.get_json()["error"] == ("Khoảng thời gian và loại tội phạm đã chọn có quá ít vụ để công bố bản đồ "
                                       "mật độ; hãy chọn khoảng dài hơn.")
    assert signed_in(app, "analyst").get(f"/api/v1/kde?{ONE_DAY_THEFT}").status_code == 200
    # March: 30 thefts, so the KDE is offered; no contour is left around the lone incident of ward A
    res = viewer.get(f"/api/v1/kde?{MARCH_THEFT}")
    contours = gpd.GeoDataFrame.from_features(res.get_json()["features"], crs=4326)
    assert len(contours)
    march = rows[rows["category"] == THEFT]
    pts = shapely.points(march["lon"].to_numpy(), march["lat"].to_numpy())
    for geom in contours.geometry:
        for part in shapely.get_parts(geom):
            assert shapely.intersects(part, pts).sum() >= 5
    metric = contours.to_crs(32648)
    lone_m = gpd.GeoSeries([lone], crs=4326).to_crs(32648).iloc[0]
    assert metric.distance(lone_m).min() > 100
    # the analyst gets every level unfiltered, with its cell counts
    full = signed_in(app, "analyst").get(f"/api/v1/kde?{MARCH_THEFT}").get_json()["features"]
    assert len(full) == 3 and all("cells" in f["properties"] for f in full)
    assert len(full) >= len(contours)


def test_viewer_selection_below_the_minimum_is_refused(app, store):
    q = f"boundary=hcmc-2025&start={DAY}&end={DAY}&category=cuop_giat_tai_san"  # 2 incidents
    viewer = signed_in(app, "viewer")
    for url in (f"/api/v1/areas?{q}", f"/api/v1/compare?{q}", f"/api/v1/gistar?{q}"):
        res = viewer.get(url)
        assert res.status_code == 400, url
        assert "ít hơn 5 vụ" in res.get_json()["error"]
    page = viewer.get(f"/map/overview?boundary=hcmc-2025&period=custom&start={DAY}&end={DAY}"
                      "&category=cuop_giat_tai_san")
    assert page.status_code == 400 and "ít hơn 5 vụ" in page.get_data(as_text=True)
    assert signed_in(app, "analyst").get(f"/api/v1/areas?{q}").status_code == 200


def test_page_and_exports_show_dưới_5_to_viewers(app, store):
    rows, (a, b, c), _ = store
    q = f"boundary=hcmc-2025&period=custom&start={DAY}&end={DAY}&category=trom_cap_tai_san"
    viewer = signed_in(app, "viewer")
    html = viewer.get(f"/map/overview?{q}").get_data(as_text=True)
    assert "dưới 5" in html
    # the map's legend (in its script, as a JSON string) says why a ward is grey
    grey = json.dumps("Không có dữ liệu, hoặc số nhỏ không công bố")[1:-1]
    assert grey in viewer.get(f"/maps/overview.js?{q}").get_data(as_text=True)
    assert grey not in signed_in(app, "analyst").get(f"/maps/overview.js?{q}").get_data(as_text=True)
    table = pd.read_csv(io.BytesIO(viewer.get(f"/export/overview.csv?{q}").data), encoding="utf-8-sig",
                        dtype=str).set_index("Mã")
    assert table.loc[a, "Số vụ"] == "dưới 5" and table.loc[c, "Số vụ"] == "dưới 5"
    assert table.loc[b, "Số vụ"] == "6"
    assert "< 5" in viewer.get(f"/export/overview.csv?{q}&lang=en").get_data(as_text=True)
    assert viewer.get(f"/export/overview.pdf?{q}").status_code == 200
    exact = pd.read_csv(io.BytesIO(signed_in(app, "analyst").get(f"/export/overview.csv?{q}").data),
                        encoding="utf-8-sig", dtype=str).set_index("Mã")
    assert (exact.loc[a, "Số vụ"], exact.loc[c, "Số vụ"]) == ("1", "3")


def test_compare_ward_panel_and_committee_report_suppress_for_viewers(app, store):
    rows, (a, b, c), _ = store
    viewer, analyst = signed_in(app, "viewer"), signed_in(app, "analyst")
    got = feats(viewer.get(f"/api/v1/compare?{ONE_DAY_THEFT}"))
    assert got[a]["count"] is None and got[a]["change"] is None and got[a]["p_value"] is None
    assert feats(analyst.get(f"/api/v1/compare?{ONE_DAY_THEFT}"))[a]["count"] == 1
    panel = viewer.get(f"/api/v1/ward/{a}?{ONE_DAY_THEFT}").get_json()
    assert panel["count"] is None and panel["suppressed"] is True and panel["suppressed_text"] == "dưới 5"
    assert panel["months"][0]["count"] is None and panel["categories"]["trom_cap_tai_san"] is None
    assert analyst.get(f"/api/v1/ward/{a}?{ONE_DAY_THEFT}").get_json()["count"] == 1
    q = f"boundary=hcmc-2025&period=custom&start={DAY}&end={DAY}&category=trom_cap_tai_san"
    report = viewer.get(f"/committee/report.csv?{q}")
    assert report.status_code == 200
    table = pd.read_csv(io.BytesIO(report.data), encoding="utf-8-sig", dtype=str).set_index("Mã")
    assert table.loc[a, "Vụ việc"] == "dưới 5" and table.loc[b, "Vụ việc"] == "6"
    assert "dưới 5" in viewer.get(f"/committee/report?{q}").get_data(as_text=True)
    assert viewer.get(f"/committee/report.pdf?{q}").status_code == 200
    assert viewer.get(f"/committee/report.xlsx?{q}").status_code == 200
    exact = pd.read_csv(io.BytesIO(analyst.get(f"/committee/report.csv?{q}").data), encoding="utf-8-sig",
                        dtype=str).set_index("Mã")
    assert exact.loc[a, "Vụ việc"] == "1"
