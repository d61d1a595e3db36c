"""The repeat-places page in a real Chromium: a committee member adds the first place to a plan."""
from __future__ import annotations

import pytest

from geo.committee import plans
from geo.store.models import make_engine
from tests.browser import screenshot, sign_in

pytestmark = pytest.mark.browser
Q = "boundary=hcmc-2025&period=2025"


def test_the_first_place_goes_into_a_plan(page, demo_app, demo_server):
    eng = make_engine(demo_app.config["DATABASE_URL"])
    plan_id = plans.create_plan(eng, year=2026, level="city", boundary="hcmc-2025", created_by="committee")
    eng.dispose()
    sign_in(page, demo_server, "committee")
    page.goto(f"{demo_server}/map/places?{Q}")
    page.wait_for_selector(".leaflet-overlay-pane path.leaflet-interactive")  # the places' circles
    first = page.locator("#result-table tbody tr").first
    label = first.locator("td").nth(1).inner_text()
    count = first.locator("td").nth(4).inner_text()
    assert int(count.replace(".", "")) >= 5  # a committee member sees the published places only
    page.fill("#adopt-form input[name=note]", "Khảo sát tháng 1")
    first.get_by_role("button", name="Đưa vào kế hoạch").click()
    page.wait_for_url(f"**/committee/plans/{plan_id}#plan-places")
    row = page.locator("#plan-places-table tbody tr").first
    cells = row.locator("td").all_inner_texts()
    assert cells[1] in ("Cùng địa chỉ", "Các điểm trong phạm vi 50 m")  # the kind of place
    assert cells[0] == label and cells[3] == count and cells[7] == "Khảo sát tháng 1"
    assert "Đã đưa điểm vào kế hoạch." in page.locator("main").inner_text()
    screenshot(page, "plan_places")
    row.get_by_role("link").click()  # back to the map, on the place's ward
    page.wait_for_selector(".leaflet-overlay-pane path.leaflet-interactive")
    assert page.locator("#scope-label").is_visible()
    assert page.console_errors == [] and page.foreign_requests == []
