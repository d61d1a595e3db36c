"""The repeat-places page on the demo store: its places against the incidents themselves, what
viewers see, the analysts' incident points, and adopting a place into a plan."""
from __future__ import annotations

import re

import pandas as pd
import pytest
from sqlalchemy import text

from geo.committee import plans
from geo.store.models import make_engine
from tests.conftest import demo_copy_app, signed_in

pytestmark = pytest.mark.xdist_group("places_page")  # one worker: the module's fixtures are built once

Q = "boundary=hcmc-2025&period=2025"
PAYLOAD = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def app(demo_template, tmp_path_factory):
    """One app over a copy of the demo store for the module (the places are computed once); five
    incidents of Phường Bến Thành in the last days of 2025 get a hostile address first."""
    app = demo_copy_app(demo_template, tmp_path_factory.mktemp("places"))
    eng = make_engine(app.config["DATABASE_URL"])
    with eng.begin() as conn:
        ids = [r.id for r in conn.execute(text(
            "SELECT DISTINCT i.id FROM incident i JOIN incident_area ia ON ia.incident_id = i.id "
            "JOIN area a ON a.id = ia.area_id JOIN boundary_version v ON v.id = ia.version_id "
            "WHERE v.name = 'hcmc-2025' AND a.code = '26743' AND i.local_date >= '2025-12-20' "
            "ORDER BY i.id LIMIT 5")).all()]
        assert len(ids) == 5
        conn.execute(text(f"UPDATE incident SET address = :a WHERE id IN ({','.join(map(str, ids))})"),
                     {"a": PAYLOAD})
    eng.dispose()
    return app


@pytest.fixture(scope="module")
def eng(app):
    e = make_engine(app.config["DATABASE_URL"])
    yield e
    e.dispose()


def rows(html: str) -> list[tuple[str, list[str]]]:
    """(place key, cell texts) of the page's table."""
    out = []
    for key, body in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', html, re.S):
        out.append((key, [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)]))
    return out


def number(text: str) -> int:
    return int(text.replace(".", ""))


def test_the_top_address_is_the_incidents_own_count(app, eng):
    html = signed_in(app, "analyst").get(f"/map/places?{Q}").get_data(as_text=True)
    table = rows(html)
    assert len(table) == 500  # the page's first 500 rows; the downloads hold them all
    counts = [number(cells[4]) for _key, cells in table]
    assert counts == sorted(counts, reverse=True) and min(counts) >= 3
    top = next(cells for _key, cells in table if cells[2] == "Cùng địa chỉ")
    # independently: the incidents of 2025 grouped by their unit and their address as written (the
    # demo writes each address one way)
    with eng.connect() as conn:
        inc = pd.read_sql(text("SELECT i.address, a.code, a.name FROM incident i JOIN incident_area ia ON "
                               "ia.incident_id = i.id JOIN area a ON a.id = ia.area_id JOIN boundary_version v ON "
                               "v.id = ia.version_id AND v.name = 'hcmc-2025' WHERE i.local_date BETWEEN "
                               "'2025-01-01' AND '2025-12-31'"), conn)
    by = inc.groupby(["code", "name", "address"]).size().sort_values(ascending=False)
    (_code, name, address), n = by.index[0], int(by.iloc[0])
    assert (top[1], top[3], number(top[4])) == (address, name, n)
    assert (n, address) == (117, "229 đường Số 86")


def test_viewers_see_no_small_place_and_no_point_analysts_see_the_points(app):
    viewer = signed_in(app, "viewer")
    table = rows(viewer.get(f"/map/places?{Q}").get_data(as_text=True))
    assert table and min(number(cells[4]) for _k, cells in table) >= 5
    analyst_js = signed_in(app, "analyst").get(f"/maps/places.js?{Q}").get_data(as_text=True)
    analyst = rows(signed_in(app, "analyst").get(f"/map/places?{Q}").get_data(as_text=True))
    assert any(number(cells[4]) < 5 for _k, cells in analyst)
    hot_q = Q + "&permutations=99"  # the points layer is the same; fewer permutations keep Gi* cheap
    hot = signed_in(app, "analyst").get(f"/maps/hotspots.js?{hot_q}").get_data(as_text=True)
    viewer_js = [viewer.get(url).get_data(as_text=True) for url in (f"/maps/places.js?{Q}", f"/maps/hotspots.js?{hot_q}")]
    assert "fast_marker_cluster" in analyst_js and "fast_marker_cluster" in hot
    assert not any("fast_marker_cluster" in js for js in viewer_js)
    # the hostile address is in the tooltips as text, never as markup ("&" is written \u0026 in the
    # script): of its place (count 5, so viewers see it too) and of its five incidents (analysts only)
    escaped = r"\u0026lt;img src=x onerror=alert(1)\u0026gt;"
    assert [js.count(escaped) for js in viewer_js] == [1, 0]
    assert analyst_js.count(escaped) >= 6 and hot.count(escaped) == 5
    assert not any(bad in js for js in [analyst_js, hot, *viewer_js] for bad in ("<img", "\\u003cimg"))
    page = signed_in(app, "analyst").get(f"/map/places?{Q}").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and PAYLOAD not in page
    csv = signed_in(app, "viewer").get(f"/export/places.csv?{Q}").get_data(as_text=True)
    assert len(csv.lstrip("\ufeff").splitlines()) == len(table) + 1  # every place the viewer sees, and the header


def _plan(eng):
    existing = [d["plan"] for d in plans.list_plans(eng) if d["plan"].year == 2026]
    return existing[0] if existing else plans.get_plan(eng, plans.create_plan(
        eng, year=2026, level="city", boundary="hcmc-2025", created_by="committee"))


def _places_rows(eng) -> int:
    with eng.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM committee_place")).scalar()


def test_a_committee_member_adopts_a_place_and_the_plan_lists_it(app, eng):
    plan = _plan(eng)
    member = signed_in(app, "committee")
    html = member.get(f"/map/places?{Q}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    key, cells = rows(html)[0]
    assert f'<option value="{plan.id}">' in html and 'form="adopt-form"' in html
    before = _places_rows(eng)
    res = member.post(f"/committee/places?{Q}", data={"csrf_token": token, "plan_id": str(plan.id), "place": key,
                                                      "note": "Chợ đêm"})
    assert res.status_code == 302 and res.headers["Location"].endswith(f"/committee/plans/{plan.id}#plan-places")
    page = member.get(f"/committee/plans/{plan.id}").get_data(as_text=True)
    listed = re.search(r'<table class="data" id="plan-places-table">(.*?)</table>', page, re.S).group(1)
    assert cells[1] in listed and f">{cells[4]}<" in listed and "Chợ đêm" in listed
    assert "/map/places?" in listed and "unit=" in listed
    assert _places_rows(eng) == before + 1
    with eng.connect() as conn:
        audit = conn.execute(text("SELECT username, detail FROM audit_log WHERE action = 'committee_place'")).all()
    assert audit[-1].username == "committee" and key in audit[-1].detail
    again = member.post(f"/committee/places?{Q}", data={"csrf_token": token, "plan_id": str(plan.id), "place": key},
                        follow_redirects=True).get_data(as_text=True)
    assert "đã có trong kế hoạch này" in again and _places_rows(eng) == before + 1


def test_viewers_are_refused_and_a_bad_plan_writes_nothing(app, eng):
    plan = _plan(eng)
    key = rows(signed_in(app, "analyst").get(f"/map/places?{Q}").get_data(as_text=True))[0][0]
    before = _places_rows(eng)
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        viewer = signed_in(app, "viewer")
        assert viewer.post(f"/committee/places?{Q}", data={"plan_id": str(plan.id), "place": key}).status_code == 403
        member = signed_in(app, "committee")
        res = member.post(f"/committee/places?{Q}", data={"plan_id": "99999", "place": key}, follow_redirects=True)
        assert "Không có kế hoạch số 99999; hãy chọn một kế hoạch trong danh sách." in res.get_data(as_text=True)
        assert res.request.path == "/map/places"
        res = member.post(f"/committee/places?{Q}", data={"plan_id": "abc", "place": key}, follow_redirects=True)
        assert "Hãy chọn một kế hoạch: &#39;abc&#39; không phải là số kế hoạch." in res.get_data(as_text=True)
        res = member.post(f"/committee/places?{Q}", data={"plan_id": str(plan.id), "place": "g:999999"},
                          follow_redirects=True)
        assert "Không có điểm lặp lại &#39;g:999999&#39; trong kỳ đã chọn" in res.get_data(as_text=True)
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    assert _places_rows(eng) == before
