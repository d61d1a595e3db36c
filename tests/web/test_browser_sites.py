"""The camera and patrol sites page in a real Chromium: five cameras for a ward, the coverage curve,
and the sites downloaded as GeoJSON."""
from __future__ import annotations

import json

import pytest

from tests.browser import screenshot, sign_in

pytestmark = pytest.mark.browser
Q = "boundary=hcmc-2025&period=2025&unit=26743"  # Phường Bến Thành


def test_five_cameras_for_a_ward_with_their_curve_and_geojson(page, demo_server):
    sign_in(page, demo_server, "analyst")
    page.goto(f"{demo_server}/map/sites?{Q}&k=3")
    page.wait_for_selector("#curve-table")
    page.select_option("select[name=purpose]", "camera")
    page.fill("input[name=k]", "5")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**k=5**")
    page.wait_for_selector(".leaflet-overlay-pane path.leaflet-interactive")  # the sites' circles
    curve = page.locator("#curve-table tbody tr")
    assert curve.count() == 5
    assert curve.nth(1).locator("td").last.locator("meter").count() == 1
    assert "Vị trí thứ 2 phủ thêm" in curve.nth(1).inner_text()
    assert page.locator("#result-table tbody tr").count() == 5
    assert "Camera số 1" in page.locator("#result-table").inner_text()
    assert page.locator("#sites-cover").inner_text().startswith("5 camera")
    screenshot(page, "sites")
    with page.expect_download() as info:
        page.locator('#downloads a[data-layer="sites"]').click()
    features = json.loads(open(info.value.path(), encoding="utf-8").read())["features"]
    assert len(features) == 5 and {f["geometry"]["type"] for f in features} == {"Point"}
    assert page.console_errors == [] and page.foreign_requests == []
