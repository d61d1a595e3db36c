"""The committee's pages and the audit log in the committee's words: a crawl in Vietnamese that fails
on each word known to be wrong in its place, on codes shown raw, on statistics outside the "?"
and on percentages written with a space."""
from __future__ import annotations

import html as htmllib
import re

import pytest

from geo.committee import areas, assessments, candidates, plans
from geo.committee import programmes as pg
from geo.store.models import make_engine
from tests.conftest import signed_in

BEN_THANH = "26743"
DECISION = dict(target_pct=10, responsible_unit="Công an phường", decided_by="BCĐ 138 Thành phố",
                decided_on="2024-01-15", recorded_by="committee")
#: (pattern, why it is wrong) over the visible text of every page.
WRONG = [
    (r"Đối tượng", "a decision's target is a “Chỉ tiêu” (police read “Đối tượng” as a suspect)"),
    (r"Mô tả", "a plan's title is its “Tên kế hoạch”"),
    (r"Người nhập", "no control here names the person who imported"),
    (r"mật độ thiệt hại", "the committees say “số vụ quy đổi theo mức độ nghiêm trọng”"),
    (r"\b(?:dat|khong_dat|committee_report|committee_assess|committee_plan|committee_select|not_met|"
     r"in_progress|planned|selected|withdrawn|repeat_failure)\b", "a code shown raw"),
    (r"\d %", "a percentage written with a space"),
    (r"`\w+`", "a field named by its code"),
    (r"Gi\*|\bp = |\bz = |DBSCAN", "a statistic outside the “?”"),
]


class _Text:
    """The visible text of a page: no scripts, styles or attributes, and not the "?" explanations."""

    def __call__(self, page: str) -> str:
        page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
        page = re.sub(r'<details class="why">.*?</details>', " ", page, flags=re.S)
        return htmllib.unescape(re.sub(r"<[^>]+>", " ", page))


visible = _Text()


@pytest.fixture
def committee_store(demo_app):
    demo_app.config["WTF_CSRF_ENABLED"] = False
    eng = make_engine(demo_app.config["DATABASE_URL"])
    p24 = plans.get_plan(eng, plans.create_plan(eng, year=2024, level="city", boundary="hcmc-2025",
                                                created_by="committee", title="Kế hoạch chuyển hóa 2024"))
    ward = candidates.candidates(eng, p24, top=3).wards["code"].iloc[0]
    [a24] = areas.select_areas(eng, p24.id, [f"ward:{ward}"], **DECISION)
    assessments.record_assessment(eng, a24, year=2024, result="khong_dat", recorded_by="committee")
    assessments.record_assessment(eng, a24, year=2025, result="dat", recorded_by="committee")
    p23 = plans.get_plan(eng, plans.create_plan(eng, year=2023, level="city", boundary="hcmc-2025",
                                                created_by="committee"))
    [a23] = areas.select_areas(eng, p23.id, [f"ward:{BEN_THANH}"], **{**DECISION, "reason": "Chợ Bến Thành"})
    gv = plans.get_plan(eng, plans.create_plan(eng, year=2024, level="district", boundary="hcmc-2019",
                                               unit_code="764", created_by="committee"))
    for code, status in [("26890", "met"), ("26893", "not_met"), ("26896", "in_progress")]:
        pg.record_programme_status(eng, boundary="hcmc-2019", unit_code=code, programme="Xã, phường không ma túy",
                                   phase="Giai đoạn 2", status=status, valid_from="2023-12-15",
                                   valid_to="2024-05-14", recorded_by="committee")
    eng.dispose()
    return demo_app, dict(plans=[p24.id, p23.id, gv.id], areas=[a24, a23])


def test_committee_pages_and_audit_log_speak_plainly(committee_store):
    app, ids = committee_store
    client = signed_in(app, "admin")
    # a form error names the field by its label
    resp = client.post(f"/committee/plans/{ids['plans'][0]}/select", follow_redirects=True, data={
        "target_pct": "10", "responsible_unit": "Công an phường", "decided_by": "BCĐ", "decided_on": "2024-01-15",
        "polygon_name": "Khu chợ", "polygon": '{"type": "Polygon", "coordinates": [[[106.69, 10.76], '
                                              '[106.70, 10.76], [106.70, 10.77], [106.69, 10.76]]]}'})
    assert "Cần nhập Lý do cho vùng vẽ trên bản đồ." in resp.get_data(as_text=True)
    client.get("/committee/programmes.csv")   # a download in the audit log
    urls = ["/committee/", "/committee/flags", "/committee/programmes", "/admin/audit",
            *[f"/committee/plans/{i}" for i in ids["plans"]], *[f"/committee/areas/{i}" for i in ids["areas"]]]
    pages = {}
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200, url
        pages[url] = visible(r.get_data(as_text=True))
    for url, text in pages.items():
        for pattern, why in WRONG:
            found = re.search(pattern, text)
            assert found is None, f"{url}: {found.group(0)!r} — {why}"
    area = pages[f"/committee/areas/{ids['areas'][0]}"]
    assert re.search(r"Diện tích\s+[\d.,]+ km²", area) and "Chỉ tiêu" in area
    assert re.search(r"Chỉ tiêu kéo giảm\s.*\b10%", pages[f"/committee/plans/{ids['plans'][0]}"], re.S)
    assert "Tên kế hoạch" in pages["/committee/"]
    assert "Chuyển hóa không đạt" in area and "Chuyển hóa đạt" in area
    assert "Đạt tiêu chí không ma túy: 1/" in pages["/committee/programmes"]
    audit = pages["/admin/audit"]
    assert "Tải tình trạng chương trình" in audit and "Tải về dạng CSV" in audit and "Thời điểm (giờ " in audit
