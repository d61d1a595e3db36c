"""Offline folium maps: vendored links, escaping, stable ids, CSP parts, display geometry."""
from __future__ import annotations

import functools
import html.parser
import http.server
import json
import re
import threading
from pathlib import Path

import folium
import folium.plugins
import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import pytest
import shapely
from numpy.testing import assert_allclose
from shapely.geometry import Point, box

from geo import format
from geo.errors import InputError
from geo.render import maps
from tests.conftest import SHARED_BOUNDARIES, small_wards, static_url

STATIC = maps.STATIC_DIR
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def wards() -> gpd.GeoDataFrame:
    """The 168 wards of Hồ Chí Minh City (2025), simplified for display, with counts."""
    raw = gpd.read_file(SHARED_BOUNDARIES / "hcmc_wards_2025.geojson")
    out = maps.display_geometry(raw)
    rng = np.random.default_rng(138)
    out["count"] = rng.poisson(4, len(out)) * rng.integers(0, 3, len(out))
    return out


def full_map(prefix: str | None = None) -> folium.Map:
    """A map with every kind of layer of geo.render.maps."""
    g = small_wards()
    m = maps.base_map(g.total_bounds, static_url=static_url)
    maps.choropleth(m, g, "count", legend_title="Số vụ", tooltip_fields=[("name", "Phường")],
                    name="Số vụ")
    maps.categorical(m, g, "gi", _gi_rows(), legend_title="Gi*",
                     tooltip_fields=[("name", "Phường")])
    maps.outlines(m, g, name="Ranh giới")
    maps.spots(m, gpd.GeoDataFrame({"spot_id": [1, 2], "count": [40, 12]},
                                   geometry=[Point(106.63, 10.73).buffer(0.005),
                                             Point(106.66, 10.74).buffer(0.004)], crs=4326),
               tooltip_fields=[("count", "Số vụ")])
    maps.contours(m, gpd.GeoDataFrame({"fraction": [0.1, 0.05, 0.01], "threshold": [2.0, 7.5, 30.0]},
                                      geometry=[Point(106.64, 10.73).buffer(r) for r in (0.02, 0.01, 0.004)],
                                      crs=4326))
    rng = np.random.default_rng(1)
    maps.points(m, pd.DataFrame({"lon": rng.uniform(106.6, 106.68, 50),
                                 "lat": rng.uniform(10.7, 10.76, 50), "kind": ["Trộm cắp"] * 50}),
                tooltip_fields=[("kind", "Loại")])
    folium.LayerControl().add_to(m)
    if prefix:
        maps.freeze_ids(m, prefix)
    return m


def _gi_table() -> pd.DataFrame:
    rows = [("cold_99", "Cold Spot - 99% Confidence", "Điểm lạnh (độ tin cậy 99%)"),
            ("cold_95", "Cold Spot - 95% Confidence", "Điểm lạnh (độ tin cậy 95%)"),
            ("cold_90", "Cold Spot - 90% Confidence", "Điểm lạnh (độ tin cậy 90%)"),
            ("not_significant", "Not Significant", "Không có ý nghĩa thống kê"),
            ("hot_90", "Hot Spot - 90% Confidence", "Điểm nóng (độ tin cậy 90%)"),
            ("hot_95", "Hot Spot - 95% Confidence", "Điểm nóng (độ tin cậy 95%)"),
            ("hot_99", "Hot Spot - 99% Confidence", "Điểm nóng (độ tin cậy 99%)")]
    return pd.DataFrame(rows, columns=["code", "label", "label_vi"])


def _gi_rows() -> list[tuple[str, str, str]]:
    t = _gi_table()
    return [(c, vi, maps.COLOURS[c]) for c, vi in zip(t["code"], t["label_vi"])]


def test_category_list_is_the_class_table_in_the_users_language():
    # hottest first, labelled from the one class table (geo.render.palette)
    assert maps.category_list("gi", lang="vi") == _gi_rows()[::-1]
    t = _gi_table()
    assert [label for _, label, _ in maps.category_list("gi", lang="en")] == t["label"].tolist()[::-1]
    assert [c for c, _, _ in maps.category_list("gi", codes={"hot_99", "cold_99"})] == ["hot_99", "cold_99"]


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


def _links(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return parser.urls


# --------------------------------------------------------------------------- offline links

def test_offline_page_links_only_vendored_files_that_exist():
    page = maps.standalone_html(full_map())
    dual = maps.dual_map(small_wards().total_bounds, static_url=static_url)
    urls = _links(page) + _links(maps.standalone_html(dual))
    assert urls, "no links found"
    assert [u for u in urls if re.match(r"^(https?:)?//", u)] == []
    assert {u for u in urls if not u.startswith("data:")} >= {
        "/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/leaflet.css",
        "/static/vendor/leaflet.markercluster/leaflet.markercluster.js",
        "/static/vendor/leaflet.markercluster/MarkerCluster.css",
        "/static/vendor/leaflet.sync/L.Map.Sync.js"}
    for url in {u for u in urls if not u.startswith("data:")}:
        assert url.startswith("/static/vendor/"), url
        path = STATIC / url.removeprefix("/static/")
        assert path.is_file(), url
        if path.suffix == ".css":
            for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)", path.read_text(encoding="utf-8")):
                if ref.startswith(("data:", "#")):
                    continue
                assert not re.match(r"^(https?:)?//", ref), (url, ref)
                assert (path.parent / ref.split("?")[0].split("#")[0]).resolve().is_file(), (url, ref)
    # Every vendored file named in the table exists and has its licence beside it.
    for rel in maps.VENDORED.values():
        assert (STATIC / rel).is_file(), rel
    for pkg in {Path(rel).parts[1] for rel in maps.VENDORED.values()} - {"folium"}:
        assert list((STATIC / "vendor" / pkg).glob("*LICEN*")), pkg


def test_offline_leaves_folium_class_defaults_alone():
    full_map()
    assert folium.Map.default_js[0][1].startswith("https://")
    assert folium.plugins.MarkerCluster.default_css[0][1].startswith("https://")


def test_glyphicons_dropped_and_bootstrap_only_on_request():
    g = small_wards()
    plain = maps.parts(maps.base_map(g.total_bounds, static_url=static_url))
    assert not any("glyphicons" in u or "bootstrap" in u for u in plain["css"] + plain["js"])
    m = maps.offline(folium.Map(tiles=None), static_url, bootstrap=True)
    p = maps.parts(m)
    assert "/static/vendor/bootstrap/css/bootstrap.min.css" in p["css"]
    assert "/static/vendor/bootstrap/js/bootstrap.bundle.min.js" in p["js"]
    assert not any("glyphicons" in u for u in p["css"])


def test_unvendored_plugin_is_refused():
    m = maps.base_map(small_wards().total_bounds, static_url=static_url)
    folium.plugins.Fullscreen().add_to(m)
    with pytest.raises(InputError, match="not vendored"):
        maps.parts(m)


# --------------------------------------------------------------------------- parts, ids

def test_parts_keep_all_script_out_of_the_html():
    p = maps.parts(full_map())
    assert "<script" not in p["html"].lower()
    assert 'class="folium-map" id="map_m1"' in p["html"]
    assert "html, body" not in p["html"]             # folium's page rules stay out
    assert "L_NO_TOUCH" in p["script"] and "L.map(" in p["script"]
    assert "L.markerClusterGroup" in p["script"]
    assert p["js"][0] == "/static/vendor/leaflet/leaflet.js"
    assert p["css"][0] == "/static/vendor/leaflet/leaflet.css"
    page = maps.standalone_html(full_map(), script_url="/maps/1/map.js")
    assert re.findall(r"<script>", page) == []
    assert '<script src="/maps/1/map.js"></script>' in page


def test_freeze_ids_gives_identical_output():
    a = maps.standalone_html(full_map("m"))
    b = maps.standalone_html(full_map("m"))
    assert a == b
    m = full_map("m")
    assert maps.standalone_html(m) == maps.standalone_html(m) == a
    assert re.findall(r"[0-9a-f]{32}", a) == []         # no random folium ids left
    other = maps.standalone_html(full_map("k"))
    assert "map_k1" in other and "map_m1" not in other
    d1 = maps.standalone_html(maps.dual_map(small_wards().total_bounds, static_url=static_url))
    d2 = maps.standalone_html(maps.dual_map(small_wards().total_bounds, static_url=static_url))
    assert d1 == d2


# --------------------------------------------------------------------------- escaping, legends

def test_strings_are_escaped_before_they_reach_the_page():
    g = small_wards()
    g.loc[0, "name"] = XSS
    m = maps.base_map(g.total_bounds, static_url=static_url)
    out = maps.choropleth(m, g, "count", tooltip_fields=[("name", XSS)], legend_title=XSS)
    maps.outlines(m, g, lines=False, layer=out["layer"])
    maps.points(m, pd.DataFrame({"lon": [106.61], "lat": [10.71], "note": [XSS]}),
                tooltip_fields=[("note", XSS)])
    script = maps.parts(m)["script"]
    # text for HTML (tooltips, labels, legends) is escaped; the unit's plain name, which page scripts
    # write as text (static/js/workbench.js), is only a JSON string, its "<" written \u003c
    assert "<img" not in script
    assert [s.start() for s in re.finditer(r"\\u003cimg", script)] == \
        [script.index('"name": "\\u003cimg src=x') + len('"name": "')]
    assert "\\u0026lt;img src=x onerror=alert(1)\\u0026gt;" in script
    legend = maps.choropleth(m, g, "count", legend_title=XSS, legend=False)["legend_html"]
    assert "<img" not in legend and "&lt;img src=x onerror=alert(1)&gt;" in legend


def _legend_limits(legend: str) -> list[float]:
    return [float(v) for v in re.findall(r'data-upper="([^"]+)"', legend)]


@pytest.mark.filterwarnings("ignore:Numba not installed", "ignore:Not enough unique values")
@pytest.mark.parametrize("scheme", ["natural_breaks", "quantiles"])
def test_legend_limits_are_mapclassify_bins(wards, scheme):
    m = maps.base_map(wards.total_bounds, static_url=static_url)
    out = maps.choropleth(m, wards, "count", scheme=scheme, k=5)
    y = wards["count"].to_numpy(float)
    positive = y[y > 0]
    expected = (mapclassify.FisherJenks(positive, k=5) if scheme == "natural_breaks"
                else mapclassify.Quantiles(positive, k=5)).bins
    assert_allclose(out["bins"], expected)
    limits = _legend_limits(out["legend_html"])
    assert limits[0] == 0.0                               # the zero class comes first
    assert_allclose(limits[1:], expected)
    assert sum(out["counts"]) == (y > 0).sum()
    assert_allclose(out["counts"], np.bincount(mapclassify.UserDefined(positive, expected).yb,
                                               minlength=len(expected)))
    assert out["colours"] == maps.palette_colours("YlOrRd", len(expected))


def test_legend_number_formats():
    g = small_wards().assign(rate=[0.5, 1.25, 2.5, 10.0, 999.5, 1234.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    vi = maps.choropleth(maps.base_map(g.total_bounds, static_url=static_url), g, "rate", k=3)
    assert "1.234,5" in vi["legend_html"] and "0,5 – " in vi["legend_html"]
    en = maps.choropleth(maps.base_map(g.total_bounds, static_url=static_url, lang="en"), g, "rate",
                         k=3)
    assert "1,234.5" in en["legend_html"]
    counts = maps.choropleth(maps.base_map(g.total_bounds, static_url=static_url), g, "count", k=3)
    labels = re.findall(r'hs-legend-label">([^<]+)<', counts["legend_html"])
    assert labels[0] == "0" and labels[-1].endswith("1.234")
    assert format.number(1234.5, locale="vi") == "1.234,5" and format.number(1234.5, locale="en") == "1,234.5"


def test_choropleth_and_categorical_errors_say_what_to_fix():
    g = small_wards()
    m = maps.base_map(g.total_bounds, static_url=static_url)
    with pytest.raises(InputError, match="`scheme` was 'jenks'"):
        maps.choropleth(m, g, "count", scheme="jenks")
    with pytest.raises(InputError, match="`palette` was 'Reds'"):
        maps.choropleth(m, g, "count", palette="Reds")
    with pytest.raises(InputError, match="must be numeric"):
        maps.choropleth(m, g, "name")
    with pytest.raises(InputError, match="has no CRS"):
        maps.choropleth(m, g.set_crs(None, allow_override=True), "count")
    with pytest.raises(InputError, match=r"codes \['hot_99'\] that are not in `categories`"):
        maps.categorical(m, g, "gi", [(c, c, "#ffffff") for c in maps.GI_COLOURS if c != "hot_99"])
    cats = maps.categorical(m, g, "gi", _gi_rows())
    assert cats["counts"]["hot_99"] == 2
    assert "Không có dữ liệu" in cats["legend_html"]
    assert re.findall(r'data-code="([^"]+)"', cats["legend_html"]) == list(_gi_table()["code"])


def test_points_cap_truncates_with_a_note_or_raises():
    g = small_wards()
    m = maps.base_map(g.total_bounds, static_url=static_url)
    df = pd.DataFrame({"lon": np.linspace(106.6, 106.7, 12), "lat": np.linspace(10.7, 10.76, 12)})
    out = maps.points(m, df, cap=10)
    assert (out["shown"], out["total"], out["truncated"]) == (10, 12, True)
    assert "Chỉ hiển thị 10 trong tổng số 12 điểm" in out["note_html"]
    assert json.dumps("Chỉ hiển thị 10 trong tổng số 12 điểm")[1:-1] in maps.parts(m)["script"]
    with pytest.raises(InputError, match="12 points is more than `cap`=10"):
        maps.points(m, df, cap=10, on_excess="raise")


# --------------------------------------------------------------------------- geometry

def test_display_geometry_of_the_hcmc_wards(wards):
    raw = gpd.read_file(SHARED_BOUNDARIES / "hcmc_wards_2025.geojson")
    assert len(wards) == 168
    assert list(wards.columns) == list(raw.columns) + ["count"]
    assert list(wards["code"]) == list(raw["code"])
    assert wards.crs == "EPSG:4326"
    assert wards.is_valid.all() and not wards.is_empty.any()
    assert len(wards.drop(columns="count").to_json().encode()) < 600_000
    assert shapely.coverage_is_valid(wards.geometry.values)   # shared borders stay shared
    xy = shapely.get_coordinates(wards.geometry.values)
    assert_allclose(xy, np.round(xy, 5), atol=1e-12)
    # the simplified wards still cover the same places
    assert_allclose(wards.to_crs(32648).area.sum(), raw.to_crs(32648).area.sum(), rtol=0.005)


def test_display_geometry_refuses_points_and_missing_crs():
    with pytest.raises(InputError, match="must hold polygons"):
        maps.display_geometry(gpd.GeoDataFrame(geometry=[Point(0, 0)], crs=4326))
    with pytest.raises(InputError, match="has no CRS"):
        maps.display_geometry(gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)]))


# --------------------------------------------------------------------------- in Chromium

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def serve(tmp_path):
    """Serve tmp_path (with static/ linked in) on 127.0.0.1; returns a function page -> URL."""
    (tmp_path / "static").symlink_to(STATIC, target_is_directory=True)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def put(name: str, text: str) -> str:
        (tmp_path / name).write_text(text, encoding="utf-8")
        return f"http://127.0.0.1:{server.server_port}/{name}"

    yield put
    server.shutdown()
    server.server_close()


@pytest.mark.browser
def test_ward_choropleth_in_chromium(page, serve, wards):
    g = wards.copy()
    target = 3
    g.loc[target, "name"] = XSS
    m = maps.base_map(g.total_bounds, static_url=static_url)
    out = maps.choropleth(m, g, "count", legend_title="Số vụ", name="Số vụ",
                          tooltip_fields=[("name", "Phường"), ("count", "Số vụ")])
    maps.outlines(m, g, lines=False, layer=out["layer"])
    maps.freeze_ids(m)
    p = maps.parts(m)
    page_html = ("<!DOCTYPE html><html lang='vi'><head><meta charset='utf-8'>"
                 "<link rel='icon' href='data:,'>"
                 + "".join(f"<link rel='stylesheet' href='{u}'>" for u in p["css"])
                 + "</head><body style='margin:0'><div style='width:1000px;height:700px'>"
                 + p["html"] + "</div>"
                 + "".join(f"<script src='{u}'></script>" for u in p["js"] + ["map.js"])
                 + "</body></html>")
    serve("map.js", p["script"])
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(serve("map.html", page_html))
    page.wait_for_selector(".hs-legend")
    assert page.locator(".leaflet-overlay-pane path.leaflet-interactive").count() == 168
    assert page.locator(".hs-legend li").count() == len(out["bins"]) + 1

    point = g.geometry.iloc[target].representative_point()
    name = m.get_name()
    xy = page.evaluate(
        "([name, lat, lon]) => { const map = window[name]; map.setView([lat, lon], 14, {animate: false});"
        " const p = map.latLngToContainerPoint([lat, lon]);"
        " const r = map.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; }",
        [name, point.y, point.x])
    page.mouse.move(xy[0] - 2, xy[1] - 2)
    page.mouse.move(xy[0], xy[1])
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for()
    assert XSS in tooltip.inner_text()
    assert page.locator(".leaflet-tooltip img").count() == 0
    assert page.locator(".hs-label span", has_text=XSS).count() == 1   # the label, as text
    page.wait_for_load_state("networkidle")  # a payload's image or frame has loaded or failed by now
    assert dialogs == []
    assert page.console_errors == [] and page.foreign_requests == []


@pytest.mark.browser
def test_plugins_work_offline_in_chromium(page, serve):
    g = small_wards()
    d = maps.dual_map(g.total_bounds, static_url=static_url)
    maps.categorical(d.m1, g, "gi", _gi_rows(), legend_title="Gi*")
    rng = np.random.default_rng(7)
    maps.points(d.m2, pd.DataFrame({"lon": rng.uniform(106.6, 106.68, 300),
                                    "lat": rng.uniform(10.7, 10.76, 300)}), cap=200)
    page.goto(serve("dual.html", maps.standalone_html(d)))
    page.wait_for_selector(".marker-cluster")
    assert page.locator(".hs-note").inner_text() == "Chỉ hiển thị 200 trong tổng số 300 điểm"
    names = [d.m1.get_name(), d.m2.get_name()]
    before = page.evaluate("(n) => n.map((k) => window[k].getZoom())", names)
    page.evaluate("(n) => window[n[0]].setZoom(window[n[0]].getZoom() + 1, {animate: false})", names)
    # the second map follows the first (Leaflet.Sync): wait for its zoom to change, then compare
    page.wait_for_function("([n, z]) => window[n[1]].getZoom() !== z", arg=[names, before[1]])
    zooms = page.evaluate("(n) => n.map((k) => window[k].getZoom())", names)
    assert zooms[0] == zooms[1] == before[0] + 1                   # Leaflet.Sync
    assert page.console_errors == [] and page.foreign_requests == []
