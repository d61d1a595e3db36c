"""A committee member's year in Chromium: a plan, three selected areas, two years of assessments,
the repeat failure and the relapse flagged on the list and the map, the report downloaded."""
from __future__ import annotations

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from geo.committee.report import XLSX_TABLE_ROW
from geo.store.models import make_engine
from tests.browser import screenshot, sign_in

pytestmark = pytest.mark.browser
BEN_THANH, BAN_CO = "26743", "27154"


@pytest.fixture
def app(demo_app):
    """The live server serves the demo store (60,000 synthetic incidents, 2023–2025)."""
    return demo_app


def _assess(page, base_url, plan_url, name, year, result):
    page.goto(plan_url)
    page.locator("#selected-areas a", has_text=name).click()
    form = page.locator(f"#year-{year} form.assess")
    assert form.locator("input[name=result]:checked").count() == 0   # the committee decides, nothing preselected
    form.locator(f"input[name=result][value={result}]").check()
    form.locator("button[type=submit]").click()
    page.wait_for_selector(f"#year-{year} h3 .result-{result}")


@pytest.mark.slow
def test_plan_assessments_flags_and_report(page, live_server, demo_app, tmp_path):
    sign_in(page, live_server, "committee")
    page.goto(live_server + "/")
    page.locator("nav.main a", has_text="Ban chỉ đạo").click()
    page.fill("#new-plan input[name=year]", "2024")
    page.select_option("#new-plan select[name=level]", "city")
    page.select_option("#new-plan select[name=boundary]", "hcmc-2025")
    page.click("#new-plan button[type=submit]")
    assert page.locator("h1").inner_text().startswith("Kế hoạch chuyển hóa năm 2024")
    plan_url = page.url
    assert "Năm 2023 (01/01/2023 – 31/12/2023)" in page.locator("#plan-facts").inner_text()

    # three areas: two wards from the ranked list and a DBSCAN spot away from the centre
    page.check(f'#candidate-wards input[value="ward:{BAN_CO}"]')
    page.check(f'#candidate-wards input[value="ward:{BEN_THANH}"]')
    spot = page.locator("#candidate-spots input[name=choice]").nth(1)
    spot_name = spot.get_attribute("aria-label")
    spot.check()
    page.fill("#select-form input[name=target_pct]", "15")
    page.fill("#select-form input[name=responsible_unit]", "Công an Thành phố")
    page.click("#select-form button[type=submit]")
    assert "Đã chọn 3 địa bàn." in page.locator("p.note").inner_text()
    rows = page.locator("#selected-areas tbody tr")
    assert rows.count() == 3
    assert {rows.nth(i).locator("td").first.inner_text() for i in range(3)} == {
        "Phường Bàn Cờ", "Phường Bến Thành", spot_name}
    # "now in": the 2025 wards each area lies in, with the share of its area
    assert "Phường Bến Thành (100,00%)" in rows.filter(has_text="Phường Bến Thành").inner_text()

    # Bàn Cờ fails two years running; Bến Thành is transformed in 2024 and hot again in 2025
    _assess(page, live_server, plan_url, "Phường Bàn Cờ", 2024, "khong_dat")
    proposal = page.locator("#year-2024 dl.proposal").inner_text()
    assert "Vẫn là điểm nóng" in proposal and "Chuyển hóa không đạt" in proposal and "p = " not in proposal.split("?")[0]
    _assess(page, live_server, plan_url, "Phường Bàn Cờ", 2025, "khong_dat")
    screenshot(page, "committee_area")
    _assess(page, live_server, plan_url, "Phường Bến Thành", 2024, "dat")
    page.goto(plan_url)
    screenshot(page, "committee_plan")
    ben_thanh = page.locator("#selected-areas tbody tr", has_text="Phường Bến Thành")
    assert "Chuyển hóa đạt" in ben_thanh.inner_text()

    page.locator("nav.committee a", has_text="Cảnh báo").click()
    repeat = page.locator("#repeat-failures tbody").inner_text()
    assert "Phường Bàn Cờ" in repeat and "2024, 2025" in repeat
    relapse = page.locator("#relapses tbody tr")
    assert relapse.count() == 1
    assert "Phường Bến Thành" in relapse.inner_text() and "Năm 2025" in relapse.inner_text()
    assert "Vẫn là điểm nóng" in relapse.inner_text()
    page.wait_for_selector(".leaflet-overlay-pane path.leaflet-interactive")
    assert page.locator(".leaflet-overlay-pane path.leaflet-interactive").count() == 3
    assert "Không đạt nhiều năm liền" in page.locator(".leaflet-control-container").inner_text()
    screenshot(page, "committee_flags")

    # the report of Quý I/2024 (statistical cut) against cùng kỳ, downloaded as XLSX
    page.goto(live_server + "/committee/report?boundary=hcmc-2025&period=2024-Q1&cut=stat")
    assert "Quý I/2024 (15/12/2023 – 14/03/2024)" in page.locator("#report-header").inner_text()
    with page.expect_download() as info:
        page.click("#download-xlsx")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    ws = load_workbook(path)["Theo đơn vị"]
    head = [c.value for c in ws[XLSX_TABLE_ROW]]
    rows = [dict(zip(head, r)) for r in ws.iter_rows(min_row=XLSX_TABLE_ROW + 1, values_only=True)]
    got = {r["Mã"]: r for r in rows if r["Mã"]}
    eng = make_engine(demo_app.config["DATABASE_URL"])
    with eng.connect() as conn:
        counts = dict(conn.execute(text(
            "SELECT a.code, COUNT(*) FROM incident i JOIN incident_area ia ON ia.incident_id = i.id "
            "JOIN area a ON a.id = ia.area_id JOIN boundary_version v ON v.id = a.version_id "
            "WHERE v.name = 'hcmc-2025' AND i.local_date BETWEEN :s AND :e GROUP BY a.code"),
            {"s": "2023-12-15", "e": "2024-03-14"}).all())
        before = conn.execute(text(
            "SELECT COUNT(*) FROM incident i JOIN incident_area ia ON ia.incident_id = i.id "
            "JOIN area a ON a.id = ia.area_id JOIN boundary_version v ON v.id = a.version_id "
            "WHERE v.name = 'hcmc-2025' AND a.code = :c AND i.local_date BETWEEN :s AND :e"),
            {"c": BEN_THANH, "s": "2022-12-15", "e": "2023-03-14"}).scalar()
        audited = conn.execute(text("SELECT action, COUNT(*) FROM audit_log WHERE username = 'committee' "
                                    "AND action LIKE 'committee%' GROUP BY action")).all()
    eng.dispose()
    assert (got[BEN_THANH]["Vụ việc"], got[BEN_THANH]["Cùng kỳ"]) == (counts[BEN_THANH], before)
    assert next(r for r in rows if "Toàn địa bàn" in r.values())["Vụ việc"] == sum(counts.values())
    assert dict(audited) == {"committee_plan": 1, "committee_select": 3, "committee_assess": 3,
                             "committee_report": 1}
    assert page.console_errors == [] and page.foreign_requests == []
