"""The boundaries page: upload a layer, map its fields (guessed), save, replace, remove; refusals."""
from __future__ import annotations

import io
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from geo.committee import plans
from tests.conftest import HCMC_WARDS_FILE, signed_in, table_counts

#: Vietnamese GIS headers for the shared 2025 layers' fields.
VN_FIELDS = {"code": "MA_XA", "name": "TEN_XA", "province_code": "MA_TINH", "province": "TEN_TINH",
             "level": "CAP"}


@pytest.fixture
def app(app, tmp_path):
    """The app with an instance folder of its own (uploads are kept there between the steps)."""
    app.instance_path = str(tmp_path / "instance")
    Path(app.instance_path).mkdir()
    return app


@pytest.fixture
def client(app):
    """An analyst; the forms' CSRF token is checked in test_the_forms_need_their_csrf_token."""
    app.config["WTF_CSRF_ENABLED"] = False
    return signed_in(app)


def vn_layer(n: int = 12, source: Path = HCMC_WARDS_FILE) -> gpd.GeoDataFrame:
    """The first ``n`` real HCMC wards with their fields named as Vietnamese GIS layers name them."""
    g = gpd.read_file(source).head(n)
    return g[list(VN_FIELDS) + ["geometry"]].rename(columns=VN_FIELDS)


def geojson_bytes(g: gpd.GeoDataFrame) -> bytes:
    return g.to_json(drop_id=True).encode("utf-8")


def upload(client, data: bytes, name: str = "ranh_gioi_2026.geojson"):
    return client.post("/admin/boundaries", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


class Selects(HTMLParser):
    """The selected option of each <select> of a page (None: no option marked selected)."""

    def __init__(self):
        super().__init__()
        self.selected, self._select = {}, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "select":
            self._select = a["name"]
            self.selected.setdefault(self._select, None)
        elif tag == "option" and self._select and "selected" in a:
            self.selected[self._select] = a["value"]

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def selected(html: str) -> dict:
    p = Selects()
    p.feed(html)
    return p.selected


def save_form(**extra) -> dict:
    form = {"code": "MA_XA", "name": "TEN_XA", "parent_code": "MA_TINH",
            "parent_name": "TEN_TINH", "level": "CAP", "population": "", "save": "1"}
    form.update(extra)
    return form


def units(engine, name: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(text(
            "SELECT a.code, a.name, a.parent_code, a.parent_name, a.level FROM area a "
            "JOIN boundary_version v ON v.id = a.version_id WHERE v.name = :n ORDER BY a.code"), {"n": name}).all(),
            columns=["code", "name", "parent_code", "parent_name", "level"])


def audit_rows(engine, action: str) -> list:
    with engine.connect() as conn:
        return conn.execute(text("SELECT username, target, detail FROM audit_log WHERE action = :a"),
                            {"a": action}).all()


def uploads_of(app) -> list[Path]:
    folder = Path(app.instance_path) / "boundary_uploads"
    return [p for p in folder.iterdir() if p.is_dir()] if folder.exists() else []


@pytest.mark.sqlite_only
def test_vietnamese_field_names_are_preselected_and_the_preview_is_drawn(app, client):
    res = upload(client, geojson_bytes(vn_layer()))
    assert res.status_code == 302 and res.headers["Location"].endswith("/admin/boundaries/fields")
    page = client.get("/admin/boundaries/fields")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert selected(html) == {"code": "MA_XA", "name": "TEN_XA", "parent_code": "MA_TINH",
                              "parent_name": "TEN_TINH", "level": "CAP", "population": None,
                              "crosswalk_version": None, "crosswalk_direction": "from"}
    assert 'value="ranh-gioi-2026"' in html  # the proposed version name, from the file name
    assert "Chọn các trường của ranh_gioi_2026.geojson" in html and "12 đối tượng" in html
    preview = client.get("/admin/boundaries/preview.geojson").get_json()
    assert [f["properties"]["n"] for f in preview["features"]] == list(range(1, 13))
    # the preview keeps every ward's place: its outline's centre lies within the ward's own bounds
    real = vn_layer()
    outlines = gpd.GeoDataFrame.from_features(preview["features"], crs="EPSG:4326")
    for (_i, w), o in zip(real.iterrows(), outlines.geometry):
        assert w.geometry.buffer(0.001).contains(o.representative_point())
    # English with ?lang=en
    assert "Map the fields of ranh_gioi_2026.geojson" in client.get("/admin/boundaries/fields?lang=en").get_data(
        as_text=True)


@pytest.mark.sqlite_only
@pytest.mark.parametrize("data, name, expected", [
    (b"Ngay xay ra,Loai\n2024-01-01,trom\n", "vu_viec.csv", "vu_viec.csv không phải lớp bản đồ"),
    (b"%PDF-1.4 ...", "ranh_gioi.pdf", "ranh_gioi.pdf không phải lớp bản đồ"),
    (b"", "rong.geojson", "rong.geojson không phải lớp bản đồ"),
    (b'{"type": "FeatureCollection", "features": [', "hong.geojson", "hong.geojson: không đọc được"),
])
def test_a_file_that_is_not_a_vector_layer_is_refused_and_not_kept(app, client, data, name, expected):
    res = upload(client, data, name)
    assert res.status_code == 400
    assert expected in res.get_data(as_text=True)
    assert uploads_of(app) == []
    assert client.get("/admin/boundaries/fields").status_code == 302  # no upload: back to the list


@pytest.mark.sqlite_only
def test_a_zip_bomb_and_an_unsafe_path_are_refused(app, client):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("../evil.shp", b"x")
    res = upload(client, buf.getvalue(), "evil.zip")
    assert res.status_code == 400 and "evil.zip" in res.get_data(as_text=True)
    assert uploads_of(app) == []


def test_bad_features_are_listed_and_the_upload_stays_for_another_try(app, client, engine):
    g = vn_layer(5)
    g.loc[3, "MA_XA"] = g.loc[1, "MA_XA"]  # a duplicate code
    g.loc[4, "geometry"] = g.loc[4, "geometry"].centroid  # a point, not a polygon
    before = table_counts(engine)
    upload(client, geojson_bytes(g))
    res = client.post("/admin/boundaries/fields", data=save_form(version_name="xau"))
    assert res.status_code == 400
    html = res.get_data(as_text=True)
    items = re.findall(r"<li>(.*?)</li>", html.split('id="problems"')[1].split("</ul>")[0])
    assert items == [f"đối tượng 5 (mã &#39;{g.loc[4, 'MA_XA']}&#39;): hình học là Point, không phải đa giác",
                     f"mã &#39;{g.loc[1, 'MA_XA']}&#39; được dùng cho các đối tượng 2, 4"]
    assert table_counts(engine) == before
    # the mapping stays as chosen and the same upload can be tried again with other fields
    assert selected(html)["code"] == "MA_XA"
    assert len(uploads_of(app)) == 1
    assert client.get("/admin/boundaries/fields").status_code == 200


def test_saving_stores_the_units_with_the_mapped_fields(app, client, engine):
    res = upload(client, geojson_bytes(vn_layer()))
    res = client.post("/admin/boundaries/fields", data=save_form(
        version_name="hcmc-thu", title="Thử: 12 phường", valid_from="2026-01-01", valid_to="2026-12-31",
        source="Sở Nội vụ", licence="CC BY 4.0", attribution="Sở Nội vụ TP.HCM"))
    assert res.status_code == 302, res.get_data(as_text=True)
    assert res.headers["Location"].endswith("/admin/boundaries?saved=hcmc-thu")
    # against an independent read of the same features
    ref = vn_layer().sort_values("MA_XA").reset_index(drop=True)
    got = units(engine, "hcmc-thu")
    assert list(got["code"]) == list(ref["MA_XA"])
    assert list(got["name"]) == list(ref["TEN_XA"])
    assert list(got["parent_code"]) == list(ref["MA_TINH"])
    assert list(got["parent_name"]) == list(ref["TEN_TINH"])
    assert list(got["level"]) == list(ref["CAP"])
    page = client.get(res.headers["Location"]).get_data(as_text=True)
    assert "Đã lưu phiên bản ranh giới hcmc-thu: 12 đơn vị." in page
    row = page.split('data-name="hcmc-thu"')[1].split("</tr>")[0]
    assert "01/01/2026" in row and "31/12/2026" in row and "Sở Nội vụ" in row and "CC BY 4.0" in row
    assert "/map/overview?boundary=hcmc-thu" in row
    [(who, target, detail)] = audit_rows(engine, "boundary_load")
    assert (who, target) == ("analyst", "hcmc-thu") and '"units": 12' in detail
    assert uploads_of(app) == []  # deleted after saving
    assert client.get("/admin/boundaries/fields").status_code == 302


@pytest.mark.sqlite_only
def test_dates_and_name_are_checked(app, client, engine):
    upload(client, geojson_bytes(vn_layer(3)))
    res = client.post("/admin/boundaries/fields", data=save_form(version_name="thu", valid_from="2026-02-01",
                                                                 valid_to="2026-01-31"))
    assert res.status_code == 400
    assert "Ngày hiệu lực từ (01/02/2026) sau ngày hiệu lực đến (31/01/2026)" in res.get_data(as_text=True)
    res = client.post("/admin/boundaries/fields", data=save_form(version_name="Thử <b>"))
    assert res.status_code == 400 and "Tên phiên bản &#39;Thử &lt;b&gt;&#39; không hợp lệ" in res.get_data(
        as_text=True)
    assert units(engine, "thu").empty


def test_replacing_needs_the_checkbox(app, client, engine):
    upload(client, geojson_bytes(vn_layer(12)))
    assert client.post("/admin/boundaries/fields", data=save_form(version_name="hcmc-thu")).status_code == 302
    upload(client, geojson_bytes(vn_layer(7)))
    res = client.post("/admin/boundaries/fields", data=save_form(version_name="hcmc-thu"))
    assert res.status_code == 400
    html = res.get_data(as_text=True)
    assert "Đã có phiên bản tên hcmc-thu" in html
    assert re.search(r'name="replace" value="hcmc-thu"> Thay thế phiên bản hcmc-thu \(12 đơn vị, nạp ngày '
                     r'\d\d/\d\d/20\d\d\)', html)
    assert len(units(engine, "hcmc-thu")) == 12
    # a checkbox for another name does not count
    assert client.post("/admin/boundaries/fields", data=save_form(version_name="hcmc-thu", replace="khac")).status_code == 400
    res = client.post("/admin/boundaries/fields", data=save_form(version_name="hcmc-thu", replace="hcmc-thu"))
    assert res.status_code == 302
    assert list(units(engine, "hcmc-thu")["code"]) == sorted(vn_layer(7)["MA_XA"])
    [(_who, target, detail)] = audit_rows(engine, "boundary_replace")
    assert target == "hcmc-thu" and '"units": 7' in detail


def test_replacing_keeps_crosswalks_and_refuses_to_drop_codes_they_use(app, client, engine):
    """hcmc-2025 has a crosswalk from hcmc-2019: a layer with all its codes replaces it and keeps the
    crosswalk; a layer without some of them is refused, naming the codes."""
    with engine.connect() as conn:
        before = conn.execute(text("SELECT COUNT(*) FROM crosswalk")).scalar()
    full = gpd.read_file(HCMC_WARDS_FILE)[list(VN_FIELDS) + ["geometry"]].rename(columns=VN_FIELDS)
    upload(client, geojson_bytes(full.iloc[:-1]))
    res = client.post("/admin/boundaries/fields", data=save_form(version_name="hcmc-2025", replace="hcmc-2025"))
    assert res.status_code == 400
    lost = full["MA_XA"].iloc[-1]
    assert f"mã đơn vị {lost}" in res.get_data(as_text=True)
    upload(client, geojson_bytes(full))
    res = client.post("/admin/boundaries/fields", data=save_form(version_name="hcmc-2025", replace="hcmc-2025"))
    assert res.status_code == 302
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM crosswalk c JOIN boundary_version v "
                                 "ON v.id = c.new_version_id WHERE v.name = 'hcmc-2025'")).scalar() == before


def test_removing_is_refused_while_something_depends_on_it(app, client, engine):
    upload(client, geojson_bytes(vn_layer(4)))
    client.post("/admin/boundaries/fields", data=save_form(version_name="hcmc-ke-hoach"))
    plans.create_plan(engine, year=2026, level="city", boundary="hcmc-ke-hoach", created_by="committee")
    before = table_counts(engine)
    page = client.get("/admin/boundaries/hcmc-ke-hoach/delete")
    assert "1 kế hoạch của Ban chỉ đạo dùng phiên bản này" in page.get_data(as_text=True)
    assert 'id="delete-form"' not in page.get_data(as_text=True)
    res = client.post("/admin/boundaries/hcmc-ke-hoach/delete")
    assert res.status_code == 400 and "Chưa xóa phiên bản ranh giới" in res.get_data(as_text=True)
    # the default version
    res = client.post("/admin/boundaries/hcmc-2025/delete", data={"with_crosswalks": "1"})
    assert res.status_code == 400 and "DEFAULT_BOUNDARY" in res.get_data(as_text=True)
    # a crosswalk: only with the confirmation
    res = client.post("/admin/boundaries/hcmc-2019/delete")
    assert res.status_code == 400 and "Bảng chuyển đổi với hcmc-2025" in res.get_data(as_text=True)
    assert table_counts(engine) == before
    assert audit_rows(engine, "boundary_delete") == []


def test_removing_a_version_nothing_depends_on(app, client, engine):
    n2019 = len(units(engine, "hcmc-2019"))
    before = table_counts(engine)
    page = client.get("/admin/boundaries/hcmc-2019/delete").get_data(as_text=True)
    assert "Bảng chuyển đổi với hcmc-2025 (558 dòng) sẽ bị xóa cùng." in page
    res = client.post("/admin/boundaries/hcmc-2019/delete", data={"with_crosswalks": "1"})
    assert res.status_code == 302 and res.headers["Location"].endswith("?removed=hcmc-2019")
    after = table_counts(engine)
    assert after["boundary_version"] == before["boundary_version"] - 1
    assert after["area"] == before["area"] - n2019 and after["crosswalk"] == before["crosswalk"] - 558
    assert "Đã xóa phiên bản ranh giới hcmc-2019." in client.get(res.headers["Location"]).get_data(as_text=True)
    [(who, target, detail)] = audit_rows(engine, "boundary_delete")
    assert (who, target) == ("analyst", "hcmc-2019") and '"units": 322' in detail


def test_a_crosswalk_is_checked_row_by_row_and_saved_with_the_layer(app, client, engine):
    layer = vn_layer(3)
    old = units(engine, "hcmc-2019")["code"]
    bad = pd.DataFrame({"old_code": [old[0], old[0], old[1], "99999"],
                        "new_code": [layer["MA_XA"][0], layer["MA_XA"][1], layer["MA_XA"][2], layer["MA_XA"][2]],
                        "area_share": ["0.6", "0.3", "1", "1"]})
    upload(client, geojson_bytes(layer))

    def post(df):
        return client.post("/admin/boundaries/fields", content_type="multipart/form-data", data=save_form(
            version_name="hcmc-cw", crosswalk_version="hcmc-2019", crosswalk_direction="from",
            crosswalk=(io.BytesIO(df.to_csv(index=False).encode()), "chuyen_doi.csv")))

    res = post(bad)
    assert res.status_code == 400
    html = res.get_data(as_text=True)
    assert "dòng 5: old_code &#39;99999&#39; không phải đơn vị của hcmc-2019" in html
    assert f"dòng 2, 3: tổng tỷ lệ của old_code &#39;{old[0]}&#39; là 0.9000, không phải 1" in html
    assert units(engine, "hcmc-cw").empty
    good = bad.iloc[[0, 1, 2]].assign(area_share=["0.6", "0.4", "1"])
    assert post(good).status_code == 302
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.old_code, c.new_code, c.area_share FROM crosswalk c JOIN boundary_version v "
            "ON v.id = c.new_version_id WHERE v.name = 'hcmc-cw' ORDER BY c.old_code, c.new_code")).all()
    assert [(r[0], r[1], round(r[2], 6)) for r in rows] == sorted(
        zip(good["old_code"], good["new_code"], good["area_share"].astype(float)))


@pytest.mark.sqlite_only
@pytest.mark.parametrize("role", ["viewer", "committee"])
def test_only_analysts_and_admins_may_use_the_page(app, role):
    c = signed_in(app, role)
    assert c.get("/admin/boundaries").status_code == 403
    assert c.post("/admin/boundaries/hcmc-2019/delete").status_code in (400, 403)
    assert c.get("/admin/boundaries/hcmc-2019/delete").status_code == 403
    assert 'href="/admin/boundaries"' not in c.get("/").get_data(as_text=True)
    assert 'href="/admin/boundaries"' in signed_in(app, "admin").get("/").get_data(as_text=True)


@pytest.mark.sqlite_only
def test_an_upload_belongs_to_its_session_and_expires(app, client):
    upload(client, geojson_bytes(vn_layer(3)))
    [folder] = uploads_of(app)
    other = signed_in(app, "admin")
    assert other.get("/admin/boundaries/fields").status_code == 302
    assert other.get("/admin/boundaries/preview.geojson").status_code == 404
    app.config["BOUNDARY_UPLOAD_MINUTES"] = 0
    assert client.get("/admin/boundaries/fields").status_code == 302
    assert not folder.exists()


@pytest.mark.sqlite_only
def test_the_import_page_names_the_boundaries_page_for_a_shapefile(app, client, tmp_path):
    shp = tmp_path / "wards.shp"
    vn_layer(2).to_file(shp)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in tmp_path.glob("wards.*"):
            z.write(p, p.name)
    res = client.post("/admin/import", data={"file": (io.BytesIO(buf.getvalue()), "wards.zip"), "source": "s"},
                      content_type="multipart/form-data")
    assert "trang Ranh giới (/admin/boundaries)" in res.get_data(as_text=True)
    assert client.get("/admin/boundaries").status_code == 200


@pytest.mark.sqlite_only
def test_the_forms_need_their_csrf_token(app, engine):
    c = signed_in(app)
    assert upload(c, geojson_bytes(vn_layer(3))).status_code == 400
    assert uploads_of(app) == []
    assert c.post("/admin/boundaries/hcmc-2019/delete", data={"with_crosswalks": "1"}).status_code == 400
    assert len(units(engine, "hcmc-2019")) == 322


@pytest.mark.sqlite_only
def test_a_geopackage_layer_is_chosen(app, client, engine, tmp_path):
    path = tmp_path / "ranh_gioi.gpkg"
    vn_layer(3).to_file(path, layer="tinh_le", engine="pyogrio")
    vn_layer(8).to_file(path, layer="phuong_xa", engine="pyogrio")
    upload(client, path.read_bytes(), "ranh_gioi.gpkg")
    html = client.get("/admin/boundaries/fields").get_data(as_text=True)
    assert selected(html)["layer"] == "tinh_le" and "3 đối tượng" in html
    html = client.get("/admin/boundaries/fields?layer=phuong_xa").get_data(as_text=True)
    assert selected(html)["layer"] == "phuong_xa" and "8 đối tượng" in html
    assert len(client.get("/admin/boundaries/preview.geojson?layer=phuong_xa").get_json()["features"]) == 8
    assert client.get("/admin/boundaries/fields?layer=khac").status_code == 400
    res = client.post("/admin/boundaries/fields", data=save_form(version_name="gpkg-thu", layer="phuong_xa"))
    assert res.status_code == 302
    assert list(units(engine, "gpkg-thu")["code"]) == sorted(vn_layer(8)["MA_XA"])


@pytest.mark.sqlite_only
def test_a_shapefile_without_a_crs_takes_the_one_given(app, client, engine, tmp_path):
    g = vn_layer(4)
    g.to_crs(32648).to_file(tmp_path / "khong_prj.shp", engine="pyogrio")
    (tmp_path / "khong_prj.prj").unlink()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in tmp_path.glob("khong_prj.*"):
            z.write(p, p.name)
    upload(client, buf.getvalue(), "khong_prj.zip")
    html = client.get("/admin/boundaries/fields").get_data(as_text=True)
    assert "Hệ tọa độ (tệp không khai báo)" in html and 'name="crs"' in html
    assert client.get("/admin/boundaries/preview.geojson").get_json()["features"] == []  # metres: not drawn
    res = client.post("/admin/boundaries/fields", data=save_form(version_name="utm-thu", crs="EPSG:99999"))
    assert res.status_code == 400 and "không phải hệ tọa độ" in res.get_data(as_text=True)
    # the page given a coordinate system draws the outlines in it
    assert "preview.geojson?layer=khong_prj&amp;crs=EPSG:99999" in res.get_data(as_text=True)
    drawn = client.get("/admin/boundaries/preview.geojson?layer=khong_prj&crs=EPSG:32648").get_json()
    assert len(drawn["features"]) == 4
    res = client.post("/admin/boundaries/fields", data=save_form(version_name="utm-thu", crs="EPSG:32648"))
    assert res.status_code == 302
    with engine.connect() as conn:
        wkb = conn.execute(text("SELECT a.code, a.geom_wkb FROM area a JOIN boundary_version v ON v.id = a.version_id "
                                "WHERE v.name = 'utm-thu' ORDER BY a.code")).all()
    ref = g.sort_values("MA_XA")
    for (code, b), (_i, w) in zip(wkb, ref.iterrows()):
        assert code == w["MA_XA"]
        assert shapely.from_wkb(b).symmetric_difference(w.geometry).area < 1e-9


@pytest.mark.sqlite_only
def test_cancel_deletes_the_upload(app, client, engine):
    before = table_counts(engine)
    upload(client, geojson_bytes(vn_layer(3)))
    assert len(uploads_of(app)) == 1
    res = client.post("/admin/boundaries/fields", data={"cancel": "1"})
    assert res.status_code == 302 and uploads_of(app) == [] and table_counts(engine) == before
