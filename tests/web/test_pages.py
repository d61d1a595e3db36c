"""The pages in a real Chromium, offline: every request stays on 127.0.0.1."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest

from geo.ingest.importer import import_file
from tests.browser import screenshot, sign_in
from tests.conftest import DATA, NOW

pytestmark = pytest.mark.browser
Q = "boundary=hcmc-2025&period=2025"


def ward_paths(page) -> int:
    return page.locator(".leaflet-overlay-pane path.leaflet-interactive").count()


def test_home_page_in_chromium(page, live_server, engine):
    import_file(engine, DATA / "incidents_good.csv", source="s", now=NOW)
    sign_in(page, live_server, "viewer")
    page.goto(live_server + "/")
    assert page.locator("h1").inner_text() == "Bản đồ điểm nóng tội phạm"
    assert page.locator("#incident-summary").inner_text() == "7 vụ việc từ 15/03/2024 đến 05/08/2025."
    assert page.locator("#versions tbody tr").count() == 3
    screenshot(page, "home_vi")
    page.get_by_role("link", name="English").click()
    assert page.locator("h1").inner_text() == "Crime hot-spot maps"
    page.goto(live_server + "/")  # the choice is remembered
    assert page.locator("h1").inner_text() == "Crime hot-spot maps"
    assert page.console_errors == [] and page.foreign_requests == []


@pytest.mark.parametrize("name, paths", [("overview", 168), ("hotspots", None), ("compare", 3 * 168),
                                         ("trends", 168), ("complex", 168), ("forecast", None)])
def test_each_map_page_draws_offline(page, demo_server, name, paths):
    sign_in(page, demo_server, "viewer")
    page.goto(f"{demo_server}/map/{name}?{Q}")
    if name == "forecast":  # computed in the background: the page says so and reloads until it is done
        assert "Đang tính toán" in page.locator("body").inner_text()
    # generous: the forecast's background job takes tens of seconds on a busy machine
    page.wait_for_selector(".leaflet-overlay-pane path.leaflet-interactive", timeout=240_000)
    n = ward_paths(page)
    assert n == paths if paths else n >= 168  # hot spots adds contours and DBSCAN spots to the wards
    assert page.locator("#period-label").inner_text() == "Năm 2025 (01/01/2025 – 31/12/2025)"
    screenshot(page, f"map_{name}")
    assert page.console_errors == [] and page.foreign_requests == []


@pytest.mark.reads_demo
def test_ward_panel_shows_the_stores_figures(page, demo_server, demo_client):
    count = {f["properties"]["code"]: f["properties"]["count"]
             for f in demo_client.get("/api/v1/areas?boundary=hcmc-2025&start=2025-01-01&end=2025-12-31")
             .get_json()["features"]}["26833"]
    sign_in(page, demo_server, "viewer")
    page.goto(f"{demo_server}/map/overview?{Q}")
    page.wait_for_selector(".leaflet-overlay-pane path.leaflet-interactive")
    page.evaluate("""() => {  // a click on Phường Long Bình
        for (const name of Object.keys(window)) {
            if (!name.startsWith("geo_json_") || !window[name].eachLayer) continue;
            window[name].eachLayer(l => { if (l.feature && l.feature.properties.code === "26833")
                l.fire("click", {latlng: l.getBounds().getCenter()}, true); });
        }
    }""")
    panel = page.locator("#ward-panel")
    panel.locator("h2").wait_for()
    assert panel.locator("h2").inner_text() == "Phường Long Bình"
    assert panel.locator("dd").first.inner_text() == f"{count:,}".replace(",", ".")
    assert "tăng" in panel.inner_text().lower()
    panel.locator("canvas").first.wait_for()  # the monthly chart (uPlot)
    screenshot(page, "ward_panel")
    assert page.console_errors == []


@pytest.mark.reads_demo
def test_compare_table_p_values_equal_the_api(page, demo_server, demo_client):
    api = {f["properties"]["code"]: f["properties"] for f in demo_client.get(
        "/api/v1/compare?boundary=hcmc-2025&start=2025-01-01&end=2025-12-31").get_json()["features"]}
    sign_in(page, demo_server, "viewer")
    page.goto(f"{demo_server}/map/compare?{Q}")
    rows = page.locator("#result-table tbody tr")
    assert rows.count() == 168
    for i in range(10):
        cells = rows.nth(i).locator("td").all_inner_texts()
        code, p = cells[0], float(cells[6].replace(".", "").replace(",", "."))
        assert p == pytest.approx(api[code]["p_value"], abs=5e-5)
    assert "Kỳ so sánh: Năm 2024" in page.locator("#base-label").inner_text()


@pytest.mark.reads_demo
def test_language_switch_changes_the_labels(page, demo_server):
    sign_in(page, demo_server, "viewer")
    page.goto(f"{demo_server}/map/overview?{Q}")
    assert page.locator("button[type=submit]").last.inner_text() == "Xem"
    page.get_by_role("link", name="English").click()
    page.wait_for_selector(".leaflet-overlay-pane path.leaflet-interactive")
    assert page.locator("form.filters button[type=submit]").inner_text() == "Show"
    assert page.locator("#period-label").inner_text() == "Year 2025 (01/01/2025 – 31/12/2025)"
    assert page.url.endswith("lang=en")


@pytest.mark.reads_demo
@pytest.mark.parametrize("fmt", ["geojson", "csv", "png", "pdf"])
def test_exports_download_files_that_parse(page, demo_server, fmt, tmp_path):
    sign_in(page, demo_server, "viewer")
    page.goto(f"{demo_server}/map/overview?{Q}")
    with page.expect_download() as dl:
        page.locator(f"a[href*='/export/overview.{fmt}']").click()
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    data = path.read_bytes()
    if fmt == "geojson":
        fc = json.loads(data)
        assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 168
    elif fmt == "csv":
        assert data.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert len(rows) == 169 and rows[0][1] == "Phường/xã"  # header + every ward, not the page's first rows
    elif fmt == "png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        import struct

        w, h = struct.unpack(">II", data[16:24])
        assert (w, h) == (1200, 1200)
    else:
        assert data.startswith(b"%PDF") and data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") + \
            data.count(b"/Type/Page") >= 1
        import subprocess

        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
        assert int(re.search(r"^Pages:\s+(\d+)$", info, re.M).group(1)) > 1 and "(A4)" in info
        text = " ".join(subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout.split())
        assert "Phường Bến Thành" in text and "Phường Long Bình" in text   # the table runs on: every ward
