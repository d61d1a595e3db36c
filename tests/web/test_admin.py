"""Uploading files, the audit log and accounts, through the pages."""
from __future__ import annotations

import io
import re
import zipfile

import pytest
from sqlalchemy import text

from tests.conftest import DATA, signed_in, table_counts


def upload(client, content: bytes, name: str, source="web"):
    """Upload, then confirm the preview as it is."""
    res = client.post("/admin/import", data={"file": (io.BytesIO(content), name), "source": source},
                      content_type="multipart/form-data")
    token = re.search(r'name="token" value="([^"]+)"', res.get_data(as_text=True))
    if token is None:
        return res
    return client.post("/admin/import/confirm", data={"token": token.group(1), "action": "import"})


@pytest.fixture
def analyst(app):
    app.config["WTF_CSRF_ENABLED"] = False  # the form's CSRF token is tested in test_security
    return signed_in(app, "analyst")


def test_upload_imports_and_audits(analyst, engine):
    res = upload(analyst, (DATA / "incidents_bad.csv").read_bytes(), "incidents_bad.csv")
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and "Đã nhận 2, cập nhật 0, từ chối 15." in html
    assert "mã vụ bị trùng (lần đầu ở dòng 2)" in html
    with engine.connect() as conn:
        batch, by = conn.execute(text("SELECT id, imported_by FROM import_batch")).one()
        audit = conn.execute(text("SELECT action, target, username FROM audit_log WHERE action = 'import'")).one()
    assert by == "analyst" and audit == ("import", "incidents_bad.csv", "analyst")
    rejected = analyst.get(f"/admin/import/{batch}/rejected.csv")
    assert rejected.data.startswith("\ufeff".encode()) and rejected.data.decode("utf-8-sig").count("\n") == 16


def test_upload_of_an_excel_file_named_csv_is_read_by_its_content(analyst):
    res = upload(analyst, (DATA / "incidents.xlsx").read_bytes(), "export.csv")
    assert "Đã nhận 4, cập nhật 0, từ chối 1." in res.get_data(as_text=True)


@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "không phải bảng số liệu"),
    (b"", "tệp trống"),
])
def test_bad_uploads_change_nothing(analyst, engine, content, message):
    before = table_counts(engine)
    res = upload(analyst, content, "x.csv")
    assert res.status_code == 400 and message in res.get_data(as_text=True)
    assert table_counts(engine) == before


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_zip_path_traversal_and_bombs_are_refused(analyst, engine):
    before = table_counts(engine)
    res = upload(analyst, _zip({"../../etc/evil.shp": b"x"}), "b.zip")
    assert res.status_code == 400 and "đường dẫn không an toàn" in res.get_data(as_text=True)
    bomb = _zip({"a.shp": b"\0" * (50 * 1024 * 1024)})
    assert len(bomb) < 100_000
    res = upload(analyst, bomb, "bomb.zip")
    assert res.status_code == 400 and "sẽ bung ra 52.428.800 byte" in res.get_data(as_text=True)
    assert table_counts(engine) == before


def test_upload_size_limit(app, analyst):
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    res = upload(analyst, b"a," * 20_000, "big.csv")
    assert res.status_code == 413


def test_admin_creates_users_and_reads_the_audit_log(app, engine):
    app.config["WTF_CSRF_ENABLED"] = False
    admin = signed_in(app, "admin")
    res = admin.post("/admin/users", data={"username": "can-bo-1", "role": "committee", "full_name": "Cán bộ"})
    assert res.status_code == 200 and "can-bo-1" in res.get_data(as_text=True)
    assert "<td>Thành viên Ban chỉ đạo</td>" in res.get_data(as_text=True)  # the role as users read it
    assert "Quản trị viên" in admin.get("/account").get_data(as_text=True)
    log = admin.get("/admin/audit?action=user_create").get_data(as_text=True)
    assert "can-bo-1" in log
    assert signed_in(app, "analyst").get("/admin/audit").status_code == 403


def test_a_user_created_on_the_admin_page_is_audited_once(app, engine):
    app.config["WTF_CSRF_ENABLED"] = False
    admin = signed_in(app, "admin")
    res = admin.post("/admin/users", data={"username": "can-bo-2", "role": "viewer", "full_name": ""})
    assert res.status_code == 200
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT action, target, username, detail FROM audit_log "
                                 "WHERE target = 'can-bo-2' ORDER BY id")).all()
    assert [(r.action, r.target, r.username, r.detail) for r in rows] == \
        [("user_create", "can-bo-2", "admin", '{"role": "viewer"}')]


def test_deactivating_ends_the_account_and_is_audited_once(app, engine):
    app.config["WTF_CSRF_ENABLED"] = False
    admin = signed_in(app, "admin")
    viewer = signed_in(app, "viewer")
    assert viewer.get("/account").status_code == 200
    with engine.connect() as conn:
        uid = conn.execute(text("SELECT id FROM user_account WHERE username = 'viewer'")).scalar()
        own = conn.execute(text("SELECT id FROM user_account WHERE username = 'admin'")).scalar()
    assert admin.post("/admin/users", data={"deactivate": str(own)}).status_code == 400  # never one's own
    assert admin.post("/admin/users", data={"deactivate": str(uid)}).status_code == 200
    assert admin.post("/admin/users", data={"deactivate": str(uid)}).status_code == 400  # no longer active
    assert viewer.get("/account").status_code == 302  # its session has ended
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT target, username FROM audit_log WHERE action = 'user_deactivate'")).all()
    assert [tuple(r) for r in rows] == [(str(uid), "admin")]
