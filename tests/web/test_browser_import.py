"""Importing a police export in Chromium: upload, the preview, one column mapped otherwise, confirm."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.browser import screenshot, sign_in
from tests.conftest import DATA

pytestmark = pytest.mark.browser


def test_upload_preview_change_a_column_and_import(page, live_server, engine):
    sign_in(page, live_server, "analyst")
    page.goto(live_server + "/admin/import")
    page.set_input_files("form.upload input[name=file]", str(DATA / "police_rejects_cp1258.csv"))
    page.fill("form.upload input[name=source]", "cong-an-q3")
    page.click("form.upload button[type=submit]")
    page.wait_for_selector("#preview-rows")
    assert page.locator("h1").inner_text() == "Kiểm tra tệp trước khi nhập"
    first = page.locator("#preview-rows tbody tr").first.inner_text()
    assert first.split("\t")[:2] == ["2", "02/11/2024 08:00"]
    assert "thiếu loại tội phạm" in page.locator("#preview-problems").inner_text()
    # "Địa chỉ" was read as the address; the user reads it as the description instead
    select = page.get_by_label("Địa chỉ", exact=True)
    assert select.input_value() == "address"
    select.select_option("description")
    screenshot(page, "import_preview")
    page.click("#confirm-import")
    page.wait_for_selector("#import-result")
    assert "Đã nhận 3, cập nhật 0, từ chối 2." in page.locator("#import-result").inner_text()
    screenshot(page, "import_result")
    with engine.connect() as conn:
        got = conn.execute(text("SELECT address, description FROM incident WHERE source = 'cong-an-q3' "
                                "AND external_id = 'G01'")).one()
    assert tuple(got) == (None, "12 Lê Lợi")
    assert page.console_errors == [] and page.foreign_requests == []
