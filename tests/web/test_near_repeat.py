"""The near-repeat page and API on the demo store with planted near repeats: the page in Vietnamese,
the Knox table against an independent count of the stored incidents (scipy's pdist over every pair,
numpy's histogram2d) and against the expectation of a random permutation worked out from the day
counts, what viewers see (no point, no small pair count), and the downloads."""
from __future__ import annotations

import io
import json

import numpy as np
import openpyxl
import pandas as pd
import pytest
from pyproj import Transformer
from scipy.spatial.distance import pdist
from sqlalchemy import text

from geo.format import number
from geo.ingest.importer import import_file
from geo.store.models import make_engine
from tests.conftest import demo_copy_app, signed_in
from tests.web.test_i18n import english_in, english_phrases, text_of

pytestmark = pytest.mark.xdist_group("near_repeat_page")  # one worker: the module's fixtures are built once

Q = "boundary=hcmc-2025&period=2025"
PLANTED = "tin_dung_den"  # each of its 2025 incidents gets a twin 30 m east, 2 days later
TWIN_DX_DEG = 0.000275  # about 30 m at 10.8° N
PAYLOAD = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def app(demo_template, tmp_path_factory):
    folder = tmp_path_factory.mktemp("near_repeat")
    app = demo_copy_app(demo_template, folder)
    eng = make_engine(app.config["DATABASE_URL"])
    with eng.connect() as conn:
        rows = pd.read_sql(text("SELECT lon, lat, local_date, address FROM incident WHERE category = :c AND "
                                "local_date BETWEEN '2025-01-01' AND '2025-12-29' AND lon IS NOT NULL"), conn,
                           params={"c": PLANTED})
    day = pd.to_datetime(rows["local_date"]) + pd.Timedelta(days=2)
    twins = pd.DataFrame({"Mã vụ": [f"TWIN-{i:05d}" for i in range(len(rows))],
                          "Thời gian xảy ra": day.dt.strftime("%d/%m/%Y 10:00"),
                          "Loại tội phạm": "Tín dụng đen", "Mức độ": "Ít nghiêm trọng", "Đã khám phá": "Không",
                          "Kinh độ": rows["lon"] + TWIN_DX_DEG, "Vĩ độ": rows["lat"], "Địa chỉ": rows["address"],
                          "Mô tả": "[Dữ liệu mô phỏng] lặp lại gần"})
    twins.loc[day > pd.Timestamp("2025-12-24"), "Địa chỉ"] = PAYLOAD  # at risk at the end of 2025
    twins.to_csv(folder / "twins.csv", index=False, encoding="utf-8-sig", float_format="%.6f")
    import_file(eng, folder / "twins.csv", source="twins")
    eng.dispose()
    return app


@pytest.fixture(scope="module")
def eng(app):
    e = make_engine(app.config["DATABASE_URL"])
    yield e
    e.dispose()


def stored(eng, category: str) -> pd.DataFrame:
    """The 2025 incidents of ``category`` with a place in a hcmc-2025 unit, straight from the tables."""
    with eng.connect() as conn:
        return pd.read_sql(text(
            "SELECT i.id, i.lon, i.lat, i.local_date, a.code FROM incident i JOIN incident_area ia ON "
            "ia.incident_id = i.id JOIN area a ON a.id = ia.area_id JOIN boundary_version v ON v.id = ia.version_id "
            "AND v.name = 'hcmc-2025' WHERE i.category = :c AND i.local_date BETWEEN '2025-01-01' AND '2025-12-31' "
            "AND i.lon IS NOT NULL AND i.lat IS NOT NULL"), conn, params={"c": category})


def independent_table(frame: pd.DataFrame, width=100.0, bands=5, days=7, day_bands=4):
    """Observed pairs per distance band × time band from every pair (scipy's pdist), the same location
    apart; and the expectation under a random permutation of the dates: the pairs of each distance
    band times the share of all pairs whose dates lie that far apart (from the day counts)."""
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True).transform(frame["lon"].to_numpy(),
                                                                                     frame["lat"].to_numpy())
    d = pdist(np.column_stack([x, y]))
    t = pd.to_datetime(frame["local_date"]).to_numpy().astype("datetime64[D]").astype(np.int64)
    dt_ = pdist(t[:, None], "cityblock")
    day_edges = [-0.5] + [days * (k + 1) + 0.5 for k in range(day_bands)]
    same = np.histogram(dt_[d == 0], bins=day_edges)[0]
    near, _e1, _e2 = np.histogram2d(d[d > 0], dt_[d > 0], bins=[np.arange(bands + 1) * width, day_edges])
    observed = np.vstack([same, near]).astype(int)
    # expectation: a permutation gives each pair of places a uniformly random pair of distinct dates
    rows = np.array([(d == 0).sum()] + [((d > k * width) & (d <= (k + 1) * width)).sum() for k in range(bands)])
    counts = np.bincount(t - t.min())
    # pairs of distinct incidents k days apart: sum over days of n(t) n(t + k), and n(n - 1) / 2 the same day
    lag = np.correlate(counts, counts, "full")[len(counts) - 1:].astype(float)
    lag[0] = (counts * (counts - 1)).sum() / 2
    share = np.array([lag[int(np.ceil(lo)):int(hi) + 1].sum() for lo, hi in zip(day_edges[:-1], day_edges[1:])])
    share /= lag.sum()
    return observed, rows[:, None] * share[None, :]


def api(client, query: str) -> dict:
    res = client.get(f"/api/v1/near-repeat?{Q}&{query}")
    assert res.status_code == 200, res.get_data(as_text=True)
    assert res.mimetype == "application/json"
    return res.get_json()


def test_the_api_table_is_the_count_of_the_stored_pairs_and_finds_the_planted_repeats(app, eng):
    data = api(signed_in(app, "analyst"), f"category={PLANTED}")
    (table,) = data["tables"]
    observed, expected = independent_table(stored(eng, PLANTED))
    assert table["observed"] == observed.tolist()
    assert table["incidents"] == len(stored(eng, PLANTED)) and table["permutations"] == 99
    assert [b["label"] for b in table["distance_bands"][:3]] == ["Cùng vị trí", "1–100 m", "101–200 m"]
    assert [b["label"] for b in table["day_bands"]] == ["0–7 ngày", "8–14 ngày", "15–21 ngày", "22–28 ngày"]
    np.testing.assert_allclose(np.array(table["ratio"], dtype=float),
                               observed / np.array(table["expected"], dtype=float), rtol=1e-12)
    # the twins: one pair each within 100 m and 7 days, against about none by chance
    assert table["ratio"][1][0] > 10 and table["p_value"][1][0] == pytest.approx(0.01)
    assert table["significant"][1][0] and table["window"]["radius_m"] == 100 and table["window"]["days"] == 7
    assert table["window"]["sentence"] == ("Sau một vụ tín dụng đen, nguy cơ xảy ra vụ khác trong vòng 100 m tăng "
                                           f"{number(table['window']['ratio'], 1, locale='vi')} lần trong 7 ngày.")
    assert data["summary"] == [table["window"]["sentence"]]
    # at risk: the incidents of the last 7 days up to 31/12/2025, each with its days left
    frame = stored(eng, PLANTED)
    recent = frame[pd.to_datetime(frame["local_date"]) > pd.Timestamp("2025-12-24")]
    assert data["as_of"] == "2025-12-31" and data["at_risk_by"] == "incident"
    assert sorted(r["id"] for r in data["at_risk"]) == sorted(recent["id"].tolist())
    left = {r["id"]: r["days_left"] for r in data["at_risk"]}
    assert all(left[i] == (pd.Timestamp(d) + pd.Timedelta(days=7) - pd.Timestamp("2025-12-31")).days
               for i, d in zip(recent["id"], recent["local_date"]))
    assert all(r["warning"].startswith(f"Trong {r['days_left']} ngày tới, khu vực bán kính 100 m quanh ")
               for r in data["at_risk"])


def test_the_expected_pairs_are_those_of_a_random_permutation(app, eng):
    data = api(signed_in(app, "analyst"), "category=cuop_giat_tai_san&permutations=199")
    (table,) = data["tables"]
    observed, expected = independent_table(stored(eng, "cuop_giat_tai_san"))
    assert table["observed"] == observed.tolist()
    got = np.array(table["expected"], dtype=float)
    big = expected >= 20
    assert big.sum() >= 15
    # the mean of 199 permutations is within 5 standard errors (counts about Poisson) of the expectation
    assert (np.abs(got - expected)[big] < 5 * np.sqrt(expected[big] / 199) + 0.5).all()
    # the demo's snatch thefts carry no near repeats
    assert table["window"] is None


def test_all_categories_give_a_table_per_category(app, eng):
    data = api(signed_in(app, "analyst"), "")
    cats = [t["category"] for t in data["tables"]]
    assert cats[0] is None and PLANTED in cats and len(cats) == len(set(cats))
    with eng.connect() as conn:
        sizes = dict(conn.execute(text(
            "SELECT i.category, COUNT(*) FROM incident i JOIN incident_area ia ON ia.incident_id = i.id JOIN "
            "boundary_version v ON v.id = ia.version_id AND v.name = 'hcmc-2025' WHERE i.local_date BETWEEN "
            "'2025-01-01' AND '2025-12-31' AND i.lon IS NOT NULL GROUP BY i.category")).all())
    assert cats[1:] == sorted([c for c, n in sizes.items() if n >= 30], key=lambda c: (-sizes[c], c))
    assert data["tables"][0]["incidents"] == sum(sizes.values())
    planted = next(t for t in data["tables"] if t["category"] == PLANTED)
    assert planted["window"] is not None
    assert any(s.startswith("Sau một vụ tín dụng đen") for s in data["summary"])


def test_the_page_is_in_vietnamese_with_the_table_and_the_warnings(app):
    phrases = english_phrases()
    client = signed_in(app, "analyst")
    for url in (f"/map/near-repeat?{Q}&category={PLANTED}", f"/map/near-repeat?{Q}&category=cuop_giat_tai_san",
                f"/maps/near-repeat.js?{Q}&category={PLANTED}"):
        res = client.get(url)
        assert res.status_code == 200, (url, res.get_data(as_text=True)[-3000:])
        assert english_in(text_of(res), phrases) == [], url
    html = client.get(f"/map/near-repeat?{Q}&category={PLANTED}").get_data(as_text=True)
    assert "Cảnh báo vụ việc lặp lại gần" in html and "Bảng Knox" in html
    assert "Sau một vụ tín dụng đen, nguy cơ xảy ra vụ khác trong vòng 100 m tăng" in html
    assert 'class="num significant"' in html and "Cùng vị trí" in html and "0–7 ngày" in html
    assert 'id="risk-table"' in html and "khu vực bán kính 100 m quanh" in html
    # a hostile address of an at-risk place is text in the table, the warning and the circles' tooltips
    assert "quanh &lt;img src=x onerror=alert(1)&gt; có nguy cơ" in html and PAYLOAD not in html
    js = client.get(f"/maps/near-repeat.js?{Q}&category={PLANTED}").get_data(as_text=True)
    assert r"\u0026lt;img src=x onerror=alert(1)\u0026gt;" in js
    assert not any(bad in js for bad in ("<img", "\\u003cimg"))
    none = client.get(f"/map/near-repeat?{Q}&category=cuop_giat_tai_san").get_data(as_text=True)
    assert 'id="near-repeat-none"' in none and 'id="no-risk"' in none
    # the form offers the bands; only analysts the permutations
    assert 'name="distance_bands"' in html and 'name="permutations"' in html
    viewer = signed_in(app, "viewer").get(f"/map/near-repeat?{Q}&category={PLANTED}").get_data(as_text=True)
    assert 'name="distance_bands"' in viewer and 'name="permutations"' not in viewer


def test_viewers_get_no_point_and_no_small_pair_count(app, eng):
    viewer = signed_in(app, "viewer")
    data = api(viewer, f"category={PLANTED}")
    (table,) = data["tables"]
    assert data["at_risk_by"] == "ward" and data["minimum"] == 5
    for row in data["at_risk"]:
        assert set(row) == {"code", "name", "category_label", "count", "radius_m", "days_left", "warning"}
        assert row["count"] is None or row["count"] >= 5
        assert row["warning"].startswith("Trong ") and "các vụ việc gần đây tại" in row["warning"]
    # per ward, the recent incidents the analysts see one by one
    analyst = api(signed_in(app, "analyst"), f"category={PLANTED}")
    by_ward = pd.Series([r["code"] for r in analyst["at_risk"]]).value_counts()
    assert {r["code"]: r["count"] for r in data["at_risk"]} == {
        c: (int(n) if n >= 5 else None) for c, n in by_ward.items()}
    # the pairs: a cell of 1 to 4 pairs is withheld with its ratio and p, the others are the analysts'
    observed = np.array(analyst["tables"][0]["observed"])
    for r, row in enumerate(table["observed"]):
        for c, value in enumerate(row):
            if 1 <= observed[r, c] < 5:
                assert value is None and table["ratio"][r][c] is None and table["p_value"][r][c] is None
            elif value is not None:
                assert value == observed[r, c]
    assert any(v is None for row in table["observed"] for v in row)
    with pytest.raises(AssertionError):
        api(viewer, f"category={PLANTED}&permutations=199")  # analysts only: 403
    # no incident on the map nor in the downloads: no circle layer, no coordinates of an incident
    js = viewer.get(f"/maps/near-repeat.js?{Q}&category={PLANTED}").get_data(as_text=True)
    analyst_js = signed_in(app, "analyst").get(f"/maps/near-repeat.js?{Q}&category={PLANTED}").get_data(as_text=True)
    layer = json.dumps("Khu vực có nguy cơ")[1:-1]  # as the script writes it, \u-escaped
    assert layer in analyst_js and layer not in js and "Khu vực có nguy cơ" not in js
    res = viewer.get(f"/export/near-repeat.geojson?{Q}&category={PLANTED}&layer=risk")
    assert res.status_code == 400
    for lon in stored(eng, PLANTED)["lon"].head(50):
        assert f"{lon:.6f}" not in js


def test_the_downloads_hold_the_table_and_the_at_risk_places(app):
    client = signed_in(app, "analyst")
    q = f"{Q}&category={PLANTED}"
    data = api(client, f"category={PLANTED}")
    csv = client.get(f"/export/near-repeat.csv?{q}")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    frame = pd.read_csv(io.StringIO(csv.get_data(as_text=True).lstrip("\ufeff")))
    assert len(frame) == 6 * 4
    assert frame.iloc[:, 3].tolist() == [v for row in data["tables"][0]["observed"] for v in row]
    xlsx = client.get(f"/export/near-repeat.xlsx?{q}")
    book = openpyxl.load_workbook(io.BytesIO(xlsx.get_data()), read_only=True)
    assert len(book.worksheets) == 2
    risk = [r for r in book.worksheets[1].iter_rows(values_only=True)]
    assert sum(1 for r in risk if any(isinstance(v, str) and v.startswith("Trong ") for v in r)) == len(data["at_risk"])
    geo = client.get(f"/export/near-repeat.geojson?{q}&layer=risk")
    assert geo.status_code == 200
    features = json.loads(geo.get_data())["features"]
    assert len(features) == len(data["at_risk"]) and features[0]["geometry"]["type"] == "Polygon"
    pdf = client.get(f"/export/near-repeat.pdf?{q}")
    assert pdf.status_code == 200 and pdf.get_data().startswith(b"%PDF")


def test_too_wide_a_reach_is_refused_in_words(app):
    res = signed_in(app, "analyst").get(f"/api/v1/near-repeat?{Q}&distance=1000&distance_bands=20")
    assert res.status_code == 400
    message = res.get_json()["error"]
    assert "cặp vụ việc cách nhau không quá 20000 m" in message and "hãy chọn khoảng cách ngắn hơn" in message
    res = signed_in(app, "viewer").get(f"/map/near-repeat?{Q}&distance=1000&distance_bands=20")
    assert res.status_code == 400 and "hãy chọn khoảng cách ngắn hơn" in res.get_data(as_text=True)


def test_a_big_selection_is_a_background_job_that_gives_the_same_page_and_answer(app, eng):
    from geo.store import jobs

    viewer = signed_in(app, "viewer")
    q = f"{Q}&category={PLANTED}&days=6"  # parameters of their own: nothing cached yet
    saved = {k: app.config[k] for k in ("JOB_WORKER", "PAGE_INLINE_INCIDENTS", "ANALYSIS_INLINE_INCIDENTS")}
    app.config.update(JOB_WORKER="external", PAGE_INLINE_INCIDENTS=100, ANALYSIS_INLINE_INCIDENTS=100)
    try:
        assert viewer.get(f"/map/near-repeat?{q}").status_code == 202
        assert viewer.get(f"/api/v1/near-repeat?{q}").status_code == 202
        while (job := jobs.claim(eng)) is not None:
            jobs.run(app, eng, job)
            assert jobs.find(eng, job.id).status == "done"
        page = viewer.get(f"/map/near-repeat?{q}")
        answer = viewer.get(f"/api/v1/near-repeat?{q}")
    finally:
        app.config.update(saved)
    assert page.status_code == 200 and answer.status_code == 200
    data = answer.get_json()
    (table,) = data["tables"]
    assert table["window"]["days"] == 6 and table["window"]["radius_m"] == 100
    html = page.get_data(as_text=True)
    assert table["window"]["sentence"] in html and 'id="risk-table"' in html
