"""The audit log reads as a register: actions in words, local times in the committee's zone, the
detail as a short sentence (the JSON only in the cell's data), the columns named as they are."""
from __future__ import annotations

import datetime as dt
import html as htmllib
import json
import re
from zoneinfo import ZoneInfo

from sqlalchemy import select

from geo.store import accounts
from geo.store.models import AuditLog
from tests.conftest import signed_in


def _cells(row: str) -> list[str]:
    return [htmllib.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_audit_page_reads_in_words_and_local_time(app, engine):
    by = accounts.Actor(username="admin", user_id=None, ip="203.0.113.7")
    with engine.begin() as conn:
        accounts.record(conn, "committee_report", "bao-cao_hcmc-2025_ward", {"format": "pdf"}, by=by)
        accounts.record(conn, "import", "cong-an-q1.csv", {"source": "Công an Quận 1", "batch": 3,
                                                           "accepted": 1234, "updated": 5, "rejected": 2}, by=by)
        accounts.record(conn, "committee_assess", "area 4", {"assessment": 9, "year": 2024, "result": "khong_dat"},
                        by=by)
        accounts.record(conn, "user_create", "to.truong", {"role": "committee"}, by=by)
    with engine.connect() as conn:
        stored = {r.action: r for r in conn.execute(select(AuditLog).order_by(AuditLog.id)).all()}  # the newest
    page = signed_in(app, "admin").get("/admin/audit").get_data(as_text=True)
    table = page.split('id="audit"')[1].split("</table>")[0]
    headers = [htmllib.unescape(h) for h in re.findall(r"<th(?:\s[^>]*)?>(.*?)</th>", table)]
    assert headers == ["Thời điểm (giờ Asia/Ho_Chi_Minh)", "Người thực hiện", "Thao tác", "Nội dung", "Chi tiết",
                       "Địa chỉ IP"]
    rows = {}
    for r in table.split("<tr>")[2:]:   # newest first: keep the first row of each action
        rows.setdefault(re.search(r'data-action="(\w+)"', r).group(1), (r, _cells(r)))
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    for action, want_action, want_detail in [
            ("committee_report", "Tải báo cáo", "Tải về dạng PDF"),
            ("import", "Nhập tệp", "Nhập tệp cong-an-q1.csv của Công an Quận 1: nhận 1.234 dòng, cập nhật 5, "
                                   "từ chối 2"),
            ("committee_assess", "Đánh giá địa bàn", "Năm 2024: Chuyển hóa không đạt"),
            ("user_create", None, "Vai trò: Thành viên Ban chỉ đạo")]:
        raw, cells = rows[action]
        at = stored[action].at
        local = (at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)).astimezone(zone)
        assert cells[0] == local.strftime("%d/%m/%Y %H:%M"), (action, cells[0])
        assert cells[1] == "admin" and cells[5] == "203.0.113.7"
        if want_action:
            assert cells[2] == want_action
        assert cells[2] != action and cells[4] == want_detail, (action, cells)
        # the JSON stays with the row, as the cell's data, never as its text
        title = htmllib.unescape(re.search(r'class="detail" data-detail="([^"]*)"', raw).group(1))
        assert json.loads(title) == json.loads(stored[action].detail) and "{" not in cells[4]
    # no code shows as text
    text = re.sub(r"<[^>]+>", " ", table)
    for code in ("committee_report", "committee_assess", "khong_dat", "user_create", "When (UTC)"):
        assert code not in text
