"""The camera and patrol sites page and API on the demo store: the covered incidents against an
independent distance count, both coordinate systems of the downloads against pyproj, what viewers
see, the existing sites' checks, and attaching the sites to a plan."""
from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from sqlalchemy import text

from geo.committee import plans
from geo.store.models import make_engine
from tests.conftest import demo_copy_app, signed_in
from tests.web.test_i18n import english_phrases, english_shown, text_of

pytestmark = pytest.mark.xdist_group("sites_page")  # one worker: the module's fixtures are built once

WARD = "26743"  # Phường Bến Thành
Q = f"boundary=hcmc-2025&period=2025&unit={WARD}"


@pytest.fixture(scope="module")
def app(demo_template, tmp_path_factory):
    return demo_copy_app(demo_template, tmp_path_factory.mktemp("sites"))


@pytest.fixture(scope="module")
def eng(app):
    e = make_engine(app.config["DATABASE_URL"])
    yield e
    e.dispose()


def ward_incidents(eng, start="2025-01-01", end="2025-12-31") -> pd.DataFrame:
    with eng.connect() as conn:
        return pd.read_sql(text(
            "SELECT i.id, i.lon, i.lat FROM incident i JOIN incident_area ia ON ia.incident_id = i.id "
            "JOIN area a ON a.id = ia.area_id JOIN boundary_version v ON v.id = ia.version_id "
            "WHERE v.name = 'hcmc-2025' AND a.code = :code AND i.local_date BETWEEN :s AND :e "
            "AND i.lon IS NOT NULL"), conn, params={"code": WARD, "s": start, "e": end})


def metres(lon, lat):
    return np.column_stack(Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True).transform(lon, lat))


def test_the_api_covers_what_an_independent_distance_count_gives(app, eng):
    res = signed_in(app, "analyst").get(f"/api/v1/sites?{Q}&k=5")
    assert res.status_code == 200, res.get_data(as_text=True)
    fc = res.get_json()
    feats = fc["features"]
    assert len(feats) == 5 and [f["properties"]["rank"] for f in feats] == [1, 2, 3, 4, 5]
    meta = fc["meta"]
    assert meta["radius_m"] == 75.0 and meta["purpose"] == "camera"
    # independently: every incident of the ward in 2025 to its nearest site within 75 m (pandas, pyproj)
    inc = ward_incidents(eng)
    xy = metres(inc["lon"].to_numpy(), inc["lat"].to_numpy())
    sites = metres([f["properties"]["lon"] for f in feats], [f["properties"]["lat"] for f in feats])
    d = np.hypot(xy[:, None, 0] - sites[None, :, 0], xy[:, None, 1] - sites[None, :, 1])
    nearest = pd.Series(np.where((d <= 75 + 1e-6).any(axis=1), d.argmin(axis=1), -1))
    counts = nearest[nearest >= 0].value_counts().reindex(range(5), fill_value=0).tolist()
    assert [f["properties"]["incidents"] for f in feats] == counts
    assert meta["total"] == len(inc)
    assert meta["share"] == pytest.approx((nearest >= 0).mean())
    curve = meta["curve"]
    assert [c["k"] for c in curve] == [1, 2, 3, 4, 5]
    shares = [c["share"] for c in curve]
    assert shares == sorted(shares) and shares[-1] == pytest.approx(meta["share"])
    assert curve[0]["incidents"] == max(counts)  # the best single site is at least the best of the five
    # out of sample: 2025 is the demo's last year, so the previous year, counted the same way
    check = meta["check"]
    assert (check["which"], check["start"], check["end"]) == ("previous", "2024-01-01", "2024-12-31")
    before = ward_incidents(eng, "2024-01-01", "2024-12-31")
    xy = metres(before["lon"].to_numpy(), before["lat"].to_numpy())
    d = np.hypot(xy[:, None, 0] - sites[None, :, 0], xy[:, None, 1] - sites[None, :, 1])
    assert check["share"] == pytest.approx((d <= 75 + 1e-6).any(axis=1).mean())


def test_the_page_is_in_vietnamese_with_the_curve_and_no_english(app):
    res = signed_in(app, "admin").get(f"/map/sites?{Q}")
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    assert "Vị trí camera và tuần tra" in html and 'id="curve-table"' in html
    assert "Vị trí thứ 2 phủ thêm" in html and "Camera số 1" in html
    assert english_shown(text_of(res), english_phrases()) == []
    en = signed_in(app, "admin").get(f"/map/sites?{Q}&lang=en").get_data(as_text=True)
    assert "Camera and patrol sites" in en and "Site 2 adds" in en


def test_exports_carry_wgs84_and_vn2000_coordinates(app):
    client = signed_in(app, "analyst")
    gj = client.get(f"/export/sites.geojson?{Q}&layer=sites")
    assert gj.status_code == 200
    feats = json.loads(gj.get_data(as_text=True))["features"]
    assert len(feats) == 5
    to_vn = Transformer.from_crs("EPSG:4326", "EPSG:3405", always_xy=True)  # VN-2000 / UTM zone 48N
    for f in feats:
        p = f["properties"]
        assert f["geometry"]["coordinates"] == pytest.approx([p["lon"], p["lat"]])
        assert [p["x_vn2000"], p["y_vn2000"]] == pytest.approx(list(to_vn.transform(p["lon"], p["lat"])), abs=0.01)
    body = client.get(f"/export/sites.csv?{Q}").get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 5
    header = list(rows[0])
    lon_h, x_h = next(h for h in header if "Kinh độ" in h), next(h for h in header if "VN-2000 x" in h)
    lat_h, y_h = next(h for h in header if "Vĩ độ" in h), next(h for h in header if "VN-2000 y" in h)
    for r in rows:
        x, y = to_vn.transform(float(r[lon_h]), float(r[lat_h]))
        assert (float(r[x_h]), float(r[y_h])) == pytest.approx((x, y), abs=0.2)
    assert client.get(f"/export/sites.xlsx?{Q}").status_code == 200
    assert client.get(f"/export/sites.pdf?{Q}").status_code == 200
    # the whole city at 50 m is too many possible sites: the page says so, its downloads still work
    whole = client.get("/map/sites?boundary=hcmc-2025&period=2025").get_data(as_text=True)
    assert "hãy chọn ít đơn vị hơn hoặc lưới thưa hơn" in whole
    assert client.get("/export/sites.png?boundary=hcmc-2025&period=2025").status_code == 200


def test_viewers_see_no_incident_points_and_no_small_counts(app):
    analyst = signed_in(app, "analyst").get(f"/maps/sites.js?{Q}").get_data(as_text=True)
    viewer = signed_in(app, "viewer")
    js = viewer.get(f"/maps/sites.js?{Q}").get_data(as_text=True)
    assert "fast_marker_cluster" in analyst and "fast_marker_cluster" not in js
    fc = viewer.get(f"/api/v1/sites?{Q}&k=10").get_json()
    shown = [f["properties"]["incidents"] for f in fc["features"]]
    assert all(n is None or n >= 5 for n in shown)
    assert all(c["incidents"] is None or c["incidents"] >= 5 for c in fc["meta"]["curve"])


def test_a_bad_existing_site_names_its_line(app):
    client = signed_in(app, "analyst")
    res = client.get(f"/map/sites?{Q}&existing=106.70,10.77%0Abến thành")
    assert res.status_code == 400 and "dòng 2" in res.get_data(as_text=True)
    res = client.get(f"/api/v1/sites?{Q}&existing=10.77,106.70&lang=en")
    assert res.status_code == 400 and "line 1" in res.get_data(as_text=True) and "latitude first" in res.get_data(as_text=True)
    # a good one is kept and not counted in k
    fc = client.get(f"/api/v1/sites?{Q}&k=2&existing=106.6981,10.7725").get_json()
    existing = [f for f in fc["features"] if f["properties"]["existing"]]
    assert len(existing) == 1 and existing[0]["properties"]["lon"] == pytest.approx(106.6981)
    assert len(fc["features"]) - 1 <= 2


def _plan(eng):
    return plans.get_plan(eng, plans.create_plan(eng, year=2026, level="ward", boundary="hcmc-2025",
                                                 unit_code=WARD, unit_name="Phường Bến Thành", created_by="committee"))


def test_a_committee_member_attaches_the_sites_and_a_viewer_cannot(app, eng):
    plan = _plan(eng)
    member = signed_in(app, "committee")
    html = member.get(f"/map/sites?{Q}").get_data(as_text=True)
    assert 'id="attach-form"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    res = member.post(f"/committee/sites?{Q}", data={"csrf_token": token, "plan_id": str(plan.id), "note": "Ngã tư"})
    assert res.status_code == 302 and res.headers["Location"].endswith(f"/committee/plans/{plan.id}#plan-places")
    with eng.connect() as conn:
        rows = conn.execute(text("SELECT kind, radius_m, unit_code, incidents FROM committee_place WHERE plan_id = :p"),
                            {"p": plan.id}).all()
    assert len(rows) == 5 and {(r.kind, r.radius_m, r.unit_code) for r in rows} == {("camera", 75.0, WARD)}
    page = member.get(f"/committee/plans/{plan.id}").get_data(as_text=True)
    listed = re.search(r'<table class="data" id="plan-places-table">(.*?)</table>', page, re.S).group(1)
    assert listed.count("Camera số") == 5 and "Camera (75 m)" in listed and "/map/sites?" in listed
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        assert signed_in(app, "viewer").post(f"/committee/sites?{Q}", data={"plan_id": str(plan.id)}).status_code == 403
        again = member.post(f"/committee/sites?{Q}", data={"plan_id": str(plan.id)}, follow_redirects=True)
        assert "Không thêm được vị trí nào" in again.get_data(as_text=True)
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    with eng.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM committee_place WHERE plan_id = :p"), {"p": plan.id}).scalar() == 5
