"""An analyst loads a zipped Shapefile of wards on the boundaries page in Chromium: the outlines on the
preview map, the guessed fields, save, and the new version's wards drawn on the overview map."""
from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from sqlalchemy import text

from geo.store.models import make_engine
from tests.browser import screenshot, sign_in
from tests.conftest import HCMC_WARDS_FILE

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]
WARDS = 6


@pytest.fixture
def app(app, tmp_path):
    app.instance_path = str(tmp_path / "instance")
    Path(app.instance_path).mkdir()
    return app


def shapefile_zip(tmp_path) -> tuple[Path, gpd.GeoDataFrame]:
    """Six real HCMC wards as a district GIS office would send them: UTM 48N, Vietnamese
    headers, zipped."""
    g = gpd.read_file(HCMC_WARDS_FILE).head(WARDS)[["code", "name", "province_code", "province", "level",
                                                   "geometry"]]
    g.columns = ["MA_XA", "TEN_XA", "MA_TINH", "TEN_TINH", "CAP", "geometry"]
    folder = tmp_path / "shp"
    folder.mkdir()
    g.to_crs(32648).to_file(folder / "phuong_thu.shp", engine="pyogrio")
    path = tmp_path / "phuong_thu.zip"
    with zipfile.ZipFile(path, "w") as z:
        for f in folder.iterdir():
            z.write(f, f.name)
    return path, g


def test_load_a_zipped_shapefile_and_see_it_on_the_overview(page, live_server, app, tmp_path):
    path, wards = shapefile_zip(tmp_path)
    sign_in(page, live_server, "analyst")
    page.goto(live_server + "/")
    page.locator("nav.main a", has_text="Ranh giới").click()
    assert page.locator("h1").inner_text() == "Ranh giới"
    page.set_input_files("#upload-form input[name=file]", str(path))
    page.click("#upload-form button[type=submit]")
    assert page.locator("h1").inner_text() == "Chọn các trường của phuong_thu.zip"

    # the layer's outlines on the preview map
    page.wait_for_selector(f"#preview-map[data-features='{WARDS}']")
    assert page.locator("#preview-map .leaflet-overlay-pane path").count() == WARDS
    # the fields a Vietnamese layer names, preselected
    form = page.locator("#fields-form")
    assert {r: form.locator(f"select[name={r}]").input_value()
            for r in ("code", "name", "parent_code", "parent_name", "level", "population")} == {
        "code": "MA_XA", "name": "TEN_XA", "parent_code": "MA_TINH", "parent_name": "TEN_TINH", "level": "CAP",
        "population": ""}
    assert "EPSG:32648" in form.inner_text()
    form.locator("input[name=version_name]").fill("hcmc-thu-nghiem")
    form.locator("input[name=title]").fill("Sáu phường thử nghiệm")
    form.locator("input[name=valid_from]").fill("2026-01-01")
    screenshot(page, "boundaries_fields")
    form.locator("button[name=save]").click()

    assert page.locator("#saved").inner_text() == "Đã lưu phiên bản ranh giới hcmc-thu-nghiem: 6 đơn vị."
    row = page.locator("#versions tr[data-name='hcmc-thu-nghiem']")
    assert "01/01/2026" in row.inner_text()
    eng = make_engine(app.config["DATABASE_URL"])
    with eng.connect() as conn:
        codes = conn.execute(text("SELECT a.code FROM area a JOIN boundary_version v ON v.id = a.version_id "
                                  "WHERE v.name = 'hcmc-thu-nghiem' ORDER BY a.code")).scalars().all()
    eng.dispose()
    assert codes == sorted(wards["MA_XA"])

    # the new version's wards on the overview map
    row.locator("a.map-link").click()
    page.wait_for_selector(".leaflet-overlay-pane path.leaflet-interactive")
    assert page.locator(".leaflet-overlay-pane path.leaflet-interactive").count() == WARDS
    screenshot(page, "boundaries_overview")
    assert page.console_errors == [] and page.foreign_requests == []
