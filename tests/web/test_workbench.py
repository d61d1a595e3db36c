"""The map workbench: every map page is the map beside a side panel (search, filters, layers with
their legends, the unit panel, downloads), its map script tells page scripts about its map, units and
layers (window.HS), and the first view frames the incidents. Two runs in Chromium toggle the layers
of the hot-spot page and find a ward by a name typed without diacritics."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from urllib.parse import parse_qs

import geopandas as gpd
import lxml.html
import numpy as np
import pytest
import shapely

from geo import analysis
from geo.render import layers, maps
from geo.store.models import make_engine
from tests.browser import screenshot, sign_in
from tests.conftest import SHARED_BOUNDARIES, signed_in, small_wards

pytestmark = pytest.mark.xdist_group("workbench")  # one worker: the module's fixtures are built once

Q = "boundary=hcmc-2025&period=2025"
PAGES = ("overview", "hotspots", "compare", "trends", "complex", "forecast")
# every analysis inline, so that each page answers at once (no background job to wait for)
INLINE = {"ANALYSIS_INLINE_INCIDENTS": 10**8, "PAGE_INLINE_INCIDENTS": 10**8, "FORECAST_INLINE_CELLS": 10**9,
          "FORECAST_MAX_CELLS": 10**10, "PRECOMPUTE_PAGES": False}


@pytest.fixture(scope="module")
def client(demo_template, tmp_path_factory):
    from server import create_app

    path = tmp_path_factory.mktemp("wb") / "demo.db"
    shutil.copyfile(demo_template, path)
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "test", **INLINE})
    return signed_in(app, "viewer")


def registered(script: str) -> list[dict]:
    """What each map of a map script registers for window.HS: its map, units and layers (by JS name)."""
    out = []
    for m in re.finditer(r'HS_MAPS \|\| \[\]\)\.push\(\{\s*"map": (\w+),\s*"units": (\w+),\s*"layers": \[(.*?)\],'
                         r'\s*"legends": \[(.*?)\]\s*\}\);', script, re.S):
        names = [(json.loads(n), v, o == "true") for n, v, o in
                 re.findall(r'\{"name": ("(?:[^"\\]|\\.)*"), "layer": (\w+), "overlay": (true|false)\}', m.group(3))]
        legends = re.findall(r'\{"layer": (\w+), "html":', m.group(4))
        out.append({"map": m.group(1), "units": m.group(2), "layers": names, "legends": legends})
    return out


def features_of(script: str, var: str) -> list[dict]:
    """The GeoJSON features folium gives the layer ``var`` (``var_add({...})``)."""
    text = script[script.index(f"{var}_add(") + len(f"{var}_add("):]
    data, _end = json.JSONDecoder().raw_decode(text)
    return data["features"]


@pytest.fixture(scope="module")
def pages(client):
    out = {}
    for page in PAGES:
        res = client.get(f"/map/{page}?{Q}")
        assert res.status_code == 200, (page, res.status_code)
        doc = lxml.html.fromstring(res.get_data(as_text=True))
        src = doc.xpath("//script[contains(@src, '/maps/')]/@src")[0]
        script = client.get(src).get_data(as_text=True)
        out[page] = (doc, script)
    return out


@pytest.mark.parametrize("page", PAGES)
def test_each_map_page_is_the_map_beside_a_side_panel(pages, page):
    doc, _script = pages[page]
    side = doc.get_element_by_id("side")
    ids = [d.get("id") for d in side.xpath("./details")]
    # the layers and legends, the unit panel (_unit_panel.html), the filters, the downloads; the hour
    # table and the page's own figures join them
    assert ids[:4] == ["layers-section", "unit-section", "hours-section", "filters-section"]
    assert ids[-1] == "downloads-section"
    assert side.xpath(".//details[@id='filters-section']/form[@class='filters']//select[@name='period']")
    assert side.xpath(".//div[@id='hs-layers'][@data-hs-legends]")
    assert side.xpath(".//input[@id='unit-search'][@role='combobox']")
    assert side.xpath(".//section[@id='ward-panel']") and side.xpath(".//ul[@id='downloads']/li/a")
    assert doc.get_element_by_id("map-frame").getparent().get("id") == "workbench"
    # no inline script (script-src 'self'): every script is a file or JSON data
    for s in doc.xpath("//script"):
        assert s.get("src") or s.get("type") == "application/json", lxml.html.tostring(s)[:200]
    srcs = doc.xpath("//script/@src")
    map_script = next(i for i, s in enumerate(srcs) if s.startswith(f"/maps/{page}.js"))
    assert srcs[map_script + 1] == "/static/js/workbench.js"
    # the panel's script runs once the document is parsed, after the map and workbench.js
    assert doc.xpath("//script[@src='/static/js/panel.js'][@defer]")
    frame = doc.get_element_by_id("map-frame")
    assert parse_qs(frame.get("data-query")) == {"boundary": ["hcmc-2025"], "period": ["2025"], "cut": ["calendar"]}


#: The overlays each page's first map lists (in Vietnamese), in the order they are drawn.
OVERLAYS = {
    "overview": ["Số vụ", "Tên đơn vị"],
    "hotspots": ["Điểm nóng Gi* (Getis-Ord)", "Vùng mật độ cao (KDE)", "Điểm nóng theo vụ việc", "Tên đơn vị"],
    "compare": ["Kỳ này", "Tên đơn vị"],
    "trends": ["Điểm nóng mới nổi", "Tên đơn vị"],
    "complex": ["Điểm phức tạp (0–100)", "Tên đơn vị"],
    "forecast": ["Số vụ việc dự kiến", "Khu vực có nguy cơ cao nhất (ô 150 m)", "Tên đơn vị"],
}


@pytest.mark.parametrize("page", PAGES)
def test_each_map_registers_its_units_layers_and_legends(pages, page, client):
    _doc, script = pages[page]
    maps = registered(script)
    assert len(maps) == (2 if page == "compare" else 1)
    first = maps[0]
    names = [n for n, _v, overlay in first["layers"] if overlay]
    other = [n for n in names if n.startswith("Ranh giới")]
    assert len(other) == 1 and "322 phường" in other[0], names
    assert [n for n in names if n not in other] == OVERLAYS[page], names
    # the units: every ward of the version, with its plain code and name (as /api/v1/areas has them)
    api = client.get(f"/api/v1/areas?boundary=hcmc-2025&start=2025-01-01&end=2025-12-31").get_json()
    truth = {f["properties"]["code"]: f["properties"]["name"] for f in api["features"]}
    feats = {f["properties"]["code"]: f["properties"]["name"] for f in features_of(script, first["units"])}
    # (the complex-area ranking leaves out Côn Đảo, an island without its figure; the forecast has every unit)
    assert set(feats) <= set(truth) and len(set(truth) - set(feats)) <= (1 if page == "complex" else 0)
    # the map's names tell same-named units apart by their parent ("Xã Thạnh An (Hồ Chí Minh)")
    assert all(n == truth[c] or n.startswith(truth[c] + " (") for c, n in feats.items())
    # a legend per coloured layer, tied to it
    assert first["legends"] and set(first["legends"]) <= {v for _n, v, _o in first["layers"]}


def test_the_other_version_s_outlines_are_off_until_asked_for(pages):
    _doc, script = pages["overview"]
    (name, var, _o), = [x for x in registered(script)[0]["layers"] if x[0].startswith("Ranh giới")]
    assert f"{var}.addTo(" not in script  # folium adds a layer it shows at once; this one waits
    assert len(features_of(script, var)) == 322  # the 2019 wards


def test_tooltips_name_the_level_of_the_units():
    def frame(levels, parents=None):
        return gpd.GeoDataFrame({"level": levels, "parent_name": parents or [None] * len(levels)},
                                geometry=[shapely.box(0, 0, 1, 1)] * len(levels), crs="EPSG:4326")
    assert layers._unit_word(frame(["Phường", "Xã", "Phường"]), "vi") == "Phường/xã"
    assert layers._unit_word(frame(["Quận", "Huyện", "Quận"]), "vi") == "Quận/huyện"
    assert layers._unit_word(frame(["Tỉnh", "Thành phố", "Tỉnh"]), "vi") == "Tỉnh/thành phố"
    assert layers._unit_word(frame(["Thành phố"], ["Tỉnh Bình Dương"]), "vi") == "Quận/huyện"
    assert layers._unit_word(frame([None, None]), "en") == "Ward/commune"


def weighted_cut(values, weights, q):
    """The smallest value whose cumulative weight share reaches q (the inverted CDF), by hand."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    total, run = sum(weights), 0.0
    for i in order:
        run += weights[i]
        if run / total >= q - 1e-12:
            return values[i]
    return values[order[-1]]


def test_the_first_view_frames_the_central_incidents_not_the_whole_province(pages, client):
    _doc, script = pages["overview"]
    box = json.loads(re.search(r"map_m\d+\.fitBounds\((\[\[.*?\]\])", script).group(1))
    # the stored counts and polygons; the cut is worked out by hand below
    api = analysis.ward_counts(make_engine(client.application.config["DATABASE_URL"]), boundary="hcmc-2025",
                               start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31), categories=[])
    busy = api[api["count"] > 0]
    pts = busy.geometry.representative_point()
    xs, ys, w = list(pts.x), list(pts.y), list(busy["count"].astype(float))
    x0, x1 = weighted_cut(xs, w, 0.025), weighted_cut(xs, w, 0.975)
    y0, y1 = weighted_cut(ys, w, 0.025), weighted_cut(ys, w, 0.975)
    kept = busy[(pts.x >= x0) & (pts.x <= x1) & (pts.y >= y0) & (pts.y <= y1)]
    minx, miny, maxx, maxy = kept.total_bounds
    assert np.allclose([[miny, minx], [maxy, maxx]], box, atol=1e-9)
    # the kept wards hold at least the central 90 % of the incidents (95 % in each direction)
    assert kept["count"].sum() >= 0.9 * busy["count"].sum()
    wx0, wy0, wx1, wy1 = api.total_bounds
    assert (maxx - minx) * (maxy - miny) < 0.5 * (wx1 - wx0) * (wy1 - wy0)


def test_two_versions_are_one_place_and_the_country_is_not_another_city():
    folder = SHARED_BOUNDARIES
    hcmc_2025, hcmc_2019, hanoi, country = (gpd.read_file(folder / f"{n}.geojson") for n in (
        "hcmc_wards_2025", "hcmc_wards_2019", "hanoi_wards_2025", "vietnam_provinces_2025"))
    assert layers._same_place(hcmc_2025, hcmc_2019) and layers._same_place(hcmc_2019, hcmc_2025)
    assert not layers._same_place(hcmc_2025, hanoi)
    assert not layers._same_place(hcmc_2025, country)


def test_a_tile_server_is_a_background_to_choose_and_labels_come_most_important_first():
    m = maps.base_map((106.6, 10.7, 106.7, 10.8), static_url=lambda p: "/static/" + p, lang="vi",
                      tiles_url="http://tiles.example/{z}/{x}/{y}.png", tiles_attribution="© OSM")
    g = small_wards()
    drawn = maps.choropleth(m, g, "count", name="Số vụ")
    maps.outlines(m, g, lines=False, layer=drawn["layer"], label_name="Tên", label_priority="count")
    script = maps.parts(m)["script"]
    (reg,) = registered(script)
    assert [(n, o) for n, _v, o in reg["layers"]] == [("Nền bản đồ", False), ("Số vụ", True), ("Tên", True)]
    labels = json.loads(re.search(r"var rows = (\[.*?\]);", script).group(1))
    # by count, largest first (the two wards without incidents come last, by area)
    assert [r[2] for r in labels][:10] == [f"Phường {i}" for i in (11, 9, 8, 7, 6, 5, 4, 3, 2, 1)]
    assert {r[2] for r in labels[10:]} == {"Phường 0", "Phường 10"}


# --------------------------------------------------------------------------- in Chromium

def overlay_paths(page) -> int:
    return page.evaluate("document.querySelectorAll('#map-frame .leaflet-overlay-pane path').length")


@pytest.mark.reads_demo
@pytest.mark.browser
@pytest.mark.sqlite_only
def test_toggling_each_layer_of_the_hot_spot_page(page, demo_server):
    sign_in(page, demo_server, "viewer")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{demo_server}/map/hotspots?{Q}")
    page.wait_for_selector("#hs-layers[data-ready] .layer-row", timeout=240_000)
    rows = page.locator("#hs-layers .layer-row")
    names = rows.locator("label span").all_inner_texts()
    assert names[:3] == OVERLAYS["hotspots"][:3] and "Tên đơn vị" in names and names[-1].startswith("Ranh giới")
    screenshot(page, "workbench_hotspots")
    for i, name in enumerate(names):
        row, box = rows.nth(i), rows.nth(i).locator("input[type=checkbox]")
        was = box.is_checked()
        on_map = f"HS.map.hasLayer(HS.layers[{json.dumps(name)}])"
        before, labels = overlay_paths(page), page.locator("#map-frame .hs-label").count()
        box.click()
        assert box.is_checked() != was
        if name == "Tên đơn vị":  # labels: no paths, their text goes or comes
            assert (page.locator("#map-frame .hs-label").count() > 0) == (not was)
        else:
            assert page.evaluate(on_map) == (not was)
            assert (overlay_paths(page) < before) if was else (overlay_paths(page) > before)
        legend = row.locator(".layer-legend")
        if legend.count():
            assert legend.first.is_visible() == (not was)
        key = page.evaluate(f"window.hsFold({json.dumps(name)}).replace(/ /g, '-')")
        assert (key in page.evaluate("decodeURIComponent(location.hash)")) == (not was)
        box.click()
        assert page.evaluate(on_map) == was or name == "Tên đơn vị"
        assert overlay_paths(page) == before and page.locator("#map-frame .hs-label").count() == labels
    # a shared link reopens the same layers: the outlines of 2019 on, the Gi* classes off
    gi, old = OVERLAYS["hotspots"][0], names[-1]
    rows.nth(names.index(old)).locator("input").click()
    rows.nth(0).locator("input").click()
    link = page.url
    assert "#layers=" in link
    page.goto("about:blank")
    page.goto(link)
    page.wait_for_selector("#hs-layers[data-ready] .layer-row")
    assert page.evaluate(f"HS.map.hasLayer(HS.layers[{json.dumps(old)}])") is True
    assert page.evaluate(f"HS.map.hasLayer(HS.layers[{json.dumps(gi)}])") is False
    assert page.console_errors == [] and page.foreign_requests == []


@pytest.mark.slow
@pytest.mark.reads_demo
@pytest.mark.browser
@pytest.mark.sqlite_only
def test_search_lands_on_the_ward_and_clicks_open_the_panel_on_every_page(page, demo_server):
    sign_in(page, demo_server, "viewer")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{demo_server}/map/overview?{Q}")
    page.wait_for_selector("#hs-layers[data-ready]")
    # the first view names the busiest wards, and no two names overlap
    boxes = page.evaluate("""() => [...document.querySelectorAll('#map-frame .hs-label span')]
        .filter(s => s.style.visibility !== 'hidden')
        .map(s => { const b = s.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; })""")
    assert len(boxes) >= 8
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]
    page.screenshot(path=str(screenshot(page, "workbench_overview_1280").with_name("workbench_overview_first_view.png")))
    page.fill("#unit-search", "ben thanh")
    page.wait_for_selector("#unit-results li[role=option]")
    assert page.locator("#unit-results li[role=option]").all_inner_texts() == ["Phường Bến Thành"]
    page.press("#unit-search", "Enter")
    page.locator("#ward-panel h2").wait_for()
    assert page.locator("#ward-panel h2").inner_text() == "Phường Bến Thành"
    inside = page.evaluate("""() => { let b = null;
        HS.units.eachLayer(l => { if (l.feature.properties.name === 'Phường Bến Thành') b = l.getBounds(); });
        return HS.map.getBounds().contains(b) && HS.map.getZoom() >= 14; }""")
    assert inside
    screenshot(page, "workbench_search")
    # the arrow keys walk the matches: "phuong an" finds several, ArrowDown picks the second
    page.fill("#unit-search", "phuong an")
    options = page.locator("#unit-results li[role=option]")
    options.first.wait_for()
    second = options.nth(1).locator("span").first.inner_text()
    page.press("#unit-search", "ArrowDown")
    page.press("#unit-search", "Enter")
    page.wait_for_function("n => document.querySelector('#ward-panel h2') && "
                           "document.querySelector('#ward-panel h2').textContent === n", arg=second)
    for name in ("compare", "forecast"):  # a click on a unit opens the panel there too
        page.goto(f"{demo_server}/map/{name}?{Q}")
        page.wait_for_selector("#hs-layers[data-ready]", timeout=240_000)
        code = page.evaluate("""() => { let hit = null;
            HS.units.eachLayer(l => { if (!hit && l.feature.properties.code === '26743') hit = l; });
            hit.fire('click', {latlng: hit.getBounds().getCenter()}, true);
            return hit.feature.properties.name; }""")
        page.wait_for_function("n => document.querySelector('#ward-panel h2') && "
                               "document.querySelector('#ward-panel h2').textContent === n", arg=code)
        assert page.locator("#map-frame path.hs-chosen").count() == (2 if name == "compare" else 1)  # dual map
    assert page.console_errors == [] and page.foreign_requests == []
