"""The categories page, the mapping field of the import page, the commands, and the raw-label
filter of the map pages and the API (with the small-count rule for viewers)."""
from __future__ import annotations

import io
import json
import re

import pytest
from sqlalchemy import text

from geo.ingest import boundaries as gb
from geo.ingest.importer import import_file
from geo.store import categories as cs
from tests.conftest import NOW, signed_in
from tests.data.make_vancouver_sample import AREAS, points_in_areas, vancouver_sample
from tests.web.test_import_preview import form_of

QUERY = "boundary=vancouver&start=2024-01-01&end=2024-12-31"


@pytest.fixture
def admin(app):
    app.config["WTF_CSRF_ENABLED"] = False  # the forms' CSRF token is tested in test_security
    return signed_in(app, "admin")


def audit_rows(engine, prefix="category_"):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT action, target, detail, username FROM audit_log WHERE action LIKE :p ORDER BY id"),
            {"p": prefix + "%"}).all()]


def test_only_admins_see_the_page(app):
    app.config["WTF_CSRF_ENABLED"] = False
    for role in ("viewer", "committee", "analyst"):
        client = signed_in(app, role)
        assert client.get("/admin/categories").status_code == 403
        assert client.post("/admin/categories", data={"action": "add"}).status_code == 403
    res = signed_in(app, "admin").get("/admin/categories")
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and 'data-code="trom_cap_tai_san"' in html and "Trộm cắp tài sản" in html
    assert 'href="/admin/categories"' in html  # the admin's menu links it


def test_add_rename_group_remove_audited(admin, engine):
    res = admin.post("/admin/categories", data={"action": "add", "code": "trom_xe", "label_vi": "Trộm xe",
                                                "label_en": "Vehicle theft", "group": ["duong_pho"]})
    assert res.status_code == 302
    cat = cs.catalogue(engine)
    assert cat.categories["trom_xe"] == ("Trộm xe", "Vehicle theft") and "trom_xe" in cat.expand(["duong_pho"])
    html = admin.get("/admin/categories").get_data(as_text=True)
    assert 'data-code="trom_xe"' in html

    res = admin.post("/admin/categories", data={"action": "save", "code": "trom_xe", "label_vi": "Trộm cắp xe",
                                                "label_en": "Vehicle theft", "group": ["duong_pho", "trat_tu_xa_hoi"]})
    assert res.status_code == 302
    cat = cs.catalogue(engine)
    assert cat.label("trom_xe") == "Trộm cắp xe" and "trom_xe" in cat.expand(["trat_tu_xa_hoi"])
    # the maps' category menu offers it
    assert '<option value="trom_xe"' in admin.get("/map/overview?boundary=hcmc-2025&period=2024").get_data(as_text=True)

    # a label already used, a code not a slug: refused, nothing changed
    for data in ({"action": "add", "code": "x2", "label_vi": "Trộm cắp tài sản", "label_en": "Other thing"},
                 {"action": "add", "code": "Xe Máy", "label_vi": "Xe máy", "label_en": "Motorbikes"},
                 {"action": "remove", "code": "khac"}):
        assert admin.post("/admin/categories", data=data).status_code == 400
    assert set(cs.catalogue(engine).categories) == set(cat.categories)

    assert admin.post("/admin/categories", data={"action": "remove", "code": "trom_xe"}).status_code == 302
    assert "trom_xe" not in cs.catalogue(engine).categories
    rows = audit_rows(engine)
    assert [(a, t, u) for a, t, _d, u in rows] == [
        ("category_add", "trom_xe", "admin"), ("category_rename", "trom_xe", "admin"),
        ("category_groups", "trom_xe", "admin"), ("category_remove", "trom_xe", "admin")]
    assert json.loads(rows[2][2]) == {"from": ["duong_pho"], "to": ["duong_pho", "trat_tu_xa_hoi"]}
    # the audit page names the actions in words
    audit_html = admin.get("/admin/audit").get_data(as_text=True)
    shown = re.sub(r"<[^>]*>", " ", audit_html.split("<tbody>")[1])   # the text, not the attributes
    assert "category_add" not in shown and "Đã thêm loại tội phạm" in shown


@pytest.fixture
def vancouver(engine, tmp_path):
    gb.save_version(engine, gb.read_layer(AREAS, gb.FieldMap(code="mapid", name="name")), "vancouver")
    sample = vancouver_sample(2024, 2000, seed=138)
    sample.to_csv(tmp_path / "vpd.csv", index=False)
    return engine, sample


def test_import_page_takes_a_mapping_file_and_remembers_it(admin, vancouver):
    engine, sample = vancouver
    csv = sample.to_csv(index=False).encode()
    mapping = "label,category\nTheft from Vehicle,trom_cap_tai_san\nMischief,gay_roi\n".encode()
    res = admin.post("/admin/import", data={"file": (io.BytesIO(csv), "vpd.csv"), "source": "vpd",
                                            "categories": (io.BytesIO(mapping), "map.csv")},
                     content_type="multipart/form-data")
    assert res.status_code == 200, res.get_data(as_text=True)[:2000]
    # the preview files the labels by the mapping already: only the labels it does not name are asked
    html = res.get_data(as_text=True)
    asked = html.split('id="preview-labels"')[1].split("</table>")[0]
    assert "<td>Mischief</td>" not in asked and "<td>Theft from Vehicle</td>" not in asked
    res = admin.post("/admin/import/confirm", data={**form_of(html), "action": "import"})
    assert res.status_code == 200, res.get_data(as_text=True)[:2000]
    with engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT category, COUNT(*) FROM incident GROUP BY category")).all())
    want = sample["type"].map({"Theft from Vehicle": "trom_cap_tai_san", "Mischief": "gay_roi",
                               "Homicide": "giet_nguoi"}).fillna("khac").value_counts().to_dict()
    assert stored == want
    # the page lists every label filed as "khac" with its rows
    html = res.get_data(as_text=True)
    table = html.split('id="unknown-categories"')[1].split("</table>")[0]
    unknown = sample["type"][~sample["type"].isin(["Theft from Vehicle", "Mischief", "Homicide"])].value_counts()
    for label, n in unknown.items():
        assert f"<td>{label}</td><td class=\"num\">{n:,}".replace(",", ".") in table
    assert [(m.label, m.category) for m in cs.source_rows(engine)] == [("Mischief", "gay_roi"),
                                                                      ("Theft from Vehicle", "trom_cap_tai_san")]
    assert ("category_map", "vpd") in [(a, t) for a, t, _d, _u in audit_rows(engine)]
    # a mapping with an unknown code is refused with its line, and nothing is imported
    bad = "label,category\nMischief,gay_roi\nTheft of Bicycle,xe_dap\n".encode()
    res = admin.post("/admin/import", data={"file": (io.BytesIO(csv), "vpd2.csv"), "source": "vpd2",
                                            "categories": (io.BytesIO(bad), "bad.csv")},
                     content_type="multipart/form-data")
    assert res.status_code == 400 and "bad.csv" in res.get_data(as_text=True) and "xe_dap" in res.get_data(as_text=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM incident WHERE source = 'vpd2'")).scalar() == 0


def test_commands_store_the_mapping_import_with_it_and_refile(app, vancouver, tmp_path):
    engine, sample = vancouver
    (tmp_path / "map.yaml").write_text("Theft from Vehicle: trom_cap_tai_san\nMischief: gay_roi\n", encoding="utf-8")
    (tmp_path / "map2.csv").write_text("label,category\nTheft of Bicycle,trom_cap_tai_san\n", encoding="utf-8")
    (tmp_path / "bad.csv").write_text("label,category\nTheft of Bicycle,nope\n", encoding="utf-8")
    runner = app.test_cli_runner()
    res = runner.invoke(args=["import-incidents", str(tmp_path / "vpd.csv"), "--source", "vpd",
                              "--categories", str(tmp_path / "map.yaml")])
    assert res.exit_code == 0, res.output
    mapped = {"Theft from Vehicle": "trom_cap_tai_san", "Mischief": "gay_roi", "Homicide": "giet_nguoi"}
    with engine.connect() as conn:
        q = "SELECT category, COUNT(*) FROM incident GROUP BY category"
        assert dict(conn.execute(text(q)).all()) == sample["type"].map(mapped).fillna("khac").value_counts().to_dict()
    res = runner.invoke(args=["set-category-map", "vpd", str(tmp_path / "bad.csv")])
    assert res.exit_code == 1 and "bad.csv" in res.output and "2" in res.output
    res = runner.invoke(args=["set-category-map", "vpd", str(tmp_path / "map2.csv")])
    assert res.exit_code == 0, res.output
    with engine.connect() as conn:  # stored incidents keep their category …
        assert dict(conn.execute(text(q)).all()) == sample["type"].map(mapped).fillna("khac").value_counts().to_dict()
    res = runner.invoke(args=["refile-categories", "vpd"])
    assert res.exit_code == 0, res.output
    now = {"Theft of Bicycle": "trom_cap_tai_san", "Homicide": "giet_nguoi"}
    with engine.connect() as conn:  # … until they are filed again
        assert dict(conn.execute(text(q)).all()) == sample["type"].map(now).fillna("khac").value_counts().to_dict()
    moved = int((sample["type"].map(now).fillna("khac") != sample["type"].map(mapped).fillna("khac")).sum())
    assert f"{moved:,}".replace(",", ".") in res.output
    assert [a for a, *_ in audit_rows(engine)] == ["category_map", "category_refile"]


def test_refile_button(admin, vancouver, tmp_path):
    engine, sample = vancouver
    import_file(engine, tmp_path / "vpd.csv", source="vpd", now=NOW, tolerance_m=0)
    with engine.begin() as conn:
        cs.set_source_map(conn, "vpd", {"Mischief": "gay_roi"})
    res = admin.post("/admin/categories", data={"action": "refile", "source": "vpd"})
    assert res.status_code == 302
    with engine.connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM incident WHERE category = 'gay_roi'")).scalar()
    assert n == (sample["type"] == "Mischief").sum() > 0
    assert [(a, t) for a, t, _d, _u in audit_rows(engine)] == [("category_refile", "vpd")]


def test_raw_label_filter_on_the_api_and_the_map_page(app, vancouver, tmp_path):
    engine, sample = vancouver
    import_file(engine, tmp_path / "vpd.csv", source="vpd", now=NOW, tolerance_m=0)
    placed = points_in_areas(sample)
    labels = ["Theft of Bicycle", "Break and Enter Commercial"]
    want = placed[placed["type"].isin(labels)].groupby("mapid").size()
    analyst = signed_in(app, "analyst")
    url = f"/api/v1/areas?{QUERY}&" + "&".join(f"raw={lab}" for lab in labels)
    got = {f["properties"]["code"]: f["properties"]["count"] for f in analyst.get(url).get_json()["features"]}
    assert {k: v for k, v in got.items() if v} == want.to_dict()

    # viewers see aggregates only: counts under the minimum are not published
    viewer = signed_in(app, "viewer")
    minimum = app.config["MIN_PUBLISHED_COUNT"]
    shown = {f["properties"]["code"]: f["properties"]["count"] for f in viewer.get(url).get_json()["features"]}
    assert any(0 < n < minimum for n in want)  # the test holds small counts
    for code, n in shown.items():
        if n is not None:
            assert n == want.get(code, 0) and not 0 < n < minimum
        else:
            assert want.get(code, 0) > 0
    # a label too rare to publish is refused as a whole
    rare = sample["type"].value_counts()
    rare = rare[rare < minimum]
    if len(rare):
        assert viewer.get(f"/api/v1/areas?{QUERY}&raw={rare.index[0]}").status_code == 400

    # the map page offers the file's labels and keeps the chosen ones in its links
    page = analyst.get("/map/overview?boundary=vancouver&period=2024&raw=Mischief")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<option value="Mischief" selected>' in html
    assert '<option value="Theft from Vehicle" >' in html
    assert "raw=Mischief" in html
