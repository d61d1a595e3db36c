"""The drug-free programme ("xã, phường không ma túy") as a layer: counts and shares of wards per
status and phase, the district level of the pre-reform wards, the map and the exports, against a
table of statuses recorded by hand."""
from __future__ import annotations

import io
import json
from urllib.parse import urlencode

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest

from geo.committee import programmes as pg
from geo.store.queries import load_areas
from tests.browser import screenshot, sign_in
from tests.conftest import signed_in

PROGRAMME = "Xã, phường không ma túy"
P2 = dict(phase="Giai đoạn 2", valid_from="2023-12-15", valid_to="2024-05-14")
P3 = dict(phase="Giai đoạn 3", valid_from="2024-05-15", valid_to="2024-10-14")


@pytest.fixture
def recorded(engine):
    """Phase 2: of Gò Vấp's 16 wards 12 meet the criteria, 3 are in progress, 1 does not; 2 wards of
    another district meet them. Phase 3: all 16 of Gò Vấp meet them (one after a correction)."""
    wards = load_areas(engine, "hcmc-2019")
    gv = sorted(wards.loc[wards["parent_code"] == "764", "code"])
    other = sorted(wards.loc[wards["parent_code"] != "764", "code"])[:2]
    assert len(gv) == 16
    kw = dict(boundary="hcmc-2019", programme=PROGRAMME, recorded_by="committee")
    p2 = {**{c: "met" for c in gv[:12]}, **{c: "in_progress" for c in gv[12:15]}, gv[15]: "not_met",
          **{c: "met" for c in other}}
    for code, status in p2.items():
        pg.record_programme_status(engine, unit_code=code, status=status, **P2, **kw)
    first = pg.record_programme_status(engine, unit_code=gv[0], status="in_progress", **P3, **kw)
    pg.record_programme_status(engine, unit_code=gv[0], status="met", note="Đã thẩm định lại", supersedes_id=first,
                               **P3, **kw)
    for code in gv[1:]:
        pg.record_programme_status(engine, unit_code=code, status="met", **P3, **kw)
    return {"wards": wards, "gv": gv, "other": other, "p2": p2, "p3": {c: "met" for c in gv}}


def _pct(n: int, of: int) -> str:
    """A share as the committees write it, worked out here by hand: one decimal, decimal comma."""
    return f"{100 * n / of:.1f}".replace(".", ",") + "%"


def test_counts_per_status_and_phase_equal_the_recorded_table(engine, recorded):
    n_wards = len(recorded["wards"])
    [ph2, ph3] = pg.phases(engine, PROGRAMME)
    assert (ph2["phase"], ph2["boundary"], str(ph2["start"]), str(ph2["end"])) == \
        ("Giai đoạn 2", "hcmc-2019", "2023-12-15", "2024-05-14")
    layer = pg.phase_layer(engine, PROGRAMME, "Giai đoạn 2", "hcmc-2019")
    assert len(layer) == n_wards and dict(zip(layer["code"], layer["status"])) == \
        {c: recorded["p2"].get(c, "none") for c in recorded["wards"]["code"]}
    counts = pg.status_counts(layer).set_index("status")
    assert counts["count"].to_dict() == {"planned": 0, "in_progress": 3, "met": 14, "not_met": 1,
                                         "none": n_wards - 18}
    assert set(counts["of"]) == {n_wards} and counts["share"].sum() == pytest.approx(1)
    # the district level: Gò Vấp's block reads 12/16, 3/16, 1/16
    assert pg.has_districts(layer)
    by = pg.status_counts(layer, by_district=True)
    gv = by[by["parent_code"] == "764"].set_index("status")
    assert gv["count"].to_dict() == {"planned": 0, "in_progress": 3, "met": 12, "not_met": 1, "none": 0}
    assert set(gv["of"]) == {16} and gv.loc["met", "share"] == 0.75
    assert by.groupby("parent_code")["count"].sum().sum() == n_wards
    # phase 3 counts the corrected status, not the first one
    l3 = pg.status_counts(pg.phase_layer(engine, PROGRAMME, "Giai đoạn 3", "hcmc-2019"), by_district=True)
    assert l3[l3["parent_code"] == "764"].set_index("status").loc["met", "count"] == 16


def test_programme_page_reads_counts_in_words_with_a_map(app, recorded):
    n_wards = len(recorded["wards"])
    client = signed_in(app, "viewer")
    q = urlencode({"programme": PROGRAMME, "phase": "Giai đoạn 2"})
    html = client.get(f"/committee/programmes?{q}").get_data(as_text=True)
    assert f"Đạt tiêu chí không ma túy: 14/{n_wards} phường, xã ({_pct(14, n_wards)})" in html
    assert f"Đang thực hiện: 3/{n_wards} phường, xã ({_pct(3, n_wards)})" in html
    district = html.split('id="district-counts"')[1].split("</table>")[0]
    row = next(r for r in district.split("<tr>") if "Gò Vấp" in r)
    assert f"12/16 ({_pct(12, 16)})" in row and f"3/16 ({_pct(3, 16)})" in row
    table = html.split('id="phase-counts"')[1].split("</table>")[0]
    p3 = table.split('data-phase="Giai đoạn 3"')[1].split("</tr>")[0]
    assert f"16/{n_wards} ({_pct(16, n_wards)})" in p3
    # plain labels, never the codes
    for code in ("met", "not_met", "in_progress", "planned"):
        assert f">{code}<" not in html
    assert 'id="map-frame"' in html and "/committee/programmes.js?" in html
    script = client.get(f"/committee/programmes.js?{q}")
    body = script.get_data(as_text=True)
    label = "Đạt tiêu chí không ma túy"
    assert script.status_code == 200 and (label in body or json.dumps(label)[1:-1] in body) and "#1a9850" in body
    assert client.get("/committee/programmes?" + urlencode({"programme": PROGRAMME, "phase": "Giai đoạn 9"})
                      ).status_code == 400


def test_programme_exports(app, recorded):
    n_wards = len(recorded["wards"])
    client = signed_in(app, "viewer")
    q = urlencode({"programme": PROGRAMME, "phase": "Giai đoạn 2"})
    want = {c: recorded["p2"].get(c, "none") for c in recorded["wards"]["code"]}
    # GeoJSON: one feature per ward, the metadata member names the phase and holds the counts
    resp = client.get(f"/committee/programmes.geojson?{q}")
    assert resp.status_code == 200 and resp.mimetype == "application/geo+json"
    doc = json.loads(resp.data)
    assert doc["metadata"]["phase"] == "Giai đoạn 2" and doc["metadata"]["boundary"] == "hcmc-2019"
    assert {c["status"]: c["count"] for c in doc["metadata"]["counts"]}["met"] == 14
    gdf = gpd.read_file(io.BytesIO(resp.data))
    assert len(gdf) == n_wards and gdf["code"].is_unique
    assert dict(zip(gdf["code"], gdf["status"])) == want
    assert set(gdf.loc[gdf["status"] == "met", "status_label"]) == {"Đạt tiêu chí không ma túy"}
    # the CSV for Vietnamese Excel reads back with ";" and decimal commas; the machine CSV with ","
    excel = pd.read_csv(io.BytesIO(client.get(f"/committee/programmes.excel.csv?{q}").data), sep=";", decimal=",",
                        dtype=str, encoding="utf-8-sig", keep_default_na=False)
    machine = pd.read_csv(io.BytesIO(client.get(f"/committee/programmes.csv?{q}").data), dtype=str,
                          encoding="utf-8-sig", keep_default_na=False)
    for table in (excel, machine):
        assert len(table) == n_wards and dict(zip(table["Mã"], table["Mã tình trạng"])) == want
    gv0 = recorded["gv"][0]
    assert excel.set_index("Mã").at[gv0, "Tình trạng"] == "Đạt tiêu chí không ma túy"
    assert excel.set_index("Mã").at[gv0, "Từ ngày"] == "2023-12-15"
    # XLSX: the counts, the districts and the wards, numbers as numbers
    wb = openpyxl.load_workbook(io.BytesIO(client.get(f"/committee/programmes.xlsx?{q}").data))
    assert wb.sheetnames == ["Số phường, xã theo tình trạng", "Theo quận, huyện", "Phường, xã"]
    cells = [[c.value for c in row] for row in wb["Theo quận, huyện"].iter_rows()]
    gv_met = next(r for r in cells if r[0] == "Quận Gò Vấp" and r[1] == "Đạt tiêu chí không ma túy")
    assert gv_met[2:5] == [12, 16, 0.75]
    assert client.get(f"/committee/programmes.pdf?{q}").status_code == 404


@pytest.mark.browser
def test_programme_map_in_chromium(page, live_server, recorded):
    sign_in(page, live_server, "viewer")
    page.goto(live_server + "/committee/programmes")
    page.select_option("#phase-chooser select[name=phase]", "Giai đoạn 2")
    page.click("#phase-chooser button[type=submit]")
    page.wait_for_selector("#map-frame path.leaflet-interactive")
    # one shape per ward of the version, the 12 + 2 wards that meet the criteria in their colour
    assert page.locator("#map-frame path.leaflet-interactive").count() == len(recorded["wards"])
    assert page.locator('#map-frame path[fill="#1a9850"]').count() == 14
    assert "Đạt tiêu chí không ma túy: 14/" in page.inner_text("#status-words")
    screenshot(page, "programme-phase-2")
    assert page.console_errors == [] and page.foreign_requests == []
