"""The committee chooses on the map: the plan's candidates, the areas already selected and the other
wards of its unit on the plan map (with what a click does in the form), the area page's map with the
wards it lies in today, and the programme map that fills the record form. The browser half is at the
end (one test: three candidates clicked, an area drawn, the plan recorded)."""
from __future__ import annotations

import html
import json
import re

import geopandas as gpd
import pytest
import shapely
from numpy.testing import assert_allclose
from shapely.geometry import box
from sqlalchemy import bindparam, text

from geo import analysis
from geo.categories import expand
from geo.committee import areas, candidates, plans
from geo.committee import programmes as pg
from geo.store.models import make_engine
from geo.store.queries import load_areas
from tests.browser import sign_in
from tests.conftest import signed_in

PAYLOAD = '<img src=x onerror=alert(1)>'
DECISION = dict(target_pct=10, responsible_unit="Công an phường", decided_by="BCĐ 138 Thành phố",
                decided_on="2024-01-15", recorded_by="committee")
#: A drawn area over the centre of the city, across several wards.
CENTRE = box(106.690, 10.765, 106.705, 10.780)


@pytest.fixture
def eng(demo_app):
    e = make_engine(demo_app.config["DATABASE_URL"])
    yield e
    e.dispose()


def _plan(eng, **kw):
    args = dict(year=2024, level="city", boundary="hcmc-2025", created_by="committee")
    args.update(kw)
    return plans.get_plan(eng, plans.create_plan(eng, **args))


def _map_data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="committee-map-data">(.*?)</script>', page, re.S)
    assert m, "no map data on the page"
    return json.loads(m.group(1))


def _by_pick(data: dict) -> dict:
    out = {}
    for layer in data["layers"]:
        pick = layer.get("pick") or {}
        out[pick.get("prefix") or pick.get("field") or "style"] = layer
    return out


def test_plan_map_holds_candidates_other_wards_and_selected_areas(eng, demo_app):
    plan = _plan(eng)
    cands = candidates.candidates(eng, plan, top=20, spots_top=10)
    first = cands.wards["code"].iloc[0]
    ids = areas.select_areas(eng, plan.id, [f"ward:{first}"], **DECISION, reason="Chợ đêm", polygon_name=PAYLOAD,
                             polygon=json.dumps(shapely.geometry.mapping(CENTRE)))
    client = signed_in(demo_app, "committee")
    page = client.get(f"/committee/plans/{plan.id}").get_data(as_text=True)
    assert 'id="map-frame"' in page and "leaflet-geoman.min.js" in page and "js/committee_map.js" in page
    data = _map_data(page)
    layers = _by_pick(data)
    # the candidate wards are the complex-area ranking of the base year (a city plan: its first 20)
    want = analysis.complex_areas(eng, boundary="hcmc-2025", start=plan.base_period.start, end=plan.base_period.end,
                                  categories=list(plan.categories), top=20)["code"].tolist()
    assert layers["ward:"]["codes"] == want
    assert layers["ward:"]["pick"] == {"kind": "check", "form": "select-form", "prefix": "ward:"}
    assert layers["spot:"]["codes"] == candidates.ranked_spots(eng, plan)["code"].head(10).tolist()
    # every other ward of the city fills the "other wards" field
    all_codes = set(load_areas(eng, "hcmc-2025")["code"])
    assert set(layers["ward_codes"]["codes"]) == all_codes - set(want)
    assert len(layers["ward_codes"]["codes"]) == len(all_codes) - 20
    # the selected areas (the ward and the drawn one) are outlined, not picked
    assert layers["style"]["codes"] == [str(i) for i in ids] and layers["style"]["style"]["fill"] is False
    assert set(data["draw"]["buttonTitles"]) == {"drawPolyButton", "editButton", "deleteButton"}
    assert data["draw"]["buttonTitles"]["drawPolyButton"] == "Vẽ khu vực"

    script = client.get(f"/committee/plans/{plan.id}.js")
    assert script.status_code == 200 and script.mimetype == "application/javascript"
    body = script.get_data(as_text=True)
    for layer in data["layers"]:          # the page's layer names are the script's
        assert f"var {layer['var']} = L.geoJson(" in body
    assert f"var {data['map']} = L.map(" in body
    for code in want:
        assert f'"code": "{code}"' in body
    # the drawn area's name is user text: escaped in the tooltip and in the table, never markup
    for text_ in (page, body):
        assert PAYLOAD not in text_ and "<img" not in text_
    assert html.escape(PAYLOAD) in page                       # the table's link
    assert json.dumps(html.escape(PAYLOAD)).replace("&", "\\u0026") in body   # the tooltip, in folium's JSON

    # a viewer sees the map but gets no drawing tools and no form to fill
    viewer = signed_in(demo_app, "viewer").get(f"/committee/plans/{plan.id}").get_data(as_text=True)
    assert 'id="map-frame"' in viewer and "leaflet-geoman" not in viewer and 'id="select-form"' not in viewer
    assert _map_data(viewer)["draw"] is None


def test_area_page_lists_the_wards_it_lies_in_with_the_shares_of_an_overlay(eng, demo_app):
    # a plan on the former wards (2019): the area's wards of today come from the 2025 version
    plan = _plan(eng, level="district", boundary="hcmc-2019", unit_code="760")
    [area_id] = areas.select_areas(eng, plan.id, [], **DECISION, reason="Chợ đêm", polygon_name=PAYLOAD,
                                   polygon=json.dumps(shapely.geometry.mapping(CENTRE)))
    client = signed_in(demo_app, "analyst")
    page = client.get(f"/committee/areas/{area_id}").get_data(as_text=True)
    assert PAYLOAD not in page and html.escape(PAYLOAD) in page

    # the shares: an independent overlay of the 2025 wards and the area in UTM 48N
    wards = load_areas(eng, "hcmc-2025")[["code", "name", "geometry"]].to_crs(32648)
    shape = gpd.GeoDataFrame({"area": [1]}, geometry=[CENTRE], crs=4326).to_crs(32648)
    parts = gpd.overlay(wards, shape, how="intersection")
    share = (parts.area / shape.area.iloc[0]).to_numpy()
    want = dict(zip(parts["code"], share))
    want = {c: s for c, s in want.items() if s >= areas.MIN_SHARE}
    assert len(want) >= 3
    table = page[page.index('id="now-in"'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r"<tr><td><code>([^<]+)</code></td><td>([^<]+)</td><td>[^<]*</td><td class=\"num\">([^<]+)</td>",
                      table)
    got = {code: float(pct.rstrip("%").replace(".", "").replace(",", ".")) / 100 for b, code, pct in rows
           if b == "hcmc-2025"}
    assert set(got) == set(want)
    assert_allclose([got[c] for c in want], [want[c] for c in want], atol=2e-4)
    assert_allclose(sum(got.values()), 1.0, atol=2e-3)

    # the map outlines them (labelled by name) and draws the area; the density table counts the
    # incidents of the plan's categories in the 2019 wards the area overlaps, in the latest year
    data = _map_data(page)
    assert data["layers"][0]["codes"] == [str(area_id)]
    body = client.get(f"/committee/areas/{area_id}.js").get_data(as_text=True)
    assert PAYLOAD not in body and "<img" not in body
    names = dict(zip(load_areas(eng, "hcmc-2025")["code"], load_areas(eng, "hcmc-2025")["name"]))
    for code in want:
        assert json.dumps(html.escape(names[code]))[1:-1] in body or html.escape(names[code]) in body
    span = analysis.data_span(eng)
    old = load_areas(eng, "hcmc-2019")
    near = set(old.loc[old.intersects(CENTRE), "code"])
    stmt = text("SELECT a.code, COUNT(*) FROM incident i JOIN incident_area ia ON ia.incident_id = i.id "
                "JOIN area a ON a.id = ia.area_id JOIN boundary_version v ON v.id = a.version_id "
                "WHERE v.name = 'hcmc-2019' AND i.local_date BETWEEN :s AND :e AND i.category IN :c "
                "GROUP BY a.code").bindparams(bindparam("c", expanding=True))
    with eng.connect() as conn:
        counts = dict(conn.execute(stmt, {"s": f"{span[1].year}-01-01", "e": span[1].isoformat(),
                                          "c": expand(list(plan.categories))}).all())
    density = page[page.index('id="density"'):]
    density = density[:density.index("</table>")]
    cells = re.findall(r'<td class="num" data-sort="([^"]*)">', density)
    assert len(cells) == 3 * len(near)
    assert sorted(int(float(c)) for c in cells[0::3]) == sorted(counts.get(c, 0) for c in near)


def test_programme_map_fills_the_record_form(eng, demo_app):
    codes = load_areas(eng, "hcmc-2025")["code"].tolist()
    pg.record_programme_status(eng, boundary="hcmc-2025", unit_code=codes[0], programme="Xã, phường không ma túy",
                               phase="Giai đoạn 1", status="met", recorded_by="committee")
    page = signed_in(demo_app, "committee").get("/committee/programmes").get_data(as_text=True)
    [layer] = _map_data(page)["layers"]
    assert layer["codes"] == pg.phase_layer(eng, "Xã, phường không ma túy", "Giai đoạn 1", "hcmc-2025")["code"].tolist()
    assert layer["pick"] == {"kind": "field", "form": "programme-form", "field": "unit_code",
                             "set": {"boundary": "hcmc-2025"}}
    assert 'id="programme-form"' in page and "js/committee_map.js" in page


# --------------------------------------------------------------------------- in Chromium

#: Zoom to a candidate ward and give a point of the page where a click reaches it (no spot over it).
FIND_UNIT = """code => {
    const data = JSON.parse(document.getElementById("committee-map-data").textContent);
    const entry = data.layers.find(l => l.pick && l.pick.prefix === "ward:");
    const layer = window[entry.var].getLayers().find(l => entry.codes[Number(l.feature.id)] === code);
    document.getElementById("map-frame").scrollIntoView();
    window[data.map].fitBounds(layer.getBounds(), {animate: false});
    const box = document.getElementById("map-frame").getBoundingClientRect();
    for (let i = 1; i < 30; i++) {
        for (let j = 1; j < 30; j++) {
            const x = box.left + box.width * i / 30, y = box.top + box.height * j / 30;
            if (document.elementFromPoint(x, y) === layer.getElement()) { return [x, y]; }
        }
    }
    throw new Error("ward " + code + " is covered everywhere");
}"""

@pytest.mark.browser
def test_committee_clicks_three_candidates_and_draws_an_area(page, demo_server, demo_app, eng):
    plan = _plan(eng)
    cands = candidates.candidates(eng, plan, top=20, spots_top=10)
    sign_in(page, demo_server, "committee")
    page.goto(f"{demo_server}/committee/plans/{plan.id}")
    page.wait_for_selector(".leaflet-pm-toolbar")
    picked = cands.wards["code"].head(3).tolist()
    for code in picked:   # click each candidate ward on the map, where no spot lies over it
        x, y = page.evaluate(FIND_UNIT, code)
        page.mouse.click(x, y)
        page.wait_for_selector(f'#candidate-wards tr.chosen input[value="ward:{code}"]:checked')
    assert page.locator("#candidate-wards tr.chosen").count() == 3
    # draw a triangle with the pen: three corners, then the first again to close it
    page.evaluate("""() => {
        const data = JSON.parse(document.getElementById("committee-map-data").textContent);
        window[data.map].setView([10.7725, 106.6975], 15, {animate: false});
    }""")
    page.click(".leaflet-pm-icon-polygon")
    page.locator("#map-frame").scroll_into_view_if_needed()
    b = page.locator("#map-frame").bounding_box()
    corners = [(0.40, 0.40), (0.60, 0.40), (0.50, 0.60), (0.40, 0.40)]
    for fx, fy in corners:
        page.mouse.click(b["x"] + b["width"] * fx, b["y"] + b["height"] * fy)
    page.wait_for_function("document.querySelector('#select-form textarea[name=polygon]').value.length > 0")
    drawn = shapely.geometry.shape(json.loads(page.input_value("#select-form textarea[name=polygon]")))
    assert drawn.geom_type == "Polygon" and len(drawn.exterior.coords) == 4
    assert drawn.contains(shapely.geometry.Point(106.6975, 10.7715))
    # the drawn clicks did not pick the wards under them
    assert page.locator("#candidate-wards input[name=choice]:checked").count() == 3
    page.fill("#select-form input[name=polygon_name]", "Khu vẽ trên bản đồ")
    page.fill("#select-form textarea[name=reason]", "Tụ điểm trộm cắp")
    page.fill("#select-form input[name=responsible_unit]", "Công an Thành phố")
    page.click("#select-form button[type=submit]")
    assert "Đã chọn 4 địa bàn." in page.locator("p.note").inner_text()
    chosen = areas.plan_areas(eng, plan.id)
    assert sorted(a.source_code for a in chosen if a.kind == "ward") == sorted(picked)
    [poly] = [a for a in chosen if a.kind == "polygon"]
    assert poly.name == "Khu vẽ trên bản đồ" and poly.geometry.equals_exact(drawn, 1e-6)
    rows = page.locator("#selected-areas tbody tr")
    assert rows.count() == 4 and "Khu vẽ trên bản đồ" in page.locator("#selected-areas").inner_text()
    assert page.console_errors == [] and page.foreign_requests == []
