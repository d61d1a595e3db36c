"""Pages in a real Chromium."""
from __future__ import annotations

import pytest

from geo.importer import import_file
from tests.browser import screenshot, sign_in
from tests.conftest import DATA
from tests.geo.test_import import NOW

pytestmark = pytest.mark.browser


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
    # the choice is remembered
    page.goto(live_server + "/")
    assert page.locator("h1").inner_text() == "Crime hot-spot maps"
    assert page.console_errors == [] and page.foreign_requests == []
