"""In Chromium, a committee of the former Gò Vấp district limits the overview map to its own area,
and finds a ward by typing its name without diacritics."""
from __future__ import annotations

import pytest

from tests.browser import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]
GO_VAP_2025 = ["26876", "26878", "26882", "26884", "26890", "26898"]  # tests/geo/test_scope.py


@pytest.fixture
def app(demo_app):
    return demo_app


def test_choose_a_former_district_and_find_a_ward(page, live_server):
    sign_in(page, live_server, "viewer")
    page.goto(live_server + "/map/overview?boundary=hcmc-2025&period=2025")
    assert page.locator("#scope-units label:visible").count() == 168
    page.select_option("#scope-former", label="Quận Gò Vấp (trước 07/2025)")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#scope-label")
    assert page.locator("#scope-label").inner_text() == "Địa bàn quận Gò Vấp cũ (6 phường)"
    assert "former=hcmc-2019%3A764" in page.url or "former=hcmc-2019:764" in page.url
    codes = sorted(page.locator("table.data tbody tr td:first-child").all_inner_texts())
    assert codes == GO_VAP_2025
    # the map draws those wards only: its GeoJSON layer, as Leaflet holds it
    page.wait_for_function("document.querySelectorAll('#map-frame path.leaflet-interactive').length > 0")
    drawn = page.evaluate("""() => { const out = new Set();
        for (const k in window) { const m = window[k];
          if (m && m._layers && m.eachLayer && k.startsWith('map_')) {
            m.eachLayer(l => { if (l.feature && l.feature.properties && l.feature.properties.code) out.add(l.feature.properties.code); });
          } }
        return [...out].sort(); }""")
    assert drawn == GO_VAP_2025
    screenshot(page, "scope_go_vap")
    # the search box: no diacritics needed
    page.fill("#scope-search", "ben thanh")
    visible = page.locator("#scope-units label:visible").all_inner_texts()
    assert [t.strip() for t in visible] == ["Phường Bến Thành"]
    assert page.console_errors == [] and page.foreign_requests == []
