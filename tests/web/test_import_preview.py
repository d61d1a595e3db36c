"""The import page's preview: the upload is kept and shown as it would be imported, nothing is written
before the user confirms, the column mapping can be corrected, the rejected rows download as the file."""
from __future__ import annotations

import io
import json
import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from tests.conftest import DATA, signed_in, table_counts


@pytest.fixture
def analyst(app):
    app.config["WTF_CSRF_ENABLED"] = False  # the form's CSRF token is tested in test_security
    return signed_in(app, "analyst")


def upload(client, path: Path, name=None, source="cong-an-q1", crs=""):
    return client.post("/admin/import", data={"file": (io.BytesIO(path.read_bytes()), name or path.name),
                                              "source": source, "crs": crs}, content_type="multipart/form-data")


def form_of(html: str) -> dict:
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    headers = json.loads(re.search(r'name="headers" value="([^"]+)"', html).group(1).replace("&#34;", '"'))
    chosen = {}
    for i, _h in enumerate(headers):
        sel = re.search(rf'<select name="map_{i}"[^>]*>(.*?)</select>', html, re.S).group(1)
        m = re.search(r'<option value="([^"]*)" selected>', sel)
        chosen[f"map_{i}"] = m.group(1) if m else ""
    return {"token": token, "headers": json.dumps(headers), **chosen}


def kept(app, form) -> list[Path]:
    """The files kept for the upload of ``form``'s token."""
    return list((Path(app.instance_path) / "import_uploads").glob(form["token"] + ".*"))


def test_upload_shows_the_preview_and_writes_nothing(analyst, app, engine):
    before = table_counts(engine)
    res = upload(analyst, DATA / "police_text_time.xlsx")
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and "Kiểm tra tệp trước khi nhập" in html
    assert table_counts(engine) == before  # nothing written before the confirmation
    # the mapping: each header with its field, the CRS its qualifier names
    assert re.search(r"<td>Kinh độ \(WGS84\)</td>\s*<td><select[^>]*>.*?<option value=\"lon\" selected>Kinh độ",
                     html, re.S)
    assert "<td>EPSG:4326</td>" in html
    # the first rows as parsed, local time dd/mm/yyyy HH:MM, with the ward of the 2025 layer
    rows = re.findall(r"<tr><td>(\d+)</td><td>([\d/]+ [\d:]+)</td>", html)
    assert rows[:3] == [("2", "01/03/2024 16:31"), ("3", "02/03/2024 14:30"), ("4", "03/03/2024 14:30")]
    assert "Phường Thủ Dầu Một" in html
    # the problems: a row with three problems counts in three reasons; nothing in English
    assert "không phải giờ trong ngày" in html and "thiếu loại tội phạm" in html and "không phải số" in html
    assert "ngày trước năm 1900" in html and "Đã kiểm tra cả 10 dòng: 7 dòng nhập được, 3 dòng có lỗi." in html
    assert "Nhập 7 dòng" in html
    form = form_of(html)
    assert sorted(p.suffix for p in kept(app, form)) == [".json", ".xlsx"]  # the file and its description
    # confirmed: imported, the kept file deleted
    res = analyst.post("/admin/import/confirm", data={**form, "action": "import"})
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and "Đã nhận 7, cập nhật 0, từ chối 3." in html
    assert kept(app, form) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM incident WHERE source = 'cong-an-q1'")).scalar() == 7
        batch = conn.execute(text("SELECT max(id) FROM import_batch")).scalar()
    # the rejected rows download as a workbook with the file's columns
    res = analyst.get(f"/admin/import/{batch}/rejected.csv")
    assert res.headers["Content-Disposition"].endswith(f'rejected_{batch}.xlsx"')
    ws = load_workbook(io.BytesIO(res.data)).active
    assert [c.value for c in ws[1]][-2:] == ["Dòng trong tệp gốc", "Lý do bị từ chối"]
    assert [ws.cell(i, 1).value for i in (2, 3, 4)] == ["A08", "A09", "A10"]


def test_a_changed_mapping_is_previewed_and_imported(analyst, engine):
    html = upload(analyst, DATA / "police_rejects_cp1258.csv").get_data(as_text=True)
    form = form_of(html)
    headers = json.loads(form["headers"])
    i = headers.index("Địa chỉ")
    assert form[f"map_{i}"] == "address"
    form[f"map_{i}"] = "description"  # the user reads the column as the description
    res = analyst.post("/admin/import/confirm", data={**form, "action": "preview"})
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and re.search(rf'<select name="map_{i}"[^>]*>.*?<option value="description" selected>',
                                                html, re.S)
    res = analyst.post("/admin/import/confirm", data={**form_of(html), "action": "import"})
    assert "Đã nhận 3, cập nhật 0, từ chối 2." in res.get_data(as_text=True)
    with engine.connect() as conn:
        got = conn.execute(text("SELECT address, description FROM incident WHERE external_id = 'G01'")).one()
    assert tuple(got) == (None, "12 Lê Lợi")
    # the rejected rows download in the file's encoding and delimiter
    with engine.connect() as conn:
        batch = conn.execute(text("SELECT max(id) FROM import_batch")).scalar()
    data = analyst.get(f"/admin/import/{batch}/rejected.csv").data
    assert data.decode("cp1258").splitlines()[1].startswith("G03;04/11/2024;7g99;;")


def test_two_columns_for_one_field_are_refused_on_the_preview(analyst, engine):
    html = upload(analyst, DATA / "police_rejects_cp1258.csv").get_data(as_text=True)
    form = form_of(html)
    headers = json.loads(form["headers"])
    form[f"map_{headers.index('Địa chỉ')}"] = "category"
    before = table_counts(engine)
    res = analyst.post("/admin/import/confirm", data={**form, "action": "import"})
    assert res.status_code == 400 and "đều được chọn là" in res.get_data(as_text=True)
    assert table_counts(engine) == before


def test_back_and_a_foreign_or_stale_token_keep_nothing(analyst, app, engine):
    html = upload(analyst, DATA / "police_swapped.csv").get_data(as_text=True)
    form = form_of(html)
    other = signed_in(app, "admin")  # another session cannot use the token
    res = other.post("/admin/import/confirm", data={**form, "action": "import"})
    assert res.status_code in (400, 403)
    assert len(kept(app, form)) == 2
    res = analyst.post("/admin/import/confirm", data={**form, "action": "back"})
    assert res.status_code == 302 and kept(app, form) == []
    res = analyst.post("/admin/import/confirm", data={**form, "action": "import"})
    assert res.status_code == 400 and "không còn được giữ" in res.get_data(as_text=True)
    # an upload left unconfirmed is deleted after an hour
    form = form_of(upload(analyst, DATA / "police_swapped.csv").get_data(as_text=True))
    old = time.time() - 3601
    for f in kept(app, form):
        os.utime(f, (old, old))
    analyst.get("/admin/import")
    assert kept(app, form) == []


def test_a_large_file_is_previewed_on_its_first_rows_and_imported_whole(analyst, app, engine, tmp_path):
    app.config["IMPORT_PREVIEW_ROWS"] = 3
    lines = ["Mã vụ,Ngày xảy ra,Loại tội phạm,Kinh độ,Vĩ độ"] + [
        f"L{i},0{1 + i}/03/2024,Ma túy,106.7009,{'10.7769' if i != 5 else 'x'}" for i in range(8)]
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    html = upload(analyst, path).get_data(as_text=True)
    assert "Bản xem trước này mới kiểm tra 3 dòng đầu trong tổng số 8 dòng" in html
    assert "không phải số" not in html  # row 7 is past the rows checked
    res = analyst.post("/admin/import/confirm", data={**form_of(html), "action": "import"})
    assert "Đã nhận 7, cập nhật 0, từ chối 1." in res.get_data(as_text=True)


def test_labels_not_in_the_list_are_filed_on_the_preview_and_remembered(analyst, app, engine, tmp_path):
    """Each label the categories do not know gets a choice on the preview; the choice files the rows and
    is remembered for the source's next file (counts compared with an independent pandas count)."""
    rows = pd.DataFrame({
        "Mã vụ": [f"L{i:02d}" for i in range(9)],
        "Ngày xảy ra": ["05/03/2024 10:00"] * 9,
        "Loại": ["Theft from Vehicle"] * 4 + ["Mischief"] * 3 + ["Trộm cắp tài sản"] * 2,
        "Kinh độ": [106.6535] * 9, "Vĩ độ": [10.7768] * 9,
    })
    path = tmp_path / "labels.csv"
    rows.to_csv(path, index=False)
    html = upload(analyst, path, source="vpd-sample").get_data(as_text=True)
    table = html[html.index('id="preview-labels"'):]
    labels = json.loads(re.search(r'name="labels" value="([^"]+)"', html).group(1).replace("&#34;", '"'))
    assert labels == ["Theft from Vehicle", "Mischief"]  # most frequent first; the known label is not asked
    assert re.search(r"<td>Theft from Vehicle</td><td class=\"num\">4</td>", table)
    form = {**form_of(html), "labels": json.dumps(labels), "cat_0": "trom_cap_tai_san", "cat_1": ""}
    html = analyst.post("/admin/import/confirm", data={**form, "action": "import"}).get_data(as_text=True)
    assert "Đã nhận 9, cập nhật 0, từ chối 0." in html
    expected = rows["Loại"].map({"Theft from Vehicle": "trom_cap_tai_san", "Mischief": "khac",
                                 "Trộm cắp tài sản": "trom_cap_tai_san"}).value_counts().to_dict()
    with engine.connect() as conn:
        got = dict(conn.execute(text("SELECT category, count(*) FROM incident WHERE source = 'vpd-sample' "
                                     "GROUP BY category")).all())
        remembered = dict(conn.execute(text("SELECT label, category FROM source_category_map "
                                            "WHERE source = 'vpd-sample'")).all())
    assert got == expected == {"trom_cap_tai_san": 6, "khac": 3}
    assert remembered == {"Theft from Vehicle": "trom_cap_tai_san"}
    # the next file of that source: the remembered label is no longer asked
    html = upload(analyst, path, source="vpd-sample").get_data(as_text=True)
    labels = json.loads(re.search(r'name="labels" value="([^"]+)"', html).group(1).replace("&#34;", '"'))
    assert labels == ["Mischief"]
